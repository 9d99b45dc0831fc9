"""Vosk: one model per process, one recogniser per call (docs/TWILIO.md, Vosk).

Kaldi models are large (hundreds of MB in RAM), so the model loads once at start-up and
every call gets its own cheap `KaldiRecognizer`, freed as soon as the utterance ends:
recognisers kept alive make memory grow. Vosk's cffi binding releases the GIL while it
decodes, so calls in a thread pool decode in parallel.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import vosk

from hotline.speech.audio import DEFAULT_MAX_SECONDS, Resampler, decode_wav
from hotline.speech.exceptions import ModelNotFound, SpeechError
from hotline.speech.grammars import Grammar, Mode, is_unspaced
from hotline.speech.recognizers import Recognition, Word, mean_confidence

log = logging.getLogger(__name__)

UNKNOWN = "[unk]"
KALDI_DEFAULT_RATE = 16000


def model_sample_rate(model_dir: Path) -> int:
    """The rate the model was trained at, from its mfcc.conf (Kaldi's default is 16 kHz)."""
    conf = model_dir / "conf" / "mfcc.conf"
    if conf.exists():
        match = re.search(r"--sample-frequency=(\d+)", conf.read_text())
        if match:
            return int(match.group(1))
    return KALDI_DEFAULT_RATE


class VoskRecognizer:
    """A `SpeechRecognizer` over a Vosk (Kaldi) model directory."""

    name = "vosk"

    def __init__(
        self, model_dir: Path, language: str, max_seconds: float = DEFAULT_MAX_SECONDS
    ) -> None:
        if not (model_dir / "am" / "final.mdl").exists():
            raise ModelNotFound(f"{model_dir} is not a Vosk model (no am/final.mdl)")
        vosk.SetLogLevel(-1)  # Kaldi logs every recogniser to stderr otherwise
        self.model = vosk.Model(str(model_dir))
        self.model_dir = model_dir
        self.language = language
        self.sample_rate = model_sample_rate(model_dir)
        self.max_seconds = max_seconds
        self._grammar_json: dict[Grammar, str] = {}

    def recognize(self, audio: bytes, grammar: Grammar | None = None) -> Recognition:
        pcm = decode_wav(audio, self.sample_rate, self.max_seconds)
        stream = self.stream(grammar, self.sample_rate)
        stream.feed(pcm)
        return stream.finish()

    def stream(self, grammar: Grammar | None = None, sample_rate: int = 8000) -> VoskStream:
        return VoskStream(self, grammar, sample_rate)

    def grammar_json(self, grammar: Grammar) -> str:
        """The grammar as Vosk's JSON list, cached: it is built once per step, not per call.

        `ensure_ascii=False` matters: escaped non-ASCII words are silently missing from the
        vocabulary, so a Chinese grammar would recognise nothing at all.
        """
        if grammar not in self._grammar_json:
            phrases = [p for p in map(self._engine_phrase, grammar.texts()) if p]
            if not phrases:
                raise SpeechError(f"no phrase of grammar {grammar.name!r} is in the vocabulary")
            if self.knows(UNKNOWN) and grammar.mode is not Mode.SEQUENCE:
                phrases.append(UNKNOWN)  # lets the rest of a free sentence go somewhere
            self._grammar_json[grammar] = json.dumps(phrases, ensure_ascii=False)
        return self._grammar_json[grammar]

    def knows(self, word: str) -> bool:
        return bool(self.model.vosk_model_find_word(word) >= 0)

    def _engine_phrase(self, phrase: str) -> str | None:
        """The phrase in the model's own words, or None (logged) if one is not in its vocabulary.

        Vosk drops unknown words from a grammar with only a warning on stderr; a phrase
        silently shortened to another phrase would give wrong values, so we drop it whole.
        """
        words = self._segment(phrase) if is_unspaced(self.language) else phrase.split()
        if words is None or not all(self.knows(w) for w in words):
            log.warning("vosk model %s lacks a word of %r: phrase left out", self.model_dir, phrase)
            return None
        return " ".join(words)

    def _segment(self, phrase: str) -> list[str] | None:
        """Split unspaced Chinese into the model's words, longest known word first."""
        text = phrase.replace(" ", "")
        words: list[str] = []
        i = 0
        while i < len(text):
            for j in range(len(text), i, -1):
                if self.knows(text[i:j]):
                    words.append(text[i:j])
                    i = j
                    break
            else:
                return None
        return words


class VoskStream:
    """One utterance on one `KaldiRecognizer`, freed by `finish`."""

    def __init__(self, engine: VoskRecognizer, grammar: Grammar | None, sample_rate: int) -> None:
        self._grammar = grammar
        self._resampler = Resampler(sample_rate, engine.sample_rate)
        args: list[Any] = [engine.model, float(engine.sample_rate)]
        if grammar is not None:
            args.append(engine.grammar_json(grammar))
        self._recognizer: Any = vosk.KaldiRecognizer(*args)
        self._recognizer.SetWords(True)
        self._segments: list[dict[str, Any]] = []

    def feed(self, pcm: bytes) -> None:
        if self._recognizer is None:
            raise RuntimeError("stream already finished")
        if self._recognizer.AcceptWaveform(self._resampler.convert(pcm)):
            # Vosk ends a segment at a pause and starts afresh: keep what it said so far,
            # or a case number spoken with a pause would lose its first digits.
            self._segments.append(json.loads(self._recognizer.Result()))

    def finish(self) -> Recognition:
        if self._recognizer is None:
            raise RuntimeError("stream already finished")
        self._segments.append(json.loads(self._recognizer.FinalResult()))
        self._recognizer = None  # frees the Kaldi recogniser now (its __del__), not at GC
        words = tuple(
            Word(w["word"], float(w["start"]), float(w["end"]), float(w["conf"]))
            for segment in self._segments
            for w in segment.get("result", [])
            if w["word"] != UNKNOWN
        )
        text = " ".join(w.text for w in words)
        value = self._grammar.interpret(text) if self._grammar else None
        return Recognition(text, mean_confidence(words), words, value)
