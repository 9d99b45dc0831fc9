"""gunicorn's settings for the hotline's web process (`gunicorn -c deploy/gunicorn.conf.py
wsgi:app`), read from the environment so every host runs the same file."""

import os

bind = os.environ.get("HOTLINE_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("HOTLINE_WEB_WORKERS", "4"))
worker_class = "gthread"
threads = int(os.environ.get("HOTLINE_WEB_THREADS", "8"))
# Twilio gives a webhook 15 s; a request still running after 30 s is stuck, not slow.
timeout = 30
graceful_timeout = 20
