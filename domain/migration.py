"""The Migration aggregate (DOMAIN.md 3.3): one Device's ECoS Migration, all its attempts.

A Migration holds **series** of attempts. A series starts when the Device is selected (with
the Device Model in force for it and the Error Handling and Retry Approach in force, frozen
onto the series so that a replay decides with the policy of its day) and its first attempt
begins at once. Each attempt walks the steps of ETMAD 6.1(c), each recorded as an event with
its outcome:

1. (i) the instruction to the TCoS Service Provider (``TcosInstructed``);
2. (ii) its review, confirmed or refused with a reason (``TcosReviewed``);
3. (iii) the CS02b transCoSByTransCoS Signed Pre-Command sent (``ReplacementCommandSent``: the
   originator counter, the ECoS Party certificate's Certificate ID carried for the CoS cell,
   and the SHA-256 of the command bytes), then the Device's per-cell outcome or its absence
   (``ReplacementOutcomeRecorded``);
4. (iv) the confirmations of the ECoS and the TCoS Service Providers (``ConfirmationRecorded``).

Every failed step is a Failed Migration (ETMAD 2), classified by ``domain.failures`` into the
H17.5 failure code and sub-code (ETMAD 3.3) and dated by its event. The frozen policy then
decides (``decide_after_failure``): a retry at a time (``RetryScheduled``, then
``AttemptStarted`` once due) or the end of the series (``SeriesCompletedUnsuccessfully``,
ECOSMIG-002). A retry after the Device's credentials were replaced resumes at 6.1(c)(iv): the
Device is then an ECoS Device and a second TCoS-signed replacement would be wrong. When all
four steps have succeeded, ``complete`` records ``MigrationCompleted`` with the new ECoS
Certificate ID. After a series ended unsuccessfully, a new one may start (re-selection);
never two at once, never after success.

Remediation (ETMAD 1.7, 1.9-1.11, ``domain.remediation``) follows a series that completed
unsuccessfully: the owner found by root-cause analysis (the DCC or the Responsible Supplier; a
Gas Proxy Function's is always the DCC's, 1.11), the actions and their outcomes; a
Non-Migratable model or issues that could not be resolved call for a firmware upgrade to a
capable version (1.10).

A Failed Migration does **not** make a Device Ineligible (DOMAIN.md 3.3 "Eligibility
afterwards"): it is not a 1.4 ground, nothing here feeds ``domain.eligibility``, and 1.3 then
requires the DCC to attempt again as soon as reasonably practicable.
"""

from __future__ import annotations

import enum
import functools
import hashlib
from datetime import datetime
from typing import Any, Final, Self, TypeVar, cast

import attrs

from domain import clauses
from domain.errors import RuleViolation
from domain.events import DomainEvent, utc
from domain.failures import (
    INTERRUPTED_SUB_CODE,
    DeviceOutcome,
    FailureCause,
    FailureCode,
    ProviderResponse,
    Step,
    StepFailure,
    classify_confirmation,
    classify_replacement,
    classify_tcos_step,
)
from domain.identifiers import EUI64, CertificateId, CosParty, DeviceModelKey, DeviceType
from domain.remediation import (
    ActionOutcome,
    Remediation,
    RemediationActionKind,
    RemediationActionRecorded,
    RemediationAssigned,
    RemediationBasis,
    RemediationOwner,
    assign_remediation,
    record_action,
)
from domain.retry_policy import (
    RetryDecision,
    RetryPolicy,
    SeriesProgress,
    next_step_after_failure,
)

COUNTER_LIMIT: Final = 1 << 63  # GBCS counters and sequence numbers are 0..2^63-1 (DOMAIN.md 6)
SERVICE_PROVIDERS: Final = frozenset(CosParty)  # 6.1(c)(iv): the ECoS and the TCoS one


_T = TypeVar("_T")


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(a.name for a in attrs.fields(cls))


def _evolve(inst: _T, **changes: Any) -> _T:  # noqa: ANN401
    """``attrs.evolve`` for this module's frozen classes (no converters, validators, aliases or
    ``init=False`` fields here), with each class's field names looked up once: folding a
    Migration evolves several values per event."""
    cls: type[_T] = type(inst)
    for name in _field_names(cast("type", cls)):
        if name not in changes:
            changes[name] = getattr(inst, name)
    return cls(**changes)


def migration_aggregate_id(device_id: EUI64) -> str:
    return f"migration:{device_id}"


class SeriesEnding(enum.StrEnum):
    """Why a series completed unsuccessfully. Stable: ECOSMIG-002 reports match on these."""

    NON_RETRYABLE_CAUSE = "NON_RETRYABLE_CAUSE"
    MAX_ATTEMPTS_REACHED = "MAX_ATTEMPTS_REACHED"
    RETRY_WINDOW_CLOSED = "RETRY_WINDOW_CLOSED"
    WITHDRAWN = "WITHDRAWN"  # the DCC ended it (the Device became Ineligible, the programme ...)


class MigrationStatus(enum.StrEnum):
    """Where the latest series stands."""

    IN_ATTEMPT = "in_attempt"  # a step of the current attempt is awaited
    AWAITING_RETRY_DECISION = "awaiting_retry_decision"  # a step failed: ask the policy
    RETRY_SCHEDULED = "retry_scheduled"  # the next attempt is due at ``next_retry_at``
    READY_TO_COMPLETE = "ready_to_complete"  # all four steps succeeded: record the completion
    SUCCEEDED = "succeeded"
    COMPLETED_UNSUCCESSFULLY = "completed_unsuccessfully"  # ECOSMIG-002


# --- events ---------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class SeriesStarted(DomainEvent):
    """A series of attempts began, and with it its first attempt: at 6.1(c)(i), or at (iv)
    where an earlier series already replaced the Device's credentials."""

    TYPE = "etmad.migration.SeriesStarted.v1"
    device_id: EUI64
    device_type: DeviceType
    series: int
    model: DeviceModelKey  # the Device Model in force (a GPF's: its Communications Hub's)
    policy: RetryPolicy  # the Error Handling and Retry Approach in force, frozen
    selection_ref: str | None  # the daily selection that chose the Device, if any
    resumes_at: Step  # (iv) if an earlier series already replaced the credentials, else (i)
    clause: str = clauses.ETMAD_6_1_C


@attrs.frozen(kw_only=True)
class AttemptStarted(DomainEvent):
    """A retry began (the first attempt of a series begins with ``SeriesStarted``)."""

    TYPE = "etmad.migration.AttemptStarted.v1"
    series: int
    attempt: int
    resumes_at: Step
    retry_at: datetime  # when the retry was due
    clause: str = clauses.ETMAD_7_1


@attrs.frozen(kw_only=True)
class TcosInstructed(DomainEvent):
    TYPE = "etmad.migration.TcosInstructed.v1"
    series: int
    attempt: int
    response: ProviderResponse
    failure: StepFailure | None
    clause: str = clauses.ETMAD_6_1_C_I


@attrs.frozen(kw_only=True)
class TcosReviewed(DomainEvent):
    TYPE = "etmad.migration.TcosReviewed.v1"
    series: int
    attempt: int
    response: ProviderResponse
    failure: StepFailure | None
    clause: str = clauses.ETMAD_6_1_C_II


@attrs.frozen(kw_only=True)
class ReplacementCommandSent(DomainEvent):
    """The CS02b transCoSByTransCoS Signed Pre-Command was sent toward the Device."""

    TYPE = "etmad.migration.ReplacementCommandSent.v1"
    series: int
    attempt: int
    originator_counter: int
    ecos_certificate: CertificateId  # the ECoS Party certificate carried for the CoS cell
    command_sha256: str  # lower-case hex of the SHA-256 of the Signed Pre-Command bytes
    clause: str = clauses.ETMAD_6_1_C_III


@attrs.frozen(kw_only=True)
class ReplacementOutcomeRecorded(DomainEvent):
    TYPE = "etmad.migration.ReplacementOutcomeRecorded.v1"
    series: int
    attempt: int
    outcome: DeviceOutcome
    failure: StepFailure | None
    clause: str = clauses.ETMAD_6_1_C_III


@attrs.frozen(kw_only=True)
class ConfirmationRecorded(DomainEvent):
    TYPE = "etmad.migration.ConfirmationRecorded.v1"
    series: int
    attempt: int
    party: CosParty  # whose Service Provider: the ECoS or the TCoS one
    response: ProviderResponse
    failure: StepFailure | None
    clause: str = clauses.ETMAD_6_1_C_IV


@attrs.frozen(kw_only=True)
class RetryScheduled(DomainEvent):
    TYPE = "etmad.migration.RetryScheduled.v1"
    series: int
    attempt: int  # the attempt that failed
    decision: RetryDecision
    resumes_at: Step
    clause: str = clauses.ETMAD_7_1


@attrs.frozen(kw_only=True)
class SeriesCompletedUnsuccessfully(DomainEvent):
    """The end of a series without success (ECOSMIG-002)."""

    TYPE = "etmad.migration.SeriesCompletedUnsuccessfully.v1"
    series: int
    attempts: int
    ending: SeriesEnding
    decision: RetryDecision | None  # the policy's, unless the DCC withdrew the series
    reason: str
    clause: str = clauses.ETMAD_7_1


@attrs.frozen(kw_only=True)
class MigrationCompleted(DomainEvent):
    """All four steps of 6.1(c) succeeded: the Device is an ECoS Device."""

    TYPE = "etmad.migration.MigrationCompleted.v1"
    series: int
    attempt: int
    model: DeviceModelKey
    ecos_certificate: CertificateId
    originator_counter: int  # of the command the Device accepted
    clause: str = clauses.ETMAD_6_1_C


@attrs.frozen(kw_only=True)
class ReplacementReconciled(DomainEvent):
    """Before a retry: a Service Provider confirmed that the Device holds the ECoS Party's
    credentials, so the command of an earlier attempt whose outcome was unknown (``interrupted``)
    did take effect. The series' replacement is that command; its retry resumes at 6.1(c)(iv)."""

    TYPE = "etmad.migration.ReplacementReconciled.v1"
    series: int
    attempt: int  # the attempt whose command took effect
    originator_counter: int
    detail: str  # who confirmed
    clause: str = clauses.ETMAD_6_1_C


EVENTS: tuple[type[DomainEvent], ...] = (
    SeriesStarted,
    AttemptStarted,
    TcosInstructed,
    TcosReviewed,
    ReplacementCommandSent,
    ReplacementOutcomeRecorded,
    ConfirmationRecorded,
    RetryScheduled,
    SeriesCompletedUnsuccessfully,
    MigrationCompleted,
    RemediationAssigned,
    RemediationActionRecorded,
    ReplacementReconciled,
)

# --- state ----------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class SentCommand:
    at: datetime
    originator_counter: int
    ecos_certificate: CertificateId
    command_sha256: str


@attrs.frozen(kw_only=True)
class Confirmation:
    at: datetime
    party: CosParty
    response: ProviderResponse


@attrs.frozen(kw_only=True)
class RecordedFailure:
    """A Failed Migration as recorded: where (series, attempt) and when."""

    series: int
    attempt: int
    at: datetime
    failure: StepFailure


@attrs.frozen(kw_only=True)
class FailedMigration:
    """The H17.5 items ETMAD 3.3 adds, from the latest Failed Migration of the Device, with
    where it happened. It stays after a later success: it is history, not status."""

    failure_code: FailureCode
    failure_sub_code: str
    date_of_last_failure: datetime
    step: Step
    cause: FailureCause
    detail: str
    series: int
    attempt: int


@attrs.frozen(kw_only=True)
class Attempt:
    number: int
    started_at: datetime
    resumes_at: Step
    instruction: ProviderResponse | None = None
    review: ProviderResponse | None = None
    command: SentCommand | None = None
    device_outcome: DeviceOutcome | None = None
    confirmations: tuple[Confirmation, ...] = ()
    failure: RecordedFailure | None = None


@attrs.frozen(kw_only=True)
class Series:
    number: int
    started_at: datetime
    model: DeviceModelKey
    policy: RetryPolicy
    selection_ref: str | None
    attempts: tuple[Attempt, ...]
    decisions: tuple[RetryDecision, ...] = ()
    retry_at: datetime | None = None  # a scheduled retry not yet started
    resumes_at: Step | None = None  # where that retry resumes
    replaced_by: SentCommand | None = None  # the command the Device accepted: (iii) done
    confirmed: frozenset[CosParty] = frozenset()
    ended_at: datetime | None = None
    ending: SeriesEnding | None = None
    end_reason: str = ""
    succeeded_at: datetime | None = None
    last_at: datetime | None = None

    @property
    def attempt(self) -> Attempt:
        return self.attempts[-1]

    @property
    def failures(self) -> tuple[RecordedFailure, ...]:
        return tuple(a.failure for a in self.attempts if a.failure is not None)

    @property
    def ended(self) -> bool:
        return self.ended_at is not None or self.succeeded_at is not None

    @property
    def next_step(self) -> Step | None:
        """The step the current attempt awaits (None: all four steps have succeeded)."""
        attempt = self.attempt
        if attempt.resumes_at is Step.INSTRUCTION:
            if attempt.instruction is None:
                return Step.INSTRUCTION
            if attempt.review is None:
                return Step.REVIEW
        if self.replaced_by is None:
            return Step.REPLACEMENT
        if self.confirmed != SERVICE_PROVIDERS:
            return Step.CONFIRMATION
        return None

    @property
    def status(self) -> MigrationStatus:
        if self.succeeded_at is not None:
            return MigrationStatus.SUCCEEDED
        if self.ended_at is not None:
            return MigrationStatus.COMPLETED_UNSUCCESSFULLY
        if self.retry_at is not None:
            return MigrationStatus.RETRY_SCHEDULED
        if self.attempt.failure is not None:
            return MigrationStatus.AWAITING_RETRY_DECISION
        if self.next_step is None:
            return MigrationStatus.READY_TO_COMPLETE
        return MigrationStatus.IN_ATTEMPT


def _violation(message: str, code: str, clause: str | None = None) -> RuleViolation:
    return RuleViolation(message, code=code, clause=clause)


_LATE_STEP_CODES: Final[dict[Step, str]] = {
    Step.REVIEW: "REVIEW_BEFORE_INSTRUCTION",
    Step.REPLACEMENT: "REPLACEMENT_BEFORE_CONFIRMED_REVIEW",
    Step.CONFIRMATION: "CONFIRMATION_BEFORE_REPLACEMENT",
}


@attrs.frozen(kw_only=True)
class Migration:
    device_id: EUI64
    device_type: DeviceType
    series: tuple[Series, ...]
    remediations: tuple[Remediation, ...] = ()
    version: int = 0

    # --- creation and folding ---------------------------------------------------------------

    @staticmethod
    def start(
        *,
        device_id: EUI64,
        device_type: DeviceType,
        model: DeviceModelKey,
        policy: RetryPolicy,
        at: datetime,
        selection_ref: str | None = None,
    ) -> SeriesStarted:
        """Start a Device's first series. Eligibility (1.3, 1.4), the Bulk gate (1.6) and the
        effective Device Model are the application's checks before this."""
        at = utc(at)
        _check_series_inputs(policy, at, selection_ref)
        return SeriesStarted(
            occurred_at=at,
            device_id=device_id,
            device_type=device_type,
            series=1,
            model=model,
            policy=policy,
            selection_ref=selection_ref,
            resumes_at=Step.INSTRUCTION,
        )

    @classmethod
    def create(cls, event: DomainEvent, version: int) -> Self:
        if not isinstance(event, SeriesStarted):
            raise TypeError(f"a Migration starts with SeriesStarted, not {event.TYPE}")
        return cls(device_id=event.device_id, device_type=event.device_type, series=()).apply(
            event, version
        )

    @property
    def aggregate_id(self) -> str:
        return migration_aggregate_id(self.device_id)

    def apply(self, event: DomainEvent, version: int) -> Self:  # noqa: C901, PLR0911, PLR0912
        at = event.occurred_at
        assert at is not None  # noqa: S101 — every command gives a time
        match event:
            case SeriesStarted():
                first = Attempt(number=1, started_at=at, resumes_at=event.resumes_at)
                carried = (
                    self._latest.replaced_by
                    if self.series and event.resumes_at is Step.CONFIRMATION
                    else None
                )
                fresh = Series(
                    number=event.series,
                    started_at=at,
                    model=event.model,
                    policy=event.policy,
                    selection_ref=event.selection_ref,
                    attempts=(first,),
                    replaced_by=carried,
                    last_at=at,
                )
                return _evolve(self, series=(*self.series, fresh), version=version)
            case AttemptStarted():
                latest = self._latest
                attempt = Attempt(number=event.attempt, started_at=at, resumes_at=event.resumes_at)
                return self._with_series(
                    _evolve(
                        latest,
                        attempts=(*latest.attempts, attempt),
                        retry_at=None,
                        resumes_at=None,
                        last_at=at,
                    ),
                    version,
                )
            case TcosInstructed():
                attempt = _evolve(self._latest.attempt, instruction=event.response)
                return self._with_attempt(self._latest, attempt, event.failure, at, version)
            case TcosReviewed():
                attempt = _evolve(self._latest.attempt, review=event.response)
                return self._with_attempt(self._latest, attempt, event.failure, at, version)
            case ReplacementCommandSent():
                sent = SentCommand(
                    at=at,
                    originator_counter=event.originator_counter,
                    ecos_certificate=event.ecos_certificate,
                    command_sha256=event.command_sha256,
                )
                attempt = _evolve(self._latest.attempt, command=sent)
                return self._with_attempt(self._latest, attempt, None, at, version)
            case ReplacementOutcomeRecorded():
                latest = self._latest
                attempt = _evolve(latest.attempt, device_outcome=event.outcome)
                if event.failure is None:
                    latest = _evolve(latest, replaced_by=attempt.command)
                return self._with_attempt(latest, attempt, event.failure, at, version)
            case ConfirmationRecorded():
                latest = self._latest
                confirmation = Confirmation(at=at, party=event.party, response=event.response)
                attempt = _evolve(
                    latest.attempt, confirmations=(*latest.attempt.confirmations, confirmation)
                )
                if event.failure is None:
                    latest = _evolve(latest, confirmed=latest.confirmed | {event.party})
                return self._with_attempt(latest, attempt, event.failure, at, version)
            case RetryScheduled():
                latest = self._latest
                return self._with_series(
                    _evolve(
                        latest,
                        decisions=(*latest.decisions, event.decision),
                        retry_at=event.decision.retry_at,
                        resumes_at=event.resumes_at,
                        last_at=at,
                    ),
                    version,
                )
            case SeriesCompletedUnsuccessfully():
                latest = self._latest
                decisions = latest.decisions
                if event.decision is not None:
                    decisions = (*decisions, event.decision)
                return self._with_series(
                    _evolve(
                        latest,
                        decisions=decisions,
                        ended_at=at,
                        ending=event.ending,
                        end_reason=event.reason,
                        retry_at=None,
                        resumes_at=None,
                        last_at=at,
                    ),
                    version,
                )
            case ReplacementReconciled():
                latest = self._latest
                took_effect = next(a.command for a in latest.attempts if a.number == event.attempt)
                return self._with_series(
                    _evolve(
                        latest, replaced_by=took_effect, resumes_at=Step.CONFIRMATION, last_at=at
                    ),
                    version,
                )
            case MigrationCompleted():
                return self._with_series(
                    _evolve(self._latest, succeeded_at=at, last_at=at), version
                )
            case RemediationAssigned():
                assigned = Remediation.assigned(event, at)
                return _evolve(self, remediations=(*self.remediations, assigned), version=version)
            case RemediationActionRecorded():
                remediations = tuple(
                    r.with_action(event, at) if r.number == event.remediation else r
                    for r in self.remediations
                )
                return _evolve(self, remediations=remediations, version=version)
        raise TypeError(f"a Migration does not fold {event.TYPE}")

    @property
    def _latest(self) -> Series:
        return self.series[-1]

    def _with_series(self, series: Series, version: int) -> Self:
        return _evolve(self, series=(*self.series[:-1], series), version=version)

    def _with_attempt(
        self,
        series: Series,
        attempt: Attempt,
        failure: StepFailure | None,
        at: datetime,
        version: int,
    ) -> Self:
        if failure is not None:
            recorded = RecordedFailure(
                series=series.number, attempt=attempt.number, at=at, failure=failure
            )
            attempt = _evolve(attempt, failure=recorded)
        attempts = (*series.attempts[:-1], attempt)
        return self._with_series(_evolve(series, attempts=attempts, last_at=at), version)

    # --- commands: series -------------------------------------------------------------------

    def start_series(
        self,
        *,
        model: DeviceModelKey,
        policy: RetryPolicy,
        at: datetime,
        selection_ref: str | None = None,
    ) -> SeriesStarted:
        """Start another series after the last one completed unsuccessfully (re-selection).

        If the Device's credentials were already replaced (the last series failed or was
        withdrawn at 6.1(c)(iv)), the Device holds the ECoS Party's credentials: the new series
        resumes at (iv) and asks both Service Providers again; no second replacement is sent."""
        at = self._in_order(at)
        latest = self._latest
        if latest.succeeded_at is not None:
            raise _violation(
                f"Device {self.device_id} was migrated on "
                f"{latest.succeeded_at.isoformat()}: it is an ECoS Device",
                "ALREADY_MIGRATED",
                clauses.ETMAD_2_TCOS_DEVICE,
            )
        if not latest.ended:
            raise _violation(
                f"series {latest.number} of Device {self.device_id} is still in progress "
                f"({latest.status})",
                "SERIES_IN_PROGRESS",
                clauses.ETMAD_7_1,
            )
        _check_series_inputs(policy, at, selection_ref)
        return SeriesStarted(
            occurred_at=at,
            device_id=self.device_id,
            device_type=self.device_type,
            series=latest.number + 1,
            model=model,
            policy=policy,
            selection_ref=selection_ref,
            resumes_at=Step.INSTRUCTION if latest.replaced_by is None else Step.CONFIRMATION,
        )

    def decide_after_failure(
        self, *, at: datetime
    ) -> RetryScheduled | SeriesCompletedUnsuccessfully:
        """Ask the series' frozen policy what follows the failed attempt: a retry at a time,
        or the end of the series (ETMAD 1.7, 7.1). The back-off runs from the failure."""
        at = self._in_order(at)
        series = self._in_progress("decide a retry")
        failed = series.attempt.failure
        if series.status is not MigrationStatus.AWAITING_RETRY_DECISION or failed is None:
            raise _violation(
                f"attempt {series.attempt.number} of series {series.number} has no failure "
                f"awaiting a retry decision ({series.status})",
                "NO_FAILED_ATTEMPT",
                clauses.ETMAD_7_1,
            )
        earlier = series.failures[:-1]
        progress = SeriesProgress(
            attempts_made=len(series.attempts),
            first_failure_at=earlier[0].at if earlier else None,
        )
        decision = next_step_after_failure(series.policy, progress, failed.failure, failed.at)
        if decision.retries:
            resumes = Step.CONFIRMATION if series.replaced_by is not None else Step.INSTRUCTION
            return RetryScheduled(
                occurred_at=at,
                series=series.number,
                attempt=series.attempt.number,
                decision=decision,
                resumes_at=resumes,
            )
        return SeriesCompletedUnsuccessfully(
            occurred_at=at,
            series=series.number,
            attempts=len(series.attempts),
            ending=SeriesEnding(decision.reason.value),
            decision=decision,
            reason=decision.detail,
        )

    def start_retry(self, *, at: datetime) -> AttemptStarted:
        """Begin the scheduled retry, not before it is due."""
        at = self._in_order(at)
        series = self._in_progress("start a retry")
        if series.retry_at is None or series.resumes_at is None:
            raise _violation(
                f"no retry is scheduled in series {series.number} ({series.status})",
                "NO_RETRY_SCHEDULED",
                clauses.ETMAD_7_1,
            )
        if at < series.retry_at:
            raise _violation(
                f"the retry is due {series.retry_at.isoformat()} under retry policy "
                f"{series.policy.version}, not {at.isoformat()}",
                "RETRY_NOT_DUE",
                clauses.ETMAD_7_1,
            )
        return AttemptStarted(
            occurred_at=at,
            series=series.number,
            attempt=series.attempt.number + 1,
            resumes_at=series.resumes_at,
            retry_at=series.retry_at,
        )

    def end_series(self, *, at: datetime, reason: str) -> SeriesCompletedUnsuccessfully:
        """The DCC ends the series in progress without success (the Device became Ineligible,
        the programme stopped ...): ``WITHDRAWN``."""
        at = self._in_order(at)
        series = self._in_progress("end a series")
        if series.status is MigrationStatus.READY_TO_COMPLETE:
            raise _violation(
                f"all four steps of series {series.number} succeeded: record its completion",
                "ALL_STEPS_SUCCEEDED",
                clauses.ETMAD_6_1_C,
            )
        if not reason.strip():
            raise _violation("ending a series needs a reason", "REASON_REQUIRED", clauses.ETMAD_7_1)
        return SeriesCompletedUnsuccessfully(
            occurred_at=at,
            series=series.number,
            attempts=len(series.attempts),
            ending=SeriesEnding.WITHDRAWN,
            decision=None,
            reason=reason,
        )

    def complete(self, *, at: datetime) -> MigrationCompleted:
        """Record the successful ECoS Migration: only when all four steps of 6.1(c) have
        succeeded. The application records the Device's ``CredentialsReplaced`` (party ECoS,
        this certificate, this model) in the same unit of work."""
        at = self._in_order(at)
        series = self._in_progress("complete")
        step = series.next_step
        if series.status is not MigrationStatus.READY_TO_COMPLETE or series.replaced_by is None:
            waiting = f"awaits 6.1(c) step {step}" if step else f"is {series.status}"
            raise _violation(
                f"series {series.number} of Device {self.device_id} {waiting}: ECoS Migration "
                "completes only when all four steps of 6.1(c) have succeeded",
                "STEPS_INCOMPLETE",
                clauses.ETMAD_6_1_C,
            )
        return MigrationCompleted(
            occurred_at=at,
            series=series.number,
            attempt=series.attempt.number,
            model=series.model,
            ecos_certificate=series.replaced_by.ecos_certificate,
            originator_counter=series.replaced_by.originator_counter,
        )

    # --- commands: the steps of 6.1(c) ------------------------------------------------------

    def record_instruction(self, *, at: datetime, response: ProviderResponse) -> TcosInstructed:
        """6.1(c)(i): the TCoS Service Provider was instructed; ``response`` is its reply."""
        at, series = self._step(Step.INSTRUCTION, at)
        return TcosInstructed(
            occurred_at=at,
            series=series.number,
            attempt=series.attempt.number,
            response=response,
            failure=classify_tcos_step(Step.INSTRUCTION, response),
        )

    def record_review(self, *, at: datetime, response: ProviderResponse) -> TcosReviewed:
        """6.1(c)(ii): the TCoS Service Provider's review, confirming that migration can
        commence or refusing with a reason."""
        at, series = self._step(Step.REVIEW, at)
        return TcosReviewed(
            occurred_at=at,
            series=series.number,
            attempt=series.attempt.number,
            response=response,
            failure=classify_tcos_step(Step.REVIEW, response),
        )

    def record_replacement_sent(
        self,
        *,
        at: datetime,
        originator_counter: int,
        ecos_certificate: CertificateId,
        signed_pre_command: bytes,
    ) -> ReplacementCommandSent:
        """6.1(c)(iii), first half: the transCoSByTransCoS Signed Pre-Command was sent. Only
        its SHA-256 is recorded. The originator counter must exceed every counter this
        Migration has sent (GBCS anti-replay)."""
        at, series = self._step(Step.REPLACEMENT, at)
        if series.attempt.command is not None:
            raise _violation(
                f"a replacement command was already sent in attempt {series.attempt.number}: "
                "record its outcome first",
                "REPLACEMENT_IN_FLIGHT",
                clauses.ETMAD_6_1_C_III,
            )
        if not signed_pre_command:
            raise _violation("the Signed Pre-Command is empty", "INVALID_COMMAND")
        if not 0 <= originator_counter < COUNTER_LIMIT:
            raise _violation(
                f"originator counter {originator_counter} is outside 0..2^63-1 (GBCS)",
                "INVALID_COUNTER",
            )
        used = self.counters_sent
        if used and originator_counter <= max(used):
            raise _violation(
                f"originator counter {originator_counter} does not exceed {max(used)}, already "
                f"sent to Device {self.device_id}: the Device would refuse it as a replay",
                "COUNTER_NOT_INCREASING",
            )
        return ReplacementCommandSent(
            occurred_at=at,
            series=series.number,
            attempt=series.attempt.number,
            originator_counter=originator_counter,
            ecos_certificate=ecos_certificate,
            command_sha256=hashlib.sha256(signed_pre_command).hexdigest(),
        )

    def record_replacement_outcome(
        self, *, at: datetime, outcome: DeviceOutcome
    ) -> ReplacementOutcomeRecorded:
        """6.1(c)(iii), second half: the Device's per-cell outcome, or no response."""
        at, series = self._step(Step.REPLACEMENT, at)
        if series.attempt.command is None:
            raise _violation(
                f"no replacement command was sent in attempt {series.attempt.number}",
                "RESPONSE_BEFORE_COMMAND",
                clauses.ETMAD_6_1_C_III,
            )
        return ReplacementOutcomeRecorded(
            occurred_at=at,
            series=series.number,
            attempt=series.attempt.number,
            outcome=outcome,
            failure=classify_replacement(outcome),
        )

    def record_confirmation(
        self, *, at: datetime, party: CosParty, response: ProviderResponse
    ) -> ConfirmationRecorded:
        """6.1(c)(iv): the ECoS or the TCoS Service Provider's confirmation (or its absence)
        that the migration completed. Each confirms once per series."""
        at, series = self._step(Step.CONFIRMATION, at)
        if party in series.confirmed:
            raise _violation(
                f"the {party} Service Provider already confirmed series {series.number}",
                "ALREADY_CONFIRMED",
                clauses.ETMAD_6_1_C_IV,
            )
        return ConfirmationRecorded(
            occurred_at=at,
            series=series.number,
            attempt=series.attempt.number,
            party=party,
            response=response,
            failure=classify_confirmation(party, response),
        )

    # --- commands: remediation (1.7, 1.9-1.11) ----------------------------------------------

    def assign_remediation(
        self,
        *,
        at: datetime,
        basis: RemediationBasis,
        owner: RemediationOwner,
        root_cause: str,
        responsible_supplier: str | None = None,
    ) -> RemediationAssigned:
        """Record who remediates the latest series, which completed unsuccessfully, as
        root-cause analysis found (``domain.remediation.assign_remediation`` has the rules)."""
        at = utc(at)
        latest = self._latest
        if latest.ended_at is None or latest.succeeded_at is not None:
            code = "ALREADY_MIGRATED" if latest.succeeded_at else "SERIES_IN_PROGRESS"
            raise _violation(
                f"remediation follows a series that completed unsuccessfully; series "
                f"{latest.number} of Device {self.device_id} is {latest.status}",
                code,
                clauses.ETMAD_1_7,
            )
        if at < latest.ended_at:
            raise _violation(
                f"remediation at {at.isoformat()} precedes the end of series {latest.number} "
                f"at {latest.ended_at.isoformat()}",
                "OUT_OF_ORDER",
            )
        return assign_remediation(
            at=at,
            number=len(self.remediations) + 1,
            series=latest.number,
            device_type=self.device_type,
            basis=basis,
            owner=owner,
            root_cause=root_cause,
            responsible_supplier=responsible_supplier,
        )

    def record_remediation_action(
        self,
        *,
        at: datetime,
        remediation: int,
        action: RemediationActionKind,
        detail: str,
        outcome: ActionOutcome,
        to_model: DeviceModelKey | None = None,
    ) -> RemediationActionRecorded:
        """An action of a remediation and its outcome; a firmware upgrade names the capable
        firmware (``domain.remediation.record_action`` has the rules)."""
        found = next((r for r in self.remediations if r.number == remediation), None)
        if found is None:
            raise _violation(
                f"Device {self.device_id} has no remediation {remediation}",
                "NO_SUCH_REMEDIATION",
                clauses.ETMAD_1_7,
            )
        return record_action(
            found,
            at=at,
            device_type=self.device_type,
            model=next(s.model for s in self.series if s.number == found.series),
            action=action,
            detail=detail,
            outcome=outcome,
            to_model=to_model,
        )

    # --- checks -----------------------------------------------------------------------------

    def _in_order(self, at: datetime) -> datetime:
        at = utc(at)
        last = self._latest.last_at
        if last is not None and at < last:
            raise _violation(
                f"{at.isoformat()} precedes the last step of Device {self.device_id}'s "
                f"migration at {last.isoformat()}",
                "OUT_OF_ORDER",
            )
        return at

    def _in_progress(self, doing: str) -> Series:
        latest = self._latest
        if latest.succeeded_at is not None:
            raise _violation(
                f"cannot {doing}: Device {self.device_id} was migrated on "
                f"{latest.succeeded_at.isoformat()}",
                "ALREADY_MIGRATED",
                clauses.ETMAD_2_TCOS_DEVICE,
            )
        if latest.ended_at is not None:
            raise _violation(
                f"cannot {doing}: series {latest.number} of Device {self.device_id} completed "
                f"unsuccessfully on {latest.ended_at.isoformat()} ({latest.ending}); start a "
                "new series",
                "SERIES_ENDED",
                clauses.ETMAD_7_1,
            )
        return latest

    def _step(self, step: Step, at: datetime) -> tuple[datetime, Series]:
        """The series in progress, if ``step`` is the one its current attempt awaits."""
        at = self._in_order(at)
        series = self._in_progress(f"record 6.1(c) step {step}")
        status = series.status
        if status is MigrationStatus.RETRY_SCHEDULED:
            assert series.retry_at is not None  # noqa: S101 — that is the status
            raise _violation(
                f"attempt {series.attempt.number} failed and a retry is scheduled for "
                f"{series.retry_at.isoformat()}: start it first",
                "RETRY_NOT_STARTED",
                clauses.ETMAD_7_1,
            )
        if status is MigrationStatus.AWAITING_RETRY_DECISION:
            raise _violation(
                f"attempt {series.attempt.number} of series {series.number} failed: decide "
                "the retry under the retry policy first",
                "ATTEMPT_FAILED",
                clauses.ETMAD_7_1,
            )
        expected = series.next_step
        if expected is step:
            return at, series
        if expected is None or step.order < expected.order:
            if series.replaced_by is not None and step.order <= Step.REPLACEMENT.order:
                raise _violation(
                    f"Device {self.device_id}'s TCoS credentials were already replaced in "
                    f"series {series.number}: no {step} step follows",
                    "CREDENTIALS_ALREADY_REPLACED",
                    clauses.ETMAD_6_1_C_III,
                )
            raise _violation(
                f"6.1(c) step {step} was already recorded in attempt {series.attempt.number}",
                "STEP_ALREADY_RECORDED",
                step.clause,
            )
        raise _violation(
            f"6.1(c) step {step} cannot come before step {expected} has succeeded in "
            f"attempt {series.attempt.number} of series {series.number}",
            _LATE_STEP_CODES[step],
            step.clause,
        )

    # --- derived facts ----------------------------------------------------------------------

    @property
    def current_series(self) -> Series:
        """The latest series, whatever its status."""
        return self._latest

    @property
    def status(self) -> MigrationStatus:
        return self._latest.status

    @property
    def in_progress(self) -> bool:
        return not self._latest.ended

    @property
    def succeeded(self) -> bool:
        return self._latest.succeeded_at is not None

    @property
    def current_attempt(self) -> Attempt | None:
        """The attempt of the series in progress (None once the series has ended)."""
        return None if self._latest.ended else self._latest.attempt

    @property
    def current_step(self) -> Step | None:
        """The 6.1(c) step awaited now (None unless an attempt is awaiting a step)."""
        latest = self._latest
        return latest.next_step if latest.status is MigrationStatus.IN_ATTEMPT else None

    @property
    def awaits_reconciliation(self) -> bool:
        """A retry is scheduled after a replacement whose outcome is unknown (an interrupted
        send that no Service Provider could confirm): before the retry starts, the Service
        Providers are asked again (``reconcile_before_retry``)."""
        if self.status is not MigrationStatus.RETRY_SCHEDULED:
            return False
        series = self._latest
        failure = series.attempt.failure
        return (
            series.replaced_by is None
            and series.attempt.command is not None
            and failure is not None
            and failure.failure.sub_code == INTERRUPTED_SUB_CODE
        )

    def reconcile_before_retry(self, *, at: datetime, detail: str) -> ReplacementReconciled:
        """A Service Provider has now confirmed the ECoS credentials on the Device: the
        interrupted command of the last attempt took effect (decisions 47)."""
        at = self._in_order(at)
        if not self.awaits_reconciliation:
            raise _violation(
                f"Device {self.device_id}: no interrupted replacement awaits reconciliation",
                "NOTHING_TO_RECONCILE",
                clauses.ETMAD_6_1_C,
            )
        series = self._latest
        command = series.attempt.command
        assert command is not None  # noqa: S101 — awaits_reconciliation
        return ReplacementReconciled(
            occurred_at=at,
            series=series.number,
            attempt=series.attempt.number,
            originator_counter=command.originator_counter,
            detail=detail,
        )

    @property
    def replacement_in_flight(self) -> bool:
        """The replacement command of the current attempt was sent; its outcome is awaited."""
        attempt = self.current_attempt
        return (
            self.current_step is Step.REPLACEMENT
            and attempt is not None
            and attempt.command is not None
        )

    @property
    def pending_confirmations(self) -> frozenset[CosParty]:
        """Whose Service Provider has yet to confirm, while 6.1(c)(iv) is awaited."""
        if self.current_step is not Step.CONFIRMATION:
            return frozenset()
        return SERVICE_PROVIDERS - self._latest.confirmed

    @property
    def next_retry_at(self) -> datetime | None:
        return self._latest.retry_at

    @property
    def attempts(self) -> int:
        """Attempts made in the latest series."""
        return len(self._latest.attempts)

    @property
    def total_attempts(self) -> int:
        return sum(len(s.attempts) for s in self.series)

    @property
    def failures(self) -> tuple[RecordedFailure, ...]:
        """Every Failed Migration of the Device, oldest first."""
        return tuple(f for s in self.series for f in s.failures)

    @property
    def failed_migration(self) -> FailedMigration | None:
        """The H17.5 items (ETMAD 3.3): failure code, sub-code and date of last failure."""
        if not self.failures:
            return None
        last = self.failures[-1]
        return FailedMigration(
            failure_code=last.failure.code,
            failure_sub_code=last.failure.sub_code,
            date_of_last_failure=last.at,
            step=last.failure.step,
            cause=last.failure.cause,
            detail=last.failure.detail,
            series=last.series,
            attempt=last.attempt,
        )

    @property
    def counters_sent(self) -> tuple[int, ...]:
        return tuple(
            a.command.originator_counter
            for s in self.series
            for a in s.attempts
            if a.command is not None
        )

    @property
    def ecos_certificate(self) -> CertificateId | None:
        """The ECoS certificate the Device accepted, once the migration succeeded."""
        latest = self._latest
        if latest.succeeded_at is None or latest.replaced_by is None:
            return None
        return latest.replaced_by.ecos_certificate


def _check_series_inputs(policy: RetryPolicy, at: datetime, selection_ref: str | None) -> None:
    if policy.effective_from > at:
        raise _violation(
            f"retry policy {policy.version} comes into effect "
            f"{policy.effective_from.isoformat()}, after {at.isoformat()}",
            "POLICY_NOT_IN_FORCE",
            clauses.ETMAD_7_1,
        )
    if selection_ref is not None and not selection_ref.strip():
        raise _violation(
            "a selection reference, where given, is not blank", "INVALID_SELECTION_REF"
        )
