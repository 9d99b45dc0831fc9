"""What every console page shares: who is logged in, role checks, CSRF, the home page.

Other console modules build their blueprint with `console_blueprint`, guard each view with
`require_role`, read the user with `current_user()` and sign events with `actor()`. The
logged-in user is kept in Flask's signed session cookie as an id, a fingerprint of the
password hash and the account's session generation, and re-read from the database once a
request, so a disabled account or a changed password takes effect on the next click. The
cookie alone cannot be revoked, so logging out raises the generation on the server
(`accounts.end_sessions`): a copy of the cookie taken before is refused after.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, g, redirect, request, url_for

# Flask's session is the signed cookie, not a database session: named for what it is.
from flask import session as cookie
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import RequestRedirect
from werkzeug.wrappers import Response as WerkzeugResponse

from hotline.web.context import EXTENSION, app_services
from ticketing.models.accounts import User, UserRole
from ticketing.people.accounts import end_sessions, logged_in_user, session_fingerprint
from ticketing.vocabulary.events import Actor

P = ParamSpec("P")
R = TypeVar("R")

CSRF_SESSION_KEY = "csrf"
CSRF_FORM_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ALL_ROLES = tuple(UserRole)

# Where each role lands after logging in: the first path the app serves wins, so a role's
# home can name a page another module adds later.
ROLE_HOMES: dict[UserRole, tuple[str, ...]] = {
    UserRole.AGENT: ("/console/queue",),
    UserRole.GRID_MEMBER: ("/console/queue",),
    UserRole.SUPERVISOR: ("/console/dashboard", "/console/queue"),
    UserRole.DISPATCHER: ("/console/dashboard", "/console/queue"),
    UserRole.ADMIN: ("/console/admin", "/console/dashboard", "/console/queue"),
}
FALLBACK_HOME = "/account"


@dataclass(frozen=True)
class NavItem:
    label: str
    path: str
    roles: tuple[UserRole, ...]


# The navigation bar, in order; an item shows when the user's role is listed and the app
# serves the path (so a module that is not there yet leaves no dead link).
NAV: tuple[NavItem, ...] = (
    NavItem("Queue", "/console/queue", ALL_ROLES),
    NavItem("New case", "/console/cases/new", (UserRole.AGENT, UserRole.ADMIN)),
    NavItem(
        "Dashboard",
        "/console/dashboard",
        (UserRole.SUPERVISOR, UserRole.DISPATCHER, UserRole.ADMIN, UserRole.AGENT),
    ),
    NavItem("Admin", "/console/admin", (UserRole.ADMIN,)),
    NavItem("Account", "/account", ALL_ROLES),
)

# The blueprints whose unsafe requests need the CSRF token (filled by console_blueprint).
CONSOLE_BLUEPRINTS: set[str] = set()


def console_blueprint(
    name: str, import_name: str, url_prefix: str | None = None, **options: Any
) -> Blueprint:
    """A blueprint whose POST, PUT, PATCH and DELETE requests are CSRF-checked; its pages
    extend `console/base.html` and its errors render the console's HTML pages."""
    bp = Blueprint(name, import_name, url_prefix=url_prefix, **options)
    bp.before_request(check_csrf)
    CONSOLE_BLUEPRINTS.add(name)
    return bp


# ---------------------------------------------------------------- request size

DEFAULT_MAX_BODY = 1024 * 1024  # every console form but the uploads fits in far less


@dataclass(frozen=True)
class BodyLimit:
    """A larger body allowed on one endpoint, and what to say when even that is exceeded."""

    max_bytes: int
    message: str


# Endpoint -> its larger limit; every other request gets MAX_CONTENT_LENGTH (see register).
BODY_LIMITS: dict[str, BodyLimit] = {}


def allow_body(endpoint: str, max_bytes: int, message: str) -> None:
    """Let `endpoint` take bodies up to `max_bytes` (an upload form)."""
    BODY_LIMITS[endpoint] = BodyLimit(max_bytes, message)


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.0f} MB" if size >= 1024 * 1024 else f"{size // 1024} KB"


def limit_body() -> None:
    """Refuse (413) a body larger than its endpoint accepts, before anything reads it.

    Runs first among the app's before-request functions, so before the CSRF check parses
    the form: an anonymous POST of a gigabyte is refused on its Content-Length and never
    spooled to disk. A body without a length (chunked) is cut off at the same limit by
    Werkzeug when the form is read.
    """
    limit = BODY_LIMITS.get(request.endpoint or "")
    default = current_app.config.get("MAX_CONTENT_LENGTH") or DEFAULT_MAX_BODY
    max_bytes = limit.max_bytes if limit else int(default)
    request.max_content_length = max_bytes
    size = request.content_length
    if size is not None and size > max_bytes:
        abort(
            413,
            limit.message
            if limit
            else (
                f"What was sent ({_megabytes(size)}) is more than this page accepts "
                f"({_megabytes(max_bytes)}). Nothing was saved: go back and send less."
            ),
        )


# ---------------------------------------------------------------- CSRF


def csrf_token() -> str:
    """This session's CSRF token, made on first use (templates call it as `csrf_token()`)."""
    token = cookie.get(CSRF_SESSION_KEY)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        cookie[CSRF_SESSION_KEY] = token
    return token


def check_csrf() -> None:
    """Refuse an unsafe request (400) unless it carries this session's token."""
    if request.method not in UNSAFE_METHODS:
        return
    expected = cookie.get(CSRF_SESSION_KEY)
    sent = request.form.get(CSRF_FORM_FIELD) or request.headers.get(CSRF_HEADER) or ""
    if not isinstance(expected, str) or not expected:
        abort(
            400,
            "Your session has expired or cookies are blocked, so this form could not be "
            "trusted (no CSRF token in the session). Reload the page and try again.",
        )
    if not sent:
        abort(400, "The form was sent without its CSRF token. Reload the page and try again.")
    if not hmac.compare_digest(sent.encode(), expected.encode()):
        abort(
            400,
            "The form's CSRF token does not match this session (it may come from an older "
            "page or another site). Reload the page and try again.",
        )


# ---------------------------------------------------------------- the logged-in user


def log_in(user: User) -> None:
    """Start a fresh session for `user` (a new CSRF token too: no fixation)."""
    cookie.clear()
    cookie.permanent = True
    cookie["user_id"] = user.id
    cookie["fp"] = session_fingerprint(user)
    cookie["gen"] = user.session_generation
    csrf_token()


def log_out() -> None:
    """End the session on the server (every cookie of this account stops working) and
    forget it in the browser."""
    user_id = cookie.get("user_id")
    if isinstance(user_id, int) and find_current_user() is not None:
        with app_services().uow() as uow:
            end_sessions(uow, user_id)
    cookie.clear()
    g.pop("console_user", None)


def find_current_user() -> User | None:
    """The logged-in, active user, or None (read from the database once a request)."""
    if "console_user" in g:
        cached: User | None = g.console_user
        return cached
    user: User | None = None
    user_id = cookie.get("user_id")
    generation = cookie.get("gen")
    if isinstance(user_id, int) and isinstance(generation, int):
        with app_services().uow() as uow:
            user = logged_in_user(uow.session, user_id, str(cookie.get("fp", "")), generation)
    g.console_user = user
    return user


def current_user() -> User:
    """The logged-in user; only call it inside a view guarded by `require_role`."""
    user = find_current_user()
    if user is None:
        abort(401)
    return user


def actor() -> Actor:
    """How events and audit rows name the logged-in user: "user:<id>", arriving from the
    request's client address (which the audit log keeps)."""
    return Actor.user(current_user().id).coming_from(client_address())


def client_address() -> str:
    """The address of the client that sent this request: the peer, or behind trusted
    proxies (HOTLINE_TRUSTED_PROXIES) the address they received it from."""
    return request.remote_addr or ""


def require_role(
    *roles: UserRole,
) -> Callable[[Callable[P, R]], Callable[P, R | WerkzeugResponse]]:
    """Guard a view: not logged in -> the login page (then back here); logged in with
    another role -> 403. With no roles given, any logged-in user may pass."""
    allowed = frozenset(roles or ALL_ROLES)

    def decorate(view: Callable[P, R]) -> Callable[P, R | WerkzeugResponse]:
        @wraps(view)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> R | WerkzeugResponse:
            user = find_current_user()
            if user is None:
                return redirect(url_for("console.login", next=_here()))
            if user.role not in allowed:
                abort(403)
            return view(*args, **kwargs)

        return guarded

    return decorate


def _here() -> str:
    """The current path and query, to come back to after logging in."""
    path = request.full_path
    return path[:-1] if path.endswith("?") else path


def safe_next(target: str | None) -> str | None:
    """`target` if it is a path on this site, else None (no open redirect)."""
    if not target:
        return None
    target = target.strip()
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(ord(c) < 32 for c in target):
        return None
    if parts.path in ("/login", "/logout"):
        return None
    return target


def serves(path: str, method: str = "GET") -> bool:
    """Whether the app has a route for `path` (so links to pages not built yet are left out)."""
    adapter = current_app.url_map.bind("localhost")
    try:
        adapter.match(path, method=method)
    except (NotFound, MethodNotAllowed):
        return False
    except RequestRedirect:  # "/x" served as "/x/": the page exists
        return True
    return True


def home_for(user: User) -> str:
    """The page a user lands on after logging in."""
    return next((p for p in ROLE_HOMES.get(user.role, ()) if serves(p)), FALLBACK_HOME)


def nav_for(user: User | None) -> list[NavItem]:
    """The navigation items this user may follow."""
    if user is None:
        return []
    return [item for item in NAV if user.role in item.roles and serves(item.path)]


def template_globals() -> dict[str, Any]:
    """What every template can use: `csrf_token()`, `console_user`, `console_nav`."""
    user = find_current_user() if _has_session() else None
    return {
        "csrf_token": csrf_token,
        "console_user": user,
        "console_nav": nav_for(user),
        "role_names": ROLE_NAMES,
    }


def _has_session() -> bool:
    try:
        return EXTENSION in current_app.extensions
    except RuntimeError:
        return False


ROLE_NAMES: dict[str, str] = {
    UserRole.AGENT: "Call agent",
    UserRole.SUPERVISOR: "Supervisor",
    UserRole.DISPATCHER: "Dispatcher",
    UserRole.GRID_MEMBER: "Grid member",
    UserRole.ADMIN: "Administrator",
}
