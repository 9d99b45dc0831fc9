"""Business time: adding and measuring durations on a working calendar.

SLA deadlines are promises in working time ("7 working days"), so the arithmetic must
skip nights, weekends and public holidays, honour China's adjusted working days (a
Saturday that is worked to make a long holiday), and stay right across daylight-saving
changes in zones that have them. Working hours are wall-clock windows in an IANA zone;
all arithmetic happens on aware UTC instants, so an hour is always a real hour.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo

import chinese_calendar

log = logging.getLogger(__name__)

# Durations beyond this many calendar days are a configuration error, not a deadline.
_HORIZON_DAYS = 3660


@dataclass(frozen=True)
class Window:
    """A working period of a day in local wall-clock time, start inclusive, end exclusive."""

    start: time
    end: time

    def __post_init__(self) -> None:
        if not self.start < self.end:
            raise ValueError(f"a working window must end after it starts: {self}")


@lru_cache(maxsize=8192)
def official_china_workday(day: date) -> bool:
    """Whether the State Council's calendar makes `day` a working day.

    Outside the years the maintained calendar covers, fall back to Monday-Friday; a city
    adds the new year's holidays as custom dates until the library is updated. Cached:
    the library scans its whole holiday table on every call, and every deadline asks
    about dozens of days.
    """
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        _warn_uncovered(day.year)
        return day.weekday() < 5


@lru_cache(maxsize=64)
def _warn_uncovered(year: int) -> None:
    log.warning("no official holiday data for %s: using Monday-Friday plus custom dates", year)


def weekdays(day: date) -> bool:
    return day.weekday() < 5


@dataclass(frozen=True)
class WorkingDays:
    """Which dates are worked: an official rule, overridden by a city's own dates."""

    official: Callable[[date], bool] = official_china_workday
    extra_holidays: frozenset[date] = frozenset()
    extra_workdays: frozenset[date] = frozenset()

    def __call__(self, day: date) -> bool:
        if day in self.extra_holidays:
            return False
        if day in self.extra_workdays:
            return True
        return self.official(day)


@dataclass(frozen=True)
class BusinessCalendar:
    """24x7 when `windows` is empty; otherwise the windows of each working day in `zone`."""

    name: str
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))
    windows: tuple[Window, ...] = ()
    working_day: Callable[[date], bool] = field(default_factory=WorkingDays)

    @property
    def always_open(self) -> bool:
        return not self.windows

    @property
    def working_day_length(self) -> timedelta:
        """What "one day" of an SLA means on this calendar: its working hours, or 24 h."""
        if self.always_open:
            return timedelta(days=1)
        anchor = date(2000, 1, 3)
        return sum(
            (_at(anchor, w.end, UTC) - _at(anchor, w.start, UTC) for w in self.windows),
            timedelta(),
        )

    def intervals(self, start: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Working intervals [from, to) in UTC, in order, from the one containing `start`."""
        _require_aware(start)
        if self.always_open:
            yield start, datetime.max.replace(tzinfo=UTC)
            return
        first = start.astimezone(self.zone).date() - timedelta(days=1)
        for offset in range(_HORIZON_DAYS):
            day = first + timedelta(days=offset)
            if not self.working_day(day):
                continue
            for window in self.windows:
                begin, end = _at(day, window.start, self.zone), _at(day, window.end, self.zone)
                if end > start:
                    yield max(begin, start), end
        raise ValueError(f"no working time within {_HORIZON_DAYS} days of {start}")

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The instant when `duration` of working time has passed since `start`."""
        if duration < timedelta():
            raise ValueError("business durations are not negative")
        if duration == timedelta():
            return start
        remaining = duration
        for begin, end in self.intervals(start):
            if end - begin >= remaining:
                return begin + remaining
            remaining -= end - begin
        raise AssertionError("intervals() never ends without raising")  # pragma: no cover

    def between(self, start: datetime, end: datetime) -> timedelta:
        """Working time elapsed from `start` to `end` (zero if `end` is not later)."""
        _require_aware(end)
        total = timedelta()
        if end <= start:
            return total
        for begin, finish in self.intervals(start):
            if begin >= end:
                break
            total += min(finish, end) - begin
        return total

    def is_open(self, at: datetime) -> bool:
        """Whether `at` falls inside working time (a notification may go out now)."""
        begin, _ = next(self.intervals(at))
        return begin == at

    def next_open(self, at: datetime) -> datetime:
        """`at` itself when working time, else the start of the next working interval."""
        begin, _ = next(self.intervals(at))
        return begin


def _at(day: date, moment: time, zone: tzinfo) -> datetime:
    """A local wall-clock time on a day, as a UTC instant (a time skipped by a DST jump
    is read with the offset before the jump, so it lands just after the jump)."""
    return datetime.combine(day, moment, tzinfo=zone).astimezone(UTC)


def _require_aware(moment: datetime) -> None:
    if moment.tzinfo is None:
        raise ValueError("business time needs timezone-aware instants")


TWENTY_FOUR_SEVEN = BusinessCalendar("24x7")
OFFICE_HOURS = BusinessCalendar(
    "office_hours_cn",
    ZoneInfo("Asia/Shanghai"),
    (Window(time(8, 30), time(12, 0)), Window(time(13, 30), time(17, 30))),
)
