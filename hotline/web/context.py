"""The app's services, as every view reaches them.

`create_app` keeps the bundle it was given in the Flask app; views, webhooks and the
signature check read it through `app_services()` during a request, so none of them
imports the app factory that imports them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import current_app

if TYPE_CHECKING:
    from hotline.bootstrap import Services

EXTENSION = "hotline"  # where the app keeps its services bundle


def app_services() -> Services:
    """The services of the app serving this request."""
    found: Services = current_app.extensions[EXTENSION]
    return found
