"""Remediation of a Device's Failed Migration (ETMAD 1.7, 1.9-1.11; DOMAIN.md 3.3).

Use cases on the Device's Migration aggregate (``domain.migration``, rules in
``domain.remediation``), each one unit of work whose ``Outcome`` result is the ``Remediation``
as it stands after the command:

* ``assign_remediation``: who owns the remediation of the latest series, which completed
  unsuccessfully, as root-cause analysis found (the DCC, 1.7, or the Responsible Supplier, 1.9;
  a Non-Migratable model or unresolved issues make it the supplier's firmware upgrade, 1.10; a
  Gas Proxy Function's is always the DCC's, 1.11). A supplier-owned remediation given no
  supplier names the Device's Responsible Supplier in Registration Data at ``at``.
* ``record_remediation_action``: an action and its outcome. A firmware upgrade names a
  registered Device Model of a *later* firmware than the series' model (1.10). Recording it
  does not move the Device to that model: ``upgrade_firmware`` records the Device's upgrade.
"""

from __future__ import annotations

from datetime import datetime

from application.errors import UnknownDevice, UnknownDeviceModel
from application.service import EtmadApplication, Outcome, UnitOfWork
from domain import clauses
from domain.device import Device, device_aggregate_id
from domain.device_model import DeviceModel, model_aggregate_id
from domain.errors import RuleViolation
from domain.identifiers import EUI64, DeviceModelKey
from domain.migration import Migration, migration_aggregate_id
from domain.remediation import (
    ActionOutcome,
    Remediation,
    RemediationActionKind,
    RemediationBasis,
    RemediationOwner,
)


def _migration(uow: UnitOfWork, device_id: EUI64) -> Migration:
    if uow.get(device_aggregate_id(device_id), Device.create) is None:
        raise UnknownDevice(device_id)
    migration = uow.get(migration_aggregate_id(device_id), Migration.create)
    if migration is None:
        raise RuleViolation(
            f"Device {device_id} has no Migration: remediation follows a Failed Migration",
            code="NO_MIGRATION",
            clause=clauses.ETMAD_1_7,
        )
    return migration


def _remediation(migration: Migration | None, number: int) -> Remediation:
    assert migration is not None  # noqa: S101 — the event was just folded into it
    return next(r for r in migration.remediations if r.number == number)


def _model(uow: UnitOfWork, model: DeviceModelKey) -> DeviceModel:
    state = uow.get(model_aggregate_id(model), DeviceModel.create)
    if state is None:
        raise UnknownDeviceModel(model)
    return state


def assign_remediation(
    app: EtmadApplication,
    *,
    device_id: EUI64,
    at: datetime,
    basis: RemediationBasis,
    owner: RemediationOwner,
    root_cause: str,
    responsible_supplier: str | None = None,
) -> Outcome:
    """Record who remediates the Device's latest series, which completed unsuccessfully."""
    uow = UnitOfWork(app)
    migration = _migration(uow, device_id)
    if responsible_supplier is None and owner is RemediationOwner.RESPONSIBLE_SUPPLIER:
        responsible_supplier = app.assess_eligibility(device_id, at).responsible_supplier
    event = migration.assign_remediation(
        at=at,
        basis=basis,
        owner=owner,
        root_cause=root_cause,
        responsible_supplier=responsible_supplier,
    )
    state = uow.record(migration.aggregate_id, Migration.create, event)
    return Outcome(uow.commit(), _remediation(state, event.remediation))


def record_remediation_action(
    app: EtmadApplication,
    *,
    device_id: EUI64,
    at: datetime,
    remediation: int,
    action: RemediationActionKind,
    detail: str,
    outcome: ActionOutcome,
    to_model: DeviceModelKey | None = None,
) -> Outcome:
    """Record an action of a remediation and its outcome; a firmware upgrade names the later,
    registered firmware it moves the Device's model to (1.10)."""
    uow = UnitOfWork(app)
    migration = _migration(uow, device_id)
    event = migration.record_remediation_action(
        at=at,
        remediation=remediation,
        action=action,
        detail=detail,
        outcome=outcome,
        to_model=to_model,
    )
    if event.to_model is not None:
        series = _remediation(migration, remediation).series
        current = _model(uow, next(s.model for s in migration.series if s.number == series))
        target = _model(uow, event.to_model)
        if target.firmware_rank <= current.firmware_rank:
            raise RuleViolation(
                f"{target.key} (firmware_rank {target.firmware_rank}) is not a later firmware "
                f"than {current.key} (firmware_rank {current.firmware_rank})",
                code="NOT_A_FIRMWARE_UPGRADE",
                clause=clauses.ETMAD_1_10,
            )
    state = uow.record(migration.aggregate_id, Migration.create, event)
    return Outcome(uow.commit(), _remediation(state, remediation))
