"""Console test helpers: a test client, known passwords for the demo accounts, logging in.

The test database holds the demo accounts (one a role, usernames = role names) with random
passwords; `console_users` gives them known ones inside the test's rolled-back transaction,
and `login(client, role)` logs a client in through the real login form.

    def test_queue(client, login):
        login(client, "agent")
        assert client.get("/console/queue").status_code == 200
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from functools import cache
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update
from werkzeug.test import TestResponse

from hotline.app import create_app
from hotline.bootstrap import Services, bootstrap
from ticketing.models.accounts import User, UserRole
from ticketing.people.accounts import hash_password

# The demo accounts' usernames are their roles' names.
ROLES = tuple(role.value for role in UserRole)
TEST_PASSWORDS = {role: f"{role}-test-password" for role in ROLES}

Login = Callable[[FlaskClient, str], FlaskClient]


@cache
def _hashes() -> dict[str, str]:
    """Hashed once a test session: scrypt is slow on purpose."""
    return {role: hash_password(password) for role, password in TEST_PASSWORDS.items()}


@pytest.fixture
def console_users(services: Services) -> dict[str, str]:
    """Give the demo accounts the known TEST_PASSWORDS (rolled back after the test)."""
    with services.uow() as uow:
        for username, hashed in _hashes().items():
            uow.session.execute(
                update(User).where(User.username == username).values(password_hash=hashed)
            )
        uow.commit()
    return TEST_PASSWORDS


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def other_host(services: Services, tmp_path: Path) -> Flask:
    """The app of a second host: the same database, secret and file store as `app`, and
    a var/ folder of its own, as each host has its own disk."""
    settings = replace(services.settings, var_dir=tmp_path / "other-host")
    host = bootstrap(
        settings,
        engine=services.engine,
        session_factory=services.session_factory,
        jobs=services.jobs,
        clock=services.clock,
    )
    return create_app(services=host)


def csrf_token(client: FlaskClient) -> str:
    """The client session's CSRF token (made by opening the login page if needed)."""
    with client.session_transaction() as session:
        token = session.get("csrf")
    if isinstance(token, str) and token:
        return token
    page = client.get("/login").get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "the login page has no CSRF field"
    return found.group(1)


def post(client: FlaskClient, url: str, data: dict[str, str] | None = None) -> TestResponse:
    """POST a form with this session's CSRF token added."""
    return client.post(url, data={**(data or {}), "csrf_token": csrf_token(client)})


@pytest.fixture
def login(console_users: dict[str, str]) -> Login:
    """`login(client, role)`: log the client in as that role's demo account."""

    def log_in(client: FlaskClient, role: str) -> FlaskClient:
        token = csrf_token(client)
        response = client.post(
            "/login",
            data={"username": role, "password": console_users[role], "csrf_token": token},
        )
        assert response.status_code == 302, response.get_data(as_text=True)[-500:]
        return client

    return log_in
