"""Fault tests against a real local HTTP server (http.server on 127.0.0.1, port 0)."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import func, select

from incidents.store.models import FeedStatus, RawPayload, Report
from incidents.store.sink import DatabaseSink
from ingest.errors import FetchError, NotAFeedError, PayloadTooLargeError
from ingest.http import Fetcher
from ingest.runner import FeedConfig, is_stale, load_watch_config, run_ingest, watch

FIX = Path(__file__).parent / "fixtures" / "ingest"
CAP = (FIX / "cap_wrapper.xml").read_bytes()
WAZE = (FIX / "waze.json").read_bytes()


class Handler(BaseHTTPRequestHandler):
    hits: Counter[str]
    body_for_etag: bytes = WAZE

    def log_message(self, *args: object) -> None:  # keep pytest output clean
        pass

    def _send(self, code: int, body: bytes, ctype: str = "application/xml", **hdr: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in hdr.items():
            self.send_header(k.replace("_", "-"), v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        path = self.path
        self.hits[path] += 1
        n = self.hits[path]
        if path == "/hang":
            time.sleep(5.0)
            self._send(200, CAP)
        elif path == "/flaky":
            if n <= 3:
                self._send(503, b"busy", "text/plain", Retry_After="0")
            else:
                self._send(200, CAP)
        elif path == "/down":
            self._send(503, b"down", "text/plain")
        elif path == "/missing":
            self._send(404, b"no", "text/plain")
        elif path == "/ratelimited":
            if n == 1:
                self._send(429, b"slow down", "text/plain", Retry_After="1")
            else:
                self._send(200, CAP)
        elif path == "/truncated":
            self.send_response(200)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(CAP)))
            self.end_headers()
            self.wfile.write(CAP[:100])
            self.wfile.flush()
            self.connection.close()
        elif path == "/etag":
            if self.headers.get("If-None-Match") == '"v1"':
                self.send_response(304)
                self.send_header("ETag", '"v1"')
                self.end_headers()
            else:
                self._send(200, self.body_for_etag, "application/json", ETag='"v1"')
        elif path == "/html":
            page = (
                b"<!DOCTYPE html><html><head><title>Proxy login</title></head><body>x</body></html>"
            )
            self._send(200, page, "text/html; charset=utf-8")
        elif path == "/big":
            self._send(200, b"<alert>" + b" " * 5000 + b"</alert>")
        else:
            self._send(404, b"?", "text/plain")


@pytest.fixture
def server() -> Iterator[tuple[str, Counter[str]]]:
    hits: Counter[str] = Counter()
    handler = type("H", (Handler,), {"hits": hits})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    t = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", hits
    finally:
        httpd.shutdown()
        httpd.server_close()


def fetcher(**kw: float) -> Fetcher:
    args = {"connect_timeout_s": 1.0, "read_timeout_s": 0.3, "retries": 3, "backoff_s": 0.01}
    args.update(kw)
    return Fetcher(**args)  # type: ignore[arg-type]


def test_hang_hits_the_read_timeout(server) -> None:  # type: ignore[no-untyped-def]
    url, hits = server
    f = fetcher(retries=1)
    t0 = time.monotonic()
    with pytest.raises(FetchError, match="timed out|failed"):
        f.fetch(url + "/hang")
    assert time.monotonic() - t0 < 4.5  # gave up before the server answered
    assert hits["/hang"] == 2  # first try + one retry


def test_503_three_times_then_200(server) -> None:  # type: ignore[no-untyped-def]
    url, hits = server
    res = fetcher().fetch(url + "/flaky")
    assert res.status == 200 and res.data == CAP
    assert hits["/flaky"] == 4


def test_503_forever_gives_up(server) -> None:  # type: ignore[no-untyped-def]
    url, hits = server
    with pytest.raises(FetchError, match="503"):
        fetcher().fetch(url + "/down")
    assert hits["/down"] == 4


def test_404_is_not_retried(server) -> None:  # type: ignore[no-untyped-def]
    url, hits = server
    with pytest.raises(FetchError, match="404"):
        fetcher().fetch(url + "/missing")
    assert hits["/missing"] == 1


def test_retry_after_is_honoured(server) -> None:  # type: ignore[no-untyped-def]
    url, hits = server
    t0 = time.monotonic()
    res = fetcher().fetch(url + "/ratelimited")
    assert res.status == 200 and hits["/ratelimited"] == 2
    assert time.monotonic() - t0 >= 0.9  # waited the Retry-After second


def test_truncated_body_is_an_error(server) -> None:  # type: ignore[no-untyped-def]
    url, _ = server
    with pytest.raises(FetchError):
        fetcher(retries=0).fetch(url + "/truncated")


def test_html_instead_of_feed(server, session_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url, _ = server
    with pytest.raises(NotAFeedError, match="Proxy login"):
        fetcher().fetch(url + "/html")
    s = run_ingest(
        "alerts",
        [url + "/html"],
        DatabaseSink(session_factory),
        raw_dir=tmp_path,
        fetcher=fetcher(),
    )
    assert s.unreadable and "HTML page" in s.unreadable[0][1]
    assert s.payloads == 0


def test_byte_cap(server) -> None:  # type: ignore[no-untyped-def]
    url, _ = server
    with pytest.raises(PayloadTooLargeError):
        fetcher(max_bytes=1000).fetch(url + "/big")


def test_etag_then_304_reparses_nothing(server, session_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url, hits = server
    sink = DatabaseSink(session_factory)
    f = fetcher()
    first = run_ingest("waze", [url + "/etag"], sink, raw_dir=tmp_path, fetcher=f)
    assert first.payloads == 1 and first.counts.accepted == 2
    second = run_ingest("waze", [url + "/etag"], sink, raw_dir=tmp_path, fetcher=f)
    assert second.payloads == 0 and second.not_modified == 1
    assert second.counts.accepted == 0 and second.counts.duplicates == 0
    assert hits["/etag"] == 2
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(RawPayload)) == 1
        assert s.scalar(select(func.count()).select_from(Report)) == 2


def test_watch_once_records_feed_health(server, session_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url, hits = server
    cfg = tmp_path / "feeds.toml"
    cfg.write_text(
        f"""
[[feeds]]
name = "waze"
kind = "waze"
source = "{url}/etag"
interval_s = 60

[[feeds]]
name = "broken"
kind = "alerts"
source = "{url}/down"
interval_s = 120

[[feeds]]
name = "calls-folder"
kind = "calls"
source = "{FIX / "calls_gbk.csv"}"
interval_s = 30
""",
        encoding="utf-8",
    )
    feeds = load_watch_config(cfg)
    assert [f.name for f in feeds] == ["waze", "broken", "calls-folder"]
    sink = DatabaseSink(session_factory)
    watch(feeds, sink, raw_dir=tmp_path / "raw", fetcher=fetcher(), once=True)
    with session_factory() as s:
        st = {f.feed: f for f in s.scalars(select(FeedStatus))}
    assert st["waze"].last_success is not None and st["waze"].last_change is not None
    assert st["waze"].etag == '"v1"'
    assert st["broken"].last_success is None and "503" in (st["broken"].last_error or "")
    assert st["calls-folder"].last_change is not None
    first_change = st["waze"].last_change
    # a restarted watcher sends the stored ETag: 304, success without change
    watch(
        feeds[:1],
        sink,
        raw_dir=tmp_path / "raw",
        fetcher=fetcher(),
        once=True,
        known=sink.feed_state(),
    )
    with session_factory() as s:
        w = s.get(FeedStatus, "waze")
        assert w is not None
        assert w.last_change == first_change and w.last_success > first_change
    assert hits["/etag"] == 2


def test_stale_after_two_missed_intervals() -> None:
    now = datetime(2025, 12, 14, tzinfo=UTC)
    assert not is_stale(now - timedelta(seconds=119), 60, now)
    assert is_stale(now - timedelta(seconds=121), 60, now)
    assert is_stale(None, 60, now)


def test_watch_config_errors(tmp_path: Path) -> None:
    from ingest.errors import ConfigError

    bad = tmp_path / "f.json"
    bad.write_text(json.dumps({"feeds": [{"kind": "tweets", "source": "x"}]}))
    with pytest.raises(ConfigError, match="tweets"):
        load_watch_config(bad)
    bad.write_text(json.dumps({"feeds": [{"kind": "waze", "source": "x", "interval_s": 0}]}))
    with pytest.raises(ConfigError, match="interval"):
        load_watch_config(bad)
    assert FeedConfig("a", "waze", "x").interval_s == 300.0


def test_bad_file_in_a_folder_does_not_stop_the_others(session_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a_login.html").write_text("<!DOCTYPE html><html><title>Login</title></html>")
    (folder / "b_empty.json").write_bytes(b"")
    (folder / "c_waze.json").write_bytes(WAZE)
    s = run_ingest("waze", [str(folder)], DatabaseSink(session_factory), raw_dir=tmp_path / "raw")
    assert s.counts.accepted == 2
    assert [Path(src).name for src, _ in s.unreadable] == ["a_login.html", "b_empty.json"]
