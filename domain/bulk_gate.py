"""The Bulk Migration gate of a Device Model (ETMAD 1.6, 6.1(b), 6.2, section 2): a policy.

* **Proven** — the 6.1(b) evidence exists: on a Device of the model, or of a Device Model with
  the same manufacturer, model and hardware version and a *later* firmware (6.2), the TCoS
  certificate was replaced (by an ECoS one, or a different TCoS one) and *subsequently* an
  SRV 6.23 was processed. The evidence is a pair of event references.
* **Authorised** — the DCC's recorded 1.6 decision that it is reasonably satisfied; made by an
  operator, or automatically by the configured policy the moment the evidence appears.
* **Cap** — before that decision no more than the Bulk Migration number (DCC-defined, never
  above 300) of the model's Devices may be migrated.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final

import attrs

from domain import clauses
from domain.device import ProvingPair
from domain.device_model import Authorisation, BulkMigrationAuthorised, DeviceModel
from domain.errors import RuleViolation
from domain.identifiers import DeviceModelKey

BULK_MIGRATION_CEILING: Final = 300
AUTO_AUTHORISE_POLICY: Final = "policy:authorise-bulk-on-proof.v1"


def bulk_migration_number(value: int) -> int:
    """Validate the DCC-defined Bulk Migration number: 0..300 (section 2)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not (0 <= value <= BULK_MIGRATION_CEILING)
    ):
        raise RuleViolation(
            f"the Bulk Migration number must be a whole number from 0 to "
            f"{BULK_MIGRATION_CEILING}, not {value!r}: until proving succeeds no more than 300 "
            "Devices of a Device Model shall be migrated",
            code="INVALID_BULK_MIGRATION_NUMBER",
            clause=clauses.ETMAD_2_BULK,
        )
    return value


def find_proof(model: DeviceModel, siblings: Sequence[DeviceModel]) -> ProvingPair | None:
    """The 6.1(b) evidence in force for ``model``: its own first, else that of a sibling
    with a later firmware (6.2). Siblings of another family or an earlier firmware never
    count."""
    if model.proving is not None:
        return model.proving
    later = sorted(
        (
            s
            for s in siblings
            if s.key.is_sibling_of(model.key) and s.firmware_rank > model.firmware_rank
        ),
        key=lambda s: s.firmware_rank,
        reverse=True,
    )
    return next((s.proving for s in later if s.proving is not None), None)


@attrs.frozen
class GateReason:
    code: str
    clause: str
    detail: str


@attrs.frozen(kw_only=True)
class BulkGate:
    """The gate's state for one Device Model at one time."""

    model: DeviceModelKey
    as_of: datetime
    proven: bool
    proven_by: ProvingPair | None
    authorised: bool
    authorisation: Authorisation | None
    cap: int
    migrations_started: int
    may_start: bool
    suspended: bool
    non_migratable: bool
    reasons: tuple[GateReason, ...]


def assess_bulk_gate(
    model: DeviceModel, siblings: Sequence[DeviceModel], *, as_of: datetime, cap: int
) -> BulkGate:
    """Whether another migration of the model may start, and why not where it may not."""
    cap = bulk_migration_number(cap)
    proof = find_proof(model, siblings)
    started = len(model.started_devices)
    authorised = model.authorisation is not None
    reasons: list[GateReason] = []
    if model.non_migratable is not None:
        reasons.append(
            GateReason(
                "NON_MIGRATABLE_MODEL",
                clauses.ETMAD_1_4_A,
                "the Device Model is categorised Non-Migratable",
            )
        )
    if model.suspension is not None:
        reasons.append(
            GateReason(
                "MODEL_SUSPENDED",
                clauses.ETMAD_6_1_D,
                f"migration is suspended: {model.suspension.reason}",
            )
        )
    if not authorised and started >= cap:
        reasons.append(
            GateReason(
                "BULK_CAP_REACHED",
                clauses.ETMAD_2_BULK,
                f"{started} of at most {cap} Devices started before the 1.6 decision",
            )
        )
    return BulkGate(
        model=model.key,
        as_of=as_of,
        proven=proof is not None,
        proven_by=proof,
        authorised=authorised,
        authorisation=model.authorisation,
        cap=cap,
        migrations_started=started,
        may_start=not reasons,
        suspended=model.suspension is not None,
        non_migratable=model.non_migratable is not None,
        reasons=tuple(reasons),
    )


def authorise_by_policy(
    model: DeviceModel, proof: ProvingPair | None, *, at: datetime, enabled: bool
) -> BulkMigrationAuthorised | None:
    """The configured 1.6 policy: record the decision the moment the 6.1(b) evidence appears
    for a model that has none yet, naming the policy as the decider."""
    if not enabled or proof is None or model.authorisation is not None:
        return None
    return model.authorise_bulk(
        at=at,
        decided_by=AUTO_AUTHORISE_POLICY,
        by_policy=True,
        rationale=(
            "6.1(b) evidence recorded: TCoS certificate replaced on Device "
            f"{proof.device_id} of {proof.model} and an SRV 6.23 processed after it"
            + ("" if proof.model == model.key else " (a later-firmware sibling, 6.2)")
        ),
        evidence=proof,
    )
