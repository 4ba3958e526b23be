"""Errors raised by the ingest layer.

IngestError
├── FetchError(IngestError, OSError)         a source could not be read at all
│   ├── NotAFeedError(FetchError)            the body is not a feed (an HTML login page, say)
│   └── PayloadTooLargeError(FetchError)     the body is over the byte cap
├── ParseError(IngestError, ValueError)      a payload (or record) that cannot be parsed
│   └── HostileXMLError(ParseError)          XML with external entities, XInclude or entity bombs
└── ConfigError(IngestError, ValueError)     a feed configuration or mapping file is unusable
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "FetchError",
    "HostileXMLError",
    "IngestError",
    "NotAFeedError",
    "ParseError",
    "PayloadTooLargeError",
]


class IngestError(Exception):
    """Base class of every ingest-layer error."""


class FetchError(IngestError, OSError):
    """A source (URL, file or folder) could not be read at all."""


class NotAFeedError(FetchError):
    """The body fetched is not a feed of the expected kind."""


class PayloadTooLargeError(FetchError):
    """The body is larger than the configured byte cap."""


class ParseError(IngestError, ValueError):
    """A payload or a record in it cannot be parsed."""


class HostileXMLError(ParseError):
    """XML that uses external entities, XInclude or entity expansion."""


class ConfigError(IngestError, ValueError):
    """A feed configuration or mapping file is unusable."""
