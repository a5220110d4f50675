"""Remediation of Failed Migrations (ETMAD 1.7, 1.9-1.11): who owns it, what was done, and
with what outcome. Recorded on the Migration aggregate (``domain.migration``), after a series
completed unsuccessfully.

* The DCC completes remediation under the Error Handling and Retry Approach (1.7); Responsible
  Suppliers endeavour to resolve the issues that led to their Devices' Failed Migrations (1.9).
  Which of them owns a specific remediation follows root-cause analysis (DCC response para 47):
  the owner and the root cause are recorded.
* Where the Device's model is Non-Migratable or the issues cannot be resolved under 1.9, the
  Responsible Supplier upgrades the firmware to a version capable of ECoS Migration (1.10): the
  owner is the supplier and every action is a firmware upgrade naming that firmware.
* A Gas Proxy Function's remediation, firmware upgrade included, is always the DCC's (1.11;
  response para 50: the DCC is responsible for Communications Hub firmware).
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Final

import attrs

from domain import clauses
from domain.errors import RuleViolation
from domain.events import DomainEvent, utc
from domain.identifiers import DeviceModelKey, DeviceType


class RemediationBasis(enum.StrEnum):
    """What a remediation answers."""

    FAILED_MIGRATION = "failed_migration"  # the issue behind the Failed Migration (1.7, 1.9)
    NON_MIGRATABLE_MODEL = "non_migratable_model"  # the Device Model is Non-Migratable (1.10)
    ISSUES_UNRESOLVED = "issues_unresolved"  # could not be resolved under 1.9 (1.10)


class RemediationOwner(enum.StrEnum):
    """Who owns a remediation, from root-cause analysis."""

    DCC = "DCC"
    RESPONSIBLE_SUPPLIER = "responsible_supplier"


class RemediationActionKind(enum.StrEnum):
    COMMUNICATIONS_FIX = "communications_fix"
    FIRMWARE_UPGRADE = "firmware_upgrade"  # to a firmware capable of ECoS Migration (1.10)
    DEVICE_REPLACEMENT = "device_replacement"
    OTHER = "other"


class ActionOutcome(enum.StrEnum):
    RESOLVED = "resolved"  # the issue behind the Failed Migration is resolved
    NOT_RESOLVED = "not_resolved"


FIRMWARE_BASES: Final = frozenset(
    {RemediationBasis.NON_MIGRATABLE_MODEL, RemediationBasis.ISSUES_UNRESOLVED}
)

# --- events (folded by the Migration aggregate) ---------------------------------------------


@attrs.frozen(kw_only=True)
class RemediationAssigned(DomainEvent):
    TYPE = "etmad.migration.RemediationAssigned.v1"
    remediation: int
    series: int  # the series that completed unsuccessfully
    device_type: DeviceType
    basis: RemediationBasis
    owner: RemediationOwner
    responsible_supplier: str | None
    root_cause: str
    clause: str


@attrs.frozen(kw_only=True)
class RemediationActionRecorded(DomainEvent):
    TYPE = "etmad.migration.RemediationActionRecorded.v1"
    remediation: int
    action: RemediationActionKind
    detail: str
    outcome: ActionOutcome
    to_model: DeviceModelKey | None  # the capable firmware, for a firmware upgrade
    clause: str


# --- state ----------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class RemediationAction:
    at: datetime
    kind: RemediationActionKind
    detail: str
    outcome: ActionOutcome
    to_model: DeviceModelKey | None


@attrs.frozen(kw_only=True)
class Remediation:
    number: int
    assigned_at: datetime
    series: int
    basis: RemediationBasis
    owner: RemediationOwner
    responsible_supplier: str | None
    root_cause: str
    clause: str
    actions: tuple[RemediationAction, ...] = ()

    @classmethod
    def assigned(cls, event: RemediationAssigned, at: datetime) -> Remediation:
        return cls(
            number=event.remediation,
            assigned_at=at,
            series=event.series,
            basis=event.basis,
            owner=event.owner,
            responsible_supplier=event.responsible_supplier,
            root_cause=event.root_cause,
            clause=event.clause,
        )

    def with_action(self, event: RemediationActionRecorded, at: datetime) -> Remediation:
        action = RemediationAction(
            at=at,
            kind=event.action,
            detail=event.detail,
            outcome=event.outcome,
            to_model=event.to_model,
        )
        return attrs.evolve(self, actions=(*self.actions, action))

    @property
    def resolved(self) -> bool:
        return bool(self.actions) and self.actions[-1].outcome is ActionOutcome.RESOLVED

    @property
    def last_at(self) -> datetime:
        return self.actions[-1].at if self.actions else self.assigned_at


# --- rules ----------------------------------------------------------------------------------


def remediation_clause(
    *, device_type: DeviceType, basis: RemediationBasis, owner: RemediationOwner
) -> str:
    """The clause a remediation is under: 1.11 for a GPF, 1.10 for a firmware basis, else 1.7
    (the DCC's) or 1.9 (the Responsible Supplier's)."""
    if device_type is DeviceType.GPF:
        return clauses.ETMAD_1_11
    if basis in FIRMWARE_BASES:
        return clauses.ETMAD_1_10
    return clauses.ETMAD_1_7 if owner is RemediationOwner.DCC else clauses.ETMAD_1_9


def assign_remediation(
    *,
    at: datetime,
    number: int,
    series: int,
    device_type: DeviceType,
    basis: RemediationBasis,
    owner: RemediationOwner,
    root_cause: str,
    responsible_supplier: str | None,
) -> RemediationAssigned:
    """Who remediates, as root-cause analysis found, checked against 1.7 and 1.9-1.11."""
    gpf = device_type is DeviceType.GPF
    if gpf and owner is not RemediationOwner.DCC:
        raise RuleViolation(
            "a Gas Proxy Function's remediation, firmware upgrade included, is the DCC's",
            code="GPF_REMEDIATION_IS_DCCS",
            clause=clauses.ETMAD_1_11,
        )
    if not gpf and basis in FIRMWARE_BASES and owner is not RemediationOwner.RESPONSIBLE_SUPPLIER:
        raise RuleViolation(
            "where the model is Non-Migratable or the issues cannot be resolved, the "
            f"Responsible Supplier upgrades a {device_type}'s firmware",
            code="FIRMWARE_UPGRADE_IS_SUPPLIERS",
            clause=clauses.ETMAD_1_10,
        )
    if owner is RemediationOwner.RESPONSIBLE_SUPPLIER and not (responsible_supplier or "").strip():
        raise RuleViolation(
            "a remediation owned by the Responsible Supplier names the supplier",
            code="SUPPLIER_REQUIRED",
            clause=clauses.ETMAD_1_9,
        )
    if not root_cause.strip():
        raise RuleViolation(
            "a remediation records the root cause its owner was found from",
            code="ROOT_CAUSE_REQUIRED",
            clause=clauses.ETMAD_1_7,
        )
    return RemediationAssigned(
        occurred_at=utc(at),
        remediation=number,
        series=series,
        device_type=device_type,
        basis=basis,
        owner=owner,
        responsible_supplier=responsible_supplier,
        root_cause=root_cause,
        clause=remediation_clause(device_type=device_type, basis=basis, owner=owner),
    )


def record_action(
    remediation: Remediation,
    *,
    at: datetime,
    device_type: DeviceType,
    model: DeviceModelKey,
    action: RemediationActionKind,
    detail: str,
    outcome: ActionOutcome,
    to_model: DeviceModelKey | None,
) -> RemediationActionRecorded:
    """An action of ``remediation`` on a Device of ``model`` (the series' Device Model; a GPF's
    is its Communications Hub's). A firmware upgrade names another firmware of the same
    manufacturer, model and hardware version; that it is a *later* one is the application's
    check (it needs the firmware ranks)."""
    at = utc(at)
    number = remediation.number
    if remediation.resolved:
        raise RuleViolation(
            f"remediation {number} is resolved",
            code="REMEDIATION_RESOLVED",
            clause=remediation.clause,
        )
    if at < remediation.last_at:
        raise RuleViolation(
            f"{at.isoformat()} precedes the last step of remediation {number} at "
            f"{remediation.last_at.isoformat()}",
            code="OUT_OF_ORDER",
        )
    if not detail.strip():
        raise RuleViolation(
            "a remediation action says what was done",
            code="DETAIL_REQUIRED",
            clause=remediation.clause,
        )
    firmware = action is RemediationActionKind.FIRMWARE_UPGRADE
    if remediation.basis in FIRMWARE_BASES and device_type is not DeviceType.GPF and not firmware:
        raise RuleViolation(
            f"remediation {number} ({remediation.basis}) is a firmware upgrade to a version "
            "capable of ECoS Migration",
            code="FIRMWARE_UPGRADE_REQUIRED",
            clause=clauses.ETMAD_1_10,
        )
    if firmware and (to_model is None or not to_model.is_sibling_of(model) or to_model == model):
        raise RuleViolation(
            f"a firmware upgrade names the firmware it moves {model} to: same manufacturer, "
            f"model and hardware version, another firmware (not {to_model})",
            code="NOT_A_FIRMWARE_UPGRADE",
            clause=clauses.ETMAD_1_10,
        )
    if not firmware and to_model is not None:
        raise RuleViolation(
            f"only a firmware upgrade moves the Device to another Device Model, not {action}",
            code="TARGET_MODEL_NOT_ALLOWED",
            clause=remediation.clause,
        )
    return RemediationActionRecorded(
        occurred_at=at,
        remediation=number,
        action=action,
        detail=detail,
        outcome=outcome,
        to_model=to_model,
        clause=remediation.clause,
    )
