"""Rendering engine steps as TwiML with the twilio library.

Every wait for input is followed by a <Redirect> to the same action URL: Twilio falls
through to it when the caller presses nothing (or records nothing), so silence reaches
the engine as "no input" instead of ending the call.
"""

from __future__ import annotations

from twilio.twiml.voice_response import VoiceResponse

from hotline.ivr.engine import Gather, Hangup, Record, Say, Step
from hotline.ivr.flows import Flow


def _say_into(target: VoiceResponse, say: Say, flow: Flow) -> None:
    voice = flow.voices.get(say.language, {})
    target.say(say.text, voice=voice.get("voice"), language=voice.get("language", say.language))


def render(step: Step, flow: Flow, action_url: str, recording_status_url: str) -> str:
    """The TwiML document for one step; `action_url` receives the caller's next input."""
    response = VoiceResponse()
    for output in step.outputs:
        if isinstance(output, Say):
            _say_into(response, output, flow)
        elif isinstance(output, Gather):
            options: dict[str, object] = {"timeout": output.timeout}
            if output.finish_on_key:
                options["finish_on_key"] = output.finish_on_key
            gather = response.gather(
                action=action_url,
                method="POST",
                input="dtmf",
                num_digits=output.max_digits,
                **options,
            )
            for prompt in output.prompts:
                _say_into(gather, prompt, flow)
            response.redirect(action_url, method="POST")
        elif isinstance(output, Record):
            for prompt in output.prompts:
                _say_into(response, prompt, flow)
            response.record(
                action=action_url,
                method="POST",
                max_length=output.max_length,
                finish_on_key="#",
                play_beep=True,
                recording_status_callback=recording_status_url,
                recording_status_callback_method="POST",
                recording_status_callback_event="completed",
            )
            response.redirect(action_url, method="POST")
        elif isinstance(output, Hangup):
            response.hangup()
    return str(response)
