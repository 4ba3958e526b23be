"""Services: what people do, each write role-checked and audited.

* :mod:`~incidents.service.lifecycle`: the assignment transition table and versioned moves;
* :mod:`~incidents.service.actions`: confirm, override, reassign, redirect, cancel, status taps
  (with the tablet's position), stage clocks; :func:`act` runs one action in its own
  transaction and audits a refusal after the rollback;
* :mod:`~incidents.service.hazards`: a patrol lead's hazard report, road chiefs, clearance;
* :mod:`~incidents.service.roles`: who may do what (a wall display: nothing);
* :mod:`~incidents.service.users`: users, passwords, lockout, admin unlock/reset/disable;
* :mod:`~incidents.service.user_sessions`: server-side log-in sessions (re-exported by
  ``users``);
* :mod:`~incidents.service.feeds`: feed settings (admins only);
* :mod:`~incidents.service.patrol`: what the patrol tablet reads;
* :mod:`~incidents.service.audit`: the append-only audit log.

Import the submodules directly (``from incidents.service.actions import confirm``) or the
names in ``__all__`` (``from incidents.service import confirm``: loaded on first use).
"""

from typing import Any

# name -> submodule. Loaded on first use (PEP 562): ``incidents.service.audit`` is imported by
# fusion and dispatch, which the services themselves import, so nothing is imported eagerly.
_HOME = {
    "STATUS_STATES": "actions",
    "TabletFix": "actions",
    "act": "actions",
    "cancel": "actions",
    "clear_hazard": "actions",
    "confirm": "actions",
    "hand_to_road_chief": "actions",
    "override": "actions",
    "reassign": "actions",
    "redirect": "actions",
    "report_hazard": "actions",
    "send_position": "actions",
    "set_status": "actions",
    "status_choices": "actions",
    "TRANSITIONS": "lifecycle",
    "next_states": "lifecycle",
    "Actor": "roles",
    "actor_of": "roles",
    "add_user": "users",
    "authenticate": "users",
    "end_session": "users",
    "resume_session": "users",
    "revoke_sessions": "users",
    "start_session": "users",
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home == "actions":
        from incidents.service import actions as module
    elif home == "lifecycle":
        from incidents.service import lifecycle as module  # type: ignore[no-redef]
    elif home == "roles":
        from incidents.service import roles as module  # type: ignore[no-redef]
    elif home == "users":
        from incidents.service import users as module  # type: ignore[no-redef]
    else:
        msg = f"module 'incidents.service' has no attribute {name!r}"
        raise AttributeError(msg)
    return getattr(module, name)


__all__ = [
    "STATUS_STATES",
    "TRANSITIONS",
    "Actor",
    "TabletFix",
    "act",
    "actor_of",
    "add_user",
    "authenticate",
    "cancel",
    "clear_hazard",
    "confirm",
    "end_session",
    "hand_to_road_chief",
    "next_states",
    "override",
    "reassign",
    "redirect",
    "report_hazard",
    "resume_session",
    "revoke_sessions",
    "send_position",
    "set_status",
    "start_session",
    "status_choices",
]
