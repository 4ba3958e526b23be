"""Review page: the real response (after-action review) and storm replays with charts.

Two tabs. *Real response* reads :func:`incidents.review.response_review` up to the
operational clock: headline figures, the incidents with the most cold exposure, who did what
and the timeline, every label translated and every time in Beijing time. *Storm replays*
compares the stored ``SimulationRun`` rows per policy and starts a new replay of a scenario
(:func:`incidents.replay.runs.run_replays`, dispatchers and admins) with a progress bar.
"""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import data, ui
from dashboard.escape import escape_markdown
from dashboard.i18n import fmt_time, t
from incidents.errors import WinteropsError
from incidents.replay.runs import run_replays
from incidents.review import ResponseReview, response_review

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
    names = [t(f"policy.{p}", lang, default=str(p)) for p in values.index]
    frame = pd.DataFrame({"policy": names, "value": values.to_numpy()})
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
    """After-action review: the real response first, then the storm replays."""
    lang = ui.lang()
    st.subheader(t("review.title", lang))
    real, replays = st.tabs([t("review.tab_real", lang), t("review.tab_replay", lang)])
    with real:
        real_response(lang)
    with replays:
        replay_starter(lang)
        stored_replays(lang)


def real_response(lang: str) -> None:
    """Headline figures, worst-exposed incidents, who did what and the timeline."""
    url = ui.db_url()
    now = ui.clock()
    try:
        with data.reader(url)() as session:
            review = response_review(session, now)
    except Exception as exc:  # noqa: BLE001 - a broken database shows a message, not a trace
        st.error(t("common.db_error", lang, error=escape_markdown(exc)))
        return
    st.caption(t("review.real_caption", lang, time=fmt_time(now)))
    if review.incidents.empty:
        st.info(t("review.real_none", lang))
        return
    headline(review, lang)
    worst = review.incidents.head(15)
    exposure = pd.Series(
        worst["exposure_person_h"].to_numpy(),
        index=[f"#{i} {t('kind.' + str(k), lang, default=str(k))}" for i, k in
               zip(worst["incident_id"], worst["kind"], strict=True)],
    )
    exposure_chart(exposure, t("review.exposure_top", lang), t("review.exposure", lang))
    st.dataframe(incident_table(review.incidents, lang), hide_index=True, width="stretch")
    c1, c2 = st.columns([2, 3])
    with c1:
        st.markdown(f"**{escape_markdown(t('review.who', lang))}**")
        st.dataframe(who_table(review.by_actor, lang), hide_index=True, width="stretch")
    with c2:
        st.markdown(f"**{escape_markdown(t('review.timeline', lang))}**")
        st.dataframe(timeline_table(review.timeline, lang), hide_index=True, width="stretch")


def headline(review: ResponseReview, lang: str) -> None:
    """One row of metrics: incidents, reached, waiting, minutes to first unit, exposure."""
    sm = review.summary
    cols = st.columns(6)
    cols[0].metric(t("review.incidents_count", lang), sm["incidents"])
    cols[1].metric(t("review.reached", lang), sm["reached"])
    cols[2].metric(t("review.waiting", lang), sm["waiting"])
    none = t("common.none", lang)
    p50, p90 = sm["first_unit_p50_min"], sm["first_unit_p90_min"]
    cols[3].metric(t("review.first_unit_p50", lang), none if p50 is None else f"{p50:.0f}")
    cols[4].metric(t("review.first_unit_p90", lang), none if p90 is None else f"{p90:.0f}")
    cols[5].metric(t("review.exposure", lang), f"{sm['exposure_person_h']:.0f}")


def exposure_chart(values: pd.Series, title: str, axis: str) -> None:
    """Horizontal bars: person-hours of cold exposure per incident, worst first."""
    st.markdown(f"**{escape_markdown(title)}**")
    frame = pd.DataFrame({"incident": values.index.astype(str), "value": values.to_numpy()})
    chart = (
        alt.Chart(frame)
        .mark_bar(color="#4a90d9")
        .encode(
            y=alt.Y("incident:N", sort=None, title=None, axis=alt.Axis(labelOverlap=False)),
            x=alt.X("value:Q", title=axis),
            tooltip=["incident", alt.Tooltip("value:Q", format=".1f")],
        )
        .properties(height=max(120, 28 * len(frame)))
    )
    st.altair_chart(chart, width="stretch")


def incident_table(frame: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Return the per-incident rows with translated headers, kinds and Beijing times."""
    out = pd.DataFrame(
        {
            t("review.col.incident", lang): frame["incident_id"],
            t("review.col.kind", lang): [t(f"kind.{k}", lang, default=str(k)) for k in frame["kind"]],
            t("review.col.people", lang): frame["people"],
            t("review.col.first_report", lang): [fmt_time(v) for v in frame["first_report_at"]],
            t("review.col.to_confirm", lang): frame["to_confirm_min"].round(0),
            t("review.col.to_first_unit", lang): frame["to_first_unit_min"].round(0),
            t("review.col.waiting", lang): frame["waiting_min"].round(0),
            t("review.col.exposure", lang): frame["exposure_person_h"].round(1),
            t("review.col.units", lang): frame["units"],
        }
    )
    return out


def who_table(frame: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Return the actions per person, translated."""
    return pd.DataFrame(
        {
            t("review.col.actor", lang): frame["actor"],
            t("review.col.action", lang): [t(f"action.{a}", lang, default=str(a)) for a in frame["action"]],
            t("review.col.count", lang): frame["count"],
        }
    )


def timeline_table(frame: pd.DataFrame, lang: str, limit: int = 300) -> pd.DataFrame:
    """Return the latest audited actions, newest first, translated, in Beijing time."""
    last = frame.tail(limit).iloc[::-1]
    return pd.DataFrame(
        {
            t("review.col.at", lang): [fmt_time(v) for v in last["at"]],
            t("review.col.actor", lang): last["actor"],
            t("review.col.action", lang): [t(f"action.{a}", lang, default=str(a)) for a in last["action"]],
            t("review.col.target", lang): last["target"],
            t("review.col.outcome", lang): [t(f"outcome.{o}", lang, default=str(o)) for o in last["outcome"]],
        }
    )


def replay_starter(lang: str) -> None:
    """Start a replay of a scenario with both policies, with a progress bar (dispatchers)."""
    user = ui.current_user()
    settings = ui.settings()
    folder = settings.scenario_dir
    scenarios = sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
    if user is None or user.role not in ("dispatcher", "admin") or not scenarios:
        return
    st.caption(t("review.replay_hint", lang))
    c1, c2 = st.columns([3, 1])
    name = c1.selectbox(t("review.replay_scenario", lang), scenarios, key="wo_review_scenario")
    if not c2.button(t("review.run_replay", lang), key="wo_review_start", width="stretch"):
        return
    bar = st.progress(0.0, text=t("review.replay_running", lang, what=name))

    def advance(fraction: float, policy: str, message: str) -> None:
        when = pd.to_datetime(message, utc=True, errors="coerce")
        shown = fmt_time(when) if pd.notna(when) else t(f"review.step.{message}", lang)
        what = escape_markdown(f"{name} · {t(f'policy.{policy}', lang, default=policy)} · {shown}")
        bar.progress(fraction, text=t("review.replay_running", lang, what=what))

    try:
        ids = run_replays(
            data.session_factory(ui.db_url()), user.username, folder / name,
            settings=settings, progress=advance,
        )
    except (WinteropsError, ValueError, OSError) as exc:
        st.error(t("review.replay_failed", lang, error=escape_markdown(exc)))
        return
    bar.progress(1.0, text=t("review.replay_done", lang, id=", ".join(map(str, ids))))
    data.invalidate()


def stored_replays(lang: str) -> None:
    """Policy comparison and time series of the stored replays."""
    url = ui.db_url()
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
    table = numeric.select_dtypes("number").T
    table.index = [t(f"metric.{m}", lang, default=str(m)) for m in table.index]
    table.columns = [t(f"policy.{p}", lang, default=str(p)) for p in table.columns]
    st.dataframe(table, width="stretch")
    st.markdown(f"**{escape_markdown(t('review.series', lang))}**")
    labels: dict[int, str] = {
        int(r.id): f"#{r.id} {r.scenario} · {t('policy.' + str(r.policy), lang, default=str(r.policy))}"
        f" · {fmt_time(r.ran_at)}"
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
    frame.columns = [t(f"metric.{c}", lang, default=str(c)) for c in frame.columns]
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
