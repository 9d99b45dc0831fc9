"""The Flask app factory. Importing this module connects to nothing."""

from __future__ import annotations

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from hotline import logs
from hotline.bootstrap import Services, bootstrap
from hotline.jobs.queue import QUEUE_NAMES, RqJobQueue
from hotline.metrics import views as metrics_views
from hotline.settings import Settings
from hotline.web import inputs, request_ids
from hotline.web.context import EXTENSION
from ticketing.exceptions import DomainError, InvalidInput, InvalidTransition, NotFound


def create_app(settings: Settings | None = None, services: Services | None = None) -> Flask:
    """Build the web app on the given services (tests) or on ones made from settings."""
    services = services or bootstrap(settings)
    app = Flask(__name__)
    if services.settings.trusted_proxies:
        # The client's address from X-Forwarded-For, as the trusted proxies appended it
        # (rate limits, the audit log); only that header: the URL Twilio signed comes
        # from PUBLIC_BASE_URL, never from a header a client could send.
        proxies = services.settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies)  # type: ignore[method-assign]
    app.config["SECRET_KEY"] = services.settings.secret_key
    app.extensions[EXTENSION] = services

    from hotline.api import views
    from hotline.telephony import webhooks

    inputs.install_converters(app)  # before the first route: ids fit the database
    app.register_blueprint(webhooks.bp)
    app.register_blueprint(views.bp)
    _register_errors(app)
    from hotline import console

    console.register(app)  # after the JSON error handlers, which it wraps
    inputs.install(app)  # after the console's body-size check: no value is unstorable
    # After the console: their before-request hooks go first, to time and name it all.
    jobs = services.jobs
    queues = {n: jobs.queue(n) for n in QUEUE_NAMES} if isinstance(jobs, RqJobQueue) else {}
    metrics_views.install(app, services, queues)
    request_ids.install(app)
    if not app.debug:
        logs.configure_logging()  # HOTLINE_LOG_FORMAT; left alone if the host set logging up
    return app


def _register_errors(app: Flask) -> None:
    """Domain errors become clear 4xx answers; nothing ever shows a stack trace."""
    codes: list[tuple[type[DomainError], int]] = [
        (NotFound, 404),
        (InvalidInput, 400),
        (InvalidTransition, 409),
    ]

    def domain_error(exc: DomainError) -> tuple[Response, int]:
        code = next((c for kind, c in codes if isinstance(exc, kind)), 400)
        return jsonify(error=str(exc)), code

    def http_error(exc: HTTPException) -> tuple[Response, int]:
        return jsonify(error=exc.description), exc.code or 500

    app.register_error_handler(DomainError, domain_error)
    app.register_error_handler(HTTPException, http_error)
