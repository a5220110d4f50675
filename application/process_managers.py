"""Process managers that follow the notification log (DOMAIN.md 3.5, 4.2-4.4).

Each one reads the events it follows (its ``topics``, the versioned type names) from the
notification log after its recorded position, folds them, decides, and saves what it decided for
a batch of notifications in ONE unit of work committed with its new position
(``UnitOfWork.commit(tracking=Tracking(name, last notification id))``): its consequences and its
position are saved together or not at all, so a rerun after a crash neither loses nor repeats
anything. ``docs/process-managers.md`` describes each one.

- ``SuspensionMonitor`` (4.3, ``ETMAD 6.1(d)``): per Device Model, the attempts completed in the
  suspension rule's window; records ``SuspensionProposed`` on the model and, with
  ``Settings.auto_suspend``, suspends it in the same unit of work.
- ``NonMigratableCandidateMonitor`` (4.2, ``ETMAD 6.1(e)``): per Device Model, its attempts
  and its migrated Devices that then failed an SRV 6.23; records
  ``NonMigratableCandidateProposed``. The DCC decides by ``CategoriseNonMigratable`` or
  dismisses the proposal (``dismiss_non_migratable_candidate``).
- ``Srv623OutcomeRecorder`` (3.5, ``ETMAD 6.1(b)(ii)``): follows the Device's response to an
  SRV 6.23's Command (``DeviceResponded``) onto the target Device: ``Srv623Processed`` or
  ``Srv623Failed``, so the in-process proving policy proves the Device Model (and opens its
  Bulk gate) in the same unit of work. It keeps no state.
- ``IncidentMonitor`` (4.4, ``ETMAD 3.7(d)``-``(g)``): the attempts of every model completed in
  the incident rule's window; raises ``IncidentRaised`` on ``incident:dcc/<system>/<first
  seen>`` once per outage of one DCC system seen across models, never for one Device's or one
  model's failures. A Party's request is decided by ``refuse_party_raised_incident`` (3.7(f)).

**Their state.** What a manager decides *with* (is the model suspended, was a suspension
proposed in the window, does a candidate proposal stand, was this outage's incident raised) is
read from the aggregates in the unit of work, i.e. from recorded events. What it decides *on*
(the completed attempts, which series belongs to which model, the outages) is folded in memory
from the notifications it follows, and rebuilt on a fresh process by a first pass over the
notifications up to its recorded position that folds without acting. A manager whose unit of
work fails forgets its state and rebuilds it on the next pull, as does one whose position was
moved by another process.

**What ends an attempt.** A step event carrying a Failed Migration (``TcosInstructed``,
``TcosReviewed``, ``ReplacementOutcomeRecorded``, ``ConfirmationRecorded``) ends the attempt
unsuccessfully; ``MigrationCompleted`` ends it successfully. Its Device Model is the one frozen
on its series (``SeriesStarted.model``), its time the event's business time. A series the DCC
withdraws ends no attempt (nothing was completed). Each decision is taken at the completed
attempt's time, on the attempts folded before it in log order, so it does not depend on how
the log is cut into batches.

**Cost.** ``ProcessManagers.pull_all`` reads the log once per round for all its managers (the
union of their topics, from the lowest position among them) and decodes each notification
once; each manager takes the ones after its own position in its own topics and commits them in
its own unit of work with its own ``Tracking``, as its ``pull`` would. The managers fold the
attempts into the incremental forms of the policies (``SuspensionTally``,
``NonMigratableEvidence``, ``UnavailabilityTally``), which answer for the attempt's time by
bisection; the decision value is built only when the rule's counts say it proposes, so a
notification costs O(log n) instead of a pass over the attempts of the window.
"""

from __future__ import annotations

import abc
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar, Final

import attrs
from eventsourcing.persistence import Notification, Tracking

from application.errors import CommandRejected, UnknownDevice, UnknownDeviceModel
from application.mapper import Envelope
from application.service import EtmadApplication, Outcome, UnitOfWork
from application.settings import Settings
from domain.device import Device, Srv623Failed, Srv623Processed, device_aggregate_id
from domain.device_model import (
    DeviceModel,
    NonMigratableCandidateProposed,
    Suspended,
    SuspensionProposed,
    model_aggregate_id,
)
from domain.identifiers import EUI64, CosParty, DeviceModelKey
from domain.incidents import (
    Incident,
    IncidentRaised,
    incident_aggregate_id,
    party_incident_id,
    system_incident_id,
)
from domain.migration import (
    ConfirmationRecorded,
    MigrationCompleted,
    ReplacementOutcomeRecorded,
    SeriesStarted,
    TcosInstructed,
    TcosReviewed,
)
from domain.programme_policies import (
    CompletedAttempt,
    DccSystem,
    NonMigratableEvidence,
    SuspensionTally,
    UnavailabilityTally,
    assess_system_problem,
    is_device_side_rejection,
    unavailable_system,
)
from domain.service_request import DeviceResponded, ServiceRequest

#: Notifications read per query, and per unit of work unless a pull says fewer.
BATCH: Final = 1000

#: How far behind the latest completion seen an attempt may complete and still find the
#: attempts of its window in memory: the programme runs each business day's Devices one after
#: another from the day's start, so completions arrive out of business-time order by up to a
#: day. Older attempts are dropped from the windowed states.
LATE_ARRIVAL: Final = timedelta(days=1)

#: The Migration events a monitor of completed attempts follows.
ATTEMPT_TOPICS: Final[tuple[str, ...]] = (
    SeriesStarted.TYPE,
    TcosInstructed.TYPE,
    TcosReviewed.TYPE,
    ReplacementOutcomeRecorded.TYPE,
    ConfirmationRecorded.TYPE,
    MigrationCompleted.TYPE,
)


@attrs.frozen(kw_only=True)
class Pulled:
    """What one pull did: the position before and after, the notifications it read and the
    events it saved with its new position."""

    name: str
    start: int
    position: int
    notifications: int
    events: tuple[Envelope, ...] = ()

    @property
    def moved(self) -> bool:
        return self.position > self.start


#: Decodes a notification of the log into its envelope.
Decode = Callable[[Notification], Envelope]


def _decode(app: EtmadApplication, notification: Notification) -> Envelope:
    return app.envelope_of(notification)


class Decoded:
    """Decodes notifications with ``app``'s mapper, each one once: the managers of one round
    of ``ProcessManagers.pull_all`` share one, so a notification several of them follow is
    decoded once for all. It lives for one round, so it holds at most one batch."""

    def __init__(self, app: EtmadApplication) -> None:
        self._app = app
        self._envelopes: dict[int, Envelope] = {}

    def __call__(self, notification: Notification) -> Envelope:
        envelope = self._envelopes.get(notification.id)
        if envelope is None:
            envelope = self._envelopes[notification.id] = _decode(self._app, notification)
        return envelope


class ProcessManager(abc.ABC):
    """Follows ``topics`` in the notification log from its position, recorded under ``name``.

    A subclass folds each notification into its in-memory state and, given a unit of work,
    decides and records there (``handle``); ``reset`` forgets the state."""

    name: ClassVar[str]
    topics: ClassVar[tuple[str, ...]]

    def __init__(self) -> None:
        self._app: EtmadApplication | None = None
        self._folded_to: int | None = None  # the notification id the state is folded up to

    @abc.abstractmethod
    def reset(self) -> None:
        """Forget the in-memory state."""

    @abc.abstractmethod
    def handle(self, envelope: Envelope, uow: UnitOfWork | None, settings: Settings) -> None:
        """Fold one notification into the state; with a unit of work, also decide and record
        there what follows from it (without one: rebuilding, nothing is decided)."""

    def position(self, app: EtmadApplication) -> int:
        """The last notification id this manager has processed (0: none)."""
        return app.process_recorder.max_tracking_id(self.name) or 0

    def pull(self, app: EtmadApplication, *, limit: int | None = None) -> Pulled:
        """Process the next notifications after the recorded position (at most ``limit``,
        default ``BATCH``) in one unit of work, saved with the new position."""
        if limit is not None and limit < 1:
            raise ValueError("a pull reads at least one notification")
        start = self.position(app)
        if not self.is_folded_to(app, start):
            rebuild(app, {self: start})
        batch = app.recorder.select_notifications(
            start=start + 1, limit=limit or BATCH, topics=self.topics
        )
        return self.process(app, start, batch, Decoded(app))

    def process(
        self,
        app: EtmadApplication,
        start: int,
        batch: Sequence[Notification],
        decode: Decode,
    ) -> Pulled:
        """Process ``batch`` (the next notifications of ``topics`` after ``start``, the
        recorded position the state is folded up to, in log order) in one unit of work,
        saved with the new position: the last one's id. An empty batch saves nothing."""
        if not batch:
            return Pulled(name=self.name, start=start, position=start, notifications=0)
        last = batch[-1].id
        try:
            uow = UnitOfWork(app)
            for notification in batch:
                self.handle(decode(notification), uow, app.settings)
            events = uow.commit(tracking=Tracking(self.name, last))
        except BaseException:
            self.forget()  # folded past the recorded position: rebuild on the next pull
            raise
        self._folded_to = last
        return Pulled(
            name=self.name,
            start=start,
            position=last,
            notifications=len(batch),
            events=events,
        )

    def skip_to(self, app: EtmadApplication, start: int, position: int) -> None:
        """Record ``position`` as processed when no notification of this manager's topics lies
        after ``start`` up to it: there is nothing to decide, and the next read of the log
        starts there rather than at ``start`` (a manager whose topics are rare — no SRV 6.23
        Device response in a month — would otherwise hold every shared read back to its old
        position). Saved like any position, in a unit of work of its own."""
        folded = self.is_folded_to(app, start)
        UnitOfWork(app).commit(tracking=Tracking(self.name, position))
        if folded:
            self.folded(app, position)

    def is_folded_to(self, app: EtmadApplication, position: int) -> bool:
        """Whether the in-memory state is ``app``'s log folded up to ``position``."""
        return self._app is app and self._folded_to == position

    def forget(self) -> None:
        """Forget the in-memory state: it is rebuilt from the log before the next pull."""
        self._app = None
        self._folded_to = None
        self.reset()

    def folded(self, app: EtmadApplication, position: int) -> None:
        """Note that the state is ``app``'s log folded up to ``position`` (after a rebuild)."""
        self._app = app
        self._folded_to = position


def rebuild(app: EtmadApplication, managers: Mapping[ProcessManager, int]) -> None:
    """Fold, for each manager, the notifications of its topics up to its position (the
    mapping's value) without acting: the state a process that had been running all along
    would hold. One pass over the log for all of them, each notification decoded once."""
    for manager in managers:
        manager.forget()
    if not managers:
        return
    upto = max(managers.values())
    topics = _union(managers)
    start = 1
    while start <= upto:
        batch = app.recorder.select_notifications(
            start=start, limit=BATCH, stop=upto, topics=topics
        )
        if not batch:
            break
        decode = Decoded(app)
        for notification in batch:
            for manager, position in managers.items():
                if notification.id <= position and notification.topic in manager.topics:
                    manager.handle(decode(notification), None, app.settings)
        start = batch[-1].id + 1
    for manager, position in managers.items():
        manager.folded(app, position)


def _union(managers: Iterable[ProcessManager]) -> tuple[str, ...]:
    """The topics any of ``managers`` follows, each once, in the order first named."""
    return tuple(dict.fromkeys(topic for m in managers for topic in m.topics))


# --- completed attempts ---------------------------------------------------------------------


class AttemptLog:
    """Folds the Migrations' events, in log order, into completed attempts."""

    def __init__(self) -> None:
        # migration aggregate id -> its Device and the model of its latest series, until the
        # Migration succeeds (no attempt follows a success)
        self._series: dict[str, tuple[EUI64, DeviceModelKey]] = {}

    def fold(self, envelope: Envelope) -> CompletedAttempt | None:
        """The attempt ``envelope`` completes, if it completes one."""
        event = envelope.event
        key = envelope.originator_id
        if isinstance(event, SeriesStarted):
            self._series[key] = (event.device_id, event.model)
            return None
        at = event.occurred_at
        if isinstance(event, MigrationCompleted):
            device_id, _ = self._started(key)
            del self._series[key]
            assert at is not None  # noqa: S101 — a Migration's events have business time
            return CompletedAttempt(device_id=device_id, model=event.model, completed_at=at)
        if (
            isinstance(
                event,
                TcosInstructed | TcosReviewed | ReplacementOutcomeRecorded | ConfirmationRecorded,
            )
            and event.failure is not None
        ):
            device_id, model = self._started(key)
            assert at is not None  # noqa: S101 — a Migration's events have business time
            return CompletedAttempt(
                device_id=device_id, model=model, completed_at=at, failure=event.failure
            )
        return None

    def _started(self, key: str) -> tuple[EUI64, DeviceModelKey]:
        try:
            return self._series[key]
        except KeyError:
            raise LookupError(
                f"{key}: an attempt ends before its series started in the notification log"
            ) from None


class RecentAttempts:
    """Completed attempts in log order, dropping those completed ``keep`` or longer before the
    latest completion seen (from the oldest in log order, up to the first one to keep)."""

    def __init__(self) -> None:
        self._items: deque[CompletedAttempt] = deque()
        self._latest: datetime | None = None

    def add(self, attempt: CompletedAttempt, *, keep: timedelta) -> list[CompletedAttempt]:
        """Add ``attempt``; returns the attempts dropped (``attempt`` itself among them if
        it is that old)."""
        self._items.append(attempt)
        if self._latest is None or attempt.completed_at > self._latest:
            self._latest = attempt.completed_at
        horizon = self._latest - keep
        dropped = []
        while self._items and self._items[0].completed_at <= horizon:
            dropped.append(self._items.popleft())
        return dropped

    def __iter__(self) -> Iterator[CompletedAttempt]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


class AttemptMonitor(ProcessManager):
    """A process manager of the Migrations' completed attempts."""

    topics = ATTEMPT_TOPICS

    def __init__(self) -> None:
        super().__init__()
        self._log = AttemptLog()
        self.clear()

    def reset(self) -> None:
        self._log = AttemptLog()
        self.clear()

    def handle(self, envelope: Envelope, uow: UnitOfWork | None, settings: Settings) -> None:
        attempt = self._log.fold(envelope)
        if attempt is None:
            return
        self.observe(attempt, settings)
        if uow is not None:
            self.decide(uow, attempt, settings)

    @abc.abstractmethod
    def clear(self) -> None:
        """Forget the attempts observed."""

    @abc.abstractmethod
    def observe(self, attempt: CompletedAttempt, settings: Settings) -> None:
        """Keep what the decisions need of a completed attempt."""

    @abc.abstractmethod
    def decide(self, uow: UnitOfWork, attempt: CompletedAttempt, settings: Settings) -> None:
        """Decide, at the attempt's completion, on what has been observed up to it."""


def _model(uow: UnitOfWork, key: DeviceModelKey) -> DeviceModel:
    model = uow.get(model_aggregate_id(key), DeviceModel.create)
    if model is None:
        raise UnknownDeviceModel(key)
    return model


class SuspensionMonitor(AttemptMonitor):
    """DOMAIN 4.3 (``ETMAD 6.1(d)``): the suspension rule on each model's completed attempts.

    State: per Device Model, its attempts completed within the rule's window (plus
    ``LATE_ARRIVAL``) of the latest, and the same attempts in a ``SuspensionTally``. At each
    completed attempt the model is assessed at that time (the tally's counts in the window, by
    bisection; the assessment is built only when they propose); a proposal is recorded unless
    the model is suspended or a proposal was recorded within the window
    (``DeviceModel.propose_suspension``), and with ``auto_suspend`` the model is suspended in
    the same unit of work, with the proposal as its reason."""

    name = "etmad.process.suspension-monitor"

    def clear(self) -> None:
        self._recent: dict[DeviceModelKey, tuple[RecentAttempts, SuspensionTally]] = {}

    def observe(self, attempt: CompletedAttempt, settings: Settings) -> None:
        keep = settings.suspension_rule.window + LATE_ARRIVAL
        held = self._recent.get(attempt.model)
        if held is None:
            held = self._recent[attempt.model] = (RecentAttempts(), SuspensionTally(attempt.model))
        recent, tally = held
        tally.add(attempt)
        for dropped in recent.add(attempt, keep=keep):
            tally.remove(dropped)

    def decide(self, uow: UnitOfWork, attempt: CompletedAttempt, settings: Settings) -> None:
        _, tally = self._recent[attempt.model]
        rule = settings.suspension_rule
        if not tally.proposes(at=attempt.completed_at, rule=rule):
            return
        assessment = tally.assess(at=attempt.completed_at, rule=rule)
        model = _model(uow, attempt.model)
        proposed = model.propose_suspension(assessment)
        if proposed is None:
            return
        after = uow.record(model.aggregate_id, DeviceModel.create, proposed)
        if settings.auto_suspend and after is not None:
            suspended = after.suspend(at=assessment.at, reason=proposed.as_suspension_reason())
            uow.record(after.aggregate_id, DeviceModel.create, suspended)


class NonMigratableCandidateMonitor(AttemptMonitor):
    """DOMAIN 4.2 (``ETMAD 6.1(e)``): the Non-Migratable candidate rule on each model.

    Follows the completed attempts and the failed SRV 6.23s (``Srv623Failed``). State: per
    Device Model, every completed attempt (the rule has no window: a model's incapability does
    not expire), folded into a ``NonMigratableEvidence`` (when each Device first attempted,
    rejected, replaced), and the Devices of the model that failed an SRV 6.23 while holding the
    ECoS Party's credentials (migrated, then failed). At each device-side rejection and each
    such failed SRV 6.23 the model is assessed (the candidate is built only when the counts
    propose); a proposal is recorded unless the model is categorised, a proposal stands, or the
    evidence has not grown since the last one (``DeviceModel.propose_non_migratable_candidate``).
    """

    name = "etmad.process.non-migratable-candidate-monitor"
    topics = (*ATTEMPT_TOPICS, Srv623Failed.TYPE)

    def clear(self) -> None:
        self._evidence: dict[DeviceModelKey, NonMigratableEvidence] = {}
        self._failed_after_migration: dict[DeviceModelKey, set[str]] = {}

    def handle(self, envelope: Envelope, uow: UnitOfWork | None, settings: Settings) -> None:
        event = envelope.event
        if not isinstance(event, Srv623Failed):
            super().handle(envelope, uow, settings)
            return
        if event.cos_party is not CosParty.ECOS:
            return  # a TCoS Device's SRV 6.23 says nothing about migrating its model
        failed = self._failed_after_migration.setdefault(event.model, set())
        failed.add(envelope.originator_id)  # the Device's aggregate id: distinct Devices
        if uow is not None:
            assert event.occurred_at is not None  # noqa: S101 — the command gives a time
            self._assess(uow, event.model, event.occurred_at, settings)

    def observe(self, attempt: CompletedAttempt, settings: Settings) -> None:  # noqa: ARG002
        evidence = self._evidence.get(attempt.model)
        if evidence is None:
            evidence = self._evidence[attempt.model] = NonMigratableEvidence(attempt.model)
        evidence.add(attempt)

    def decide(self, uow: UnitOfWork, attempt: CompletedAttempt, settings: Settings) -> None:
        if is_device_side_rejection(attempt.failure):
            self._assess(uow, attempt.model, attempt.completed_at, settings)

    def _assess(
        self, uow: UnitOfWork, key: DeviceModelKey, at: datetime, settings: Settings
    ) -> None:
        evidence = self._evidence.get(key) or NonMigratableEvidence(key)
        failed_srv623 = len(self._failed_after_migration.get(key, ()))
        rule = settings.non_migratable_candidate_rule
        if not evidence.proposes(at=at, failed_srv623_after_migration=failed_srv623, rule=rule):
            return
        candidate = evidence.candidate(
            at=at, failed_srv623_after_migration=failed_srv623, rule=rule
        )
        model = _model(uow, key)
        uow.record(
            model.aggregate_id,
            DeviceModel.create,
            model.propose_non_migratable_candidate(candidate),
        )


@attrs.define
class Outage:
    """One DCC system's unavailability seen with no gap longer than the incident window."""

    first_seen: datetime
    last_seen: datetime


class IncidentMonitor(AttemptMonitor):
    """DOMAIN 4.4 (``ETMAD 3.7(d)``-``(g)``): ECoS Migration Incidents for DCC-system problems.

    State: the attempts of every model completed within the rule's window (plus
    ``LATE_ARRIVAL``) of the latest, their unavailabilities in an ``UnavailabilityTally``, and
    per DCC system its current outage (its first and latest unavailability; a gap longer than
    the window starts a new one). At each attempt that failed on a DCC system's unavailability
    the tally tells which systems the rule finds unavailable across the minimum of models; when
    one of them has no incident for its outage yet, the rule is assessed on the attempts and
    each such system gets one incident per outage (``incident:dcc/<system>/<outage's first
    seen>``, raised unless it exists)."""

    name = "etmad.process.incident-monitor"

    def clear(self) -> None:
        self._recent = RecentAttempts()
        self._unavailable = UnavailabilityTally()
        self._outages: dict[DccSystem, Outage] = {}

    def observe(self, attempt: CompletedAttempt, settings: Settings) -> None:
        rule = settings.incident_rule
        self._unavailable.add(attempt)
        for dropped in self._recent.add(attempt, keep=rule.window + LATE_ARRIVAL):
            self._unavailable.remove(dropped)
        system = unavailable_system(attempt)
        if system is None:
            return
        at = attempt.completed_at
        outage = self._outages.get(system)
        if outage is None or at > outage.last_seen + rule.window:
            self._outages[system] = Outage(first_seen=at, last_seen=at)
        else:
            outage.last_seen = max(outage.last_seen, at)

    def decide(self, uow: UnitOfWork, attempt: CompletedAttempt, settings: Settings) -> None:
        if unavailable_system(attempt) is None:
            return  # only an unavailability can make a system problem appear
        rule = settings.incident_rule
        raising = self._unavailable.raising(at=attempt.completed_at, rule=rule)
        if all(uow.get(self._incident(s), Incident.create) is not None for s in raising):
            return  # no system across enough models, or each one's incident is raised
        assessment = assess_system_problem(self._recent, at=attempt.completed_at, rule=rule)
        for affected in assessment.systems:
            if len(affected.models) < rule.minimum_models:
                continue  # seen, but not across enough models
            outage = self._outages[affected.system]
            key = self._incident(affected.system)
            if uow.get(key, Incident.create) is not None:
                continue  # this outage's incident is raised
            seen = [
                a.completed_at
                for a in self._recent
                if unavailable_system(a) is affected.system
                and assessment.window_from < a.completed_at <= assessment.at
            ]
            raised = Incident.raise_for(
                assessment, affected, first_seen=outage.first_seen, last_seen=max(seen)
            )
            uow.record(key, Incident.create, raised)

    def _incident(self, system: DccSystem) -> str:
        """The aggregate id of the incident for ``system``'s current outage."""
        first_seen = self._outages[system].first_seen
        return incident_aggregate_id(system_incident_id(system, first_seen))


# --- SRV 6.23 outcomes on the Device -----------------------------------------------------------


class Srv623OutcomeRecorder(ProcessManager):
    """DOMAIN 3.5 (``ETMAD 6.1(b)(ii)``): a successfully processed SRV 6.23 on a Device whose
    CoS certificate was replaced earlier is the evidence of 6.1(b)(ii), so each Device response
    recorded on a ServiceRequest (``DeviceResponded``) is recorded on its target Device:
    ``Srv623Processed`` when it succeeded, ``Srv623Failed`` (its detail as the reason, DOMAIN
    4.2's evidence for a migrated model) when it did not, dated when the DCC received the
    response and on the Device Model in force (``EtmadApplication.effective_model``). The
    application's in-process policies then record the proving evidence and the 1.6 decision
    in the same unit of work (``EtmadApplication.react``).

    ``request_id`` on the Device is the ServiceRequest's aggregate id
    (``service-request:<originator>:<target>:<counter>``), as ``RequestAssessed.request``.
    It keeps no state: a Device no longer in the inventory, or one that already holds an SRV
    6.23 outcome with that request id, is skipped, so a rerun records nothing twice."""

    name = "etmad.process.srv623-outcome-recorder"
    topics = (DeviceResponded.TYPE,)

    def __init__(self) -> None:
        super().__init__()
        self._running: EtmadApplication | None = None

    def reset(self) -> None:
        """Nothing to forget: it decides on recorded events only."""

    def is_folded_to(self, app: EtmadApplication, position: int) -> bool:  # noqa: ARG002
        return True  # no state: nothing to rebuild from the log

    def process(
        self,
        app: EtmadApplication,
        start: int,
        batch: Sequence[Notification],
        decode: Decode,
    ) -> Pulled:
        self._running = app  # effective_model is the application's
        try:
            return super().process(app, start, batch, decode)
        finally:
            self._running = None

    def handle(self, envelope: Envelope, uow: UnitOfWork | None, settings: Settings) -> None:  # noqa: ARG002
        event = envelope.event
        if uow is None or self._running is None or not isinstance(event, DeviceResponded):
            return
        request = uow.get(envelope.originator_id, ServiceRequest.create)
        assert request is not None  # noqa: S101 — the event was recorded on it
        device = uow.get(device_aggregate_id(request.received.target), Device.create)
        if device is None:
            return  # no longer in the Smart Metering Inventory
        request_id = request.aggregate_id
        recorded = {r.request_id for r in device.srv623s}
        recorded.update(r.request_id for r in device.failed_srv623s)
        if request_id in recorded:
            return  # recorded already
        assert event.occurred_at is not None  # noqa: S101 — the command gives a time
        model = self._running.effective_model(device, uow=uow)
        outcome = (
            device.record_srv623(at=event.occurred_at, request_id=request_id, model=model)
            if event.succeeded
            else device.record_srv623_failure(
                at=event.occurred_at, request_id=request_id, reason=event.detail, model=model
            )
        )
        uow.record(device.aggregate_id, Device.create, outcome)


# --- the facade for the programme loop ------------------------------------------------------


@attrs.frozen(kw_only=True)
class ProcessManagersReport:
    """What ``pull_all`` did: every pull that moved, in order."""

    rounds: int
    pulled: tuple[Pulled, ...]

    @property
    def events(self) -> tuple[Envelope, ...]:
        return tuple(e for p in self.pulled for e in p.events)

    def notifications(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for p in self.pulled:
            counts[p.name] = counts.get(p.name, 0) + p.notifications
        return counts

    def as_dict(self) -> dict[str, Any]:
        events = self.events

        def ids(kind: type) -> list[str]:
            return [e.originator_id for e in events if isinstance(e.event, kind)]

        return {
            "rounds": self.rounds,
            "notifications": self.notifications(),
            "events": len(events),
            "suspensions_proposed": ids(SuspensionProposed),
            "suspended": ids(Suspended),
            "non_migratable_candidates": ids(NonMigratableCandidateProposed),
            "srv623_processed": ids(Srv623Processed),
            "srv623_failed": ids(Srv623Failed),
            "incidents_raised": [
                {
                    "incident": e.originator_id,
                    "system": str(e.event.system),
                    "category": e.event.category,
                }
                for e in events
                if isinstance(e.event, IncidentRaised)
            ],
        }


class ProcessManagers:
    """The process managers in a fixed order: suspension, Non-Migratable candidates,
    incidents, SRV 6.23 outcomes (whose ``Srv623Failed`` the candidate monitor reads in the
    next round of the same ``pull_all``). Keep one instance across days so that their folded
    state is kept too."""

    def __init__(
        self, managers: Sequence[ProcessManager] | None = None, *, batch_size: int = BATCH
    ) -> None:
        self.managers: tuple[ProcessManager, ...] = (
            tuple(managers)
            if managers is not None
            else (
                SuspensionMonitor(),
                NonMigratableCandidateMonitor(),
                IncidentMonitor(),
                Srv623OutcomeRecorder(),
            )
        )
        names = [m.name for m in self.managers]
        if len(set(names)) != len(names):
            raise ValueError(f"process managers need distinct tracking names: {names}")
        if batch_size < 1:
            raise ValueError("a batch holds at least one notification")
        self.batch_size = batch_size

    def pull_all(self, app: EtmadApplication) -> ProcessManagersReport:
        """Process the log in rounds until every manager has seen all of it. A round reads at
        most ``batch_size`` notifications once, in the union of the managers' topics, from the
        lowest position among them, and decodes each once; then each manager in turn processes
        those after its own position and in its own topics, in one unit of work saved with its
        own position (``ProcessManager.process``). A manager with none among them records the
        round's last id as its position (``skip_to``), so that the next call does not read the
        log again from an old position. Managers whose state is not folded up to their
        position are rebuilt first, in one pass over the log (``rebuild``)."""
        pulled: list[Pulled] = []
        rounds = 0
        topics = _union(self.managers)
        read_to = 0  # this call has read the log of every manager's topics up to here
        while True:
            starts = {m: m.position(app) for m in self.managers}
            rebuild(app, {m: s for m, s in starts.items() if not m.is_folded_to(app, s)})
            after = {m: max(s, read_to) for m, s in starts.items()}
            batch = app.recorder.select_notifications(
                start=min(after.values()) + 1, limit=self.batch_size, topics=topics
            )
            if not batch:
                return ProcessManagersReport(rounds=rounds, pulled=tuple(pulled))
            read_to = max(read_to, batch[-1].id)
            decode = Decoded(app)
            moved = []
            for manager in self.managers:
                mine = [n for n in batch if n.id > after[manager] and n.topic in manager.topics]
                if mine:
                    moved.append(manager.process(app, starts[manager], mine, decode))
                elif after[manager] < batch[-1].id:
                    manager.skip_to(app, starts[manager], batch[-1].id)
            if moved:
                rounds += 1
                pulled.extend(moved)


# --- use cases: the DCC's and the Parties' side ---------------------------------------------


def refuse_party_raised_incident(
    app: EtmadApplication,
    *,
    party: str,
    about: EUI64,
    reference: str,
    description: str,
    at: datetime,
    required_by_error_handling: bool = False,
) -> Outcome:
    """3.7(f): a Party's ECoS Migration Incident about one Device's failed steps is refused
    and the refusal recorded (``PartyIncidentRefused``, on ``incident:party/<party>/<ref>``);
    where the Error Handling and Retry Approach requires it, it is admitted instead
    (``PartyIncidentAdmitted``). The result is the recorded event."""
    uow = UnitOfWork(app)
    if uow.get(device_aggregate_id(about), Device.create) is None:
        raise UnknownDevice(about)
    key = incident_aggregate_id(party_incident_id(party, reference))
    if uow.get(key, Incident.create) is not None:
        raise CommandRejected(
            "INCIDENT_EXISTS", f"{party}'s incident {reference!r} is already recorded"
        )
    decided = Incident.request_by_party(
        party=party,
        about=about,
        reference=reference,
        description=description,
        at=at,
        required_by_error_handling=required_by_error_handling,
    )
    uow.record(key, Incident.create, decided)
    return Outcome(uow.commit(), decided)


def dismiss_non_migratable_candidate(
    app: EtmadApplication, *, model: DeviceModelKey, at: datetime, decided_by: str, rationale: str
) -> Outcome:
    """The DCC declines the standing Non-Migratable candidate proposal on ``model``
    (``ETMAD 6.1(e)``); the monitor proposes it again only on more evidence."""
    uow = UnitOfWork(app)
    state = _model(uow, model)
    event = state.dismiss_non_migratable_candidate(
        at=at, decided_by=decided_by, rationale=rationale
    )
    uow.record(state.aggregate_id, DeviceModel.create, event)
    return Outcome(uow.commit())
