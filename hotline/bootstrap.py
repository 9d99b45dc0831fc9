"""The composition root: settings in, a bundle of ready services out.

Web, worker, CLI and tests all build their services here, choosing the real or the
embedded implementation of each outside system from configuration.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from redis import Redis
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from hotline.jobs.queue import InProcessJobQueue, JobQueue, RqJobQueue
from hotline.media.exchange import MemorySpeechExchange, RedisSpeechExchange, SpeechExchange
from hotline.settings import Settings
from hotline.speech.recognizers import SpeechRecognizer
from hotline.speech.step_grammars import STEP_GRAMMARS, StepGrammars
from hotline.telephony.sms import LogSmsSender, SmsSender, TwilioSmsSender, twilio_client
from hotline.voice.flows import Flow, Vocabulary, load_flows
from hotline.voice.state import CallStates, DatabaseCallStates, RedisCallStates
from ticketing.cases.links import CaseLinks
from ticketing.unit_of_work import UnitOfWork

Clock = Callable[[], datetime]

FLOW_VOCABULARY = Vocabulary(
    actions=frozenset(
        {"create_case", "look_up_status", "request_callback", "transfer", "emergency_case"}
    ),
    checks=frozenset({"location", "place"}),
    grammars=frozenset(STEP_GRAMMARS),
)
SEND_SMS_JOB = "hotline.jobs.tasks.send_sms"
TRANSCRIBE_JOB = "hotline.jobs.tasks.transcribe_recording"

_current: Services | None = None


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Services:
    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    jobs: JobQueue
    sms: SmsSender
    flows: dict[str, Flow]
    clock: Clock = utc_now
    recognizers: dict[str, SpeechRecognizer] = field(default_factory=dict, repr=False)
    # Where the media server leaves what it heard for the IVR webhook (Redis, or memory
    # when both run in one process).
    exchange: SpeechExchange = field(default_factory=MemorySpeechExchange, repr=False)
    # Flow state and answered steps between Twilio's requests (Redis, or the database).
    call_states: CallStates = field(default_factory=DatabaseCallStates, repr=False)
    _grammars: StepGrammars | None = field(default=None, repr=False)
    _loading: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def step_grammars(self) -> StepGrammars:
        """Step grammars built from this database's catalogue and gazetteer, cached."""
        if self._grammars is None:
            self._grammars = StepGrammars(self.session_factory)
        return self._grammars

    def recognizer(self, language: str) -> SpeechRecognizer | None:
        """The recogniser configured for a language (HOTLINE_SPEECH), loaded once; None
        when the language has none. A configured model that is missing raises here."""
        with self._loading:  # the media server's threads ask at once; load a model once
            return self._recognizer(language)

    def _recognizer(self, language: str) -> SpeechRecognizer | None:
        from hotline.speech.engines import load_recognizer, parse_config

        if language not in self.recognizers:
            choice = next(
                (c for c in parse_config(self.settings.speech) if c.language == language), None
            )
            if choice is None:
                return None
            self.recognizers[language] = load_recognizer(
                choice.engine, choice.language, choice.model
            )
        return self.recognizers[language]

    @property
    def parallel_reads(self) -> bool:
        """Whether units of work in two threads can read at once, each on a connection of
        its own: not on SQLite (every transaction there takes the write lock first), nor
        when the sessions are bound to one shared connection (as tests bind them)."""
        bind = self.session_factory.kw.get("bind")
        return isinstance(bind, Engine) and bind.dialect.name != "sqlite"

    def uow(self) -> UnitOfWork:
        """A unit of work whose committed outbox rows are handed to the SMS job."""
        return UnitOfWork(
            self.session_factory,
            partial(self.jobs.enqueue, "sms", SEND_SMS_JOB),
            case_links(self.settings),
        )


def case_links(settings: Settings) -> CaseLinks | None:
    """The signed links of assignment SMS: only with a public address to point at, and
    not when HOTLINE_LINK_DAYS is 0."""
    if not settings.public_base_url or settings.link_days == 0:
        return None
    return CaseLinks(
        settings.public_base_url, settings.secret_key, timedelta(days=settings.link_days)
    )


def make_engine(url: str) -> Engine:
    """An engine tuned for the backend: SQLite gets a lock timeout and foreign keys."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 15, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            # pysqlite's own transaction handling breaks SAVEPOINT: take it over.
            dbapi_conn.isolation_level = None
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(conn):  # type: ignore[no-untyped-def]
            # IMMEDIATE takes the write lock up front, so two threads never deadlock
            # upgrading a read lock; the embedded default has little traffic to serialise.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


def _sms_sender(settings: Settings) -> SmsSender:
    sid, token = settings.twilio_account_sid, settings.twilio_auth_token
    number = settings.twilio_from_number
    if not (sid and token and number):
        return LogSmsSender()
    client = twilio_client(sid, token, settings.twilio_api_base_url)
    callback = f"{settings.public_base_url}/twilio/sms/status" if settings.public_base_url else None
    return TwilioSmsSender(client, number, callback)


def bootstrap(
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
    session_factory: sessionmaker[Session] | None = None,
    jobs: JobQueue | None = None,
    sms: SmsSender | None = None,
    clock: Clock = utc_now,
) -> Services:
    """Build every service; tests pass their own pieces for what they control."""
    settings = settings or Settings.from_env()
    if settings.database_url.startswith("sqlite:///"):
        Path(settings.database_url.removeprefix("sqlite:///")).parent.mkdir(
            parents=True, exist_ok=True
        )
    engine = engine or make_engine(settings.database_url)
    session_factory = session_factory or sessionmaker(engine, expire_on_commit=False)
    if jobs is None:
        jobs = (
            RqJobQueue(Redis.from_url(settings.redis_url))
            if settings.redis_url
            else InProcessJobQueue()
        )
    global _current
    _current = Services(
        settings=settings,
        engine=engine,
        session_factory=session_factory,
        jobs=jobs,
        sms=sms or _sms_sender(settings),
        flows=load_flows(settings.flows_dir, FLOW_VOCABULARY),
        clock=clock,
    )
    if settings.redis_url:
        redis = Redis.from_url(settings.redis_url)
        _current.exchange = RedisSpeechExchange(redis)
        _current.call_states = RedisCallStates(redis)
    return _current


def current_services() -> Services:
    """The services this process built last (a worker's, a test's), else from the env.

    Jobs run by name on rq workers and in-process alike, so they find their services
    here rather than through arguments that would have to be serialised.
    """
    return _current or bootstrap()
