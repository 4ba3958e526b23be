"""The database sink of the ingest layer: parse results -> reports, alerts, quarantine.

`DatabaseSink` implements :class:`ingest.runner.Sink`:

- ``store_raw``: one :class:`~incidents.store.models.RawPayload` row per payload (sha256 unique).
- ``store``: in one transaction, reports are inserted in batches with the dialect's
  ``INSERT .. ON CONFLICT (kind, natural_key) DO NOTHING .. RETURNING`` (SQLite and
  PostgreSQL), so re-ingesting adds nothing and the count of duplicates is exact. Alerts are
  then applied one by one: an Update supersedes the alerts it references (state ``updated``,
  ``superseded_by_id``), a Cancel withdraws them (state ``cancelled``); an Update or Cancel whose
  referenced alert is not there yet is kept as it is and applied when that alert arrives; an
  Update older than the one that already superseded its target is itself marked ``updated``.
  Status Test/Exercise/Draft/System is stored as ``not_live``; a past ``expires`` as ``expired``.
  Quarantine rows are inserted once (fingerprint unique).
- ``record_feed_status``: upsert of :class:`~incidents.store.models.FeedStatus`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Text, cast, select, update
from sqlalchemy.orm import Session, sessionmaker

from incidents.store import changes
from incidents.store.engine import session_scope
from incidents.store.models import (
    Alert,
    AlertState,
    FeedStatus,
    Quarantine,
    RawPayload,
    Report,
)
from ingest.archive import PayloadMeta
from ingest.records import REPORT_COLUMNS, ParseResult
from ingest.runner import StoreCounts

BATCH = 5000
NOT_LIVE = frozenset({"Test", "Exercise", "Draft", "System"})


def _dialect_insert(session: Session, table: Any) -> Any:
    name = session.get_bind().dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    if name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table)
    msg = f"DatabaseSink supports SQLite and PostgreSQL, not {name}"
    raise NotImplementedError(msg)


def _py(v: Any) -> Any:
    if v is None or v is pd.NaT:
        return None
    if isinstance(v, pd.Timestamp):
        return v.to_pydatetime()
    if isinstance(v, float) and v != v:  # NaN
        return None
    if hasattr(v, "item") and not isinstance(v, (list, dict, str, bytes)):
        try:
            return v.item()
        except (ValueError, AttributeError):
            return v
    return v


def _column(frame: pd.DataFrame, name: str) -> list[Any]:
    col = frame[name]
    if pd.api.types.is_datetime64_any_dtype(col.dtype):
        return [None if pd.isna(v) else v.to_pydatetime() for v in col]
    values = col.tolist()
    if col.dtype != object:
        return [_py(v) for v in values]
    return list(values)


def report_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Turn a report frame (`ingest.records.REPORT_COLUMNS`) into row dicts for ``reports``."""
    if len(frame) == 0:
        return []
    names = [c for c in REPORT_COLUMNS if c != "geometry"]
    cols = {c: _column(frame, c) for c in names}
    geoms = list(frame.geometry) if "geometry" in frame else [None] * len(frame)
    out: list[dict[str, Any]] = []
    for i, geom in enumerate(geoms):
        row = {c: cols[c][i] for c in names}
        place = row.pop("place", None)
        attrs = row.get("attributes") or {}
        if place is not None and "place" not in attrs:
            attrs = {**attrs, "place": place}
        row["attributes"] = attrs
        row["flags"] = row.get("flags") or []
        conf = row.get("confidence")
        if conf is not None and conf != conf:  # NaN
            row["confidence"] = None
        km = row.get("km")
        if km is not None and km != km:
            row["km"] = None
        row["geometry"] = geom if geom is not None and not geom.is_empty else None
        out.append(row)
    return out


INSERT_COLUMNS = (
    "kind",
    "natural_key",
    "source",
    "raw_sha256",
    "observed_at",
    "received_at",
    "subtype",
    "confidence",
    "road_code",
    "km",
    "flags",
    "attributes",
    "geometry",
)


def _insert_sql(dialect: str) -> str:
    cols = ", ".join(INSERT_COLUMNS)
    if dialect == "sqlite":
        marks = ", ".join("?" for _ in INSERT_COLUMNS)
    elif dialect == "postgresql":
        marks = ", ".join(
            "%s::json"
            if c in ("flags", "attributes")
            else "%s::geometry"
            if c == "geometry"
            else "%s"
            for c in INSERT_COLUMNS
        )
    else:
        msg = f"DatabaseSink supports SQLite and PostgreSQL, not {dialect}"
        raise NotImplementedError(msg)
    return (
        f"INSERT INTO reports ({cols}) VALUES ({marks}) "  # noqa: S608 (fixed column names)
        "ON CONFLICT (kind, natural_key) DO NOTHING"
    )


_ENCODER = json.JSONEncoder(ensure_ascii=False, default=str)
# json's C encoder built once: JSONEncoder.encode builds a new one for every call, which costs
# about as much as encoding a small dict. Same output as ``_ENCODER.encode`` (no circular check:
# parse results are trees; a cycle still fails, with RecursionError).
_C_ITERENCODE = (
    json.encoder.c_make_encoder(  # type: ignore[attr-defined]
        None,
        _ENCODER.default,
        json.encoder.encode_basestring,
        None,
        _ENCODER.key_separator,
        _ENCODER.item_separator,
        False,
        False,
        True,
    )
    if json.encoder.c_make_encoder is not None  # type: ignore[attr-defined]
    else None
)


def _JSON(obj: Any) -> str:  # noqa: N802 (was a bound method of the same name)
    if _C_ITERENCODE is None or isinstance(obj, str):
        return _ENCODER.encode(obj)
    return "".join(_C_ITERENCODE(obj, 0))


def _sqlite_time(dt: datetime) -> str:
    # the storage format of SQLAlchemy's SQLite DATETIME, in UTC (as UTCDateTime stores it)
    if dt.tzinfo is not UTC:
        dt = dt.astimezone(UTC)
    return dt.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


_PG_STAGE = (
    "CREATE TEMP TABLE IF NOT EXISTS _ingest_reports ("
    "kind text, natural_key text, source text, raw_sha256 text, observed_at timestamptz, "
    "received_at timestamptz, subtype text, confidence float8, road_code text, km float8, "
    "flags text, attributes text, geometry text) ON COMMIT DELETE ROWS"
)


def _copy_insert_pg(conn: Any, params: list[tuple[Any, ...]]) -> int:
    """Insert on PostgreSQL: COPY the rows into a temporary table, then one INSERT .. SELECT.

    The INSERT has ON CONFLICT DO NOTHING; its rowcount is the exact count of new rows.
    """
    cols = ", ".join(INSERT_COLUMNS)
    raw = conn.connection.dbapi_connection
    with raw.cursor() as cur:
        cur.execute(_PG_STAGE)
        cur.execute("TRUNCATE _ingest_reports")
        with cur.copy(f"COPY _ingest_reports ({cols}) FROM STDIN") as copy:
            for row in params:
                copy.write_row(row)
        select_cols = ", ".join(
            f"{c}::json"
            if c in ("flags", "attributes")
            else f"{c}::geometry"
            if c == "geometry"
            else c
            for c in INSERT_COLUMNS
        )
        cur.execute(
            f"INSERT INTO reports ({cols}) SELECT {select_cols} FROM _ingest_reports "  # noqa: S608
            "ON CONFLICT (kind, natural_key) DO NOTHING"
        )
        inserted = int(cur.rowcount)
        cur.execute("TRUNCATE _ingest_reports")
    return inserted


def _times(col: pd.Series, dialect: str) -> list[Any]:
    """UTC times of a column: datetimes for PostgreSQL, SQLAlchemy's text format for SQLite."""
    ts = pd.to_datetime(col, utc=True)
    if ts.isna().any():
        bad = col[ts.isna()].index[0]
        msg = f"report row {bad} has no observed_at"
        raise ValueError(msg)
    arr = ts.dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
    text = np.char.replace(np.datetime_as_string(arr, unit="us"), "T", " ")
    if dialect == "postgresql":
        # COPY is text anyway: an ISO UTC text is what psycopg would write for a datetime
        return list(np.char.add(text, "+00").tolist())
    return list(text.tolist())


def frame_params(frame: pd.DataFrame, dialect: str, now: datetime) -> list[tuple[Any, ...]]:
    """Row tuples in `INSERT_COLUMNS` order straight from a report frame (column-wise)."""
    n = len(frame)
    geoms = np.asarray(frame.geometry.array, dtype=object) if n else np.array([], dtype=object)
    geoms = geoms.copy()
    geoms[shapely.is_empty(geoms)] = None
    if dialect == "postgresql":
        wkb = shapely.to_wkb(shapely.set_srid(geoms, 4326), hex=True, include_srid=True)
        received: Any = now
    else:
        wkb = shapely.to_wkb(geoms)
        received = _sqlite_time(now)
    observed = _times(frame["observed_at"], dialect)

    def floats(name: str) -> list[float | None]:
        return [None if v is None or v != v else float(v) for v in frame[name].tolist()]

    places = frame["place"].tolist() if "place" in frame else [None] * n
    attrs_json: list[str] = []
    for a, place in zip(frame["attributes"].tolist(), places, strict=True):
        a = a or {}
        if place is not None and place == place and "place" not in a:
            a = {**a, "place": place}
        attrs_json.append(_JSON(a) if a else "{}")
    flags_json = [_JSON(f) if f else "[]" for f in frame["flags"].tolist()]
    return list(
        zip(
            frame["kind"].tolist(),
            [str(k) for k in frame["natural_key"].tolist()],
            frame["source"].tolist(),
            frame["raw_sha256"].tolist(),
            observed,
            [received] * n,
            frame["subtype"].tolist(),
            floats("confidence"),
            frame["road_code"].tolist(),
            floats("km"),
            flags_json,
            attrs_json,
            list(wkb),
            strict=True,
        )
    )


def _batches(rows: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for i in range(0, len(rows), size):
        yield rows[i : i + size]


def _split_key(key: str) -> tuple[str, str, datetime] | None:
    try:
        head, sent_text = key.rsplit(",", 1)
        sender, identifier = head.split(",", 1)
        sent = datetime.fromisoformat(sent_text)
    except ValueError:
        return None
    if sent.tzinfo is None:
        sent = sent.replace(tzinfo=UTC)
    return sender, identifier, sent


def _key(a: Alert) -> str:
    return f"{a.sender},{a.identifier},{a.sent.astimezone(UTC).isoformat()}"


class DatabaseSink:
    """Store ingest results in the winterops database.

    Parameters
    ----------
    session_factory
        From :func:`incidents.store.engine.session_factory`.
    now
        Clock for alert expiry (default: the current UTC time).
    batch_size
        Rows per INSERT batch.
    """

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        now: datetime | None = None,
        batch_size: int = BATCH,
    ) -> None:
        self.session_factory = session_factory
        self._now = now
        self.batch_size = batch_size

    def now(self) -> datetime:
        """Return the sink's clock."""
        return self._now or datetime.now(UTC)

    # ------------------------------------------------------------------ raw payloads

    def store_raw(self, meta: PayloadMeta) -> None:
        """Record a received payload (nothing when its sha256 is already there)."""
        row = {
            "sha256": meta.sha256,
            "feed": meta.feed,
            "source": meta.source,
            "path": meta.path,
            "size": meta.size,
            "headers": {"url": meta.url, **meta.headers} if meta.url else dict(meta.headers),
            "fetched_at": meta.fetched_at,
        }
        with session_scope(self.session_factory) as s:
            stmt = _dialect_insert(s, RawPayload).on_conflict_do_nothing(index_elements=["sha256"])
            s.execute(stmt, [row])

    # ------------------------------------------------------------------ results

    def store(self, kind: str, result: ParseResult) -> StoreCounts:
        """Store one parse result in one transaction; return what happened."""
        counts = StoreCounts()
        with session_scope(self.session_factory) as s:
            ids = self._insert_reports(s, result.frame, counts)
            if result.alerts is not None and len(result.alerts):
                self._store_alerts(s, result.alerts, ids, counts)
            self._insert_quarantine(s, result)
            # core INSERT/COPY bypass the ORM's change tracking: count them here
            if counts.accepted or counts.updated or counts.cancelled:
                changes.bump(s, "reports")
                if result.alerts is not None and len(result.alerts):
                    changes.bump(s, "alerts")
            if result.quarantine:
                changes.bump(s, "feeds")
        return counts

    def _insert_reports(
        self, s: Session, frame: pd.DataFrame, counts: StoreCounts
    ) -> dict[str, int]:
        """Fast path: one driver-level executemany per batch, INSERT .. ON CONFLICT DO NOTHING."""
        ids: dict[str, int] = {}
        if len(frame) == 0:
            return ids
        dialect = s.get_bind().dialect.name
        sql = _insert_sql(dialect)
        conn = s.connection()
        params = frame_params(frame, dialect, datetime.now(UTC))
        if dialect == "postgresql":
            inserted = _copy_insert_pg(conn, params)
            counts.accepted += inserted
            counts.duplicates += len(params) - inserted
            params = []
        for batch in _batches(params, self.batch_size):
            res = conn.exec_driver_sql(sql, list(batch))
            inserted = int(res.rowcount)
            counts.accepted += inserted
            counts.duplicates += len(batch) - inserted
        kinds = frame["kind"].tolist()
        alert_keys = [
            str(k) for k, kind in zip(frame["natural_key"], kinds, strict=True) if kind == "alert"
        ]
        if alert_keys:
            for rid, key in s.execute(
                select(Report.id, Report.natural_key).where(
                    Report.kind == "alert", Report.natural_key.in_(alert_keys)
                )
            ):
                ids[key] = rid
        return ids

    def _insert_quarantine(self, s: Session, result: ParseResult) -> None:
        if not result.quarantine:
            return
        rows = [
            {
                "feed": q.feed,
                "source": q.source,
                "record": q.record,
                "reason": q.reason,
                "raw_sha256": q.raw_sha256,
                "fingerprint": q.fingerprint,
                "created_at": datetime.now(UTC),
            }
            for q in result.quarantine
        ]
        stmt = _dialect_insert(s, Quarantine).on_conflict_do_nothing(index_elements=["fingerprint"])
        for batch in _batches(rows, self.batch_size):
            s.execute(stmt, list(batch))

    # ------------------------------------------------------------------ alerts

    def _store_alerts(
        self, s: Session, alerts: pd.DataFrame, ids: dict[str, int], counts: StoreCounts
    ) -> None:
        keys = [k for k in alerts["natural_key"] if k not in ids]
        if keys:
            for rid, key in s.execute(
                select(Report.id, Report.natural_key).where(
                    Report.kind == "alert", Report.natural_key.in_(keys)
                )
            ):
                ids[key] = rid
        records = alerts.to_dict("records")
        records.sort(key=lambda r: _py(r["sent"]))
        for rec in records:
            self._store_alert(s, {k: _py(v) for k, v in rec.items()}, ids, counts)

    def _find(self, s: Session, key: str) -> Alert | None:
        parts = _split_key(key)
        if parts is None:
            return None
        sender, identifier, sent = parts
        return s.scalars(
            select(Alert).where(
                Alert.sender == sender, Alert.identifier == identifier, Alert.sent == sent
            )
        ).first()

    def _store_alert(
        self, s: Session, a: dict[str, Any], ids: dict[str, int], counts: StoreCounts
    ) -> None:
        existing = self._find(s, a["natural_key"])
        if existing is not None:
            return  # natural key: re-ingest adds nothing (counted as a duplicate report)
        now = self.now()
        status, msg_type = a["status"], a["msg_type"]
        if status in NOT_LIVE:
            state = AlertState.NOT_LIVE
        elif msg_type == "Cancel":
            state = AlertState.CANCELLED
        elif a.get("expires") is not None and a["expires"] < now:
            state = AlertState.EXPIRED
        else:
            state = AlertState.ACTUAL
        alert = Alert(
            report_id=ids.get(a["natural_key"]),
            sender=a["sender"],
            identifier=a["identifier"],
            sent=a["sent"],
            msg_type=msg_type,
            status=status,
            state=state.value,
            references=list(a.get("references") or []),
            event=a.get("event"),
            hazard_class=a.get("hazard_class"),
            severity=a.get("severity"),
            colour=a.get("colour"),
            onset=a.get("onset"),
            expires=a.get("expires"),
            headline=a.get("headline"),
            description=a.get("description"),
            language=a.get("language"),
            infos=list(a.get("infos") or []),
            temperature_c=a.get("temperature_c"),
            wind_kmh=a.get("wind_kmh"),
            area=a.get("geometry"),
            area_codes=list(a.get("area_codes") or []),
        )
        s.add(alert)
        s.flush()
        # this message updates/cancels older ones
        if msg_type in ("Update", "Cancel"):
            for ref in alert.references:
                target = self._find(s, ref)
                if target is not None:
                    self._apply(s, alert, target, counts)
        # parked Update/Cancel messages that were waiting for this one
        # LIKE wildcards in an identifier only widen the match; the exact check is below
        like = "%" + max(alert.identifier.split("\\"), key=len) + "%"
        waiting = s.scalars(
            select(Alert).where(
                Alert.msg_type.in_(("Update", "Cancel")),
                Alert.id != alert.id,
                cast(Alert.references, Text).like(like),
            )
        ).all()
        me = _key(alert)
        for upd in sorted(waiting, key=lambda x: x.sent):
            if me in (upd.references or []):
                self._apply(s, upd, alert, counts)
        # the same alert identifier sent again with an older time than a newer message
        newer = s.scalars(
            select(Alert)
            .where(
                Alert.sender == alert.sender,
                Alert.identifier == alert.identifier,
                Alert.sent > alert.sent,
            )
            .order_by(Alert.sent.desc())
        ).first()
        if newer is not None and alert.state in (AlertState.ACTUAL.value, AlertState.EXPIRED.value):
            alert.state = AlertState.UPDATED.value
            alert.superseded_by_id = newer.id

    def _apply(self, s: Session, upd: Alert, target: Alert, counts: StoreCounts) -> None:
        if upd.status != "Actual" and target.status == "Actual":
            return  # a test message never changes a live alert
        if target.superseded_by_id is not None:
            current = s.get(Alert, target.superseded_by_id)
            if current is not None and current.id != upd.id and current.sent >= upd.sent:
                # an older Update replayed after a newer one: it is itself out of date
                if upd.state == AlertState.ACTUAL.value:
                    upd.state = AlertState.UPDATED.value
                    upd.superseded_by_id = current.id
                return
        if target.state == AlertState.CANCELLED.value and upd.msg_type == "Update":
            if target.msg_type != "Cancel":
                return
        target.superseded_by_id = upd.id
        if upd.msg_type == "Cancel":
            if target.state != AlertState.CANCELLED.value:
                counts.cancelled += 1
            target.state = AlertState.CANCELLED.value
        else:
            if target.state != AlertState.UPDATED.value:
                counts.updated += 1
            if target.state != AlertState.NOT_LIVE.value:
                target.state = AlertState.UPDATED.value
        s.flush()

    # ------------------------------------------------------------------ feeds

    def record_feed_status(self, feed: str, **fields: Any) -> None:
        """Insert or update the status row of `feed` (only the given fields change)."""
        allowed = {c.key for c in FeedStatus.__table__.columns} - {"feed"}
        unknown = set(fields) - allowed
        if unknown:
            msg = f"unknown feed status field(s) {sorted(unknown)}"
            raise ValueError(msg)
        with session_scope(self.session_factory) as s:
            row = s.get(FeedStatus, feed)
            if row is None:
                row = FeedStatus(
                    feed=feed,
                    kind=fields.get("kind", "unknown"),
                    source=fields.get("source", ""),
                )
                s.add(row)
            for k, v in fields.items():
                setattr(row, k, v)

    def feed_state(self) -> dict[str, dict[str, Any]]:
        """Return stored per-feed state for a restarted watcher (sha, ETag, Last-Modified)."""
        with session_scope(self.session_factory) as s:
            return {
                f.feed: {
                    "last_sha256": f.last_sha256,
                    "etag": f.etag,
                    "last_modified": f.last_modified,
                }
                for f in s.scalars(select(FeedStatus))
            }


def expire_alerts(session: Session, now: datetime) -> int:
    """Mark live alerts whose ``expires`` has passed as ``expired``; return how many."""
    res = session.execute(
        update(Alert)
        .where(Alert.state == AlertState.ACTUAL.value, Alert.expires < now)
        .values(state=AlertState.EXPIRED.value)
    )
    return int(getattr(res, "rowcount", 0) or 0)
