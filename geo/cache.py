"""A small thread-safe LRU cache for the in-process caches (graphs, travel-time matrices, ...).

Streamlit serves every session from threads of one process, so a module-level cache is shared
by threads: :class:`LockedLRU` holds one lock around every lookup, insertion and eviction.
Keys are compared with ``==`` (a dict of segment conditions is a usable key), so it is meant
for small capacities (tens of entries), where a scan costs less than hashing a large key.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from geo.errors import ParameterError

__all__ = ["LockedLRU"]

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
        """The value cached for `key` (now the most recently used), or None."""
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
        """The cached value for `key`, else ``create()`` cached (built outside the lock).

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
