"""Per-SMS cost of the send job: outbox rows sent by rq's SimpleWorker in this process.

Run from the repository root:  .venv/bin/python bench/sms_job.py [--jobs N] [--latency-ms L]

It recreates the `hotline_bench` database (schema only), flushes Redis db 14, writes N
queued outbox rows, enqueues their jobs as the web process does (`services.jobs.enqueue`)
and runs them with rq's `SimpleWorker` in burst mode, as `hotline worker sms` runs them,
logging as the `hotline` command does, through the real twilio client to
tests/twilio_stub.py in a process of its own. It prints, per SMS: wall and CPU time, Redis
round trips, SQL statements, and the time inside the job, inside the HTTP call and in rq
around the job; `--profile` adds where the CPU went, by library. It takes intake.py's
lock, since it uses the same database and Redis db. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import fcntl
import logging
import os
import pstats
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import wraps
from pathlib import Path
from typing import Any

from intake import (
    BIN,
    DATABASE,
    LOCK_FILE,
    PG_URL,
    REDIS_URL,
    STUB_ACCOUNT_SID,
    STUB_FROM_NUMBER,
    WEBHOOK_KEY,
    BenchError,
    _cpu_tree_s,
    percentile,
    psql,
    running,
    twilio_stub,
)
from redis.connection import AbstractConnection
from rq import Queue, SimpleWorker, Worker
from rq.serializers import JSONSerializer
from sqlalchemy import event, func, select

from hotline.bootstrap import Services, bootstrap
from hotline.jobs import context, tasks
from hotline.settings import Settings
from hotline.storage import schema
from hotline.telephony.sms import SendResult, SmsSender
from ticketing.models.sms import SmsDirection, SmsMessage, SmsStatus
from ticketing.unit_of_work import UnitOfWork

# An assignment SMS as intake writes it (148 characters: 3 segments in UCS-2).
BODY = (
    "【热线】新工单2612080001：路灯不亮，Weilai Community grid 01，来电+8613812345678。"
    "回复 A 2612080001 接单。详情： http://127.0.0.1:5000/m/5skwn7l.6y.tqfa14.QKurTyJaBwhvn_26"
)
# Where a function's file lives -> the library its time is counted under.
LIBRARIES = (
    ("/rq/", "rq"),
    ("/redis/", "redis-py"),
    ("/twilio/", "twilio"),
    ("/requests/", "requests, urllib3, http.client"),
    ("/urllib3/", "requests, urllib3, http.client"),
    ("/http/", "requests, urllib3, http.client"),
    ("/sqlalchemy/", "SQLAlchemy"),
    ("/psycopg/", "psycopg"),
    ("/hotline/", "hotline"),
    ("/ticketing/", "ticketing"),
    ("/logging/", "logging"),
)


@dataclass
class Counts:
    """What the run did, counted around the library calls."""

    redis_round_trips: int = 0
    sql_statements: int = 0
    perform_s: list[float] = field(default_factory=list)
    http_s: list[float] = field(default_factory=list)
    # CPU time (this process) of the same: steadier than wall time on a shared machine.
    perform_cpu: list[float] = field(default_factory=list)
    http_cpu: list[float] = field(default_factory=list)


class TimedSender:
    """The configured sender, timed."""

    def __init__(self, inner: SmsSender, times: list[float], cpu: list[float]) -> None:
        self._inner, self._times, self._cpu = inner, times, cpu

    def send(self, to: str, body: str) -> SendResult:
        start, cpu = time.perf_counter(), time.process_time()
        try:
            return self._inner.send(to, body)
        finally:
            self._times.append(time.perf_counter() - start)
            self._cpu.append(time.process_time() - cpu)


def timed(fn: Callable[..., Any], times: list[float], cpu: list[float]) -> Callable[..., Any]:
    @wraps(fn)
    def run(*args: Any) -> Any:
        start, cpu_start = time.perf_counter(), time.process_time()
        try:
            return fn(*args)
        finally:
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - cpu_start)

    return run


def count_round_trips(counts: Counts) -> None:
    """Every command or pipeline redis-py writes to the socket is one round trip."""
    send: Callable[..., None] = AbstractConnection.send_packed_command

    def counted(self: AbstractConnection, command: Any, check_health: bool = True) -> None:
        counts.redis_round_trips += 1
        send(self, command, check_health)

    AbstractConnection.send_packed_command = counted  # type: ignore[method-assign]


def fill_outbox(services: Services, n: int) -> list[int]:
    """N queued rows, committed without the outbox hook: nothing is enqueued yet."""
    now = services.clock()
    rows = [
        SmsMessage(
            direction=SmsDirection.OUTBOUND,
            to_number=f"+86139{i:08d}",
            from_number="",
            body=BODY,
            status=SmsStatus.QUEUED,
            purpose="assignment",
            created_at=now,
            updated_at=now,
        )
        for i in range(n)
    ]
    with UnitOfWork(services.session_factory) as uow:
        uow.session.add_all(rows)
        uow.commit()
    return [row.id for row in rows]


def by_library(profile: cProfile.Profile) -> list[tuple[str, float]]:
    """Own CPU time (tottime) summed by the library each function is in."""
    stats = pstats.Stats(profile)
    totals: dict[str, float] = {}
    for (filename, _, _), (_, _, tottime, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        name = next((lib for part, lib in LIBRARIES if part in filename), "other (stdlib, C)")
        totals[name] = totals.get(name, 0.0) + tottime
    return sorted(totals.items(), key=lambda item: -item[1])


def run(args: argparse.Namespace, work: Path) -> int:
    psql(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)", database="postgres")
    psql(f"CREATE DATABASE {DATABASE}", database="postgres")
    schema.upgrade(PG_URL + DATABASE)
    with twilio_stub(args.latency_ms, work / "twilio_stub.log") as url:
        assert url is not None
        env = {
            "DATABASE_URL": PG_URL + DATABASE,
            "REDIS_URL": REDIS_URL,
            "SECRET_KEY": WEBHOOK_KEY,
            "PUBLIC_BASE_URL": "http://127.0.0.1:5000",
            "HOTLINE_VAR_DIR": str(work / "var"),
            "TWILIO_ACCOUNT_SID": STUB_ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": WEBHOOK_KEY,
            "TWILIO_FROM_NUMBER": STUB_FROM_NUMBER,
            "TWILIO_API_BASE_URL": url,
        }
        services = context.bind(bootstrap(Settings.from_env(env)))
        assert services.redis is not None
        services.redis.flushdb()
        if args.workers:
            return run_workers(args, services, env, work)
        counts = Counts()
        services.sms = TimedSender(services.sms, counts.http_s, counts.http_cpu)
        # rq imports the job by name when it runs it, so it finds the timed one.
        tasks.send_sms = timed(tasks.send_sms, counts.perform_s, counts.perform_cpu)

        ids = fill_outbox(services, args.jobs)
        for message_id in ids:
            services.jobs.enqueue("sms", tasks.SEND_SMS_JOB, message_id)

        count_round_trips(counts)

        @event.listens_for(services.engine, "before_cursor_execute")
        def _count(*_: Any) -> None:
            counts.sql_statements += 1

        worker = SimpleWorker(["sms"], connection=services.redis, serializer=JSONSerializer)
        # CPU time, not wall: waits on a socket would otherwise count for the library waiting.
        profile = cProfile.Profile(time.process_time) if args.profile else None
        cpu, start = time.process_time(), time.perf_counter()
        if profile:
            profile.enable()
        worker.work(burst=True)
        if profile:
            profile.disable()
            if args.profile_out:
                profile.dump_stats(args.profile_out)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        sent = handed(services)
    report(args, counts, wall, cpu, sent, profile)
    return 0 if sent == args.jobs else 1


def run_workers(
    args: argparse.Namespace, services: Services, env: dict[str, str], work: Path
) -> int:
    """K `hotline worker sms` processes, as deployed, empty the outbox: SMS a second.

    Each worker first sends 3 SMS not counted: its first job imports twilio's REST
    modules and opens its connections, once per process.
    """
    assert services.redis is not None
    redis = services.redis
    warm_up = fill_outbox(services, 3 * args.workers)
    ids = fill_outbox(services, args.jobs)
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "HOTLINE_"))}
    proc_env = {**inherited, **env}
    cmd = [str(BIN / "hotline"), "worker", "sms"]
    with contextlib.ExitStack() as stack:
        procs = [
            stack.enter_context(running(cmd, proc_env, Path.cwd(), work / f"sms-{n}.log"))
            for n in range(args.workers)
        ]
        end = time.monotonic() + 60
        while Worker.count(queue=Queue("sms", connection=redis)) < args.workers:
            if time.monotonic() > end or any(p.poll() is not None for p in procs):
                raise BenchError(f"the SMS workers did not start; see {work}")
            time.sleep(0.1)
        for message_id in warm_up:
            services.jobs.enqueue("sms", tasks.SEND_SMS_JOB, message_id)
        while handed(services) < len(warm_up) and time.monotonic() < end + 60:
            time.sleep(0.1)
        cpu_before = sum(_cpu_tree_s(p.pid) for p in procs)
        start = time.perf_counter()
        for message_id in ids:
            services.jobs.enqueue("sms", tasks.SEND_SMS_JOB, message_id)
        limit = time.monotonic() + 60 + args.jobs * (args.latency_ms / 1000 + 0.1) / args.workers
        while (sent := handed(services) - len(warm_up)) < args.jobs and time.monotonic() < limit:
            time.sleep(0.1)
        wall = time.perf_counter() - start
        cpu = sum(_cpu_tree_s(p.pid) for p in procs) - cpu_before
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    print(
        f"load average {load}; {args.jobs} SMS, Twilio stub answering in {args.latency_ms:.0f} ms"
    )
    print(f"`hotline worker sms` processes      {args.workers}")
    print(f"sent (Twilio SID recorded)          {sent} of {args.jobs}")
    print(f"SMS a second, all workers           {sent / wall:.1f}")
    print(f"SMS a second, per worker            {sent / wall / args.workers:.1f}")
    print(f"workers' CPU per SMS                {1000 * cpu / max(sent, 1):.2f} ms")
    return 0 if sent == args.jobs else 1


def handed(services: Services) -> int:
    with services.uow() as uow:
        count = uow.session.scalar(select(func.count()).where(SmsMessage.provider_sid.is_not(None)))
    return count or 0


def report(
    args: argparse.Namespace,
    counts: Counts,
    wall: float,
    cpu: float,
    sent: int,
    profile: cProfile.Profile | None,
) -> None:
    n = args.jobs
    perform = sum(counts.perform_s) / n
    http = sum(counts.http_s) / n
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    print(f"load average {load}; {n} SMS, Twilio stub answering in {args.latency_ms:.0f} ms")
    print(f"sent (Twilio SID recorded)        {sent} of {n}")
    print(f"SMS a second, one worker          {n / wall:.1f}")
    print(f"wall per SMS                      {1000 * wall / n:.2f} ms")
    print(f"  in send_sms (the job)           {1000 * perform:.2f} ms")
    print(f"    of which the HTTP call        {1000 * http:.2f} ms")
    print(f"    of which our transactions     {1000 * (perform - http):.2f} ms")
    print(f"  in rq around the job            {1000 * (wall / n - perform):.2f} ms")
    p50, p95 = percentile(counts.perform_s, 50), percentile(counts.perform_s, 95)
    print(f"send_sms p50 / p95                {1000 * p50:.2f} / {1000 * p95:.2f} ms")
    print(f"CPU per SMS (this process)        {1000 * cpu / n:.2f} ms")
    ours_cpu = (sum(counts.perform_cpu) - sum(counts.http_cpu)) / n
    print(f"  in send_sms                     {1000 * sum(counts.perform_cpu) / n:.2f} ms")
    print(f"    of which the HTTP call        {1000 * sum(counts.http_cpu) / n:.2f} ms")
    print(f"    of which our transactions     {1000 * ours_cpu:.2f} ms")
    print(f"  in rq around the job            {1000 * (cpu - sum(counts.perform_cpu)) / n:.2f} ms")
    print(f"Redis round trips per SMS         {counts.redis_round_trips / n:.1f}")
    print(f"SQL statements per SMS            {counts.sql_statements / n:.1f}")
    if profile:
        print("CPU by library (cProfile tottime, per SMS; the profiler slows everything):")
        for name, seconds in by_library(profile):
            print(f"  {name:<34}{1000 * seconds / n:.2f} ms")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--jobs", type=int, default=1000, help="SMS to send (1000)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="the stub's delay (0)")
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="run K `hotline worker sms` processes instead of one worker in this process",
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the run")
    parser.add_argument("--profile-out", type=Path, help="also write the cProfile stats here")
    args = parser.parse_args(argv)
    if not 1 <= args.jobs <= 20_000:
        parser.error("--jobs must be between 1 and 20000")
    if not 0 <= args.workers <= 32:
        parser.error("--workers must be between 0 and 32")
    if not 0 <= args.latency_ms <= 2000:
        parser.error("--latency-ms must be between 0 and 2000")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # As `hotline worker` logs (hotline/cli/main.py), to a file as a service manager would.
    work = Path(tempfile.mkdtemp(prefix="hotline-sms-bench-"))
    logging.basicConfig(
        filename=work / "worker.log",
        level=logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    with LOCK_FILE.open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"another bench run holds {LOCK_FILE}; its database is ours too", file=sys.stderr)
            return 2
        try:
            code = run(args, work)
        except BenchError as exc:
            print(f"bench failed: {exc}", file=sys.stderr)
            code = 2
    if code:
        print(f"logs kept in {work}", file=sys.stderr)
    else:
        shutil.rmtree(work)
    return code


if __name__ == "__main__":
    os.environ.pop("TWILIO_EDGE", None)
    os.environ.pop("TWILIO_REGION", None)
    sys.exit(main())
