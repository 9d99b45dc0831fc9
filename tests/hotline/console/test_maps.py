"""The console's maps: the place index follows a grid import that only redraws outlines,
and a grid's name reaches the page as text, never as markup."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from hotline.bootstrap import Services
from tests.conftest import ROOT, FixedClock
from tests.factories import new_case
from tests.hotline.console.conftest import Login
from ticketing.admin.grid_import import import_grids
from ticketing.cases import intake
from ticketing.models.places import Grid
from ticketing.vocabulary.events import Actor

pytestmark = pytest.mark.functional

# Well outside the demo city (34.7-34.9 N, 113.6-113.8 E).
FAR = (34.9505, 113.9505)
SCRIPT = "<img src=x onerror=alert(1)>"
STATIC = ROOT / "hotline" / "console" / "static"


def _grid_at(client: FlaskClient, lat: float, lon: float) -> str | None:
    answer = client.get(f"/console/places?lat={lat}&lon={lon}").get_json()
    grid: str | None = answer["grid"]
    return grid


def _grid_stamp(services: Services) -> tuple[int, int]:
    with services.uow() as uow:
        count, top = uow.session.execute(select(func.count(Grid.id), func.max(Grid.id))).one()
        return int(count), int(top)


def test_a_grid_reimported_with_a_new_outline_moves_where_clicks_land(
    services: Services, client: FlaskClient, login: Login, clock: FixedClock
) -> None:
    login(client, "agent")
    with services.uow() as uow:
        grid = uow.session.scalars(select(Grid).where(Grid.code == "1101")).one()
        old_centre = (grid.centre_lat, grid.centre_lon)
    assert _grid_at(client, *old_centre) == "1101"
    assert _grid_at(client, *FAR) is None  # the index is built and cached now
    before = _grid_stamp(services)

    west, south, side = FAR[1] - 0.0005, FAR[0] - 0.0005, 0.001
    ring = [[west, south], [west + side, south], [west + side, south + side]]
    ring += [[west, south + side], [west, south]]
    moved = {
        "type": "Feature",
        "properties": {"code": "1101", "name": "grid 1101", "community": "12"},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }
    with services.uow() as uow:
        result = import_grids(
            uow,
            json.dumps({"type": "FeatureCollection", "features": [moved]}),
            Actor.cli("test"),
            clock(),
        )
    assert (result.created, result.updated) == (0, 1), result.rejected
    assert _grid_stamp(services) == before  # same grids, same ids: only the outline moved

    assert _grid_at(client, *FAR) == "1101"
    assert _grid_at(client, *old_centre) != "1101"


def test_a_grid_named_like_markup_reaches_the_maps_as_text(
    services: Services, client: FlaskClient, login: Login
) -> None:
    with services.uow() as uow:
        uow.session.execute(update(Grid).where(Grid.code == "1101").values(name=SCRIPT))
        new = new_case(description="lamp out", caller=None)
        intake.open_case_uncommitted(
            uow, new, datetime.now(UTC), ZoneInfo("Asia/Shanghai")
        )  # an open case puts the grid on the dashboard's map
        uow.commit()
    login(client, "admin")
    dashboard = client.get("/console/dashboard").get_data(as_text=True)
    assert SCRIPT not in dashboard
    data = re.search(r'id="dashboard-data">(.*?)</script>', dashboard, re.S)
    assert data is not None
    assert "<" not in data.group(1)  # tojson escapes it, so the JSON cannot end the script
    assert SCRIPT in {g["name"] for g in json.loads(data.group(1))["grids"]}
    box = "south=34.7&west=113.6&north=34.9&east=113.8"
    answer = client.get(f"/console/places/grids?{box}")
    assert answer.mimetype == "application/json"
    assert SCRIPT in {g["name"] for g in answer.get_json()["grids"]}


def test_the_map_scripts_bind_text_nodes_never_markup() -> None:
    """Leaflet treats a string given to bindTooltip or bindPopup as HTML: the scripts hand
    it an element whose text they set (test_browser_maps opens the tooltips for real)."""
    calls = 0
    for script in STATIC.glob("*.js"):
        source = script.read_text()
        for argument in re.findall(r"\.bind(?:Tooltip|Popup)\(([^)]*\)?)", source):
            calls += 1
            assert argument.startswith("textElement("), (script.name, argument)
        assert "insertAdjacentHTML" not in source, script.name
    assert calls >= 2  # the case page's and the dashboard's grid tooltips
