"""winterops ingest layer: fetch feeds, archive raw payloads, pure parsers, quarantine.

Imports only `geo` and third-party packages; hands parsed frames to a sink it is given. Its
public names live in its modules (``from ingest.cap import parse_cap``); :data:`__all__` lists
those modules, and importing the package imports none of them.
"""

__all__ = [
    "alert_text",
    "archive",
    "avl",
    "call_counts",
    "call_fast",
    "call_place",
    "call_row",
    "call_vocab",
    "calls",
    "cap",
    "decoding",
    "drone",
    "errors",
    "http",
    "nws",
    "patrol",
    "records",
    "registry",
    "runner",
    "validate",
    "waze",
    "zones",
]
