"""SRPD 8.4(f), 8.2(a) and 8.2A: when a Signed Pre-Command is "substantively identical" to the
SRV 6.23 request it was made from.

Both sides are read into one value, :class:`CredentialsUpdate` — what the command would change
on the Device — and :func:`compare` lists every difference between them (not the first only).
The request and the Pre-Command are **substantively identical** iff they have:

1. the same Device: the request's target (the Request ID's target EUI-64) is the Pre-Command's
   recipient (the Grouping Header's recipient system title);
2. the same replacement certificates in the same trust anchor cells: for every cell, the same
   certificate (by the SHA-256 of its DER bytes, byte for byte), no cell missing, no cell added
   and no cell named twice;
3. the same floor sequence numbers: the Supplier's floor sequence number, and the Supplier's
   prepayment top-up floor sequence number (both absent, or both the same number);
4. the same execution time: both immediate, or both future-dated to the same instant (compared
   as instants in UTC, to the second: GBCS carries ``YYYYMMDDhhmmssZ``).

The order of the replacements is **not** substantive: the request names its certificates by
role (digital signing, key agreement, top-up key agreement), not by position, and the Device
replaces and reports on each cell by its identity; a :class:`CredentialsUpdate` keeps its
replacements in cell order, so two orderings of the same replacements are the same value.

Not compared, and why:

- the authorising sequence number (the Grouping Header's originator counter): the CoS or TCoS
  Party's own counter towards the Device, unrelated to the Request ID counter; Replay is 8.4(g);
- the Grouping Header's originator and date-time, and the signature: who signed, and whether the
  signature verifies, is 8.4(a), (b) and the role check, or 8.4A(c) and (d) (ECDSA signatures
  differ each time the same bytes are signed);
- the certification path certificates (their content and order): the Device uses them to verify
  the replacements, it does not install them; their validity is Confirm Validity (8.4(b),
  8.4A(e)), and a different path cannot put a different certificate into a cell;
- the Certificate IDs of the replacements: the SHA-256 of the DER already covers the serial
  number and issuer; the ID is carried for the reader of a difference only;
- ``ApplyTimeBasedCPVChecks``: it says how the Device checks the replacements' validity
  periods, not what ends up in its cells (``docs/decisions.md`` records this reading);
- the Grouping Header's message code and the payload's mode: SRV 6.23 is made into a CS02b
  supplierByTransCoS command (mode 7, 0x0107); anything else is not well formed (8.4(c)) and is
  refused by the reader before any comparison;
- floor sequence numbers for parties other than the Supplier (the authorising party's own new
  floor, other roles' entries): SRV 6.23 cannot ask for them and the readers do not read them;
- the MPxN, the Command Variant, the Request ID counter and the rest of the DUIS envelope: they
  are not in the GBCS command; the MPxN and the variant are SRPD 6.1 checks (8.4(e)).

The caller reads both sides with the codecs (``adapters/codecs/substantive.py``); a Pre-Command
that is not a CS02b supplierByTransCoS command is not well formed (8.4(c)), not "different".
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Final

import attrs

from domain import clauses
from domain.errors import DomainError
from domain.identifiers import EUI64, CertificateId
from domain.smki import CellUsage, KeyUsage, RemotePartyRole, TrustAnchorCell

SHA256_LENGTH: Final = 32
MAX_SEQ_NUMBER: Final = (1 << 63) - 1  # GBCS sequence numbers are 0..2^63-1
SUBSTANTIVE_CLAUSES: Final = frozenset({clauses.SRPD_8_4_F, clauses.SRPD_8_2_A, clauses.SRPD_8_2A})
"""The clauses that ask for a substantively identical Pre-Command: the DCC's check (8.4(f)) and
the CoS and TCoS Parties' duty when they generate it (8.2(a), 8.2A)."""

_KEY_USAGE_ORDER: Final = {KeyUsage.DIGITAL_SIGNATURE: 0, KeyUsage.KEY_AGREEMENT: 1}
_CELL_USAGE_ORDER: Final = {CellUsage.MANAGEMENT: 0, CellUsage.PREPAYMENT_TOP_UP: 1}


class InvalidCredentialsUpdate(DomainError, ValueError):  # noqa: N818 — reads as the fact
    """A :class:`CredentialsUpdate` (or a part of it) was given a value it cannot hold."""

    code = "INVALID_CREDENTIALS_UPDATE"


def cell_order(cell: TrustAnchorCell) -> tuple[int, int, int]:
    """The order cells are listed in: by role, digital signing before key agreement, management
    before prepayment top-up (the order SRV 6.23 and the codec list the Supplier's cells)."""
    return (
        int(cell.role),
        _KEY_USAGE_ORDER[KeyUsage(cell.key_usage)],
        _CELL_USAGE_ORDER[CellUsage(cell.cell_usage)],
    )


def _digest(_instance: object, _attribute: object, value: bytes) -> None:
    if not isinstance(value, bytes) or len(value) != SHA256_LENGTH:
        raise InvalidCredentialsUpdate("a certificate's identity is the 32-octet SHA-256 digest")


@attrs.frozen
class CertificateIdentity:
    """Which certificate: the SHA-256 of its DER bytes. The Certificate ID (serial and issuer),
    when the reader could parse the certificate, is shown in differences but not compared."""

    sha256: bytes = attrs.field(validator=_digest)
    certificate_id: CertificateId | None = attrs.field(default=None, eq=False)

    @classmethod
    def of(cls, der: bytes, *, certificate_id: CertificateId | None = None) -> CertificateIdentity:
        """The identity of the certificate whose DER bytes are ``der``."""
        return cls(hashlib.sha256(der).digest(), certificate_id)

    def __str__(self) -> str:
        digest = self.sha256.hex()[:16]
        return digest if self.certificate_id is None else f"{self.certificate_id} ({digest}…)"


@attrs.frozen
class Replacement:
    """One certificate into one trust anchor cell."""

    cell: TrustAnchorCell
    certificate: CertificateIdentity


def _in_cell_order(replacements: Iterable[Replacement]) -> tuple[Replacement, ...]:
    # Stable: two replacements naming the same cell keep their order (compare reports them).
    return tuple(sorted(replacements, key=lambda r: cell_order(r.cell)))


def _seq_number(
    _instance: object, attribute: attrs.Attribute[int | None], value: int | None
) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEQ_NUMBER:
        raise InvalidCredentialsUpdate(
            f"{attribute.name} is a sequence number 0..2^63-1, not {value!r}"
        )


def _execution_time(_instance: object, _attribute: object, value: datetime | None) -> None:
    if value is None:
        return
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise InvalidCredentialsUpdate("the execution date-time is an aware datetime")
    if value.microsecond:
        raise InvalidCredentialsUpdate(
            "the execution date-time is whole seconds (GBCS carries YYYYMMDDhhmmssZ)"
        )


@attrs.frozen(kw_only=True)
class CredentialsUpdate:
    """What an SRV 6.23 request asks for, or what a CS02b supplierByTransCoS Pre-Command does:
    the Device, the replacements (kept in cell order), the Supplier's floor sequence number
    and prepayment top-up floor sequence number (None: absent), and the execution date-time
    (None: immediate; else aware, whole seconds)."""

    device: EUI64
    replacements: tuple[Replacement, ...] = attrs.field(converter=_in_cell_order)
    supplier_floor_seq_number: int | None = attrs.field(validator=_seq_number)
    prepayment_top_up_floor_seq_number: int | None = attrs.field(
        default=None, validator=_seq_number
    )
    execution_date_time: datetime | None = attrs.field(default=None, validator=_execution_time)

    def certificates_in(self, cell: TrustAnchorCell) -> tuple[CertificateIdentity, ...]:
        """The certificates this update puts into ``cell`` (more than one is not well made)."""
        return tuple(r.certificate for r in self.replacements if r.cell == cell)


class DifferenceCode(enum.StrEnum):
    """How a Pre-Command differs from its request. Stable: responses and reports match on it."""

    DIFFERENT_DEVICE = "DIFFERENT_DEVICE"
    DIFFERENT_CERTIFICATE_IN_CELL = "DIFFERENT_CERTIFICATE_IN_CELL"
    MISSING_REPLACEMENT = "MISSING_REPLACEMENT"
    EXTRA_REPLACEMENT = "EXTRA_REPLACEMENT"
    DUPLICATE_CELL = "DUPLICATE_CELL"
    DIFFERENT_FLOOR_SEQUENCE_NUMBER = "DIFFERENT_FLOOR_SEQUENCE_NUMBER"
    DIFFERENT_TOP_UP_FLOOR_SEQUENCE_NUMBER = "DIFFERENT_TOP_UP_FLOOR_SEQUENCE_NUMBER"
    DIFFERENT_EXECUTION_TIME = "DIFFERENT_EXECUTION_TIME"


@attrs.frozen(kw_only=True)
class Difference:
    """One difference, the clause it fails, and (for replacements) the cell it is about."""

    code: DifferenceCode
    clause: str
    detail: str
    cell: TrustAnchorCell | None = None


@attrs.frozen(kw_only=True)
class Sameness:
    """The decision: substantively identical or not, with every difference, and both sides."""

    clause: str
    request: CredentialsUpdate
    pre_command: CredentialsUpdate
    differences: tuple[Difference, ...]

    @property
    def identical(self) -> bool:
        return not self.differences

    def codes(self) -> tuple[DifferenceCode, ...]:
        """The codes of the differences, in the order they are listed."""
        return tuple(d.code for d in self.differences)


def _cell_text(cell: TrustAnchorCell) -> str:
    return f"{RemotePartyRole(cell.role).name} {cell.key_usage} {cell.cell_usage} cell"


def _when(moment: datetime | None) -> str:
    return "immediate" if moment is None else moment.isoformat()


def _number(value: int | None) -> str:
    return "absent" if value is None else str(value)


_Found = tuple[DifferenceCode, str, TrustAnchorCell | None]


def _device(request: CredentialsUpdate, pre_command: CredentialsUpdate) -> Iterator[_Found]:
    if request.device != pre_command.device:
        yield (
            DifferenceCode.DIFFERENT_DEVICE,
            f"the request is for Device {request.device}, the Pre-Command for {pre_command.device}",
            None,
        )


def _cell(
    cell: TrustAnchorCell,
    asked: tuple[CertificateIdentity, ...],
    done: tuple[CertificateIdentity, ...],
) -> Iterator[_Found]:
    for side, found in (("request", asked), ("Pre-Command", done)):
        if len(found) > 1:
            yield (
                DifferenceCode.DUPLICATE_CELL,
                f"the {side} names the {_cell_text(cell)} {len(found)} times",
                cell,
            )
    if not done:
        yield (
            DifferenceCode.MISSING_REPLACEMENT,
            (
                f"the request replaces the {_cell_text(cell)} with {asked[0]}, "
                "the Pre-Command does not replace it"
            ),
            cell,
        )
    elif not asked:
        yield (
            DifferenceCode.EXTRA_REPLACEMENT,
            (
                f"the Pre-Command replaces the {_cell_text(cell)} with {done[0]}, "
                "the request does not ask for it"
            ),
            cell,
        )
    elif set(asked) != set(done):
        yield (
            DifferenceCode.DIFFERENT_CERTIFICATE_IN_CELL,
            (
                f"the {_cell_text(cell)}: the request has {', '.join(map(str, asked))}, "
                f"the Pre-Command {', '.join(map(str, done))}"
            ),
            cell,
        )


def _replacements(request: CredentialsUpdate, pre_command: CredentialsUpdate) -> Iterator[_Found]:
    cells = {r.cell: None for r in (*request.replacements, *pre_command.replacements)}
    for cell in sorted(cells, key=cell_order):
        yield from _cell(cell, request.certificates_in(cell), pre_command.certificates_in(cell))


def _floors(request: CredentialsUpdate, pre_command: CredentialsUpdate) -> Iterator[_Found]:
    if request.supplier_floor_seq_number != pre_command.supplier_floor_seq_number:
        yield (
            DifferenceCode.DIFFERENT_FLOOR_SEQUENCE_NUMBER,
            (
                "Supplier floor sequence number: the request has "
                f"{_number(request.supplier_floor_seq_number)}, "
                f"the Pre-Command {_number(pre_command.supplier_floor_seq_number)}"
            ),
            None,
        )
    asked, done = (
        request.prepayment_top_up_floor_seq_number,
        pre_command.prepayment_top_up_floor_seq_number,
    )
    if asked != done:
        yield (
            DifferenceCode.DIFFERENT_TOP_UP_FLOOR_SEQUENCE_NUMBER,
            (
                "Supplier prepayment top-up floor sequence number: the request has "
                f"{_number(asked)}, the Pre-Command {_number(done)}"
            ),
            None,
        )


def _execution(request: CredentialsUpdate, pre_command: CredentialsUpdate) -> Iterator[_Found]:
    if request.execution_date_time != pre_command.execution_date_time:
        yield (
            DifferenceCode.DIFFERENT_EXECUTION_TIME,
            (
                f"execution: the request is {_when(request.execution_date_time)}, "
                f"the Pre-Command {_when(pre_command.execution_date_time)}"
            ),
            None,
        )


_ASPECTS: Final = (_device, _replacements, _floors, _execution)


def compare(
    request: CredentialsUpdate, pre_command: CredentialsUpdate, *, clause: str = clauses.SRPD_8_4_F
) -> Sameness:
    """Whether ``pre_command`` is substantively identical to ``request`` (the module docstring
    defines it), listing every difference — Device, then cells in cell order, then floor
    sequence numbers, then execution time — each citing ``clause``: SRPD 8.4(f) when the DCC
    checks a CoS Authorisation Response (the default), 8.2(a) or 8.2A when a CoS or TCoS Party
    checks the Pre-Command it generated."""
    if clause not in SUBSTANTIVE_CLAUSES:
        raise InvalidCredentialsUpdate(
            f"{clause!r} does not ask for a substantively identical Pre-Command; one of "
            f"{sorted(SUBSTANTIVE_CLAUSES)}"
        )
    return Sameness(
        clause=clause,
        request=request,
        pre_command=pre_command,
        differences=tuple(
            Difference(code=code, clause=clause, detail=detail, cell=cell)
            for aspect in _ASPECTS
            for code, detail, cell in aspect(request, pre_command)
        ),
    )
