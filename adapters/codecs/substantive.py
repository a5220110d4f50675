"""Both sides of SRPD 8.4(f) as :class:`domain.substantive.CredentialsUpdate` values: an SRV 6.23
request as the DUIS reader gives it, and a CS02b supplierByTransCoS Pre-Command as the GBCS
codec decodes it. ``domain.substantive.compare`` then says whether they are substantively
identical::

    sameness = compare(from_cos_update_request(request), from_pre_command(signed_pre_command))

Certificates are identified by the SHA-256 of their DER bytes, with their Certificate ID when
the SMKI parser can read them (a certificate it cannot read is still compared, by its digest).
"""

from __future__ import annotations

from adapters.codecs.duis.model import CosUpdateRequest
from adapters.codecs.gbcs.cos import (
    SUPPLIER_DIGITAL_SIGNING_CELL,
    SUPPLIER_KEY_AGREEMENT_CELL,
    SUPPLIER_TOP_UP_KEY_AGREEMENT_CELL,
)
from adapters.codecs.gbcs.errors import InvalidGbcs
from adapters.codecs.gbcs.header import CraFlag
from adapters.codecs.gbcs.message import Command, GeneralSigningMessage, decode_message
from adapters.codecs.gbcs.payload import (
    CredentialsReplacementMode,
    SeqNumberUsage,
    UpdateSecurityCredentials,
)
from adapters.crypto.smki import parse_certificate
from domain.identifiers import EUI64
from domain.smki import InvalidCertificate, RemotePartyRole
from domain.substantive import CertificateIdentity, CredentialsUpdate, Replacement


def certificate_identity(der: bytes) -> CertificateIdentity:
    """The SHA-256 of ``der``, with the Certificate ID if ``der`` is an X.509 certificate."""
    try:
        certificate_id = parse_certificate(der).certificate_id
    except InvalidCertificate:
        certificate_id = None
    return CertificateIdentity.of(der, certificate_id=certificate_id)


# ------------------------------------------------------------------------------ DUIS SRV 6.23


def from_cos_update_request(request: CosUpdateRequest) -> CredentialsUpdate:
    """What an SRV 6.23 request asks for: its Request ID's target Device; the digital signing,
    key agreement and top-up key agreement certificates into the Supplier's cells that the
    mode-7 command fills (``adapters.codecs.gbcs.cos``); ``SupplierFloorSeqNumber`` and
    ``SupplierPrepaymentTopUpFloorSeqNumber``; ``ExecutionDateTime``, to the second.

    A fraction of a second in ``ExecutionDateTime`` is dropped (not rounded): GBCS carries
    ``YYYYMMDDhhmmssZ``, so the command made from the request executes at that second.
    """
    body = request.body
    certificates = body.replacement_certificates
    wanted = (
        (SUPPLIER_DIGITAL_SIGNING_CELL, certificates.digital_signing),
        (SUPPLIER_KEY_AGREEMENT_CELL, certificates.key_agreement),
        (SUPPLIER_TOP_UP_KEY_AGREEMENT_CELL, certificates.key_agreement_top_up),
    )
    when = body.execution_date_time
    return CredentialsUpdate(
        device=request.request_id.target,
        replacements=tuple(
            Replacement(cell, certificate_identity(der)) for cell, der in wanted if der is not None
        ),
        supplier_floor_seq_number=body.supplier_floor_seq_number,
        prepayment_top_up_floor_seq_number=body.supplier_prepayment_top_up_floor_seq_number,
        execution_date_time=None if when is None else when.replace(microsecond=0),
    )


# --------------------------------------------------------------------------- GBCS Pre-Command


def from_update_security_credentials(
    payload: UpdateSecurityCredentials, *, device: EUI64
) -> CredentialsUpdate:
    """What a decoded mode-7 payload does to ``device`` (the recipient of its header): its
    replacements, the Supplier's entry of ``otherRemotePartySeqNumberChanges`` (floor and
    prepayment top-up specialist floor), and ``executionDateTime``.

    Raises ``InvalidGbcs`` for a payload that is not supplierByTransCoS, or that sets the
    Supplier's floor (or its top-up floor) twice: not well formed (8.4(c)), so not compared.
    """
    if payload.mode is not CredentialsReplacementMode.SUPPLIER_BY_TRANSCOS:
        raise InvalidGbcs(
            f"SRV 6.23 is made into a supplierByTransCoS command (mode 7), not mode "
            f"{payload.mode.value} ({payload.mode.name})",
            field="credentialsReplacementMode",
        )
    changes = payload.control.other_remote_party_seq_number_changes or ()
    supplier = [c for c in changes if c.role is RemotePartyRole.SUPPLIER]
    if len(supplier) > 1:
        raise InvalidGbcs(
            f"the Supplier's floor sequence numbers are set {len(supplier)} times",
            field="authorisingRemotePartyControl.otherRemotePartySeqNumberChanges",
        )
    floor = supplier[0].floor_seq_number if supplier else None
    specialists = (supplier[0].specialist_floor_seq_numbers or ()) if supplier else ()
    top_up = [s.seq_number for s in specialists if s.usage is SeqNumberUsage.PREPAYMENT_TOP_UP]
    if len(top_up) > 1:
        raise InvalidGbcs(
            f"the Supplier's prepayment top-up floor is set {len(top_up)} times",
            field="authorisingRemotePartyControl.otherRemotePartySeqNumberChanges",
        )
    return CredentialsUpdate(
        device=device,
        replacements=tuple(
            Replacement(r.cell, certificate_identity(r.certificate)) for r in payload.replacements
        ),
        supplier_floor_seq_number=floor,
        prepayment_top_up_floor_seq_number=top_up[0] if top_up else None,
        execution_date_time=payload.execution_date_time,
    )


def from_pre_command(message: bytes | GeneralSigningMessage | Command) -> CredentialsUpdate:
    """What a (Signed) Pre-Command — or the Command made of it — does: the payload read by
    the codec, for the Device its Grouping Header names as recipient.

    Raises ``InvalidGbcs`` for bytes the codec cannot read, a message that is not a CS02b
    command, or one that ``from_update_security_credentials`` refuses."""
    found = decode_message(message) if isinstance(message, bytes) else message
    signed = found.message if isinstance(found, Command) else found
    if signed.header.cra_flag is not CraFlag.COMMAND:
        raise InvalidGbcs(
            f"a Pre-Command is a command, this is a {signed.header.cra_flag.name}",
            field="cra_flag",
        )
    payload = signed.content()
    if not isinstance(payload, UpdateSecurityCredentials):
        raise InvalidGbcs(
            f"message code 0x{signed.header.message_code:04X} is not a CS02b command",
            field="message_code",
        )
    return from_update_security_credentials(payload, device=signed.header.recipient)
