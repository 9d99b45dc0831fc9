"""The escalation ladder: when each rung of a running deadline fires, and which are due.

Each rung is a fraction of the deadline's allowed business time, counted from when its
clock started (75%: remind the assignee; 100%: the deadline itself; beyond: up the
region hierarchy). Rungs are computed in business time, so on a working-hours calendar
they fall inside working hours; pauses push them back like the deadline itself.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ticketing.business_time import BusinessCalendar
from ticketing.sla import Pause, deadline


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
) -> list[Step]:
    """Every rung of every running clock with its time, in time order (none while paused)."""
    steps = []
    for running in clocks:
        for rung, at in zip(ladder, _rung_times(calendar, running, paused, ladder), strict=True):
            if at is not None:
                steps.append(Step(running.clock, rung.level, at))
    return sorted(steps, key=lambda s: (s.at, s.clock, s.level))


def _rung_times(
    calendar: BusinessCalendar,
    running: RunningClock,
    paused: Sequence[Pause],
    ladder: Sequence[Rung],
) -> list[datetime | None]:
    """Each rung's time. Without pauses, business time is additive, so one walk along
    the calendar serves every rung (the sweep's hot path); pauses take the general way."""
    if paused:
        return [
            deadline(calendar, running.start, running.allowed * rung.fraction, paused)
            for rung in ladder
        ]
    times: list[datetime | None] = []
    at, done = running.start, 0.0
    for rung in sorted(ladder, key=lambda r: r.fraction):
        at = calendar.add(at, running.allowed * (rung.fraction - done))
        done = rung.fraction
        times.append(at)
    order = sorted(range(len(ladder)), key=lambda i: ladder[i].fraction)
    by_position: list[datetime | None] = [None] * len(ladder)
    for position, time in zip(order, times, strict=True):
        by_position[position] = time
    return by_position


def due(steps: Sequence[Step], fired: Collection[tuple[Clock, Level]], now: datetime) -> list[Step]:
    """The steps whose time has come and that have not fired yet."""
    return [s for s in steps if s.at <= now and (s.clock, s.level) not in fired]


def next_time(steps: Sequence[Step], fired: Collection[tuple[Clock, Level]]) -> datetime | None:
    """When the sweep must look at this case again; None when nothing is left to fire."""
    return min((s.at for s in steps if (s.clock, s.level) not in fired), default=None)
