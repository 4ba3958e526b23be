"""winterops ingest layer: fetch feeds, archive raw payloads, pure parsers, quarantine.

Imports only `geo` and third-party packages; hands parsed frames to a sink it is given.
"""
