"""Typed refusals of the DUIS codec, each with a stable code (``docs/duis.md`` lists them).

Callers match on ``code``; the message says what was wrong in terms a person can act on.
"""

from __future__ import annotations

from domain.errors import DomainError


class DuisError(DomainError):
    """Base of every refusal of a DUIS document."""

    code = "DUIS_ERROR"


class InvalidXml(DuisError):  # noqa: N818 — reads as the fact it reports
    """Not a well-formed UTF-8 XML document."""

    code = "INVALID_XML"


class HostileXml(DuisError):  # noqa: N818 — reads as the fact it reports
    """Refused before processing: a DTD or entity declaration, oversize, or too deep."""

    code = "HOSTILE_XML"


class SchemaUnavailable(DuisError):  # noqa: N818 — reads as the fact it reports
    """The DUIS XML Schema folder is not configured, missing, or does not compile."""

    code = "SCHEMA_UNAVAILABLE"


class SchemaInvalid(DuisError):  # noqa: N818 — reads as the fact it reports
    """The document is not valid against the DUIS XML Schema."""

    code = "SCHEMA_INVALID"


class InvalidRequest(DuisError):  # noqa: N818 — reads as the fact it reports
    """Schema-valid, but not the request the caller reads (e.g. not an SRV 6.23)."""

    code = "INVALID_REQUEST"


class SignatureMissing(DuisError):  # noqa: N818 — reads as the fact it reports
    """The document carries no XML signature."""

    code = "SIGNATURE_MISSING"


class SignatureProfile(DuisError):  # noqa: N818 — reads as the fact it reports
    """The signature is not shaped as DUIS signs: enveloped, exclusive c14n, ecdsa-sha256,
    sha256, one reference to the whole document, KeyInfo X509IssuerSerial."""

    code = "SIGNATURE_PROFILE"


class SignatureInvalid(DuisError):  # noqa: N818 — reads as the fact it reports
    """The signature does not verify with the key of the certificate KeyInfo names."""

    code = "SIGNATURE_INVALID"


class UnknownSigner(DuisError):  # noqa: N818 — reads as the fact it reports
    """KeyInfo names a certificate the trust store does not hold."""

    code = "UNKNOWN_SIGNER"


class SigningKeyMismatch(DuisError):  # noqa: N818 — reads as the fact it reports
    """Asked to sign with a key that is not the key of the certificate KeyInfo will name."""

    code = "SIGNING_KEY_MISMATCH"
