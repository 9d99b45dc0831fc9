"""Rendering engine steps as TwiML with the twilio library.

Every wait for input is followed by a <Redirect> to the same action URL: Twilio falls
through to it when the caller presses nothing (or records nothing), so silence reaches
the engine as "no input" instead of ending the call.

A step that also listens for speech is rendered one of two ways. With Media Streams on,
the caller's audio already flows to our media server (started by <Start><Stream> on the
first step), so the <Gather> waits for keys and posts even when none came
(`actionOnEmptyResult`): the webhook then collects what the media server heard. With
streaming off, a short <Record> follows the <Gather>: a caller who presses nothing hears
the tone and speaks, and the webhook recognises that recording itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from twilio.twiml.voice_response import VoiceResponse

from hotline.voice.engine import Dial, Gather, Hangup, Record, Say, Step
from hotline.voice.flows import Flow

SHORT_ANSWER_SECONDS = 8  # a spoken menu choice, place or case number
KEYS_BEFORE_SPEECH_SECONDS = 2  # with streaming off: time to press a key before the tone


@dataclass(frozen=True)
class Urls:
    action: str  # receives the caller's next input
    recording_status: str
    stream: str | None = None  # open the media stream here (the call's first step)
    streaming: bool = False  # the call's audio reaches the media server
    stream_token: str | None = None  # binds the stream to this call (hotline.media.tokens)


def _say_into(target: VoiceResponse, say: Say, flow: Flow) -> None:
    voice = flow.voices.get(say.language, {})
    target.say(say.text, voice=voice.get("voice"), language=voice.get("language", say.language))


def render(step: Step, flow: Flow, urls: Urls) -> str:
    """The TwiML document for one step."""
    response = VoiceResponse()
    if urls.stream:
        stream = response.start().stream(url=urls.stream, track="inbound_track")
        if urls.stream_token:
            stream.parameter(name="t", value=urls.stream_token)
    for output in step.outputs:
        if isinstance(output, Say):
            _say_into(response, output, flow)
        elif isinstance(output, Gather):
            _gather(response, output, flow, urls)
        elif isinstance(output, Record):
            for prompt in output.prompts:
                _say_into(response, prompt, flow)
            response.record(
                action=urls.action,
                method="POST",
                max_length=output.max_length,
                finish_on_key="#",
                play_beep=True,
                recording_status_callback=urls.recording_status,
                recording_status_callback_method="POST",
                recording_status_callback_event="completed",
            )
            response.redirect(urls.action, method="POST")
        elif isinstance(output, Dial):
            response.dial(output.number)
        elif isinstance(output, Hangup):
            response.hangup()
    return str(response)


def _gather(response: VoiceResponse, output: Gather, flow: Flow, urls: Urls) -> None:
    options: dict[str, object] = {"timeout": output.timeout}
    if output.finish_on_key:
        options["finish_on_key"] = output.finish_on_key
    listening = output.listen is not None
    if listening and urls.streaming:
        options["action_on_empty_result"] = True
    elif listening:
        options["timeout"] = KEYS_BEFORE_SPEECH_SECONDS
    gather = response.gather(
        action=urls.action, method="POST", input="dtmf", num_digits=output.max_digits, **options
    )
    for prompt in output.prompts:
        _say_into(gather, prompt, flow)
    if listening and not urls.streaming:
        response.record(
            action=urls.action,
            method="POST",
            max_length=SHORT_ANSWER_SECONDS,
            timeout=2,
            finish_on_key="#",
            play_beep=True,
            trim="trim-silence",
        )
    response.redirect(urls.action, method="POST")
