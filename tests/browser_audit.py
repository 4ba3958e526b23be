"""Page audits for the browser tests (:mod:`tests.test_browser_pages`): what each check means.

Run in a Playwright page (or frame); every check returns the offending elements as short
strings, so an assertion message says what and where.

Clipped (:data:`CLIPPED_JS`), in the main document (an iframe, e.g. the map, counts as one box):

* **cut-off text**: an element holding text (its own, or a short text of at most two children
  and no frame, canvas, picture or input inside) whose content is wider than its box
  (``scrollWidth > clientWidth + 1``) while its overflow hides the rest (``overflow-x``
  hidden/clip, or ``text-overflow: ellipsis``: "未…" for a metric's label);
* **off the screen**: a visible element whose shown part (its box cut to its ancestors that
  clip or scroll: a wide table scrolled sideways in its frame is not off the screen) reaches
  past the left or right edge of the viewport; the collapsed sidebar (off screen on purpose)
  is left out;
* **the page scrolls sideways**: the main area is wider than the window;
* **tabs that do not fit**: a tab list (``role=tablist``) whose tabs are wider than the list
  (some tabs are only reachable by scrolling the tab bar).

Not seen: text drawn on a canvas (``st.dataframe`` cells; a cut-off column there is not in the
DOM).

Tap targets (:data:`TARGETS_JS`): every visible clickable element (buttons, links, inputs,
selects, summaries, tabs, radios, checkboxes, switches, Leaflet's zoom and layer controls), each
measured by what a finger hits: the ``label`` around a radio or checkbox, the whole select box
around its inner input and button. Leaflet's attribution link is left out (not a control).

Text (:data:`TEXT_JS`): the visible text nodes, whitespace collapsed. :func:`untranslated`
compares them with the catalogue :data:`dashboard.i18n.STRINGS`.

Contrast (:data:`CONTRAST_JS`): for each visible element with its own text, the WCAG contrast
ratio of its computed colour (``fill`` for SVG text, e.g. chart axes) against the background
behind it (the ancestors' background colours composited, white below all); background images
and canvases are not seen.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = [
    "CLIPPED_JS",
    "CONTRAST_JS",
    "TARGETS_JS",
    "TEXT_JS",
    "data_texts",
    "untranslated",
]

_VISIBLE = """
  const visible = el => {
    if (!el.checkVisibility || !el.checkVisibility({checkOpacity: true,
        checkVisibilityCSS: true})) return false;
    const sb = el.closest('[data-testid="stSidebar"]');
    if (sb && sb.getAttribute('aria-expanded') === 'false') return false;
    const r = el.getBoundingClientRect();
    return r.width > 1 && r.height > 1;  // 1 px: a screen-reader-only element
  };
  const ownText = el => Array.from(el.childNodes)
    .filter(n => n.nodeType === 3).map(n => n.textContent).join(' ').replace(/\\s+/g, ' ').trim();
  const where = el => {
    const tid = el.closest('[data-testid]');
    const txt = (el.innerText || el.getAttribute('aria-label') || '').trim().slice(0, 40);
    return el.tagName.toLowerCase() + (tid ? '@' + tid.getAttribute('data-testid') : '')
      + (txt ? ' "' + txt.replace(/\\s+/g, ' ') + '"' : '');
  };
"""

CLIPPED_JS = (
    "() => {" + _VISIBLE + """
  const vw = document.documentElement.clientWidth;
  const shown = el => {  // the part of the box its clipping ancestors let through
    const r = el.getBoundingClientRect();
    let left = r.left, right = r.right;
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      if (getComputedStyle(p).overflowX !== 'visible') {
        const b = p.getBoundingClientRect();
        left = Math.max(left, b.left);
        right = Math.min(right, b.right);
      }
    }
    return [left, right];
  };
  const boxes = 'iframe, canvas, svg, img, input, textarea, select, [data-testid="stDataFrame"]';
  const out = [];
  for (const el of document.querySelectorAll('body *')) {
    if (['SCRIPT', 'STYLE', 'NOSCRIPT'].includes(el.tagName) || !visible(el)) continue;
    const s = getComputedStyle(el);
    const texty = ownText(el) || (el.children.length <= 2 && !el.querySelector(boxes)
      && (el.innerText || '').trim().length > 0 && (el.innerText || '').trim().length < 200);
    if (texty && el.scrollWidth > el.clientWidth + 1
        && (/(hidden|clip)/.test(s.overflowX) || s.textOverflow === 'ellipsis')) {
      out.push('cut-off text: ' + where(el) + ' ' + el.scrollWidth + '>' + el.clientWidth);
    }
    const [left, right] = shown(el);
    if (right > left && (right > vw + 1 || left < -1)) {
      out.push('off screen: ' + where(el) + ' x ' + Math.round(left) + '..'
               + Math.round(right) + ' of ' + vw);
    }
  }
  const main = document.querySelector('[data-testid="stMain"]');
  if (main && main.scrollWidth > main.clientWidth + 1) {
    out.push('the page scrolls sideways: ' + main.scrollWidth + '>' + main.clientWidth);
  }
  for (const tl of document.querySelectorAll('[role="tablist"]')) {
    if (visible(tl) && tl.scrollWidth > tl.clientWidth + 1) {
      out.push('tabs do not fit: ' + where(tl) + ' ' + tl.scrollWidth + '>' + tl.clientWidth);
    }
  }
  return Array.from(new Set(out));
}"""
)

TARGETS_JS = (
    "() => {" + _VISIBLE + """
  const sel = 'button, a[href], input:not([type="hidden"]), select, textarea, summary, '
    + '[role="button"], [role="tab"], [role="radio"], [role="checkbox"], [role="switch"], '
    + '.leaflet-control-layers-toggle, .leaflet-bar a';
  const seen = new Set();
  const out = [];
  for (const el of document.querySelectorAll(sel)) {
    if (el.closest('.leaflet-control-attribution')) continue;
    const target = el.closest('label') || el.closest('[data-baseweb="select"]')
      || el.closest('.react-aria-ComboBox [role="group"]') || el;
    if (seen.has(target)) continue;
    seen.add(target);
    if (!visible(target)) continue;
    const r = target.getBoundingClientRect();
    out.push({what: where(target), w: Math.round(r.width), h: Math.round(r.height)});
  }
  return out;
}"""
)

TEXT_JS = (
    "() => {" + _VISIBLE + """
  const out = [];
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walk.nextNode(); n; n = walk.nextNode()) {
    const text = n.textContent.replace(/\\s+/g, ' ').trim();
    const el = n.parentElement;
    if (!text || !el || ['SCRIPT', 'STYLE', 'NOSCRIPT'].includes(el.tagName)) continue;
    if (visible(el)) out.push(text);
  }
  return out;
}"""
)

CONTRAST_JS = (
    "(root) => {" + _VISIBLE + """
  const rgba = c => {
    const m = c.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return [0, 0, 0, 0];
    const p = m[1].split(/[ ,\\/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const over = (top, below) => {
    const a = top[3];
    return [0, 1, 2].map(i => top[i] * a + below[i] * (1 - a)).concat([1]);
  };
  const background = el => {
    const layers = [];
    for (let p = el; p; p = p.parentElement) {
      const c = rgba(getComputedStyle(p).backgroundColor);
      if (c[3] > 0) layers.push(c);
      if (c[3] >= 1) break;
    }
    let bg = [255, 255, 255, 1];
    for (let i = layers.length - 1; i >= 0; i--) bg = over(layers[i], bg);
    return bg;
  };
  const lum = c => {
    const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
  };
  const out = [];
  for (const el of document.querySelectorAll(root || 'body *')) {
    if (!ownText(el) || !visible(el)) continue;
    const bg = background(el);
    const cs = getComputedStyle(el);
    const ink = el instanceof SVGElement && cs.fill && cs.fill.startsWith('rgb') ? cs.fill : cs.color;
    const fg = over(rgba(ink), bg);
    const a = lum(fg), b = lum(bg);
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    out.push({what: where(el), ratio: Math.round(ratio * 100) / 100});
  }
  return out;
}"""
)

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_WORDS = re.compile(r"[A-Za-z][A-Za-z'’-]*(?:[ ,/·]+[A-Za-z][A-Za-z'’-]*)*")
_FIELD = re.compile(r"\{[^{}]*\}")


def _template(text: str) -> re.Pattern[str] | None:
    """Return a pattern matching `text` with its ``{fields}`` filled, or None without fields."""
    parts = _FIELD.split(text)
    if len(parts) == 1:
        return None
    if sum(len(re.findall(r"[A-Za-z]", p)) for p in parts) < 6:
        return None  # mostly fields ("{n} km"): it would match data
    return re.compile(".+?".join(re.escape(p) for p in parts))


def untranslated(
    texts: Iterable[str],
    lang: str,
    strings: dict[str, tuple[str, str]],
    data: str = "",
    allowed: Iterable[str] = (),
) -> list[str]:
    """Return the rendered texts that are not in `lang`.

    Chinese (``zh``): a text equal to the English value of a catalogue key whose two values
    differ, a text matching such an English template (``"ETA {minutes} min"``), or an
    ASCII word sequence inside a text that is such an English value ("Log out" in
    "请 Log out").

    English (``en``): a text equal to a Chinese catalogue value, or holding a run of Chinese
    characters that is not data: every Chinese run must occur in `data` (place, road, unit and
    user names, callers' words: the text the database and the region hold), in `allowed`
    (the other language's name on the language switch) or in a catalogue value that is the
    same in both languages (bilingual on purpose: "语言 / Language").
    """
    pairs = [(zh, en) for zh, en in strings.values() if zh != en]
    bad: list[str] = []
    if lang == "zh":
        english = {en for _zh, en in pairs if re.search(r"[A-Za-z]{2,}", en) and "{" not in en}
        templates = [p for _zh, en in pairs if (p := _template(en)) is not None]
        for text in texts:
            runs = {m.group(0).strip(" ,/·") for m in _WORDS.finditer(text)}
            if (
                text in english
                or any(p.fullmatch(text) for p in templates)
                or any(len(run) > 3 and " " in run and run in english for run in runs)
            ):
                bad.append(text)
        return bad
    chinese = {zh for zh, _en in pairs if _CJK.search(zh)}
    both = [zh for zh, en in strings.values() if zh == en]  # bilingual on purpose
    ok = "\n".join([data, *allowed, *both])
    for text in texts:
        if text in chinese or any(run not in ok for run in _CJK.findall(text)):
            bad.append(text)
    return bad


def data_texts(url: str, region_dir: Path) -> str:
    """Return every Chinese run the database at `url` and the region files hold, one a line."""
    from sqlalchemy import create_engine, inspect, text

    runs: set[str] = set()
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            for table in inspect(conn).get_table_names():
                for row in conn.execute(text(f'SELECT * FROM "{table}"')):  # noqa: S608 - names from the schema
                    for value in row:
                        if isinstance(value, str | bytes) and not isinstance(value, bytes):
                            runs.update(_CJK.findall(value))
                        elif isinstance(value, list | dict):
                            runs.update(_CJK.findall(str(value)))
    finally:
        engine.dispose()
    for path in region_dir.rglob("*"):
        if path.suffix in {".csv", ".geojson", ".json", ".txt"} and path.is_file():
            runs.update(_CJK.findall(path.read_text(encoding="utf-8", errors="replace")))
    return "\n".join(sorted(runs))


def worst(rows: list[dict[str, Any]], key: str, below: float) -> list[dict[str, Any]]:
    """Return the rows whose `key` is below `below`."""
    return [r for r in rows if float(r[key]) < below]
