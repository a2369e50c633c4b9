"""How a user's value appears in an error message."""

from __future__ import annotations

from typing import Any

SHOWN_MAX = 60


def shown(value: Any) -> str:
    """The value's repr, cut to ``SHOWN_MAX`` characters: messages land in status and
    Events (bounded in size), and a 5,000-character value says no more than its start."""
    text = repr(value)
    return text if len(text) <= SHOWN_MAX else f"{text[: SHOWN_MAX - 3]}..."
