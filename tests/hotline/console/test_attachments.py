"""A case's photos on the console: listed on the case page, each served inline with its
stored type to the users who may see the case, and 404 to everyone else."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from hotline.bootstrap import Services
from hotline.storage import attachments
from tests.hotline.console.conftest import Login
from tests.hotline.console.test_mobile_page import _open_case, _staff, png_bytes
from ticketing.cases import phone_page
from ticketing.cases.links import CaseLink
from ticketing.models.cases import Attachment

pytestmark = pytest.mark.functional


def _add_photo(services: Services, number: str, data: bytes, name: str = "lamp.png") -> int:
    """Wang Lei (the case's member) adds a note with one photo, as the phone page does."""
    stored = attachments.store_photo(services.files, number, data, attachments.PNG)
    photo = phone_page.Photo(name, "image/png", len(data), stored.sha256, stored.relative)
    link = CaseLink(number, _staff(services, "Wang Lei").id, services.clock() + timedelta(days=1))
    with services.uow() as uow:
        event_id = phone_page.add_note(uow, link, "the lamp", [photo], services.clock())
    with services.uow() as uow:
        return uow.session.scalars(
            select(Attachment.id).where(Attachment.event_id == event_id)
        ).one()


def test_the_case_page_lists_the_photos_and_serves_them_inline(
    services: Services, client: FlaskClient, login: Login
) -> None:
    number = _open_case(services)
    png = png_bytes(3, 2)
    photo_id = _add_photo(services, number, png, name='lamp "3".png')
    url = f"/console/cases/{number}/attachments/{photo_id}"

    login(client, "supervisor")
    page = client.get(f"/console/cases/{number}").get_data(as_text=True)
    assert f'src="{url}"' in page
    assert "lamp &#34;3&#34;.png" in page
    assert "Wang Lei" in page

    shown = client.get(url)
    assert shown.status_code == 200
    assert shown.mimetype == "image/png"
    assert shown.data == png
    assert shown.headers["Content-Disposition"].startswith("inline")
    assert shown.headers["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in shown.headers["Cache-Control"]


def test_a_photo_outside_the_users_cases_is_not_found(
    services: Services, client: FlaskClient, login: Login
) -> None:
    number = _open_case(services)
    photo_id = _add_photo(services, number, png_bytes())
    other = _open_case(services)
    other_photo = _add_photo(services, other, png_bytes(1, 5))
    url = f"/console/cases/{number}/attachments/{photo_id}"

    login(client, "dispatcher")  # the water company's: a street light is not theirs
    assert client.get(url).status_code == 404
    assert client.get(f"/console/cases/{number}").status_code == 404

    login(client, "agent")
    assert client.get(url).status_code == 200
    # Another case's photo through this case's number, a photo that does not exist.
    assert client.get(f"/console/cases/{number}/attachments/{other_photo}").status_code == 404
    assert client.get(f"/console/cases/{number}/attachments/999999").status_code == 404
    page = client.get(f"/console/cases/{other}").get_data(as_text=True)
    assert f"/attachments/{photo_id}" not in page


def test_a_photo_whose_file_is_gone_is_not_found(
    services: Services, client: FlaskClient, login: Login
) -> None:
    number = _open_case(services)
    png = png_bytes(2, 7)
    photo_id = _add_photo(services, number, png)
    for stored in (services.files.root / "attachments" / number).iterdir():
        stored.unlink()
    login(client, "agent")
    assert client.get(f"/console/cases/{number}/attachments/{photo_id}").status_code == 404


def test_a_case_without_photos_says_so(
    services: Services, client: FlaskClient, login: Login
) -> None:
    number = _open_case(services)
    login(client, "agent")
    page = client.get(f"/console/cases/{number}").get_data(as_text=True)
    assert "grid members add photos" in page
