"""The Countersigned CoS Service Request (SRPD 8.1(a), 8.1A(a)): written by the DCC, read by the
CoS Party or the TCoS Party.

The DCC's Digitally Signed communication containing the SRV 6.23 request: the request's exact
bytes (base64), the time of countersigning, and the DCC's countersignature over the whole.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Final

import attrs

from adapters.codecs.cos_artefacts.envelope import (
    check_service_request,
    child,
    decode_bytes,
    encode_bytes,
    format_time,
    read_artefact,
    read_time,
    write_artefact,
)
from adapters.codecs.duis.errors import DuisError
from adapters.codecs.duis.xmldsig import VerifiedSignature
from application.credentials import CertificateAuthority, Signer
from domain import clauses
from domain.smki import Certificate, OrganisationCertificate

ROOT: Final = "CountersignedCosServiceRequest"
SCHEMA_FILE: Final = "countersigned-cos-service-request-1.xsd"
WHAT: Final = "Countersigned CoS Service Request"


@attrs.frozen(kw_only=True)
class CountersignedRequest:
    """A Countersigned CoS Service Request as read: well formed, valid, countersignature
    verified with the certificate its KeyInfo names.

    ``xml`` is the artefact's bytes as received and ``sha256`` their SHA-256, which a CoS
    Authorisation Response carries back (SRPD 8.4(d)). ``request_xml`` is the signed DUIS
    request byte for byte, so its own signature verifies with the DUIS codec. Whether the
    countersigner's role and certificate are acceptable at a time (8.1(b)(i), (ii)) is the
    caller's judgement of ``countersignature``.
    """

    xml: bytes = attrs.field(repr=False)
    request_xml: bytes = attrs.field(repr=False)
    countersigned_at: datetime
    countersignature: VerifiedSignature
    sha256: bytes = attrs.field(init=False)

    @sha256.default
    def _sha256(self) -> bytes:
        return hashlib.sha256(self.xml).digest()


def build_countersigned_request(
    request_xml: bytes,
    *,
    signer: Signer,
    key: str,
    certificate: Certificate | OrganisationCertificate,
    at: datetime,
) -> bytes:
    """The Countersigned CoS Service Request the DCC sends under SRPD 8.1(a) or 8.1A(a).

    ``request_xml`` must be a signed DUIS ``sr:Request`` (read hardened; its signature is not
    verified here: the DCC has run the SRPD 6.1 checks) and is wrapped byte for byte. The
    artefact is signed by ``signer``'s ``key`` for ``certificate`` (the DCC's XML signing
    certificate) with the DUIS signature profile; ``at`` is the countersigning time.
    Raises ``INVALID_ARTEFACT``, ``HOSTILE_XML``/``INVALID_XML`` for the request, and
    ``SIGNING_KEY_MISMATCH`` if the key is not the certificate's.
    """
    check_service_request(request_xml, writing=True)
    return write_artefact(
        ROOT,
        [
            ("CountersignedAt", format_time(at, what="countersigning")),
            ("ServiceRequest", encode_bytes(request_xml)),
        ],
        schema_file=SCHEMA_FILE,
        what=WHAT,
        signer=signer,
        key=key,
        certificate=certificate,
    )


def read_countersigned_request(
    xml: bytes, *, authority: CertificateAuthority
) -> CountersignedRequest:
    """A Countersigned CoS Service Request read as the CoS or TCoS Party receives it.

    The steps and refusals are those of :mod:`adapters.codecs.cos_artefacts.envelope`; a
    refusal of the signature carries clause SRPD 8.1(b)(i), any other SRPD 8.1(a).
    """
    read = read_artefact(
        xml,
        root_name=ROOT,
        schema_file=SCHEMA_FILE,
        what=WHAT,
        authority=authority,
        form_clause=clauses.SRPD_8_1_A,
        signature_clause=clauses.SRPD_8_1_B_I,
    )
    try:
        request_xml = decode_bytes(child(read.root, "ServiceRequest"))
        check_service_request(request_xml, writing=False)
        return CountersignedRequest(
            xml=xml,
            request_xml=request_xml,
            countersigned_at=read_time(child(read.root, "CountersignedAt")),
            countersignature=read.signature,
        )
    except DuisError as e:
        e.clause = e.clause or clauses.SRPD_8_1_A
        raise
