"""Per-address rate limits on the two doors anyone can knock on: the login form and the
grid member's phone page.

The account lockout (5 wrong passwords) stops guessing one account; these limits stop
one address trying many accounts, or hammering the phone page's links and uploads. The
counts live in Redis when the process has one (REDIS_URL), so every worker and host
shares them, and in memory embedded. A Redis fault must not close the login page: the
limiter then counts in this process's memory until Redis answers again.

Over the limit the answer is 429 with a page in Chinese and English (the console's
layout, or the phone page's) and `Retry-After`.
"""

from __future__ import annotations

from typing import cast

from flask import Flask, request
from flask.typing import ResponseReturnValue, RouteCallable
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address

from hotline.console import mobile_views
from hotline.console.errors import error_page, wants_json
from hotline.web.context import EXTENSION

LOGIN_ENDPOINT = "console.login_post"
TITLE = "请求过于频繁 · Too many requests"


def install(app: Flask) -> Limiter:
    """Limit POST /login and every phone page route by client address, on `app`'s
    services (its Redis client, its settings)."""
    services = app.extensions[EXTENSION]
    settings = services.settings
    uri, options = "memory://", {}
    if services.redis is not None:  # the process's one Redis client, shared by every host
        uri, options = settings.redis_url, {"connection_pool": services.redis.connection_pool}
    limiter = Limiter(
        get_remote_address,  # request.remote_addr: the client, once ProxyFix has run
        app=app,
        strategy="fixed-window",
        headers_enabled=True,  # Retry-After with the 429
        key_prefix="hotline",
        in_memory_fallback_enabled=True,
        swallow_errors=True,
        storage_uri=uri,
        storage_options=options,
    )
    login = limiter.shared_limit(settings.login_rate_limit, scope="login")
    app.view_functions[LOGIN_ENDPOINT] = cast(
        RouteCallable, login(app.view_functions[LOGIN_ENDPOINT])
    )
    limiter.shared_limit(settings.phone_rate_limit, scope="phone-page")(mobile_views.bp)
    app.register_error_handler(RateLimitExceeded, too_many_requests)
    return limiter


def too_many_requests(exc: RateLimitExceeded) -> ResponseReturnValue:
    """The 429 page: what happened and when to try again, in both languages."""
    wait = _wait_words(exc)
    message = (
        f"来自您网络的请求过多，请{wait[0]}后再试。"
        f" Too many requests came from your network: please try again in {wait[1]}."
    )
    if wants_json():
        return {"error": message}, 429
    if request.blueprint == mobile_views.bp.name:
        return mobile_views.refusal_page(429, TITLE, message)
    return error_page(429, message, title=TITLE)


def _wait_words(exc: RateLimitExceeded) -> tuple[str, str]:
    seconds = exc.limit.limit.get_expiry()
    if seconds < 120:
        return f" {seconds} 秒", f"{seconds} seconds"
    minutes = seconds // 60
    return f" {minutes} 分钟", f"{minutes} minutes"
