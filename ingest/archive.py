"""The raw payload archive: every fetched body kept by its sha256 before any parsing.

Layout: ``<raw_dir>/<sha[:2]>/<sha256>`` holds the exact bytes, ``<sha256>.json`` beside it a
sidecar with feed, source, URL, HTTP headers, size and fetch time (UTC). Writes are atomic
(temporary file then rename) and idempotent (an existing payload is not rewritten).

A temporary file (``.tmp-*`` beside its target) is held under an exclusive ``flock`` while it
is written, so :func:`sweep_stale_temps` (run when an ingest or the worker starts) removes only
the leftovers of a killed writer: older than :data:`STALE_TEMP_S` and locked by no one.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ingest.records import sha256_hex

__all__ = [
    "STALE_TEMP_S",
    "TEMP_PREFIX",
    "PayloadMeta",
    "archive_payload",
    "payload_path",
    "read_payload",
    "sweep_stale_temps",
]

TEMP_PREFIX = ".tmp-"
STALE_TEMP_S = 600.0  # a temporary file untouched this long, and unlocked, is a leftover


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
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=TEMP_PREFIX)
    try:
        with os.fdopen(fd, "wb") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)  # in use: a sweep leaves it alone
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
            os.replace(tmp, path)  # renamed while still locked
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


def _remove_if_unused(path: Path) -> bool:
    """Remove temporary file `path` unless a live writer holds its lock; True when removed."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:  # gone meanwhile (renamed by its writer), or not a plain file
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # a writer is still at it
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        return True
    finally:
        os.close(fd)


def sweep_stale_temps(
    raw_dir: Path, older_than_s: float = STALE_TEMP_S, now: float | None = None
) -> list[Path]:
    """Remove the ``.tmp-*`` leftovers of killed writers from the archive; return them.

    A temporary file is removed when it was last modified more than `older_than_s` seconds
    before `now` (epoch seconds, default: the time now) and no process holds its lock (a
    writer holds it until the rename). Looks in `raw_dir` and its ``<sha[:2]>`` folders only.
    """
    now = time.time() if now is None else now
    removed: list[Path] = []
    if not raw_dir.is_dir():
        return removed
    folders = [raw_dir, *(p for p in raw_dir.iterdir() if p.is_dir() and not p.is_symlink())]
    for folder in folders:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if not entry.name.startswith(TEMP_PREFIX):
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if now - st.st_mtime < older_than_s:
                continue
            path = Path(entry.path)
            if _remove_if_unused(path):
                removed.append(path)
    return removed
