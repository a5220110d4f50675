"""The migration runner through the ports, on the seeded simulator, on both stores."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import attrs
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from adapters.bootstrap import build_application
from adapters.codecs.gbcs import CpvChecks, StatusCode
from adapters.codecs.gbcs.replacement import GbcsReplacementCodec
from adapters.simulator import (
    DeviceBehaviour,
    FleetSimulation,
    Outage,
    SimulatedDeviceTransport,
    SimulatedEcosServiceProvider,
    SimulatedSystem,
    SimulatedTcosServiceProvider,
)
from application.credentials import SignatureEncoding
from application.mapper import event_record
from application.migration import MigrationProgress, MigrationRunner
from application.serialization import canonical_json
from application.service import EtmadApplication
from application.settings import Settings
from domain.device import device_aggregate_id
from domain.errors import RuleViolation
from domain.failures import (
    DeviceOutcome,
    FailureCause,
    FailureCode,
    GbcsStatus,
    ReplyKind,
    Step,
    classify_replacement,
)
from domain.identifiers import EUI64, CertificateId, CosParty, DeviceType, SmetsGeneration
from domain.migration import MigrationStatus, ReplacementOutcomeRecorded, SeriesEnding
from domain.retry_policy import DEFAULT_RETRY_POLICY
from tests.conftest import AppFactory
from tests.simulator_support import DEVICE, HEALTHY, T0, TCOS_PARTY, material

START = T0 + timedelta(days=30)
TIMEOUT = timedelta(seconds=60)


class DeterministicSigner:
    """The TCoS key of the test PKI, signing with RFC 6979 so runs compare byte for byte."""

    def __init__(self) -> None:
        self._key = material().pki._private["tcos-ds"]

    def sign(
        self, key: str, data: bytes, *, encoding: SignatureEncoding = SignatureEncoding.RAW
    ) -> bytes:
        del key, encoding
        r, s = decode_dss_signature(
            self._key.sign(data, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
        )
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def public_key(self, key: str) -> bytes:
        raise NotImplementedError

    def keys(self) -> list[str]:
        return ["tcos-ds"]


def codec() -> GbcsReplacementCodec:
    m = material()
    return GbcsReplacementCodec(
        signer=DeterministicSigner(),
        key="tcos-ds",
        tcos_party=TCOS_PARTY,
        ecos_certificate=m.ecos.der,
        certification_path=[m.oca.der],
        cpv_checks=CpvChecks.DISAPPLY,
    )


class World:
    def __init__(
        self, app: EtmadApplication, fleet: FleetSimulation | None = None, **kw: Any
    ) -> None:
        self.app = app
        self.fleet = fleet or material().fleet(seed=2024, **kw)
        self.codec = codec()
        self.transport: Any = SimulatedDeviceTransport(self.fleet)
        self.runner = MigrationRunner(
            app,
            tcos=SimulatedTcosServiceProvider(self.fleet),
            ecos=SimulatedEcosServiceProvider(self.fleet),
            transport=self.transport,
            codec=self.codec,
            device_timeout=TIMEOUT,
        )

    def device(self, device_id: Any = DEVICE, behaviour: DeviceBehaviour | None = None) -> Any:
        self.fleet.add_device(device_id, HEALTHY)
        if behaviour is not None:
            self.fleet.set_fault(device_id, behaviour)
        self.app.register_device(
            device_id=device_id,
            device_type=DeviceType.ESME,
            model=HEALTHY,
            cos_certificate=CertificateId(1, "TCOS-ISSUER"),
            at=START - timedelta(days=90),
        )
        self.app.record_commissioning(device_id=device_id, at=START - timedelta(days=90))
        return device_id

    def progress(self, outcome: Any) -> MigrationProgress:
        assert isinstance(outcome.result, MigrationProgress)
        return outcome.result


def world(app: EtmadApplication, **kw: Any) -> World:
    app.register_device_model(
        model=HEALTHY,
        device_type=DeviceType.ESME,
        smets=SmetsGeneration.SMETS2_PLUS,
        firmware_rank=1,
        at=T0 - timedelta(days=400),
    )
    return World(app, **kw)


def test_the_codec_s_command_is_accepted_by_a_simulated_device_and_its_response_decoded():
    fleet = material().fleet()
    fleet.add_device(DEVICE, HEALTHY)
    c = codec()
    command = c.replacement_command(DEVICE, originator_counter=10, at=START)
    reply = SimulatedDeviceTransport(fleet).send(DEVICE, command.command, START, timeout=TIMEOUT)
    assert reply.response is not None
    outcome = c.device_outcome(reply.response, command)
    assert outcome.succeeded
    assert fleet.holds_ecos_credential(DEVICE)
    assert command.ecos_certificate == c.ecos_certificate_id
    assert c.device_outcome(b"\x00garbage", command).detail.startswith("the response is not")


def test_a_rejecting_device_s_status_is_decoded():
    fleet = material().fleet(
        behaviours={HEALTHY: DeviceBehaviour.rejecting(StatusCode.NO_TRUST_ANCHOR)}
    )
    fleet.add_device(DEVICE, HEALTHY)
    c = codec()
    command = c.replacement_command(DEVICE, originator_counter=10, at=START)
    reply = SimulatedDeviceTransport(fleet).send(DEVICE, command.command, START, timeout=TIMEOUT)
    assert reply.response is not None
    outcome = c.device_outcome(reply.response, command)
    assert [cell.status for cell in outcome.cells] == [GbcsStatus.NO_TRUST_ANCHOR]


def test_the_happy_path_migrates_the_device(make_app: AppFactory):
    w = world(make_app())
    w.device()
    started = w.runner.start(DEVICE, START, selection_ref="sel-1")
    types = [e.type for e in started.events]
    assert any(t.endswith(".MigrationStarted.v1") for t in types)  # the Bulk gate counted
    assert any("SeriesStarted" in t for t in types)
    progress = w.progress(w.runner.run(DEVICE, START))
    assert progress.status is MigrationStatus.SUCCEEDED
    device = w.app.device(DEVICE)
    assert device.cos_party is CosParty.ECOS
    assert device.cos_certificate == w.codec.ecos_certificate_id
    migration = w.runner.migration(DEVICE)
    assert migration is not None
    assert migration.succeeded
    assert migration.failed_migration is None  # the H17.5 items are empty
    assert migration.ecos_certificate == w.codec.ecos_certificate_id


def test_a_second_start_while_a_series_is_in_progress_is_refused(make_app: AppFactory):
    w = world(make_app())
    w.device()
    w.runner.start(DEVICE, START)
    with pytest.raises(RuleViolation) as e:
        w.runner.start(DEVICE, START)
    assert e.value.code == "SERIES_IN_PROGRESS"


def test_review_refused_ends_the_series(make_app: AppFactory):
    w = world(make_app())
    w.device(behaviour=DeviceBehaviour.refused_by_review("meter under investigation"))
    w.runner.start(DEVICE, START)
    progress = w.progress(w.runner.run(DEVICE, START))
    assert progress.status is MigrationStatus.COMPLETED_UNSUCCESSFULLY
    assert progress.failed_migration is not None
    assert progress.failed_migration.failure_code is FailureCode.TCOS_REVIEW_REFUSED


def test_bad_certificate_ends_the_series_at_once(make_app: AppFactory):
    w = world(make_app())
    w.device(behaviour=DeviceBehaviour.rejecting(StatusCode.BAD_CERTIFICATE))
    w.runner.start(DEVICE, START)
    progress = w.progress(w.runner.run(DEVICE, START))
    assert progress.status is MigrationStatus.COMPLETED_UNSUCCESSFULLY
    assert progress.failed_migration is not None
    assert progress.failed_migration.failure_sub_code == "badCertificate(5)"
    migration = w.runner.migration(DEVICE)
    assert migration is not None
    assert migration.current_series.ending is SeriesEnding.NON_RETRYABLE_CAUSE
    assert w.app.device(DEVICE).cos_party is CosParty.TCOS


def test_no_response_schedules_a_retry_with_the_policy_s_back_off(make_app: AppFactory):
    w = world(make_app())
    w.device(behaviour=DeviceBehaviour.silent())
    w.runner.start(DEVICE, START)
    progress = w.progress(w.runner.run(DEVICE, START))
    assert progress.status is MigrationStatus.RETRY_SCHEDULED
    assert progress.failed_migration is not None
    failed_at = progress.failed_migration.date_of_last_failure
    assert progress.next_retry_at == failed_at + DEFAULT_RETRY_POLICY.backoff[0]
    with pytest.raises(RuleViolation) as e:
        w.runner.retry(DEVICE, failed_at)
    assert e.value.code == "RETRY_NOT_DUE"


def test_the_7_day_window_ends_the_series(make_app: AppFactory):
    w = world(make_app())
    w.device(behaviour=DeviceBehaviour.silent())
    w.runner.start(DEVICE, START)
    progress = w.progress(w.runner.run(DEVICE, START))
    while progress.status is MigrationStatus.RETRY_SCHEDULED:
        assert progress.next_retry_at is not None
        progress = w.progress(w.runner.retry(DEVICE, progress.next_retry_at))
    assert progress.status is MigrationStatus.COMPLETED_UNSUCCESSFULLY
    migration = w.runner.migration(DEVICE)
    assert migration is not None
    assert migration.current_series.ending is SeriesEnding.RETRY_WINDOW_CLOSED
    assert migration.attempts == 6  # 1h, 6h, 1d, 2d, 2d; the next would pass 7 days


def test_an_ecos_outage_at_step_iv_retries_there_without_resending(make_app: AppFactory):
    outage = Outage(
        system=SimulatedSystem.ECOS_SERVICE_PROVIDER, start=START, end=START + timedelta(minutes=30)
    )
    w = world(make_app(), outages=[outage])
    w.device()
    w.runner.start(DEVICE, START)
    progress = w.progress(w.runner.run(DEVICE, START))
    assert progress.status is MigrationStatus.RETRY_SCHEDULED
    assert progress.failed_migration is not None
    assert progress.failed_migration.failure_code is FailureCode.ECOS_CONFIRMATION_UNAVAILABLE
    assert w.app.device(DEVICE).cos_party is CosParty.ECOS  # replaced at step (iii)
    assert progress.next_retry_at is not None
    retried = w.runner.retry(DEVICE, progress.next_retry_at)
    types = [e.type for e in retried.events]
    assert not any("ReplacementCommandSent" in t or "TcosInstructed" in t for t in types)
    assert w.progress(retried).status is MigrationStatus.SUCCEEDED
    migration = w.runner.migration(DEVICE)
    assert migration is not None
    assert len(migration.counters_sent) == 1


def test_the_policy_is_frozen_onto_the_series(make_app: AppFactory):
    app = make_app()
    w = world(app)
    w.device(behaviour=DeviceBehaviour.silent())
    w.runner.start(DEVICE, START)
    strict = attrs.evolve(
        DEFAULT_RETRY_POLICY, version="strict-2", retryable=frozenset({FailureCause.UNAVAILABLE})
    )
    app.settings = attrs.evolve(app.settings, retry_policy=strict)
    progress = w.progress(w.runner.run(DEVICE, START))
    assert progress.status is MigrationStatus.RETRY_SCHEDULED  # the default, frozen, retries


def test_an_ineligible_device_is_refused(make_app: AppFactory):
    w = world(make_app())
    w.device()
    w.app.raise_technical_issue(device_id=DEVICE, at=START - timedelta(days=1), reason="fault")
    with pytest.raises(RuleViolation) as e:
        w.runner.start(DEVICE, START)
    assert e.value.code == "DEVICE_INELIGIBLE"
    assert w.runner.migration(DEVICE) is None


def test_a_device_that_became_ineligible_has_its_series_withdrawn_on_retry(make_app: AppFactory):
    w = world(make_app())
    w.device(behaviour=DeviceBehaviour.silent())
    w.runner.start(DEVICE, START)
    progress = w.progress(w.runner.run(DEVICE, START))
    w.app.raise_technical_issue(device_id=DEVICE, at=START + timedelta(minutes=5), reason="fault")
    assert progress.next_retry_at is not None
    ended = w.progress(w.runner.retry(DEVICE, progress.next_retry_at))
    assert ended.status is MigrationStatus.COMPLETED_UNSUCCESSFULLY


def test_start_counts_against_the_bulk_cap(make_app: AppFactory):
    w = world(make_app(Settings(bulk_migration_number=1)))
    first, second = w.device(DEVICE), w.device(EUI64(DEVICE.value + 1))
    w.runner.start(first, START)
    with pytest.raises(RuleViolation) as e:
        w.runner.start(second, START)
    assert e.value.code == "BULK_CAP_REACHED"
    assert w.runner.migration(second) is None


class CrashingTransport:
    """A transport whose process dies during the send of step (iii)."""

    def send(self, device_id: object, command: object, at: object, *, timeout: object) -> Any:
        del command, at, timeout
        raise RuntimeError(f"crash sending to {device_id}")


class CountingTransport:
    """The simulated transport, counting sends; with ``crash_after_delivery`` its process dies
    once the command has reached the Device, before the reply is back."""

    def __init__(self, real: SimulatedDeviceTransport, *, crash_after_delivery: bool) -> None:
        self.real = real
        self.crash_after_delivery = crash_after_delivery
        self.sends = 0

    def send(self, device_id: EUI64, command: bytes, at: Any, *, timeout: timedelta) -> Any:
        self.sends += 1
        reply = self.real.send(device_id, command, at, timeout=timeout)
        if self.crash_after_delivery:
            self.crash_after_delivery = False
            raise RuntimeError(f"crash after delivering to {device_id}")
        return reply


def _types(app: EtmadApplication, aggregate_id: str) -> list[str]:
    return [e.type for e in app.stored(aggregate_id)]


def test_the_command_is_recorded_before_it_is_sent(make_app: AppFactory):
    w = world(make_app())
    w.device()
    w.runner.start(DEVICE, START)
    w.runner.transport = CrashingTransport()
    with pytest.raises(RuntimeError):
        w.runner.run(DEVICE, START)
    migration = w.runner.migration(DEVICE)
    assert migration is not None
    assert migration.current_step is Step.REPLACEMENT
    assert migration.replacement_in_flight  # the counter used is on record
    assert len(migration.counters_sent) == 1
    assert _types(w.app, f"migration:{DEVICE}")[-1].endswith("ReplacementCommandSent.v1")


def test_a_crash_after_delivery_is_reconciled_through_the_confirmations(make_app: AppFactory):
    w = world(make_app())
    w.device()
    w.runner.start(DEVICE, START)
    transport = CountingTransport(w.transport, crash_after_delivery=True)
    w.runner.transport = transport
    with pytest.raises(RuntimeError):
        w.runner.run(DEVICE, START)
    assert w.fleet.holds_ecos_credential(DEVICE)  # it reached the Device
    assert w.app.device(DEVICE).cos_party is CosParty.TCOS  # unrecorded so far
    rerun = w.runner.run(DEVICE, START)
    assert w.progress(rerun).status is MigrationStatus.SUCCEEDED
    assert transport.sends == 1  # no second command
    types = [e.type for e in rerun.events]
    assert not any("ReplacementCommandSent" in t or "TcosInstructed" in t for t in types)
    stream = w.app.stored(f"migration:{DEVICE}")
    outcomes = [e.event for e in stream if isinstance(e.event, ReplacementOutcomeRecorded)]
    assert len(outcomes) == 1  # success recorded once
    assert outcomes[0].outcome.kind is ReplyKind.RECONCILED
    assert outcomes[0].outcome.detail.startswith("confirmed after an interrupted send")
    assert outcomes[0].failure is None
    device_types = _types(w.app, device_aggregate_id(DEVICE))
    assert sum(t.endswith(".CredentialsReplaced.v1") for t in device_types) == 1
    device = w.app.device(DEVICE)
    assert device.cos_party is CosParty.ECOS
    assert device.cos_certificate == w.codec.ecos_certificate_id
    migration = w.runner.migration(DEVICE)
    assert migration is not None
    assert migration.failed_migration is None
    assert len(migration.counters_sent) == 1
    assert migration.ecos_certificate == w.codec.ecos_certificate_id


def test_a_crash_between_steps_keeps_what_was_done_and_a_rerun_continues(make_app: AppFactory):
    """The send crashed before delivery: the rerun reconciles, nobody confirms, so it records
    no response (interrupted); the retry sends a new command with a higher counter."""
    w = world(make_app())
    w.device()
    w.runner.start(DEVICE, START)
    w.runner.transport = CrashingTransport()
    with pytest.raises(RuntimeError):
        w.runner.run(DEVICE, START)
    transport = CountingTransport(w.transport, crash_after_delivery=False)
    w.runner.transport = transport
    rerun = w.runner.run(DEVICE, START)
    types = [e.type for e in rerun.events]
    assert not any("TcosInstructed" in t or "TcosReviewed" in t for t in types)
    assert not any("ReplacementCommandSent" in t for t in types)
    assert transport.sends == 0  # never sent blindly
    progress = w.progress(rerun)
    assert progress.status is MigrationStatus.RETRY_SCHEDULED
    failed = progress.failed_migration
    assert failed is not None
    assert failed.failure_code is FailureCode.REPLACEMENT_NO_RESPONSE
    assert failed.cause is FailureCause.NO_RESPONSE
    assert failed.failure_sub_code == "interrupted"
    assert failed.detail.startswith("the outcome of an interrupted send is unknown")
    assert w.app.device(DEVICE).cos_party is CosParty.TCOS
    assert progress.next_retry_at == failed.date_of_last_failure + DEFAULT_RETRY_POLICY.backoff[0]
    retried = w.runner.retry(DEVICE, progress.next_retry_at)
    assert w.progress(retried).status is MigrationStatus.SUCCEEDED
    assert transport.sends == 1
    migration = w.runner.migration(DEVICE)
    assert migration is not None
    counters = migration.counters_sent
    assert len(counters) == 2
    assert counters[0] < counters[1]  # strictly increasing
    device_types = _types(w.app, device_aggregate_id(DEVICE))
    assert sum(t.endswith(".CredentialsReplaced.v1") for t in device_types) == 1
    assert w.app.device(DEVICE).cos_party is CosParty.ECOS


def _stream(app: EtmadApplication) -> list[bytes]:
    ids = [
        f"migration:{DEVICE}",
        w_device_id(),
    ]
    return [canonical_json(event_record(e)) for i in ids for e in app.stored(i)]


def w_device_id() -> str:

    return device_aggregate_id(DEVICE)


def test_two_runs_with_the_same_seed_give_identical_event_streams(make_app: AppFactory):
    streams = []
    for app in (make_app(), build_application("memory:")):
        w = world(app, behaviours={HEALTHY: DeviceBehaviour.flaky(0.5)})
        w.device()
        w.runner.start(DEVICE, START)
        progress = w.progress(w.runner.run(DEVICE, START))
        while progress.status is MigrationStatus.RETRY_SCHEDULED:
            assert progress.next_retry_at is not None
            progress = w.progress(w.runner.retry(DEVICE, progress.next_retry_at))
        streams.append(_stream(app))
    assert streams[0] == streams[1]


def test_an_interrupted_send_classifies_as_no_response_and_a_reconciled_one_as_success():
    interrupted = classify_replacement(DeviceOutcome(kind=ReplyKind.INTERRUPTED, detail="x"))
    assert interrupted is not None
    assert (interrupted.code, interrupted.cause, interrupted.sub_code) == (
        FailureCode.REPLACEMENT_NO_RESPONSE,
        FailureCause.NO_RESPONSE,
        "interrupted",
    )
    assert DEFAULT_RETRY_POLICY.retryable >= {interrupted.cause}
    assert classify_replacement(DeviceOutcome(kind=ReplyKind.RECONCILED)) is None


def test_an_interrupted_send_nobody_could_confirm_is_reconciled_before_its_retry(
    make_app: AppFactory,
):
    """The command reached the Device, the run died, and at the rerun both Service Providers
    were down: the outcome was recorded unknown (``interrupted``). Before the retry starts at
    step (i), the Service Providers are asked again; the ECoS one confirms, so the earlier
    command took effect and the retry resumes at 6.1(c)(iv) — no second command, no TCoS
    review of a Device that already holds the ECoS credentials (decisions 47)."""
    down = [
        Outage(system=system, start=START, end=START + timedelta(minutes=30))
        for system in (SimulatedSystem.ECOS_SERVICE_PROVIDER, SimulatedSystem.TCOS_SERVICE_PROVIDER)
    ]
    w = world(make_app(), outages=down)
    w.device()
    w.runner.start(DEVICE, START - timedelta(minutes=10))
    transport = CountingTransport(w.transport, crash_after_delivery=False)
    # steps (i) and (ii) before the outage; the send reaches the Device and the process dies
    w.runner.transport = CountingTransport(w.transport, crash_after_delivery=True)
    with pytest.raises(RuntimeError):
        w.runner.run(DEVICE, START - timedelta(minutes=10))
    assert w.fleet.holds_ecos_credential(DEVICE)
    w.runner.transport = transport
    rerun = w.progress(w.runner.run(DEVICE, START))  # both Service Providers down
    assert rerun.status is MigrationStatus.RETRY_SCHEDULED
    assert rerun.failed_migration is not None
    assert rerun.failed_migration.failure_sub_code == "interrupted"
    migration = w.runner.migration(DEVICE)
    assert migration is not None
    assert migration.awaits_reconciliation
    assert rerun.next_retry_at is not None
    retried = w.runner.retry(DEVICE, rerun.next_retry_at)  # after the outage
    assert w.progress(retried).status is MigrationStatus.SUCCEEDED
    types = [e.type for e in retried.events]
    assert "etmad.migration.ReplacementReconciled.v1" in types
    assert not any("ReplacementCommandSent" in t or "TcosInstructed" in t for t in types)
    assert transport.sends == 0  # never sent again
    device_types = _types(w.app, device_aggregate_id(DEVICE))
    assert sum(t.endswith(".CredentialsReplaced.v1") for t in device_types) == 1
    assert w.app.device(DEVICE).cos_party is CosParty.ECOS
    done = w.runner.migration(DEVICE)
    assert done is not None
    assert len(done.counters_sent) == 1
    assert not done.awaits_reconciliation


def test_nothing_to_reconcile_is_refused() -> None:
    w_app = build_application("memory:")
    w = world(w_app)
    w.device()
    w.runner.start(DEVICE, START)
    migration = w.runner.migration(DEVICE)
    assert migration is not None
    with pytest.raises(RuleViolation) as refused:
        migration.reconcile_before_retry(at=START, detail="x")
    assert refused.value.code == "NOTHING_TO_RECONCILE"
