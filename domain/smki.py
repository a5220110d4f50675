"""SMKI facts as the domain sees them: certificates, roles, key usage, and validity decisions.

Parsing (ASN.1) and cryptography are adapters' work; this module holds the values they produce
and the decision value of SMKI "Confirm Validity". DOMAIN.md section 6 lists the facts: keys are
ECDSA P-256 with SHA-256; an Organisation Certificate carries its Remote Party Role as two hex
digits in ``organizationalUnitName`` and its Entity Identifier (EUI-64) in
``x500UniqueIdentifier``; key usage is digitalSignature *or* keyAgreement, never both; a Device
Certificate carries its Device ID in subjectAltName hardwareModuleName.
"""

from __future__ import annotations

import enum
from datetime import datetime

import attrs

from domain.errors import DomainError
from domain.identifiers import EUI64, CertificateId


class InvalidCertificate(DomainError, ValueError):  # noqa: N818 — reads as the fact it reports
    """A certificate could not be read, or does not have the SMKI profile asked for.

    One class, several stable codes: ``INVALID_CERTIFICATE`` (not X.509 DER/PEM, or malformed),
    ``INVALID_REMOTE_PARTY_ROLE``, ``INVALID_ENTITY_IDENTIFIER``, ``INVALID_KEY_USAGE``,
    ``INVALID_DEVICE_ID`` and ``UNSUPPORTED_KEY`` (DOMAIN.md 6: keys are ECDSA P-256).
    """

    code = "INVALID_CERTIFICATE"


class RemotePartyRole(enum.IntEnum):
    """SMKI Remote Party Role codes (GBCS), as carried in ``organizationalUnitName``."""

    ROOT = 0x00
    RECOVERY = 0x01
    SUPPLIER = 0x02
    NETWORK_OPERATOR = 0x03
    ACCESS_CONTROL_BROKER = 0x04
    TRANSITIONAL_COS = 0x05
    WAN_PROVIDER = 0x06
    ISSUING_AUTHORITY = 0x07
    LOAD_CONTROLLER = 0x08
    OTHER = 0x7F
    XML_SIGN = 0x87
    DSP_XML_SIGN = 0x89

    @property
    def hex(self) -> str:
        """The two upper-case hex digits of ``organizationalUnitName``."""
        return f"{self.value:02X}"


class KeyUsage(enum.StrEnum):
    DIGITAL_SIGNATURE = "digitalSignature"
    KEY_AGREEMENT = "keyAgreement"


class CellUsage(enum.StrEnum):
    """What a Device's trust anchor cell is used for (GBCS)."""

    MANAGEMENT = "management"
    PREPAYMENT_TOP_UP = "prePaymentTopUp"


@attrs.frozen
class TrustAnchorCell:
    """A trust anchor cell on a Device: identified by role, key usage and cell usage."""

    role: RemotePartyRole
    key_usage: KeyUsage
    cell_usage: CellUsage


@attrs.frozen(kw_only=True)
class Certificate:
    """Any X.509 certificate of the SMKI, as parsed: what chain validation needs.

    ``tbs`` is the DER of the TBSCertificate (what the issuer signed), ``signature`` the
    issuer's DER ECDSA signature over it, ``public_key`` the DER SubjectPublicKeyInfo.
    ``certificate_id.issuer`` and ``subject`` are distinguished names in the one canonical
    RFC 4514 form the adapters define (``adapters.crypto.dn``); ``key_usages`` holds RFC 5280
    keyUsage names (``digitalSignature``, ``keyAgreement``, ``keyCertSign``, ...).
    """

    certificate_id: CertificateId
    subject: str
    not_before: datetime
    not_after: datetime
    public_key: bytes = attrs.field(repr=False)
    subject_key_id: bytes | None
    issuer_key_id: bytes | None
    is_ca: bool
    key_usages: frozenset[str]
    tbs: bytes = attrs.field(repr=False)
    signature: bytes = attrs.field(repr=False)
    signature_algorithm: str
    der: bytes = attrs.field(repr=False)
    path_length: int | None = None  # basicConstraints pathLenConstraint of a CA, if any


@attrs.frozen(kw_only=True)
class OrganisationCertificate:
    """An SMKI Organisation Certificate: a party's key, its role and its Entity Identifier."""

    certificate: Certificate
    role: RemotePartyRole
    entity_id: EUI64
    key_usage: KeyUsage

    @property
    def certificate_id(self) -> CertificateId:
        return self.certificate.certificate_id


@attrs.frozen(kw_only=True)
class DeviceCertificate:
    """An SMKI Device Certificate: a Device's key and its Device ID."""

    certificate: Certificate
    device_id: EUI64
    key_usage: KeyUsage

    @property
    def certificate_id(self) -> CertificateId:
        return self.certificate.certificate_id


class ValidityCode(enum.StrEnum):
    """Why Confirm Validity failed (or ``VALID``). Stable: callers match on these."""

    VALID = "VALID"
    EXPIRED = "EXPIRED"
    NOT_YET_VALID = "NOT_YET_VALID"
    UNTRUSTED_ISSUER = "UNTRUSTED_ISSUER"
    REVOKED = "REVOKED"
    BAD_SIGNATURE = "BAD_SIGNATURE"
    KEY_USAGE = "KEY_USAGE"
    BASIC_CONSTRAINTS = "BASIC_CONSTRAINTS"


@attrs.frozen(kw_only=True)
class Validity:
    """The decision of SMKI Confirm Validity for one certificate at one time.

    ``path`` lists the Certificate IDs from the certificate to the trust anchor, as far as the
    check got; ``failed`` names the certificate in the path that failed, if any."""

    valid: bool
    code: ValidityCode
    detail: str
    at: datetime
    path: tuple[CertificateId, ...]
    failed: CertificateId | None = None
