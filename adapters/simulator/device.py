"""What a simulated Device does with the bytes it receives: the CS02b transCoSByTransCoS
command (mode 6, the migration) or supplierByTransCoS command (mode 7, SRV 6.23's Command) in,
a signed GBCS Update Security Credentials response out.

The Device reads a Command (MAC header ‖ Signed Pre-Command ‖ MAC; the MAC is not checked) or
a Signed Pre-Command, and **ignores** (no response) anything it would not act on: bytes that
are not a GBCS message, a message that is not a command addressed to it, a CS02b command in
a mode other than 6 and 7, a future-dated command, a command not authorised from its
transitionalCoS cell, not from the party whose credential that cell holds, whose signature does
not verify with that credential, or whose counter is not above the last one it accepted.

A command it acts on gets a response: per replaced cell a ``ReplacementOutcome`` whose status
is the behaviour's (when it rejects), else ``badCertificate`` for a certificate that is not a
transitionalCoS digital signing Organisation Certificate, ``other`` for a cell other than the
transitionalCoS cell, else ``success``. When every cell succeeds the Device holds the new
certificate. In mode 7 each replaced cell's status is ``other`` when the Device holds the
ECoS Party's credential and its behaviour fails SRV 6.23 once migrated
(``processes_srv623_once_migrated``), else ``badCertificate`` for a certificate that is not a
supplier Organisation Certificate of the cell's key usage or a cell that is not a Supplier
cell, else ``success`` (the behaviour's rejecting ``status`` is the migration's, mode 6 only);
when every cell succeeds the Device holds the new certificates in its Supplier cells and the
response echoes the Supplier's floor sequence numbers, as the RTDS 6.23 response does. The
response mirrors the RTDS one: CRA flag 2, the command's message code and
counter, from the Device to the command's originator, the Device's date-time, DER lengths (a
mode 6 response is shorter than 128 octets, so the RTDS Devices' two-octet lengths do not
arise), signed by the Device's key.
"""

from __future__ import annotations

from datetime import datetime

import attrs

from adapters.codecs.gbcs import (
    TRANSCOS_CELL,
    Command,
    CraFlag,
    CredentialsReplacementMode,
    DlmsDateTime,
    ExecutionOutcome,
    GeneralSigningHeader,
    GeneralSigningMessage,
    InvalidGbcs,
    ReplacementOutcome,
    StatusCode,
    TrustAnchorReplacement,
    UpdateSecurityCredentials,
    UpdateSecurityCredentialsResponse,
    decode_message,
    verify_signature,
)
from adapters.crypto.smki import parse_organisation_certificate
from adapters.simulator.behaviour import DeviceBehaviour
from adapters.simulator.fleet import FleetSimulation, SimulatedDevice
from application.credentials import SignatureEncoding
from domain.errors import DomainError
from domain.smki import OrganisationCertificate, RemotePartyRole

_ENTITY_ID_OCTETS = 8
_EXECUTED = frozenset(
    {
        CredentialsReplacementMode.TRANSCOS_BY_TRANSCOS,
        CredentialsReplacementMode.SUPPLIER_BY_TRANSCOS,
    }
)


@attrs.frozen
class Ignored:
    """The Device did not act on the command (so it does not answer), and why."""

    detail: str


@attrs.frozen
class Answered:
    """The Device's signed response (bytes) and whether every replacement succeeded."""

    response: bytes
    succeeded: bool


def handle_command(
    fleet: FleetSimulation,
    device: SimulatedDevice,
    data: bytes,
    *,
    behaviour: DeviceBehaviour,
    answered_at: datetime,
) -> Ignored | Answered:
    """What ``device`` does with ``data``; it answers (if it does) at ``answered_at``."""
    try:
        message = decode_message(data)
    except InvalidGbcs as e:
        return Ignored(f"not a GBCS message ({e.message})")
    signed = message.message if isinstance(message, Command) else message
    header = signed.header
    if header.cra_flag is not CraFlag.COMMAND:
        return Ignored(f"not a command (CRA flag {header.cra_flag.name})")
    if header.recipient != device.device_id:
        return Ignored(f"addressed to {header.recipient}, not to {device.device_id}")
    try:
        content = signed.content()
    except InvalidGbcs as e:
        return Ignored(f"not a command the Device reads ({e.message})")
    command = _acceptable(content, signed, device)
    if isinstance(command, str):
        return Ignored(command)
    device.last_counter = command.control.seq_number
    if command.mode is CredentialsReplacementMode.SUPPLIER_BY_TRANSCOS:
        outcome = _execute_supplier_by_transcos(fleet, device, command, behaviour)
    else:
        outcome = _execute_transcos_by_transcos(fleet, device, command, behaviour)
    succeeded = bool(outcome.outcomes) and outcome.succeeded
    response = UpdateSecurityCredentialsResponse(execution_outcome=outcome)
    unsigned = GeneralSigningMessage.build(
        GeneralSigningHeader(
            cra_flag=CraFlag.RESPONSE,
            originator_counter=header.originator_counter,
            originator=device.device_id,
            recipient=header.originator,
            message_code=header.message_code,
            date_time=DlmsDateTime.from_datetime(answered_at),
        ),
        response,
    )
    signature = fleet.device_signer.sign(
        str(device.device_id), unsigned.signed_data, encoding=SignatureEncoding.RAW
    )
    return Answered(attrs.evolve(unsigned, signature=signature).encode(), succeeded)


def _execute_transcos_by_transcos(
    fleet: FleetSimulation,
    device: SimulatedDevice,
    command: UpdateSecurityCredentials,
    behaviour: DeviceBehaviour,
) -> ExecutionOutcome:
    """Mode 6: the transitionalCoS cell's replacement (the migration)."""
    held = device.credential
    outcomes = [_outcome(fleet, r, held, behaviour) for r in command.replacements]
    if outcomes and all(o.status is StatusCode.SUCCESS for o, _ in outcomes):
        for _, replacing in outcomes:
            if replacing is not None:
                device.credential = replacing
        device.last_counter = command.control.new_remote_party_floor_seq_number
    return ExecutionOutcome(
        seq_number=command.control.seq_number,
        mode=command.mode,
        seq_number_changes=(),
        outcomes=tuple(o for o, _ in outcomes),
    )


def _execute_supplier_by_transcos(
    fleet: FleetSimulation,
    device: SimulatedDevice,
    command: UpdateSecurityCredentials,
    behaviour: DeviceBehaviour,
) -> ExecutionOutcome:
    """Mode 7: the Supplier cells' replacement (SRV 6.23's Command)."""
    fails = fleet.pertains_to_ecos(device.credential) and (
        not behaviour.processes_srv623_once_migrated
    )
    outcomes = [_supplier_outcome(device, r, fails=fails) for r in command.replacements]
    succeeded = bool(outcomes) and all(o.status is StatusCode.SUCCESS for o, _ in outcomes)
    if succeeded:
        for outcome, replacing in outcomes:
            if replacing is not None:
                device.supplier_cells[outcome.cell] = replacing
    return ExecutionOutcome(
        seq_number=command.control.seq_number,
        mode=command.mode,
        seq_number_changes=(command.control.other_remote_party_seq_number_changes or ())
        if succeeded
        else (),
        outcomes=tuple(o for o, _ in outcomes),
    )


def _acceptable(
    content: object, signed: GeneralSigningMessage, device: SimulatedDevice
) -> UpdateSecurityCredentials | str:
    """The command the Device acts on, or why it would not act on this one."""
    if not isinstance(content, UpdateSecurityCredentials):
        return f"message code 0x{signed.header.message_code:04X} is not simulated"
    if content.mode not in _EXECUTED:
        return (
            "the simulated Device executes transCoSByTransCoS and supplierByTransCoS only, "
            f"not {content.mode.name}"
        )
    if content.execution_date_time is not None:
        return "future-dated commands are not simulated"
    if content.control.authorising_cell != TRANSCOS_CELL:
        return "not authorised from the transitionalCoS cell"
    return _unauthentic(content, signed, device) or content


def _unauthentic(
    content: UpdateSecurityCredentials, signed: GeneralSigningMessage, device: SimulatedDevice
) -> str | None:
    """Why the command does not authenticate against the Device's transitionalCoS cell."""
    held = device.credential
    if signed.header.originator != held.entity_id:
        return (
            f"from {signed.header.originator}, not from {held.entity_id} whose credential "
            "the transitionalCoS cell holds"
        )
    if not verify_signature(signed, held.certificate.public_key):
        return "the signature does not verify with the credential the Device holds"
    seq_number = content.control.seq_number
    if device.last_counter is not None and seq_number <= device.last_counter:
        return f"replayed: counter {seq_number} is not above {device.last_counter}"
    return None


def _outcome(
    fleet: FleetSimulation,
    replacement: TrustAnchorReplacement,
    held: OrganisationCertificate,
    behaviour: DeviceBehaviour,
) -> tuple[ReplacementOutcome, OrganisationCertificate | None]:
    """The outcome of one replacement, and the credential the cell holds if it succeeds."""
    try:
        replacing: OrganisationCertificate | None = fleet.read_credential(
            replacement.certificate, name="replacementCertificate"
        )
    except (DomainError, ValueError):
        replacing = None
    status: StatusCode
    if behaviour.status is not StatusCode.SUCCESS:
        status = behaviour.status
    elif replacement.cell != TRANSCOS_CELL:
        status = StatusCode.OTHER
    elif replacing is None:
        status = StatusCode.BAD_CERTIFICATE
    else:
        status = StatusCode.SUCCESS
    existing = held if replacement.cell == TRANSCOS_CELL else None
    outcome = ReplacementOutcome(
        cell=replacement.cell,
        status=status,
        existing_subject_unique_id=_unique_id(existing),
        existing_subject_key_id=_key_id(existing),
        replacing_subject_unique_id=_unique_id(replacing),
        replacing_subject_key_id=_key_id(replacing),
    )
    return outcome, replacing


def _supplier_outcome(
    device: SimulatedDevice, replacement: TrustAnchorReplacement, *, fails: bool
) -> tuple[ReplacementOutcome, OrganisationCertificate | None]:
    """The outcome of one Supplier cell's replacement, and the certificate it then holds."""
    cell = replacement.cell
    try:
        replacing: OrganisationCertificate | None = parse_organisation_certificate(
            replacement.certificate
        )
    except (DomainError, ValueError):
        replacing = None
    fits = (
        replacing is not None
        and cell.role is RemotePartyRole.SUPPLIER
        and replacing.role is RemotePartyRole.SUPPLIER
        and replacing.key_usage == cell.key_usage
    )
    status = (
        StatusCode.OTHER if fails else StatusCode.SUCCESS if fits else StatusCode.BAD_CERTIFICATE
    )
    existing = device.supplier_cells.get(cell)
    outcome = ReplacementOutcome(
        cell=cell,
        status=status,
        existing_subject_unique_id=_unique_id(existing),
        existing_subject_key_id=_key_id(existing),
        replacing_subject_unique_id=_unique_id(replacing),
        replacing_subject_key_id=_key_id(replacing),
    )
    return outcome, replacing if fits else None


def _unique_id(credential: OrganisationCertificate | None) -> bytes:
    if credential is None:
        return b""
    return credential.entity_id.value.to_bytes(_ENTITY_ID_OCTETS, "big")


def _key_id(credential: OrganisationCertificate | None) -> bytes:
    if credential is None:
        return b""
    return credential.certificate.subject_key_id or b""
