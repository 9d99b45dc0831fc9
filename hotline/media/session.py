"""One call on the media server: which step it listens for, its recogniser, its endpointing.

The connection's reader (on the event loop) decides: it follows the call's expectation,
measures each frame's loudness and says when an utterance starts and ends. Decoding, the
slow part, runs in a thread pool: the reader queues work (open a stream, feed audio,
finish and publish) and one worker task per call runs it in order, so a call's
recogniser is only ever used by one thread at a time while many calls decode at once.
Audio queued while a decode runs is fed in one batch, so a busy server makes fewer,
larger calls into the engine instead of falling further behind.

A recogniser is opened only once the caller starts speaking, fed the half second before
(the pre-roll) so the first word is whole: a call holds engine state (a PocketSphinx
decoder is tens of MB) while it is spoken to, not while its prompt plays.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field

from hotline import metrics
from hotline.media.endpointing import SILENCE_MS, SPEECH_RMS, Endpointer, rms
from hotline.media.exchange import Expectation, SpeechExchange, result_of
from hotline.media.protocol import FRAME_MS
from hotline.speech.recognizers import Stream

log = logging.getLogger(__name__)

REFRESH_SECONDS = 0.2  # how stale the cached expectation may get, in wall or audio time
MAX_UTTERANCE_MS = 30_000  # an answer to one question; an open line is cut off here
PREROLL_FRAMES = 25  # 500 ms kept before speech is detected, fed when it is

OpenStream = Callable[[Expectation], Stream | None]


@dataclass
class MediaStats:
    """Counters for tests, logs and the benchmark; updated from several threads."""

    active_calls: int = 0
    refused: int = 0
    streams_opened: int = 0
    published: int = 0
    bad_messages: int = 0
    frames: int = 0  # media frames taken in
    errors: int = 0
    bad_tokens: int = 0  # streams whose start did not carry their call's token
    # endpoint -> published, seconds; the newest only, so a long-running server stays small
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, name: str, amount: int = 1) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + amount)


@dataclass(frozen=True)
class _Open:
    exp: Expectation


@dataclass(frozen=True)
class _Feed:
    pcm: bytes


@dataclass(frozen=True)
class _Finish:
    exp: Expectation
    publish: bool
    ended_at: float  # when the reader saw the utterance end (monotonic)


_Work = _Open | _Feed | _Finish


class CallSession:
    def __init__(
        self,
        call_sid: str,
        exchange: SpeechExchange,
        open_stream: OpenStream,
        pool: Executor,
        stats: MediaStats,
        silence_ms: int = SILENCE_MS,
        speech_rms: int = SPEECH_RMS,
    ) -> None:
        self.call_sid = call_sid
        self._exchange = exchange
        self._open_stream = open_stream
        self._pool = pool
        self._stats = stats
        self._silence_ms = silence_ms
        self._speech_rms = speech_rms
        self.expected: Expectation | None = None
        self.listening = False  # `expected` still waits for its answer
        self._opened = False  # ... and a recogniser was opened for it (speech was heard)
        self._preroll: deque[bytes] = deque(maxlen=PREROLL_FRAMES)
        self._endpointer = Endpointer(speech_rms, silence_ms=silence_ms)
        self._utterance_ms = 0
        self._looked_at = float("-inf")
        self._audio_since_look = 0
        self._work: deque[_Work] = deque()
        self._wake = asyncio.Event()
        self._closing = False
        # The pool's threads run this call's work in its context (its CallSid for the log);
        # one piece at a time, so the context is never entered twice at once.
        self._context = contextvars.copy_context()
        self._worker = asyncio.create_task(self._run(), name=f"media-call-{call_sid}")

    # --- the reader's side, on the event loop -------------------------------------------

    async def refresh(self, force: bool = False) -> None:
        """Re-read the call's expectation when the cached one is stale, and follow it."""
        stale = time.monotonic() - self._looked_at >= REFRESH_SECONDS
        if not (force or stale or self._audio_since_look >= REFRESH_SECONDS * 1000):
            return
        self._looked_at = time.monotonic()
        self._audio_since_look = 0
        exp = await asyncio.to_thread(self._exchange.expectation, self.call_sid)
        if exp != self.expected:
            self._follow(exp)

    def _follow(self, exp: Expectation | None) -> None:
        """A new step: drop the old step's stream unpublished (the webhook has moved on)."""
        if self.listening and self._opened and self.expected is not None:
            self._queue(_Finish(self.expected, publish=False, ended_at=time.monotonic()))
        self.expected = exp
        self.listening = exp is not None
        self._opened = False
        self._preroll.clear()
        self._endpointer = Endpointer(self._speech_rms, silence_ms=self._silence_ms)
        self._utterance_ms = 0

    def audio(self, pcm: bytes, ms: int = FRAME_MS) -> None:
        """A frame of 8 kHz 16-bit PCM: feed the step's stream, end it after the answer."""
        self._audio_since_look += ms
        if not self.listening or self.expected is None:
            return
        self._utterance_ms += ms
        ended = self._endpointer.push(rms(pcm), ms)
        if self._opened:
            self._queue(_Feed(pcm))
        elif self._endpointer.heard:  # the caller started speaking: now a recogniser
            self._opened = True
            self._queue(_Open(self.expected))
            self._queue(_Feed(b"".join(self._preroll) + pcm))
            self._preroll.clear()
        else:
            self._preroll.append(pcm)
        if ended or self._utterance_ms >= MAX_UTTERANCE_MS:
            self.listening = False  # one result per step; later audio waits for the next
            if self._opened:
                self._queue(_Finish(self.expected, publish=True, ended_at=time.monotonic()))

    async def close(self, timeout: float = 10.0) -> None:
        """The call ended (stop, or the socket closed): finish and publish what was heard."""
        if self.listening and self._opened and self.expected is not None:
            self._queue(_Finish(self.expected, publish=True, ended_at=time.monotonic()))
        self.listening = False
        self._closing = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._worker), timeout)
        except TimeoutError:
            log.error("call %s: recognition did not finish within %.0f s", self.call_sid, timeout)

    def _queue(self, work: _Work) -> None:
        self._work.append(work)
        self._wake.set()

    # --- the worker's side: runs the engine in the pool, one piece of work at a time ----

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        stream: Stream | None = None
        while True:
            if not self._work:
                if self._closing:
                    break
                self._wake.clear()
                await self._wake.wait()
                continue
            work = self._work.popleft()
            try:
                run = self._context.run
                if isinstance(work, _Open):
                    stream = await loop.run_in_executor(self._pool, run, self._open, work.exp)
                elif isinstance(work, _Feed):
                    if stream is not None:
                        await loop.run_in_executor(self._pool, run, stream.feed, self._batch(work))
                    else:
                        self._batch(work)  # nothing to feed: drop the queued audio too
                else:
                    current, stream = stream, None
                    if current is not None:
                        await loop.run_in_executor(self._pool, run, self._finish, current, work)
            except Exception:
                log.exception("call %s: speech recognition failed", self.call_sid)
                self._stats.add("errors")
                stream = None  # the step is lost; the webhook falls back to the keypad

    def _batch(self, first: _Feed) -> bytes:
        """The frame plus every frame queued right behind it, as one chunk."""
        chunks = [first.pcm]
        while self._work and isinstance(self._work[0], _Feed):
            chunks.append(self._work.popleft().pcm)  # type: ignore[union-attr]
        return b"".join(chunks)

    def _open(self, exp: Expectation) -> Stream | None:
        stream = self._open_stream(exp)
        if stream is not None:
            self._stats.add("streams_opened")
        return stream

    def _finish(self, stream: Stream, work: _Finish) -> None:
        recognition = stream.finish()  # also gives the engine's per-call state back
        if not work.publish:
            return
        self._exchange.publish(self.call_sid, work.exp.step, result_of(recognition))
        self._stats.add("published")
        latency = time.monotonic() - work.ended_at
        with self._stats.lock:
            self._stats.latencies.append(latency)
        metrics.recognised("stream", work.exp.language, latency)
        log.info(
            "call %s step %s: heard %r (value %r, confidence %.2f)",
            self.call_sid,
            work.exp.step,
            recognition.text,
            recognition.value,
            recognition.confidence,
        )
