"""The composition root: settings in, a bundle of ready services out.

Web, worker, CLI and tests all build their services here, choosing the real or the
embedded implementation of each outside system from configuration.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from redis import Redis
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from hotline import logs, metrics
from hotline.console.figure_cache import FigureCache
from hotline.console.maps import PlaceIndex
from hotline.jobs.queue import InProcessJobQueue, JobQueue, RqJobQueue
from hotline.jobs.tasks import SEND_SMS_JOB
from hotline.media.exchange import MemorySpeechExchange, RedisSpeechExchange, SpeechExchange
from hotline.settings import DatabasePool, Settings
from hotline.speech.engines import Recognizers
from hotline.speech.recognizers import SpeechRecognizer
from hotline.speech.step_grammars import StepGrammars
from hotline.storage.files import FileStore
from hotline.telephony.sms import LogSmsSender, SmsSender, TwilioSmsSender, twilio_client
from hotline.voice.actions import FLOW_VOCABULARY
from hotline.voice.flows import Flow, load_flows
from hotline.voice.state import CallStates, DatabaseCallStates, RedisCallStates
from ticketing.cases.links import CaseLinks
from ticketing.reporting.dashboards import Assessment
from ticketing.unit_of_work import Subscriber, UnitOfWork, on_sms_queued

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Services:
    """Every service a process needs, built whole by `bootstrap` and left alone after."""

    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    jobs: JobQueue
    sms: SmsSender
    flows: dict[str, Flow]
    # Flow state and answered steps between Twilio's requests (Redis, or the database).
    call_states: CallStates
    # Where the media server leaves what it heard for the IVR webhook (Redis, or memory
    # when both run in one process).
    exchange: SpeechExchange
    # Recordings and photos, in the directory every host mounts (HOTLINE_FILES_DIR).
    files: FileStore
    step_grammars: StepGrammars = field(repr=False)
    recognizers: Recognizers = field(repr=False)
    # The console's caches: the place index of its maps, the dashboard's kept figures.
    places: PlaceIndex = field(repr=False)
    figures: FigureCache[Assessment] = field(repr=False)
    clock: Clock = utc_now
    # The one Redis client of the process (None embedded): jobs, call states, exchange.
    redis: Redis | None = field(default=None, repr=False)
    # The signed links of assignment SMS; None without a public address.
    links: CaseLinks | None = None
    # Who hears of each committed domain event (after the SMS sender): the metrics, the
    # log context, then whoever the caller of bootstrap added.
    subscribers: tuple[Subscriber, ...] = ()

    def recognizer(self, language: str) -> SpeechRecognizer | None:
        """The recogniser configured for a language (HOTLINE_SPEECH), loaded once; None
        when the language has none. A configured model that is missing raises here."""
        return self.recognizers.get(language)

    @property
    def parallel_reads(self) -> bool:
        """Whether units of work in two threads can read at once (see `parallel_reads`)."""
        return parallel_reads(self.session_factory)

    def uow(self) -> UnitOfWork:
        """A unit of work whose committed outbox rows are handed to the SMS job and whose
        domain events reach the subscribers."""
        send = on_sms_queued(partial(self.jobs.enqueue, "sms", SEND_SMS_JOB))
        return UnitOfWork(self.session_factory, (send, *self.subscribers), self.links)


def parallel_reads(session_factory: sessionmaker[Session]) -> bool:
    """Whether units of work in two threads can read at once, each on a connection of its
    own: not on SQLite (every transaction there takes the write lock first), nor when the
    sessions are bound to one shared connection (as tests bind them)."""
    bind = session_factory.kw.get("bind")
    return isinstance(bind, Engine) and bind.dialect.name != "sqlite"


def case_links(settings: Settings) -> CaseLinks | None:
    """The signed links of assignment SMS: only with a public address to point at, and
    not when HOTLINE_LINK_DAYS is 0."""
    if not settings.public_base_url or settings.link_days == 0:
        return None
    return CaseLinks(
        settings.public_base_url, settings.secret_key, timedelta(days=settings.link_days)
    )


def make_engine(url: str, pool: DatabasePool | None = None) -> Engine:
    """An engine tuned for the backend: SQLite gets a lock timeout and foreign keys, a
    server database the pool sizes of HOTLINE_DB_POOL_SIZE and HOTLINE_DB_MAX_OVERFLOW."""
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
    pool = pool or DatabasePool()
    return create_engine(
        url,
        pool_size=pool.size,
        max_overflow=pool.overflow,
        pool_timeout=pool.timeout,
        pool_pre_ping=True,
    )


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
    subscribers: Sequence[Subscriber] = (),
) -> Services:
    """Build every service; tests pass their own pieces for what they control."""
    settings = settings or Settings.from_env()
    if settings.database_url.startswith("sqlite:///"):
        Path(settings.database_url.removeprefix("sqlite:///")).parent.mkdir(
            parents=True, exist_ok=True
        )
    engine = engine or make_engine(settings.database_url, settings.db_pool)
    session_factory = session_factory or sessionmaker(engine, expire_on_commit=False)
    redis = Redis.from_url(settings.redis_url) if settings.redis_url else None
    if jobs is None:
        jobs = RqJobQueue(redis) if redis is not None else InProcessJobQueue()
    services = Services(
        settings=settings,
        engine=engine,
        session_factory=session_factory,
        jobs=jobs,
        sms=sms or _sms_sender(settings),
        flows=load_flows(settings.flows_dir, FLOW_VOCABULARY),
        call_states=RedisCallStates(redis) if redis is not None else DatabaseCallStates(),
        exchange=RedisSpeechExchange(redis) if redis is not None else MemorySpeechExchange(),
        files=FileStore(settings.files_dir),
        step_grammars=StepGrammars(session_factory),
        recognizers=Recognizers(settings.speech),
        places=PlaceIndex(),
        figures=FigureCache(background=parallel_reads(session_factory)),
        clock=clock,
        redis=redis,
        links=case_links(settings),
        subscribers=(metrics.count_event, logs.note_case, *subscribers),
    )
    if isinstance(jobs, InProcessJobQueue):
        jobs.services = services  # its jobs run here, on these services
    return services
