"""The demo's migration programme: the simulated fleet, the supplier side, the DCC's decisions,
day by day, and the summary read back from the store at the end.

``run_programme_demo(app, start=..., days=..., seed=..., scenarios=...)`` runs
``application.programme.Programme`` on the fleet simulator (``adapters/simulated_programme.py``)
with each Device Model behaving as its ``ModelScenario`` says, and after each business day:

- **the Responsible Suppliers** (simulated): for the Devices migrated that day, the first
  ``SRV623_PER_MODEL_PER_DAY`` of each Device Model (ESME, GSME and GPF: the Devices that hold a
  supplier's credentials) are sent an SRV 6.23 'CoS Update Security Credentials' two hours after
  the migration completed. Where the simulated Device processes it
  (``FleetSimulation.processes_srv623``) it is recorded with ``record_srv623_processed``: with the
  replacement before it, the 6.1(b) evidence that proves the model (DOMAIN.md 3.5), which the 1.6
  policy turns into Bulk Migration. Where it fails, ``record_srv623_failure``: the evidence of
  DOMAIN.md 4.2 that a migrated model cannot complete a change of supplier;
- **the process managers** (``application.process_managers``): the suspension rule (4.3; with
  ``Settings.auto_suspend`` it also suspends), the Non-Migratable candidate rule (4.2) and the
  incident rule (4.4). ``Programme.run_day`` pulls them at the end of the day; the demo pulls
  the programme's same managers once more after the suppliers' SRV 6.23s, so that the day's
  decisions see what follows from those too (a pull continues from each manager's position);
- **the DCC** (scripted): each Device Model proposed as a Non-Migratable candidate
  (``NonMigratableCandidateProposed``, recorded by the process manager) is categorised
  Non-Migratable with a rationale citing the proposal (6.1(e), 1.8(b)); with the 1.6 policy off
  (``--no-auto-authorise``), each model whose 6.1(b) evidence stands is authorised by an operator
  (1.6). Suspensions come from the suspension process manager; the DCC resumes a suspended model
  that is not Non-Migratable once its investigation is done, a week after the suspension.

It reads only what each day added to the notification log (``_LogCursor``) and the day's
``DayReport``; ``summarise_programme`` reads every Device and Device Model once, at the end.
"""

from __future__ import annotations

import enum
import textwrap
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import IO, Final

import attrs

from adapters.bootstrap import StoreLocation
from adapters.codecs.gbcs import StatusCode
from adapters.simulated_programme import build_simulated_programme
from adapters.simulator import DeviceBehaviour, FleetSimulation, SimulatedDeviceTransport
from application.mapper import Envelope
from application.programme import DayReport, Programme
from application.selection import aggregates_with
from application.serialization import JSON, to_primitive
from application.service import EtmadApplication, Outcome
from domain import clauses
from domain.device import Device, Registered
from domain.device_model import (
    BulkMigrationAuthorised,
    CategorisedNonMigratable,
    DeviceModel,
    ModelRegistered,
    NonMigratableCandidateProposed,
    ProvingEvidenceRecorded,
    Resumed,
    Suspended,
    SuspensionProposed,
)
from domain.eligibility import REASON_CLAUSES, ReasonCode
from domain.identifiers import EUI64, DeviceModelKey, DeviceType, SmetsGeneration
from domain.migration import Migration, MigrationCompleted, migration_aggregate_id
from domain.selection import SelectionParameters, business_time

#: Devices of each Device Model, among those migrated on a day, that a Responsible Supplier
#: sends an SRV 6.23 to that day: as many as the Non-Migratable evidence rule needs by default
#: (``NonMigratableCandidateRule.minimum_devices``), so one day's pilot of a model that fails
#: SRV 6.23 can carry the evidence of DOMAIN.md 4.2.
SRV623_PER_MODEL_PER_DAY: Final = 5
#: The Devices that hold a Responsible Supplier's credentials and process SRV 6.23 (a Gas Proxy
#: Function for gas; its Device Model is its Communications Hub's, ETMAD section 2).
SRV623_DEVICE_TYPES: Final = frozenset({DeviceType.ESME, DeviceType.GSME, DeviceType.GPF})
#: How long after a migration completes the supplier's SRV 6.23 reaches the Device.
SRV623_AFTER: Final = timedelta(hours=2)
#: The DUIS Request ID originator of the simulated suppliers' SRV 6.23s (a fictional EUI-64).
SRV623_ORIGINATOR: Final = "90-B3-D5-1F-30-01-00-00"
#: When in the business day the DCC decides on what the day proposed (UTC).
DCC_DECISION_HOUR: Final = 17
DCC_DESIGN_AUTHORITY: Final = "dcc:ecos-migration-design-authority"
DCC_OPERATOR: Final = "operator:ecos-migration-manager"

_MILESTONE_TOPICS: Final = (
    ProvingEvidenceRecorded.TYPE,
    BulkMigrationAuthorised.TYPE,
    SuspensionProposed.TYPE,
    Suspended.TYPE,
    Resumed.TYPE,
    NonMigratableCandidateProposed.TYPE,
    CategorisedNonMigratable.TYPE,
)
_DAY_TOPICS: Final = (MigrationCompleted.TYPE, *_MILESTONE_TOPICS)
_BATCH: Final = 1000


# --- the simulated behaviour of each Device Model --------------------------------------------


class ScenarioKind(enum.StrEnum):
    """What the simulated Devices of a Device Model do."""

    HEALTHY = "healthy"
    REJECTS_REPLACEMENT = "rejects_replacement"
    FAILS_SRV623 = "fails_srv623"
    FLAKY = "flaky"


def _gbcs_name(status: StatusCode) -> str:
    first, *rest = status.name.lower().split("_")
    return first + "".join(word.capitalize() for word in rest)


@attrs.frozen
class ModelScenario:
    """A Device Model's part in the demo: its kind and the simulator behaviour that plays it."""

    kind: ScenarioKind
    behaviour: DeviceBehaviour

    @classmethod
    def healthy(cls) -> ModelScenario:
        return cls(ScenarioKind.HEALTHY, DeviceBehaviour.healthy())

    @classmethod
    def rejecting(cls, status: StatusCode) -> ModelScenario:
        """Its Devices reject the replacement with this GBCS status (a device-side rejection)."""
        return cls(ScenarioKind.REJECTS_REPLACEMENT, DeviceBehaviour.rejecting(status))

    @classmethod
    def failing_srv623(cls) -> ModelScenario:
        """Its Devices migrate, then fail SRV 6.23."""
        return cls(ScenarioKind.FAILS_SRV623, DeviceBehaviour.failing_srv623())

    @classmethod
    def flaky(cls, no_response_probability: float) -> ModelScenario:
        """Its Devices lose this share of the commands sent to them."""
        return cls(ScenarioKind.FLAKY, DeviceBehaviour.flaky(no_response_probability))

    @property
    def label(self) -> str:
        b = self.behaviour
        match self.kind:
            case ScenarioKind.REJECTS_REPLACEMENT:
                return f"rejects the replacement ({_gbcs_name(b.status)} {int(b.status)})"
            case ScenarioKind.FAILS_SRV623:
                return "fails SRV 6.23 once migrated"
            case ScenarioKind.FLAKY:
                return f"flaky ({b.no_response_probability:.0%} of commands lost)"
            case _:
                return "healthy"

    def to_json(self) -> dict[str, JSON]:
        b = self.behaviour
        return {
            "kind": str(self.kind),
            "label": self.label,
            "gbcs_status": int(b.status),
            "no_response_probability": b.no_response_probability,
            "processes_srv623_once_migrated": b.processes_srv623_once_migrated,
        }


# --- what each day did ------------------------------------------------------------------------


class Stage(enum.StrEnum):
    """Where a Device Model's selection stood on a day (``docs/selection.md``)."""

    PILOT = "pilot"  # before the 1.6 decision: the pilot, which obtains the 6.1(b) evidence
    RAMP_UP = "ramp_up"  # after it, below the last ramp-up step
    BULK = "bulk"  # at the last ramp-up step
    SUSPENDED = "suspended"  # 6.1(d)
    NON_MIGRATABLE = "non_migratable"  # 1.4(a)


@attrs.define
class ModelMilestones:
    """When a Device Model passed each milestone of the programme (business times)."""

    proven: bool = False  # by its own 6.1(b) evidence
    authorised: bool = False  # the 1.6 decision, at ``authorised_at`` (None: no business time)
    authorised_at: datetime | None = None
    proposed_at: datetime | None = None  # first proposed as a Non-Migratable candidate
    categorised_at: datetime | None = None
    suspended_at: datetime | None = None
    resumed_at: datetime | None = None

    def stage(self, at: datetime, last_step_day: int) -> Stage:
        """The model's stage for a selection made at ``at`` (facts dated before it)."""
        if self.categorised_at is not None and self.categorised_at <= at:
            return Stage.NON_MIGRATABLE
        if (
            self.suspended_at is not None
            and self.suspended_at <= at
            and (self.resumed_at is None or self.resumed_at > at)
        ):
            return Stage.SUSPENDED
        if not self.authorised:
            return Stage.PILOT
        if self.authorised_at is None:  # a decision with no business time: the last step
            return Stage.BULK
        if self.authorised_at > at:
            return Stage.PILOT
        days = (at.date() - self.authorised_at.date()).days
        return Stage.BULK if days >= last_step_day else Stage.RAMP_UP


@attrs.define(kw_only=True)
class ProgrammeDay:
    """One business day: the programme's ``DayReport``, what the suppliers and the DCC did after
    it, and where the models stood."""

    number: int
    report: DayReport
    srv623_sent: int = 0
    srv623_processed: int = 0
    srv623_failed: int = 0
    proven: list[DeviceModelKey] = attrs.field(factory=list)
    authorised: list[DeviceModelKey] = attrs.field(factory=list)
    proposed: list[DeviceModelKey] = attrs.field(factory=list)
    categorised: list[DeviceModelKey] = attrs.field(factory=list)
    suspension_proposed: list[DeviceModelKey] = attrs.field(factory=list)
    suspended: list[DeviceModelKey] = attrs.field(factory=list)
    resumed: list[DeviceModelKey] = attrs.field(factory=list)
    migrated_to_date: int = 0
    stages: Counter[Stage] = attrs.field(factory=Counter)

    @property
    def day(self) -> date:
        return self.report.day

    def to_json(self) -> dict[str, JSON]:
        def keys(models: list[DeviceModelKey]) -> JSON:
            return [str(m) for m in models]

        return {
            "day": self.day.isoformat(),
            "number": self.number,
            "programme": self.report.as_dict(),
            "srv623": {
                "sent": self.srv623_sent,
                "processed": self.srv623_processed,
                "failed": self.srv623_failed,
            },
            "proven": keys(self.proven),
            "authorised": keys(self.authorised),
            "non_migratable_proposed": keys(self.proposed),
            "categorised_non_migratable": keys(self.categorised),
            "suspension_proposed": keys(self.suspension_proposed),
            "suspended": keys(self.suspended),
            "resumed": keys(self.resumed),
            "migrated_to_date": self.migrated_to_date,
            "stages": {str(s): self.stages[s] for s in Stage},
        }


@attrs.frozen(kw_only=True)
class ProgrammeRun:
    """The days run, each model's milestones, and how long it took."""

    start: date
    days: tuple[ProgrammeDay, ...]
    milestones: Mapping[DeviceModelKey, ModelMilestones]
    seconds: float

    @property
    def end(self) -> datetime:
        """00:00 UTC after the last day: the summary's time."""
        return business_time(self.start + timedelta(days=len(self.days)))


class _LogCursor:
    """A position in the notification log: each read returns only what was recorded since."""

    def __init__(self, app: EtmadApplication) -> None:
        self._app = app
        self.position = app.recorder.max_notification_id() or 0

    def read(self, topics: Sequence[str]) -> list[Envelope]:
        head = self._app.recorder.max_notification_id() or 0
        found: list[Envelope] = []
        start = self.position + 1
        while start <= head:
            batch = self._app.recorder.select_notifications(
                start=start, limit=_BATCH, stop=head, topics=topics
            )
            if not batch:
                break
            for notification in batch:
                envelope = self._app.mapper.to_domain_event(notification)
                assert isinstance(envelope, Envelope)  # noqa: S101 — our mapper's type
                found.append(envelope)
            start = batch[-1].id + 1
        self.position = head
        return found


def _device_id(migration_id: str) -> EUI64:
    return EUI64.parse(migration_id.removeprefix("migration:"))


def fleet_of(programme: Programme) -> FleetSimulation:
    """The simulated fleet a programme built by ``build_simulated_programme`` runs on."""
    transport = programme.runner.transport
    if not isinstance(transport, SimulatedDeviceTransport):
        raise TypeError("the demo's programme runs on the fleet simulator")
    return transport.fleet


def record_srv623_failure(
    app: EtmadApplication, *, device_id: EUI64, at: datetime, request_id: str, reason: str
) -> Outcome:
    """Record that an SRV 6.23 failed on the Device (``etmad.device.Srv623Failed.v1``)."""
    return app.record_srv623_failed(
        device_id=device_id, at=at, request_id=request_id, reason=reason
    )


class SimulatedSuppliers:
    """The Responsible Suppliers' SRV 6.23s to Devices just migrated (module docstring)."""

    def __init__(
        self,
        app: EtmadApplication,
        fleet: FleetSimulation,
        *,
        per_model_per_day: int = SRV623_PER_MODEL_PER_DAY,
    ) -> None:
        self.app = app
        self.fleet = fleet
        self.per_model_per_day = per_model_per_day
        self._requests = 0

    def after_day(self, completions: Iterable[Envelope], day: ProgrammeDay) -> None:
        """Send and record the SRV 6.23s for the day's completed migrations, in log order."""
        sent: Counter[DeviceModelKey] = Counter()
        for envelope in completions:
            completed = envelope.event
            assert isinstance(completed, MigrationCompleted)  # noqa: S101 — read by its type
            if sent[completed.model] >= self.per_model_per_day or completed.occurred_at is None:
                continue
            device_id = _device_id(envelope.originator_id)
            if self.app.device(device_id).device_type not in SRV623_DEVICE_TYPES:
                continue
            sent[completed.model] += 1
            self._requests += 1
            request_id = f"{SRV623_ORIGINATOR}:{device_id}:{self._requests}"
            at = completed.occurred_at + SRV623_AFTER
            day.srv623_sent += 1
            if self.fleet.processes_srv623(device_id):
                self.app.record_srv623_processed(device_id=device_id, at=at, request_id=request_id)
                day.srv623_processed += 1
            else:
                record_srv623_failure(
                    self.app,
                    device_id=device_id,
                    at=at,
                    request_id=request_id,
                    reason="the Device did not process the CoS Update Security Credentials "
                    "command (its simulated Device Model fails SRV 6.23 once migrated)",
                )
                day.srv623_failed += 1


#: How long the scripted DCC investigates a suspended Device Model before resuming it.
SUSPENSION_REVIEW: Final = timedelta(days=7)


class ScriptedDcc:
    """The DCC's decisions in the demo (module docstring): Non-Migratable candidates are
    categorised (6.1(e), 1.8(b)); a suspended model that is not Non-Migratable is resumed once
    its investigation is done (``SUSPENSION_REVIEW`` after the suspension, 6.1(d)); with the 1.6
    policy off, proven models are authorised."""

    def __init__(self, app: EtmadApplication) -> None:
        self.app = app

    def decide(
        self,
        day: date,
        proposals: Mapping[DeviceModelKey, NonMigratableCandidateProposed],
        models: Iterable[DeviceModelKey],
        *,
        every_model: Iterable[DeviceModelKey] = (),
    ) -> None:
        at = business_time(day) + timedelta(hours=DCC_DECISION_HOUR)
        for model, proposal in proposals.items():
            self._categorise(model, proposal, at)
        for model in every_model:
            self._review_suspension(model, at)
        if not self.app.settings.auto_authorise_bulk:
            for model in models:
                self._authorise(model, at)

    def _review_suspension(self, model: DeviceModelKey, at: datetime) -> None:
        state = self.app.device_model(model)
        suspension = state.suspension
        if suspension is None or state.non_migratable is not None:
            return  # not suspended; or Non-Migratable, which its categorisation settles
        if suspension.at is not None and at < suspension.at + SUSPENSION_REVIEW:
            return
        self.app.resume_model(
            model=model,
            at=at,
            reason=(
                f"investigation of the Failed Migrations behind the suspension "
                f"({suspension.reason}) closed: communications failures of single Devices, "
                f"retried under the Error Handling and Retry Approach; the model is not "
                f"incapable ({clauses.ETMAD_6_1_D})"
            ),
        )

    def _categorise(
        self, model: DeviceModelKey, proposal: NonMigratableCandidateProposed, at: datetime
    ) -> None:
        if self.app.device_model(model).non_migratable is not None:
            return
        proposed = proposal.occurred_at or at
        self.app.categorise_non_migratable(
            model=model,
            at=max(at, proposed + timedelta(minutes=1)),
            rationale=(
                f"Non-Migratable candidate proposed by {proposal.rule} ({proposal.clause}) on "
                f"{proposed.date().isoformat()}: {proposal.reason}. The DCC is satisfied that "
                f"the ECoS Migration of this Device Model is technically impracticable "
                f"({clauses.ETMAD_1_8_B}, {clauses.ETMAD_6_1_E})."
            ),
            decided_by=DCC_DESIGN_AUTHORITY,
        )

    def _authorise(self, model: DeviceModelKey, at: datetime) -> None:
        gate = self.app.bulk_gate(model, at)
        if not gate.proven or gate.authorised or gate.non_migratable:
            return
        proof = gate.proven_by
        via = "" if proof is None or proof.model == model else f" (via {proof.model}, 6.2)"
        self.app.authorise_bulk_migration(
            model=model,
            at=at,
            decided_by=DCC_OPERATOR,
            rationale=(
                f"6.1(b) evidence reviewed{via}: the DCC is reasonably satisfied its systems "
                f"can migrate a Device of this model ({clauses.ETMAD_1_6})"
            ),
        )


def _model_keys(app: EtmadApplication) -> dict[str, DeviceModelKey]:
    keys = {}
    for aggregate_id in aggregates_with(app, ModelRegistered.TYPE):
        model = app.load(aggregate_id, DeviceModel.create)
        if model is not None:
            keys[aggregate_id] = model.key
    return keys


class _DemoProgramme:
    """The programme with the supplier and DCC scripts around each day (module docstring)."""

    def __init__(
        self,
        app: EtmadApplication,
        programme: Programme,
        *,
        srv623_per_model_per_day: int,
    ) -> None:
        self.app = app
        self.programme = programme
        self.suppliers = SimulatedSuppliers(
            app, fleet_of(programme), per_model_per_day=srv623_per_model_per_day
        )
        self.dcc = ScriptedDcc(app)
        self.cursor = _LogCursor(app)
        self.models = _model_keys(app)
        self.milestones = {key: ModelMilestones() for key in self.models.values()}
        self.last_step_day = app.settings.selection.ramp_up[-1][0]
        self.migrated = 0
        self._proposals: dict[DeviceModelKey, NonMigratableCandidateProposed] = {}

    def run_day(self, number: int, day: date) -> ProgrammeDay:
        record = ProgrammeDay(number=number, report=self.programme.run_day(day))
        found = self.cursor.read(_DAY_TOPICS)
        self._note(found, record)
        completions = [e for e in found if isinstance(e.event, MigrationCompleted)]
        self.suppliers.after_day(completions, record)
        # The programme's own process managers (one instance, so none rebuilds its state from
        # the log), on what the suppliers recorded after the programme's pull.
        self.programme.managers.pull_all(self.app)
        self._note(self.cursor.read(_MILESTONE_TOPICS), record)
        proposals, self._proposals = self._proposals, {}
        # New 6.1(b) evidence may prove a model's earlier firmwares too (6.2): check them all.
        self.dcc.decide(
            day,
            proposals,
            self.milestones if record.proven else (),
            every_model=self.models.values(),
        )
        self._note(self.cursor.read(_MILESTONE_TOPICS), record)
        self.migrated += record.report.succeeded
        record.migrated_to_date = self.migrated
        at = business_time(day)
        record.stages.update(m.stage(at, self.last_step_day) for m in self.milestones.values())
        return record

    def _note(self, envelopes: Iterable[Envelope], record: ProgrammeDay) -> None:
        for envelope in envelopes:
            model = self.models.get(envelope.originator_id)
            if model is None:
                continue
            event = envelope.event
            milestones = self.milestones[model]
            at = event.occurred_at
            match event:
                case ProvingEvidenceRecorded() if not milestones.proven:
                    milestones.proven = True
                    _add(record.proven, model)
                case BulkMigrationAuthorised() if not milestones.authorised:
                    milestones.authorised, milestones.authorised_at = True, at
                    _add(record.authorised, model)
                case NonMigratableCandidateProposed():
                    milestones.proposed_at = milestones.proposed_at or at
                    self._proposals[model] = event
                    _add(record.proposed, model)
                case CategorisedNonMigratable():
                    milestones.categorised_at = at
                    _add(record.categorised, model)
                case SuspensionProposed():
                    _add(record.suspension_proposed, model)
                case Suspended():
                    milestones.suspended_at, milestones.resumed_at = at, None
                    _add(record.suspended, model)
                case Resumed():
                    milestones.resumed_at = at
                    _add(record.resumed, model)
                case _:
                    pass


def _add(models: list[DeviceModelKey], model: DeviceModelKey) -> None:
    if model not in models:
        models.append(model)


def run_programme_demo(
    app: EtmadApplication,
    *,
    start: date,
    days: int,
    seed: int,
    scenarios: Mapping[DeviceModelKey, ModelScenario],
    on_day: Callable[[ProgrammeDay], None] | None = None,
    srv623_per_model_per_day: int = SRV623_PER_MODEL_PER_DAY,
) -> ProgrammeRun:
    """Run ``days`` business days of the programme from ``start`` on ``app``'s estate, each
    Device Model simulated as its scenario says (a model without one is healthy), with the
    suppliers' SRV 6.23s and the DCC's decisions after each day (module docstring)."""
    if days < 0:
        raise ValueError("a programme runs for zero or more days")
    started = time.perf_counter()
    programme = build_simulated_programme(
        app, seed=seed, behaviours={k: s.behaviour for k, s in scenarios.items()}
    )
    demo = _DemoProgramme(app, programme, srv623_per_model_per_day=srv623_per_model_per_day)
    records = []
    for offset in range(days):
        record = demo.run_day(offset + 1, start + timedelta(days=offset))
        records.append(record)
        if on_day is not None:
            on_day(record)
    return ProgrammeRun(
        start=start,
        days=tuple(records),
        milestones=demo.milestones,
        seconds=time.perf_counter() - started,
    )


class DayProgress:
    """The programme's progress on a stream: a bar redrawn in place on a terminal (day N of
    the total, Devices migrated so far), otherwise one plain line per day."""

    WIDTH: Final = 30

    def __init__(self, stream: IO[str], *, days: int, devices: int) -> None:
        self._stream = stream
        self._days = days
        self._devices = devices
        self._tty = stream.isatty()

    def __call__(self, record: ProgrammeDay) -> None:
        done = record.number
        migrated = f"{record.migrated_to_date:,} of {self._devices:,} Devices migrated"
        if self._tty:
            filled = self.WIDTH * done // self._days if self._days else self.WIDTH
            bar = "#" * filled + "-" * (self.WIDTH - filled)
            self._stream.write(
                f"\rprogramme [{bar}] day {done}/{self._days} {record.day.isoformat()}  {migrated}"
            )
            if done == self._days:
                self._stream.write("\n")
        else:
            report = record.report
            self._stream.write(
                f"programme: day {done}/{self._days} {record.day.isoformat()}: {migrated} "
                f"(+{report.succeeded:,} today, {report.completed_unsuccessfully:,} completed "
                f"unsuccessfully, {report.retries:,} retries)\n"
            )
        self._stream.flush()


# --- the summary, read back from the store -----------------------------------------------------


class DeviceStatus(enum.StrEnum):
    """Where a Device stands at the end: each Device is counted in exactly one."""

    MIGRATED = "migrated"  # its latest series succeeded: an ECoS Device
    FAILED = "failed"  # its latest series completed unsuccessfully
    IN_PROGRESS = "in_progress"  # an attempt or a retry is pending
    INELIGIBLE = "ineligible"  # never started, and Ineligible now (1.3, 1.4)
    REMAINING = "remaining"  # never started, and eligible now


@attrs.frozen
class CodeCount:
    code: str
    clause: str
    devices: int


@attrs.frozen(kw_only=True)
class DeviceTotals:
    """The Devices by status at the end; ``failed_by_code`` by the last Failed Migration's code
    (or the series' ending when none was recorded); ``ineligible_by_reason`` counts each reason
    (a Device may have several), ``several_reasons`` the Devices with more than one."""

    devices: int
    by_status: Mapping[DeviceStatus, int]
    failed_by_code: tuple[CodeCount, ...]
    ineligible_by_reason: tuple[CodeCount, ...]
    several_reasons: int

    def count(self, status: DeviceStatus) -> int:
        return self.by_status.get(status, 0)

    def to_json(self) -> dict[str, JSON]:
        return {
            "devices": self.devices,
            **{str(s): self.count(s) for s in DeviceStatus},
            "failed_by_code": {c.code: c.devices for c in self.failed_by_code},
            "ineligible_by_reason": {
                c.code: {"clause": c.clause, "devices": c.devices}
                for c in self.ineligible_by_reason
            },
            "several_reasons": self.several_reasons,
        }


@attrs.frozen(kw_only=True)
class ModelStatus:
    """One Device Model at the end of the programme."""

    model: DeviceModelKey
    device_type: DeviceType
    smets: SmetsGeneration
    firmware_rank: int
    scenario: ModelScenario
    devices: Mapping[DeviceStatus, int]
    failed_by_code: Mapping[str, int]
    proven_on: date | None
    proven_via: DeviceModelKey | None  # a later firmware's evidence (6.2)
    authorised_on: date | None
    authorised: bool
    by_policy: bool
    migrations_started: int
    stage: Stage
    suspended_on: date | None
    suspension: str | None
    non_migratable_on: date | None
    non_migratable: str | None
    proposed_on: date | None

    @property
    def total(self) -> int:
        return sum(self.devices.values())

    def count(self, status: DeviceStatus) -> int:
        return self.devices.get(status, 0)

    def to_json(self) -> dict[str, JSON]:
        def day(value: date | None) -> JSON:
            return None if value is None else value.isoformat()

        return {
            "model": to_primitive(self.model),
            "device_type": str(self.device_type),
            "smets": str(self.smets),
            "firmware_rank": self.firmware_rank,
            "simulated": self.scenario.to_json(),
            "devices": self.total,
            **{str(s): self.count(s) for s in DeviceStatus},
            "failed_by_code": dict(sorted(self.failed_by_code.items())),
            "proven": self.proven_on is not None or self.proven_via is not None,
            "proven_on": day(self.proven_on),
            "proven_via": to_primitive(self.proven_via),
            "authorised": self.authorised,
            "authorised_on": day(self.authorised_on),
            "authorised_by": None
            if not self.authorised
            else "policy"
            if self.by_policy
            else "operator",
            "migrations_started": self.migrations_started,
            "stage": str(self.stage),
            "non_migratable_proposed_on": day(self.proposed_on),
            "non_migratable_on": day(self.non_migratable_on),
            "non_migratable_rationale": self.non_migratable,
            "suspended_on": day(self.suspended_on),
            "suspension": self.suspension,
        }


@attrs.frozen(kw_only=True)
class ProgrammeTotals:
    """The days' reports added up, with what the suppliers and the DCC did."""

    days: int
    selected: int
    started: int
    succeeded: int
    completed_unsuccessfully: int
    retries: int
    failures: Mapping[str, int]  # Failed Migrations recorded, by failure code (every attempt)
    skipped: Mapping[str, int]
    events: int
    srv623_sent: int
    srv623_processed: int
    srv623_failed: int
    proven: int
    authorised: int
    non_migratable_proposed: int
    categorised_non_migratable: int
    suspension_proposed: int
    suspended: int

    @classmethod
    def of(cls, days: Sequence[ProgrammeDay]) -> ProgrammeTotals:
        failures: Counter[str] = Counter()
        skipped: Counter[str] = Counter()
        for d in days:
            failures.update(d.report.failed)
            skipped.update(d.report.skipped)
        return cls(
            days=len(days),
            selected=sum(d.report.selected for d in days),
            started=sum(d.report.started for d in days),
            succeeded=sum(d.report.succeeded for d in days),
            completed_unsuccessfully=sum(d.report.completed_unsuccessfully for d in days),
            retries=sum(d.report.retries for d in days),
            failures=dict(sorted(failures.items())),
            skipped=dict(sorted(skipped.items())),
            events=sum(d.report.events for d in days),
            srv623_sent=sum(d.srv623_sent for d in days),
            srv623_processed=sum(d.srv623_processed for d in days),
            srv623_failed=sum(d.srv623_failed for d in days),
            proven=sum(len(d.proven) for d in days),
            authorised=sum(len(d.authorised) for d in days),
            non_migratable_proposed=len({m for d in days for m in d.proposed}),
            categorised_non_migratable=sum(len(d.categorised) for d in days),
            suspension_proposed=len({m for d in days for m in d.suspension_proposed}),
            suspended=sum(len(d.suspended) for d in days),
        )

    def to_json(self) -> dict[str, JSON]:
        return {
            "days": self.days,
            "selected": self.selected,
            "started": self.started,
            "succeeded": self.succeeded,
            "completed_unsuccessfully": self.completed_unsuccessfully,
            "retries": self.retries,
            "failures": dict(self.failures),
            "skipped": dict(self.skipped),
            "events": self.events,
            "srv623": {
                "sent": self.srv623_sent,
                "processed": self.srv623_processed,
                "failed": self.srv623_failed,
            },
            "models_proven": self.proven,
            "models_authorised": self.authorised,
            "non_migratable_proposed": self.non_migratable_proposed,
            "categorised_non_migratable": self.categorised_non_migratable,
            "suspension_proposed": self.suspension_proposed,
            "suspended": self.suspended,
        }


@attrs.frozen(kw_only=True)
class ProgrammeSummary:
    """The store after the programme: Devices by status, each Device Model, the days."""

    store: str
    store_path: str | None
    start: date
    as_of: datetime
    events: int
    devices: DeviceTotals
    models: tuple[ModelStatus, ...]
    days: tuple[ProgrammeDay, ...]
    totals: ProgrammeTotals
    selection: SelectionParameters
    seconds: float

    @property
    def pilot_size(self) -> int:
        return self.selection.pilot_size

    def to_json(self) -> dict[str, JSON]:
        return {
            "store": self.store,
            "store_path": self.store_path,
            "start": self.start.isoformat(),
            "as_of": self.as_of.isoformat(),
            "events": self.events,
            "selection": {
                "daily_capacity": self.selection.daily_capacity,
                "pilot_size": self.selection.pilot_size,
                "ramp_up": [list(step) for step in self.selection.ramp_up],
            },
            "devices": self.devices.to_json(),
            "totals": self.totals.to_json(),
            "models": [m.to_json() for m in self.models],
            "days": [d.to_json() for d in self.days],
        }


_CHF_FIRST: Final = (DeviceType.CHF, DeviceType.GPF, DeviceType.ESME, DeviceType.GSME)


def _type_rank(device_type: DeviceType) -> int:
    return _CHF_FIRST.index(device_type) if device_type in _CHF_FIRST else len(_CHF_FIRST)


@attrs.define
class _Tally:
    by_status: Counter[DeviceStatus] = attrs.field(factory=Counter)
    failed: Counter[str] = attrs.field(factory=Counter)


def _last_failure_code(migration: Migration) -> str:
    series = migration.current_series
    if series.failures:
        return str(series.failures[-1].failure.code)
    return str(series.ending or "UNKNOWN")


def _tally_devices(
    app: EtmadApplication, at: datetime
) -> tuple[DeviceTotals, dict[DeviceModelKey, _Tally]]:
    """Every Device once: its Migration, else its eligibility at ``at``."""
    total = _Tally()
    per_model: dict[DeviceModelKey, _Tally] = {}
    reasons: Counter[ReasonCode] = Counter()
    several = devices = 0
    for aggregate_id in aggregates_with(app, Registered.TYPE):
        device = app.load(aggregate_id, Device.create)
        if device is None:  # pragma: no cover — found by its first event
            continue
        devices += 1
        migration = app.load(migration_aggregate_id(device.device_id), Migration.create)
        code: str | None = None
        if migration is not None:
            model = migration.current_series.model
            if migration.succeeded:
                status = DeviceStatus.MIGRATED
            elif migration.in_progress:
                status = DeviceStatus.IN_PROGRESS
            else:
                status = DeviceStatus.FAILED
                code = _last_failure_code(migration)
        else:
            decision = app.assess_eligibility(device.device_id, at)
            model = decision.inputs.model
            status = DeviceStatus.REMAINING if decision.eligible else DeviceStatus.INELIGIBLE
            codes = decision.codes()
            reasons.update(codes)
            several += len(codes) > 1
        tally = per_model.setdefault(model, _Tally())
        for t in (total, tally):
            t.by_status[status] += 1
            if code is not None:
                t.failed[code] += 1
    totals = DeviceTotals(
        devices=devices,
        by_status={s: total.by_status[s] for s in DeviceStatus},
        failed_by_code=tuple(
            CodeCount(code, clauses.ETMAD_2_FAILED_MIGRATION, n)
            for code, n in sorted(total.failed.items(), key=lambda item: (-item[1], item[0]))
        ),
        ineligible_by_reason=tuple(
            CodeCount(str(code), REASON_CLAUSES[code], reasons[code])
            for code in ReasonCode
            if reasons[code]
        ),
        several_reasons=several,
    )
    return totals, per_model


def _day_of(moment: datetime | None) -> date | None:
    return None if moment is None else moment.date()


def _model_status(
    app: EtmadApplication,
    key: DeviceModelKey,
    at: datetime,
    *,
    tally: _Tally,
    scenario: ModelScenario,
    milestones: ModelMilestones,
    last_step_day: int,
) -> ModelStatus:
    state = app.device_model(key)
    gate = app.bulk_gate(key, at)
    proof = gate.proven_by
    authorisation = state.authorisation
    nm = state.non_migratable
    return ModelStatus(
        model=key,
        device_type=state.device_type,
        smets=state.smets,
        firmware_rank=state.firmware_rank,
        scenario=scenario,
        devices=dict(tally.by_status),
        failed_by_code=dict(tally.failed),
        proven_on=None if proof is None or proof.model != key else proof.proven_at.date(),
        proven_via=None if proof is None or proof.model == key else proof.model,
        authorised_on=None if authorisation is None else _day_of(authorisation.at),
        authorised=authorisation is not None,
        by_policy=authorisation is not None and authorisation.by_policy,
        migrations_started=gate.migrations_started,
        stage=milestones.stage(at, last_step_day),
        suspended_on=None if state.suspension is None else _day_of(state.suspension.at),
        suspension=None if state.suspension is None else state.suspension.reason,
        non_migratable_on=None if nm is None else _day_of(nm.at),
        non_migratable=None if nm is None else nm.rationale,
        proposed_on=_day_of(milestones.proposed_at),
    )


def summarise_programme(
    app: EtmadApplication,
    run: ProgrammeRun,
    *,
    scenarios: Mapping[DeviceModelKey, ModelScenario],
    store: str = "",
) -> ProgrammeSummary:
    """Read back every Device and Device Model once, as the programme left them at its end."""
    started = time.perf_counter()
    at = run.end
    totals, per_model = _tally_devices(app, at)
    last_step_day = app.settings.selection.ramp_up[-1][0]
    models = [
        _model_status(
            app,
            key,
            at,
            tally=per_model.get(key, _Tally()),
            scenario=scenarios.get(key, ModelScenario.healthy()),
            milestones=run.milestones.get(key, ModelMilestones()),
            last_step_day=last_step_day,
        )
        for key in _model_keys(app).values()
    ]
    models.sort(
        key=lambda m: (
            _type_rank(m.device_type),
            m.smets is not SmetsGeneration.SMETS2_PLUS,
            m.model.family,
            m.firmware_rank,
        )
    )
    location = StoreLocation.parse(store) if store else None
    path = None if location is None else location.path
    return ProgrammeSummary(
        store=store,
        store_path=None if path is None else str(path.resolve()),
        start=run.start,
        as_of=at,
        events=app.recorder.max_notification_id() or 0,
        devices=totals,
        models=tuple(models),
        days=run.days,
        totals=ProgrammeTotals.of(run.days),
        selection=app.settings.selection,
        seconds=time.perf_counter() - started,
    )


# --- rendering -------------------------------------------------------------------------------


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], right: set[int]) -> list[str]:
    widths = [max(len(c) for c in column) for column in zip(header, *rows, strict=True)]
    lines = []
    for row in (header, *rows):
        cells = [
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  " + "  ".join(cells).rstrip())
    return lines


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:5.1f}%" if whole else "    -"


def _wrap(text: str, indent: str) -> list[str]:
    return textwrap.wrap(text, width=100, initial_indent=indent, subsequent_indent=indent + "  ")


_STATUS_LABELS: Final = {
    DeviceStatus.MIGRATED: "migrated (ECoS Devices now, ETMAD 6.1(c))",
    DeviceStatus.FAILED: "failed (last series completed unsuccessfully, 7.1)",
    DeviceStatus.IN_PROGRESS: "in progress (an attempt or a retry pending)",
    DeviceStatus.INELIGIBLE: "ineligible, never started (1.3, 1.4)",
    DeviceStatus.REMAINING: "remaining (eligible, not yet started)",
}


def _render_devices(summary: ProgrammeSummary) -> list[str]:
    d = summary.devices
    rows: list[tuple[str, str, str]] = []
    for status in DeviceStatus:
        n = d.count(status)
        rows.append((_STATUS_LABELS[status], f"{n:,}", _percent(n, d.devices)))
        if status is DeviceStatus.FAILED:
            rows += [(f"  {c.code}", f"{c.devices:,}", "") for c in d.failed_by_code]
        if status is DeviceStatus.INELIGIBLE:
            rows += [
                (f"  {c.code} ({c.clause})", f"{c.devices:,}", "") for c in d.ineligible_by_reason
            ]
            if d.several_reasons:
                rows.append(("  (Devices with several reasons)", f"{d.several_reasons:,}", ""))
    rows.append(("total", f"{d.devices:,}", _percent(d.devices, d.devices)))
    return [
        f"Devices at the end of the programme (as of {summary.as_of.isoformat()})",
        *_table(("", "Devices", "Share"), rows, {1, 2}),
    ]


def _stages(counts: Counter[Stage]) -> str:
    return "/".join(
        str(counts[s])
        for s in (Stage.PILOT, Stage.RAMP_UP, Stage.BULK, Stage.SUSPENDED, Stage.NON_MIGRATABLE)
    )


def _render_weeks(days: Sequence[ProgrammeDay]) -> list[str]:
    rows = []
    for first in range(0, len(days), 7):
        week = days[first : first + 7]
        last = week[-1]
        rows.append(
            (
                str(first // 7 + 1),
                f"{week[0].day.isoformat()}..{last.day.isoformat()}",
                f"{sum(d.report.selected for d in week):,}",
                f"{sum(d.report.started for d in week):,}",
                f"{sum(d.report.succeeded for d in week):,}",
                f"{sum(d.report.completed_unsuccessfully for d in week):,}",
                f"{sum(d.report.retries for d in week):,}",
                f"{sum(d.srv623_processed for d in week):,}/{sum(d.srv623_failed for d in week):,}",
                f"{last.migrated_to_date:,}",
                _stages(last.stages),
            )
        )
    return [
        "The programme week by week (ETMAD 6.1(a)-(d), 7.1)",
        *_table(
            (
                "Week",
                "Days",
                "Selected",
                "Started",
                "Migrated",
                "Failed",
                "Retries",
                "SRV 6.23 ok/failed",
                "Migrated to date",
                "Models P/R/B/S/N",
            ),
            rows,
            {0, 2, 3, 4, 5, 6, 7, 8},
        ),
        "  Failed: series completed unsuccessfully. Models on the week's last day: P pilot",
        "  (before the 1.6 decision), R ramp-up, B bulk (the last ramp-up step), S suspended,",
        "  N Non-Migratable.",
    ]


def _names(models: Sequence[DeviceModelKey], most: int = 3) -> str:
    unique = list(dict.fromkeys(models))
    if len(unique) <= most:
        return ", ".join(str(m) for m in unique)
    return ", ".join(str(m) for m in unique[:most]) + f" and {len(unique) - most} more"


def milestones(days: Sequence[ProgrammeDay], pilot_size: int) -> list[tuple[date, str]]:
    """What happened when, day by day: the pilot, proving, the 1.6 decisions, the first models
    at each stage, Non-Migratable candidates and categorisations, suspensions."""
    found: list[tuple[date, str]] = []
    if days:
        first = days[0]
        pilot = (
            f"pilot: {first.report.started:,} Devices started (at most {pilot_size} a Device "
            "Model before its 1.6 decision)"
        )
        found.append((first.day, pilot))
    seen: set[Stage] = set()
    for d in days:
        if d.proven:
            n = len(set(d.proven))
            found.append((d.day, f"proven (6.1(b): replacement, then SRV 6.23): {n} Device Models"))
        if d.authorised:
            found.append(
                (d.day, f"authorised for Bulk Migration (1.6): {len(set(d.authorised))} models")
            )
        for stage in (Stage.RAMP_UP, Stage.BULK):
            if d.stages[stage] and stage not in seen:
                seen.add(stage)
                found.append((d.day, f"first Device Models in {stage.replace('_', '-')}"))
        lines = (
            ("Non-Migratable candidate proposed (4.2, 6.1(e))", d.proposed),
            ("categorised Non-Migratable by the DCC (1.8(b), 1.12)", d.categorised),
            ("suspension proposed (4.3, 6.1(d))", d.suspension_proposed),
            ("suspended (6.1(d))", d.suspended),
            ("resumed (6.1(d))", d.resumed),
        )
        found += [(d.day, f"{label}: {_names(models)}") for label, models in lines if models]
        found += [
            (d.day, f"ECoS Migration Incident raised (3.7(e)): {incident}")
            for incident in d.report.incidents
        ]
    if days:
        last = days[-1]
        found.append(
            (last.day, f"end of day {last.number}: {last.migrated_to_date:,} Devices migrated")
        )
    return found


def _cell_day(value: date | None) -> str:
    return "-" if value is None else value.isoformat()


def _render_models(models: Sequence[ModelStatus]) -> list[str]:
    rows = []
    for m in models:
        proven = (
            f"via {m.proven_via.firmware_version}"
            if m.proven_via is not None
            else _cell_day(m.proven_on)
        )
        authorised = (
            "-"
            if not m.authorised
            else f"{_cell_day(m.authorised_on)} {'policy' if m.by_policy else 'operator'}"
        )
        rows.append(
            (
                str(m.model),
                str(m.device_type),
                str(m.smets),
                m.scenario.label,
                f"{m.total:,}",
                f"{m.count(DeviceStatus.MIGRATED):,}",
                f"{m.count(DeviceStatus.FAILED):,}",
                f"{m.count(DeviceStatus.IN_PROGRESS):,}",
                f"{m.count(DeviceStatus.INELIGIBLE):,}",
                f"{m.count(DeviceStatus.REMAINING):,}",
                proven,
                authorised,
                f"{m.migrations_started:,}",
                m.stage.replace("_", "-"),
            )
        )
    lines = [
        "Device Models at the end (ETMAD 1.6, 6.1(b), 6.1(d), 6.2, 1.4(a))",
        *_table(
            (
                "Device Model",
                "Type",
                "SMETS",
                "Simulated as",
                "Devices",
                "Migrated",
                "Failed",
                "In progress",
                "Ineligible",
                "Remaining",
                "Proven",
                "Authorised",
                "Started",
                "Stage",
            ),
            rows,
            {4, 5, 6, 7, 8, 9, 12},
        ),
        "  Proven: the day of its own 6.1(b) evidence, or via a later firmware's (6.2).",
        "  Started: migrations counted on the model (the Bulk Migration number before 1.6).",
    ]
    for m in models:
        if m.non_migratable is not None:
            lines += _wrap(
                f"{m.model}: Non-Migratable since {_cell_day(m.non_migratable_on)}: "
                f"{m.non_migratable}",
                "  ",
            )
        if m.suspension is not None:
            lines += _wrap(
                f"{m.model}: suspended since {_cell_day(m.suspended_on)}: {m.suspension}", "  "
            )
    return lines


def _counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{code} {n:,}" for code, n in counts.items()) or "none"


def _render_totals(t: ProgrammeTotals) -> list[str]:
    days = (
        f"selected {t.selected:,}, started {t.started:,}, migrated {t.succeeded:,}, completed "
        f"unsuccessfully {t.completed_unsuccessfully:,}, retries {t.retries:,}, "
        f"{t.events:,} events"
    )
    srv623 = (
        f"SRV 6.23 from the Responsible Suppliers: {t.srv623_sent:,} sent, "
        f"{t.srv623_processed:,} processed, {t.srv623_failed:,} failed"
    )
    models = (
        f"Device Models: {t.proven} proven by their own evidence, {t.authorised} authorised, "
        f"{t.non_migratable_proposed} proposed and {t.categorised_non_migratable} categorised "
        f"Non-Migratable, {t.suspension_proposed} proposed for suspension and {t.suspended} "
        "suspended"
    )
    return [
        f"Totals over the {t.days} days",
        *_wrap(days, "  "),
        *_wrap(f"Failed Migrations recorded (every attempt): {_counts(t.failures)}", "  "),
        *_wrap(f"not started (refused at the start): {_counts(t.skipped)}", "  "),
        *_wrap(srv623, "  "),
        *_wrap(models, "  "),
    ]


def render_programme(summary: ProgrammeSummary) -> list[str]:
    """The summary as aligned plain-text lines (after the demo's header)."""
    lines = _render_devices(summary)
    if summary.days:
        lines += ["", *_render_weeks(summary.days)]
        lines += ["", "Milestones"]
        lines += [
            f"  {day.isoformat()}  {text}"
            for day, text in milestones(summary.days, summary.pilot_size)
        ]
    lines += ["", *_render_models(summary.models)]
    lines += ["", *_render_totals(summary.totals)]
    return lines
