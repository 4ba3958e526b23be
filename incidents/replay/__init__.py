"""Replay: storm scenarios, the demo storm loaded at a moment, whole-storm simulation of policies.

:data:`__all__` lists the modules (``scenario``, ``storm``, ``demo``, ``simulate`` and its
``metrics``, ``runs`` for a replay started from the page); importing the package imports
none of them (``from incidents.replay.storm import seed_demo_storm``).
"""

__all__ = [
    "demo",
    "metrics",
    "runs",
    "scenario",
    "simulate",
    "storm",
]
