"""The two CS02b commands of the Change of Supplier world, built from their business inputs.

- ``supplier_by_transcos`` (mode 7, message code 0x0107): SRV 6.23 'CoS Update Security
  Credentials'. The CoS Party, authorising from the Device's transitionalCoS cell, puts the
  new Supplier's certificates into the Supplier cells and sets the Supplier's floor sequence
  numbers.
- ``transcos_by_transcos`` (mode 6, message code 0x0106): the ECoS migration. The party in the
  transitionalCoS cell replaces that cell's certificate.

Both mirror the RTDS 4.5.0 vectors field for field (``docs/gbcs.md``). The command's
authorising sequence number is the originator counter of the header that will carry it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final

from adapters.codecs.gbcs.payload import (
    AuthorisingRemotePartyControl,
    CpvChecks,
    CredentialsReplacementMode,
    RemotePartySeqNumberChange,
    SeqNumberUsage,
    SpecialistSeqNumber,
    TrustAnchorReplacement,
    UpdateSecurityCredentials,
)
from domain.smki import CellUsage, KeyUsage, RemotePartyRole, TrustAnchorCell

TRANSCOS_CELL: Final = TrustAnchorCell(
    RemotePartyRole.TRANSITIONAL_COS, KeyUsage.DIGITAL_SIGNATURE, CellUsage.MANAGEMENT
)
SUPPLIER_DIGITAL_SIGNING_CELL: Final = TrustAnchorCell(
    RemotePartyRole.SUPPLIER, KeyUsage.DIGITAL_SIGNATURE, CellUsage.MANAGEMENT
)
SUPPLIER_KEY_AGREEMENT_CELL: Final = TrustAnchorCell(
    RemotePartyRole.SUPPLIER, KeyUsage.KEY_AGREEMENT, CellUsage.MANAGEMENT
)
SUPPLIER_TOP_UP_KEY_AGREEMENT_CELL: Final = TrustAnchorCell(
    RemotePartyRole.SUPPLIER, KeyUsage.KEY_AGREEMENT, CellUsage.PREPAYMENT_TOP_UP
)


def supplier_by_transcos(
    *,
    counter: int,
    digital_signing: bytes,
    certification_path: Sequence[bytes],
    supplier_floor_seq_number: int,
    apply_time_based_cpv_checks: CpvChecks | None,
    key_agreement: bytes | None = None,
    key_agreement_top_up: bytes | None = None,
    supplier_prepayment_top_up_floor_seq_number: int | None = None,
    execution_date_time: datetime | None = None,
) -> UpdateSecurityCredentials:
    """The mode-7 payload of SRV 6.23, from the fields of the DUIS request (DER certificates).

    ``apply_time_based_cpv_checks`` is the GBCS field as sent: None leaves it out (as the
    RTDS 6.23 vector does), ``CpvChecks.DISAPPLY`` sends 1. ``execution_date_time`` makes the
    command future-dated.
    """
    replacements = [TrustAnchorReplacement(digital_signing, SUPPLIER_DIGITAL_SIGNING_CELL)]
    if key_agreement is not None:
        replacements.append(TrustAnchorReplacement(key_agreement, SUPPLIER_KEY_AGREEMENT_CELL))
    if key_agreement_top_up is not None:
        replacements.append(
            TrustAnchorReplacement(key_agreement_top_up, SUPPLIER_TOP_UP_KEY_AGREEMENT_CELL)
        )
    specialists = (
        None
        if supplier_prepayment_top_up_floor_seq_number is None
        else (
            SpecialistSeqNumber(
                SeqNumberUsage.PREPAYMENT_TOP_UP, supplier_prepayment_top_up_floor_seq_number
            ),
        )
    )
    return UpdateSecurityCredentials(
        control=AuthorisingRemotePartyControl(
            mode=CredentialsReplacementMode.SUPPLIER_BY_TRANSCOS,
            seq_number=counter,
            authorising_cell=TRANSCOS_CELL,
            apply_time_based_cpv_checks=apply_time_based_cpv_checks,
            other_remote_party_seq_number_changes=(
                RemotePartySeqNumberChange(
                    role=RemotePartyRole.SUPPLIER,
                    floor_seq_number=supplier_floor_seq_number,
                    specialist_floor_seq_numbers=specialists,
                ),
            ),
        ),
        replacements=tuple(replacements),
        certification_path=tuple(certification_path),
        execution_date_time=execution_date_time,
    )


def transcos_by_transcos(
    *,
    counter: int,
    replacement: bytes,
    certification_path: Sequence[bytes],
    apply_time_based_cpv_checks: CpvChecks | None,
    execution_date_time: datetime | None = None,
) -> UpdateSecurityCredentials:
    """The mode-6 payload of the migration: ``replacement`` (DER) into the transitionalCoS
    cell. The RTDS vector sends ``apply_time_based_cpv_checks=CpvChecks.DISAPPLY``."""
    return UpdateSecurityCredentials(
        control=AuthorisingRemotePartyControl(
            mode=CredentialsReplacementMode.TRANSCOS_BY_TRANSCOS,
            seq_number=counter,
            authorising_cell=TRANSCOS_CELL,
            apply_time_based_cpv_checks=apply_time_based_cpv_checks,
        ),
        replacements=(TrustAnchorReplacement(replacement, TRANSCOS_CELL),),
        certification_path=tuple(certification_path),
        execution_date_time=execution_date_time,
    )
