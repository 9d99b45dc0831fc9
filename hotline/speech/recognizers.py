"""The one interface every speech engine honours, and the result it returns.

Flows, the Media Streams server and workers talk to `SpeechRecognizer` only, so Vosk,
PocketSphinx and the scripted fake can stand in for each other (STYLE.md, point 4).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from hotline.speech.grammars import Grammar


@dataclass(frozen=True)
class Word:
    """One recognised word, with its time in seconds and the engine's confidence in it."""

    text: str
    start: float
    end: float
    confidence: float


@dataclass(frozen=True)
class Recognition:
    """What was heard: the text, a 0-1 confidence, the words and the grammar's value.

    `value` is what the flow acts on (a category code, a digit string, "yes"); it is None
    when nothing in the grammar was heard, which the flow treats as a no-match.
    """

    text: str
    confidence: float
    words: tuple[Word, ...] = ()
    value: str | None = None

    @classmethod
    def empty(cls) -> Recognition:
        return cls(text="", confidence=0.0)


def mean_confidence(words: tuple[Word, ...]) -> float:
    """Engines give a confidence per word; a flow wants one number for the answer."""
    return sum(w.confidence for w in words) / len(words) if words else 0.0


class Stream(Protocol):
    """One caller's utterance being recognised while it arrives."""

    def feed(self, pcm: bytes) -> None:
        """Take a chunk of 16-bit mono PCM at the rate the stream was opened with."""

    def finish(self) -> Recognition:
        """End the utterance, free the engine's per-call state and return the result."""


class SpeechRecognizer(Protocol):
    """An engine with its model loaded once; safe to share between calls and threads."""

    name: str
    language: str
    sample_rate: int  # the rate the model wants; audio is resampled to it
    max_seconds: float  # longer audio is refused (an open line, a stuck recording)

    def recognize(self, audio: bytes, grammar: Grammar | None = None) -> Recognition:
        """Recognise a whole WAV file's bytes (any format a phone line carries)."""

    def stream(self, grammar: Grammar | None = None, sample_rate: int = 8000) -> Stream:
        """Open a stream for one utterance of one call, fed PCM at `sample_rate`."""
