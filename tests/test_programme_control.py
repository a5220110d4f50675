"""Programme control: the DCC starts and stops the migration programme and sets its capacity,
ramp-up and pilot (ETMAD 1.3, 1.6, 6.1(a)-(b)); remediation of a Failed Migration is assigned
and its actions recorded (ETMAD 1.7, 1.9-1.11). Domain first, then the use cases on both
stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adapters.codecs.gbcs import StatusCode
from adapters.simulated_programme import build_simulated_programme
from adapters.simulator import DeviceBehaviour
from application.errors import CommandRejected
from application.programme_control import (
    ProgrammeState,
    programme_state,
    set_capacity,
    set_ramp_up,
    start_programme,
    stop_programme,
)
from application.remediation import assign_remediation, record_remediation_action
from application.service import EtmadApplication
from application.settings import Settings
from domain import clauses
from domain.errors import DomainError, RuleViolation
from domain.identifiers import EUI64, DeviceModelKey
from domain.migration import Migration, MigrationStatus, migration_aggregate_id
from domain.programme_control import (
    PROGRAMME_AGGREGATE_ID,
    CapacitySet,
    PilotSizeSet,
    ProgrammeControl,
    ProgrammeStarted,
    ProgrammeStopped,
    RampUpScheduleSet,
)
from domain.remediation import (
    ActionOutcome,
    Remediation,
    RemediationActionKind,
    RemediationBasis,
    RemediationOwner,
)
from domain.selection import SelectionParameters
from tests.builders import (
    NOW,
    chf_model,
    commissioned_device,
    days,
    eui,
    mpan,
    register_device,
    register_model,
    stored_events,
    supplier_change,
)
from tests.conftest import AppFactory, Runner

T0 = datetime(2023, 7, 5, tzinfo=UTC)
BOARD = "DCC migration board"


def refused(code: str, action: Any) -> Any:
    """The error a refused ``action`` raised, with its ``code`` (and ``message``, ``clause``)."""
    with pytest.raises((DomainError, CommandRejected)) as caught:
        action()
    error: Any = caught.value
    assert error.code == code, error
    return error


def fold(*events: Any) -> ProgrammeControl:
    state = ProgrammeControl()
    for version, event in enumerate(events, start=1):
        state = state.apply(event, version)
    return state


# --- the aggregate --------------------------------------------------------------------------


def test_with_nothing_recorded_the_programme_runs_on_the_configured_parameters():
    control = ProgrammeControl()
    assert control.running
    assert control.running_by_default
    assert control.aggregate_id == PROGRAMME_AGGREGATE_ID == "programme"
    defaults = SelectionParameters(daily_capacity=7, pilot_size=3, ramp_up=((0, 1),))
    assert control.parameters(defaults) == defaults


def test_an_explicit_start_is_recorded_once_then_refused_until_a_stop():
    control = ProgrammeControl()
    started = control.start(at=T0, decided_by=BOARD, reason="go-live")
    assert isinstance(started, ProgrammeStarted)
    assert started.TYPE == "etmad.programme.ProgrammeStarted.v1"
    assert (started.clause, started.decided_by, started.reason) == (
        clauses.ETMAD_1_3,
        BOARD,
        "go-live",
    )
    control = fold(started)
    assert control.running
    assert not control.running_by_default
    error = refused(
        "PROGRAMME_ALREADY_STARTED", lambda: control.start(at=T0 + days(1), decided_by=BOARD)
    )
    assert error.clause == clauses.ETMAD_1_3
    assert "already started on 2023-07-05" in error.message

    stopped = control.stop(at=T0 + days(2), decided_by=BOARD, reason="ECoS outage")
    assert isinstance(stopped, ProgrammeStopped)
    assert stopped.clause == clauses.ETMAD_6_1_B
    control = fold(started, stopped)
    assert not control.running
    error = refused(
        "PROGRAMME_ALREADY_STOPPED",
        lambda: control.stop(at=T0 + days(3), decided_by=BOARD, reason="again"),
    )
    assert error.clause == clauses.ETMAD_6_1_B
    restarted = control.start(at=T0 + days(3), decided_by=BOARD)
    assert fold(started, stopped, restarted).running


def test_a_programme_running_by_default_may_be_stopped_and_a_stop_needs_a_reason():
    control = ProgrammeControl()
    error = refused(
        "RATIONALE_REQUIRED", lambda: control.stop(at=T0, decided_by=BOARD, reason="  ")
    )
    assert error.clause == clauses.ETMAD_6_1_B
    stopped = fold(control.stop(at=T0, decided_by=BOARD, reason="Private Key Transfer"))
    assert not stopped.running
    assert stopped.run is not None
    assert stopped.run.reason == "Private Key Transfer"


def test_every_decision_names_who_decided_and_comes_in_business_time_order():
    control = fold(ProgrammeControl().set_capacity(at=T0, daily_capacity=10, decided_by=BOARD))
    assert refused("RATIONALE_REQUIRED", lambda: control.start(at=T0, decided_by=" ")).clause == (
        clauses.ETMAD_1_3
    )
    refused("OUT_OF_ORDER", lambda: control.start(at=T0 - timedelta(seconds=1), decided_by=BOARD))
    refused(
        "OUT_OF_ORDER",
        lambda: control.set_pilot_size(at=T0 - days(1), pilot_size=5, decided_by=BOARD),
    )
    refused("INVALID_TIME", lambda: control.start(at=datetime(2023, 8, 1), decided_by=BOARD))  # noqa: DTZ001 — naive on purpose
    # The same time as the last decision is in order.
    assert control.start(at=T0, decided_by=BOARD).occurred_at == T0


@pytest.mark.parametrize(
    ("decide", "detail"),
    [
        (lambda c: c.set_capacity(at=T0, daily_capacity=-1, decided_by=BOARD), "daily_capacity"),
        (lambda c: c.set_capacity(at=T0, daily_capacity=True, decided_by=BOARD), "daily_capacity"),
        (lambda c: c.set_pilot_size(at=T0, pilot_size=301, decided_by=BOARD), "pilot_size"),
        (lambda c: c.set_pilot_size(at=T0, pilot_size=-5, decided_by=BOARD), "pilot_size"),
        (lambda c: c.set_ramp_up(at=T0, ramp_up=(), decided_by=BOARD), "ramp_up"),
        (lambda c: c.set_ramp_up(at=T0, ramp_up=((1, 50),), decided_by=BOARD), "day 0"),
        (
            lambda c: c.set_ramp_up(at=T0, ramp_up=((0, 50), (7, 9), (7, 10)), decided_by=BOARD),
            "strictly increasing",
        ),
        (lambda c: c.set_ramp_up(at=T0, ramp_up=((0, -50),), decided_by=BOARD), "pairs"),
    ],
)
def test_parameters_are_checked_by_the_selection_s_rules(decide: Any, detail: str):
    error = refused("INVALID_SELECTION_PARAMETERS", lambda: decide(ProgrammeControl()))
    assert error.clause == clauses.ETMAD_6_1_A
    assert detail in error.message


def test_each_parameter_set_overrides_its_default_alone():
    capacity = ProgrammeControl().set_capacity(
        at=T0, daily_capacity=2000, decided_by=BOARD, reason="call centre capacity"
    )
    ramp = ProgrammeControl().set_ramp_up(
        at=T0 + days(1), ramp_up=((0, 10), (3, 100)), decided_by=BOARD
    )
    pilot = ProgrammeControl().set_pilot_size(at=T0 + days(1), pilot_size=5, decided_by=BOARD)
    assert isinstance(capacity, CapacitySet)
    assert (capacity.TYPE, capacity.clause) == (
        "etmad.programme.CapacitySet.v1",
        clauses.ETMAD_6_1_B,
    )
    assert isinstance(ramp, RampUpScheduleSet)
    assert (ramp.TYPE, ramp.clause) == ("etmad.programme.RampUpScheduleSet.v1", clauses.ETMAD_6_1_B)
    assert isinstance(pilot, PilotSizeSet)
    assert (pilot.TYPE, pilot.clause) == ("etmad.programme.PilotSizeSet.v1", clauses.ETMAD_1_6)

    defaults = SelectionParameters()
    only_capacity = fold(capacity)
    assert only_capacity.parameters(defaults) == SelectionParameters(daily_capacity=2000)
    assert only_capacity.running_by_default  # parameters do not start or stop anything
    everything = fold(capacity, ramp, pilot)
    assert everything.parameters(defaults) == SelectionParameters(
        daily_capacity=2000, pilot_size=5, ramp_up=((0, 10), (3, 100))
    )
    assert everything.daily_capacity is not None
    assert everything.daily_capacity.reason == "call centre capacity"


# --- the use cases, on both stores ------------------------------------------------------------


def test_programme_state_of_an_empty_store_is_running_on_the_settings(make_app: AppFactory):
    custom = SelectionParameters(daily_capacity=500, pilot_size=10, ramp_up=((0, 20),))
    app = make_app(Settings(selection=custom))
    state = programme_state(app, NOW)
    assert state == ProgrammeState(
        as_of=NOW,
        running=True,
        running_by_default=True,
        run=None,
        parameters=custom,
        daily_capacity=None,
        pilot_size=None,
        ramp_up=None,
    )


def test_programme_state_as_it_stood_at_earlier_times(app: EtmadApplication):
    """A season of decisions, read back as of moments between them."""
    defaults = app.settings.selection
    started = start_programme(app, at=T0, decided_by=BOARD, reason="go-live")
    assert [e.event.TYPE for e in started.events] == ["etmad.programme.ProgrammeStarted.v1"]
    assert [(e.originator_id, e.originator_version) for e in started.events] == [("programme", 1)]
    assert isinstance(started.result, ProgrammeState)
    assert started.result.running
    assert not started.result.running_by_default

    set_capacity(app, at=T0 + days(10), daily_capacity=2000, decided_by=BOARD)
    stop_programme(app, at=T0 + days(20), decided_by=BOARD, reason="incident INC-7")
    set_ramp_up(app, at=T0 + days(25), ramp_up=((0, 10), (7, 100)), pilot_size=5, decided_by=BOARD)
    start_programme(app, at=T0 + days(30), decided_by=BOARD, reason="INC-7 resolved")

    before = programme_state(app, T0 - days(1))
    assert before.running
    assert before.running_by_default
    assert before.parameters == defaults

    at_start = programme_state(app, T0)
    assert at_start.running
    assert not at_start.running_by_default
    assert at_start.run is not None
    assert at_start.run.reason == "go-live"
    assert at_start.parameters == defaults

    capacity = programme_state(app, T0 + days(15))
    assert capacity.running
    assert capacity.parameters == SelectionParameters(
        daily_capacity=2000, pilot_size=defaults.pilot_size, ramp_up=defaults.ramp_up
    )
    assert capacity.daily_capacity is not None
    assert capacity.daily_capacity.at == T0 + days(10)
    assert capacity.ramp_up is None

    stopped = programme_state(app, T0 + days(26))
    assert not stopped.running
    assert stopped.run is not None
    assert stopped.run.reason == "incident INC-7"
    assert stopped.parameters == SelectionParameters(
        daily_capacity=2000, pilot_size=5, ramp_up=((0, 10), (7, 100))
    )

    now = programme_state(app, T0 + days(31))
    assert now.running
    assert now.parameters == stopped.parameters


def test_each_refusal_saves_nothing(app: EtmadApplication):
    start_programme(app, at=T0, decided_by=BOARD)
    saved = stored_events(app)
    refusals = [
        ("PROGRAMME_ALREADY_STARTED", lambda: start_programme(app, at=T0, decided_by=BOARD)),
        (
            "OUT_OF_ORDER",
            lambda: stop_programme(app, at=T0 - days(1), decided_by=BOARD, reason="x"),
        ),
        (
            "RATIONALE_REQUIRED",
            lambda: stop_programme(app, at=T0, decided_by=BOARD, reason=""),
        ),
        (
            "INVALID_SELECTION_PARAMETERS",
            lambda: set_capacity(app, at=T0, daily_capacity=-1, decided_by=BOARD),
        ),
        # The ramp-up is valid, the pilot is not: neither is saved.
        (
            "INVALID_SELECTION_PARAMETERS",
            lambda: set_ramp_up(app, at=T0, ramp_up=((0, 5),), pilot_size=400, decided_by=BOARD),
        ),
    ]
    for code, action in refusals:
        refused(code, action)
        assert stored_events(app) == saved, code
    stop_programme(app, at=T0 + days(1), decided_by=BOARD, reason="pause")
    refused(
        "PROGRAMME_ALREADY_STOPPED",
        lambda: stop_programme(app, at=T0 + days(2), decided_by=BOARD, reason="again"),
    )
    assert stored_events(app) == saved + 1


def test_a_ramp_up_with_its_pilot_is_saved_in_one_unit_of_work(app: EtmadApplication):
    outcome = set_ramp_up(
        app,
        at=T0,
        ramp_up=((0, 25), (14, 250)),
        pilot_size=12,
        decided_by=BOARD,
        reason="pilot review",
    )
    assert [(e.event.TYPE, e.originator_version) for e in outcome.events] == [
        ("etmad.programme.RampUpScheduleSet.v1", 1),
        ("etmad.programme.PilotSizeSet.v1", 2),
    ]
    assert len({e.recorded_at for e in outcome.events}) == 1
    state = programme_state(app, T0)
    assert state.parameters.ramp_up == ((0, 25), (14, 250))
    assert state.parameters.pilot_size == 12
    # Read back from the store, the steps are tuples again (the selection's own type).
    control = app.load(PROGRAMME_AGGREGATE_ID, ProgrammeControl.create)
    assert control is not None
    assert control.ramp_up is not None
    assert control.ramp_up.value == ((0, 25), (14, 250))


# --- remediation (1.7, 1.9-1.11) ----------------------------------------------------------------

REJECTING = DeviceBehaviour.rejecting(StatusCode.BAD_CERTIFICATE)
ESME_MODEL = DeviceModelKey("ACME", "E100", "2.0", "0100")
HUB_MODEL = DeviceModelKey("HUBCO", "CH2", "1.0", "0100")


def failed_migrations(
    app: EtmadApplication, models: tuple[DeviceModelKey, ...], *device_ids: str
) -> None:
    """Run each Device's migration on the simulated fleet, where Devices of ``models`` reject
    the replacement with badCertificate: each series completes unsuccessfully at ``NOW``."""
    programme = build_simulated_programme(app, seed=7, behaviours=dict.fromkeys(models, REJECTING))
    for device_id in device_ids:
        eui64 = EUI64.parse(device_id)
        programme.runner.start(eui64, NOW)
        programme.runner.run(eui64, NOW)
        migration = app.load(migration_aggregate_id(eui64), Migration.create)
        assert migration is not None
        assert migration.status is MigrationStatus.COMPLETED_UNSUCCESSFULLY


@pytest.fixture
def fleet(run: Runner) -> dict[str, str]:
    """An ESME supplied by SUPA and a GPF on its Communications Hub, each with a series that
    completed unsuccessfully; and a later firmware of the ESME's model."""
    model = register_model(run)
    register_model(run, "0200", firmware_rank=2)
    hub = chf_model(run)
    supplier_change(run, mpan(1), "SUPA", NOW - days(400))
    esme = commissioned_device(run, eui(1), model, mpxn=mpan(1))
    chf = commissioned_device(run, eui(2), hub, device_type="CHF")
    gpf = register_device(run, eui(3), hub, device_type="GPF", comms_hub_id=chf)
    failed_migrations(run.app, (ESME_MODEL, HUB_MODEL), esme, gpf)
    return {"esme": esme, "gpf": gpf}


LATER = DeviceModelKey("ACME", "E100", "2.0", "0200")
AFTER = NOW + days(1)


def test_a_supplier_owned_remediation_names_the_responsible_supplier_from_registration_data(
    app: EtmadApplication, fleet: dict[str, str]
):
    device = EUI64.parse(fleet["esme"])
    outcome = assign_remediation(
        app,
        device_id=device,
        at=AFTER,
        basis=RemediationBasis.FAILED_MIGRATION,
        owner=RemediationOwner.RESPONSIBLE_SUPPLIER,
        root_cause="Device rejects the ECoS certificate: badCertificate(5)",
    )
    assert [e.event.TYPE for e in outcome.events] == ["etmad.migration.RemediationAssigned.v1"]
    remediation = outcome.result
    assert isinstance(remediation, Remediation)
    assert remediation.number == 1
    assert remediation.series == 1
    assert remediation.responsible_supplier == "SUPA"
    assert remediation.clause == clauses.ETMAD_1_9

    # Named explicitly, the supplier is recorded as given; the DCC's own is 1.7.
    dcc = assign_remediation(
        app,
        device_id=device,
        at=AFTER,
        basis=RemediationBasis.FAILED_MIGRATION,
        owner=RemediationOwner.DCC,
        root_cause="head-end configuration",
    ).result
    assert isinstance(dcc, Remediation)
    assert (dcc.number, dcc.owner, dcc.responsible_supplier, dcc.clause) == (
        2,
        RemediationOwner.DCC,
        None,
        clauses.ETMAD_1_7,
    )


def test_a_gas_proxy_function_s_remediation_is_the_dccs(
    app: EtmadApplication, fleet: dict[str, str]
):
    device = EUI64.parse(fleet["gpf"])
    before = stored_events(app)
    error = refused(
        "GPF_REMEDIATION_IS_DCCS",
        lambda: assign_remediation(
            app,
            device_id=device,
            at=AFTER,
            basis=RemediationBasis.ISSUES_UNRESOLVED,
            owner=RemediationOwner.RESPONSIBLE_SUPPLIER,
            responsible_supplier="GASSUP",
            root_cause="Comms Hub firmware",
        ),
    )
    assert error.clause == clauses.ETMAD_1_11
    assert stored_events(app) == before
    assigned = assign_remediation(
        app,
        device_id=device,
        at=AFTER,
        basis=RemediationBasis.ISSUES_UNRESOLVED,
        owner=RemediationOwner.DCC,
        root_cause="Comms Hub firmware",
    ).result
    assert isinstance(assigned, Remediation)
    assert assigned.clause == clauses.ETMAD_1_11


def test_a_firmware_upgrade_action_names_a_later_registered_firmware(
    app: EtmadApplication, fleet: dict[str, str]
):
    device = EUI64.parse(fleet["esme"])
    assign_remediation(
        app,
        device_id=device,
        at=AFTER,
        basis=RemediationBasis.ISSUES_UNRESOLVED,
        owner=RemediationOwner.RESPONSIBLE_SUPPLIER,
        root_cause="firmware 0100 cannot hold the ECoS certificate",
    )

    def upgrade(to_model: DeviceModelKey | None, kind: Any = None) -> Any:
        return record_remediation_action(
            app,
            device_id=device,
            at=AFTER + days(1),
            remediation=1,
            action=kind or RemediationActionKind.FIRMWARE_UPGRADE,
            detail="over-the-air upgrade",
            outcome=ActionOutcome.RESOLVED,
            to_model=to_model,
        )

    before = stored_events(app)
    refused("FIRMWARE_UPGRADE_REQUIRED", lambda: upgrade(None, RemediationActionKind.OTHER))
    refused("NOT_A_FIRMWARE_UPGRADE", lambda: upgrade(None))
    unknown = DeviceModelKey("ACME", "E100", "2.0", "0300")
    refused("UNKNOWN_DEVICE_MODEL", lambda: upgrade(unknown))
    assert stored_events(app) == before

    outcome = upgrade(LATER)
    assert [e.event.TYPE for e in outcome.events] == [
        "etmad.migration.RemediationActionRecorded.v1"
    ]
    remediation = outcome.result
    assert isinstance(remediation, Remediation)
    assert remediation.resolved
    assert remediation.actions[0].to_model == LATER
    assert remediation.clause == clauses.ETMAD_1_10
    refused("REMEDIATION_RESOLVED", lambda: upgrade(LATER))


def test_an_earlier_firmware_is_not_an_upgrade(run: Runner):
    """The domain checks the family; the application checks the ranks (1.10). A Device with
    no Responsible Supplier in Registration Data needs its supplier named (1.9)."""
    model = register_model(run, "0200", firmware_rank=2)
    register_model(run, "0100", firmware_rank=1)
    commissioned_device(run, eui(1), model)
    failed_migrations(run.app, (DeviceModelKey.from_json(model),), eui(1))
    device = EUI64.parse(eui(1))
    # No MPxN, so Registration Data names no Responsible Supplier: name one (1.9).
    error = refused(
        "SUPPLIER_REQUIRED",
        lambda: assign_remediation(
            run.app,
            device_id=device,
            at=AFTER,
            basis=RemediationBasis.NON_MIGRATABLE_MODEL,
            owner=RemediationOwner.RESPONSIBLE_SUPPLIER,
            root_cause="model categorised Non-Migratable",
        ),
    )
    assert error.clause == clauses.ETMAD_1_9
    assign_remediation(
        run.app,
        device_id=device,
        at=AFTER,
        basis=RemediationBasis.NON_MIGRATABLE_MODEL,
        owner=RemediationOwner.RESPONSIBLE_SUPPLIER,
        responsible_supplier="SUPA",
        root_cause="model categorised Non-Migratable",
    )
    error = refused(
        "NOT_A_FIRMWARE_UPGRADE",
        lambda: record_remediation_action(
            run.app,
            device_id=device,
            at=AFTER,
            remediation=1,
            action=RemediationActionKind.FIRMWARE_UPGRADE,
            detail="downgrade",
            outcome=ActionOutcome.RESOLVED,
            to_model=DeviceModelKey("ACME", "E100", "2.0", "0100"),
        ),
    )
    assert error.clause == clauses.ETMAD_1_10
    assert "not a later firmware" in error.message


def test_remediation_needs_a_registered_device_with_a_failed_migration(run: Runner):
    model = register_model(run)
    commissioned_device(run, eui(1), model)

    def assign(device_id: str) -> Any:
        return assign_remediation(
            run.app,
            device_id=EUI64.parse(device_id),
            at=AFTER,
            basis=RemediationBasis.FAILED_MIGRATION,
            owner=RemediationOwner.DCC,
            root_cause="x",
        )

    refused("UNKNOWN_DEVICE", lambda: assign(eui(9)))
    error = refused("NO_MIGRATION", lambda: assign(eui(1)))
    assert isinstance(error, RuleViolation)
    assert error.clause == clauses.ETMAD_1_7
