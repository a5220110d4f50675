"""The process managers that follow the notification log (DOMAIN 4.2, 4.3, 4.4): suspension
proposals with a minimum sample, Non-Migratable candidates from device-side rejections,
incidents only for DCC-system problems; resumable from their recorded position."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.bootstrap import build_application
from adapters.codecs.gbcs import StatusCode
from adapters.simulator import (
    DeviceBehaviour,
    Outage,
    SimulatedDeviceTransport,
    SimulatedEcosServiceProvider,
    SimulatedSystem,
    SimulatedTcosServiceProvider,
)
from application.errors import CommandRejected, ConcurrencyConflict, UnknownDevice
from application.mapper import Envelope
from application.migration import MigrationRunner
from application.process_managers import (
    ATTEMPT_TOPICS,
    BATCH,
    LATE_ARRIVAL,
    AttemptMonitor,
    IncidentMonitor,
    NonMigratableCandidateMonitor,
    ProcessManagers,
    SuspensionMonitor,
    dismiss_non_migratable_candidate,
    refuse_party_raised_incident,
)
from application.serialization import canonical_json
from application.service import EtmadApplication, UnitOfWork, close_application
from application.settings import Settings
from domain import clauses
from domain.device import Srv623Failed
from domain.device_model import (
    DeviceModel,
    NonMigratableCandidateProposed,
    Suspended,
    SuspensionProposed,
    model_aggregate_id,
)
from domain.errors import RuleViolation
from domain.events import DomainEvent
from domain.failures import (
    CellStatus,
    DeviceOutcome,
    FailureCause,
    GbcsStatus,
    ProviderResponse,
    ReplyKind,
    Step,
)
from domain.identifiers import (
    EUI64,
    CertificateId,
    CosParty,
    DeviceModelKey,
    DeviceType,
    SmetsGeneration,
)
from domain.incidents import (
    Incident,
    IncidentKind,
    IncidentRaised,
    PartyIncidentAdmitted,
    PartyIncidentRefused,
    incident_aggregate_id,
    system_incident_id,
)
from domain.migration import Migration, MigrationStatus, migration_aggregate_id
from domain.programme_policies import (
    CompletedAttempt,
    DccSystem,
    IncidentRule,
    NonMigratableCandidateRule,
    SuspensionRule,
    assess_suspension,
    assess_system_problem,
    is_device_side_rejection,
    propose_non_migratable,
    unavailable_system,
)
from domain.retry_policy import DEFAULT_RETRY_POLICY
from domain.smki import CellUsage, KeyUsage, RemotePartyRole, TrustAnchorCell
from tests.conftest import AppFactory, FixedClock, postgres_url
from tests.simulator_support import T0, material
from tests.test_migration_runner import TIMEOUT, codec

AT = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)


def model(n: int) -> DeviceModelKey:
    return DeviceModelKey("ACME", f"M{n}", "1.0", "0100")


A, B, C, D = model(1), model(2), model(3), model(4)
_devices = itertools.count(1)


def fresh_device() -> EUI64:
    return EUI64(0x00DB_5000_0000_0000 + next(_devices))


def register(app: EtmadApplication, *models: DeviceModelKey) -> None:
    for key in models:
        app.register_device_model(
            model=key,
            device_type=DeviceType.ESME,
            smets=SmetsGeneration.SMETS2_PLUS,
            firmware_rank=1,
            at=AT - timedelta(days=365),
        )


# --- completed attempts, recorded straight on the Migration aggregate ----------------------

OK = ProviderResponse(kind=ReplyKind.ANSWERED, confirmed=True)
DOWN = ProviderResponse(kind=ReplyKind.UNAVAILABLE)
TRANSCOS = TrustAnchorCell(
    RemotePartyRole.TRANSITIONAL_COS, KeyUsage.DIGITAL_SIGNATURE, CellUsage.MANAGEMENT
)


def answered(status: GbcsStatus) -> DeviceOutcome:
    return DeviceOutcome(kind=ReplyKind.ANSWERED, cells=(CellStatus(TRANSCOS, status),))


#: What a step returns, by the attempt's outcome (anything not listed succeeds).
INSTRUCTION = {"tcos_down": DOWN}
REPLACEMENT = {
    "no_response": DeviceOutcome(kind=ReplyKind.NO_RESPONSE),
    "transport_down": DeviceOutcome(kind=ReplyKind.UNAVAILABLE),
    "bad_certificate": answered(GbcsStatus.BAD_CERTIFICATE),
    "no_trust_anchor": answered(GbcsStatus.NO_TRUST_ANCHOR),
    "busy": answered(GbcsStatus.RESOURCES_BUSY),
}
ECOS_CONFIRMATION = {"ecos_down": DOWN}


def attempt(
    app: EtmadApplication,
    of: DeviceModelKey,
    at: datetime,
    outcome: str = "success",
    device_id: EUI64 | None = None,
) -> EUI64:
    """One attempt of ``device_id``'s (a new Device's) ECoS Migration, completed at ``at`` with
    ``outcome``: its events, the policy's decision after a failure or the completion after
    success, saved in one unit of work."""
    device_id = device_id or fresh_device()
    uow = UnitOfWork(app)
    key = migration_aggregate_id(device_id)
    m = uow.get(key, Migration.create)
    begun: DomainEvent
    if m is None:
        begun = Migration.start(
            device_id=device_id,
            device_type=DeviceType.ESME,
            model=of,
            policy=DEFAULT_RETRY_POLICY,
            at=at,
        )
    elif m.status is MigrationStatus.RETRY_SCHEDULED:
        begun = m.start_retry(at=at)
    else:
        begun = m.start_series(model=of, policy=DEFAULT_RETRY_POLICY, at=at)
    m = uow.record(key, Migration.create, begun)
    steps = [
        lambda m: m.record_instruction(at=at, response=INSTRUCTION.get(outcome, OK)),
        lambda m: m.record_review(at=at, response=OK),
        lambda m: m.record_replacement_sent(
            at=at,
            originator_counter=max((0, *m.counters_sent)) + 1,
            ecos_certificate=CertificateId(2, "ECOS-ISSUER"),
            signed_pre_command=b"signed pre-command",
        ),
        lambda m: m.record_replacement_outcome(
            at=at, outcome=REPLACEMENT.get(outcome, answered(GbcsStatus.SUCCESS))
        ),
        lambda m: m.record_confirmation(
            at=at, party=CosParty.ECOS, response=ECOS_CONFIRMATION.get(outcome, OK)
        ),
        lambda m: m.record_confirmation(at=at, party=CosParty.TCOS, response=OK),
    ]
    for step in steps:
        assert m is not None
        if m.status is not MigrationStatus.IN_ATTEMPT:
            break
        m = uow.record(key, Migration.create, step(m))
    assert m is not None
    if m.status is MigrationStatus.AWAITING_RETRY_DECISION:
        uow.record(key, Migration.create, m.decide_after_failure(at=at))
    else:
        assert outcome == "success", outcome
        uow.record(key, Migration.create, m.complete(at=at))
    uow.commit()
    return device_id


def attempts(
    app: EtmadApplication, of: DeviceModelKey, count: int, outcome: str, start: datetime = AT
) -> None:
    for i in range(count):
        attempt(app, of, start + i * MINUTE, outcome)


# --- reading what the managers recorded -----------------------------------------------------


def recorded(
    app: EtmadApplication, kind: type[DomainEvent], aggregate_id: str | None = None
) -> list[Envelope]:
    """Every stored event of type ``kind`` (on ``aggregate_id`` if given), in log order."""
    found = []
    for notification in app.recorder.select_notifications(
        start=1, limit=1_000_000, topics=[kind.TYPE]
    ):
        envelope = cast("Envelope", app.mapper.to_domain_event(notification))
        if aggregate_id is None or envelope.originator_id == aggregate_id:
            found.append(envelope)
    return found


def proposals(app: EtmadApplication, of: DeviceModelKey) -> list[SuspensionProposed]:
    found = recorded(app, SuspensionProposed, model_aggregate_id(of))
    return [e.event for e in found if isinstance(e.event, SuspensionProposed)]


def candidates(app: EtmadApplication, of: DeviceModelKey) -> list[NonMigratableCandidateProposed]:
    found = recorded(app, NonMigratableCandidateProposed, model_aggregate_id(of))
    return [e.event for e in found if isinstance(e.event, NonMigratableCandidateProposed)]


def incidents(app: EtmadApplication) -> list[Envelope]:
    return recorded(app, IncidentRaised)


def pull(app: EtmadApplication, managers: ProcessManagers | None = None) -> Any:
    return (managers or ProcessManagers()).pull_all(app)


def stored(app: EtmadApplication) -> int:
    return app.recorder.max_notification_id() or 0


def positions(app: EtmadApplication, managers: ProcessManagers) -> list[int]:
    return [m.position(app) for m in managers.managers]


# --- 4.3 the suspension rule ----------------------------------------------------------------


def test_a_suspension_is_proposed_only_once_the_minimum_sample_is_reached(app: EtmadApplication):
    register(app, A)
    attempts(app, A, 19, "no_response")
    managers = ProcessManagers()
    pull(app, managers)
    assert proposals(app, A) == []  # 19 of 19 failed, but the ratio does not count yet
    assert app.device_model(A).suspension is None

    twentieth = AT + 30 * MINUTE
    attempt(app, A, twentieth, "no_response")
    report = pull(app, managers)

    [proposal] = proposals(app, A)
    assert proposal.occurred_at == twentieth
    assert proposal.window == timedelta(hours=24)
    assert proposal.window_from == twentieth - timedelta(hours=24)
    assert proposal.minimum_completed == 20
    assert (proposal.completed, proposal.failed, proposal.excluded_unavailable) == (20, 20, 0)
    assert (proposal.ratio, proposal.threshold) == ("1.0", "0.5")
    assert proposal.rule == "suspension-rule.v1"
    assert proposal.clause == clauses.ETMAD_6_1_D
    # auto_suspend (the default): the model is suspended on the proposal, in the same commit
    [suspended] = recorded(app, Suspended, model_aggregate_id(A))
    assert isinstance(suspended.event, Suspended)
    assert suspended.event.occurred_at == twentieth
    assert suspended.event.reason.startswith("proposed by suspension-rule.v1 (ETMAD 6.1(d))")
    state = app.device_model(A)
    assert state.suspension is not None
    assert state.suspension_proposal is not None
    assert report.as_dict()["suspensions_proposed"] == [model_aggregate_id(A)]
    assert report.as_dict()["suspended"] == [model_aggregate_id(A)]


def test_a_suspension_is_proposed_only_at_or_above_the_failure_ratio(app: EtmadApplication):
    register(app, A)
    attempts(app, A, 11, "success")
    attempts(app, A, 9, "busy", start=AT + HOUR)
    managers = ProcessManagers()
    pull(app, managers)
    assert proposals(app, A) == []  # 9 of 20: 45 %

    attempt(app, A, AT + 2 * HOUR, "no_response")
    pull(app, managers)
    assert proposals(app, A) == []  # 10 of 21: 48 %

    attempt(app, A, AT + 3 * HOUR, "bad_certificate")
    pull(app, managers)
    [proposal] = proposals(app, A)  # 11 of 22: 50 %, the threshold
    assert (proposal.completed, proposal.failed, proposal.ratio) == (22, 11, "0.5")


def test_a_model_with_no_completed_attempts_is_never_proposed(app: EtmadApplication):
    register(app, A, B, C)
    attempts(app, A, 25, "no_response")
    # B: series started, none completed (attempts in flight are not counted)
    for i in range(25):
        uow = UnitOfWork(app)
        device_id = fresh_device()
        uow.record(
            migration_aggregate_id(device_id),
            Migration.create,
            Migration.start(
                device_id=device_id,
                device_type=DeviceType.ESME,
                model=B,
                policy=DEFAULT_RETRY_POLICY,
                at=AT + i * MINUTE,
            ),
        )
        uow.commit()
    # C: every attempt failed on a DCC system's unavailability (an incident, not the model)
    attempts(app, C, 30, "tcos_down")
    pull(app)
    assert len(proposals(app, A)) == 1
    assert proposals(app, B) == []
    assert proposals(app, C) == []
    assert app.device_model(B).suspension is None
    assert app.device_model(C).suspension is None


def test_without_auto_suspend_only_the_proposal_is_recorded_once_per_window(
    make_app: AppFactory,
):
    app = make_app(Settings(auto_suspend=False))
    register(app, A)
    attempts(app, A, 20, "no_response")
    managers = ProcessManagers()
    pull(app, managers)
    assert len(proposals(app, A)) == 1
    assert recorded(app, Suspended) == []
    assert app.device_model(A).suspension is None

    attempts(app, A, 10, "no_response", start=AT + 12 * HOUR)  # the same window
    pull(app, managers)
    assert len(proposals(app, A)) == 1

    attempts(app, A, 20, "no_response", start=AT + 25 * HOUR)  # the first one left the window
    pull(app, managers)
    assert len(proposals(app, A)) == 2


def test_a_suspended_model_is_not_proposed_again_until_resumed_and_a_window_passed(
    app: EtmadApplication,
):
    register(app, A)
    attempts(app, A, 20, "no_response")
    managers = ProcessManagers()
    pull(app, managers)
    attempts(app, A, 5, "no_response", start=AT + HOUR)  # in flight when it was suspended
    pull(app, managers)
    assert len(proposals(app, A)) == 1

    app.resume_model(model=A, at=AT + 2 * HOUR, reason="firmware issue understood")
    attempts(app, A, 20, "no_response", start=AT + 3 * HOUR)
    pull(app, managers)
    assert len(proposals(app, A)) == 1  # the failures counted overlap the last proposal's
    assert app.device_model(A).suspension is None

    attempts(app, A, 20, "no_response", start=AT + 26 * HOUR)
    pull(app, managers)
    assert len(proposals(app, A)) == 2
    assert app.device_model(A).suspension is not None
    assert len(recorded(app, Suspended, model_aggregate_id(A))) == 2


def test_the_suspension_rule_is_a_setting(make_app: AppFactory):
    app = make_app(Settings(suspension_rule=SuspensionRule(minimum_completed=3)))
    register(app, A)
    attempts(app, A, 3, "no_response")
    pull(app)
    [proposal] = proposals(app, A)
    assert proposal.minimum_completed == 3


# --- 4.2 Non-Migratable candidates -----------------------------------------------------------


def test_device_side_rejections_of_five_devices_propose_a_candidate_once(app: EtmadApplication):
    register(app, A)
    attempts(app, A, 4, "bad_certificate")
    managers = ProcessManagers()
    pull(app, managers)
    assert candidates(app, A) == []

    attempt(app, A, AT + HOUR, "no_trust_anchor")
    report = pull(app, managers)
    [candidate] = candidates(app, A)
    assert candidate.clause == clauses.ETMAD_6_1_E
    assert candidate.rule == "non-migratable-candidate-rule.v1"
    assert candidate.minimum_devices == 5
    stats = candidate.statistics
    assert (stats.attempts, stats.devices_attempted, stats.devices_rejected) == (5, 5, 5)
    assert stats.rejections_by_cause == (
        (FailureCause.BAD_CERTIFICATE, 4),
        (FailureCause.NO_TRUST_ANCHOR, 1),
    )
    assert stats.devices_replaced == 0
    assert report.as_dict()["non_migratable_candidates"] == [model_aggregate_id(A)]
    assert app.device_model(A).candidate is not None
    assert app.device_model(A).non_migratable is None  # the DCC decides, not the rule

    attempts(app, A, 3, "bad_certificate", start=AT + 2 * HOUR)
    pull(app, managers)
    assert len(candidates(app, A)) == 1  # the proposal stands


def test_a_dismissed_candidate_is_proposed_again_only_on_more_evidence(app: EtmadApplication):
    register(app, A)
    attempts(app, A, 5, "bad_certificate")
    managers = ProcessManagers()
    pull(app, managers)
    dismiss_non_migratable_candidate(
        app, model=A, at=AT + HOUR, decided_by="DCC", rationale="a bad batch of certificates"
    )
    assert app.device_model(A).candidate is None
    with pytest.raises(RuleViolation) as refused:
        dismiss_non_migratable_candidate(
            app, model=A, at=AT + HOUR, decided_by="DCC", rationale="again"
        )
    assert refused.value.code == "NO_CANDIDATE_PROPOSED"

    attempt(app, A, AT + 2 * HOUR, "no_response")  # not a device-side rejection
    pull(app, managers)
    assert len(candidates(app, A)) == 1

    attempt(app, A, AT + 3 * HOUR, "bad_certificate")  # a sixth Device rejected
    pull(app, managers)
    assert len(candidates(app, A)) == 2
    assert candidates(app, A)[1].statistics.devices_rejected == 6

    app.categorise_non_migratable(
        model=A, at=AT + 4 * HOUR, rationale="rejects the ECoS certificate", decided_by="DCC"
    )
    assert app.device_model(A).candidate is None
    attempt(app, A, AT + 5 * HOUR, "bad_certificate")
    pull(app, managers)
    assert len(candidates(app, A)) == 2  # categorised: nothing more to propose


def test_single_device_failures_and_a_replacement_never_propose_a_candidate(
    app: EtmadApplication,
):
    register(app, A, B)
    for outcome in ("no_response", "busy", "transport_down", "tcos_down", "ecos_down"):
        attempts(app, A, 10, outcome)
    attempt(app, B, AT, "success")
    attempts(app, B, 10, "bad_certificate", start=AT + HOUR)
    pull(app)
    assert candidates(app, A) == []
    assert candidates(app, B) == []  # one Device of B replaced its credentials


def test_migrated_devices_failing_an_srv623_propose_a_candidate(app: EtmadApplication):
    register(app, A)
    tcos_device = fresh_device()
    app.register_device(device_id=tcos_device, device_type=DeviceType.ESME, model=A)
    app.record_srv623_failed(device_id=tcos_device, at=AT, request_id="SR-0", reason="rejected")
    migrated = []
    for n in range(5):
        device_id = attempt(app, A, AT + n * MINUTE, "success")
        app.register_device(
            device_id=device_id,
            device_type=DeviceType.ESME,
            model=A,
            cos_party=CosParty.ECOS,
            cos_certificate=CertificateId(2, "ECOS-ISSUER"),
        )
        migrated.append(device_id)
    managers = ProcessManagers()
    for n, device_id in enumerate(migrated[:4]):
        app.record_srv623_failed(
            device_id=device_id, at=AT + HOUR, request_id=f"SR-{n}", reason="not executed"
        )
    pull(app, managers)
    assert candidates(app, A) == []  # 4 migrated Devices (the TCoS Device does not count)

    app.record_srv623_failed(
        device_id=migrated[4], at=AT + 2 * HOUR, request_id="SR-5", reason="not executed"
    )
    pull(app, managers)
    [candidate] = candidates(app, A)
    assert candidate.occurred_at == AT + 2 * HOUR
    stats = candidate.statistics
    assert stats.devices_failed_srv623_after_migration == 5
    assert (stats.attempts, stats.devices_replaced, stats.devices_rejected) == (5, 5, 0)
    assert "SRV 6.23" in candidate.reason


def test_the_candidate_rule_is_a_setting(make_app: AppFactory):
    rule = NonMigratableCandidateRule(minimum_devices=2)
    app = make_app(Settings(non_migratable_candidate_rule=rule))
    register(app, A)
    attempts(app, A, 2, "no_trust_anchor")
    pull(app)
    assert len(candidates(app, A)) == 1


# --- 4.4 incidents ----------------------------------------------------------------------------


def test_an_outage_across_models_raises_one_incident_for_the_dcc(app: EtmadApplication):
    register(app, A, B, C, D)
    attempt(app, D, AT, "success")
    attempt(app, A, AT + MINUTE, "transport_down")
    attempt(app, B, AT + 2 * MINUTE, "transport_down")
    managers = ProcessManagers()
    pull(app, managers)
    assert incidents(app) == []  # two models: not yet a problem with the DCC's systems

    attempt(app, C, AT + 3 * MINUTE, "transport_down")
    report = pull(app, managers)
    [raised] = incidents(app)
    event = raised.event
    assert isinstance(event, IncidentRaised)
    assert raised.originator_id == "incident:dcc/transport/20240304T090100.000000Z"
    assert event.system is DccSystem.TRANSPORT
    assert event.category == 2  # 3 of the 4 models attempted in the hour: 75 %
    assert event.assigned_to == "DCC"
    assert (event.first_seen, event.last_seen) == (AT + MINUTE, AT + 3 * MINUTE)
    assert event.models == (A, B, C)
    assert (event.models_attempted, event.devices, event.failures) == (4, 3, 3)
    assert event.window == HOUR
    assert event.minimum_models == 3
    assert event.category_shares == ("0.9", "0.5", "0.25", "0.1")
    assert event.rule == "incident-rule.v1"
    assert (event.clause, event.category_clause, event.assignment_clause) == (
        clauses.ETMAD_3_7_E,
        clauses.ETMAD_3_7_G,
        clauses.ETMAD_3_7_D,
    )
    incident = app.load(raised.originator_id, Incident.create)
    assert incident is not None
    assert incident.kind is IncidentKind.RAISED
    assert report.as_dict()["incidents_raised"] == [
        {"incident": raised.originator_id, "system": "transport", "category": 2}
    ]

    # the same outage goes on: no second incident; after a quiet hour, a new outage is a new one
    for n, of in enumerate((A, B, C, D)):
        attempt(app, of, AT + (30 + n) * MINUTE, "transport_down")
    pull(app, managers)
    assert len(incidents(app)) == 1
    for n, of in enumerate((A, B, C)):
        attempt(app, of, AT + 3 * HOUR + n * MINUTE, "transport_down")
    pull(app, managers)
    assert [e.originator_id for e in incidents(app)][1] == (
        "incident:dcc/transport/20240304T120000.000000Z"
    )


def test_no_incident_for_one_model_or_one_device_or_device_side_failures(app: EtmadApplication):
    register(app, A, B, C)
    attempts(app, A, 50, "transport_down")  # one model's
    one_device = fresh_device()
    at = AT + 2 * HOUR
    for _ in range(4):  # one Device's failed steps, retried
        attempt(app, B, at, "tcos_down", device_id=one_device)
        migration = app.load(migration_aggregate_id(one_device), Migration.create)
        assert migration is not None
        assert migration.next_retry_at is not None
        at = migration.next_retry_at
    for of in (A, B, C):  # rejections and no responses across models: not the DCC's systems
        attempts(app, of, 5, "bad_certificate", start=AT + 5 * HOUR)
        attempts(app, of, 5, "no_response", start=AT + 5 * HOUR)
    pull(app)
    assert incidents(app) == []


def test_different_systems_are_not_added_together(app: EtmadApplication):
    register(app, A, B, C)
    attempt(app, A, AT, "transport_down")
    attempt(app, B, AT + MINUTE, "tcos_down")
    attempt(app, C, AT + 2 * MINUTE, "ecos_down")
    pull(app)
    assert incidents(app) == []


def test_a_party_raised_incident_about_one_device_is_refused(app: EtmadApplication):
    register(app, A)
    device_id = EUI64(0x00DB_1234_0000_0001)
    app.register_device(device_id=device_id, device_type=DeviceType.ESME, model=A)
    outcome = refuse_party_raised_incident(
        app,
        party="SUPPLIER-A",
        about=device_id,
        reference="INC-1",
        description="the migration of this meter failed twice",
        at=AT,
    )
    refused = outcome.result
    assert isinstance(refused, PartyIncidentRefused)
    assert refused.clause == clauses.ETMAD_3_7_F
    assert refused.code == "PARTY_INCIDENT_REFUSED"
    [saved] = outcome.events
    assert saved.originator_id == "incident:party/SUPPLIER-A/INC-1"
    incident = app.load(saved.originator_id, Incident.create)
    assert incident is not None
    assert incident.kind is IncidentKind.PARTY_REFUSED
    assert incident.about == device_id

    with pytest.raises(CommandRejected) as again:
        refuse_party_raised_incident(
            app, party="SUPPLIER-A", about=device_id, reference="INC-1", description="", at=AT
        )
    assert again.value.code == "INCIDENT_EXISTS"
    with pytest.raises(UnknownDevice):
        refuse_party_raised_incident(
            app, party="SUPPLIER-A", about=fresh_device(), reference="INC-2", description="", at=AT
        )
    admitted = refuse_party_raised_incident(
        app,
        party="SUPPLIER-A",
        about=device_id,
        reference="INC-3",
        description="required by the retry approach",
        at=AT,
        required_by_error_handling=True,
    ).result
    assert isinstance(admitted, PartyIncidentAdmitted)
    assert incidents(app) == []  # neither raises a DCC incident


# --- resumability -----------------------------------------------------------------------------


def scenario(app: EtmadApplication, after: Any = None) -> None:
    """Failures that propose a suspension and a candidate and raise an incident; ``after``
    is called after each attempt."""
    register(app, A, B, C)
    plan = [
        *[(A, "no_response")] * 12,
        *[(A, "bad_certificate")] * 8,
        *[(B, "success")] * 3,
        (A, "transport_down"),
        (B, "transport_down"),
        (C, "transport_down"),
        *[(C, "no_response")] * 4,
    ]
    for n, (of, outcome) in enumerate(plan):
        attempt(app, of, AT + n * MINUTE, outcome)
        if after is not None:
            after()


def consequences(app: EtmadApplication) -> list[bytes]:
    """What the managers saved: each event's aggregate, type and data in canonical JSON (its
    version on the aggregate depends on which manager got there first)."""
    kinds = (SuspensionProposed, Suspended, NonMigratableCandidateProposed, IncidentRaised)
    return [
        canonical_json({"aggregate_id": e.originator_id, "type": e.type, "data": e.event})
        for kind in kinds
        for e in recorded(app, kind)
    ]


def test_a_second_pull_finds_nothing_new(app: EtmadApplication):
    scenario(app)
    managers = ProcessManagers()
    first = pull(app, managers)
    assert first.rounds == 1
    assert len(first.events) == 4
    at = positions(app, managers)
    before = stored(app)
    again = pull(app, managers)
    assert again.rounds == 0
    assert again.events == ()
    assert stored(app) == before
    assert positions(app, managers) == at
    # a fresh set of managers (a fresh process) finds nothing new either
    assert pull(app).events == ()
    assert stored(app) == before


def test_a_crash_inside_the_unit_of_work_saves_nothing_and_a_rerun_saves_it_once(
    app: EtmadApplication, monkeypatch: pytest.MonkeyPatch
):
    scenario(app)
    managers = ProcessManagers()
    react = app.react

    def crash(uow: UnitOfWork, envelope: Envelope) -> None:
        if isinstance(envelope.event, SuspensionProposed):
            raise OSError("the process died while committing")
        react(uow, envelope)

    monkeypatch.setattr(app, "react", crash)
    before = stored(app)
    with pytest.raises(OSError, match="died"):
        pull(app, managers)
    assert stored(app) == before
    assert managers.managers[0].position(app) == 0
    assert proposals(app, A) == []

    monkeypatch.setattr(app, "react", react)
    report = pull(app, managers)  # the same managers: their state is rebuilt from the log
    assert len(proposals(app, A)) == 1
    assert len(report.events) == 4
    at = positions(app, managers)[:3]  # the monitors; the SRV 6.23 recorder follows no attempt
    assert len(set(at)) == 1
    assert at[0] > 0
    assert pull(app, managers).events == ()


def test_a_conflicting_write_refuses_the_whole_batch_and_the_rerun_decides_anew(
    app: EtmadApplication, monkeypatch: pytest.MonkeyPatch
):
    scenario(app)
    managers = ProcessManagers()
    react = app.react

    def operator_first(uow: UnitOfWork, envelope: Envelope) -> None:
        if isinstance(envelope.event, SuspensionProposed):  # meanwhile, an operator acts
            monkeypatch.setattr(app, "react", react)
            app.suspend_model(model=A, at=AT, reason="an operator got there first")
        react(uow, envelope)

    monkeypatch.setattr(app, "react", operator_first)
    with pytest.raises(ConcurrencyConflict):
        pull(app, managers)
    assert managers.managers[0].position(app) == 0
    assert proposals(app, A) == []

    pull(app, managers)
    assert proposals(app, A) == []  # suspended already: nothing to propose
    [suspended] = recorded(app, Suspended)
    assert isinstance(suspended.event, Suspended)
    assert suspended.event.reason == "an operator got there first"
    assert len(candidates(app, A)) == 1
    assert len(incidents(app)) == 1


def test_a_fresh_application_on_the_same_store_continues_from_the_recorded_position(
    tmp_path: Path,
):
    url = f"sqlite:///{tmp_path / 'etmad.sqlite'}"
    first = build_application(url, settings=Settings(), clock=FixedClock())
    register(first, A)
    attempts(first, A, 10, "no_response")
    report = pull(first)
    assert report.notifications() == {
        SuspensionMonitor.name: 40,  # each attempt: started, instructed, reviewed, no response
        NonMigratableCandidateMonitor.name: 40,
        IncidentMonitor.name: 40,
    }
    close_application(first)

    second = build_application(url, settings=Settings(), clock=FixedClock())
    try:
        attempts(second, A, 10, "no_response", start=AT + HOUR)
        managers = ProcessManagers()
        assert [m.position(second) for m in managers.managers][:3] == [
            report.pulled[0].position
        ] * 3
        resumed = pull(second, managers)
        # only the new notifications are processed; the first ten attempts, folded from the
        # log without acting, complete the minimum sample
        assert resumed.notifications()[SuspensionMonitor.name] == 40
        [proposal] = proposals(second, A)
        assert (proposal.completed, proposal.failed) == (20, 20)
    finally:
        close_application(second)


@pytest.fixture
def separate_apps(
    store_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[[], EtmadApplication]]:
    """Applications on stores of their own, of the kind of this test's store."""
    built: list[EtmadApplication] = []

    def make() -> EtmadApplication:
        url = store_url
        if store_url.startswith("sqlite:"):
            url = f"sqlite:///{tmp_path / f'{len(built)}.db'}"
        elif store_url.startswith("postgresql:"):
            url = postgres_url(request.getfixturevalue("postgres_schemas"))
        built.append(build_application(url, settings=Settings(), clock=FixedClock()))
        return built[-1]

    yield make
    for app in built:
        close_application(app)


def test_the_decisions_do_not_depend_on_batches_or_restarts(
    separate_apps: Callable[[], EtmadApplication],
):
    at_the_end = separate_apps()
    scenario(at_the_end)
    pull(at_the_end)

    step_by_step = separate_apps()
    kept = ProcessManagers(batch_size=1)
    scenario(step_by_step, after=lambda: pull(step_by_step, kept))

    restarted = separate_apps()

    def fresh_managers_each_time() -> None:
        ProcessManagers(batch_size=3).pull_all(restarted)

    scenario(restarted, after=fresh_managers_each_time)

    expected = consequences(at_the_end)
    assert len(expected) == 4
    assert consequences(step_by_step) == expected
    assert consequences(restarted) == expected


def test_pull_reads_at_most_its_limit_in_one_unit_of_work(app: EtmadApplication):
    register(app, A)
    attempts(app, A, 3, "no_response")
    monitor = SuspensionMonitor()
    pulled = monitor.pull(app, limit=4)
    assert (pulled.start, pulled.notifications) == (0, 4)
    assert monitor.position(app) == pulled.position
    rest = monitor.pull(app)
    assert rest.start == pulled.position
    assert rest.notifications == 12 - 4
    assert monitor.pull(app).moved is False
    with pytest.raises(ValueError, match="at least one"):
        monitor.pull(app, limit=0)
    assert BATCH == 1000


def test_managers_need_distinct_tracking_names():
    with pytest.raises(ValueError, match="distinct"):
        ProcessManagers([SuspensionMonitor(), SuspensionMonitor()])


# --- one read for all the managers --------------------------------------------------------------


def count_decodes(app: EtmadApplication, monkeypatch: pytest.MonkeyPatch) -> dict[int, int]:
    """How many times each notification is turned into its event from now on (decoded, or
    taken from the envelopes this application remembers it saved)."""
    decodes: dict[int, int] = {}
    decode = app.envelope_of

    def counting(notification: Any) -> Any:
        decodes[notification.id] = decodes.get(notification.id, 0) + 1
        return decode(notification)

    monkeypatch.setattr(app, "envelope_of", counting)
    return decodes


def test_pull_all_decodes_each_notification_once_for_every_manager(
    app: EtmadApplication, monkeypatch: pytest.MonkeyPatch
):
    scenario(app)
    managers = ProcessManagers(batch_size=7)
    decodes = count_decodes(app, monkeypatch)
    report = pull(app, managers)
    assert len(report.events) == 4
    assert set(decodes.values()) == {1}
    assert len(decodes) == max(report.notifications().values())  # the three follow the same

    # a fresh process: the managers rebuild their state in one pass, then carry on
    attempts(app, C, 3, "no_response", start=AT + HOUR)
    decodes.clear()
    resumed = pull(app, ProcessManagers(batch_size=7))
    assert set(decodes.values()) == {1}
    assert len(decodes) == len(ATTEMPT_TOPICS_READ(app))
    monitors = managers.managers[:3]  # the SRV 6.23 recorder follows no attempt
    assert {k: v for k, v in resumed.notifications().items() if v} == {m.name: 12 for m in monitors}


def ATTEMPT_TOPICS_READ(app: EtmadApplication) -> list[int]:  # noqa: N802 — reads as a set
    return [
        n.id
        for n in app.recorder.select_notifications(start=1, limit=1_000_000, topics=ATTEMPT_TOPICS)
    ]


def test_a_round_serves_managers_at_different_positions_and_with_different_topics(
    app: EtmadApplication,
):
    register(app, A)
    attempts(app, A, 3, "bad_certificate")
    ahead = SuspensionMonitor().pull(app, limit=5)  # one manager ahead of the others
    attempts(app, A, 2, "bad_certificate", start=AT + HOUR)
    for n in range(3):  # a stretch only the candidate monitor follows, at the end of the log
        device_id = fresh_device()
        app.register_device(
            device_id=device_id,
            device_type=DeviceType.ESME,
            model=A,
            cos_party=CosParty.ECOS,
            cos_certificate=CertificateId(2, "ECOS-ISSUER"),
        )
        app.record_srv623_failed(
            device_id=device_id, at=AT + 2 * HOUR, request_id=f"SR-{n}", reason="not executed"
        )
    managers = ProcessManagers(batch_size=1)
    report = pull(app, managers)

    attempted = ATTEMPT_TOPICS_READ(app)
    followed = app.recorder.select_notifications(
        start=1, limit=1_000_000, topics=NonMigratableCandidateMonitor.topics
    )
    # every manager's position is the last notification read, its own topics' or not: one
    # whose topics stop earlier records the rest as seen (``skip_to``)
    last = max(attempted[-1], followed[-1].id)
    assert positions(app, managers) == [last] * len(managers.managers)
    assert report.notifications() == {
        SuspensionMonitor.name: len(attempted) - ahead.notifications,
        NonMigratableCandidateMonitor.name: len(followed),
        IncidentMonitor.name: len(attempted),
    }
    assert len(candidates(app, A)) == 1
    assert pull(app, managers).rounds == 0


# --- the optimised managers decide as the straightforward ones -----------------------------


class ReferenceSuspensionMonitor(AttemptMonitor):
    """The suspension rule as first written: at each completed attempt, ``assess_suspension``
    over the model's attempts kept (a window plus ``LATE_ARRIVAL`` behind the latest)."""

    name = "test.reference.suspension-monitor"

    def clear(self) -> None:
        self.kept: dict[DeviceModelKey, list[CompletedAttempt]] = {}
        self.latest: dict[DeviceModelKey, datetime] = {}

    def observe(self, attempt: CompletedAttempt, settings: Settings) -> None:
        kept = self.kept.setdefault(attempt.model, [])
        kept.append(attempt)
        latest = max(self.latest.get(attempt.model, attempt.completed_at), attempt.completed_at)
        self.latest[attempt.model] = latest
        horizon = latest - settings.suspension_rule.window - LATE_ARRIVAL
        while kept and kept[0].completed_at <= horizon:
            kept.pop(0)

    def decide(self, uow: UnitOfWork, attempt: CompletedAttempt, settings: Settings) -> None:
        assessment = assess_suspension(
            attempt.model,
            self.kept[attempt.model],
            at=attempt.completed_at,
            rule=settings.suspension_rule,
        )
        if not assessment.propose:
            return
        model = uow.get(model_aggregate_id(attempt.model), DeviceModel.create)
        assert model is not None
        proposed = model.propose_suspension(assessment)
        if proposed is None:
            return
        after = uow.record(model.aggregate_id, DeviceModel.create, proposed)
        if settings.auto_suspend and after is not None:
            suspended = after.suspend(at=assessment.at, reason=proposed.as_suspension_reason())
            uow.record(after.aggregate_id, DeviceModel.create, suspended)


class ReferenceNonMigratableCandidateMonitor(AttemptMonitor):
    """The candidate rule as first written: ``propose_non_migratable`` over every attempt of
    the model at each device-side rejection and each migrated Device's failed SRV 6.23."""

    name = "test.reference.non-migratable-candidate-monitor"
    topics = (*ATTEMPT_TOPICS, Srv623Failed.TYPE)

    def clear(self) -> None:
        self.attempts: dict[DeviceModelKey, list[CompletedAttempt]] = {}
        self.failed_after_migration: dict[DeviceModelKey, set[str]] = {}

    def handle(self, envelope: Envelope, uow: UnitOfWork | None, settings: Settings) -> None:
        event = envelope.event
        if not isinstance(event, Srv623Failed):
            super().handle(envelope, uow, settings)
            return
        if event.cos_party is not CosParty.ECOS:
            return
        self.failed_after_migration.setdefault(event.model, set()).add(envelope.originator_id)
        if uow is not None:
            assert event.occurred_at is not None
            self.assess(uow, event.model, event.occurred_at, settings)

    def observe(self, attempt: CompletedAttempt, settings: Settings) -> None:  # noqa: ARG002
        self.attempts.setdefault(attempt.model, []).append(attempt)

    def decide(self, uow: UnitOfWork, attempt: CompletedAttempt, settings: Settings) -> None:
        if is_device_side_rejection(attempt.failure):
            self.assess(uow, attempt.model, attempt.completed_at, settings)

    def assess(
        self, uow: UnitOfWork, key: DeviceModelKey, at: datetime, settings: Settings
    ) -> None:
        candidate = propose_non_migratable(
            key,
            self.attempts.get(key, ()),
            at=at,
            failed_srv623_after_migration=len(self.failed_after_migration.get(key, ())),
            rule=settings.non_migratable_candidate_rule,
        )
        if not candidate.propose:
            return
        model = uow.get(model_aggregate_id(key), DeviceModel.create)
        assert model is not None
        proposed = model.propose_non_migratable_candidate(candidate)
        uow.record(model.aggregate_id, DeviceModel.create, proposed)


class ReferenceIncidentMonitor(AttemptMonitor):
    """The incident rule as first written: ``assess_system_problem`` over every attempt kept
    (a window plus ``LATE_ARRIVAL`` behind the latest) at each DCC system's unavailability."""

    name = "test.reference.incident-monitor"

    def clear(self) -> None:
        self.kept: list[CompletedAttempt] = []
        self.latest: datetime | None = None
        self.outages: dict[DccSystem, tuple[datetime, datetime]] = {}  # first and last seen

    def observe(self, attempt: CompletedAttempt, settings: Settings) -> None:
        rule = settings.incident_rule
        at = attempt.completed_at
        self.kept.append(attempt)
        self.latest = at if self.latest is None else max(self.latest, at)
        while self.kept and self.kept[0].completed_at <= self.latest - rule.window - LATE_ARRIVAL:
            self.kept.pop(0)
        system = unavailable_system(attempt)
        if system is None:
            return
        outage = self.outages.get(system)
        if outage is None or at > outage[1] + rule.window:
            self.outages[system] = (at, at)
        else:
            self.outages[system] = (outage[0], max(outage[1], at))

    def decide(self, uow: UnitOfWork, attempt: CompletedAttempt, settings: Settings) -> None:
        if unavailable_system(attempt) is None:
            return
        rule = settings.incident_rule
        assessment = assess_system_problem(self.kept, at=attempt.completed_at, rule=rule)
        if not assessment.raise_incident:
            return
        for affected in assessment.systems:
            if len(affected.models) < rule.minimum_models:
                continue
            first_seen = self.outages[affected.system][0]
            key = incident_aggregate_id(system_incident_id(affected.system, first_seen))
            if uow.get(key, Incident.create) is not None:
                continue
            seen = [
                a.completed_at
                for a in self.kept
                if unavailable_system(a) is affected.system
                and assessment.window_from < a.completed_at <= assessment.at
            ]
            raised = Incident.raise_for(
                assessment, affected, first_seen=first_seen, last_seen=max(seen)
            )
            uow.record(key, Incident.create, raised)


def pull_each_in_turn(app: EtmadApplication, managers: list[AttemptMonitor], limit: int) -> None:
    """``pull_all`` as first written: each manager reads and decodes its own batches."""
    while any([m.pull(app, limit=limit).moved for m in managers]):  # noqa: C419 — pull each
        pass


THREE = (A, B, C)
OUTCOMES = (
    "success",
    "success",
    "no_response",
    "busy",
    "bad_certificate",
    "no_trust_anchor",
    "transport_down",
    "transport_down",
    "tcos_down",
    "ecos_down",
)
#: Minutes into a day's first three hours, on a grid, so that attempts often fall on the edges
#: of one another's windows.
minutes = st.integers(0, 18).map(lambda n: 10 * n)
#: An attempt: model, day, minute, outcome, Device slot.
an_attempt = st.tuples(
    st.just("attempt"),
    st.integers(0, 2),
    st.integers(0, 3),
    minutes,
    st.sampled_from(OUTCOMES),
    st.integers(0, 3),
)
#: A failed SRV 6.23: model, day, minute, whether the Device holds the ECoS Party's credentials.
an_srv623 = st.tuples(
    st.just("srv623"), st.integers(0, 2), st.integers(0, 3), minutes, st.booleans()
)
#: A DCC system's outage seen by a new Device of each model in turn, five minutes apart, later
#: ones first if ``backwards`` (then none sees the others in its window): outcome, day, minute,
#: backwards.
an_outage = st.tuples(
    st.just("outage"),
    st.sampled_from(["transport_down", "tcos_down", "ecos_down"]),
    st.integers(0, 3),
    minutes,
    st.booleans(),
)
plans = st.lists(
    st.one_of(
        an_attempt,
        an_attempt,
        an_attempt,
        an_attempt,
        an_outage,
        an_srv623,
        st.just(("pull",)),
        st.tuples(st.just("dismiss"), st.integers(0, 2)),
        st.tuples(st.just("resume"), st.integers(0, 2)),
    ),
    min_size=15,
    max_size=60,
)


def again_or_anew(
    app: EtmadApplication, device_id: EUI64 | None, at: datetime
) -> tuple[EUI64 | None, datetime]:
    """The Device to attempt at ``at`` (None: a new one) and when: ``device_id`` again while
    its Migration allows a new attempt from the instruction, no earlier than its last step and
    its retry time."""
    if device_id is None:
        return None, at
    migration = app.load(migration_aggregate_id(device_id), Migration.create)
    if migration is None:
        return device_id, at
    series = migration.current_series
    if migration.status is MigrationStatus.COMPLETED_UNSUCCESSFULLY or (
        migration.status is MigrationStatus.RETRY_SCHEDULED
        and series.resumes_at is Step.INSTRUCTION
    ):
        return device_id, max(at, series.last_at or at, series.retry_at or at)
    return None, at  # succeeded, or its retry resumes at the confirmation


def replay(app: EtmadApplication, plan: list[tuple[Any, ...]], pull: Callable[[], Any]) -> None:
    """Record ``plan`` (completed attempts, outages, failed SRV 6.23s, pulls, the DCC's
    dismissals and resumptions) on ``app``; a Device slot is attempted again when it can be
    (``again_or_anew``)."""
    register(app, *THREE)
    numbers = itertools.count(1)
    slots: dict[tuple[int, int], EUI64] = {}
    later = AT + timedelta(days=9)
    for step in plan:
        match step:
            case ("attempt", m, day, minute, outcome, slot):
                device_id, at = again_or_anew(
                    app, slots.get((m, slot)), AT + timedelta(days=day, minutes=minute)
                )
                if device_id is None:
                    device_id = slots[m, slot] = EUI64(0x00DB_6000_0000_0000 + next(numbers))
                attempt(app, THREE[m], at, outcome, device_id=device_id)
            case ("outage", outcome, day, minute, backwards):
                for n, of in enumerate(THREE):
                    device_id = EUI64(0x00DB_6000_0000_0000 + next(numbers))
                    offset = 5 * (len(THREE) - 1 - n if backwards else n)
                    at = AT + timedelta(days=day, minutes=minute + offset)
                    attempt(app, of, at, outcome, device_id=device_id)
            case ("srv623", m, day, minute, ecos):
                device_id = EUI64(0x00DB_6000_0000_0000 + next(numbers))
                app.register_device(
                    device_id=device_id,
                    device_type=DeviceType.ESME,
                    model=THREE[m],
                    cos_party=CosParty.ECOS if ecos else CosParty.TCOS,
                    cos_certificate=CertificateId(2, "ECOS-ISSUER") if ecos else None,
                )
                app.record_srv623_failed(
                    device_id=device_id,
                    at=AT + timedelta(days=day, minutes=minute),
                    request_id=f"SR-{device_id}",
                    reason="not executed",
                )
            case ("dismiss", m) if app.device_model(THREE[m]).candidate is not None:
                dismiss_non_migratable_candidate(
                    app, model=THREE[m], at=later, decided_by="DCC", rationale="not yet"
                )
            case ("resume", m) if app.device_model(THREE[m]).suspension is not None:
                app.resume_model(model=THREE[m], at=later, reason="investigated")
            case ("pull",):
                pull()
    pull()


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(
    plan=plans,
    batch_size=st.integers(1, 12),
    reference_batch=st.integers(1, 12),
    minimum_completed=st.integers(1, 4),
    failure_ratio=st.sampled_from([0.3, 0.5, 1.0]),
    auto_suspend=st.booleans(),
    minimum_devices=st.integers(1, 3),
    minimum_models=st.integers(2, 3),
)
def test_the_managers_decide_as_the_rules_first_written(
    *,
    plan: list[tuple[Any, ...]],
    batch_size: int,
    reference_batch: int,
    minimum_completed: int,
    failure_ratio: float,
    auto_suspend: bool,
    minimum_devices: int,
    minimum_models: int,
):
    """Random histories (three models, successes and failures of every kind, Devices retried,
    times out of order across several windows and days, the DCC's dismissals and resumptions)
    give the same recorded decisions from the managers (one read per round, incremental
    tallies) as from the straightforward algorithm above (each manager reading its own
    batches, each rule assessed over every attempt kept)."""
    rules = Settings(
        suspension_rule=SuspensionRule(
            window=2 * HOUR, minimum_completed=minimum_completed, failure_ratio=failure_ratio
        ),
        auto_suspend=auto_suspend,
        non_migratable_candidate_rule=NonMigratableCandidateRule(minimum_devices=minimum_devices),
        incident_rule=IncidentRule(window=HOUR, minimum_models=minimum_models),
    )
    optimised = build_application("memory:", settings=rules, clock=FixedClock())
    reference = build_application("memory:", settings=rules, clock=FixedClock())
    try:
        managers = ProcessManagers(batch_size=batch_size)
        replay(optimised, plan, lambda: managers.pull_all(optimised))
        followers: list[AttemptMonitor] = [
            ReferenceSuspensionMonitor(),
            ReferenceNonMigratableCandidateMonitor(),
            ReferenceIncidentMonitor(),
        ]
        replay(reference, plan, lambda: pull_each_in_turn(reference, followers, reference_batch))
        assert consequences(optimised) == consequences(reference)
    finally:
        close_application(optimised)
        close_application(reference)


# --- end to end: the migration runner on the simulated fleet ---------------------------------


def test_the_runner_s_outcomes_on_the_simulated_fleet_feed_the_managers(make_app: AppFactory):
    app = make_app()
    start = T0 + timedelta(days=30)
    outage = Outage(
        system=SimulatedSystem.DEVICE_TRANSPORT, start=start, end=start + timedelta(minutes=30)
    )
    rejecting = DeviceBehaviour.rejecting(StatusCode.BAD_CERTIFICATE)
    fleet = material().fleet(seed=7, behaviours={D: rejecting}, outages=[outage])
    runner = MigrationRunner(
        app,
        tcos=SimulatedTcosServiceProvider(fleet),
        ecos=SimulatedEcosServiceProvider(fleet),
        transport=SimulatedDeviceTransport(fleet),
        codec=codec(),
        device_timeout=TIMEOUT,
    )
    for key in (A, B, C, D):
        app.register_device_model(
            model=key,
            device_type=DeviceType.ESME,
            smets=SmetsGeneration.SMETS2_PLUS,
            firmware_rank=1,
            at=T0 - timedelta(days=400),
        )
    plan = [(A, start), (B, start), (C, start), *[(D, start + HOUR)] * 5]
    for of, at in plan:
        device_id = fresh_device()
        fleet.add_device(device_id, of)
        app.register_device(
            device_id=device_id,
            device_type=DeviceType.ESME,
            model=of,
            cos_certificate=CertificateId(1, "TCOS-ISSUER"),
            at=start - timedelta(days=90),
        )
        app.record_commissioning(device_id=device_id, at=start - timedelta(days=90))
        runner.start(device_id, at)
        runner.run(device_id, at)

    report = pull(app).as_dict()
    [incident] = report["incidents_raised"]
    assert incident["system"] == "transport"
    assert report["non_migratable_candidates"] == [model_aggregate_id(D)]
    assert report["suspensions_proposed"] == []  # 5 attempts of D: below the minimum sample


def test_a_manager_reads_what_this_application_saved_without_decoding_it(
    app: EtmadApplication, monkeypatch: pytest.MonkeyPatch
):
    scenario(app)
    decoded: list[int] = []
    decode = app.mapper.to_domain_event

    def counting(notification: Any) -> Any:
        decoded.append(notification.id)
        return decode(notification)

    monkeypatch.setattr(app.mapper, "to_domain_event", counting)
    report = pull(app, ProcessManagers())
    assert len(report.events) == 4
    assert decoded == []  # every notification was one this application had just saved
    fresh = ProcessManagers()  # another process would decode; the decisions are the same
    app.cache.clear()
    assert not pull(app, fresh).events
