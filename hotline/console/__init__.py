"""The web console: agents' queue and case pages, the grid member's mobile page, dashboards
and administration, all server-rendered. `register(app)` adds it to the Flask app."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask, Response, request

SESSION_LIFETIME = timedelta(hours=12)
UPLOAD_FRAMING = 1024 * 1024  # the other fields and the multipart framing around a file


def register(app: Flask) -> None:
    """Register the console's blueprints, session settings, template globals and errors."""
    from hotline.console import (
        admin_schedule_views,
        admin_views,
        attachment_views,
        auth_views,
        case_views,
        dashboard_views,
        mobile_views,
        new_case_views,
        queue_views,
    )
    from hotline.console.base import (
        DEFAULT_MAX_BODY,
        allow_body,
        csrf_token,
        limit_body,
        template_globals,
    )
    from hotline.console.errors import install_error_pages, wants_json
    from hotline.storage import attachments

    # One line a console module: its blueprint.
    blueprints = [
        admin_views.bp,
        admin_schedule_views.bp,
        auth_views.bp,
        dashboard_views.bp,
        mobile_views.bp,
        queue_views.bp,
        case_views.bp,
        new_case_views.bp,
        attachment_views.bp,
    ]
    for blueprint in blueprints:
        app.register_blueprint(blueprint)

    # Request bodies: 1 MB unless configured, more only where a form uploads files. Checked
    # first of all (before the CSRF check reads the form), so nothing big is ever parsed.
    if app.config.get("MAX_CONTENT_LENGTH") is None:
        app.config["MAX_CONTENT_LENGTH"] = DEFAULT_MAX_BODY
    allow_body(
        "admin.import_post",
        admin_views.MAX_UPLOAD + UPLOAD_FRAMING,
        "The file is over 200 MB: import it with `hotline import` on the server.",
    )
    allow_body(
        "mobile.note",
        mobile_views.MAX_REQUEST_BYTES,
        f"The photos are too large: send at most {attachments.MAX_PHOTOS} photos of "
        f"{attachments.MAX_PHOTO_BYTES // (1024 * 1024)} MB each.",
    )
    app.before_request_funcs.setdefault(None, []).insert(0, limit_body)

    public = app.extensions["hotline"].settings.public_base_url or ""
    app.config.update(
        SESSION_COOKIE_NAME="hotline_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=public.startswith("https://"),
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
    )
    app.context_processor(template_globals)
    # A global too, so macros imported without context (forms.html) can call it.
    app.jinja_env.globals["csrf_token"] = csrf_token
    install_error_pages(app)
    from hotline.console import limits

    limits.install(app)  # after the blueprints: it wraps their views

    @app.after_request
    def _page_headers(response: Response) -> Response:
        """Pages may not be framed or sniffed; pages with case data are not cached."""
        if wants_json():
            return response
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if response.mimetype == "text/html" and not request.path.startswith("/console/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response
