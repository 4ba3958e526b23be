"""Errors raised by the incidents layer.

WinteropsError
├── TransitionError(WinteropsError, ValueError)   an illegal lifecycle transition
├── ConflictError(WinteropsError, RuntimeError)   someone else changed the record first (version)
├── NotFoundError(WinteropsError, LookupError)    no such record
├── PermissionDenied(WinteropsError, PermissionError)  the user may not do this
├── AuthError(WinteropsError, PermissionError)    wrong user name or password, account locked
│                                                 or disabled
├── PasswordPolicyError(WinteropsError, ValueError)  a password the policy refuses
├── AuditImmutableError(WinteropsError, RuntimeError)  an UPDATE or DELETE on the audit log
├── ScenarioError(WinteropsError, ValueError)     a storm scenario file is unusable
├── RegionImportError(WinteropsError, ValueError) region files that cannot be imported (.problems)
├── IncidentEditError(WinteropsError, ValueError)  a split or merge by hand that cannot be done
├── UnknownPolicyError(WinteropsError, ValueError)  a dispatch policy not in dispatch.POLICIES
├── ExportError(WinteropsError)                   an export that cannot be made
│   ├── UnknownExportError(ExportError, ValueError)  an export kind no writer is registered for
│   └── UnknownLayerError(ExportError, ValueError)   a layer name not among the exportable layers
└── StoreError(WinteropsError)                    the database store is misconfigured
    ├── DatabaseUrlError(StoreError, ValueError)  a database URL the store cannot use
    ├── NaiveDatetimeError(StoreError, ValueError) a datetime without a timezone given to a column
    ├── SettingValueError(StoreError, ValueError) a runtime setting with an unusable value
    └── BusyError(StoreError, RuntimeError)       the database stayed busy (SQLite locked by
                                                  other writers) after brief retries: try again

Every error carries a ``code`` (a stable, translatable key: the dashboard shows
``error.<code>`` from its catalogue when it has one); the class default unless the raiser names
a finer one, e.g. ``PermissionDenied(msg, code="capability_mismatch")``.
"""

from __future__ import annotations

__all__ = [
    "AuditImmutableError",
    "AuthError",
    "BusyError",
    "ConflictError",
    "DatabaseUrlError",
    "ExportError",
    "IncidentEditError",
    "NaiveDatetimeError",
    "NotFoundError",
    "PasswordPolicyError",
    "PermissionDenied",
    "RegionImportError",
    "ScenarioError",
    "SettingValueError",
    "StoreError",
    "TransitionError",
    "UnknownExportError",
    "UnknownLayerError",
    "UnknownPolicyError",
    "WinteropsError",
]


class WinteropsError(Exception):
    """Base class of every incidents-layer error.

    Parameters
    ----------
    *args
        The message (naming the offending value) and any further arguments.
    code
        A stable key saying what went wrong (translated by the dashboard); the class's
        ``code`` when omitted.
    """

    code = "failed"

    def __init__(self, *args: object, code: str | None = None) -> None:
        super().__init__(*args)
        if code is not None:
            self.code = code


class TransitionError(WinteropsError, ValueError):
    """An assignment or task was asked to make a transition its lifecycle forbids."""


class ConflictError(WinteropsError, RuntimeError):
    """Another user changed the record first (optimistic version check failed)."""


class NotFoundError(WinteropsError, LookupError):
    """No record with the given identifier."""


class PermissionDenied(WinteropsError, PermissionError):
    """The user's role or unit does not allow this action."""

    code = "denied"


class AuthError(WinteropsError, PermissionError):
    """Wrong user name or password, or the account is locked or disabled."""

    code = "auth"


class PasswordPolicyError(WinteropsError, ValueError):
    """A password the policy refuses: too short, the user name, or one of the last ones."""

    code = "password_policy"


class AuditImmutableError(WinteropsError, RuntimeError):
    """The audit log is append-only."""


class ScenarioError(WinteropsError, ValueError):
    """A storm scenario file is unusable."""


class RegionImportError(WinteropsError, ValueError):
    """Region files that cannot be imported; ``problems`` holds every one found."""

    def __init__(self, message: str, problems: list[object] | None = None) -> None:
        super().__init__(message)
        self.problems: list[object] = list(problems or [])


class IncidentEditError(WinteropsError, ValueError):
    """A split or merge by hand that cannot be done (reports not in the incident, not open)."""


class UnknownPolicyError(WinteropsError, ValueError):
    """A dispatch policy that is not one of :data:`incidents.dispatch.solver.POLICIES`."""

    code = "unknown_policy"


class ExportError(WinteropsError):
    """Base class of the errors of :mod:`incidents.exports`."""


class UnknownExportError(ExportError, ValueError):
    """An export kind that no writer is registered for."""


class UnknownLayerError(ExportError, ValueError):
    """A layer name that is not one of the exportable layers."""


class StoreError(WinteropsError):
    """Base class of the errors of :mod:`incidents.store` configuration."""


class DatabaseUrlError(StoreError, ValueError):
    """A database URL the store cannot use."""


class NaiveDatetimeError(StoreError, ValueError):
    """A datetime without a timezone given to a timestamp column (UTC is stored)."""


class SettingValueError(StoreError, ValueError):
    """A runtime setting (``app_settings``) given a value of the wrong type or range."""


class BusyError(StoreError, RuntimeError):
    """The database stayed busy after brief retries (SQLite: locked by other writers).

    Nothing was written; the same action may simply be tried again (code ``busy``).
    """

    code = "busy"
