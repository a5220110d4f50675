"""The SRV 6.23 ports of ``application/srv623_ports.py`` on the CoS artefacts codec, the DUIS
codec and the GBCS codec (SRPD clause 8 as rewritten by ETMAD 3.5; DOMAIN.md 3.4).

Writers (each holds its party's key behind the ``Signer`` port):

- ``DccCountersigner`` — the Countersigned CoS Service Request (SRPD 8.1(a), 8.1A(a));
- ``GbcsPreCommandSigner`` — the CS02b supplierByTransCoS Signed Pre-Command made from the
  signed request (SRPD 8.2(a)(i)-(ii), 8.2A(a)-(b)); the Grouping Header's originator is the
  party's Entity Identifier (the one its transitionalCoS certificate carries, as in the RTDS
  6.23 vector) and its recipient the request's target Device;
- ``CosPartyResponseWriter`` — the CoS Authorisation Response (SRPD 8.2(a)(iii), 8.2(b)).

Readers (each holds its reader's trust store; none raises for bytes it cannot accept):

- ``PartyCountersignedReader`` — a Countersigned CoS Service Request as the CoS or TCoS Party
  reads it (SRPD 8.1(b), 8.1A(b));
- ``DccAuthorisationResponseReader`` — a CoS Authorisation Response as the DCC reads it, with
  the signature (SRPD 8.4(a), (b), role) judged apart from the form (SRPD 8.4(c));
- ``GbcsPreCommandReader`` — a Signed Pre-Command (SRPD 8.4(f), 8.4A);
- ``GbcsCommandOutcomeReader`` — the Device's response to the Command.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from datetime import datetime
from typing import Final, cast

from cryptography import x509
from cryptography.x509.oid import NameOID
from lxml import etree

from adapters.codecs.cos_artefacts import (
    build_cos_authorisation_response,
    build_countersigned_request,
    read_cos_authorisation_response,
    read_countersigned_request,
)
from adapters.codecs.cos_artefacts.envelope import check_service_request, child, decode_bytes
from adapters.codecs.duis import (
    DuisError,
    DuisSchema,
    SignatureInvalid,
    SignatureMissing,
    SignatureProfile,
    UnknownSigner,
    parse_document,
    read_cos_update_request,
)
from adapters.codecs.duis.model import CosUpdateRequest
from adapters.codecs.duis.safe_xml import parse_xml
from adapters.codecs.duis.xmldsig import (
    check_profile,
    find_signature,
    resolve_signer,
    verify_signature,
)
from adapters.codecs.gbcs import (
    Command,
    CpvChecks,
    CraFlag,
    ExecutionOutcome,
    GeneralSigningMessage,
    InvalidGbcs,
    StatusCode,
    UpdateSecurityCredentials,
    UpdateSecurityCredentialsAlert,
    UpdateSecurityCredentialsResponse,
    build_signed_pre_command,
    decode_message,
    supplier_by_transcos,
)
from adapters.codecs.gbcs import verify_signature as verify_gbcs_signature
from adapters.codecs.substantive import from_update_security_credentials
from adapters.crypto.smki import parse_certificate, parse_organisation_certificate
from adapters.crypto.validity import confirm_validity
from application.credentials import CertificateAuthority, Signer
from application.srv623 import RequestNotVerified, SignedRequestReader
from application.srv623_ports import (
    AuthorisationResponseFacts,
    CommandOutcome,
    CountersignedFacts,
    PreCommandCertificate,
    PreCommandFacts,
    SignatureCheck,
)
from domain import clauses
from domain.identifiers import EUI64, CertificateId
from domain.smki import (
    Certificate,
    InvalidCertificate,
    OrganisationCertificate,
    TrustAnchorCell,
    Validity,
)

ConfirmValidity = Callable[
    [Certificate | OrganisationCertificate, datetime, CertificateAuthority], Validity
]

#: The codes of a refusal of the signature itself (the DUIS profile); any other code is a
#: refusal of the form.
SIGNATURE_CODES: Final = frozenset(
    e.code for e in (SignatureMissing, SignatureProfile, SignatureInvalid, UnknownSigner)
)
_ROLE_DIGITS: Final = 2
_EUI64_BIT_STRING: Final = 9  # unused-bits octet, then the 8 octets of the EUI-64


def _detail(error: DuisError | InvalidGbcs | InvalidCertificate | RequestNotVerified) -> str:
    return f"{error.code}: {error.message}"


def _sha256(data: object) -> str:
    return hashlib.sha256(data if isinstance(data, bytes) else b"").hexdigest()


# --- certificate facts -------------------------------------------------------------------------


def _subject_facts(certificate: Certificate) -> tuple[EUI64 | None, int | None]:
    """The Entity Identifier and Remote Party Role code a certificate's subject carries
    (``x500UniqueIdentifier``, ``organizationalUnitName`` as two hex digits), read even when
    the code is not in ``RemotePartyRole`` (``coSPartyXmlSign``'s is configuration)."""
    try:
        subject = x509.load_der_x509_certificate(certificate.der).subject
    except ValueError:
        return None, None
    units = subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    ids = subject.get_attributes_for_oid(NameOID.X500_UNIQUE_IDENTIFIER)
    role: int | None = None
    if len(units) == 1:
        text = units[0].value
        if isinstance(text, str) and len(text) == _ROLE_DIGITS:
            try:
                role = int(text, 16)
            except ValueError:
                role = None
    entity: EUI64 | None = None
    if len(ids) == 1:
        value = ids[0].value
        if isinstance(value, bytes) and len(value) == _EUI64_BIT_STRING and value[0] == 0:
            entity = EUI64(int.from_bytes(value[1:], "big"))
    return entity, role


def _certificate_check(
    certificate: Certificate,
    organisation: OrganisationCertificate | None,
    *,
    verified: bool,
    detail: str,
    at: datetime,
    authority: CertificateAuthority,
    confirm: ConfirmValidity,
) -> SignatureCheck:
    if organisation is not None:
        entity_id: EUI64 | None = organisation.entity_id
        role_code: int | None = int(organisation.role)
    else:
        entity_id, role_code = _subject_facts(certificate)
    return SignatureCheck(
        verified=verified,
        detail=detail,
        certificate_id=certificate.certificate_id,
        entity_id=entity_id,
        role_code=role_code,
        validity=confirm(organisation or certificate, at, authority),
    )


def _xml_signature(
    root: etree._Element,
    *,
    at: datetime,
    authority: CertificateAuthority,
    confirm: ConfirmValidity,
) -> SignatureCheck:
    """Check Cryptographic Protection of a parsed signed XML document with the certificate its
    KeyInfo names, and that certificate's facts (also when the signature did not verify)."""
    try:
        verified = verify_signature(root, authority)
    except DuisError as e:
        try:
            certificate, organisation, _ = resolve_signer(
                check_profile(find_signature(root)), authority
            )
        except DuisError:
            return SignatureCheck(verified=False, detail=_detail(e))
        return _certificate_check(
            certificate,
            organisation,
            verified=False,
            detail=_detail(e),
            at=at,
            authority=authority,
            confirm=confirm,
        )
    return _certificate_check(
        verified.certificate,
        verified.signer,
        verified=True,
        detail="",
        at=at,
        authority=authority,
        confirm=confirm,
    )


def _parsed(data: object) -> etree._Element | DuisError:
    """``data`` parsed hardened, or the refusal."""
    if not isinstance(data, bytes):
        return DuisError(f"a signed XML artefact is bytes, not {type(data).__name__}")
    try:
        return parse_xml(data)
    except DuisError as e:
        return e


# --- the DCC's writer ----------------------------------------------------------------------------


class DccCountersigner:
    """``Countersigner`` (SRPD 8.1(a), 8.1A(a)): ``key`` is the handle in ``signer`` of the
    DCC's XML signing key, ``certificate`` its DSP XML signing certificate."""

    def __init__(
        self, *, signer: Signer, key: str, certificate: Certificate | OrganisationCertificate
    ) -> None:
        self._signer = signer
        self._key = key
        self._certificate = certificate

    def countersign(self, request_xml: bytes, *, at: datetime) -> bytes:
        return build_countersigned_request(
            request_xml,
            signer=self._signer,
            key=self._key,
            certificate=self._certificate,
            at=at,
        )


# --- a party's reader ----------------------------------------------------------------------------


class PartyCountersignedReader:
    """``CountersignedRequestReader`` of the CoS or TCoS Party (SRPD 8.1(b), 8.1A(b)).

    The countersignature is verified with the certificate its KeyInfo names in ``authority``
    (the party's trust store); any refusal of the artefact (``read_countersigned_request``:
    hostile or invalid XML, root, version, schema, signature, canonical form, wrapped request)
    makes it not verified, its detail ``CODE: message``, saying too when the countersignature
    itself verified and a later step refused the artefact. The inner request is read by
    ``request_reader`` (the party's ``DuisSignedRequestReader``)."""

    def __init__(
        self,
        *,
        authority: CertificateAuthority,
        request_reader: SignedRequestReader,
        confirm: ConfirmValidity = confirm_validity,
    ) -> None:
        self._authority = authority
        self._request_reader = request_reader
        self._confirm = confirm

    def read_countersigned(self, xml: bytes, *, at: datetime) -> CountersignedFacts:
        sha256 = _sha256(xml)
        try:
            read = read_countersigned_request(xml, authority=self._authority)
        except DuisError as refusal:
            return CountersignedFacts(
                sha256=sha256,
                countersigned_at=None,
                countersignature=self._refused(xml, refusal, at),
                request_xml=None,
                request=None,
                request_failure="the Countersigned CoS Service Request was not read",
            )
        countersignature = _certificate_check(
            read.countersignature.certificate,
            read.countersignature.signer,
            verified=True,
            detail="",
            at=at,
            authority=self._authority,
            confirm=self._confirm,
        )
        try:
            request = self._request_reader.read(read.request_xml, at=at)
        except RequestNotVerified as e:
            return CountersignedFacts(
                sha256=sha256,
                countersigned_at=read.countersigned_at,
                countersignature=countersignature,
                request_xml=read.request_xml,
                request=None,
                request_failure=_detail(e),
            )
        return CountersignedFacts(
            sha256=sha256,
            countersigned_at=read.countersigned_at,
            countersignature=countersignature,
            request_xml=read.request_xml,
            request=request,
        )

    def _refused(self, xml: object, refusal: DuisError, at: datetime) -> SignatureCheck:
        if refusal.code in SIGNATURE_CODES:
            root = _parsed(xml)
            if isinstance(root, DuisError):
                return SignatureCheck(verified=False, detail=_detail(refusal))
            check = _xml_signature(root, at=at, authority=self._authority, confirm=self._confirm)
            return SignatureCheck(
                verified=False,
                detail=_detail(refusal),
                certificate_id=check.certificate_id,
                entity_id=check.entity_id,
                role_code=check.role_code,
                validity=check.validity,
            )
        root = _parsed(xml)
        if isinstance(root, DuisError):
            return SignatureCheck(verified=False, detail=_detail(refusal))
        alone = _xml_signature(root, at=at, authority=self._authority, confirm=self._confirm)
        suffix = (
            f" (the countersignature itself verifies with {alone.certificate_id}; "
            f"the artefact is refused for its form, {clauses.SRPD_8_1_A})"
            if alone.verified
            else f" (nor does the countersignature verify: {alone.detail})"
        )
        return SignatureCheck(
            verified=False,
            detail=_detail(refusal) + suffix,
            certificate_id=alone.certificate_id,
            entity_id=alone.entity_id,
            role_code=alone.role_code,
            validity=alone.validity,
        )


# --- the ECoS or TCoS Party's Pre-Command ------------------------------------------------------


def _cpv_checks(apply: bool) -> CpvChecks | None:
    """DUIS ``ApplyTimeBasedCPVChecks`` as the GBCS field: true leaves the OPTIONAL field out
    (the Device applies them, as the RTDS 6.23 vector sends it), false sends disapply (1)."""
    return None if apply else CpvChecks.DISAPPLY


def pre_command_payload(request: CosUpdateRequest, *, counter: int) -> UpdateSecurityCredentials:
    """The CS02b supplierByTransCoS payload substantively identical to ``request`` (SRPD
    8.2(a)(i), 8.2A(a)): its replacement and certification path certificates byte for byte,
    its floor sequence numbers, its ``ExecutionDateTime`` to the second, ``counter`` as the
    authorising sequence number."""
    body = request.body
    when = body.execution_date_time
    certificates = body.replacement_certificates
    return supplier_by_transcos(
        counter=counter,
        digital_signing=certificates.digital_signing,
        key_agreement=certificates.key_agreement,
        key_agreement_top_up=certificates.key_agreement_top_up,
        certification_path=body.certification_path_certificates,
        supplier_floor_seq_number=body.supplier_floor_seq_number,
        supplier_prepayment_top_up_floor_seq_number=(
            body.supplier_prepayment_top_up_floor_seq_number
        ),
        apply_time_based_cpv_checks=_cpv_checks(body.apply_time_based_cpv_checks),
        execution_date_time=None if when is None else when.replace(microsecond=0),
    )


class GbcsPreCommandSigner:
    """``PreCommandSigner`` of the ECoS or TCoS Party (SRPD 8.2(a)(i)-(ii), 8.2A(a)-(b)).

    ``key`` is the handle in ``signer`` of the party's transitionalCoS digital signing key,
    ``originator`` the party's Entity Identifier (its certificate's, so the Device's
    transitionalCoS cell authenticates the header's originator), ``schema`` the DUIS XML
    Schema. The request is read hardened and schema-validated (its signature is not verified
    again: the party's checks did). Raises the DUIS codec's ``DuisError`` for bytes that are
    not an SRV 6.23 request and ``InvalidGbcs`` for a counter GBCS cannot carry."""

    def __init__(self, *, signer: Signer, key: str, originator: EUI64, schema: DuisSchema) -> None:
        self._signer = signer
        self._key = key
        self._originator = originator
        self._schema = schema

    def sign_pre_command(self, request_xml: bytes, *, counter: int, at: datetime) -> bytes:
        """``at`` (the signing time) is not carried: the header has no date-time, as the RTDS
        vector; the counter the caller derives from it is."""
        del at
        request = read_cos_update_request(parse_document(request_xml, self._schema))
        signed = build_signed_pre_command(
            pre_command_payload(request, counter=counter),
            originator=self._originator,
            recipient=request.request_id.target,
            signer=self._signer,
            key=self._key,
        )
        return signed.encode()


# --- the CoS Party's response --------------------------------------------------------------------


class CosPartyResponseWriter:
    """``AuthorisationResponseWriter`` of the CoS Party (SRPD 8.2(a)(iii), 8.2(b)): ``key``
    is the handle of its CoS Party XML Signing Key, ``certificate`` its ``coSPartyXmlSign``
    certificate, ``authority`` its trust store (the countersigned request is read again to
    carry its SHA-256 and Service Request). Raises the codec's ``DuisError`` for a
    countersigned request it cannot read."""

    def __init__(
        self,
        *,
        signer: Signer,
        key: str,
        certificate: Certificate | OrganisationCertificate,
        authority: CertificateAuthority,
    ) -> None:
        self._signer = signer
        self._key = key
        self._certificate = certificate
        self._authority = authority

    def write_authorisation_response(
        self, countersigned_xml: bytes, *, signed_pre_command: bytes | None, at: datetime
    ) -> bytes:
        countersigned = read_countersigned_request(countersigned_xml, authority=self._authority)
        return build_cos_authorisation_response(
            countersigned,
            signed_pre_command=signed_pre_command,
            signer=self._signer,
            key=self._key,
            certificate=self._certificate,
            at=at,
        )


# --- the DCC's readers ---------------------------------------------------------------------------


class DccAuthorisationResponseReader:
    """``AuthorisationResponseReader`` of the DCC (SRPD 8.4).

    ``signature`` (8.4(a), with the certificate's facts for 8.4(b) and the role check) is the
    ds:Signature verified on the hardened parse with the certificate its KeyInfo names,
    whatever the form. ``well_formed`` (8.4(c)) is the full read of the codec
    (``read_cos_authorisation_response``: root, version, schema, signature, the one byte
    form, a signed DUIS request inside); when only the signature refused it, the form steps
    after the signature are run here (the wrapped request, and the bytes being exactly the
    serialisation of what was parsed). Hostile or unparseable XML is neither."""

    def __init__(
        self, *, authority: CertificateAuthority, confirm: ConfirmValidity = confirm_validity
    ) -> None:
        self._authority = authority
        self._confirm = confirm

    def read_authorisation_response(
        self, xml: bytes, *, at: datetime
    ) -> AuthorisationResponseFacts:
        sha256 = _sha256(xml)
        root = _parsed(xml)
        if isinstance(root, DuisError):
            detail = _detail(root)
            return AuthorisationResponseFacts(
                sha256=sha256,
                signature=SignatureCheck(verified=False, detail=detail),
                well_formed=False,
                form_detail=detail,
            )
        signature = _xml_signature(root, at=at, authority=self._authority, confirm=self._confirm)
        try:
            read = read_cos_authorisation_response(xml, authority=self._authority)
        except DuisError as refusal:
            form_detail = (
                _form_after_signature(xml, root)
                if refusal.code in SIGNATURE_CODES
                else _detail(refusal)
            )
            return AuthorisationResponseFacts(
                sha256=sha256,
                signature=signature,
                well_formed=not form_detail,
                form_detail=form_detail,
            )
        return AuthorisationResponseFacts(
            sha256=sha256,
            signature=signature,
            well_formed=True,
            authorised_at=read.authorised_at,
            countersigned_request_sha256=read.countersigned_request_sha256.hex(),
            request_xml=read.request_xml,
            signed_pre_command=read.signed_pre_command,
        )


def _form_after_signature(xml: bytes, root: etree._Element) -> str:
    """Why a response the codec refused for its signature (so after its root, version and
    schema passed) is not well formed, as far as judged without the signature: the wrapped
    Service Request, and the bytes being the serialisation of what was parsed. Empty when
    neither fails."""
    try:
        check_service_request(decode_bytes(child(root, "ServiceRequest")), writing=False)
    except DuisError as e:
        return _detail(e)
    serialised = etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")
    if serialised != xml:
        return (
            "NOT_CANONICAL: the bytes are not the serialisation etmad writes "
            f"({clauses.SRPD_8_4_C})"
        )
    return ""


def _pre_command_certificate(
    der: bytes,
    cell: TrustAnchorCell | None,
    *,
    at: datetime,
    authority: CertificateAuthority,
    confirm: ConfirmValidity,
) -> PreCommandCertificate:
    """One certificate of a Pre-Command: read as an Organisation Certificate (else as any
    certificate, ``detail`` saying why not for a replacement), judged at ``at``."""
    try:
        plain = parse_certificate(der)
    except InvalidCertificate as e:
        return PreCommandCertificate(
            cell=cell, certificate_id=None, entity_id=None, validity=None, detail=_detail(e)
        )
    try:
        organisation = parse_organisation_certificate(plain)
    except InvalidCertificate as e:
        entity_id, _ = _subject_facts(plain)
        return PreCommandCertificate(
            cell=cell,
            certificate_id=plain.certificate_id,
            entity_id=entity_id,
            validity=confirm(plain, at, authority),
            detail="" if cell is None else _detail(e),
        )
    return PreCommandCertificate(
        cell=cell,
        certificate_id=organisation.certificate_id,
        entity_id=organisation.entity_id,
        validity=confirm(organisation, at, authority),
    )


class GbcsPreCommandReader:
    """``SignedPreCommandReader`` of the DCC (SRPD 8.4(f), 8.4A).

    Readable is a General Signing message or a Command whose CRA flag is command and whose
    payload is a CS02b supplierByTransCoS command the codec reads (``from_pre_command``'s
    rules). Every certificate in it is parsed (an Organisation Certificate for a replacement,
    any certificate for the certification path) and judged by Confirm Validity at the time
    asked. The signature is checked with the public key of the certificate ``signed_by``
    held by ``authority`` (an Organisation Certificate, or a plain certificate a trust store
    holds), and no other."""

    def __init__(
        self, *, authority: CertificateAuthority, confirm: ConfirmValidity = confirm_validity
    ) -> None:
        self._authority = authority
        self._confirm = confirm

    def read_pre_command(
        self, data: bytes, *, signed_by: CertificateId | None, at: datetime
    ) -> PreCommandFacts:
        sha256 = _sha256(data)
        try:
            found = decode_message(data)
            message = found.message if isinstance(found, Command) else found
            if message.header.cra_flag is not CraFlag.COMMAND:
                raise InvalidGbcs(  # noqa: TRY301 — one refusal path for every unreadable form
                    f"a Pre-Command is a command, this is a {message.header.cra_flag.name}",
                    field="cra_flag",
                )
            payload = message.content()
            if not isinstance(payload, UpdateSecurityCredentials):
                raise InvalidGbcs(  # noqa: TRY301 — as above
                    f"message code 0x{message.header.message_code:04X} is not a CS02b command",
                    field="message_code",
                )
            update = from_update_security_credentials(payload, device=message.header.recipient)
        except InvalidGbcs as e:
            return PreCommandFacts(sha256=sha256, readable=False, detail=_detail(e))
        read = functools.partial(
            _pre_command_certificate, at=at, authority=self._authority, confirm=self._confirm
        )
        certificates = (
            *(read(r.certificate, r.cell) for r in payload.replacements),
            *(read(der, None) for der in payload.certification_path),
        )
        return PreCommandFacts(
            sha256=sha256,
            readable=True,
            device=message.header.recipient,
            update=update,
            certificates=certificates,
            signature=self._signature(message, signed_by, at),
        )

    def _signature(
        self, message: GeneralSigningMessage, signed_by: CertificateId | None, at: datetime
    ) -> SignatureCheck:
        if signed_by is None:
            return SignatureCheck(verified=False, detail="not checked: no certificate was named")
        organisation = self._authority.organisation_certificate(signed_by)
        certificate = organisation.certificate if organisation is not None else None
        if certificate is None:
            lookup = getattr(self._authority, "certificate", None)
            if callable(lookup):
                held = cast("Certificate | None", lookup(signed_by))
                certificate = None if held is None or held.is_ca else held
        if certificate is None:
            return SignatureCheck(
                verified=False,
                detail=(
                    f"{UnknownSigner.code}: certificate {signed_by} is not held by the trust "
                    "store, so the signature was not checked"
                ),
                certificate_id=signed_by,
            )
        try:
            verified = verify_gbcs_signature(message, certificate.public_key)
        except InvalidGbcs as e:
            verified, detail = False, _detail(e)
        else:
            detail = (
                ""
                if verified
                else f"SIGNATURE_INVALID: the signature does not verify with the key of "
                f"certificate {signed_by}"
            )
        return _certificate_check(
            certificate,
            organisation,
            verified=verified,
            detail=detail,
            at=at,
            authority=self._authority,
            confirm=self._confirm,
        )


class GbcsCommandOutcomeReader:
    """``CommandOutcomeReader``: the Device's GBCS Update Security Credentials response (or
    the alert a future-dated command raises when it executes) read for its execution
    outcome; succeeded when it has one and every replacement in it succeeded. A response
    accepting a future-dated command for later (no outcome), bytes that are not such a
    message, or a message of another kind did not succeed. The Device's signature is not
    verified here (the DCC's Device keys are not this reader's)."""

    def command_outcome(self, response: bytes) -> CommandOutcome:
        try:
            found = decode_message(response)
            message = found.message if isinstance(found, Command) else found
            content = message.content()
        except InvalidGbcs as e:
            return CommandOutcome(
                succeeded=False, detail=f"not a readable GBCS response ({_detail(e)})"
            )
        if message.header.cra_flag not in {CraFlag.RESPONSE, CraFlag.ALERT}:
            return CommandOutcome(
                succeeded=False,
                detail=f"not a response: CRA flag {message.header.cra_flag.name}",
            )
        if not isinstance(
            content, UpdateSecurityCredentialsResponse | UpdateSecurityCredentialsAlert
        ):
            return CommandOutcome(
                succeeded=False,
                detail=(
                    f"message code 0x{message.header.message_code:04X} is not an Update "
                    "Security Credentials response"
                ),
            )
        outcome = content.execution_outcome
        if outcome is None:
            return CommandOutcome(
                succeeded=False,
                detail="accepted for execution later: the alert will carry the outcome",
            )
        return CommandOutcome(succeeded=_succeeded(outcome), detail=_outcome_words(outcome))


def _succeeded(outcome: ExecutionOutcome) -> bool:
    return bool(outcome.outcomes) and outcome.succeeded


def _outcome_words(outcome: ExecutionOutcome) -> str:
    if not outcome.outcomes:
        return f"{outcome.mode.name} counter {outcome.seq_number}: no replacement outcome"
    cells = "; ".join(
        f"{o.cell.role.name} {o.cell.key_usage} {o.cell.cell_usage}: {StatusCode(o.status).name}"
        for o in outcome.outcomes
    )
    return f"{outcome.mode.name} counter {outcome.seq_number}: {cells}"
