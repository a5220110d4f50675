"""Programme policies on completed attempts: the suspension rule (DOMAIN 4.3), Non-Migratable
candidates (DOMAIN 4.2) and ECoS Migration Incidents (DOMAIN 4.4, ETMAD 3.7).

Each is a pure function of facts and DCC-set parameters (with a ``version``) and returns a
decision value carrying its inputs, the rule id with its version, the clause and a *proposal*:
none of them suspends a model, categorises it Non-Migratable or raises an incident by itself.
The DCC's commands (``SuspendModel``, ``CategoriseNonMigratable``) stay separate decisions; the
process managers (``application/process_managers.py``) feed these policies from the event log
and record their proposals (``docs/decisions.md`` entries 19, 20 and 48).

Each rule also has an *incremental form* for a caller that sees attempts one at a time and
assesses after each (the process managers): ``SuspensionTally``, ``NonMigratableEvidence`` and
``UnavailabilityTally`` take attempts one at a time (in any order of completion time), keep
them as sorted completion times (``Instants``) and answer for any ``at`` by bisection, in
O(log n) instead of a pass over every attempt. They build the same decision values as
``assess_suspension``, ``propose_non_migratable`` and ``assess_system_problem`` (one builder
each), so the two forms decide alike (``tests/test_programme_policies.py``).

The fact they share is ``CompletedAttempt``: one attempt of one Device's ECoS Migration that
came to an end, with the Failed Migration it ended on (``StepFailure``), or none if it succeeded.
"""

from __future__ import annotations

import enum
import itertools
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Final

import attrs

from domain import clauses
from domain.errors import RuleViolation
from domain.events import utc
from domain.failures import FailureCause, FailureCode, Step, StepFailure
from domain.identifiers import EUI64, DeviceModelKey


@attrs.frozen(kw_only=True)
class CompletedAttempt:
    """One completed attempt: the Device, its effective Device Model, when the attempt ended,
    and the Failed Migration it ended on (``None``: the attempt succeeded)."""

    device_id: EUI64
    model: DeviceModelKey
    completed_at: datetime = attrs.field(converter=utc)
    failure: StepFailure | None = None

    @property
    def succeeded(self) -> bool:
        return self.failure is None

    @property
    def replacement_succeeded(self) -> bool:
        """The Device replaced its TCoS credentials (6.1(c)(iii)): the attempt succeeded, or it
        failed only at the later confirmation step."""
        return self.failure is None or self.failure.step.order > Step.REPLACEMENT.order

    @property
    def dcc_system_unavailable(self) -> bool:
        """The attempt failed because a Service Provider or the transport was unavailable:
        a problem of the DCC's systems (an incident, 4.4), not of the Device or its model."""
        return self.failure is not None and self.failure.cause is FailureCause.UNAVAILABLE


def _whole(value: object, *, least: int = 0) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


def _invalid(message: str, clause: str) -> RuleViolation:
    return RuleViolation(message, code="INVALID_POLICY_PARAMETERS", clause=clause)


def _positive_window(value: object, clause: str) -> None:
    if not isinstance(value, timedelta) or value <= timedelta(0):
        raise _invalid(f"window must be a positive duration, not {value!r}", clause)


def _in_window(fact: CompletedAttempt, at: datetime, window: timedelta | None) -> bool:
    """Completed at or before ``at`` and, with a window, strictly after ``at - window``."""
    if fact.completed_at > at:
        return False
    return window is None or fact.completed_at > at - window


class Instants:
    """A multiset of instants kept in order, so that how many fall in a span is read by
    bisection: O(log n) per question; adding in order of time appends."""

    __slots__ = ("_sorted",)

    def __init__(self, instants: Iterable[datetime] = ()) -> None:
        self._sorted: list[datetime] = sorted(instants)

    def add(self, at: datetime) -> None:
        instants = self._sorted
        if not instants or at >= instants[-1]:
            instants.append(at)
        else:
            insort(instants, at)

    def remove(self, at: datetime) -> None:
        """Remove one occurrence of ``at``; ``ValueError`` if there is none."""
        instants = self._sorted
        i = bisect_left(instants, at)
        if i == len(instants) or instants[i] != at:
            raise ValueError(f"{at} is not among the instants")
        del instants[i]

    def upto(self, at: datetime) -> int:
        """How many are at or before ``at``."""
        return bisect_right(self._sorted, at)

    def within(self, after: datetime, upto: datetime) -> int:
        """How many are strictly after ``after`` and at or before ``upto``."""
        return max(0, bisect_right(self._sorted, upto) - bisect_right(self._sorted, after))

    def any_within(self, after: datetime, upto: datetime) -> bool:
        """Whether one is strictly after ``after`` and at or before ``upto``."""
        i = bisect_right(self._sorted, upto)
        return i > 0 and self._sorted[i - 1] > after

    def __len__(self) -> int:
        return len(self._sorted)


# --- 4.3 the suspension rule ---------------------------------------------------------------

SUSPENSION_RULE_V1: Final = "suspension-rule.v1"


@attrs.frozen(kw_only=True)
class SuspensionRule:
    """DCC-set parameters of the failure-rate rule that proposes suspending a Device Model.

    - ``window``: the sliding window of completed attempts, ending at the assessment's time
      (default 24 hours);
    - ``minimum_completed``: completed attempts of the model in the window before the ratio
      counts at all (default 20; as AWS IoT Jobs' ``minNumberOfExecutedThings``);
    - ``failure_ratio``: the failed share of those attempts at or above which a suspension is
      proposed (default 0.5);
    - ``version``: recorded with every assessment.

    The denominator is the attempts of *this model* completed in the window (never all Devices
    of the model); attempts that failed because a DCC system was unavailable are left out of
    both numerator and denominator (they are incidents, 4.4).
    """

    window: timedelta = timedelta(hours=24)
    minimum_completed: int = 20
    failure_ratio: float = 0.5
    version: str = SUSPENSION_RULE_V1

    def __attrs_post_init__(self) -> None:
        _positive_window(self.window, clauses.ETMAD_6_1_D)
        if not _whole(self.minimum_completed, least=1):
            raise _invalid(
                f"minimum_completed must be a whole number of at least 1, "
                f"not {self.minimum_completed!r}",
                clauses.ETMAD_6_1_D,
            )
        ratio = self.failure_ratio
        if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not 0 < ratio <= 1:
            raise _invalid(
                f"failure_ratio must be above 0 and at most 1, not {ratio!r}", clauses.ETMAD_6_1_D
            )
        if not self.version:
            raise _invalid("a rule needs its version", clauses.ETMAD_6_1_D)

    def proposes(self, *, completed: int, failed: int) -> bool:
        """The rule's test on its counts: at least ``minimum_completed`` attempts completed in
        the window, and ``failed`` of them at or above ``failure_ratio`` of them."""
        return completed >= self.minimum_completed and failed >= self.failure_ratio * completed


@attrs.frozen(kw_only=True)
class SuspensionAssessment:
    """The rule's proposal (or not) to suspend migration of one Device Model (ETMAD 6.1(d)),
    with what it counted: ``completed`` attempts in the window (the denominator), ``failed``
    among them, ``excluded_unavailable`` left out as DCC-system unavailability."""

    model: DeviceModelKey
    at: datetime
    window_from: datetime
    completed: int
    failed: int
    excluded_unavailable: int
    ratio: float | None
    minimum: int
    threshold: float
    propose: bool
    reason: str
    rule: SuspensionRule
    clause: str = clauses.ETMAD_6_1_D


def assess_suspension(
    model: DeviceModelKey,
    attempts: Iterable[CompletedAttempt],
    *,
    at: datetime,
    rule: SuspensionRule | None = None,
) -> SuspensionAssessment:
    """Whether the failure ratio of ``model``'s attempts completed in the window ending at
    ``at`` proposes a suspension. Attempts of other models are ignored."""
    rule = rule or SuspensionRule()
    at = utc(at)
    in_window = [f for f in attempts if f.model == model and _in_window(f, at, rule.window)]
    excluded = sum(1 for f in in_window if f.dcc_system_unavailable)
    counted = [f for f in in_window if not f.dcc_system_unavailable]
    failed = sum(1 for f in counted if not f.succeeded)
    return _suspension_assessment(
        model, at=at, completed=len(counted), failed=failed, excluded=excluded, rule=rule
    )


def _suspension_assessment(
    model: DeviceModelKey,
    *,
    at: datetime,
    completed: int,
    failed: int,
    excluded: int,
    rule: SuspensionRule,
) -> SuspensionAssessment:
    """The rule's decision value from its counts in the window ending at ``at``."""
    ratio = failed / completed if completed else None
    hours = rule.window.total_seconds() / 3600
    propose = rule.proposes(completed=completed, failed=failed)
    if completed < rule.minimum_completed:
        reason = (
            f"{completed} attempts of {model} completed in the last {hours:g} h "
            f"(below the minimum of {rule.minimum_completed}): the ratio does not count yet"
        )
    else:
        verdict = "at or above" if propose else "below"
        reason = (
            f"{failed} of {completed} attempts of {model} completed in the last {hours:g} h "
            f"failed ({failed / completed:.0%}), {verdict} the threshold of "
            f"{rule.failure_ratio:.0%}"
        )
    if excluded:
        reason += f"; {excluded} failed on DCC-system unavailability, not counted (incidents)"
    return SuspensionAssessment(
        model=model,
        at=at,
        window_from=at - rule.window,
        completed=completed,
        failed=failed,
        excluded_unavailable=excluded,
        ratio=ratio,
        minimum=rule.minimum_completed,
        threshold=rule.failure_ratio,
        propose=propose,
        reason=reason,
        rule=rule,
    )


class SuspensionTally:
    """The incremental form of ``assess_suspension`` for one Device Model: its completed
    attempts added and removed one at a time, in any order of completion time, kept as sorted
    completion times (failed, succeeded, failed on a DCC system's unavailability), so that
    ``assess`` at any time counts its window by bisection instead of a pass over the attempts.
    ``assess`` returns what ``assess_suspension`` returns on the attempts held."""

    __slots__ = ("_failed", "_succeeded", "_unavailable", "model")

    def __init__(self, model: DeviceModelKey) -> None:
        self.model = model
        self._failed = Instants()
        self._succeeded = Instants()
        self._unavailable = Instants()

    def add(self, attempt: CompletedAttempt) -> None:
        self._kind(attempt).add(attempt.completed_at)

    def remove(self, attempt: CompletedAttempt) -> None:
        """Remove an attempt added before; ``ValueError`` if none like it is held."""
        self._kind(attempt).remove(attempt.completed_at)

    def _kind(self, attempt: CompletedAttempt) -> Instants:
        if attempt.model != self.model:
            raise ValueError(f"an attempt of {attempt.model} is not one of {self.model}")
        if attempt.dcc_system_unavailable:
            return self._unavailable
        return self._succeeded if attempt.succeeded else self._failed

    def proposes(self, *, at: datetime, rule: SuspensionRule) -> bool:
        """``assess(at=at, rule=rule).propose``, without building the decision value."""
        at = utc(at)
        after = at - rule.window
        failed = self._failed.within(after, at)
        completed = failed + self._succeeded.within(after, at)
        return rule.proposes(completed=completed, failed=failed)

    def assess(self, *, at: datetime, rule: SuspensionRule | None = None) -> SuspensionAssessment:
        rule = rule or SuspensionRule()
        at = utc(at)
        after = at - rule.window
        failed = self._failed.within(after, at)
        return _suspension_assessment(
            self.model,
            at=at,
            completed=failed + self._succeeded.within(after, at),
            failed=failed,
            excluded=self._unavailable.within(after, at),
            rule=rule,
        )


# --- 4.2 Non-Migratable candidates --------------------------------------------------------

NON_MIGRATABLE_CANDIDATE_RULE_V1: Final = "non-migratable-candidate-rule.v1"

#: The Device's own rejection of the credentials replacement: what it says about its model.
#: ``resourcesBusy`` and ``other`` are not among them, nor is any communications failure (no
#: response, unavailable, invalid response): those are single-Device failures (response
#: para 45).
DEVICE_SIDE_REJECTIONS: Final = frozenset(
    {
        FailureCause.BAD_CERTIFICATE,
        FailureCause.NO_TRUST_ANCHOR,
        FailureCause.TRUST_ANCHOR_NOT_FOUND,
        FailureCause.INSUFFICIENT_MEMORY,
    }
)


def is_device_side_rejection(failure: StepFailure | None) -> bool:
    return (
        failure is not None
        and failure.code is FailureCode.REPLACEMENT_REJECTED
        and failure.cause in DEVICE_SIDE_REJECTIONS
    )


@attrs.frozen(kw_only=True)
class NonMigratableCandidateRule:
    """DCC-set parameters of the evidence rule proposing Non-Migratable candidates.

    - ``minimum_devices``: distinct Devices of the model (default 5) that rejected the
      credentials replacement device-side, or that migrated and then failed an SRV 6.23;
    - ``version``: recorded with every proposal.
    """

    minimum_devices: int = 5
    version: str = NON_MIGRATABLE_CANDIDATE_RULE_V1

    def __attrs_post_init__(self) -> None:
        if not _whole(self.minimum_devices, least=1):
            raise _invalid(
                f"minimum_devices must be a whole number of at least 1, "
                f"not {self.minimum_devices!r}",
                clauses.ETMAD_6_1_E,
            )
        if not self.version:
            raise _invalid("a rule needs its version", clauses.ETMAD_6_1_E)

    def proposes(
        self, *, devices_rejected: int, devices_replaced: int, failed_srv623_after_migration: int
    ) -> bool:
        """The rule's test on its counts: at least ``minimum_devices`` Devices rejected the
        replacement device-side and none replaced its credentials, or at least
        ``minimum_devices`` migrated and then failed an SRV 6.23."""
        n = self.minimum_devices
        return (devices_rejected >= n and not devices_replaced) or (
            failed_srv623_after_migration >= n
        )


@attrs.frozen(kw_only=True)
class NonMigratableStatistics:
    """What the rule counted for one model, in distinct Devices (attempts up to ``at``)."""

    attempts: int
    devices_attempted: int
    devices_rejected: int  # a device-side rejection of the replacement
    rejections_by_cause: tuple[tuple[FailureCause, int], ...]  # distinct Devices per cause
    devices_replaced: int  # replaced the credentials in some attempt: blocks the first ground
    devices_single_device_failures: int  # failed otherwise only (communications): never count
    devices_failed_srv623_after_migration: int


@attrs.frozen(kw_only=True)
class NonMigratableCandidate:
    """The rule's proposal (or not) that the DCC consider categorising a model Non-Migratable
    (ETMAD 6.1(e)). The DCC decides, with a rationale, by ``CategoriseNonMigratable``."""

    model: DeviceModelKey
    at: datetime
    propose: bool
    statistics: NonMigratableStatistics
    reason: str
    rule: NonMigratableCandidateRule
    clause: str = clauses.ETMAD_6_1_E


def propose_non_migratable(
    model: DeviceModelKey,
    attempts: Iterable[CompletedAttempt],
    *,
    at: datetime,
    failed_srv623_after_migration: int = 0,
    rule: NonMigratableCandidateRule | None = None,
) -> NonMigratableCandidate:
    """Propose ``model`` when at least ``minimum_devices`` distinct Devices of it rejected the
    credentials replacement device-side and none replaced its credentials, or when at least
    ``minimum_devices`` Devices migrated and then failed an SRV 6.23 (a count the caller
    derives). Attempts of other models and after ``at`` are ignored."""
    rule = rule or NonMigratableCandidateRule()
    at = utc(at)
    _check_srv623_count(failed_srv623_after_migration)
    mine = [f for f in attempts if f.model == model and _in_window(f, at, None)]
    devices = {f.device_id for f in mine}
    rejected: dict[FailureCause, set[EUI64]] = {}
    for f in mine:
        if f.failure is not None and is_device_side_rejection(f.failure):
            rejected.setdefault(f.failure.cause, set()).add(f.device_id)
    rejected_devices = set().union(*rejected.values()) if rejected else set()
    replaced = {f.device_id for f in mine if f.replacement_succeeded}
    single = devices - rejected_devices - replaced
    statistics = NonMigratableStatistics(
        attempts=len(mine),
        devices_attempted=len(devices),
        devices_rejected=len(rejected_devices),
        rejections_by_cause=tuple(
            (cause, len(rejected[cause])) for cause in FailureCause if cause in rejected
        ),
        devices_replaced=len(replaced),
        devices_single_device_failures=len(single),
        devices_failed_srv623_after_migration=failed_srv623_after_migration,
    )
    return _non_migratable_candidate(model, at=at, statistics=statistics, rule=rule)


def _check_srv623_count(failed_srv623_after_migration: object) -> None:
    if not _whole(failed_srv623_after_migration):
        raise _invalid(
            f"failed_srv623_after_migration must be a whole number, "
            f"not {failed_srv623_after_migration!r}",
            clauses.ETMAD_6_1_E,
        )


def _non_migratable_candidate(
    model: DeviceModelKey,
    *,
    at: datetime,
    statistics: NonMigratableStatistics,
    rule: NonMigratableCandidateRule,
) -> NonMigratableCandidate:
    """The rule's decision value from its statistics at ``at``."""
    n = rule.minimum_devices
    rejected = statistics.devices_rejected
    replaced = statistics.devices_replaced
    failed_srv623 = statistics.devices_failed_srv623_after_migration
    grounds: list[str] = []
    if rejected >= n and not replaced:
        grounds.append(
            f"{rejected} Devices rejected the credentials replacement device-side "
            f"(at least {n}) and none replaced its credentials"
        )
    if failed_srv623 >= n:
        grounds.append(
            f"{failed_srv623} Devices migrated and then failed an SRV 6.23 (at least {n})"
        )
    if grounds:
        reason = f"{model} proposed as a Non-Migratable candidate: " + "; ".join(grounds)
    else:
        why = (
            f"{replaced} Devices replaced their credentials"
            if replaced
            else f"{rejected} Devices rejected the replacement device-side (fewer than {n})"
        )
        reason = (
            f"{model} not proposed: {why}; {failed_srv623} failed an SRV 6.23 after migrating; "
            f"{statistics.devices_single_device_failures} Devices failed only on single-Device "
            "(communications) failures, which never count"
        )
    return NonMigratableCandidate(
        model=model,
        at=at,
        propose=bool(grounds),
        statistics=statistics,
        reason=reason,
        rule=rule,
    )


class _FirstTimes:
    """When each Device first did something, and how many had done it by any time."""

    __slots__ = ("_first", "_instants")

    def __init__(self) -> None:
        self._first: dict[EUI64, datetime] = {}
        self._instants = Instants()

    def add(self, device_id: EUI64, at: datetime) -> None:
        first = self._first.get(device_id)
        if first is not None and first <= at:
            return
        if first is not None:
            self._instants.remove(first)
        self._first[device_id] = at
        self._instants.add(at)

    def upto(self, at: datetime) -> int:
        return self._instants.upto(at)


class NonMigratableEvidence:
    """The incremental form of ``propose_non_migratable`` for one Device Model: its completed
    attempts added one at a time, in any order of completion time. For each Device it keeps
    when it first attempted, first rejected the replacement device-side (in all and by cause)
    and first replaced its credentials, so the distinct Devices counted up to any time are
    read by bisection. ``candidate`` returns what ``propose_non_migratable`` returns on the
    attempts added."""

    __slots__ = (
        "_attempted",
        "_attempts",
        "_by_cause",
        "_rejected",
        "_rejected_or_replaced",
        "_replaced",
        "model",
    )

    def __init__(self, model: DeviceModelKey) -> None:
        self.model = model
        self._attempts = Instants()
        self._attempted = _FirstTimes()
        self._rejected = _FirstTimes()
        self._by_cause: dict[FailureCause, _FirstTimes] = {}
        self._replaced = _FirstTimes()
        self._rejected_or_replaced = _FirstTimes()

    def add(self, attempt: CompletedAttempt) -> None:
        if attempt.model != self.model:
            raise ValueError(f"an attempt of {attempt.model} is not one of {self.model}")
        device_id, at, failure = attempt.device_id, attempt.completed_at, attempt.failure
        self._attempts.add(at)
        self._attempted.add(device_id, at)
        if failure is not None and is_device_side_rejection(failure):
            self._rejected.add(device_id, at)
            self._by_cause.setdefault(failure.cause, _FirstTimes()).add(device_id, at)
            self._rejected_or_replaced.add(device_id, at)
        if attempt.replacement_succeeded:
            self._replaced.add(device_id, at)
            self._rejected_or_replaced.add(device_id, at)

    def proposes(
        self,
        *,
        at: datetime,
        failed_srv623_after_migration: int = 0,
        rule: NonMigratableCandidateRule,
    ) -> bool:
        """``candidate(...).propose``, without building the decision value."""
        at = utc(at)
        return rule.proposes(
            devices_rejected=self._rejected.upto(at),
            devices_replaced=self._replaced.upto(at),
            failed_srv623_after_migration=failed_srv623_after_migration,
        )

    def statistics(
        self, *, at: datetime, failed_srv623_after_migration: int = 0
    ) -> NonMigratableStatistics:
        """What the rule counts on the attempts completed up to ``at``."""
        at = utc(at)
        _check_srv623_count(failed_srv623_after_migration)
        devices = self._attempted.upto(at)
        by_cause = ((c, self._by_cause[c].upto(at)) for c in FailureCause if c in self._by_cause)
        return NonMigratableStatistics(
            attempts=self._attempts.upto(at),
            devices_attempted=devices,
            devices_rejected=self._rejected.upto(at),
            rejections_by_cause=tuple((c, n) for c, n in by_cause if n),
            devices_replaced=self._replaced.upto(at),
            devices_single_device_failures=devices - self._rejected_or_replaced.upto(at),
            devices_failed_srv623_after_migration=failed_srv623_after_migration,
        )

    def candidate(
        self,
        *,
        at: datetime,
        failed_srv623_after_migration: int = 0,
        rule: NonMigratableCandidateRule | None = None,
    ) -> NonMigratableCandidate:
        rule = rule or NonMigratableCandidateRule()
        at = utc(at)
        statistics = self.statistics(
            at=at, failed_srv623_after_migration=failed_srv623_after_migration
        )
        return _non_migratable_candidate(self.model, at=at, statistics=statistics, rule=rule)


# --- 4.4 ECoS Migration Incidents ----------------------------------------------------------

INCIDENT_RULE_V1: Final = "incident-rule.v1"


class DccSystem(enum.StrEnum):
    """The DCC system an unavailability points at, from the failure code."""

    TCOS_SERVICE_PROVIDER = "TCoS Service Provider"
    ECOS_SERVICE_PROVIDER = "ECoS Service Provider"
    TRANSPORT = "transport"


UNAVAILABLE_SYSTEMS: Final[dict[FailureCode, DccSystem]] = {
    FailureCode.TCOS_INSTRUCTION_UNAVAILABLE: DccSystem.TCOS_SERVICE_PROVIDER,
    FailureCode.TCOS_REVIEW_UNAVAILABLE: DccSystem.TCOS_SERVICE_PROVIDER,
    FailureCode.TCOS_CONFIRMATION_UNAVAILABLE: DccSystem.TCOS_SERVICE_PROVIDER,
    FailureCode.ECOS_CONFIRMATION_UNAVAILABLE: DccSystem.ECOS_SERVICE_PROVIDER,
    FailureCode.REPLACEMENT_UNAVAILABLE: DccSystem.TRANSPORT,
}


def unavailable_system(attempt: CompletedAttempt) -> DccSystem | None:
    """The DCC system whose unavailability ended the attempt, if one did."""
    failure = attempt.failure
    return None if failure is None else UNAVAILABLE_SYSTEMS.get(failure.code)


#: ``category_shares`` default: the share of the Device Models attempted in the window that the
#: problem touched, at or above which the incident is of Category 1, 2, 3 and 4; below the last,
#: Category 5 (3.7(g): critical, non-critical, moderate, minor, minimal adverse impact).
DEFAULT_CATEGORY_SHARES: Final = (0.9, 0.5, 0.25, 0.1)

#: 3.7(d): the DCC ought reasonably to be able to resolve a problem with its own systems (its
#: Service Providers and transport) without any Responsible Supplier's help.
ASSIGNED_TO_DCC: Final = "DCC"


@attrs.frozen(kw_only=True)
class IncidentRule:
    """DCC-set parameters of the monitoring rule that raises an ECoS Migration Incident.

    - ``window``: the window of completed attempts, ending at the assessment's time (1 hour);
    - ``minimum_models``: distinct Device Models one system's unavailability must be seen
      across (default 3): below that it may be one model's or one Device's problem;
    - ``category_shares``: four decreasing shares, the 3.7(g) category mapping;
    - ``version``: recorded with every assessment.
    """

    window: timedelta = timedelta(hours=1)
    minimum_models: int = 3
    category_shares: tuple[float, float, float, float] = DEFAULT_CATEGORY_SHARES
    version: str = INCIDENT_RULE_V1

    def __attrs_post_init__(self) -> None:
        _positive_window(self.window, clauses.ETMAD_3_7_E)
        if not _whole(self.minimum_models, least=2):
            raise _invalid(
                f"minimum_models must be a whole number of at least 2 (an incident is never "
                f"one model's problem), not {self.minimum_models!r}",
                clauses.ETMAD_3_7_E,
            )
        shares = self.category_shares
        if (
            len(shares) != 4  # noqa: PLR2004 — categories 1 to 4; below the last, 5
            or any(not 0 < s <= 1 for s in shares)
            or any(a <= b for a, b in itertools.pairwise(shares))
        ):
            raise _invalid(
                f"category_shares must be four strictly decreasing shares in (0, 1]: {shares!r}",
                clauses.ETMAD_3_7_G,
            )
        if not self.version:
            raise _invalid("a rule needs its version", clauses.ETMAD_3_7_E)

    def category(self, share: float) -> int:
        """3.7(g): 1 (critical) to 5 (minimal) by the share of models touched."""
        for category, least in enumerate(self.category_shares, start=1):
            if share >= least:
                return category
        return len(self.category_shares) + 1


@attrs.frozen(kw_only=True)
class AffectedSystem:
    """One DCC system's unavailability in the window: the models and Devices it touched."""

    system: DccSystem
    models: tuple[DeviceModelKey, ...]
    devices: int
    failures: int


@attrs.frozen(kw_only=True)
class IncidentAssessment:
    """Whether monitoring identifies a problem with the DCC Systems as used for ECoS Migration
    (ETMAD 3.7(e)), its category (3.7(g)) and to whom resolution is assigned (3.7(d))."""

    at: datetime
    window_from: datetime
    models_attempted: int
    systems: tuple[AffectedSystem, ...]  # every system seen unavailable, raising or not
    raise_incident: bool
    category: int | None
    assigned_to: str | None
    reason: str
    rule: IncidentRule
    clause: str = clauses.ETMAD_3_7_E
    category_clause: str = clauses.ETMAD_3_7_G
    assignment_clause: str = clauses.ETMAD_3_7_D


def assess_system_problem(
    attempts: Iterable[CompletedAttempt],
    *,
    at: datetime,
    rule: IncidentRule | None = None,
) -> IncidentAssessment:
    """Raise an ECoS Migration Incident when one DCC system (a Service Provider or the
    transport) was unavailable to attempts of at least ``minimum_models`` distinct Device
    Models in the window; never for one Device's or one model's failed steps."""
    rule = rule or IncidentRule()
    at = utc(at)
    in_window = [f for f in attempts if _in_window(f, at, rule.window)]
    models_attempted = len({f.model for f in in_window})
    by_system: dict[DccSystem, list[CompletedAttempt]] = {}
    for f in in_window:
        system = unavailable_system(f)
        if system is not None:
            by_system.setdefault(system, []).append(f)
    systems = tuple(
        AffectedSystem(
            system=system,
            models=tuple(sorted({f.model for f in by_system[system]})),
            devices=len({f.device_id for f in by_system[system]}),
            failures=len(by_system[system]),
        )
        for system in DccSystem
        if system in by_system
    )
    raising = [s for s in systems if len(s.models) >= rule.minimum_models]
    if not raising:
        seen = ", ".join(f"{s.system} across {len(s.models)} models" for s in systems)
        return IncidentAssessment(
            at=at,
            window_from=at - rule.window,
            models_attempted=models_attempted,
            systems=systems,
            raise_incident=False,
            category=None,
            assigned_to=None,
            reason=(
                f"no DCC system unavailable across at least {rule.minimum_models} Device Models"
                + (f" ({seen})" if seen else "")
            ),
            rule=rule,
        )
    touched = {m for s in raising for m in s.models}
    share = len(touched) / models_attempted
    category = rule.category(share)
    names = ", ".join(f"{s.system} across {len(s.models)} models" for s in raising)
    return IncidentAssessment(
        at=at,
        window_from=at - rule.window,
        models_attempted=models_attempted,
        systems=systems,
        raise_incident=True,
        category=category,
        assigned_to=ASSIGNED_TO_DCC,
        reason=(
            f"DCC system unavailable: {names}; {len(touched)} of {models_attempted} Device Models "
            f"attempted touched ({share:.0%}): Category {category}; resolution assigned to the "
            "DCC, which can resolve a problem with its own systems without a Responsible Supplier"
        ),
        rule=rule,
    )


class UnavailabilityTally:
    """The incremental form of the test ``assess_system_problem`` raises on: the completed
    attempts that failed on a DCC system's unavailability, added and removed one at a time (in
    any order of completion time) and kept, per system and Device Model, as sorted completion
    times. ``raising`` tells, by bisection, which systems the assessment at a time would find
    unavailable across at least ``minimum_models`` models (its ``raise_incident`` is whether
    any does); attempts that did not fail so are ignored."""

    __slots__ = ("_seen",)

    def __init__(self) -> None:
        self._seen: dict[DccSystem, dict[DeviceModelKey, Instants]] = {}

    def add(self, attempt: CompletedAttempt) -> None:
        system = unavailable_system(attempt)
        if system is not None:
            by_model = self._seen.setdefault(system, {})
            by_model.setdefault(attempt.model, Instants()).add(attempt.completed_at)

    def remove(self, attempt: CompletedAttempt) -> None:
        """Remove an attempt added before; ``ValueError`` if none like it is held."""
        system = unavailable_system(attempt)
        if system is None:
            return
        by_model = self._seen.get(system, {})
        instants = by_model.get(attempt.model)
        if instants is None:
            raise ValueError(f"no unavailability of {system} seen by {attempt.model}")
        instants.remove(attempt.completed_at)
        if not instants:
            del by_model[attempt.model]

    def raising(self, *, at: datetime, rule: IncidentRule) -> tuple[DccSystem, ...]:
        """The systems unavailable, in the window ending at ``at``, to attempts of at least
        ``rule.minimum_models`` Device Models (in ``DccSystem`` order)."""
        at = utc(at)
        after = at - rule.window
        least = rule.minimum_models
        raising = []
        for system in DccSystem:
            by_model = self._seen.get(system, {})
            if len(by_model) < least:
                continue
            touched = 0
            for instants in by_model.values():
                touched += instants.any_within(after, at)
                if touched >= least:
                    raising.append(system)
                    break
        return tuple(raising)


@attrs.frozen(kw_only=True)
class PartyIncidentAdmission:
    """A Party's ECoS Migration Incident about one Device, admitted because the Error Handling
    and Retry Approach requires it (the exception of 3.7(f))."""

    party: str
    about: EUI64
    reason: str
    clause: str = clauses.ETMAD_3_7_F


def refuse_party_raised_incident(
    party: str,
    about: EUI64,
    *,
    required_by_error_handling: bool = False,
) -> PartyIncidentAdmission:
    """3.7(f): no Party has the right to raise an ECoS Migration Incident about the failed steps
    of one Device's ECoS Migration, unless the Error Handling and Retry Approach requires it.
    Raises ``RuleViolation`` (``PARTY_INCIDENT_REFUSED``) unless ``required_by_error_handling``."""
    if not required_by_error_handling:
        raise RuleViolation(
            f"{party} may not raise an ECoS Migration Incident about the failed steps of "
            f"Device {about}'s ECoS Migration: the Responsible Supplier is notified of them "
            "under the ETMAD",
            code="PARTY_INCIDENT_REFUSED",
            clause=clauses.ETMAD_3_7_F,
        )
    return PartyIncidentAdmission(
        party=party,
        about=about,
        reason="required by the ECoS Migration Error Handling and Retry Approach",
    )
