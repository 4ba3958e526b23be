"""The raw payload archive: every fetched body kept by its sha256 before any parsing.

Layout: ``<raw_dir>/<sha[:2]>/<sha256>`` holds the exact bytes, ``<sha256>.json`` beside it a
sidecar with feed, source, URL, HTTP headers, size and fetch time (UTC). Writes are atomic
(temporary file then rename) and idempotent (an existing payload is not rewritten).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ingest.records import sha256_hex


@dataclass
class PayloadMeta:
    """Where a payload came from and where its bytes are kept."""

    sha256: str
    feed: str
    source: str
    path: str
    size: int
    url: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    fetched_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def to_json(self) -> dict[str, Any]:
        """Return the sidecar content."""
        d = asdict(self)
        d["fetched_at"] = self.fetched_at.isoformat()
        return d


def payload_path(raw_dir: Path, sha: str) -> Path:
    """Return the archive path of the payload with hash `sha`."""
    return raw_dir / sha[:2] / sha


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def archive_payload(
    raw_dir: Path,
    data: bytes,
    *,
    feed: str,
    source: str,
    url: str | None = None,
    headers: dict[str, str] | None = None,
    fetched_at: datetime | None = None,
) -> PayloadMeta:
    """Keep `data` in the archive (if not there yet) and write its sidecar; return the meta."""
    sha = sha256_hex(data)
    path = payload_path(raw_dir, sha)
    meta = PayloadMeta(
        sha256=sha,
        feed=feed,
        source=source,
        path=str(path),
        size=len(data),
        url=url,
        headers=dict(headers or {}),
        fetched_at=fetched_at or datetime.now(UTC),
    )
    if not path.exists():
        _atomic_write(path, data)
    sidecar = path.with_name(sha + ".json")
    if not sidecar.exists():
        _atomic_write(sidecar, json.dumps(meta.to_json(), ensure_ascii=False, indent=1).encode())
    return meta


def read_payload(raw_dir: Path, sha: str) -> bytes:
    """Return the archived bytes of `sha` (FileNotFoundError when absent)."""
    return payload_path(raw_dir, sha).read_bytes()
