"""SLA sweep benchmark: the real sweep against a million open cases in PostgreSQL.

Run from the repository root:  .venv/bin/python bench/sla_sweep.py [--open N] [--max-seconds S]

It builds a fresh `hotline_sla_bench` database (`--database` names another; Alembic schema,
the demo city), bulk-loads N open cases (default 1,000,000) with COPY, and measures
`ticketing.sla.sweep.sweep`:
with nothing due (p50/p95, and the plan of its selecting query), with 10,000 cases due
(the time to fire them all, the rungs and SMS written), and the same due counts at a
tenth of the open cases, so that time can be seen to follow the due cases, not the open
ones. Every case's deadlines, next escalation, history events and already-fired rungs
are computed with the real policies, calendars and ladder, so the sweep fires exactly one
rung per due case and nothing else. Baselines in the same run: the selecting query with
its index disabled, and a naive sweep that reads every open case and computes its
schedule in Python (timed on a sample, extrapolated). The database is dropped at the end.
Exit status 0 if the targets it measured are met, 1 if one is missed, 2 if it could not run.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import fcntl
import gc
import os
import pstats
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql
from sqlalchemy import Engine, Table, event, func, select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from hotline.bootstrap import make_engine
from hotline.storage.schema import upgrade
from ticketing.cases.numbers import format_case_number
from ticketing.db import Base
from ticketing.demo.seeding import load_demo_city
from ticketing.models.cases import Ticket
from ticketing.models.catalogue import Category
from ticketing.models.people import GridAssignment
from ticketing.models.places import Grid
from ticketing.models.sla import Escalation
from ticketing.sla.ladder import Clock, Level, RunningClock, Step, due, schedule
from ticketing.sla.policies import SlaPolicy, choose_policy, pauses
from ticketing.sla.services import PolicyCatalog, load_catalog, pause_history
from ticketing.sla.sweep import sweep
from ticketing.unit_of_work import UnitOfWork, on_sms_queued
from ticketing.vocabulary.catalogue import CategoryLevel, Priority
from ticketing.vocabulary.lifecycle import OPEN_STATUSES, TicketStatus
from ticketing.vocabulary.roles import AssignmentRole

ROOT = Path(__file__).resolve().parent.parent
SHANGHAI = ZoneInfo("Asia/Shanghai")
# A Friday morning inside the office-hours calendar, so office-hours rungs may fire.
NOW = datetime(2026, 11, 27, 10, 0, tzinfo=SHANGHAI).astimezone(UTC)
DATABASE = "hotline_sla_bench"
PG = "host=127.0.0.1 port=5432 user=postgres"
URL = f"postgresql+psycopg://postgres@127.0.0.1:5432/{DATABASE}"

TARGET_IDLE_MS = 50.0
TARGET_DUE, TARGET_DUE_S = 10_000, 5.0
DUE_WINDOW = timedelta(hours=24)  # a due case's rung fell due within the last day
ASSIGNED_SHARE = 0.25  # the rest are accepted: only their resolve clock runs
MEAN_AGE = 0.6  # mean age of an open case, as a fraction of its time to resolve
CHUNK = 50_000
# A plausible mix of what residents call about (catalogue codes).
CATEGORY_WEIGHTS = {
    "street_light": 10,
    "garbage": 12,
    "water_leak": 6,
    "drainage": 6,
    "road_damage": 6,
    "illegal_parking": 10,
    "noise": 10,
    "illegal_construction": 5,
    "street_vending": 6,
    "tree_greening": 4,
    "public_facility": 5,
    "stray_animal": 3,
    "heating": 5,
    "gas_smell": 1,
    "fire_hazard": 1,
    "elderly_care": 3,
    "neighbour_dispute": 4,
    "other": 3,
}
TICKET_COLUMNS = (
    "id",
    "number",
    "status",
    "category_id",
    "priority",
    "grid_id",
    "community_id",
    "assignee_id",
    "department_id",
    "needs_triage",
    "description",
    "source",
    "language",
    "caller_phone",
    "created_at",
    "updated_at",
    "sla_policy_id",
    "assigned_at",
    "accepted_at",
    "accept_by",
    "resolve_by",
    "next_escalation_at",
    "deadline_version",
    "assignment_version",
)
ESCALATION_COLUMNS = ("ticket_id", "clock", "deadline_version", "level", "due_at", "fired_at")
# The history each case's columns were derived from, in the order it happened.
EVENTS_SQL = """
INSERT INTO ticket_events (ticket_id, at, kind, actor, from_status, to_status, note, data)
SELECT * FROM (
    SELECT id, created_at, 'created', 'caller:' || caller_phone, NULL, NULL, '',
           '{"source": "phone"}'::json
      FROM tickets WHERE id BETWEEN %(lo)s AND %(hi)s
    UNION ALL
    SELECT id, assigned_at, 'assigned', 'system', 'new', 'assigned', 'grid_primary',
           json_build_object('staff_id', assignee_id, 'department_id', department_id)
      FROM tickets WHERE id BETWEEN %(lo)s AND %(hi)s
    UNION ALL
    SELECT id, accepted_at, 'accepted', 'staff:' || coalesce(assignee_id::text, 'dispatcher'),
           'assigned', 'accepted', '', '{}'::json
      FROM tickets WHERE id BETWEEN %(lo)s AND %(hi)s AND accepted_at IS NOT NULL
    UNION ALL
    SELECT ticket_id, fired_at, 'escalated', 'system', NULL, NULL, clock || ' ' || level,
           json_build_object('clock', clock, 'level', level, 'due_at', due_at,
                             'notified', '[]'::json)
      FROM escalations WHERE ticket_id BETWEEN %(lo)s AND %(hi)s
) AS history ORDER BY 2
"""


def lock_file(database: str) -> Path:
    """One run per database at a time: two runs would drop each other's tables."""
    return Path(tempfile.gettempdir()) / f"hotline-sla-bench-{database}.lock"


class BenchError(RuntimeError):
    """The bench could not set up or run; the message says what to look at."""


class OutOfTime(BenchError):
    """--max-seconds ran out."""


# ---------------------------------------------------------------- the city and its cases


@dataclass(frozen=True)
class CategoryFacts:
    id: int
    code: str
    level: CategoryLevel
    department_id: int | None
    priority: Priority
    policy_id: int


@dataclass(frozen=True)
class City:
    categories: tuple[CategoryFacts, ...]
    weights: tuple[int, ...]
    grids: tuple[tuple[int, int, int], ...]  # grid id, community id, primary member id
    catalog: PolicyCatalog


def read_city(session: Session) -> City:
    """The demo city's categories, grids and SLA catalogue, as the bench draws from them."""
    catalog = load_catalog(session)
    categories = tuple(
        CategoryFacts(
            c.id,
            c.code,
            c.level,
            c.department_id,
            c.default_priority,
            catalog.current[choose_policy(catalog.rules, c.code, c.default_priority)],
        )
        for c in session.scalars(select(Category).order_by(Category.id))
    )
    primary = dict(
        session.execute(
            select(GridAssignment.grid_id, GridAssignment.staff_id).where(
                GridAssignment.role == AssignmentRole.PRIMARY
            )
        ).all()
    )
    grids = tuple((g.id, g.community_id, primary[g.id]) for g in session.scalars(select(Grid)))
    weights = tuple(CATEGORY_WEIGHTS.get(c.code, 1) for c in categories)
    return City(categories, weights, grids, catalog)


@dataclass(frozen=True)
class Profile:
    """A registration instant and every rung of its ladder, from the real calendar."""

    created_at: datetime
    steps: tuple[Step, ...]  # both clocks, as for a case not yet accepted

    def running(self, assigned: bool) -> tuple[Step, ...]:
        if assigned:
            return self.steps
        return tuple(s for s in self.steps if s.clock is Clock.RESOLVE)


def mean_age(policy: SlaPolicy, catalog: PolicyCatalog, policy_id: int) -> timedelta:
    calendar = catalog.calendar_of(policy_id)
    if calendar.always_open:
        return policy.resolve_within * MEAN_AGE
    working_days = policy.resolve_within / calendar.working_day_length
    return timedelta(days=working_days * 7 / 5) * MEAN_AGE


class Pools:
    """Registration instants per policy, their ladders computed once (2-3 ms each on an
    office-hours calendar, too slow to do per case), shared by the cases drawn from them.
    The due pools hold the instants whose latest passed rung fell due in DUE_WINDOW."""

    def __init__(self, city: City, size: int, rng: random.Random) -> None:
        self.background: dict[int, list[Profile]] = {}
        self.due: dict[tuple[int, bool], list[Profile]] = defaultdict(list)
        for policy_id in sorted({c.policy_id for c in city.categories}):
            policy = city.catalog.policies[policy_id]
            calendar = city.catalog.calendar_of(policy_id)
            mean_s = mean_age(policy, city.catalog, policy_id).total_seconds()
            profiles = []
            for _ in range(size):
                age_min = min(rng.expovariate(1 / mean_s), 6 * mean_s) // 60
                created = NOW - timedelta(minutes=age_min + 1)
                clocks = [
                    RunningClock(Clock.RESOLVE, created, policy.resolve_within),
                    RunningClock(Clock.ACCEPT, created, policy.accept_within),
                ]
                profiles.append(Profile(created, tuple(schedule(calendar, clocks, []))))
            self.background[policy_id] = profiles
            for profile in profiles:
                for assigned in (False, True):
                    passed = [s for s in profile.running(assigned) if s.at <= NOW]
                    if passed and passed[-1].at > NOW - DUE_WINDOW:
                        self.due[policy_id, assigned].append(profile)

    def pick(
        self, rng: random.Random, policy_id: int, assigned: bool, due: bool
    ) -> tuple[Profile, bool]:
        if not due:
            return rng.choice(self.background[policy_id]), assigned
        if not self.due[policy_id, assigned]:
            assigned = not assigned
        if not self.due[policy_id, assigned]:
            raise BenchError(f"no due instants for policy {policy_id}: raise --pool")
        return rng.choice(self.due[policy_id, assigned]), assigned

    def describe(self, city: City) -> str:
        parts = []
        for policy_id, profiles in self.background.items():
            code = city.catalog.policies[policy_id].code
            due_n = len(self.due[policy_id, False]) + len(self.due[policy_id, True])
            parts.append(f"{code} {len(profiles)} ({due_n} due)")
        return ", ".join(parts)


class Loader:
    """Writes open cases with COPY: the ticket rows, the rungs already fired, and the
    history events (created, assigned, accepted, escalated) by INSERT ... SELECT."""

    def __init__(self, city: City, pools: Pools, seed: int) -> None:
        self.city, self.pools = city, pools
        self.rng = random.Random(seed)
        self.next_id = 1
        self.numbers: Counter[date] = Counter()
        self.open_cases = 0

    def load(self, conn: psycopg.Connection[Any], count: int, *, due: bool) -> None:
        for start in range(0, count, CHUNK):
            first = self.next_id
            fired: list[tuple[Any, ...]] = []
            with conn.cursor() as cur:
                with cur.copy(f"COPY tickets ({', '.join(TICKET_COLUMNS)}) FROM STDIN") as copy:
                    for _ in range(min(CHUNK, count - start)):
                        row, rungs = self._case(due)
                        copy.write_row(row)
                        fired.extend(rungs)
                with cur.copy(
                    f"COPY escalations ({', '.join(ESCALATION_COLUMNS)}) FROM STDIN"
                ) as copy:
                    for rung in fired:
                        copy.write_row(rung)
                cur.execute(EVENTS_SQL, {"lo": first, "hi": self.next_id - 1})
            conn.commit()
            self.open_cases += self.next_id - first
        conn.execute("SELECT setval(pg_get_serial_sequence('tickets', 'id'), max(id)) FROM tickets")
        conn.commit()

    def _case(self, due: bool) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]]:
        rng = self.rng
        category = rng.choices(self.city.categories, self.city.weights)[0]
        profile, assigned = self.pools.pick(
            rng, category.policy_id, rng.random() < ASSIGNED_SHARE, due
        )
        steps = profile.running(assigned)
        passed = [s for s in steps if s.at <= NOW]
        fired = passed[:-1] if due else passed  # a due case waits on its latest rung
        waiting = steps[len(fired) :]
        grid_id, community_id, primary = rng.choice(self.city.grids)
        grid_level = category.level is CategoryLevel.GRID
        created = profile.created_at
        accepted_at = (
            None if assigned else min(created + timedelta(minutes=rng.randint(5, 90)), NOW)
        )
        case_id = self.next_id
        self.next_id += 1
        day = created.astimezone(SHANGHAI).date()
        self.numbers[day] += 1
        row = (
            case_id,
            format_case_number(day, self.numbers[day]),
            (TicketStatus.ASSIGNED if assigned else TicketStatus.ACCEPTED).value,
            category.id,
            category.priority.value,
            grid_id,
            community_id,
            primary if grid_level else None,
            None if grid_level else category.department_id,
            False,
            "",
            "phone",
            "en-US" if rng.random() < 0.1 else "zh-CN",
            f"+86138{rng.randrange(10**8):08d}",
            created,
            max(created, accepted_at or created, fired[-1].at if fired else created),
            category.policy_id,
            created,  # routing assigns at registration
            accepted_at,
            _deadline(steps, Clock.ACCEPT) if assigned else None,
            _deadline(steps, Clock.RESOLVE),
            waiting[0].at if waiting else None,
            1,
            1,
        )
        rungs = [(case_id, s.clock.value, 1, s.level.value, s.at, s.at) for s in fired]
        return row, rungs


def _deadline(steps: Sequence[Step], clock: Clock) -> datetime:
    return next(s.at for s in steps if s.clock is clock and s.level is Level.BREACH)


# ---------------------------------------------------------------- measuring


class SqlMeter:
    """Counts and times every statement the engine sends, grouped by its shape."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.count = 0
        self.seconds = 0.0
        self.shapes: Counter[str] = Counter()
        self.shape_seconds: Counter[str] = Counter()
        self.examples: dict[str, tuple[str, Any]] = {}

    def __enter__(self) -> SqlMeter:
        event.listen(self.engine, "before_cursor_execute", self._before)
        event.listen(self.engine, "after_cursor_execute", self._after)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._before)
        event.remove(self.engine, "after_cursor_execute", self._after)

    def _before(self, conn: Any, cursor: Any, statement: str, params: Any, *args: Any) -> None:
        conn.info["bench_t0"] = time.perf_counter()

    def _after(self, conn: Any, cursor: Any, statement: str, params: Any, *args: Any) -> None:
        took = time.perf_counter() - conn.info.pop("bench_t0")
        self.seconds += took
        self.count += 1
        shape = statement_shape(statement)
        self.shapes[shape] += 1
        self.shape_seconds[shape] += took
        self.examples.setdefault(shape, (statement, params))


class GcMeter:
    """Time spent in the garbage collector: a sweep holds thousands of ORM objects."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0

    def __enter__(self) -> GcMeter:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started


def statement_shape(statement: str) -> str:
    """'SELECT staff WHERE staff.role, staff.region_id': verb, tables, filtered columns."""
    text = " ".join(statement.split())
    verb = text.split(" ", 1)[0].upper()
    if verb in ("INSERT", "UPDATE"):
        table = re.search(r"(?:INTO|UPDATE) (\w+)", text)
        return f"{verb} {table.group(1) if table else '?'}"
    tables = re.findall(r"(?:FROM|JOIN) (\w+)", text)
    where = text.split(" WHERE ", 1)[1] if " WHERE " in text else ""
    columns = dict.fromkeys(re.findall(r"(\w+\.\w+) (?:=|IN|<=|IS)", where))
    lock = " FOR UPDATE" if "FOR UPDATE" in text else ""
    filtered = f" WHERE {', '.join(columns)}" if columns else ""
    return f"{verb} {' + '.join(dict.fromkeys(tables))}{filtered}{lock}"


@dataclass
class Idle:
    open_cases: int
    ms: list[float]
    plan: list[str] = field(default_factory=list)
    seqscan_ms: list[float] = field(default_factory=list)
    seqscan_plan: str = ""


@dataclass
class Trial:
    open_cases: int
    due: int
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # this process only: less disturbed by a busy machine
    sweeps: int = 0
    flushes: int = 0
    rungs: int = 0
    rungs_in_db: int = 0
    sms: int = 0
    events: int = 0
    left_due: int = 0
    statements: int = 0
    sql_seconds: float = 0.0
    gc_seconds: float = 0.0
    # The server's side: WAL written (full-page images after a checkpoint swell it) and
    # checkpoints counted while the sweeps ran; loading a million cases leaves them busy.
    wal_mib: float = 0.0
    checkpoints: int = 0
    levels: Counter[str] = field(default_factory=Counter)
    shapes: Counter[str] = field(default_factory=Counter)
    shape_seconds: Counter[str] = field(default_factory=Counter)


@dataclass
class Naive:
    cases: int
    seconds: float
    due_found: int
    open_cases: int


def percentile(values: Sequence[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def idle_sweeps(factory: sessionmaker[Session], engine: Engine, runs: int, open_n: int) -> Idle:
    """Sweeps with nothing due, each in its own unit of work as `hotline sweep` runs them."""
    for _ in range(3):  # warm the connection pool and the caches; not counted
        with UnitOfWork(factory) as uow:
            sweep(uow, NOW)
    samples = []
    with SqlMeter(engine) as meter:
        for _ in range(runs):
            start = time.perf_counter()
            with UnitOfWork(factory) as uow:
                fired = sweep(uow, NOW)
            samples.append((time.perf_counter() - start) * 1000)
            if fired:
                raise BenchError(f"a sweep with nothing due fired {fired} rung(s)")
    idle = Idle(open_n, samples)
    locking = next((s for s in meter.examples if s.endswith("FOR UPDATE")), None)
    if locking is None:
        raise BenchError("the sweep sent no SELECT ... FOR UPDATE")
    statement, params = meter.examples[locking]
    with engine.connect() as conn:
        explained = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, params)
        idle.plan = [row[0] for row in explained]
        conn.rollback()
        for _ in range(5):
            with conn.begin() as tx:
                for knob in ("indexscan", "indexonlyscan", "bitmapscan"):
                    conn.exec_driver_sql(f"SET LOCAL enable_{knob} = off")
                start = time.perf_counter()
                conn.exec_driver_sql(statement, params).all()
                idle.seqscan_ms.append((time.perf_counter() - start) * 1000)
                plan = conn.exec_driver_sql("EXPLAIN " + statement, params).all()
                idle.seqscan_plan = " / ".join(r[0].strip() for r in plan[:4])
                tx.rollback()
    return idle


def newest_ids(engine: Engine) -> dict[str, int]:
    """The highest id in each table the sweep writes to."""
    with engine.connect() as conn:
        return {
            t.name: conn.execute(select(func.coalesce(func.max(t.c.id), 0))).scalar_one()
            for t in _written()
        }


def rows_since(engine: Engine, before: dict[str, int]) -> dict[str, int]:
    """Rows each of those tables gained since `newest_ids` gave `before`."""
    with engine.connect() as conn:
        return {
            t.name: conn.execute(
                select(func.count()).select_from(t).where(t.c.id > before[t.name])
            ).scalar_one()
            for t in _written()
        }


def _written() -> list[Table]:
    return [Base.metadata.tables[name] for name in ("escalations", "sms_messages", "ticket_events")]


def due_trial(
    engine: Engine,
    factory: sessionmaker[Session],
    loader: Loader,
    due_n: int,
    budget: Budget,
    batch: int,
) -> Trial:
    """Make `due_n` cases due, then sweep in batches, each its own unit of work, until a
    sweep fires nothing; the last, empty sweep is counted, as the sweep job runs it."""
    with psycopg.connect(f"{PG} dbname={DATABASE}") as loading:
        loader.load(loading, due_n, due=True)
    before = newest_ids(engine)
    trial = Trial(loader.open_cases, due_n)
    outbox: list[int] = []
    flushes: list[Session] = []

    def count_flush(session: Session, _context: object) -> None:
        flushes.append(session)

    event.listen(factory, "after_flush", count_flush)
    wal_before, checkpoints_before = server_activity(engine)
    with SqlMeter(engine) as meter, GcMeter() as collector:
        start, cpu = time.perf_counter(), time.process_time()
        while True:
            budget.check()
            with UnitOfWork(factory, [on_sms_queued(outbox.append)]) as uow:
                fired = sweep(uow, NOW, limit=batch)
            trial.sweeps += 1
            trial.rungs += fired
            if not fired:
                break
        trial.seconds = time.perf_counter() - start
        trial.cpu_seconds = time.process_time() - cpu
    event.remove(factory, "after_flush", count_flush)
    wal_after, checkpoints_after = server_activity(engine)
    trial.wal_mib = (wal_after - wal_before) / 2**20
    trial.checkpoints = checkpoints_after - checkpoints_before
    trial.flushes = len(flushes)
    trial.gc_seconds = collector.seconds
    trial.statements, trial.sql_seconds = meter.count, meter.seconds
    trial.shapes, trial.shape_seconds = meter.shapes, meter.shape_seconds
    trial.sms = len(outbox)
    counts = rows_since(engine, before)
    trial.rungs_in_db, trial.events = counts["escalations"], counts["ticket_events"]
    if counts["sms_messages"] != trial.sms:
        raise BenchError(f"{counts['sms_messages']} SMS rows but {trial.sms} handed to the outbox")
    with engine.connect() as conn:
        trial.left_due = len(
            conn.execute(select(Ticket.id).where(Ticket.next_escalation_at <= NOW)).all()
        )
        levels = conn.execute(
            select(Escalation.level, func.count())
            .where(Escalation.id > before["escalations"])
            .group_by(Escalation.level)
        ).all()
        trial.levels = Counter(dict(levels))
    return trial


def server_activity(engine: Engine) -> tuple[int, int]:
    """Bytes of WAL written so far and checkpoints counted so far, server-wide."""
    with engine.connect() as conn:
        row = conn.exec_driver_sql(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint, "
            "checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter"
        ).one()
    return int(row[0]), int(row[1])


def naive_sweep(
    factory: sessionmaker[Session], catalog: PolicyCatalog, sample: int, open_n: int
) -> Naive:
    """What a system without the indexed `next_escalation_at` must do every minute: read
    each open case with its history and fired rungs, and compute its ladder in Python."""
    seen = due_found = last_id = 0
    start = time.perf_counter()
    with factory() as session:
        while seen < sample:
            tickets = session.scalars(
                select(Ticket)
                .where(Ticket.status.in_(OPEN_STATUSES), Ticket.id > last_id)
                .order_by(Ticket.id)
                .limit(min(1000, sample - seen))
                .options(selectinload(Ticket.events))
            ).all()
            if not tickets:
                break
            fired: dict[int, set[tuple[Clock, Level]]] = defaultdict(set)
            versions = {t.id: (t.assignment_version, t.deadline_version) for t in tickets}
            for ticket_id, clock, level, version in session.execute(
                select(
                    Escalation.ticket_id,
                    Escalation.clock,
                    Escalation.level,
                    Escalation.deadline_version,
                ).where(Escalation.ticket_id.in_(versions))
            ):
                accept_v, resolve_v = versions[ticket_id]
                if version == (accept_v if clock == Clock.ACCEPT else resolve_v):
                    fired[ticket_id].add((Clock(clock), Level(level)))
            for ticket in tickets:
                due_found += bool(due(_ladder(ticket, catalog), fired[ticket.id], NOW))
            seen += len(tickets)
            last_id = tickets[-1].id
            session.expunge_all()
    return Naive(seen, time.perf_counter() - start, due_found, open_n)


def _ladder(ticket: Ticket, catalog: PolicyCatalog) -> list[Step]:
    # The same clocks as ticketing.sla.services._clocks: resolve always, accept until accepted.
    assert ticket.sla_policy_id is not None
    policy = catalog.policies[ticket.sla_policy_id]
    clocks = [RunningClock(Clock.RESOLVE, ticket.created_at, policy.resolve_within)]
    if ticket.status is TicketStatus.ASSIGNED and ticket.assigned_at is not None:
        clocks.append(RunningClock(Clock.ACCEPT, ticket.assigned_at, policy.accept_within))
    return schedule(
        catalog.calendar_of(ticket.sla_policy_id), clocks, pauses(pause_history(ticket))
    )


def profile_sweep(
    engine: Engine, factory: sessionmaker[Session], loader: Loader, due_n: int
) -> list[str]:
    """One sweep of `due_n` due cases under cProfile: where its time goes, by area."""
    with psycopg.connect(f"{PG} dbname={DATABASE}") as conn:
        loader.load(conn, due_n, due=True)
    profiler = cProfile.Profile()
    with UnitOfWork(factory) as uow, GcMeter() as collector:
        start = time.perf_counter()
        profiler.enable()
        fired = sweep(uow, NOW, limit=due_n)
        profiler.disable()
        wall = time.perf_counter() - start
    stats = pstats.Stats(profiler)
    areas: Counter[str] = Counter()
    ours: list[tuple[float, str]] = []
    for (path, _line, name), (_cc, calls, tottime, cumtime, callers) in stats.stats.items():  # type: ignore[attr-defined]
        if path == "~":  # a C built-in: its time belongs to whoever called it
            for (caller_path, _l, caller_name), caller_stats in callers.items():
                areas[_area(caller_path, caller_name)] += caller_stats[2]
        else:
            areas[_area(path, name)] += tottime
        if "/ticketing/" in path:
            ours.append((cumtime, f"{Path(path).stem}.{name} ({calls} calls)"))
    total = sum(areas.values())
    lines = [
        f"cProfile of one sweep firing {fired} rungs for {due_n} due cases: {wall:.2f} s "
        f"(of which {collector.seconds:.2f} s in the garbage collector)"
    ]
    lines.append(
        "  own time by area, C built-ins counted with their caller "
        "(profiler overhead inflates the Python share):"
    )
    lines += [f"    {area:<44} {t:6.2f} s  {t / total:4.0%}" for area, t in areas.most_common(8)]
    lines.append("  ticketing functions by cumulative time:")
    lines += [f"    {cum:6.2f} s  {what}" for cum, what in sorted(ours, reverse=True)[:14]]
    return lines


def _area(path: str, name: str) -> str:
    if path == "~":
        return "C built-ins called from C"
    for marker, area in (
        ("ticketing/sla/business_time", "business time (ticketing.sla.business_time)"),
        ("chinese_calendar", "chinese_calendar lookups"),
        ("zoneinfo", "zoneinfo"),
        ("/ticketing/", "ticketing (other)"),
        ("sqlalchemy", "SQLAlchemy ORM and core"),
        ("psycopg", "psycopg, including waiting for PostgreSQL"),
    ):
        if marker in path:
            return area
    return "other Python"


# ---------------------------------------------------------------- setup and the run


class Budget:
    """One deadline for the whole run; SIGALRM stops a phase that overruns it."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds

    def left(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def check(self) -> None:
        if not self.left():
            raise OutOfTime("--max-seconds ran out")


def admin(statement: sql.Composed) -> None:
    with psycopg.connect(f"{PG} dbname=postgres", autocommit=True) as conn:
        conn.execute(statement)


def drop_database() -> None:
    admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE)))


def fresh_database() -> None:
    drop_database()
    admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))


def vacuum_analyze() -> float:
    start = time.perf_counter()
    with psycopg.connect(f"{PG} dbname={DATABASE}", autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return time.perf_counter() - start


def bench_engine() -> Engine:
    engine = make_engine(URL)

    @event.listens_for(engine, "connect")
    def _timeout(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        with dbapi_conn.cursor() as cur:
            cur.execute("SET statement_timeout = '300s'")
        dbapi_conn.commit()

    return engine


def load_average() -> str:
    """Other work on the machine slows every figure down: say how busy it was."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def rss_mib(field_name: str = "VmRSS") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name):
            return int(line.split()[1]) / 1024
    return 0.0


def machine() -> str:
    total = Path("/proc/meminfo").read_text().split("\n", 1)[0].split()[1]
    with psycopg.connect(f"{PG} dbname=postgres") as conn:
        version = conn.execute("SHOW server_version").fetchone()
        buffers = conn.execute("SHOW shared_buffers").fetchone()
    rev = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},
    ).stdout.strip()
    return (
        f"{os.cpu_count()} cores, {int(total) / 2**20:.0f} GiB; PostgreSQL "
        f"{version[0] if version else '?'} (shared_buffers {buffers[0] if buffers else '?'}); "
        f"code {rev or '?'} + working tree"
    )


@dataclass
class Results:
    idle: list[Idle] = field(default_factory=list)
    trials: list[Trial] = field(default_factory=list)
    naive: Naive | None = None
    profile: list[str] = field(default_factory=list)
    load: list[str] = field(default_factory=list)


def execute(args: argparse.Namespace, budget: Budget, results: Results) -> None:
    print(f"machine: {machine()}; load average {load_average()}", flush=True)
    print(f"sweep time (now): {NOW.astimezone(SHANGHAI).isoformat()} (a Friday, working hours)")
    fresh_database()
    upgrade(URL)
    engine = bench_engine()
    try:
        factory = sessionmaker(engine, expire_on_commit=False)
        with UnitOfWork(factory) as uow:
            load_demo_city(uow)
        with factory() as session:
            city = read_city(session)
        start = time.perf_counter()
        pools = Pools(city, args.pool, random.Random(args.seed))
        print(
            f"ladders computed for {args.pool} instants a policy in "
            f"{time.perf_counter() - start:.1f} s: {pools.describe(city)}",
            flush=True,
        )
        loader = Loader(city, pools, args.seed)
        sizes = [args.open // 10, args.open] if args.open >= 20_000 else [args.open]
        for size in sizes:
            grow(loader, size, results)
            measure(args, engine, factory, loader, budget, results, final=size == args.open)
    finally:
        engine.dispose()


def grow(loader: Loader, size: int, results: Results) -> None:
    start = time.perf_counter()
    with psycopg.connect(f"{PG} dbname={DATABASE}") as conn:
        loader.load(conn, size - loader.open_cases, due=False)
        counts = [
            conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(t))).fetchone()
            for t in ("tickets", "ticket_events", "escalations")
        ]
    loaded = time.perf_counter() - start
    vacuumed = vacuum_analyze()
    line = (
        f"{loader.open_cases:,} open cases: loaded in {loaded:.1f} s, VACUUM ANALYZE "
        f"{vacuumed:.1f} s; rows: tickets {counts[0][0] if counts[0] else 0:,}, "
        f"events {counts[1][0] if counts[1] else 0:,}, escalations already fired "
        f"{counts[2][0] if counts[2] else 0:,}; RSS {rss_mib():.0f} MiB"
    )
    results.load.append(line)
    print(line, flush=True)


def measure(
    args: argparse.Namespace,
    engine: Engine,
    factory: sessionmaker[Session],
    loader: Loader,
    budget: Budget,
    results: Results,
    *,
    final: bool,
) -> None:
    budget.check()
    idle = idle_sweeps(factory, engine, args.idle_runs, loader.open_cases)
    results.idle.append(idle)
    print(
        f"  nothing due: p50 {percentile(idle.ms, 50):.2f} ms, p95 {percentile(idle.ms, 95):.2f}"
        f" ms; index disabled: p50 {percentile(idle.seqscan_ms, 50):.1f} ms",
        flush=True,
    )
    for due_n in args.due if final else args.compare_due:
        budget.check()
        trial = due_trial(engine, factory, loader, due_n, budget, args.batch)
        results.trials.append(trial)
        print(
            f"  {due_n:,} due: {trial.seconds:.2f} s, {trial.rungs:,} rungs, {trial.sms:,} SMS; "
            f"WAL {trial.wal_mib:.0f} MiB, checkpoints {trial.checkpoints}",
            flush=True,
        )
    if not final:
        return
    target = next((t for t in results.trials[::-1] if t.due == TARGET_DUE), None)
    if args.profile or (target is not None and target.seconds > TARGET_DUE_S):
        budget.check()
        results.profile = profile_sweep(engine, factory, loader, args.batch)
    if args.naive_sample:
        budget.check()
        with factory() as session:
            catalog = load_catalog(session)
        results.naive = naive_sweep(factory, catalog, args.naive_sample, loader.open_cases)


# ---------------------------------------------------------------- the report


def report(results: Results) -> str:
    lines = ["", "== loads", *results.load, "", "== nothing due (sweep() in its own unit of work)"]
    lines.append(
        f"{'open cases':>12} {'runs':>5} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}"
        f"  {'index off p50 ms':>16}"
    )
    for idle in results.idle:
        lines.append(
            f"{idle.open_cases:>12,} {len(idle.ms):>5} {percentile(idle.ms, 50):>8.2f} "
            f"{percentile(idle.ms, 95):>8.2f} {max(idle.ms):>8.2f}  "
            f"{percentile(idle.seqscan_ms, 50):>16.1f}"
        )
    if results.idle:
        last = results.idle[-1]
        lines += ["", f"plan of the selecting query at {last.open_cases:,} open cases:"]
        lines += [f"  {row}" for row in last.plan]
        lines.append(f"with the index disabled: {last.seqscan_plan}")
    lines += ["", "== due cases fired (sweep(limit=batch) in a loop until it fires nothing)"]
    lines.append(
        f"{'open cases':>12} {'due':>7} {'wall s':>7} {'ms/due':>7} {'CPU s':>6} {'sweeps':>6} "
        f"{'rungs':>7} {'SMS':>7} {'events':>7} {'flushes':>7} "
        f"{'SQL/due':>7} {'SQL s':>6} {'GC s':>5} {'left':>5}"
    )
    for t in results.trials:
        lines.append(
            f"{t.open_cases:>12,} {t.due:>7,} {t.seconds:>7.2f} {t.seconds / t.due * 1000:>7.2f} "
            f"{t.cpu_seconds:>6.2f} {t.sweeps:>6} {t.rungs:>7,} {t.sms:>7,} {t.events:>7,} "
            f"{t.flushes:>7,} {t.statements / t.due:>7.2f} {t.sql_seconds:>6.2f} "
            f"{t.gc_seconds:>5.2f} {t.left_due:>5}"
        )
    if results.trials:
        levels = sum((t.levels for t in results.trials), Counter[str]())
        lines.append("rungs by level: " + ", ".join(f"{k} {v:,}" for k, v in levels.most_common()))
        biggest = max(results.trials, key=lambda t: (t.open_cases, t.due))
        lines += [
            "",
            f"SQL per due case at {biggest.due:,} due, by statement shape, most time first "
            "(statements, then ms of round trip):",
        ]
        lines += [
            f"  {n / biggest.due:6.2f} {biggest.shape_seconds[shape] / biggest.due * 1000:6.3f}"
            f"  {shape}"
            for shape, n in sorted(
                biggest.shapes.items(), key=lambda item: -biggest.shape_seconds[item[0]]
            )[:14]
        ]
    lines += scaling(results)
    lines += naive_lines(results)
    if results.profile:
        lines += ["", *results.profile]
    lines += ["", *verdicts(results)]
    return "\n".join(lines)


def scaling(results: Results) -> list[str]:
    lines = ["", "== time follows the due cases, not the open ones"]
    by_due: dict[int, list[Trial]] = defaultdict(list)
    for t in results.trials:
        by_due[t.due].append(t)
    for due_n, trials in sorted(by_due.items()):
        if len(trials) > 1:
            small, big = trials[0], trials[-1]
            lines.append(
                f"{due_n:,} due: {small.seconds:.2f} s at {small.open_cases:,} open, "
                f"{big.seconds:.2f} s at {big.open_cases:,} open "
                f"({big.open_cases / small.open_cases:.1f}x the open cases, "
                f"{big.seconds / small.seconds:.2f}x the time)"
            )
    if results.idle and results.trials:
        top = max(t.open_cases for t in results.trials)
        series = sorted(
            (t for t in results.trials if t.open_cases >= top * 0.9), key=lambda t: t.due
        )
        if len(series) > 1:
            a, b = series[0], series[-1]
            lines.append(
                f"at ~{top:,} open: {a.due:,} -> {b.due:,} due ({b.due / a.due:.0f}x) took "
                f"{a.seconds:.2f} -> {b.seconds:.2f} s ({b.seconds / a.seconds:.1f}x)"
            )
    return lines


def naive_lines(results: Results) -> list[str]:
    naive = results.naive
    if naive is None or not naive.cases:
        return []
    per_case = naive.seconds / naive.cases
    full = per_case * naive.open_cases
    idle_ms = percentile(results.idle[-1].ms, 50) if results.idle else float("nan")
    return [
        "",
        "== baseline: naive sweep (every open case read, its ladder computed in Python)",
        f"{naive.cases:,} open cases in {naive.seconds:.1f} s = {per_case * 1000:.2f} ms a case;"
        f" found {naive.due_found} due (the indexed column agrees: 0)",
        f"extrapolated to {naive.open_cases:,} open cases: {full:,.0f} s a sweep, "
        f"{full * 1000 / idle_ms:,.0f}x the indexed sweep with nothing due ({idle_ms:.2f} ms)",
    ]


def targets_met(results: Results) -> bool:
    """Whether every target this run measured (at its largest size) was met."""
    idle = results.idle[-1] if results.idle else None
    due_run = next((t for t in results.trials[::-1] if t.due == TARGET_DUE), None)
    idle_ok = idle is None or percentile(idle.ms, 95) < TARGET_IDLE_MS
    due_ok = due_run is None or (due_run.seconds < TARGET_DUE_S and not due_run.left_due)
    return idle_ok and due_ok


def verdicts(results: Results) -> list[str]:
    lines = []
    if results.idle:
        idle = results.idle[-1]
        p95 = percentile(idle.ms, 95)
        met = "MET" if p95 < TARGET_IDLE_MS else "NOT MET"
        used = any("ix_tickets_next_escalation_at" in row for row in idle.plan)
        lines.append(
            f"target: nothing due under {TARGET_IDLE_MS:.0f} ms at {idle.open_cases:,} open: "
            f"{met} (p95 {p95:.2f} ms); plan uses ix_tickets_next_escalation_at: {used}"
        )
    target = [t for t in results.trials if t.due == TARGET_DUE]
    if target:
        t = target[-1]
        met = "MET" if t.seconds < TARGET_DUE_S and not t.left_due else "NOT MET"
        lines.append(
            f"target: {TARGET_DUE:,} due escalated under {TARGET_DUE_S:.0f} s at "
            f"{t.open_cases:,} open: {met} ({t.seconds:.2f} s, {t.rungs:,} rungs, "
            f"{t.left_due} left due)"
        )
    lines.append(f"bench process RSS {rss_mib():.0f} MiB, peak {rss_mib('VmHWM'):.0f} MiB")
    lines.append(f"load average at the end (1, 5, 15 min): {load_average()}")
    return lines


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--open", type=int, default=1_000_000, help="open cases (1,000,000)")
    parser.add_argument(
        "--due",
        type=_counts,
        default=(1000, 2000, 5000, TARGET_DUE),
        help="due counts fired at the full size (1000,2000,5000,10000)",
    )
    parser.add_argument(
        "--compare-due",
        type=_counts,
        default=(2000, TARGET_DUE),
        help="due counts fired at a tenth of the open cases first (2000,10000)",
    )
    parser.add_argument("--batch", type=int, default=1000, help="sweep(limit=...) (1000)")
    parser.add_argument("--idle-runs", type=int, default=50, help="sweeps with nothing due (50)")
    parser.add_argument(
        "--naive-sample", type=int, default=20_000, help="cases the naive baseline reads (0: skip)"
    )
    parser.add_argument("--pool", type=int, default=2000, help="instants per policy (2000)")
    parser.add_argument("--profile", action="store_true", help="profile even if on target")
    parser.add_argument("--max-seconds", type=float, default=900.0, help="whole-run budget")
    parser.add_argument("--seed", type=int, default=1127)
    parser.add_argument(
        "--database",
        default=DATABASE,
        help=f"database to create and drop ({DATABASE}); its own, when others run benches too",
    )
    args = parser.parse_args(argv)
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", args.database):
        parser.error("--database must be a plain lower-case identifier")
    if not 1000 <= args.open <= 5_000_000:
        parser.error("--open must be between 1,000 and 5,000,000")
    if not 30 <= args.max_seconds <= 3600:
        parser.error("--max-seconds must be between 30 and 3600")
    if not 1 <= args.batch <= 10_000 or args.idle_runs < 1 or args.pool < 100:
        parser.error("--batch must be 1..10000, --idle-runs at least 1, --pool at least 100")
    return args


def _counts(text: str) -> tuple[int, ...]:
    values = tuple(int(v.replace("_", "")) for v in text.split(",") if v.strip())
    if not values or min(values) < 1 or max(values) > 100_000:
        raise argparse.ArgumentTypeError("due counts are 1..100000, comma-separated")
    return values


@contextlib.contextmanager
def alarm(seconds: float) -> Iterator[None]:
    """A hard stop a little after the budget, for a phase that does not return."""

    def on_alarm(_signum: int, _frame: FrameType | None) -> None:
        raise OutOfTime("--max-seconds ran out in the middle of a phase")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(int(seconds) + 1)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    global DATABASE, URL
    args = parse_args(argv)
    DATABASE = args.database
    URL = f"postgresql+psycopg://postgres@127.0.0.1:5432/{DATABASE}"
    lock_path = lock_file(DATABASE)
    budget = Budget(args.max_seconds)

    def on_term(signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)
    results = Results()
    with lock_path.open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"another run holds {lock_path}; its database is ours too", file=sys.stderr)
            return 2
        code = 0
        try:
            with alarm(args.max_seconds):
                execute(args, budget, results)
        except BenchError as exc:
            print(f"bench stopped: {exc}", file=sys.stderr)
            code = 2
        finally:
            drop_database()
        print(report(results))
    if code == 0 and not targets_met(results):
        code = 1
    return code


if __name__ == "__main__":
    sys.exit(main())
