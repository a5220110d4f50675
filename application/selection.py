"""The daily Device selection through the application (ETMAD 1.3, 6.1(a)-(b); DOMAIN.md 3.7).

``select_day`` gathers the facts as they stood at the day's business time (00:00 UTC,
``domain.selection.business_time``), runs the pure policy ``select_candidates`` and records the
day's ``DaySelected`` on ``selection:<YYYY-MM-DD>`` in one unit of work:

* every Device ever registered (found in the notification log by its ``Registered`` topic) that
  existed then and was a TCoS Device, and had no Migration series in progress or succeeded,
  with its eligibility (1.3, 1.4) as assessed at that time;
* every Device Model ever registered, with its Bulk gate as it stood then (proof, the 1.6
  decision and when, migrations started, the Bulk Migration number, suspension,
  Non-Migratable categorisation).
"""

from __future__ import annotations

from datetime import date, datetime

from application.errors import UnknownDevice
from application.programme_control import programme_state
from application.service import EtmadApplication, Outcome, UnitOfWork
from domain import clauses
from domain.bulk_gate import assess_bulk_gate
from domain.device import Device, Registered
from domain.device_model import DeviceModel, ModelRegistered
from domain.errors import RuleViolation
from domain.identifiers import CosParty
from domain.migration import Migration, migration_aggregate_id
from domain.selection import (
    Candidate,
    DaySelection,
    ModelFacts,
    SelectionParameters,
    business_time,
    rest_until,
    select_candidates,
    selection_aggregate_id,
)


def aggregates_with(app: EtmadApplication, topic: str) -> list[str]:
    """The ids of the aggregates that recorded an event of type ``topic``, in the order of
    their first such event (read from the notification log, incrementally)."""
    return app.aggregates_with(topic)


def _candidates(app: EtmadApplication, at: datetime) -> list[Candidate]:
    candidates = []
    for aggregate_id in app.aggregates_with(Registered.TYPE):
        device = app.load(aggregate_id, Device.create, as_of=at)
        if device is None or device.cos_party is not CosParty.TCOS:
            continue
        migration = app.load(migration_aggregate_id(device.device_id), Migration.create, as_of=at)
        if migration is not None and (migration.in_progress or migration.succeeded):
            continue
        until = rest_until(migration, app.settings.reselect_after) if migration else None
        resting = until is not None and until > at
        try:
            eligible, reasons = app.eligibility_codes(device.device_id, at)
        except UnknownDevice:  # pragma: no cover — loaded just above, as of the same time
            continue
        candidates.append(
            Candidate(
                device_id=device.device_id,
                model=app.effective_model(device, as_of=at),
                eligible=eligible,
                reasons=reasons,
                resting=resting,
            )
        )
    return candidates


def _models(app: EtmadApplication, at: datetime) -> list[ModelFacts]:
    facts = []
    for aggregate_id in app.aggregates_with(ModelRegistered.TYPE):
        model = app.load(aggregate_id, DeviceModel.create, as_of=at)
        if model is None:
            continue
        gate = assess_bulk_gate(
            model,
            app.later_siblings(model, as_of=at),
            as_of=at,
            cap=app.settings.bulk_migration_number,
        )
        facts.append(
            ModelFacts(
                model=model.key,
                proven=gate.proven,
                authorised=gate.authorised,
                authorised_at=gate.authorisation.at if gate.authorisation else None,
                started=gate.migrations_started,
                cap=gate.cap,
                suspended=gate.suspended,
                non_migratable=gate.non_migratable,
            )
        )
    return facts


def select_day(
    app: EtmadApplication, day: date, parameters: SelectionParameters | None = None
) -> Outcome:
    """Select the business day's Devices and record them (``DaySelected``); the ``Outcome``'s
    result is the ``Selection``. A day is selected once: ``DAY_ALREADY_SELECTED``."""
    if isinstance(day, datetime) or not isinstance(day, date):
        raise RuleViolation(
            f"a selection is for a calendar day (YYYY-MM-DD), not {day!r}",
            code="INVALID_DAY",
            clause=clauses.ETMAD_6_1_A,
        )
    if parameters is None:  # the parameters in force at the day's business time
        parameters = programme_state(app, business_time(day)).parameters
    uow = UnitOfWork(app)  # caught up with the notification log: the facts are the latest
    aggregate_id = selection_aggregate_id(day)
    existing = uow.get(aggregate_id, DaySelection.create)
    DaySelection.check_open(existing, day)
    at = business_time(day)
    selection = select_candidates(day, _candidates(app, at), _models(app, at), parameters)
    uow.record(aggregate_id, DaySelection.create, DaySelection.record(existing, selection))
    return Outcome(uow.commit(), selection)
