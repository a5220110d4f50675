"""Typed errors of the domain.

Every refusal carries a stable ``code`` (other services and acceptance tests match on it), a
message a person can act on, and where a rule of the ETMAD is the reason, the clause.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error the domain raises on purpose."""

    code = "DOMAIN_ERROR"

    def __init__(self, message: str, *, code: str | None = None, clause: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.clause = clause


class InvalidIdentifier(DomainError, ValueError):  # noqa: N818 — reads as the fact it reports
    """An identifier (EUI-64, MPAN, MPRN, Device Model key, ...) failed validation."""

    code = "INVALID_IDENTIFIER"


class RuleViolation(DomainError):  # noqa: N818 — reads as the fact it reports
    """A command would break an invariant of an aggregate; nothing is recorded."""

    code = "RULE_VIOLATION"
