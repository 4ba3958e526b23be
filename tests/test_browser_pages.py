"""Every page in a real browser at desk (1920x1080), wall (2560x1440) and tablet (820x1180,
touch) size, in both languages, by day and at night: issue 12's "done when".

One ``winterops serve`` on the demo storm (SQLite) for the module, Debian's Chromium through
Playwright. Logged in as dispatcher, patrol lead and admin, each page is audited
(:mod:`tests.browser_audit` says exactly what each check means):

* nothing clipped (cut-off text, elements off the screen, tabs that do not fit);
* on the tablet, every control of the patrol page and of the log-in page at least 48 px
  (map controls and the location button inside their frames included);
* no untranslated string: the rendered text compared with the catalogue
  :data:`dashboard.i18n.STRINGS` in Chinese and in English (Chinese in the English interface
  only where it is data: names, callers' words);
* at night (where a page has the switch) every text at least 4.5:1 against its background.

Screenshots go to ``var/screenshots/pages/`` (``<role>-<page>-<size>[-night|-en].png``;
generated, not committed: ``var/`` is ignored). The port is ``WINTEROPS_TEST_PORT`` when set,
else a free one.
"""

from __future__ import annotations

import os
import re
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

from dashboard.i18n import LANGUAGES, STRINGS, t
from tests.browser_audit import (
    CLIPPED_JS,
    CONTRAST_JS,
    TARGETS_JS,
    TEXT_JS,
    data_texts,
    untranslated,
    worst,
)
from tests.test_dashboard_apptest import PASSWORDS, seed_fixture

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
SHOTS = ROOT / "var" / "screenshots" / "pages"
SIZES = {
    "desk": {"width": 1920, "height": 1080},
    "wall": {"width": 2560, "height": 1440},
    "tablet": {"width": 820, "height": 1180},
}
MIN_TARGET = 48
MIN_CONTRAST = 4.5
PAGES = {"dispatcher": ("dispatch", "feeds", "review"), "patrol": ("patrol",),
         "admin": ("dispatch", "patrol", "feeds", "review", "admin")}
NIGHT = {t("patrol.dark", "zh"), t("patrol.dark", "en")}


def _port() -> int:
    if os.environ.get("WINTEROPS_TEST_PORT"):
        return int(os.environ["WINTEROPS_TEST_PORT"])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """`winterops serve` against the demo storm in tmp_path; its base URL, database, data."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} not installed (make browser-deps)")
    pytest.importorskip("playwright.sync_api")
    if os.environ.get("WINTEROPS_PAGES_SERVER"):  # a running server: "BASE_URL DATABASE_URL"
        base, url = os.environ["WINTEROPS_PAGES_SERVER"].split()
        yield {"base": base, "url": url, "data": data_texts(url, ROOT / "data" / "region")}
        return
    folder = tmp_path_factory.mktemp("pages")
    url = f"sqlite:///{(folder / 'winterops.db').as_posix()}"
    seed_fixture(url, folder / "var", storm=True)
    port = _port()
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
        yield {"base": base, "url": url, "data": data_texts(url, ROOT / "data" / "region")}
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


class Tab:
    """One browser context at one size (touch on the tablet), audited page by page."""

    def __init__(self, browser: Any, server: dict[str, str], size: str, **options: Any) -> None:
        self.server, self.size = server, size
        touch = size == "tablet"
        self.context = browser.new_context(viewport=SIZES[size], has_touch=touch, **options)
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.outside: list[str] = []
        self.findings: list[str] = []

    def _route(self, route: Any) -> None:
        url = route.request.url
        if url.startswith(("http://localhost:", "ws://localhost:", "data:", "blob:", "about:")):
            route.continue_()
        else:
            self.outside.append(url)
            route.abort()

    def settle(self, ms: int = 1500) -> None:
        """Wait for the run to end and the last run's (greyed) elements to be replaced."""
        page = self.page
        page.wait_for_timeout(400)
        for what in ("[data-testid='stStatusWidget']", "[data-stale='true']"):
            try:
                page.locator(what).first.wait_for(state="detached", timeout=20_000)
            except Exception:  # noqa: BLE001 - a part that reruns on a timer may stay
                pass
        page.wait_for_timeout(ms)

    def open_login(self) -> None:
        self.page.goto(self.server["base"] + "/", wait_until="domcontentloaded")
        self.page.locator("input[type='password']").wait_for(timeout=60_000)
        self.settle(1000)

    def login(self, username: str) -> None:
        self.open_login()
        page = self.page
        page.locator("input[type='text']").first.fill(username)
        page.locator("input[type='password']").fill(PASSWORDS[username])
        page.locator("input[type='password']").press("Enter")
        page.locator("input[type='password']").wait_for(state="detached", timeout=60_000)
        self.settle(2500)

    def goto(self, slug: str) -> None:
        nav = "[data-testid='stSidebarNav'] a"
        link = self.page.locator(f"{nav}[href$='/{slug}']")
        if not link.count():  # the default page's link is the bare root
            link = self.page.locator(nav).first
        try:
            link.first.wait_for(state="visible", timeout=8000)
        except Exception:  # noqa: BLE001 - a collapsed sidebar: open it
            self.page.locator("[data-testid='stExpandSidebarButton']").click()
            self.page.wait_for_timeout(600)
        link.first.click()
        self.page.wait_for_url(f"**/{slug}" if link.get_attribute("href", timeout=1000)
                               .rstrip("/").endswith(slug) else "**/", timeout=20_000)
        self.settle(1200)

    def map_frame(self) -> Any:
        """Wait for the map (its frame and zoom control) and return its frame."""
        self.page.locator("iframe[title*='st_folium']").first.wait_for(timeout=30_000)
        for _ in range(60):
            for frame in self.frames("st_folium"):
                try:  # drawn, and its styles loaded (a bare control is 16 px wide)
                    ready = frame.evaluate(
                        "() => document.readyState === 'complete' && !!window.map && "
                        "document.querySelector('.leaflet-control-zoom-in')"
                        ".getBoundingClientRect().width >= 26")
                except Exception:  # noqa: BLE001 - mounting, or replaced meanwhile
                    ready = False
                if ready:
                    return frame
            self.page.wait_for_timeout(250)
        pytest.fail("no map drawn")

    def frames(self, part: str) -> list[Any]:
        return [f for f in self.page.frames if part in f.url and not f.is_detached()]

    def in_frames(self, part: str, script: str, arg: Any = None) -> list[Any]:
        """Run `script` in every frame whose URL holds `part` (a frame mounted anew meanwhile:
        once more on the new one)."""
        for _ in range(3):
            try:
                return [r for f in self.frames(part) for r in f.evaluate(script, arg)]
            except Exception:  # noqa: BLE001 - the frame went away under us
                self.page.wait_for_timeout(1000)
        return [r for f in self.frames(part) for r in f.evaluate(script, arg)]

    def resize(self, size: str) -> None:
        self.page.set_viewport_size(SIZES[size])
        self.size = size
        self.page.wait_for_timeout(900)

    def shot(self, name: str) -> Path:
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"{name}-{self.size}.png"
        self.page.screenshot(path=str(path))
        return path

    def clipped(self, where: str) -> None:
        for item in self.page.evaluate(CLIPPED_JS):
            self.findings.append(f"{where} {self.size}: {item}")

    def words(self, where: str, lang: str) -> None:
        texts = list(self.page.evaluate(TEXT_JS))
        texts += self.in_frames("st_folium", TEXT_JS)
        other = [LANGUAGES[c] for c in LANGUAGES if c != lang]
        for text in untranslated(texts, lang, STRINGS, self.server["data"], other):
            self.findings.append(f"{where} {lang}: untranslated {text!r}")

    def targets(self, where: str) -> list[dict[str, Any]]:
        rows = [dict(r, frame="page") for r in self.page.evaluate(TARGETS_JS)]
        for part in ("st_folium", "wo_geolocate"):
            rows += [dict(r, frame=part) for r in self.in_frames(part, TARGETS_JS)]
        for r in rows:
            if min(r["w"], r["h"]) < MIN_TARGET:
                self.findings.append(f"{where} {self.size}: {r['w']}x{r['h']} px {r['frame']} "
                                     f"{r['what']}")
        return rows

    def night(self, on: bool) -> bool:
        """Switch night mode on or off where the page has the switch; False: it has none."""
        for label in NIGHT:
            switch = self.page.locator("[data-testid='stCheckbox'] label").filter(has_text=label)
            if switch.count() and switch.first.is_visible():
                if switch.first.locator("input").is_checked() != on:
                    switch.first.click()
                    self.settle(1000)
                return True
        return False

    def contrast(self, where: str) -> None:
        rows = [dict(r, frame="page") for r in self.page.evaluate(CONTRAST_JS, "body *")]
        rows += [dict(r, frame="map") for r in self.in_frames("st_folium", CONTRAST_JS,
                                                               ".leaflet-control *")]
        low: dict[str, int] = {}
        for r in worst(rows, "ratio", MIN_CONTRAST):
            item = f"{where} night: contrast {r['ratio']} {r['frame']} {r['what']}"
            low[item] = low.get(item, 0) + 1
        self.findings += [f"{item} (x{n})" if n > 1 else item for item, n in low.items()]

    def language(self, lang: str) -> None:
        """Choose the interface language in the sidebar."""
        radio = self.page.locator("[data-testid='stSidebar'] label").filter(
            has_text=LANGUAGES[lang])
        if not radio.first.is_visible():
            self.page.locator("[data-testid='stExpandSidebarButton']").click()
            self.page.wait_for_timeout(600)
        radio.first.click()
        self.settle(2500)

    def close(self) -> None:
        self.context.close()


# Defects found by these checks in other people's areas, reported to the session lead (issue 12
# note); a test whose only findings are these is an expected failure with the reason, and fails
# again as soon as anything else turns up. Remove an entry when its defect is fixed.
KNOWN: dict[str, str] = {
    r"/dispatch tablet: cut-off text": (
        "dispatch console at 820x1180 (laid out for desk and wall): the figures row "
        "(未结事件, 受困人数, ...) and the recommendation card's 确认 button are cut off; reported"
    ),
    r"/review tablet: cut-off text": (
        "review page at 820x1180: the figures' labels (首车到场中位数（分钟）...) are cut off; "
        "reported"
    ),
    r"/admin tablet: cut-off text": (
        "admin page at 820x1180: the users tab's buttons (解除锁定, 重置密码) are cut off; "
        "reported"
    ),
    r"/review night: contrast [\d.]+ page text@stVegaLiteChart": (
        "review page at night: the Vega-Lite chart's axis and label text keeps its day colour "
        "(contrast 3.7:1 < 4.5:1 on the night background); reported to the lead"
    ),
}


def _report(tab: Tab) -> None:
    assert tab.outside == [], f"requests left the intranet: {tab.outside}"
    known = {reason for item in tab.findings for pattern, reason in KNOWN.items()
             if re.search(pattern, item)}
    other = [item for item in tab.findings if not any(re.search(p, item) for p in KNOWN)]
    assert other == [], "\n".join(other)
    if known:
        pytest.xfail("; ".join(sorted(known)))


def test_login_page_at_every_size(server: dict[str, str], browser: Any) -> None:
    """Nothing clipped, both languages; on the tablet every control >= 48 px."""
    for size in SIZES:
        tab = Tab(browser, server, size)
        try:
            tab.open_login()
            tab.clipped("login")
            tab.words("login", "zh")
            if size == "tablet":
                tab.targets("login")
            tab.shot("login")
            if size == "desk":  # the words do not depend on the size
                tab.language("en")
                tab.words("login", "en")
                tab.shot("login-en")
            _report(tab)
        finally:
            tab.close()


def _audit_pages(
    tab: Tab, role: str, sizes: tuple[str, ...], *, words: bool = True, night: bool = True
) -> None:
    for slug in PAGES[role]:
        if len(PAGES[role]) > 1:
            tab.goto(slug)
        where = f"{role}/{slug}"
        for size in sizes:
            if size != tab.size:
                tab.resize(size)
            tab.clipped(where)
            tab.shot(f"{role}-{slug}")
        if words:
            tab.words(where, "zh")
        if night and tab.night(True):
            tab.contrast(where)
            tab.shot(f"{role}-{slug}-night")
            tab.night(False)


@pytest.mark.parametrize("role", ["dispatcher", "admin"])
def test_console_pages_desk_and_wall(server: dict[str, str], browser: Any, role: str) -> None:
    """Each page of the role at 1920x1080 and 2560x1440 in Chinese; the admin's (every page)
    at night and at 1920x1080 in English too."""
    tab = Tab(browser, server, "desk")
    try:
        tab.login(role)
        # the admin sees every page: the night and English passes are theirs
        _audit_pages(tab, role, ("desk", "wall"), night=role == "admin")
        if role != "admin":
            _report(tab)
            return
        tab.resize("desk")
        tab.language("en")
        for slug in PAGES[role]:
            tab.goto(slug)
            tab.words(f"{role}/{slug}", "en")
            tab.shot(f"{role}-{slug}-en")
        _report(tab)
    finally:
        tab.close()


def test_admin_pages_on_the_tablet(server: dict[str, str], browser: Any) -> None:
    """Every page at 820x1180 (touch): nothing clipped (words and night: on the desk)."""
    tab = Tab(browser, server, "tablet")
    try:
        tab.login("admin")
        _audit_pages(tab, "admin", ("tablet",), words=False, night=False)  # done on the desk
        _report(tab)
    finally:
        tab.close()


def test_patrol_lead_tablet(server: dict[str, str], browser: Any) -> None:
    """The patrol lead's page: audited at every size, by day and at night, in both languages;
    a tap on the map drops a pin there and picks it as the report's place; log-out on the page.
    """
    tab = Tab(browser, server, "tablet")
    page = tab.page
    try:
        tab.login("patrol")
        tab.map_frame()
        rows = tab.targets("patrol")
        assert any(r["frame"] == "st_folium" for r in rows), "the map's controls were measured"
        assert any(r["frame"] == "wo_geolocate" for r in rows), "the location button too"
        main = page.locator("[data-testid='stMainBlockContainer']")
        for label in (t("patrol.dark", "zh"), "English", t("login.logout", "zh")):
            assert main.get_by_text(label, exact=True).first.is_visible(), f"{label} on the page"
        _audit_pages(tab, "patrol", ("tablet",))
        _tap_the_map(tab)
        for size in ("desk", "wall"):
            tab.resize(size)
            tab.clipped("patrol")
            tab.shot("patrol-patrol")
        tab.resize("tablet")
        main.get_by_role("button", name="English", exact=True).click()
        # the whole page redraws in English (the map's first English draw may take a while)
        main.get_by_text(t("patrol.hazards", "en"), exact=True).wait_for(timeout=60_000)
        tab.settle(1500)
        tab.words("patrol/patrol", "en")
        tab.targets("patrol en")
        tab.shot("patrol-patrol-en")
        tab.night(True)
        tab.contrast("patrol/patrol en")
        tab.shot("patrol-patrol-en-night")
        main.get_by_role("button", name=t("login.logout", "en"), exact=True).click()
        page.locator("input[type='password']").wait_for(timeout=30_000)
        _report(tab)
    finally:
        tab.close()


PINS_JS = """
() => { const out = []; window.map.eachLayer(l => {
  if (l.options && l.options.fillColor === '#d81b60') out.push(l.getLatLng()); });
  return {pins: out, zoom: window.map.getZoom()}; }
"""


def _tap_the_map(tab: Tab) -> None:
    """Zoom in, tap the map: a pin at the spot, the report form picks the point, the view stays."""
    tab.settle(1000)
    iframe = tab.page.locator("iframe[title*='st_folium']").first
    for _ in range(5):  # the map may be mounted anew (night mode was switched off) meanwhile
        frame = tab.map_frame()
        try:
            iframe.scroll_into_view_if_needed(timeout=5000)
            break
        except Exception:  # noqa: BLE001 - detached under us: take the new one
            tab.page.wait_for_timeout(1000)
    frame.locator(".leaflet-control-zoom-in").click()
    tab.page.wait_for_timeout(1200)
    zoom = frame.evaluate(PINS_JS)["zoom"]
    box = iframe.bounding_box()
    tab.page.mouse.click(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.6)
    seen: dict[str, Any] = {}
    for _ in range(40):  # the page reruns and mounts the map again
        tab.page.wait_for_timeout(500)
        try:
            seen = tab.map_frame().evaluate(PINS_JS)
        except Exception:  # noqa: BLE001 - the old frame went away meanwhile
            continue
        if seen["pins"]:
            break
    assert len(seen.get("pins", [])) == 1, f"pins after a tap: {seen}"
    assert seen["zoom"] == zoom, "the lead's view is kept"
    tab.settle(500)
    chosen = tab.page.locator("[data-testid='stRadio'] input:checked").evaluate_all(
        "els => els.map(e => e.closest('label').innerText.trim())")
    assert t("patrol.use_tap", "zh") in chosen, chosen
    tab.shot("patrol-patrol-pin")
