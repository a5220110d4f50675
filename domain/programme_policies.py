"""Programme policies on completed attempts: the suspension rule (DOMAIN 4.3), Non-Migratable
candidates (DOMAIN 4.2) and ECoS Migration Incidents (DOMAIN 4.4, ETMAD 3.7).

Each is a pure function of facts and DCC-set parameters (with a ``version``) and returns a
decision value carrying its inputs, the rule id with its version, the clause and a *proposal*:
none of them suspends a model, categorises it Non-Migratable or raises an incident by itself.
The DCC's commands (``SuspendModel``, ``CategoriseNonMigratable``) stay separate decisions; the
process managers that feed these policies from the event log and record their proposals are
not built yet (``docs/decisions.md`` entries 19, 20 and 48).

The fact they share is ``CompletedAttempt``: one attempt of one Device's ECoS Migration that
came to an end, with the Failed Migration it ended on (``StepFailure``), or none if it succeeded.
"""

from __future__ import annotations

import enum
import itertools
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
    completed = len(counted)
    failed = sum(1 for f in counted if not f.succeeded)
    ratio = failed / completed if completed else None
    hours = rule.window.total_seconds() / 3600
    if completed < rule.minimum_completed:
        propose = False
        reason = (
            f"{completed} attempts of {model} completed in the last {hours:g} h "
            f"(below the minimum of {rule.minimum_completed}): the ratio does not count yet"
        )
    else:
        propose = failed >= rule.failure_ratio * completed
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
    if not _whole(failed_srv623_after_migration):
        raise _invalid(
            f"failed_srv623_after_migration must be a whole number, "
            f"not {failed_srv623_after_migration!r}",
            clauses.ETMAD_6_1_E,
        )
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
    n = rule.minimum_devices
    grounds: list[str] = []
    if len(rejected_devices) >= n and not replaced:
        grounds.append(
            f"{len(rejected_devices)} Devices rejected the credentials replacement device-side "
            f"(at least {n}) and none replaced its credentials"
        )
    if failed_srv623_after_migration >= n:
        grounds.append(
            f"{failed_srv623_after_migration} Devices migrated and then failed an SRV 6.23 "
            f"(at least {n})"
        )
    if grounds:
        reason = f"{model} proposed as a Non-Migratable candidate: " + "; ".join(grounds)
    else:
        why = (
            f"{len(replaced)} Devices replaced their credentials"
            if replaced
            else f"{len(rejected_devices)} Devices rejected the replacement device-side "
            f"(fewer than {n})"
        )
        reason = (
            f"{model} not proposed: {why}; {failed_srv623_after_migration} failed an SRV 6.23 "
            f"after migrating; {len(single)} Devices failed only on single-Device "
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
        system = UNAVAILABLE_SYSTEMS.get(f.failure.code) if f.failure is not None else None
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
