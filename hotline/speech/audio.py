"""Turn any WAV a phone line carries into the 16-bit mono PCM an engine wants.

Twilio records 8 kHz mu-law; simulators and people upload 16-bit PCM at 8 to 48 kHz,
mono or stereo. Small Vosk models refuse audio below their rate, so we resample to the
engine's rate ourselves (docs/TWILIO.md, Vosk) rather than trust each engine to.
"""

from __future__ import annotations

import struct
import warnings
from dataclasses import dataclass

from hotline.speech.exceptions import AudioError

with warnings.catch_warnings():
    # audioop is deprecated in 3.11-3.12 and gone in 3.13, where audioop-lts provides it
    # under the same name; the warning is no news to us and pytest turns it into an error.
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

PCM, ALAW, MULAW, EXTENSIBLE = 1, 6, 7, 0xFFFE
MIN_RATE, MAX_RATE = 8000, 48000
DEFAULT_MAX_SECONDS = 120.0


@dataclass(frozen=True)
class WavFormat:
    """The parts of a WAV header that decide how to decode it."""

    encoding: int
    channels: int
    rate: int
    bits: int


def decode_wav(data: bytes, rate: int, max_seconds: float = DEFAULT_MAX_SECONDS) -> bytes:
    """16-bit mono PCM at `rate` from a WAV file's bytes, or a clear `AudioError`."""
    fmt, samples = parse_wav(data)
    if not samples:
        raise AudioError("the WAV file holds no audio")
    seconds = len(samples) / (fmt.rate * fmt.channels * fmt.bits // 8)
    if seconds > max_seconds:
        raise AudioError(
            f"the audio lasts {seconds:.0f} s, more than the {max_seconds:g} s allowed"
        )
    pcm = to_linear16(samples, fmt)
    if fmt.channels == 2:
        pcm = audioop.tomono(pcm, 2, 0.5, 0.5)
    return Resampler(fmt.rate, rate).convert(pcm)


def parse_wav(data: bytes) -> tuple[WavFormat, bytes]:
    """The format and the sample bytes, reading RIFF chunks ourselves.

    The standard `wave` module rejects mu-law, the very format Twilio records in.
    """
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise AudioError("not a WAV file (no RIFF/WAVE header)")
    fmt: WavFormat | None = None
    offset = 12
    while offset + 8 <= len(data):
        chunk_id, size = struct.unpack_from("<4sI", data, offset)
        body = data[offset + 8 : offset + 8 + size]
        if chunk_id == b"fmt ":
            fmt = _read_fmt(body)
        elif chunk_id == b"data":
            if fmt is None:
                raise AudioError("the WAV file has no format chunk before its data")
            _check_format(fmt)
            return fmt, _whole_frames(body, fmt)
        offset += 8 + size + (size & 1)  # chunks are padded to an even length
    raise AudioError("the WAV file has no data chunk")


def _read_fmt(body: bytes) -> WavFormat:
    if len(body) < 16:
        raise AudioError("the WAV format chunk is truncated")
    encoding, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", body)
    if encoding == EXTENSIBLE and len(body) >= 26:
        encoding = struct.unpack_from("<H", body, 24)[0]  # first two bytes of the GUID
    return WavFormat(encoding, channels, rate, bits)


def _check_format(fmt: WavFormat) -> None:
    supported = (fmt.encoding == PCM and fmt.bits == 16) or (
        fmt.encoding in (MULAW, ALAW) and fmt.bits == 8
    )
    if not supported:
        raise AudioError(
            f"unsupported WAV encoding {fmt.encoding} with {fmt.bits} bits: "
            "use 16-bit PCM or 8-bit mu-law/A-law"
        )
    if fmt.channels not in (1, 2):
        raise AudioError(f"{fmt.channels} channels: use mono or stereo")
    if not MIN_RATE <= fmt.rate <= MAX_RATE:
        raise AudioError(f"sample rate {fmt.rate} Hz is outside {MIN_RATE}-{MAX_RATE} Hz")


def _whole_frames(body: bytes, fmt: WavFormat) -> bytes:
    """Drop a trailing partial frame: a recording cut off mid-write still decodes."""
    frame = fmt.channels * fmt.bits // 8
    return body[: len(body) - len(body) % frame]


def to_linear16(samples: bytes, fmt: WavFormat) -> bytes:
    if fmt.encoding == MULAW:
        return audioop.ulaw2lin(samples, 2)
    if fmt.encoding == ALAW:
        return audioop.alaw2lin(samples, 2)
    return samples


def mulaw_to_pcm16(payload: bytes) -> bytes:
    """A Media Streams payload (raw 8 kHz mu-law, no header) as 16-bit PCM."""
    return audioop.ulaw2lin(payload, 2)


class Resampler:
    """Converts 16-bit mono PCM between rates, chunk by chunk, keeping the filter state.

    A stream arrives in 20 ms frames; resampling each alone would click at every seam.
    """

    def __init__(self, from_rate: int, to_rate: int) -> None:
        self.from_rate = from_rate
        self.to_rate = to_rate
        self._state: tuple[int, tuple[tuple[int, int], ...]] | None = None

    def convert(self, pcm: bytes) -> bytes:
        if self.from_rate == self.to_rate or not pcm:
            return pcm
        out, self._state = audioop.ratecv(pcm, 2, 1, self.from_rate, self.to_rate, self._state)
        return out
