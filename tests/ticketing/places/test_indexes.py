"""The place indexes built from the database: the grids and the gazetteer of the demo city."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from hotline.bootstrap import Services
from ticketing.models.places import Grid
from ticketing.places.indexes import Locator

pytestmark = pytest.mark.integration


def test_every_grid_centre_locates_to_its_grid_and_places_are_found(services: Services) -> None:
    with services.uow() as uow:
        locator = Locator.load(uow.session)
        centres = uow.session.execute(select(Grid.code, Grid.centre_lat, Grid.centre_lon)).all()
    assert len(centres) == 207
    assert all(locator.grid_at(lat, lon) == code for code, lat, lon in centres)
    assert locator.grid_at(0.0, 0.0) is None
    (best, *_) = locator.search("jinsan rd no 12")
    assert (best.match.entry.name_en, best.grid_code) == ("No. 12 Jingsan Road", "1101")
    (best, *_) = locator.search("经三路12号")
    assert best.match.entry.name_zh == "经三路12号"
