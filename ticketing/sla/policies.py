"""SLA policies, the rule list that picks one for a case, and the deadlines they give.

Pure: policies and calendars are plain values, the case's history is a list of
(instant, kind) facts, and the current time is never read here. Paused time is derived
from the history every time, so changing a policy cannot lose a pause.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ticketing.sla.business_time import OFFICE_HOURS, TWENTY_FOUR_SEVEN, BusinessCalendar
from ticketing.vocabulary.catalogue import Priority
from ticketing.vocabulary.events import EventKind


@dataclass(frozen=True)
class SlaPolicy:
    code: str
    version: int
    name: str
    calendar: str  # a calendar code
    accept_within: timedelta  # business time from assignment to acceptance
    resolve_within: timedelta  # business time from registration to resolution
    update_every: timedelta | None = None  # a progress note at least this often


@dataclass(frozen=True)
class PolicyRule:
    """Matches when the case's category and priority are in the sets (None: any)."""

    policy: str
    categories: frozenset[str] | None = None
    priorities: frozenset[Priority] | None = None

    def matches(self, category: str, priority: Priority) -> bool:
        return (self.categories is None or category in self.categories) and (
            self.priorities is None or priority in self.priorities
        )


def choose_policy(rules: Sequence[PolicyRule], category: str, priority: Priority) -> str:
    """The first rule that matches wins; the list must end with a catch-all."""
    for rule in rules:
        if rule.matches(category, priority):
            return rule.policy
    raise ValueError("the SLA rule list has no catch-all rule at its end")


def days(n: float, calendar: BusinessCalendar) -> timedelta:
    """N working days on a calendar: N times its working day (24 h when always open)."""
    return calendar.working_day_length * n


@dataclass(frozen=True)
class Pause:
    start: datetime
    end: datetime | None  # None: still waiting on the resident


def pauses(history: Iterable[tuple[datetime, str]]) -> list[Pause]:
    """Waiting-on-resident periods from the event history ('paused' then 'resumed')."""
    found: list[Pause] = []
    opened: datetime | None = None
    for at, kind in sorted(history):
        if kind == EventKind.PAUSED and opened is None:
            opened = at
        elif kind == EventKind.RESUMED and opened is not None:
            found.append(Pause(opened, at))
            opened = None
    if opened is not None:
        found.append(Pause(opened, None))
    return found


def deadline(
    calendar: BusinessCalendar, start: datetime, allowed: timedelta, paused: Sequence[Pause]
) -> datetime | None:
    """When `allowed` business time has run from `start`, not counting paused time;
    None while a pause is still open (the clock is stopped)."""
    due = calendar.add(start, allowed)
    for pause in sorted(paused, key=lambda p: p.start):
        if pause.start >= due:
            break
        if pause.end is None:
            return None
        lost = calendar.between(max(pause.start, start), pause.end)
        due = calendar.add(due, lost) if pause.end > start else due
    return due


@dataclass(frozen=True)
class Deadlines:
    accept_by: datetime | None
    resolve_by: datetime | None


def deadlines(
    policy: SlaPolicy,
    calendar: BusinessCalendar,
    registered_at: datetime,
    assigned_at: datetime | None,
    accepted: bool,
    history: Iterable[tuple[datetime, str]],
) -> Deadlines:
    """The deadlines still running for an open case."""
    paused = pauses(history)
    accept_by = None
    if assigned_at is not None and not accepted:
        accept_by = deadline(calendar, assigned_at, policy.accept_within, paused)
    return Deadlines(accept_by, deadline(calendar, registered_at, policy.resolve_within, paused))


# Public 12345-hotline practice: urgent matters within 2 hours, water, power, gas and
# heating within 24 hours, general matters within 7 working days, complex ones 15.
DEFAULT_CALENDARS: dict[str, BusinessCalendar] = {
    TWENTY_FOUR_SEVEN.name: TWENTY_FOUR_SEVEN,
    OFFICE_HOURS.name: OFFICE_HOURS,
}
_H = timedelta(hours=1)
DEFAULT_POLICIES: tuple[SlaPolicy, ...] = (
    SlaPolicy("urgent", 1, "Urgent: 2 hours", "24x7", _H / 4, 2 * _H),
    SlaPolicy("utilities", 1, "Water, power, gas, heating: 24 hours", "24x7", 2 * _H, 24 * _H),
    SlaPolicy(
        "general",
        1,
        "General: 7 working days",
        OFFICE_HOURS.name,
        4 * _H,
        days(7, OFFICE_HOURS),
        days(3, OFFICE_HOURS),
    ),
    SlaPolicy(
        "complex",
        1,
        "Complex: 15 working days",
        OFFICE_HOURS.name,
        days(1, OFFICE_HOURS),
        days(15, OFFICE_HOURS),
        days(5, OFFICE_HOURS),
    ),
)
DEFAULT_RULES: tuple[PolicyRule, ...] = (
    PolicyRule("urgent", priorities=frozenset({Priority.URGENT})),
    PolicyRule("utilities", categories=frozenset({"water_leak", "heating", "gas_smell"})),
    PolicyRule(
        "complex",
        categories=frozenset({"illegal_construction", "neighbour_dispute", "elderly_care"}),
    ),
    PolicyRule("general"),
)
