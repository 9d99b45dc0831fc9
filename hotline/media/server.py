"""The Media Streams WebSocket server: callers' speech recognised while they speak.

Twilio opens one WebSocket per call (`<Start><Stream url="wss://.../twilio/media">`) and
sends the caller's audio as 20 ms mu-law frames. For the step the call currently listens
for (read from the speech exchange), the server runs a recogniser with the step's grammar,
ends the utterance on silence, and publishes the result for the IVR webhook to pick up.

Modelled on alphacep's vosk-server: asyncio for the sockets, one shared model per
language, one recogniser per call, decoding in a thread pool sized to the cores (the
engines release the GIL), so the event loop never waits on an engine. Bounded: at most
HOTLINE_MEDIA_MAX_CALLS calls at once, 64 KiB a message, and a connection silent for
30 s is dropped. A fault in one call is logged with its CallSid and ends at most that call.

`GET /healthz` on the same port answers a load balancer: 200 with the open streams and
whether the speech models are loaded, 503 when the server is full or shutting down (on
SIGTERM it takes no new call and lets the open ones finish, up to DRAIN_SECONDS).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from twilio.request_validator import RequestValidator
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from hotline import logs, metrics
from hotline.media import protocol
from hotline.media.config import MEDIA_PATH, MediaSettings
from hotline.media.exchange import Expectation, SpeechExchange
from hotline.media.session import CallSession, MediaStats
from hotline.media.tokens import (
    PARAMETER,
    MemoryUsedTokens,
    RedisUsedTokens,
    UsedTokens,
    check_token,
)
from hotline.speech.audio import mulaw_to_pcm16
from hotline.speech.engines import parse_config
from hotline.speech.recognizers import Stream
from hotline.speech.step_grammars import StepGrammars

if TYPE_CHECKING:
    from hotline.bootstrap import Services

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 64 * 1024  # a 20 ms frame is ~300 bytes of JSON
TRY_AGAIN_LATER = 1013  # WebSocket close code: the server is overloaded
HEALTH_PATH = "/healthz"
DRAIN_SECONDS = 30.0  # how long a shutdown waits for open calls to end


class MediaServer:
    """The connection handler and its shared state (engines, thread pool, counters)."""

    def __init__(
        self,
        services: Services,
        exchange: SpeechExchange | None = None,
        grammars: StepGrammars | None = None,
        config: MediaSettings | None = None,
        workers: int | None = None,
        used_tokens: UsedTokens | None = None,
    ) -> None:
        self.services = services
        self.config = config or MediaSettings.from_env(services.settings)
        # The webhooks' own exchange and grammars, so both sides meet and build alike.
        self.exchange = exchange or services.exchange
        self.grammars = grammars or services.step_grammars
        self.pool = ThreadPoolExecutor(workers or os.cpu_count() or 2, "media-decode")
        self.stats = MediaStats()
        # Each stream token opens one stream: shared in Redis, or this process's memory.
        self.used_tokens = used_tokens or (
            RedisUsedTokens(services.redis) if services.redis is not None else MemoryUsedTokens()
        )
        # Set on SIGTERM (or `begin_shutdown`): new streams and the health check get 503.
        self.shutting_down = False

    def begin_shutdown(self) -> None:
        """Take no new call from now on; the open ones carry on."""
        self.shutting_down = True

    def full(self) -> bool:
        return self.stats.active_calls >= self.config.max_calls

    def health(self) -> tuple[int, dict[str, object]]:
        """The health check's status code and body."""
        languages = [choice.language for choice in parse_config(self.services.settings.speech)]
        loaded = {lang: lang in self.services.recognizers.loaded for lang in languages}
        state = "shutting_down" if self.shutting_down else "full" if self.full() else "ok"
        body: dict[str, object] = {
            "status": state,
            "active_streams": self.stats.active_calls,
            "max_streams": self.config.max_calls,
            "recognizers_loaded": all(loaded.values()),
            "recognizers": loaded,
        }
        return (200 if state == "ok" else 503), body

    def load_engines(self) -> None:
        """Load every configured language's model now: a missing model is a start-up error."""
        for choice in parse_config(self.services.settings.speech):
            self.services.recognizer(choice.language)

    def open_stream(self, exp: Expectation) -> Stream | None:
        """A recogniser stream for a step (in a pool thread: grammars may hit the database)."""
        recognizer = self.services.recognizer(exp.language)  # loads once, under its own lock
        if recognizer is None:
            log.warning("call %s: no speech engine for %s", exp.call_sid, exp.language)
            return None
        grammar = self.grammars.get(exp.grammar, exp.language)
        return recognizer.stream(grammar, sample_rate=protocol.RATE)

    # --- the opening handshake ----------------------------------------------------------

    def check_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """Answer the health check; refuse a wrong path (404), a full or stopping server
        (503) or a bad signature (403)."""
        path = request.path.partition("?")[0]
        if path == HEALTH_PATH:
            status, body = self.health()
            response = connection.respond(status, json.dumps(body) + "\n")
            del response.headers["Content-Type"]
            response.headers["Content-Type"] = "application/json"
            return response
        if path != MEDIA_PATH:
            return connection.respond(404, "Not found\n")
        if self.shutting_down:
            metrics.stream_refused("shutting_down")
            return connection.respond(503, "Shutting down\n")
        if self.full():
            self.stats.add("refused")
            metrics.stream_refused("full")
            log.warning("refused a media stream: %d calls already", self.stats.active_calls)
            return connection.respond(503, "Too many calls\n")
        signature = request.headers.get("X-Twilio-Signature", "")
        url = self.config.public_url or f"ws://{request.headers.get('Host', '')}{request.path}"
        if not signature or not RequestValidator(self.config.token).validate(url, {}, signature):
            metrics.stream_refused("signature")
            log.warning("refused a media stream with a missing or forged signature")
            return connection.respond(403, "Invalid X-Twilio-Signature\n")
        return None

    # --- one connection -----------------------------------------------------------------

    async def handle(self, connection: ServerConnection) -> None:
        if self.full():  # raced past the handshake
            self.stats.add("refused")
            metrics.stream_refused("full")
            await connection.close(TRY_AGAIN_LATER, "too many calls")
            return
        self.stats.add("active_calls")
        metrics.streams_active(1)
        session: CallSession | None = None
        try:
            session = await self._converse(connection)
        except ConnectionClosed:
            pass
        except Exception:
            call = session.call_sid if session else "(before start)"
            log.exception("call %s: media stream failed", call)
            self.stats.add("errors")
        finally:
            self.stats.add("active_calls", -1)
            metrics.streams_active(-1)

    async def _converse(self, connection: ServerConnection) -> CallSession | None:
        session: CallSession | None = None
        try:
            while True:
                try:
                    async with asyncio.timeout(self.config.idle_seconds):
                        frame = await connection.recv()
                except TimeoutError:
                    call = session.call_sid if session else "(before start)"
                    log.warning(
                        "call %s: nothing for %.0f s, dropped", call, self.config.idle_seconds
                    )
                    await connection.close(1000, "idle")
                    return session
                try:
                    message = protocol.parse(frame)
                except protocol.ProtocolError as exc:
                    call = session.call_sid if session else "(before start)"
                    log.warning("call %s: bad message ignored: %s", call, exc)
                    self.stats.add("bad_messages")
                    continue
                if isinstance(message, protocol.Start) and session is None:
                    refusal = await self._refuse_token(message)
                    if refusal:
                        log.warning("call %s: stream token %s", message.call_sid, refusal)
                        self.stats.add("bad_tokens")
                        metrics.stream_refused("token")
                        await connection.close(1008, "bad stream token")
                        return None
                    # This connection's task (and only it) logs with the call's CallSid.
                    logs.bind(call_sid=message.call_sid)
                    session = self._start(message)
                    await session.refresh(force=True)
                elif isinstance(message, protocol.Media) and session is not None:
                    if message.track not in ("inbound", "inbound_track"):
                        continue
                    self.stats.add("frames")
                    await session.refresh()
                    session.audio(mulaw_to_pcm16(message.payload), _frame_ms(message.payload))
                elif isinstance(message, protocol.Stop):
                    await connection.close(1000, "stopped")
                    return session
        finally:
            if session is not None:
                await session.close()

    async def _refuse_token(self, start: protocol.Start) -> str:
        """Why this start's token opens no stream ("" when it does, and is now used)."""
        token = start.custom_parameters.get(PARAMETER, "")
        now = time.time()
        remaining = check_token(self.config.token, start.call_sid, token, now)
        if remaining is None:
            return "missing, wrong or expired"
        loop = asyncio.get_running_loop()  # Redis answers in a pool thread, not on the loop
        claimed = await loop.run_in_executor(
            self.pool, self.used_tokens.claim, token, remaining, now
        )
        return "" if claimed else "already used by another stream"

    def _start(self, start: protocol.Start) -> CallSession:
        if start.encoding != protocol.MULAW or start.sample_rate != protocol.RATE:
            log.warning(
                "call %s: media format %s at %d Hz, expected mu-law at 8000 Hz",
                start.call_sid,
                start.encoding,
                start.sample_rate,
            )
        log.info("call %s: media stream %s started", start.call_sid, start.stream_sid)
        metrics.stream_started()
        return CallSession(
            start.call_sid,
            self.exchange,
            self.open_stream,
            self.pool,
            self.stats,
            silence_ms=self.config.silence_ms,
            speech_rms=self.config.speech_rms,
        )

    async def drain(self, timeout: float) -> None:
        """Wait until no stream is open, or `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while self.stats.active_calls > 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)

    async def serve(self, host: str, port: int) -> Server:
        return await serve(
            self.handle,
            host,
            port,
            process_request=self.check_request,
            max_size=MAX_MESSAGE_BYTES,
            compression=None,  # tiny frames: deflate costs more CPU than it saves
        )


def _frame_ms(payload: bytes) -> int:
    """A frame's duration: 8 bytes of mu-law a millisecond (20 ms = 160 bytes)."""
    return max(1, len(payload) // 8)


def run_media_server(
    services: Services,
    host: str = "127.0.0.1",
    port: int = 5001,
    server: MediaServer | None = None,
) -> None:
    """Serve until interrupted (the `hotline media-server` command). SIGTERM drains: the
    health check turns 503 and new streams are refused while the open calls finish."""
    media = server or MediaServer(services)
    media.load_engines()

    async def main() -> None:
        ws = await media.serve(host, port)
        log.info("media streams on ws://%s:%d%s", host, port, MEDIA_PATH)
        stopping = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
        await stopping.wait()
        media.begin_shutdown()
        log.info("shutting down: %d media streams still open", media.stats.active_calls)
        await media.drain(DRAIN_SECONDS)
        ws.close()
        await ws.wait_closed()

    try:
        asyncio.run(main())
    finally:
        media.pool.shutdown(wait=False, cancel_futures=True)


@dataclass
class MediaServerHandle:
    """A media server running on its own thread and event loop (embedded mode, tests)."""

    server: MediaServer
    host: str
    port: int
    _thread: threading.Thread
    _loop: asyncio.AbstractEventLoop
    _stop: asyncio.Event

    @property
    def stats(self) -> MediaStats:
        return self.server.stats

    def url(self) -> str:
        return media_url(self.host, self.port)

    def stop(self, timeout: float = 10.0) -> None:
        self.server.begin_shutdown()
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(timeout)
        self.server.pool.shutdown(wait=False, cancel_futures=True)


def media_url(host: str, port: int) -> str:
    """The stream address the TwiML names for a server on `host:port`."""
    return f"ws://{host}:{port}{MEDIA_PATH}"


def start_media_server_thread(
    services: Services,
    host: str = "127.0.0.1",
    port: int = 0,
    server: MediaServer | None = None,
    timeout: float = 30.0,
) -> MediaServerHandle:
    """Start serving on a daemon thread; port 0 picks a free port (see `.port`)."""
    media = server or MediaServer(services)
    media.load_engines()
    ready = threading.Event()
    started: dict[str, object] = {}

    async def main() -> None:
        try:
            ws = await media.serve(host, port)
        except Exception as exc:
            started["error"] = exc
            ready.set()
            return
        stop = asyncio.Event()
        started.update(loop=asyncio.get_running_loop(), stop=stop)
        started["port"] = next(iter(ws.sockets)).getsockname()[1]
        ready.set()
        await stop.wait()
        ws.close()
        await ws.wait_closed()

    thread = threading.Thread(target=asyncio.run, args=(main(),), name="media-server", daemon=True)
    thread.start()
    if not ready.wait(timeout):
        raise RuntimeError(f"the media server did not start within {timeout:g} s")
    if "error" in started:
        raise RuntimeError(f"the media server could not start: {started['error']}")
    return MediaServerHandle(
        media,
        host,
        int(started["port"]),  # type: ignore[call-overload]
        thread,
        started["loop"],  # type: ignore[arg-type]
        started["stop"],  # type: ignore[arg-type]
    )
