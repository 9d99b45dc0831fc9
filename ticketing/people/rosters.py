"""Who is on duty: weekly shifts and leave, as plain values.

Grid members are part-time as often as full-time, so routing a case to a member who is
off shift or on leave means nobody acts until the SLA breaches. A member with no shifts
on record is treated as always on call (most full-time members are).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class WeeklyShift:
    weekday: int  # 0 = Monday
    start: time
    end: time

    def covers(self, local: datetime) -> bool:
        return local.weekday() == self.weekday and self.start <= local.time() < self.end

    def __str__(self) -> str:
        return f"{WEEKDAYS[self.weekday]} {self.start:%H:%M}-{self.end:%H:%M}"


@dataclass(frozen=True)
class Leave:
    first_day: date
    last_day: date
    reason: str = ""

    def covers(self, day: date) -> bool:
        return self.first_day <= day <= self.last_day


@dataclass(frozen=True)
class Roster:
    shifts: tuple[WeeklyShift, ...] = ()
    leaves: tuple[Leave, ...] = ()


def on_duty(roster: Roster, at: datetime, zone: ZoneInfo) -> tuple[bool, str]:
    """Whether the member works at `at`, and why, in words a supervisor can check."""
    local = at.astimezone(zone)
    for leave in roster.leaves:
        if leave.covers(local.date()):
            return False, f"on leave until {leave.last_day.isoformat()}"
    if not roster.shifts:
        return True, "on call (no shifts on record)"
    for shift in roster.shifts:
        if shift.covers(local):
            return True, f"on shift {shift}"
    return False, "off shift"
