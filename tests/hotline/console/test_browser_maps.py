"""A grid named like markup stays text on the maps, in a real headless Chromium.

A grid file's `name` is free text, and Leaflet inserts a string tooltip as HTML. Here grid
1101 is named `<img src=x onerror=alert(1)>`; every tooltip is forced open (an init script
makes them permanent, as a hover would open them one by one) on the dashboard's hot-spot
map and the case page's map, and no dialog may fire: the name must show as its own text.
Uses the live server and browser of test_console_browser.py (a server of its own here).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from tests.factories import new_case
from tests.hotline.console.test_browser import _log_in, _page, browser, live
from ticketing.cases import intake
from ticketing.models.places import Grid

pytestmark = pytest.mark.browser

__all__ = ["browser", "live"]  # the fixtures, imported for pytest

SCRIPT = "<img src=x onerror=alert(1)>"
# Opens every tooltip as soon as its layer is on the map, whatever the page's script says.
PERMANENT_TOOLTIPS = """
(function () {
  var leaflet;
  Object.defineProperty(window, "L", {
    configurable: true,
    get: function () { return leaflet; },
    set: function (value) {
      leaflet = value;
      var bind = value.Layer.prototype.bindTooltip;
      value.Layer.prototype.bindTooltip = function (content, options) {
        return bind.call(this, content, Object.assign({}, options, { permanent: true }));
      };
    }
  });
})();
"""


def _watched(browser: Any, live: Any, dialogs: list[str]) -> Any:
    page = _page(browser, live, viewport={"width": 1280, "height": 900})
    page.add_init_script(PERMANENT_TOOLTIPS)

    def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    return page


def _tooltip_texts(page: Any, container: str) -> list[str]:
    tip = page.locator(f"{container} .leaflet-tooltip", has_text="1101")
    tip.first.wait_for()
    page.wait_for_load_state("networkidle")
    texts: list[str] = tip.all_inner_texts()
    return texts


def test_a_grid_named_like_markup_shows_as_text_in_map_tooltips(browser: Any, live: Any) -> None:
    with live.services.uow() as uow:
        uow.session.execute(update(Grid).where(Grid.code == "1101").values(name=SCRIPT))
        summary, _ = intake.open_case_uncommitted(
            uow,
            new_case(description="lamp out", caller=None),
            datetime.now(UTC),
            ZoneInfo("Asia/Shanghai"),
        )
        uow.commit()
    dialogs: list[str] = []

    admin = _watched(browser, live, dialogs)
    _log_in(admin, live, "admin")
    admin.goto(f"{live.url}/console/dashboard")
    texts = _tooltip_texts(admin, "#hotspot-map")
    assert dialogs == []
    assert any(SCRIPT in text for text in texts), texts
    assert admin.locator("#hotspot-map img[src=x]").count() == 0

    agent = _watched(browser, live, dialogs)
    _log_in(agent, live, "agent")
    agent.goto(f"{live.url}/console/cases/{summary.number}")
    texts = _tooltip_texts(agent, "#case-map")
    assert dialogs == []
    assert f"1101 {SCRIPT}" in texts, texts
    assert agent.locator("#case-map img[src=x]").count() == 0
