"""The daily Device selection through the application, on both stores (ETMAD 1.3, 6.1(a)-(b);
DOMAIN.md 3.7)."""

from __future__ import annotations

import hashlib
from datetime import date, timedelta

import pytest

from application.selection import aggregates_with, select_day
from application.service import UnitOfWork
from application.settings import Settings
from domain.device import Registered
from domain.errors import RuleViolation
from domain.identifiers import EUI64, DeviceModelKey, DeviceType
from domain.migration import Migration, migration_aggregate_id
from domain.selection import (
    DaySelected,
    Selection,
    SelectionParameters,
    business_time,
    selection_aggregate_id,
)
from tests.builders import (
    LONG_AGO,
    NOW,
    commissioned_device,
    days,
    eui,
    iso,
    model_key,
    prove,
    register_device,
    register_model,
    stored_events,
)
from tests.conftest import AppFactory, Runner

DAY = NOW.date() + timedelta(days=1)  # 2023-07-11, selected at 00:00 UTC


def estate(run: Runner) -> tuple[dict[str, str], dict[str, str]]:
    """Model A (three Devices), model B (two), an ECoS Device and an uncommissioned one."""
    a = register_model(run)
    b = register_model(run, model="E200")
    for n in (1, 2, 3):
        commissioned_device(run, eui(n), a)
    for n in (11, 12):
        commissioned_device(run, eui(n), b)
    commissioned_device(run, eui(20), a, cos_party="ECoS")
    register_device(run, eui(21), a)
    return a, b


def key(model: dict[str, str]) -> DeviceModelKey:
    return DeviceModelKey(**model)


def allowance_codes(selection: Selection, model: dict[str, str]) -> list[str]:
    found = next(a for a in selection.allowances if a.model == key(model))
    return [limit.code for limit in found.limits]


def ids(*numbers: int) -> tuple[EUI64, ...]:
    return tuple(EUI64.parse(eui(n)) for n in numbers)


def test_the_day_s_selection_is_recorded_with_its_inputs_and_the_hash_of_the_set(
    run: Runner,
) -> None:
    a, b = estate(run)
    params = SelectionParameters(pilot_size=2)
    outcome = select_day(run.app, DAY, params)
    selection = outcome.result
    assert isinstance(selection, Selection)
    # Lowest ids first within the pilot of each model; model order, then Device id.
    assert selection.selected == ids(1, 2, 11, 12)
    assert selection.considered == 6  # the ECoS Device is not a TCoS Device
    assert allowance_codes(selection, a) == ["PILOT_SIZE"]
    assert allowance_codes(selection, b) == []

    (envelope,) = outcome.events
    assert envelope.originator_id == selection_aggregate_id(DAY) == "selection:2023-07-11"
    stored = [e.event for e in run.app.stored("selection:2023-07-11")]
    assert len(stored) == 1
    event = stored[0]
    assert isinstance(event, DaySelected)
    assert event == envelope.event
    assert event.occurred_at == business_time(DAY)
    assert (event.day, event.parameters, event.considered) == ("2023-07-11", params, 6)
    assert event.allowances == selection.allowances
    assert event.selected == selection.selected
    canonical = "\n".join(sorted(str(d) for d in event.selected)).encode("utf-8")
    assert event.selected_sha256 == hashlib.sha256(canonical).hexdigest() == selection.sha256


def test_a_day_is_selected_once(run: Runner) -> None:
    estate(run)
    select_day(run.app, DAY)
    before = stored_events(run.app)
    with pytest.raises(RuleViolation) as refused:
        select_day(run.app, DAY)
    assert refused.value.code == "DAY_ALREADY_SELECTED"
    assert stored_events(run.app) == before
    # The next day is another selection.
    select_day(run.app, DAY + timedelta(days=1))


def test_a_time_is_not_a_day(run: Runner) -> None:
    with pytest.raises(RuleViolation) as refused:
        select_day(run.app, NOW)
    assert refused.value.code == "INVALID_DAY"


def test_the_settings_give_the_default_parameters(make_app: AppFactory) -> None:
    app = make_app(Settings(selection=SelectionParameters(pilot_size=1)))
    runner = Runner(app)
    estate(runner)
    selection = select_day(app, DAY).result
    assert isinstance(selection, Selection)
    assert selection.parameters.pilot_size == 1
    assert selection.selected == ids(1, 11)


def test_suspension_and_non_migratable_exclude_their_models(run: Runner) -> None:
    a, b = estate(run)
    run.ok("SuspendModel", model=a, at=iso(LONG_AGO + days(1)), reason="investigating")
    run.ok(
        "CategoriseNonMigratable",
        model=b,
        at=iso(LONG_AGO + days(1)),
        rationale="rejects the replacement",
        decided_by="dcc:ops",
    )
    selection = select_day(run.app, DAY).result
    assert isinstance(selection, Selection)
    assert selection.selected == ()
    assert allowance_codes(selection, a) == ["MODEL_SUSPENDED"]
    assert allowance_codes(selection, b) == ["NON_MIGRATABLE_MODEL"]
    # Resumed, model A is selected again; B stays Non-Migratable (1.4(a)).
    run.ok("ResumeModel", model=a, at=iso(NOW), reason="fixed")
    later = select_day(run.app, DAY + timedelta(days=1)).result
    assert isinstance(later, Selection)
    assert later.selected == ids(1, 2, 3)


def test_a_device_with_a_migration_in_progress_is_not_considered(run: Runner) -> None:
    a, _ = estate(run)
    uow = UnitOfWork(run.app)
    started = Migration.start(
        device_id=EUI64.parse(eui(1)),
        device_type=DeviceType.ESME,
        model=key(a),
        policy=run.app.settings.retry_policy,
        at=NOW,
    )
    uow.record(migration_aggregate_id(EUI64.parse(eui(1))), Migration.create, started)
    uow.commit()
    selection = select_day(run.app, DAY).result
    assert isinstance(selection, Selection)
    assert EUI64.parse(eui(1)) not in selection.selected
    assert selection.considered == 5
    assert selection.selected == ids(2, 3, 11, 12)


def test_authorisation_switches_a_model_from_its_pilot_to_the_ramp_up(run: Runner) -> None:
    a = register_model(run)
    for n in range(1, 8):
        commissioned_device(run, eui(n), a)
    run.ok("RecordMigrationStarted", device_id=eui(7), at=iso(NOW - days(3)))
    params = SelectionParameters(pilot_size=3, ramp_up=((0, 2), (7, 4)))

    before = select_day(run.app, DAY, params).result
    assert isinstance(before, Selection)
    # The pilot of 3 counts the migration already started.
    assert before.selected == ids(1, 2)
    assert allowance_codes(before, a) == ["PILOT_SIZE"]

    # 6.1(b) evidence on Device 6; the policy records the 1.6 decision with the SRV 6.23.
    prove(run, eui(6), NOW + days(1))  # decision at 2023-07-12 12:00
    assert run.app.device_model(key(a)).authorisation is not None
    # Selected at 00:00 UTC of the decision's day: not yet authorised.
    same_day = select_day(run.app, date(2023, 7, 12), params).result
    assert isinstance(same_day, Selection)
    assert allowance_codes(same_day, a) == ["PILOT_SIZE"]

    first_step = select_day(run.app, date(2023, 7, 13), params).result
    assert isinstance(first_step, Selection)
    assert first_step.selected == ids(1, 2)  # Device 6 is an ECoS Device now
    assert allowance_codes(first_step, a) == ["RAMP_UP"]
    second_step = select_day(run.app, date(2023, 7, 19), params).result
    assert isinstance(second_step, Selection)
    assert second_step.selected == ids(1, 2, 3, 4)
    assert allowance_codes(second_step, a) == ["RAMP_UP"]


def test_registered_devices_are_found_in_the_notification_log(run: Runner) -> None:
    a = register_model(run, model_key()["firmware_version"])
    commissioned_device(run, eui(2), a)
    commissioned_device(run, eui(1), a)
    found = aggregates_with(run.app, Registered.TYPE)
    assert len(found) == 2
    assert len(set(found)) == 2
