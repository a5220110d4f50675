"""The DeviceModel aggregate (DOMAIN.md 3.1) and the ModelFamily index of its firmware siblings.

A Device Model records its registration, pre-CPL test evidence (1.17), proving evidence
(6.1(b), 6.2), the DCC's Bulk Migration decision (1.6), migrations started against the Bulk
Migration number (section 2), suspension (6.1(d)) and the Non-Migratable lifecycle (1.8(b),
1.12-1.14, 6.1(e)).

It also records the programme policies' proposals about it, made by the process managers
(``application.process_managers``): a suspension proposed by the failure-rate rule (4.3,
``SuspensionProposed``) and a Non-Migratable candidate proposed by the evidence rule (4.2,
``NonMigratableCandidateProposed``), which the DCC decides on by ``CategoriseNonMigratable`` or
dismisses (``NonMigratableCandidateDismissed``). Ratios are recorded as their shortest decimal
text (``"0.5"``), which reads back to the same float.
"""

from __future__ import annotations

import enum
import functools
from datetime import datetime, timedelta
from typing import Self
from urllib.parse import quote

import attrs

from domain import clauses
from domain.device import ProvingPair
from domain.errors import RuleViolation
from domain.events import DomainEvent, utc
from domain.identifiers import EUI64, DeviceModelKey, DeviceType, SmetsGeneration
from domain.programme_policies import (
    NonMigratableCandidate,
    NonMigratableStatistics,
    SuspensionAssessment,
)


def _quote(text: str) -> str:
    return quote(text, safe="")


@functools.lru_cache(maxsize=1 << 14)
def model_aggregate_id(model: DeviceModelKey) -> str:
    parts = (model.manufacturer, model.model, model.hardware_version, model.firmware_version)
    return "device-model:" + "/".join(_quote(p) for p in parts)


def family_aggregate_id(model: DeviceModelKey) -> str:
    return "model-family:" + "/".join(_quote(p) for p in model.family)


class TestOutcome(enum.StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    NOT_REASONABLY_PRACTICABLE = "not_reasonably_practicable"


class AgreementOutcome(enum.StrEnum):
    """The agreed position after a disagreement (1.13): the categorisation is kept, or the
    DCC withdraws it."""

    KEPT = "kept"
    WITHDRAWN = "withdrawn"


class DeterminationOutcome(enum.StrEnum):
    """The Secretary of State's determination of an appeal (1.14): final and binding."""

    UPHELD = "upheld"
    OVERTURNED = "overturned"


# --- events ---------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ModelRegistered(DomainEvent):
    TYPE = "etmad.device_model.Registered.v1"
    model: DeviceModelKey
    device_type: DeviceType
    smets: SmetsGeneration
    firmware_rank: int


@attrs.frozen(kw_only=True)
class TestEvidenceRecorded(DomainEvent):
    TYPE = "etmad.device_model.TestEvidenceRecorded.v1"
    outcome: TestOutcome
    detail: str


@attrs.frozen(kw_only=True)
class ProvingEvidenceRecorded(DomainEvent):
    """6.1(b)(i) and (ii) happened on a Device of this Device Model (the first such pair)."""

    TYPE = "etmad.device_model.ProvingEvidenceRecorded.v1"
    evidence: ProvingPair
    clause: str = clauses.ETMAD_6_1_B


@attrs.frozen(kw_only=True)
class BulkMigrationAuthorised(DomainEvent):
    """The DCC is reasonably satisfied its systems can migrate a Device of this model (1.6)."""

    TYPE = "etmad.device_model.BulkMigrationAuthorised.v1"
    decided_by: str
    by_policy: bool
    rationale: str
    evidence: ProvingPair
    clause: str = clauses.ETMAD_1_6


@attrs.frozen(kw_only=True)
class MigrationStarted(DomainEvent):
    """An ECoS Migration of a Device of this model started; the Bulk gate's inputs recorded."""

    TYPE = "etmad.device_model.MigrationStarted.v1"
    device_id: EUI64
    counted: bool
    authorised: bool
    cap: int
    started_before: int
    clause: str = clauses.ETMAD_2_BULK


@attrs.frozen(kw_only=True)
class Suspended(DomainEvent):
    TYPE = "etmad.device_model.Suspended.v1"
    reason: str


@attrs.frozen(kw_only=True)
class Resumed(DomainEvent):
    TYPE = "etmad.device_model.Resumed.v1"
    reason: str


@attrs.frozen(kw_only=True)
class SuspensionProposed(DomainEvent):
    """The suspension rule proposed suspending migration of this model (6.1(d), DOMAIN 4.3),
    assessed at ``occurred_at`` on the attempts completed in ``(window_from, occurred_at]``:
    ``completed`` is the denominator, ``failed`` the numerator (``excluded_unavailable`` left
    out of both as DCC-system unavailability); ``ratio`` and ``threshold`` in decimal text."""

    TYPE = "etmad.device_model.SuspensionProposed.v1"
    window_from: datetime
    window: timedelta
    minimum_completed: int
    completed: int
    failed: int
    excluded_unavailable: int
    ratio: str
    threshold: str
    rule: str  # the rule's id and version
    reason: str
    clause: str = clauses.ETMAD_6_1_D

    def as_suspension_reason(self) -> str:
        """The reason a suspension on this proposal records."""
        assert self.occurred_at is not None  # noqa: S101 — propose_suspension gives a time
        return (
            f"proposed by {self.rule} ({self.clause}) at {self.occurred_at.isoformat()}: "
            f"{self.reason}"
        )


@attrs.frozen(kw_only=True)
class NonMigratableCandidateProposed(DomainEvent):
    """The evidence rule proposed this model as a Non-Migratable candidate (6.1(e), DOMAIN
    4.2), with what it counted. The DCC decides by ``CategoriseNonMigratable``, or dismisses."""

    TYPE = "etmad.device_model.NonMigratableCandidateProposed.v1"
    statistics: NonMigratableStatistics
    minimum_devices: int
    rule: str  # the rule's id and version
    reason: str
    clause: str = clauses.ETMAD_6_1_E


@attrs.frozen(kw_only=True)
class NonMigratableCandidateDismissed(DomainEvent):
    """The DCC dismissed the standing Non-Migratable candidate proposal, with its rationale."""

    TYPE = "etmad.device_model.NonMigratableCandidateDismissed.v1"
    decided_by: str
    rationale: str
    clause: str = clauses.ETMAD_6_1_E


@attrs.frozen(kw_only=True)
class CategorisedNonMigratable(DomainEvent):
    TYPE = "etmad.device_model.CategorisedNonMigratable.v1"
    rationale: str
    decided_by: str


@attrs.frozen(kw_only=True)
class DisagreementRecorded(DomainEvent):
    TYPE = "etmad.device_model.DisagreementRecorded.v1"
    party: str
    reason: str


@attrs.frozen(kw_only=True)
class AgreementRecorded(DomainEvent):
    TYPE = "etmad.device_model.AgreementRecorded.v1"
    party: str
    outcome: AgreementOutcome


@attrs.frozen(kw_only=True)
class AppealLodged(DomainEvent):
    TYPE = "etmad.device_model.AppealLodged.v1"
    party: str


@attrs.frozen(kw_only=True)
class DeterminationRecorded(DomainEvent):
    TYPE = "etmad.device_model.DeterminationRecorded.v1"
    party: str
    outcome: DeterminationOutcome


@attrs.frozen(kw_only=True)
class RecategorisedMigratable(DomainEvent):
    TYPE = "etmad.device_model.RecategorisedMigratable.v1"
    rationale: str
    decided_by: str


@attrs.frozen(kw_only=True)
class FirmwareRegistered(DomainEvent):
    """On a ModelFamily: a firmware version of this manufacturer/model/hardware version."""

    TYPE = "etmad.model_family.FirmwareRegistered.v1"
    model: DeviceModelKey
    firmware_rank: int


EVENTS: tuple[type[DomainEvent], ...] = (
    ModelRegistered,
    TestEvidenceRecorded,
    ProvingEvidenceRecorded,
    BulkMigrationAuthorised,
    MigrationStarted,
    Suspended,
    Resumed,
    CategorisedNonMigratable,
    DisagreementRecorded,
    AgreementRecorded,
    AppealLodged,
    DeterminationRecorded,
    RecategorisedMigratable,
    FirmwareRegistered,
    SuspensionProposed,
    NonMigratableCandidateProposed,
    NonMigratableCandidateDismissed,
)

# --- state ----------------------------------------------------------------------------------


@attrs.frozen
class TestEvidence:
    at: datetime
    outcome: TestOutcome
    detail: str


@attrs.frozen
class Authorisation:
    at: datetime | None
    decided_by: str
    by_policy: bool
    rationale: str
    evidence: ProvingPair


@attrs.frozen
class Suspension:
    at: datetime | None
    reason: str


@attrs.frozen
class ProposedSuspension:
    """The latest suspension the rule proposed: when, and on what."""

    at: datetime
    completed: int
    failed: int
    rule: str


@attrs.frozen
class Candidacy:
    """A Non-Migratable candidate proposal: when, and on how many Devices' evidence."""

    at: datetime | None
    devices_rejected: int
    devices_failed_srv623_after_migration: int
    rule: str

    def exceeded_by(self, statistics: NonMigratableStatistics) -> bool:
        """The evidence grew beyond this proposal's on either ground."""
        return (
            statistics.devices_rejected > self.devices_rejected
            or statistics.devices_failed_srv623_after_migration
            > self.devices_failed_srv623_after_migration
        )


@attrs.frozen
class Disagreement:
    party: str
    reason: str
    at: datetime | None
    agreement: AgreementOutcome | None = None

    @property
    def unresolved(self) -> bool:
        return self.agreement is None


@attrs.frozen
class Appeal:
    party: str
    at: datetime | None


@attrs.frozen
class Categorisation:
    """A standing Non-Migratable categorisation, with what followed it."""

    at: datetime | None
    rationale: str
    decided_by: str
    disagreements: tuple[Disagreement, ...] = ()
    appeal: Appeal | None = None
    determination: DeterminationOutcome | None = None

    def unresolved_disagreement(self, party: str) -> Disagreement | None:
        return next((d for d in self.disagreements if d.party == party and d.unresolved), None)


@attrs.frozen(kw_only=True)
class DeviceModel:
    key: DeviceModelKey
    device_type: DeviceType
    smets: SmetsGeneration
    firmware_rank: int
    test_evidence: tuple[TestEvidence, ...] = ()
    proving: ProvingPair | None = None
    authorisation: Authorisation | None = None
    started_devices: frozenset[EUI64] = frozenset()
    suspension: Suspension | None = None
    suspension_proposal: ProposedSuspension | None = None  # the latest, kept after a resume
    non_migratable: Categorisation | None = None
    candidate: Candidacy | None = None  # the standing Non-Migratable candidate proposal
    last_candidacy: Candidacy | None = None  # the latest ever made, standing or not
    lifecycle_at: datetime | None = None
    registered_at: datetime | None = None
    version: int = 0

    @staticmethod
    def register(
        *,
        model: DeviceModelKey,
        device_type: DeviceType,
        smets: SmetsGeneration,
        firmware_rank: int,
        at: datetime | None,
    ) -> ModelRegistered:
        if device_type is DeviceType.GPF:
            raise RuleViolation(
                "a Gas Proxy Function has no Device Model of its own: it takes its "
                "Communications Hub's (register the CHF model)",
                code="GPF_MODEL_FOLLOWS_COMMS_HUB",
                clause=clauses.ETMAD_2_GPF_MODEL,
            )
        if firmware_rank < 0:
            raise RuleViolation("firmware_rank must be zero or more", code="INVALID_FIRMWARE_RANK")
        return ModelRegistered(
            occurred_at=at,
            model=model,
            device_type=device_type,
            smets=smets,
            firmware_rank=firmware_rank,
        )

    @classmethod
    def create(cls, event: DomainEvent, version: int) -> Self:
        if not isinstance(event, ModelRegistered):
            raise TypeError(f"a DeviceModel starts with Registered, not {event.TYPE}")
        return cls(
            key=event.model,
            device_type=event.device_type,
            smets=event.smets,
            firmware_rank=event.firmware_rank,
            registered_at=event.occurred_at,
            version=version,
        )

    @property
    def aggregate_id(self) -> str:
        return model_aggregate_id(self.key)

    @property
    def is_non_migratable(self) -> bool:
        return self.non_migratable is not None

    def apply(self, event: DomainEvent, version: int) -> Self:  # noqa: C901, PLR0911, PLR0912
        at = event.occurred_at
        nm = self.non_migratable
        match event:
            case TestEvidenceRecorded():
                assert at is not None  # noqa: S101 — the command always gives a time
                evidence = TestEvidence(at, event.outcome, event.detail)
                return attrs.evolve(
                    self, test_evidence=(*self.test_evidence, evidence), version=version
                )
            case ProvingEvidenceRecorded():
                return attrs.evolve(self, proving=event.evidence, version=version)
            case BulkMigrationAuthorised():
                decision = Authorisation(
                    at, event.decided_by, event.by_policy, event.rationale, event.evidence
                )
                return attrs.evolve(self, authorisation=decision, version=version)
            case MigrationStarted():
                return attrs.evolve(
                    self, started_devices=self.started_devices | {event.device_id}, version=version
                )
            case Suspended():
                return attrs.evolve(self, suspension=Suspension(at, event.reason), version=version)
            case Resumed():
                return attrs.evolve(self, suspension=None, version=version)
            case SuspensionProposed():
                assert at is not None  # noqa: S101 — propose_suspension gives a time
                proposed = ProposedSuspension(at, event.completed, event.failed, event.rule)
                return attrs.evolve(self, suspension_proposal=proposed, version=version)
            case NonMigratableCandidateProposed():
                stats = event.statistics
                candidacy = Candidacy(
                    at,
                    stats.devices_rejected,
                    stats.devices_failed_srv623_after_migration,
                    event.rule,
                )
                return attrs.evolve(
                    self, candidate=candidacy, last_candidacy=candidacy, version=version
                )
            case NonMigratableCandidateDismissed():
                return attrs.evolve(self, candidate=None, version=version)
            case CategorisedNonMigratable():
                fresh = Categorisation(at, event.rationale, event.decided_by)
                return attrs.evolve(
                    self, non_migratable=fresh, lifecycle_at=at, candidate=None, version=version
                )
            case DisagreementRecorded() if nm is not None:
                added = Disagreement(event.party, event.reason, at)
                nm = attrs.evolve(nm, disagreements=(*nm.disagreements, added))
                return attrs.evolve(self, non_migratable=nm, lifecycle_at=at, version=version)
            case AgreementRecorded() if nm is not None:
                if event.outcome is AgreementOutcome.WITHDRAWN:
                    return attrs.evolve(self, non_migratable=None, lifecycle_at=at, version=version)
                settled = tuple(
                    attrs.evolve(d, agreement=event.outcome)
                    if d.party == event.party and d.unresolved
                    else d
                    for d in nm.disagreements
                )
                nm = attrs.evolve(nm, disagreements=settled)
                return attrs.evolve(self, non_migratable=nm, lifecycle_at=at, version=version)
            case AppealLodged() if nm is not None:
                nm = attrs.evolve(nm, appeal=Appeal(event.party, at))
                return attrs.evolve(self, non_migratable=nm, lifecycle_at=at, version=version)
            case DeterminationRecorded() if nm is not None:
                if event.outcome is DeterminationOutcome.OVERTURNED:
                    return attrs.evolve(self, non_migratable=None, lifecycle_at=at, version=version)
                nm = attrs.evolve(nm, determination=event.outcome)
                return attrs.evolve(self, non_migratable=nm, lifecycle_at=at, version=version)
            case RecategorisedMigratable():
                return attrs.evolve(self, non_migratable=None, lifecycle_at=at, version=version)
        raise TypeError(f"a DeviceModel does not fold {event.TYPE} in its current state")

    # --- commands: evidence and the Bulk gate ----------------------------------------------

    def record_test_evidence(
        self, *, at: datetime, outcome: TestOutcome, detail: str
    ) -> TestEvidenceRecorded:
        """Pre-CPL testing of ECoS Migration and a later SRV 6.23 (1.17)."""
        return TestEvidenceRecorded(occurred_at=utc(at), outcome=outcome, detail=detail)

    def record_proving(self, pair: ProvingPair, at: datetime) -> ProvingEvidenceRecorded | None:
        """Keep the first 6.1(b) pair seen on this model; later pairs add nothing."""
        if self.proving is not None:
            return None
        if pair.model != self.key:
            raise RuleViolation(
                f"evidence on {pair.model} is not evidence on {self.key}",
                code="EVIDENCE_FOR_ANOTHER_MODEL",
                clause=clauses.ETMAD_6_1_B,
            )
        return ProvingEvidenceRecorded(occurred_at=utc(at), evidence=pair)

    def authorise_bulk(
        self,
        *,
        at: datetime,
        decided_by: str,
        rationale: str,
        evidence: ProvingPair | None,
        by_policy: bool,
    ) -> BulkMigrationAuthorised:
        """The DCC's 1.6 decision. ``evidence`` is the 6.1(b) proof in force for this model
        (its own or a later-firmware sibling's, 6.2); without it the decision is refused."""
        if self.authorisation is not None:
            raise RuleViolation(
                f"Bulk Migration of {self.key} is already authorised",
                code="ALREADY_AUTHORISED",
                clause=clauses.ETMAD_1_6,
            )
        if evidence is None:
            raise RuleViolation(
                f"{self.key} is not proven: no Device of it (or of a later-firmware sibling) "
                "has had its TCoS certificate replaced and then processed an SRV 6.23",
                code="NOT_PROVEN",
                clause=clauses.ETMAD_6_1_B,
            )
        if not decided_by.strip() or not rationale.strip():
            raise RuleViolation(
                "the 1.6 decision names who decided and why",
                code="RATIONALE_REQUIRED",
                clause=clauses.ETMAD_1_6,
            )
        return BulkMigrationAuthorised(
            occurred_at=utc(at),
            decided_by=decided_by,
            by_policy=by_policy,
            rationale=rationale,
            evidence=evidence,
        )

    def start_migration(
        self,
        *,
        at: datetime,
        device_id: EUI64,
        cap: int,
        standing: DeviceModel | None = None,
    ) -> MigrationStarted:
        """Count a Device's migration against the Bulk Migration number (section 2, 1.6).

        Until the 1.6 decision, no more than ``cap`` distinct Devices of the model may be
        migrated; a repeat start for a Device already counted is recorded but not counted.
        ``standing`` is the model as it stood at ``at`` (its categorisation, suspension and
        1.6 decision then); the count is of every start recorded."""
        at = utc(at)
        then = standing or self
        if then.non_migratable is not None:
            raise RuleViolation(
                f"{self.key} is categorised Non-Migratable",
                code="NON_MIGRATABLE_MODEL",
                clause=clauses.ETMAD_1_4_A,
            )
        if then.suspension is not None:
            raise RuleViolation(
                f"migration of {self.key} is suspended: {then.suspension.reason}",
                code="MODEL_SUSPENDED",
                clause=clauses.ETMAD_6_1_D,
            )
        counted = device_id not in self.started_devices
        started = len(self.started_devices)
        authorised = then.authorisation is not None
        if counted and not authorised and started >= cap:
            raise RuleViolation(
                f"{started} Devices of {self.key} have started migration, the Bulk Migration "
                f"number is {cap}, and Bulk Migration of the model is not yet authorised",
                code="BULK_CAP_REACHED",
                clause=clauses.ETMAD_2_BULK,
            )
        return MigrationStarted(
            occurred_at=at,
            device_id=device_id,
            counted=counted,
            authorised=authorised,
            cap=cap,
            started_before=started,
        )

    # --- commands: suspension (6.1(d)) ------------------------------------------------------

    def suspend(self, *, at: datetime, reason: str) -> Suspended:
        if self.suspension is not None:
            raise RuleViolation(
                f"migration of {self.key} is already suspended",
                code="ALREADY_SUSPENDED",
                clause=clauses.ETMAD_6_1_D,
            )
        _require_text(reason, "a suspension needs a reason", clauses.ETMAD_6_1_D)
        return Suspended(occurred_at=utc(at), reason=reason)

    def resume(self, *, at: datetime, reason: str) -> Resumed:
        if self.suspension is None:
            raise RuleViolation(
                f"migration of {self.key} is not suspended",
                code="NOT_SUSPENDED",
                clause=clauses.ETMAD_6_1_D,
            )
        return Resumed(occurred_at=utc(at), reason=reason)

    # --- commands: the programme policies' proposals (DOMAIN 4.2, 4.3) ----------------------

    def propose_suspension(self, assessment: SuspensionAssessment) -> SuspensionProposed | None:
        """Record the suspension rule's proposal (6.1(d)), or nothing: when the rule does not
        propose, when migration of the model is suspended already, or when a proposal was
        recorded within the assessment's window (a new one then rests only on attempts
        completed after the last)."""
        self._check_model(assessment.model, assessment.clause)
        if not assessment.propose or self.suspension is not None:
            return None
        last = self.suspension_proposal
        if last is not None and last.at > assessment.window_from:
            return None
        rule = assessment.rule
        assert assessment.ratio is not None  # noqa: S101 — a proposal has its ratio
        return SuspensionProposed(
            occurred_at=assessment.at,
            window_from=assessment.window_from,
            window=rule.window,
            minimum_completed=assessment.minimum,
            completed=assessment.completed,
            failed=assessment.failed,
            excluded_unavailable=assessment.excluded_unavailable,
            ratio=_decimal(assessment.ratio),
            threshold=_decimal(assessment.threshold),
            rule=rule.version,
            reason=assessment.reason,
            clause=assessment.clause,
        )

    def propose_non_migratable_candidate(
        self, candidate: NonMigratableCandidate
    ) -> NonMigratableCandidateProposed | None:
        """Record the evidence rule's Non-Migratable candidate proposal (6.1(e)), or nothing:
        when the rule does not propose, the model is categorised Non-Migratable, a proposal
        stands, or (after one was dismissed or decided) the evidence has not grown beyond the
        last proposal's. Nothing is categorised: the DCC decides."""
        self._check_model(candidate.model, candidate.clause)
        if not candidate.propose or self.non_migratable is not None or self.candidate is not None:
            return None
        last = self.last_candidacy
        if last is not None and not last.exceeded_by(candidate.statistics):
            return None
        return NonMigratableCandidateProposed(
            occurred_at=candidate.at,
            statistics=candidate.statistics,
            minimum_devices=candidate.rule.minimum_devices,
            rule=candidate.rule.version,
            reason=candidate.reason,
            clause=candidate.clause,
        )

    def dismiss_non_migratable_candidate(
        self, *, at: datetime, decided_by: str, rationale: str
    ) -> NonMigratableCandidateDismissed:
        """The DCC declines the standing candidate proposal; the rule proposes again only on
        more evidence."""
        if self.candidate is None:
            raise RuleViolation(
                f"no Non-Migratable candidate proposal on {self.key} stands",
                code="NO_CANDIDATE_PROPOSED",
                clause=clauses.ETMAD_6_1_E,
            )
        _require_text(rationale, "a dismissal needs its rationale", clauses.ETMAD_6_1_E)
        _require_text(decided_by, "a dismissal names who decided", clauses.ETMAD_6_1_E)
        return NonMigratableCandidateDismissed(
            occurred_at=utc(at), decided_by=decided_by, rationale=rationale
        )

    def _check_model(self, model: DeviceModelKey, clause: str) -> None:
        if model != self.key:
            raise RuleViolation(
                f"evidence on {model} is not evidence on {self.key}",
                code="EVIDENCE_FOR_ANOTHER_MODEL",
                clause=clause,
            )

    # --- commands: the Non-Migratable lifecycle ---------------------------------------------

    def categorise_non_migratable(
        self, *, at: datetime, rationale: str, decided_by: str
    ) -> CategorisedNonMigratable:
        at = self._in_order(at)
        if self.non_migratable is not None:
            raise RuleViolation(
                f"{self.key} is already categorised Non-Migratable",
                code="ALREADY_NON_MIGRATABLE",
                clause=clauses.ETMAD_6_1_E,
            )
        _require_text(
            rationale,
            "a Non-Migratable categorisation needs its supporting rationale",
            clauses.ETMAD_1_8_B,
        )
        _require_text(decided_by, "a categorisation names who decided", clauses.ETMAD_6_1_E)
        return CategorisedNonMigratable(occurred_at=at, rationale=rationale, decided_by=decided_by)

    def record_disagreement(self, *, at: datetime, party: str, reason: str) -> DisagreementRecorded:
        at = self._in_order(at)
        nm = self._require_non_migratable(clauses.ETMAD_1_13)
        if nm.determination is not None:
            raise RuleViolation(
                f"the Secretary of State's determination on {self.key} is final and binding",
                code="DETERMINATION_FINAL",
                clause=clauses.ETMAD_1_14,
            )
        _require_text(party, "a disagreement names the Party", clauses.ETMAD_1_13)
        if nm.unresolved_disagreement(party) is not None:
            raise RuleViolation(
                f"{party} already has an unresolved disagreement on {self.key}",
                code="DISAGREEMENT_ALREADY_OPEN",
                clause=clauses.ETMAD_1_13,
            )
        return DisagreementRecorded(occurred_at=at, party=party, reason=reason)

    def record_agreement(
        self, *, at: datetime, outcome: AgreementOutcome, party: str | None
    ) -> AgreementRecorded:
        at = self._in_order(at)
        nm = self._require_non_migratable(clauses.ETMAD_1_13)
        if nm.determination is not None:
            raise RuleViolation(
                f"the Secretary of State's determination on {self.key} is final and binding",
                code="DETERMINATION_FINAL",
                clause=clauses.ETMAD_1_14,
            )
        open_parties = [d.party for d in nm.disagreements if d.unresolved]
        if party is None:
            if len(open_parties) > 1:
                raise RuleViolation(
                    f"several Parties disagree on {self.key} ({', '.join(open_parties)}): "
                    "name the party",
                    code="PARTY_REQUIRED",
                    clause=clauses.ETMAD_1_13,
                )
            party = open_parties[0] if open_parties else ""
        if party not in open_parties:
            raise RuleViolation(
                f"no unresolved disagreement on {self.key} to agree"
                + (f" with {party}" if party else ""),
                code="NO_UNRESOLVED_DISAGREEMENT",
                clause=clauses.ETMAD_1_13,
            )
        if nm.appeal is not None and nm.appeal.party == party and nm.determination is None:
            raise RuleViolation(
                f"{party}'s appeal on {self.key} awaits the Secretary of State",
                code="APPEAL_PENDING",
                clause=clauses.ETMAD_1_13,
            )
        return AgreementRecorded(occurred_at=at, party=party, outcome=outcome)

    def lodge_appeal(self, *, at: datetime, party: str) -> AppealLodged:
        """1.13: only where the Party disagreed and agreement could not be reached."""
        at = self._in_order(at)
        nm = self._require_non_migratable(clauses.ETMAD_1_13)
        if nm.determination is not None:
            raise RuleViolation(
                f"the Secretary of State's determination on {self.key} is final and binding",
                code="DETERMINATION_FINAL",
                clause=clauses.ETMAD_1_14,
            )
        if nm.appeal is not None:
            raise RuleViolation(
                f"an appeal on {self.key} by {nm.appeal.party} is already lodged",
                code="APPEAL_ALREADY_LODGED",
                clause=clauses.ETMAD_1_13,
            )
        if nm.unresolved_disagreement(party) is None:
            raise RuleViolation(
                f"{party} may appeal only after recording a disagreement with the "
                f"categorisation of {self.key} on which no agreement was reached",
                code="NO_UNRESOLVED_DISAGREEMENT",
                clause=clauses.ETMAD_1_13,
            )
        return AppealLodged(occurred_at=at, party=party)

    def record_determination(
        self, *, at: datetime, outcome: DeterminationOutcome
    ) -> DeterminationRecorded:
        at = self._in_order(at)
        nm = self.non_migratable
        if nm is None or nm.appeal is None:
            raise RuleViolation(
                f"no appeal on {self.key} has been lodged",
                code="NO_APPEAL_LODGED",
                clause=clauses.ETMAD_1_14,
            )
        if nm.determination is not None:
            raise RuleViolation(
                f"the appeal on {self.key} is already determined",
                code="DETERMINATION_FINAL",
                clause=clauses.ETMAD_1_14,
            )
        return DeterminationRecorded(occurred_at=at, party=nm.appeal.party, outcome=outcome)

    def recategorise_migratable(
        self, *, at: datetime, rationale: str, decided_by: str
    ) -> RecategorisedMigratable:
        """1.14: whenever a model stands categorised Non-Migratable, appealed or not."""
        at = self._in_order(at)
        self._require_non_migratable(clauses.ETMAD_1_14)
        _require_text(rationale, "a re-categorisation needs its rationale", clauses.ETMAD_1_14)
        _require_text(decided_by, "a re-categorisation names who decided", clauses.ETMAD_1_14)
        return RecategorisedMigratable(occurred_at=at, rationale=rationale, decided_by=decided_by)

    def _require_non_migratable(self, clause: str) -> Categorisation:
        if self.non_migratable is None:
            raise RuleViolation(
                f"{self.key} is not categorised Non-Migratable",
                code="NOT_NON_MIGRATABLE",
                clause=clause,
            )
        return self.non_migratable

    def _in_order(self, at: datetime) -> datetime:
        at = utc(at)
        if self.lifecycle_at is not None and at < self.lifecycle_at:
            raise RuleViolation(
                f"{at.isoformat()} precedes the last Non-Migratable lifecycle step of "
                f"{self.key} at {self.lifecycle_at.isoformat()}",
                code="OUT_OF_ORDER",
            )
        return at


def _decimal(value: float) -> str:
    return repr(float(value))


def _require_text(value: str, message: str, clause: str) -> None:
    if not value.strip():
        raise RuleViolation(message, code="RATIONALE_REQUIRED", clause=clause)


@attrs.frozen
class FamilyMember:
    model: DeviceModelKey
    firmware_rank: int


@attrs.frozen(kw_only=True)
class ModelFamily:
    """The firmware versions of one manufacturer/model/hardware version, ranked (6.2)."""

    family: tuple[str, str, str]
    members: tuple[FamilyMember, ...] = ()
    version: int = 0

    @classmethod
    def create(cls, event: DomainEvent, version: int) -> Self:
        if not isinstance(event, FirmwareRegistered):
            raise TypeError(f"a ModelFamily starts with FirmwareRegistered, not {event.TYPE}")
        return cls(family=event.model.family, version=0).apply(event, version)

    @property
    def aggregate_id(self) -> str:
        return "model-family:" + "/".join(_quote(p) for p in self.family)

    def apply(self, event: DomainEvent, version: int) -> Self:
        if not isinstance(event, FirmwareRegistered):
            raise TypeError(f"a ModelFamily does not fold {event.TYPE}")
        member = FamilyMember(event.model, event.firmware_rank)
        return attrs.evolve(self, members=(*self.members, member), version=version)

    @staticmethod
    def add(family: ModelFamily | None, model: DeviceModelKey, rank: int) -> FirmwareRegistered:
        if family is not None:
            clash = next((m for m in family.members if m.firmware_rank == rank), None)
            if clash is not None:
                raise RuleViolation(
                    f"firmware_rank {rank} is already {clash.model.firmware_version} of "
                    f"{'/'.join(model.family)}: ranks order firmware and must differ",
                    code="DUPLICATE_FIRMWARE_RANK",
                    clause=clauses.ETMAD_6_2,
                )
        return FirmwareRegistered(occurred_at=None, model=model, firmware_rank=rank)

    def later_than(self, rank: int) -> tuple[FamilyMember, ...]:
        """Siblings with a later firmware (6.2), latest first."""
        later = (m for m in self.members if m.firmware_rank > rank)
        return tuple(sorted(later, key=lambda m: m.firmware_rank, reverse=True))
