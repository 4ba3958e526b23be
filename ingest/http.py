"""HTTP fetching for feeds: one :class:`requests.Session` with retries, timeouts and a byte cap.

- Retries for 429 and 5xx (``urllib3.Retry`` mounted through ``HTTPAdapter``) with exponential
  backoff; ``Retry-After`` is honoured (capped at `max_retry_after_s` so a feed cannot stall the
  poller for an hour). Other 4xx stop at once.
- Every request has a connect and a read timeout.
- Conditional GET: the ``ETag`` / ``Last-Modified`` of each URL is remembered and sent back; a
  304 returns :class:`FetchResult` with ``not_modified=True`` and no body, so nothing is reparsed.
- The byte cap is checked on ``Content-Length`` and again while streaming.
- Shape check: an HTML page (a proxy's login page, say) is :class:`~ingest.errors.NotAFeedError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from ingest.errors import FetchError, NotAFeedError, PayloadTooLargeError

RETRY_STATUSES = (429, 500, 502, 503, 504)
USER_AGENT = "winterops-ingest/0.1 (+winter road operations)"


class CappedRetry(Retry):
    """A :class:`Retry` whose honoured ``Retry-After`` is never longer than `max_retry_after`."""

    max_retry_after: float = 30.0

    def get_retry_after(self, response: Any) -> float | None:
        """Return the server's ``Retry-After`` in seconds, capped at `max_retry_after`."""
        value = super().get_retry_after(response)
        if value is None:
            return None
        return min(float(value), self.max_retry_after)


@dataclass
class FetchResult:
    """One HTTP fetch: the body (None on 304), headers and when."""

    url: str
    status: int
    data: bytes | None
    headers: dict[str, str]
    fetched_at: datetime
    not_modified: bool = False


@dataclass
class Fetcher:
    """Fetch feed URLs politely and defensively.

    Parameters
    ----------
    connect_timeout_s, read_timeout_s
        Timeouts passed on every request.
    max_bytes
        Byte cap of one body.
    retries
        Retries on 429/5xx and on connection/read failures.
    backoff_s
        Backoff factor (sleep ``backoff_s * 2**n`` between tries, or ``Retry-After``).
    max_retry_after_s
        Longest ``Retry-After`` honoured.
    """

    connect_timeout_s: float = 5.0
    read_timeout_s: float = 30.0
    max_bytes: int = 50 * 1024 * 1024
    retries: int = 3
    backoff_s: float = 0.5
    max_retry_after_s: float = 30.0
    validators: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    session: requests.Session = field(init=False, repr=False)

    def __post_init__(self) -> None:
        """Build the requests session with the capped retry policy."""
        retry_cls = type(
            "CappedRetryN", (CappedRetry,), {"max_retry_after": self.max_retry_after_s}
        )
        retry = retry_cls(
            total=self.retries,
            connect=self.retries,
            read=self.retries,
            status=self.retries,
            backoff_factor=self.backoff_s,
            status_forcelist=RETRY_STATUSES,
            allowed_methods=frozenset({"GET", "HEAD"}),
            respect_retry_after_header=True,
            raise_on_status=False,
        )
        adapter = HTTPAdapter(max_retries=retry)
        self.session = requests.Session()
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers["User-Agent"] = USER_AGENT

    def remember(self, url: str, etag: str | None, last_modified: str | None) -> None:
        """Seed the conditional-GET validators of `url` (e.g. from stored feed status)."""
        if etag or last_modified:
            self.validators[url] = (etag, last_modified)

    def close(self) -> None:
        """Close the underlying session."""
        self.session.close()

    def fetch(self, url: str) -> FetchResult:
        """GET `url` with retries, timeouts, conditional headers and the byte cap.

        Raises
        ------
        FetchError
            Network failure, timeout, a non-retriable 4xx, or 5xx after every retry.
        PayloadTooLargeError
            The body is over `max_bytes`.
        NotAFeedError
            The body is an HTML page.
        """
        headers: dict[str, str] = {}
        etag, last_modified = self.validators.get(url, (None, None))
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        timeout = (self.connect_timeout_s, self.read_timeout_s)
        try:
            with self.session.get(url, headers=headers, timeout=timeout, stream=True) as resp:
                got = {k: v for k, v in resp.headers.items()}
                now = datetime.now(UTC)
                if resp.status_code == 304:
                    return FetchResult(url, 304, None, got, now, not_modified=True)
                if resp.status_code >= 400:
                    msg = f"GET {url} answered HTTP {resp.status_code} {resp.reason}"
                    if resp.status_code in RETRY_STATUSES:
                        msg += f" after {self.retries} retries"
                    raise FetchError(msg)
                length = resp.headers.get("Content-Length")
                if length and length.isdigit() and int(length) > self.max_bytes:
                    msg = f"GET {url}: Content-Length {length} is over the cap of {self.max_bytes} bytes"
                    raise PayloadTooLargeError(msg)
                chunks: list[bytes] = []
                size = 0
                for chunk in resp.iter_content(chunk_size=65536):
                    size += len(chunk)
                    if size > self.max_bytes:
                        msg = f"GET {url}: body over the cap of {self.max_bytes} bytes"
                        raise PayloadTooLargeError(msg)
                    chunks.append(chunk)
                data = b"".join(chunks)
        except requests.exceptions.Timeout as e:
            msg = f"GET {url} timed out ({e.__class__.__name__})"
            raise FetchError(msg) from e
        except requests.exceptions.RetryError as e:
            msg = f"GET {url} kept failing after {self.retries} retries: {e}"
            raise FetchError(msg) from e
        except requests.exceptions.RequestException as e:
            msg = f"GET {url} failed: {e.__class__.__name__}: {e}"
            raise FetchError(msg) from e
        check_shape(data, got.get("Content-Type", ""), url)
        new_etag = got.get("ETag")
        new_lm = got.get("Last-Modified")
        if new_etag or new_lm:
            self.validators[url] = (new_etag, new_lm)
        return FetchResult(url, resp.status_code, data, got, now)


def check_shape(data: bytes, content_type: str, where: str) -> None:
    """Raise :class:`NotAFeedError` when `data` is an HTML page rather than a feed."""
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if "text/html" in content_type.lower() or head.startswith((b"<!doctype html", b"<html")):
        title = ""
        low = data[:4096].lower()
        i = low.find(b"<title>")
        if i >= 0:
            j = low.find(b"</title>", i)
            title = data[i + 7 : j if j > 0 else i + 80].decode("utf-8", "replace").strip()
        msg = f"{where} returned an HTML page{f' ({title!r})' if title else ''}, not a feed"
        raise NotAFeedError(msg)
    if not data.strip():
        msg = f"{where} returned an empty body"
        raise NotAFeedError(msg)
