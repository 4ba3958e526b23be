"""Interface strings for operations: faults, busy database, recovery, offline install: key -> (zh, en)."""

from __future__ import annotations

STRINGS: dict[str, tuple[str, str]] = {
    # SQLite still locked by other writers after the brief retries (incidents.errors.BusyError)
    "error.busy": (
        "系统正忙（其他操作正在写入），本次操作未保存，请稍后重试。（{detail}）",
        "The system is busy (other changes are being saved); nothing was saved, try again. "
        "({detail})",
    ),
    # the database cannot be reached (PostgreSQL restarting, network cut): shown by the page's
    # live watcher while it lasts, and for an action tried meanwhile
    "ops.db_lost": (
        "数据库连接中断，正在重试……页面将在恢复后自动刷新。",
        "Database connection lost, retrying... the page refreshes by itself once it is back.",
    ),
    "ops.db_lost_action": (
        "数据库连接中断，本次操作未保存，请在连接恢复后重试。",
        "Database connection lost; nothing was saved, try again once it is back.",
    ),
    "ops.db_back": ("数据库连接已恢复。", "Database connection restored."),
}
