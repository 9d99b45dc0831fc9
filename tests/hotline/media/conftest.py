"""A real media server on a thread (127.0.0.1, ephemeral port) and clients that stream to it."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from redis import Redis

from hotline.bootstrap import Services
from hotline.media.config import MediaSettings
from hotline.media.exchange import MemorySpeechExchange, RedisSpeechExchange, SpeechExchange
from hotline.media.server import MediaServer, MediaServerHandle, start_media_server_thread
from hotline.simulator.media_client import MediaStreamClient
from tests.conftest import AUDIO

if TYPE_CHECKING:
    from hotline.speech.sphinx_engine import PocketSphinxRecognizer

TOKEN = "media-test-token"
SPEECH = AUDIO / "speech"
FSDD = AUDIO / "fsdd"
WAIT = 20.0  # seconds a test waits for a result at most (a loaded CI machine is slow)


def speech(name: str) -> Path:
    return SPEECH / f"{name}.wav"


def eventually(check: Callable[[], bool], timeout: float = WAIT) -> bool:
    """Poll until `check()` holds or the time is up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return check()


def redis_exchange() -> Iterator[RedisSpeechExchange]:
    url = os.environ.get("REDIS_URL")
    if not url:
        pytest.skip("needs REDIS_URL")
    redis = Redis.from_url(url)
    exchange = RedisSpeechExchange(redis, prefix=f"test:speech:{uuid.uuid4().hex}")
    yield exchange
    for key in redis.scan_iter(f"{exchange.prefix}:*"):
        redis.delete(key)
    redis.close()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def any_exchange(request: pytest.FixtureRequest) -> Iterator[SpeechExchange]:
    """Both exchanges: in memory, and on the Redis of REDIS_URL (skipped without it)."""
    if request.param == "memory":
        yield MemorySpeechExchange()
    else:
        yield from redis_exchange()


@pytest.fixture(scope="session")
def sphinx_en() -> PocketSphinxRecognizer:
    pytest.importorskip("pocketsphinx", reason="the pocketsphinx extra is not installed")
    from hotline.speech.sphinx_engine import PocketSphinxRecognizer

    return PocketSphinxRecognizer()


@pytest.fixture
def exchange() -> MemorySpeechExchange:
    return MemorySpeechExchange()


@pytest.fixture
def media_config() -> MediaSettings:
    """No public URL: the signature covers the URL the client connects to."""
    return MediaSettings(token=TOKEN, public_url=None, max_calls=4)


@pytest.fixture
def start_server(
    services: Services,
    exchange: MemorySpeechExchange,
    media_config: MediaSettings,
    sphinx_en: PocketSphinxRecognizer,
) -> Iterator[Callable[..., MediaServerHandle]]:
    """Starts a server (the test may change its settings or exchange); stops it after."""
    services.recognizers.loaded["en-US"] = sphinx_en  # loaded once for the whole session
    handles: list[MediaServerHandle] = []

    def start(
        config: MediaSettings | None = None, speech_exchange: SpeechExchange | None = None
    ) -> MediaServerHandle:
        server = MediaServer(services, speech_exchange or exchange, config=config or media_config)
        handle = start_media_server_thread(services, "127.0.0.1", 0, server=server)
        handles.append(handle)
        return handle

    yield start
    for handle in handles:
        handle.stop()


@pytest.fixture
def media_server(start_server: Callable[..., MediaServerHandle]) -> MediaServerHandle:
    return start_server()


@pytest.fixture
def client_for(
    media_server: MediaServerHandle,
) -> Iterator[Callable[..., MediaStreamClient]]:
    """Opened clients of the test's server, closed at the end."""
    clients: list[MediaStreamClient] = []

    def make(call_sid: str | None = None, **options: object) -> MediaStreamClient:
        client = MediaStreamClient(media_server.url(), TOKEN, timeout=10.0, **options)  # type: ignore[arg-type]
        client.open(call_sid or "CA" + uuid.uuid4().hex)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
