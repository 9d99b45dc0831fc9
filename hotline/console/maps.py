"""The process's place index for the console's map pages.

The `Locator` (the gazetteer and the grids' outlines in memory) is built once per process
(`Services.places`) and rebuilt when a cheap stamp moves (`ticketing.places.indexes.locator_stamp`):
the count and highest id of grids and places (a first load, seeding) and the id of the
newest grid import in the audit log, so an import that only redraws outlines (same grids,
same ids) is noticed too. Every web process reads the stamp from the database, so all of
them notice an import made by any of them.
"""

from __future__ import annotations

import threading

from sqlalchemy.orm import Session

from ticketing.places.indexes import Locator, locator_stamp


class PlaceIndex:
    """The place index of one database, kept by the process's services and rebuilt when
    an import changed it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: tuple[tuple[int, ...], Locator] | None = None

    def locator(self, session: Session) -> Locator:
        """The index as of this session's database; built again when the stamp moved."""
        stamp = locator_stamp(session)
        with self._lock:
            if self._kept is not None and self._kept[0] == stamp:
                return self._kept[1]
            built = Locator.load(session)
            self._kept = (stamp, built)
            return built
