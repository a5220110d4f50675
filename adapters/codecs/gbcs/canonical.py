"""The fast way in: CS02b command and response payloads read from canonical DER without
asn1crypto (``credentials.py`` tries these readers first).

Each reader takes only what this codec itself writes: the fields in order with the tags of
``asn1.py``, DER lengths, non-negative integers in the fewest octets, a trust anchor cell's
key usage as one of the two bit strings a cell can carry and its cell usage left out when it
is management (DER omits a DEFAULT), every number within what its field allows. On anything
else a reader returns None, and ``credentials.py`` decodes the bytes with asn1crypto, which
also reads the other BER forms Devices write and refuses bad input naming the field at fault.
So a reader never refuses: when it answers, its answer is the one the asn1crypto decoder
gives (``tests/test_gbcs_fast_paths.py`` checks both on encoded and on damaged payloads).

Certificates are not read inside: each is checked as one well-formed SEQUENCE, nested no
deeper than the framing check of the whole payload allows at its place (remembered per
certificate), and carried byte for byte. Its own length must be DER too: the asn1crypto
decoder rewrites a longer header ending in octet 0x80 (it takes it for an indefinite length),
and a reader answers only what that decoder answers.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable
from typing import Final, TypeVar

from adapters.codecs.gbcs import asn1, der
from adapters.codecs.gbcs.ber import MAX_DEPTH, frame
from adapters.codecs.gbcs.der import DerReader, NotCanonical
from adapters.codecs.gbcs.errors import InvalidGbcs
from adapters.codecs.gbcs.header import MAX_COUNTER
from adapters.codecs.gbcs.payload import (
    AuthorisingRemotePartyControl,
    CpvChecks,
    CredentialsReplacementMode,
    ExecutionOutcome,
    RemotePartySeqNumberChange,
    ReplacementOutcome,
    SeqNumberUsage,
    SpecialistSeqNumber,
    StatusCode,
    TrustAnchorReplacement,
    UpdateSecurityCredentials,
    UpdateSecurityCredentialsResponse,
)
from domain.smki import CellUsage, KeyUsage, RemotePartyRole, TrustAnchorCell

E = TypeVar("E", bound=enum.IntEnum)
T = TypeVar("T")

# The content of the KeyUsage BIT STRING of each cell key usage (unused bits, then the bits).
_KEY_USAGES: Final = {
    b"\x07\x80": KeyUsage.DIGITAL_SIGNATURE,  # bit 0
    b"\x03\x08": KeyUsage.KEY_AGREEMENT,  # bit 4
}
_PREPAYMENT_TOP_UP: Final = 1  # CellUsage prePaymentTopUp; management (0) is left out
# How many constructed elements hold a certificate: the payload, its SEQUENCE OF, and (for a
# replacement certificate) the TrustAnchorReplacement.
_REPLACEMENT_CERTIFICATE_LEVEL: Final = 3
_PATH_CERTIFICATE_LEVEL: Final = 2


def read_command(data: bytes) -> UpdateSecurityCredentials | None:
    """The command payload, when ``data`` is in canonical DER; else None."""
    try:
        top = DerReader(data)
        payload = top.nested(der.SEQUENCE)
        top.done()
        control = _control(payload.nested(der.SEQUENCE))
        replacements = []
        listed = payload.nested(der.SEQUENCE)
        while listed.peek() is not None:
            item = listed.nested(der.SEQUENCE)
            certificate = _certificate(item, _REPLACEMENT_CERTIFICATE_LEVEL)
            replacements.append(TrustAnchorReplacement(certificate, _cell(item, der.SEQUENCE)))
            item.done()
        listed = payload.nested(der.SEQUENCE)
        path = []
        while listed.peek() is not None:
            path.append(_certificate(listed, _PATH_CERTIFICATE_LEVEL))
        payload.done()  # a future-dated command (executionDateTime) is read the general way
        return UpdateSecurityCredentials(
            control=control, replacements=tuple(replacements), certification_path=tuple(path)
        )
    except (NotCanonical, InvalidGbcs):
        return None


def read_response(data: bytes) -> UpdateSecurityCredentialsResponse | None:
    """The response payload, when ``data`` is in canonical DER; else None. Its lengths are
    then all in the fewest octets, so its ``length_form`` is DER."""
    try:
        top = DerReader(data)
        response = top.nested(der.SEQUENCE)
        top.done()
        response.null()
        outcome = None if response.peek() is None else _outcome(response.nested(der.SEQUENCE))
        response.done()
        return UpdateSecurityCredentialsResponse(execution_outcome=outcome)
    except (NotCanonical, InvalidGbcs):
        return None


def _certificate(reader: DerReader, level: int) -> bytes:
    """The next element, a certificate ``level`` constructed elements deep in the payload."""
    certificate = reader.raw(der.SEQUENCE)
    if level + _nesting(certificate) > MAX_DEPTH:
        raise NotCanonical
    return certificate


@functools.lru_cache(maxsize=256)
def _nesting(certificate: bytes) -> int:
    """How deep a certificate nests (raises ``InvalidGbcs`` for one that is not well-formed
    BER; ``check_certificate`` checks the rest when the payload values are built)."""
    return frame(certificate, field="certificate").depth


def _member(kind: type[E], value: int) -> E:
    try:
        return kind(value)
    except ValueError:
        raise NotCanonical from None


def _counter(reader: DerReader, tag: int = der.INTEGER) -> int:
    value = reader.integer(tag)
    if value > MAX_COUNTER:
        raise NotCanonical
    return value


def _cell(reader: DerReader, tag: int) -> TrustAnchorCell:
    cell = reader.nested(tag)
    role = _member(RemotePartyRole, cell.integer())
    usage = _KEY_USAGES.get(cell.octets(der.BIT_STRING))
    if usage is None:
        raise NotCanonical
    cell_usage = CellUsage.MANAGEMENT
    if cell.peek() is not None:
        if cell.integer() != _PREPAYMENT_TOP_UP:
            raise NotCanonical
        cell_usage = CellUsage.PREPAYMENT_TOP_UP
    cell.done()
    return TrustAnchorCell(role, usage, cell_usage)


def _specialists(reader: DerReader, tag: int) -> tuple[SpecialistSeqNumber, ...]:
    listed = reader.nested(tag)
    out = []
    while listed.peek() is not None:
        item = listed.nested(der.SEQUENCE)
        out.append(SpecialistSeqNumber(_member(SeqNumberUsage, item.integer()), _counter(item)))
        item.done()
    return tuple(out)


def _changes(reader: DerReader, tag: int) -> tuple[RemotePartySeqNumberChange, ...]:
    listed = reader.nested(tag)
    out = []
    while listed.peek() is not None:
        item = listed.nested(der.SEQUENCE)
        role = _member(RemotePartyRole, item.integer())
        floor = _counter(item)
        specialists = None if item.peek() is None else _specialists(item, der.SEQUENCE)
        item.done()
        out.append(
            RemotePartySeqNumberChange(
                role=role, floor_seq_number=floor, specialist_floor_seq_numbers=specialists
            )
        )
    return tuple(out)


def _optional(reader: DerReader, tag: int, read: Callable[[DerReader, int], T]) -> T | None:
    """An OPTIONAL field: read when its tag is next, else absent."""
    return read(reader, tag) if reader.peek() == tag else None


def _cpv_checks(reader: DerReader, tag: int) -> CpvChecks:
    return _member(CpvChecks, reader.integer(tag))


def _control(reader: DerReader) -> AuthorisingRemotePartyControl:
    """The fields in the order ``asn1.py`` gives them."""
    mode = _member(CredentialsReplacementMode, reader.integer())
    key = _optional(reader, asn1.PLAINTEXT_SYMMETRIC_KEY_TAG, DerReader.octets)
    cpv = _optional(reader, asn1.APPLY_TIME_BASED_CPV_CHECKS_TAG, _cpv_checks)
    cell = _optional(reader, asn1.AUTHORISING_CELL_TAG, _cell)
    seq_number = _counter(reader, asn1.AUTHORISING_SEQ_NUMBER_TAG)
    floor = _optional(reader, asn1.NEW_FLOOR_SEQ_NUMBER_TAG, _counter)
    specialists = _optional(reader, asn1.NEW_SPECIALIST_FLOOR_SEQ_NUMBERS_TAG, _specialists)
    changes = _optional(reader, asn1.OTHER_SEQ_NUMBER_CHANGES_TAG, _changes)
    reader.done()
    return AuthorisingRemotePartyControl(
        mode=mode,
        seq_number=seq_number,
        authorising_cell=cell,
        plaintext_symmetric_key=key,
        apply_time_based_cpv_checks=cpv,
        new_remote_party_floor_seq_number=floor,
        new_remote_party_specialist_floor_seq_numbers=specialists,
        other_remote_party_seq_number_changes=changes,
    )


def _outcome(reader: DerReader) -> ExecutionOutcome:
    seq_number = _counter(reader)
    mode = _member(CredentialsReplacementMode, reader.integer())
    changes = _changes(reader, der.SEQUENCE)
    listed = reader.nested(der.SEQUENCE)
    outcomes = []
    while listed.peek() is not None:
        item = listed.nested(der.SEQUENCE)
        outcomes.append(
            ReplacementOutcome(
                cell=_cell(item, der.SEQUENCE),
                status=_member(StatusCode, item.integer(der.ENUMERATED)),
                existing_subject_unique_id=item.octets(),
                existing_subject_key_id=item.octets(),
                replacing_subject_unique_id=item.octets(),
                replacing_subject_key_id=item.octets(),
            )
        )
        item.done()
    reader.done()
    return ExecutionOutcome(
        seq_number=seq_number, mode=mode, seq_number_changes=changes, outcomes=tuple(outcomes)
    )
