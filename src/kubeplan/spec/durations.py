"""Durations as platform teams write them: 30m, 1h, 4h, 15d, 2w."""

from __future__ import annotations

import re

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PATTERN = re.compile(r"^(?P<n>[1-9][0-9]{0,5})(?P<unit>[smhdw])$")
DURATION_PATTERN = _PATTERN.pattern


def parse_duration(text: str) -> int:
    """Seconds in `text`; raises ValueError with the accepted form."""
    match = _PATTERN.match(text)
    if not match:
        raise ValueError(
            f"{text!r} is not a duration; write a whole number and one unit of s, m, h, d, w "
            "(for example 30m, 1h, 15d)"
        )
    return int(match["n"]) * _UNITS[match["unit"]]


def format_duration(seconds: int) -> str:
    """The shortest exact form: 3600 -> 1h, 129600 -> 36h."""
    for unit in ("w", "d", "h", "m"):
        size = _UNITS[unit]
        if seconds % size == 0 and seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
