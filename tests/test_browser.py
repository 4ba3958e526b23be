"""The dashboard in a real browser: Debian's Chromium through Playwright, against
``winterops serve`` on the demo database (plus a fixture with hostile strings).

Every request to a host other than localhost is blocked and counted (must be zero: the app is
air-gapped); the map's Leaflet panes and layers must exist inside the st_folium iframe; opening
every tooltip and popup (the hostile call note among them) must fire no dialog. Screenshots of
each page, at desk (1920x1080) and tablet (820x1180) size, go to ``var/screenshots/``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.test_dashboard_apptest import HOSTILE, PASSWORDS, seed_fixture

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
SHOTS = ROOT / "var" / "screenshots"
DESK = {"width": 1920, "height": 1080}
TABLET = {"width": 820, "height": 1180}
LOCAL_PREFIXES = ("http://localhost:", "http://127.0.0.1:", "ws://localhost:", "data:", "blob:",
                  "about:")
OPEN_ALL_JS = """
() => {
  // hover and click every feature (at most 600): tooltips and popups render their content
  const m = window.map;
  if (!m) return {n: -1, texts: []};
  let n = 0;
  const texts = new Set();
  m.eachLayer(l => {
    if (!l.feature || n >= 600) return;
    const ll = l.getLatLng ? l.getLatLng() : (l.getBounds ? l.getBounds().getCenter() : null);
    if (!ll) return;
    l.fire("mouseover", {latlng: ll}, true);
    l.fire("click", {latlng: ll}, true);
    document.querySelectorAll(".leaflet-popup-content, .leaflet-tooltip")
      .forEach(e => texts.add(e.innerText));
    l.fire("mouseout", {latlng: ll}, true);
    n++;
  });
  return {n: n, texts: Array.from(texts)};
}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """`winterops serve` on a free port against the demo storm (+ fixture) in tmp_path."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} not installed (make browser-deps)")
    pytest.importorskip("playwright.sync_api")
    folder = tmp_path_factory.mktemp("browser")
    url = f"sqlite:///{(folder / 'winterops.db').as_posix()}"
    seed_fixture(url, folder / "var", storm=True)
    port = _free_port()
    env = dict(os.environ, WINTEROPS_DATABASE_URL=url)
    log = open(folder / "serve.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "incidents.cli.app", "serve", "--port", str(port), "--db", url],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    base = f"http://localhost:{port}"
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=1):  # noqa: S310
                    break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(f"winterops serve exited: {(folder / 'serve.log').read_text()}")
                time.sleep(0.5)
        else:
            pytest.fail("winterops serve did not come up in 60 s")
        yield base, url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking", "--disable-component-update"],
        )
        yield b
        b.close()


class Session:
    """One browser context: blocked outside requests, dialogs and page errors recorded."""

    def __init__(
        self, browser: Any, base: str, viewport: dict[str, int], **options: Any
    ) -> None:
        self.base = base
        self.outside: list[str] = []
        self.dialogs: list[str] = []
        self.context = browser.new_context(viewport=viewport, **options)
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("dialog", self._dialog)

    def _route(self, route: Any) -> None:
        url = route.request.url
        if url.startswith(LOCAL_PREFIXES):
            route.continue_()
        else:
            self.outside.append(url)
            route.abort()

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def login(self, username: str) -> None:
        page = self.page
        page.goto(self.base + "/", wait_until="domcontentloaded")
        page.locator("input[type='text']").first.wait_for(timeout=60_000)
        page.locator("input[type='text']").first.fill(username)
        page.locator("input[type='password']").fill(PASSWORDS[username])
        page.locator("input[type='password']").press("Enter")
        page.locator("input[type='password']").wait_for(state="detached", timeout=60_000)
        self.settle()

    def settle(self, ms: int = 2500) -> None:
        page = self.page
        page.wait_for_timeout(500)
        try:
            page.locator("[data-testid='stStatusWidget']").wait_for(state="hidden", timeout=20_000)
        except Exception:  # noqa: BLE001 - the widget may never appear
            pass
        page.wait_for_timeout(ms)

    def goto(self, slug: str) -> None:
        self.page.locator(f"[data-testid='stSidebarNav'] a[href$='/{slug}']").click()
        self.settle()

    def map_frame(self, timeout_s: float = 30) -> Any:
        ms = timeout_s * 1000
        self.page.locator("iframe[title*='st_folium']").first.wait_for(timeout=ms)
        for frame in self.page.frames:
            if "st_folium" in frame.url:
                frame.locator(".leaflet-map-pane").wait_for(state="attached", timeout=ms)
                return frame
        pytest.fail("no st_folium iframe")

    def shot(self, name: str) -> Path:
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def close(self) -> None:
        self.context.close()


def _check_map(frame: Any, expect_layers: int) -> None:
    panes = frame.locator(".leaflet-pane").count()
    assert panes >= 5, f"only {panes} Leaflet panes"
    drawn = frame.locator(".leaflet-overlay-pane canvas, .leaflet-overlay-pane svg").count()
    assert drawn >= 1, "nothing drawn in the overlay pane"
    frame.locator(".leaflet-control-layers").hover()
    overlays = frame.locator(".leaflet-control-layers-overlays label").count()
    assert overlays == expect_layers, f"{overlays} toggles in the layer control"
    assert frame.locator(".wo-legend").count() == 1, "legend"
    scale = frame.locator(".leaflet-control-scale-line")
    assert scale.count() == 1 and scale.first.inner_text().strip().endswith(("km", "m")), "metric"


@pytest.mark.parametrize("viewport_name", ["desk", "tablet"])
def test_admin_every_page(server: tuple[str, str], browser: Any, viewport_name: str) -> None:
    viewport = DESK if viewport_name == "desk" else TABLET
    s = Session(browser, server[0], viewport)
    try:
        s.login("admin")
        frame = s.map_frame()
        _check_map(frame, expect_layers=9)
        assert frame.locator(".wo-cluster").count() > 0, "piled-up incidents and units cluster"
        assert frame.evaluate("() => document.querySelectorAll('.wo-label').length") > 100
        opened = frame.evaluate(OPEN_ALL_JS)
        assert opened["n"] > 0, "features drawn"
        shown = "\n".join(opened["texts"])
        assert "<img src=x onerror=alert(1)>${alert(2)}`</script>" in shown, (
            "the hostile note and alert headline are shown as text"
        )
        s.page.wait_for_timeout(800)
        assert frame.locator(".leaflet-popup-content img, .leaflet-tooltip img").count() == 0
        s.shot(f"{viewport_name}-dispatch")
        for slug in ("patrol", "feeds", "review", "admin"):
            s.goto(slug)
            s.shot(f"{viewport_name}-{slug}")
        assert s.dialogs == [], f"a script ran: {s.dialogs}"
        assert s.outside == [], f"requests left the intranet: {s.outside}"
    finally:
        s.close()


def test_patrol_lead_tablet(server: tuple[str, str], browser: Any) -> None:
    from sqlalchemy import select

    from incidents.store.engine import make_engine, session_factory
    from incidents.store.models import Report

    here = {"latitude": 44.0231, "longitude": 114.9562}  # somewhere in Abag Banner
    s = Session(browser, server[0], TABLET, geolocation=here, permissions=["geolocation"])
    try:
        s.login("patrol")
        frame = s.map_frame()
        _check_map(frame, expect_layers=9)
        frame.evaluate(OPEN_ALL_JS)
        buttons = s.page.locator("[data-testid='stButton'] button")
        assert buttons.count() >= 1
        heights = [b.bounding_box()["height"] for b in buttons.all() if b.is_visible()]
        assert heights and min(heights) >= 48, f"tap targets too small: {heights}"
        s.shot("tablet-patrol-lead")
        # report a hazard where I am: the browser's location, through the local component
        gps = s.page.frame_locator("iframe[title*='wo_geolocate']")
        gps.locator("button").click()
        s.settle(1500)
        s.page.get_by_text("本机定位", exact=True).first.click()
        s.page.locator("[data-testid='stFormSubmitButton'] button").click()
        s.settle(1500)
        engine = make_engine(server[1])
        with session_factory(engine)() as db:
            mine = [r for r in db.scalars(select(Report).where(Report.kind == "patrol"))
                    if r.source == "dashboard:patrol"]
        engine.dispose()
        assert mine, "the hazard report was stored"
        assert abs(mine[-1].geometry.x - here["longitude"]) < 1e-4
        assert abs(mine[-1].geometry.y - here["latitude"]) < 1e-4
        s.page.get_by_text("夜间模式").click()
        s.settle(1500)
        s.shot("tablet-patrol-lead-night")
        assert s.dialogs == [], f"a script ran: {s.dialogs}"
        assert s.outside == [], f"requests left the intranet: {s.outside}"
    finally:
        s.close()


def test_hostile_strings_inert_in_feeds(server: tuple[str, str], browser: Any) -> None:
    s = Session(browser, server[0], DESK)
    try:
        s.login("dispatcher")
        s.goto("feeds")
        assert s.page.locator("img[src='x']").count() == 0
        assert HOSTILE  # the fixture put it in feed errors and quarantine records
        assert s.dialogs == []
        assert s.outside == []
    finally:
        s.close()


MAP_STATE_JS = """
() => {
  const m = window.map;
  const off = Array.from(document.querySelectorAll('.leaflet-control-layers-overlays label'))
    .filter(l => !l.querySelector('input').checked).map(l => l.innerText.trim());
  return {zoom: m.getZoom(), center: m.getCenter(), off: off};
}
"""


def _free_units(page: Any) -> str:
    metric = page.locator("[data-testid='stMetric']").nth(2)
    return str(metric.locator("[data-testid='stMetricValue']").inner_text())


def test_dispatcher_map_keeps_view_and_layers_and_sees_changes(
    server: tuple[str, str], browser: Any
) -> None:
    """Zoom in, switch a layer off, confirm a recommendation: same zoom, layer still off (also
    after a reload). A unit status written by another process shows within 3 s."""
    from sqlalchemy import select

    from incidents.store.engine import make_engine, session_factory, session_scope
    from incidents.store.models import Unit

    s = Session(browser, server[0], DESK)
    try:
        s.login("dispatcher")
        frame = s.map_frame()
        for _ in range(2):
            frame.locator(".leaflet-control-zoom-in").click()
            s.page.wait_for_timeout(1200)
        frame.locator(".leaflet-control-layers").hover()
        s.page.wait_for_timeout(800)
        label = frame.locator(".leaflet-control-layers-overlays label").nth(3)
        name = label.inner_text().strip()
        label.locator("input").click()
        s.page.wait_for_timeout(2500)
        before = frame.evaluate(MAP_STATE_JS)
        assert before["off"] == [name] and before["zoom"] == 8, before
        confirm = s.page.locator("[data-testid='stButton'] button:has-text('确认')")
        if confirm.count():
            confirm.first.click()
            s.settle(3000)
            frame = s.map_frame()
            frame.locator(".leaflet-control-layers").hover()
            s.page.wait_for_timeout(800)
            after = frame.evaluate(MAP_STATE_JS)
            assert after["zoom"] == before["zoom"] and after["off"] == [name], after
            assert abs(after["center"]["lat"] - before["center"]["lat"]) < 1e-6
        s.page.reload()
        s.settle(3000)
        frame = s.map_frame()
        s.page.wait_for_timeout(1500)
        frame.locator(".leaflet-control-layers").hover()
        s.page.wait_for_timeout(800)
        reloaded = frame.evaluate(MAP_STATE_JS)
        assert reloaded["zoom"] == before["zoom"] and reloaded["off"] == [name], reloaded
        s.shot("desk-dispatch-kept-view")
        # a change written by another process reaches the open page on its own
        if s.page.locator("[data-testid='stMetric']").count() < 3:
            s.login("dispatcher")  # the reload may have ended the session
        shown = _free_units(s.page)
        engine = make_engine(server[1])
        with session_scope(session_factory(engine)) as db:
            unit = db.scalars(select(Unit).where(Unit.status == "available")).first()
            assert unit is not None
            unit.status = "off_duty"
        engine.dispose()
        deadline = time.monotonic() + 3.0
        while _free_units(s.page) == shown and time.monotonic() < deadline:
            s.page.wait_for_timeout(100)
        assert _free_units(s.page) == str(int(shown) - 1), "the status change is shown in 3 s"
        assert s.dialogs == [] and s.outside == []
    finally:
        s.close()


def test_reload_keeps_the_patrol_lead_logged_in_until_log_out(
    server: tuple[str, str], browser: Any
) -> None:
    """A server-side session in a first-party cookie: reload -> still in; log out -> reload
    -> the log-in page (the session is revoked on the server, not only forgotten)."""
    import hashlib

    from sqlalchemy import select

    from incidents.store.engine import make_engine, session_factory
    from incidents.store.models import UserSession

    s = Session(browser, server[0], TABLET)
    try:
        s.login("patrol")
        page = s.page
        page.get_by_text("本车组任务").wait_for(timeout=30_000)
        cookies = {c["name"]: c for c in s.context.cookies()}
        assert "wo_session" in cookies, "the session token is kept in a cookie"
        assert cookies["wo_session"]["path"] == "/"
        assert cookies["wo_session"]["sameSite"] == "Strict"
        page.reload(wait_until="domcontentloaded")
        page.get_by_text("本车组任务").wait_for(timeout=30_000)
        assert page.locator("input[type='password']").count() == 0
        s.shot("tablet-patrol-after-reload")
        # log out from the (collapsed) sidebar
        page.locator("[data-testid='stExpandSidebarButton']").click()
        page.get_by_role("button", name="退出登录").click()
        page.locator("input[type='password']").wait_for(timeout=30_000)
        s.settle(1500)
        page.reload(wait_until="domcontentloaded")
        page.locator("input[type='password']").wait_for(timeout=30_000)
        s.settle(1500)
        assert page.get_by_text("本车组任务").count() == 0
        token_hash = hashlib.sha256(cookies["wo_session"]["value"].encode()).hexdigest()
        engine = make_engine(server[1])
        with session_factory(engine)() as db:
            row = db.scalars(select(UserSession).where(UserSession.token_hash == token_hash)).one()
        engine.dispose()
        assert row.revoked_at is not None, "log-out revoked this browser's server-side session"
        assert "wo_session" not in {c["name"] for c in s.context.cookies()}
        assert s.outside == [], f"requests left the intranet: {s.outside}"
    finally:
        s.close()
