"""The Error Handling and Retry Approach as a policy (ETMAD 1.7, 7.1; DOMAIN.md 3.3): what it
retries, when, within which window, and how its decision names itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import RuleViolation
from domain.failures import FailureCause, Step, StepFailure, taxonomy
from domain.retry_policy import (
    DEFAULT_RETRY_POLICY,
    RetryOutcome,
    RetryPolicy,
    RetryReason,
    SeriesProgress,
    next_step_after_failure,
    policy_in_force,
)

T0 = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)

# --- strategies -------------------------------------------------------------------------------

times = st.datetimes(
    min_value=datetime(2023, 1, 1),  # noqa: DTZ001 — bounds of naive values, made UTC below
    max_value=datetime(2026, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
)
delays = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3))
policies = st.builds(
    RetryPolicy,
    version=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789.-", min_size=1, max_size=12),
    effective_from=times,
    retryable=st.frozensets(st.sampled_from(FailureCause)),
    backoff=st.lists(delays, min_size=1, max_size=5).map(tuple),
    window=st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=14)),
    max_attempts=st.none() | st.integers(min_value=1, max_value=12),
)
failures = st.sampled_from(taxonomy()).map(
    lambda row: StepFailure(
        step=Step.REPLACEMENT, code=row[0], cause=row[1], sub_code=row[2], detail=""
    )
)


@st.composite
def situations(draw: st.DrawFn) -> tuple[RetryPolicy, SeriesProgress, StepFailure, datetime]:
    """A policy, a series so far, a failure and its time (never before the first failure)."""
    policy = draw(policies)
    first = draw(st.none() | times)
    at = draw(times) if first is None else first + draw(delays.map(lambda d: d * 4))
    progress = SeriesProgress(
        attempts_made=draw(st.integers(min_value=1, max_value=15)), first_failure_at=first
    )
    return policy, progress, draw(failures), at


def _scheduled_delay(policy: RetryPolicy, attempts_made: int) -> timedelta:
    return policy.backoff[min(attempts_made, len(policy.backoff)) - 1]


# --- properties -------------------------------------------------------------------------------


@given(situations())
def test_the_decision_retries_exactly_when_the_policy_allows_it(
    situation: tuple[RetryPolicy, SeriesProgress, StepFailure, datetime],
):
    policy, progress, failure, at = situation
    decision = next_step_after_failure(policy, progress, failure, at)
    first = progress.first_failure_at or at
    due = at + _scheduled_delay(policy, progress.attempts_made)
    allowed = (
        failure.cause in policy.retryable
        and (policy.max_attempts is None or progress.attempts_made < policy.max_attempts)
        and due <= first + policy.window
    )
    assert decision.retries is allowed
    assert decision.outcome is (RetryOutcome.RETRY if allowed else RetryOutcome.END_SERIES)
    assert decision.window_ends_at == first + policy.window
    if allowed:
        assert decision.retry_at == due
        assert decision.reason is RetryReason.RETRYABLE
    else:
        assert decision.retry_at is None


@given(situations())
def test_never_retries_after_the_window_or_past_max_attempts(
    situation: tuple[RetryPolicy, SeriesProgress, StepFailure, datetime],
):
    policy, progress, failure, at = situation
    decision = next_step_after_failure(policy, progress, failure, at)
    if decision.retries:
        assert decision.retry_at is not None
        assert decision.retry_at <= (progress.first_failure_at or at) + policy.window
        assert policy.max_attempts is None or progress.attempts_made < policy.max_attempts


@given(situations())
def test_never_retries_a_non_retryable_cause_and_says_so_first(
    situation: tuple[RetryPolicy, SeriesProgress, StepFailure, datetime],
):
    policy, progress, failure, at = situation
    decision = next_step_after_failure(policy, progress, failure, at)
    if failure.cause in policy.non_retryable:
        assert not decision.retries
        assert decision.reason is RetryReason.NON_RETRYABLE_CAUSE
        assert decision.delay is None


@given(situations())
def test_the_decision_names_the_policy_version_and_its_inputs(
    situation: tuple[RetryPolicy, SeriesProgress, StepFailure, datetime],
):
    policy, progress, failure, at = situation
    decision = next_step_after_failure(policy, progress, failure, at)
    assert decision.policy_version == policy.version
    assert decision.policy_effective_from == policy.effective_from
    assert decision.failure_code is failure.code
    assert decision.cause is failure.cause
    assert decision.failed_at == at
    assert decision.attempts_made == progress.attempts_made
    assert decision.max_attempts == policy.max_attempts
    assert decision.first_failure_at == (progress.first_failure_at or at)
    assert decision.clause == "ETMAD 7.1"
    assert policy.version in decision.detail


@given(
    policies,
    st.sampled_from(sorted(FailureCause)),
    times,
    st.lists(delays, min_size=30, max_size=30),
)
def test_a_series_of_failures_follows_the_back_off_schedule_and_ends(
    policy: RetryPolicy, cause: FailureCause, first: datetime, lateness: list[timedelta]
):
    """Each retry fails again, some time after it was due: due times never go back, each is
    its failure's time plus the schedule's delay for that retry, and the series ends."""
    failure = StepFailure(
        step=Step.INSTRUCTION, code=taxonomy()[0][0], cause=cause, sub_code="", detail=""
    )
    at, attempts, dues = first, 1, []
    while True:
        decision = next_step_after_failure(
            policy, SeriesProgress(attempts_made=attempts, first_failure_at=first), failure, at
        )
        if not decision.retries:
            break
        assert decision.retry_at is not None
        assert decision.delay == policy.delay_before_retry(attempts)
        assert decision.retry_at - at == _scheduled_delay(policy, attempts)
        dues.append(decision.retry_at)
        at = decision.retry_at + lateness[attempts % len(lateness)]  # the retry fails again
        attempts += 1
        assert attempts < 10_000
    assert dues == sorted(dues)
    assert all(due <= first + policy.window for due in dues)
    assert policy.max_attempts is None or attempts <= policy.max_attempts
    assert decision.reason is not RetryReason.RETRYABLE


# --- the default policy -----------------------------------------------------------------------

RETRIED = {
    FailureCause.NO_RESPONSE,
    FailureCause.UNAVAILABLE,
    FailureCause.RESOURCES_BUSY,
    FailureCause.OTHER_DEVICE_ERROR,
    FailureCause.INVALID_RESPONSE,
    FailureCause.NOT_CONFIRMED,
}


def test_the_default_policy_retries_transitory_outcomes_only():
    assert DEFAULT_RETRY_POLICY.retryable == RETRIED
    assert DEFAULT_RETRY_POLICY.non_retryable == {
        FailureCause.BAD_CERTIFICATE,
        FailureCause.NO_TRUST_ANCHOR,
        FailureCause.TRUST_ANCHOR_NOT_FOUND,
        FailureCause.INSUFFICIENT_MEMORY,
        FailureCause.REFUSED,
    }
    assert DEFAULT_RETRY_POLICY.window == timedelta(days=7)
    assert DEFAULT_RETRY_POLICY.max_attempts is None
    assert DEFAULT_RETRY_POLICY.effective_from == datetime(2023, 7, 5, tzinfo=UTC)


def test_a_device_that_never_answers_is_attempted_six_times_in_seven_days():
    failure = StepFailure(
        step=Step.REPLACEMENT,
        code=taxonomy()[6][0],
        cause=FailureCause.NO_RESPONSE,
        sub_code="no_response",
        detail="",
    )
    at, attempts, offsets = T0, 1, []
    while True:
        decision = next_step_after_failure(
            DEFAULT_RETRY_POLICY,
            SeriesProgress(attempts_made=attempts, first_failure_at=T0 if attempts > 1 else None),
            failure,
            at,
        )
        if not decision.retries:
            break
        assert decision.retry_at is not None
        at = decision.retry_at
        offsets.append(at - T0)
        attempts += 1
    hours = [o / timedelta(hours=1) for o in offsets]
    assert hours == [1, 7, 31, 79, 127]
    assert attempts == 6
    assert decision.reason is RetryReason.RETRY_WINDOW_CLOSED
    assert decision.delay == timedelta(days=2)
    assert decision.window_ends_at == T0 + timedelta(days=7)


def test_a_retry_due_exactly_at_the_end_of_the_window_is_made():
    policy = RetryPolicy(
        version="edge",
        effective_from=T0,
        retryable=frozenset({FailureCause.NO_RESPONSE}),
        backoff=(timedelta(days=7),),
    )
    failure = StepFailure(
        step=Step.INSTRUCTION,
        code=taxonomy()[0][0],
        cause=FailureCause.NO_RESPONSE,
        sub_code="no_response",
        detail="",
    )
    decision = next_step_after_failure(
        policy, SeriesProgress(attempts_made=1, first_failure_at=None), failure, T0
    )
    assert decision.retry_at == T0 + timedelta(days=7)
    late = next_step_after_failure(
        policy,
        SeriesProgress(attempts_made=1, first_failure_at=None),
        failure,
        T0 + timedelta(microseconds=1),
    )
    assert late.retries  # the window runs from this, the first failure
    again = next_step_after_failure(
        policy,
        SeriesProgress(attempts_made=2, first_failure_at=T0),
        failure,
        T0 + timedelta(microseconds=1),
    )
    assert again.reason is RetryReason.RETRY_WINDOW_CLOSED


def test_max_attempts_ends_the_series():
    policy = RetryPolicy(
        version="three",
        effective_from=T0,
        retryable=frozenset(FailureCause),
        backoff=(timedelta(minutes=5),),
        max_attempts=3,
    )
    failure = StepFailure(
        step=Step.INSTRUCTION,
        code=taxonomy()[0][0],
        cause=FailureCause.NO_RESPONSE,
        sub_code="no_response",
        detail="",
    )
    two = next_step_after_failure(
        policy, SeriesProgress(attempts_made=2, first_failure_at=T0), failure, T0
    )
    three = next_step_after_failure(
        policy, SeriesProgress(attempts_made=3, first_failure_at=T0), failure, T0
    )
    assert two.retries
    assert not three.retries
    assert three.reason is RetryReason.MAX_ATTEMPTS_REACHED
    assert "3 attempts made" in three.detail


# --- policies as configuration ----------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"version": " "},
        {"backoff": ()},
        {"backoff": (timedelta(hours=1), timedelta(seconds=-1))},
        {"window": timedelta(0)},
        {"max_attempts": 0},
    ],
    ids=["blank-version", "no-backoff", "negative-delay", "empty-window", "no-attempts"],
)
def test_an_invalid_policy_is_refused(changes: dict[str, object]):
    fields: dict[str, object] = {
        "version": "v1",
        "effective_from": T0,
        "retryable": frozenset(),
        "backoff": (timedelta(hours=1),),
    }
    with pytest.raises(RuleViolation) as refused:
        RetryPolicy(**{**fields, **changes})  # type: ignore[arg-type]
    assert refused.value.code == "INVALID_RETRY_POLICY"
    assert refused.value.clause == "ETMAD 7.1"


def test_the_policy_in_force_is_the_latest_version_effective_by_then():
    v1 = RetryPolicy(
        version="v1", effective_from=T0, retryable=frozenset(), backoff=(timedelta(hours=1),)
    )
    v2 = RetryPolicy(
        version="v2",
        effective_from=T0 + timedelta(days=30),
        retryable=frozenset(),
        backoff=(timedelta(hours=2),),
    )
    assert policy_in_force([v2, v1], T0 + timedelta(days=29)) is v1
    assert policy_in_force([v2, v1], T0 + timedelta(days=30)) is v2
    with pytest.raises(RuleViolation) as none:
        policy_in_force([v2, v1], T0 - timedelta(seconds=1))
    assert none.value.code == "NO_RETRY_POLICY_IN_FORCE"
    with pytest.raises(RuleViolation) as twice:
        policy_in_force([v1, v1], T0)
    assert twice.value.code == "AMBIGUOUS_RETRY_POLICY"


def test_retries_are_counted_from_one():
    with pytest.raises(ValueError, match="from 1"):
        DEFAULT_RETRY_POLICY.delay_before_retry(0)
    assert DEFAULT_RETRY_POLICY.delay_before_retry(1) == timedelta(hours=1)
    assert DEFAULT_RETRY_POLICY.delay_before_retry(99) == timedelta(days=2)
