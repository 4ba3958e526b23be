"""Caches: a thread-safe in-process LRU and content-addressed cache files.

:class:`LockedLRU` is a small thread-safe LRU cache for the in-process caches (graphs,
travel-time matrices, ...).

Streamlit serves every session from threads of one process, so a module-level cache is shared
by threads: :class:`LockedLRU` holds one lock around every lookup, insertion and eviction.
Keys are compared with ``==`` (a dict of segment conditions is a usable key), so it is meant
for small capacities (tens of entries), where a scan costs less than hashing a large key.

:func:`write_cache_file` / :func:`read_cache_file` keep a built object (the loaded region) in a
file named by a hash of its inputs, so the next process reads it instead of rebuilding it.
Arrays of shapely geometries are stored as flat vertex arrays (fast both ways); reading builds
only objects of numpy, pandas, pyarrow, geopandas, shapely, pyproj, scipy and :mod:`geo`. Cache
files
are the process's own output under its writable ``var`` folder: anyone able to write there can
already change the database.
"""

from __future__ import annotations

import logging
import os
import pickle  # noqa: S403 - cache files: restricted unpickler below, own files only
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np
import shapely
from numpy.typing import NDArray

from geo.errors import ParameterError

__all__ = ["LockedLRU", "prune_cache_dir", "read_cache_file", "write_cache_file"]

_log = logging.getLogger(__name__)

K = TypeVar("K")
V = TypeVar("V")


class LockedLRU(Generic[K, V]):
    """Least-recently-used cache of at most `capacity` entries, safe to share between threads.

    Parameters
    ----------
    capacity
        How many entries it keeps; inserting one more evicts the least recently used.

    Examples
    --------
    >>> cache: LockedLRU[str, int] = LockedLRU(2)
    >>> cache.get_or_create("a", lambda: 1)
    1
    >>> cache.get("a"), cache.get("b")
    (1, None)
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            msg = f"capacity must be at least 1, not {capacity!r}"
            raise ParameterError(msg)
        self.capacity = capacity
        self._lock = threading.Lock()
        self._entries: list[tuple[K, V]] = []  # least recently used first
        self.hits = 0
        self.misses = 0

    def __getstate__(self) -> dict[str, int]:
        """Pickle the capacity only: a copy starts empty (and with its own lock)."""
        return {"capacity": self.capacity}

    def __setstate__(self, state: dict[str, int]) -> None:
        """Restore an empty cache of the pickled capacity."""
        self.__init__(int(state["capacity"]))  # type: ignore[misc]

    def __len__(self) -> int:
        """How many entries it holds."""
        with self._lock:
            return len(self._entries)

    def _find(self, key: K) -> int:
        for i, (k, _) in enumerate(self._entries):
            if k == key:
                return i
        return -1

    def get(self, key: K) -> V | None:
        """Return the value cached for `key` (now the most recently used), or None."""
        with self._lock:
            i = self._find(key)
            if i < 0:
                self.misses += 1
                return None
            entry = self._entries.pop(i)
            self._entries.append(entry)
            self.hits += 1
            return entry[1]

    def put(self, key: K, value: V) -> V:
        """Cache `value` for `key` unless another thread did first; return the cached value."""
        with self._lock:
            i = self._find(key)
            if i >= 0:
                entry = self._entries.pop(i)
                self._entries.append(entry)
                return entry[1]
            self._entries.append((key, value))
            self._evict()
            return value

    def get_or_create(self, key: K, create: Callable[[], V]) -> V:
        """Return the cached value for `key`, else ``create()`` cached (built outside the lock).

        Two threads missing at once may both build; the first to finish is kept and both get
        it, so callers always share one value per key.
        """
        hit = self.get(key)
        if hit is not None:
            return hit
        return self.put(key, create())

    def _evict(self) -> None:
        while len(self._entries) > self.capacity:
            self._entries.pop(0)

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self._entries.clear()


# ------------------------------------------------------------------------------ file cache

# Modules whose classes and functions a cache file may name (see :class:`_Unpickler`).
_ALLOWED_MODULES = (
    "builtins",
    "collections",
    "copyreg",
    "datetime",
    "functools",
    "pathlib",
    "numpy",
    "pandas",
    "geopandas",
    "shapely",
    "pyproj",
    "pyarrow",
    "scipy",
    "geo",
)
_BUILTINS = frozenset(
    {"object", "dict", "list", "tuple", "set", "frozenset", "slice", "range", "complex",
     "bytearray", "getattr"}
)
_FILE_MAGIC = b"winterops-cache-1\n"


def _lines_from_arrays(
    coords: NDArray[np.float64], counts: NDArray[np.int64], shape: tuple[int, ...]
) -> NDArray[Any]:
    """Rebuild an object array of LineStrings from its vertices (inverse of the reducer)."""
    index = np.repeat(np.arange(counts.size), counts)
    lines = shapely.linestrings(coords, indices=index) if counts.size else np.empty(0, object)
    out = np.asarray(lines, dtype=object).reshape(shape)
    return out


def _geoms_from_wkb(wkb: list[bytes], shape: tuple[int, ...]) -> NDArray[Any]:
    """Rebuild an object array of geometries from WKB (inverse of the reducer)."""
    return np.asarray(shapely.from_wkb(np.asarray(wkb, dtype=object)), dtype=object).reshape(shape)


class _Pickler(pickle.Pickler):
    """A pickler that stores arrays of shapely geometries as flat vertex arrays (or WKB).

    Pickling 200,000 shapely objects one by one takes seconds; one vertex array and one count
    array per object array take milliseconds and rebuild in one vectorised call.
    """

    def reducer_override(self, obj: Any) -> Any:
        if not (isinstance(obj, np.ndarray) and obj.dtype == object and obj.size):
            return NotImplemented
        flat = obj.ravel()
        if not isinstance(flat[0], shapely.Geometry) or not shapely.is_geometry(flat).all():
            return NotImplemented
        types = shapely.get_type_id(flat)
        if (types == 1).all() and not shapely.is_empty(flat).any():  # all LineStrings
            coords = shapely.get_coordinates(flat)
            counts = shapely.get_num_coordinates(flat).astype(np.int64)
            return _lines_from_arrays, (coords, counts, obj.shape)
        return _geoms_from_wkb, (list(shapely.to_wkb(flat)), obj.shape)


class _Unpickler(pickle.Unpickler):
    """An unpickler that only builds objects of the array, geometry and geo libraries."""

    def find_class(self, module: str, name: str) -> Any:
        root = module.split(".")[0]
        if root not in _ALLOWED_MODULES or (root == "builtins" and name not in _BUILTINS):
            msg = f"cache file names {module}.{name}, which a cache may not build"
            raise pickle.UnpicklingError(msg)
        return super().find_class(module, name)


def write_cache_file(path: str | Path, key: str, value: Any) -> bool:
    """Store `value` under `key` in `path` atomically; False when it cannot be stored.

    The value is written to a temporary file in the same folder and renamed over `path`, so a
    reader never sees half a file and two processes writing at once both leave a whole one.
    A value that cannot be pickled, or a folder that cannot be written, is not an error: the
    cache is only an optimisation (the reason is logged).
    """
    target = Path(path)
    tmp: Path | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        tmp = Path(name)
        with os.fdopen(fd, "wb") as f:
            f.write(_FILE_MAGIC + key.encode() + b"\n")
            _Pickler(f, protocol=pickle.HIGHEST_PROTOCOL).dump(value)
        os.replace(tmp, target)
        tmp = None
        return True
    except (OSError, pickle.PicklingError, TypeError, AttributeError) as e:
        _log.warning("cache file %s not written: %s", target, e)
        return False
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def read_cache_file(path: str | Path, key: str) -> Any | None:
    """Return the value stored under `key` in `path`, or None (missing, other key, unreadable).

    Only objects of numpy, pandas, pyarrow, geopandas, shapely, pyproj, scipy and :mod:`geo` are
    built
    (see :class:`_Unpickler`); a file naming anything else is refused (None, logged).
    """
    target = Path(path)
    try:
        with target.open("rb") as f:
            if f.readline() != _FILE_MAGIC or f.readline() != key.encode() + b"\n":
                return None
            value = _Unpickler(f).load()
    except FileNotFoundError:
        return None
    except Exception as e:  # noqa: BLE001 - a damaged or stale file is a miss, never a crash
        _log.warning("cache file %s not used: %s", target, e)
        return None
    try:
        os.utime(target)  # recently used: kept by prune_cache_dir
    except OSError:
        pass
    return value


def prune_cache_dir(folder: str | Path, pattern: str, keep: int) -> int:
    """Delete all but the `keep` most recently used files matching `pattern`; return how many.

    Files another process deletes at the same time are skipped.
    """
    files: list[tuple[float, Path]] = []
    for p in Path(folder).glob(pattern):
        try:
            files.append((p.stat().st_mtime, p))
        except OSError:
            continue
    files.sort(reverse=True)
    removed = 0
    for _, p in files[keep:]:
        try:
            p.unlink()
            removed += 1
        except OSError:
            continue
    return removed
