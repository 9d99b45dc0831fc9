"""What the administration pages and commands read: the overview, categories, staff
rosters, the calendars and the SLA policies. The changes are in `ticketing.admin.services`
and `ticketing.admin.schedules`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from ticketing.admin.schedules import CustomDate, custom_dates, staff_member
from ticketing.models.accounts import AuditEntry
from ticketing.models.catalogue import Category, Department
from ticketing.models.people import GridAssignment, LeavePeriod, RosterShift, Staff
from ticketing.models.places import Grid
from ticketing.models.sla import CalendarRow, SlaPolicyRow, SlaRuleRow
from ticketing.sla.services import PolicyCatalog, load_catalog
from ticketing.vocabulary.roles import AssignmentRole


@dataclass(frozen=True)
class Overview:
    counts: dict[str, int | None]  # grids, staff, categories
    recent: list[AuditEntry]  # the ten newest changes


def overview(session: Session) -> Overview:
    """What the administration's first page shows."""
    counts = {
        "grids": session.scalar(select(func.count(Grid.id))),
        "staff": session.scalar(select(func.count(Staff.id))),
        "categories": session.scalar(select(func.count(Category.id))),
    }
    recent = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(10)).all()
    return Overview(counts, list(recent))


@dataclass(frozen=True)
class Categories:
    categories: list[Category]  # by code
    departments: list[tuple[str, str]]  # code, English name
    department_names: dict[int, str]  # id -> English name


def categories(session: Session) -> Categories:
    """Every category, and the departments one may belong to."""
    rows = session.scalars(select(Category).order_by(Category.code)).all()
    departments = list(session.scalars(select(Department)))
    return Categories(
        list(rows),
        [(d.code, d.name_en) for d in departments],
        {d.id: d.name_en for d in departments},
    )


@dataclass(frozen=True)
class CategoryForm:
    category: Category
    department: str  # the code of its department, "" for a grid's category
    departments: list[tuple[str, str]]  # code, English name


def category_form(session: Session, code: str) -> CategoryForm | None:
    """One category to edit, or None if there is no such category."""
    row = session.scalars(select(Category).where(Category.code == code)).one_or_none()
    if row is None:
        return None
    departments = [(d.code, d.name_en) for d in session.scalars(select(Department))]
    return CategoryForm(row, row.department.code if row.department else "", departments)


def find_staff(session: Session, text: str, limit: int = 50) -> list[Staff]:
    """Staff members whose employee number or name contains `text` (all when empty), by
    employee number."""
    query = select(Staff).order_by(Staff.employee_no).limit(limit)
    if text:
        like = f"%{text}%"
        query = query.where(or_(Staff.employee_no.ilike(like), Staff.name.ilike(like)))
    return list(session.scalars(query))


@dataclass(frozen=True)
class Roster:
    member: Staff
    shifts: list[RosterShift]  # by weekday and start
    leaves: list[LeavePeriod]  # by first day
    grids: list[tuple[str, AssignmentRole]]  # grid code, the member's role there


def roster(session: Session, employee_no: str) -> Roster:
    """A staff member's weekly shifts, leave and grids; NotFound if there is no such member."""
    member = staff_member(session, employee_no)
    shifts = session.scalars(
        select(RosterShift)
        .where(RosterShift.staff_id == member.id)
        .order_by(RosterShift.weekday, RosterShift.start)
    ).all()
    leaves = session.scalars(
        select(LeavePeriod).where(LeavePeriod.staff_id == member.id).order_by(LeavePeriod.first_day)
    ).all()
    grids = session.execute(
        select(Grid.code, GridAssignment.role)
        .join(GridAssignment, GridAssignment.grid_id == Grid.id)
        .where(GridAssignment.staff_id == member.id)
        .order_by(Grid.code)
    ).all()
    return Roster(member, list(shifts), list(leaves), [(code, role) for code, role in grids])


@dataclass(frozen=True)
class Calendars:
    dates: list[CustomDate]  # the custom dates, as `schedules.custom_dates` lists them
    codes: list[str]  # every calendar, in order


def calendars(session: Session) -> Calendars:
    """The calendars' custom dates and the calendars one may be set on."""
    codes = session.scalars(select(CalendarRow.code).order_by(CalendarRow.code))
    return Calendars(custom_dates(session), list(codes))


@dataclass(frozen=True)
class SlaPolicies:
    catalog: PolicyCatalog
    versions: list[SlaPolicyRow]  # by code, newest version first
    rules: list[SlaRuleRow]  # in the order they are tried


def sla_policies(session: Session) -> SlaPolicies:
    """Every version of every SLA policy and the rules that choose among them."""
    versions = session.scalars(
        select(SlaPolicyRow).order_by(SlaPolicyRow.code, SlaPolicyRow.version.desc())
    ).all()
    rules = session.scalars(select(SlaRuleRow).order_by(SlaRuleRow.position)).all()
    return SlaPolicies(load_catalog(session), list(versions), list(rules))


def policy_working_day(session: Session, code: str, calendar: str | None) -> timedelta | None:
    """The working day of the calendar a new version of policy `code` would run on (its
    current calendar unless `calendar` names another); None if there is no such policy."""
    current = session.scalars(
        select(SlaPolicyRow).where(SlaPolicyRow.code == code, SlaPolicyRow.current)
    ).one_or_none()
    if current is None:
        return None
    catalog = load_catalog(session)
    return catalog.calendars[calendar or current.calendar_code].working_day_length
