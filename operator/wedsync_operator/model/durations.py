"""Kubernetes/Go-style durations (``90s``, ``2h``, ``1h30m``, ``500ms``)."""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"([0-9]+)(ms|s|m|h)")
_WHOLE = re.compile(r"^(?:[0-9]+(?:ms|s|m|h))+$")
_UNIT = {
    "ms": timedelta(milliseconds=1),
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
}


def parse_duration(text: str) -> timedelta:
    """Parse ``1h30m``-style text; raise ValueError with the accepted form otherwise."""
    if not isinstance(text, str) or not _WHOLE.match(text):
        raise ValueError(f"{text!r} is not a duration; write it like 90s, 30m, 2h or 1h30m")
    return sum(
        (int(n) * _UNIT[unit] for n, unit in _PART.findall(text)),
        start=timedelta(0),
    )


def format_duration(value: timedelta) -> str:
    """The shortest Go-style spelling of a duration (inverse of parse_duration)."""
    ms = int(value.total_seconds() * 1000)
    if ms == 0:
        return "0s"
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    seconds, ms = divmod(ms, 1000)
    parts = [(hours, "h"), (minutes, "m"), (seconds, "s"), (ms, "ms")]
    return "".join(f"{n}{unit}" for n, unit in parts if n)
