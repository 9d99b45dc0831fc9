"""HTML error pages for the console, JSON for the machine interfaces; never a trace.

The app's JSON handlers (hotline/app.py) stay in charge of Twilio's webhooks and the API;
the console's handlers wrap them and answer everything else with a page in the console's
layout. The 500 page says only that something went wrong: the trace goes to the log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, request
from flask import render_template as _render
from markupsafe import escape
from werkzeug.exceptions import HTTPException

from ticketing.exceptions import (
    DomainError,
    InvalidInput,
    InvalidTransition,
    NotFound,
    NotPermitted,
)

log = logging.getLogger(__name__)

JSON_PREFIXES = ("/twilio/", "/api/", "/healthz", "/metrics")
TITLES = {
    400: "The request could not be used",
    401: "Please log in",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed here",
    409: "That cannot be done now",
    413: "Too large",
    429: "Too many requests",
    500: "Something went wrong",
}
GENERIC_500 = (
    "The server could not finish this request. Nothing is shown here on purpose; the "
    "details are in the server log. Try again, or tell an administrator the time it happened."
)
_DOMAIN_CODES: tuple[tuple[type[DomainError], int], ...] = (
    (NotFound, 404),
    (NotPermitted, 403),
    (InvalidInput, 400),
    (InvalidTransition, 409),
)

Handler = Callable[[Any], Any]


def wants_json() -> bool:
    """Machine clients (webhooks, the API, an Accept of JSON only) get JSON errors."""
    if request.path.startswith(JSON_PREFIXES):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and not request.accept_mimetypes.accept_html


def error_page(code: int, message: str, title: str | None = None) -> tuple[str, int]:
    """The console's error page; if even that fails, a bare page (still no trace)."""
    title = title or TITLES.get(code, "Error")
    try:
        return _render("console/error.html", code=code, title=title, message=message), code
    except Exception:
        log.exception("the error page itself failed")
        return f"<!doctype html><title>{code}</title><h1>{escape(title)}</h1>", code


def install_error_pages(app: Flask) -> None:
    """Wrap the app's JSON error handlers: JSON for machines, HTML pages for people."""
    registered = app.error_handler_spec[None][None]
    json_http: Handler | None = registered.get(HTTPException)
    json_domain: Handler | None = registered.get(DomainError)

    def http_error(exc: HTTPException) -> Any:
        if wants_json() and json_http is not None:
            return json_http(exc)
        code = exc.code or 500
        message = GENERIC_500 if code >= 500 else (exc.description or "")
        return error_page(code, message)

    def domain_error(exc: DomainError) -> Any:
        if wants_json() and json_domain is not None:
            return json_domain(exc)
        code = next((c for kind, c in _DOMAIN_CODES if isinstance(exc, kind)), 400)
        return error_page(code, str(exc))

    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(DomainError, domain_error)
