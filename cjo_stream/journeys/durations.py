"""Durations (``30s``, ``15m``, ``1h``, ``7d``, ``2w``) and times of day (``"09:00"``, ``"9:00"``) in journey files."""

from __future__ import annotations

import re

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
#: The longest duration a file may give (100 years): a wait, timeout or ``expires_in`` beyond it put times
#: past the year 9999 that decisions cannot be written with (a traceback in every send or timer).
MAX_DURATION = 36500 * 86400.0
_TIME_OF_DAY = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


#: unit words as people write them (``3 days``, ``30min``, ``1hr``) -> the unit here
_WORDS = {**{w: "s" for w in ("sec", "secs", "second", "seconds")},
          **{w: "m" for w in ("min", "mins", "minute", "minutes")},
          **{w: "h" for w in ("hr", "hrs", "hour", "hours")}, **{w: "d" for w in ("day", "days")},
          **{w: "w" for w in ("wk", "wks", "week", "weeks")}, **{u: u for u in _UNITS}}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]+)")
_ISO = re.compile(r"P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?")


def _written(seconds: float) -> str:
    """``seconds`` in the largest unit that holds it whole (``36h`` for a day and a half)."""
    for unit in ("w", "d", "h", "m"):
        if seconds % _UNITS[unit] == 0:
            return f"{int(seconds // _UNITS[unit])}{unit}"
    return f"{seconds:g}s"


def _meant(text: str) -> str:
    """What to write for a duration in another form (``3 days``, ``1hr``, ``1d12h``, ISO 8601's ``PT1H``), as
    ``; write 3d``; empty when it cannot be told. A newcomer's ``3 days`` was told the forms, not the one meant."""
    plain = text.strip()
    iso = _ISO.fullmatch(plain.upper())
    if iso and plain.upper() not in ("P", "PT") and any(iso.groups()):
        w, d, h, m, sec = (int(g or 0) for g in iso.groups())
        return f"; write {_written(w * 604800 + d * 86400 + h * 3600 + m * 60 + sec)} (ISO 8601's {plain})"
    lowered = plain.lower()
    parts = _PART.findall(lowered)
    if not parts or re.sub(r"[\s,]|and", "", lowered) != "".join(n + u for n, u in parts):
        return ""
    if len(parts) == 1 and parts[0][1] in ("mo", "mon", "month", "months", "y", "yr", "year", "years"):
        days = float(parts[0][0]) * (365 if parts[0][1].startswith("y") else 30)
        return f"; a {'year' if parts[0][1].startswith('y') else 'month'} has no fixed length: write {days:g}d"
    if any(u not in _WORDS for _, u in parts):
        return ""
    total = sum(float(n) * _UNITS[_WORDS[u]] for n, u in parts)
    return f"; write {_written(total)}" if total > 0 else ""


def parse_duration(text: object) -> float:
    """Seconds in a duration like ``1h``; raises ValueError with the accepted forms."""
    m = _DURATION.match(str(text)) if isinstance(text, str | int) and not isinstance(text, bool) else None
    if not m:
        meant = _meant(text) if isinstance(text, str) else ""
        raise ValueError(f"bad duration {text!r}: use a number and a unit s, m, h, d or w (e.g. 30s, 15m, 1h, 7d, 2w)"
                         f"{meant}")
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
    if not m and isinstance(text, str) and text.strip() in ("24:00", "24:00:00"):
        raise ValueError(f"bad time of day {text!r}: a time of day is 00:00 to 23:59 (a window to the end of the "
                         "day: until: \"23:59\"; midnight is \"00:00\", the next day's start)")
    if not m:
        raise ValueError(f"bad time of day {text!r}: use a 24-hour time H:MM or HH:MM in quotes, "
                         f"e.g. \"9:00\" or \"21:30\"")
    return int(m.group(1)), int(m.group(2))
