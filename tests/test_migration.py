"""The Migration aggregate (DOMAIN.md 3.3): one Device's ECoS Migration, every series and attempt.

Pure domain stories: each command decides an event, which is folded into the next state, as the
application will do inside a unit of work. One test folds a whole story through the event mapper.
"""

from __future__ import annotations

import ast
import hashlib
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple, TypeVar

import attrs
import pytest
from eventsourcing.persistence import JSONTranscoder
from hypothesis import given, settings
from hypothesis import strategies as st

from application.mapper import Envelope, EventMapper
from domain import clauses
from domain.device import device_aggregate_id
from domain.errors import RuleViolation
from domain.events import DomainEvent
from domain.failures import (
    CellStatus,
    DeviceOutcome,
    FailureCause,
    FailureCode,
    GbcsStatus,
    ProviderResponse,
    ReplyKind,
    Step,
    taxonomy,
)
from domain.identifiers import EUI64, CertificateId, CosParty, DeviceModelKey, DeviceType
from domain.migration import (
    AttemptStarted,
    ConfirmationRecorded,
    Migration,
    MigrationCompleted,
    MigrationStatus,
    ReplacementCommandSent,
    ReplacementOutcomeRecorded,
    RetryScheduled,
    SeriesCompletedUnsuccessfully,
    SeriesEnding,
    SeriesStarted,
    TcosInstructed,
    TcosReviewed,
    migration_aggregate_id,
)
from domain.remediation import (
    ActionOutcome,
    RemediationActionKind,
    RemediationActionRecorded,
    RemediationBasis,
    RemediationOwner,
)
from domain.retry_policy import DEFAULT_RETRY_POLICY, RetryPolicy, RetryReason, policy_in_force
from domain.smki import CellUsage, KeyUsage, RemotePartyRole, TrustAnchorCell

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)
DEVICE = EUI64.parse("00-DB-12-34-56-78-90-A0")
MODEL = DeviceModelKey("ACME", "E100", "2.0", "0100")
CAPABLE = DeviceModelKey("ACME", "E100", "2.0", "0103")
ECOS_CERT = CertificateId(0x5EC05, "CN=Test ECoS OCA")
COMMAND = bytes.fromhex("DF0901") + b"transCoSByTransCoS signed pre-command"
TCOS_CELL = TrustAnchorCell(
    RemotePartyRole.TRANSITIONAL_COS, KeyUsage.DIGITAL_SIGNATURE, CellUsage.MANAGEMENT
)
SUPPLIER_CELL = TrustAnchorCell(
    RemotePartyRole.SUPPLIER, KeyUsage.DIGITAL_SIGNATURE, CellUsage.MANAGEMENT
)

OK = ProviderResponse(kind=ReplyKind.ANSWERED, confirmed=True)
NO_ANSWER = ProviderResponse(kind=ReplyKind.NO_RESPONSE)
DOWN = ProviderResponse(kind=ReplyKind.UNAVAILABLE)
REFUSAL = ProviderResponse(
    kind=ReplyKind.ANSWERED, confirmed=False, reason="change of supplier pending"
)


def device_says(*statuses: GbcsStatus, cell: TrustAnchorCell = TCOS_CELL) -> DeviceOutcome:
    return DeviceOutcome(
        kind=ReplyKind.ANSWERED, cells=tuple(CellStatus(cell, s) for s in statuses)
    )


REPLACED = device_says(GbcsStatus.SUCCESS)
SILENT_DEVICE = DeviceOutcome(kind=ReplyKind.NO_RESPONSE, detail="no response within 60s")


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


ONE_MINUTE = minutes(1)
E = TypeVar("E", bound=DomainEvent)
StepEvent = TcosInstructed | TcosReviewed | ReplacementOutcomeRecorded | ConfirmationRecorded


# --- a story: decide, then fold ---------------------------------------------------------------


class Story:
    """A Migration and the events recorded so far; ``then`` decides an event and folds it."""

    def __init__(
        self,
        *,
        at: datetime = T0,
        policy: RetryPolicy = DEFAULT_RETRY_POLICY,
        device_type: DeviceType = DeviceType.ESME,
        selection_ref: str | None = "selection:2024-03-04",
    ) -> None:
        first = Migration.start(
            device_id=DEVICE,
            device_type=device_type,
            model=MODEL,
            policy=policy,
            at=at,
            selection_ref=selection_ref,
        )
        self.events: list[DomainEvent] = [first]
        self.m = Migration.create(first, 1)
        self.now = at
        self.counter = 100

    def then(self, decide: Callable[[Migration], E]) -> E:
        event = decide(self.m)
        self.events.append(event)
        self.m = self.m.apply(event, len(self.events))
        return event

    def tick(self, by: timedelta = ONE_MINUTE) -> datetime:
        self.now += by
        return self.now

    # the steps of 6.1(c), each succeeding unless told otherwise

    def instruct(self, response: ProviderResponse = OK) -> TcosInstructed:
        at = self.tick()
        return self.then(lambda m: m.record_instruction(at=at, response=response))

    def review(self, response: ProviderResponse = OK) -> TcosReviewed:
        at = self.tick()
        return self.then(lambda m: m.record_review(at=at, response=response))

    def send(
        self, *, counter: int | None = None, command: bytes = COMMAND
    ) -> ReplacementCommandSent:
        at = self.tick()
        if counter is None:
            self.counter += 1
            counter = self.counter
        return self.then(
            lambda m: m.record_replacement_sent(
                at=at,
                originator_counter=counter,
                ecos_certificate=ECOS_CERT,
                signed_pre_command=command,
            )
        )

    def device(self, outcome: DeviceOutcome = REPLACED) -> ReplacementOutcomeRecorded:
        at = self.tick()
        return self.then(lambda m: m.record_replacement_outcome(at=at, outcome=outcome))

    def confirm(self, party: CosParty, response: ProviderResponse = OK) -> ConfirmationRecorded:
        at = self.tick()
        return self.then(lambda m: m.record_confirmation(at=at, party=party, response=response))

    def decide(self) -> RetryScheduled | SeriesCompletedUnsuccessfully:
        at = self.tick(timedelta(0))
        return self.then(lambda m: m.decide_after_failure(at=at))

    def retry(self) -> AttemptStarted:
        due = self.m.next_retry_at
        assert due is not None
        self.now = max(self.now, due)
        at = self.now
        return self.then(lambda m: m.start_retry(at=at))

    def start_retry(self, after: timedelta) -> AttemptStarted:
        at = self.tick(after)
        return self.then(lambda m: m.start_retry(at=at))

    def new_series(self, model: DeviceModelKey = MODEL) -> SeriesStarted:
        at = self.tick()
        return self.then(lambda m: m.start_series(model=model, policy=DEFAULT_RETRY_POLICY, at=at))

    def end(self, reason: str = "stopped") -> SeriesCompletedUnsuccessfully:
        at = self.tick()
        return self.then(lambda m: m.end_series(at=at, reason=reason))

    def complete(self) -> MigrationCompleted:
        at = self.tick()
        return self.then(lambda m: m.complete(at=at))

    def through(self, step: Step) -> None:
        """Succeed every step of the current attempt before ``step``."""
        if step.order > Step.INSTRUCTION.order:
            self.instruct()
        if step.order > Step.REVIEW.order:
            self.review()
        if step.order > Step.REPLACEMENT.order:
            self.send()
            self.device()

    def happy(self) -> None:
        self.through(Step.CONFIRMATION)
        self.confirm(CosParty.ECOS)
        self.confirm(CosParty.TCOS)
        self.complete()


def refused(code: str, action: Callable[[], object]) -> RuleViolation:
    with pytest.raises(RuleViolation) as caught:
        action()
    assert caught.value.code == code, caught.value.message
    return caught.value


# --- identity and the happy path --------------------------------------------------------------


def test_a_migration_is_one_per_device_with_an_id_like_the_devices():
    story = Story()
    assert story.m.aggregate_id == migration_aggregate_id(DEVICE)
    assert story.m.aggregate_id == "migration:00-DB-12-34-56-78-90-A0"
    assert story.m.aggregate_id.removeprefix("migration:") == device_aggregate_id(
        DEVICE
    ).removeprefix("device:")


def test_all_four_steps_succeed_and_the_migration_completes_with_the_ecos_certificate():
    story = Story()
    m = story.m
    assert (m.status, m.current_step, m.attempts) == (
        MigrationStatus.IN_ATTEMPT,
        Step.INSTRUCTION,
        1,
    )
    assert m.in_progress
    assert not m.succeeded
    steps = []
    story.instruct()
    steps.append(story.m.current_step)
    story.review()
    steps.append(story.m.current_step)
    assert not story.m.replacement_in_flight
    sent = story.send()
    steps.append(story.m.current_step)
    assert story.m.replacement_in_flight
    story.device()
    steps.append(story.m.current_step)
    assert story.m.pending_confirmations == {CosParty.ECOS, CosParty.TCOS}
    story.confirm(CosParty.ECOS)
    steps.append(story.m.current_step)
    assert story.m.pending_confirmations == {CosParty.TCOS}
    story.confirm(CosParty.TCOS)
    assert story.m.pending_confirmations == frozenset()
    assert steps == [
        Step.REVIEW,
        Step.REPLACEMENT,
        Step.REPLACEMENT,
        Step.CONFIRMATION,
        Step.CONFIRMATION,
    ]
    assert story.m.status is MigrationStatus.READY_TO_COMPLETE
    assert story.m.current_step is None
    done = story.complete()
    assert isinstance(done, MigrationCompleted)
    assert (done.ecos_certificate, done.model, done.series, done.attempt) == (
        ECOS_CERT,
        MODEL,
        1,
        1,
    )
    assert done.originator_counter == story.counter
    assert done.clause == clauses.ETMAD_6_1_C
    m = story.m
    assert m.succeeded
    assert not m.in_progress
    assert m.status is MigrationStatus.SUCCEEDED
    assert m.ecos_certificate == ECOS_CERT
    assert m.failed_migration is None
    assert m.current_attempt is None
    assert m.next_retry_at is None
    # Only the digest of the Signed Pre-Command is recorded, never its bytes.
    assert sent.command_sha256 == hashlib.sha256(COMMAND).hexdigest()
    assert COMMAND.hex() not in repr(story.events)


def test_each_step_event_names_its_clause_and_the_series_its_frozen_policy():
    story = Story()
    story.happy()
    named = {type(e).__name__: getattr(e, "clause", None) for e in story.events}
    assert named == {
        "SeriesStarted": "ETMAD 6.1(c)",
        "TcosInstructed": "ETMAD 6.1(c)(i)",
        "TcosReviewed": "ETMAD 6.1(c)(ii)",
        "ReplacementCommandSent": "ETMAD 6.1(c)(iii)",
        "ReplacementOutcomeRecorded": "ETMAD 6.1(c)(iii)",
        "ConfirmationRecorded": "ETMAD 6.1(c)(iv)",
        "MigrationCompleted": "ETMAD 6.1(c)",
    }
    started = story.events[0]
    assert isinstance(started, SeriesStarted)
    assert started.policy == DEFAULT_RETRY_POLICY
    assert started.model == MODEL
    assert started.selection_ref == "selection:2024-03-04"


# --- every step's failures --------------------------------------------------------------------


class Case(NamedTuple):
    step: Step
    party: CosParty | None  # whose confirmation, at step (iv)
    outcome: ProviderResponse | DeviceOutcome
    code: str
    cause: str
    sub_code: str
    retried: bool  # by the default policy


FAILURES = [
    Case(
        Step.INSTRUCTION,
        None,
        NO_ANSWER,
        "TCOS_INSTRUCTION_NO_RESPONSE",
        "no_response",
        "no_response",
        retried=True,
    ),
    Case(
        Step.INSTRUCTION,
        None,
        DOWN,
        "TCOS_INSTRUCTION_UNAVAILABLE",
        "unavailable",
        "unavailable",
        retried=True,
    ),
    Case(
        Step.INSTRUCTION,
        None,
        REFUSAL,
        "TCOS_INSTRUCTION_REFUSED",
        "refused",
        "refused",
        retried=False,
    ),
    Case(
        Step.REVIEW,
        None,
        NO_ANSWER,
        "TCOS_REVIEW_NO_RESPONSE",
        "no_response",
        "no_response",
        retried=True,
    ),
    Case(
        Step.REVIEW,
        None,
        DOWN,
        "TCOS_REVIEW_UNAVAILABLE",
        "unavailable",
        "unavailable",
        retried=True,
    ),
    Case(Step.REVIEW, None, REFUSAL, "TCOS_REVIEW_REFUSED", "refused", "refused", retried=False),
    Case(
        Step.REPLACEMENT,
        None,
        SILENT_DEVICE,
        "REPLACEMENT_NO_RESPONSE",
        "no_response",
        "no_response",
        retried=True,
    ),
    Case(
        Step.REPLACEMENT,
        None,
        DeviceOutcome(kind=ReplyKind.UNAVAILABLE),
        "REPLACEMENT_UNAVAILABLE",
        "unavailable",
        "unavailable",
        retried=True,
    ),
    Case(
        Step.REPLACEMENT,
        None,
        device_says(GbcsStatus.BAD_CERTIFICATE),
        "REPLACEMENT_REJECTED",
        "badCertificate",
        "badCertificate(5)",
        retried=False,
    ),
    Case(
        Step.REPLACEMENT,
        None,
        device_says(GbcsStatus.NO_TRUST_ANCHOR),
        "REPLACEMENT_REJECTED",
        "noTrustAnchor",
        "noTrustAnchor(10)",
        retried=False,
    ),
    Case(
        Step.REPLACEMENT,
        None,
        device_says(GbcsStatus.INSUFFICIENT_MEMORY),
        "REPLACEMENT_REJECTED",
        "insufficientMemory",
        "insufficientMemory(17)",
        retried=False,
    ),
    Case(
        Step.REPLACEMENT,
        None,
        device_says(GbcsStatus.TRUST_ANCHOR_NOT_FOUND),
        "REPLACEMENT_REJECTED",
        "trustAnchorNotFound",
        "trustAnchorNotFound(25)",
        retried=False,
    ),
    Case(
        Step.REPLACEMENT,
        None,
        device_says(GbcsStatus.RESOURCES_BUSY),
        "REPLACEMENT_REJECTED",
        "resourcesBusy",
        "resourcesBusy(30)",
        retried=True,
    ),
    Case(
        Step.REPLACEMENT,
        None,
        device_says(GbcsStatus.OTHER),
        "REPLACEMENT_REJECTED",
        "other",
        "other(127)",
        retried=True,
    ),
    Case(
        Step.REPLACEMENT,
        None,
        DeviceOutcome(kind=ReplyKind.ANSWERED, detail="undecodable response"),
        "REPLACEMENT_INVALID_RESPONSE",
        "invalid_response",
        "invalid_response",
        retried=True,
    ),
    Case(
        Step.REPLACEMENT,
        None,
        device_says(GbcsStatus.SUCCESS, cell=SUPPLIER_CELL),
        "REPLACEMENT_INVALID_RESPONSE",
        "invalid_response",
        "invalid_response",
        retried=True,
    ),
    Case(
        Step.CONFIRMATION,
        CosParty.ECOS,
        NO_ANSWER,
        "ECOS_CONFIRMATION_MISSING",
        "no_response",
        "no_response",
        retried=True,
    ),
    Case(
        Step.CONFIRMATION,
        CosParty.ECOS,
        ProviderResponse(kind=ReplyKind.ANSWERED, confirmed=False, reason="not yet seen"),
        "ECOS_CONFIRMATION_MISSING",
        "not_confirmed",
        "not_confirmed",
        retried=True,
    ),
    Case(
        Step.CONFIRMATION,
        CosParty.ECOS,
        DOWN,
        "ECOS_CONFIRMATION_UNAVAILABLE",
        "unavailable",
        "unavailable",
        retried=True,
    ),
    Case(
        Step.CONFIRMATION,
        CosParty.TCOS,
        NO_ANSWER,
        "TCOS_CONFIRMATION_MISSING",
        "no_response",
        "no_response",
        retried=True,
    ),
    Case(
        Step.CONFIRMATION,
        CosParty.TCOS,
        ProviderResponse(kind=ReplyKind.ANSWERED, confirmed=False),
        "TCOS_CONFIRMATION_MISSING",
        "not_confirmed",
        "not_confirmed",
        retried=True,
    ),
    Case(
        Step.CONFIRMATION,
        CosParty.TCOS,
        DOWN,
        "TCOS_CONFIRMATION_UNAVAILABLE",
        "unavailable",
        "unavailable",
        retried=True,
    ),
]


def fail(story: Story, step: Step, party: CosParty | None, outcome: object) -> StepEvent:
    """Run the attempt up to ``step`` and record ``outcome`` there."""
    story.through(step)
    if step is Step.INSTRUCTION:
        assert isinstance(outcome, ProviderResponse)
        return story.instruct(outcome)
    if step is Step.REVIEW:
        assert isinstance(outcome, ProviderResponse)
        return story.review(outcome)
    if step is Step.REPLACEMENT:
        assert isinstance(outcome, DeviceOutcome)
        story.send()
        return story.device(outcome)
    assert isinstance(outcome, ProviderResponse)
    assert party is not None
    return story.confirm(party, outcome)


@pytest.mark.parametrize("case", FAILURES, ids=[f"{c.code}-{c.sub_code}" for c in FAILURES])
def test_every_failed_step_is_a_failed_migration_with_its_code_and_sub_code(case: Case):
    step, code, cause, sub_code = case.step, case.code, case.cause, case.sub_code
    story = Story()
    event = fail(story, step, case.party, case.outcome)
    failure = event.failure
    assert failure is not None
    assert (failure.step, failure.code, failure.cause, failure.sub_code) == (
        step,
        code,
        cause,
        sub_code,
    )
    assert failure.clause == clauses.ETMAD_2_FAILED_MIGRATION
    assert event.clause == step.clause
    m = story.m
    assert m.status is MigrationStatus.AWAITING_RETRY_DECISION
    assert m.current_step is None
    h17 = m.failed_migration
    assert h17 is not None
    assert (h17.failure_code, h17.failure_sub_code) == (code, sub_code)
    assert h17.date_of_last_failure == story.now == event.occurred_at
    assert (h17.step, h17.series, h17.attempt) == (step, 1, 1)
    decision = story.decide()
    assert isinstance(decision, RetryScheduled if case.retried else SeriesCompletedUnsuccessfully)
    assert story.m.in_progress is case.retried


def test_a_refusal_keeps_its_reason_and_a_rejection_every_cell():
    story = Story()
    story.instruct()
    refusal = story.review(REFUSAL)
    assert refusal.failure is not None
    assert refusal.failure.detail == "change of supplier pending"
    assert refusal.response == REFUSAL

    story = Story()
    story.through(Step.REPLACEMENT)
    story.send()
    busy_and_bad = DeviceOutcome(
        kind=ReplyKind.ANSWERED,
        cells=(
            CellStatus(SUPPLIER_CELL, GbcsStatus.RESOURCES_BUSY),
            CellStatus(TCOS_CELL, GbcsStatus.BAD_CERTIFICATE),
        ),
    )
    failure = story.device(busy_and_bad).failure
    assert failure is not None
    # The rejection names the failure, whatever order the cells came in.
    assert (failure.cause, failure.sub_code) == (FailureCause.BAD_CERTIFICATE, "badCertificate(5)")
    assert "resourcesBusy(30)" in failure.detail
    assert "badCertificate(5)" in failure.detail


def test_the_h17_5_items_follow_the_latest_failure_and_stay_after_success():
    story = Story()
    story.instruct(DOWN)
    first = story.now
    story.decide()
    story.retry()
    story.through(Step.REPLACEMENT)
    story.send()
    story.device(device_says(GbcsStatus.RESOURCES_BUSY))
    second = story.now
    h17 = story.m.failed_migration
    assert h17 is not None
    assert (h17.failure_code, h17.failure_sub_code, h17.date_of_last_failure) == (
        FailureCode.REPLACEMENT_REJECTED,
        "resourcesBusy(30)",
        second,
    )
    assert h17.attempt == 2
    assert [f.at for f in story.m.failures] == [first, second]
    story.decide()
    story.retry()
    story.happy()
    assert story.m.succeeded
    after = story.m.failed_migration
    assert after == h17


# --- order within an attempt ------------------------------------------------------------------


def test_no_review_before_the_instruction():
    story = Story()
    error = refused("REVIEW_BEFORE_INSTRUCTION", story.review)
    assert error.clause == clauses.ETMAD_6_1_C_II


def test_no_replacement_before_a_confirmed_review():
    story = Story()
    story.instruct()
    error = refused("REPLACEMENT_BEFORE_CONFIRMED_REVIEW", story.send)
    assert error.clause == clauses.ETMAD_6_1_C_III
    refused("REPLACEMENT_BEFORE_CONFIRMED_REVIEW", story.device)
    story.review(REFUSAL)
    refused("ATTEMPT_FAILED", story.send)


def test_no_confirmation_before_a_successful_replacement():
    story = Story()
    story.through(Step.REPLACEMENT)
    error = refused("CONFIRMATION_BEFORE_REPLACEMENT", lambda: story.confirm(CosParty.ECOS))
    assert error.clause == clauses.ETMAD_6_1_C_IV
    story.send()
    refused("CONFIRMATION_BEFORE_REPLACEMENT", lambda: story.confirm(CosParty.ECOS))
    story.device(device_says(GbcsStatus.BAD_CERTIFICATE))
    refused("ATTEMPT_FAILED", lambda: story.confirm(CosParty.ECOS))


def test_a_device_outcome_needs_its_command_and_a_command_its_outcome():
    story = Story()
    story.through(Step.REPLACEMENT)
    refused("RESPONSE_BEFORE_COMMAND", story.device)
    story.send()
    refused("REPLACEMENT_IN_FLIGHT", story.send)


def test_a_step_is_recorded_once_per_attempt_and_each_provider_confirms_once():
    story = Story()
    story.instruct()
    refused("STEP_ALREADY_RECORDED", story.instruct)
    story.review()
    refused("STEP_ALREADY_RECORDED", story.review)
    story.send()
    story.device()
    refused("CREDENTIALS_ALREADY_REPLACED", story.send)
    story.confirm(CosParty.TCOS)
    refused("ALREADY_CONFIRMED", lambda: story.confirm(CosParty.TCOS))


def test_the_migration_completes_only_when_all_four_steps_succeeded():
    story = Story()
    story.through(Step.CONFIRMATION)
    story.confirm(CosParty.ECOS)
    error = refused("STEPS_INCOMPLETE", story.complete)
    assert error.clause == clauses.ETMAD_6_1_C
    assert "confirmation" in error.message


def test_business_time_does_not_go_back():
    story = Story()
    story.instruct()
    earlier = story.now - minutes(5)
    refused("OUT_OF_ORDER", lambda: story.m.record_review(at=earlier, response=OK))


def test_the_originator_counter_must_increase_and_be_a_64_bit_counter():
    story = Story()
    story.through(Step.REPLACEMENT)
    story.send(counter=500)
    story.device(SILENT_DEVICE)
    story.decide()
    story.retry()
    story.through(Step.REPLACEMENT)
    refused("COUNTER_NOT_INCREASING", lambda: story.send(counter=500))
    refused("INVALID_COUNTER", lambda: story.send(counter=1 << 63))
    refused("INVALID_COMMAND", lambda: story.send(counter=501, command=b""))
    story.send(counter=501)
    assert story.m.counters_sent == (500, 501)


# --- series and retries -----------------------------------------------------------------------


def test_no_new_series_while_one_is_in_progress_nor_after_success():
    story = Story()
    story.instruct(DOWN)
    at = story.tick()
    error = refused(
        "SERIES_IN_PROGRESS",
        lambda: story.m.start_series(model=MODEL, policy=DEFAULT_RETRY_POLICY, at=at),
    )
    assert error.clause == clauses.ETMAD_7_1
    story.decide()
    story.retry()
    story.happy()
    at = story.tick()
    refused(
        "ALREADY_MIGRATED",
        lambda: story.m.start_series(model=MODEL, policy=DEFAULT_RETRY_POLICY, at=at),
    )
    refused("ALREADY_MIGRATED", story.instruct)


def test_no_attempt_after_the_series_ended():
    story = Story()
    story.instruct()
    story.review(REFUSAL)
    ended = story.decide()
    assert isinstance(ended, SeriesCompletedUnsuccessfully)
    assert ended.ending is SeriesEnding.NON_RETRYABLE_CAUSE
    assert ended.decision is not None
    assert ended.decision.reason is RetryReason.NON_RETRYABLE_CAUSE
    assert story.m.status is MigrationStatus.COMPLETED_UNSUCCESSFULLY
    assert not story.m.in_progress
    assert story.m.current_attempt is None
    error = refused("SERIES_ENDED", story.instruct)
    assert error.clause == clauses.ETMAD_7_1
    at = story.tick()
    refused("SERIES_ENDED", lambda: story.m.start_retry(at=at))
    refused("SERIES_ENDED", lambda: story.m.decide_after_failure(at=at))


def test_a_retry_only_when_the_policy_says_so_and_not_before_it_is_due():
    story = Story()
    at = story.tick()
    refused("NO_FAILED_ATTEMPT", lambda: story.m.decide_after_failure(at=at))
    refused("NO_RETRY_SCHEDULED", lambda: story.m.start_retry(at=at))
    story.instruct(NO_ANSWER)
    failed_at = story.now
    refused("ATTEMPT_FAILED", story.instruct)
    refused("NO_RETRY_SCHEDULED", lambda: story.m.start_retry(at=story.tick()))
    scheduled = story.decide()
    assert isinstance(scheduled, RetryScheduled)
    assert scheduled.decision.retry_at == failed_at + timedelta(hours=1)  # from the failure
    assert scheduled.resumes_at is Step.INSTRUCTION
    assert story.m.status is MigrationStatus.RETRY_SCHEDULED
    assert story.m.next_retry_at == failed_at + timedelta(hours=1)
    refused("RETRY_NOT_STARTED", story.instruct)
    refused("NO_FAILED_ATTEMPT", lambda: story.m.decide_after_failure(at=story.tick()))
    early = failed_at + timedelta(minutes=59)
    error = refused("RETRY_NOT_DUE", lambda: story.m.start_retry(at=early))
    assert error.clause == clauses.ETMAD_7_1
    started = story.retry()
    assert started.attempt == 2
    assert story.m.attempts == 2
    assert story.m.current_step is Step.INSTRUCTION
    assert story.m.next_retry_at is None


def test_the_seven_day_window_ends_the_series_of_a_device_that_never_answers():
    story = Story()
    first_failure = None
    while True:
        fail(story, Step.REPLACEMENT, None, SILENT_DEVICE)
        first_failure = first_failure or story.now
        decision = story.decide()
        if isinstance(decision, SeriesCompletedUnsuccessfully):
            break
        assert isinstance(decision, RetryScheduled)
        assert decision.decision.retry_at is not None
        assert decision.decision.retry_at <= first_failure + timedelta(days=7)
        story.retry()
    assert decision.ending is SeriesEnding.RETRY_WINDOW_CLOSED
    assert story.m.attempts == 6
    series = story.m.current_series
    assert series.ending is SeriesEnding.RETRY_WINDOW_CLOSED
    assert len(series.decisions) == 6
    assert all(d.policy_version == "etmad-default-1" for d in series.decisions)
    starts = [a.started_at for a in series.attempts]
    assert starts[-1] - starts[0] < timedelta(days=7)


def test_the_policy_s_attempt_limit_ends_the_series():
    policy = RetryPolicy(
        version="ehra-2.0",
        effective_from=T0 - timedelta(days=1),
        retryable=frozenset({FailureCause.UNAVAILABLE}),
        backoff=(minutes(10),),
        max_attempts=2,
    )
    story = Story(policy=policy)
    story.instruct(DOWN)
    story.decide()
    story.retry()
    story.instruct(DOWN)
    ended = story.decide()
    assert isinstance(ended, SeriesCompletedUnsuccessfully)
    assert ended.ending is SeriesEnding.MAX_ATTEMPTS_REACHED
    assert ended.attempts == 2


def test_the_frozen_policy_and_its_version_decide_on_replay_after_the_settings_changed():
    v1 = RetryPolicy(
        version="ehra-1.0",
        effective_from=T0 - timedelta(days=10),
        retryable=frozenset({FailureCause.NO_RESPONSE}),
        backoff=(timedelta(hours=2),),
    )
    v2 = RetryPolicy(
        version="ehra-2.0",
        effective_from=T0 + timedelta(hours=1),
        retryable=frozenset(),  # the new version retries nothing
        backoff=(minutes(10),),
    )
    settings_then = [v1]
    story = Story(policy=policy_in_force(settings_then, T0))
    story.instruct(NO_ANSWER)
    failed_at = story.now
    # The settings change after the series started; the events are replayed from the log.
    settings_now = [v1, v2]
    decide_at = T0 + timedelta(hours=1, minutes=30)
    assert policy_in_force(settings_now, decide_at) is v2
    replayed = Migration.create(story.events[0], 1)
    for version, event in enumerate(story.events[1:], start=2):
        replayed = replayed.apply(event, version)
    assert replayed == story.m
    decision = replayed.decide_after_failure(at=decide_at)
    assert isinstance(decision, RetryScheduled)
    assert decision.decision.policy_version == "ehra-1.0"
    assert decision.decision.policy_effective_from == v1.effective_from
    assert decision.decision.retry_at == failed_at + timedelta(hours=2)
    # A series started under the new settings freezes the new version.
    story.then(lambda _: decision)
    story.now = decide_at
    story.then(lambda m: m.end_series(at=decide_at, reason="programme paused"))
    story.then(lambda m: m.start_series(model=MODEL, policy=v2, at=decide_at))
    assert story.m.current_series.policy is v2
    assert story.m.series[0].policy == v1


def test_a_policy_not_yet_in_force_is_refused():
    later = attrs.evolve(DEFAULT_RETRY_POLICY, effective_from=T0 + timedelta(days=1))
    error = refused(
        "POLICY_NOT_IN_FORCE",
        lambda: Migration.start(
            device_id=DEVICE, device_type=DeviceType.ESME, model=MODEL, policy=later, at=T0
        ),
    )
    assert error.clause == clauses.ETMAD_7_1


def test_a_retry_after_the_credentials_were_replaced_resumes_at_the_confirmations():
    story = Story()
    story.through(Step.CONFIRMATION)
    story.confirm(CosParty.TCOS)
    story.confirm(CosParty.ECOS, NO_ANSWER)
    scheduled = story.decide()
    assert isinstance(scheduled, RetryScheduled)
    assert scheduled.resumes_at is Step.CONFIRMATION
    started = story.retry()
    assert started.resumes_at is Step.CONFIRMATION
    assert story.m.current_step is Step.CONFIRMATION
    # The Device now holds the ECoS Party's credentials: no second TCoS-signed replacement.
    error = refused("CREDENTIALS_ALREADY_REPLACED", story.instruct)
    assert error.clause == clauses.ETMAD_6_1_C_III
    refused("CREDENTIALS_ALREADY_REPLACED", story.send)
    refused("ALREADY_CONFIRMED", lambda: story.confirm(CosParty.TCOS))
    story.confirm(CosParty.ECOS)
    done = story.complete()
    assert done.attempt == 2
    assert done.ecos_certificate == ECOS_CERT


def test_a_new_series_after_the_credentials_were_replaced_resumes_at_the_confirmations():
    story = Story()
    story.through(Step.CONFIRMATION)
    replaced_by = story.counter
    story.confirm(CosParty.ECOS)
    story.end("ECoS Service Provider outage: series withdrawn")
    started = story.new_series()
    assert started.resumes_at is Step.CONFIRMATION
    assert story.m.current_step is Step.CONFIRMATION
    assert story.m.pending_confirmations == {CosParty.ECOS, CosParty.TCOS}
    error = refused("CREDENTIALS_ALREADY_REPLACED", story.instruct)
    assert error.clause == clauses.ETMAD_6_1_C_III
    refused("CREDENTIALS_ALREADY_REPLACED", story.send)
    story.confirm(CosParty.TCOS)
    story.confirm(CosParty.ECOS)
    done = story.complete()
    assert (done.series, done.ecos_certificate, done.originator_counter) == (
        2,
        ECOS_CERT,
        replaced_by,
    )


def test_a_new_series_may_start_after_one_completed_unsuccessfully():
    story = Story()
    story.instruct(REFUSAL)
    story.decide()
    assert story.m.status is MigrationStatus.COMPLETED_UNSUCCESSFULLY
    at = story.tick(timedelta(days=3))
    started = story.then(
        lambda m: m.start_series(
            model=CAPABLE, policy=DEFAULT_RETRY_POLICY, at=at, selection_ref="selection:2024-03-07"
        )
    )
    assert started.series == 2
    m = story.m
    assert (m.status, m.current_step, m.attempts, m.total_attempts) == (
        MigrationStatus.IN_ATTEMPT,
        Step.INSTRUCTION,
        1,
        2,
    )
    assert m.current_series.model == CAPABLE
    assert m.failed_migration is not None
    assert m.failed_migration.series == 1
    story.happy()
    assert story.m.succeeded
    assert [s.status for s in story.m.series] == [
        MigrationStatus.COMPLETED_UNSUCCESSFULLY,
        MigrationStatus.SUCCEEDED,
    ]


def test_the_dcc_may_withdraw_a_series_with_a_reason():
    story = Story()
    story.instruct(DOWN)
    story.decide()
    at = story.tick()
    refused("REASON_REQUIRED", lambda: story.m.end_series(at=at, reason=" "))
    ended = story.then(lambda m: m.end_series(at=at, reason="change of supplier pending (1.4(b))"))
    assert isinstance(ended, SeriesCompletedUnsuccessfully)
    assert (ended.ending, ended.decision) == (SeriesEnding.WITHDRAWN, None)
    assert story.m.next_retry_at is None
    assert story.m.status is MigrationStatus.COMPLETED_UNSUCCESSFULLY

    ready = Story()
    ready.through(Step.CONFIRMATION)
    ready.confirm(CosParty.ECOS)
    ready.confirm(CosParty.TCOS)
    refused("ALL_STEPS_SUCCEEDED", lambda: ready.m.end_series(at=ready.tick(), reason="stop"))


# --- remediation (1.7, 1.9-1.11) --------------------------------------------------------------


def failed_series(device_type: DeviceType = DeviceType.ESME) -> Story:
    story = Story(device_type=device_type)
    fail(story, Step.REPLACEMENT, None, device_says(GbcsStatus.INSUFFICIENT_MEMORY))
    story.decide()
    return story


def test_remediation_follows_a_series_that_completed_unsuccessfully():
    story = Story()
    story.instruct(DOWN)
    at = story.tick()
    error = refused(
        "SERIES_IN_PROGRESS",
        lambda: story.m.assign_remediation(
            at=at,
            basis=RemediationBasis.FAILED_MIGRATION,
            owner=RemediationOwner.DCC,
            root_cause="comms",
        ),
    )
    assert error.clause == clauses.ETMAD_1_7


def test_a_failed_migration_s_owner_comes_from_root_cause_analysis():
    story = failed_series()
    at = story.tick(timedelta(days=1))
    dcc = story.then(
        lambda m: m.assign_remediation(
            at=at,
            basis=RemediationBasis.FAILED_MIGRATION,
            owner=RemediationOwner.DCC,
            root_cause="known communication issue on the Comms Hub's WAN",
        )
    )
    assert dcc.clause == clauses.ETMAD_1_7
    supplier = story.then(
        lambda m: m.assign_remediation(
            at=at,
            basis=RemediationBasis.FAILED_MIGRATION,
            owner=RemediationOwner.RESPONSIBLE_SUPPLIER,
            responsible_supplier="SUPPLIER-A",
            root_cause="Device reports insufficientMemory",
        )
    )
    assert supplier.clause == clauses.ETMAD_1_9
    refused(
        "SUPPLIER_REQUIRED",
        lambda: story.m.assign_remediation(
            at=at,
            basis=RemediationBasis.FAILED_MIGRATION,
            owner=RemediationOwner.RESPONSIBLE_SUPPLIER,
            root_cause="x",
        ),
    )
    refused(
        "ROOT_CAUSE_REQUIRED",
        lambda: story.m.assign_remediation(
            at=at,
            basis=RemediationBasis.FAILED_MIGRATION,
            owner=RemediationOwner.DCC,
            root_cause="",
        ),
    )
    story.then(
        lambda m: m.record_remediation_action(
            at=at,
            remediation=1,
            action=RemediationActionKind.COMMUNICATIONS_FIX,
            detail="WAN module reset",
            outcome=ActionOutcome.RESOLVED,
        )
    )
    assert story.m.remediations[0].resolved
    assert not story.m.remediations[1].resolved
    refused(
        "REMEDIATION_RESOLVED",
        lambda: story.m.record_remediation_action(
            at=at,
            remediation=1,
            action=RemediationActionKind.OTHER,
            detail="again",
            outcome=ActionOutcome.RESOLVED,
        ),
    )
    refused(
        "NO_SUCH_REMEDIATION",
        lambda: story.m.record_remediation_action(
            at=at,
            remediation=3,
            action=RemediationActionKind.OTHER,
            detail="x",
            outcome=ActionOutcome.RESOLVED,
        ),
    )


def test_a_gas_proxy_function_s_remediation_is_always_the_dccs():
    story = failed_series(DeviceType.GPF)
    at = story.tick()

    def by_supplier(basis: RemediationBasis) -> Callable[[], object]:
        return lambda: story.m.assign_remediation(
            at=at,
            basis=basis,
            owner=RemediationOwner.RESPONSIBLE_SUPPLIER,
            responsible_supplier="SUPPLIER-G",
            root_cause="Comms Hub firmware cannot hold the ECoS certificate",
        )

    for basis in RemediationBasis:
        error = refused("GPF_REMEDIATION_IS_DCCS", by_supplier(basis))
        assert error.clause == clauses.ETMAD_1_11
    assigned = story.then(
        lambda m: m.assign_remediation(
            at=at,
            basis=RemediationBasis.ISSUES_UNRESOLVED,
            owner=RemediationOwner.DCC,
            root_cause="Comms Hub firmware cannot hold the ECoS certificate",
        )
    )
    assert assigned.clause == clauses.ETMAD_1_11
    assert assigned.device_type is DeviceType.GPF
    # The DCC's remediation of a GPF includes the Comms Hub's firmware upgrade (1.11).
    story.then(
        lambda m: m.record_remediation_action(
            at=at,
            remediation=1,
            action=RemediationActionKind.FIRMWARE_UPGRADE,
            detail="remote firmware upgrade of the Communications Hub",
            outcome=ActionOutcome.RESOLVED,
            to_model=CAPABLE,
        )
    )
    assert story.m.remediations[0].actions[0].to_model == CAPABLE


def test_a_non_migratable_model_or_unresolved_issues_call_for_the_supplier_s_firmware_upgrade():
    story = failed_series()
    at = story.tick()
    error = refused(
        "FIRMWARE_UPGRADE_IS_SUPPLIERS",
        lambda: story.m.assign_remediation(
            at=at,
            basis=RemediationBasis.NON_MIGRATABLE_MODEL,
            owner=RemediationOwner.DCC,
            root_cause="model categorised Non-Migratable",
        ),
    )
    assert error.clause == clauses.ETMAD_1_10
    assigned = story.then(
        lambda m: m.assign_remediation(
            at=at,
            basis=RemediationBasis.NON_MIGRATABLE_MODEL,
            owner=RemediationOwner.RESPONSIBLE_SUPPLIER,
            responsible_supplier="SUPPLIER-A",
            root_cause="model categorised Non-Migratable",
        )
    )
    assert assigned.clause == clauses.ETMAD_1_10

    def act(
        kind: RemediationActionKind, to_model: DeviceModelKey | None
    ) -> RemediationActionRecorded:
        return story.m.record_remediation_action(
            at=at,
            remediation=1,
            action=kind,
            detail="supplier action",
            outcome=ActionOutcome.NOT_RESOLVED,
            to_model=to_model,
        )

    refused(
        "FIRMWARE_UPGRADE_REQUIRED", lambda: act(RemediationActionKind.COMMUNICATIONS_FIX, None)
    )
    refused("NOT_A_FIRMWARE_UPGRADE", lambda: act(RemediationActionKind.FIRMWARE_UPGRADE, None))
    refused("NOT_A_FIRMWARE_UPGRADE", lambda: act(RemediationActionKind.FIRMWARE_UPGRADE, MODEL))
    other_hardware = DeviceModelKey("ACME", "E100", "3.0", "0103")
    refused(
        "NOT_A_FIRMWARE_UPGRADE",
        lambda: act(RemediationActionKind.FIRMWARE_UPGRADE, other_hardware),
    )
    story.then(lambda _: act(RemediationActionKind.FIRMWARE_UPGRADE, CAPABLE))
    action = story.m.remediations[0].actions[0]
    assert (action.kind, action.to_model, action.outcome) == (
        RemediationActionKind.FIRMWARE_UPGRADE,
        CAPABLE,
        ActionOutcome.NOT_RESOLVED,
    )
    # A resolved remediation leaves the Device to be selected again (1.4 closing paragraph).
    at = story.tick(timedelta(days=2))
    story.then(lambda m: m.start_series(model=CAPABLE, policy=DEFAULT_RETRY_POLICY, at=at))
    assert story.m.in_progress


def test_only_a_firmware_upgrade_names_a_target_model():
    story = failed_series()
    at = story.tick()
    story.then(
        lambda m: m.assign_remediation(
            at=at,
            basis=RemediationBasis.FAILED_MIGRATION,
            owner=RemediationOwner.DCC,
            root_cause="x",
        )
    )
    refused(
        "TARGET_MODEL_NOT_ALLOWED",
        lambda: story.m.record_remediation_action(
            at=at,
            remediation=1,
            action=RemediationActionKind.COMMUNICATIONS_FIX,
            detail="x",
            outcome=ActionOutcome.RESOLVED,
            to_model=CAPABLE,
        ),
    )


# --- eligibility is not fed -------------------------------------------------------------------


def _imported(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return found


def test_a_failed_migration_does_not_feed_eligibility():
    """DOMAIN.md 3.3: a Failed Migration is not itself a 1.4 ground."""
    assert "domain.eligibility" not in _imported(ROOT / "domain" / "migration.py")
    assert not {
        "domain.migration",
        "domain.failures",
        "domain.retry_policy",
        "domain.remediation",
    } & _imported(ROOT / "domain" / "eligibility.py")


# --- the published taxonomy -------------------------------------------------------------------

FAILURES_DOC = (ROOT / "docs" / "failures.md").read_text(encoding="utf-8")


def test_every_failure_code_and_sub_code_is_published():
    for code in FailureCode:
        assert f"`{code}`" in FAILURES_DOC, code
    rows = {
        tuple(cell.strip().strip("`") for cell in line.strip("|").split("|"))
        for line in FAILURES_DOC.splitlines()
        if line.startswith("| `")
    }
    published = {(r[0], r[2], r[3]) for r in rows if len(r) == 4}
    assert published == {(str(code), str(cause), sub) for code, cause, sub in taxonomy()}
    # The default policy table says which causes are retried, as the default policy does.
    retried = {r[0]: r[1] for r in rows if len(r) == 3 and r[1] in {"yes", "no"}}
    assert retried == {
        str(cause): "yes" if cause in DEFAULT_RETRY_POLICY.retryable else "no"
        for cause in FailureCause
    }
    for ending in SeriesEnding:
        assert f"| `{ending}` |" in FAILURES_DOC


# --- replay through the event mapper ----------------------------------------------------------


def _whole_story() -> Story:
    story = Story()
    story.instruct(DOWN)
    story.decide()
    story.retry()
    story.through(Step.REPLACEMENT)
    story.send()
    story.device(device_says(GbcsStatus.NO_TRUST_ANCHOR, GbcsStatus.SUCCESS))
    story.decide()
    at = story.tick()
    story.then(
        lambda m: m.assign_remediation(
            at=at,
            basis=RemediationBasis.ISSUES_UNRESOLVED,
            owner=RemediationOwner.RESPONSIBLE_SUPPLIER,
            responsible_supplier="SUPPLIER-A",
            root_cause="noTrustAnchor on a firmware known to misplace the TCoS anchor",
        )
    )
    story.then(
        lambda m: m.record_remediation_action(
            at=at,
            remediation=1,
            action=RemediationActionKind.FIRMWARE_UPGRADE,
            detail="upgraded to 0103",
            outcome=ActionOutcome.RESOLVED,
            to_model=CAPABLE,
        )
    )
    at = story.tick(timedelta(days=1))
    story.then(lambda m: m.start_series(model=CAPABLE, policy=DEFAULT_RETRY_POLICY, at=at))
    story.through(Step.CONFIRMATION)
    story.confirm(CosParty.ECOS, DOWN)
    story.decide()
    story.retry()
    story.confirm(CosParty.ECOS)
    story.confirm(CosParty.TCOS)
    story.complete()
    return story


def _fold(events: Iterable[DomainEvent]) -> Migration:
    events = list(events)
    m = Migration.create(events[0], 1)
    for version, event in enumerate(events[1:], start=2):
        m = m.apply(event, version)
    return m


def test_the_events_round_trip_through_the_event_mapper_and_rebuild_the_same_migration():
    story = _whole_story()
    assert story.m.succeeded
    mapper = EventMapper(transcoder=JSONTranscoder())
    aggregate_id = migration_aggregate_id(DEVICE)
    stored = [
        mapper.to_stored_event(Envelope(aggregate_id, version, T0 + timedelta(days=30), event))
        for version, event in enumerate(story.events, start=1)
    ]
    assert {s.topic for s in stored} >= {
        "etmad.migration.SeriesStarted.v1",
        "etmad.migration.RetryScheduled.v1",
        "etmad.migration.SeriesCompletedUnsuccessfully.v1",
        "etmad.migration.RemediationActionRecorded.v1",
        "etmad.migration.MigrationCompleted.v1",
    }
    read = [mapper.to_domain_event(s).event for s in stored]
    assert read == story.events
    assert _fold(read) == story.m
    # The frozen policy is stored whole, its durations as ISO-8601 text.
    assert b'"backoff":["PT3600S","PT21600S","P1D","P2D"]' in stored[0].state
    assert b'"version":"etmad-default-1"' in stored[0].state


# --- any sequence of commands keeps the invariants --------------------------------------------

PROVIDER_ANSWERS = st.sampled_from([OK, OK, OK, NO_ANSWER, DOWN, REFUSAL])
DEVICE_ANSWERS = st.sampled_from(
    [REPLACED, REPLACED, SILENT_DEVICE, *(device_says(s) for s in GbcsStatus)]
)


def _random_command(story: Story, data: st.DataObject) -> None:
    """Run one command of any kind, with drawn inputs, on the story (it may be refused)."""
    commands: dict[str, Callable[[], object]] = {
        "instruct": lambda: story.instruct(data.draw(PROVIDER_ANSWERS)),
        "review": lambda: story.review(data.draw(PROVIDER_ANSWERS)),
        "send": story.send,
        "device": lambda: story.device(data.draw(DEVICE_ANSWERS)),
        "confirm": lambda: story.confirm(
            data.draw(st.sampled_from(CosParty)), data.draw(PROVIDER_ANSWERS)
        ),
        "decide": story.decide,
        "retry": lambda: story.start_retry(
            data.draw(st.sampled_from([ONE_MINUTE, timedelta(days=3)]))
        ),
        "complete": story.complete,
        "new": story.new_series,
        "end": story.end,
    }
    before = story.m
    try:
        commands[data.draw(st.sampled_from(sorted(commands)))]()
    except RuleViolation as refusal:
        code = refusal.code
    else:
        return
    assert re.fullmatch(r"[A-Z_0-9]+", code)
    assert story.m is before  # a refused command records nothing


@settings(max_examples=150)
@given(st.data())
def test_any_sequence_of_commands_keeps_the_invariants(data: st.DataObject):
    story = Story()
    for _ in range(40):
        _random_command(story, data)
        m = story.m
        # At most the latest series is open; every earlier one ended; one success at most.
        assert all(s.ended for s in m.series[:-1])
        assert sum(s.succeeded_at is not None for s in m.series) <= 1
        assert m.succeeded is (m.status is MigrationStatus.SUCCEEDED)
        decisions = [d for s in m.series for d in s.decisions]
        assert all(
            d.retry_at is None or d.retry_at <= d.first_failure_at + DEFAULT_RETRY_POLICY.window
            for d in decisions
        )
        starts = [[a.started_at for a in s.attempts] for s in m.series]
        assert starts == [sorted(s) for s in starts]
        failures = [e for e in story.events if getattr(e, "failure", None) is not None]
        assert len(failures) == len(m.failures)
        if failures:
            assert m.failed_migration is not None
            assert m.failed_migration.date_of_last_failure == failures[-1].occurred_at
        assert list(m.counters_sent) == sorted(set(m.counters_sent))
    assert _fold(story.events) == story.m
