"""The case page: everything about one case, and every move on it as a small form.

Each move is a POST to `/console/cases/<number>/<move>` that calls one service function
(`ticketing.cases.agent_moves` or `ticketing.cases.services`), commits, and redirects back with a
message; input the domain refuses re-shows the page with the reason beside that form.
A case outside the user's `case_filter` is 404 whatever the method, so its existence
does not leak; a move the user's role may not make is 403. The caller's number is
masked for everyone but agents and administrators, who call residents back.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import abort, flash, redirect, render_template, request, send_file, url_for
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response as WerkzeugResponse

from hotline.console.base import actor, console_blueprint, current_user, require_role, services
from hotline.console.maps import locator
from hotline.settings import Settings
from ticketing.cases import agent_moves as moves
from ticketing.cases import services as cases
from ticketing.cases.numbers import normalise_case_number
from ticketing.exceptions import DomainError, InvalidInput, InvalidTransition, NotPermitted
from ticketing.models.accounts import User, UserRole
from ticketing.models.cases import Ticket
from ticketing.models.catalogue import Category, Department
from ticketing.models.people import GridAssignment, Staff
from ticketing.people.visibility import case_filter, check_assignment_scope
from ticketing.places.outlines import city_bounds
from ticketing.places.points import parse_place_id, parse_point
from ticketing.reporting import queues as qq
from ticketing.vocabulary.catalogue import Priority
from ticketing.vocabulary.lifecycle import OPEN_STATUSES, TicketStatus

bp = console_blueprint("cases", __name__, url_prefix="/console/cases")

_R = UserRole
VIEWERS = tuple(UserRole)
SEE_PHONE = (_R.AGENT, _R.ADMIN)
CORRECTORS = (_R.AGENT, _R.SUPERVISOR, _R.ADMIN)


@dataclass
class Move:
    """One move being made: the locked case, what the form sent, who and when."""

    session: Session
    ticket: Ticket
    form: MultiDict[str, str]
    actor: str
    visible: ColumnElement[bool]
    user: User

    def text(self, name: str) -> str:
        return self.form.get(name, "").strip()


@dataclass(frozen=True)
class Action:
    label: str
    roles: tuple[UserRole, ...]
    statuses: frozenset[TicketStatus]  # where the form is offered (the domain decides)
    run: Callable[[Any, Move], str]  # (unit of work, move) -> the message to flash


def _now() -> Any:
    return services().clock()


def _tz() -> Any:
    return services().settings.timezone


def _note(uow: Any, m: Move) -> str:
    moves.add_note(uow, m.ticket, m.actor, m.text("note"), _now())
    return "Note added."


def _callback(uow: Any, m: Move) -> str:
    number = moves.request_callback(
        uow, m.ticket, m.actor, m.text("phone"), m.text("reason"), _now()
    )
    return f"Callback requested to {number}."


def _category(uow: Any, m: Move) -> str:
    decision = moves.correct_category(
        uow, m.ticket, m.text("category"), m.actor, m.text("reason"), _now(), _tz()
    )
    return f"Category corrected; routing: {decision.rule}."


def _priority(uow: Any, m: Move) -> str:
    try:
        priority = Priority(m.text("priority"))
    except ValueError as exc:
        raise InvalidInput(f"there is no priority {m.text('priority')!r}") from exc
    moves.change_priority(uow, m.ticket, priority, m.actor, m.text("reason"), _now())
    return f"Priority is now {priority}; deadlines recomputed."


def _place(uow: Any, m: Move) -> str:
    decision = moves.change_place(
        uow,
        m.ticket,
        m.actor,
        m.text("reason"),
        _now(),
        _tz(),
        locator(m.session),
        place_id=parse_place_id(m.text("place_id")),
        point=parse_point(m.text("lat"), m.text("lon")) if not m.text("place_id") else None,
    )
    grid = m.ticket.grid.code if m.ticket.grid else "?"
    return f"Place corrected (grid {grid}); routing: {decision.rule}."


def _assign(uow: Any, m: Move) -> str:
    staff = None
    if m.text("staff"):
        key = m.text("staff")
        staff = m.session.scalars(select(Staff).where(Staff.employee_no == key)).one_or_none()
        if staff is None or not staff.active:
            raise InvalidInput(f"no active staff member with employee number {key!r}")
    department_id = None
    if m.text("department") and staff is None:
        department_id = m.session.scalar(
            select(Department.id).where(Department.code == m.text("department"))
        )
        if department_id is None:
            raise InvalidInput(f"there is no department {m.text('department')!r}")
    check_assignment_scope(m.session, m.user, staff, department_id)
    cases.reassign(uow, m.ticket, staff, department_id, m.actor, m.text("reason"), _now())
    return f"Assigned to {staff.name if staff else m.text('department')}."


def _merge(uow: Any, m: Move) -> str:
    number = normalise_case_number(m.text("into"))
    into = (
        m.session.scalars(
            select(Ticket).where(Ticket.number == number, m.visible).with_for_update(of=Ticket)
        ).one_or_none()
        if number
        else None
    )
    if into is None:
        raise InvalidInput(f"there is no case {m.text('into')!r} to merge into")
    cases.merge(uow, m.ticket, into, m.actor, _now())
    return f"Merged into case {into.number}."


def _resolve(uow: Any, m: Move) -> str:
    moves.resolve_case(uow, m.ticket, m.actor, m.text("note"), _now())
    return "Resolved; the caller is told and asked to rate."


def _close(uow: Any, m: Move) -> str:
    moves.close_case(uow, m.ticket, m.actor, m.text("reason"), _now())
    return "Closed."


def _reopen(uow: Any, m: Move) -> str:
    moves.reopen_case(uow, m.ticket, m.actor, m.text("reason"), _now())
    return "Reopened; the assignee is told."


def _cancel(uow: Any, m: Move) -> str:
    if m.ticket.status not in OPEN_STATUSES:
        raise InvalidTransition(f"case {m.ticket.number} is {m.ticket.status}: nothing to cancel")
    cases.cancel(uow, m.ticket, m.actor, m.text("reason"), _now())
    return "Cancelled."


ANY = frozenset(TicketStatus)
OPEN = frozenset(OPEN_STATUSES)
ACTIONS: dict[str, Action] = {
    "note": Action("Add a note", VIEWERS, ANY, _note),
    "callback": Action("Request a callback", CORRECTORS, ANY, _callback),
    "category": Action("Correct the category", CORRECTORS, OPEN, _category),
    "priority": Action("Change the priority", CORRECTORS, OPEN, _priority),
    "place": Action("Correct the place", CORRECTORS, OPEN, _place),
    "assign": Action("Assign or reassign", (*CORRECTORS, _R.DISPATCHER), OPEN, _assign),
    "merge": Action("Merge into another case", CORRECTORS, OPEN, _merge),
    "resolve": Action(
        "Resolve", (*CORRECTORS, _R.DISPATCHER), frozenset({TicketStatus.ACCEPTED}), _resolve
    ),
    "close": Action("Close", CORRECTORS, frozenset({TicketStatus.RESOLVED}), _close),
    "reopen": Action("Reopen", CORRECTORS, frozenset({TicketStatus.RESOLVED}), _reopen),
    "cancel": Action("Cancel", CORRECTORS, OPEN, _cancel),
}


def mask_phone(phone: str | None, user: User) -> str:
    """+86138****5678 for everyone but agents and administrators."""
    if not phone:
        return ""
    if user.role in SEE_PHONE:
        return phone
    if len(phone) <= 8:
        return "*" * (len(phone) - 2) + phone[-2:]
    return phone[:6] + "*" * (len(phone) - 10) + phone[-4:]


_CALLER = re.compile(r"^caller:(\+?\d+)$")


def recording_path(settings: Settings, number: str) -> Path:
    """Where `hotline.voice.recordings.keep` stored the case's audio."""
    return settings.var_dir / "recordings" / "cases" / f"{number}.wav"


def _number(raw: str) -> str:
    number = normalise_case_number(raw)
    if not number or len(number) > 20:
        abort(404)
    return number


@bp.get("/<number>")
@require_role(*VIEWERS)
def case_page(number: str) -> str | tuple[str, int]:
    return _render(current_user(), _number(number))


def _render(
    user: User,
    number: str,
    errors: dict[str, str] | None = None,
    form: MultiDict[str, str] | None = None,
    status: int = 200,
) -> tuple[str, int]:
    app = services()
    now = app.clock()
    with app.uow() as uow:
        session = uow.session
        detail = qq.case_detail(session, number, case_filter(session, user), now)
        if detail is None:
            abort(404)
        context = _context(session, user, detail)
        page = render_template(
            "console/cases/case.html",
            d=detail,
            t=detail.ticket,
            errors=errors or {},
            form=form or MultiDict(),
            zone=app.settings.timezone,
            now=now,
            has_recording=recording_path(app.settings, detail.ticket.number).is_file(),
            **context,
        )
    return page, status


def _context(session: Session, user: User, detail: qq.CaseDetail) -> dict[str, Any]:
    ticket = detail.ticket
    from hotline.console.dashboard_views import map_tiles

    actions = {
        name: action
        for name, action in ACTIONS.items()
        if user.role in action.roles and ticket.status in action.statuses
    }
    members: list[tuple[str, str]] = []
    if "assign" in actions and ticket.grid_id is not None:
        members = [
            (staff.employee_no, f"{staff.name} ({role})")
            for staff, role in session.execute(
                select(Staff, GridAssignment.role)
                .join(GridAssignment, GridAssignment.staff_id == Staff.id)
                .where(GridAssignment.grid_id == ticket.grid_id, Staff.active)
                .order_by(GridAssignment.role, Staff.name)
            )
            if _may_assign(session, user, staff)
        ]
    departments = select(Department.code, Department.name_en).order_by(Department.name_en)
    if user.role is _R.DISPATCHER:  # the only queue it may hand a case to
        departments = departments.where(Department.id == user.department_id)
    return {
        "actions": actions,
        "caller": mask_phone(ticket.caller_phone, user),
        "callback_phone": mask_phone(str(detail.callback.data.get("phone", "")), user)
        if detail.callback
        else "",
        "actors": _actor_names(session, user, ticket),
        "categories": session.execute(
            select(Category.code, Category.name_en)
            .where(Category.active)
            .order_by(Category.name_en)
        ).all(),
        "departments": session.execute(departments).all(),
        "priorities": [(p.value, p.value) for p in Priority],
        "callback_phones": {
            e.id: mask_phone(str(e.data.get("phone", "")), user)
            for e in ticket.events
            if e.kind == "callback_requested"
        },
        "members": members,
        "geo": {
            "outline": detail.polygon,
            "point": [ticket.lat, ticket.lon] if ticket.lat is not None else None,
            "bounds": None if detail.polygon else city_bounds(session),
        },
        "tiles": map_tiles(),
    }


def _may_assign(session: Session, user: User, staff: Staff) -> bool:
    """Whether the assign form should offer this person (the move itself checks again)."""
    try:
        check_assignment_scope(session, user, staff, None)
    except NotPermitted:
        return False
    return True


def _actor_names(session: Session, user: User, ticket: Ticket) -> dict[str, str]:
    """How each event's actor reads on the page: a name, or a masked caller."""
    names: dict[str, str] = {"system": "system"}
    user_ids, staff_ids = set(), set()
    for event in ticket.events:
        kind, _, ident = event.actor.partition(":")
        if kind == "user" and ident.isdigit():
            user_ids.add(int(ident))
        elif kind == "staff" and ident.isdigit():
            staff_ids.add(int(ident))
        elif (caller := _CALLER.match(event.actor)) is not None:
            names[event.actor] = f"caller {mask_phone(caller.group(1), user)}"
        elif event.actor == "caller:unknown":
            names[event.actor] = "caller (no number)"
    if user_ids:
        for user_id, name in session.execute(
            select(User.id, User.display_name).where(User.id.in_(user_ids))
        ):
            names[f"user:{user_id}"] = name
    if staff_ids:
        for staff_id, name in session.execute(
            select(Staff.id, Staff.name).where(Staff.id.in_(staff_ids))
        ):
            names[f"staff:{staff_id}"] = name
    return names


@bp.post("/<number>/<name>")
@require_role(*VIEWERS)
def act(number: str, name: str) -> WerkzeugResponse | tuple[str, int]:
    """Make one move; redirect back with a message, or re-show the page with the reason."""
    user = current_user()
    number = _number(number)
    action = ACTIONS.get(name)
    if action is None:
        abort(404)
    app = services()
    with app.uow() as uow:
        session = uow.session
        visible = case_filter(session, user)
        ticket = session.scalars(
            select(Ticket).where(Ticket.number == number, visible).with_for_update(of=Ticket)
        ).one_or_none()
        if ticket is None:
            abort(404)
        if user.role not in action.roles:
            abort(403)
        try:
            move = Move(session, ticket, request.form, actor(), visible, user)
            message = action.run(uow, move)
            uow.commit()
        except DomainError as exc:
            reason, code = str(exc), _refusal_code(exc)
        else:
            flash(message, "success")
            return redirect(url_for(".case_page", number=number) + f"#{name}")
    return _render(user, number, errors={name: reason}, form=request.form, status=code)


def _refusal_code(exc: DomainError) -> int:
    """409 for a move the case's state rules out, 403 for one outside the user's area
    (an assignment to someone the user may not hand work to), else 400."""
    if isinstance(exc, InvalidTransition):
        return 409
    return 403 if isinstance(exc, NotPermitted) else 400


@bp.get("/<number>/recording")
@require_role(*VIEWERS)
def recording(number: str) -> WerkzeugResponse:
    """The caller's recorded description, as kept with the case (404 if none)."""
    user = current_user()
    number = _number(number)
    app = services()
    with app.uow() as uow:
        session = uow.session
        found = session.scalar(
            select(Ticket.number).where(Ticket.number == number, case_filter(session, user))
        )
    if found is None:
        abort(404)
    path = recording_path(app.settings, found)
    if not path.is_file():
        abort(404)
    return send_file(path, mimetype="audio/wav", conditional=True, max_age=0)
