"""The console in a real headless Chromium against the real app served over HTTP.

One story, end to end: a caller reports a streetlight by keypad (the simulator, over HTTP),
the agent finds the case in the triage queue and assigns it to grid 1101's member, the
member opens the link from the assignment SMS on a phone-sized screen and accepts, and the
supervisor's dashboard counts one more accepted case. The server runs in a thread on its
own SQLite file (migrated and loaded with the demo city like a new install), not in the
tests' rolled-back transaction, since the browser talks to it from another thread. Each
main page is saved as a screenshot under var/screenshots/.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select
from werkzeug.serving import BaseWSGIServer, make_server

from hotline.app import create_app
from hotline.bootstrap import Services, bootstrap
from hotline.settings import Settings
from hotline.simulator.caller import HttpTransport, Simulator
from hotline.storage import schema
from tests.conftest import ROOT
from ticketing.demo import seeding
from ticketing.models.accounts import User
from ticketing.models.cases import Ticket
from ticketing.models.people import Staff
from ticketing.models.places import Grid, Place
from ticketing.models.sms import SmsDirection, SmsMessage
from ticketing.people import accounts
from ticketing.vocabulary.events import Actor

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(
        "no Chromium at /usr/bin/chromium (apt-get install chromium chromium-driver)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")

SCREENSHOTS = ROOT / "var" / "screenshots"
TOKEN = "browser-test-token"
PASSWORDS = {
    role: f"{role}-browser-pass-7"
    for role in ("agent", "supervisor", "dispatcher", "grid_member", "admin")
}
WAIT_MS = 15_000  # every wait in the browser is bounded
PHONE = {"width": 360, "height": 740}
LINK = re.compile(r"https?://\S+/m/\S+")


@dataclass
class Live:
    url: str
    services: Services


class _Deferred:
    """The WSGI app, set once the server's port (and so PUBLIC_BASE_URL) is known."""

    app: Any = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.app(environ, start_response)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    root = tmp_path_factory.mktemp("browser")
    deferred = _Deferred()
    server: BaseWSGIServer = make_server("127.0.0.1", 0, deferred, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    settings = Settings.from_env(
        {
            "DATABASE_URL": f"sqlite:///{root / 'hotline.sqlite3'}",
            "HOTLINE_VAR_DIR": str(root / "var"),
            "SECRET_KEY": "browser-test-secret",
            "TWILIO_AUTH_TOKEN": TOKEN,
            "PUBLIC_BASE_URL": url,
        }
    )
    schema.upgrade(settings.database_url)
    services = bootstrap(settings)
    now = datetime.now(UTC)
    with services.uow() as uow:
        seeding.load_demo_city(uow, now=now)
        for username, password in PASSWORDS.items():
            accounts.set_password(uow, username, password, Actor.cli("test"), now)
    deferred.app = create_app(settings, services)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Live(url, services)
    server.shutdown()
    thread.join(timeout=10)
    services.engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        yield chromium
        chromium.close()


def _page(browser: Any, live: Live, **options: Any) -> Any:
    """A fresh browser context (its own cookies) that may only reach the live server."""
    context = browser.new_context(**options)
    context.set_default_timeout(WAIT_MS)
    context.set_default_navigation_timeout(WAIT_MS)
    host = urlsplit(live.url).netloc

    def only_local(route: Any) -> None:
        if urlsplit(route.request.url).netloc == host:
            route.continue_()
        else:
            route.abort()

    context.route("**/*", only_local)
    return context.new_page()


def _shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _log_in(page: Any, live: Live, role: str, shot: bool = False) -> None:
    page.goto(f"{live.url}/login")
    page.fill("input[name=username]", role)
    page.fill("input[name=password]", PASSWORDS[role])
    if shot:
        _shot(page, "login")
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert "/login" not in page.url, page.content()[-500:]


def _status_counts(page: Any) -> dict[str, int]:
    """The dashboard's "Open cases by status" table, label -> count."""
    rows = page.locator("#status tbody tr")
    counts = {}
    for i in range(rows.count()):
        cells = rows.nth(i).locator("td")
        counts[cells.nth(0).inner_text().strip()] = int(cells.nth(1).inner_text().strip())
    return counts


def test_a_called_in_case_is_triaged_assigned_accepted_and_counted(
    browser: Any, live: Live, tmp_path: Path
) -> None:
    # 1. A caller reports by keypad, over HTTP: the case lands in triage.
    simulator = Simulator(
        HttpTransport(live.url, timeout=15), live.url, TOKEN, files=live.services.files
    )
    call = simulator.call("+8613900001111", ["2", "1", "1", "1", "0#"])
    number = (call.case or {}).get("number")
    if number is None:  # the API may not know the call: take the newest case instead
        with live.services.uow() as uow:
            number = uow.session.scalars(select(Ticket.number).order_by(Ticket.id.desc())).first()
    assert number, call.conversation
    with live.services.uow() as uow:
        member = uow.session.scalars(select(User).where(User.username == "grid_member")).one()
        staff = uow.session.get(Staff, member.staff_id)
        assert staff is not None
        employee_no, member_phone = staff.employee_no, staff.phone
        place = uow.session.scalars(
            select(Place.name_en).join(Grid, Grid.id == Place.grid_id).where(Grid.code == "1101")
        ).first()
        assert place is not None

    # 2. The agent: the queue shows the case; open it, assign it to grid 1101's member.
    agent = _page(browser, live, viewport={"width": 1280, "height": 900})
    _log_in(agent, live, "agent", shot=True)
    agent.goto(f"{live.url}/console/queue")
    row = agent.locator(f"a[href='/console/cases/{number}']")
    row.first.wait_for()
    _shot(agent, "queue")
    row.first.click()
    agent.wait_for_url(f"**/console/cases/{number}")
    agent.locator("#assign").wait_for()
    _shot(agent, "case")
    # Triage: the keypad gave no street, so the agent finds the place in the gazetteer.
    agent.fill("#place-q", place)
    agent.locator("#place-results button").first.click()
    agent.fill("#place input[name=reason]", "caller named the place")
    agent.get_by_role("button", name="Move the case").click()
    agent.wait_for_load_state()
    assert "Place corrected (grid 1101)" in agent.content(), agent.content()[-2000:]
    agent.fill("#assign input[name=staff]", employee_no)
    agent.fill("#assign input[name=reason]", "grid 1101 covers this street")
    agent.click("#assign button")
    agent.wait_for_load_state()
    assert "Assigned to" in agent.content()
    agent.goto(f"{live.url}/console/cases/new")
    agent.locator("form").first.wait_for()
    _shot(agent, "new_case")

    # The supervisor's dashboard before the member accepts.
    supervisor = _page(browser, live, viewport={"width": 1280, "height": 900})
    _log_in(supervisor, live, "supervisor")
    supervisor.goto(f"{live.url}/console/dashboard")
    before = _status_counts(supervisor)

    # 3. The grid member, on a phone, from the link in the assignment SMS: accept.
    with live.services.uow() as uow:
        body = uow.session.scalars(
            select(SmsMessage.body)
            .join(Ticket, Ticket.id == SmsMessage.ticket_id)
            .where(
                Ticket.number == number,
                SmsMessage.direction == SmsDirection.OUTBOUND,
                SmsMessage.to_number == member_phone,
            )
            .order_by(SmsMessage.id.desc())
        ).first()
    assert body is not None, "no SMS to the grid member"
    link = LINK.search(body)
    assert link is not None, body
    assert link.group(0).startswith(f"{live.url}/m/")
    phone = _page(browser, live, viewport=PHONE, is_mobile=True, has_touch=True)
    phone.goto(link.group(0))
    accept = phone.get_by_role("button", name="Accept this case")
    accept.wait_for()
    _shot(phone, "mobile")
    accept.click()
    phone.wait_for_load_state()
    assert "You accepted the case" in phone.content()
    with live.services.uow() as uow:
        status = uow.session.scalars(select(Ticket.status).where(Ticket.number == number)).one()
    assert status.value == "accepted"

    # 4. The supervisor's dashboard counts it.
    supervisor.goto(f"{live.url}/console/dashboard")
    after = _status_counts(supervisor)
    _shot(supervisor, "dashboard")
    accepted = next(label for label in after if "ccepted" in label)
    assert after[accepted] == before.get(accepted, 0) + 1, (before, after)
    assert after != before

    # The administrator's pages, for the screenshot set.
    admin = _page(browser, live, viewport={"width": 1280, "height": 900})
    _log_in(admin, live, "admin")
    admin.goto(f"{live.url}/console/admin")
    _shot(admin, "admin")
    for name in ("login", "queue", "case", "new_case", "mobile", "dashboard", "admin"):
        assert (SCREENSHOTS / f"{name}.png").stat().st_size > 1000
