r"""Live updates without a blind timer: what changed in the database, and which parts to rerun.

The database counts its changes per topic (:mod:`incidents.store.changes`). A
:class:`VersionWatch` (one per server process and database URL) knows the current counters:

* on PostgreSQL a background thread holds one psycopg connection that ``LISTEN``\\ s on
  ``winterops_changes`` and re-reads the counters after every burst of notifications, into a
  lock-protected map; a reader only copies that map (no query at all);
* on SQLite (no notifications) a reader runs the one tiny ``SELECT`` of the counter table.

A page draws each part (map, queue, recommendations, ...) in a keyed ``st.fragment`` and
declares the topics it shows with :func:`part`. The small :func:`watcher` fragment reruns
every :data:`WATCH_S` seconds, compares the counters with what each part last showed, and
reruns only the parts whose topics moved (:func:`rerun_parts`). Cached data is keyed by the
topic versions (:func:`stamp`), so a part that reruns for one topic still hits the cache for
the others.

When the database cannot be reached (PostgreSQL restarting, a network cut) the watcher shows
``ops.db_lost`` ("database connection lost, retrying") where it stands, keeps trying every
tick, and once the database answers again reruns the whole page (parts that failed meanwhile
draw again) and says ``ops.db_back`` in a toast: no manual reload.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping

import streamlit as st
from sqlalchemy import Engine

from dashboard.escape import escape_text
from dashboard.i18n import t
from incidents import queries
from incidents.store import changes
from incidents.store.connect import database_unreachable

__all__ = [
    "TICK_S",
    "WATCH_S",
    "VersionWatch",
    "due_parts",
    "engine",
    "in_part_run",
    "part",
    "rerun_parts",
    "stamp",
    "versions",
    "watch",
    "watcher",
]

log = logging.getLogger(__name__)

WATCH_S = 0.5  # how often the watcher compares the counters (cheap: numbers only)
TICK_S = 60.0  # parts whose clocks advance with time ("tick" topic) rerun this often
_PARTS = "wo_live_parts"  # session_state: page -> part key -> topics
_SEEN = "wo_live_seen"  # session_state: page -> part key -> the versions it last showed
_HELD = "wo_live_held"  # session_state: page -> part keys the watcher leaves alone for now
_LOST = "wo_live_db_lost"  # session_state: the database was unreachable at the last tick
_LANG = "wo_lang"  # session_state: the interface language (set by dashboard.ui)
_TICK = "tick"
WATCHER_KEY = "wo_watcher"
_BANNER = (
    '<div class="wo-db-lost" role="alert" style="position:fixed;top:3.5rem;left:50%;'
    "transform:translateX(-50%);z-index:1000100;max-width:min(90vw,48rem);padding:.6rem 1rem;"
    "border-radius:.5rem;background:#fff3cd;color:#5c4400;border:1px solid #e0b000;"
    'box-shadow:0 2px 8px rgba(0,0,0,.25);font-weight:600">{text}</div>'
)


class VersionWatch:
    """The change counters of one database, kept current.

    Parameters
    ----------
    engine
        The database's engine. On PostgreSQL (psycopg 3) a daemon thread listens for
        ``NOTIFY winterops_changes``; elsewhere :meth:`versions` reads the counter table.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._versions: dict[str, int] = {}
        self._last: dict[str, int] | None = None  # the last reading that got through
        self._listening = False
        self._lost_logged = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg":
            self._thread = threading.Thread(
                target=self._listen, name="winterops-listen", daemon=True
            )
            self._thread.start()

    @property
    def listening(self) -> bool:
        """Whether the PostgreSQL listener is connected (its map is then authoritative)."""
        with self._lock:
            return self._listening

    def versions(self) -> dict[str, int]:
        """Return the current counter of every topic (a copy).

        While the database cannot be reached, the last reading (the parts keep drawing from
        their cache; the watcher says the connection is lost, see :meth:`reachable`).
        """
        with self._lock:
            if self._listening:
                return dict(self._versions)
        try:
            found = changes.versions(self.engine)
        except Exception as exc:
            with self._lock:
                last = self._last
            if last is None or not database_unreachable(exc):
                raise
            return dict(last)
        with self._lock:
            self._last = found
        return dict(found)

    def reachable(self) -> bool:
        """Tell whether the database answers now (the listener is connected, or a SELECT runs).

        Raises what is not a lost connection (a wrong schema, say).
        """
        if self.listening:
            return True
        try:
            found = changes.versions(self.engine)
        except Exception as exc:
            if database_unreachable(exc):
                return False
            raise
        with self._lock:
            self._last = found
        return True

    def close(self) -> None:
        """Stop the listener thread (it ends within about a second)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=3.0)

    def _refresh(self) -> None:
        found = changes.versions(self.engine)
        with self._lock:
            self._versions = self._last = found
            self._listening = True
        self._lost_logged = False

    def _conninfo(self) -> str:
        url = self.engine.url.set(drivername="postgresql")
        return url.render_as_string(hide_password=False)

    def _listen(self) -> None:
        import psycopg

        while not self._stop.is_set():
            try:
                with psycopg.connect(self._conninfo(), autocommit=True) as conn:
                    conn.execute(f"LISTEN {changes.NOTIFY_CHANNEL}")
                    self._refresh()  # after LISTEN: nothing committed since is missed
                    while not self._stop.is_set():
                        if list(conn.notifies(timeout=1.0, stop_after=1)):
                            list(conn.notifies(timeout=0.02))  # drain the burst
                            self._refresh()
            except Exception as exc:  # noqa: BLE001 - reconnect; readers fall back to SELECT
                if not self._lost_logged:  # once per outage, not every 2 s
                    log.warning("change listener lost its connection; retrying every 2 s: %s",
                                exc, exc_info=not database_unreachable(exc))
                    self._lost_logged = True
                with self._lock:
                    self._listening = False
                self._stop.wait(2.0)
        with self._lock:
            self._listening = False


@st.cache_resource(show_spinner=False)
def engine(url: str) -> Engine:
    """Return the engine of `url`, one per server process (the dashboard's only door to it)."""
    return queries.open_engine(url)


@st.cache_resource(show_spinner=False)
def watch(url: str) -> VersionWatch:
    """Return the :class:`VersionWatch` of `url` (one per server process)."""
    return VersionWatch(engine(url))


def versions(url: str) -> dict[str, int]:
    """Return the change counters of `url` now (plus the ``tick`` pseudo-topic, one a minute)."""
    found = watch(url).versions()
    found[_TICK] = int(time.time() // TICK_S)
    return found


def stamp(url: str, topics: Iterable[str]) -> tuple[int, ...]:
    """Return the versions of `topics` (sorted by name): a cache key that moves when they change."""
    found = versions(url)
    return tuple(found.get(t, 0) for t in sorted(set(topics)))


def due_parts(
    parts: Mapping[str, Iterable[str]],
    seen: Mapping[str, Mapping[str, int]],
    now: Mapping[str, int],
) -> list[str]:
    """Return the parts whose topics changed between `seen` (per part) and `now`, in order."""
    due = []
    for key, topics in parts.items():
        last = seen.get(key)
        if last is None:
            continue  # not drawn yet: its first draw records what it showed
        if any(last.get(t, 0) != now.get(t, 0) for t in topics):
            due.append(key)
    return due


def _page() -> str:
    """Return the running page (parts are kept per page: another page's parts are not due here)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return str(getattr(ctx, "page_script_hash", "") or "")


def part(key: str, topics: Iterable[str], url: str, *, hold: bool = False) -> None:
    """Record, from inside the fragment `key`, the topics it shows and their versions now.

    With `hold` the watcher leaves the part alone until it is drawn again without (a panel
    the user is answering, e.g. "cleared?", is not redrawn under the finger).
    """
    names = sorted(set(topics))
    now = versions(url)
    page = _page()
    held = st.session_state.setdefault(_HELD, {}).setdefault(page, set())
    if hold:
        held.add(key)
    else:
        held.discard(key)
    st.session_state.setdefault(_PARTS, {}).setdefault(page, {})[key] = names
    st.session_state.setdefault(_SEEN, {}).setdefault(page, {})[key] = {
        t: now.get(t, 0) for t in names
    }


def rerun_parts(keys: list[str]) -> None:
    """Rerun only the fragments named `keys` (``@st.fragment(key=...)``).

    Streamlit offers keyed reruns from widget callbacks only; the watcher is a fragment
    body, so it queues the same request itself. Falls back to a whole-page rerun when the
    runtime does not offer it.
    """
    try:
        from streamlit.errors import StreamlitAPIException
        from streamlit.runtime.scriptrunner import RerunData, get_script_run_ctx

        ctx = get_script_run_ctx()
        if ctx is None or ctx.script_requests is None:
            return
        # parts already queued in this very run (the watcher runs first in a coalesced queue:
        # [watcher, map, ...]) run right after it: asking again would preempt this run and
        # queue the watcher first again, a loop that never lets the parts draw (a dimmed page)
        queued = set(ctx.fragment_ids_this_run or ())
        ids: list[str] = []
        for key in keys:
            with contextlib.suppress(StreamlitAPIException):  # not drawn on this page
                ids += [
                    i for i in ctx.fragment_storage.resolve_target(key)
                    if i not in ids and i not in queued
                ]
        if not ids:
            return
        ctx.script_requests.request_rerun(
            RerunData(
                query_string=ctx.query_string,
                page_script_hash=ctx.page_script_hash,
                fragment_id_queue=ids,
                is_fragment_scoped_rerun=True,
                cached_message_hashes=ctx.cached_message_hashes,
                context_info=ctx.context_info,
            )
        )
    except Exception:  # noqa: BLE001 - an older/newer runtime: rerun the page instead
        log.debug("keyed fragment rerun unavailable", exc_info=True)
        st.rerun()


def check(url: str) -> list[str]:
    """Compare the counters with what the parts of this page last showed; the due parts."""
    page = _page()
    parts: dict[str, list[str]] = st.session_state.get(_PARTS, {}).get(page, {})
    if not parts:
        return []
    seen = st.session_state.get(_SEEN, {}).get(page, {})
    held = st.session_state.get(_HELD, {}).get(page, set())
    if held:
        parts = {k: v for k, v in parts.items() if k not in held}
    due = due_parts(parts, seen, versions(url))
    # the map first: it is what a status change is read from (the rest follows in the run)
    return sorted(due, key=lambda k: 0 if k.endswith("map") else 1)


@st.fragment(run_every=WATCH_S, key=WATCHER_KEY)
def watcher(url: str, before: Callable[[], object] | None = None) -> None:
    """Every :data:`WATCH_S` s: rerun the parts whose topics changed (nothing else).

    Parameters
    ----------
    url
        The session's database URL.
    before
        Called first on every tick (e.g. the idle log-out check).
    """
    if not _reachable(url, before):
        return
    if not _alone():
        return  # the next tick, a run of the watcher alone, looks (within WATCH_S)
    due: list[str] = []
    with contextlib.suppress(Exception):  # a database hiccup: try again next tick
        due = check(url)
    if due:
        rerun_parts(due)


def _reachable(url: str, before: Callable[[], object] | None) -> bool:
    """Run `before` and read the counters; on a lost database say so; after it, rerun the page.

    Return True when the watcher may go on with this tick.
    """
    lang = str(st.session_state.get(_LANG, "zh"))
    try:
        if before is not None:
            before()
        # the listener connected, else one tiny SELECT (SQLite, or PostgreSQL between listens)
        ok = watch(url).reachable()
    except Exception as exc:
        if not database_unreachable(exc):
            raise
        ok = False
    if not ok:
        if not st.session_state.get(_LOST):
            log.warning("database unreachable from the dashboard; retrying every tick")
        st.session_state[_LOST] = True
        # pinned to the top of the window: the watcher stands at the page's end, out of sight
        st.markdown(_BANNER.format(text=escape_text(t("ops.db_lost", lang))),
                    unsafe_allow_html=True)
        return False
    if st.session_state.pop(_LOST, False):
        st.toast(t("ops.db_back", lang))
        if _alone():  # a page or part run is drawing anew anyway
            st.rerun()  # the whole page: parts that failed during the outage draw again
        return False
    return True


def in_part_run() -> bool:
    """Tell whether this run reruns parts only, not the whole page.

    Then ``st.rerun(scope="fragment")`` is allowed; a click can be handled in either.
    """
    try:
        from streamlit.runtime.scriptrunner import get_script_run_ctx

        ctx = get_script_run_ctx()
        return bool(ctx is not None and getattr(ctx, "fragment_ids_this_run", None))
    except Exception:  # noqa: BLE001 - an older/newer runtime: rerun the page
        return False


def _alone() -> bool:
    """Whether this run is the watcher's alone (no whole page, no other part in it).

    A rerun asked for during a run ends that run "stopped for rerun", and the browser then
    keeps what the run replaced as stale (dimmed, a confirmed card's button left behind) until
    the part draws again successfully. Asked for from a run of the watcher alone, only the
    watcher's (empty) run is cut short.
    """
    try:
        from streamlit.runtime.scriptrunner import get_script_run_ctx

        ctx = get_script_run_ctx()
        ran = list(getattr(ctx, "fragment_ids_this_run", None) or [])
        if ctx is None or not ran:
            return False
        own = set(ctx.fragment_storage.resolve_target(WATCHER_KEY))
        return all(i in own for i in ran)
    except Exception:  # noqa: BLE001 - an older/newer runtime: behave as before
        return True
