"""The moves an agent or supervisor makes from the console's case page, as steps.

They complete `ticketing.cases.services` (reassign, merge, recategorise, cancel, resolve live
there and are reused as they are). Each checks the transition table, writes the move's
own event, keeps the SLA columns true and never commits: the use cases of
`ticketing.cases.console_moves` take the case, call one of them and commit. The one use
case here is `open_case_by_hand`, which commits the case it registers. A correction that
changes who answers for the case (a place in another grid, a category of another level)
re-routes it, and the new assignment is then an "assigned" or "triage" event of its own,
as after `services.reroute`; a correction that leaves the same person or queue
responsible re-dispatches nothing, so nobody gets a second SMS and no accept clock
restarts for a typo fixed.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from ticketing.cases import closure, repository
from ticketing.cases.intake import NewCase, dispatch, open_case_uncommitted, route_case
from ticketing.cases.services import recategorise, resolve
from ticketing.exceptions import InvalidInput, InvalidTransition
from ticketing.history.recording import case_facts, queue_sms, record_event
from ticketing.models.cases import Ticket
from ticketing.models.places import Place
from ticketing.notices import wording
from ticketing.people.phones import to_e164
from ticketing.people.routing import RoutingDecision
from ticketing.places.indexes import Locator, LocatorSource
from ticketing.sla.services import refresh_deadlines
from ticketing.unit_of_work import UnitOfWork
from ticketing.vocabulary.catalogue import Priority
from ticketing.vocabulary.events import Actor, EventKind
from ticketing.vocabulary.lifecycle import OPEN_STATUSES, TicketStatus

NOTE_LIMIT = 4000


def _text(value: str, what: str, *, required: bool = True) -> str:
    text = value.strip()
    if required and not text:
        raise InvalidInput(f"{what} is empty")
    if len(text) > NOTE_LIMIT:
        raise InvalidInput(f"{what} is longer than {NOTE_LIMIT} characters")
    return text


def _require_open(ticket: Ticket, move: str) -> None:
    if ticket.status not in OPEN_STATUSES:
        raise InvalidTransition(f"case {ticket.number} is {ticket.status}: it cannot {move}")


def add_note(uow: UnitOfWork, ticket: Ticket, actor: Actor, note: str, now: datetime) -> None:
    """Write a remark into the case's history; any status, since notes explain closed
    cases too."""
    record_event(ticket, EventKind.NOTE, actor, now, note=_text(note, "the note"))


def request_callback(
    uow: UnitOfWork, ticket: Ticket, actor: Actor, phone: str, reason: str, now: datetime
) -> str:
    """Ask for the caller to be phoned back (a detail to confirm, an answer to give).

    The request is an event, shown at the top of the case page until someone notes it
    done; it does not set `needs_triage`, which means "nobody is routed to this case" and
    would pull an assigned case out of its assignee's hands. Returns the number to call.
    """
    number = to_e164(phone.strip()) if phone.strip() else ticket.caller_phone
    if not number:
        raise InvalidInput("the caller left no number: type the number to call back")
    record_event(
        ticket,
        EventKind.CALLBACK_REQUESTED,
        actor,
        now,
        note=_text(reason, "the reason for the callback"),
        data={"phone": number},
    )
    return number


def change_priority(
    uow: UnitOfWork, ticket: Ticket, priority: Priority, actor: Actor, reason: str, now: datetime
) -> None:
    """Correct the priority; the SLA policy is chosen again. Raising a case to urgent
    alerts the community's supervisors at once, as an urgent case does on registration."""
    _require_open(ticket, "change priority")
    if priority is ticket.priority:
        raise InvalidInput(f"case {ticket.number} is already {priority}")
    record_event(
        ticket,
        EventKind.PRIORITY_CHANGED,
        actor,
        now,
        note=_text(reason, "the reason", required=False),
        data={"from": ticket.priority.value, "to": priority.value},
    )
    ticket.priority = priority
    refresh_deadlines(uow.session, ticket, reselect=True)
    if priority is Priority.URGENT:
        _alert_supervisors(uow, ticket, now)


def _alert_supervisors(uow: UnitOfWork, ticket: Ticket, now: datetime) -> None:
    """Tell the community's supervisors of a case that became urgent, as routing does."""
    facts = case_facts(ticket)
    for person in repository.supervisors(uow.session, ticket.community_id):
        body = wording.urgent_alert(facts, person.language)
        queue_sms(uow, ticket, person.phone, body, "urgent_alert", now, person)


def correct_category(
    uow: UnitOfWork,
    ticket: Ticket,
    category_code: str,
    actor: Actor,
    reason: str,
    now: datetime,
    tz: ZoneInfo,
) -> RoutingDecision:
    """Correct the category (`services.recategorise`), then re-route if the new category
    is answered by someone else (a grid matter that is really the fire department's)."""
    _require_open(ticket, "change category")
    if ticket.category.code == category_code:
        raise InvalidInput(f"case {ticket.number} is already {category_code}")
    recategorise(
        uow,
        ticket,
        category_code,
        ticket.priority,
        actor,
        _text(reason, "the reason", required=False),
        now,
    )
    decision = _redispatch(uow, ticket, actor, now, tz)
    refresh_deadlines(uow.session, ticket)
    return decision


def change_place(
    uow: UnitOfWork,
    ticket: Ticket,
    actor: Actor,
    reason: str,
    now: datetime,
    tz: ZoneInfo,
    locator: Locator,
    *,
    place_id: int | None = None,
    point: tuple[float, float] | None = None,
) -> RoutingDecision:
    """Correct where the problem is, from a gazetteer place or a point clicked on the map;
    the grid comes from the spatial index, and the case is re-routed if that changes who
    answers for it."""
    _require_open(ticket, "move")
    if place_id is not None and point is not None:
        raise InvalidInput("choose a place from the list or click the map, not both")
    if place_id is not None:
        place = uow.session.get(Place, place_id)
        if place is None:
            raise InvalidInput(f"no place {place_id} in the gazetteer")
        lat, lon = place.lat, place.lon
    elif point is not None:
        lat, lon = point
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise InvalidInput(f"{lat}, {lon} is not a point on the map")
    else:
        raise InvalidInput("choose a place from the list or click the map")
    grid_code = locator.grid_at(lat, lon)
    grid = repository.grid_by_code(uow.session, grid_code) if grid_code else None
    if grid is None:
        raise InvalidInput(f"{lat:.5f}, {lon:.5f} lies outside every grid")
    record_event(
        ticket,
        EventKind.PLACE_CHANGED,
        actor,
        now,
        note=_text(reason, "the reason", required=False),
        data={
            "from": {
                "grid": ticket.grid.code if ticket.grid else None,
                "lat": ticket.lat,
                "lon": ticket.lon,
                "place_id": ticket.place_id,
            },
            "to": {"grid": grid.code, "lat": lat, "lon": lon, "place_id": place_id},
        },
    )
    ticket.lat, ticket.lon, ticket.place_id = lat, lon, place_id
    ticket.grid, ticket.community = grid, grid.community
    decision = _redispatch(uow, ticket, actor, now, tz)
    refresh_deadlines(uow.session, ticket)
    return decision


def _redispatch(
    uow: UnitOfWork, ticket: Ticket, actor: Actor, now: datetime, tz: ZoneInfo
) -> RoutingDecision:
    """Route again and apply the decision only if it names someone else."""
    decision = route_case(uow.session, ticket, now, tz)
    if not _same_holder(ticket, decision):
        dispatch(uow, ticket, decision, actor, now)
    return decision


def _same_holder(ticket: Ticket, decision: RoutingDecision) -> bool:
    if decision.needs_triage:
        return ticket.needs_triage
    if ticket.needs_triage:
        return False
    if decision.staff_id is not None:
        return decision.staff_id == ticket.assignee_id
    # A department's case stays with whoever of the department holds it.
    return decision.department_id == ticket.department_id


def close_case(uow: UnitOfWork, ticket: Ticket, actor: Actor, reason: str, now: datetime) -> None:
    """Close a resolved case without the caller's rating (unreachable, or confirmed by
    phone); the reason is kept and the event says an agent closed it, so reports can tell
    it from a rated or an automatic close."""
    if ticket.status is not TicketStatus.RESOLVED:
        raise InvalidTransition(
            f"case {ticket.number} is {ticket.status}: only resolved cases close"
        )
    record_event(
        ticket,
        EventKind.CLOSED,
        actor,
        now,
        to_status=TicketStatus.CLOSED,
        note=_text(reason, "the reason for closing"),
        data={"agent": True},
    )
    ticket.closed_at = now
    refresh_deadlines(uow.session, ticket)


def reopen_case(uow: UnitOfWork, ticket: Ticket, actor: Actor, reason: str, now: datetime) -> None:
    """Give a resolved case back to its assignee because the work is not done: the same
    move as a caller's 0 rating (`closure.reopen`), so it counts as a reopen."""
    if ticket.status is not TicketStatus.RESOLVED:
        raise InvalidTransition(
            f"case {ticket.number} is {ticket.status}: only a resolved case reopens"
        )
    closure.reopen(uow, ticket, actor, _text(reason, "the reason for reopening"), now)


def resolve_case(uow: UnitOfWork, ticket: Ticket, actor: Actor, note: str, now: datetime) -> None:
    """Mark an accepted case resolved on its assignee's behalf (they phoned it in); the
    caller is told and asked to rate, exactly as when the member marks it."""
    if ticket.status is not TicketStatus.ACCEPTED or ticket.assignee is None:
        raise InvalidTransition(
            f"case {ticket.number} is {ticket.status}: only an accepted case can be resolved"
        )
    resolve(uow, ticket, ticket.assignee, _text(note, "the note", required=False), now, actor=actor)


BY_HAND_SOURCES = ("walk_in", "agent_call")


def open_case_by_hand(
    uow: UnitOfWork,
    new: NewCase,
    actor: Actor,
    now: datetime,
    tz: ZoneInfo,
    locate: LocatorSource,
    *,
    priority: Priority | None = None,
    place_id: int | None = None,
    point: tuple[float, float] | None = None,
) -> Ticket:
    """Register a case an agent types in (a live call, a walk-in) and commit it.

    The place is a gazetteer entry or else a map point; its grid (`new.location_code`) is
    found in the place index `locate` gives, and the exact point is kept too, for the map
    and the duplicate search. A priority other than the category's is set before the
    deadlines are final and noted in the "created" event, the case's one event, which also
    names the agent who typed it in (its actor is the caller, as for every channel)."""
    grid_code, point = _located(uow.session, locate, place_id, point)
    new = replace(new, location_code=grid_code)
    if new.source not in BY_HAND_SOURCES:
        raise InvalidInput(f"a case typed in comes from {' or '.join(BY_HAND_SOURCES)}")
    if new.caller_phone:
        new = replace(new, caller_phone=to_e164(new.caller_phone))
    _text(new.description, "the description")
    _, ticket = open_case_uncommitted(uow, new, now, tz)
    if point is not None:
        ticket.lat, ticket.lon = point
        ticket.place_id = place_id
    created = next(e for e in ticket.events if e.kind == EventKind.CREATED)
    created.data = {**created.data, "by": str(actor)}
    if priority is not None and priority is not ticket.priority:
        created.data = {**created.data, "priority": priority.value}
        ticket.priority = priority
        refresh_deadlines(uow.session, ticket, reselect=True, fresh=True)
        if priority is Priority.URGENT:
            _alert_supervisors(uow, ticket, now)
    uow.commit()
    return ticket


def _located(
    session: Session,
    locate: LocatorSource,
    place_id: int | None,
    point: tuple[float, float] | None,
) -> tuple[str | None, tuple[float, float] | None]:
    """The grid of the chosen place (or else of the clicked point) and the point to keep;
    (None, None) when neither was given; InvalidInput when the place is unknown or lies
    outside every grid."""
    if place_id is not None:
        place = session.get(Place, place_id)
        if place is None:
            raise InvalidInput(f"no place {place_id} in the gazetteer")
        point = (place.lat, place.lon)
    elif point is None:
        return None, None
    grid_code = locate(session).grid_at(*point)
    if grid_code is None:
        raise InvalidInput(f"{point[0]:.5f}, {point[1]:.5f} lies outside every grid")
    return grid_code, point
