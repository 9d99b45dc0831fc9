"""A recogniser that hears what the test scripted: fast, deterministic tests of callers.

It decodes the audio like the real engines (so bad audio fails the same way) and then
"hears" the next scripted text, which the grammar interprets exactly as for a real engine.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from hotline.speech.audio import DEFAULT_MAX_SECONDS, decode_wav
from hotline.speech.grammars import Grammar
from hotline.speech.recognizers import Recognition, Word


class ScriptedRecognizer:
    """Answers each utterance with the next scripted text; silence once the script runs out."""

    name = "scripted"

    def __init__(
        self,
        texts: Iterable[str] = (),
        language: str = "en-US",
        confidence: float = 0.9,
        sample_rate: int = 16000,
        max_seconds: float = DEFAULT_MAX_SECONDS,
    ) -> None:
        self.script: deque[str] = deque(texts)
        self.language = language
        self.confidence = confidence
        self.sample_rate = sample_rate
        self.max_seconds = max_seconds
        self.heard: list[tuple[str | None, int]] = []  # (grammar name, PCM bytes) per utterance

    def say(self, *texts: str) -> None:
        """Queue what the next utterances will be heard as."""
        self.script.extend(texts)

    def recognize(self, audio: bytes, grammar: Grammar | None = None) -> Recognition:
        pcm = decode_wav(audio, self.sample_rate, self.max_seconds)
        stream = self.stream(grammar, self.sample_rate)
        stream.feed(pcm)
        return stream.finish()

    def stream(self, grammar: Grammar | None = None, sample_rate: int = 8000) -> ScriptedStream:
        return ScriptedStream(self, grammar)

    def answer(self, grammar: Grammar | None, pcm_bytes: int) -> Recognition:
        self.heard.append((grammar.name if grammar else None, pcm_bytes))
        text = self.script.popleft() if self.script and pcm_bytes else ""
        if not text:
            return Recognition.empty()
        words = tuple(
            Word(w, i * 0.5, (i + 1) * 0.5, self.confidence) for i, w in enumerate(text.split())
        )
        value = grammar.interpret(text) if grammar else None
        return Recognition(text, self.confidence, words, value)


class ScriptedStream:
    def __init__(self, engine: ScriptedRecognizer, grammar: Grammar | None) -> None:
        self._engine = engine
        self._grammar = grammar
        self._bytes = 0
        self._done = False

    def feed(self, pcm: bytes) -> None:
        if self._done:
            raise RuntimeError("stream already finished")
        self._bytes += len(pcm)

    def finish(self) -> Recognition:
        if self._done:
            raise RuntimeError("stream already finished")
        self._done = True
        return self._engine.answer(self._grammar, self._bytes)
