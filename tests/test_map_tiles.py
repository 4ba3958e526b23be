"""A local MBTiles or PMTiles file as the map's base tiles (dashboard.tiles): real files."""

from __future__ import annotations

import json
import sqlite3
import struct
import zlib
from pathlib import Path

from dashboard import mapview
from dashboard.tiles import local_tiles, tile_zxy

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "tiles"


def _png(rgb: tuple[int, int, int]) -> bytes:
    """A real 1x1 PNG of one colour."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"\x00" + bytes(rgb)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def _mbtiles(path: Path, fmt: str, tiles: dict[tuple[int, int, int], bytes]) -> Path:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE metadata (name TEXT, value TEXT)")
    con.execute("CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER,"
                " tile_data BLOB)")
    con.executemany("INSERT INTO metadata VALUES (?, ?)", [("name", "test"), ("format", fmt)])
    con.executemany("INSERT INTO tiles VALUES (?, ?, ?, ?)",
                    [(z, x, y, data) for (z, x, y), data in tiles.items()])
    con.commit()
    con.close()
    return path


def test_mbtiles_file_is_served_as_app_tiles(tmp_path: Path) -> None:
    red, blue = _png((255, 0, 0)), _png((0, 0, 255))
    # TMS rows: at zoom 6 row 40 is XYZ y = 63 - 40 = 23
    source = _mbtiles(tmp_path / "region.mbtiles", "png", {(6, 52, 40): red, (0, 0, 0): blue})
    static = tmp_path / "static"
    tiles = local_tiles(str(source), static)
    assert tiles.problem == "" and tiles.label == "region.mbtiles"
    assert tiles.url.startswith("/app/static/tiles/") and tiles.url.endswith("/{z}/{x}/{y}.png")
    folder = static / tiles.url.removeprefix("/app/static/").split("/{z}")[0]
    assert (folder / "6" / "52" / "23.png").read_bytes() == red
    assert (folder / "0" / "0" / "0.png").read_bytes() == blue
    stamp = (folder / "manifest.json").stat().st_mtime_ns
    assert local_tiles(f"mbtiles://{source}", static).url == tiles.url, "copied once"
    assert (folder / "manifest.json").stat().st_mtime_ns == stamp
    assert json.loads((folder / "manifest.json").read_text())["ext"] == "png"
    # the map draws them from the app, never from outside
    html = mapview.map_html(mapview.build_map(mapview.Basemap(), mapview.MapLayers(),
                                              tile_url=tiles.url))
    assert tiles.url in html


def test_unusable_tile_settings_say_why(tmp_path: Path) -> None:
    assert local_tiles("").url == ""
    url = "http://tiles.intranet.local/{z}/{x}/{y}.png"
    assert local_tiles(url).url == url and local_tiles(url).problem == ""
    missing = local_tiles(str(tmp_path / "nowhere.mbtiles"), tmp_path)
    assert missing.url == "" and "nowhere.mbtiles" in missing.problem
    vector = _mbtiles(tmp_path / "v.mbtiles", "pbf", {(0, 0, 0): b"\x1a\x00"})
    refused = local_tiles(str(vector), tmp_path / "static")
    assert refused.url == "" and "'pbf'" in refused.problem and "v.mbtiles" in refused.problem
    broken = tmp_path / "broken.mbtiles"
    broken.write_bytes(b"not a database")
    assert "broken.mbtiles" in local_tiles(str(broken), tmp_path / "static").problem


def _copy_of(source: Path, static: Path) -> tuple[str, Path]:
    tiles = local_tiles(str(source), static)
    assert tiles.problem == "", tiles.problem
    return tiles.url, static / tiles.url.removeprefix("/app/static/").split("/{z}")[0]


def test_pmtiles_files_of_the_reference_writer_are_served_as_app_tiles(tmp_path: Path) -> None:
    # written by the protomaps reference writer (tests/fixtures/tiles/make_pmtiles.py)
    from tests.fixtures.tiles.make_pmtiles import leaves_colour, small_colour, tile_png, tiles

    for name, max_zoom, limit, colour in (("small", 3, 85, small_colour),
                                          ("leaves", 8, 30_000, leaves_colour)):
        url, folder = _copy_of(FIXTURES / f"{name}.pmtiles", tmp_path / "static")
        assert url.endswith("/{z}/{x}/{y}.png")
        expected = tiles(max_zoom, limit)
        assert sum(1 for _ in folder.rglob("*.png")) == len(expected)
        for z, x, y in expected:
            got = (folder / str(z) / str(x) / f"{y}.png").read_bytes()
            assert got == tile_png(colour(z, x, y)), (name, z, x, y)


def test_pmtiles_tile_ids_follow_the_hilbert_order() -> None:
    assert [tile_zxy(i) for i in range(5)] == [(0, 0, 0), (1, 0, 0), (1, 0, 1), (1, 1, 1),
                                               (1, 1, 0)]
    assert tile_zxy(19078479) == (12, 3423, 1763)  # the PMTiles specification's example


def test_vector_or_foreign_pmtiles_are_refused(tmp_path: Path) -> None:
    data = bytearray((FIXTURES / "small.pmtiles").read_bytes())
    data[99] = 1  # tile type: Mapbox vector tiles
    (tmp_path / "vector.pmtiles").write_bytes(bytes(data))
    refused = local_tiles(str(tmp_path / "vector.pmtiles"), tmp_path / "static")
    assert refused.url == "" and "not a raster format" in refused.problem
    (tmp_path / "other.pmtiles").write_bytes(b"PMTiles\x02" + bytes(200))
    other = local_tiles(f"pmtiles://{tmp_path / 'other.pmtiles'}", tmp_path / "static")
    assert other.url == "" and "PMTiles v3" in other.problem and "other.pmtiles" in other.problem
