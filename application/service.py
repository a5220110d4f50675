"""The etmad application: use cases over Devices and Device Models, on eventsourcing.

Each use case loads the aggregates it needs into a ``UnitOfWork``, asks them to decide (they
raise ``RuleViolation`` to refuse), lets the in-process policies react to the new events (the
6.1(b) proving evidence and the 1.6 policy decision), and saves every event of the command in
one transaction — all or nothing. Aggregates can be read as they stood at any version or at any
business time.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol, Self, TypeVar, cast

import attrs
from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.persistence import IntegrityError, Mapper, ProcessRecorder, Tracking
from eventsourcing.utils import Environment, EnvType

from application.cache import AggregateCache
from application.errors import (
    CommandRejected,
    ConcurrencyConflict,
    UnknownDevice,
    UnknownDeviceModel,
)
from application.mapper import Envelope, EventMapper, EventTypeRegistry, Upcaster
from application.ports import Clock, PartyDetails, RegistrationData
from application.settings import Settings
from domain import clauses
from domain.bulk_gate import BulkGate, assess_bulk_gate, authorise_by_policy, find_proof
from domain.device import CredentialsReplaced, Device, Srv623Processed, device_aggregate_id
from domain.device_model import (
    AgreementOutcome,
    CategorisedNonMigratable,
    DeterminationOutcome,
    DeviceModel,
    FamilyMember,
    ModelFamily,
    ModelRegistered,
    ProvingEvidenceRecorded,
    TestOutcome,
    family_aggregate_id,
    model_aggregate_id,
)
from domain.eligibility import (
    Eligibility,
    EligibilityInputs,
    assess_eligibility,
    constant_between,
    supplier_source,
)
from domain.errors import RuleViolation
from domain.events import DomainEvent, utc, visible_at
from domain.identifiers import (
    EUI64,
    CertificateId,
    CosParty,
    DeviceModelKey,
    DeviceType,
    MPxN,
    SmetsGeneration,
)
from domain.migration import Migration, SeriesStarted
from domain.registration import SupplierChange


class SystemClock:
    """The machine's clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class _Folds(Protocol):
    @property
    def version(self) -> int: ...

    def apply(self, event: DomainEvent, version: int) -> Self: ...


A = TypeVar("A", bound=_Folds)
#: A remembered eligibility verdict: the facts, the times between which it holds, (eligible,
#: reason codes).
_Verdict = tuple[EligibilityInputs, datetime | None, datetime | None, tuple[bool, tuple[str, ...]]]
Factory = Callable[[DomainEvent, int], A]


class UnitOfWork:
    """The aggregates one command reads and the events it records, saved together.

    It starts by bringing the application's aggregate cache up to date with the notification
    log (``AggregateCache.catch_up``), so it decides on the latest states; every write is still
    checked against the version it was decided on."""

    def __init__(self, app: EtmadApplication) -> None:
        self._app = app
        self._states: dict[str, Any] = {}
        self._factories: dict[str, Factory[Any]] = {}
        self._pending: list[Envelope] = []
        self._recorded_at = app.clock.now()
        app.catch_up()

    def get(self, aggregate_id: str, factory: Factory[A]) -> A | None:
        if aggregate_id not in self._states:
            self._states[aggregate_id] = self._app.load(aggregate_id, factory)
        return cast("A | None", self._states[aggregate_id])

    def adopt(self, state: _Folds, aggregate_id: str) -> None:
        """Use ``state`` (read by the caller in this run) for ``aggregate_id`` instead of
        loading it; it is version-checked when saved like any other."""
        self._states.setdefault(aggregate_id, state)

    def record(self, aggregate_id: str, factory: Factory[A], event: DomainEvent | None) -> A | None:
        """Fold ``event`` into the aggregate (creating it from its first event) and keep it."""
        state = self.get(aggregate_id, factory)
        if event is None:
            return state
        version = (state.version if state is not None else 0) + 1
        new_state = factory(event, version) if state is None else state.apply(event, version)
        self._states[aggregate_id] = new_state
        self._factories.setdefault(aggregate_id, factory)
        self._pending.append(Envelope(aggregate_id, version, self._recorded_at, event))
        return new_state

    @property
    def pending(self) -> tuple[Envelope, ...]:
        return tuple(self._pending)

    def commit(self, tracking: Tracking | None = None) -> tuple[Envelope, ...]:
        """Let the in-process policies react to the new events (their events join this unit
        of work, and are reacted to in turn), then save everything in one transaction.

        ``tracking`` (a process manager's position in the notification log) is recorded in the
        same transaction, even when there are no events: the notification it names was
        processed exactly once, with exactly these consequences."""
        reacted = 0
        while reacted < len(self._pending):
            envelope = self._pending[reacted]
            reacted += 1
            self._app.react(self, envelope)
        if self._app.batching and tracking is None:
            self._app.defer(
                self._pending,
                {
                    key: (self._factories[key], self._states[key])
                    for key in {e.originator_id for e in self._pending}
                },
            )
            return self.pending
        if self._pending or tracking is not None:
            written = {e.originator_id for e in self._pending}
            try:
                ids = self._app.save_processed(self._pending, tracking)
            except IntegrityError as e:
                self._app.cache.evict(written)
                raise ConcurrencyConflict(str(e)) from e
            self._app.cache.saved(
                self._pending,
                ids,
                {key: (self._factories[key], self._states[key]) for key in written},
            )
        return self.pending


@attrs.frozen
class Outcome:
    """What a use case did: the events it saved and the decision value it returns, if any."""

    events: tuple[Envelope, ...]
    result: object = None


class EtmadApplication(Application[str]):
    """Use cases of the foundation: Devices, Device Models, eligibility, the Bulk gate and the
    Non-Migratable lifecycle. Infrastructure arrives through ``env`` (eventsourcing's
    persistence settings) and keyword arguments; see ``adapters.bootstrap``."""

    name = "etmad"

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        registration: RegistrationData,
        clock: Clock | None = None,
        settings: Settings | None = None,
        upcasters: Mapping[str, Upcaster] | None = None,
        party_details: PartyDetails | None = None,
    ) -> None:
        self.registration = registration
        # None: no Party Details are held (the SRV 6.23 MPID check is then undecidable).
        self.party_details = party_details
        self.clock: Clock = clock or SystemClock()
        self.settings = settings or Settings()
        self._registry = EventTypeRegistry(upcasters=upcasters)
        self._verdicts: dict[EUI64, _Verdict] = {}
        self._batch: list[Envelope] | None = None
        super().__init__(env=dict(env or {}))
        recorder = self.process_recorder
        self.cache = AggregateCache(
            select=lambda start, limit, stop, topics: recorder.select_notifications(
                start=start, limit=limit, stop=stop, topics=topics
            ),
            top=recorder.max_notification_id,
            decode=self._decode,
            maxsize=self.settings.aggregate_cache_size,
        )
        # Nothing is cached yet: every state loaded from now on is at least as fresh as the
        # log's end, so catching up starts there.
        self.cache.position = recorder.max_notification_id() or 0

    def _decode(self, notification: Any) -> Envelope:  # noqa: ANN401 — a stored event
        return cast("Envelope", self.mapper.to_domain_event(notification))

    def construct_env(self, name: str, env: EnvType | None = None) -> Environment:
        """Only the settings the composition root passes: unlike eventsourcing's default, the
        process environment is not merged in, so stray variables cannot move the store."""
        return Environment(name, dict(env or {}))

    def construct_recorder(self) -> ProcessRecorder:
        """A process recorder (an application recorder that also records tracking), so a
        process manager's position in the notification log is saved atomically with the
        events it caused (``UnitOfWork.commit(tracking=...)``)."""
        return self.factory.process_recorder()

    @property
    def process_recorder(self) -> ProcessRecorder:
        recorder = self.recorder
        assert isinstance(recorder, ProcessRecorder)  # noqa: S101 — construct_recorder's
        return recorder

    def save_processed(self, envelopes: Sequence[Envelope], tracking: Tracking | None) -> list[int]:
        """Save ``envelopes`` (and ``tracking``, if given) in one transaction; returns their
        notification ids. (``Application.save`` with the events handed over as they are: they
        are our envelopes already, so eventsourcing's per-object protocol checks are skipped.)"""
        processing = ProcessingEvent[str](tracking)
        processing.events.extend(envelopes)
        recordings = self._record(processing)
        self._notify(recordings)
        ids = [r.notification.id for r in recordings]
        self.cache.remember(ids, envelopes)
        return ids

    def envelope_of(self, notification: Any) -> Envelope:  # noqa: ANN401 — a stored event
        """The event a notification records: the envelope this application saved, if it is
        still remembered (``AggregateCache.remember``), else decoded from the stored bytes."""
        known = self.cache.recent(notification.id)
        return known if known is not None else self._decode(notification)

    @property
    def batching(self) -> bool:
        """Inside ``batch()``: units of work are saved together at its end."""
        return self._batch is not None

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Save every unit of work committed inside the block at its end, all together, in one
        transaction — for bulk loading, where one transaction per command costs more than the
        commands. Each unit of work still decides on the states before it (the cache holds
        them); a rejected command saves nothing, as ever. If the block raises, or the final save
        conflicts with another writer, nothing of the block is saved and the cache is cleared.
        (A process manager's tracked save is never deferred.) Registration Data written inside
        the block is committed once at its end too, just before the events, where the adapter
        offers ``batch()``; it is idempotent, so a batch saved again after a failure of the
        events' save records it once."""
        if self._batch is not None:
            raise RuntimeError("batches do not nest")
        self._batch = []
        registration_batch = getattr(self.registration, "batch", None)
        try:
            # Registration Data is committed first (its adapter may share the store's file,
            # which has one writer at a time), then the events.
            with registration_batch() if callable(registration_batch) else contextlib.nullcontext():
                yield
            deferred, self._batch = self._batch, None
            if deferred:
                try:
                    ids = self.save_processed(deferred, None)
                except IntegrityError as e:
                    raise ConcurrencyConflict(str(e)) from e
                self.cache.advance(deferred, ids)
        except BaseException:
            self.cache.clear()
            raise
        finally:
            self._batch = None

    def defer(
        self,
        envelopes: Sequence[Envelope],
        states: Mapping[str, tuple[Factory[Any], Any]],
    ) -> None:
        """A unit of work committed inside ``batch()``: keep its events for the batch's save
        and its states in the cache, so the next unit of work decides on them."""
        assert self._batch is not None  # noqa: S101 — only inside batch()
        self._batch.extend(envelopes)
        self.cache.saved(envelopes, (), states)

    def catch_up(self) -> None:
        """Bring the aggregate cache up to date with the notification log (other writers)."""
        self.cache.catch_up()

    def aggregates_with(self, topic: str) -> list[str]:
        """The ids of the aggregates that recorded an event of type ``topic``, in the order of
        their first such event (from the notification log, read incrementally)."""
        return self.cache.ids_with(topic)

    def construct_mapper(self) -> Mapper[str]:
        return EventMapper(
            transcoder=self.factory.transcoder(),
            compressor=self.factory.compressor(),
            cipher=self.factory.cipher(),
            registry=self._registry,
        )

    # --- reading ----------------------------------------------------------------------------

    def stored(self, aggregate_id: str, *, version: int | None = None) -> Iterator[Envelope]:
        """The aggregate's stored events in order, up to ``version`` if given."""
        return cast("Iterator[Envelope]", self.events.get(aggregate_id, lte=version))

    def load(
        self,
        aggregate_id: str,
        factory: Factory[A],
        *,
        version: int | None = None,
        as_of: datetime | None = None,
    ) -> A | None:
        """Rebuild an aggregate from its events: all of them, up to ``version``, or only the
        facts whose business time is at or before ``as_of`` (None if it did not exist then).

        The latest state is served from the aggregate cache when it holds the aggregate (and,
        for ``as_of``, when none of its facts is later than ``as_of``)."""
        as_of = None if as_of is None else utc(as_of)
        if version is not None:
            return self._replay(self.stored(aggregate_id, version=version), factory, as_of)
        entry = self.cache.get(aggregate_id, factory)
        events: list[Envelope] | None = None
        if entry is None:
            events = list(self.stored(aggregate_id))
            latest = self._replay(events, factory, None)
            self.cache.put(aggregate_id, factory, latest, (e.event for e in events))
            if latest is None:
                return None  # remembered as absent until an event of it is seen
            entry = self.cache.get(aggregate_id, factory)
            assert entry is not None  # noqa: S101 — just kept
        if entry.state is None or as_of is None or entry.latest is None or entry.latest <= as_of:
            return cast("A | None", entry.state)
        known, state = entry.state_as_of(as_of)
        if not known:
            if events is None:
                events = list(self.stored(aggregate_id))
            state = self._replay(events, factory, as_of)
            entry.as_of = (as_of, entry.state.version, state)
        return cast("A | None", state)

    @staticmethod
    def _replay(
        events: Iterable[Envelope], factory: Factory[A], as_of: datetime | None
    ) -> A | None:
        state: A | None = None
        for envelope in events:
            if not visible_at(envelope.event, as_of):
                if state is None:
                    return None
                continue
            if state is None:
                state = factory(envelope.event, envelope.originator_version)
            else:
                state = state.apply(envelope.event, envelope.originator_version)
        return state

    def device(
        self, device_id: EUI64, *, version: int | None = None, as_of: datetime | None = None
    ) -> Device:
        state = self.load(
            device_aggregate_id(device_id), Device.create, version=version, as_of=as_of
        )
        if state is None:
            raise UnknownDevice(device_id)
        return state

    def device_model(
        self, model: DeviceModelKey, *, version: int | None = None, as_of: datetime | None = None
    ) -> DeviceModel:
        state = self.load(
            model_aggregate_id(model), DeviceModel.create, version=version, as_of=as_of
        )
        if state is None:
            raise UnknownDeviceModel(model)
        return state

    def later_siblings(
        self, model: DeviceModel, *, as_of: datetime | None = None, uow: UnitOfWork | None = None
    ) -> list[DeviceModel]:
        """Device Models of the same manufacturer, model and hardware version with a later
        firmware (ETMAD 6.2), as they stood at ``as_of``."""
        family = (
            uow.get(family_aggregate_id(model.key), ModelFamily.create)
            if uow
            else self.load(family_aggregate_id(model.key), ModelFamily.create)
        )
        if family is None:
            return []
        siblings = []
        for member in family.later_than(model.firmware_rank):
            sibling = (
                uow.get(model_aggregate_id(member.model), DeviceModel.create)
                if uow
                else self.load(model_aggregate_id(member.model), DeviceModel.create, as_of=as_of)
            )
            if sibling is not None:
                siblings.append(sibling)
        return siblings

    def effective_model(
        self, device: Device, *, as_of: datetime | None = None, uow: UnitOfWork | None = None
    ) -> DeviceModelKey:
        """A Gas Proxy Function's Device Model is its Communications Hub's (section 2)."""
        if device.device_type is DeviceType.GPF and device.comms_hub_id is not None:
            hub_id = device_aggregate_id(device.comms_hub_id)
            hub = (
                uow.get(hub_id, Device.create)
                if uow
                else self.load(hub_id, Device.create, as_of=as_of)
            )
            if hub is not None:
                return hub.model
        return device.model

    # --- queries ----------------------------------------------------------------------------

    def assess_eligibility(self, device_id: EUI64, at: datetime) -> Eligibility:
        """ETMAD 1.3/1.4: eligibility at ``at``, on the facts as they stood then (after
        catching up with the notification log)."""
        self.catch_up()
        return self.eligibility_at(device_id, at)

    def eligibility_at(self, device_id: EUI64, at: datetime) -> Eligibility:
        """``assess_eligibility`` on the states this application holds (no catch-up: for
        callers that caught up already, such as a unit of work or the day's selection)."""
        at = utc(at)
        facts = self.eligibility_inputs(device_id, at)
        return assess_eligibility(facts, at=at, parameters=self.settings.eligibility)

    def eligibility_codes(self, device_id: EUI64, at: datetime) -> tuple[bool, tuple[str, ...]]:
        """The verdict and reason codes of ``eligibility_at``, reused from an earlier
        assessment of the same facts while no 1.4(b) window has opened or closed since
        (``domain.eligibility.constant_between``): the daily selection asks for every
        Device."""
        at = utc(at)
        facts = self.eligibility_inputs(device_id, at)
        known = self._verdicts.get(device_id)
        if known is not None:
            inputs, lo, hi, verdict = known
            if inputs == facts and (lo is None or lo <= at) and (hi is None or at < hi):
                return verdict
        decision = assess_eligibility(facts, at=at, parameters=self.settings.eligibility)
        verdict = (decision.eligible, tuple(r.code.value for r in decision.reasons))
        lo, hi = constant_between(facts, at, self.settings.eligibility)
        self._verdicts[device_id] = (facts, lo, hi, verdict)
        return verdict

    def eligibility_inputs(self, device_id: EUI64, at: datetime) -> EligibilityInputs:
        """The facts eligibility at ``at`` is decided on, as they stood then."""
        device = self.device(device_id, as_of=at)
        hub: Device | None = None
        if device.comms_hub_id is not None:
            hub = self.load(device_aggregate_id(device.comms_hub_id), Device.create, as_of=at)
        model_key = self.effective_model(device, as_of=at)
        model = self.load(model_aggregate_id(model_key), DeviceModel.create, as_of=at)
        categorisation = model.non_migratable if model is not None else None
        gsme = esme = None
        if device.device_type is DeviceType.GPF and hub is not None:
            gsme = self._active_connected(hub, DeviceType.GSME, at)
            esme = self._active_connected(hub, DeviceType.ESME, at)
        source = supplier_source(
            device_type=device.device_type,
            own_mpxn=device.mpxn,
            device_id=device.device_id,
            gsme=gsme,
            esme=esme,
        )
        history = tuple(self.registration.supplier_history(source.mpxn)) if source.mpxn else ()
        return EligibilityInputs(
            device_id=device.device_id,
            device_type=device.device_type,
            model=model_key,
            cos_party=device.cos_party,
            commissioned_at=device.commissioned_at,
            decommissioned_at=device.decommissioned_at,
            comms_hub_commissioned_at=hub.commissioned_at if hub else None,
            comms_hub_decommissioned_at=hub.decommissioned_at if hub else None,
            model_non_migratable=categorisation is not None,
            model_categorisation=categorisation.rationale if categorisation else None,
            supplier_source=source,
            supplier_history=history,
            technical_issues=device.technical_issues,
        )

    def _active_connected(self, hub: Device, device_type: DeviceType, at: datetime) -> Any:  # noqa: ANN401
        for link in reversed(hub.connected_of(device_type)):
            linked = self.load(device_aggregate_id(link.device_id), Device.create, as_of=at)
            if linked is not None and linked.decommissioned_at is None:
                return link
        return None

    def bulk_gate(self, model: DeviceModelKey, at: datetime) -> BulkGate:
        at = utc(at)
        state = self.device_model(model, as_of=at)
        return assess_bulk_gate(
            state,
            self.later_siblings(state, as_of=at),
            as_of=at,
            cap=self.settings.bulk_migration_number,
        )

    def failed_migrations(self, at: datetime) -> list[Migration]:
        """ETMAD 1.8(a): every Device that has had a Failed Migration by ``at``, its Migration
        as it stood then (the H17.5 items are ``Migration.failed_migration``), in the order of
        their first series."""
        at = utc(at)
        self.catch_up()
        found = []
        for aggregate_id in self.aggregates_with(SeriesStarted.TYPE):
            migration = self.load(aggregate_id, Migration.create, as_of=at)
            if migration is not None and migration.failed_migration is not None:
                found.append(migration)
        return found

    def non_migratable_list(self, at: datetime) -> list[DeviceModel]:
        """ETMAD 1.12: the Device Models categorised Non-Migratable as they stood at ``at``,
        each with its rationale and what followed (disagreements, appeal, determination).

        Read from the notification log (the models ever categorised), then each model as of
        ``at``; so the list is reproducible for any past time."""
        at = utc(at)
        seen: dict[str, None] = {}
        start = 1
        while True:
            batch = self.recorder.select_notifications(
                start=start, limit=1000, topics=[CategorisedNonMigratable.TYPE]
            )
            if not batch:
                break
            for notification in batch:
                seen.setdefault(str(notification.originator_id), None)
            start = batch[-1].id + 1
        listed = []
        for aggregate_id in seen:
            model = self.load(aggregate_id, DeviceModel.create, as_of=at)
            if model is not None and model.non_migratable is not None:
                listed.append(model)
        return sorted(listed, key=lambda m: str(m.key))

    # --- use cases: Device Models -----------------------------------------------------------

    def register_device_model(
        self,
        *,
        model: DeviceModelKey,
        device_type: DeviceType,
        smets: SmetsGeneration,
        firmware_rank: int,
        at: datetime | None = None,
    ) -> Outcome:
        uow = UnitOfWork(self)
        model_id = model_aggregate_id(model)
        if uow.get(model_id, DeviceModel.create) is not None:
            raise CommandRejected("DEVICE_MODEL_EXISTS", f"Device Model {model} is registered")
        family_id = family_aggregate_id(model)
        family = uow.get(family_id, ModelFamily.create)
        if family is not None and family.members:
            first = family.members[0].model
            known = uow.get(model_aggregate_id(first), DeviceModel.create)
            if known is not None and (known.device_type, known.smets) != (device_type, smets):
                raise CommandRejected(
                    "FAMILY_MISMATCH",
                    f"{model} differs only in firmware from {first}, a {known.smets} "
                    f"{known.device_type}: device type and SMETS generation must match",
                )
        registered = DeviceModel.register(
            model=model, device_type=device_type, smets=smets, firmware_rank=firmware_rank, at=at
        )
        uow.record(family_id, ModelFamily.create, ModelFamily.add(family, model, firmware_rank))
        state = uow.record(model_id, DeviceModel.create, registered)
        assert state is not None  # noqa: S101 — just created
        return Outcome(uow.commit())

    def authorise_bulk_migration(
        self, *, model: DeviceModelKey, at: datetime, decided_by: str, rationale: str
    ) -> Outcome:
        """ETMAD 1.6: the DCC records that it is reasonably satisfied (operator decision)."""
        uow = UnitOfWork(self)
        state = self._model(uow, model)
        # The 6.1(b) evidence in force at the decision's time: the model's own, else a
        # later-firmware sibling's (6.2), each as it stood then (as the Bulk gate reports it).
        then = self.load(state.aggregate_id, DeviceModel.create, as_of=at)
        proof = find_proof(then, self.later_siblings(then, as_of=at)) if then else None
        event = state.authorise_bulk(
            at=at, decided_by=decided_by, rationale=rationale, evidence=proof, by_policy=False
        )
        uow.record(state.aggregate_id, DeviceModel.create, event)
        return Outcome(uow.commit())

    def record_model_test_evidence(
        self, *, model: DeviceModelKey, at: datetime, outcome: TestOutcome, detail: str
    ) -> Outcome:
        return self._on_model(
            model, lambda m: m.record_test_evidence(at=at, outcome=outcome, detail=detail)
        )

    def suspend_model(self, *, model: DeviceModelKey, at: datetime, reason: str) -> Outcome:
        return self._on_model(model, lambda m: m.suspend(at=at, reason=reason))

    def resume_model(self, *, model: DeviceModelKey, at: datetime, reason: str) -> Outcome:
        return self._on_model(model, lambda m: m.resume(at=at, reason=reason))

    def categorise_non_migratable(
        self, *, model: DeviceModelKey, at: datetime, rationale: str, decided_by: str
    ) -> Outcome:
        return self._on_model(
            model,
            lambda m: m.categorise_non_migratable(
                at=at, rationale=rationale, decided_by=decided_by
            ),
        )

    def record_disagreement(
        self, *, model: DeviceModelKey, at: datetime, party: str, reason: str
    ) -> Outcome:
        return self._on_model(
            model, lambda m: m.record_disagreement(at=at, party=party, reason=reason)
        )

    def record_agreement(
        self,
        *,
        model: DeviceModelKey,
        at: datetime,
        outcome: AgreementOutcome,
        party: str | None = None,
    ) -> Outcome:
        return self._on_model(
            model, lambda m: m.record_agreement(at=at, outcome=outcome, party=party)
        )

    def lodge_appeal(self, *, model: DeviceModelKey, at: datetime, party: str) -> Outcome:
        return self._on_model(model, lambda m: m.lodge_appeal(at=at, party=party))

    def record_determination(
        self, *, model: DeviceModelKey, at: datetime, outcome: DeterminationOutcome
    ) -> Outcome:
        return self._on_model(model, lambda m: m.record_determination(at=at, outcome=outcome))

    def recategorise_migratable(
        self, *, model: DeviceModelKey, at: datetime, rationale: str, decided_by: str
    ) -> Outcome:
        return self._on_model(
            model,
            lambda m: m.recategorise_migratable(at=at, rationale=rationale, decided_by=decided_by),
        )

    def _model(self, uow: UnitOfWork, model: DeviceModelKey) -> DeviceModel:
        state = uow.get(model_aggregate_id(model), DeviceModel.create)
        if state is None:
            raise UnknownDeviceModel(model)
        return state

    def _on_model(
        self, model: DeviceModelKey, decide: Callable[[DeviceModel], DomainEvent]
    ) -> Outcome:
        uow = UnitOfWork(self)
        state = self._model(uow, model)
        uow.record(state.aggregate_id, DeviceModel.create, decide(state))
        return Outcome(uow.commit())

    # --- use cases: Devices -----------------------------------------------------------------

    def register_device(
        self,
        *,
        device_id: EUI64,
        device_type: DeviceType,
        model: DeviceModelKey,
        mpxn: MPxN | None = None,
        comms_hub_id: EUI64 | None = None,
        cos_party: CosParty = CosParty.TCOS,
        cos_certificate: CertificateId | None = None,
        at: datetime | None = None,
    ) -> Outcome:
        uow = UnitOfWork(self)
        device_key = device_aggregate_id(device_id)
        if uow.get(device_key, Device.create) is not None:
            raise CommandRejected("DEVICE_EXISTS", f"Device {device_id} is registered")
        model_state = self._model(uow, model)
        hub: Device | None = None
        if comms_hub_id is not None and device_type.connects_to_comms_hub:
            hub = uow.get(device_aggregate_id(comms_hub_id), Device.create)
            if hub is None:
                raise CommandRejected(
                    "UNKNOWN_COMMS_HUB",
                    f"no Communications Hub Function {comms_hub_id} is registered",
                )
        if device_type is DeviceType.GPF:
            if hub is not None and model != hub.model:
                raise RuleViolation(
                    f"a Gas Proxy Function's Device Model is its Communications Hub's "
                    f"({hub.model}), not {model}",
                    code="GPF_MODEL_MISMATCH",
                    clause=clauses.ETMAD_2_GPF_MODEL,
                )
        elif model_state.device_type is not device_type:
            raise CommandRejected(
                "DEVICE_TYPE_MISMATCH",
                f"Device Model {model} is a {model_state.device_type} model, not {device_type}",
            )
        registered = Device.register(
            device_id=device_id,
            device_type=device_type,
            model=model,
            mpxn=mpxn,
            comms_hub_id=comms_hub_id,
            cos_party=cos_party,
            cos_certificate=cos_certificate,
            at=at,
        )
        if hub is not None:
            uow.record(hub.aggregate_id, Device.create, hub.connect(registered))
        uow.record(device_key, Device.create, registered)
        return Outcome(uow.commit())

    def _device(self, uow: UnitOfWork, device_id: EUI64) -> Device:
        state = uow.get(device_aggregate_id(device_id), Device.create)
        if state is None:
            raise UnknownDevice(device_id)
        return state

    def _on_device(self, device_id: EUI64, decide: Callable[[Device], DomainEvent]) -> Outcome:
        uow = UnitOfWork(self)
        state = self._device(uow, device_id)
        uow.record(state.aggregate_id, Device.create, decide(state))
        return Outcome(uow.commit())

    def record_commissioning(self, *, device_id: EUI64, at: datetime) -> Outcome:
        return self._on_device(device_id, lambda d: d.commission(at))

    def record_decommissioning(self, *, device_id: EUI64, at: datetime) -> Outcome:
        return self._on_device(device_id, lambda d: d.decommission(at))

    def raise_technical_issue(
        self, *, device_id: EUI64, at: datetime, reason: str, issue_id: str = "default"
    ) -> Outcome:
        return self._on_device(
            device_id, lambda d: d.raise_technical_issue(at=at, reason=reason, issue_id=issue_id)
        )

    def clear_technical_issue(
        self, *, device_id: EUI64, at: datetime, reason: str, issue_id: str = "default"
    ) -> Outcome:
        return self._on_device(
            device_id, lambda d: d.clear_technical_issue(at=at, reason=reason, issue_id=issue_id)
        )

    def record_credentials_replaced(
        self, *, device_id: EUI64, at: datetime, party: CosParty, certificate: CertificateId
    ) -> Outcome:
        uow = UnitOfWork(self)
        state = self._device(uow, device_id)
        event = state.replace_credentials(
            at=at, party=party, certificate=certificate, model=self.effective_model(state, uow=uow)
        )
        uow.record(state.aggregate_id, Device.create, event)
        return Outcome(uow.commit())

    def record_srv623_processed(
        self, *, device_id: EUI64, at: datetime, request_id: str
    ) -> Outcome:
        uow = UnitOfWork(self)
        state = self._device(uow, device_id)
        event = state.record_srv623(
            at=at, request_id=request_id, model=self.effective_model(state, uow=uow)
        )
        uow.record(state.aggregate_id, Device.create, event)
        return Outcome(uow.commit())

    def record_srv623_failed(
        self, *, device_id: EUI64, at: datetime, request_id: str, reason: str
    ) -> Outcome:
        """A failed SRV 6.23 on the Device (DOMAIN.md 4.2's evidence for a migrated model)."""
        uow = UnitOfWork(self)
        state = self._device(uow, device_id)
        event = state.record_srv623_failure(
            at=at,
            request_id=request_id,
            reason=reason,
            model=self.effective_model(state, uow=uow),
        )
        uow.record(state.aggregate_id, Device.create, event)
        return Outcome(uow.commit())

    def upgrade_firmware(self, *, device_id: EUI64, at: datetime, model: DeviceModelKey) -> Outcome:
        uow = UnitOfWork(self)
        state = self._device(uow, device_id)
        target = self._model(uow, model)
        current = self._model(uow, state.model)
        event = state.upgrade_firmware(at=at, to_model=model)
        if target.firmware_rank <= current.firmware_rank:
            raise RuleViolation(
                f"{model} (firmware_rank {target.firmware_rank}) is not a later firmware than "
                f"{state.model} (firmware_rank {current.firmware_rank})",
                code="NOT_A_FIRMWARE_UPGRADE",
                clause=clauses.ETMAD_1_10,
            )
        uow.record(state.aggregate_id, Device.create, event)
        return Outcome(uow.commit())

    def record_migration_started(self, *, device_id: EUI64, at: datetime) -> Outcome:
        """Count a Device's migration against its model's Bulk gate (1.6, section 2). Refused
        for an Ineligible Device (1.4: the DCC shall not attempt to migrate it)."""
        uow = UnitOfWork(self)
        eligibility = self.count_migration_start(uow, device_id=device_id, at=at)
        return Outcome(uow.commit(), eligibility)

    def count_migration_start(
        self, uow: UnitOfWork, *, device_id: EUI64, at: datetime
    ) -> Eligibility:
        """``record_migration_started`` inside the caller's unit of work (the migration runner
        saves the model's ``MigrationStarted`` with the Migration's ``SeriesStarted``)."""
        at = utc(at)
        eligibility = self.eligibility_at(device_id, at)
        if not eligibility.eligible:
            codes = ", ".join(r.code for r in eligibility.reasons)
            raise RuleViolation(
                f"Device {device_id} is not eligible for ECoS Migration at {at.isoformat()}: "
                f"{codes}",
                code="DEVICE_INELIGIBLE",
                clause=clauses.ETMAD_1_4,
            )
        device = self._device(uow, device_id)
        model = self._model(uow, self.effective_model(device, uow=uow))
        standing = self.load(model.aggregate_id, DeviceModel.create, as_of=at)
        event = model.start_migration(
            at=at,
            device_id=device_id,
            cap=self.settings.bulk_migration_number,
            standing=standing,
        )
        uow.record(model.aggregate_id, DeviceModel.create, event)
        return eligibility

    # --- in-process policies ----------------------------------------------------------------

    def react(self, uow: UnitOfWork, envelope: Envelope) -> None:
        """Policies that react to events inside the unit of work that recorded them, so that
        a fact and what it entails are saved together (DOMAIN.md 3.5):

        - a Device's credentials replacement or SRV 6.23 may complete 6.1(b) proving evidence
          for its Device Model (``ProvingEvidenceRecorded``);
        - proving evidence on a model, or a model registered below an already-proven
          later-firmware sibling (6.2), lets the 1.6 policy decide (``BulkMigrationAuthorised``
          by ``policy:authorise-bulk-on-proof.v1``, when enabled).
        """
        event = envelope.event
        if isinstance(event, CredentialsReplaced | Srv623Processed):
            self._record_proving(uow, envelope.originator_id)
        elif isinstance(event, ProvingEvidenceRecorded):
            model = uow.get(envelope.originator_id, DeviceModel.create)
            assert model is not None  # noqa: S101 — the event was just folded into it
            family = uow.get(family_aggregate_id(model.key), ModelFamily.create)
            for member in family.members if family else (FamilyMember(model.key, 0),):
                if member.firmware_rank <= model.firmware_rank:
                    covered = uow.get(model_aggregate_id(member.model), DeviceModel.create)
                    if covered is not None:
                        self._authorise_by_policy(uow, covered)
        elif isinstance(event, ModelRegistered):
            model = uow.get(envelope.originator_id, DeviceModel.create)
            assert model is not None  # noqa: S101 — the event was just folded into it
            self._authorise_by_policy(uow, model)

    def _record_proving(self, uow: UnitOfWork, device_key: str) -> None:
        """ETMAD 6.1(b): a replacement followed by an SRV 6.23 on the same Device Model proves
        that model; the first such pair is recorded on it."""
        device = uow.get(device_key, Device.create)
        assert device is not None  # noqa: S101 — the event was just folded into it
        for pair in device.proving_pairs():
            model = uow.get(model_aggregate_id(pair.model), DeviceModel.create)
            if model is None or model.proving is not None:
                continue
            # The evidence exists from the later of the two facts: the SRV 6.23.
            uow.record(
                model.aggregate_id, DeviceModel.create, model.record_proving(pair, pair.proven_at)
            )

    def _authorise_by_policy(self, uow: UnitOfWork, model: DeviceModel) -> None:
        """ETMAD 1.6 by policy, dated when the evidence first stood for this model: the SRV
        6.23 of the proof, or the model's registration if that came later."""
        proof = find_proof(model, self.later_siblings(model, uow=uow))
        if proof is None:
            return
        when = proof.proven_at
        if model.registered_at is not None:
            when = max(when, model.registered_at)
        event = authorise_by_policy(
            model, proof, at=when, enabled=self.settings.auto_authorise_bulk
        )
        uow.record(model.aggregate_id, DeviceModel.create, event)

    # --- Registration Data ------------------------------------------------------------------

    def record_supplier_change(self, change: SupplierChange) -> bool:
        return self.registration.record_supplier_change(change)

    def supplier_history(self, mpxn: MPxN) -> Sequence[SupplierChange]:
        return self.registration.supplier_history(mpxn)


def close_application(app: EtmadApplication) -> None:
    """Close the event store and any port that holds a connection."""
    closer = getattr(app.registration, "close", None)
    if callable(closer):
        closer()
    app.close()
