"""The administrator's changes to who works when: rosters (weekly shifts, leave) and the
calendars' custom dates (a city's own holidays and worked days).

As in `ticketing.admin.services`: one function a change, checked input (`InvalidInput`
says what is wrong), one audit row in the same transaction, committed; call inside
`with uow:`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ticketing.admin.services import parse_clock
from ticketing.exceptions import InvalidInput, NotFound
from ticketing.models.accounts import AuditEntry
from ticketing.models.people import LeavePeriod, RosterShift, Staff
from ticketing.models.sla import CalendarRow
from ticketing.people.audit import record_change
from ticketing.people.rosters import WEEKDAYS
from ticketing.unit_of_work import UnitOfWork
from ticketing.vocabulary.events import Actor

HOLIDAY, WORKDAY = "holiday", "workday"
MAX_LEAVE = timedelta(days=731)


# ---------------------------------------------------------------- rosters


def staff_member(session: Session, employee_no: str) -> Staff:
    """A staff member by employee number."""
    row = session.scalars(select(Staff).where(Staff.employee_no == employee_no)).one_or_none()
    if row is None:
        raise NotFound(f"no staff member {employee_no!r}")
    return row


def add_shift(
    uow: UnitOfWork,
    actor: Actor,
    now: datetime,
    employee_no: str,
    weekday: int,
    start: str,
    end: str,
) -> RosterShift:
    """A weekly shift, in local time; it may not overlap the member's other shifts that day."""
    session = uow.session
    member = staff_member(session, employee_no)
    if not 0 <= weekday <= 6:
        raise InvalidInput("weekday: 0-6, 0 = Monday")
    start, end = parse_clock(start, "start"), parse_clock(end, "end")
    if start >= end:
        raise InvalidInput(f"end: a shift ends after it starts ({start}-{end}); split night shifts")
    for other in session.scalars(
        select(RosterShift).where(RosterShift.staff_id == member.id, RosterShift.weekday == weekday)
    ):
        if start < other.end and other.start < end:
            raise InvalidInput(
                f"overlaps the shift {WEEKDAYS[weekday]} {other.start}-{other.end} on record"
            )
    row = RosterShift(staff_id=member.id, weekday=weekday, start=start, end=end)
    session.add(row)
    session.flush()
    record_change(
        session,
        actor,
        "roster.shift.add",
        now,
        target=f"staff:{employee_no}",
        data={"shift_id": row.id, "weekday": weekday, "start": start, "end": end},
    )
    uow.commit()
    return row


def remove_shift(
    uow: UnitOfWork, actor: Actor, now: datetime, shift_id: int, *, of_member: str | None = None
) -> None:
    """Delete a weekly shift; with `of_member` (an employee number: the page it was
    removed from names one), only if the shift is that member's."""
    session = uow.session
    if of_member is not None:
        _check_owner(session, RosterShift, shift_id, of_member)
    row = session.get(RosterShift, shift_id)
    if row is None:
        raise NotFound(f"no shift {shift_id}")
    member = session.get(Staff, row.staff_id)
    data = {"shift_id": row.id, "weekday": row.weekday, "start": row.start, "end": row.end}
    session.delete(row)
    target = f"staff:{member.employee_no if member else row.staff_id}"
    record_change(session, actor, "roster.shift.remove", now, target=target, data=data)
    uow.commit()


def add_leave(
    uow: UnitOfWork,
    actor: Actor,
    now: datetime,
    employee_no: str,
    first_day: date,
    last_day: date,
    reason: str = "",
) -> LeavePeriod:
    """Days away, both ends included; not overlapping another leave of the member."""
    session = uow.session
    member = staff_member(session, employee_no)
    if last_day < first_day:
        raise InvalidInput(f"last day: {last_day} is before the first day {first_day}")
    if last_day - first_day > MAX_LEAVE:
        raise InvalidInput("last day: a leave of more than two years is a departure: deactivate")
    reason = reason.strip()
    if len(reason) > 200:
        raise InvalidInput("reason: at most 200 characters")
    for other in session.scalars(select(LeavePeriod).where(LeavePeriod.staff_id == member.id)):
        if first_day <= other.last_day and other.first_day <= last_day:
            raise InvalidInput(
                f"overlaps the leave {other.first_day} to {other.last_day} already on record"
            )
    row = LeavePeriod(staff_id=member.id, first_day=first_day, last_day=last_day, reason=reason)
    session.add(row)
    session.flush()
    record_change(
        session,
        actor,
        "roster.leave.add",
        now,
        target=f"staff:{employee_no}",
        data={
            "leave_id": row.id,
            "first_day": first_day.isoformat(),
            "last_day": last_day.isoformat(),
            "reason": reason,
        },
    )
    uow.commit()
    return row


def remove_leave(
    uow: UnitOfWork, actor: Actor, now: datetime, leave_id: int, *, of_member: str | None = None
) -> None:
    """Delete a leave period; with `of_member`, only if it is that member's."""
    session = uow.session
    if of_member is not None:
        _check_owner(session, LeavePeriod, leave_id, of_member)
    row = session.get(LeavePeriod, leave_id)
    if row is None:
        raise NotFound(f"no leave {leave_id}")
    member = session.get(Staff, row.staff_id)
    data = {
        "leave_id": row.id,
        "first_day": row.first_day.isoformat(),
        "last_day": row.last_day.isoformat(),
    }
    session.delete(row)
    target = f"staff:{member.employee_no if member else row.staff_id}"
    record_change(session, actor, "roster.leave.remove", now, target=target, data=data)
    uow.commit()


def _check_owner(
    session: Session, model: type[RosterShift] | type[LeavePeriod], row_id: int, employee_no: str
) -> None:
    """A row removed through a member's page must be that member's."""
    member = staff_member(session, employee_no)
    owner = session.scalar(select(model.staff_id).where(model.id == row_id))
    if owner != member.id:
        raise InvalidInput(f"{employee_no} has no such entry (#{row_id})")


# ---------------------------------------------------------------- calendars


@dataclass(frozen=True)
class CustomDate:
    """A date a calendar treats unlike the official rule: a holiday, or a worked day."""

    day: date
    kind: str  # HOLIDAY or WORKDAY
    calendars: tuple[str, ...]
    name: str


def _calendars(session: Session, calendar: str | None) -> list[CalendarRow]:
    query = select(CalendarRow).order_by(CalendarRow.code)
    if calendar:
        query = query.where(CalendarRow.code == calendar)
    rows = list(session.scalars(query))
    if not rows:
        raise InvalidInput(f"calendar: no calendar {calendar!r}" if calendar else "no calendars")
    return rows


def set_custom_date(
    uow: UnitOfWork,
    actor: Actor,
    now: datetime,
    day: date,
    kind: str,
    *,
    calendar: str | None = None,
    name: str = "",
) -> list[str]:
    """Make `day` a holiday or a working day on one calendar, or on all of them (a city's
    own holiday applies to every office); returns the calendars changed. Open cases keep
    their deadlines until recomputed."""
    if kind not in (HOLIDAY, WORKDAY):
        raise InvalidInput(f"kind: {kind!r} is neither {HOLIDAY} nor {WORKDAY}")
    name = name.strip()
    if len(name) > 100:
        raise InvalidInput("name: at most 100 characters")
    iso = day.isoformat()
    changed = []
    for row in _calendars(uow.session, calendar):
        holidays, workdays = list(row.extra_holidays), list(row.extra_workdays)
        wanted, other = (holidays, workdays) if kind == HOLIDAY else (workdays, holidays)
        if iso in wanted:
            continue
        wanted.append(iso)
        if iso in other:
            other.remove(iso)
        # New lists, so SQLAlchemy sees the JSON column change.
        row.extra_holidays, row.extra_workdays = sorted(holidays), sorted(workdays)
        changed.append(row.code)
    if not changed:
        raise InvalidInput(f"{iso} is already a custom {kind} on that calendar")
    record_change(
        uow.session,
        actor,
        f"calendar.{kind}.add",
        now,
        target=f"date:{iso}",
        data={"calendars": changed, "name": name},
    )
    uow.commit()
    return changed


def remove_custom_date(
    uow: UnitOfWork, actor: Actor, now: datetime, day: date, *, calendar: str | None = None
) -> list[str]:
    """Give `day` back to the official rule on one calendar or all; the calendars changed."""
    iso = day.isoformat()
    changed = []
    for row in _calendars(uow.session, calendar):
        if iso in row.extra_holidays or iso in row.extra_workdays:
            row.extra_holidays = [d for d in row.extra_holidays if d != iso]
            row.extra_workdays = [d for d in row.extra_workdays if d != iso]
            changed.append(row.code)
    if not changed:
        raise InvalidInput(f"{iso} is not a custom date")
    record_change(
        uow.session,
        actor,
        "calendar.date.remove",
        now,
        target=f"date:{iso}",
        data={"calendars": changed},
    )
    uow.commit()
    return changed


def custom_dates(session: Session) -> list[CustomDate]:
    """Every custom date, newest first, with the name given when it was added (the name
    lives in the audit row: the calendar keeps only the date)."""
    found: dict[tuple[str, str], list[str]] = {}
    for row in session.scalars(select(CalendarRow).order_by(CalendarRow.code)):
        for kind, days in ((HOLIDAY, row.extra_holidays), (WORKDAY, row.extra_workdays)):
            for iso in days:
                found.setdefault((iso, kind), []).append(row.code)
    names: dict[str, str] = {}
    if found:
        audits = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.action.in_([f"calendar.{HOLIDAY}.add", f"calendar.{WORKDAY}.add"]))
            .where(AuditEntry.target.in_([f"date:{iso}" for iso, _ in found]))
            .order_by(AuditEntry.id)
        )
        for entry in audits:
            names[entry.target.removeprefix("date:")] = str(entry.data.get("name") or "")
    return sorted(
        (
            CustomDate(date.fromisoformat(iso), kind, tuple(codes), names.get(iso, ""))
            for (iso, kind), codes in found.items()
        ),
        key=lambda c: c.day,
        reverse=True,
    )
