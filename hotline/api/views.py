"""A small read-only JSON API: health, a case by its number, the case a call opened.

Until department tokens arrive, reads are signed like webhooks (the simulator and
operators sign with the webhook key): case data names staff and must not be public.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask import Blueprint
from sqlalchemy import text

from hotline.web.context import app_services
from hotline.web.readiness import readiness
from hotline.web.signatures import twilio_signed
from ticketing.cases import intake

bp = Blueprint("api", __name__)


@bp.get("/healthz")
def health() -> dict[str, Any]:
    services = app_services()
    with services.engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    return {"status": "ok"}


@bp.get("/readyz")
def ready() -> tuple[dict[str, Any], int]:
    """200 when every dependency is ready, else 503; each check says what it found."""
    checks = readiness(app_services())
    ok = all(check.ok for check in checks.values())
    body = {
        "status": "ready" if ok else "not_ready",
        "checks": {name: {"ok": c.ok, "detail": c.detail} for name, c in checks.items()},
    }
    return body, 200 if ok else 503


@bp.get("/api/cases/<number>")
@twilio_signed
def case(number: str) -> dict[str, Any]:
    services = app_services()
    with services.uow() as uow:
        return asdict(intake.get_case(uow, number))


@bp.get("/api/calls/<call_sid>")
@twilio_signed
def call(call_sid: str) -> dict[str, Any]:
    services = app_services()
    with services.uow() as uow:
        return asdict(intake.get_call(uow, call_sid))
