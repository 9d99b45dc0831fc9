"""The process's place index for the console's map pages.

The `Locator` (the gazetteer and the grids' outlines in memory) is built once per process
and database and rebuilt when a cheap stamp moves (`ticketing.places.indexes.locator_stamp`):
the count and highest id of grids and places (a first load, seeding) and the id of the
newest grid import in the audit log, so an import that only redraws outlines (same grids,
same ids) is noticed too. Every web process reads the stamp from the database, so all of
them notice an import made by any of them.
"""

from __future__ import annotations

import threading

from sqlalchemy.orm import Session

from ticketing.places.indexes import Locator, locator_stamp

_lock = threading.Lock()
_locators: dict[str, tuple[tuple[int, ...], Locator]] = {}


def locator(session: Session) -> Locator:
    """The process's place index for this database, rebuilt when an import changed it."""
    key = str(session.get_bind().engine.url)
    stamp = locator_stamp(session)
    with _lock:
        cached = _locators.get(key)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        built = Locator.load(session)
        _locators[key] = (stamp, built)
        return built
