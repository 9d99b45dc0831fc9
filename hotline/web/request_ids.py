"""Each request's id: taken from the proxy's X-Request-Id (or made), logged with every line
the request writes, and echoed in the response so a caller can quote it."""

from __future__ import annotations

from flask import Flask, Response, g, request

from hotline import logs

HEADER = "X-Request-Id"


def install(app: Flask) -> None:
    """Open a log scope first thing in every request and close it at teardown."""
    app.before_request_funcs.setdefault(None, []).insert(0, _open)
    app.after_request(_echo)
    app.teardown_request(_close)


def _open() -> None:
    # Every field is set afresh: a thread serves one request after another.
    g.log_scope = logs.open_scope(
        request_id=logs.request_id(request.headers.get(HEADER)), call_sid=None, case_number=None
    )


def _echo(response: Response) -> Response:
    found = logs.current()["request_id"]
    if found and "log_scope" in g:
        response.headers[HEADER] = found
    return response


def _close(_exc: BaseException | None) -> None:
    tokens = g.pop("log_scope", None)
    if tokens is not None:
        logs.close_scope(tokens)
