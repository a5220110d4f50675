"""The CoS Authorisation Response (SRPD 8.2(a), 8.2(b)): written by the CoS Party, read by the
DCC (SRPD 8.4).

One communication signed with a CoS Party XML Signing Key (``coSPartyXmlSign``): the SHA-256 of
the Countersigned CoS Service Request it answers, the original signed DUIS request byte for
byte, and for a SMETS2+ Device the GBCS Signed Pre-Command (absent for a SMETS1 Device).
"""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Final

import attrs

from adapters.codecs.cos_artefacts.countersigned_request import CountersignedRequest
from adapters.codecs.cos_artefacts.envelope import (
    check_service_request,
    child,
    cos,
    decode_bytes,
    encode_bytes,
    format_time,
    read_artefact,
    read_time,
    write_artefact,
)
from adapters.codecs.cos_artefacts.errors import InvalidArtefact
from adapters.codecs.duis.errors import DuisError
from adapters.codecs.duis.xmldsig import VerifiedSignature
from application.credentials import CertificateAuthority, Signer
from domain import clauses
from domain.smki import Certificate, OrganisationCertificate

ROOT: Final = "CosAuthorisationResponse"
SCHEMA_FILE: Final = "cos-authorisation-response-1.xsd"
WHAT: Final = "CoS Authorisation Response"


@attrs.frozen(kw_only=True)
class CosAuthorisationResponse:
    """A CoS Authorisation Response as read: well formed, valid (SRPD 8.4(c)), signature
    verified with the certificate its KeyInfo names (8.4(a)).

    ``signature.certificate`` is that certificate; that its Remote Party Role is
    ``coSPartyXmlSign`` (a configured code) and that it is valid at a time (8.4(b)) are the
    DCC's checks. ``signed_pre_command`` is None for a SMETS1 Device (8.2(b)).
    """

    xml: bytes = attrs.field(repr=False)
    authorised_at: datetime
    countersigned_request_sha256: bytes
    request_xml: bytes = attrs.field(repr=False)
    signed_pre_command: bytes | None = attrs.field(repr=False)
    signature: VerifiedSignature

    def maps_to(self, countersigned: CountersignedRequest) -> bool:
        """SRPD 8.4(d): whether this answers ``countersigned`` — the same SHA-256 of its bytes
        and the same Service Request, byte for byte."""
        return hmac.compare_digest(
            self.countersigned_request_sha256, countersigned.sha256
        ) and hmac.compare_digest(self.request_xml, countersigned.request_xml)


def build_cos_authorisation_response(
    countersigned: CountersignedRequest,
    *,
    signed_pre_command: bytes | None,
    signer: Signer,
    key: str,
    certificate: Certificate | OrganisationCertificate,
    at: datetime,
) -> bytes:
    """The CoS Authorisation Response the CoS Party sends under SRPD 8.2(a) (with the GBCS
    ``signed_pre_command``) or 8.2(b) (SMETS1: ``signed_pre_command`` None).

    ``countersigned`` is the request as read (so its countersignature has been verified);
    its SHA-256 and its Service Request are carried. Signed by ``signer``'s ``key`` for
    ``certificate`` (the CoS Party XML Signing certificate); ``at`` is the time of
    authorisation. Raises ``INVALID_ARTEFACT`` for an empty Pre-Command.
    """
    if signed_pre_command is not None and (
        not isinstance(signed_pre_command, bytes) or not signed_pre_command
    ):
        raise InvalidArtefact(
            "a Signed Pre-Command is the non-empty GBCS bytes (SRPD 8.2(a)); "
            "pass None for a SMETS1 Device (SRPD 8.2(b))",
            clause=clauses.SRPD_8_2_A,
        )
    check_service_request(countersigned.request_xml, writing=True)
    children = [
        ("AuthorisedAt", format_time(at, what="authorisation")),
        ("CountersignedRequestSHA256", countersigned.sha256.hex()),
        ("ServiceRequest", encode_bytes(countersigned.request_xml)),
    ]
    if signed_pre_command is not None:
        children.append(("SignedPreCommand", encode_bytes(signed_pre_command)))
    return write_artefact(
        ROOT,
        children,
        schema_file=SCHEMA_FILE,
        what=WHAT,
        signer=signer,
        key=key,
        certificate=certificate,
    )


def read_cos_authorisation_response(
    xml: bytes, *, authority: CertificateAuthority
) -> CosAuthorisationResponse:
    """A CoS Authorisation Response read as the DCC receives it.

    The steps and refusals are those of :mod:`adapters.codecs.cos_artefacts.envelope`; a
    refusal of the signature carries clause SRPD 8.4(a), any other SRPD 8.4(c).
    """
    read = read_artefact(
        xml,
        root_name=ROOT,
        schema_file=SCHEMA_FILE,
        what=WHAT,
        authority=authority,
        form_clause=clauses.SRPD_8_4_C,
        signature_clause=clauses.SRPD_8_4_A,
    )
    try:
        request_xml = decode_bytes(child(read.root, "ServiceRequest"))
        check_service_request(request_xml, writing=False)
        pre_command = read.root.find(cos("SignedPreCommand"))
        return CosAuthorisationResponse(
            xml=xml,
            authorised_at=read_time(child(read.root, "AuthorisedAt")),
            countersigned_request_sha256=bytes.fromhex(
                child(read.root, "CountersignedRequestSHA256").text or ""
            ),
            request_xml=request_xml,
            signed_pre_command=None if pre_command is None else decode_bytes(pre_command),
            signature=read.signature,
        )
    except DuisError as e:
        e.clause = e.clause or clauses.SRPD_8_4_C
        raise
