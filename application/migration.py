"""Running one Device's ECoS Migration through the ports (ETMAD 6.1(c); DOMAIN.md 3.3).

``MigrationRunner`` carries the Migration aggregate's current attempt forward, step by step,
through the TCoS and ECoS Service Providers, the Device transport and the GBCS replacement
codec (``application.migration_ports``). Business time moves on by each reply's ``elapsed``.

Each step's events are saved in their own unit of work as soon as its external call has
returned, so a crash between steps loses nothing already done and a rerun continues from
``Migration.current_step``. The replacement command is the exception: it is saved *before* it
is sent (write-ahead), so a crash during the send leaves its counter recorded; a rerun that finds
it in flight reconciles through the Service Providers' confirmations instead of sending again.
A failed step is saved with the frozen policy's decision after it (a retry at a time, or the
end of the series). The replacement's success is saved with the Device's
``CredentialsReplaced`` (party ECoS, the ECoS certificate's Certificate ID): the Device holds
the ECoS Party's credentials from then on, whatever step (iv) says. The last confirmation is
saved with ``MigrationCompleted``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import attrs

from application.errors import UnknownDevice
from application.mapper import Envelope
from application.migration_ports import (
    DeviceTransport,
    EcosServiceProvider,
    ReplacementCodec,
    ServiceProviderReply,
    TcosServiceProvider,
)
from application.service import EtmadApplication, Outcome, UnitOfWork
from domain import clauses
from domain.device import Device, device_aggregate_id
from domain.eligibility import Eligibility, ReasonCode
from domain.errors import RuleViolation
from domain.events import DomainEvent, utc
from domain.failures import DeviceOutcome, ProviderResponse, ReplyKind, Step
from domain.identifiers import EUI64, CosParty
from domain.migration import (
    FailedMigration,
    Migration,
    MigrationStatus,
    migration_aggregate_id,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

#: 6.1(c)(iv): the ECoS Service Provider is asked first, then the TCoS one.
CONFIRMATION_ORDER = (CosParty.ECOS, CosParty.TCOS)


@attrs.frozen(kw_only=True)
class MigrationProgress:
    """Where a Device's Migration stands after a use case, and the business time reached."""

    device_id: EUI64
    at: datetime
    status: MigrationStatus
    series: int
    attempt: int
    current_step: Step | None
    next_retry_at: datetime | None
    failed_migration: FailedMigration | None
    eligibility: Eligibility | None = None


def _provider_response(reply: ServiceProviderReply) -> ProviderResponse:
    return ProviderResponse(
        kind=ReplyKind(reply.kind.value), confirmed=reply.confirmed, reason=reply.reason
    )


class MigrationRunner:
    """Use cases that run Migrations through the ports: ``start``, ``run``, ``retry``."""

    def __init__(
        self,
        app: EtmadApplication,
        *,
        tcos: TcosServiceProvider,
        ecos: EcosServiceProvider,
        transport: DeviceTransport,
        codec: ReplacementCodec,
        device_timeout: timedelta = timedelta(seconds=60),
    ) -> None:
        if device_timeout <= timedelta(0):
            raise ValueError("the device time-out must be longer than zero")
        self.app = app
        self.tcos = tcos
        self.ecos = ecos
        self.transport = transport
        self.codec = codec
        self.device_timeout = device_timeout

    # --- reading ----------------------------------------------------------------------------

    def migration(self, device_id: EUI64) -> Migration | None:
        return self.app.load(migration_aggregate_id(device_id), Migration.create)

    def _progress(
        self, migration: Migration, at: datetime, eligibility: Eligibility | None = None
    ) -> MigrationProgress:
        series = migration.current_series
        return MigrationProgress(
            device_id=migration.device_id,
            at=at,
            status=migration.status,
            series=series.number,
            attempt=series.attempt.number,
            current_step=migration.current_step,
            next_retry_at=migration.next_retry_at,
            failed_migration=migration.failed_migration,
            eligibility=eligibility,
        )

    # --- use cases --------------------------------------------------------------------------

    def start(self, device_id: EUI64, at: datetime, selection_ref: str | None = None) -> Outcome:
        """Start a series of attempts (the first, or another after one that completed
        unsuccessfully): refused for an Ineligible Device (1.4), over the Bulk gate (1.6), or
        while a series is in progress (``SERIES_IN_PROGRESS``). Saves the Device Model's
        ``MigrationStarted`` and the Migration's ``SeriesStarted`` together; the retry policy
        in force (``Settings.retry_policy``) is frozen onto the series."""
        at = utc(at)
        uow = UnitOfWork(self.app)
        key = migration_aggregate_id(device_id)
        existing = uow.get(key, Migration.create)
        device = self._device(uow, device_id)
        model = self.app.effective_model(device, uow=uow)
        policy = self.app.settings.retry_policy
        started: DomainEvent
        if existing is None:
            started = Migration.start(
                device_id=device_id,
                device_type=device.device_type,
                model=model,
                policy=policy,
                at=at,
                selection_ref=selection_ref,
            )
        else:
            started = existing.start_series(
                model=model, policy=policy, at=at, selection_ref=selection_ref
            )
        eligibility = self.app.count_migration_start(uow, device_id=device_id, at=at)
        state = uow.record(key, Migration.create, started)
        assert state is not None  # noqa: S101 — just recorded
        return Outcome(uow.commit(), self._progress(state, at, eligibility))

    def run(self, device_id: EUI64, at: datetime) -> Outcome:
        """Carry the current attempt forward from its current step until it succeeds, a step
        fails (then the policy's decision is saved with it), or nothing is awaited. Business
        time starts at ``at`` (or at the Migration's last step, if later)."""
        migration = self._require(device_id)
        now = max(utc(at), migration.current_series.last_at or utc(at))
        events: list[Envelope] = []
        while True:
            migration = self._require(device_id)
            if migration.status in _FOLLOW_UPS:
                done, _ = self._save(device_id, functools.partial(_follow_up, at=now))
            elif migration.current_step is None:
                break
            else:
                done, now = self._step(migration, migration.current_step, now)
            events.extend(done)
        return Outcome(tuple(events), self._progress(self._require(device_id), now))

    def retry(self, device_id: EUI64, at: datetime) -> Outcome:
        """Start the scheduled retry (refused before it is due, ``RETRY_NOT_DUE``), then run
        it. A Device that became Ineligible on a 1.4 ground gets its series ended
        (``WITHDRAWN``) instead."""
        at = utc(at)
        migration = self._require(device_id)
        retry = migration.start_retry(at=at)  # refuses before next_retry_at
        eligibility = self.app.assess_eligibility(device_id, at)
        replaced = migration.current_series.replaced_by is not None
        grounds = [
            r
            for r in eligibility.reasons
            # the Device is an ECoS Device because this series replaced its credentials
            if not (replaced and r.code is ReasonCode.NOT_TCOS_DEVICE)
        ]
        uow = UnitOfWork(self.app)
        key = migration_aggregate_id(device_id)
        if grounds:
            reason = "the Device is Ineligible: " + ", ".join(
                f"{r.code} ({r.clause})" for r in grounds
            )
            state = uow.record(key, Migration.create, migration.end_series(at=at, reason=reason))
            assert state is not None  # noqa: S101 — just recorded
            return Outcome(uow.commit(), self._progress(state, at, eligibility))
        uow.record(key, Migration.create, retry)
        first = uow.commit()
        ran = self.run(device_id, at)
        progress = ran.result
        assert isinstance(progress, MigrationProgress)  # noqa: S101 — run's result
        return Outcome((*first, *ran.events), attrs.evolve(progress, eligibility=eligibility))

    # --- the steps --------------------------------------------------------------------------

    def _step(
        self, migration: Migration, step: Step, now: datetime
    ) -> tuple[tuple[Envelope, ...], datetime]:
        device_id = migration.device_id
        if step is Step.REPLACEMENT:
            return self._replace(migration, now)
        if step is Step.CONFIRMATION:
            return self._confirm(migration, now)
        ask = self.tcos.instruct if step is Step.INSTRUCTION else self.tcos.review
        reply = ask(device_id, now)
        at = now + reply.elapsed
        response = _provider_response(reply)

        def record(m: Migration, _: UnitOfWork) -> list[DomainEvent]:
            if step is Step.INSTRUCTION:
                return self._then(m, m.record_instruction(at=at, response=response), at)
            return self._then(m, m.record_review(at=at, response=response), at)

        done, _ = self._save(device_id, record)
        return done, at

    def _replace(
        self, migration: Migration, now: datetime
    ) -> tuple[tuple[Envelope, ...], datetime]:
        """Step (iii), write-ahead: ``ReplacementCommandSent`` (the counter, the ECoS
        Certificate ID, the command's SHA-256) is saved in its own unit of work *before* the
        send, and the outcome after it returns. A command found in flight (a run stopped
        during the send) is reconciled, never sent again (``_reconcile``)."""
        device_id = migration.device_id
        if migration.replacement_in_flight:
            return self._reconcile(migration, now)
        counter = max((*migration.counters_sent, _microseconds(now))) + 1
        command = self.codec.replacement_command(device_id, originator_counter=counter, at=now)
        sent_at = now

        def intend(m: Migration, _: UnitOfWork) -> list[DomainEvent]:
            return [
                m.record_replacement_sent(
                    at=sent_at,
                    originator_counter=command.originator_counter,
                    ecos_certificate=command.ecos_certificate,
                    signed_pre_command=command.command,
                )
            ]

        intended, _ = self._save(device_id, intend)
        reply = self.transport.send(device_id, command.command, now, timeout=self.device_timeout)
        now += reply.elapsed
        if reply.kind.value == ReplyKind.ANSWERED.value and reply.response is not None:
            outcome = self.codec.device_outcome(reply.response, command)
        elif reply.kind.value == ReplyKind.ANSWERED.value:
            outcome = DeviceOutcome(kind=ReplyKind.ANSWERED, detail="an answer without bytes")
        else:
            outcome = DeviceOutcome(kind=ReplyKind(reply.kind.value), detail=reply.detail)
        done = self._record_outcome(device_id, outcome, now)
        return (*intended, *done), now

    def _reconcile(
        self, migration: Migration, now: datetime
    ) -> tuple[tuple[Envelope, ...], datetime]:
        """A run stopped during the send: the command recorded may or may not have reached
        the Device. Sending another would be blind, so the Service Providers are asked first,
        ECoS then TCoS, with 6.1(c)(iv) semantics (they confirm only when the Device holds
        the ECoS Party's credentials). A confirmation: the command took effect (``RECONCILED``,
        a success, saved with the Device's ``CredentialsReplaced``; the run goes on to (iv)).
        None: the outcome stays unknown (``INTERRUPTED``, a no response with sub-code
        ``interrupted``) and the frozen policy decides; a retry sends a new command with a
        higher counter."""
        command = migration.current_series.attempt.command
        assert command is not None  # noqa: S101 — in flight
        heard: list[str] = []
        kind = ReplyKind.INTERRUPTED
        for party in CONFIRMATION_ORDER:
            provider = self.ecos if party is CosParty.ECOS else self.tcos
            reply = provider.confirm(migration.device_id, now)
            now += reply.elapsed
            response = _provider_response(reply)
            said = f": {response.reason}" if response.reason else ""
            if response.succeeded:
                heard.append(f"the {party} Service Provider confirmed")
                kind = ReplyKind.RECONCILED
                break
            heard.append(f"the {party} Service Provider: {response.kind}, not confirmed{said}")
        verdict = (
            "confirmed after an interrupted send"
            if kind is ReplyKind.RECONCILED
            else "the outcome of an interrupted send is unknown"
        )
        outcome = DeviceOutcome(
            kind=kind,
            detail=f"{verdict} (counter {command.originator_counter}): " + "; ".join(heard),
        )
        return self._record_outcome(migration.device_id, outcome, now), now

    def _record_outcome(
        self, device_id: EUI64, outcome: DeviceOutcome, at: datetime
    ) -> tuple[Envelope, ...]:
        """The replacement's outcome in one unit of work: with the policy's decision after a
        failure, or with the Device's ``CredentialsReplaced`` (ECoS) after a success."""

        def decide(m: Migration, uow: UnitOfWork) -> list[DomainEvent]:
            recorded = m.record_replacement_outcome(at=at, outcome=outcome)
            sent = m.current_series.attempt.command
            if recorded.failure is None and sent is not None:
                device = self._device(uow, device_id)
                replaced = device.replace_credentials(
                    at=at,
                    party=CosParty.ECOS,
                    certificate=sent.ecos_certificate,
                    model=self.app.effective_model(device, uow=uow),
                )
                uow.record(device.aggregate_id, Device.create, replaced)
            return self._then(m, recorded, at)

        done, _ = self._save(device_id, decide)
        return done

    def _confirm(
        self, migration: Migration, now: datetime
    ) -> tuple[tuple[Envelope, ...], datetime]:
        device_id = migration.device_id
        events: list[Envelope] = []
        for party in CONFIRMATION_ORDER:
            if party not in migration.pending_confirmations:
                continue
            provider = self.ecos if party is CosParty.ECOS else self.tcos
            reply = provider.confirm(device_id, now)
            now += reply.elapsed
            response = _provider_response(reply)
            at = now

            def confirm(
                m: Migration,
                _: UnitOfWork,
                party: CosParty = party,
                at: datetime = at,
                response: ProviderResponse = response,
            ) -> list[DomainEvent]:
                recorded = m.record_confirmation(at=at, party=party, response=response)
                return self._then(m, recorded, at)

            done, migration = self._save(device_id, confirm)
            events.extend(done)
            if migration.status is not MigrationStatus.IN_ATTEMPT:
                break
        return tuple(events), now

    def _then(self, migration: Migration, event: DomainEvent, at: datetime) -> list[DomainEvent]:
        """``event``, then what follows it in the same unit of work: the policy's decision
        after a failed step, or the completion after the last step."""
        after = migration.apply(event, migration.version + 1)
        if after.status is MigrationStatus.AWAITING_RETRY_DECISION:
            return [event, after.decide_after_failure(at=at)]
        if after.status is MigrationStatus.READY_TO_COMPLETE:
            return [event, after.complete(at=at)]
        return [event]

    # --- units of work ----------------------------------------------------------------------

    def _save(
        self,
        device_id: EUI64,
        decide: Callable[[Migration, UnitOfWork], list[DomainEvent]],
    ) -> tuple[tuple[Envelope, ...], Migration]:
        """One unit of work on the Migration: ``decide(migration, uow)`` returns its events
        (each decided on the state after the ones before it); they are recorded in order."""
        uow = UnitOfWork(self.app)
        key = migration_aggregate_id(device_id)
        migration = uow.get(key, Migration.create)
        if migration is None:
            raise self._no_migration(device_id)
        for event in decide(migration, uow):
            migration = uow.record(key, Migration.create, event)
        assert migration is not None  # noqa: S101 — it existed
        return uow.commit(), migration

    def _device(self, uow: UnitOfWork, device_id: EUI64) -> Device:
        device = uow.get(device_aggregate_id(device_id), Device.create)
        if device is None:
            raise UnknownDevice(device_id)
        return device

    def _require(self, device_id: EUI64) -> Migration:
        migration = self.migration(device_id)
        if migration is None:
            raise self._no_migration(device_id)
        return migration

    @staticmethod
    def _no_migration(device_id: EUI64) -> RuleViolation:
        return RuleViolation(
            f"Device {device_id} has no Migration: start one first",
            code="NO_MIGRATION",
            clause=clauses.ETMAD_6_1_C,
        )


_FOLLOW_UPS = frozenset(
    {MigrationStatus.AWAITING_RETRY_DECISION, MigrationStatus.READY_TO_COMPLETE}
)


def _follow_up(migration: Migration, _: UnitOfWork, *, at: datetime) -> list[DomainEvent]:
    """What a Migration left between a step and its consequence needs (a run stopped there)."""
    if migration.status is MigrationStatus.READY_TO_COMPLETE:
        return [migration.complete(at=at)]
    return [migration.decide_after_failure(at=at)]


def _microseconds(at: datetime) -> int:
    """Microseconds since the Unix epoch, exactly (GBCS counters are 0..2^63-1)."""
    delta = utc(at) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
