"""The grid member's page on the phone, opened from the signed link of an assignment SMS.

No login: the link is the credential (ticketing/cases/links.py), good for one member and
one case until it expires, and only while that member still holds the case. The forms'
CSRF token is an HMAC of the link token, since there is no session to keep one in. Every
refusal is a short page in the phone layout, with the hotline's number, never a trace.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import Blueprint, redirect, render_template, request, send_file, url_for
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as WerkzeugResponse

from hotline.console.dashboard_views import map_tiles
from hotline.storage import attachments
from hotline.web.context import app_services
from ticketing.cases import links as case_links
from ticketing.cases import phone_page
from ticketing.cases.links import CaseLink, ExpiredLink, LinkError, MalformedLink, TamperedLink
from ticketing.exceptions import DomainError, InvalidInput, InvalidTransition, NotFound

if TYPE_CHECKING:
    from hotline.bootstrap import Services

log = logging.getLogger(__name__)

bp = Blueprint("mobile", __name__, url_prefix="/m", template_folder="templates")

FORM_FIELD = "form_token"
# Three photos of 5 MB, the note and the multipart framing.
MAX_REQUEST_BYTES = attachments.MAX_PHOTOS * attachments.MAX_PHOTO_BYTES + 256 * 1024
DONE_MESSAGES = {
    "accepted": "You accepted the case. Its resolve deadline is running.",
    "noted": "Your note was added to the case.",
    "resolved": "Marked done. The caller is told by SMS.",
}
LINK_PAGES: dict[type[LinkError], tuple[int, str, str]] = {
    MalformedLink: (
        400,
        "This link is incomplete",
        "The address is not a whole case link: it may have been cut when it was copied. "
        "Open it again from the SMS, tapping the full link.",
    ),
    TamperedLink: (
        403,
        "This link is not valid",
        "The link has been changed, or it was not made by this hotline. Open it again "
        "from the SMS exactly as it came.",
    ),
    ExpiredLink: (
        410,
        "This link has expired",
        "Links in assignment SMS work for a limited time. You can still handle the case "
        "by SMS: reply A <case number> to accept, D <case number> <note> when done.",
    ),
}


def _link(token: str) -> CaseLink:
    app = app_services()
    return case_links.read_token(app.settings.secret_key, token, app.clock())


def _check_form(token: str) -> None:
    """Refuse a POST whose form token is not this link's (a form from another site)."""
    sent = request.form.get(FORM_FIELD, "")
    if not case_links.form_token_ok(app_services().settings.secret_key, token, sent):
        raise _Refused(
            400,
            "This form could not be trusted",
            "The form did not come from this case's page. Open the link from the SMS again "
            "and send the form from there.",
        )


class _Refused(Exception):
    def __init__(self, code: int, title: str, message: str) -> None:
        super().__init__(message)
        self.code, self.title, self.message = code, title, message


@bp.get("/<token>")
def case_page(token: str) -> str | tuple[str, int]:
    """The case, its map and the member's buttons."""
    done = request.args.get("done", "")
    return _page(token, _link(token), notice=DONE_MESSAGES.get(done))


@bp.post("/<token>/accept")
def accept(token: str) -> WerkzeugResponse | tuple[str, int]:
    link = _link(token)
    _check_form(token)
    app = app_services()
    try:
        with app.uow() as uow:
            phone_page.accept(uow, link, app.clock())
    except (InvalidInput, InvalidTransition) as exc:
        return _page(token, link, error=_reason(exc)), 409
    return _back(token, "accepted")


@bp.post("/<token>/done")
def resolve(token: str) -> WerkzeugResponse | tuple[str, int]:
    link = _link(token)
    _check_form(token)
    app = app_services()
    note = request.form.get("note", "")
    try:
        with app.uow() as uow:
            phone_page.resolve(uow, link, note, app.clock())
    except (InvalidInput, InvalidTransition) as exc:
        code = 400 if isinstance(exc, InvalidInput) else 409
        return _page(token, link, error=_reason(exc), done_note=note), code
    return _back(token, "resolved")


@bp.post("/<token>/note")
def note(token: str) -> WerkzeugResponse | tuple[str, int]:
    request.max_content_length = MAX_REQUEST_BYTES
    link = _link(token)
    _check_form(token)
    app = app_services()
    text = request.form.get("note", "")
    try:
        _add_note(app, link, text, _checked_photos(request.files.getlist("photos")))
    except (attachments.RejectedPhoto, InvalidInput, InvalidTransition) as exc:
        code = 409 if isinstance(exc, InvalidTransition) else 400
        return _page(token, link, error=_reason(exc), note_text=text), code
    return _back(token, "noted")


@bp.get("/<token>/photos/<int:photo_id>")
def photo(token: str, photo_id: int) -> WerkzeugResponse:
    """A photo of the case, for the member the link is for, while they hold the case."""
    link = _link(token)
    app = app_services()
    with app.uow() as uow:
        found = phone_page.photo(uow, link, photo_id)
        stored, content_type = found.stored_path, found.content_type
    path = attachments.stored_file(app.files, stored)
    if path is None:
        raise NotFound("the photo's file is missing")
    response = send_file(path, mimetype=content_type, max_age=0)
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@dataclass(frozen=True)
class _Checked:
    name: str
    data: bytes
    kind: attachments.PhotoKind


def _checked_photos(files: list[FileStorage]) -> list[_Checked]:
    """Every uploaded photo read and checked; RejectedPhoto for the first one refused."""
    chosen = [f for f in files if f.filename]
    if len(chosen) > attachments.MAX_PHOTOS:
        raise attachments.RejectedPhoto(f"add at most {attachments.MAX_PHOTOS} photos at a time")
    checked = []
    for upload in chosen:
        name = upload.filename or ""
        data = upload.read(attachments.MAX_PHOTO_BYTES + 1)
        checked.append(_Checked(name or "photo", data, attachments.check_photo(name, data)))
    return checked


def _add_note(app: Services, link: CaseLink, text: str, checked: list[_Checked]) -> None:
    """Check the note, then store its photos and save it; a refused note never reaches the
    disk, and a note that fails after all takes the files it wrote with it."""
    with app.uow() as uow:
        phone_page.check_note(uow, link, text, len(checked))
        photos, written = _store(app, link.number, checked)
        try:
            phone_page.add_note(uow, link, text, photos, app.clock())
        except BaseException:  # the case moved on meanwhile, or the commit failed
            attachments.discard(app.files, written)
            raise


def _store(
    app: Services, number: str, checked: list[_Checked]
) -> tuple[list[phone_page.Photo], list[attachments.StoredPhoto]]:
    """Store the checked photos: the rows to write, and the files written (to discard if
    the note is not saved after all). All or none: a failed write discards the others."""
    photos: list[phone_page.Photo] = []
    written: list[attachments.StoredPhoto] = []
    try:
        for photo in checked:
            stored = attachments.store_photo(app.files, number, photo.data, photo.kind)
            written.append(stored)
            photos.append(
                phone_page.Photo(
                    photo.name[-200:],
                    photo.kind.content_type,
                    len(photo.data),
                    stored.sha256,
                    stored.relative,
                )
            )
    except BaseException:
        attachments.discard(app.files, written)
        raise
    return photos, written


def _page(
    token: str,
    link: CaseLink,
    *,
    notice: str | None = None,
    error: str | None = None,
    note_text: str = "",
    done_note: str = "",
) -> str:
    app = app_services()
    now = app.clock()
    with app.uow() as uow:
        case = phone_page.view(uow, link)
    tz = app.settings.timezone
    return render_template(
        "console/mobile/case.html",
        case=case,
        token=token,
        form_token=case_links.form_token(app.settings.secret_key, token),
        accept_by=phone_page.local_time(case.accept_by, tz, now),
        resolve_by=phone_page.local_time(case.resolve_by, tz, now),
        notes=[(n, phone_page.local_time(n.at, tz, now)) for n in case.notes],
        geo=_geo(case),
        tiles=map_tiles(),
        notice=notice,
        error=error,
        note_text=note_text,
        done_note=done_note,
        hotline_number=app.settings.twilio_from_number,
    )


def _geo(case: phone_page.LinkedCase) -> dict[str, Any] | None:
    if case.point is None and case.outline is None:
        return None
    return {"point": list(case.point) if case.point else None, "outline": case.outline}


def _back(token: str, done: str) -> WerkzeugResponse:
    """After a move, back to the page (303: a reload does not post the form again)."""
    return redirect(url_for("mobile.case_page", token=token, done=done), code=303)


def _reason(exc: Exception) -> str:
    text = str(exc)
    return text[:1].upper() + text[1:] if text else "That could not be done."


# ---------------------------------------------------------------- refusals, as pages


def refusal_page(code: int, title: str, message: str) -> tuple[str, int]:
    """A refusal in the phone page's layout, with the hotline's number; never a trace."""
    try:
        page = render_template(
            "console/mobile/refused.html",
            code=code,
            title=title,
            message=message,
            hotline_number=app_services().settings.twilio_from_number,
        )
    except Exception:
        log.exception("the mobile refusal page failed")
        page = f"<!doctype html><title>{code}</title><p>{code}</p>"
    return page, code


@bp.errorhandler(LinkError)
def _link_error(exc: LinkError) -> tuple[str, int]:
    code, title, message = LINK_PAGES.get(type(exc), LINK_PAGES[MalformedLink])
    return refusal_page(code, title, message)


@bp.errorhandler(_Refused)
def _refused(exc: _Refused) -> tuple[str, int]:
    return refusal_page(exc.code, exc.title, exc.message)


@bp.errorhandler(phone_page.HandledElsewhere)
def _elsewhere(exc: phone_page.HandledElsewhere) -> tuple[str, int]:
    return refusal_page(
        403,
        "This case is now handled by someone else",
        f"{exc}. You do not need to do anything more on it; the new assignee has their own link.",
    )


@bp.errorhandler(DomainError)
def _domain_error(exc: DomainError) -> tuple[str, int]:
    if isinstance(exc, NotFound):
        return refusal_page(
            404, "No such case", "This link does not open any case of yours. Check the SMS."
        )
    return refusal_page(403, "Not allowed", str(exc))


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> tuple[str, int]:
    code = exc.code or 500
    if code == 413:
        return refusal_page(
            413,
            "The photos are too large",
            f"Send at most {attachments.MAX_PHOTOS} photos of "
            f"{attachments.MAX_PHOTO_BYTES // (1024 * 1024)} MB each. Go back and try again.",
        )
    if code >= 500:
        return refusal_page(
            code, "Something went wrong", "The server could not finish this. Try again."
        )
    return refusal_page(code, "That did not work", exc.description or "")
