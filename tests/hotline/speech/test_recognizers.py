"""Every engine honours `SpeechRecognizer` the same way (STYLE.md point 4)."""

from __future__ import annotations

import pytest

from hotline.speech import grammars
from hotline.speech.audio import decode_wav, mulaw_to_pcm16, parse_wav
from hotline.speech.exceptions import AudioError
from hotline.speech.recognizers import Recognition, SpeechRecognizer
from tests.hotline.speech.conftest import speech, wav

pytestmark = pytest.mark.integration


@pytest.fixture(params=["scripted", "sphinx", "vosk_ko"])
def engine(request: pytest.FixtureRequest) -> SpeechRecognizer:
    recognizer: SpeechRecognizer = request.getfixturevalue(request.param)
    if recognizer.name == "scripted":
        recognizer.say("yes", "yes", "yes")  # type: ignore[attr-defined]
    return recognizer


def _grammar(engine: SpeechRecognizer) -> grammars.Grammar:
    return grammars.digits(engine.language)


def test_recognize_a_whole_file(engine: SpeechRecognizer) -> None:
    result = engine.recognize(speech("digits_4711_en_us"), _grammar(engine))
    assert isinstance(result, Recognition)
    assert 0.0 <= result.confidence <= 1.0
    assert all(w.start <= w.end for w in result.words)
    assert result.text == " ".join(w.text for w in result.words) or engine.name == "scripted"


def test_stream_twilio_frames(engine: SpeechRecognizer) -> None:
    """20 ms mu-law frames at 8 kHz, as Media Streams sends them, resampled by the engine."""
    _, mulaw = parse_wav(speech("digits_4711_en_us"))
    stream = engine.stream(_grammar(engine), sample_rate=8000)
    for i in range(0, len(mulaw), 160):
        stream.feed(mulaw_to_pcm16(mulaw[i : i + 160]))
    assert isinstance(stream.finish(), Recognition)
    with pytest.raises(RuntimeError, match="already finished"):
        stream.finish()
    with pytest.raises(RuntimeError, match="already finished"):
        stream.feed(b"\x00\x00")


def test_a_stream_with_no_audio_hears_nothing(engine: SpeechRecognizer) -> None:
    result = engine.stream(_grammar(engine)).finish()
    assert (result.text, result.value, result.words) == ("", None, ())


def test_bad_audio_raises_audio_error(engine: SpeechRecognizer) -> None:
    for bad in (b"", b"not a wav at all", wav(b"", 8000)):
        with pytest.raises(AudioError):
            engine.recognize(bad, _grammar(engine))


def test_too_long_audio_is_refused(engine: SpeechRecognizer) -> None:
    engine.max_seconds = 0.5
    try:
        with pytest.raises(AudioError, match=r"more than the 0\.5 s allowed"):
            engine.recognize(speech("digits_4711_en_us"))
    finally:
        engine.max_seconds = 120.0


def test_scripted_hears_its_script_through_the_grammar() -> None:
    from hotline.speech.scripted import ScriptedRecognizer

    fake = ScriptedRecognizer(["report a problem", "four seven one one"])
    audio = speech("report_en_us")
    assert fake.recognize(audio, grammars.menu("en-US")).value == "report"
    assert fake.recognize(audio, grammars.digits("en-US")).value == "4711"
    assert fake.recognize(audio, grammars.yesno("en-US")) == Recognition.empty()
    assert [name for name, _ in fake.heard] == ["menu", "digits", "yesno"]
    assert len(decode_wav(audio, 16000)) == fake.heard[0][1]
