"""Checking that a webhook really comes from Twilio (or from our simulator, signed alike)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import abort, current_app, request
from twilio.request_validator import RequestValidator

from hotline import logs
from hotline.web.context import app_services

F = TypeVar("F", bound=Callable[..., Any])


def public_url() -> str:
    """The URL Twilio signed: the configured public base plus the path and query.

    Behind a proxy the internal URL differs from the one Twilio called, and a signature
    over the wrong URL never matches, so the configured base URL wins when set.
    """
    base = app_services().settings.public_base_url
    if not base:
        return request.url
    query = request.query_string.decode()
    return f"{base}{request.path}" + (f"?{query}" if query else "")


def twilio_signed(view: F) -> F:
    """Refuse (403) any request whose X-Twilio-Signature does not match its URL and form."""

    @wraps(view)
    def checked(*args: Any, **kwargs: Any) -> Any:
        token = app_services().settings.webhook_token
        signature = request.headers.get("X-Twilio-Signature", "")
        if not signature or not RequestValidator(token).validate(
            public_url(), request.form, signature
        ):
            current_app.logger.warning("refused unsigned or forged webhook to %s", request.path)
            abort(403, "invalid X-Twilio-Signature")
        logs.bind(call_sid=request.form.get("CallSid"))  # for every line of a call's webhook
        return view(*args, **kwargs)

    return cast(F, checked)
