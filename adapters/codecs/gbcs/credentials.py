"""CS02b Update Security Credentials on the wire: ``encode_*`` writes the values of
``payload.py`` (DER, or a response's recorded length form), ``decode_*`` reads them strictly,
raising ``InvalidGbcs`` naming the field at fault. The ASN.1 is in ``asn1.py``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

from asn1crypto import core

from adapters.codecs.gbcs import asn1
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
_CELL_USAGE_CODES: Final = {CellUsage.MANAGEMENT: 0, CellUsage.PREPAYMENT_TOP_UP: 1}


# ---------------------------------------------------------------------------------- encoding


def _cell_asn(cell: TrustAnchorCell) -> dict[str, Any]:
    return {
        "remotePartyRole": int(cell.role),
        "keyUsage": {_KEY_USAGE_NAMES[KeyUsage(cell.key_usage)]},
        "cellUsage": _CELL_USAGE_CODES[CellUsage(cell.cell_usage)],
    }


def _specialists_asn(items: tuple[SpecialistSeqNumber, ...]) -> list[dict[str, int]]:
    return [{"seqNumberUsage": int(s.usage), "seqNumber": s.seq_number} for s in items]


def _changes_asn(items: tuple[RemotePartySeqNumberChange, ...]) -> list[dict[str, Any]]:
    out = []
    for change in items:
        item: dict[str, Any] = {
            "remotePartyRole": int(change.role),
            "floorSeqNumber": change.floor_seq_number,
        }
        if change.specialist_floor_seq_numbers is not None:
            item["specialistFloorSeqNumber"] = _specialists_asn(change.specialist_floor_seq_numbers)
        out.append(item)
    return out


def _control_asn(control: AuthorisingRemotePartyControl) -> dict[str, Any]:
    out: dict[str, Any] = {"credentialsReplacementMode": int(control.mode)}
    if control.plaintext_symmetric_key is not None:
        out["plaintextSymmetricKey"] = control.plaintext_symmetric_key
    if control.apply_time_based_cpv_checks is not None:
        out["applyTimeBasedCPVChecks"] = int(control.apply_time_based_cpv_checks)
    if control.authorising_cell is not None:
        out["authorisingRemotePartyTACellIdentifier"] = _cell_asn(control.authorising_cell)
    out["authorisingRemotePartySeqNumber"] = control.seq_number
    if control.new_remote_party_floor_seq_number is not None:
        out["newRemotePartyFloorSeqNumber"] = control.new_remote_party_floor_seq_number
    if control.new_remote_party_specialist_floor_seq_numbers is not None:
        out["newRemotePartySpecialistFloorSeqNumber"] = _specialists_asn(
            control.new_remote_party_specialist_floor_seq_numbers
        )
    if control.other_remote_party_seq_number_changes is not None:
        out["otherRemotePartySeqNumberChanges"] = _changes_asn(
            control.other_remote_party_seq_number_changes
        )
    return out


def generalized_time(moment: datetime) -> str:
    """``YYYYMMDDhhmmssZ`` in UTC (written here: asn1crypto does not pad years below 1000)."""
    utc = moment.astimezone(UTC)
    return (
        f"{utc.year:04d}{utc.month:02d}{utc.day:02d}{utc.hour:02d}{utc.minute:02d}{utc.second:02d}Z"
    )


def encode_update_security_credentials(payload: UpdateSecurityCredentials) -> bytes:
    """The DER of the command payload (certificates byte for byte as given)."""
    value = asn1.UpdateSecurityCredentials(
        {
            "authorisingRemotePartyControl": _control_asn(payload.control),
            "replacements": [
                {
                    "replacementCertificate": core.Any.load(r.certificate),
                    "targetTrustAnchorCell": _cell_asn(r.cell),
                }
                for r in payload.replacements
            ],
            "certificationPathCertificates": [core.Any.load(c) for c in payload.certification_path],
        }
    )
    if payload.execution_date_time is not None:
        value["executionDateTime"] = generalized_time(payload.execution_date_time)
    return bytes(value.dump())


def _outcome_asn(outcome: ExecutionOutcome) -> dict[str, Any]:
    return {
        "authorisingRemotePartySeqNumber": outcome.seq_number,
        "credentialsReplacementMode": int(outcome.mode),
        "remotePartySeqNumberChanges": _changes_asn(outcome.seq_number_changes),
        "replacementOutcomes": [
            {
                "affectedTrustAnchorCell": _cell_asn(o.cell),
                "statusCode": int(o.status),
                "existingSubjectUniqueID": o.existing_subject_unique_id,
                "existingSubjectKeyIdentifier": o.existing_subject_key_id,
                "replacingSubjectUniqueID": o.replacing_subject_unique_id,
                "replacingSubjectKeyIdentifier": o.replacing_subject_key_id,
            }
            for o in outcome.outcomes
        ],
    }


def _in_form(der: bytes, form: LengthForm) -> bytes:
    return der if form is LengthForm.DER else relength(der, form, field="payload")


def encode_response(response: UpdateSecurityCredentialsResponse) -> bytes:
    """The response payload, its lengths written in ``response.length_form``."""
    value = asn1.UpdateSecurityCredentialsResponse({"commandAccepted": None})
    if response.execution_outcome is not None:
        value["executionOutcome"] = _outcome_asn(response.execution_outcome)
    return _in_form(bytes(value.dump()), response.length_form)


def encode_alert(alert: UpdateSecurityCredentialsAlert) -> bytes:
    """The alert payload, its lengths written in ``alert.length_form``."""
    value = asn1.UpdateSecurityCredentialsAlert(
        {
            "alertCode": alert.alert_code,
            "executionDateTime": generalized_time(alert.execution_date_time),
            "executionOutcome": _outcome_asn(alert.execution_outcome),
        }
    )
    return _in_form(bytes(value.dump()), alert.length_form)


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
    """Read a CS02b command payload. Raises ``InvalidGbcs`` naming the field at fault."""
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
    """Read a CS02b response payload (BER lengths accepted; ``length_form`` records them)."""
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
