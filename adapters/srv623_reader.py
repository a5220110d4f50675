"""``SignedRequestReader`` with the DUIS codec and an SMKI ``CertificateAuthority``.

``DuisSignedRequestReader.read`` parses the bytes hardened, validates them against the DUIS XML
Schema, reads the SRV 6.23 values, verifies the XML signature with the certificate KeyInfo names
(held by the authority; no other key is tried) and runs SMKI Confirm Validity of that certificate
at the time given. Unreadable input and signatures that do not verify raise
``RequestNotVerified`` with the codec's code (``docs/duis.md``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from typing import Final

from adapters.codecs.duis import (
    DuisError,
    DuisSchema,
    SignatureInvalid,
    SignatureMissing,
    SignatureProfile,
    UnknownSigner,
    parse_document,
    read_cos_update_request,
    verify_signature,
)
from adapters.codecs.gbcs.cos import (
    SUPPLIER_DIGITAL_SIGNING_CELL,
    SUPPLIER_KEY_AGREEMENT_CELL,
    SUPPLIER_TOP_UP_KEY_AGREEMENT_CELL,
)
from adapters.codecs.substantive import from_cos_update_request
from adapters.crypto.smki import parse_certificate, parse_organisation_certificate
from adapters.crypto.validity import confirm_validity
from application.credentials import CertificateAuthority
from application.srv623 import (
    ReplacementFacts,
    RequestNotVerified,
    SignerFacts,
    VerifiedRequest,
)
from domain.errors import InvalidIdentifier
from domain.identifiers import parse_mpxn
from domain.smki import (
    Certificate,
    InvalidCertificate,
    OrganisationCertificate,
    TrustAnchorCell,
    Validity,
)

_SIGNATURE_ERRORS: Final = (SignatureMissing, SignatureProfile, SignatureInvalid, UnknownSigner)

ConfirmValidity = Callable[
    [Certificate | OrganisationCertificate, datetime, CertificateAuthority], Validity
]


class DuisSignedRequestReader:
    """Reads DUIS SRV 6.23 requests (see the module)."""

    def __init__(
        self,
        *,
        schema: DuisSchema,
        authority: CertificateAuthority,
        mpan_check_digit: bool = True,
        confirm: ConfirmValidity = confirm_validity,
    ) -> None:
        self._schema = schema
        self._authority = authority
        self._mpan_check_digit = mpan_check_digit
        self._confirm = confirm

    def read(self, data: bytes, *, at: datetime) -> VerifiedRequest:
        try:
            root = parse_document(data, self._schema)
            request = read_cos_update_request(root)
            verified = verify_signature(root, self._authority)
        except _SIGNATURE_ERRORS as e:
            raise RequestNotVerified(e.code, e.message, signature=True) from None
        except DuisError as e:
            raise RequestNotVerified(e.code, e.message, signature=False) from None
        try:
            mpxn = parse_mpxn(request.body.import_mpxn, mpan_check_digit=self._mpan_check_digit)
        except InvalidIdentifier as e:
            raise RequestNotVerified(e.code, e.message, signature=False) from None
        signer = verified.signer
        certificate = verified.certificate
        path = tuple(_certificate(der) for der in request.body.certification_path_certificates)
        issuers = {c.subject for c in path if c is not None}
        body = request.body.replacement_certificates
        wanted = (
            (SUPPLIER_DIGITAL_SIGNING_CELL, body.digital_signing),
            (SUPPLIER_KEY_AGREEMENT_CELL, body.key_agreement),
            (SUPPLIER_TOP_UP_KEY_AGREEMENT_CELL, body.key_agreement_top_up),
        )
        return VerifiedRequest(
            originator=request.request_id.originator,
            target=request.request_id.target,
            counter=request.request_id.counter,
            signer=SignerFacts(
                certificate_id=certificate.certificate_id,
                entity_id=None if signer is None else signer.entity_id,
                role=None if signer is None else signer.role,
                key_usage=None if signer is None else signer.key_usage,
                validity=self._confirm(signer or certificate, at, self._authority),
            ),
            mpxn=mpxn,
            command_variant=request.header.command_variant,
            requested=from_cos_update_request(request),
            replacements=tuple(
                _replacement(cell, der, issuers) for cell, der in wanted if der is not None
            ),
            certification_path=tuple(c.certificate_id for c in path if c is not None),
            certification_path_subjects=tuple(c.subject for c in path if c is not None),
        )


def _certificate(der: bytes) -> Certificate | None:
    try:
        return parse_certificate(der)
    except InvalidCertificate:
        return None


def _replacement(cell: TrustAnchorCell, der: bytes, issuers: set[str]) -> ReplacementFacts:
    sha256 = hashlib.sha256(der).hexdigest()
    try:
        organisation = parse_organisation_certificate(der)
    except InvalidCertificate:
        plain = _certificate(der)
        return ReplacementFacts(
            cell=cell,
            sha256=sha256,
            certificate_id=None if plain is None else plain.certificate_id,
            role=None,
            key_usage=None,
            issuer_included=plain is not None and plain.certificate_id.issuer in issuers,
        )
    return ReplacementFacts(
        cell=cell,
        sha256=sha256,
        certificate_id=organisation.certificate_id,
        role=organisation.role,
        key_usage=organisation.key_usage,
        issuer_included=organisation.certificate_id.issuer in issuers,
        entity_id=organisation.entity_id,
    )
