"""The escalation ladder: when each rung of a running deadline fires, and which are due.

Each rung is a fraction of the deadline's allowed business time, counted from when its
clock started (75%: remind the assignee; 100%: the deadline itself; beyond: up the
region hierarchy). Rungs are computed in business time, so on a working-hours calendar
they fall inside working hours; pauses push them back like the deadline itself.
"""

from __future__ import annotations

import enum
from bisect import bisect_right
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ticketing.sla.business_time import BusinessCalendar
from ticketing.sla.policies import Pause, deadline


class Clock(enum.StrEnum):
    ACCEPT = "accept"
    RESOLVE = "resolve"


class Level(enum.StrEnum):
    REMINDER = "reminder"  # the assignee, before the deadline
    BREACH = "breach"  # the backup member and the community supervisor
    STREET = "street"  # the street office
    DISTRICT = "district"
    CITY = "city"


@dataclass(frozen=True)
class Rung:
    level: Level
    fraction: float


LADDER: tuple[Rung, ...] = (
    Rung(Level.REMINDER, 0.75),
    Rung(Level.BREACH, 1.0),
    Rung(Level.STREET, 1.25),
    Rung(Level.DISTRICT, 1.5),
    Rung(Level.CITY, 2.0),
)


@dataclass(frozen=True)
class RunningClock:
    clock: Clock
    start: datetime
    allowed: timedelta


@dataclass(frozen=True)
class Step:
    clock: Clock
    level: Level
    at: datetime


def schedule(
    calendar: BusinessCalendar,
    clocks: Sequence[RunningClock],
    paused: Sequence[Pause],
    ladder: Sequence[Rung] = LADDER,
    timelines: Timelines | None = None,
) -> list[Step]:
    """Every rung of every running clock with its time, in time order (none while paused).

    `timelines`, when given, shares each calendar's working intervals between the calls
    (a sweep batch computes a thousand ladders over mostly the same weeks); the times are
    the same either way.
    """
    steps = []
    for running in clocks:
        times = _rung_times(calendar, running, paused, ladder, timelines)
        for rung, at in zip(ladder, times, strict=True):
            if at is not None:
                steps.append(Step(running.clock, rung.level, at))
    return sorted(steps, key=lambda s: (s.at, s.clock, s.level))


def _rung_times(
    calendar: BusinessCalendar,
    running: RunningClock,
    paused: Sequence[Pause],
    ladder: Sequence[Rung],
    timelines: Timelines | None = None,
) -> list[datetime | None]:
    """Each rung's time. Without pauses, business time is additive, so one walk along
    the calendar serves every rung (the sweep's hot path); pauses take the general way."""
    if paused:
        return [
            deadline(calendar, running.start, running.allowed * rung.fraction, paused)
            for rung in ladder
        ]
    order = sorted(range(len(ladder)), key=lambda i: ladder[i].fraction)
    durations, done = [], 0.0
    for position in order:
        durations.append(running.allowed * (ladder[position].fraction - done))
        done = ladder[position].fraction
    times = _added(calendar, running.start, durations, timelines)
    by_position: list[datetime | None] = [None] * len(ladder)
    for position, time in zip(order, times, strict=True):
        by_position[position] = time
    return by_position


def _added(
    calendar: BusinessCalendar,
    start: datetime,
    durations: Sequence[timedelta],
    timelines: Timelines | None,
) -> list[datetime]:
    """`calendar.add` applied one duration after another from `start`: each result is
    the start of the next addition."""
    if timelines is not None and not calendar.always_open:
        try:
            return _walk(timelines.of(calendar).intervals(start), start, durations)
        except OffTimeline:
            pass  # past the calendar's horizon: calendar.add says what is wrong
    times, at = [], start
    for duration in durations:
        at = calendar.add(at, duration)
        times.append(at)
    return times


def _walk(
    intervals: Iterator[tuple[datetime, datetime]], start: datetime, durations: Sequence[timedelta]
) -> list[datetime]:
    """What `_added` gives, in one pass over the working intervals from `start`: the
    interval an addition ends in is where the next one begins, exactly as
    `BusinessCalendar.add` would restart from there (an end that fills an interval to its
    last instant moves on to the next interval, as `add` skips it)."""
    times, at = [], start
    current: tuple[datetime, datetime] | None = None
    for duration in durations:
        if duration < timedelta():
            raise ValueError("business durations are not negative")
        remaining = duration
        while remaining:
            if current is None:
                current = next(intervals)
            begin, end = max(current[0], at), current[1]
            if end - begin >= remaining:
                at = begin + remaining
                break
            remaining -= end - begin
            current = None
        times.append(at)
    return times


class OffTimeline(Exception):
    """A walk cannot use the shared intervals: past the calendar's horizon, or windows
    that do not come in order."""


class Timeline:
    """One calendar's working intervals, enumerated once and kept in order, so that
    ladders starting anywhere after the first start asked for read them by bisection
    instead of recomputing each day's windows in its zone."""

    def __init__(self, calendar: BusinessCalendar) -> None:
        self.calendar = calendar
        self._origin: datetime | None = None
        self._source: Iterator[tuple[datetime, datetime]] = iter(())
        self._intervals: list[tuple[datetime, datetime]] = []
        self._ends: list[datetime] = []

    def intervals(self, start: datetime) -> Iterator[tuple[datetime, datetime]]:
        """The same intervals as `calendar.intervals(start)`: every interval ending after
        `start`, in order, the first clipped to begin at `start`."""
        if self._origin is None or start < self._origin:
            # Enumerate from the earliest start seen: later starts are a suffix of it.
            self._origin, self._source = start, self.calendar.intervals(start)
            self._intervals, self._ends = [], []
        return self._from(start, bisect_right(self._ends, start))

    def _from(self, start: datetime, index: int) -> Iterator[tuple[datetime, datetime]]:
        while True:
            if index == len(self._intervals):
                try:
                    interval = next(self._source)
                except (ValueError, StopIteration):
                    raise OffTimeline from None
                if self._ends and interval[0] < self._ends[-1]:
                    # Windows configured out of order or overlapping: bisection needs
                    # them in order, so such a calendar takes the general way.
                    self._source = iter(())
                    raise OffTimeline
                self._intervals.append(interval)
                self._ends.append(interval[1])
            begin, end = self._intervals[index]
            index += 1
            if end > start:  # not yet there when the list had to grow to reach `start`
                yield max(begin, start), end


class Timelines:
    """A `Timeline` per calendar, for one batch of ladders."""

    def __init__(self) -> None:
        self._by_calendar: dict[BusinessCalendar, Timeline] = {}

    def of(self, calendar: BusinessCalendar) -> Timeline:
        found = self._by_calendar.get(calendar)
        if found is None:
            found = self._by_calendar[calendar] = Timeline(calendar)
        return found


def due(steps: Sequence[Step], fired: Collection[tuple[Clock, Level]], now: datetime) -> list[Step]:
    """The steps whose time has come and that have not fired yet."""
    return [s for s in steps if s.at <= now and (s.clock, s.level) not in fired]


def next_time(steps: Sequence[Step], fired: Collection[tuple[Clock, Level]]) -> datetime | None:
    """When the sweep must look at this case again; None when nothing is left to fire."""
    return min((s.at for s in steps if (s.clock, s.level) not in fired), default=None)
