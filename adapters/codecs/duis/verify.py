"""Verifying a DUIS document end to end: schema, signature, signer, Confirm Validity at a time.

:func:`verify_document` runs every check it can and reports each (``etmad duis verify`` prints
the report); it raises only when the bytes cannot be read as XML at all (``INVALID_XML``,
``HOSTILE_XML``). The checks:

1. valid against the DUIS XML Schema 5.4 (``SCHEMA_INVALID``);
2. the signature: DUIS profile, signer resolved from KeyInfo ``X509IssuerSerial`` through the
   trust store, signature value verified with that certificate's key (``SIGNATURE_MISSING``,
   ``SIGNATURE_PROFILE``, ``UNKNOWN_SIGNER``, ``SIGNATURE_INVALID``);
3. the signer is an SMKI Organisation Certificate, with a Remote Party Role and an Entity
   Identifier (``SIGNER_NOT_ORGANISATION_CERTIFICATE``);
4. SMKI Confirm Validity of the signer's certificate at the time given (``SIGNER_NOT_VALID``,
   with the Confirm Validity code: ``EXPIRED``, ``UNTRUSTED_ISSUER``, ...).

It does not judge whether the signer's Remote Party Role suits the message (xmlSign for a
request, the DSP's for a response, ``coSPartyXmlSign`` for a CoS Authorisation Response): that
is the caller's rule; the report names the role.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Final

import attrs
from lxml import etree

from adapters.codecs.duis.errors import DuisError, SignatureInvalid
from adapters.codecs.duis.model import RequestId
from adapters.codecs.duis.request import SR_NS
from adapters.codecs.duis.safe_xml import parse_xml
from adapters.codecs.duis.schema import DuisSchema
from adapters.codecs.duis.xmldsig import KeyInfoName, check_profile, find_signature, resolve_signer
from adapters.codecs.duis.xmldsig import verify_signature as _verify_signature
from application.credentials import CertificateAuthority
from domain.errors import InvalidIdentifier
from domain.smki import Certificate, OrganisationCertificate, Validity

SIGNER_NOT_VALID: Final = "SIGNER_NOT_VALID"
SIGNER_NOT_ORGANISATION_CERTIFICATE: Final = "SIGNER_NOT_ORGANISATION_CERTIFICATE"

ConfirmValidity = Callable[
    [Certificate | OrganisationCertificate, datetime, CertificateAuthority], Validity
]


@attrs.frozen
class Failure:
    """One failed check: a stable code and what was wrong."""

    code: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@attrs.frozen(kw_only=True)
class DuisVerification:
    """What :func:`verify_document` found; ``ok`` only when every check held."""

    at: datetime
    document: str
    request_id: str | None
    schema_errors: tuple[str, ...]
    key_info: KeyInfoName | None
    certificate: Certificate | None
    signer: OrganisationCertificate | None
    not_organisation: str | None
    signature_valid: bool
    validity: Validity | None
    failures: tuple[Failure, ...]

    @property
    def schema_valid(self) -> bool:
        return not self.schema_errors

    @property
    def ok(self) -> bool:
        return (
            not self.failures
            and self.schema_valid
            and self.signature_valid
            and self.validity is not None
            and self.validity.valid
        )

    @property
    def reason(self) -> Failure | None:
        """The first failed check, if any."""
        return self.failures[0] if self.failures else None

    def to_json(self) -> dict[str, Any]:
        validity = self.validity
        return {
            "ok": self.ok,
            "at": _instant(self.at),
            "document": self.document,
            "request_id": self.request_id,
            "schema": {"valid": self.schema_valid, "errors": list(self.schema_errors)},
            "signature": {
                "valid": self.signature_valid,
                "key_info": None
                if self.key_info is None
                else {"issuer": self.key_info.issuer_name, "serial": str(self.key_info.serial)},
            },
            "signer": self._signer_json(),
            "validity": None
            if validity is None
            else {
                "valid": validity.valid,
                "code": validity.code.value,
                "detail": validity.detail,
                "path": [c.to_json() for c in validity.path],
                "failed": None if validity.failed is None else validity.failed.to_json(),
            },
            "error": None if self.reason is None else self.reason.to_json(),
            "failures": [f.to_json() for f in self.failures],
        }

    def _signer_json(self) -> dict[str, Any] | None:
        certificate, signer = self.certificate, self.signer
        if certificate is None:
            return None
        return {
            "certificate_id": certificate.certificate_id.to_json(),
            "subject": certificate.subject,
            "organisation_certificate": signer is not None,
            "remote_party_role": None if signer is None else signer.role.hex,
            "remote_party_role_name": None if signer is None else signer.role.name,
            "entity_id": None if signer is None else str(signer.entity_id),
            "key_usage": None if signer is None else signer.key_usage.value,
            "not_organisation": self.not_organisation,
            "not_before": _instant(certificate.not_before),
            "not_after": _instant(certificate.not_after),
        }


def _instant(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _default_confirm() -> ConfirmValidity:
    from adapters.crypto.validity import confirm_validity  # noqa: PLC0415 — optional wiring

    return confirm_validity


def _request_id_of(root: etree._Element) -> str | None:
    found = root.find(f"{{{SR_NS}}}Header/{{{SR_NS}}}RequestID")
    if found is None:
        return None
    text = (found.text or "").strip()
    try:
        return str(RequestId.parse(text))
    except InvalidIdentifier:
        return text or None


def verify_document(
    data: bytes | etree._Element,
    *,
    schema: DuisSchema,
    authority: CertificateAuthority,
    at: datetime,
    confirm_validity: ConfirmValidity | None = None,
) -> DuisVerification:
    """Check a DUIS document (see the module docstring); raises only for unreadable XML."""
    if at.tzinfo is None:
        msg = "verification time must carry a time zone"
        raise ValueError(msg)
    root = parse_xml(data) if isinstance(data, bytes) else data
    failures: list[Failure] = []
    schema_errors = tuple(schema.errors(root))
    if schema_errors:
        failures.append(
            Failure(
                "SCHEMA_INVALID", "not valid against the DUIS XML Schema 5.4: " + schema_errors[0]
            )
        )
    key_info: KeyInfoName | None = None
    certificate: Certificate | None = None
    signer: OrganisationCertificate | None = None
    not_organisation: str | None = None
    validity: Validity | None = None
    signature_valid = False
    try:
        key_info = check_profile(find_signature(root))
        verified = _verify_signature(root, authority)
        certificate, signer = verified.certificate, verified.signer
        not_organisation = verified.not_organisation
        signature_valid = True
    except SignatureInvalid as e:
        failures.append(Failure(e.code, e.message))
        if key_info is not None:  # the named certificate is held; its key did not verify
            certificate, signer, not_organisation = resolve_signer(key_info, authority)
    except DuisError as e:
        failures.append(Failure(e.code, e.message))
    if certificate is not None and signer is None:
        # The signer must be a party: an SMKI Organisation Certificate with a Remote Party Role
        # and an Entity Identifier (DOMAIN.md 6). A certificate that fails that profile is
        # reported, and the document is not accepted on its signature.
        failures.append(
            Failure(
                SIGNER_NOT_ORGANISATION_CERTIFICATE,
                f"signer {certificate.certificate_id} is not an SMKI Organisation Certificate: "
                f"{not_organisation}",
            )
        )
    if certificate is not None:
        confirm = confirm_validity or _default_confirm()
        validity = confirm(signer or certificate, at, authority)
        if not validity.valid:
            failures.append(
                Failure(
                    SIGNER_NOT_VALID,
                    f"Confirm Validity of signer {certificate.certificate_id} at {_instant(at)} "
                    f"failed: {validity.code.value}: {validity.detail}",
                )
            )
    return DuisVerification(
        at=at,
        document=etree.QName(root).localname,
        request_id=_request_id_of(root),
        schema_errors=schema_errors,
        key_info=key_info,
        certificate=certificate,
        signer=signer,
        not_organisation=not_organisation,
        signature_valid=signature_valid,
        validity=validity,
        failures=tuple(failures),
    )
