"""Inputs refused before a ServiceRequest could be recorded (DOMAIN.md 3.4; SRPD 6.1): one
aggregate per input, by the SHA-256 of its bytes, id ``refused-request:<sha256 hex>``.

A ``ServiceRequest`` is keyed by its DUIS Request ID, which can be trusted only once the
request's signature has verified. Bytes that are not a readable SRV 6.23 request (malformed or
hostile XML, schema-invalid, unsigned, wrongly signed, signed by an unknown certificate), a
verified request whose Request ID was already received, and a verified request for a Device
the Smart Metering Inventory does not hold are therefore recorded here instead: what was
refused (its digest), when, why (a stable code and a message), the request check whose failure
it is with its DUIS response code where there is one, and the Request ID the request claims
when it could be read and verified. Nothing else is ever recorded for such an input: no
countersigning, no Command. The same bytes refused again add a second ``Refused`` to the same
record.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Final, Self

import attrs

from domain import clauses
from domain.errors import RuleViolation
from domain.events import DomainEvent, utc
from domain.srv623_checks import Check

_SHA256: Final = re.compile(r"[0-9a-f]{64}")


def refused_request_aggregate_id(sha256: str) -> str:
    return f"refused-request:{sha256}"


@attrs.frozen(kw_only=True)
class Refused(DomainEvent):
    """The DCC refused the input whose SHA-256 is ``sha256`` (``occurred_at``: when).

    ``check`` is the request check whose failure the refusal is (None when the bytes could not
    be read as a request at all), ``response_code`` its DUIS code; ``request_id`` the Request
    ID the request claims, given only when its signature verified."""

    TYPE = "etmad.refused_request.Refused.v1"
    sha256: str
    code: str
    message: str
    check: Check | None
    response_code: str | None
    request_id: str | None
    clause: str = clauses.SRPD_6_1


EVENTS: tuple[type[DomainEvent], ...] = (Refused,)


@attrs.frozen(kw_only=True)
class RefusedRequest:
    """The ``refused-request:<sha256>`` aggregate: every refusal of the same bytes."""

    sha256: str
    refusals: tuple[Refused, ...] = ()
    version: int = 0

    @classmethod
    def create(cls, event: DomainEvent, version: int) -> Self:
        if not isinstance(event, Refused):
            raise TypeError(f"a refused request starts with Refused, not {event.TYPE}")
        return cls(sha256=event.sha256).apply(event, version)

    @property
    def aggregate_id(self) -> str:
        return refused_request_aggregate_id(self.sha256)

    def apply(self, event: DomainEvent, version: int) -> Self:
        if not isinstance(event, Refused):
            raise TypeError(f"a refused request does not fold {event.TYPE}")
        return attrs.evolve(self, refusals=(*self.refusals, event), version=version)

    @staticmethod
    def refuse(
        *,
        sha256: str,
        code: str,
        message: str,
        check: Check | None,
        response_code: str | None,
        request_id: str | None,
        at: datetime,
    ) -> Refused:
        """Record the refusal of the input whose SHA-256 (lower-case hex) is ``sha256``."""
        if not _SHA256.fullmatch(sha256):
            raise RuleViolation(
                f"{sha256!r} is not the lower-case hex of a SHA-256",
                code="INVALID_DIGEST",
                clause=clauses.SRPD_6_1,
            )
        if not code.strip() or not message.strip():
            raise RuleViolation(
                "a refusal names its code and says why",
                code="REFUSAL_WITHOUT_REASON",
                clause=clauses.SRPD_6_1,
            )
        return Refused(
            occurred_at=utc(at),
            sha256=sha256,
            code=code,
            message=message,
            check=check,
            response_code=response_code,
            request_id=request_id,
            clause=clauses.SRPD_6_1 if check is None else check.clause,
        )
