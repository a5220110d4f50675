"""DOMAIN.md 3.5: the Device's response to an SRV 6.23's Command, recorded on the ServiceRequest
(``DeviceResponded``), is followed onto the target Device by a process manager
(``Srv623OutcomeRecorder``): a success is the 6.1(b)(ii) evidence that proves a migrated
Device's model and, by policy, opens its Bulk gate, in the manager's own unit of work saved
with its position; a failure is recorded as ``Srv623Failed``. Reruns record nothing twice."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from application.mapper import Envelope
from application.process_managers import (
    NonMigratableCandidateMonitor,
    ProcessManagers,
    Srv623OutcomeRecorder,
)
from application.service import EtmadApplication, UnitOfWork
from domain.bulk_gate import AUTO_AUTHORISE_POLICY
from domain.device import Device, Srv623Failed, Srv623Processed, device_aggregate_id
from domain.events import DomainEvent
from domain.identifiers import EUI64, MPAN, CertificateId, CosParty, SmetsGeneration
from domain.routing import RouteInputs, RouteTo, decide_route
from domain.service_request import (
    CheckOutcome,
    DeviceResponded,
    ServiceRequest,
    StepKind,
    service_request_aggregate_id,
)
from domain.smki import CellUsage, KeyUsage, RemotePartyRole, TrustAnchorCell
from domain.srv623_checks import checks_of
from domain.substantive import CertificateIdentity, CredentialsUpdate, Replacement
from tests.builders import (
    ECOS_CA,
    NOW,
    days,
    eui,
    gate,
    iso,
    mpan,
    register_device,
    register_model,
    replace_credentials,
    show_model,
    stored_events,
)
from tests.conftest import Runner

ORIGINATOR = EUI64.parse("90-B3-D5-1F-30-01-00-00")
MIGRATED_AT = NOW - days(3)
ANSWERED_AT = NOW - days(1)
SRV623_PROCESSED = Srv623Processed.TYPE
PROVING = "etmad.device_model.ProvingEvidenceRecorded.v1"
AUTHORISED = "etmad.device_model.BulkMigrationAuthorised.v1"


def migrated_device(run: Runner, n: int = 1) -> tuple[str, dict[str, str]]:
    """A Device of an unproven model, its TCoS certificate replaced by an ECoS one."""
    model = register_model(run)
    device = register_device(run, eui(n), model, mpxn=mpan(n))
    replace_credentials(run, device, MIGRATED_AT)
    return device, model


def responded(
    app: EtmadApplication,
    device: str,
    *,
    counter: int = 7,
    succeeded: bool = True,
    at: datetime = ANSWERED_AT,
) -> str:
    """An SRV 6.23 to ``device`` on the CoS Party path, every step passed, the Command issued,
    success, then the Device's response; returns the ServiceRequest's aggregate id."""
    target = EUI64.parse(device)
    cell = TrustAnchorCell(
        RemotePartyRole.SUPPLIER, KeyUsage.DIGITAL_SIGNATURE, CellUsage.MANAGEMENT
    )
    requested = CredentialsUpdate(
        device=target,
        replacements=(Replacement(cell, CertificateIdentity.of(b"new supplier certificate")),),
        supplier_floor_seq_number=100,
    )
    uow = UnitOfWork(app)
    key = service_request_aggregate_id(ORIGINATOR, target, counter)
    moments = iter(at - timedelta(minutes=30) + timedelta(minutes=n) for n in range(30))
    s = uow.record(
        key,
        ServiceRequest.create,
        ServiceRequest.receive(
            originator=ORIGINATOR,
            target=target,
            counter=counter,
            user_id="Z1-SUPPLIER",
            signer=CertificateId(0x1234, "CN=Z1"),
            mpxn=MPAN.parse(mpan(1)),
            generation=SmetsGeneration.SMETS2_PLUS,
            command_variant=1,
            requested=requested,
            at=next(moments),
        ),
    )
    assert s is not None
    inputs = RouteInputs(
        certificate=CertificateId(2, ECOS_CA),
        party=CosParty.ECOS,
        generation=SmetsGeneration.SMETS2_PLUS,
        command_variant=1,
        smets1_testing_completed_at=None,
    )
    route = decide_route(inputs, at=next(moments))
    assert route.route is RouteTo.COS_PARTY
    s = uow.record(key, ServiceRequest.create, s.record_route(route, at=route.as_of))
    assert s is not None
    for step in s.path:
        when = next(moments)
        event: DomainEvent
        if step.stage is not None:
            run = [CheckOutcome(c, passed=True) for c in checks_of(step.stage, smets1_target=False)]
            event = s.record_stage(step.stage, run, at=when)
        elif step.kind is StepKind.COUNTERSIGN:
            assert step.party is not None
            event = s.record_countersigned(to=step.party, artefact=b"countersigned", at=when)
        elif step.kind is StepKind.ANSWER:
            assert step.party is not None
            event = s.record_answer(party=step.party, artefact=b"authorisation", at=when)
        elif step.kind is StepKind.COMMAND:
            event = s.record_command(command=b"command", transport="dcc-transport", at=when)
        else:
            event = s.succeed(at=when)
        s = uow.record(key, ServiceRequest.create, event)
        assert s is not None
    outcome = s.record_device_response(
        response=b"gbcs response",
        succeeded=succeeded,
        detail="" if succeeded else "badCertificate",
        at=at,
    )
    assert isinstance(outcome, DeviceResponded)
    uow.record(key, ServiceRequest.create, outcome)
    uow.commit()
    return key


def device_state(app: EtmadApplication, device: str) -> Device:
    state = app.load(device_aggregate_id(EUI64.parse(device)), Device.create)
    assert state is not None
    return state


def types(events: tuple[Envelope, ...]) -> list[str]:
    return [e.type for e in events]


def test_a_successful_response_proves_the_migrated_devices_model_and_opens_its_bulk_gate(
    app: EtmadApplication,
):
    run = Runner(app)
    device, model = migrated_device(run)
    assert gate(run, model)["proven"] is False
    key = responded(app, device)
    assert gate(run, model)["proven"] is False  # the request's record alone proves nothing

    pulled = Srv623OutcomeRecorder().pull(app)
    # the Device's fact, the proving evidence and the 1.6 decision: one unit of work
    assert types(pulled.events) == [SRV623_PROCESSED, PROVING, AUTHORISED]
    [processed] = device_state(app, device).srv623s
    assert processed.request_id == key  # the ServiceRequest's aggregate id
    assert processed.at == ANSWERED_AT  # when the DCC received the response
    shown = gate(run, model, explain=True)
    assert (shown["proven"], shown["authorised"]) == (True, True)
    evidence = shown["proven_by"]
    assert evidence["device_id"] == device
    assert evidence["srv623"]["type"] == SRV623_PROCESSED
    assert evidence["proven_at"] == iso(ANSWERED_AT)
    assert shown["authorisation"]["decided_by"] == AUTO_AUTHORISE_POLICY
    assert show_model(run, model)["proving"] == evidence


def test_the_position_is_saved_with_the_events_and_a_rerun_records_nothing_more(
    app: EtmadApplication,
):
    run = Runner(app)
    device, _ = migrated_device(run)
    responded(app, device)
    recorder = Srv623OutcomeRecorder()
    pulled = recorder.pull(app)
    [notification] = app.recorder.select_notifications(
        start=1, limit=1000, topics=(DeviceResponded.TYPE,)
    )
    assert pulled.position == notification.id == recorder.position(app)
    before = stored_events(app)
    assert recorder.pull(app).events == ()
    assert Srv623OutcomeRecorder().pull(app).events == ()  # a fresh process too
    assert ProcessManagers().pull_all(app).events == ()
    assert stored_events(app) == before
    assert len(device_state(app, device).srv623s) == 1


def test_a_failed_response_is_recorded_as_a_failed_srv623_and_proves_nothing(
    app: EtmadApplication,
):
    run = Runner(app)
    device, model = migrated_device(run)
    key = responded(app, device, succeeded=False)
    pulled = Srv623OutcomeRecorder().pull(app)
    assert types(pulled.events) == [Srv623Failed.TYPE]
    failed = pulled.events[0].event
    assert isinstance(failed, Srv623Failed)
    assert (failed.request_id, failed.reason, failed.cos_party) == (
        key,
        "badCertificate",
        CosParty.ECOS,
    )
    assert device_state(app, device).srv623s == ()
    assert gate(run, model)["proven"] is False


def test_pull_all_runs_it_and_the_candidate_monitor_reads_its_failures(app: EtmadApplication):
    run = Runner(app)
    device, _ = migrated_device(run)
    responded(app, device, succeeded=False)
    report = ProcessManagers().pull_all(app)
    assert report.as_dict()["srv623_failed"] == [device_aggregate_id(EUI64.parse(device))]
    assert report.as_dict()["srv623_processed"] == []
    # the Srv623Failed it saved is followed, in a later round of the same call, by DOMAIN 4.2
    assert report.notifications()[Srv623OutcomeRecorder.name] == 1
    assert report.notifications()[NonMigratableCandidateMonitor.name] == 1


def test_a_device_no_longer_in_the_inventory_or_already_recorded_is_skipped(
    app: EtmadApplication,
):
    run = Runner(app)
    device, model = migrated_device(run)
    # a request to a Device the inventory does not hold
    responded(app, eui(99), counter=1)
    # the Device's outcome for this request was recorded already (by hand, say)
    key = service_request_aggregate_id(ORIGINATOR, EUI64.parse(device), 2)
    app.record_srv623_processed(device_id=EUI64.parse(device), at=ANSWERED_AT, request_id=key)
    assert gate(run, model)["proven"] is True
    responded(app, device, counter=2)
    before = stored_events(app)
    pulled = Srv623OutcomeRecorder().pull(app)
    assert (pulled.notifications, pulled.events) == (2, ())
    assert pulled.moved
    assert stored_events(app) == before
    assert len(device_state(app, device).srv623s) == 1


def test_a_crash_inside_the_unit_of_work_loses_nothing_and_repeats_nothing(
    app: EtmadApplication, monkeypatch: pytest.MonkeyPatch
):
    run = Runner(app)
    device, model = migrated_device(run)
    responded(app, device)
    react = app.react

    def crash(uow: UnitOfWork, envelope: Envelope) -> None:
        if isinstance(envelope.event, Srv623Processed):
            raise OSError("the process died while committing")
        react(uow, envelope)

    monkeypatch.setattr(app, "react", crash)
    recorder = Srv623OutcomeRecorder()
    before = stored_events(app)
    with pytest.raises(OSError, match="died"):
        recorder.pull(app)
    assert stored_events(app) == before
    assert recorder.position(app) == 0
    assert device_state(app, device).srv623s == ()
    assert gate(run, model)["proven"] is False

    monkeypatch.setattr(app, "react", react)
    assert types(recorder.pull(app).events) == [SRV623_PROCESSED, PROVING, AUTHORISED]
    assert recorder.pull(app).events == ()
    assert len(device_state(app, device).srv623s) == 1
