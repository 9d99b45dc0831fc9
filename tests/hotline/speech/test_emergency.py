"""Emergency words in the category grammar: boosted so PocketSphinx hears them in a
sentence, and still silent on ordinary answers (the false alarm would tell a caller to
hang up and dial 119)."""

from __future__ import annotations

import threading

import pytest

from hotline.speech import grammars
from hotline.speech.audio import decode_wav
from hotline.speech.step_grammars import EMERGENCY, is_emergency, with_emergency_words
from tests.hotline.speech.conftest import FSDD, SPEECH, speech

pytest.importorskip("pocketsphinx", reason="the pocketsphinx extra is not installed")

from hotline.speech.sphinx_engine import BOOST, PocketSphinxRecognizer, keyphrase_line

pytestmark = pytest.mark.integration

EN = "en-US"
ORDINARY = sorted(
    p.stem
    for p in SPEECH.glob("*.wav")
    if not p.stem.startswith("emergency") and not p.stem.endswith(("_zh", "_ko"))
)


def test_the_emergency_words_are_boosted_and_win_over_a_category() -> None:
    grammar = with_emergency_words(grammars.category(EN))
    assert grammar.boost == {EMERGENCY}
    assert grammar.interpret("gas") == EMERGENCY  # also a gas_smell synonym: the emergency wins
    assert grammar.interpret("the street light is on fire") == EMERGENCY
    assert grammar.interpret("the street light is broken") == "street_light"
    assert grammars.category(EN).interpret("gas") == "gas_smell"  # unboosted: a report


def test_a_boosted_keyphrase_gets_a_lower_threshold() -> None:
    assert keyphrase_line(3) == "/1e-2/"
    assert keyphrase_line(3, boosted=True) == f"/1e-{2 + BOOST}/"


@pytest.mark.parametrize("name", ["emergency_gas_en_us", "emergency_smoke_en_us_noise"])
def test_an_emergency_sentence_is_heard_as_an_emergency(
    sphinx: PocketSphinxRecognizer, name: str
) -> None:
    grammar = with_emergency_words(grammars.category(EN))
    result = sphinx.recognize(speech(name), grammar)
    assert result.value == EMERGENCY
    assert is_emergency(result.text, EN)


def test_ordinary_answers_are_not_emergencies(sphinx: PocketSphinxRecognizer) -> None:
    """Every other English fixture (menu words, yes/no, digits, category sentences, some
    noisy) through the category grammar: no emergency word fires."""
    grammar = with_emergency_words(grammars.category(EN))
    assert len(ORDINARY) >= 18
    alarms = {}
    for name in ORDINARY:
        result = sphinx.recognize(speech(name), grammar)
        if result.value == EMERGENCY or is_emergency(result.text, EN):
            alarms[name] = result.text
    assert alarms == {}


def test_real_voices_saying_digits_rarely_sound_like_an_emergency(
    sphinx: PocketSphinxRecognizer,
) -> None:
    """FSDD digits at the report step: one "five" in 20 is heard as "fire" when measured (F AY
    V and F AY ER differ by a consonant at 8 kHz). The digit steps never listen for
    emergency words, so this costs only a caller who says a lone digit when asked for the
    problem; fail if it grows."""
    grammar = with_emergency_words(grammars.category(EN))
    files = sorted(FSDD.glob("*.wav"))
    alarms = [f.name for f in files if sphinx.recognize(f.read_bytes(), grammar).value == EMERGENCY]
    assert len(alarms) <= 1, alarms


def test_streams_beyond_the_decoder_cap_buffer_and_are_still_recognised() -> None:
    """One decoder kept for three simultaneous answers: the others keep their audio and
    decode it in one go as they finish; extra decoders lent then are dropped again."""
    engine = PocketSphinxRecognizer(max_decoders=1)
    grammar = grammars.yesno(EN)
    names = ["yes_en_us", "no_en_us", "yes_en_gb"]
    streams = [engine.stream(grammar, sample_rate=8000) for _ in names]
    for stream, name in zip(streams, names, strict=True):
        stream.feed(decode_wav(speech(name), 8000))
    answers: dict[str, str | None] = {}

    def finish(index: int) -> None:
        answers[names[index]] = streams[index].finish().value

    threads = [threading.Thread(target=finish, args=(i,)) for i in (2, 1, 0)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers == {n: n.split("_")[0] for n in names}
    assert engine.decoders == 1
