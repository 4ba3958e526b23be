"""Region scale (issue 14): the generated region, the stored region cache, bounded snapping.

The generated region (``tests/benchmarks/region_gen.py``) must be a region the project reads
like ``data/region``; a region built once is read back from its cache file by the next process
(and rebuilt when a file changes); far points snapped with a 100 km search stay within a memory
bound that the pre-issue grid exceeded by orders of magnitude.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Geod

from geo.cache import read_cache_file, write_cache_file
from geo.crs import to_metric_xy
from geo.region import load_region, region_key
from geo.snap_grid import GridIndex
from geo.stakes import ROAD_CODE_RE
from tests.benchmarks.region_gen import far_points, generated_reports, make_region
from tests.benchmarks.roads_v0 import snap_v0
from tests.conftest import REPO_ROOT

KM = 3000.0


@pytest.fixture(scope="module")
def gen_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_region(tmp_path_factory.mktemp("gen"), km=KM, units=40, seed=7)


@pytest.fixture(scope="module")
def gen_region(gen_dir: Path, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    return load_region(gen_dir, cache_dir=tmp_path_factory.mktemp("cache"))


def _run(code: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), **(env_extra or {})}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO_ROOT,
        timeout=600, check=False,
    )


# ------------------------------------------------------------------------------ generator


def test_generated_region_is_deterministic_and_cached(tmp_path: Path, gen_dir: Path) -> None:
    again = make_region(tmp_path, km=KM, units=40, seed=7)
    for name in sorted(p.name for p in gen_dir.iterdir()):
        assert (again / name).read_bytes() == (gen_dir / name).read_bytes(), name
    mtime = (again / "roads.geojson").stat().st_mtime_ns
    assert make_region(tmp_path, km=KM, units=40, seed=7) == again  # reused, not rewritten
    assert (again / "roads.geojson").stat().st_mtime_ns == mtime
    other = make_region(tmp_path, km=KM, units=40, seed=8)
    assert (other / "roads.geojson").read_bytes() != (again / "roads.geojson").read_bytes()


def test_generated_region_is_a_connected_road_network(gen_dir: Path, gen_region) -> None:  # noqa: ANN001
    roads = gen_region.network.roads
    total = float((roads["km_end"] - roads["km_start"]).sum())
    assert 0.9 * KM <= total <= 1.1 * KM
    assert all(ROAD_CODE_RE.match(c) for c in roads["road_code"])
    assert {c[0] for c in roads["road_code"]} == {"G", "S", "X", "Y"}
    # one connected graph
    from scipy.sparse.csgraph import connected_components

    n, _ = connected_components(gen_region.graph.matrix("patrol_car"), directed=False)
    assert n == 1
    # inside Inner Mongolia
    prov = gen_region.gazetteer.places.query("level == 'province'").geometry.iloc[0]
    xy = shapely.get_coordinates(roads.geometry.to_numpy())
    assert shapely.contains_xy(prov.buffer(0.01), xy[:, 0], xy[:, 1]).all()
    # km posts: the geodesic length of every piece, chained along each road
    geod = Geod(ellps="WGS84")
    lengths = np.array([geod.geometry_length(g) / 1000 for g in roads.geometry])
    assert np.allclose(roads["km_end"] - roads["km_start"], lengths, atol=0.002)
    for _, pieces in roads.groupby("road_code"):
        ks = pieces.sort_values("km_start")
        assert np.allclose(ks["km_start"].to_numpy()[1:], ks["km_end"].to_numpy()[:-1])
    # the other tables refer to what exists
    units = pd.read_csv(gen_dir / "units.csv", dtype=str)
    assert len(units) == 40 and units["unit_id"].is_unique
    duty = pd.read_csv(gen_dir / "duty_points.csv", dtype={"id": str})
    for r in duty.itertuples():
        p = gen_region.network.stake_to_point(r.road_code, float(r.km))
        assert abs(p.x - r.lon) < 0.01 and abs(p.y - r.lat) < 0.01
    sections = pd.read_csv(gen_dir / "sections.csv", dtype=str)
    assert set(sections["section_id"]) == set(roads["section_id"])


def test_generated_region_passes_the_region_import_checks(gen_dir: Path) -> None:
    from incidents.store.region_checks import read_region

    data = read_region([gen_dir])
    assert data.problems == []
    assert len(data.units) == 40


def test_generated_reports_lie_near_roads_or_far(gen_region) -> None:  # noqa: ANN001
    rep = generated_reports(gen_region, 2000, seed=3, far_share=0.1)
    assert len(rep) == 2000 and (rep["kind"] == "far").sum() == 200
    near = rep[rep["kind"] == "near"]
    snapped = gen_region.network.snap(near["lon"], near["lat"], tolerance_m=1000)
    assert snapped["segment_id"].notna().mean() > 0.99
    far = far_points(gen_region, 50, seed=3, min_m=3000)
    wide = gen_region.network.snap(far["lon"], far["lat"], tolerance_m=100_000)
    assert (wide["distance_m"] >= 3000).all()


# ------------------------------------------------------------------------------ cache


def test_next_process_reads_the_region_from_its_cache_file(gen_dir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = load_region(gen_dir, cache_dir=cache)
    files = list(cache.glob("region-*.pkl"))
    assert len(files) == 1 and region_key(gen_dir)[:40] in files[0].name
    # another process, whose region build is broken: it must come from the file
    code = (
        "import json, geo.region as r\n"
        "def boom(root):\n    raise RuntimeError('rebuilt instead of read')\n"
        "r._build_region = boom\n"
        f"g = r.load_region({str(gen_dir)!r}, cache_dir={str(cache)!r})\n"
        "print(json.dumps({'n_seg': len(g.network.segments), 'n_nodes': g.graph.n_nodes,"
        " 'root': str(g.root), 'stake': g.network.point_to_stake(116.1, 43.9).stake,"
        " 'snap': g.network.snap([116.1], [43.9], 1e9)['segment_id'].tolist()}))\n"
    )
    out = _run(code)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["n_seg"] == len(first.network.segments)
    assert got["n_nodes"] == first.graph.n_nodes
    assert got["root"] == str(gen_dir.resolve())
    assert got["stake"] == first.network.point_to_stake(116.1, 43.9).stake
    assert got["snap"] == first.network.snap([116.1], [43.9], 1e9)["segment_id"].tolist()


def test_an_edited_region_file_is_rebuilt(gen_dir: Path, tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / "r"
    shutil.copytree(gen_dir, folder)
    cache = tmp_path / "cache"
    a = load_region(folder, cache_dir=cache)
    key = region_key(folder)
    with (folder / "units.csv").open("a", encoding="utf-8") as f:
        f.write("NEW-PC01,新车,New car,patrol_car,traffic_control,x,x,116.1,43.9,12\n")
    assert region_key(folder) != key
    b = load_region(folder, cache_dir=cache)
    assert b is not a and "NEW-PC01" in set(b.units["unit_id"])
    assert len(list(cache.glob("region-*.pkl"))) == 2


def test_two_processes_building_at_once_leave_one_whole_file(gen_dir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    code = (
        "from geo.region import load_region\n"
        f"g = load_region({str(gen_dir)!r}, cache_dir={str(cache)!r})\n"
        "print(len(g.network.segments))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    procs = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env, cwd=REPO_ROOT)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [e for _, e in outs]
    assert outs[0][0] == outs[1][0]
    assert [p.name for p in cache.iterdir()] == [f"region-{region_key(gen_dir)[:40]}.pkl"]
    assert read_cache_file(next(cache.iterdir()), region_key(gen_dir)) is not None


def test_cache_file_with_other_key_damage_or_foreign_code_is_a_miss(tmp_path: Path) -> None:
    path = tmp_path / "x.pkl"
    assert write_cache_file(path, "k1", {"a": np.arange(3)})
    assert read_cache_file(path, "k1")["a"].tolist() == [0, 1, 2]
    assert read_cache_file(path, "k2") is None
    path.write_bytes(path.read_bytes()[:-5])  # truncated
    assert read_cache_file(path, "k1") is None
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):  # noqa: ANN204
            return (os.system, (f"touch {marker}",))

    path.write_bytes(b"winterops-cache-1\nk1\n" + pickle.dumps(Evil()))
    assert read_cache_file(path, "k1") is None
    assert not marker.exists()


def test_unwritable_cache_folder_still_loads(gen_dir: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    region = load_region(gen_dir, cache_dir=blocker / "cache")
    assert len(region.network.segments) > 0


# ------------------------------------------------------------------------------ snapping


def test_snap_matches_the_pre_issue_snap(gen_region) -> None:  # noqa: ANN001
    rep = generated_reports(gen_region, 3000, seed=5)
    net = gen_region.network
    for tol in (250.0, 1500.0, 5000.0):
        new = net.snap(rep["lon"], rep["lat"], tolerance_m=tol)
        old = snap_v0(net, rep["lon"], rep["lat"], tolerance_m=tol)
        assert new["segment_id"].tolist() == old["segment_id"].tolist(), tol
        assert np.allclose(new["distance_m"], old["distance_m"], equal_nan=True)
        assert np.allclose(new["km"], old["km"], equal_nan=True)


def test_far_points_at_100_km_use_memory_bounded_by_the_batch(gen_dir: Path) -> None:
    """1,000 far points at 100 km: snapped with their distance, peak memory small.

    The pre-issue grid (cells as wide as the tolerance) would have expanded every point
    against every piece of its 100 km cell at once; the test computes that count and
    checks the new path stays two orders of magnitude below it.
    """
    region = make_region(gen_dir.parent, km=15_000, units=20, seed=1)
    code = (
        "import json, tracemalloc, numpy as np\n"
        "from geo.region import load_region\n"
        "from tests.benchmarks.region_gen import far_points\n"
        f"g = load_region({str(region)!r}, use_cache=False)\n"
        "pts = far_points(g, 1000, seed=2, min_m=1500)\n"
        "g.network.snap(pts.lon[:5], pts.lat[:5], tolerance_m=100_000)  # warm the index\n"
        "tracemalloc.start()\n"
        "out = g.network.snap(pts.lon, pts.lat, tolerance_m=100_000)\n"
        "peak = tracemalloc.get_traced_memory()[1]\n"
        "tracemalloc.stop()\n"
        "near = g.network.snap(pts.lon, pts.lat, tolerance_m=250)\n"
        "print(json.dumps({'peak': peak, 'snapped': int(out.segment_id.notna().sum()),"
        " 'min_d': float(out.distance_m.min()), 'near': int(near.segment_id.notna().sum()),"
        " 'lon': pts.lon.tolist(), 'lat': pts.lat.tolist()}))\n"
    )
    out = _run(code)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["near"] == 0  # off-road at the normal tolerance ...
    assert got["snapped"] == 1000 and got["min_d"] >= 1500  # ... with their distance at 100 km
    assert got["peak"] < 50e6, got["peak"]
    # what the pre-issue grid would have expanded for these points
    g = load_region(region, use_cache=False)
    grid = GridIndex(g.network._seg_xy, 100_000)  # noqa: SLF001
    x, y = to_metric_xy(np.asarray(got["lon"]), np.asarray(got["lat"]))
    key = grid._key(np.floor(x / grid.cell).astype(np.int64),  # noqa: SLF001
                    np.floor(y / grid.cell).astype(np.int64))
    pos = np.minimum(np.searchsorted(grid.keys, key), grid.keys.size - 1)
    pairs = int(np.where(grid.keys[pos] == key, grid.counts[pos], 0).sum())
    assert pairs * 8 * 12 > 100 * got["peak"], (pairs, got["peak"])
