"""Which cases a console user may see: one WHERE clause on `Ticket`, used by every page.

Every list, count, export and single-case page filters with `case_filter`, so the rule of
who sees what lives here once; a case outside the filter is answered as "not found", never
as "forbidden", so its existence does not leak either.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, false, or_, select, true
from sqlalchemy.orm import Session

from ticketing.exceptions import NotPermitted
from ticketing.models.accounts import User, UserRole
from ticketing.models.cases import Ticket
from ticketing.models.people import GridAssignment, Staff
from ticketing.models.places import Grid, Region

_MAX_DEPTH = 10  # city > district > street > community: far below this


def region_ids_under(session: Session, region_id: int) -> list[int]:
    """The region and every region below it, at any depth (one query a level)."""
    found = [region_id]
    frontier = [region_id]
    for _ in range(_MAX_DEPTH):
        frontier = [
            rid
            for rid in session.scalars(select(Region.id).where(Region.parent_id.in_(frontier)))
            if rid not in found
        ]
        if not frontier:
            break
        found.extend(frontier)
    return found


def case_filter(session: Session, user: User) -> ColumnElement[bool]:
    """The WHERE clause on `Ticket` for the cases `user` may see.

    Agents and administrators see every case; a supervisor the cases placed in its region
    (its community, street or district, any depth); a dispatcher its department's cases
    (in the department's queue or assigned to one of its staff);
    a grid member the cases in its grids or assigned to it. A disabled account, one whose
    area is missing, or a grid member whose staff record is inactive, sees nothing.
    """
    if not user.active:
        return false()
    if user.role in (UserRole.AGENT, UserRole.ADMIN):
        return true()
    if user.role is UserRole.SUPERVISOR and user.region_id is not None:
        regions = region_ids_under(session, user.region_id)
        grids_inside = select(Grid.id).where(Grid.community_id.in_(regions))
        return or_(Ticket.community_id.in_(regions), Ticket.grid_id.in_(grids_inside))
    if user.role is UserRole.DISPATCHER and user.department_id is not None:
        # A dispatcher who accepts a department case becomes its assignee and the case
        # leaves the department queue: it is still the department's case.
        # Literal id lists, not subqueries: PostgreSQL misjudges the subquery's size and
        # walks the whole created_at index (measured: 60-250 ms against 17-28 ms).
        colleagues = list(
            session.scalars(select(Staff.id).where(Staff.department_id == user.department_id))
        )
        return or_(Ticket.department_id == user.department_id, Ticket.assignee_id.in_(colleagues))
    if user.role is UserRole.GRID_MEMBER and user.staff_id is not None:
        if not session.scalar(select(Staff.active).where(Staff.id == user.staff_id)):
            return false()  # the person left or was deactivated: the account sees nothing
        own_grids = list(
            session.scalars(
                select(GridAssignment.grid_id).where(GridAssignment.staff_id == user.staff_id)
            )
        )
        return or_(Ticket.grid_id.in_(own_grids), Ticket.assignee_id == user.staff_id)
    return false()


def check_assignment_scope(
    session: Session, user: User, staff: Staff | None, department_id: int | None
) -> None:
    """Refuse (NotPermitted, saying why) a hand-over outside the acting user's own area.

    Seeing a case is not the same as being free to send it anywhere: a dispatcher hands
    cases only to its own department's staff or queue, a supervisor only to people whose
    region lies inside its own (any department's queue stays open to it, since departments
    serve the whole city). Agents and administrators route across the city; other roles
    do not assign at all. Kept here, beside `case_filter`, so every caller of a reassign
    (console, future API) asks the same rule.
    """
    if user.role in (UserRole.AGENT, UserRole.ADMIN):
        return
    if user.role is UserRole.DISPATCHER:
        own = user.department_id
        if department_id is not None and department_id != own:
            raise NotPermitted("a dispatcher can hand a case only to its own department's queue")
        if staff is not None and (own is None or staff.department_id != own):
            raise NotPermitted(
                f"{staff.name} ({staff.employee_no}) is not in your department: a dispatcher "
                "can hand a case only to its own department's staff"
            )
        return
    if user.role is UserRole.SUPERVISOR:
        if staff is None:
            return
        regions = region_ids_under(session, user.region_id) if user.region_id is not None else []
        if staff.region_id not in regions:
            raise NotPermitted(
                f"{staff.name} ({staff.employee_no}) works outside your region: a supervisor "
                "can hand a case only to people in its own region"
            )
        return
    raise NotPermitted("your role does not assign cases")


def can_see(session: Session, user: User, ticket_id: int) -> bool:
    """Whether `user` may see the case with that id."""
    visible = select(Ticket.id).where(Ticket.id == ticket_id, case_filter(session, user))
    return session.scalar(visible) is not None


def visible_number(session: Session, user: User, number: str) -> str | None:
    """The number of the case, if `user` may see it."""
    visible = select(Ticket.number).where(Ticket.number == number, case_filter(session, user))
    found: str | None = session.scalar(visible)
    return found


# Who reads callers' numbers in full: the people who call residents back.
SEE_PHONE = (UserRole.AGENT, UserRole.ADMIN)


def mask_phone(phone: str | None, user: User) -> str:
    """+86138****5678 for everyone but agents and administrators."""
    if not phone:
        return ""
    if user.role in SEE_PHONE:
        return phone
    if len(phone) <= 8:
        return "*" * (len(phone) - 2) + phone[-2:]
    return phone[:6] + "*" * (len(phone) - 10) + phone[-4:]
