"""Log lines that say which request, call and case they belong to, as text or as JSON.

Every process (web, worker, media server, CLI) logs through `configure_logging`:
HOTLINE_LOG_FORMAT picks `text` (the default, for a person at a terminal) or `json` (one
object a line, for a log shipper). Three context variables travel with the work:
`request_id` (the proxy's X-Request-Id, else one made here), `call_sid` (Twilio's CallSid)
and `case_number`. A filter on our handler copies them onto every record, so a line logged
deep inside a service carries them without anyone passing them down. Context variables
rather than thread-locals, because each media stream is an asyncio task with its own copy.

A request or a job opens a `scope`, and everything bound inside it is undone when it ends,
so nothing leaks into the next request a thread serves or the next job a worker runs.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from typing import Any, TextIO

from ticketing.unit_of_work import CaseEvent, DomainEvent

FORMATS = ("text", "json")
FIELDS = ("request_id", "call_sid", "case_number")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_VARS: dict[str, ContextVar[str | None]] = {
    name: ContextVar(f"hotline_log_{name}", default=None) for name in FIELDS
}
_scoped: ContextVar[bool] = ContextVar("hotline_log_scoped", default=False)
# What a proxy may hand us as a request id: no spaces or line breaks to forge log lines.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")

Scope = list[Token[Any]]


def log_format(value: str | None = None, env: Mapping[str, str] | None = None) -> str:
    """The format asked for (else HOTLINE_LOG_FORMAT, else text); a clear error for a typo."""
    env = os.environ if env is None else env
    chosen = (value or env.get("HOTLINE_LOG_FORMAT") or "text").strip().lower()
    if chosen not in FORMATS:
        raise ValueError(f"HOTLINE_LOG_FORMAT must be text or json, not {chosen!r}")
    return chosen


def request_id(offered: str | None) -> str:
    """The proxy's request id when it is a plain token, else a new one."""
    if offered and _REQUEST_ID.fullmatch(offered):
        return offered
    return uuid.uuid4().hex


def current() -> dict[str, str | None]:
    """The request id, CallSid and case number the next log line would carry."""
    return {name: var.get() for name, var in _VARS.items()}


def open_scope(**values: str | None) -> Scope:
    """Start a scope: the given values, the others as they are now; `close_scope` undoes
    it and whatever `bind` set inside it (for hooks that cannot wrap a block)."""
    unknown = set(values) - set(FIELDS)
    if unknown:
        raise TypeError(f"unknown log fields {sorted(unknown)}")
    merged = {**current(), **values}
    tokens: Scope = [var.set(merged[name]) for name, var in _VARS.items()]
    tokens.append(_scoped.set(True))
    return tokens


def close_scope(tokens: Scope) -> None:
    for token in reversed(tokens):
        token.var.reset(token)


@contextmanager
def scope(**values: str | None) -> Iterator[None]:
    """Records logged inside the block carry these values; after it, all is as before."""
    tokens = open_scope(**values)
    try:
        yield
    finally:
        close_scope(tokens)


def bind(**values: str | None) -> None:
    """Carry these values (the empty ones are ignored) from here to the end of the scope:
    a webhook learns the CallSid, a call step the case it opened."""
    for name, value in values.items():
        if name not in _VARS:
            raise TypeError(f"unknown log field {name!r}")
        if value:
            _VARS[name].set(value)


def note_case(happened: DomainEvent) -> None:
    """A subscriber: the first case a request or job committed a change to names its later
    lines. Outside a scope (a bare thread, the sweep's timer) it does nothing, since no
    scope would ever undo it."""
    if isinstance(happened, CaseEvent) and _scoped.get() and not _VARS["case_number"].get():
        _VARS["case_number"].set(happened.case_number)


class ContextFilter(logging.Filter):
    """Copies the context variables onto each record (an explicit `extra=` wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in _VARS.items():
            if not hasattr(record, name):
                setattr(record, name, var.get())
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line; the three context fields are always there (null if unknown)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        entry.update({name: getattr(record, name, None) for name in FIELDS})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """The classic line, with the context that is known appended in brackets."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        known = [f"{n}={getattr(record, n)}" for n in FIELDS if getattr(record, n, None)]
        return f"{line} [{' '.join(known)}]" if known else line


class LogHandler(logging.Handler):
    """The one handler on the root logger: the context filter, the chosen format, and
    stderr as it is at each write (test runners and daemons replace sys.stderr)."""

    def __init__(self, fmt: str = "text", stream: TextIO | None = None) -> None:
        super().__init__()
        self._stream = stream
        self.addFilter(ContextFilter())
        self.setFormatter(JsonFormatter() if log_format(fmt) == "json" else TextFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stream = self._stream or sys.stderr
            stream.write(self.format(record) + "\n")
            stream.flush()
        except Exception:
            self.handleError(record)


def configure_logging(
    fmt: str | None = None, *, force: bool = False, stream: TextIO | None = None
) -> bool:
    """Log at INFO through one `LogHandler` on the root logger, in `fmt` (else
    HOTLINE_LOG_FORMAT). Like `logging.basicConfig`, it leaves a root logger that
    something else configured alone (a test runner, a host embedding the app) and returns
    False, unless `force`; it replaces a handler of ours, so calling it twice is safe."""
    chosen = log_format(fmt)
    root = logging.getLogger()
    if not force and any(not isinstance(h, LogHandler) for h in root.handlers):
        return False
    for handler in [h for h in root.handlers if isinstance(h, LogHandler)]:
        root.removeHandler(handler)
    root.addHandler(LogHandler(chosen, stream))
    root.setLevel(logging.INFO)
    return True


def gunicorn_logconfig(fmt: str | None = None) -> dict[str, Any]:
    """gunicorn's `logconfig_dict`: its own messages through our handler in our format,
    and no access log (request timings are in the metrics; the proxy logs requests)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "root": {"level": "INFO", "handlers": ["hotline"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
            "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": False},
        },
        "handlers": {"hotline": {"()": "hotline.logs.LogHandler", "fmt": log_format(fmt)}},
        "formatters": {},
    }
