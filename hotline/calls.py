"""The call-flow service: one webhook request in, one TwiML document out.

Each request is one numbered step of a call. The answer to a step is stored with the
step's side effects in one transaction, so when Twilio retries a request it gets the
same TwiML back and nothing (a case, an SMS) happens twice.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from hotline.bootstrap import TRANSCRIBE_JOB, Services
from hotline.ivr import engine
from hotline.ivr.twiml import render
from ticketing import intake
from ticketing.casenumbers import spoken_digits
from ticketing.exceptions import InvalidInput, NotFound
from ticketing.models import Call, Ticket, WebhookReply
from ticketing.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

FLOW = "hotline"
STEP_URL = "/twilio/voice/step/{step}"
RECORDING_STATUS_URL = "/twilio/voice/recording-status"
ENDED = {"completed", "busy", "failed", "no-answer", "canceled"}


@dataclass(frozen=True)
class CallRequest:
    call_sid: str
    step: int
    params: Mapping[str, str]


def handle_step(services: Services, request: CallRequest) -> str:
    """Answer step `request.step` of a call (1 is the incoming call) with TwiML."""
    try:
        return _handle_step(services, request)
    except IntegrityError:
        # The same step ran concurrently (a Twilio retry racing the original): the
        # winner's answer is stored, ours was rolled back. Replay the winner's.
        with services.uow() as uow:
            stored = _stored_reply(uow, request.call_sid, request.step)
        if stored is None:
            raise
        return stored


def _stored_reply(uow: UnitOfWork, call_sid: str, step: int) -> str | None:
    return uow.session.scalars(
        select(WebhookReply.body).where(
            WebhookReply.call_sid == call_sid, WebhookReply.step == step
        )
    ).one_or_none()


def _handle_step(services: Services, request: CallRequest) -> str:
    flow = services.flows[FLOW]
    with services.uow() as uow:
        stored = _stored_reply(uow, request.call_sid, request.step)
        if stored is not None:
            return stored
        call = _locked_call(uow, request.call_sid)
        if request.step == 1:
            if call is not None:
                raise InvalidInput(f"call {request.call_sid} has already started")
            call = _new_call(uow, request, services)
            result = engine.start(flow)
        else:
            if call is None:
                raise NotFound(f"no call {request.call_sid}")
            expected = int(call.state.get("step", 0)) + 1
            if request.step != expected:
                raise InvalidInput(f"step {request.step} is out of order; expected {expected}")
            state = engine.State.from_dict(call.state["flow"])
            event = _event(flow.nodes[state.node].type, request.params)
            result = engine.receive(flow, state, event, {"location": _location_check(uow)})
        had_case = call.ticket_id is not None
        while result.action is not None:
            done = _perform(result.action, result.state, call, uow, services)
            more = engine.receive(flow, result.state, engine.ActionDone(done))
            result = engine.Step(more.state, result.outputs + more.outputs, more.action)
        body = render(result, flow, STEP_URL.format(step=request.step + 1), RECORDING_STATUS_URL)
        call.state = {**call.state, "flow": result.state.to_dict(), "step": request.step}
        uow.session.add(
            WebhookReply(
                call_sid=request.call_sid, step=request.step, body=body, created_at=services.clock()
            )
        )
        uow.commit()
        late = call.state.get("recording_status") or {}
        if not had_case and call.ticket_id and late.get("status") == "completed":
            services.jobs.enqueue("default", TRANSCRIBE_JOB, call.ticket_id)
        return body


def _locked_call(uow: UnitOfWork, call_sid: str) -> Call | None:
    """The call row, locked until commit so Twilio's concurrent requests take turns."""
    return uow.session.scalars(
        select(Call).where(Call.call_sid == call_sid).with_for_update()
    ).one_or_none()


def _new_call(uow: UnitOfWork, request: CallRequest, services: Services) -> Call:
    call = Call(
        call_sid=request.call_sid,
        from_number=request.params.get("From", ""),
        to_number=request.params.get("To", ""),
        status=request.params.get("CallStatus", "ringing"),
        flow=FLOW,
        state={},
        started_at=services.clock(),
    )
    uow.session.add(call)
    return call


def _event(node_type: str, params: Mapping[str, str]) -> engine.Event:
    if node_type == "record":
        if not params.get("RecordingUrl"):
            return engine.Recorded(None, None, 0)  # silence: Twilio skipped the action
        return engine.Recorded(
            params["RecordingUrl"],
            params.get("RecordingSid"),
            int(params.get("RecordingDuration") or 0),
        )
    digits = params.get("Digits", "")
    return engine.Digits(digits) if digits else engine.NoInput()


def _location_check(uow: UnitOfWork) -> engine.Check:
    def check(code: str) -> Mapping[str, Any] | None:
        location = intake.find_location(uow, code)
        if location is None:
            return None
        return {"grid_code": location.grid_code, "community_code": location.community_code}

    return check


def _perform(
    action: str, state: engine.State, call: Call, uow: UnitOfWork, services: Services
) -> Mapping[str, Any]:
    if action != "create_case":
        raise InvalidInput(f"unknown flow action {action!r}")
    ticket = _create_case(state.vars, call, uow, services, note="")
    return {"case_number": ticket.number, "case_number_spoken": spoken_digits(ticket.number)}


def _create_case(
    variables: Mapping[str, Any], call: Call, uow: UnitOfWork, services: Services, note: str
) -> Ticket:
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
    summary, ticket = intake.register_case(uow, new, services.clock(), services.settings.timezone)
    if late:
        intake.attach_recording(ticket, late["sid"], late["url"], late["status"], services.clock())
    uow.session.flush()
    call.ticket_id = ticket.id
    log.info("call %s opened case %s (%s)", call.call_sid, summary.number, summary.routing_rule)
    return ticket


def record_recording_status(
    services: Services, call_sid: str, recording_sid: str, url: str, status: str
) -> None:
    """Keep the recording reference on the case, or on the call until the case exists."""
    with services.uow() as uow:
        call = _locked_call(uow, call_sid)
        if call is None:
            raise NotFound(f"no call {call_sid}")
        ticket = uow.session.get(Ticket, call.ticket_id) if call.ticket_id else None
        changed = False
        if ticket is not None:
            changed = intake.attach_recording(ticket, recording_sid, url, status, services.clock())
        else:
            call.state = {
                **call.state,
                "recording_status": {"sid": recording_sid, "url": url, "status": status},
            }
        uow.commit()
    if ticket is not None and changed and status == "completed":
        # Twilio's file is ready only now; transcription takes seconds, so a worker does it.
        services.jobs.enqueue("default", TRANSCRIBE_JOB, ticket.id)


def record_call_status(services: Services, call_sid: str, status: str) -> None:
    """Note how a call ended; a caller who hung up after choosing a category still gets
    a case (for triage and a call back) instead of a lost report."""
    with services.uow() as uow:
        call = _locked_call(uow, call_sid)
        if call is None:
            raise NotFound(f"no call {call_sid}")
        call.status = status
        if status in ENDED and call.ended_at is None:
            call.ended_at = services.clock()
            variables = (call.state.get("flow") or {}).get("vars", {})
            if call.ticket_id is None and variables.get("category"):
                _create_case(
                    variables,
                    call,
                    uow,
                    services,
                    note="The caller hung up before finishing the report.",
                )
        uow.commit()
