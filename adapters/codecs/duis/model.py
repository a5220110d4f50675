"""DUIS request values: the Request ID, the request header, and the SRV 6.23 body.

Pure values (standard library, attrs and the domain's identifiers) so that the SRV 6.23 code can
record them; reading them from XML is :mod:`adapters.codecs.duis.request`.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Final, Self

import attrs

from domain.errors import InvalidIdentifier
from domain.identifiers import EUI64

COUNTER_LIMIT: Final = 1 << 64
"""Request ID counters are 64-bit unsigned: 0 to 2^64 - 1."""

SRV_6_23: Final = "6.23"

_EUI: Final = r"[0-9A-Fa-f]{2}(?:-[0-9A-Fa-f]{2}){7}"
_REQUEST_ID: Final = re.compile(rf"({_EUI}):({_EUI}):(0|[1-9][0-9]{{0,19}})", re.ASCII)


@attrs.frozen(order=True)
class RequestId:
    """A DUIS Request ID: ``originator EUI-64 : target EUI-64 : counter``.

    The originator is the sending party's Entity Identifier, the target the Device (or party)
    the request is for, the counter a 64-bit unsigned number the originator makes unique. Read
    as ``RequestIDType`` of the DUIS schema: hyphenated EUI-64s (either case), a decimal counter
    without leading zeros; rendered with upper-case EUI-64s.
    """

    originator: EUI64
    target: EUI64
    counter: int

    def __attrs_post_init__(self) -> None:
        if isinstance(self.counter, bool) or not isinstance(self.counter, int):
            raise InvalidIdentifier(
                "a Request ID counter is a whole number", code="INVALID_REQUEST_ID"
            )
        if not 0 <= self.counter < COUNTER_LIMIT:
            raise InvalidIdentifier(
                f"Request ID counter {self.counter} is outside 0..2^64-1",
                code="INVALID_REQUEST_ID",
            )

    @classmethod
    def parse(cls, text: str) -> Self:
        if not isinstance(text, str):
            raise InvalidIdentifier(
                f"a Request ID must be text, not {type(text).__name__}", code="INVALID_REQUEST_ID"
            )
        found = _REQUEST_ID.fullmatch(text)
        if found is None:
            raise InvalidIdentifier(
                f"{text!r} is not a DUIS Request ID: expected originator EUI-64, target EUI-64 "
                "and a decimal counter joined by ':' "
                "(90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:1006)",
                code="INVALID_REQUEST_ID",
            )
        return cls(EUI64.parse(found[1]), EUI64.parse(found[2]), int(found[3]))

    def __str__(self) -> str:
        return f"{self.originator}:{self.target}:{self.counter}"

    def to_json(self) -> str:
        return str(self)

    @classmethod
    def from_json(cls, data: Any) -> Self:  # noqa: ANN401 — reads untrusted JSON
        return cls.parse(data)


@attrs.frozen(kw_only=True)
class RequestHeader:
    """The ``sr:Header`` of a DUIS request."""

    request_id: RequestId
    command_variant: int
    service_reference: str
    service_reference_variant: str
    first_in_sequence: bool | None = None
    preceding_request_id: RequestId | None = None


@attrs.frozen(kw_only=True)
class ReplacementCertificates:
    """``SupplierReplacementCertificates``: the new supplier Organisation Certificates (DER)."""

    digital_signing: bytes
    key_agreement: bytes | None = None
    key_agreement_top_up: bytes | None = None


@attrs.frozen(kw_only=True)
class UpdateSecurityCredentialsCoS:
    """The body of SRV 6.23 'CoS Update Security Credentials' (DUIS 5.4).

    ``execution_date_time`` is present on a future-dated request only. Sequence numbers are
    ``floorSequenceNumber`` (0..2^63-1). ``import_mpxn`` is the text as sent (1 to 13
    characters); whether it is an MPAN or MPRN, and whether a check digit must hold, is the
    caller's decision under its settings.
    """

    execution_date_time: datetime | None
    supplier_floor_seq_number: int
    supplier_prepayment_top_up_floor_seq_number: int | None
    replacement_certificates: ReplacementCertificates
    certification_path_certificates: tuple[bytes, ...]
    apply_time_based_cpv_checks: bool
    import_mpxn: str

    @property
    def future_dated(self) -> bool:
        return self.execution_date_time is not None


@attrs.frozen(kw_only=True)
class CosUpdateRequest:
    """A DUIS SRV 6.23 request as read (its signature is checked separately)."""

    schema_version: str
    header: RequestHeader
    body: UpdateSecurityCredentialsCoS

    @property
    def request_id(self) -> RequestId:
        return self.header.request_id
