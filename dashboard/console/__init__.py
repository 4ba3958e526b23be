"""The dispatcher's workflow panels: override with reasons, graded overdue, incident detail, units.

Each panel module has one function that draws it given ``lang``, ``url`` and ``user`` (and
what it is about: a recommendation, an incident id), for the dispatch page to call:

* :mod:`~dashboard.console.override`: the override chooser of a recommendation card;
* :mod:`~dashboard.console.overdue`: overdue tasks graded, acknowledge and escalate;
* :mod:`~dashboard.console.incident_detail`: an incident, why its reports are one, merge/split;
* :mod:`~dashboard.console.units`: unit readiness (out of service, fuel, crew hours).

Reads go through :mod:`~dashboard.console.reads` (cached by change counters), writes through
:mod:`~dashboard.console.work_actions` (one audited service call each).
"""

__all__ = ["incident_detail", "overdue", "override", "reads", "units", "work_actions"]
