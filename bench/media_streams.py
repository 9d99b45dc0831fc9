"""Media Streams benchmark: N concurrent calls streaming in real time through the server.

Each simulated call opens a real WebSocket to the media server thread, and for three
steps speaks an FSDD digit (real voices, 8 kHz) at real-time pace (20 ms a frame), with a
digit grammar, then a second of silence. Reported per N: digit accuracy, the latency from
the last speech frame sent to the result published (p50/p95; it includes the 700 ms of
silence the endpointing waits for), how many utterances were answered within 700 ms +
0.5 s ("kept up"), and the resident memory each extra call costs. The baseline is the
same files recognised whole-file, one after another, in one thread. Calls start
spread over two seconds.

    python bench/media_streams.py [--calls 10,20,40] [--steps 3]
"""

from __future__ import annotations

import argparse
import logging
import resource
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hotline.bootstrap import bootstrap  # noqa: E402
from hotline.media import protocol  # noqa: E402
from hotline.media.config import MediaSettings  # noqa: E402
from hotline.media.endpointing import SILENCE_MS  # noqa: E402
from hotline.media.exchange import Expectation, MemorySpeechExchange  # noqa: E402
from hotline.media.server import MediaServer, start_media_server_thread  # noqa: E402
from hotline.settings import Settings  # noqa: E402
from hotline.simulator.media_client import MediaStreamClient  # noqa: E402
from hotline.speech import grammars  # noqa: E402
from hotline.speech.audio import decode_wav  # noqa: E402

FSDD = ROOT / "tests" / "fixtures" / "audio" / "fsdd"
TOKEN = "bench-token"  # noqa: S105 - signs local test streams only
KEPT_UP = SILENCE_MS / 1000 + 0.5


class TimedExchange(MemorySpeechExchange):
    """Notes when each result was published."""

    def __init__(self) -> None:
        super().__init__()
        self.published: dict[tuple[str, str], float] = {}

    def publish(self, call_sid: str, step: str, result: dict[str, Any]) -> None:
        self.published.setdefault((call_sid, step), time.monotonic())
        super().publish(call_sid, step, result)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def mulaw(path: Path) -> bytes:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import audioop
    return bytes(audioop.lin2ulaw(decode_wav(path.read_bytes(), protocol.RATE), 2))


def run(url: str, exchange: TimedExchange, files: list[Path], n: int, steps: int) -> None:
    audio = [(f.name[0], mulaw(f)) for f in files]
    sent: dict[tuple[str, str], tuple[float, str]] = {}
    peak = [rss_mb()]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.2):
            peak.append(rss_mb())

    def call(index: int) -> None:
        call_sid = f"CA{n:03d}{index:029d}"
        time.sleep(2.0 * index / n)  # calls start spread over 2 s, not all at one instant
        with MediaStreamClient(url, TOKEN, realtime=True, timeout=30) as client:
            client.open(call_sid)
            for step in range(steps):
                digit, speech = audio[(index * steps + step) % len(audio)]
                exchange.expect(Expectation(call_sid, str(step), "en-US", "digits:1"))
                client.send_silence(0.3)
                client.send_mulaw(speech)
                sent[(call_sid, str(step))] = (time.monotonic(), digit)
                client.send_silence(1.0)

    before = rss_mb()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    callers = [threading.Thread(target=call, args=(i,)) for i in range(n)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    time.sleep(0.5)
    done.set()
    latencies, right = [], 0
    for key, (at, digit) in sent.items():
        result = exchange.wait(*key, timeout=5)
        if key in exchange.published:
            latencies.append(exchange.published[key] - at)
        right += result is not None and result["value"] == digit
    answered = len(latencies)
    kept = sum(1 for latency in latencies if latency <= KEPT_UP)
    p50 = statistics.median(latencies) if latencies else float("nan")
    p95 = sorted(latencies)[int(0.95 * (len(latencies) - 1))] if latencies else float("nan")
    print(
        f"N={n:3d}: {len(sent)} utterances, answered {answered}, right {right} "
        f"({right / len(sent):.0%}), latency p50 {p50:.2f} s p95 {p95:.2f} s, "
        f"kept up {kept}/{len(sent)}, RSS +{(max(peak) - before) / n:.1f} MB a call "
        f"(peak {max(peak):.0f} MB)"
    )


def baseline(engine: Any, files: list[Path]) -> None:
    grammar = grammars.digits("en-US", length=1)
    started, audio, right = time.perf_counter(), 0.0, 0
    for path in files:
        data = path.read_bytes()
        audio += len(decode_wav(data, protocol.RATE)) / 2 / protocol.RATE
        right += engine.recognize(data, grammar).value == path.name[0]
    busy = time.perf_counter() - started
    print(
        f"baseline, whole files in one thread: {len(files)} files, right {right} "
        f"({right / len(files):.0%}), {busy:.2f} s for {audio:.1f} s of audio "
        f"(real-time factor {busy / audio:.3f})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", default="10,20,40")
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    files = sorted(FSDD.glob("*.wav"))
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.from_env(
            {
                "DATABASE_URL": f"sqlite:///{tmp}/bench.sqlite3",
                "SECRET_KEY": TOKEN,
                "HOTLINE_VAR_DIR": tmp,
                "HOTLINE_SPEECH": "en-US=pocketsphinx",
            }
        )
        services = bootstrap(settings)
        engine = services.recognizer("en-US")
        baseline(engine, files)
        exchange = TimedExchange()
        config = MediaSettings(token=TOKEN, public_url=None, max_calls=500)
        server = MediaServer(services, exchange, config=config)
        handle = start_media_server_thread(services, "127.0.0.1", 0, server=server)
        try:
            for n in (int(c) for c in args.calls.split(",")):
                run(handle.url(), exchange, files, n, args.steps)
        finally:
            handle.stop()
        lat = sorted(server.stats.latencies)
        if lat:
            print(
                f"server side, endpoint -> published: p50 {statistics.median(lat) * 1000:.0f} ms,"
                f" p95 {lat[int(0.95 * (len(lat) - 1))] * 1000:.0f} ms; "
                f"errors {server.stats.errors}; decode threads {server.pool._max_workers}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
