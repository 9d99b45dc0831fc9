"""The call-flow service: one webhook request in, one TwiML document out.

Each request is one numbered step of a call. The answer to a step is kept (with the
step's side effects, in the embedded mode in the same transaction), so when Twilio
retries a request it gets the same TwiML back and nothing (a case, an SMS) happens twice.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from hotline import logs, metrics
from hotline.media.exchange import Expectation
from hotline.media.tokens import stream_token
from hotline.voice import actions, engine
from hotline.voice.inputs import CallRequest, event_for
from hotline.voice.recordings import TRANSCRIBE_JOB
from hotline.voice.state import CallStates
from hotline.voice.twiml import Urls, render
from ticketing.cases import intake
from ticketing.exceptions import InvalidInput, NotFound
from ticketing.models.calls import Call
from ticketing.models.cases import Ticket
from ticketing.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from hotline.bootstrap import Services

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
    event: engine.Event | None = None
    if request.step > 1:
        # Waiting for the media server or recognising a recording takes seconds: do it
        # before taking the call's locks, so a retry or a status callback is not kept
        # waiting and no database connection is held idle meanwhile.
        with services.uow() as uow:
            stored = states.reply(uow, request.call_sid, request.step)
            if stored is not None:
                return stored
            try:
                saved = _saved(uow, states, _call(uow, request.call_sid, lock=False), request)
            except InvalidInput:
                # A retry racing its original: the original settled between our two reads
                # and its answer is kept now. Twilio gets that, not a 400.
                stored = states.reply(uow, request.call_sid, request.step)
                if stored is None:
                    raise
                return stored
        # The case this call opened or named, for the log lines of this step.
        logs.bind(case_number=saved["flow"].get("vars", {}).get("case_number"))
        event = event_for(services, flow, engine.State.from_dict(saved["flow"]), request)
    with services.uow() as uow, states.lock(uow, request.call_sid):
        call = _call(uow, request.call_sid, lock=True)
        stored = states.reply(uow, request.call_sid, request.step)
        if stored is not None:
            return stored
        if request.step == 1:
            if call is not None:
                raise InvalidInput(f"call {request.call_sid} has already started")
            call = _new_call(uow, request, services)
            result = engine.start(flow, actions.caller_context(uow, call.from_number))
        else:
            # Read again under the lock: a concurrent request may have moved the call on.
            state = engine.State.from_dict(_saved(uow, states, call, request)["flow"])
            assert event is not None  # computed above for every step after the first
            result = engine.receive(flow, state, event, actions.checks(uow))
        assert call is not None
        had_case = call.ticket_id is not None
        while result.action is not None:
            done = actions.perform(result.action, result.state, call, uow, services)
            more = engine.receive(flow, result.state, done)
            result = engine.Step(more.state, result.outputs + more.outputs, more.action)
        body = render(result, flow, _urls(services, request))
        document = {"flow": result.state.to_dict(), "step": request.step}
        states.stage(uow, call, document, request.step, body)
        uow.commit()
        states.settle(request.call_sid, document, request.step, body)
        _listen(services, request, result)
        late = call.state.get("recording_status") or {}
        if not had_case and call.ticket_id and late.get("status") == "completed":
            services.jobs.enqueue("speech", TRANSCRIBE_JOB, call.ticket_id, call.call_sid)
        return body


def _saved(
    uow: UnitOfWork, states: CallStates, call: Call | None, request: CallRequest
) -> dict[str, Any]:
    """The call's kept state, checked to be the one this step follows.

    The step number lives with the state (in Redis, or on the row), so a step whose
    answer was never kept (the process died between the commit and Redis) is simply run
    again when Twilio retries it.
    """
    if call is None:
        raise NotFound(f"no call {request.call_sid}")
    saved = states.load(uow, call)
    expected = int(saved["step"]) + 1 if saved else 1
    if saved is None or request.step != expected:
        raise InvalidInput(f"step {request.step} is out of order; expected {expected}")
    return saved


def _urls(services: Services, request: CallRequest) -> Urls:
    media = services.settings.media_url
    first = request.step == 1
    return Urls(
        action=STEP_URL.format(step=request.step + 1),
        recording_status=RECORDING_STATUS_URL,
        stream=media if first and media else None,
        streaming=bool(media),
        stream_token=stream_token(services.settings.webhook_token, request.call_sid)
        if first and media
        else None,
    )


def _listen(services: Services, request: CallRequest, result: engine.Step) -> None:
    """Tell the media server what the next step listens for, in which language."""
    if not services.settings.media_url:
        return
    gather = next((o for o in result.outputs if isinstance(o, engine.Gather)), None)
    if gather is None or gather.listen is None:
        return
    grammar = actions.personal_grammar(gather.listen.grammar, request.params.get("From", ""))
    # Build it here, on the request's own connection: the embedded media server then finds
    # it made, and never queries the database from its thread mid-call.
    services.step_grammars.get(grammar, gather.listen.language)
    services.exchange.expect(
        Expectation(request.call_sid, str(request.step + 1), gather.listen.language, grammar)
    )


def _call(uow: UnitOfWork, call_sid: str, lock: bool) -> Call | None:
    """The call row; locked until commit when `lock`, so Twilio's concurrent requests for
    one call take turns."""
    query = select(Call).where(Call.call_sid == call_sid)
    return uow.session.scalars(query.with_for_update() if lock else query).one_or_none()


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
        call = _call(uow, call_sid, lock=True)
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
        services.jobs.enqueue("speech", TRANSCRIBE_JOB, ticket.id, call_sid)


def _outcome(call: Call, variables: dict[str, Any]) -> str:
    """What a call came to, as the metrics count it."""
    if call.ticket_id is not None:
        return "case"
    return "transferred" if variables.get("dial") else "no_case"


def record_call_status(services: Services, call_sid: str, status: str) -> None:
    """Note how a call ended; a caller who hung up after choosing a category still gets
    a case (for triage and a call back) instead of a lost report."""
    with services.uow() as uow:
        call = _call(uow, call_sid, lock=True)
        if call is None:
            raise NotFound(f"no call {call_sid}")
        call.status = status
        if status in ENDED and call.ended_at is None:
            call.ended_at = services.clock()
            saved = services.call_states.load(uow, call) or {}
            variables = saved.get("flow", {}).get("vars", {})
            outcome = _outcome(call, variables)
            if call.ticket_id is None and variables.get("category"):
                actions.create_case(
                    variables,
                    call,
                    uow,
                    services,
                    note="The caller hung up before finishing the report.",
                )
                outcome = "case_on_hangup"
            # Counted once a call (ended_at is set once), and only if this commits.
            uow.after_commit(partial(metrics.call_ended, status, outcome))
        uow.commit()
    if status in ENDED:
        services.exchange.forget(call_sid)
