"""Readiness: whether this process can serve a call now, dependency by dependency.

`/healthz` says the process lives (a load balancer restarts it otherwise); `/readyz` says
whether to send it traffic: the database answers, its schema is at the newest migration
(a host started before `hotline db upgrade` would write to columns that are not there),
Redis answers when configured, and every configured speech model is on disk.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from hotline.storage import schema

if TYPE_CHECKING:
    from hotline.bootstrap import Services


@dataclass(frozen=True)
class Check:
    ok: bool
    detail: str


@cache
def _head() -> str | None:
    """The newest migration this code ships: read from disk once a process, not on every
    probe (a load balancer asks every few seconds)."""
    return ScriptDirectory(str(schema.SCRIPTS)).get_current_head()


def _database(services: Services) -> tuple[Check, Check]:
    want = _head()
    try:
        # Through a session, as every request reads: on the pool in production, on the
        # connection a test binds its sessions to.
        with services.session_factory() as session:
            current = MigrationContext.configure(session.connection()).get_current_revision()
    except SQLAlchemyError as exc:
        reason = f"unreachable: {type(getattr(exc, 'orig', None) or exc).__name__}"
        return Check(False, reason), Check(False, "unknown: the database is unreachable")
    migrations = (
        Check(True, f"at head {want}")
        if current == want
        else Check(False, f"at {current or 'nothing'}, head is {want}: run `hotline db upgrade`")
    )
    return Check(True, "answers"), migrations


def _redis(services: Services) -> Check:
    if services.redis is None:
        return Check(True, "not configured: jobs run in-process")
    try:
        services.redis.ping()
    except RedisError as exc:
        return Check(False, f"unreachable: {type(exc).__name__}")
    return Check(True, "answers")


def _speech(services: Services) -> Check:
    missing = services.recognizers.missing()
    if missing:
        return Check(False, "; ".join(f"{lang}: {why}" for lang, why in sorted(missing.items())))
    return Check(True, "every configured model is on disk")


def readiness(services: Services) -> dict[str, Check]:
    """Each dependency's check, in the order an operator reads them."""
    database, migrations = _database(services)
    return {
        "database": database,
        "migrations": migrations,
        "redis": _redis(services),
        "speech_models": _speech(services),
    }
