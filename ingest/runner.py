"""Run ingestion: sources -> fetch -> archive -> parse -> sink, once or polling.

`run_ingest` reads every source (URL, file, or folder of files), archives each payload before
parsing, parses it with the parser of its kind and hands the result to a :class:`Sink`
(``incidents.store.sink.DatabaseSink`` in the application). A payload that cannot be parsed at all
becomes one quarantine row; a source that cannot be read at all is listed in ``unreadable``
(the CLI then exits 1).

`watch` polls the feeds of a config file (TOML or JSON)::

    [[feeds]]
    name = "cma-alerts"          # unique; the feed status key
    kind = "alerts"              # alerts | drone | calls | waze
    source = "https://example.org/cap/rss.xml"   # URL, file or folder
    interval_s = 300
    zones = "zones/ugc.geojson"  # optional, alerts only (see ingest.zones)
    mapping = "mapping.toml"     # optional, calls only (see ingest.calls.load_mapping)

and records per feed its last attempt, last success, last change (new bytes) and last error.
A feed is stale when its last success is older than two intervals (`is_stale`).
"""

from __future__ import annotations

import json
import sys
import time
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from shapely.geometry.base import BaseGeometry

from ingest.archive import PayloadMeta, archive_payload, sweep_stale_temps
from ingest.calls import CallMapping, load_mapping
from ingest.errors import ConfigError, FetchError, IngestError, ParseError, PayloadTooLargeError
from ingest.http import Fetcher, check_shape
from ingest.records import ParseResult, QuarantineRow, report_frame, sha256_hex
from ingest.registry import KINDS, parse_payload
from ingest.validate import Locator
from ingest.zones import load_zones


@dataclass
class StoreCounts:
    """What a sink did with one parse result."""

    accepted: int = 0
    updated: int = 0
    cancelled: int = 0
    duplicates: int = 0

    def __iadd__(self, other: StoreCounts) -> StoreCounts:
        """Add `other`'s counts to these."""
        self.accepted += other.accepted
        self.updated += other.updated
        self.cancelled += other.cancelled
        self.duplicates += other.duplicates
        return self


class Sink(Protocol):
    """Where parsed results go (implemented by ``incidents.store.sink.DatabaseSink``)."""

    def store_raw(self, meta: PayloadMeta) -> None:
        """Record that a payload was received (before parsing)."""

    def store(self, kind: str, result: ParseResult) -> StoreCounts:
        """Store reports, alerts and quarantine rows idempotently; return the counts."""

    def record_feed_status(self, feed: str, **fields: Any) -> None:
        """Upsert a feed's status (kind, source, interval_s, last_attempt, ...)."""


@dataclass
class IngestSummary:
    """Result of one `run_ingest`."""

    kind: str
    sources: list[str]
    counts: StoreCounts = field(default_factory=StoreCounts)
    quarantined: list[QuarantineRow] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    payloads: int = 0
    not_modified: int = 0
    changed_shas: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Return the CLI's ``--json`` object (the design contract, ``unreadable``, ``payloads``)."""
        return {
            "kind": self.kind,
            "sources": self.sources,
            "accepted": self.counts.accepted,
            "updated": self.counts.updated,
            "cancelled": self.counts.cancelled,
            "duplicates": self.counts.duplicates,
            "quarantined": [
                {"source": q.source, "record": q.record, "reason": q.reason}
                for q in self.quarantined
            ],
            "unreadable": [{"source": s, "reason": r} for s, r in self.unreadable],
            "payloads": self.payloads,
        }


@dataclass
class Payload:
    """One body read from a source (file or URL), or a 304 marker (data None)."""

    source: str
    data: bytes | None
    url: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    fetched_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    error: str | None = None  # a file of a folder that could not be read (the others still are)


def is_url(source: str) -> bool:
    """Return True for http(s) URLs."""
    return source.startswith(("http://", "https://"))


def iter_payloads(source: str, fetcher: Fetcher) -> Iterator[Payload]:
    """Yield the payloads of a URL, a file, or every file under a folder (sorted).

    Raises
    ------
    FetchError
        The source cannot be read at all (missing path, network failure, HTML page ...).
    """
    if is_url(source):
        res = fetcher.fetch(source)
        yield Payload(source, res.data, url=source, headers=res.headers, fetched_at=res.fetched_at)
        return
    path = Path(source)
    if path.is_dir():
        files = sorted(
            p
            for p in path.rglob("*")
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
        )
        for p in files:
            try:
                yield _read_file(p, fetcher.max_bytes)
            except FetchError as e:
                yield Payload(str(p), None, error=str(e))
        return
    if path.is_file():
        yield _read_file(path, fetcher.max_bytes)
        return
    msg = f"source {source!r} is not a URL, a file or a folder"
    raise FetchError(msg)


def _read_file(path: Path, max_bytes: int) -> Payload:
    try:
        size = path.stat().st_size
        if size > max_bytes:
            msg = f"{path} is {size} bytes, over the cap of {max_bytes}"
            raise PayloadTooLargeError(msg)
        data = path.read_bytes()
    except OSError as e:
        if isinstance(e, FetchError):
            raise
        msg = f"cannot read {path}: {e}"
        raise FetchError(msg) from e
    check_shape(data, "", str(path))
    return Payload(str(path), data)


def _progress(total: int, enabled: bool, kind: str) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=f"ingest {kind}", unit="src", file=sys.stderr, leave=False)


def run_ingest(
    kind: str,
    sources: Sequence[str],
    sink: Sink,
    *,
    raw_dir: Path,
    fetcher: Fetcher | None = None,
    locator: Locator | None = None,
    mapping: CallMapping | None = None,
    zones: Mapping[str, BaseGeometry] | None = None,
    progress: bool = False,
    now: datetime | None = None,
    sweep_temps: bool = True,
) -> IngestSummary:
    """Ingest every source of one kind into `sink`.

    Parameters
    ----------
    kind
        ``alerts``, ``drone``, ``calls`` or ``waze``.
    sources
        URLs, files or folders.
    sink
        Receives raw payload records, parse results and (for `watch`) feed status.
    raw_dir
        Archive folder (``settings.raw_dir``).
    fetcher
        HTTP fetcher (a default one when None).
    locator
        The region, to resolve kilometre posts, place names and admin codes.
    mapping
        Call-centre header mapping (calls only).
    zones
        Zone geometries for alert geocodes (``ingest.zones.load_zones``), alerts only.
    progress
        Show a tqdm progress bar (the CLI turns it on when stderr is a terminal).
    sweep_temps
        First remove the archive's stale ``.tmp-*`` leftovers of killed ingests
        (:func:`ingest.archive.sweep_stale_temps`); a poller sweeps once at its own start.

    Raises
    ------
    ConfigError
        Unknown `kind`.
    """
    if kind not in KINDS:
        msg = f"unknown feed kind {kind!r}; expected one of {', '.join(KINDS)}"
        raise ConfigError(msg)
    if sweep_temps:
        sweep_stale_temps(raw_dir)
    own_fetcher = fetcher is None
    fetcher = fetcher or Fetcher()
    summary = IngestSummary(kind=kind, sources=list(sources))
    bar = _progress(len(sources), progress, kind)
    try:
        for source in sources:
            try:
                for payload in iter_payloads(source, fetcher):
                    _ingest_payload(
                        kind, payload, sink, raw_dir, locator, mapping, zones, now, summary
                    )
            except FetchError as e:
                summary.unreadable.append((source, str(e)))
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
        if own_fetcher:
            fetcher.close()
    return summary


def _ingest_payload(
    kind: str,
    payload: Payload,
    sink: Sink,
    raw_dir: Path,
    locator: Locator | None,
    mapping: CallMapping | None,
    zones: Mapping[str, BaseGeometry] | None,
    now: datetime | None,
    summary: IngestSummary,
) -> None:
    if payload.error is not None:
        summary.unreadable.append((payload.source, payload.error))
        return
    if payload.data is None:
        summary.not_modified += 1
        return
    summary.payloads += 1
    meta = archive_payload(
        raw_dir,
        payload.data,
        feed=kind,
        source=payload.source,
        url=payload.url,
        headers=payload.headers,
        fetched_at=payload.fetched_at,
    )
    sink.store_raw(meta)
    summary.changed_shas.append(meta.sha256)
    try:
        result = parse_payload(
            kind, payload.data, payload.source, locator, mapping=mapping, zones=zones, now=now
        )
    except ParseError as e:
        row = QuarantineRow(kind, payload.source, "whole payload", str(e), meta.sha256)
        result = ParseResult(report_frame([]), [row], None)
    summary.counts += sink.store(kind, result)
    summary.quarantined.extend(result.quarantine)


# ---------------------------------------------------------------------------------- watching


@dataclass(frozen=True)
class FeedConfig:
    """One polled feed."""

    name: str
    kind: str
    source: str
    interval_s: float = 300.0
    zones: str | None = None  # zone file for alert geocodes (alerts feeds)
    mapping: str | None = None  # call-centre header mapping file (calls feeds)


def load_watch_config(path: Path) -> list[FeedConfig]:
    """Read the feed list of `watch` (TOML or JSON with a ``feeds`` array).

    Raises
    ------
    ConfigError
        Unreadable file, missing keys, unknown kind, bad interval or duplicate names.
    """
    try:
        raw = path.read_bytes()
        doc = tomllib.loads(raw.decode("utf-8")) if path.suffix == ".toml" else json.loads(raw)
    except (OSError, ValueError) as e:
        msg = f"feed config {path} cannot be read: {e}"
        raise ConfigError(msg) from e
    feeds = doc.get("feeds") if isinstance(doc, dict) else None
    if not isinstance(feeds, list) or not feeds:
        msg = f"feed config {path} has no 'feeds' list"
        raise ConfigError(msg)
    out: list[FeedConfig] = []
    for i, f in enumerate(feeds):
        if not isinstance(f, dict) or not all(k in f for k in ("kind", "source")):
            msg = f"feed config {path}: feed #{i + 1} needs 'kind' and 'source'"
            raise ConfigError(msg)
        if f["kind"] not in KINDS:
            msg = f"feed config {path}: feed #{i + 1} has unknown kind {f['kind']!r}"
            raise ConfigError(msg)
        try:
            interval = float(f.get("interval_s", 300))
        except (TypeError, ValueError):
            interval = -1.0
        if interval <= 0:
            msg = (
                f"feed config {path}: feed #{i + 1} interval_s {f.get('interval_s')!r} must be > 0"
            )
            raise ConfigError(msg)
        out.append(
            FeedConfig(
                str(f.get("name") or f"{f['kind']}-{i + 1}"),
                f["kind"],
                str(f["source"]),
                interval,
                zones=str(f["zones"]) if f.get("zones") else None,
                mapping=str(f["mapping"]) if f.get("mapping") else None,
            )
        )
    names = [f.name for f in out]
    if len(set(names)) != len(names):
        msg = f"feed config {path}: duplicate feed names {sorted(n for n in set(names) if names.count(n) > 1)}"
        raise ConfigError(msg)
    return out


def is_stale(last_success: datetime | None, interval_s: float, now: datetime) -> bool:
    """Tell whether a feed is stale: it has not succeeded within two intervals."""
    if last_success is None:
        return True
    return now - last_success > timedelta(seconds=2 * interval_s)


def poll_feed(
    feed: FeedConfig,
    sink: Sink,
    *,
    raw_dir: Path,
    fetcher: Fetcher,
    locator: Locator | None = None,
    last_sha: str | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> IngestSummary:
    """Poll one feed once and record its status (attempt, success, change, error)."""
    attempt = now()
    zones = load_zones(Path(feed.zones)) if feed.zones else None
    mapping = load_mapping(Path(feed.mapping)) if feed.mapping else None
    summary = run_ingest(
        feed.kind,
        [feed.source],
        sink,
        raw_dir=raw_dir,
        fetcher=fetcher,
        locator=locator,
        zones=zones,
        mapping=mapping,
        sweep_temps=False,  # the poller swept at its start
    )
    status: dict[str, Any] = {
        "kind": feed.kind,
        "source": feed.source,
        "interval_s": feed.interval_s,
        "last_attempt": attempt,
    }
    if summary.unreadable:
        status["last_error"] = f"{attempt.isoformat()}: {summary.unreadable[0][1]}"
    else:
        status["last_success"] = now()
        shas = sorted(summary.changed_shas)
        combined = (
            sha256_hex("".join(shas).encode()) if len(shas) > 1 else (shas[0] if shas else None)
        )
        if combined is not None and combined != last_sha:
            status["last_change"] = status["last_success"]
            status["last_sha256"] = combined
        if is_url(feed.source):
            etag, lm = fetcher.validators.get(feed.source, (None, None))
            status["etag"] = etag
            status["last_modified"] = lm
    sink.record_feed_status(feed.name, **status)
    return summary


def watch(
    feeds: Sequence[FeedConfig],
    sink: Sink,
    *,
    raw_dir: Path,
    fetcher: Fetcher | None = None,
    locator: Locator | None = None,
    once: bool = False,
    known: dict[str, dict[str, Any]] | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    sleep: Callable[[float], None] = time.sleep,
    max_cycles: int | None = None,
) -> dict[str, IngestSummary]:
    """Poll each feed on its interval until interrupted (or once with `once`).

    Parameters
    ----------
    known
        Stored state per feed name (``last_sha256``, ``etag``, ``last_modified``), so that a
        restarted watcher still sends conditional GETs and detects changes.
    """
    fetcher = fetcher or Fetcher()
    sweep_stale_temps(raw_dir)  # leftovers of a killed run (its polls do not sweep)
    state = {k: dict(v) for k, v in (known or {}).items()}
    for f in feeds:
        st = state.get(f.name, {})
        if is_url(f.source):
            fetcher.remember(f.source, st.get("etag"), st.get("last_modified"))
    next_due = {f.name: 0.0 for f in feeds}
    last: dict[str, IngestSummary] = {}
    cycles = 0
    try:
        while True:
            t = time.monotonic()
            for f in feeds:
                if next_due[f.name] > t:
                    continue
                try:
                    s = poll_feed(
                        f,
                        sink,
                        raw_dir=raw_dir,
                        fetcher=fetcher,
                        locator=locator,
                        last_sha=state.get(f.name, {}).get("last_sha256"),
                        now=now,
                    )
                except IngestError as e:  # a broken feed never stops the others
                    sink.record_feed_status(
                        f.name,
                        kind=f.kind,
                        source=f.source,
                        interval_s=f.interval_s,
                        last_attempt=now(),
                        last_error=f"{now().isoformat()}: {e}",
                    )
                    next_due[f.name] = t + f.interval_s
                    continue
                last[f.name] = s
                shas = sorted(s.changed_shas)
                if shas:
                    combined = sha256_hex("".join(shas).encode()) if len(shas) > 1 else shas[0]
                    state.setdefault(f.name, {})["last_sha256"] = combined
                next_due[f.name] = t + f.interval_s
            cycles += 1
            if once or (max_cycles is not None and cycles >= max_cycles):
                break
            wait = max(0.05, min(next_due.values()) - time.monotonic())
            sleep(min(wait, 5.0))
    finally:
        if fetcher is not None:
            fetcher.close()
    return last
