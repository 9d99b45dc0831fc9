"""Any WAV a phone line carries decodes to the engine's PCM; anything else is refused clearly."""

from __future__ import annotations

import math
import struct

import pytest

from hotline.speech.audio import ALAW, MULAW, Resampler, decode_wav, mulaw_to_pcm16, parse_wav
from hotline.speech.exceptions import AudioError
from tests.hotline.speech.conftest import speech, wav

pytestmark = pytest.mark.unit


def tone(rate: int, seconds: float, channels: int = 1) -> bytes:
    """A 440 Hz sine as 16-bit PCM, the same on every channel."""
    frames = int(rate * seconds)
    values = [int(8000 * math.sin(2 * math.pi * 440 * i / rate)) for i in range(frames)]
    return struct.pack(f"<{frames * channels}h", *(v for v in values for _ in range(channels)))


def test_twilio_mulaw_at_8k_is_upsampled_to_the_engine_rate() -> None:
    data = speech("yes_en_us")
    fmt, samples = parse_wav(data)
    assert (fmt.encoding, fmt.rate, fmt.bits) == (MULAW, 8000, 8)
    pcm = decode_wav(data, 16000)
    assert abs(len(pcm) - 4 * len(samples)) <= 4  # twice the samples, two bytes each


@pytest.mark.parametrize("rate", [8000, 11025, 16000, 22050, 44100, 48000])
@pytest.mark.parametrize("channels", [1, 2])
def test_pcm16_at_any_phone_rate_mono_or_stereo(rate: int, channels: int) -> None:
    pcm = decode_wav(wav(tone(rate, 0.5, channels), rate, channels), 16000)
    assert abs(len(pcm) // 2 - 8000) <= 2  # half a second at 16 kHz, mono


def test_alaw_and_extensible_pcm_are_read() -> None:
    alaw_silence = decode_wav(wav(b"\xd5" * 800, 8000, bits=8, encoding=ALAW), 8000)
    assert set(struct.unpack("<800h", alaw_silence)) == {8}  # A-law's quietest step
    body = tone(16000, 0.1)
    # WAVE_FORMAT_EXTENSIBLE: the real format is the first two bytes of the sub-format GUID
    fmt = struct.pack("<HHIIHHHHIH14x", 0xFFFE, 1, 16000, 32000, 2, 16, 22, 16, 4, 1)
    extensible = b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(body)) + b"WAVE"
    extensible += b"fmt " + struct.pack("<I", len(fmt)) + fmt
    extensible += b"data" + struct.pack("<I", len(body)) + body
    assert decode_wav(extensible, 16000) == body


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not a WAV"),
        (b"ID3\x04 an mp3 file" * 4, "not a WAV"),
        (wav(b"", 8000), "no audio"),
        (wav(bytes(800), 8000, bits=8), "unsupported WAV encoding 1 with 8 bits"),
        (wav(bytes(2400), 8000, bits=24), "unsupported"),
        (wav(bytes(960), 8000, encoding=3, bits=32), "unsupported WAV encoding 3"),
        (wav(bytes(1600), 96000), "sample rate 96000"),
        (wav(bytes(1600), 4000), "sample rate 4000"),
        (wav(bytes(1800), 8000, channels=3), "3 channels"),
        (b"RIFF\x00\x00\x00\x00WAVEdata\x04\x00\x00\x00abcd", "no format chunk"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt \x04\x00\x00\x00abcd", "truncated"),
    ],
)
def test_bad_audio_gets_a_clear_error(data: bytes, message: str) -> None:
    with pytest.raises(AudioError, match=message):
        decode_wav(data, 16000)


def test_audio_longer_than_allowed_is_refused_before_decoding() -> None:
    hours = wav(bytes(2), 8000)[:-2]  # a header claiming more than is there is still read
    long = wav(bytes(8000 * 2 * 3), 8000)
    assert decode_wav(long, 8000, max_seconds=5)
    with pytest.raises(AudioError, match="lasts 3 s, more than the 2 s allowed"):
        decode_wav(long, 8000, max_seconds=2)
    with pytest.raises(AudioError):
        decode_wav(hours, 8000)


def test_a_recording_cut_mid_sample_still_decodes() -> None:
    assert decode_wav(wav(bytes(1601), 8000), 8000) == bytes(1600)


def test_resampling_chunk_by_chunk_equals_resampling_at_once() -> None:
    pcm = tone(8000, 1.0)
    whole = Resampler(8000, 16000).convert(pcm)
    streaming = Resampler(8000, 16000)
    chunks = b"".join(streaming.convert(pcm[i : i + 320]) for i in range(0, len(pcm), 320))
    assert chunks == whole


def test_media_stream_payload_becomes_pcm() -> None:
    assert mulaw_to_pcm16(b"\xff" * 160) == bytes(320)  # mu-law silence is 0xff
