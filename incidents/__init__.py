"""winterops incidents layer: model, storage, fusion, priority, dispatch, audit, CLI.

One subpackage per room (``store``, ``fusion``, ``dispatch``, ``service``, ``live``, ``replay``,
``exports``, ``cli``) plus ``clock``, ``settings``, ``errors``, ``queries`` and ``review`` (the
after-action review of the real response). :data:`__all__`
lists them; importing the package imports none of them (``from incidents.fusion import fuse``).
"""

__all__ = [
    "cli",
    "clock",
    "dispatch",
    "errors",
    "exports",
    "fusion",
    "live",
    "queries",
    "replay",
    "review",
    "service",
    "settings",
    "store",
]
