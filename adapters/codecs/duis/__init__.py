"""DUIS XML (DCC User Interface Specification 5.4): read, validate, verify and sign.

``docs/duis.md`` describes what is read and written. The entry points:

- :func:`load_schema` — the DUIS XML Schema of the configured folder, compiled once;
- :func:`parse_cos_update_request` — an SRV 6.23 request read safely, schema-validated, as values
  (:class:`CosUpdateRequest`, with its :class:`RequestId`);
- :func:`verify_signature` — the signature checked with the certificate KeyInfo names, resolved
  through a ``CertificateAuthority`` (:class:`VerifiedSignature`);
- :func:`sign_document` — a document signed as DUIS signs, through a ``Signer``;
- :func:`verify_document` — all of it, plus Confirm Validity at a time, as a report.

Every refusal is a :class:`DuisError` (a ``DomainError``) with a stable ``code``.
"""

from __future__ import annotations

from adapters.codecs.duis.errors import (
    DuisError,
    HostileXml,
    InvalidRequest,
    InvalidXml,
    SchemaInvalid,
    SchemaUnavailable,
    SignatureInvalid,
    SignatureMissing,
    SignatureProfile,
    SigningKeyMismatch,
    UnknownSigner,
)
from adapters.codecs.duis.model import (
    COUNTER_LIMIT,
    SRV_6_23,
    CosUpdateRequest,
    ReplacementCertificates,
    RequestHeader,
    RequestId,
    UpdateSecurityCredentialsCoS,
)
from adapters.codecs.duis.request import (
    parse_cos_update_request,
    parse_document,
    read_cos_update_request,
    read_header,
)
from adapters.codecs.duis.safe_xml import MAX_DEPTH, MAX_DOCUMENT_BYTES, parse_xml
from adapters.codecs.duis.schema import DuisSchema, load_schema, schema_folder
from adapters.codecs.duis.verify import DuisVerification, Failure, verify_document
from adapters.codecs.duis.xmldsig import (
    KeyInfoName,
    VerifiedSignature,
    sign_document,
    verify_signature,
)

__all__ = [
    "COUNTER_LIMIT",
    "MAX_DEPTH",
    "MAX_DOCUMENT_BYTES",
    "SRV_6_23",
    "CosUpdateRequest",
    "DuisError",
    "DuisSchema",
    "DuisVerification",
    "Failure",
    "HostileXml",
    "InvalidRequest",
    "InvalidXml",
    "KeyInfoName",
    "ReplacementCertificates",
    "RequestHeader",
    "RequestId",
    "SchemaInvalid",
    "SchemaUnavailable",
    "SignatureInvalid",
    "SignatureMissing",
    "SignatureProfile",
    "SigningKeyMismatch",
    "UnknownSigner",
    "UpdateSecurityCredentialsCoS",
    "VerifiedSignature",
    "load_schema",
    "parse_cos_update_request",
    "parse_document",
    "parse_xml",
    "read_cos_update_request",
    "read_header",
    "schema_folder",
    "sign_document",
    "verify_document",
    "verify_signature",
]
