"""A case's attachments on the console: each file, for the users who may see the case.

The case page lists them (read with the page, `ticketing.reporting.case_page`); the file
itself is served here, scoped by `ticketing.people.visibility.case_filter` so a case
outside the user's area answers 404 just like a missing file. The stored type was
read from the file's first bytes when it was uploaded; the browser is told to show it
inline and not to guess another type.
"""

from __future__ import annotations

from flask import abort, send_file
from werkzeug.wrappers import Response as WerkzeugResponse

from hotline.console.base import console_blueprint, current_user, require_role
from hotline.storage import attachments
from hotline.web.context import app_services
from ticketing.cases.attachments import visible_file
from ticketing.cases.numbers import normalise_case_number
from ticketing.models.accounts import UserRole

bp = console_blueprint("attachments", __name__, url_prefix="/console/cases")


@bp.get("/<number>/attachments/<int:attachment_id>")
@require_role(*UserRole)
def attachment(number: str, attachment_id: int) -> WerkzeugResponse:
    """One attachment of a case the user may see, shown inline; 404 otherwise."""
    user = current_user()
    number = normalise_case_number(number) or ""
    app = app_services()
    with app.uow() as uow:
        found = visible_file(uow.session, user, number, attachment_id)
    path = attachments.stored_file(app.files, found.stored_path) if found else None
    if found is None or path is None:
        abort(404)
    # With a download name and not as_attachment, this is "inline; filename=...".
    response = send_file(path, mimetype=found.content_type, download_name=found.filename, max_age=0)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response
