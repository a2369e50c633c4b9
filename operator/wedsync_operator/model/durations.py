"""Kubernetes/Go-style durations (``90s``, ``2h``, ``1h30m``, ``500ms``)."""

from __future__ import annotations

import re
from datetime import timedelta

from wedsync_operator.model.words import shown

_PART = re.compile(r"([0-9]+)(ms|s|m|h)")
# [0-9], not \d (which takes any Unicode digit), and fullmatch, not $ (which passes a
# trailing newline): the same text the CRD's Go pattern accepts.
_WHOLE = re.compile(r"(?:[0-9]+(?:ms|s|m|h))+")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}
_MAX_MS = int(timedelta.max.total_seconds()) * 1000


class DurationOverflow(ValueError):
    """Well-formed, but longer than any duration can be (``99999999999h``)."""


def parse_duration(text: str) -> timedelta:
    """Parse ``1h30m``-style text; raise ValueError with the accepted form otherwise.

    Summed in whole milliseconds first: ``99999999999h`` is refused with a sentence, not
    an OverflowError from timedelta.
    """
    if not isinstance(text, str) or not _WHOLE.fullmatch(text):
        raise ValueError(f"{shown(text)} is not a duration; write it like 90s, 30m, 2h or 1h30m")
    # Python refuses int() of over 4300 digits: such text is out of range anyway.
    if len(text) > 4000:
        raise DurationOverflow(f"{shown(text)} is too long to be a duration")
    ms = sum(int(n) * _UNIT_MS[unit] for n, unit in _PART.findall(text))
    if ms > _MAX_MS:
        raise DurationOverflow(f"{shown(text)} is too long to be a duration")
    return timedelta(milliseconds=ms)


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
