"""The administrator's changes to categories and SLA policies, and the form-value parsers.

Rosters and calendar dates are in `ticketing.admin.schedules`.

Each change is one function that checks its input (an `InvalidInput` says what is wrong in
words for the form or the terminal), makes the change, writes one audit row in the same
transaction and commits: a change is never kept without its audit row, nor the other way.
Call each inside `with uow:`.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ticketing.exceptions import InvalidInput, NotFound
from ticketing.models.catalogue import Category, Department
from ticketing.models.sla import SlaPolicyRow
from ticketing.people.audit import record_change
from ticketing.people.rosters import WEEKDAYS
from ticketing.sla.services import load_catalog, new_policy_version_uncommitted
from ticketing.unit_of_work import UnitOfWork
from ticketing.vocabulary.catalogue import CategoryLevel, Priority
from ticketing.vocabulary.events import Actor

EARLIEST, LATEST = date(2000, 1, 1), date(2100, 12, 31)


# ---------------------------------------------------------------- parsing form values


def parse_day(text: str, what: str = "date") -> date:
    """An ISO date (2026-10-01) from a form or the command line."""
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(f"{what}: {text!r} is not a date like 2026-10-01") from None
    if not EARLIEST <= day <= LATEST:
        raise InvalidInput(f"{what}: {day} is outside {EARLIEST.year}-{LATEST.year}")
    return day


def parse_clock(text: str, what: str = "time") -> str:
    """A wall-clock time HH:MM, returned zero-padded ("8:00" -> "08:00")."""
    try:
        hours, minutes = (int(part) for part in text.strip().split(":"))
        moment = time(hours, minutes)
    except ValueError:
        raise InvalidInput(f"{what}: {text!r} is not a time like 08:30") from None
    return moment.strftime("%H:%M")


def parse_weekday(text: str) -> int:
    """0-6 (Monday first), or a day name (Mon, monday)."""
    value = text.strip().lower()
    if value.isdigit() and 0 <= int(value) <= 6:
        return int(value)
    names = [name.lower() for name in WEEKDAYS]
    if len(value) >= 3 and value[:3] in names:
        return names.index(value[:3])
    raise InvalidInput(f"weekday: {text!r} is not 0-6 (0 = Monday) or a day name")


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([mhd])$")


def parse_duration(text: str, working_day: timedelta, what: str = "duration") -> timedelta:
    """'30m', '4h', or '7d' (working days of the policy's calendar: 7 h 30 in office hours)."""
    match = _DURATION.match(text.strip().lower())
    if match is None:
        raise InvalidInput(f"{what}: {text!r} is not like 30m, 4h or 7d")
    value, unit = float(match.group(1)), match.group(2)
    units = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": working_day}
    return units[unit] * value


# ---------------------------------------------------------------- categories


def _category(session: Session, code: str) -> Category:
    row = session.scalars(select(Category).where(Category.code == code)).one_or_none()
    if row is None:
        raise NotFound(f"no category {code!r}")
    return row


def _department_id(session: Session, code: str | None) -> int | None:
    if not code:
        return None
    found = session.scalars(select(Department.id).where(Department.code == code)).one_or_none()
    if found is None:
        raise InvalidInput(f"department: no department {code!r}")
    return found


def _text(value: str, what: str, limit: int) -> str:
    value = value.strip()
    if not value:
        raise InvalidInput(f"{what}: required")
    if len(value) > limit:
        raise InvalidInput(f"{what}: at most {limit} characters")
    return value


def _priority(value: str) -> Priority:
    try:
        return Priority(value)
    except ValueError:
        choices = ", ".join(p.value for p in Priority)
        raise InvalidInput(f"priority: {value!r} is not one of {choices}") from None


def add_category(
    uow: UnitOfWork,
    actor: Actor,
    now: datetime,
    *,
    code: str,
    name_en: str,
    name_zh: str,
    department: str | None,
    default_priority: str,
) -> Category:
    """A new category: a department's if a department is given, else the grid's."""
    session = uow.session
    code = _text(code, "code", 40)
    if not code.replace("_", "").isalnum() or not code.isascii() or code != code.lower():
        raise InvalidInput("code: lower-case letters, digits and _ only")
    if session.scalars(select(Category.id).where(Category.code == code)).first() is not None:
        raise InvalidInput(f"code: a category {code!r} already exists")
    department_id = _department_id(session, department)
    row = Category(
        code=code,
        name_en=_text(name_en, "English name", 200),
        name_zh=_text(name_zh, "Chinese name", 200),
        level=CategoryLevel.DEPARTMENT if department_id else CategoryLevel.GRID,
        department_id=department_id,
        default_priority=_priority(default_priority),
        active=True,
    )
    session.add(row)
    record_change(session, actor, "category.add", now, target=f"category:{code}", data=_of(row))
    uow.commit()
    return row


def update_category(
    uow: UnitOfWork,
    actor: Actor,
    now: datetime,
    code: str,
    *,
    name_en: str | None = None,
    name_zh: str | None = None,
    department: str | None = None,
    default_priority: str | None = None,
    active: bool | None = None,
) -> Category:
    """Change a category; `department=""` makes it a grid category again. Cases already
    registered keep their routing: the change applies to new cases."""
    session = uow.session
    row = _category(session, code)
    before = _of(row)
    if name_en is not None:
        row.name_en = _text(name_en, "English name", 200)
    if name_zh is not None:
        row.name_zh = _text(name_zh, "Chinese name", 200)
    if department is not None:
        row.department_id = _department_id(session, department)
        row.level = CategoryLevel.DEPARTMENT if row.department_id else CategoryLevel.GRID
    if default_priority is not None:
        row.default_priority = _priority(default_priority)
    if active is not None:
        row.active = active
    after = _of(row)
    changed = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
    if not changed:
        raise InvalidInput("nothing to change: the values are the ones on record")
    record_change(session, actor, "category.update", now, target=f"category:{code}", data=changed)
    uow.commit()
    return row


def _of(row: Category) -> dict[str, Any]:
    return {
        "name_en": row.name_en,
        "name_zh": row.name_zh,
        "level": row.level.value,
        "department_id": row.department_id,
        "default_priority": row.default_priority.value,
        "active": row.active,
    }


# ---------------------------------------------------------------- SLA policies


def change_sla_policy(
    uow: UnitOfWork,
    actor: Actor,
    now: datetime,
    code: str,
    *,
    accept_within: timedelta | None = None,
    resolve_within: timedelta | None = None,
    calendar: str | None = None,
    name: str | None = None,
) -> SlaPolicyRow:
    """A new version of a policy, checked and audited: the only way a policy changes
    (console and `hotline sla set`); open cases keep their deadlines until recomputed."""
    session = uow.session
    current = session.scalars(
        select(SlaPolicyRow).where(SlaPolicyRow.code == code, SlaPolicyRow.current.is_(True))
    ).one_or_none()
    if current is None:
        raise NotFound(f"no SLA policy {code!r}")
    for what, value in (("accept within", accept_within), ("resolve within", resolve_within)):
        if value is not None and not timedelta(minutes=1) <= value <= timedelta(days=366):
            raise InvalidInput(f"{what}: between 1 minute and a year")
    accept = accept_within or timedelta(minutes=current.accept_minutes)
    resolve = resolve_within or timedelta(minutes=current.resolve_minutes)
    if accept > resolve:
        raise InvalidInput("accept within: longer than the time to resolve")
    if name is not None:
        name = _text(name, "name", 200)
    if (
        accept == timedelta(minutes=current.accept_minutes)
        and resolve == timedelta(minutes=current.resolve_minutes)
        and (calendar or current.calendar_code) == current.calendar_code
        and (name or current.name) == current.name
    ):
        raise InvalidInput("nothing to change: the values are the ones on record")
    record_change(
        session,
        actor,
        "sla.policy.version",
        now,
        target=f"sla:{code}",
        data={
            "version": current.version + 1,
            "accept_minutes": int(accept.total_seconds() // 60),
            "resolve_minutes": int(resolve.total_seconds() // 60),
            "calendar": calendar or current.calendar_code,
            "name": name or current.name,
            "previous_version": current.version,
        },
    )
    # new_policy_version_uncommitted checks the calendar; the audit row commits with it.
    row = new_policy_version_uncommitted(
        uow,
        code,
        accept_within=accept_within,
        resolve_within=resolve_within,
        calendar=calendar,
        name=name,
    )
    uow.commit()
    return row


def change_sla_policy_from_text(
    uow: UnitOfWork,
    actor: Actor,
    now: datetime,
    code: str,
    *,
    accept: str = "",
    resolve: str = "",
    calendar: str | None = None,
    name: str | None = None,
) -> SlaPolicyRow:
    """`change_sla_policy` from a form's text: durations like 30m, 4h or 7d ("" keeps
    the current one), where a day is a working day of the version's calendar."""
    catalog = load_catalog(uow.session)
    policy = catalog.current.get(code)
    cal = calendar or (catalog.policies[policy].calendar if policy else "")
    day = catalog.calendars[cal].working_day_length if cal in catalog.calendars else None
    return change_sla_policy(
        uow,
        actor,
        now,
        code,
        accept_within=_typed_duration(accept, "accept", day),
        resolve_within=_typed_duration(resolve, "resolve", day),
        calendar=calendar,
        name=name,
    )


def _typed_duration(text: str, field: str, working_day: timedelta | None) -> timedelta | None:
    if not text:
        return None
    if working_day is None:
        raise InvalidInput("calendar: choose a calendar")
    return parse_duration(text, working_day, field)
