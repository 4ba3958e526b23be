"""winterops incidents layer: model, storage, fusion, priority, dispatch, audit, CLI.

One subpackage per room (``store``, ``fusion``, ``dispatch``, ``service``, ``live``, ``replay``,
``exports``, ``cli``) plus ``clock``, ``settings``, ``errors`` and ``queries``. :data:`__all__`
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
    "service",
    "settings",
    "store",
]
