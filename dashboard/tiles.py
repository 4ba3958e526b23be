"""A local MBTiles or PMTiles file as the map's base tiles, served by the app itself.

When ``WINTEROPS_TILE_URL`` names a raster ``.mbtiles`` or ``.pmtiles`` file on this machine
(a path, or ``file://``/``mbtiles://``/``pmtiles://`` and a path) instead of an intranet URL
template, :func:`local_tiles` copies its tiles once into
``dashboard/static/tiles/<key>/z/x/y.<ext>`` and returns the app-relative URL template that
Streamlit's static serving answers; no tile server, no internet. MBTiles rows are TMS (``y``
flipped); PMTiles v3 directories (gzip or uncompressed, leaf directories, run lengths) are
read here, tile ids decoded from their Hilbert order. A manifest beside the copy (file size
and modification time) skips the copy on the next start. Vector tiles are refused: the map
draws raster tiles only; the region's own roads, towns and banners are drawn as vectors.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from dashboard.assets import STATIC_DIR, STATIC_URL

__all__ = ["PMTILES_RASTER", "RASTER_FORMATS", "TileSource", "local_tiles", "tile_zxy"]

RASTER_FORMATS = {"png": "png", "jpg": "jpg", "jpeg": "jpg", "webp": "webp"}
_PREFIXES = ("mbtiles://", "pmtiles://", "file://")
_SUFFIXES = (".mbtiles", ".pmtiles")
# PMTiles v3 tile types (header byte 99) that the map can draw
PMTILES_RASTER = {2: "png", 3: "jpg", 4: "webp"}


@dataclass(frozen=True)
class TileSource:
    """The tile URL template to draw, and why a configured file could not be used.

    Attributes
    ----------
    url
        A URL template (``{z}/{x}/{y}``); empty for no tiles.
    problem
        Empty when all is well; else the reason (names the file), for the page to show.
    label
        The local file's name (the attribution when none is configured); empty for a URL.
    """

    url: str
    problem: str = ""
    label: str = ""


def _mbtiles_path(setting: str) -> Path | None:
    text = setting.strip()
    for prefix in _PREFIXES:
        if text.startswith(prefix):
            return Path(text[len(prefix):])
    if text.lower().endswith(_SUFFIXES) and "://" not in text:
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
        return TileSource("", f"{path}: no such tile file")
    stat = path.stat()
    key = hashlib.sha256(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    folder = static_dir / "tiles" / key.hexdigest()[:16]
    stamp = folder / "manifest.json"
    try:
        if stamp.is_file():
            ext = str(json.loads(stamp.read_text(encoding="utf-8"))["ext"])
        else:
            unpack = _unpack_pmtiles if path.suffix.lower() == ".pmtiles" else _unpack
            ext = unpack(path, folder)
            stamp.write_text(json.dumps({"source": str(path), "ext": ext}), encoding="utf-8")
    except (sqlite3.Error, OSError, ValueError, KeyError, EOFError) as exc:
        return TileSource("", f"{path}: {exc}")
    rel = folder.relative_to(static_dir).as_posix()
    return TileSource(f"{STATIC_URL}/{rel}/{{z}}/{{x}}/{{y}}.{ext}", label=path.name)


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


# --------------------------------------------------------------------------------------------
# PMTiles v3
# --------------------------------------------------------------------------------------------


def _varints(data: bytes) -> Iterator[int]:
    value = shift = 0
    for byte in data:
        value |= (byte & 0x7F) << shift
        if byte & 0x80:
            shift += 7
            continue
        yield value
        value = shift = 0


def tile_zxy(tile_id: int) -> tuple[int, int, int]:
    """Return (z, x, y) of a PMTiles tile id (zoom levels in turn, Hilbert order in each)."""
    z, base = 0, 0
    while base + (1 << (2 * z)) <= tile_id:
        base += 1 << (2 * z)
        z += 1
    pos, n = tile_id - base, 1 << z
    x = y = 0
    s = 1
    while s < n:
        rx = 1 & (pos // 2)
        ry = 1 & (pos ^ rx)
        if ry == 0:
            if rx == 1:
                x, y = s - 1 - x, s - 1 - y
            x, y = y, x
        x += s * rx
        y += s * ry
        pos //= 4
        s *= 2
    return z, x, y


def _directory(raw: bytes, compression: int) -> list[tuple[int, int, int, int]]:
    """Decode a PMTiles directory into (tile_id, offset, length, run_length) entries."""
    if compression == 2:
        raw = gzip.decompress(raw)
    elif compression not in (0, 1):
        msg = f"PMTiles internal compression {compression} is not supported (none, gzip)"
        raise ValueError(msg)
    values = list(_varints(raw))
    n = values[0] if values else 0
    if len(values) < 1 + 4 * n:
        msg = "PMTiles directory is cut short"
        raise ValueError(msg)
    ids, runs = values[1:1 + n], values[1 + n:1 + 2 * n]
    lengths, offsets = values[1 + 2 * n:1 + 3 * n], values[1 + 3 * n:1 + 4 * n]
    out: list[tuple[int, int, int, int]] = []
    tile_id = 0
    for i in range(n):
        tile_id += ids[i]
        offset = out[-1][1] + out[-1][2] if offsets[i] == 0 and i > 0 else offsets[i] - 1
        out.append((tile_id, offset, lengths[i], runs[i]))
    return out


def _unpack_pmtiles(path: Path, folder: Path) -> str:
    """Copy every tile of the PMTiles v3 file at `path` into `folder`/z/x/y.ext; return ext."""
    with path.open("rb") as fh:
        head = fh.read(127)
        if len(head) < 127 or head[:7] != b"PMTiles" or head[7] != 3:
            msg = "not a PMTiles v3 file"
            raise ValueError(msg)

        def u64(at: int) -> int:
            return int.from_bytes(head[at:at + 8], "little")

        internal, tile_gzip, kind = head[97], head[98] == 2, head[99]
        if kind not in PMTILES_RASTER:
            msg = f"tile type {kind} is not a raster format (png, jpg, webp)"
            raise ValueError(msg)

        def read(offset: int, length: int) -> bytes:
            fh.seek(offset)
            return fh.read(length)

        pending = [read(u64(8), u64(16))]
        while pending:
            for tile_id, offset, length, run in _directory(pending.pop(), internal):
                if run == 0:  # a leaf directory
                    pending.append(read(u64(40) + offset, length))
                    continue
                data = read(u64(56) + offset, length)
                data = gzip.decompress(data) if tile_gzip else data
                for k in range(run):
                    z, x, y = tile_zxy(tile_id + k)
                    dest = folder / str(z) / str(x) / f"{y}.{PMTILES_RASTER[kind]}"
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    dest.write_bytes(data)
    return PMTILES_RASTER[kind]
