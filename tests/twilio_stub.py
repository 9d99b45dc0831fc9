"""A stand-in for Twilio's REST Messages API on 127.0.0.1, for tests of the real client.

Twilio's servers are unreachable from our machines, so tests point twilio-python's own
`Client` at this server (`client.api.base_url`) and the requests still go over HTTP
through twilio's code. It answers `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`
as Twilio does: Basic auth with the account SID and auth token, 201 and a message
resource in JSON, or a Twilio-style JSON error. Use it as a context manager or from a
fixture:

    with TwilioStub(account_sid, auth_token) as stub:
        client = twilio_client(account_sid, auth_token, stub.base_url)

It speaks HTTP/1.1 with keep-alive, as api.twilio.com does, and can answer after a fixed
delay (`latency_s`) standing in for Twilio's own time on a create. Benchmarks run it as a
process of its own: `python -m tests.twilio_stub --latency-ms 150` prints its base URL.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import re
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlencode

API_VERSION = "2010-04-01"
_MESSAGES_PATH = re.compile(rf"^/{API_VERSION}/Accounts/(?P<account>[^/]+)/Messages\.json$")

# Twilio's error codes for the HTTP statuses a test is likely to ask for.
_ERRORS = {
    400: (21211, "The 'To' number {to} is not a valid phone number."),
    401: (20003, "Authenticate"),
    404: (20404, "The requested resource {path} was not found"),
    429: (20429, "Too Many Requests"),
    500: (20500, "Internal Server Error"),
    503: (20503, "Service Unavailable"),
}
INVALID_TO_NUMBER = 21211


@dataclass(frozen=True)
class StubRequest:
    """One request as the stub saw it, and what it answered."""

    method: str
    path: str
    form: dict[str, str]
    auth: tuple[str, str] | None
    status: int
    sid: str | None  # the message SID answered, None when the request was refused
    client_port: int = 0  # the client's TCP port: requests on one kept-alive connection share it


@dataclass(frozen=True)
class _Failure:
    status: int
    code: int | None
    message: str | None


def twilio_error(status: int, code: int | None = None, message: str = "") -> dict[str, Any]:
    """The JSON body Twilio's REST API answers an error with."""
    default_code, _ = _ERRORS.get(status, (status, ""))
    code = default_code if code is None else code
    return {
        "code": code,
        "message": message or HTTPStatus(status).phrase,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def segments(body: str) -> int:
    """How many SMS segments Twilio bills a body as: GSM-7 for ASCII, else UCS-2."""
    single, multi = (160, 153) if body.isascii() else (70, 67)
    if len(body) <= single:
        return 1
    return -(-len(body) // multi)


def _basic_auth(header: str | None) -> tuple[str, str] | None:
    if not header or not header.startswith("Basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user, password


class _Handler(BaseHTTPRequestHandler):
    server: _StubServer
    server_version = "TwilioStub/1.0"
    # Twilio keeps connections alive; every answer carries its Content-Length.
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without TCP_NODELAY the body would wait for
    # the client's delayed ACK (40 ms) on every request after a connection's first.
    disable_nagle_algorithm = True

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        form = dict(parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True))
        self._answer(*self.server.stub.handle("POST", self.path, form, self._auth(), self._port()))

    def do_GET(self) -> None:
        self._answer(*self.server.stub.handle("GET", self.path, {}, self._auth(), self._port()))

    def _port(self) -> int:
        return int(self.client_address[1])

    def _auth(self) -> tuple[str, str] | None:
        return _basic_auth(self.headers.get("Authorization"))

    def _answer(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        if status == 401:
            self.send_header("WWW-Authenticate", 'Basic realm="Twilio API"')
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet; the stub's `requests` list is the log."""


class _StubServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, stub: TwilioStub) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.stub = stub


class TwilioStub:
    """Twilio's Messages API for one account, on a free port of 127.0.0.1, in a thread."""

    def __init__(
        self, account_sid: str, auth_token: str, latency_s: float = 0.0, *, delivers: bool = False
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        # How long each answer takes, outside the lock: concurrent requests overlap.
        self.latency_s = latency_s
        # As Twilio does once a carrier takes the message: POST `sent`, then `delivered`,
        # signed, to the message's StatusCallback (for tests of the deployed processes).
        self.delivers = delivers
        self.callbacks: list[tuple[str, str, int]] = []  # (URL, MessageStatus, HTTP status)
        self._lock = threading.Lock()
        self._requests: list[StubRequest] = []
        self._failures: list[_Failure] = []
        self._server: _StubServer | None = None
        self._thread: threading.Thread | None = None

    # Lifecycle

    def start(self) -> TwilioStub:
        """Listen on a random free port and serve in a daemon thread."""
        self._server = _StubServer(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="twilio-stub",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> TwilioStub:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """What to give `twilio_client(..., api_base_url=)` in place of api.twilio.com."""
        if self._server is None:
            raise RuntimeError("the Twilio stub is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # What tests tell it and read back

    def fail_next(
        self, count: int = 1, status: int = 500, code: int | None = None, message: str | None = None
    ) -> None:
        """Refuse the next `count` authenticated requests with `status` and a Twilio error.

        `code` defaults to Twilio's for the status (400 gives 21211, "invalid To number");
        `message` may name `{to}` and `{path}`.
        """
        with self._lock:
            self._failures.extend(_Failure(status, code, message) for _ in range(count))

    @property
    def requests(self) -> list[StubRequest]:
        """Every request so far, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def sids(self) -> list[str]:
        """The SIDs of the messages accepted so far, oldest first."""
        return [r.sid for r in self.requests if r.sid is not None]

    def reset(self) -> None:
        """Forget the requests seen and the failures still planned."""
        with self._lock:
            self._requests.clear()
            self._failures.clear()

    # Serving (called on the server's threads)

    def handle(
        self,
        method: str,
        path: str,
        form: dict[str, str],
        auth: tuple[str, str] | None,
        client_port: int = 0,
    ) -> tuple[int, dict[str, Any]]:
        """Answer one request and record it: the (status, JSON body) Twilio would send."""
        if self.latency_s:
            time.sleep(self.latency_s)
        with self._lock:
            status, payload = self._answer(method, path, form, auth)
            sid = payload.get("sid") if status == 201 else None
            self._requests.append(StubRequest(method, path, form, auth, status, sid, client_port))
        if sid and self.delivers and form.get("StatusCallback"):
            threading.Thread(target=self._deliver, args=(form, sid), daemon=True).start()
        return status, payload

    def _deliver(self, form: dict[str, str], sid: str) -> None:
        from twilio.request_validator import RequestValidator

        url = form["StatusCallback"]
        for state in ("sent", "delivered"):
            params = {
                "MessageSid": sid,
                "SmsSid": sid,
                "AccountSid": self.account_sid,
                "From": form.get("From", ""),
                "To": form.get("To", ""),
                "MessageStatus": state,
                "SmsStatus": state,
                "ApiVersion": API_VERSION,
            }
            signature = RequestValidator(self.auth_token).compute_signature(url, params)
            request = urllib.request.Request(  # noqa: S310 - the test's own loopback server
                url,
                data=urlencode(params).encode(),
                headers={"X-Twilio-Signature": signature},
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
                    code = answer.status
            except urllib.error.HTTPError as exc:
                code = exc.code
            except OSError:
                code = 0
            with self._lock:
                self.callbacks.append((url, state, code))

    def _answer(
        self, method: str, path: str, form: dict[str, str], auth: tuple[str, str] | None
    ) -> tuple[int, dict[str, Any]]:
        if auth != (self.account_sid, self.auth_token):
            return 401, twilio_error(401, message="Authenticate")
        match = _MESSAGES_PATH.match(path.split("?", 1)[0])
        if match is None or match["account"] != self.account_sid:
            return 404, twilio_error(404, message=_ERRORS[404][1].format(path=path))
        if method != "POST":
            return 405, twilio_error(405, code=20004, message="Method not allowed")
        if self._failures:
            failure = self._failures.pop(0)
            template = failure.message or _ERRORS.get(failure.status, (0, ""))[1]
            text = template.format(to=form.get("To", ""), path=path)
            return failure.status, twilio_error(failure.status, failure.code, text)
        missing = self._missing_field(form)
        if missing is not None:
            return 400, twilio_error(400, *missing)
        return 201, self._message(form)

    @staticmethod
    def _missing_field(form: dict[str, str]) -> tuple[int, str] | None:
        if not form.get("To"):
            return 21604, "A 'To' phone number is required."
        if not (form.get("From") or form.get("MessagingServiceSid")):
            return 21603, "A 'From' phone number is required."
        if not (form.get("Body") or form.get("MediaUrl")):
            return 21602, "Message body is required."
        return None

    def _message(self, form: dict[str, str]) -> dict[str, Any]:
        """A message resource as Twilio answers a create: accepted, not yet sent."""
        sid = "SM" + uuid.uuid4().hex
        now = format_datetime(datetime.now(UTC))
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}"
        body = form.get("Body", "")
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": body,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "num_media": "0",
            "num_segments": str(segments(body)),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued",
            "subresource_uris": {
                "media": f"{uri}/Media.json",
                "feedback": f"{uri}/Feedback.json",
            },
            "to": form.get("To"),
            "uri": f"{uri}.json",
        }


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until SIGTERM or SIGINT; print the base URL, then one summary line at exit."""
    parser = argparse.ArgumentParser(description="Twilio's Messages API on 127.0.0.1")
    parser.add_argument("--account-sid", default="AC" + "0" * 32)
    parser.add_argument("--auth-token", default="stub-token")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay of every answer")
    args = parser.parse_args(argv)
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    with TwilioStub(args.account_sid, args.auth_token, args.latency_ms / 1000) as stub:
        print(stub.base_url, flush=True)
        stopping.wait()
        requests = stub.requests
    connections = len({r.client_port for r in requests})
    sent = [r for r in requests if r.sid is not None]
    parts = sum(segments(r.form.get("Body", "")) for r in sent)
    summary = f"{len(requests)} requests, {len(sent)} messages ({parts} segments)"
    print(f"{summary}, {connections} connections")
    return 0


if __name__ == "__main__":
    sys.exit(main())
