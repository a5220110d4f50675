"""The ECoS Party's readiness for SMETS1 SRV 6.23s (ETMAD 1.19, 1.20): the ``ShowSmets1Readiness``
query.

``smets1_readiness(app, at)`` reads every Device ever registered (found in the notification log
by its ``Registered`` topic) as it stood at ``at``: a Device not registered by then is not
counted, nor one decommissioned by then (no SRV 6.23 is processed for it; counted apart as
``decommissioned``), nor one whose Device Model is not SMETS1. For each SMETS1 Device it gathers
what the DCC holds — the ``cos-party-register``'s party for its recorded CoS certificate and the
``ETMAD 1.20`` precondition, both as ``route_srv623`` reads them at ``at``; its MPxN; the
requisite number of replacement certificates for its type (``Settings.replacement_certificates``)
— and asks the pure policy ``domain.smets1_readiness.assess_smets1_readiness``.

The end of the ECoS Migration Period (1.21: 1 November 2024 or a later date the Secretary of
State directs) is an input, ``period_end``: the report then says how many whole days remain
(negative once it has passed). Nothing is recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Final

import attrs

from application.serialization import JSON, format_time, to_primitive
from application.service import EtmadApplication
from domain.cos_parties import COS_PARTY_REGISTER_ID, CosPartyRegister
from domain.device import Device, Registered
from domain.device_model import DeviceModel, model_aggregate_id
from domain.events import utc
from domain.identifiers import DeviceModelKey, SmetsGeneration
from domain.smets1_readiness import (
    ETMAD_1_19,
    ReadinessCode,
    ReadinessInputs,
    Smets1Readiness,
    assess_smets1_readiness,
)

#: How many not-ready Devices the report lists unless told otherwise.
DEFAULT_LIMIT: Final = 1000


@attrs.frozen(kw_only=True)
class NotReadyDevice:
    """One SMETS1 Device an SRV 6.23 could not be processed for, with its Device Model (a Gas
    Proxy Function's: its Communications Hub's) and the decision."""

    model: DeviceModelKey
    decision: Smets1Readiness


@attrs.frozen(kw_only=True)
class Smets1ReadinessReport:
    """The SMETS1 Devices in the Smart Metering Inventory at ``as_of``, how many are ready and
    not, the count of each reason, and the first ``limit`` not-ready Devices (``truncated``:
    more were not ready), in the order of their registration."""

    as_of: datetime
    period_end: datetime | None
    days_to_period_end: int | None
    smets1_devices: int
    ready: int
    not_ready: int
    decommissioned: int
    by_reason: Mapping[ReadinessCode, int]
    devices: tuple[NotReadyDevice, ...]
    limit: int
    truncated: bool
    clause: str = ETMAD_1_19


def days_between(at: datetime, end: datetime) -> int:
    """Whole days from ``at`` to ``end``, rounded down (negative once ``end`` has passed)."""
    return (utc(end) - utc(at)) // timedelta(days=1)


def smets1_readiness(
    app: EtmadApplication,
    at: datetime,
    *,
    period_end: datetime | None = None,
    limit: int = DEFAULT_LIMIT,
) -> Smets1ReadinessReport:
    """Whether an SRV 6.23 for each SMETS1 Device could be processed by the ECoS Party at
    ``at`` (see the module). ``limit`` (from 0) caps the not-ready Devices listed, not the
    counts."""
    if limit < 0:
        msg = f"the limit of Devices listed is a whole number from 0, not {limit}"
        raise ValueError(msg)
    at = utc(at)
    app.catch_up()
    register = app.load(COS_PARTY_REGISTER_ID, CosPartyRegister.create) or CosPartyRegister()
    testing = register.smets1_testing_as_of(at)
    completed = None if testing is None else testing.completed_at
    requisite = app.settings.replacement_certificates
    counts = dict.fromkeys(ReadinessCode, 0)
    listed: list[NotReadyDevice] = []
    smets1 = ready = not_ready = decommissioned = 0
    for aggregate_id in app.aggregates_with(Registered.TYPE):
        device = app.load(aggregate_id, Device.create, as_of=at)
        if device is None:
            continue
        model = app.load(model_aggregate_id(device.model), DeviceModel.create)
        if model is None or model.smets is not SmetsGeneration.SMETS1:
            continue
        if device.decommissioned_at is not None:
            decommissioned += 1
            continue
        smets1 += 1
        certificate = device.cos_certificate
        decision = assess_smets1_readiness(
            ReadinessInputs(
                device_id=device.device_id,
                device_type=device.device_type,
                certificate=certificate,
                party=None if certificate is None else register.party_of(certificate, as_of=at),
                mpxn=device.mpxn,
                requisite_replacements=requisite.get(device.device_type),
                smets1_testing_completed_at=completed,
            ),
            at=at,
        )
        if decision.ready:
            ready += 1
            continue
        not_ready += 1
        for code in decision.codes():
            counts[code] += 1
        if len(listed) < limit:
            listed.append(
                NotReadyDevice(model=app.effective_model(device, as_of=at), decision=decision)
            )
    return Smets1ReadinessReport(
        as_of=at,
        period_end=None if period_end is None else utc(period_end),
        days_to_period_end=None if period_end is None else days_between(at, period_end),
        smets1_devices=smets1,
        ready=ready,
        not_ready=not_ready,
        decommissioned=decommissioned,
        by_reason=counts,
        devices=tuple(listed),
        limit=limit,
        truncated=not_ready > len(listed),
    )


def report_json(report: Smets1ReadinessReport) -> dict[str, JSON]:
    """The ``ShowSmets1Readiness`` result (``docs/commands.md``)."""
    return {
        "as_of": format_time(report.as_of),
        "clause": report.clause,
        "period_end": None if report.period_end is None else format_time(report.period_end),
        "days_to_period_end": report.days_to_period_end,
        "smets1_devices": report.smets1_devices,
        "ready": report.ready,
        "not_ready": report.not_ready,
        "decommissioned": report.decommissioned,
        "by_reason": {str(code): count for code, count in report.by_reason.items()},
        "devices": [_device_json(d) for d in report.devices],
        "limit": report.limit,
        "truncated": report.truncated,
    }


def _device_json(device: NotReadyDevice) -> JSON:
    decision = device.decision
    return {
        "device_id": str(decision.device_id),
        "device_type": str(decision.inputs.device_type),
        "model": to_primitive(device.model),
        "ready": decision.ready,
        "route": str(decision.route),
        "reasons": [
            {"code": str(r.code), "clause": r.clause, "detail": r.detail} for r in decision.reasons
        ],
    }
