"""CS02b Update Security Credentials on the wire: ``encode_*`` writes the values of
``payload.py`` (DER, or a response's recorded length form), ``decode_*`` reads them strictly,
raising ``InvalidGbcs`` naming the field at fault. The ASN.1 is in ``asn1.py``.

Encoding uses the small DER writer of ``der.py`` (the bytes asn1crypto would write, proved by
``tests/test_gbcs_fast_paths.py``). Decoding reads canonical DER — what the encoders write —
with ``canonical.py``, and everything else (other BER forms, bad input) with asn1crypto.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

from asn1crypto import core

from adapters.codecs.gbcs import asn1, canonical, der
from adapters.codecs.gbcs.ber import LengthForm, length_form, relength, single_element
from adapters.codecs.gbcs.errors import InvalidGbcs
from adapters.codecs.gbcs.header import check_counter
from adapters.codecs.gbcs.payload import (
    AuthorisingRemotePartyControl,
    CpvChecks,
    CredentialsReplacementMode,
    ExecutionOutcome,
    Payload,
    RemotePartySeqNumberChange,
    ReplacementOutcome,
    SeqNumberUsage,
    SpecialistSeqNumber,
    StatusCode,
    TrustAnchorReplacement,
    UpdateSecurityCredentials,
    UpdateSecurityCredentialsAlert,
    UpdateSecurityCredentialsResponse,
    check_certificate,
)
from domain.smki import CellUsage, KeyUsage, RemotePartyRole, TrustAnchorCell

T = TypeVar("T")

_SEQUENCE_TAG: Final = 0x30
_KEY_USAGE_NAMES: Final = {
    KeyUsage.DIGITAL_SIGNATURE: "digitalSignature",
    KeyUsage.KEY_AGREEMENT: "keyAgreement",
}
_KEY_USAGE_BITS: Final = {  # the X.509 KeyUsage bit of each name
    usage: bit for bit, name in asn1.KEY_USAGE_BITS.items() for usage in KeyUsage if usage == name
}
_CELL_USAGE_CODES: Final = {CellUsage.MANAGEMENT: 0, CellUsage.PREPAYMENT_TOP_UP: 1}


# ---------------------------------------------------------------------------------- encoding
#
# Written with the DER writer of ``der.py``, field for field as ``asn1.py`` defines them
# (``tests/test_gbcs_fast_paths.py`` proves the bytes equal asn1crypto's for any value).


@functools.lru_cache(maxsize=64)
def _cell_der(cell: TrustAnchorCell, *, tag: int = der.SEQUENCE) -> bytes:
    """Remembered: a fleet's payloads name the same few cells."""
    cell_usage = _CELL_USAGE_CODES[CellUsage(cell.cell_usage)]
    return der.sequence(
        der.integer(int(cell.role)),
        der.named_bits({_KEY_USAGE_BITS[KeyUsage(cell.key_usage)]}),
        b"" if cell_usage == 0 else der.integer(cell_usage),  # DEFAULT management (0)
        tag=tag,
    )


def _specialists_der(items: tuple[SpecialistSeqNumber, ...], *, tag: int = der.SEQUENCE) -> bytes:
    return der.sequence(
        *(der.sequence(der.integer(int(s.usage)), der.integer(s.seq_number)) for s in items),
        tag=tag,
    )


def _changes_der(
    items: tuple[RemotePartySeqNumberChange, ...], *, tag: int = der.SEQUENCE
) -> bytes:
    return der.sequence(
        *(
            der.sequence(
                der.integer(int(change.role)),
                der.integer(change.floor_seq_number),
                b""
                if change.specialist_floor_seq_numbers is None
                else _specialists_der(change.specialist_floor_seq_numbers),
            )
            for change in items
        ),
        tag=tag,
    )


def _control_der(control: AuthorisingRemotePartyControl) -> bytes:
    parts = [der.integer(int(control.mode))]
    if control.plaintext_symmetric_key is not None:
        parts.append(
            der.octet_string(control.plaintext_symmetric_key, tag=asn1.PLAINTEXT_SYMMETRIC_KEY_TAG)
        )
    if control.apply_time_based_cpv_checks is not None:
        parts.append(
            der.integer(
                int(control.apply_time_based_cpv_checks), tag=asn1.APPLY_TIME_BASED_CPV_CHECKS_TAG
            )
        )
    if control.authorising_cell is not None:
        parts.append(_cell_der(control.authorising_cell, tag=asn1.AUTHORISING_CELL_TAG))
    parts.append(der.integer(control.seq_number, tag=asn1.AUTHORISING_SEQ_NUMBER_TAG))
    if control.new_remote_party_floor_seq_number is not None:
        parts.append(
            der.integer(
                control.new_remote_party_floor_seq_number, tag=asn1.NEW_FLOOR_SEQ_NUMBER_TAG
            )
        )
    if control.new_remote_party_specialist_floor_seq_numbers is not None:
        parts.append(
            _specialists_der(
                control.new_remote_party_specialist_floor_seq_numbers,
                tag=asn1.NEW_SPECIALIST_FLOOR_SEQ_NUMBERS_TAG,
            )
        )
    if control.other_remote_party_seq_number_changes is not None:
        parts.append(
            _changes_der(
                control.other_remote_party_seq_number_changes,
                tag=asn1.OTHER_SEQ_NUMBER_CHANGES_TAG,
            )
        )
    return der.sequence(*parts)


def generalized_time(moment: datetime) -> str:
    """``YYYYMMDDhhmmssZ`` in UTC (written here: asn1crypto does not pad years below 1000)."""
    utc = moment.astimezone(UTC)
    return (
        f"{utc.year:04d}{utc.month:02d}{utc.day:02d}{utc.hour:02d}{utc.minute:02d}{utc.second:02d}Z"
    )


def encode_update_security_credentials(payload: UpdateSecurityCredentials) -> bytes:
    """The DER of the command payload (certificates byte for byte as given)."""
    return der.sequence(
        _control_der(payload.control),
        der.sequence(
            *(der.sequence(r.certificate, _cell_der(r.cell)) for r in payload.replacements)
        ),
        der.sequence(*payload.certification_path),
        b""
        if payload.execution_date_time is None
        else der.generalized_time(generalized_time(payload.execution_date_time)),
    )


def _outcome_der(outcome: ExecutionOutcome) -> bytes:
    return der.sequence(
        der.integer(outcome.seq_number),
        der.integer(int(outcome.mode)),
        _changes_der(outcome.seq_number_changes),
        der.sequence(
            *(
                der.sequence(
                    _cell_der(o.cell),
                    der.integer(int(o.status), tag=der.ENUMERATED),
                    der.octet_string(o.existing_subject_unique_id),
                    der.octet_string(o.existing_subject_key_id),
                    der.octet_string(o.replacing_subject_unique_id),
                    der.octet_string(o.replacing_subject_key_id),
                )
                for o in outcome.outcomes
            )
        ),
    )


def _in_form(data: bytes, form: LengthForm) -> bytes:
    return data if form is LengthForm.DER else relength(data, form, field="payload")


def encode_response(response: UpdateSecurityCredentialsResponse) -> bytes:
    """The response payload, its lengths written in ``response.length_form``."""
    outcome = response.execution_outcome
    return _in_form(
        der.sequence(der.null(), b"" if outcome is None else _outcome_der(outcome)),
        response.length_form,
    )


def encode_alert(alert: UpdateSecurityCredentialsAlert) -> bytes:
    """The alert payload, its lengths written in ``alert.length_form``."""
    return _in_form(
        der.sequence(
            der.integer(alert.alert_code),
            der.generalized_time(generalized_time(alert.execution_date_time)),
            _outcome_der(alert.execution_outcome),
        ),
        alert.length_form,
    )


def encode_payload(payload: Payload) -> bytes:
    if isinstance(payload, UpdateSecurityCredentials):
        return encode_update_security_credentials(payload)
    if isinstance(payload, UpdateSecurityCredentialsResponse):
        return encode_response(payload)
    return encode_alert(payload)


# ---------------------------------------------------------------------------------- decoding
#
# asn1crypto parses lazily and raises ValueError, TypeError and friends from deep inside.
# ``_load`` checks the BER framing first (offsets in messages); the values are then built under
# ``_at``, which turns any asn1crypto failure into InvalidGbcs naming the field (the innermost
# ``_at`` names it most precisely; the whole decode runs under one too).

_ASN1_FAILURES = (ValueError, TypeError, KeyError, IndexError, OverflowError, AttributeError)


def _at(field: str, step: Callable[[], T]) -> T:
    try:
        return step()
    except InvalidGbcs:
        raise
    except _ASN1_FAILURES as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InvalidGbcs(f"not as GBCS defines it ({reason})", field=field) from None


def _present(value: Any) -> bool:  # noqa: ANN401 — an asn1crypto value
    return not isinstance(value, core.Void)


def _int(value: Any, field: str) -> int:  # noqa: ANN401 — an asn1crypto value
    # An ENUMERATED's native form is its name: read its number (unknown numbers included).
    read = (lambda: int(value)) if isinstance(value, core.Enumerated) else (lambda: value.native)
    native = _at(field, read)
    if isinstance(native, bool) or not isinstance(native, int):
        raise InvalidGbcs(f"expected an integer, found {native!r}", field=field)
    return native


def _seq_number(value: Any, field: str) -> int:  # noqa: ANN401 — an asn1crypto value
    return check_counter(_int(value, field), field=field)


def _enum(kind: type[enum.IntEnum], value: int, field: str) -> Any:  # noqa: ANN401
    try:
        return kind(value)
    except ValueError:
        known = ", ".join(f"{m.value} ({m.name})" for m in kind)
        raise InvalidGbcs(f"{value} is not one of {known}", field=field) from None


def _cell(value: Any, field: str) -> TrustAnchorCell:  # noqa: ANN401 — an asn1crypto value
    role = _enum(
        RemotePartyRole,
        _int(value["remotePartyRole"], f"{field}.remotePartyRole"),
        f"{field}.remotePartyRole",
    )
    bits = _at(f"{field}.keyUsage", lambda: value["keyUsage"].native)
    usages = {name: usage for usage, name in _KEY_USAGE_NAMES.items()}
    if not isinstance(bits, set) or len(bits) != 1 or next(iter(bits)) not in usages:
        raise InvalidGbcs(
            "a trust anchor cell has digitalSignature or keyAgreement, "
            f"found {sorted(map(str, bits or []))}",
            field=f"{field}.keyUsage",
        )
    cell_usage = _int(value["cellUsage"], f"{field}.cellUsage")
    cells = {code: usage for usage, code in _CELL_USAGE_CODES.items()}
    if cell_usage not in cells:
        raise InvalidGbcs(
            f"{cell_usage} is not 0 (management) or 1 (prePaymentTopUp)", field=f"{field}.cellUsage"
        )
    return TrustAnchorCell(role, usages[next(iter(bits))], cells[cell_usage])


def _specialists(value: Any, field: str) -> tuple[SpecialistSeqNumber, ...]:  # noqa: ANN401
    return tuple(
        SpecialistSeqNumber(
            _enum(
                SeqNumberUsage,
                _int(item["seqNumberUsage"], f"{field}[{i}].seqNumberUsage"),
                f"{field}[{i}].seqNumberUsage",
            ),
            _seq_number(item["seqNumber"], f"{field}[{i}].seqNumber"),
        )
        for i, item in enumerate(_at(field, lambda: list(value)))
    )


def _changes(value: Any, field: str) -> tuple[RemotePartySeqNumberChange, ...]:  # noqa: ANN401
    out = []
    for i, item in enumerate(_at(field, lambda: list(value))):
        at = f"{field}[{i}]"
        specialists = item["specialistFloorSeqNumber"]
        out.append(
            RemotePartySeqNumberChange(
                role=_enum(
                    RemotePartyRole,
                    _int(item["remotePartyRole"], f"{at}.remotePartyRole"),
                    f"{at}.remotePartyRole",
                ),
                floor_seq_number=_seq_number(item["floorSeqNumber"], f"{at}.floorSeqNumber"),
                specialist_floor_seq_numbers=_specialists(
                    specialists, f"{at}.specialistFloorSeqNumber"
                )
                if _present(specialists)
                else None,
            )
        )
    return tuple(out)


def _octets(value: Any, field: str) -> bytes:  # noqa: ANN401 — an asn1crypto value
    native = _at(field, lambda: value.native)
    if not isinstance(native, bytes):
        raise InvalidGbcs("expected an OCTET STRING", field=field)
    return native


def _time(value: Any, field: str) -> datetime:  # noqa: ANN401 — an asn1crypto value
    native = _at(field, lambda: value.native)
    if not isinstance(native, datetime) or native.tzinfo is None:
        raise InvalidGbcs(f"expected a GeneralizedTime in UTC, found {native!r}", field=field)
    if native.microsecond:
        raise InvalidGbcs("GBCS carries whole seconds (YYYYMMDDhhmmssZ)", field=field)
    return native


def _certificate_der(value: Any, field: str) -> bytes:  # noqa: ANN401 — an asn1crypto value
    return check_certificate(_at(field, lambda: bytes(value.dump())), field=field)


def _control(value: Any) -> AuthorisingRemotePartyControl:  # noqa: ANN401
    f = "authorisingRemotePartyControl"

    def field(name: str) -> Any:  # noqa: ANN401 — an asn1crypto value
        return _at(f"{f}.{name}", lambda: value[name])

    key = field("plaintextSymmetricKey")
    cpv = field("applyTimeBasedCPVChecks")
    cell = field("authorisingRemotePartyTACellIdentifier")
    floor = field("newRemotePartyFloorSeqNumber")
    specialists = field("newRemotePartySpecialistFloorSeqNumber")
    changes = field("otherRemotePartySeqNumberChanges")
    mode = f"{f}.credentialsReplacementMode"
    return AuthorisingRemotePartyControl(
        mode=_enum(
            CredentialsReplacementMode, _int(field("credentialsReplacementMode"), mode), mode
        ),
        seq_number=_seq_number(
            field("authorisingRemotePartySeqNumber"), f"{f}.authorisingRemotePartySeqNumber"
        ),
        authorising_cell=_cell(cell, f"{f}.authorisingRemotePartyTACellIdentifier")
        if _present(cell)
        else None,
        plaintext_symmetric_key=_octets(key, f"{f}.plaintextSymmetricKey")
        if _present(key)
        else None,
        apply_time_based_cpv_checks=_enum(
            CpvChecks, _int(cpv, f"{f}.applyTimeBasedCPVChecks"), f"{f}.applyTimeBasedCPVChecks"
        )
        if _present(cpv)
        else None,
        new_remote_party_floor_seq_number=_seq_number(floor, f"{f}.newRemotePartyFloorSeqNumber")
        if _present(floor)
        else None,
        new_remote_party_specialist_floor_seq_numbers=_specialists(
            specialists, f"{f}.newRemotePartySpecialistFloorSeqNumber"
        )
        if _present(specialists)
        else None,
        other_remote_party_seq_number_changes=_changes(
            changes, f"{f}.otherRemotePartySeqNumberChanges"
        )
        if _present(changes)
        else None,
    )


def _load(kind: type[Any], data: bytes, name: str) -> Any:  # noqa: ANN401
    """Check the BER framing (with offsets), then let asn1crypto parse ``data`` as ``kind``."""
    if not isinstance(data, bytes):
        raise InvalidGbcs(f"expected bytes, not {type(data).__name__}", field=name)
    top = single_element(data, field=name)
    if data[top.offset] != _SEQUENCE_TAG:
        raise InvalidGbcs(
            f"expected a SEQUENCE (0x30), found 0x{data[0]:02X}", offset=0, field=name
        )
    return _at(name, lambda: kind.load(data, strict=True))


def decode_update_security_credentials(data: bytes) -> UpdateSecurityCredentials:
    """Read a CS02b command payload. Raises ``InvalidGbcs`` naming the field at fault.

    Canonical DER (what ``encode_update_security_credentials`` writes) is read by
    ``canonical.read_command``; anything else, refusals included, by asn1crypto."""
    if isinstance(data, bytes):
        read = canonical.read_command(data)
        if read is not None:
            return read
    return _asn1_command(data)


def _asn1_command(data: bytes) -> UpdateSecurityCredentials:
    name = "UpdateSecurityCredentials"
    value = _load(asn1.UpdateSecurityCredentials, data, name)
    return _at(name, lambda: _update_security_credentials(value))


def _update_security_credentials(value: Any) -> UpdateSecurityCredentials:  # noqa: ANN401
    replacements = []
    for i, item in enumerate(_at("replacements", lambda: list(value["replacements"]))):
        at = f"replacements[{i}]"
        replacements.append(
            TrustAnchorReplacement(
                _certificate_der(item["replacementCertificate"], f"{at}.replacementCertificate"),
                _cell(item["targetTrustAnchorCell"], f"{at}.targetTrustAnchorCell"),
            )
        )
    path = tuple(
        _certificate_der(c, f"certificationPathCertificates[{i}]")
        for i, c in enumerate(
            _at(
                "certificationPathCertificates",
                lambda: list(value["certificationPathCertificates"]),
            )
        )
    )
    when = value["executionDateTime"]
    return UpdateSecurityCredentials(
        control=_control(value["authorisingRemotePartyControl"]),
        replacements=tuple(replacements),
        certification_path=path,
        execution_date_time=_time(when, "executionDateTime") if _present(when) else None,
    )


def _execution_outcome(value: Any, f: str) -> ExecutionOutcome:  # noqa: ANN401
    outcomes = []
    for i, item in enumerate(
        _at(f"{f}.replacementOutcomes", lambda: list(value["replacementOutcomes"]))
    ):
        at = f"{f}.replacementOutcomes[{i}]"
        outcomes.append(
            ReplacementOutcome(
                cell=_cell(item["affectedTrustAnchorCell"], f"{at}.affectedTrustAnchorCell"),
                status=_enum(
                    StatusCode, _int(item["statusCode"], f"{at}.statusCode"), f"{at}.statusCode"
                ),
                existing_subject_unique_id=_octets(
                    item["existingSubjectUniqueID"], f"{at}.existingSubjectUniqueID"
                ),
                existing_subject_key_id=_octets(
                    item["existingSubjectKeyIdentifier"], f"{at}.existingSubjectKeyIdentifier"
                ),
                replacing_subject_unique_id=_octets(
                    item["replacingSubjectUniqueID"], f"{at}.replacingSubjectUniqueID"
                ),
                replacing_subject_key_id=_octets(
                    item["replacingSubjectKeyIdentifier"], f"{at}.replacingSubjectKeyIdentifier"
                ),
            )
        )
    mode = f"{f}.credentialsReplacementMode"
    return ExecutionOutcome(
        seq_number=_seq_number(
            value["authorisingRemotePartySeqNumber"], f"{f}.authorisingRemotePartySeqNumber"
        ),
        mode=_enum(
            CredentialsReplacementMode, _int(value["credentialsReplacementMode"], mode), mode
        ),
        seq_number_changes=_changes(
            value["remotePartySeqNumberChanges"], f"{f}.remotePartySeqNumberChanges"
        ),
        outcomes=tuple(outcomes),
    )


def _form(data: bytes, name: str) -> LengthForm:
    return length_form(data, field=name) or LengthForm.DER


def decode_response(data: bytes) -> UpdateSecurityCredentialsResponse:
    """Read a CS02b response payload (BER lengths accepted; ``length_form`` records them).

    Canonical DER is read by ``canonical.read_response``; anything else by asn1crypto."""
    if isinstance(data, bytes):
        read = canonical.read_response(data)
        if read is not None:
            return read
    return _asn1_response(data)


def _asn1_response(data: bytes) -> UpdateSecurityCredentialsResponse:
    name = "UpdateSecurityCredentialsResponse"
    value = _load(asn1.UpdateSecurityCredentialsResponse, data, name)

    def build() -> UpdateSecurityCredentialsResponse:
        _at("commandAccepted", lambda: value["commandAccepted"].native)
        outcome = value["executionOutcome"]
        return UpdateSecurityCredentialsResponse(
            execution_outcome=_execution_outcome(outcome, "executionOutcome")
            if _present(outcome)
            else None,
            length_form=_form(data, name),
        )

    return _at(name, build)


def decode_alert(data: bytes) -> UpdateSecurityCredentialsAlert:
    """Read a CS02b alert payload (message code 0x00CB)."""
    name = "UpdateSecurityCredentialsAlert"
    value = _load(asn1.UpdateSecurityCredentialsAlert, data, name)
    return _at(
        name,
        lambda: UpdateSecurityCredentialsAlert(
            alert_code=_int(value["alertCode"], "alertCode"),
            execution_date_time=_time(value["executionDateTime"], "executionDateTime"),
            execution_outcome=_execution_outcome(value["executionOutcome"], "executionOutcome"),
            length_form=_form(data, name),
        ),
    )
