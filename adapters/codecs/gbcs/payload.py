"""CS02b Update Security Credentials as values: the command payload, the response and the
alert, with the GBCS enumerations they use (``docs/gbcs.md``). ``credentials.py`` encodes and
decodes them.

GBCS numbers the credentials replacement modes; SRV 6.23 sends mode 7 (supplierByTransCoS,
message code 0x0107) and the ECoS migration sends mode 6 (transCoSByTransCoS, 0x0106).
"""

from __future__ import annotations

import enum
import functools
from datetime import UTC, datetime
from typing import Any, Final

import attrs

from adapters.codecs.gbcs.ber import LengthForm, single_element
from adapters.codecs.gbcs.errors import InvalidGbcs
from adapters.codecs.gbcs.header import check_counter
from domain.smki import RemotePartyRole, TrustAnchorCell

UPDATE_SECURITY_CREDENTIALS_ALERT_CODE: Final = 0x00CB  # message code of the CS02b alert
_SEQUENCE_TAG: Final = 0x30


class CredentialsReplacementMode(enum.IntEnum):
    """GBCS ``CredentialsReplacementMode``: who replaces whose trust anchors."""

    SUPPLIER_BY_SUPPLIER = 2
    NETWORK_OPERATOR_BY_NETWORK_OPERATOR = 3
    ACB_BY_ACB = 4
    WAN_PROVIDER_BY_WAN_PROVIDER = 5
    TRANSCOS_BY_TRANSCOS = 6
    SUPPLIER_BY_TRANSCOS = 7
    ANY_EXCEPT_ABNORMAL_ROOT_BY_RECOVERY = 8
    ANY_BY_CONTINGENCY = 9

    @property
    def message_code(self) -> int:
        """The message code of the command in this mode: 0x0100 + mode (0x0102, 0x0106 and
        0x0107 are checked against the RTDS vectors)."""
        return 0x0100 + self.value


def mode_of_message_code(code: int) -> CredentialsReplacementMode | None:
    """The mode a CS02b message code carries, or None if ``code`` is not a CS02b command's."""
    try:
        return CredentialsReplacementMode(code - 0x0100)
    except ValueError:
        return None


class CpvChecks(enum.IntEnum):
    """``applyTimeBasedCPVChecks``: whether the Device checks certificate validity periods."""

    APPLY = 0
    DISAPPLY = 1


class SeqNumberUsage(enum.IntEnum):
    """What a specialist sequence number counts."""

    PREPAYMENT_TOP_UP = 0


class StatusCode(enum.IntEnum):
    """The outcome of one trust anchor cell's replacement (GBCS ``StatusCode``)."""

    SUCCESS = 0
    BAD_CERTIFICATE = 5
    NO_TRUST_ANCHOR = 10
    INSUFFICIENT_MEMORY = 17
    TRUST_ANCHOR_NOT_FOUND = 25
    RESOURCES_BUSY = 30
    OTHER = 127


def _seq(_instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    check_counter(value, field=attribute.name)


def _optional_seq(
    _instance: object, attribute: attrs.Attribute[int | None], value: int | None
) -> None:
    if value is not None:
        check_counter(value, field=attribute.name)


def _certificate(_instance: object, attribute: attrs.Attribute[bytes], value: bytes) -> None:
    check_certificate(value, field=attribute.name)


def check_certificate(der: bytes, *, field: str) -> bytes:
    """``der`` if it is one well-formed BER SEQUENCE (the codec does not read inside it).

    Remembered: a fleet's commands carry the same few certificates, and whether bytes are one
    well-formed SEQUENCE depends on the bytes alone (a refusal is not remembered: it is
    raised afresh, naming ``field``)."""
    if not isinstance(der, bytes):
        raise InvalidGbcs(f"a certificate is DER bytes, not {type(der).__name__}", field=field)
    _check_certificate_framing(der, field)
    return der


@functools.lru_cache(maxsize=256)
def _check_certificate_framing(der: bytes, field: str) -> None:
    top = single_element(der, field=field)
    if der[top.offset] != _SEQUENCE_TAG:
        raise InvalidGbcs(f"a certificate is a SEQUENCE (0x30), found 0x{der[0]:02X}", field=field)


def _utc_seconds(
    _instance: object, attribute: attrs.Attribute[Any], value: datetime | None
) -> None:
    if value is None:
        return
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise InvalidGbcs("must be a datetime with a UTC offset", field=attribute.name)
    if value.microsecond:
        raise InvalidGbcs("GBCS carries whole seconds (YYYYMMDDhhmmssZ)", field=attribute.name)
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise InvalidGbcs("out of range in UTC", field=attribute.name) from None


@attrs.frozen
class SpecialistSeqNumber:
    usage: SeqNumberUsage = attrs.field(converter=SeqNumberUsage)
    seq_number: int = attrs.field(validator=_seq)


@attrs.frozen(kw_only=True)
class RemotePartySeqNumberChange:
    """New floor sequence numbers of a remote party role. ``specialist_floor_seq_numbers`` is
    None when the field is absent (an empty tuple is an empty SEQUENCE OF)."""

    role: RemotePartyRole = attrs.field(converter=RemotePartyRole)
    floor_seq_number: int = attrs.field(validator=_seq)
    specialist_floor_seq_numbers: tuple[SpecialistSeqNumber, ...] | None = None


@attrs.frozen(kw_only=True)
class AuthorisingRemotePartyControl:
    """``AuthorisingRemotePartyControl``: the mode, who authorises, under which counter, and
    the floor sequence numbers to set. None is an absent OPTIONAL field."""

    mode: CredentialsReplacementMode = attrs.field(converter=CredentialsReplacementMode)
    seq_number: int = attrs.field(validator=_seq)
    authorising_cell: TrustAnchorCell | None = None
    plaintext_symmetric_key: bytes | None = None
    apply_time_based_cpv_checks: CpvChecks | None = None
    new_remote_party_floor_seq_number: int | None = attrs.field(
        default=None, validator=_optional_seq
    )
    new_remote_party_specialist_floor_seq_numbers: tuple[SpecialistSeqNumber, ...] | None = None
    other_remote_party_seq_number_changes: tuple[RemotePartySeqNumberChange, ...] | None = None


@attrs.frozen
class TrustAnchorReplacement:
    """A replacement certificate (DER, carried byte for byte) and the cell it goes into."""

    certificate: bytes = attrs.field(validator=_certificate)
    cell: TrustAnchorCell


@attrs.frozen(kw_only=True)
class UpdateSecurityCredentials:
    """The CS02b Update Security Credentials command payload."""

    control: AuthorisingRemotePartyControl
    replacements: tuple[TrustAnchorReplacement, ...]
    certification_path: tuple[bytes, ...]
    execution_date_time: datetime | None = attrs.field(default=None, validator=_utc_seconds)

    def __attrs_post_init__(self) -> None:
        for i, der in enumerate(self.certification_path):
            check_certificate(der, field=f"certification_path[{i}]")

    @property
    def mode(self) -> CredentialsReplacementMode:
        return self.control.mode

    @property
    def message_code(self) -> int:
        return self.control.mode.message_code


@attrs.frozen(kw_only=True)
class ReplacementOutcome:
    """What the Device did with one trust anchor cell. IDs are as the Device sent them (an
    Entity Identifier and a subject key identifier, 8 octets each in the RTDS vectors)."""

    cell: TrustAnchorCell
    status: StatusCode = attrs.field(converter=StatusCode)
    existing_subject_unique_id: bytes
    existing_subject_key_id: bytes
    replacing_subject_unique_id: bytes
    replacing_subject_key_id: bytes


@attrs.frozen(kw_only=True)
class ExecutionOutcome:
    seq_number: int = attrs.field(validator=_seq)
    mode: CredentialsReplacementMode = attrs.field(converter=CredentialsReplacementMode)
    seq_number_changes: tuple[RemotePartySeqNumberChange, ...]
    outcomes: tuple[ReplacementOutcome, ...]

    @property
    def succeeded(self) -> bool:
        """Every cell's replacement succeeded."""
        return all(o.status is StatusCode.SUCCESS for o in self.outcomes)


@attrs.frozen(kw_only=True)
class UpdateSecurityCredentialsResponse:
    """The Device's response. ``execution_outcome`` is None when the command was accepted for
    later execution (the alert then carries the outcome). ``length_form`` is how the lengths
    were written (not part of the value: equal responses may be written either way)."""

    execution_outcome: ExecutionOutcome | None
    length_form: LengthForm = attrs.field(default=LengthForm.DER, eq=False)


@attrs.frozen(kw_only=True)
class UpdateSecurityCredentialsAlert:
    """The alert (message code 0x00CB) a future-dated command raises when it executes."""

    alert_code: int = attrs.field()
    execution_date_time: datetime = attrs.field(validator=_utc_seconds)
    execution_outcome: ExecutionOutcome
    length_form: LengthForm = attrs.field(default=LengthForm.DER, eq=False)

    @alert_code.validator
    def _check_alert_code(self, _attribute: object, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0xFFFF:  # noqa: PLR2004
            raise InvalidGbcs(f"an alert code is 0..0xFFFF, not {value!r}", field="alertCode")


Payload = (
    UpdateSecurityCredentials | UpdateSecurityCredentialsResponse | UpdateSecurityCredentialsAlert
)
