"""The map that follows its view, in Chromium (issues 14 and 12).

A one-page Streamlit app draws ``mapui.show_map(select=True, follow_view=True)`` on a small
database and writes what the map reported. In the browser: zooming in swaps the view's layers
(town names appear from zoom 8, the roads come at the new detail), the groups taken off the map
are forgotten, and a click on an incident's dot selects that incident
(``mapui.selected``), as a dispatcher's click would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import shapely

from incidents.store.engine import init_db, make_engine, session_scope
from incidents.store.engine import session_factory as make_session_factory
from incidents.store.models import Incident
from tests.test_browser import CHROMIUM, _free_port
from tests.test_browser import browser as browser  # noqa: F401 - the fixture

pytestmark = [pytest.mark.browser, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2025, 12, 14, 2, 0, tzinfo=UTC)
XILINHOT = (43.95, 116.07)
APP = '''
import streamlit as st
from dashboard import mapui
result = mapui.show_map("selmap", select=True, follow_view=True, height=600)
sel = mapui.selected(result)
st.markdown(f"SELECTED={sel.kind + ':' + sel.id if sel else 'none'}")
'''
GROUPS_JS = """() => ({
    zoom: window.map.getZoom(),
    listed: (window.feature_group || []).length,
    shown: (window.feature_group || []).filter(g => window.map.hasLayer(g)).length,
    towns: document.querySelectorAll(".wo-label-town").length})"""


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The one-page app on a free port, on a database with two incidents near Xilinhot."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} not installed (make browser-deps)")
    pytest.importorskip("playwright.sync_api")
    folder = tmp_path_factory.mktemp("mapapp")
    url = f"sqlite:///{(folder / 'winterops.db').as_posix()}"
    engine = make_engine(url)
    init_db(engine)
    with session_scope(make_session_factory(engine)) as s:
        for i, (lat, lon) in enumerate([XILINHOT, (XILINHOT[0] + 0.05, XILINHOT[1] + 0.08)], 1):
            s.add(Incident(id=i, kind="stranded", title=f"incident {i}",
                           geometry=shapely.Point(lon, lat), first_report_at=T0,
                           last_report_at=T0, priority=300.0))
    engine.dispose()
    (folder / "app.py").write_text(APP, encoding="utf-8")
    (folder / "static").symlink_to(ROOT / "dashboard" / "static")
    port = _free_port()
    env = dict(os.environ, WINTEROPS_DATABASE_URL=url, PYTHONPATH=str(ROOT))
    log = open(folder / "app.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(folder / "app.py"), "--server.headless=true",
         f"--server.port={port}", "--server.address=127.0.0.1", "--server.enableStaticServing=true",
         "--browser.gatherUsageStats=false", "--server.fileWatcherType=none"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=1):  # noqa: S310
                    break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(f"the app exited: {(folder / 'app.log').read_text()}")
                time.sleep(0.5)
        else:
            pytest.fail("the app did not come up in 90 s")
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def _frame(page: Any) -> Any:
    page.locator("iframe[title*='st_folium']").first.wait_for(timeout=90_000)
    for _ in range(120):
        for frame in page.frames:
            if "st_folium" in frame.url:
                frame.locator(".leaflet-map-pane").wait_for(state="attached", timeout=60_000)
                return frame
        page.wait_for_timeout(500)
    pytest.fail("no st_folium iframe")


def _wait(page: Any, check: Any, seconds: float = 60) -> Any:
    deadline = time.time() + seconds
    value = None
    while time.time() < deadline:
        try:
            value = _frame(page).evaluate(GROUPS_JS)
            if check(value):
                return value
        except Exception:  # noqa: BLE001 - the frame is being swapped
            pass
        page.wait_for_timeout(500)
    pytest.fail(f"the map did not get there: {value}")


def test_zooming_in_brings_the_views_layers_and_a_click_selects_the_incident(
    app: str, browser: Any
) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    try:
        page.goto(app + "/", wait_until="domcontentloaded")
        first = _wait(page, lambda v: v["shown"] > 0)
        assert first["zoom"] == 6 and first["towns"] == 0, "zoomed out: no town names"
        _frame(page).evaluate(
            "(c) => { window.map.setView(c, 13, {animate: false}); return 1; }", list(XILINHOT))
        zoomed = _wait(page, lambda v: v["zoom"] == 13 and v["towns"] > 0)
        assert zoomed["listed"] == zoomed["shown"], "groups taken off the map are forgotten"
        frame = _frame(page)
        x, y = frame.evaluate(
            "(c) => { var p = window.map.latLngToContainerPoint(c); return [p.x, p.y]; }",
            list(XILINHOT))
        box = page.locator("iframe[title*='st_folium']").first.bounding_box()
        page.mouse.click(box["x"] + x + 2, box["y"] + y + 1)
        text = page.get_by_text("SELECTED=incident:1")
        text.wait_for(timeout=60_000)
        assert text.count() == 1
    finally:
        page.close()
