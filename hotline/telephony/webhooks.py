"""Twilio's webhooks: thin views that check the signature, parse, call one service."""

from __future__ import annotations

from flask import Blueprint, Response, abort, request
from twilio.twiml.messaging_response import MessagingResponse

from hotline.voice import calls
from hotline.voice.inputs import CallRequest
from hotline.web.context import app_services
from hotline.web.inputs import query_id
from hotline.web.signatures import twilio_signed
from ticketing.inbox import services as sms_inbox
from ticketing.notices import outbox

bp = Blueprint("twilio", __name__, url_prefix="/twilio")


def _require(*names: str) -> dict[str, str]:
    """The form fields a webhook cannot work without; 400 naming the first one missing."""
    missing = [name for name in names if not request.form.get(name)]
    if missing:
        abort(400, f"missing field {missing[0]}")
    return {name: request.form[name] for name in names}


def _twiml(body: str) -> Response:
    return Response(body, mimetype="text/xml")


@bp.post("/voice/incoming")
@twilio_signed
def voice_incoming() -> Response:
    fields = _require("CallSid", "From", "To")
    return _twiml(
        calls.handle_step(app_services(), CallRequest(fields["CallSid"], 1, request.form))
    )


@bp.post("/voice/step/<int:step>")
@twilio_signed
def voice_step(step: int) -> Response:
    if step < 2:
        abort(400, "steps after the incoming call start at 2")
    fields = _require("CallSid")
    return _twiml(
        calls.handle_step(app_services(), CallRequest(fields["CallSid"], step, request.form))
    )


@bp.post("/voice/recording-status")
@twilio_signed
def recording_status() -> tuple[str, int]:
    fields = _require("CallSid", "RecordingSid", "RecordingUrl", "RecordingStatus")
    calls.record_recording_status(
        app_services(),
        fields["CallSid"],
        fields["RecordingSid"],
        fields["RecordingUrl"],
        fields["RecordingStatus"],
    )
    return "", 204


@bp.post("/voice/status")
@twilio_signed
def call_status() -> tuple[str, int]:
    fields = _require("CallSid", "CallStatus")
    calls.record_call_status(app_services(), fields["CallSid"], fields["CallStatus"])
    return "", 204


@bp.post("/sms/incoming")
@twilio_signed
def sms_incoming() -> Response:
    fields = _require("MessageSid", "From", "To")
    services = app_services()
    inbound = sms_inbox.InboundSms(
        fields["MessageSid"], fields["From"], fields["To"], request.form.get("Body", "")
    )
    with services.uow() as uow:
        text = sms_inbox.handle_inbound_sms(uow, inbound, services.clock())
    response = MessagingResponse()
    if text:
        response.message(text)
    return _twiml(str(response))


@bp.post("/sms/status")
@twilio_signed
def sms_status() -> tuple[str, int]:
    fields = _require("MessageSid", "MessageStatus")
    ref = query_id("ref")  # the outbox message's id, in the callback URL we gave Twilio
    services = app_services()
    with services.uow() as uow:
        outbox.record_sms_status(
            uow,
            fields["MessageSid"],
            fields["MessageStatus"],
            request.form.get("ErrorCode"),
            services.clock(),
            message_id=ref,
        )
    return "", 204
