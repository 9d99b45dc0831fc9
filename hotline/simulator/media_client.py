"""The caller's side of Media Streams, for the call simulator: what Twilio would send.

One client is one call's stream, opened when the call starts (as `<Start><Stream>` does)
and kept for the whole call: each spoken answer is a WAV file sent as 20 ms mu-law
frames, followed by silence so the server's endpointing hears the caller stop. The
upgrade request carries an X-Twilio-Signature computed as Twilio computes it: over the
stream URL with no parameters, keyed with the auth token (or our SECRET_KEY when the
webhooks are signed with it).
"""

from __future__ import annotations

import contextlib
import secrets
import time
import warnings
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType

from twilio.request_validator import RequestValidator
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from hotline.media import protocol
from hotline.media.tokens import PARAMETER, stream_token
from hotline.speech.audio import decode_wav

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # see hotline/speech/audio.py
    import audioop

SILENCE = b"\xff"  # mu-law zero
LEAD_IN_SECONDS = 0.3
TRAILING_SECONDS = 1.0


class MediaStreamClient:
    """A synchronous Media Streams sender.

    `url` is where to connect (ws://127.0.0.1:5001/twilio/media); `signed_url` the URL
    the server checks the signature against (its public wss:// URL), by default `url`.
    `realtime` sleeps 20 ms a frame as a phone line would; otherwise frames go as fast as
    the socket takes them, which tests and the simulator prefer.
    """

    def __init__(
        self,
        url: str,
        token: str,
        *,
        signed_url: str | None = None,
        realtime: bool = False,
        timeout: float = 10.0,
        account_sid: str = "AC" + "0" * 32,
    ) -> None:
        self.url = url
        self.signed_url = signed_url or url
        self.token = token
        self.realtime = realtime
        self.timeout = timeout
        self.account_sid = account_sid
        self.call_sid: str | None = None
        self.stream_sid = "MZ" + secrets.token_hex(16)
        self._ws: ClientConnection | None = None
        self._stack = ExitStack()
        self._sequence = 0
        self._chunk = 0
        self._sent_ms = 0
        self._clock: float | None = None  # when frame 0 was due, for real-time pacing

    @property
    def frames_sent(self) -> int:
        return self._chunk

    def signature(self) -> str:
        return str(RequestValidator(self.token).compute_signature(self.signed_url, {}))

    def open(self, call_sid: str, custom_parameters: dict[str, str] | None = None) -> None:
        """Connect and send `connected` and `start`, as Twilio does when the call starts."""
        # Entered as a context manager, the form every websockets version supports (17.1
        # deprecates holding a bare connection); closing the stack closes the socket.
        connection = connect(
            self.url,
            additional_headers={"X-Twilio-Signature": self.signature()},
            open_timeout=self.timeout,
            close_timeout=self.timeout,
            compression=None,
        )
        self._ws = self._stack.enter_context(connection)
        self.call_sid = call_sid
        params = dict(custom_parameters or {})
        # The first step's TwiML carries this token; a caller of the client that did not
        # read it from TwiML (tests, benchmarks) gets the one our webhook would have sent.
        params.setdefault(PARAMETER, stream_token(self.token, call_sid))
        self._send(protocol.encode(protocol.Connected()))
        start = protocol.Start(
            sequence_number=self._next(),
            stream_sid=self.stream_sid,
            account_sid=self.account_sid,
            call_sid=call_sid,
            custom_parameters=params,
        )
        self._send(protocol.encode(start))

    def send_wav(
        self,
        wav: bytes | Path,
        lead_in: float = LEAD_IN_SECONDS,
        trailing_silence: float = TRAILING_SECONDS,
    ) -> None:
        """Speak a WAV file (any format `decode_wav` reads) with silence around it.

        The lead-in gives the server a moment of audio to notice the step the webhook
        just set, as the prompt's playing time does on a real call.
        """
        data = wav.read_bytes() if isinstance(wav, Path) else wav
        pcm = decode_wav(data, protocol.RATE)
        self.send_silence(lead_in)
        self.send_mulaw(audioop.lin2ulaw(pcm, 2))
        self.send_silence(trailing_silence)

    def send_silence(self, seconds: float) -> None:
        self.send_mulaw(SILENCE * int(seconds * protocol.RATE))

    def send_mulaw(self, mulaw: bytes) -> None:
        """Raw 8 kHz mu-law as 160-byte frames (the last one padded with silence)."""
        for i in range(0, len(mulaw), protocol.FRAME_BYTES):
            frame = mulaw[i : i + protocol.FRAME_BYTES].ljust(protocol.FRAME_BYTES, SILENCE)
            self.send_frame(frame)

    def send_frame(self, payload: bytes) -> None:
        self._pace()
        self._chunk += 1
        self._sent_ms += len(payload) // 8
        media = protocol.Media(
            sequence_number=self._next(),
            stream_sid=self.stream_sid,
            chunk=self._chunk,
            timestamp=self._sent_ms,
            payload=payload,
        )
        self._send(protocol.encode(media))

    def send_raw(self, text: str) -> None:
        """Any text frame, well formed or not (tests of the server's robustness)."""
        self._send(text)

    def close(self) -> None:
        """Send `stop` (the caller hung up) and close the socket."""
        if self._ws is None:
            return
        try:
            if self.call_sid is not None:
                stop = protocol.Stop(self._next(), self.stream_sid, self.account_sid, self.call_sid)
                self._send(protocol.encode(stop))
        except ConnectionClosed:
            pass  # the server hung up first (a refused stream): nothing left to stop
        finally:
            self._ws = None
            with contextlib.suppress(ConnectionClosed, OSError):
                self._stack.close()

    def _pace(self) -> None:
        if not self.realtime:
            return
        now = time.monotonic()
        due = None if self._clock is None else self._clock + self._sent_ms / 1000
        if due is None or due < now - 0.1:  # first frame, or resuming after a pause
            self._clock = now - self._sent_ms / 1000
            return
        if due > now:
            time.sleep(due - now)

    def _next(self) -> int:
        self._sequence += 1
        return self._sequence

    def _send(self, text: str) -> None:
        if self._ws is None:
            raise RuntimeError("the media stream is not open")
        self._ws.send(text)

    def __enter__(self) -> MediaStreamClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
