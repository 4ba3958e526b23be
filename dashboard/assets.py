"""Air-gapped map assets: Leaflet, jQuery, Bootstrap and Font Awesome served by the app itself.

The files come from the ``xstatic-*`` PyPI packages (each exposes its folder as ``BASE_DIR``).
:func:`ensure_static` copies the few files the map needs into ``dashboard/static/vendor/``
(git-ignored; refreshed when a package version changes), and Streamlit serves that folder at
``/app/static/`` when ``server.enableStaticServing`` is on (see ``.streamlit/config.toml``).

The URLs are absolute paths (``/app/static/vendor/...``): the map is drawn inside the
streamlit-folium component's iframe, which is served from the same origin, so an absolute path
resolves there too. :class:`LocalMap` is a :class:`folium.Map` whose ``default_js`` and
``default_css`` lists name only those local files, so neither folium's rendered HTML nor
streamlit-folium's ``js_links``/``css_links`` mention a CDN.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import folium

__all__ = [
    "LOCAL_CSS",
    "LOCAL_JS",
    "STATIC_DIR",
    "STATIC_URL",
    "LocalMap",
    "ensure_static",
    "vendor_files",
]

STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_URL = "/app/static"
_VENDOR = "vendor"


@dataclass(frozen=True)
class VendorFile:
    """One file copied from an xstatic package: its source and its path under ``vendor/``."""

    package: str
    source: str  # path inside the package's BASE_DIR
    target: str  # path under static/vendor/


def _xstatic_base(package: str) -> tuple[Path, str]:
    if package == "leaflet":
        import xstatic.pkg.leaflet as mod
    elif package == "jquery":
        import xstatic.pkg.jquery as mod
    elif package == "bootstrap":
        import xstatic.pkg.bootstrap as mod
    elif package == "font_awesome":
        import xstatic.pkg.font_awesome as mod
    else:  # pragma: no cover - programming error
        msg = f"unknown xstatic package {package!r}"
        raise ValueError(msg)
    return Path(mod.BASE_DIR), str(mod.VERSION)


def vendor_files() -> list[VendorFile]:
    """Return every file the map needs, from the xstatic packages."""
    files = [
        VendorFile("leaflet", "leaflet.js", "leaflet/leaflet.js"),
        VendorFile("leaflet", "leaflet.css", "leaflet/leaflet.css"),
        VendorFile("jquery", "jquery.min.js", "jquery/jquery.min.js"),
        VendorFile(
            "bootstrap", "js/bootstrap.bundle.min.js", "bootstrap/js/bootstrap.bundle.min.js"
        ),
        VendorFile("bootstrap", "css/bootstrap.min.css", "bootstrap/css/bootstrap.min.css"),
        VendorFile("font_awesome", "css/all.min.css", "fontawesome/css/all.min.css"),
    ]
    for name in (
        "layers.png",
        "layers-2x.png",
        "marker-icon.png",
        "marker-icon-2x.png",
        "marker-shadow.png",
    ):
        files.append(VendorFile("leaflet", f"images/{name}", f"leaflet/images/{name}"))
    fa_base, _ = _xstatic_base("font_awesome")
    for font in sorted((fa_base / "webfonts").iterdir()):
        files.append(
            VendorFile("font_awesome", f"webfonts/{font.name}", f"fontawesome/webfonts/{font.name}")
        )
    return files


def _url(target: str) -> str:
    return f"{STATIC_URL}/{_VENDOR}/{target}"


LOCAL_JS: list[tuple[str, str]] = [
    ("leaflet", _url("leaflet/leaflet.js")),
    ("jquery", _url("jquery/jquery.min.js")),
    ("bootstrap", _url("bootstrap/js/bootstrap.bundle.min.js")),
]
LOCAL_CSS: list[tuple[str, str]] = [
    ("leaflet_css", _url("leaflet/leaflet.css")),
    ("bootstrap_css", _url("bootstrap/css/bootstrap.min.css")),
    ("awesome_markers_font_css", _url("fontawesome/css/all.min.css")),
]


class LocalMap(folium.Map):
    """A :class:`folium.Map` whose scripts and stylesheets are the app's own local copies."""

    default_js = LOCAL_JS
    default_css = LOCAL_CSS


def ensure_static(static_dir: Path = STATIC_DIR) -> Path:
    """Copy the vendor files into ``static_dir/vendor`` unless the copy is already current.

    A small manifest (package versions and file list) decides whether to copy again, so a
    Streamlit rerun costs one file read.

    Parameters
    ----------
    static_dir
        The app's static folder (``dashboard/static`` beside ``app.py``).

    Returns
    -------
    Path
        The ``vendor`` folder.
    """
    vendor = static_dir / _VENDOR
    files = vendor_files()
    versions = {pkg: _xstatic_base(pkg)[1] for pkg in sorted({f.package for f in files})}
    manifest = {"versions": versions, "files": [f.target for f in files]}
    stamp = vendor / "manifest.json"
    if stamp.is_file():
        try:
            if json.loads(stamp.read_text(encoding="utf-8")) == manifest and all(
                (vendor / f.target).is_file() for f in files
            ):
                return vendor
        except (OSError, ValueError):
            pass
    for f in files:
        base, _ = _xstatic_base(f.package)
        dest = vendor / f.target
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".tmp")
        shutil.copyfile(base / f.source, tmp)
        tmp.replace(dest)
    stamp.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return vendor
