"""The call-flow service: one webhook request in, one TwiML document out.

Each request is one numbered step of a call. The answer to a step is kept (with the
step's side effects, in the embedded mode in the same transaction), so when Twilio
retries a request it gets the same TwiML back and nothing (a case, an SMS) happens twice.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from hotline import call_actions
from hotline.bootstrap import TRANSCRIBE_JOB, Services
from hotline.call_inputs import CallRequest, event_for
from hotline.ivr import engine
from hotline.ivr.twiml import Urls, render
from hotline.speech_exchange import Expectation
from ticketing import intake
from ticketing.exceptions import InvalidInput, NotFound
from ticketing.models import Call, Ticket
from ticketing.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

FLOW = "hotline"
STEP_URL = "/twilio/voice/step/{step}"
RECORDING_STATUS_URL = "/twilio/voice/recording-status"
ENDED = {"completed", "busy", "failed", "no-answer", "canceled"}


def handle_step(services: Services, request: CallRequest) -> str:
    """Answer step `request.step` of a call (1 is the incoming call) with TwiML."""
    try:
        return _handle_step(services, request)
    except IntegrityError:
        # The same step ran concurrently (a Twilio retry racing the original): the
        # winner's answer is stored, ours was rolled back. Replay the winner's.
        with services.uow() as uow:
            stored = services.call_states.reply(uow, request.call_sid, request.step)
        if stored is None:
            raise
        return stored


def _handle_step(services: Services, request: CallRequest) -> str:
    flow = services.flows[FLOW]
    states = services.call_states
    with services.uow() as uow, states.lock(uow, request.call_sid):
        call = _locked_call(uow, request.call_sid)
        stored = states.reply(uow, request.call_sid, request.step)
        if stored is not None:
            return stored
        if request.step == 1:
            if call is not None:
                raise InvalidInput(f"call {request.call_sid} has already started")
            call = _new_call(uow, request, services)
            result = engine.start(flow, call_actions.caller_context(uow, call.from_number))
        else:
            if call is None:
                raise NotFound(f"no call {request.call_sid}")
            saved = states.load(uow, call)
            expected = int(call.state.get("step", 0)) + 1
            if saved is None or request.step != expected:
                raise InvalidInput(f"step {request.step} is out of order; expected {expected}")
            state = engine.State.from_dict(saved)
            event = event_for(services, flow, state, request)
            result = engine.receive(flow, state, event, call_actions.checks(uow))
        had_case = call.ticket_id is not None
        while result.action is not None:
            done = call_actions.perform(result.action, result.state, call, uow, services)
            more = engine.receive(flow, result.state, done)
            result = engine.Step(more.state, result.outputs + more.outputs, more.action)
        body = render(result, flow, _urls(services, request.step))
        new_state = result.state.to_dict()
        call.state = {**call.state, "step": request.step}
        states.stage(uow, call, new_state, request.step, body)
        uow.commit()
        states.settle(request.call_sid, new_state, request.step, body)
        _listen(services, request, result)
        late = call.state.get("recording_status") or {}
        if not had_case and call.ticket_id and late.get("status") == "completed":
            services.jobs.enqueue("default", TRANSCRIBE_JOB, call.ticket_id)
        return body


def _urls(services: Services, step: int) -> Urls:
    media = services.settings.media_url
    return Urls(
        action=STEP_URL.format(step=step + 1),
        recording_status=RECORDING_STATUS_URL,
        stream=media if step == 1 else None,
        streaming=bool(media),
    )


def _listen(services: Services, request: CallRequest, result: engine.Step) -> None:
    """Tell the media server what the next step listens for, in which language."""
    if not services.settings.media_url:
        return
    gather = next((o for o in result.outputs if isinstance(o, engine.Gather)), None)
    if gather is None or gather.listen is None:
        return
    grammar = call_actions.personal_grammar(gather.listen.grammar, request.params.get("From", ""))
    # Build it here, on the request's own connection: the embedded media server then finds
    # it made, and never queries the database from its thread mid-call.
    services.step_grammars.get(grammar, gather.listen.language)
    services.exchange.expect(
        Expectation(request.call_sid, str(request.step + 1), gather.listen.language, grammar)
    )


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
    uow.session.flush()
    return call


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
            saved = services.call_states.load(uow, call) or {}
            variables = saved.get("vars", {})
            if call.ticket_id is None and variables.get("category"):
                call_actions.create_case(
                    variables,
                    call,
                    uow,
                    services,
                    note="The caller hung up before finishing the report.",
                )
        uow.commit()
    if status in ENDED:
        services.exchange.forget(call_sid)
