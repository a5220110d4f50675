"""ASN.1 of the CS02b Update Security Credentials messages, as ``asn1crypto`` definitions.

Written for etmad from the structure GBCS gives these messages and checked against the RTDS
4.5.0 CS02b vectors (``docs/gbcs.md`` lists each field). Field names follow GBCS. Certificates
are kept as ``Any``: their DER is carried byte for byte, never re-encoded.
"""

from __future__ import annotations

from typing import ClassVar, Final

from asn1crypto import core

# KeyUsage ::= BIT STRING (X.509); a trust anchor cell names digitalSignature or keyAgreement.
KEY_USAGE_BITS: dict[int, str] = {
    0: "digitalSignature",
    1: "nonRepudiation",
    2: "keyEncipherment",
    3: "dataEncipherment",
    4: "keyAgreement",
    5: "keyCertSign",
    6: "cRLSign",
    7: "encipherOnly",
    8: "decipherOnly",
}


class KeyUsage(core.BitString):  # type: ignore[misc]
    _map: ClassVar[dict[int, str]] = KEY_USAGE_BITS


class TrustAnchorCellIdentifier(core.Sequence):  # type: ignore[misc]
    # CellUsage ::= INTEGER { management (0), prePaymentTopUp (1) } DEFAULT management
    _fields: ClassVar[list[tuple[object, ...]]] = [
        ("remotePartyRole", core.Integer),
        ("keyUsage", KeyUsage),
        ("cellUsage", core.Integer, {"default": 0}),
    ]


class SpecialistSeqNumber(core.Sequence):  # type: ignore[misc]
    # seqNumberUsage ::= INTEGER { prepaymentTopUp (0) }
    _fields: ClassVar[list[tuple[object, ...]]] = [
        ("seqNumberUsage", core.Integer),
        ("seqNumber", core.Integer),
    ]


class SpecialistSeqNumbers(core.SequenceOf):  # type: ignore[misc]
    _child_spec = SpecialistSeqNumber


class RemotePartySeqNumberChange(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[list[tuple[object, ...]]] = [
        ("remotePartyRole", core.Integer),
        ("floorSeqNumber", core.Integer),
        ("specialistFloorSeqNumber", SpecialistSeqNumbers, {"optional": True}),
    ]


class RemotePartySeqNumberChanges(core.SequenceOf):  # type: ignore[misc]
    _child_spec = RemotePartySeqNumberChange


# The IMPLICIT tags of AuthorisingRemotePartyControl's fields below, as the DER writer and the
# canonical reader (``credentials.py``, ``canonical.py``) write and expect them.
PLAINTEXT_SYMMETRIC_KEY_TAG: Final = 0x80  # [0] OCTET STRING
APPLY_TIME_BASED_CPV_CHECKS_TAG: Final = 0x81  # [1] INTEGER
AUTHORISING_CELL_TAG: Final = 0xA2  # [2] TrustAnchorCellIdentifier (constructed)
AUTHORISING_SEQ_NUMBER_TAG: Final = 0x83  # [3] INTEGER
NEW_FLOOR_SEQ_NUMBER_TAG: Final = 0x84  # [4] INTEGER
NEW_SPECIALIST_FLOOR_SEQ_NUMBERS_TAG: Final = 0xA5  # [5] SpecialistSeqNumbers (constructed)
OTHER_SEQ_NUMBER_CHANGES_TAG: Final = 0xA6  # [6] RemotePartySeqNumberChanges (constructed)


class AuthorisingRemotePartyControl(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[list[tuple[object, ...]]] = [
        ("credentialsReplacementMode", core.Integer),
        ("plaintextSymmetricKey", core.OctetString, {"implicit": 0, "optional": True}),
        # INTEGER { apply (0), disapply (1) }
        ("applyTimeBasedCPVChecks", core.Integer, {"implicit": 1, "optional": True}),
        (
            "authorisingRemotePartyTACellIdentifier",
            TrustAnchorCellIdentifier,
            {"implicit": 2, "optional": True},
        ),
        ("authorisingRemotePartySeqNumber", core.Integer, {"implicit": 3}),
        ("newRemotePartyFloorSeqNumber", core.Integer, {"implicit": 4, "optional": True}),
        (
            "newRemotePartySpecialistFloorSeqNumber",
            SpecialistSeqNumbers,
            {"implicit": 5, "optional": True},
        ),
        (
            "otherRemotePartySeqNumberChanges",
            RemotePartySeqNumberChanges,
            {"implicit": 6, "optional": True},
        ),
    ]


class TrustAnchorReplacement(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[list[tuple[object, ...]]] = [
        ("replacementCertificate", core.Any),
        ("targetTrustAnchorCell", TrustAnchorCellIdentifier),
    ]


class TrustAnchorReplacements(core.SequenceOf):  # type: ignore[misc]
    _child_spec = TrustAnchorReplacement


class Certificates(core.SequenceOf):  # type: ignore[misc]
    _child_spec = core.Any


class UpdateSecurityCredentials(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[list[tuple[object, ...]]] = [
        ("authorisingRemotePartyControl", AuthorisingRemotePartyControl),
        ("replacements", TrustAnchorReplacements),
        ("certificationPathCertificates", Certificates),
        ("executionDateTime", core.GeneralizedTime, {"optional": True}),
    ]


class StatusCode(core.Enumerated):  # type: ignore[misc]
    _map: ClassVar[dict[int, str]] = {
        0: "success",
        5: "badCertificate",
        10: "noTrustAnchor",
        17: "insufficientMemory",
        25: "trustAnchorNotFound",
        30: "resourcesBusy",
        127: "other",
    }


class ReplacementOutcome(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[list[tuple[object, ...]]] = [
        ("affectedTrustAnchorCell", TrustAnchorCellIdentifier),
        ("statusCode", StatusCode),
        ("existingSubjectUniqueID", core.OctetString),
        ("existingSubjectKeyIdentifier", core.OctetString),
        ("replacingSubjectUniqueID", core.OctetString),
        ("replacingSubjectKeyIdentifier", core.OctetString),
    ]


class ReplacementOutcomes(core.SequenceOf):  # type: ignore[misc]
    _child_spec = ReplacementOutcome


class ExecutionOutcome(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[list[tuple[object, ...]]] = [
        ("authorisingRemotePartySeqNumber", core.Integer),
        ("credentialsReplacementMode", core.Integer),
        ("remotePartySeqNumberChanges", RemotePartySeqNumberChanges),
        ("replacementOutcomes", ReplacementOutcomes),
    ]


class UpdateSecurityCredentialsResponse(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[list[tuple[object, ...]]] = [
        ("commandAccepted", core.Null),
        ("executionOutcome", ExecutionOutcome, {"optional": True}),
    ]


class UpdateSecurityCredentialsAlert(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[list[tuple[object, ...]]] = [
        ("alertCode", core.Integer),
        ("executionDateTime", core.GeneralizedTime),
        ("executionOutcome", ExecutionOutcome),
    ]
