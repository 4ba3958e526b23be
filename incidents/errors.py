"""Errors raised by the incidents layer.

WinteropsError
├── TransitionError(WinteropsError, ValueError)   an illegal lifecycle transition
├── ConflictError(WinteropsError, RuntimeError)   someone else changed the record first (version)
├── NotFoundError(WinteropsError, LookupError)    no such record
├── PermissionDenied(WinteropsError, PermissionError)  the user may not do this
├── AuthError(WinteropsError, PermissionError)    wrong user name or password, or account locked
├── AuditImmutableError(WinteropsError, RuntimeError)  an UPDATE or DELETE on the audit log
└── ScenarioError(WinteropsError, ValueError)     a storm scenario file is unusable
"""

from __future__ import annotations


class WinteropsError(Exception):
    """Base class of every incidents-layer error."""


class TransitionError(WinteropsError, ValueError):
    """An assignment or task was asked to make a transition its lifecycle forbids."""


class ConflictError(WinteropsError, RuntimeError):
    """Another user changed the record first (optimistic version check failed)."""


class NotFoundError(WinteropsError, LookupError):
    """No record with the given identifier."""


class PermissionDenied(WinteropsError, PermissionError):
    """The user's role or unit does not allow this action."""


class AuthError(WinteropsError, PermissionError):
    """Wrong user name or password, or the account is locked."""


class AuditImmutableError(WinteropsError, RuntimeError):
    """The audit log is append-only."""


class ScenarioError(WinteropsError, ValueError):
    """A storm scenario file is unusable."""
