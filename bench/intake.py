"""Intake benchmark: simulated keypad calls against gunicorn, PostgreSQL, Redis and rq.

Run from the repository root:  .venv/bin/python bench/intake.py [--calls N] [--concurrency C]

It builds a fresh `hotline_bench` database with the demo city, starts the Twilio stub,
gunicorn and the workers deploy/Procfile runs (`--sms-workers` SMS workers), places the
same calls twice (one at a time, then C in flight), times every webhook POST from the
caller's side, watches the SMS go out, and prints the two runs side by side. It stops
everything it started, on success, error, Ctrl-C or SIGTERM. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import math
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import astuple, dataclass, field
from pathlib import Path
from types import FrameType

import psycopg

from hotline.simulator.caller import HttpAnswer, HttpTransport, Simulator, SimulatorError
from ticketing.demo.city import build_demo_city

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
LOCK_FILE = Path(tempfile.gettempdir()) / "hotline-bench.lock"
RECORDING = ROOT / "tests" / "fixtures" / "audio" / "street_light_en.wav"
PG = {"host": "127.0.0.1", "port": "5432", "user": "postgres"}
PG_URL = f"postgresql://{PG['user']}@{PG['host']}:{PG['port']}/"
DATABASE = "hotline_bench"
BACKENDS = (
    "SELECT pid, wait_event_type IS NOT DISTINCT FROM 'Lock' FROM pg_stat_activity"
    " WHERE datname = %s AND pid <> pg_backend_pid()"
)
REDIS_URL = "redis://127.0.0.1:6379/14"
WEBHOOK_KEY = "bench-secret"  # SECRET_KEY and Twilio auth token of the bench; signs the webhooks
STUB_ACCOUNT_SID = "AC" + "be" * 16
STUB_FROM_NUMBER = "+8637112345"
# Twilio's own time on a Messages create: recorded answers of api.twilio.com carry
# Twilio-Request-Duration 0.098-0.213 s; the network to Twilio (us1) comes on top.
TWILIO_LATENCY_MS = 150.0
# Outbound rows still waiting for a worker: queued, or claimed and not yet answered by
# the provider (Twilio's answer leaves a row "sending" with its SID until the callback).
OUTBOX_SQL = (
    "SELECT count(*), count(*) FILTER (WHERE status = 'queued' OR "
    "(status = 'sending' AND provider_sid IS NULL)) "
    "FROM sms_messages WHERE direction = 'outbound'"
)
SMS_JOB_LINE = re.compile(
    r"completed hotline\.jobs\.tasks\.send_sms\(\d+\) job in (\d+):(\d+):([\d.]+)s"
)
KEPT_UP_SECONDS = 2.0  # SMS keep up if what waits at the last call is under 2 s of intake
ACCESS_FORMAT = "%(m)s %(U)s %(s)s %(D)s"  # method, path, status, microseconds in the worker
TARGET_P99_MS = 50.0
# Keypad paths from the category menu to a category (ivr_flows/hotline.yaml); "9" is "other".
CATEGORY_PATHS = (
    *[("1", k) for k in "12345"],
    *[("2", k) for k in "123456"],
    ("3", "1"),
    ("3", "2"),
    ("4", "1"),
    ("4", "2"),
    ("5", "1"),
    ("5", "2"),
    ("9",),
)


class BenchError(RuntimeError):
    """The bench could not set up or run; the message says what to look at."""


class Interrupted(RuntimeError):
    """The bench is stopping (Ctrl-C, SIGTERM): calls in flight end at their next request."""


@dataclass(frozen=True)
class CallPlan:
    caller: str
    presses: tuple[str, ...]
    grid: str | None  # the grid the case must land in; None for a community or unknown code


@dataclass(frozen=True)
class Sample:
    endpoint: str
    method: str
    ms: float
    ok: bool


@dataclass
class Phase:
    name: str
    concurrency: int
    think_ms: float
    placed: int = 0
    completed: int = 0
    errors: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    samples: list[Sample] = field(default_factory=list)
    server_ms: dict[str, list[float]] = field(default_factory=dict)
    cases: int = 0
    sms: int = 0
    peak_rss_kib: int = 0
    cpu: Cpu | None = None
    cpu_start: Cpu | None = None  # the readings at the start, for the SMS drain after it
    lock_waits: list[int] = field(default_factory=list)
    outbox_start: Outbox | None = None
    outbox_end: Outbox | None = None


@dataclass(frozen=True)
class Rig:
    """What every phase runs against."""

    base_url: str
    recording: Path | None
    budget: Budget
    monitor: Monitor
    access_log: Path
    db: psycopg.Connection[tuple[int, int]]  # autocommit, for counting the outbox
    started: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class Outbox:
    """The outbound SMS rows at one instant: written so far, and still waiting."""

    at: float  # time.monotonic()
    written: int
    waiting: int

    @property
    def handed(self) -> int:
        """Rows a worker has handed to the provider (or the log), whatever came after."""
        return self.written - self.waiting


def outbox_now(db: psycopg.Connection[tuple[int, int]]) -> Outbox:
    row = db.execute(OUTBOX_SQL).fetchone()
    written, waiting = row if row else (0, 0)
    return Outbox(time.monotonic(), written, waiting)


@dataclass(frozen=True)
class Drain:
    """The outbox sampled four times a second from the last call until nothing waits."""

    samples: list[Outbox]

    @property
    def seconds(self) -> float | None:
        """From the last call to the moment nothing waited; None if that never came."""
        first, last = self.samples[0], self.samples[-1]
        return last.at - first.at if last.waiting == 0 else None

    def waiting_after(self, seconds: float) -> int | None:
        """What still waited `seconds` after the last call; None if not watched that long."""
        first = self.samples[0]
        for sample in self.samples:
            if sample.at - first.at >= seconds:
                return sample.waiting
        return 0 if self.samples[-1].waiting == 0 else None

    @property
    def rate(self) -> float:
        """SMS handed per second while draining, with no calls coming in."""
        first, last = self.samples[0], self.samples[-1]
        return (last.handed - first.handed) / (last.at - first.at) if last.at > first.at else 0.0


def drain(db: psycopg.Connection[tuple[int, int]], budget: Budget, limit_s: float) -> Drain:
    """Watch the workers empty the outbox, for at most `limit_s` (5 s past the budget)."""
    samples = [outbox_now(db)]
    end = samples[0].at + min(limit_s, max(budget.left(), 5.0))
    while samples[-1].waiting and time.monotonic() < end and not budget.abort.is_set():
        time.sleep(0.25)
        samples.append(outbox_now(db))
    return Drain(samples)


def outbox_by_status() -> dict[str, int]:
    rows = psql(
        "SELECT status, count(*) FROM sms_messages WHERE direction = 'outbound' "
        "GROUP BY status ORDER BY status"
    )
    return {s: int(c) for s, c in (r.split("|") for r in rows.splitlines() if r)}


def sms_job_seconds(logs: Sequence[Path]) -> list[float]:
    """How long each send_sms job took inside rq (its "Successfully completed" lines)."""
    found = []
    for log in logs:
        for match in SMS_JOB_LINE.finditer(log.read_text(errors="replace")):
            hours, minutes, seconds = match.groups()
            found.append(int(hours) * 3600 + int(minutes) * 60 + float(seconds))
    return found


class Budget:
    """One deadline for the whole run, plus an abort switch for Ctrl-C and SIGTERM."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds
        self.abort = threading.Event()

    def left(self) -> float:
        return 0.0 if self.abort.is_set() else max(0.0, self.deadline - time.monotonic())


class TimedTransport:
    """HttpTransport that times each request; it refuses new ones once the bench stops."""

    def __init__(self, base_url: str, budget: Budget, think_ms: float) -> None:
        self._inner = HttpTransport(base_url)
        self._budget = budget
        self._think_s = think_ms / 1000
        self._lock = threading.Lock()
        self.samples: list[Sample] = []

    def request(
        self, method: str, path: str, params: Mapping[str, str], headers: Mapping[str, str]
    ) -> HttpAnswer:
        if self._think_s and method == "POST":
            # The caller listening to a prompt: jittered so calls do not move in lockstep.
            time.sleep(self._think_s * random.uniform(0.5, 1.5))
        if self._budget.abort.is_set():
            raise Interrupted("the bench is stopping")
        start = time.perf_counter()
        ok = False
        try:
            answer = self._inner.request(method, path, params, headers)
            ok = 200 <= answer.status < 300
            return answer
        finally:
            sample = Sample(endpoint(path), method, (time.perf_counter() - start) * 1000, ok)
            with self._lock:
                self.samples.append(sample)


def endpoint(path: str) -> str:
    """A request path without its per-call parts: /api/calls/CA12 -> api/calls."""
    parts = path.split("?")[0].strip("/").split("/")
    if parts[0] == "twilio":
        parts = parts[1:]
    if parts[:2] == ["api", "calls"]:
        parts = parts[:2]
    return "/".join(parts)


@dataclass(frozen=True)
class Cpu:
    """CPU seconds used so far: by the whole machine, and by each of our processes."""

    busy: float
    server: float
    sms_workers: float
    other_workers: float
    client: float
    postgres: float

    def __sub__(self, other: Cpu) -> Cpu:
        return Cpu(*(a - b for a, b in zip(astuple(self), astuple(other), strict=True)))


class Monitor(threading.Thread):
    """Samples gunicorn's memory and PostgreSQL's backends (lock waits, CPU) ten times a second.

    Backends that live less than a sample escape the CPU count.
    """

    def __init__(
        self,
        server_pid: int,
        sms_pids: Sequence[int],
        other_pids: Sequence[int],
        every_s: float = 0.1,
    ) -> None:
        super().__init__(name="monitor", daemon=True)
        self._server = server_pid
        self._sms, self._others = list(sms_pids), list(other_pids)
        self._every = every_s
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._peak_rss = 0
        self._waits: list[int] = []
        self._backend_cpu: dict[int, float] = {}  # last reading of every backend seen

    def run(self) -> None:
        with psycopg.connect(PG_URL + DATABASE, autocommit=True) as conn:
            while not self._stop.wait(self._every):
                rss = sum(_status_kib(pid) for pid in [self._server, *_children(self._server)])
                backends = conn.execute(BACKENDS, (DATABASE,)).fetchall()
                readings = {pid: _cpu_s(pid) for pid, _ in backends}
                with self._lock:
                    self._peak_rss = max(self._peak_rss, rss)
                    self._waits.append(sum(bool(waiting) for _, waiting in backends))
                    self._backend_cpu.update((p, c) for p, c in readings.items() if c)

    def take(self) -> tuple[int, list[int]]:
        """Peak RSS in KiB and the lock-wait samples since the last call."""
        with self._lock:
            taken = self._peak_rss, self._waits
            self._peak_rss, self._waits = 0, []
        return taken

    def cpu(self) -> Cpu:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
        ticks = [int(f) for f in fields]  # user nice system idle iowait irq softirq steal
        server = sum(_cpu_s(pid) for pid in [self._server, *_children(self._server)])
        with self._lock:
            postgres = sum(self._backend_cpu.values())
        return Cpu(
            (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK"),
            server,
            sum(_cpu_tree_s(pid) for pid in self._sms),
            sum(_cpu_tree_s(pid) for pid in self._others),
            time.process_time(),
            postgres,
        )

    def stop(self) -> None:
        self._stop.set()


def _cpu_s(pid: int) -> float:
    """User and system time of a process and of its children that it has reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    utime, stime, cutime, cstime = (int(v) for v in stat.rsplit(")", 1)[1].split()[11:15])
    return (utime + stime + cutime + cstime) / os.sysconf("SC_CLK_TCK")


def _cpu_tree_s(pid: int) -> float:
    """A process and its live children (rq's scheduler runs in a child of a worker)."""
    return _cpu_s(pid) + sum(_cpu_s(child) for child in _children(pid))


def _mem_gib() -> float:
    meminfo = Path("/proc/meminfo").read_text().split()
    return int(meminfo[meminfo.index("MemTotal:") + 1]) / 2**20


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _status_kib(pid: int, field_name: str = "VmRSS") -> int:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return 0  # the process is gone
    return next((int(line.split()[1]) for line in lines if line.startswith(field_name)), 0)


def psql(sql: str, database: str = DATABASE) -> str:
    """Run one statement with psql and return its unaligned output."""
    cmd = ["psql", "-h", PG["host"], "-p", PG["port"], "-U", PG["user"], "-d", database]
    done = subprocess.run(
        [*cmd, "-v", "ON_ERROR_STOP=1", "-qtAc", sql],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"psql failed on {sql!r}: {done.stderr.strip()}")
    return done.stdout.strip()


def counts() -> tuple[int, int]:
    """Cases and outbound SMS rows now in the bench database."""
    row = psql(
        "SELECT (SELECT count(*) FROM tickets), "
        "(SELECT count(*) FROM sms_messages WHERE direction = 'outbound')"
    )
    cases, sms = row.split("|")
    return int(cases), int(sms)


def fresh_database(env: Mapping[str, str], tree: Path) -> None:
    """Drop and recreate the bench database, then migrate it and load the demo city."""
    psql(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)", database="postgres")
    psql(f"CREATE DATABASE {DATABASE}", database="postgres")
    for args in (["db", "upgrade"], ["demo", "load"]):
        done = subprocess.run(
            [str(BIN / "hotline"), *args],
            cwd=tree,
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise BenchError(f"hotline {' '.join(args)} failed:\n{done.stderr[-2000:]}")


def flush_redis() -> None:
    from redis import Redis

    with Redis.from_url(REDIS_URL) as redis:
        redis.flushdb()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def git(*args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(ROOT), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},  # never take the index lock
    )
    if done.returncode != 0:
        raise BenchError(f"git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def server_tree(rev: str | None, work: Path) -> tuple[Path, str]:
    """The code the server runs, and its name: the working tree, or a snapshot of `rev`.

    A snapshot (`git archive`) keeps a run reproducible while others edit the tree.
    """
    if rev is None:
        dirty = git("status", "--porcelain", "--untracked-files=no")
        return ROOT, git("rev-parse", "--short", "HEAD") + (" + uncommitted changes" * bool(dirty))
    snapshot = work / "src"
    snapshot.mkdir()
    archive = work / "src.tar"
    git("archive", "--format=tar", f"--output={archive}", rev)
    subprocess.run(["tar", "-xf", str(archive), "-C", str(snapshot)], check=True, timeout=60)
    return snapshot, f"{git('rev-parse', '--short', rev)} (snapshot)"


def bench_env(port: int, var_dir: Path, tree: Path, twilio_url: str | None) -> dict[str, str]:
    """The environment for every hotline process: our database, Redis db 14, and Twilio
    at the stub's address (or no Twilio: SMS to the log)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "HOTLINE_"))}
    # Ahead of the editable install's finder: `hotline` and `ticketing` come from tree.
    env["PYTHONPATH"] = os.pathsep.join([str(tree), *filter(None, [env.get("PYTHONPATH")])])
    env.update(
        DATABASE_URL=PG_URL + DATABASE,
        REDIS_URL=REDIS_URL,
        SECRET_KEY=WEBHOOK_KEY,
        PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
        HOTLINE_VAR_DIR=str(var_dir),
        HOTLINE_FILES_DIR=str(var_dir),  # one host here; it must exist (made below)
    )
    var_dir.mkdir(parents=True, exist_ok=True)
    if twilio_url:
        # The auth token is also the webhooks' signing key: the same as SECRET_KEY here.
        env.update(
            TWILIO_ACCOUNT_SID=STUB_ACCOUNT_SID,
            TWILIO_AUTH_TOKEN=WEBHOOK_KEY,
            TWILIO_FROM_NUMBER=STUB_FROM_NUMBER,
            TWILIO_API_BASE_URL=twilio_url,
        )
    return env


@contextlib.contextmanager
def twilio_stub(latency_ms: float | None, log: Path) -> Iterator[str | None]:
    """tests/twilio_stub.py in a process of its own (the bench's threads would slow its
    answers), answering every create after `latency_ms`; yields its URL, or None for the
    log sender. It is the bench's own copy of the stub, whatever tree the server runs."""
    if latency_ms is None:
        yield None
        return
    cmd = [
        sys.executable,
        "-m",
        "tests.twilio_stub",
        f"--account-sid={STUB_ACCOUNT_SID}",
        f"--auth-token={WEBHOOK_KEY}",
        f"--latency-ms={latency_ms}",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with running(cmd, env, ROOT, log) as stub:
        end = time.monotonic() + 15
        while time.monotonic() < end and stub.poll() is None:
            first = log.read_text().split("\n", 1)[0]
            if first.startswith("http://"):
                break
            time.sleep(0.1)
        else:
            raise BenchError(f"the Twilio stub did not start; see {log}")
        yield first.strip()


@contextlib.contextmanager
def running(
    cmd: Sequence[str], env: Mapping[str, str], tree: Path, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """Start a process in its own session; on exit, stop it and anything it forked."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            list(cmd),
            cwd=tree,
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes], grace_s: float = 10.0) -> None:
    """SIGTERM (gunicorn and rq both shut down gracefully on it), then SIGKILL the group."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(grace_s)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # the session we created: only our processes
    proc.wait()


def wait_healthy(
    base_url: str, procs: Mapping[str, subprocess.Popen[bytes]], budget: Budget
) -> None:
    """Poll /healthz until it answers 200; fail fast if a process we started has died."""
    end = time.monotonic() + min(30.0, budget.left())
    while time.monotonic() < end:
        for name, proc in procs.items():
            if proc.poll() is not None:
                raise BenchError(f"{name} exited with code {proc.returncode}; see its log")
        try:
            with urllib.request.urlopen(base_url + "/healthz", timeout=2) as resp:  # noqa: S310
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise BenchError(f"{base_url}/healthz did not answer in time")


def make_plans(n: int, seed: int) -> list[CallPlan]:
    """N varied calls: language, category, and mostly grid codes, some community or unknown."""
    rng = random.Random(seed)
    city = build_demo_city()
    grids = [grid.code for grid in city.grids]
    communities = sorted({grid.community_code for grid in city.grids})
    plans = []
    for _ in range(n):
        roll = rng.random()
        grid: str | None = None
        if roll < 0.85:
            grid = rng.choice(grids)
            location = grid
        elif roll < 0.95:
            location = rng.choice(communities)
        else:
            location = "0"
        presses = (rng.choice("12"), "1", *rng.choice(CATEGORY_PATHS), location + "#")
        plans.append(CallPlan(f"+86138{rng.randrange(10**8):08d}", presses, grid))
    return plans


def place(
    sim: Simulator, plan: CallPlan, recording: Path | None, budget: Budget, deadline: float
) -> str:
    """Place one call; "" if it opened the expected case, "skipped", or what went wrong.

    The deadline is checked only before a call starts: a call cut in half would leave a
    case or none at random, and the case count could no longer be checked.
    """
    if budget.left() == 0 or time.monotonic() > deadline:
        return "skipped"
    try:
        result = sim.call(plan.caller, plan.presses, recording)
    except (SimulatorError, OSError) as exc:
        return f"{type(exc).__name__}: {exc}"
    case = result.case or {}
    if not case.get("number"):
        return f"{result.call_sid}: no case"
    if case.get("grid") != plan.grid:
        return f"{result.call_sid}: case in grid {case.get('grid')}, expected {plan.grid}"
    return ""


def run_phase(phase: Phase, plans: Sequence[CallPlan], rig: Rig, deadline: float) -> Phase:
    """Place the calls with `phase.concurrency` in flight and collect every figure."""
    transport = TimedTransport(rig.base_url, rig.budget, phase.think_ms)
    sim = Simulator(transport, rig.base_url, WEBHOOK_KEY, account_sid=STUB_ACCOUNT_SID)
    cases_before, sms_before = counts()
    log_offset = rig.access_log.stat().st_size
    rig.monitor.take()
    cpu_before = phase.cpu_start = rig.monitor.cpu()
    phase.outbox_start = outbox_now(rig.db)
    start = time.perf_counter()
    pool = ThreadPoolExecutor(phase.concurrency, thread_name_prefix=phase.name)
    try:
        futures = [
            pool.submit(place, sim, plan, rig.recording, rig.budget, deadline) for plan in plans
        ]
        outcomes = [future.result() for future in futures]
    except BaseException:
        rig.budget.abort.set()  # in-flight calls stop at their next request
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    phase.wall_s = time.perf_counter() - start
    phase.outbox_end = outbox_now(rig.db)
    phase.cpu = rig.monitor.cpu() - cpu_before
    phase.peak_rss_kib, phase.lock_waits = rig.monitor.take()
    phase.placed = sum(outcome != "skipped" for outcome in outcomes)
    phase.completed = sum(outcome == "" for outcome in outcomes)
    phase.errors = [o for o in outcomes if o not in ("", "skipped")]
    phase.samples = list(transport.samples)
    phase.server_ms = server_times(rig.access_log, log_offset)
    cases_after, sms_after = counts()
    phase.cases, phase.sms = cases_after - cases_before, sms_after - sms_before
    return phase


def server_times(access_log: Path, offset: int) -> dict[str, list[float]]:
    """Time spent inside gunicorn per endpoint (its %(D)s), from the access log past offset."""
    times: dict[str, list[float]] = {}
    with access_log.open("rb") as log:
        log.seek(offset)
        for line in log.read().decode(errors="replace").splitlines():
            parts = line.split()
            if len(parts) == 4 and parts[0] == "POST" and parts[3].isdigit():
                times.setdefault(endpoint(parts[1]), []).append(int(parts[3]) / 1000)
    return times


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(1, math.ceil(pct / 100 * len(ordered))) - 1]


Column = Callable[[Phase], str]


def _percentile_rows(label: str, pick: Callable[[Phase], list[float]]) -> list[tuple[str, Column]]:
    def column(pct: float) -> Column:
        return lambda ph: f"{percentile(pick(ph), pct):.1f}"

    names = {50: "p50", 95: "p95", 99: "p99", 100: "max"}
    return [(f"{label} {name} (ms)", column(pct)) for pct, name in names.items()]


def _posts(phase: Phase) -> list[float]:
    return [s.ms for s in phase.samples if s.method == "POST" and s.ok]


def _server_posts(phase: Phase) -> list[float]:
    return [ms for values in phase.server_ms.values() for ms in values]


def _rate(count: Callable[[Phase], int]) -> Column:
    return lambda ph: f"{count(ph) / ph.wall_s:.1f}" if ph.wall_s else "-"


def _cpu(pick: Callable[[Cpu], float]) -> Column:
    """Cores used on average during the phase, e.g. 1.9 of 2."""
    return lambda ph: f"{pick(ph.cpu) / ph.wall_s:.2f}" if ph.cpu and ph.wall_s else "-"


def _other(cpu: Cpu) -> float:
    return cpu.busy - cpu.server - cpu.sms_workers - cpu.other_workers - cpu.client - cpu.postgres


def _lock_waits(ph: Phase) -> str:
    waits = ph.lock_waits
    return f"{sum(waits) / len(waits):.1f} / {max(waits)}" if waits else "-"


def _cases(ph: Phase) -> str:
    return f"{ph.cases} {'=' if ph.cases == ph.placed else '!='} {ph.placed} placed"


ROWS: list[tuple[str, Column]] = [
    ("calls placed", lambda ph: str(ph.placed)),
    ("calls completed (expected case)", lambda ph: str(ph.completed)),
    ("errors", lambda ph: str(len(ph.errors))),
    ("wall time (s)", lambda ph: f"{ph.wall_s:.1f}"),
    ("calls/s", _rate(lambda ph: ph.completed)),
    ("webhook requests/s", _rate(lambda ph: len(_posts(ph)))),
    ("webhook requests", lambda ph: str(len(_posts(ph)))),
    *_percentile_rows("webhook latency", _posts),
    *_percentile_rows("  of which inside gunicorn", _server_posts),
    ("PG backends waiting on a lock, mean/max", _lock_waits),
    ("cores busy, whole machine", _cpu(lambda c: c.busy)),
    ("  gunicorn", _cpu(lambda c: c.server)),
    ("  rq SMS workers", _cpu(lambda c: c.sms_workers)),
    ("  rq speech and default workers", _cpu(lambda c: c.other_workers)),
    ("  bench client", _cpu(lambda c: c.client)),
    ("  PostgreSQL backends (sampled)", _cpu(lambda c: c.postgres)),
    ("  the rest (Redis, other users, ...)", _cpu(_other)),
    ("peak RSS gunicorn, all procs (MiB)", lambda ph: f"{ph.peak_rss_kib / 1024:.0f}"),
    ("cases created in PostgreSQL", _cases),
    ("SMS rows written to outbox", lambda ph: str(ph.sms)),
]


def report(phases: Sequence[Phase]) -> str:
    """The phases side by side, then the per-endpoint breakdown of each."""
    heads = [f"{ph.name}: {ph.concurrency} in flight" for ph in phases]
    width = max(len(h) for h in heads) + 2
    lines = ["".ljust(40) + "".join(h.rjust(width) for h in heads)]
    lines += [name.ljust(40) + "".join(f(ph).rjust(width) for ph in phases) for name, f in ROWS]
    for ph in phases:
        lines += ["", f"{ph.name}, per endpoint:     client p50/p99 ms | in gunicorn p50/p99 ms"]
        for name in sorted({s.endpoint for s in ph.samples}):
            client = [s.ms for s in ph.samples if s.endpoint == name and s.ok]
            server = ph.server_ms.get(name, [])
            lines.append(
                f"  {name:<24}{percentile(client, 50):8.1f}{percentile(client, 99):8.1f}  |"
                f"{percentile(server, 50):8.1f}{percentile(server, 99):8.1f}  ({len(client)})"
            )
        lines += [f"  error: {e}" for e in ph.errors[:5]]
    return "\n".join(lines)


def verdict(loaded: Phase) -> str:
    """Whether the issue's target is met, and what Little's law says of the load."""
    p99 = percentile(_posts(loaded), 99)
    met = "MET" if p99 < TARGET_P99_MS else "NOT MET"
    lines = [
        f"target p99 < {TARGET_P99_MS:.0f} ms with {loaded.concurrency} calls in flight "
        f"(think time {loaded.think_ms:.0f} ms): {met} (p99 {p99:.1f} ms)"
    ]
    requests = len([s for s in loaded.samples if s.ok])
    if loaded.think_ms == 0 and loaded.wall_s and requests:
        rate = requests / loaded.wall_s
        lines.append(
            f"with no think time each call always has a request outstanding, so the mean "
            f"latency is {loaded.concurrency} / {rate:.0f} req/s = "
            f"{1000 * loaded.concurrency / rate:.0f} ms, whatever the code does (Little's law)"
        )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=200, help="calls per phase (default 200)")
    parser.add_argument("--concurrency", type=int, default=50, help="calls in flight (50)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (2)")
    parser.add_argument("--threads", type=int, default=8, help="threads per gunicorn worker (8)")
    parser.add_argument(
        "--think-ms",
        type=float,
        default=0.0,
        help="mean pause before each webhook of the loaded phase, as a caller listening to "
        "a prompt (default 0: back-to-back, a saturation test)",
    )
    parser.add_argument("--max-seconds", type=float, default=300.0, help="whole-run budget")
    parser.add_argument(
        "--drain-seconds",
        type=float,
        default=60.0,
        help="how long to wait, after the last call, for the worker to send the SMS (60)",
    )
    parser.add_argument(
        "--sms-workers",
        type=int,
        default=1,
        help="`hotline worker sms` processes, as deployed (hotline-sms@1..K; default 1)",
    )
    parser.add_argument(
        "--twilio-latency-ms",
        type=float,
        default=TWILIO_LATENCY_MS,
        help="how long the Twilio stub takes to answer each create (default "
        f"{TWILIO_LATENCY_MS:.0f}, Twilio's own time on recorded answers)",
    )
    parser.add_argument(
        "--log-sms",
        action="store_true",
        help="no Twilio: SMS go to the log sender, as the embedded default does",
    )
    parser.add_argument("--no-recording", action="store_true", help="callers stay silent")
    parser.add_argument("--no-baseline", action="store_true", help="skip the 1-in-flight run")
    parser.add_argument(
        "--at", metavar="REV", help="run the server on a git snapshot of REV, e.g. HEAD"
    )
    parser.add_argument("--seed", type=int, default=1101)
    parser.add_argument("--keep-logs", action="store_true", help="keep the server logs")
    args = parser.parse_args(argv)
    for name in ("calls", "concurrency", "workers", "threads"):
        if not 1 <= getattr(args, name) <= 1000:
            parser.error(f"--{name} must be between 1 and 1000")
    if not 1 <= args.sms_workers <= 32:
        parser.error("--sms-workers must be between 1 and 32")
    if not 0 <= args.twilio_latency_ms <= 10_000:
        parser.error("--twilio-latency-ms must be between 0 and 10000")
    if not 10 <= args.max_seconds <= 3600:
        parser.error("--max-seconds must be between 10 and 3600")
    return args


def gunicorn_cmd(args: argparse.Namespace, port: int, access_log: Path) -> list[str]:
    return [
        str(BIN / "gunicorn"),
        "wsgi:app",
        f"--workers={args.workers}",
        "--worker-class=gthread",
        f"--threads={args.threads}",
        f"--bind=127.0.0.1:{port}",
        "--no-control-socket",  # its default path is shared by every gunicorn of this user
        "--timeout=30",
        f"--access-logfile={access_log}",
        f"--access-logformat={ACCESS_FORMAT}",
    ]


def execute(args: argparse.Namespace, budget: Budget, work: Path) -> int:
    """Set up, run the phases, print; 0 if every call opened its case, else 1."""
    port = free_port()
    tree, code_name = server_tree(args.at, work)
    latency = None if args.log_sms else args.twilio_latency_ms
    sender = (
        "the log sender (no Twilio)"
        if latency is None
        else f"the real twilio client to tests/twilio_stub.py answering in {latency:.0f} ms"
    )
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    print(
        f"machine: {os.cpu_count()} cores, {_mem_gib():.0f} GiB, load average {load}; "
        f"server code {code_name}"
    )
    print(
        f"gunicorn: {args.workers} workers x {args.threads} threads (gthread); fresh database "
        f"{DATABASE}, Redis {REDIS_URL}; {args.sms_workers} x `hotline worker sms`, "
        f"`hotline worker speech`, `hotline worker default`; SMS through {sender}",
        flush=True,
    )
    hotline = str(BIN / "hotline")
    sms_logs = [work / f"sms-worker-{n}.log" for n in range(1, args.sms_workers + 1)]
    stub_log = work / "twilio_stub.log"
    with contextlib.ExitStack() as stack:
        # Entered first, so it stops last: a worker stopping finishes its send.
        twilio_url = stack.enter_context(twilio_stub(latency, stub_log))
        env = bench_env(port, work / "var", tree, twilio_url)
        fresh_database(env, tree)
        flush_redis()
        access_log = work / "access.log"
        access_log.touch()
        gunicorn = gunicorn_cmd(args, port, access_log)
        server = stack.enter_context(running(gunicorn, env, tree, work / "gunicorn.log"))
        sms_workers = [
            stack.enter_context(running([hotline, "worker", "sms"], env, tree, log))
            for log in sms_logs
        ]
        others = [
            stack.enter_context(running([hotline, "worker", q], env, tree, work / f"{q}.log"))
            for q in ("speech", "default")
        ]
        base_url = f"http://127.0.0.1:{port}"
        procs = {"gunicorn": server, **{f"worker {p.pid}": p for p in sms_workers + others}}
        wait_healthy(base_url, procs, budget)
        db = stack.enter_context(psycopg.connect(PG_URL + DATABASE, autocommit=True))
        monitor = Monitor(server.pid, [p.pid for p in sms_workers], [p.pid for p in others])
        monitor.start()
        try:
            recording = None if args.no_recording else RECORDING
            rig = Rig(base_url, recording, budget, monitor, access_log, db)
            phases = run_phases(args, rig)
            drained = drain(db, budget, args.drain_seconds)
            loaded = phases[-1]
            assert loaded.cpu_start is not None
            sms_cpu = monitor.cpu() - loaded.cpu_start
        finally:
            monitor.stop()
        worst = max((_status_kib(pid, "VmHWM") for pid in _children(server.pid)), default=0)
        sms_hwm = max(_status_kib(p.pid, "VmHWM") for p in sms_workers)
        by_status = outbox_by_status()
    print(f"\n{report(phases)}\n")
    print(f"largest gunicorn worker peak RSS (VmHWM): {worst / 1024:.0f} MiB")
    print(f"outbound SMS by status at the end: {by_status}")
    print(sms_report(loaded, drained, sms_cpu, sms_job_seconds(sms_logs), args.sms_workers))
    if latency is not None:
        lines = stub_log.read_text().strip().splitlines()
        print(f"Twilio stub: {lines[-1] if len(lines) > 1 else 'no summary; see its log'}")
    print(sms_hwm and f"largest SMS worker peak RSS (VmHWM): {sms_hwm / 1024:.0f} MiB")
    print(verdict(phases[-1]))
    broken = any(ph.errors or ph.cases != ph.placed for ph in phases)
    return 1 if broken else 0


def sms_report(loaded: Phase, drained: Drain, cpu: Cpu, job_s: list[float], workers: int) -> str:
    """Whether the SMS workers kept up with the loaded phase's intake, and at what cost."""
    start, end = loaded.outbox_start, loaded.outbox_end
    if start is None or end is None or not loaded.wall_s:
        return "SMS: not measured"
    written, handed = end.written - start.written, end.handed - start.handed
    created_rate = written / loaded.wall_s
    after_30 = drained.waiting_after(30)
    left = drained.samples[-1]
    watched = left.at - drained.samples[0].at
    done = drained.seconds
    total = left.handed - start.handed
    intake_s = end.waiting / created_rate if created_rate else 0.0
    kept_up = intake_s <= KEPT_UP_SECONDS
    lines = [
        f"SMS ({workers} x `hotline worker sms`):",
        f"  written to the outbox during the loaded run  {written} = {created_rate:.1f}/s",
        f"  handed to the sender during the loaded run   {handed} = {handed / loaded.wall_s:.1f}/s",
        f"  waiting at the last call                     {end.waiting} "
        f"({intake_s:.1f} s of intake)",
        "  waiting 30 s after the last call             "
        + ("not watched that long" if after_30 is None else str(after_30)),
        "  drained                                      "
        + (
            f"{done:.1f} s after the last call"
            if done is not None
            else f"not within {watched:.0f} s: {left.waiting} left"
        ),
        "  drain rate with no calls coming in           "
        + (
            f"{drained.rate:.1f}/s ({drained.rate / workers:.1f} a worker)"
            if end.waiting > workers
            else "- (nothing to drain)"
        ),
        "  SMS workers' CPU per SMS handed              "
        + (f"{1000 * cpu.sms_workers / total:.1f} ms" if total else "-"),
        f"  send_sms inside rq (perform), p50 / p95      "
        f"{1000 * percentile(job_s, 50):.1f} / {1000 * percentile(job_s, 95):.1f} ms "
        f"({len(job_s)} jobs)",
        f"SMS keep up with intake (at most {KEPT_UP_SECONDS:.0f} s of intake waiting at the last "
        f"call): {'MET' if kept_up else 'NOT MET'}",
    ]
    return "\n".join(lines)


def run_phases(args: argparse.Namespace, rig: Rig) -> list[Phase]:
    """A short warm-up, the 1-in-flight baseline (at most a third of the time left), the load.

    The outbox is drained before the load, so its SMS figures start from nothing waiting.
    """
    plans = make_plans(args.calls, args.seed)
    warm_up = make_plans(4 * args.workers, args.seed + 1)
    run_phase(Phase("warm-up", 2, 0), warm_up, rig, rig.budget.deadline)
    phases = []
    if not args.no_baseline:
        print(f"baseline: {len(plans)} calls, 1 in flight", flush=True)
        deadline = time.monotonic() + rig.budget.left() / 3
        phases.append(run_phase(Phase("baseline", 1, 0), plans, rig, deadline))
    before = drain(rig.db, rig.budget, args.drain_seconds)
    if before.seconds is None:
        print(f"warning: {before.samples[-1].waiting} SMS still waiting before the load")
    print(f"loaded: {len(plans)} calls, {args.concurrency} in flight", flush=True)
    loaded = Phase("loaded", args.concurrency, args.think_ms)
    phases.append(run_phase(loaded, plans, rig, rig.budget.deadline))
    return phases


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    budget = Budget(args.max_seconds)

    def on_term(_signum: int, _frame: FrameType | None) -> None:
        budget.abort.set()
        raise KeyboardInterrupt  # unwinds like Ctrl-C: every `finally` stops what it started

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(
        signal.SIGINT, on_term
    )  # also when started in the background, where it is ignored
    with LOCK_FILE.open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"another bench run holds {LOCK_FILE}; its database is ours too", file=sys.stderr)
            return 2
        work = Path(tempfile.mkdtemp(prefix="hotline-bench-"))
        try:
            code = execute(args, budget, work)
        except BenchError as exc:
            print(f"bench failed: {exc}", file=sys.stderr)
            code = 2
        except KeyboardInterrupt:
            print("interrupted; the bench stopped everything it started", file=sys.stderr)
            code = 130
    if args.keep_logs or code != 0:
        print(f"logs kept in {work}", file=sys.stderr)
    else:
        shutil.rmtree(work)
    return code


if __name__ == "__main__":
    sys.exit(main())
