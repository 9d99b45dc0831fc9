"""Bad input is refused at the edge with a 4xx, never a 500 (issue 12's fuzz findings).

Each test is one finding of the fuzzing run: a NUL byte in a text field, text longer than
its column, an id past the database's integer range. The webhooks are signed as Twilio
signs them; the console is logged in through its real form with a valid CSRF token.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import quote_from_bytes

import pytest
from flask import Flask
from flask import request as flask_request
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from twilio.request_validator import RequestValidator
from werkzeug.routing import IntegerConverter, Rule

from hotline.bootstrap import Services
from hotline.simulator.caller import Simulator
from hotline.web.inputs import TWILIO_FIELD_LIMITS
from tests.conftest import PUBLIC_BASE_URL, TEST_TOKEN
from tests.hotline.console.conftest import ROLES, Login, console_users, csrf_token, login, post
from tests.hotline.web.conftest import SUMMARY
from ticketing.models.cases import Ticket
from ticketing.models.catalogue import Category

pytestmark = pytest.mark.functional
__all__ = ["console_users", "login"]  # the console's fixtures, used here too

BIG_ID = 2**31  # one past PostgreSQL's integer


def _sms(**fields: str) -> dict[str, str]:
    base = {"MessageSid": "SM" + "1" * 32, "From": "+8613800138000", "To": "+8637112345"}
    return {**base, "Body": "hello", **fields}


def _call(**fields: str) -> dict[str, str]:
    base = {"CallSid": "CA" + "2" * 32, "From": "+8613800138000", "To": "+8637112345"}
    return {**base, **fields}


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def test_a_nul_byte_in_an_sms_body_is_refused(simulator: Simulator) -> None:
    answer = simulator.send("POST", "/twilio/sms/incoming", _sms(Body="A\x00"))
    assert answer.status == 400
    assert "NUL" in answer.body


@pytest.mark.parametrize("path", ["/twilio/voice/incoming", "/twilio/voice/step/2"])
def test_a_nul_byte_in_a_callers_number_is_refused(simulator: Simulator, path: str) -> None:
    answer = simulator.send("POST", path, _call(From="+86\x00"))
    assert answer.status == 400
    assert "From" in answer.body


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        ("/twilio/sms/incoming", _sms(From="+" + "1" * 40)),
        ("/twilio/sms/incoming", _sms(MessageSid="SM" + "1" * 63)),
        ("/twilio/voice/status", _call(CallStatus="c" * 21)),
        (
            "/twilio/voice/recording-status",
            _call(
                RecordingSid="RE" + "3" * 63,
                RecordingUrl="https://api.twilio.com/r",
                RecordingStatus="completed",
            ),
        ),
        (
            "/twilio/voice/recording-status",
            _call(
                RecordingSid="RE" + "3" * 32,
                RecordingUrl="https://api.twilio.com/" + "r" * 500,
                RecordingStatus="completed",
            ),
        ),
        (
            "/twilio/voice/recording-status",
            _call(
                RecordingSid="RE" + "3" * 32,
                RecordingUrl="https://api.twilio.com/r",
                RecordingStatus="s" * 21,
            ),
        ),
    ],
)
def test_a_field_longer_than_its_column_is_refused(
    simulator: Simulator, path: str, fields: dict[str, str]
) -> None:
    answer = simulator.send("POST", path, fields)
    assert answer.status == 400, answer.body
    assert "longer than" in answer.body


def test_a_nul_byte_in_a_queue_filter_is_refused(client: FlaskClient, login: Login) -> None:
    login(client, "agent")
    answer = client.get("/console/queue?category=%00")
    assert answer.status_code == 400
    assert "NUL" in answer.get_data(as_text=True)


def test_a_nul_byte_in_an_admin_form_is_refused(
    client: FlaskClient, login: Login, services: Services
) -> None:
    with services.uow() as uow:
        code = uow.session.scalars(select(Category.code).limit(1)).one()
    login(client, "admin")
    answer = post(client, f"/console/admin/categories/{code}", {"name_en": "Lamp\x00"})
    assert answer.status_code == 400
    assert "NUL" in answer.get_data(as_text=True)


def test_an_attachment_id_past_the_integer_range_is_not_found(
    client: FlaskClient, login: Login, services: Services
) -> None:
    with services.uow() as uow:
        number = uow.session.scalars(select(Ticket.number).limit(1)).first() or "X"
    login(client, "supervisor")
    assert client.get(f"/console/cases/{number}/attachments/{BIG_ID}").status_code == 404


def test_an_audit_page_before_an_id_past_the_integer_range_is_refused(
    client: FlaskClient, login: Login
) -> None:
    login(client, "admin")
    assert client.get(f"/console/admin/audit?before={BIG_ID}").status_code == 400
    assert client.get("/console/admin/audit?before=-1").status_code == 400


def test_removing_a_shift_past_the_integer_range_is_not_found(
    client: FlaskClient, login: Login
) -> None:
    login(client, "admin")
    answer = post(client, f"/console/admin/staff/GM0001/shifts/{BIG_ID}/remove")
    assert answer.status_code == 404


# The fuzz test: every route of the app, GET and POST, with malformed values.

NASTY: tuple[bytes, ...] = (
    b"\x00",
    b"A\x00",
    "\ud800".encode("utf-8", "surrogatepass"),  # a lone surrogate half, as UTF-8 bytes
    b"\xed\xb0\x80x",
    b"\xff\xfe\xfd",
    b"-1",
    b"0",
    b"2147483648",
    b"9223372036854775808",
    b"18446744073709551616",
    b"-9223372036854775809",
    b"1e999",
    b"nan",
    b"",
    b"   ",
    b"x" * 100_000,
    "長".encode() * 30_000,
    b"[]",
    b"{}",
    b"null",
    b"../../../etc/passwd",
    b"<script>alert(1)</script>",
    b"%00",
    b"\r\nX-Injected: 1",
)
IDS = ("0", "1", "2", "-1", "2147483647", "2147483648", "9223372036854775808", "1" * 40)
TWILIO_FIELDS = (
    *TWILIO_FIELD_LIMITS,
    "Digits",
    "Body",
    "RecordingDuration",
    "SpeechResult",
    "Confidence",
    "NumMedia",
    "AccountSid",
)
# The console's form fields, as its views read them (request.form / form_value / values).
CONSOLE_FIELDS = (
    *["accept", "active", "calendar", "caller_phone", "category", "code", "confirm_password"],
    *["current_password", "day", "department", "description", "end", "first_day", "into", "kind"],
    *[
        "language",
        "last_day",
        "lat",
        "lon",
        "name",
        "name_en",
        "name_zh",
        "new_password",
        "next",
        "note",
    ],
    *["password", "phone", "place_id", "priority", "reason", "resolve", "source", "staff", "start"],
    *[
        "username",
        "weekday",
        "q",
        "status",
        "before",
        "since",
        "fragment",
        "done",
        "south",
        "west",
        "north",
        "east",
    ],
)
SIGNED = ("/twilio/", "/api/")  # the routes Twilio calls, signed as it signs them
CALL_SIDS = tuple(f"CA{n:032d}" for n in range(3))  # a few calls, so steps find them
TWILIO_BASE: dict[str, bytes] = {
    "AccountSid": b"AC" + b"0" * 32,
    "From": b"+8613800138000",
    "To": b"+8637112345",
    "Digits": b"1",
    "CallStatus": b"in-progress",
    "MessageSid": b"SM" + b"1" * 32,
    "Body": b"hello",
    "MessageStatus": b"delivered",
    "RecordingSid": b"RE" + b"3" * 32,
    "RecordingStatus": b"completed",
}
# Routes the fuzzer leaves alone: logging out would end the role's session for the rest;
# /healthz reads nothing sent and opens a connection of its own, which on SQLite waits
# for the test's open transaction (seconds a request).
SKIPPED = {"console.logout", "api.health"}


def _no_web_address(value: bytes) -> bool:
    """Nothing the fuzzer sends may make the server fetch from the internet (a recording's
    https address): only loopback is allowed in tests."""
    return b"http" not in re.sub(rb"[\x00-\x20]", b"", value).lower()


VALUES = st.one_of(
    st.sampled_from(NASTY),
    st.binary(max_size=40),
    st.text(max_size=40).map(str.encode),
    st.integers(min_value=-(2**70), max_value=2**70).map(lambda n: str(n).encode()),
).filter(_no_web_address)


@dataclass
class Fuzzer:
    """Sends one drawn request after another and keeps the figures."""

    app: Flask
    clients: dict[str, FlaskClient]
    good: dict[str, list[str]]  # real values of path arguments, to get past the lookups
    validator: RequestValidator = field(default_factory=lambda: RequestValidator(TEST_TOKEN))
    sent: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def path_for(self, data: st.DataObject, rule: Rule) -> str:
        parts = {}
        for name in rule.arguments:
            converter = rule._converters[name]  # werkzeug keeps them there
            if isinstance(converter, IntegerConverter):
                parts[name] = data.draw(st.sampled_from(IDS))
                continue
            good = self.good.get(name, [])
            raw = data.draw(st.one_of(st.sampled_from(good), VALUES) if good else VALUES)
            parts[name] = raw if isinstance(raw, str) else quote_from_bytes(raw, safe="")
            if not parts[name]:
                parts[name] = "x"
        path = rule.rule
        for name, value in parts.items():
            path = re.sub(rf"<(?:[a-z]+:)?{name}>", value.replace("\\", "\\\\"), path)
        return path

    def fields(self, data: st.DataObject, names: tuple[str, ...]) -> list[tuple[str, bytes]]:
        chosen = data.draw(st.lists(st.sampled_from(names), max_size=6, unique=True))
        return [(name, data.draw(VALUES)) for name in chosen]

    def twilio_fields(self, data: st.DataObject) -> list[tuple[str, bytes]]:
        """A webhook Twilio could send, then a few fields dropped or made malformed, so the
        requests get past `missing field` into the services."""
        form = {**TWILIO_BASE, "CallSid": data.draw(st.sampled_from(CALL_SIDS)).encode()}
        for name in data.draw(st.lists(st.sampled_from(TWILIO_FIELDS), max_size=3, unique=True)):
            if data.draw(st.booleans()):
                form[name] = data.draw(VALUES)
            else:
                form.pop(name, None)
        return list(form.items())

    def send(self, data: st.DataObject, rule: Rule, method: str, who: str) -> None:
        twilio = rule.rule.startswith(SIGNED)
        path = self.path_for(data, rule)
        query = urlencode(self.fields(data, CONSOLE_FIELDS[-12:]) if not twilio else [])
        form = self.twilio_fields(data) if twilio else self.fields(data, CONSOLE_FIELDS)
        client = self.clients["twilio" if twilio else who]
        if not twilio and method == "POST":
            form.append(("csrf_token", csrf_token(client).encode()))
        as_json = data.draw(st.booleans()) and data.draw(st.booleans())  # a wrong body type
        body = (
            json.dumps({k: v.decode(errors="replace") for k, v in form})
            if as_json
            else urlencode(form)
        )
        kind = "application/json" if as_json else "application/x-www-form-urlencoded"
        target = f"{path}?{query}" if query else path
        headers = {}
        if twilio:
            headers["X-Twilio-Signature"] = self._signature(target, method, body, kind)
        answer = client.open(target, method=method, data=body, content_type=kind, headers=headers)
        self.sent += 1
        self.statuses[answer.status_code] += 1
        if answer.status_code >= 500:
            self.failures.append(f"{method} {target[:200]} as {who}: {answer.status_code}")

    def _signature(self, target: str, method: str, body: str, kind: str) -> str:
        """Sign what the server will read, as Twilio signs it (the decoded form)."""
        with self.app.test_request_context(
            target, method=method, data=body, content_type=kind, base_url=PUBLIC_BASE_URL
        ):
            query = flask_request.query_string.decode()
            url = f"{PUBLIC_BASE_URL}{flask_request.path}" + (f"?{query}" if query else "")
            return str(self.validator.compute_signature(url, flask_request.form))


def urlencode(pairs: list[tuple[str, bytes]]) -> str:
    """Percent-encode raw bytes, so invalid UTF-8 and surrogate halves reach the server."""
    return "&".join(f"{quote_from_bytes(k.encode())}={quote_from_bytes(v)}" for k, v in pairs)


@pytest.fixture
def fuzzer(app: Flask, login: Login, services: Services) -> Fuzzer:
    clients = {"anonymous": app.test_client(), "twilio": app.test_client()}
    for role in ROLES:
        clients[role] = login(app.test_client(), role)
    with services.uow() as uow:
        numbers = list(uow.session.scalars(select(Ticket.number).limit(3)))
        codes = list(uow.session.scalars(select(Category.code).limit(3)))
    good = {
        "number": numbers,
        "code": codes,
        "employee_no": ["GM0001", "GM0002"],
        "name": ["assign", "note", "resolve", "reopen", "transfer", "volume", "sla"],
        "call_sid": ["CA" + "2" * 32],
        "filename": ["app.js", "style.css"],
    }
    return Fuzzer(app, clients, {k: v for k, v in good.items() if v})


def _rules(app: Flask, twilio: bool) -> list[Rule]:
    return [
        rule
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(SIGNED) == twilio and rule.endpoint not in SKIPPED
    ]


def _run(fuzzer: Fuzzer, caplog: pytest.LogCaptureFixture, twilio: bool, examples: int) -> None:
    rules = _rules(fuzzer.app, twilio)
    who = ("twilio",) if twilio else ("anonymous", *ROLES)

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(data=st.data())
    def every_route(data: st.DataObject) -> None:
        for rule in rules:
            for method in ("GET", "POST"):
                fuzzer.send(data, rule, method, data.draw(st.sampled_from(who)))

    caplog.set_level(logging.WARNING)
    every_route()
    tracebacks = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    kind = "webhook" if twilio else "console"
    SUMMARY.append(
        f"fuzz ({kind}): {fuzzer.sent} requests, {len(fuzzer.failures)} server errors, "
        f"{len(tracebacks)} ERROR or traceback lines logged; "
        f"answers {dict(sorted(fuzzer.statuses.items()))}"
    )
    assert fuzzer.failures == []
    assert [r.getMessage() for r in tracebacks] == []


def test_no_webhook_input_makes_a_server_error(
    fuzzer: Fuzzer, caplog: pytest.LogCaptureFixture
) -> None:
    _run(fuzzer, caplog, twilio=True, examples=60)


def test_no_console_input_makes_a_server_error(
    fuzzer: Fuzzer, caplog: pytest.LogCaptureFixture
) -> None:
    _run(fuzzer, caplog, twilio=False, examples=10)
