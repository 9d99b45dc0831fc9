"""What a call flow's actions and checks do: open a case, read a status, note a call back,
transfer to the agents, place a spoken landmark. The flow engine names them; this module
performs them inside the step's unit of work, so a case and the step's answer commit
together.

`ACTIONS` and `CHECKS` are the one table of each: flow files are validated against
`FLOW_VOCABULARY`, made from them, so a new action is one entry here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, time
from functools import partial
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from hotline import logs
from hotline.speech.step_grammars import STEP_GRAMMARS
from hotline.voice import engine
from hotline.voice.flows import Vocabulary
from ticketing.cases import intake
from ticketing.cases.numbers import spoken_digits
from ticketing.inbox.replies import status_label
from ticketing.models.calls import Call
from ticketing.models.cases import Ticket
from ticketing.models.catalogue import Category
from ticketing.models.places import Grid, Place
from ticketing.unit_of_work import UnitOfWork
from ticketing.vocabulary.lifecycle import TicketStatus

if TYPE_CHECKING:
    # For annotations only: the composition root imports FLOW_VOCABULARY from here.
    from hotline.bootstrap import Services

log = logging.getLogger(__name__)

# A flow action, run in the step's unit of work on the flow's variables; its result
# becomes flow variables.
Action = Callable[[Mapping[str, Any], Call, UnitOfWork, "Services"], engine.ActionDone]
# A check in the step's unit of work: a keyed-in or spoken value to variables, or None.
CheckIn = Callable[[UnitOfWork, str], Mapping[str, Any] | None]

DONE = (TicketStatus.CLOSED, TicketStatus.CANCELLED, TicketStatus.MERGED)
# Emergency words -> the category of the urgent case they open; fire is the fallback.
EMERGENCY_CATEGORIES = (
    (("gas", "煤气", "燃气"), "gas_smell"),
    (("fire", "smoke", "explosion", "着火", "起火", "冒烟", "爆炸"), "fire_hazard"),
)


def _zh(language: str) -> bool:
    return language.lower().startswith("zh")


def category_name(category: Category, language: str) -> str:
    return category.name_zh if _zh(language) else category.name_en


def personal_grammar(grammar: str, from_number: str) -> str:
    """A step grammar made for this caller: "case_number" becomes their own cases."""
    return f"{grammar}:{from_number}" if grammar == "case_number" else grammar


def caller_context(uow: UnitOfWork, from_number: str) -> dict[str, Any]:
    """What the flow knows before the first prompt: a repeat caller's newest open case,
    in that case's language, so they hear how it stands before anything else."""
    ticket = uow.session.scalars(
        select(Ticket)
        .where(Ticket.caller_phone == from_number, Ticket.status.not_in(DONE))
        .order_by(Ticket.created_at.desc())
        .limit(1)
    ).one_or_none()
    if ticket is None or not from_number:
        return {}
    language = ticket.language
    return {
        "language": language,
        "open_case_number": ticket.number,
        "open_case_spoken": spoken_digits(ticket.number),
        "open_case_category": category_name(ticket.category, language),
        "open_case_status": status_label(ticket.status, language),
    }


def _location(uow: UnitOfWork, code: str) -> Mapping[str, Any] | None:
    """A keyed-in grid or community code."""
    found = intake.find_location(uow, code)
    if found is None:
        return None
    return {"grid_code": found.grid_code, "community_code": found.community_code}


def _place(uow: UnitOfWork, place_id: str) -> Mapping[str, Any] | None:
    """A spoken place, by id, or a grid code spoken digit by digit ("grid:1101")."""
    if place_id.startswith("grid:"):
        code = place_id.removeprefix("grid:")
        found = _location(uow, code)
        return None if found is None else {**found, "location_code": code}
    row = uow.session.get(Place, int(place_id)) if place_id.isdigit() else None
    grid = uow.session.get(Grid, row.grid_id) if row and row.grid_id else None
    if row is None or grid is None:
        return None
    return {"location_code": grid.code, "grid_code": grid.code, "place_id": row.id}


CHECKS: dict[str, CheckIn] = {"location": _location, "place": _place}


def checks(uow: UnitOfWork) -> dict[str, engine.Check]:
    """The flow's checks (CHECKS), each bound to the step's unit of work."""
    return {name: partial(check, uow) for name, check in CHECKS.items()}


def perform(
    action: str, state: engine.State, call: Call, uow: UnitOfWork, services: Services
) -> engine.ActionDone:
    """Run one flow action (from ACTIONS); its result becomes flow variables."""
    handler = ACTIONS.get(action)
    if handler is None:
        raise ValueError(f"unknown flow action {action!r}")
    return handler(state.vars, call, uow, services)


def _create_case(
    variables: Mapping[str, Any], call: Call, uow: UnitOfWork, services: Services
) -> engine.ActionDone:
    return engine.ActionDone(_numbered(create_case(variables, call, uow, services, note="")))


def _request_callback(
    variables: Mapping[str, Any], call: Call, uow: UnitOfWork, services: Services
) -> engine.ActionDone:
    note = "The caller asked for an agent outside staffed hours: call them back."
    ticket = create_case({**variables, "category": "other"}, call, uow, services, note=note)
    return engine.ActionDone(_numbered(ticket))


def _numbered(ticket: Ticket) -> dict[str, Any]:
    return {"case_number": ticket.number, "case_number_spoken": spoken_digits(ticket.number)}


def _look_up_status(
    variables: Mapping[str, Any], call: Call, uow: UnitOfWork, services: Services
) -> engine.ActionDone:
    number = str(variables.get("case_number") or "")
    spoken = {"case_number_spoken": spoken_digits(number)}
    ticket = uow.session.scalars(select(Ticket).where(Ticket.number == number)).one_or_none()
    if ticket is None:
        return engine.ActionDone(spoken, failed=True)
    language = str(variables.get("language") or ticket.language)
    return engine.ActionDone(
        {
            **spoken,
            "case_status": status_label(ticket.status, language),
            "case_category": category_name(ticket.category, language),
        }
    )


def staffed(now: datetime, hours: str, tz: ZoneInfo) -> bool:
    """Whether the agents' line is staffed now ("08:00-20:00" local; may wrap midnight)."""
    start_text, _, end_text = hours.partition("-")
    start, end = time.fromisoformat(start_text.strip()), time.fromisoformat(end_text.strip())
    local = now.astimezone(tz).time()
    return start <= local < end if start <= end else (local >= start or local < end)


def _transfer(
    variables: Mapping[str, Any], call: Call, uow: UnitOfWork, services: Services
) -> engine.ActionDone:
    settings = services.settings
    number = settings.agent_number
    if number and staffed(services.clock(), settings.agent_hours, settings.timezone):
        return engine.ActionDone({"dial": number})
    return engine.ActionDone({}, failed=True)


def _emergency_case(
    variables: Mapping[str, Any], call: Call, uow: UnitOfWork, services: Services
) -> engine.ActionDone:
    words = str(variables.get("emergency_words") or "").lower()
    category = next(
        (code for keys, code in EMERGENCY_CATEGORIES if any(k in words for k in keys)),
        "fire_hazard",
    )
    note = f"Emergency words heard: {words!r}. The caller was told to dial 119, 120 or 110."
    ticket = create_case({**variables, "category": category}, call, uow, services, note=note)
    return engine.ActionDone(_numbered(ticket))


ACTIONS: dict[str, Action] = {
    "create_case": _create_case,
    "look_up_status": _look_up_status,
    "request_callback": _request_callback,
    "transfer": _transfer,
    "emergency_case": _emergency_case,
}
# What flow files may name: load_flow refuses any action, check or grammar not in here.
FLOW_VOCABULARY = Vocabulary(
    actions=frozenset(ACTIONS), checks=frozenset(CHECKS), grammars=frozenset(STEP_GRAMMARS)
)


def create_case(
    variables: Mapping[str, Any], call: Call, uow: UnitOfWork, services: Services, note: str
) -> Ticket:
    """The call's case (at most one: a retried step finds the one already made)."""
    if call.ticket_id is not None:
        existing = uow.session.get(Ticket, call.ticket_id)
        if existing is not None:
            return existing
    recording = variables.get("recording") or {}
    late = call.state.get("recording_status") or {}
    new = intake.NewCase(
        category_code=str(variables.get("category") or "other"),
        location_code=None if variables.get("location_unknown") else variables.get("location_code"),
        description=note,
        caller_phone=call.from_number,
        language=str(variables.get("language") or "zh-CN"),
        source="phone",
        recording_sid=recording.get("sid") or late.get("sid"),
        recording_url=recording.get("url") or late.get("url"),
    )
    summary, ticket = intake.open_case_uncommitted(
        uow, new, services.clock(), services.settings.timezone
    )
    if late:
        intake.attach_recording(ticket, late["sid"], late["url"], late["status"], services.clock())
    uow.session.flush()
    call.ticket_id = ticket.id
    logs.bind(case_number=summary.number)
    log.info("call %s opened case %s (%s)", call.call_sid, summary.number, summary.routing_rule)
    return ticket
