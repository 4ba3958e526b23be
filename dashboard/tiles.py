"""A local MBTiles file as the map's base tiles, served by the app itself (no tile server).

When ``WINTEROPS_TILE_URL`` names a raster ``.mbtiles`` file on this machine (a path, or
``file://``/``mbtiles://`` and a path) instead of an intranet URL template,
:func:`local_tiles` copies its tiles once into ``dashboard/static/tiles/<key>/z/x/y.<ext>``
(MBTiles rows are TMS, so ``y`` is flipped) and returns the app-relative URL template that
Streamlit's static serving answers. A manifest beside the copy (file size and modification
time) skips the copy on the next start. Vector tiles (``pbf``) are refused: the map draws
raster tiles only; the region's own roads, towns and banners are drawn as vectors anyway.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from dashboard.assets import STATIC_DIR, STATIC_URL

__all__ = ["RASTER_FORMATS", "TileSource", "local_tiles"]

RASTER_FORMATS = {"png": "png", "jpg": "jpg", "jpeg": "jpg", "webp": "webp"}
_PREFIXES = ("mbtiles://", "file://")


@dataclass(frozen=True)
class TileSource:
    """The tile URL template to draw, and why a configured file could not be used.

    Attributes
    ----------
    url
        A URL template (``{z}/{x}/{y}``); empty for no tiles.
    problem
        Empty when all is well; else the reason (names the file), for the page to show.
    """

    url: str
    problem: str = ""


def _mbtiles_path(setting: str) -> Path | None:
    text = setting.strip()
    for prefix in _PREFIXES:
        if text.startswith(prefix):
            return Path(text[len(prefix):])
    if text.lower().endswith(".mbtiles") and "://" not in text:
        return Path(text)
    return None


def _tile_format(con: sqlite3.Connection, path: Path) -> str:
    rows = dict(con.execute("SELECT name, value FROM metadata").fetchall())
    fmt = str(rows.get("format") or "").lower()
    if fmt in RASTER_FORMATS:
        return RASTER_FORMATS[fmt]
    head = con.execute("SELECT tile_data FROM tiles LIMIT 1").fetchone()
    data = bytes(head[0]) if head else b""
    if data.startswith(b"\x89PNG"):
        return "png"
    if data.startswith(b"\xff\xd8"):
        return "jpg"
    if data[8:12] == b"WEBP":
        return "webp"
    msg = f"{path}: tile format {fmt or 'unknown'!r} is not a raster format (png, jpg, webp)"
    raise ValueError(msg)


def local_tiles(setting: str, static_dir: Path = STATIC_DIR) -> TileSource:
    """Resolve the tile setting: a URL template as it is, a local MBTiles file as served tiles.

    Parameters
    ----------
    setting
        ``WINTEROPS_TILE_URL``: empty, an intranet URL template, or a ``.mbtiles`` file.
    static_dir
        The app's static folder (served at ``/app/static``).

    Returns
    -------
    TileSource
        The URL template to draw (empty for none) and, when a file could not be used, why.
    """
    path = _mbtiles_path(setting)
    if path is None:
        return TileSource(setting.strip())
    if not path.is_file():
        return TileSource("", f"{path}: no such MBTiles file")
    stat = path.stat()
    key = hashlib.sha256(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    folder = static_dir / "tiles" / key.hexdigest()[:16]
    stamp = folder / "manifest.json"
    try:
        if stamp.is_file():
            ext = str(json.loads(stamp.read_text(encoding="utf-8"))["ext"])
        else:
            ext = _unpack(path, folder)
            stamp.write_text(json.dumps({"source": str(path), "ext": ext}), encoding="utf-8")
    except (sqlite3.Error, OSError, ValueError, KeyError) as exc:
        return TileSource("", f"{path}: {exc}")
    rel = folder.relative_to(static_dir).as_posix()
    return TileSource(f"{STATIC_URL}/{rel}/{{z}}/{{x}}/{{y}}.{ext}")


def _unpack(path: Path, folder: Path) -> str:
    """Copy every tile of the MBTiles file at `path` into `folder`/z/x/y.ext; return ext."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        ext = _tile_format(con, path)
        for z, x, y_tms, data in con.execute(
            "SELECT zoom_level, tile_column, tile_row, tile_data FROM tiles"
        ):
            y = (1 << int(z)) - 1 - int(y_tms)
            dest = folder / str(int(z)) / str(int(x)) / f"{y}.{ext}"
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(bytes(data))
    finally:
        con.close()
    return ext
