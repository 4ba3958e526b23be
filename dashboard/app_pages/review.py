"""Review page: storm replays (SimulationRun rows) and after-action figures with charts."""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import data, ui
from dashboard.escape import escape_markdown
from dashboard.i18n import fmt_time, t

FIRST_UNIT_KEYS = (
    "ttfu_mean_min",
    "ttfu_p50_min",
    "time_to_first_unit_min",
    "mean_time_to_first_unit_min",
    "median_time_to_first_unit_min",
    "time_to_first_unit_p50_min",
)
EXPOSURE_KEYS = ("cold_exposure_person_hours", "exposure_person_hours", "exposure_hours")


def _pick(metrics: dict[str, Any], keys: tuple[str, ...], word: str) -> float | None:
    for key in keys:
        if isinstance(metrics.get(key), int | float):
            return float(metrics[key])
    for key, value in metrics.items():  # tolerate other names with the same meaning
        if word in key and isinstance(value, int | float):
            return float(value)
    return None


def metrics_frame(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per run: scenario, policy, time and every numeric metric."""
    rows = []
    for run in runs.itertuples():
        metrics = run.metrics if isinstance(run.metrics, dict) else {}
        row: dict[str, Any] = {
            "id": run.id,
            "scenario": run.scenario,
            "policy": run.policy,
            "ran_at": run.ran_at,
        }
        row.update({k: v for k, v in metrics.items() if isinstance(v, int | float)})
        row["first_unit_min"] = _pick(metrics, FIRST_UNIT_KEYS, "first_unit")
        row["exposure_h"] = _pick(metrics, EXPOSURE_KEYS, "exposure")
        rows.append(row)
    return pd.DataFrame(rows)


def bar_chart(values: pd.Series, title: str, lang: str) -> None:
    """One bar per policy (altair, shipped with Streamlit; rendered locally)."""
    st.markdown(f"**{escape_markdown(title)}**")
    values = values.dropna()
    if values.empty:
        st.info(t("common.none", lang))
        return
    frame = pd.DataFrame({"policy": values.index.astype(str), "value": values.to_numpy()})
    chart = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("policy:N", title=t("review.policy", lang), axis=alt.Axis(labelAngle=0)),
            y=alt.Y("value:Q", title=title),
            color=alt.Color("policy:N", legend=None),
            tooltip=["policy", "value"],
        )
        .properties(height=260)
    )
    st.altair_chart(chart, width="stretch")


def render() -> None:
    """After-action review."""
    lang, url = ui.lang(), ui.db_url()
    st.subheader(t("review.title", lang))
    try:
        runs = data.simulation_runs(url)
    except Exception as exc:  # noqa: BLE001 - a broken database shows a message, not a trace
        st.error(t("common.db_error", lang, error=escape_markdown(exc)))
        return
    if runs.empty:
        st.info(t("review.none", lang))
        return
    frame = metrics_frame(runs)
    latest = frame.sort_values("ran_at").groupby("policy").tail(1).set_index("policy")
    c1, c2 = st.columns(2)
    with c1:
        bar_chart(latest["first_unit_min"], t("review.first_unit", lang), lang)
    with c2:
        bar_chart(latest["exposure_h"], t("review.exposure", lang), lang)
    st.markdown(f"**{escape_markdown(t('review.compare', lang))}**")
    numeric = latest.drop(columns=["id", "ran_at", "first_unit_min", "exposure_h"])
    st.dataframe(numeric.select_dtypes("number").T, width="stretch")
    st.markdown(f"**{escape_markdown(t('review.series', lang))}**")
    labels: dict[int, str] = {
        int(r.id): f"#{r.id} {r.scenario} · {r.policy} · {fmt_time(r.ran_at)}"
        for r in runs.itertuples()
    }
    chosen = st.selectbox(
        t("review.run", lang),
        list(labels),
        format_func=lambda i: labels.get(i, str(i)),
        key="wo_review_run",
    )
    series = runs.loc[runs["id"] == chosen, "series"].iloc[0]
    show_series(series if isinstance(series, dict) else {}, lang)


def show_series(series: dict[str, Any], lang: str) -> None:
    """Numeric time series of a replay (open tasks, free units, people waiting, ...) by time."""
    times = series.get("t")
    lines = {
        k: pd.Series(v, dtype=float)
        for k, v in series.items()
        if k != "t" and isinstance(v, list) and v and all(isinstance(x, int | float) for x in v)
    }
    if not lines:
        st.info(t("common.none", lang))
        return
    frame = pd.DataFrame(lines)
    if isinstance(times, list) and len(times) == len(frame):
        index = pd.to_datetime(pd.Series(times), utc=True, errors="coerce")
        if index.notna().all():
            frame.index = pd.DatetimeIndex(index).tz_convert("Asia/Shanghai").tz_localize(None)
    st.line_chart(frame)
    incidents = series.get("incidents")
    if isinstance(incidents, list) and incidents and isinstance(incidents[0], dict):
        with st.expander(t("review.incidents", lang)):
            st.dataframe(pd.DataFrame(incidents), hide_index=True, width="stretch")


render()
