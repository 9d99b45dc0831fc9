"""The one place where what a client sends is checked before any view sees it.

Fuzzing found 368 server errors (issue 12), all from values the database refuses: a NUL
byte in any text (PostgreSQL text cannot hold one), text longer than its column, and ids
past PostgreSQL's `integer`. Rather than guard each view, `install(app)` adds three checks
at the edge, so a new route is covered without remembering anything:

- Every query, form and path value (and uploaded file name) is refused with 400 when it
  holds a NUL byte or a lone surrogate half: no person types either, and neither can be
  stored. Refused, not cleaned, because silently changing what was sent would store
  something nobody said, and a Twilio signature covers the exact bytes anyway. (Werkzeug
  decodes invalid UTF-8, a surrogate's bytes included, to U+FFFD, so a surrogate half
  reaches us only if that ever changes; the check costs nothing.)
- The `int` URL converter matches only 0..2^31-1, so `/attachments/2147483648` is a 404
  like any other id that names nothing; `query_id` does the same for ids in a query string
  (a 400 there, since the page itself exists).
- Twilio's webhook fields have published, fixed sizes (34-character SIDs, E.164 numbers of
  at most 16 characters, one-word statuses), so a longer value is not Twilio's: it is
  refused with 400 rather than truncated, which would make two different SIDs equal. The
  limits are the columns the values are stored in, read from the models, so they cannot
  drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from flask import Flask, abort, request
from sqlalchemy import Column, String
from werkzeug.routing import IntegerConverter, Map

from ticketing.models.calls import Call
from ticketing.models.cases import Ticket
from ticketing.models.sms import SmsMessage

DB_INT_MAX = 2**31 - 1  # PostgreSQL's `integer`, the type of every id column
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _length(*columns: Any) -> int:
    """The shortest of the columns a webhook field is stored in."""
    lengths = []
    for attribute in columns:
        column: Column[Any] = attribute.property.columns[0]
        kind = column.type
        if not isinstance(kind, String) or kind.length is None:
            raise TypeError(f"{column} has no length")
        lengths.append(kind.length)
    return min(lengths)


# Twilio's fields by name, for every /twilio/ webhook; a caller's number becomes the
# case's caller_phone too, so it is bounded by the shortest of those columns.
TWILIO_FIELD_LIMITS: Mapping[str, int] = {
    "CallSid": _length(Call.call_sid),
    "MessageSid": _length(SmsMessage.provider_sid),
    "SmsSid": _length(SmsMessage.provider_sid),
    "From": _length(Call.from_number, SmsMessage.from_number, Ticket.caller_phone),
    "To": _length(Call.to_number, SmsMessage.to_number),
    "CallStatus": _length(Call.status),
    "RecordingSid": _length(Ticket.recording_sid),
    "RecordingUrl": _length(Ticket.recording_url),
    "RecordingStatus": _length(Ticket.recording_status),
    "MessageStatus": 20,  # Twilio's longest is "partially_delivered" (19)
    "ErrorCode": _length(SmsMessage.error),
}


class DatabaseIdConverter(IntegerConverter):
    """`<int:...>` that matches only what an id column can hold (0..2^31-1); anything
    larger names no row, so it is a 404 instead of an overflow in the database."""

    def __init__(  # werkzeug's own parameter names
        self,
        map: Map,
        fixed_digits: int = 0,
        min: int | None = 0,
        max: int | None = DB_INT_MAX,
        signed: bool = False,
    ) -> None:
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def query_id(name: str) -> int | None:
    """The query parameter `name` as a row id (1..2^31-1), None when absent; 400 naming
    the parameter when it is anything else."""
    value = request.args.get(name)
    if value is None or value == "":
        return None
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= DB_INT_MAX:
        abort(400, f"{name} must be an id from 1 to {DB_INT_MAX}, not {value[:20]!r}")
    return int(value)


def install_converters(app: Flask) -> None:
    """Before any blueprint is registered: the converter is looked up as rules are added."""
    app.url_map.converters["int"] = DatabaseIdConverter


def install(app: Flask) -> None:
    """Check every request's values; after the body-size check, so nothing big is parsed."""
    app.before_request(check_request)


def check_request() -> None:
    """Refuse (400, naming the field) a value no column could store."""
    where: list[tuple[str, Iterable[tuple[str, str]]]] = [
        ("query parameter", request.args.items(multi=True)),
        ("path", ((k, str(v)) for k, v in (request.view_args or {}).items())),
    ]
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        where.append(("field", request.form.items(multi=True)))
        files = request.files.items(multi=True)
        where.append(("file name", ((k, f.filename or "") for k, f in files)))
    for kind, pairs in where:
        for key, value in pairs:
            _check_text(kind, key, value)
    if request.path.startswith("/twilio/"):
        for key, limit in TWILIO_FIELD_LIMITS.items():
            sent = request.form.get(key)
            if sent is not None and len(sent) > limit:
                abort(400, f"field {key} is longer than {limit} characters")


def _check_text(kind: str, key: str, value: str) -> None:
    for text in (key, value):
        found = _UNSTORABLE.search(text)
        if found is not None:
            what = "a NUL byte" if found.group() == "\x00" else "a lone surrogate"
            abort(400, f"{kind} {key[:40]!r} holds {what}, which cannot be stored")
