"""The ``ReplacementCodec`` port on the GBCS codec: the 6.1(c)(iii) command and its response.

``replacement_command`` builds a CS02b transCoSByTransCoS Signed Pre-Command (mode 6, message
code 0x0106; DOMAIN.md 3.3 step 3): the ECoS Party's certificate into the Device's
transitionalCoS cell, with the certification path, authorised from that cell, signed through
the ``Signer`` port with the TCoS Party's key, from the TCoS Party's Entity Identifier
(originator system title) to the Device.

``device_outcome`` reads the Device's GBCS response into the domain's ``DeviceOutcome``: one
``CellStatus`` per replaced cell. Anything it cannot use — bytes that are not GBCS, a message
that is not the response to *this* command (CRA flag, message code, originator counter,
sender, recipient), a response without an execution outcome — is the domain's invalid-response
outcome (answered, no cells, ``detail`` saying why): it never raises for a Device's bytes. The
response's signature is not verified here (the codec holds no Device keys).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from adapters.codecs.gbcs.cos import transcos_by_transcos
from adapters.codecs.gbcs.errors import InvalidGbcs
from adapters.codecs.gbcs.header import CraFlag
from adapters.codecs.gbcs.message import Command, decode_message
from adapters.codecs.gbcs.payload import (
    CpvChecks,
    CredentialsReplacementMode,
    UpdateSecurityCredentialsResponse,
)
from adapters.codecs.gbcs.signing import build_signed_pre_command
from adapters.crypto.smki import parse_organisation_certificate
from application.credentials import Signer
from application.migration_ports import ReplacementCommand
from domain.failures import CellStatus, DeviceOutcome, GbcsStatus, ReplyKind
from domain.identifiers import EUI64, CertificateId
from domain.smki import KeyUsage, RemotePartyRole


class GbcsReplacementCodec:
    """``ReplacementCodec`` for GBCS (``docs/gbcs.md``)."""

    def __init__(
        self,
        *,
        signer: Signer,
        key: str,
        tcos_party: EUI64,
        ecos_certificate: bytes,
        certification_path: Sequence[bytes],
        cpv_checks: CpvChecks | None = CpvChecks.DISAPPLY,
    ) -> None:
        """``key`` is the handle of the TCoS Party's transitionalCoS signing key in ``signer``;
        ``ecos_certificate`` the DER of the ECoS Party's transitionalCoS digital signing
        Organisation Certificate; ``cpv_checks`` the GBCS ``applyTimeBasedCPVChecks`` field
        as sent (the RTDS vector disapplies them; None leaves the field out)."""
        parsed = parse_organisation_certificate(ecos_certificate)
        if (parsed.role, parsed.key_usage) != (
            RemotePartyRole.TRANSITIONAL_COS,
            KeyUsage.DIGITAL_SIGNATURE,
        ):
            raise ValueError(
                "the ECoS Party's certificate for the transitionalCoS cell is a transitionalCoS "
                f"digital signing certificate, not {parsed.role.name} {parsed.key_usage}"
            )
        self._signer = signer
        self._key = key
        self._tcos_party = tcos_party
        self._ecos_der = bytes(ecos_certificate)
        self._certification_path = tuple(bytes(c) for c in certification_path)
        self._cpv_checks = cpv_checks
        self.ecos_certificate_id: CertificateId = parsed.certificate_id
        self.ecos_party: EUI64 = parsed.entity_id

    def replacement_command(
        self, device_id: EUI64, *, originator_counter: int, at: datetime
    ) -> ReplacementCommand:
        """``at`` is the business time of the call; the command is not future-dated and its
        header carries no date-time (as the RTDS vector)."""
        del at
        payload = transcos_by_transcos(
            counter=originator_counter,
            replacement=self._ecos_der,
            certification_path=self._certification_path,
            apply_time_based_cpv_checks=self._cpv_checks,
        )
        signed = build_signed_pre_command(
            payload,
            originator=self._tcos_party,
            recipient=device_id,
            signer=self._signer,
            key=self._key,
        )
        return ReplacementCommand(
            command=signed.encode(),
            ecos_certificate=self.ecos_certificate_id,
            originator_counter=originator_counter,
        )

    def device_outcome(self, response: bytes, command: ReplacementCommand) -> DeviceOutcome:
        try:
            return self._read(response, command)
        except InvalidGbcs as e:
            return _invalid(f"the response is not a readable GBCS message ({e.message})")

    def _read(self, response: bytes, command: ReplacementCommand) -> DeviceOutcome:
        sent = decode_message(command.command)
        sent_message = sent.message if isinstance(sent, Command) else sent
        found = decode_message(bytes(response))
        message = found.message if isinstance(found, Command) else found
        header, expected = message.header, sent_message.header
        mismatches = [
            what
            for what, ok in (
                ("not a response (CRA flag)", header.cra_flag is CraFlag.RESPONSE),
                ("another message code", header.message_code == expected.message_code),
                (
                    "another originator counter",
                    header.originator_counter == expected.originator_counter,
                ),
                ("from another Device", header.originator == expected.recipient),
                ("to another party", header.recipient == expected.originator),
            )
            if not ok
        ]
        if mismatches:
            return _invalid("not the response to the command sent: " + ", ".join(mismatches))
        content = message.content()
        if not isinstance(content, UpdateSecurityCredentialsResponse):
            return _invalid("the response carries no Update Security Credentials response")
        outcome = content.execution_outcome
        if outcome is None:
            return _invalid("the response carries no execution outcome")
        if outcome.mode is not CredentialsReplacementMode.TRANSCOS_BY_TRANSCOS:
            return _invalid(f"the execution outcome is for mode {outcome.mode}, not 6")
        cells = tuple(CellStatus(o.cell, GbcsStatus(o.status.value)) for o in outcome.outcomes)
        return DeviceOutcome(kind=ReplyKind.ANSWERED, cells=cells)


def _invalid(detail: str) -> DeviceOutcome:
    return DeviceOutcome(kind=ReplyKind.ANSWERED, cells=(), detail=detail)
