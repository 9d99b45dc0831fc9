"""The endpointing threshold, calibrated on every speech fixture: the utterance ends once,
in the silence after it, never inside it; noise and silence alone never end anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.media.endpointing import SILENCE_MS, Endpointer, rms
from hotline.speech.audio import decode_wav
from tests.hotline.media.conftest import FSDD, SPEECH

pytestmark = pytest.mark.unit

FRAME = 320  # 20 ms of 8 kHz 16-bit PCM
FIXTURES = sorted(SPEECH.glob("*.wav")) + sorted(FSDD.glob("*.wav"))


def frames(path: Path) -> list[bytes]:
    pcm = decode_wav(path.read_bytes(), 8000)
    return [pcm[i : i + FRAME] for i in range(0, len(pcm) - FRAME + 1, FRAME)]


def ends(loudness: list[int]) -> list[int]:
    endpointer = Endpointer()
    return [i for i, level in enumerate(loudness) if endpointer.push(level, 20)]


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_an_utterance_ends_in_the_silence_after_it(path: Path) -> None:
    speech = [rms(f) for f in frames(path)]
    fired = ends(speech + [0] * 50)  # the client's second of trailing silence
    assert fired, "speech was never heard"
    last_loud = max(i for i, level in enumerate(speech) if level >= Endpointer().threshold)
    assert fired[0] >= last_loud + SILENCE_MS // 20, "ended inside the speech"
    assert fired[0] <= len(speech) + SILENCE_MS // 20, "ended too late"


def test_noise_and_silence_alone_never_end_an_utterance() -> None:
    noise = [rms(f) for f in frames(SPEECH / "digits_4711_en_us_noise.wav")][-12:]  # no speech
    assert not ends(noise * 20)
    assert not ends([0] * 200)


def test_a_lone_click_in_the_pause_does_not_restart_the_silence() -> None:
    endpointer = Endpointer()
    for _ in range(5):
        endpointer.push(5000, 20)
    quiet = [endpointer.push(0, 20) for _ in range(20)]
    endpointer.push(9000, 20)  # one loud frame
    later = [endpointer.push(0, 20) for _ in range(15)]
    assert not any(quiet)
    assert later.index(True) == 13  # 20 + 1 + 14 frames: the click counts as quiet
