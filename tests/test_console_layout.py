"""The dispatcher console at a 1920x1080 desk and a 2560x1440 wall, by day and by night (issue 12).

In Debian's Chromium against ``winterops serve`` on the demo storm (the fixture server of
``tests/test_browser.py``): the map comes first and fills the window's height, the side column
sits beside it and nothing in it is cut off (tabs, tables, cards), more than 2.5 recommendation
cards show, the wall gives the map and the side column more room, and in night mode every text
on the page reads at a contrast of at least 4.5:1. Screenshots go to ``var/screenshots/``.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.test_browser import DESK, Session, browser, server  # noqa: F401 - fixtures

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WALL = {"width": 2560, "height": 1440}

LAYOUT_JS = """
() => {
  const box = e => { const r = e.getBoundingClientRect();
    return {left: r.left, top: r.top, right: r.right, bottom: r.bottom, width: r.width,
            height: r.height}; };
  const map = Array.from(document.querySelectorAll("iframe[title*='st_folium']"))
    .sort((a, b) => b.getBoundingClientRect().height - a.getBoundingClientRect().height)[0];
  const side = document.querySelector(".st-key-wo_side");
  const tabs = side && side.querySelector("[role='tablist']");
  const cards = side ? Array.from(side.querySelectorAll("[class*='st-key-wo_card_']")) : [];
  const vh = window.innerHeight;
  const shown = cards.map(c => { const r = c.getBoundingClientRect();
    return Math.max(0, Math.min(r.bottom, vh) - Math.max(r.top, 0)) / Math.max(1, r.height); });
  return {
    map: map && box(map), side: side && box(side),
    sideOverflowX: side ? side.scrollWidth - side.clientWidth : -1,
    tabs: tabs ? tabs.querySelectorAll("[role='tab']").length : 0,
    tabsOverflow: tabs ? tabs.scrollWidth - tabs.clientWidth : -1,
    tabsHeight: tabs ? tabs.getBoundingClientRect().height : 0,
    cardsShown: shown.reduce((a, b) => a + b, 0),
    pageOverflowY: document.documentElement.scrollHeight - vh,
  };
}
"""

TABLES_JS = """
() => Array.from(document.querySelectorAll(".st-key-wo_side .dvn-scroller"))
  .filter(e => e.offsetParent).map(e => e.scrollWidth - e.clientWidth)
"""

# WCAG contrast of every visible text on the page against the background it sits on (tables
# are canvases, left out; map frames are their own documents)
CONTRAST_JS = """
() => {
  const parse = c => { const m = c.match(/[\\d.]+/g) || [0, 0, 0, 0];
    return [+m[0], +m[1], +m[2], m.length > 3 ? +m[3] : 1]; };
  const lum = ([r, g, b]) => { const f = v => { v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const background = e => {
    let layers = [];
    for (let n = e; n && n.nodeType === 1; n = n.parentElement) {
      const c = parse(getComputedStyle(n).backgroundColor);
      if (c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
    }
    let out = [255, 255, 255];
    for (let i = layers.length - 1; i >= 0; i--) {
      const [r, g, b, a] = layers[i];
      out = [r * a + out[0] * (1 - a), g * a + out[1] * (1 - a), b * a + out[2] * (1 - a)];
    }
    return out;
  };
  const bad = [];
  let n = 0;
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let t = walker.nextNode(); t; t = walker.nextNode()) {
    const e = t.parentElement;
    if (!t.textContent.trim() || !e || e.closest("[data-testid='stDataFrame'], script, style")) continue;
    const r = e.getBoundingClientRect(), s = getComputedStyle(e);
    if (r.width < 1 || r.height < 1 || s.visibility === "hidden" || +s.opacity === 0) continue;
    if (r.bottom < 0 || r.top > window.innerHeight) continue;
    const fg = parse(s.color), bg = background(e);
    const a = fg[3], mixed = [fg[0] * a + bg[0] * (1 - a), fg[1] * a + bg[1] * (1 - a),
                              fg[2] * a + bg[2] * (1 - a)];
    let o = 1;
    for (let p = e; p && p.nodeType === 1; p = p.parentElement) o *= +getComputedStyle(p).opacity;
    const shown = [mixed[0] * o + bg[0] * (1 - o), mixed[1] * o + bg[1] * (1 - o),
                   mixed[2] * o + bg[2] * (1 - o)];
    const l1 = lum(shown), l2 = lum(bg);
    const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
    n++;
    if (ratio < 4.5) bad.push([t.textContent.trim().slice(0, 40), ratio.toFixed(2), s.color,
                               "rgb(" + bg.map(Math.round).join(",") + ")"]);
  }
  return {n: n, bad: bad};
}
"""


def _console(chromium: Any, base: str, viewport: dict[str, int], night: bool) -> Session:
    s = Session(chromium, base, viewport)
    s.login("dispatcher")
    _map_drawn(s)  # the map frame is drawn again once the window's size is known
    if night:
        s.page.locator("[data-testid='stSidebar']").get_by_text("夜间模式").click()
        s.settle(1500)
    _map_drawn(s)
    return s


def _map_drawn(s: Session) -> None:
    """Wait until the window's size reached the server and the map is drawn at its height.

    The map is drawn again after the night switch (and once the window size is known), so
    the frame is looked up afresh each time.
    """
    s.page.wait_for_function(
        "() => Array.from(document.querySelectorAll(\"iframe[title*='st_folium']\"))"
        ".some(f => f.getBoundingClientRect().height > window.innerHeight - 140)",
        timeout=90_000,
    )
    s.settle(1500)


def _layout(s: Session, viewport: dict[str, int]) -> dict[str, Any]:
    _map_drawn(s)
    got: dict[str, Any] = s.page.evaluate(LAYOUT_JS)
    vh = viewport["height"]
    mapbox, side = got["map"], got["side"]
    assert mapbox and side, got
    assert mapbox["top"] < 140 and mapbox["height"] >= vh - 140, f"map not window-tall: {mapbox}"
    assert side["left"] >= mapbox["right"] - 2, "the side column sits beside the map"
    assert side["bottom"] <= vh + 1 and got["pageOverflowY"] <= 2, "the page itself does not scroll"
    assert got["sideOverflowX"] <= 1, "nothing in the side column is cut off sideways"
    assert got["tabs"] == 4 and got["tabsOverflow"] <= 1, got
    assert got["tabsHeight"] < 60, "the tabs fit in one row"
    assert got["cardsShown"] > 2.5, f"only {got['cardsShown']:.2f} recommendation cards show"
    return got


@pytest.mark.parametrize("night", [False, True], ids=["day", "night"])
def test_console_desk_and_wall(server: tuple[str, str], browser: Any, night: bool) -> None:  # noqa: F811
    when = "night" if night else "day"
    sizes: dict[str, dict[str, Any]] = {}
    for name, viewport in (("desk", DESK), ("wall", WALL)):
        s = _console(browser, server[0], viewport, night)
        try:
            sizes[name] = _layout(s, viewport)
            s.shot(f"console-{name}-{when}")
            s.page.locator("[role='tab']").nth(1).click()  # the queue: every column readable
            s.settle(1500)
            assert all(x <= 1 for x in s.page.evaluate(TABLES_JS)), "queue columns cut off"
            s.shot(f"console-{name}-{when}-queue")
            if night:
                for tab in range(4):
                    s.page.locator("[role='tab']").nth(tab).click()
                    s.settle(1200)
                    seen = s.page.evaluate(CONTRAST_JS)
                    assert seen["n"] > 20, seen
                    assert not seen["bad"], f"text below 4.5:1 at night: {seen['bad'][:8]}"
            assert s.outside == [] and s.dialogs == []
        finally:
            s.close()
    desk, wall = sizes["desk"], sizes["wall"]
    assert wall["side"]["width"] > desk["side"]["width"] * 1.15, "the wall's side column is wider"
    assert wall["map"]["width"] > desk["map"]["width"] * 1.3, "and its map larger"
    assert wall["map"]["height"] > desk["map"]["height"] * 1.3
