"""Fixtures shared by the three speeds of tests.

The database is the one in DATABASE_URL (PostgreSQL on CI) or a fresh SQLite file. Its
schema is built once by the real Alembic migrations and the demo city loaded once; each
test then runs inside a transaction that is rolled back, so tests see the demo city and
never each other. Jobs go to the Redis in REDIS_URL through rq (drained by a
SimpleWorker) or, without it, run in-process.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from flask import Flask
from redis import Redis
from sqlalchemy import Engine, MetaData, text
from sqlalchemy.orm import Session, sessionmaker

from hotline.app import create_app
from hotline.bootstrap import Services, bootstrap, make_engine
from hotline.jobs import context
from hotline.jobs.queue import QUEUE_NAMES, InProcessJobQueue, JobQueue, RqJobQueue
from hotline.settings import Settings, driver_url
from hotline.simulator.caller import FlaskTransport, Simulator
from hotline.storage import schema
from hotline.storage.files import FileStore
from tests.factories import NOW
from ticketing.demo import seeding
from ticketing.unit_of_work import UnitOfWork

# STYLE.md point 14's three speeds, and the browser tests apart (they need Chromium).
SPEEDS = ("unit", "integration", "functional", "browser")

TEST_TOKEN = "test-webhook-token"
PUBLIC_BASE_URL = "https://hotline.example.org"
TESTS = Path(__file__).parent
ROOT = TESTS.parent  # the repository
FIXTURES = TESTS / "fixtures"  # found from here, so a test module may sit at any depth
AUDIO = FIXTURES / "audio"


@pytest.hookimpl(tryfirst=True)  # before -m deselects: every collected test is checked
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Refuse the run when a test has no speed marker or more than one, so that a new test
    module cannot forget its `pytestmark` and `-m unit` etc. select every test once."""
    wrong = []
    for item in items:
        speeds = sorted({mark.name for mark in item.iter_markers() if mark.name in SPEEDS})
        if len(speeds) != 1:
            wrong.append(f"  {item.nodeid}: {', '.join(speeds) or 'none'}")
    if wrong:
        raise pytest.UsageError(
            f"each test needs exactly one speed marker of {', '.join(SPEEDS)} "
            "(set `pytestmark` in its module):\n" + "\n".join(wrong)
        )


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        return driver_url(url)
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"


def _drop_everything(engine: Engine) -> None:
    """Start from an empty database so the migrations themselves are under test."""
    existing = MetaData()
    existing.reflect(engine)
    existing.drop_all(engine)


@pytest.fixture(scope="session")
def db_engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    _drop_everything(engine)
    schema.upgrade(database_url)
    factory = sessionmaker(engine, expire_on_commit=False)
    with UnitOfWork(factory) as uow:
        seeding.load_demo_city(uow)
    yield engine
    engine.dispose()


@pytest.fixture
def session_factory(db_engine: Engine) -> Iterator[sessionmaker[Session]]:
    """Sessions inside one outer transaction that the test's end rolls back."""
    connection = db_engine.connect()
    outer = connection.begin()
    yield sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    outer.rollback()
    connection.close()


@pytest.fixture(scope="session")
def redis_url() -> str | None:
    return os.environ.get("REDIS_URL") or None


@pytest.fixture
def job_queue(redis_url: str | None) -> Iterator[JobQueue]:
    if redis_url is None:
        yield InProcessJobQueue()
        return
    redis = Redis.from_url(redis_url)
    for key in redis.scan_iter("rq:*"):
        redis.delete(key)
    yield RqJobQueue(redis)
    redis.close()


class FixedClock:
    """A clock tests can move; the domain never reads the real time itself."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)  # Friday 10:30 in Shanghai, where test data is made


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings.from_env(
        {
            "DATABASE_URL": database_url,
            "TWILIO_AUTH_TOKEN": TEST_TOKEN,
            "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
            "SECRET_KEY": "test-secret",
            "HOTLINE_VAR_DIR": str(tmp_path),
            "HOTLINE_FILES_DIR": str(tmp_path),
        }
    )


@pytest.fixture
def services(
    settings: Settings,
    db_engine: Engine,
    session_factory: sessionmaker[Session],
    job_queue: JobQueue,
    clock: FixedClock,
) -> Iterator[Services]:
    """The services of one test; the jobs it runs itself (a drain, a tick) run on them."""
    built = bootstrap(
        settings, engine=db_engine, session_factory=session_factory, jobs=job_queue, clock=clock
    )
    with context.running_on(built):
        yield built


@pytest.fixture
def run_jobs(services: Services) -> Callable[[], int]:
    """Run every queued job now: rq's SimpleWorker on real Redis, or nothing in-process."""

    def run() -> int:
        if not isinstance(services.jobs, RqJobQueue):
            return 0
        from rq import SimpleWorker
        from rq.serializers import JSONSerializer

        queues = [services.jobs.queue(name) for name in QUEUE_NAMES]
        pending = sum(len(q) for q in queues)
        worker = SimpleWorker(queues, connection=services.jobs.redis, serializer=JSONSerializer)
        with context.running_on(services):
            worker.work(burst=True)
        return pending

    return run


@pytest.fixture
def app(services: Services) -> Flask:
    return create_app(services=services)


@pytest.fixture
def simulator(app: Flask, tmp_path: Path) -> Simulator:
    return Simulator(FlaskTransport(app), PUBLIC_BASE_URL, TEST_TOKEN, files=FileStore(tmp_path))


@pytest.fixture
def uow(services: Services) -> Iterator[UnitOfWork]:
    with services.uow() as unit:
        yield unit


def count(session: Session, table: str) -> int:
    """Rows in a table, for tests that check nothing was stored."""
    return int(session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())  # noqa: S608
