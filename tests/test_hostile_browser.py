"""200 hostile strings through every input path, then every page in Chromium: nothing runs.

The corpus (``tests/fixtures/hostile/corpus.json``, built by ``build_corpus.py``): HTML text and
attribute breakouts, JavaScript string and template-literal breakouts (folium/Leaflet popups and
tooltips), Jinja injection, ``javascript:``/``data:`` URLs, Markdown injection (Streamlit),
CSV/formula injection, Unicode bidi/zero-width/look-alikes and very long strings. Every payload
that would run calls ``__pwned(N)``.

``tests/fixtures/hostile/seed.py`` feeds it through the real paths (calls CSV, drone detections,
Waze, CAP, NWS, the unit roster import, users and log-in attempts, patrol hazard notes, a feed)
into a SQLite database with the demo storm. Then ``winterops serve`` runs on it and Chromium
(Debian's, through Playwright) visits every page in the sidebar as dispatcher, patrol lead and
admin, opens every expander and tab, and hovers and clicks every map feature that carries a
hostile string (tooltips and popups render). Counted, and asserted to be zero:

- executions: the ``__pwned`` hook (installed in every frame with ``add_init_script``, it logs
  to the console) and dialogs (``alert``/``confirm``/``prompt``);
- armed injections not yet triggered: an element attribute that is an event handler calling
  the hook, or a URL attribute (``href``, ``src``, ``action`` ...) with ``javascript:``/``data:``
  or the corpus's outside host;
- requests that leave localhost (a Markdown image, a CSS ``@import``);
- frames on a ``data:``/``javascript:`` URL.

Besides: the CSV export of the same database starts no cell with a formula character.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.hostile.seed import CORPUS, Seeded, seed

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CACHE = ROOT / "var" / "test-cache"
PASSWORDS = {"dispatcher": "winter-dispatch", "patrol": "winter-patrol", "admin": "winter-admin"}
LOCAL = ("http://localhost:", "http://127.0.0.1:", "ws://localhost:", "ws://127.0.0.1:",
         "data:", "blob:", "about:")
HOOK = """
(() => {
  const hit = (what) => { try { console.log("__PWNED__ " + what); } catch (e) {} };
  Object.defineProperty(window, "__pwned", {value: (n) => hit(String(n)), writable: false});
})();
"""
# attributes that would run or fetch something: an event handler calling the hook, a URL to
# javascript:/data:/the corpus's outside host
ARMED_JS = """
() => {
  const bad = [];
  const urlAttrs = new Set(["href", "src", "srcdoc", "action", "formaction", "data",
                            "background", "poster", "xlink:href", "style", "content"]);
  for (const el of document.querySelectorAll("*")) {
    for (const a of el.attributes) {
      const name = a.name.toLowerCase(), v = a.value;
      if (name.startsWith("on") && /pwned|alert\\(/.test(v)) bad.push(el.tagName + " " + name);
      else if (urlAttrs.has(name) && !v.startsWith("#")  // Streamlit's heading anchors
               && /^\\s*(javascript|vbscript):|evil\\.example|pwned/i.test(v))
        bad.push(el.tagName + " " + name + "=" + v.slice(0, 80));
    }
  }
  // Markdown structure made from outside text (a link, an image, a heading, a code block ...)
  const made = "a, img, pre, table, blockquote, del, h1, h2, h4, h5, h6, li";
  for (const box of document.querySelectorAll("[data-testid='stMarkdownContainer']")) {
    for (const el of box.querySelectorAll(made)) {
      if (el.tagName === "A" && (el.getAttribute("href") || "").startsWith("#")) continue;
      const what = el.textContent + " " + (el.getAttribute("src") || el.getAttribute("href") || "");
      if (/pwned|evil\\.example/.test(what)) bad.push("markdown " + el.tagName + ": " + what.slice(0, 60));
    }
  }
  return bad;
}
"""
OPEN_HOSTILE_JS = """
() => {
  // hover and click every feature whose properties carry a corpus string (+ the first 150)
  const m = window.map;
  if (!m) return {n: -1, texts: ""};
  let n = 0, plain = 0, texts = "";
  m.eachLayer(l => {
    if (!l.feature) return;
    const hostile = /pwned|evil|&lt;|&#|javascript|\\u202e/i.test(JSON.stringify(l.feature));
    if (!hostile && plain++ > 150) return;
    const ll = l.getLatLng ? l.getLatLng() : (l.getBounds ? l.getBounds().getCenter() : null);
    if (!ll) return;
    l.fire("mouseover", {latlng: ll}, true);
    l.fire("click", {latlng: ll}, true);
    document.querySelectorAll(".leaflet-popup-content, .leaflet-tooltip").forEach(e => {
      texts += " " + e.innerText;
    });
    l.fire("mouseout", {latlng: ll}, true);
    n++;
  });
  return {n: n, texts: texts};
}
"""
SHOWN = re.compile(r"__pwned\((\d+)\)")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


# ------------------------------------------------------------------------------ the database


def _code_key() -> str:
    """A hash of what decides the demo database's shape: the data, the schema, the demo loader.

    Not every module: other code changes do not make a cached demo unusable for this test
    (it adds its own records and only looks at how they are shown).
    """
    h = hashlib.sha256()
    paths = [*sorted((ROOT / "data").rglob("*")),
             *sorted((ROOT / "incidents" / "store").rglob("*.py")),
             *sorted((ROOT / "incidents" / "replay").rglob("*.py"))]
    for p in paths:
        if p.is_file() and p.suffix in {".py", ".csv", ".geojson", ".json", ".toml", ".xml"}:
            h.update(str(p.relative_to(ROOT)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()[:16]


def _demo_base(folder: Path) -> Path:
    """The demo storm in a SQLite file, loaded once per version of the code and data.

    ``winterops demo`` takes ~30-45 s on a busy machine; the loaded file is copied (SQLite's
    backup API) and reused while no file it depends on changes.
    """
    from dataclasses import replace

    from incidents.replay.demo import load_demo
    from incidents.settings import Settings
    from incidents.store.engine import init_db, make_engine

    cached = CACHE / f"hostile-demo-{_code_key()}.db"
    if not cached.is_file():
        CACHE.mkdir(parents=True, exist_ok=True)
        for old in CACHE.glob("hostile-demo-*.db"):
            old.unlink()
        fresh = folder / "demo.db"
        url = f"sqlite:///{fresh.as_posix()}"
        engine = make_engine(url)
        init_db(engine)
        load_demo(engine, replace(Settings.from_env({}), database_url=url,
                                  var_dir=folder / "var"))
        engine.dispose()
        partial = cached.with_suffix(".part")
        with sqlite3.connect(fresh) as src, sqlite3.connect(partial) as dst:
            src.backup(dst)
        partial.replace(cached)
    return cached


def _restart_clock(url: str) -> None:
    """Let the storm's clock run from now (a cached copy would otherwise be hours old)."""
    from sqlalchemy import func, select

    from incidents.clock import set_clock
    from incidents.store.engine import make_engine, session_factory, session_scope
    from incidents.store.models import Report
    from incidents.store.runtime import clock_setting

    engine = make_engine(url)
    with session_scope(session_factory(engine)) as s:
        clock = clock_setting(s)
        start = clock.now if clock is not None else s.scalar(select(func.max(Report.observed_at)))
        if start is not None:
            set_clock(s, start if isinstance(start, datetime) else datetime.fromisoformat(start),
                      running_from=datetime.now(UTC))
    engine.dispose()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(proc: subprocess.Popen[bytes], base: str, log_path: Path) -> None:
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=1):  # noqa: S310
                return
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"winterops serve exited: {log_path.read_text()}")
            time.sleep(0.5)
    pytest.fail("winterops serve did not come up in 90 s")


@dataclass
class Hostile:
    """The seeded database and the dashboard serving it."""

    url: str
    seeded: Seeded
    folder: Path
    base: str


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hostile]:
    """The demo storm plus the corpus through every input path, and ``winterops serve`` on it.

    The server starts first (it reads nothing until a browser connects), so its start-up
    overlaps the seeding. Port: WINTEROPS_TEST_PORT, else a free one.
    """
    folder = tmp_path_factory.mktemp("hostile")
    db = folder / "winterops.db"
    with sqlite3.connect(_demo_base(folder)) as src, sqlite3.connect(db) as dst:
        src.backup(dst)
    url = f"sqlite:///{db.as_posix()}"
    _restart_clock(url)
    port = int(os.environ.get("WINTEROPS_TEST_PORT") or _free_port())
    log_path = folder / "serve.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "incidents.cli.app", "serve", "--port", str(port), "--db", url],
            cwd=ROOT, env=dict(os.environ, WINTEROPS_DATABASE_URL=url), stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            seeded = seed(url, folder)
            base = f"http://localhost:{port}"
            _wait_healthy(proc, base, log_path)
            yield Hostile(url, seeded, folder, base)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} not installed (make browser-deps)")
    pytest.importorskip("playwright.sync_api")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update"])
        yield b
        b.close()


# ------------------------------------------------------------------------------ the visit


@dataclass
class Watch:
    """Everything a visit counts: executions, dialogs, armed attributes, outside requests."""

    executions: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    armed: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    bad_frames: list[str] = field(default_factory=list)
    pages: list[str] = field(default_factory=list)
    features: int = 0
    shown: dict[str, set[int]] = field(default_factory=lambda: {"page": set(), "map": set()})

    def saw(self, text: str, where: str) -> None:
        """Note which corpus strings `text` shows (as text: their hook call is visible)."""
        self.shown[where].update(int(n) for n in SHOWN.findall(text))

    def problems(self) -> dict[str, list[str]]:
        """The non-empty counters (the test wants none)."""
        got = {"executions": self.executions, "dialogs": self.dialogs, "armed": self.armed,
               "outside requests": self.outside, "data:/javascript: frames": self.bad_frames}
        return {k: sorted(set(v))[:20] for k, v in got.items() if v}


class Visit:
    """One browser context logged in as one user, with the hook and the counters."""

    def __init__(self, browser: Any, base: str, watch: Watch) -> None:
        self.base, self.watch = base, watch
        self.context = browser.new_context(viewport={"width": 1600, "height": 1000},
                                           geolocation={"latitude": 44.02, "longitude": 114.95},
                                           permissions=["geolocation"])
        self.context.add_init_script(HOOK)
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("dialog", self._dialog)
        self.page.on("console", self._console)

    def _route(self, route: Any) -> None:
        url = route.request.url
        if url.startswith(LOCAL) and "evil.example" not in url:
            route.continue_()
        else:
            self.watch.outside.append(url[:120])
            route.abort()

    def _dialog(self, dialog: Any) -> None:
        self.watch.dialogs.append(f"{dialog.type}: {dialog.message[:80]}")
        dialog.dismiss()

    def _console(self, msg: Any) -> None:
        if "__PWNED__" in msg.text:
            self.watch.executions.append(msg.text)

    def settle(self, ms: int = 600) -> None:
        """Wait for Streamlit's run to finish, then a little longer."""
        self.page.wait_for_timeout(400)
        try:
            self.page.locator("[data-testid='stStatusWidget']").wait_for(
                state="hidden", timeout=30_000)
        except Exception:  # noqa: BLE001 - the widget may never appear
            pass
        self.page.wait_for_timeout(ms)

    def login(self, username: str) -> None:
        """Log in through the form."""
        page = self.page
        page.goto(self.base + "/", wait_until="domcontentloaded")
        page.locator("input[type='text']").first.wait_for(timeout=60_000)
        page.locator("input[type='text']").first.fill(username)
        page.locator("input[type='password']").fill(PASSWORDS[username])
        page.locator("[data-testid='stFormSubmitButton'] button").first.click()
        # the first run after a log-in warms the server's caches: slow on a busy machine
        page.locator("input[type='password']").wait_for(state="detached", timeout=150_000)
        self.settle()

    def pages(self) -> list[str]:
        """The sidebar's page links (what this role may open)."""
        links = self.page.locator("[data-testid='stSidebarNav'] a")
        return [str(a.get_attribute("href")) for a in links.all()]

    def open_everything(self) -> None:
        """Open every expander and tab, hover/click hostile map features, scan attributes."""
        page = self.page
        for tab in page.locator("[data-baseweb='tab']").all():
            try:
                tab.click(timeout=3000)
                page.wait_for_timeout(200)
            except Exception:  # noqa: BLE001 - a tab hidden behind another element
                pass
        for summary in page.locator("[data-testid='stExpander'] summary").all():
            try:
                summary.click(timeout=3000)
            except Exception:  # noqa: BLE001
                pass
        for frame in page.frames:
            if "st_folium" in frame.url:
                try:
                    frame.locator(".leaflet-map-pane").wait_for(state="attached", timeout=30_000)
                    got = frame.evaluate(OPEN_HOSTILE_JS)
                    self.watch.features += max(0, int(got["n"]))
                    self.watch.saw(str(got["texts"]), "map")
                except Exception:  # noqa: BLE001 - a map redrawn while we walk it
                    pass
        self.settle(400)
        self.scan()

    def scan(self) -> None:
        """Record armed attributes and data:/javascript: frames in every frame."""
        for frame in self.page.frames:
            if frame.url.startswith(("data:", "javascript:")):
                self.watch.bad_frames.append(frame.url[:80])
                continue
            try:
                self.watch.armed += frame.evaluate(ARMED_JS)
                self.watch.saw(frame.evaluate("() => document.body.innerText"), "page")
            except Exception:  # noqa: BLE001 - a frame detached meanwhile
                pass

    def canary(self) -> list[str]:
        """Run a known injection in the page and in the map's frame: the hook must see both.

        Proves the counters work where the corpus is shown; the canary's hits are taken out.
        """
        inject = ("() => document.body.insertAdjacentHTML('beforeend', "
                  "'<img class=wo-canary src=x onerror=__pwned(\\'canary-' + location.pathname "
                  "+ '\\');this.remove()>')")
        frames = [f for f in self.page.frames if f is self.page.main_frame or "st_folium" in f.url]
        for frame in frames:
            frame.evaluate(inject)
        deadline = time.time() + 20  # the error event waits for the server's answer to src=x
        while time.time() < deadline:
            self.page.wait_for_timeout(250)
            if sum("canary" in e for e in self.watch.executions) >= len(frames):
                break
        hits = [e for e in self.watch.executions if "canary" in e]
        self.watch.executions = [e for e in self.watch.executions if "canary" not in e]
        return hits

    def close(self) -> None:
        """Close the context."""
        self.context.close()


def visit_all(browser: Any, base: str, username: str, watch: Watch) -> list[str]:
    """Log in as `username`, open every page it may see and everything on it."""
    v = Visit(browser, base, watch)
    try:
        v.login(username)
        watch.pages.append(f"{username}:landing")
        v.open_everything()
        if username == "dispatcher":
            hits = v.canary()
            assert len(hits) == 2, f"the hook saw {hits}: not installed in the page and the map"
        hrefs = v.pages()
        for href in hrefs:
            slug = href.rstrip("/").rsplit("/", 1)[-1]
            if href.rstrip("/") == v.base:  # the landing page, seen already
                continue
            v.page.locator(f"[data-testid='stSidebarNav'] a[href='{href}']").click()
            v.settle()
            watch.pages.append(f"{username}:{slug}")
            v.open_everything()
        return hrefs
    finally:
        v.close()


# ------------------------------------------------------------------------------ the tests


def test_escapes_make_the_corpus_inert() -> None:
    """escape_text: nothing HTML or a JS template literal would read (line feeds stay: the text
    reaches scripts only as JSON); escape_markdown: no line
    ending (a CR alone ends a Markdown line too) and every special character escaped."""
    from dashboard.escape import escape_markdown, escape_text

    for text in CORPUS:
        html = escape_text(text, max_len=100_000)
        assert not set(html) & set("<>\"'`${}\\\u2028\u2029"), repr(html[:80])
        md = escape_markdown(text, max_len=100_000)
        assert "\r" not in md and "\n" not in md, repr(md[:80])
        bare = re.sub(r"\\.", "", md)  # drop the escaped pairs: no special character left
        assert not set(bare) & set("`*_[]()#!|<>~$:&"), repr(md[:80])


def test_corpus_went_through_every_path(hostile: Hostile) -> None:
    """The seeding stored (or quarantined) what each path got; nothing was unreadable."""
    c = hostile.seeded.counts
    assert len(CORPUS) == 200
    assert c["calls:calls.csv"]["accepted"] + c["calls:calls.csv"]["quarantined"] == 200
    assert c["drone:detections.csv"]["accepted"] > 0
    assert c["waze:waze.json"]["accepted"] == 200
    assert c["alerts:cap"]["accepted"] == 40 and c["alerts:nws.json"]["accepted"] == 20
    assert all(v["unreadable"] == 0 for k, v in c.items() if ":" in k)
    assert c["units"]["units"]["updated"] > 0
    assert c["users_added"] + c["users_refused"] == 200
    assert c["hazard_notes"] > 10


def test_no_script_runs_on_any_page(hostile: Hostile, browser: Any) -> None:
    """Dispatcher, patrol lead and admin: every page, expander, tab and map feature."""
    watch = Watch()
    seen = {u: visit_all(browser, hostile.base, u, watch)
            for u in ("dispatcher", "patrol", "admin")}
    assert len(seen["admin"]) >= 4, seen
    assert watch.features > 0, "no map feature opened"
    # the strings reached the screen, as text (their hook calls are readable, not run)
    shown = {k: len(v) for k, v in watch.shown.items()}
    print(f"hostile strings shown as text: {shown}; map features opened: {watch.features}; "
          f"pages: {watch.pages}")
    assert shown["page"] >= 1 and shown["map"] >= 50, shown
    assert watch.problems() == {}, f"{watch.problems()} (pages: {watch.pages})"


def test_csv_export_is_formula_safe(hostile: Hostile) -> None:
    """No text cell of the CSV export of any layer of the hostile database reads as a formula."""
    from incidents.exports.csv import csv_layer
    from incidents.store.engine import make_engine, session_factory

    engine = make_engine(hostile.url)
    cells = 0
    try:
        with session_factory(engine)() as s:
            for layer in ("incidents", "hazards", "tasks", "units", "assignments"):
                for row in csv.reader(io.StringIO(csv_layer(s, layer))):
                    for cell in row:
                        cells += 1
                        if cell.startswith(FORMULA_START) and not _number(cell):
                            pytest.fail(f"{layer}: a cell starts like a formula: {cell[:60]!r}")
    finally:
        engine.dispose()
    assert cells > 1000


def _number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True
