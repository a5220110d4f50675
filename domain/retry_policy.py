"""The ECoS Migration Error Handling and Retry Approach (ETMAD 1.7, 7.1) as versioned
configuration, and the retry decision it makes after each Failed Migration.

The Approach is a document the DCC publishes and updates under clause 7; its content is not in
the seeds (DOMAIN.md 3.3 **[choice]**). Its parameters are therefore configuration keyed to the
document version (``version``, ``effective_from``), and the policy in force is frozen onto a
Migration's series when it starts, so a replay decides with the policy of its day whatever the
settings say now.

``next_step_after_failure`` is a pure function of the policy, the series so far, the failure
and its time: retry at a time, or end the series ("completed unsuccessfully", ECOSMIG-002). The
decision is a value naming the policy version, its reason and every input it used.

Default classification (``DEFAULT_RETRY_POLICY``; ``docs/failures.md`` publishes the table):

* retried — the outcomes that say nothing about the Device's ability to migrate, which the
  retries exist to rule out as "transitory issues" (DCC response para 46):
  ``no_response`` (a Device or a Service Provider did not answer within the time-out: the
  ports' time-out *is* no response), ``unavailable`` (the Service Provider or the transport
  was down), ``resourcesBusy`` (GBCS 30: the Device could not act *now*), ``other`` (GBCS 127:
  an unspecified Device error is not evidence of incapability until it repeats),
  ``invalid_response`` (an answer that cannot be read or has no outcome for the transitionalCoS
  cell: most likely a transport fault) and ``not_confirmed`` (at 6.1(c)(iv), after the Device's
  credentials were replaced, a Service Provider that cannot yet confirm is most likely behind
  the Device; asking again does not touch the Device);
* not retried — the series ends at once and root-cause analysis decides the remediation
  (para 47): the Device-side rejections ``badCertificate`` (5), ``noTrustAnchor`` (10) and
  ``trustAnchorNotFound`` (25) (the same command would be rejected the same way: DOMAIN.md
  3.3), ``insufficientMemory`` (17: the Device cannot hold the new credentials; resending the
  same certificate to the same memory cannot succeed, and the cure is a firmware upgrade, 1.10),
  and ``refused`` (the TCoS Service Provider declined the instruction or, after its review, the
  migration, with a reason: a considered answer, not a transitory fault; the Device stays
  eligible and is selected again once the reason is resolved, so nothing is lost).

A cause the policy does not list as retryable is not retried: every cause has exactly one
answer, and a cause added to the taxonomy after a policy was frozen is not retried under it.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Final

import attrs

from domain import clauses
from domain.errors import RuleViolation
from domain.events import utc
from domain.failures import FailureCause, FailureCode, StepFailure

DEFAULT_RETRY_WINDOW: Final = timedelta(days=7)  # the EMRR's "7-day retry process"
_LATEST: Final = datetime.max.replace(tzinfo=UTC)


def _invalid(message: str) -> RuleViolation:
    return RuleViolation(message, code="INVALID_RETRY_POLICY", clause=clauses.ETMAD_7_1)


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """One version of the Error Handling and Retry Approach, as configuration.

    - ``version``, ``effective_from``: the document version and the date it came into effect
      (7.2-7.4).
    - ``retryable``: the failure causes that are retried; every other cause ends the series.
    - ``backoff``: the delay before each retry, from the failure it follows: the first retry
      waits ``backoff[0]``, the second ``backoff[1]`` ...; the last delay repeats.
    - ``window``: no retry is due later than this after the first failure of the series.
    - ``max_attempts``: the most attempts in one series, the first included (None: the window
      alone bounds them).
    """

    version: str
    effective_from: datetime = attrs.field(converter=utc)
    retryable: frozenset[FailureCause]
    backoff: tuple[timedelta, ...]
    window: timedelta = DEFAULT_RETRY_WINDOW
    max_attempts: int | None = None

    def __attrs_post_init__(self) -> None:
        if not self.version.strip():
            raise _invalid("a retry policy names the version of the document it comes from")
        if not self.backoff:
            raise _invalid("a retry policy needs at least one back-off delay")
        if any(delay < timedelta(0) for delay in self.backoff):
            raise _invalid("back-off delays cannot be negative")
        if self.window <= timedelta(0):
            raise _invalid("the retry window must be longer than zero")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise _invalid("max_attempts, where given, is at least 1")

    @property
    def non_retryable(self) -> frozenset[FailureCause]:
        return frozenset(FailureCause) - self.retryable

    def retries(self, cause: FailureCause) -> bool:
        return cause in self.retryable

    def delay_before_retry(self, retry: int) -> timedelta:
        """The delay before the ``retry``-th retry of a series (1 for the first)."""
        if retry < 1:
            raise ValueError(f"retries are counted from 1, not {retry}")
        return self.backoff[min(retry, len(self.backoff)) - 1]


DEFAULT_RETRY_POLICY: Final = RetryPolicy(
    version="etmad-default-1",
    effective_from=datetime(2023, 7, 5, tzinfo=UTC),  # ECoS Migration began (DOMAIN.md 7)
    retryable=frozenset(
        {
            FailureCause.NO_RESPONSE,
            FailureCause.UNAVAILABLE,
            FailureCause.RESOURCES_BUSY,
            FailureCause.OTHER_DEVICE_ERROR,
            FailureCause.INVALID_RESPONSE,
            FailureCause.NOT_CONFIRMED,
        }
    ),
    backoff=(timedelta(hours=1), timedelta(hours=6), timedelta(days=1), timedelta(days=2)),
    window=DEFAULT_RETRY_WINDOW,
    max_attempts=None,
)


def policy_in_force(policies: Sequence[RetryPolicy], at: datetime) -> RetryPolicy:
    """The version in force at ``at``: the one with the latest ``effective_from`` not after it."""
    at = utc(at)
    versions = [p.version for p in policies]
    dates = [p.effective_from for p in policies]
    if len(set(versions)) != len(versions) or len(set(dates)) != len(dates):
        raise RuleViolation(
            "retry policy versions and effective dates must each be distinct",
            code="AMBIGUOUS_RETRY_POLICY",
            clause=clauses.ETMAD_7_1,
        )
    in_force = [p for p in policies if p.effective_from <= at]
    if not in_force:
        raise RuleViolation(
            f"no Error Handling and Retry Approach is in force at {at.isoformat()}",
            code="NO_RETRY_POLICY_IN_FORCE",
            clause=clauses.ETMAD_7_1,
        )
    return max(in_force, key=lambda p: p.effective_from)


# --- the decision ---------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class SeriesProgress:
    """What the retry decision needs to know of a series: how many attempts it has made (the
    one that just failed included) and when its first failure was (None if this is it)."""

    attempts_made: int
    first_failure_at: datetime | None


class RetryOutcome(enum.StrEnum):
    RETRY = "retry"
    END_SERIES = "end_series"  # "completed unsuccessfully" (ECOSMIG-002)


class RetryReason(enum.StrEnum):
    """Why the policy retries or ends the series. Stable: reports match on these."""

    RETRYABLE = "RETRYABLE"
    NON_RETRYABLE_CAUSE = "NON_RETRYABLE_CAUSE"
    MAX_ATTEMPTS_REACHED = "MAX_ATTEMPTS_REACHED"
    RETRY_WINDOW_CLOSED = "RETRY_WINDOW_CLOSED"


@attrs.frozen(kw_only=True)
class RetryDecision:
    """The policy's decision after a Failed Migration, with the inputs it used.

    ``retry_at`` is set only when the outcome is ``RETRY``; ``delay`` whenever the back-off
    schedule was consulted (a retryable cause under the attempt limit)."""

    outcome: RetryOutcome
    reason: RetryReason
    detail: str
    retry_at: datetime | None
    delay: timedelta | None
    policy_version: str
    policy_effective_from: datetime
    failure_code: FailureCode
    cause: FailureCause
    failed_at: datetime
    attempts_made: int
    max_attempts: int | None
    first_failure_at: datetime
    window_ends_at: datetime
    clause: str = clauses.ETMAD_7_1

    @property
    def retries(self) -> bool:
        return self.outcome is RetryOutcome.RETRY


def _plus(at: datetime, delta: timedelta) -> datetime:
    try:
        return at + delta
    except OverflowError:
        return _LATEST


def next_step_after_failure(
    policy: RetryPolicy, series: SeriesProgress, failure: StepFailure, at: datetime
) -> RetryDecision:
    """Retry, and when, or end the series, after ``failure`` at ``at`` (ETMAD 1.7, 7.1).

    In this order: a cause the policy does not retry ends the series; so does reaching
    ``max_attempts``; otherwise the next retry is due ``at`` plus the back-off delay for the
    retry it would be, and is made only if that is no later than the window's end (the first
    failure of the series plus ``window``)."""
    at = utc(at)
    if series.attempts_made < 1:
        raise ValueError("a failure follows at least one attempt")
    first = utc(series.first_failure_at) if series.first_failure_at is not None else at
    window_ends_at = _plus(first, policy.window)

    def decide(
        outcome: RetryOutcome,
        reason: RetryReason,
        detail: str,
        *,
        retry_at: datetime | None = None,
        delay: timedelta | None = None,
    ) -> RetryDecision:
        return RetryDecision(
            outcome=outcome,
            reason=reason,
            detail=detail,
            retry_at=retry_at,
            delay=delay,
            policy_version=policy.version,
            policy_effective_from=policy.effective_from,
            failure_code=failure.code,
            cause=failure.cause,
            failed_at=at,
            attempts_made=series.attempts_made,
            max_attempts=policy.max_attempts,
            first_failure_at=first,
            window_ends_at=window_ends_at,
        )

    end = RetryOutcome.END_SERIES
    if not policy.retries(failure.cause):
        return decide(
            end,
            RetryReason.NON_RETRYABLE_CAUSE,
            f"{failure.cause} ({failure.code}) is not retried under retry policy {policy.version}",
        )
    if policy.max_attempts is not None and series.attempts_made >= policy.max_attempts:
        return decide(
            end,
            RetryReason.MAX_ATTEMPTS_REACHED,
            f"{series.attempts_made} attempts made; retry policy {policy.version} allows "
            f"{policy.max_attempts}",
        )
    delay = policy.delay_before_retry(series.attempts_made)
    due = _plus(at, delay)
    if due > window_ends_at:
        return decide(
            end,
            RetryReason.RETRY_WINDOW_CLOSED,
            f"the next retry would be due {due.isoformat()}, after the retry window of "
            f"{policy.window} from the first failure ends at {window_ends_at.isoformat()} under "
            f"retry policy {policy.version}",
            delay=delay,
        )
    return decide(
        RetryOutcome.RETRY,
        RetryReason.RETRYABLE,
        f"retry {series.attempts_made} of the series due {due.isoformat()} ({delay} after the "
        f"failure) under retry policy {policy.version}",
        retry_at=due,
        delay=delay,
    )
