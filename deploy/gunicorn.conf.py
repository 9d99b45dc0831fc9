"""gunicorn's settings for the web process: `gunicorn -c deploy/gunicorn.conf.py wsgi:app`.

From the environment (README, "Processes"): HOTLINE_BIND (127.0.0.1:8000), HOTLINE_WEB_WORKERS
(4 processes), HOTLINE_WEB_THREADS (8 threads each, gthread: webhooks wait on the database
and the media server, not on the CPU), HOTLINE_LOG_FORMAT for gunicorn's own lines too.

With PROMETHEUS_MULTIPROC_DIR set (in the environment gunicorn starts with, not from
Python, or the workers would not see it before prometheus_client is imported), every
worker writes its series there and a scrape of /metrics on any worker adds them all up.
The master prunes the files of stopped processes before the first fork, and forgets a
worker's live gauges when it exits (prometheus_client's multiprocess protocol).
"""

from __future__ import annotations

import os
from typing import Any

from hotline import logs


def _whole(name: str, default: int) -> int:
    raw = os.environ.get(name) or str(default)
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{name} must be a whole number of 1 or more, not {raw!r}")
    return int(raw)


bind = os.environ.get("HOTLINE_BIND") or "127.0.0.1:8000"
workers = _whole("HOTLINE_WEB_WORKERS", 4)
worker_class = "gthread"
threads = _whole("HOTLINE_WEB_THREADS", 8)
# Twilio gives up on a webhook after 15 s; a worker silent for twice that is replaced.
timeout = 30
graceful_timeout = 30
# No access log: the proxy logs requests, and their timings are in /metrics.
accesslog = None
logconfig_dict = logs.gunicorn_logconfig()


def on_starting(server: Any) -> None:
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not path:
        return
    os.makedirs(path, exist_ok=True)
    from hotline.metrics.exposition import prune

    removed = prune(path)
    server.log.info("metrics: %d file(s) of stopped processes removed from %s", removed, path)


def child_exit(server: Any, worker: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
