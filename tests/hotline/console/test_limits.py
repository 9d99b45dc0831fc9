"""Per-address rate limits on the login form and the phone page: a friendly 429 in both
languages, the real client address behind trusted proxies only, one count for every host
on Redis, and a login page that stays open when Redis does not answer."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from hotline.app import create_app
from hotline.bootstrap import Services, bootstrap
from tests.hotline.console.conftest import csrf_token
from tests.hotline.console.test_mobile_page import _link_from_sms, _open_case, _staff

pytestmark = pytest.mark.functional


def _host(services: Services, **settings: Any) -> Flask:
    """An app on the test's database with these settings changed, as one host runs it."""
    changed = replace(services.settings, **settings)
    host = bootstrap(
        changed,
        engine=services.engine,
        session_factory=services.session_factory,
        jobs=services.jobs,
        clock=services.clock,
    )
    return create_app(services=host)


def _client(app: Flask, address: str) -> FlaskClient:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def _login(client: FlaskClient, **headers: str) -> TestResponse:
    form = {"username": "agent", "password": "not-the-password", "csrf_token": csrf_token(client)}
    return client.post("/login", data=form, headers=headers)


def test_the_login_form_answers_429_after_the_limit_per_address(services: Services) -> None:
    app = _host(services, login_rate_limit="3 per minute")
    guesser = _client(app, "203.0.113.50")
    assert [_login(guesser).status_code for _ in range(3)] == [401, 401, 401]
    refused = _login(guesser)
    assert refused.status_code == 429
    page = refused.get_data(as_text=True)
    assert "请求过于频繁 · Too many requests" in page
    assert "请 60 秒后再试" in page
    assert "please try again in 60 seconds" in page
    assert "Traceback" not in page
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert guesser.get("/login").status_code == 200  # only the form's POST is counted
    assert _login(_client(app, "203.0.113.51")).status_code == 401  # another address


def test_the_phone_page_answers_429_in_its_own_layout(services: Services) -> None:
    number = _open_case(services)
    path = _link_from_sms(services, number, _staff(services, "Wang Lei").phone)
    app = _host(services, phone_rate_limit="2 per minute")
    member = _client(app, "198.51.100.60")
    assert [member.get(path).status_code for _ in range(2)] == [200, 200]
    refused = member.get(path)
    assert refused.status_code == 429
    page = refused.get_data(as_text=True)
    assert "请求过于频繁 · Too many requests" in page
    assert "If you need help with a case, call the hotline" in page  # the phone layout
    assert member.get(f"{path}/photos/1").status_code == 429  # one budget for the page


def test_behind_trusted_proxies_the_forwarded_client_is_counted_and_audited(
    services: Services, console_users: dict[str, str]
) -> None:
    direct = _host(services, login_rate_limit="1 per minute")
    spoofer = _client(direct, "192.0.2.10")
    assert _login(spoofer, **{"X-Forwarded-For": "10.0.0.1"}).status_code == 401
    # Without a trusted proxy the header is the client's own word: it changes nothing.
    assert _login(spoofer, **{"X-Forwarded-For": "10.0.0.2"}).status_code == 429

    proxied = _host(services, login_rate_limit="1 per minute", trusted_proxies=1)
    proxy = _client(proxied, "192.0.2.20")  # the load balancer, for every client
    assert _login(proxy, **{"X-Forwarded-For": "198.51.100.1"}).status_code == 401
    assert _login(proxy, **{"X-Forwarded-For": "198.51.100.2"}).status_code == 401
    assert _login(proxy, **{"X-Forwarded-For": "198.51.100.1"}).status_code == 429
    # A client's own X-Forwarded-For in front of the proxy's entry is not believed.
    forged = {"X-Forwarded-For": "198.51.100.99, 198.51.100.1"}
    assert _login(proxy, **forged).status_code == 429


def test_on_redis_every_host_shares_one_count(services: Services, redis_url: str | None) -> None:
    if redis_url is None:
        pytest.skip("needs REDIS_URL")
    first = _host(services, redis_url=redis_url, login_rate_limit="2 per minute")
    second = _host(services, redis_url=redis_url, login_rate_limit="2 per minute")
    address = f"2001:db8::{uuid.uuid4().hex[:4]}"  # a fresh count, whatever ran before
    assert _login(_client(first, address)).status_code == 401
    assert _login(_client(second, address)).status_code == 401
    assert _login(_client(first, address)).status_code == 429
    assert _login(_client(second, address)).status_code == 429


def test_a_redis_outage_leaves_the_login_page_open(services: Services) -> None:
    app = _host(services, redis_url="redis://127.0.0.1:1/0", login_rate_limit="2 per minute")
    client = _client(app, "203.0.113.70")
    assert [_login(client).status_code for _ in range(3)] == [401, 401, 429]  # in memory
