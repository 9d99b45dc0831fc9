"""Turning what Twilio posts for a step into the flow engine's input.

Keys arrive as `Digits`. Speech arrives one of two ways: with Media Streams on, the media
server has recognised it while the caller spoke and left the result in the exchange,
where the webhook waits briefly for it; with streaming off, the step ends in a short
`<Record>` whose file is fetched and recognised here, in the request. Audio that cannot be
fetched or read is logged and counts as silence: the call goes on, and the keypad is
always offered.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hotline.media.exchange import recognition_of
from hotline.speech.exceptions import SpeechError
from hotline.speech.grammars import Grammar
from hotline.speech.recognizers import Recognition
from hotline.speech.step_grammars import EMERGENCY, is_emergency
from hotline.voice import engine, recordings
from hotline.voice.actions import personal_grammar
from hotline.voice.flows import Flow, Node

if TYPE_CHECKING:
    from hotline.bootstrap import Services

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CallRequest:
    """One webhook request of a call: its step number and Twilio's parameters."""

    call_sid: str
    step: int
    params: Mapping[str, str]


def event_for(
    services: Services, flow: Flow, state: engine.State, request: CallRequest
) -> engine.Event:
    """The engine event for this request at the node the call is waiting at."""
    node = flow.nodes[state.node]
    params = request.params
    if node.type == "record":
        if not params.get("RecordingUrl"):
            return engine.Recorded(None, None, 0)  # silence: Twilio skipped the action
        return engine.Recorded(
            params["RecordingUrl"],
            params.get("RecordingSid"),
            _seconds(params.get("RecordingDuration", "")),
        )
    digits = params.get("Digits", "")
    if digits and not params.get("RecordingUrl"):
        return engine.Digits(digits)
    listen = _listening(flow, node, state)
    if listen is None:
        return engine.NoInput()
    name = personal_grammar(listen.grammar, params.get("From", ""))
    grammar = services.step_grammars.get(name, listen.language)
    heard = _heard(services, request, listen, grammar)
    if heard is None:
        return engine.NoInput()
    value = heard.value if heard.value is not None else grammar.interpret(heard.text)
    if is_emergency(heard.text, listen.language):
        value = EMERGENCY  # "it smells of gas" is an emergency, not a gas-smell report
    log.info(
        "call %s step %s heard %r -> %r (%.2f)",
        request.call_sid,
        request.step,
        heard.text,
        value,
        heard.confidence,
    )
    label = _label(grammar, value)
    return engine.Speech(heard.text, value, heard.confidence, label)


def _seconds(value: str) -> int:
    """Twilio's RecordingDuration, whole seconds; anything else (a forged or garbled
    field) is 0, "unknown", as for a skipped recording: the call goes on either way."""
    if value.isascii() and value.isdigit() and len(value) <= 6:
        return int(value)
    return 0


def _listening(flow: Flow, node: Node, state: engine.State) -> engine.Listen | None:
    """What the step listened for: the node's grammar, or yes/no while confirming."""
    language = str(state.vars.get("language") or flow.listen_language)
    if state.pending is not None:
        return engine.Listen("yesno", language)
    if "speech" not in node.inputs or node.grammar is None:
        return None
    return engine.Listen(node.grammar, language)


def _heard(
    services: Services, request: CallRequest, listen: engine.Listen, grammar: Grammar
) -> Recognition | None:
    url = request.params.get("RecordingUrl")
    if url:
        return _recognise_recording(services, url, listen, grammar)
    if not services.settings.media_url:
        return None
    result = services.exchange.wait(
        request.call_sid, str(request.step), services.settings.speech_wait
    )
    return recognition_of(result) if result is not None else None


def _recognise_recording(
    services: Services, url: str, listen: engine.Listen, grammar: Grammar
) -> Recognition | None:
    recognizer = services.recognizer(listen.language)
    if recognizer is None:
        log.warning("no speech engine for %s: a spoken answer counts as silence", listen.language)
        return None
    try:
        audio = recordings.fetch(url, services.settings, services.files)
        return recognizer.recognize(audio, grammar)
    except (recordings.RecordingUnavailable, recordings.RecordingRefused, SpeechError) as exc:
        log.error("spoken answer at %s not recognised: %s", url, exc)
        return None


def _label(grammar: Grammar, value: str | None) -> str:
    """How to say a recognised value back to the caller ("I heard: broken street light"):
    the grammar's first phrase for it, which is the category's or place's own name in the
    caller's language (synonyms come after it)."""
    if value is None:
        return ""
    return next((phrase for phrase, meant in grammar.phrases if meant == value), value)
