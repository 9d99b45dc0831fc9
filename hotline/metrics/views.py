"""The web app's part: `/metrics`, and the timing of every request by its route."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from flask import Flask, Response, abort, g, request
from prometheus_client import CONTENT_TYPE_LATEST
from rq import Queue

from hotline.metrics import record
from hotline.metrics.collector import StateCollector
from hotline.metrics.exposition import allowed, allowed_networks, scrape

if TYPE_CHECKING:
    from hotline.bootstrap import Services

# A request that came through a proxy: from outside, though the proxy's address is ours.
FORWARDED = ("X-Forwarded-For", "Forwarded", "X-Real-Ip")


def install(app: Flask, services: Services, queues: Mapping[str, Queue]) -> None:
    """Time every request, and serve `/metrics` to the allowed networks only, with the
    depths of `queues` (the rq queues the app enqueues into; none embedded)."""
    networks = allowed_networks()
    state = StateCollector(services, queues)

    def metrics() -> Response:
        if any(h in request.headers for h in FORWARDED) or not allowed(
            request.remote_addr, networks
        ):
            abort(403, "metrics are not served to this address")
        return Response(scrape(state), content_type=CONTENT_TYPE_LATEST)

    app.add_url_rule("/metrics", "metrics", metrics, methods=["GET"])
    app.before_request_funcs.setdefault(None, []).insert(0, _start)
    app.after_request(_observe)


def _start() -> None:
    g.metrics_started = time.perf_counter()


def _observe(response: Response) -> Response:
    started = g.pop("metrics_started", None)
    if started is not None:
        # The route's name, never the path: /twilio/voice/step/3 and /step/4 are one series.
        endpoint = request.url_rule.endpoint if request.url_rule else "unmatched"
        record.observe_request(endpoint, response.status_code, time.perf_counter() - started)
    return response
