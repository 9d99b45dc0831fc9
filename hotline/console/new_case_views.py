"""A case typed in by an agent (a live call, a walk-in), and the place search it uses.

The place is found by typing (the gazetteer's fuzzy search, `/console/places?q=`) or by
clicking the map (`/console/places?lat=&lon=` names the grid); either way the grid comes
from the in-memory `Locator` of `hotline.console.maps`, rebuilt when an import changed the
grids or places (a cheap stamp, read on every search, notices).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Response, flash, jsonify, redirect, render_template, request, url_for
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as WerkzeugResponse

from hotline.console.base import actor, console_blueprint, require_role
from hotline.console.dashboard_views import map_tiles
from hotline.web.context import app_services
from ticketing.cases import agent_moves
from ticketing.cases.intake import NewCase
from ticketing.exceptions import DomainError, InvalidInput
from ticketing.models.accounts import UserRole
from ticketing.places import outlines
from ticketing.places.points import parse_place_id, parse_point
from ticketing.reporting import case_page
from ticketing.vocabulary.catalogue import Priority

bp = console_blueprint("new_case", __name__, url_prefix="/console")

CREATORS = (UserRole.AGENT, UserRole.ADMIN)
SEARCHERS = (UserRole.AGENT, UserRole.ADMIN, UserRole.SUPERVISOR, UserRole.DISPATCHER)
LANGUAGES = (("zh-CN", "中文"), ("en-US", "English"))
SOURCES = (("agent_call", "A live call"), ("walk_in", "A walk-in"))
MAX_QUERY = 100
RESULTS = 8
GRIDS_IN_BOX = 400


@bp.get("/places")
@require_role(*SEARCHERS)
def places() -> Response:
    """Places matching ?q= (best first, each with its grid), or the grid at ?lat=&lon=."""
    app = app_services()
    with app.uow() as uow:
        index = app_services().places.locator(uow.session)
    if "lat" in request.args or "lon" in request.args:
        try:
            point = parse_point(request.args.get("lat", ""), request.args.get("lon", ""))
        except InvalidInput as exc:
            return _bad(str(exc))
        if point is None:
            return _bad("give lat and lon")
        return jsonify(lat=point[0], lon=point[1], grid=index.grid_at(*point))
    query = request.args.get("q", "").strip()[:MAX_QUERY]
    found = index.search(query, limit=RESULTS) if query else []
    return jsonify(
        query=query,
        places=[
            {
                "id": hit.match.entry.id,
                "name_en": hit.match.entry.name_en,
                "name_zh": hit.match.entry.name_zh,
                "kind": hit.match.entry.kind,
                "lat": hit.match.entry.lat,
                "lon": hit.match.entry.lon,
                "grid": hit.grid_code,
                "score": round(hit.match.score, 1),
            }
            for hit in found
        ],
    )


@bp.get("/places/grids")
@require_role(*SEARCHERS)
def grids_in_box() -> Response:
    """The outlines of the grids whose centre lies in ?south=&west=&north=&east=, so the
    map has something to click on without tiles; a box holding more than GRIDS_IN_BOX
    grids answers {"too_many": true} (the map asks the user to zoom in)."""
    try:
        south, west, north, east = (
            float(request.args.get(k, "")) for k in ("south", "west", "north", "east")
        )
    except ValueError:
        return _bad("give south, west, north and east")
    app = app_services()
    with app.uow() as uow:
        found = outlines.grids_in_box(uow.session, south, west, north, east, GRIDS_IN_BOX)
    if found is None:
        return jsonify(too_many=True, grids=[])
    return jsonify(
        too_many=False,
        grids=[{"code": g.code, "name": g.name, "polygon": g.polygon} for g in found],
    )


def _bad(reason: str) -> Response:
    response = jsonify(error=reason)
    response.status_code = 400
    return response


@dataclass(frozen=True)
class Typed:
    """What the form sent, and the first reason it cannot be used (by field)."""

    values: dict[str, str]
    errors: dict[str, str]


def _form_context(session: Session, typed: Typed) -> dict[str, Any]:
    form = case_page.new_case_form(session)
    return {
        "categories": [(c, f"{en} / {zh} ({p.value})") for c, en, zh, p in form.categories],
        "priorities": [("", "the category's own")] + [(p.value, p.value) for p in Priority],
        "languages": LANGUAGES,
        "sources": SOURCES,
        "values": typed.values,
        "errors": typed.errors,
        "tiles": map_tiles(),
        "bounds": form.bounds,
    }


@bp.route("/cases/new", methods=["GET", "POST"])
@require_role(*CREATORS)
def new_case() -> str | WerkzeugResponse | tuple[str, int]:
    app = app_services()
    if request.method == "GET":
        with app.uow() as uow:
            defaults = {"source": "agent_call", "language": "zh-CN"}
            return render_template(
                "console/cases/new.html", **_form_context(uow.session, Typed(defaults, {}))
            )
    values = {k: request.form.get(k, "").strip() for k in _FIELDS}
    errors: dict[str, str] = {}
    if not values["description"]:
        errors["description"] = "describe the problem"
    if not values["category"]:
        errors["category"] = "choose a category"
    try:
        priority = Priority(values["priority"]) if values["priority"] else None
    except ValueError:
        errors["priority"] = f"there is no priority {values['priority']!r}"
    if values["source"] not in dict(SOURCES):
        errors["source"] = "choose a live call or a walk-in"
    if values["language"] not in dict(LANGUAGES):
        errors["language"] = "choose the caller's language"
    try:
        place_id = parse_place_id(values["place_id"])
        point = parse_point(values["lat"], values["lon"])
    except InvalidInput as exc:
        errors["place"] = str(exc)
    if not errors:
        try:
            number, summary = _create(values, priority, place_id, point)
        except DomainError as exc:
            errors[_field_of(str(exc))] = str(exc)
        else:
            flash(f"Case {number} created: {summary}.", "success")
            return redirect(url_for("cases.case_page", number=number))
    with app.uow() as uow:
        page = render_template(
            "console/cases/new.html", **_form_context(uow.session, Typed(values, errors))
        )
    return page, 400


_FIELDS = (
    "description",
    "category",
    "priority",
    "caller_phone",
    "language",
    "source",
    "place_id",
    "place_label",
    "lat",
    "lon",
)


def _field_of(reason: str) -> str:
    """Which field a domain error is about, to show it there."""
    for word, name in (
        ("category", "category"),
        ("phone", "caller_phone"),
        ("place", "place"),
        ("grid", "place"),
        ("point", "place"),
        ("description", "description"),
    ):
        if word in reason:
            return name
    return "_form"


def _create(
    values: dict[str, str],
    priority: Priority | None,
    place_id: int | None,
    point: tuple[float, float] | None,
) -> tuple[str, str]:
    """Register the case; return its number and where it went, in words."""
    app = app_services()
    now = app.clock()
    with app.uow() as uow:
        new = NewCase(
            category_code=values["category"],
            location_code=None,  # the grid of the place or point: found by the service
            description=values["description"],
            caller_phone=values["caller_phone"] or None,
            language=values["language"],
            source=values["source"],
        )
        ticket = agent_moves.open_case_by_hand(
            uow,
            new,
            actor(),
            now,
            app.settings.timezone,
            app_services().places.locator,
            priority=priority,
            place_id=place_id,
            point=point,
        )
        if ticket.needs_triage:
            summary = f"waiting for triage ({ticket.triage_reason})"
        elif ticket.assignee is not None:
            summary = f"assigned to {ticket.assignee.name}"
        else:
            summary = "sent to the department's queue"
        return ticket.number, summary
