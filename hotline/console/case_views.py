"""The case page: everything about one case, and every move on it as a small form.

Each move is a POST to `/console/cases/<number>/<move>` that calls one use case of
`ticketing.cases.console_moves` (which locks the case, checks the user may make the move,
makes it and commits) and redirects back with a message; input the domain refuses
re-shows the page with the reason beside that form. A case outside the user's
`case_filter` is 404 whatever the method, so its existence does not leak; a move the
user's role may not make is 403. The page itself is one read,
`ticketing.reporting.case_page`, which also masks the caller's number for everyone but
agents and administrators, who call residents back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import abort, flash, redirect, render_template, request, send_file, url_for
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response as WerkzeugResponse

from hotline.console.base import actor, console_blueprint, current_user, require_role
from hotline.console.dashboard_views import map_tiles
from hotline.voice import recordings
from hotline.web.context import app_services
from ticketing.cases import console_moves
from ticketing.cases.console_moves import Mover
from ticketing.cases.numbers import normalise_case_number
from ticketing.exceptions import (
    DomainError,
    InvalidTransition,
    MoveNotAllowed,
    NotFound,
    NotPermitted,
)
from ticketing.models.accounts import User, UserRole
from ticketing.people.visibility import visible_number
from ticketing.reporting import case_page as pages
from ticketing.unit_of_work import UnitOfWork

Form = MultiDict[str, str]

bp = console_blueprint("cases", __name__, url_prefix="/console/cases")

VIEWERS = tuple(UserRole)


@dataclass(frozen=True)
class Action:
    label: str
    run: Callable[[UnitOfWork, Mover, str, Form], str]  # -> the message to flash


def _text(form: Form, name: str) -> str:
    return form.get(name, "").strip()


def _note(uow: UnitOfWork, by: Mover, number: str, form: Form) -> str:
    console_moves.add_note(uow, by, number, _text(form, "note"))
    return "Note added."


def _callback(uow: UnitOfWork, by: Mover, number: str, form: Form) -> str:
    called = console_moves.request_callback(
        uow, by, number, _text(form, "phone"), _text(form, "reason")
    )
    return f"Callback requested to {called}."


def _category(uow: UnitOfWork, by: Mover, number: str, form: Form) -> str:
    decision = console_moves.correct_category(
        uow, by, number, _text(form, "category"), _text(form, "reason")
    )
    return f"Category corrected; routing: {decision.rule}."


def _priority(uow: UnitOfWork, by: Mover, number: str, form: Form) -> str:
    priority = console_moves.change_priority(
        uow, by, number, _text(form, "priority"), _text(form, "reason")
    )
    return f"Priority is now {priority}; deadlines recomputed."


def _place(uow: UnitOfWork, by: Mover, number: str, form: Form) -> str:
    placed = console_moves.change_place(
        uow,
        by,
        number,
        app_services().places.locator,
        _text(form, "reason"),
        place_id=_text(form, "place_id"),
        lat=_text(form, "lat"),
        lon=_text(form, "lon"),
    )
    return f"Place corrected (grid {placed.grid}); routing: {placed.decision.rule}."


def _assign(uow: UnitOfWork, by: Mover, number: str, form: Form) -> str:
    holder = console_moves.assign_case(
        uow, by, number, _text(form, "staff"), _text(form, "department"), _text(form, "reason")
    )
    return f"Assigned to {holder}."


def _merge(uow: UnitOfWork, by: Mover, number: str, form: Form) -> str:
    into = console_moves.merge_case(uow, by, number, _text(form, "into"))
    return f"Merged into case {into}."


def _resolve(uow: UnitOfWork, by: Mover, number: str, form: Form) -> str:
    console_moves.resolve_case(uow, by, number, _text(form, "note"))
    return "Resolved; the caller is told and asked to rate."


def _close(uow: UnitOfWork, by: Mover, number: str, form: Form) -> str:
    console_moves.close_case(uow, by, number, _text(form, "reason"))
    return "Closed."


def _reopen(uow: UnitOfWork, by: Mover, number: str, form: Form) -> str:
    console_moves.reopen_case(uow, by, number, _text(form, "reason"))
    return "Reopened; the assignee is told."


def _cancel(uow: UnitOfWork, by: Mover, number: str, form: Form) -> str:
    console_moves.cancel_case(uow, by, number, _text(form, "reason"))
    return "Cancelled."


# Every move of `console_moves.MOVES`, in its order, with its form's label.
ACTIONS: dict[str, Action] = {
    "note": Action("Add a note", _note),
    "callback": Action("Request a callback", _callback),
    "category": Action("Correct the category", _category),
    "priority": Action("Change the priority", _priority),
    "place": Action("Correct the place", _place),
    "assign": Action("Assign or reassign", _assign),
    "merge": Action("Merge into another case", _merge),
    "resolve": Action("Resolve", _resolve),
    "close": Action("Close", _close),
    "reopen": Action("Reopen", _reopen),
    "cancel": Action("Cancel", _cancel),
}


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
    form: Form | None = None,
    status: int = 200,
) -> tuple[str, int]:
    app = app_services()
    now = app.clock()
    with app.uow() as uow:
        page = pages.case_page(uow.session, user, number, now)
        if page is None:
            abort(404)
        detail = page.detail
        html = render_template(
            "console/cases/case.html",
            d=detail,
            t=detail.ticket,
            errors=errors or {},
            form=form or MultiDict(),
            zone=app.settings.timezone,
            now=now,
            has_recording=app.files.exists(recordings.case_key(detail.ticket.number)),
            actions={name: ACTIONS[name] for name in page.moves},
            caller=page.caller,
            callback_phone=page.callback_phone,
            actors=page.actors,
            categories=page.categories,
            departments=page.departments,
            priorities=page.priorities,
            callback_phones=page.callback_phones,
            members=page.members,
            geo=page.geo,
            attachments=page.attachments,
            tiles=map_tiles(),
        )
    return html, status


@bp.post("/<number>/<name>")
@require_role(*VIEWERS)
def act(number: str, name: str) -> WerkzeugResponse | tuple[str, int]:
    """Make one move; redirect back with a message, or re-show the page with the reason."""
    user = current_user()
    number = _number(number)
    action = ACTIONS.get(name)
    if action is None:
        abort(404)
    app = app_services()
    by = Mover(user, actor(), app.clock(), app.settings.timezone)
    try:
        with app.uow() as uow:
            message = action.run(uow, by, number, request.form)
    except NotFound:
        abort(404)
    except MoveNotAllowed:
        abort(403)
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
    app = app_services()
    with app.uow() as uow:
        found = visible_number(uow.session, user, number)
    if found is None:
        abort(404)
    key = recordings.case_key(found)
    if not app.files.exists(key):
        abort(404)
    return send_file(app.files.path(key), mimetype="audio/wav", conditional=True, max_age=0)
