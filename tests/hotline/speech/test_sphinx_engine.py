"""PocketSphinx, the offline English engine: real recognition of the fixture phrases."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from hotline.speech import grammars
from hotline.speech.audio import mulaw_to_pcm16, parse_wav
from hotline.speech.exceptions import ModelNotFound, SpeechError
from tests.hotline.speech.conftest import FSDD, speech

pytest.importorskip("pocketsphinx", reason="the pocketsphinx extra is not installed")

from hotline.speech.sphinx_engine import PocketSphinxRecognizer

pytestmark = pytest.mark.integration

EN = "en-US"


@pytest.mark.parametrize("name", ["yes_en_us", "yes_en_gb", "no_en_us", "no_en_gb"])
def test_yes_and_no_in_several_voices_over_mulaw(sphinx: PocketSphinxRecognizer, name: str) -> None:
    result = sphinx.recognize(speech(name), grammars.yesno(EN))
    assert result.value == name.split("_")[0]
    assert result.confidence > 0.5


@pytest.mark.parametrize(("name", "value"), [("report_en_us", "report"), ("agent_en_gb", "agent")])
def test_menu_choice(sphinx: PocketSphinxRecognizer, name: str, value: str) -> None:
    assert sphinx.recognize(speech(name), grammars.menu(EN)).value == value


@pytest.mark.parametrize("name", ["street_light_en_us", "street_light_en_gb_noise"])
def test_a_category_spotted_in_a_whole_sentence(sphinx: PocketSphinxRecognizer, name: str) -> None:
    result = sphinx.recognize(speech(name), grammars.category(EN))
    assert result.value == "street_light"
    assert "street light" in result.text


@pytest.mark.parametrize("voice", ["en_us", "en_gb", "en_f3"])
def test_four_digits_of_wideband_speech(sphinx: PocketSphinxRecognizer, voice: str) -> None:
    result = sphinx.recognize(speech(f"digits_4711_{voice}_wide"), grammars.digits(EN, length=4))
    assert (result.text, result.value) == ("four seven one one", "4711")
    assert [w.text for w in result.words] == ["four", "seven", "one", "one"]


@pytest.mark.parametrize("voice", ["en_us", "en_f3"])
def test_a_run_of_digits_of_unknown_length(sphinx: PocketSphinxRecognizer, voice: str) -> None:
    result = sphinx.recognize(speech(f"digits_4711_{voice}_wide"), grammars.digits(EN))
    assert result.value == "4711"


def test_digits_of_8khz_synthetic_speech_are_only_digits(sphinx: PocketSphinxRecognizer) -> None:
    """The bundled 16 kHz model misreads espeak-ng digits cut to the 4 kHz telephone band
    ("seven" loses its hiss above 4 kHz and becomes "two"): a known limit, measured in the
    report. The grammar still guarantees a digit string of the length asked for."""
    for name in ("digits_4711_en_us", "digits_4711_en_gb", "digits_2580_en_f3"):
        value = sphinx.recognize(speech(name), grammars.digits(EN, length=4)).value
        assert value is not None
        assert value.isdigit()
        assert len(value) == 4


def test_real_voices_single_digits(sphinx: PocketSphinxRecognizer) -> None:
    """FSDD (real people at 8 kHz): 14 of these 20 right when measured; fail if it drops."""
    files = sorted(FSDD.glob("*.wav"))
    assert len(files) == 20
    grammar = grammars.digits(EN, length=1)
    right = sum(sphinx.recognize(f.read_bytes(), grammar).value == f.name[0] for f in files)
    assert right >= 13


def test_streaming_gives_the_same_answer_as_the_whole_file(sphinx: PocketSphinxRecognizer) -> None:
    _, mulaw = parse_wav(speech("yes_en_us"))
    stream = sphinx.stream(grammars.yesno(EN), sample_rate=8000)
    for i in range(0, len(mulaw), 160):
        stream.feed(mulaw_to_pcm16(mulaw[i : i + 160]))
    assert stream.finish().value == "yes"


def test_calls_in_parallel_each_get_their_own_decoder(sphinx: PocketSphinxRecognizer) -> None:
    answers: dict[str, str | None] = {}
    names = ["yes_en_us", "no_en_us", "yes_en_gb", "no_en_gb"]

    def call(name: str) -> None:
        answers[name] = sphinx.recognize(speech(name), grammars.yesno(EN)).value

    threads = [threading.Thread(target=call, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers == {n: n.split("_")[0] for n in names}


def test_words_missing_from_the_dictionary_are_left_out(sphinx: PocketSphinxRecognizer) -> None:
    grammar = grammars.place(EN, {"weilai plaza": "P1", "school": "P2"})
    assert sphinx.recognize(speech("yes_en_us"), grammar).value in (None, "P2")
    with pytest.raises(SpeechError, match="no phrase of grammar 'place' is in the dictionary"):
        sphinx.recognize(speech("yes_en_us"), grammars.place(EN, {"weilai plaza": "P1"}))
    assert sphinx.recognize(speech("yes_en_us"), grammars.yesno(EN)).value == "yes"


def test_a_missing_model_fails_at_start_up(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound, match="is not a PocketSphinx model"):
        PocketSphinxRecognizer(tmp_path)
