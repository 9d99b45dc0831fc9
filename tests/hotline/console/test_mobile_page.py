"""The grid member's phone page, opened from the link in the assignment SMS itself."""

from __future__ import annotations

import io
import re
import struct
import zlib
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from hotline.bootstrap import Services, case_links
from hotline.settings import Settings
from hotline.storage import attachments
from hotline.storage.files import FileStore
from tests.conftest import PUBLIC_BASE_URL, FixedClock
from tests.factories import CALLER, grid_member, register_case
from ticketing.cases import services as cases
from ticketing.cases.links import make_token
from ticketing.models.cases import Attachment, Ticket, TicketEvent
from ticketing.models.people import Staff
from ticketing.models.sms import SmsDirection, SmsMessage
from ticketing.vocabulary.events import Actor
from ticketing.vocabulary.lifecycle import TicketStatus
from ticketing.vocabulary.roles import AssignmentRole

pytestmark = pytest.mark.functional

URL = re.compile(r"https?://\S+")
FORM_TOKEN = re.compile(r'name="form_token" value="([^"]+)"')


def png_bytes(width: int = 2, height: int = 2) -> bytes:
    """A real, tiny PNG: red pixels, built by hand so the test needs no image library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def _open_case(services: Services) -> str:
    """`register_case` with the description the page shows, in English: Wang Lei's case
    (grid 1101's primary), with the link in his assignment SMS."""
    summary = register_case(services, description="The lamp by gate 3 is out", language="en-US")
    assert summary.assignee == "Wang Lei"
    return summary.number


def _staff(services: Services, name: str) -> Staff:
    with services.uow() as uow:
        return uow.session.scalars(select(Staff).where(Staff.name == name)).one()


def _link_from_sms(services: Services, number: str, phone: str) -> str:
    """The path of the link in the latest assignment SMS of the case to `phone`."""
    with services.uow() as uow:
        body = uow.session.scalars(
            select(SmsMessage.body)
            .join(Ticket, Ticket.id == SmsMessage.ticket_id)
            .where(
                Ticket.number == number,
                SmsMessage.direction == SmsDirection.OUTBOUND,
                SmsMessage.purpose == "assignment",
                SmsMessage.to_number == phone,
            )
            .order_by(SmsMessage.id.desc())
        ).first()
    assert body is not None
    found = URL.search(body)
    assert found is not None, body
    url = found.group(0)
    assert url.startswith(f"{PUBLIC_BASE_URL}/m/")
    assert len(url.removeprefix(f"{PUBLIC_BASE_URL}/m/")) < 60
    return urlsplit(url).path


def _case(services: Services, number: str) -> tuple[TicketStatus, int]:
    """The case's status and how many events it has."""
    with services.uow() as uow:
        ticket = uow.session.scalars(select(Ticket).where(Ticket.number == number)).one()
        events = uow.session.scalar(
            select(func.count()).select_from(TicketEvent).where(TicketEvent.ticket_id == ticket.id)
        )
        return ticket.status, int(events or 0)


def _form_token(html: str) -> str:
    found = FORM_TOKEN.search(html)
    assert found is not None
    return found.group(1)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def opened(services: Services, client: FlaskClient) -> tuple[str, str, str]:
    """A case for Wang Lei, his link from the SMS, and the page's form token."""
    number = _open_case(services)
    path = _link_from_sms(services, number, _staff(services, "Wang Lei").phone)
    page = client.get(path)
    assert page.status_code == 200
    return number, path, _form_token(page.text)


def test_the_member_accepts_adds_a_photo_note_and_marks_done_from_the_sms_link(
    services: Services, client: FlaskClient, opened: tuple[str, str, str]
) -> None:
    number, path, token = opened
    page = client.get(path).text
    assert f"Case {number}" in page
    assert "broken street light" in page
    assert "The lamp by gate 3 is out" in page
    assert f'href="tel:{CALLER}"' in page
    assert re.search(r"accept by \d\d:\d\d", page)
    assert "/console/static/vendor/leaflet/leaflet.js" in page
    assert "data-geo=" in page
    wang = _staff(services, "Wang Lei")
    status, events = _case(services, number)
    assert status is TicketStatus.ASSIGNED

    accepted = client.post(f"{path}/accept", data={"form_token": token})
    assert accepted.status_code == 303
    assert _case(services, number) == (TicketStatus.ACCEPTED, events + 1)
    assert "You accepted the case" in client.get(accepted.headers["Location"]).text

    png = png_bytes()
    noted = client.post(
        f"{path}/note",
        data={"form_token": token, "note": "Ladder ordered", "photos": (io.BytesIO(png), "x.png")},
        content_type="multipart/form-data",
    )
    assert noted.status_code == 303
    assert _case(services, number) == (TicketStatus.ACCEPTED, events + 2)
    with services.uow() as uow:
        photo = uow.session.scalars(select(Attachment)).one()
        note = uow.session.get(TicketEvent, photo.event_id)
        assert note is not None
        assert (note.kind, note.note) == ("note", "Ladder ordered")
        assert note.actor == f"staff:{wang.id}"
        assert (photo.content_type, photo.size, photo.uploaded_by) == (
            "image/png",
            len(png),
            f"staff:{wang.id}",
        )
    stored = services.files.root / "attachments" / number / f"{photo.sha256}.png"
    assert stored.read_bytes() == png
    page = client.get(path).text
    photo_path = f"{path}/photos/{photo.id}"
    assert f'src="{photo_path}"' in page
    assert "Ladder ordered" in page
    shown = client.get(photo_path)
    assert (shown.status_code, shown.mimetype, shown.data) == (200, "image/png", png)

    done = client.post(f"{path}/done", data={"form_token": token, "note": "New bulb fitted"})
    assert done.status_code == 303
    assert _case(services, number) == (TicketStatus.RESOLVED, events + 3)
    with services.uow() as uow:
        told = uow.session.scalars(
            select(SmsMessage.body).where(
                SmsMessage.to_number == CALLER, SmsMessage.purpose == "caller_done"
            )
        ).one()
    assert "New bulb fitted" in told
    page = client.get(path).text
    assert "resolved" in page
    assert "Mark done" not in page
    assert "Accept this case" not in page


def test_a_photo_sent_through_one_host_opens_on_another(
    services: Services,
    client: FlaskClient,
    opened: tuple[str, str, str],
    other_host: Flask,
    tmp_path: Path,
) -> None:
    _number, path, token = opened
    png = png_bytes(4, 4)
    noted = client.post(
        f"{path}/note",
        data={"form_token": token, "note": "Pole leaning", "photos": (io.BytesIO(png), "p.png")},
        content_type="multipart/form-data",
    )
    assert noted.status_code == 303
    with services.uow() as uow:
        photo_id = uow.session.scalars(select(Attachment.id)).one()
    shown = other_host.test_client().get(f"{path}/photos/{photo_id}")
    assert (shown.status_code, shown.data) == (200, png)
    assert not (tmp_path / "other-host" / "attachments").exists()


def test_a_file_that_is_not_a_photo_is_refused_with_the_reason_and_nothing_kept(
    services: Services, client: FlaskClient, opened: tuple[str, str, str]
) -> None:
    number, path, token = opened
    before = _case(services, number)
    refused = client.post(
        f"{path}/note",
        data={
            "form_token": token,
            "note": "see photo",
            "photos": (io.BytesIO(b"<script>alert(1)</script>"), "lamp.png"),
        },
        content_type="multipart/form-data",
    )
    assert refused.status_code == 400
    assert "The file lamp.png is not a JPEG, PNG or WebP photo" in refused.text
    assert "see photo" in refused.text  # the note is kept in the form
    assert _case(services, number) == before
    assert not (services.files.root / "attachments").exists()

    four = [(io.BytesIO(png_bytes()), f"p{i}.png") for i in range(4)]
    too_many = client.post(
        f"{path}/note",
        data={"form_token": token, "photos": four},
        content_type="multipart/form-data",
    )
    assert too_many.status_code == 400
    assert "at most 3 photos" in too_many.text
    empty = client.post(f"{path}/note", data={"form_token": token, "note": "  "})
    assert empty.status_code == 400
    assert "write a note or add a photo" in empty.text.lower()
    no_note = client.post(f"{path}/done", data={"form_token": token, "note": ""})
    assert no_note.status_code == 400
    assert "what was done" in no_note.text
    assert _case(services, number) == before


def _stored_files(services: Services) -> list[Path]:
    folder = services.files.root / "attachments"
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_a_refused_photo_note_leaves_no_file_behind(
    services: Services, client: FlaskClient, opened: tuple[str, str, str]
) -> None:
    number, path, token = opened

    def send(note: str) -> int:
        photo = (io.BytesIO(png_bytes(4, 4)), "lamp.png")
        return client.post(
            f"{path}/note",
            data={"form_token": token, "note": note, "photos": photo},
            content_type="multipart/form-data",
        ).status_code

    assert send("x" * 2001) == 400  # too long a note
    assert _stored_files(services) == []
    _reassign_to_the_backup(services, number)
    assert send("photo of the lamp") == 403  # the case went to someone else
    assert _stored_files(services) == []
    with services.uow() as uow:
        assert uow.session.scalars(select(Attachment.id)).all() == []


def test_discarding_a_refused_notes_photos_keeps_files_other_notes_share(
    tmp_path: Path,
) -> None:
    png, other = png_bytes(), png_bytes(5, 1)
    files = FileStore(tmp_path)
    first = attachments.store_photo(files, "C1", png, attachments.PNG)
    again = attachments.store_photo(files, "C1", png, attachments.PNG)
    fresh = attachments.store_photo(files, "C1", other, attachments.PNG)
    assert (first.created, again.created, fresh.created) == (True, False, True)
    attachments.discard(files, [again, fresh])
    assert attachments.stored_file(files, first.relative) is not None
    assert attachments.stored_file(files, fresh.relative) is None
    attachments.discard(files, [first])
    assert not (tmp_path / "attachments" / "C1").exists()
    assert (tmp_path / "attachments").is_dir()  # the area itself stays


def test_forms_without_this_links_token_are_refused(
    services: Services, client: FlaskClient, opened: tuple[str, str, str]
) -> None:
    number, path, token = opened
    before = _case(services, number)
    assert client.post(f"{path}/accept").status_code == 400
    forged = client.post(f"{path}/accept", data={"form_token": token[:-1] + "x"})
    assert forged.status_code == 400
    assert "could not be trusted" in forged.text
    assert _case(services, number) == before


def test_a_tampered_malformed_or_expired_link_gets_a_clear_page(
    services: Services, client: FlaskClient, clock: FixedClock, opened: tuple[str, str, str]
) -> None:
    _number, path, _token = opened
    last = path[-1]
    tampered = client.get(path[:-1] + ("A" if last != "A" else "B"))
    assert tampered.status_code == 403
    assert "This link is not valid" in tampered.text
    cut = client.get(path[:-5])
    assert cut.status_code == 400
    assert "This link is incomplete" in cut.text
    clock.now += timedelta(days=services.settings.link_days)
    expired = client.get(path)
    assert expired.status_code == 410
    assert "This link has expired" in expired.text
    for page in (tampered, cut, expired):
        assert "Traceback" not in page.text
        assert "call the hotline" in page.text
        assert page.mimetype == "text/html"


def test_a_reassigned_case_tells_the_old_member_and_opens_for_the_new_one(
    services: Services, client: FlaskClient, opened: tuple[str, str, str]
) -> None:
    number, path, token = opened
    other = _reassign_to_the_backup(services, number)
    old = client.get(path)
    assert old.status_code == 403
    assert "now handled by someone else" in old.text
    before = _case(services, number)
    assert client.post(f"{path}/accept", data={"form_token": token}).status_code == 403
    assert _case(services, number) == before
    new_path = _link_from_sms(services, number, other.phone)
    assert new_path != path
    assert client.get(new_path).status_code == 200


def test_a_link_for_another_member_of_an_authentic_case_is_not_found(
    services: Services, client: FlaskClient, opened: tuple[str, str, str]
) -> None:
    number, _path, _token = opened
    stranger = _staff(services, "Wang Lei").id + 1
    token = make_token(
        services.settings.secret_key, number, stranger, services.clock() + timedelta(days=1)
    )
    page = client.get(f"/m/{token}")
    assert page.status_code == 404
    assert "No such case" in page.text


def test_a_photo_of_another_case_is_not_found_through_this_link(
    services: Services, client: FlaskClient, opened: tuple[str, str, str]
) -> None:
    _number, path, _token = opened
    second = _open_case(services)
    second_path = _link_from_sms(services, second, _staff(services, "Wang Lei").phone)
    second_token = _form_token(client.get(second_path).text)
    client.post(
        f"{second_path}/note",
        data={"form_token": second_token, "photos": (io.BytesIO(png_bytes(3, 1)), "a.png")},
        content_type="multipart/form-data",
    )
    with services.uow() as uow:
        photo_id = uow.session.scalars(select(Attachment.id)).one()
    assert client.get(f"{second_path}/photos/{photo_id}").status_code == 200
    assert client.get(f"{path}/photos/{photo_id}").status_code == 404


def test_the_page_fits_a_360_px_phone(client: FlaskClient, opened: tuple[str, str, str]) -> None:
    _number, path, _token = opened
    for page in (client.get(path).text, client.get("/m/not-a-link").text):
        assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
        widths = [int(w) for w in re.findall(r"width\s*[:=]\s*\"?(\d+)px", page)]
        assert all(w <= 360 for w in widths), widths
        assert not re.search(r"width=\"\d{3,}\"", page)


def test_sms_carry_no_link_without_a_public_address_or_with_zero_days(tmp_path: Path) -> None:
    base = {"SECRET_KEY": "s", "HOTLINE_VAR_DIR": str(tmp_path)}
    assert case_links(Settings.from_env(base)) is None
    assert (
        case_links(Settings.from_env({**base, "PUBLIC_BASE_URL": "https://h.example"})) is not None
    )
    zero = {**base, "PUBLIC_BASE_URL": "https://h.example", "HOTLINE_LINK_DAYS": "0"}
    assert case_links(Settings.from_env(zero)) is None
    three = {**base, "PUBLIC_BASE_URL": "https://h.example/", "HOTLINE_LINK_DAYS": "3"}
    links = case_links(Settings.from_env(three))
    assert links is not None
    assert links.lifetime == timedelta(days=3)
    assert links.base_url == "https://h.example"
    with pytest.raises(ValueError, match="HOTLINE_LINK_DAYS"):
        Settings.from_env({**base, "HOTLINE_LINK_DAYS": "two"})


def test_the_map_draws_tiles_only_from_the_configured_server(
    app: Flask, client: FlaskClient, opened: tuple[str, str, str]
) -> None:
    _number, path, _token = opened
    assert 'data-tiles=""' in client.get(path).text
    app.config["HOTLINE_MAP_TILES"] = "https://tiles.example.org/{z}/{x}/{y}.png"
    assert 'data-tiles="https://tiles.example.org/{z}/{x}/{y}.png"' in client.get(path).text


def _reassign_to_the_backup(services: Services, number: str) -> Staff:
    """An agent hands the case to grid 1101's backup member (the primary is away)."""
    with services.uow() as uow:
        ticket = uow.session.scalars(select(Ticket).where(Ticket.number == number)).one()
        other = grid_member(uow.session, "1101", AssignmentRole.BACKUP)
        cases.reassign(uow, ticket, other, None, Actor.user(1), "on leave", services.clock())
        uow.commit()
    return other
