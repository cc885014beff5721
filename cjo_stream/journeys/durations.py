"""Durations (``30s``, ``15m``, ``1h``, ``7d``, ``2w``) and times of day (``"09:00"``, ``"9:00"``) in journey files."""

from __future__ import annotations

import re

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
#: The longest duration a file may give (100 years): a wait, timeout or ``expires_in`` beyond it put times
#: past the year 9999 that decisions cannot be written with (a traceback in every send or timer).
MAX_DURATION = 36500 * 86400.0
_TIME_OF_DAY = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def parse_duration(text: object) -> float:
    """Seconds in a duration like ``1h``; raises ValueError with the accepted forms."""
    m = _DURATION.match(str(text)) if isinstance(text, str | int) and not isinstance(text, bool) else None
    if not m:
        raise ValueError(f"bad duration {text!r}: use a number and a unit s, m, h, d or w (e.g. 30s, 15m, 1h, 7d, 2w)")
    seconds = float(m.group(1)) * _UNITS[m.group(2)]
    if seconds <= 0:
        raise ValueError(f"bad duration {text!r}: must be greater than zero")
    if seconds > MAX_DURATION:
        raise ValueError(f"bad duration {text!r}: at most 36500d (100 years)")
    return seconds


def parse_time_of_day(text: object) -> tuple[int, int]:
    """``"09:00"`` or ``"9:00"`` → ``(9, 0)``; raises ValueError. Every time of day a file names is read
    here (``wait_until``, its ``best_time`` default, quiet hours, a schedule's ``at``), so all take the
    same forms: a 24-hour ``H:MM`` or ``HH:MM`` (the message asked for HH:MM while 9:00 was taken)."""
    m = _TIME_OF_DAY.match(text) if isinstance(text, str) else None
    if not m:
        raise ValueError(f"bad time of day {text!r}: use a 24-hour time H:MM or HH:MM in quotes, "
                         f"e.g. \"9:00\" or \"21:30\"")
    return int(m.group(1)), int(m.group(2))
