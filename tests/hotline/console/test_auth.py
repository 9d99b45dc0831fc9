"""Logging in and out, lockout, CSRF, redirects and error pages, through the Flask client."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from click.testing import CliRunner
from flask import Blueprint, Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hotline.app import create_app
from hotline.bootstrap import Services
from hotline.cli import users as users_cli
from hotline.cli.users import users
from hotline.console.base import require_role
from tests.conftest import FixedClock
from tests.hotline.console.conftest import TEST_PASSWORDS, Login, csrf_token, post
from ticketing.models.accounts import AuditEntry, User, UserRole
from ticketing.people import accounts
from ticketing.vocabulary.events import Actor

pytestmark = pytest.mark.functional


def _user_in(session: Session, username: str) -> User:
    return session.scalars(select(User).where(User.username == username)).one()


def _user(services: Services, username: str) -> User:
    with services.uow() as uow:
        return uow.session.scalars(select(User).where(User.username == username)).one()


def _audit(services: Services, action: str) -> list[AuditEntry]:
    with services.uow() as uow:
        return list(uow.session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def _try(client: FlaskClient, username: str, password: str, next_: str = "") -> str:
    response = post(client, "/login", {"username": username, "password": password, "next": next_})
    return response.get_data(as_text=True)


def test_login_lands_on_the_role_home_with_safe_cookie_flags(
    client: FlaskClient, console_users: dict[str, str], services: Services, clock: FixedClock
) -> None:
    token = csrf_token(client)
    response = client.post(
        "/login",
        data={"username": "Agent ", "password": console_users["agent"], "csrf_token": token},
    )
    assert response.status_code == 302
    assert response.headers["Location"] in ("/console/queue", "/account")
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if "hotline_session=" in c)
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" in cookie  # PUBLIC_BASE_URL is https in the test settings
    assert "Expires=" in cookie  # a permanent session, ending after PERMANENT_SESSION_LIFETIME
    assert _user(services, "agent").last_login_at == clock.now
    with client.session_transaction() as session:
        assert session["csrf"] != token  # a fresh token once logged in: no fixation
    page = client.get("/account")
    assert page.status_code == 200
    assert "Log out" in page.get_data(as_text=True)


def test_wrong_password_and_unknown_user_get_the_same_answer(
    client: FlaskClient, console_users: dict[str, str], services: Services
) -> None:
    wrong = post(client, "/login", {"username": "agent", "password": "not-the-password"})
    unknown = post(client, "/login", {"username": "nobody", "password": "not-the-password"})
    assert wrong.status_code == unknown.status_code == 401
    assert accounts.WRONG_CREDENTIALS in wrong.get_data(as_text=True)
    assert accounts.WRONG_CREDENTIALS in unknown.get_data(as_text=True)
    assert 'value="agent"' in wrong.get_data(as_text=True)  # the username is kept
    assert client.get("/account").status_code == 302  # still logged out
    assert _user(services, "agent").failed_logins == 1


def _alert(page: str) -> str:
    found = re.search(r'<div class="form-error" role="alert">(.*?)</div>', page, re.S)
    assert found, page[-500:]
    return found.group(1)


def test_five_failures_lock_the_account_for_15_minutes(
    client: FlaskClient, console_users: dict[str, str], services: Services, clock: FixedClock
) -> None:
    client.environ_base["REMOTE_ADDR"] = "203.0.113.9"
    for _ in range(accounts.MAX_FAILED_LOGINS - 1):
        assert accounts.WRONG_CREDENTIALS in _try(client, "supervisor", "wrong-password-1")
    fifth = _try(client, "supervisor", "wrong-password-1")
    assert _user(services, "supervisor").locked_until == clock.now + accounts.LOCKOUT
    # Locked, even the right password is refused, with the very answer an unknown name gets:
    # the page never tells an existing account from a made-up one.
    locked = _try(client, "supervisor", console_users["supervisor"])
    unknown = _try(client, "no-such-user", console_users["supervisor"])
    assert _alert(fifth) == _alert(locked) == _alert(unknown) == accounts.WRONG_CREDENTIALS
    assert "locked for 15 minutes" in accounts.WRONG_CREDENTIALS
    assert client.get("/account").status_code == 302
    [entry] = _audit(services, "user.lockout")
    assert (entry.target, entry.source_ip) == ("user:supervisor", "203.0.113.9")
    clock.now += timedelta(minutes=16)
    _try(client, "supervisor", console_users["supervisor"])
    assert client.get("/account").status_code == 200


def test_failures_are_counted_in_the_database_not_over_a_stale_copy(
    services: Services, console_users: dict[str, str], clock: FixedClock
) -> None:
    """Parallel attempts each read the row, then write their count: a read-modify-write in
    Python loses all but one of them (READ COMMITTED), so the lockout never comes. Here the
    session's copy of the user is stale (0) while the row holds the other attempts' count."""
    with services.uow() as uow:
        s = uow.session
        user = _user_in(s, "agent")
        assert user.failed_logins == 0
        others = accounts.MAX_FAILED_LOGINS - 1  # counted meanwhile by parallel requests
        s.execute(
            update(User).where(User.id == user.id).values(failed_logins=others),
            execution_options={"synchronize_session": False},
        )
        result = accounts.authenticate(uow, "agent", "wrong-password-1", clock.now)
    assert not result.ok
    locked = _user(services, "agent")
    assert locked.locked_until == clock.now + accounts.LOCKOUT  # the fifth failure locks
    assert locked.failed_logins == 0
    assert len(_audit(services, "user.lockout")) == 1


def test_every_refusal_costs_one_scrypt_of_the_same_size(
    services: Services,
    console_users: dict[str, str],
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Unknown name, wrong password, locked account, disabled account: the same work (one
    scrypt with today's parameters), so the time taken does not tell them apart."""
    accounts._dummy_hash()  # made once, before counting
    calls: list[tuple[int, int, int]] = []
    real = accounts._scrypt

    def counted(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
        calls.append((n, r, p))
        return real(password, salt, n, r, p)

    monkeypatch.setattr(accounts, "_scrypt", counted)
    with services.uow() as uow:
        s = uow.session
        _user_in(s, "supervisor").locked_until = clock.now + timedelta(minutes=5)
        _user_in(s, "dispatcher").active = False
        s.flush()
        tries = [
            ("nobody-here", "wrong-password-1"),
            ("agent", "wrong-password-1"),
            ("supervisor", console_users["supervisor"]),  # right password, locked
            ("dispatcher", console_users["dispatcher"]),  # right password, disabled
        ]
        answers = []
        for username, password in tries:
            calls.clear()
            result = accounts.authenticate(uow, username, password, clock.now)
            answers.append(result.error)
            assert calls == [(accounts.SCRYPT_N, accounts.SCRYPT_R, accounts.SCRYPT_P)], username
    assert answers == [accounts.WRONG_CREDENTIALS] * len(tries)


def test_the_users_cli_unlocks_a_locked_account(
    client: FlaskClient,
    console_users: dict[str, str],
    services: Services,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for _ in range(accounts.MAX_FAILED_LOGINS):
        _try(client, "dispatcher", "wrong-password-1")
    assert _user(services, "dispatcher").locked_until is not None
    monkeypatch.setattr(users_cli, "_services", lambda: services)
    listed = CliRunner().invoke(users, ["list"])
    assert "locked until" in listed.output
    result = CliRunner().invoke(users, ["unlock", "dispatcher"])
    assert result.exit_code == 0, result.output
    assert _user(services, "dispatcher").locked_until is None
    assert [e.target for e in _audit(services, "user.unlock")] == ["user:dispatcher"]
    _try(client, "dispatcher", console_users["dispatcher"])
    assert client.get("/account").status_code == 200


def test_logout_ends_the_session(client: FlaskClient, login: Login) -> None:
    login(client, "agent")
    assert client.get("/account").status_code == 200
    response = post(client, "/logout")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert client.get("/account").headers["Location"] == "/login?next=/account"


def _session_cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie("hotline_session")
    assert cookie is not None
    return cookie.value


def test_a_session_cookie_copied_before_logout_is_refused_after_it(
    app: Flask, login: Login, services: Services
) -> None:
    """The cookie is signed, not stored: logout must end the session on the server too."""
    client = login(app.test_client(), "agent")
    copied = _session_cookie(client)
    assert post(client, "/logout").status_code == 302
    replay = app.test_client()
    replay.set_cookie("hotline_session", copied)
    refused = replay.get("/account")
    assert refused.status_code == 302
    assert refused.headers["Location"] == "/login?next=/account"
    assert replay.get("/console/queue").status_code == 302
    # a fresh login works again, and its cookie is a new one
    again = login(app.test_client(), "agent")
    assert again.get("/account").status_code == 200
    assert _session_cookie(again) != copied


def test_an_account_disabled_and_enabled_again_keeps_its_old_sessions_ended(
    app: Flask, login: Login, services: Services
) -> None:
    """Disabling ends every session for good: enabling the account does not revive them."""
    client = login(app.test_client(), "dispatcher")
    copied = _session_cookie(client)
    now = services.clock()
    with services.uow() as uow:
        accounts.set_active(uow, "dispatcher", False, Actor.cli("test"), now)
    with services.uow() as uow:
        accounts.set_active(uow, "dispatcher", True, Actor.cli("test"), now)
    assert client.get("/account").status_code == 302
    replay = app.test_client()
    replay.set_cookie("hotline_session", copied)
    assert replay.get("/account").status_code == 302


def test_an_administrators_password_reset_ends_the_users_sessions(
    app: Flask, login: Login, services: Services
) -> None:
    client = login(app.test_client(), "agent")
    with services.uow() as uow:
        accounts.set_password(
            uow, "agent", "a-reset-long-password", Actor.cli("test"), services.clock()
        )
    assert client.get("/account").status_code == 302


def test_a_post_without_or_with_a_wrong_csrf_token_is_refused_and_changes_nothing(
    client: FlaskClient, login: Login, services: Services
) -> None:
    login(client, "agent")
    before = _user(services, "agent").password_hash
    change = {
        "current_password": TEST_PASSWORDS["agent"],
        "new_password": "a-brand-new-password",
        "confirm_password": "a-brand-new-password",
    }
    missing = client.post("/account", data=change)
    wrong = client.post("/account", data={**change, "csrf_token": "forged"})
    assert missing.status_code == wrong.status_code == 400
    assert "CSRF token" in missing.get_data(as_text=True)
    assert "does not match" in wrong.get_data(as_text=True)
    assert _user(services, "agent").password_hash == before
    # logging out is a POST too: a forged logout does not log anyone out
    assert client.post("/logout").status_code == 400
    assert client.get("/account").status_code == 200


def test_changing_the_password_keeps_this_session_and_ends_the_others(
    app: Flask, login: Login, services: Services
) -> None:
    mine, other = app.test_client(), app.test_client()
    mine.environ_base["REMOTE_ADDR"] = "2001:db8::20"
    login(mine, "agent")
    login(other, "agent")
    wrong = post(
        mine,
        "/account",
        {
            "current_password": "not-my-password",
            "new_password": "a-brand-new-password",
            "confirm_password": "a-brand-new-password",
        },
    )
    assert wrong.status_code == 400
    assert "The current password is wrong." in wrong.get_data(as_text=True)
    short = post(
        mine,
        "/account",
        {
            "current_password": TEST_PASSWORDS["agent"],
            "new_password": "short",
            "confirm_password": "short",
        },
    )
    assert "at least 10 characters" in short.get_data(as_text=True)
    done = post(
        mine,
        "/account",
        {
            "current_password": TEST_PASSWORDS["agent"],
            "new_password": "a-brand-new-password",
            "confirm_password": "a-brand-new-password",
        },
    )
    assert done.status_code == 302
    assert mine.get("/account").status_code == 200
    assert other.get("/account").status_code == 302  # the old password's session is over
    assert accounts.verify_password("a-brand-new-password", _user(services, "agent").password_hash)
    changed = _audit(services, "user.password")
    assert [(e.target, e.source_ip) for e in changed] == [("user:agent", "2001:db8::20")]


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example.com/",
        "//evil.example.com/",
        "/\\evil.example.com",
        "http:/evil.example.com",
        "javascript:alert(1)",
        " //evil.example.com",
    ],
)
def test_next_never_leaves_the_site(
    client: FlaskClient, console_users: dict[str, str], target: str
) -> None:
    response = post(
        client,
        "/login",
        {"username": "agent", "password": console_users["agent"], "next": target},
    )
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/")
    assert not response.headers["Location"].startswith("//")
    assert "evil" not in response.headers["Location"]


def test_next_brings_the_user_back_to_the_page_asked_for(
    client: FlaskClient, console_users: dict[str, str]
) -> None:
    asked = client.get("/account?tab=password")
    assert asked.headers["Location"] == "/login?next=/account?tab%3Dpassword"
    page = client.get(asked.headers["Location"]).get_data(as_text=True)
    assert 'name="next" value="/account?tab=password"' in page
    response = post(
        client,
        "/login",
        {"username": "agent", "password": console_users["agent"], "next": "/account?tab=password"},
    )
    assert response.headers["Location"] == "/account?tab=password"


def _app_with_every_home(services: Services) -> Flask:
    """The app plus placeholder pages at each home path not built yet, and test-only
    routes that fail or need the admin role."""
    app = create_app(services=services)
    placeholders = Blueprint("placeholders", __name__)
    served = {rule.rule for rule in app.url_map.iter_rules()}
    for path in ("/console/queue", "/console/dashboard", "/console/admin"):
        if path not in served:
            placeholders.add_url_rule(path, path.replace("/", "_"), lambda: "placeholder")

    @placeholders.get("/console/test-only/boom")
    def boom() -> str:
        raise RuntimeError("secret-trace-marker")

    @placeholders.get("/console/test-only/admin")
    @require_role(UserRole.ADMIN)
    def admin_only() -> str:
        return "admin page"

    app.register_blueprint(placeholders)
    return app


@pytest.mark.parametrize(
    ("role", "home"),
    [
        ("agent", "/console/queue"),
        ("grid_member", "/console/queue"),
        ("supervisor", "/console/dashboard"),
        ("dispatcher", "/console/dashboard"),
        ("admin", "/console/admin"),
    ],
)
def test_each_role_lands_on_its_home(
    services: Services, login: Login, role: str, home: str
) -> None:
    client = _app_with_every_home(services).test_client()
    assert client.get("/").headers["Location"] == "/login"
    login(client, role)
    assert client.get("/").headers["Location"] == home
    assert client.get("/login").headers["Location"] == home  # already logged in


def test_error_pages_are_html_for_people_and_json_for_machines(
    services: Services, login: Login
) -> None:
    client = _app_with_every_home(services).test_client()
    login(client, "agent")
    boom = client.get("/console/test-only/boom")
    assert boom.status_code == 500
    body = boom.get_data(as_text=True)
    assert boom.mimetype == "text/html"
    assert "Something went wrong" in body
    assert "Traceback" not in body
    assert "secret-trace-marker" not in body
    assert "RuntimeError" not in body
    refused = client.get("/console/test-only/admin")
    assert refused.status_code == 403
    assert "Not allowed" in refused.get_data(as_text=True)
    missing = client.get("/console/no-such-page")
    assert missing.status_code == 404
    assert missing.mimetype == "text/html"
    assert "<h1>Not found</h1>" in missing.get_data(as_text=True)
    wrong_method = client.get("/logout")
    assert wrong_method.status_code == 405
    assert wrong_method.mimetype == "text/html"
    api = client.get("/api/cases/2611270001")
    assert api.mimetype == "application/json"
    assert "error" in api.get_json()
    webhook = client.post("/twilio/sms/incoming")
    assert webhook.mimetype == "application/json"


def test_pages_carry_protective_headers(client: FlaskClient) -> None:
    page = client.get("/login")
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Cache-Control"] == "no-store"


def test_static_files_and_vendored_packages_are_served(client: FlaskClient) -> None:
    for path in (
        "/console/static/app.css",
        "/console/static/app.js",
        "/console/static/vendor/leaflet/leaflet.js",
        "/console/static/vendor/leaflet/leaflet.css",
        "/console/static/vendor/leaflet/images/marker-icon.png",
        "/console/static/vendor/chart.js/chart.umd.js",
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        response.close()


def test_the_users_cli_adds_lists_and_resets(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(users_cli, "_services", lambda: services)
    runner = CliRunner()
    added = runner.invoke(
        users,
        ["add", "li.na", "--role", "supervisor", "--region", "11", "--name", "Li Na"],
        input="long-enough-pw\nlong-enough-pw\n",
    )
    assert added.exit_code == 0, added.output
    assert "added li.na (supervisor): Li Na" in added.output
    assert "long-enough-pw" not in added.output
    mismatch = runner.invoke(
        users, ["add", "zhou", "--role", "agent"], input="long-enough-pw\nanother-pw-xx\n"
    )
    assert "do not match" in mismatch.output or "match" in mismatch.output
    no_area = runner.invoke(
        users, ["add", "zhou", "--role", "dispatcher", "--password-stdin"], input="long-enough-pw\n"
    )
    assert no_area.exit_code == 1
    assert "A dispatcher needs a department" in no_area.output
    bad_area = runner.invoke(
        users,
        ["add", "zhou", "--role", "grid_member", "--staff", "XX99", "--password-stdin"],
        input="long-enough-pw\n",
    )
    assert "There is no staff member 'XX99'" in bad_area.output
    member = runner.invoke(
        users,
        ["add", "zhou", "--role", "grid_member", "--staff", "GM0002", "--password-stdin"],
        input="long-enough-pw\n",
    )
    assert member.exit_code == 0, member.output
    listed = runner.invoke(users, ["list"]).output
    assert "li.na" in listed
    assert "region 11" in listed
    assert "zhou" in listed
    assert "staff GM0002" in listed
    reset = runner.invoke(
        users, ["password", "zhou", "--password-stdin"], input="another-long-pw\n"
    )
    assert reset.exit_code == 0, reset.output
    assert accounts.verify_password("another-long-pw", _user(services, "zhou").password_hash)
    unknown = runner.invoke(users, ["unlock", "nobody"])
    assert unknown.exit_code == 1
    assert "There is no user 'nobody'" in unknown.output
    assert {e.target for e in _audit(services, "user.add")} >= {"user:li.na", "user:zhou"}


def test_the_users_cli_disables_and_enables_an_account(
    app: Flask,
    login: Login,
    console_users: dict[str, str],
    services: Services,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(users_cli, "_services", lambda: services)
    runner = CliRunner()
    logged_in = login(app.test_client(), "dispatcher")
    assert logged_in.get("/account").status_code == 200
    disabled = runner.invoke(users, ["disable", "dispatcher"])
    assert disabled.exit_code == 0, disabled.output
    assert "disabled dispatcher" in disabled.output
    listed = runner.invoke(users, ["list"]).output.splitlines()
    assert "disabled" in next(line for line in listed if line.startswith("dispatcher "))
    # the open session ends on its next click; a new login is refused like any other
    assert logged_in.get("/account").headers["Location"] == "/login?next=/account"
    fresh = app.test_client()
    refused = _try(fresh, "dispatcher", console_users["dispatcher"])
    assert accounts.WRONG_CREDENTIALS in refused
    assert fresh.get("/account").status_code == 302
    enabled = runner.invoke(users, ["enable", "dispatcher"])
    assert enabled.exit_code == 0, enabled.output
    _try(fresh, "dispatcher", console_users["dispatcher"])
    assert fresh.get("/account").status_code == 200
    audit = [(e.action, e.target, e.actor) for e in _audit(services, "user.disable")]
    audit += [(e.action, e.target, e.actor) for e in _audit(services, "user.enable")]
    assert [(a, t) for a, t, _ in audit] == [
        ("user.disable", "user:dispatcher"),
        ("user.enable", "user:dispatcher"),
    ]
    assert all(actor.startswith("cli:") for _, _, actor in audit)
    unknown = runner.invoke(users, ["disable", "nobody"])
    assert unknown.exit_code == 1
    assert "There is no user 'nobody'" in unknown.output
