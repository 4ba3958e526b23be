"""Incremental hotspots (issue 14) give what the pre-issue code gave, refresh after refresh.

The oracle is the frozen copy of the old ``hotspots_from_evidence``
(tests/benchmarks/hotspots_v0.py: Gi* by :func:`geo.hotspots.gi_star`, which
tests/test_hotspots.py checks against esda). Evidence: reports near the demo region's roads
(drone detections, Waze, calls that become incidents, patrol clears), a third of them on a few
stretches so there are clusters; then refreshes where part of the evidence changed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from geo.hotspots import GiStar, gi_star
from geo.region import Region, load_region
from incidents.fusion.conditions import evidence_frame
from incidents.fusion.hotspots import hotspot_engine, hotspots_from_evidence
from incidents.settings import Settings
from tests.benchmarks import hotspots_v0
from tests.benchmarks.bench_fusion import _condition_reports

REGION = Path(__file__).resolve().parents[1] / "data" / "region"
NOW = datetime(2025, 12, 14, 3, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def demo() -> Region:
    return load_region(REGION)


def _evidence(region: Region, n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    segs = region.network.segments
    rep = _condition_reports(n, segs, rng, NOW)
    rep["segment_id"] = region.network.snap(rep["lon"].to_numpy(), rep["lat"].to_numpy(), 250)[
        "segment_id"
    ].to_numpy()
    hot = rng.random(n) < 0.33
    stretch = rng.integers(0, len(segs) - 6, 5)
    pick = stretch[rng.integers(0, 5, hot.sum())] + rng.integers(0, 6, hot.sum())
    rep.loc[hot, "segment_id"] = segs["segment_id"].to_numpy()[pick]
    return evidence_frame(rep, Settings.from_env({}), NOW)


def _same(new: pd.DataFrame, old: pd.DataFrame) -> None:
    assert len(new) == len(old) > 0
    assert list(new.columns) == list(old.columns)
    for col in ("rank", "condition", "road", "admin_name", "segment_ids", "report_ids", "reason"):
        assert new[col].tolist() == old[col].tolist(), col
    for col in ("z", "p", "evidence"):
        assert np.allclose(new[col].to_numpy(float), old[col].to_numpy(float), rtol=1e-9), col
    assert all(a.equals(b) for a, b in zip(new.geometry, old.geometry, strict=True))


def test_hotspots_equal_the_pre_issue_code_over_refreshes(demo: Region) -> None:
    ev = _evidence(demo, 3000, seed=4)
    kinds = {int(r): "drone_detection" for r in ev["report_id"][::3]}
    _same(
        hotspots_from_evidence(demo, ev, kinds), hotspots_v0.hotspots_from_evidence(demo, ev, kinds)
    )
    engine = hotspot_engine(demo)
    assert hotspot_engine(demo) is engine  # weights built once per region
    # refresh: newer reports on a few segments, some evidence aged away, a clear pass
    rng = np.random.default_rng(5)
    ev2 = ev.copy()
    fade = rng.random(len(ev2)) < 0.1
    ev2.loc[fade, "weight"] = ev2.loc[fade, "weight"] * 0.5
    more = _evidence(demo, 300, seed=6)
    more["report_id"] = more["report_id"] + 100_000
    cleared = ev2[ev2["condition"].notna()].iloc[:40].copy()
    cleared["report_id"] = np.arange(len(cleared)) + 200_000
    cleared["clear"] = True
    cleared["condition"] = None
    cleared["incident"] = None
    cleared["observed_at"] = pd.Timestamp(NOW + timedelta(minutes=1))
    ev2 = pd.concat([ev2, more, cleared], ignore_index=True)
    described = engine.described
    new2 = hotspots_from_evidence(demo, ev2, kinds)
    _same(new2, hotspots_v0.hotspots_from_evidence(demo, ev2, kinds))
    assert engine.gi.changed_last > 0
    # the same evidence again: nothing to describe, the same answer
    described = engine.described
    again = hotspots_from_evidence(demo, ev2, kinds)
    assert engine.described == described
    assert engine.gi.changed_last == 0
    _same(again, new2)
    # nothing standing (all cleared later): no hotspot
    gone = ev2.copy()
    gone["clear"] = True
    assert len(hotspots_from_evidence(demo, gone)) == 0


def test_gi_star_state_equals_gi_star_after_many_small_updates() -> None:
    rng = np.random.default_rng(2)
    n = 400
    a = sp.random(n, n, density=0.02, random_state=3, format="csr")
    w = ((a + a.T) > 0).astype(float).tolil()
    w.setdiag(1.0)
    w = w.tocsr()
    state = GiStar(w, refresh_every=1000)
    x = np.zeros(n)
    for step in range(60):
        k = rng.integers(1, 6)
        x[rng.integers(0, n, k)] = rng.uniform(0, 3, k) if step % 7 else 0.0
        z, p = state.update(x)
        z0, p0 = gi_star(x, w)
        assert np.allclose(z, z0, rtol=1e-9, atol=1e-12)
        assert np.allclose(p, p0, rtol=1e-9, atol=1e-12)
    assert state.changed_last <= 5
    with pytest.raises(ValueError, match="does not match"):
        state.update(np.zeros(n + 1))
