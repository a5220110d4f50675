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

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta

import attrs

from application.errors import ConcurrencyConflict, UnknownDevice
from application.mapper import Envelope
from application.migration_ports import (
    DeviceTransport,
    EcosServiceProvider,
    ReplacementCodec,
    ReplacementCommand,
    ServiceProviderReply,
    TcosServiceProvider,
)
from application.service import EtmadApplication, Outcome, UnitOfWork
from domain import clauses
from domain.device import Device, device_aggregate_id
from domain.eligibility import Eligibility, ReasonCode
from domain.errors import DomainError, RuleViolation
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
        eligibility = self._start(uow, device_id, at, selection_ref)
        state = uow.get(migration_aggregate_id(device_id), Migration.create)
        assert state is not None  # noqa: S101 — just recorded
        return Outcome(uow.commit(), self._progress(state, at, eligibility))

    def start_many(
        self, device_ids: Sequence[EUI64], at: datetime, selection_ref: str | None = None
    ) -> Outcome:
        """``start`` for several Devices in one unit of work. A Device a rule refuses is left
        out (its refusal is in the result) and the others are started: the result maps each
        Device to its ``MigrationProgress`` or to the ``DomainError`` that refused it."""
        at = utc(at)
        uow = UnitOfWork(self.app)
        result: dict[EUI64, MigrationProgress | DomainError] = {}
        for device_id in dict.fromkeys(device_ids):
            try:
                eligibility = self._start(uow, device_id, at, selection_ref)
            except DomainError as refused:
                result[device_id] = refused
                continue
            state = uow.get(migration_aggregate_id(device_id), Migration.create)
            assert state is not None  # noqa: S101 — just recorded
            result[device_id] = self._progress(state, at, eligibility)
        return Outcome(uow.commit(), result)

    def _start(
        self, uow: UnitOfWork, device_id: EUI64, at: datetime, selection_ref: str | None
    ) -> Eligibility:
        """Decide a start in ``uow``: every check first, then the events (a refusal records
        nothing)."""
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
        uow.record(key, Migration.create, started)
        return eligibility

    def run(self, device_id: EUI64, at: datetime) -> Outcome:
        """Carry the current attempt forward from its current step until it succeeds, a step
        fails (then the policy's decision is saved with it), or nothing is awaited. Business
        time starts at ``at`` (or at the Migration's last step, if later)."""
        ran = self.run_many([device_id], at)
        progress = ran.result
        assert isinstance(progress, dict)  # noqa: S101 — run_many's result
        return Outcome(ran.events, progress[device_id])

    def run_many(self, device_ids: Sequence[EUI64], at: datetime) -> Outcome:
        """``run`` for several Devices at once, step by step: each round carries every Device
        one step on, with one unit of work per step for all of them (two for the replacement:
        the commands before they are sent, the outcomes after). The result maps each Device to
        its ``MigrationProgress``."""
        batch = _Batch(self, device_ids, utc(at))
        while batch.round():
            pass
        progress = {
            d: self._progress(batch.migrations[d], batch.clock[d]) for d in batch.device_ids
        }
        return Outcome(tuple(batch.events), progress)

    def retry(self, device_id: EUI64, at: datetime) -> Outcome:
        """Start the scheduled retry (refused before it is due, ``RETRY_NOT_DUE``), then run
        it. A Device that became Ineligible on a 1.4 ground gets its series ended
        (``WITHDRAWN``) instead."""
        retried = self.retry_many({device_id: at})
        result = retried.result
        assert isinstance(result, dict)  # noqa: S101 — retry_many's result
        progress = result[device_id]
        if isinstance(progress, DomainError):
            raise progress
        return Outcome(retried.events, progress)

    def retry_many(self, due: Mapping[EUI64, datetime]) -> Outcome:
        """``retry`` for several Devices, each at its own time: the retries started (or the
        series ended) in one unit of work, then ``run_many``. The result maps each Device to
        its ``MigrationProgress`` or to the ``DomainError`` that refused its retry."""
        uow = UnitOfWork(self.app)
        result: dict[EUI64, MigrationProgress | DomainError] = {}
        eligibilities: dict[EUI64, Eligibility] = {}
        to_run: list[EUI64] = []
        start = min((utc(a) for a in due.values()), default=None)
        for device_id, when in due.items():
            at = utc(when)
            key = migration_aggregate_id(device_id)
            migration = uow.get(key, Migration.create)
            if migration is None:
                result[device_id] = self._no_migration(device_id)
                continue
            try:
                if migration.awaits_reconciliation and at >= (migration.next_retry_at or at):
                    migration = self._reconcile_before_retry(uow, migration, at)
                retry = migration.start_retry(at=at)  # refuses before next_retry_at
                eligibility = self.app.eligibility_at(device_id, at)
            except DomainError as refused:
                result[device_id] = refused
                continue
            eligibilities[device_id] = eligibility
            replaced = migration.current_series.replaced_by is not None
            grounds = [
                r
                for r in eligibility.reasons
                # the Device is an ECoS Device because this series replaced its credentials
                if not (replaced and r.code is ReasonCode.NOT_TCOS_DEVICE)
            ]
            if grounds:
                reason = "the Device is Ineligible: " + ", ".join(
                    f"{r.code} ({r.clause})" for r in grounds
                )
                state = uow.record(
                    key, Migration.create, migration.end_series(at=at, reason=reason)
                )
                assert state is not None  # noqa: S101 — just recorded
                result[device_id] = self._progress(state, at, eligibility)
                continue
            uow.record(key, Migration.create, retry)
            to_run.append(device_id)
        first = uow.commit()
        if not to_run or start is None:
            return Outcome(first, result)
        ran = self.run_many(to_run, start)  # each runs from its retry's time (its last step)
        progress = ran.result
        assert isinstance(progress, dict)  # noqa: S101 — run_many's result
        for device_id in to_run:
            result[device_id] = attrs.evolve(
                progress[device_id], eligibility=eligibilities[device_id]
            )
        return Outcome((*first, *ran.events), result)

    def _reconcile_before_retry(
        self, uow: UnitOfWork, migration: Migration, at: datetime
    ) -> Migration:
        """The last attempt's command may have taken effect though nobody could confirm it
        then (an interrupted send, decisions 47): before a new attempt starts at step (i), the
        Service Providers are asked again, ECoS then TCoS. A confirmation records
        ``ReplacementReconciled`` with the Device's ``CredentialsReplaced`` (ECoS), and the
        retry resumes at 6.1(c)(iv); none leaves the retry as it was."""
        heard: list[str] = []
        for party in CONFIRMATION_ORDER:
            provider = self.ecos if party is CosParty.ECOS else self.tcos
            response = _provider_response(provider.confirm(migration.device_id, at))
            if response.succeeded:
                heard.append(f"the {party} Service Provider confirmed before the retry")
                break
            heard.append(f"the {party} Service Provider: {response.kind}, not confirmed")
        else:
            return migration
        command = migration.current_series.attempt.command
        assert command is not None  # noqa: S101 — awaits_reconciliation
        key = migration_aggregate_id(migration.device_id)
        uow.adopt(migration, key)
        state = uow.record(
            key, Migration.create, migration.reconcile_before_retry(at=at, detail="; ".join(heard))
        )
        device = self._device(uow, migration.device_id)
        uow.record(
            device.aggregate_id,
            Device.create,
            device.replace_credentials(
                at=at,
                party=CosParty.ECOS,
                certificate=command.ecos_certificate,
                model=self.app.effective_model(device, uow=uow),
            ),
        )
        assert state is not None  # noqa: S101 — just recorded
        return state

    # --- the steps (decided per Device, saved per round; see ``_Batch``) ---------------------

    def _ask(self, migration: Migration, now: datetime) -> tuple[datetime, ProviderResponse]:
        """Step (i) or (ii): ask the TCoS Service Provider."""
        step = migration.current_step
        ask = self.tcos.instruct if step is Step.INSTRUCTION else self.tcos.review
        reply = ask(migration.device_id, now)
        return now + reply.elapsed, _provider_response(reply)

    def _command(self, migration: Migration, now: datetime) -> ReplacementCommand:
        """Step (iii)'s command, with a counter above every one sent to the Device before."""
        counter = max((*migration.counters_sent, _microseconds(now))) + 1
        return self.codec.replacement_command(
            migration.device_id, originator_counter=counter, at=now
        )

    def _send(
        self, device_id: EUI64, command: ReplacementCommand, now: datetime
    ) -> tuple[datetime, DeviceOutcome]:
        reply = self.transport.send(device_id, command.command, now, timeout=self.device_timeout)
        now += reply.elapsed
        if reply.kind.value == ReplyKind.ANSWERED.value and reply.response is not None:
            return now, self.codec.device_outcome(reply.response, command)
        if reply.kind.value == ReplyKind.ANSWERED.value:
            return now, DeviceOutcome(kind=ReplyKind.ANSWERED, detail="an answer without bytes")
        return now, DeviceOutcome(kind=ReplyKind(reply.kind.value), detail=reply.detail)

    def _reconcile(self, migration: Migration, now: datetime) -> tuple[datetime, DeviceOutcome]:
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
        return now, outcome

    def _outcome_events(
        self, migration: Migration, uow: UnitOfWork, outcome: DeviceOutcome, at: datetime
    ) -> list[DomainEvent]:
        """The replacement's outcome: with the policy's decision after a failure, or with the
        Device's ``CredentialsReplaced`` (ECoS, recorded in ``uow``) after a success."""
        device_id = migration.device_id
        recorded = migration.record_replacement_outcome(at=at, outcome=outcome)
        sent = migration.current_series.attempt.command
        if recorded.failure is None and sent is not None:
            device = self._device(uow, device_id)
            replaced = device.replace_credentials(
                at=at,
                party=CosParty.ECOS,
                certificate=sent.ecos_certificate,
                model=self.app.effective_model(device, uow=uow),
            )
            uow.record(device.aggregate_id, Device.create, replaced)
        return self._then(migration, recorded, at)

    def _confirmations(
        self, migration: Migration, now: datetime
    ) -> tuple[datetime, list[DomainEvent]]:
        """Step (iv): ECoS then TCoS Service Provider; a refusal stops the attempt there."""
        events: list[DomainEvent] = []
        for party in CONFIRMATION_ORDER:
            if party not in migration.pending_confirmations:
                continue
            provider = self.ecos if party is CosParty.ECOS else self.tcos
            reply = provider.confirm(migration.device_id, now)
            now += reply.elapsed
            recorded = migration.record_confirmation(
                at=now, party=party, response=_provider_response(reply)
            )
            for event in self._then(migration, recorded, now):
                migration = migration.apply(event, migration.version + 1)
                events.append(event)
            if migration.status is not MigrationStatus.IN_ATTEMPT:
                break
        return now, events

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


def _follow_up(migration: Migration, at: datetime) -> list[DomainEvent]:
    """What a Migration left between a step and its consequence needs (a run stopped there)."""
    if migration.status is MigrationStatus.READY_TO_COMPLETE:
        return [migration.complete(at=at)]
    return [migration.decide_after_failure(at=at)]


def _microseconds(at: datetime) -> int:
    """Microseconds since the Unix epoch, exactly (GBCS counters are 0..2^63-1)."""
    delta = utc(at) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


class _Batch:
    """One ``run_many``: the Devices' Migrations and business times, carried on round by round.

    A round takes every Device whose current attempt awaits something one step on and saves
    each kind of step in one unit of work for all of them, in this order:

    1. follow-ups left by a run that stopped between a step and its consequence;
    2. steps (i) and (ii): the TCoS Service Provider is asked for each Device, then the
       answers are saved;
    3. step (iii), write-ahead: the new commands are saved (``ReplacementCommandSent``) *before*
       any is sent; then each is sent (or, for a command found in flight, reconciled) and the
       outcomes are saved, with ``CredentialsReplaced`` on a success;
    4. step (iv): the confirmations, saved with ``MigrationCompleted`` when both are in.

    A failed step is saved with the frozen policy's decision after it. A crash loses at most
    the answers of the round's current step (asked again by the rerun: the steps before (iii)
    and the confirmations are questions, not changes); a command is never sent twice.
    """

    def __init__(self, runner: MigrationRunner, device_ids: Sequence[EUI64], at: datetime) -> None:
        self.runner = runner
        self.device_ids = list(dict.fromkeys(device_ids))
        self.migrations: dict[EUI64, Migration] = {}
        self.clock: dict[EUI64, datetime] = {}
        self.events: list[Envelope] = []
        for device_id in self.device_ids:
            migration = runner._require(device_id)  # noqa: SLF001 — the runner's helper
            self.migrations[device_id] = migration
            self.clock[device_id] = max(at, migration.current_series.last_at or at)

    def round(self) -> bool:
        """One step on for every Device that awaits one; False when none did."""
        follow = [d for d in self.device_ids if self.migrations[d].status in _FOLLOW_UPS]
        if follow:
            self._save({d: _follow_up(self.migrations[d], self.clock[d]) for d in follow})
        by_step: dict[Step, list[EUI64]] = {}
        for device_id in self.device_ids:
            step = self.migrations[device_id].current_step
            if step is not None:
                by_step.setdefault(step, []).append(device_id)
        if not by_step:
            return bool(follow)
        asked = by_step.get(Step.INSTRUCTION, []) + by_step.get(Step.REVIEW, [])
        if asked:
            self._ask(asked)
        if Step.REPLACEMENT in by_step:
            self._replace(by_step[Step.REPLACEMENT])
        if Step.CONFIRMATION in by_step:
            self._confirm(by_step[Step.CONFIRMATION])
        return True

    def _ask(self, device_ids: list[EUI64]) -> None:
        decided: dict[EUI64, list[DomainEvent]] = {}
        for device_id in device_ids:
            migration = self.migrations[device_id]
            step = migration.current_step
            at, response = self.runner._ask(migration, self.clock[device_id])  # noqa: SLF001
            self.clock[device_id] = at
            recorded = (
                migration.record_instruction(at=at, response=response)
                if step is Step.INSTRUCTION
                else migration.record_review(at=at, response=response)
            )
            decided[device_id] = self.runner._then(migration, recorded, at)  # noqa: SLF001
        self._save(decided)

    def _replace(self, device_ids: list[EUI64]) -> None:
        runner = self.runner
        fresh = [d for d in device_ids if not self.migrations[d].replacement_in_flight]
        commands: dict[EUI64, ReplacementCommand] = {}
        for device_id in fresh:
            commands[device_id] = runner._command(self.migrations[device_id], self.clock[device_id])  # noqa: SLF001
        if commands:
            self._save(
                {
                    d: [
                        self.migrations[d].record_replacement_sent(
                            at=self.clock[d],
                            originator_counter=c.originator_counter,
                            ecos_certificate=c.ecos_certificate,
                            signed_pre_command=c.command,
                        )
                    ]
                    for d, c in commands.items()
                }
            )
        outcomes: dict[EUI64, DeviceOutcome] = {}
        for device_id in device_ids:
            now = self.clock[device_id]
            if device_id in commands:
                now, outcomes[device_id] = runner._send(device_id, commands[device_id], now)  # noqa: SLF001
            else:
                now, outcomes[device_id] = runner._reconcile(self.migrations[device_id], now)  # noqa: SLF001
            self.clock[device_id] = now

        def decide(migration: Migration, uow: UnitOfWork) -> list[DomainEvent]:
            device_id = migration.device_id
            return runner._outcome_events(  # noqa: SLF001
                migration, uow, outcomes[device_id], self.clock[device_id]
            )

        self._save_with(device_ids, decide)

    def _confirm(self, device_ids: list[EUI64]) -> None:
        decided: dict[EUI64, list[DomainEvent]] = {}
        for device_id in device_ids:
            now, events = self.runner._confirmations(  # noqa: SLF001
                self.migrations[device_id], self.clock[device_id]
            )
            self.clock[device_id] = now
            decided[device_id] = events
        self._save(decided)

    def _save(self, decided: dict[EUI64, list[DomainEvent]]) -> None:
        self._save_with(list(decided), lambda m, _: decided[m.device_id])

    def _save_with(
        self,
        device_ids: list[EUI64],
        decide: Callable[[Migration, UnitOfWork], list[DomainEvent]],
    ) -> None:
        """One unit of work for all ``device_ids``: each Migration's events, decided on the
        state read at the start of the round, recorded in order; saved together."""
        uow = UnitOfWork(self.runner.app)  # caught up with the log: other writers' events
        for device_id in device_ids:
            key = migration_aggregate_id(device_id)
            decided_on = self.migrations[device_id]
            current = self.runner.app.load(key, Migration.create)
            if current is not None and current.version != decided_on.version:
                # Another writer (another worker) moved this Migration on since the round
                # began: what was decided here may no longer apply (the step may be taken,
                # the credentials replaced). Nothing is saved; the caller decides again on the
                # fresh state, as after a conflicting save.
                raise ConcurrencyConflict(
                    f"{key} is at version {current.version}, not {decided_on.version}"
                )
            uow.adopt(decided_on, key)  # decided on it: version-checked
            migration = uow.get(key, Migration.create)
            if migration is None:  # pragma: no cover — loaded when the batch began
                raise MigrationRunner._no_migration(device_id)  # noqa: SLF001
            try:
                decided = decide(migration, uow)
            except DomainError:
                # The other aggregates of the decision (the Device) are read when needed, so
                # they may be newer than the Migration: a rule that refuses may only be seeing
                # another writer's step. Then it is a conflict; else the refusal stands.
                self.runner.app.catch_up()
                now = self.runner.app.load(key, Migration.create)
                if now is not None and now.version != decided_on.version:
                    raise ConcurrencyConflict(
                        f"{key} moved on to version {now.version} while it was decided"
                    ) from None
                raise
            for event in decided:
                migration = uow.record(key, Migration.create, event)
            assert migration is not None  # noqa: S101 — it existed
            self.migrations[device_id] = migration
        self.events.extend(uow.commit())
