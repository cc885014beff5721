"""When a scheduled journey's entry comes round for a customer: ``every``/``at`` or ``cron``, in their zone.

``{every: 1d, at: "09:00"}`` fires at 09:00 local time every day (``every: 2d``: every other day, on local
days whose ordinal is a multiple of two — a fixed calendar, so every customer shares it; a local
time that does not exist on a spring-forward day comes round when the clock jumps past it);
``{every: 1h}`` on the hour (multiples of ``every`` since the epoch, UTC); ``{cron: "0 9 * * MON"}``
as cron says, in the customer's zone: croniter walks the local wall clock (naive times, where it has no
DST bugs: given an aware start it put a daily ``0 9 * * *`` an hour off, or twice, around a transition)
and each time it names is then placed in the zone as ``at`` is, by :mod:`cjo_stream.journeys.wallclock`
(a time in a spring-forward gap at the gap's end, as cron runs it; a time the fall-back night shows
twice, once: its first instant). Pure: the caller gives the zone and the times.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

from cjo_stream.journeys.wallclock import first_instant

DAY = 86400.0


@dataclass(frozen=True, slots=True)
class Schedule:
    every: float | None = None  # seconds
    at: tuple[int, int] | None = None  # local hour, minute (with ``every`` in whole days)
    cron: str | None = None

    def latest(self, after: float, until: float, tz: ZoneInfo) -> float | None:
        """The latest occurrence ``t`` with ``after < t <= until`` in zone ``tz``, or None."""
        t = self._at_or_before(until, tz)
        return t if t is not None and t > after else None

    def next_after(self, t: float, tz: ZoneInfo) -> float:
        """The first occurrence strictly after ``t``."""
        if self.cron is not None:
            it = croniter(self.cron, _wall(t, tz))
            while True:  # a wall time that maps back to or before ``t`` (the fall-back night): the next one
                cand = _placed(it.get_next(datetime), tz)
                if cand > t:
                    return cand
        assert self.every is not None
        if self.at is None:
            return (t // self.every + 1) * self.every
        days = round(self.every / DAY)
        day = datetime.fromtimestamp(t, tz).date()
        for _ in range(days + 2):
            if day.toordinal() % days == 0:
                cand = self._local(day, tz)
                if cand > t:
                    return cand
            day += timedelta(days=1)
        raise AssertionError("an occurrence within every + 2 days")  # pragma: no cover

    def _at_or_before(self, t: float, tz: ZoneInfo) -> float | None:
        if self.cron is not None:
            it = croniter(self.cron, _wall(t + 0.001, tz))  # get_prev is strictly before its start
            while True:  # a wall time in a spring-forward gap can be placed after ``t``: the one before it
                cand = _placed(it.get_prev(datetime), tz)
                if cand <= t:
                    return cand
        assert self.every is not None
        if self.at is None:
            return (t // self.every) * self.every
        days = round(self.every / DAY)
        day = datetime.fromtimestamp(t, tz).date()
        for _ in range(days + 2):
            if day.toordinal() % days == 0:
                cand = self._local(day, tz)
                if cand <= t:
                    return cand
            day -= timedelta(days=1)
        return None  # pragma: no cover

    def _local(self, day: object, tz: ZoneInfo) -> float:
        assert self.at is not None
        hour, minute = self.at
        return first_instant(datetime(day.year, day.month, day.day, hour, minute), tz)  # type: ignore[attr-defined]


def _wall(t: float, tz: ZoneInfo) -> datetime:
    """The local wall-clock time of ``t`` in ``tz``, without its zone (what croniter walks)."""
    return datetime.fromtimestamp(t, tz).replace(tzinfo=None)


def _placed(wall: datetime, tz: ZoneInfo) -> float:
    """The instant a local wall-clock time names in ``tz`` (the first of two; a gap's time at the gap's end)."""
    return first_instant(wall, tz)


def cron_problem(expr: str) -> str | None:
    """Why a cron expression is refused, or None (five fields, as croniter reads them)."""
    if len(expr.split()) != 5:
        return f"bad cron {expr!r}: five fields (minute hour day month weekday), e.g. \"0 9 * * MON\""
    if not croniter.is_valid(expr):
        fields = expr.split()
        for i, (name, allowed) in enumerate(_CRON_FIELDS):  # the field at fault: the others as `*`
            alone = " ".join(f if k == i else "*" for k, f in enumerate(fields))
            if not croniter.is_valid(alone):
                return (f"bad cron {expr!r}: its {name} {fields[i]!r} is out of range or unreadable ({allowed}; "
                        "also *, a,b lists, a-b ranges and */n steps)")
        return f"bad cron {expr!r}: croniter cannot read it"
    return None


#: the five fields of a cron expression and what each takes: "croniter cannot read it" named neither
_CRON_FIELDS = (("minute", "0-59"), ("hour", "0-23"), ("day of the month", "1-31"), ("month", "1-12 or JAN-DEC"),
                ("weekday", "0-6 or SUN-SAT"))
