"""The programme policies (DOMAIN 4.2, 4.3, 4.4): pure proposals on completed attempts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import clauses
from domain.errors import RuleViolation
from domain.failures import (
    DeviceOutcome,
    FailureCause,
    FailureCode,
    ProviderResponse,
    ReplyKind,
    Step,
    StepFailure,
    classify_confirmation,
    classify_replacement,
    classify_tcos_step,
)
from domain.identifiers import EUI64, CosParty, DeviceModelKey
from domain.programme_policies import (
    ASSIGNED_TO_DCC,
    CompletedAttempt,
    DccSystem,
    IncidentRule,
    Instants,
    NonMigratableCandidateRule,
    NonMigratableEvidence,
    SuspensionRule,
    SuspensionTally,
    UnavailabilityTally,
    assess_suspension,
    assess_system_problem,
    propose_non_migratable,
    refuse_party_raised_incident,
)

AT = datetime(2024, 3, 4, 12, 0, tzinfo=UTC)
MODEL = DeviceModelKey("ACME", "M1", "1.0", "2.0")
OTHER = DeviceModelKey("ACME", "M2", "1.0", "2.0")


def model(n: int) -> DeviceModelKey:
    return DeviceModelKey("ACME", f"M{n}", "1.0", "1.0")


def device(n: int) -> EUI64:
    return EUI64(0x00DB123400000000 + n)


def rejected(cause: FailureCause, sub_code: str = "x") -> StepFailure:
    return StepFailure(
        step=Step.REPLACEMENT,
        code=FailureCode.REPLACEMENT_REJECTED,
        cause=cause,
        sub_code=sub_code,
        detail="",
    )


def replacement(kind: ReplyKind) -> StepFailure:
    result = classify_replacement(DeviceOutcome(kind=kind))
    assert result is not None
    return result


NO_RESPONSE = replacement(ReplyKind.NO_RESPONSE)
TRANSPORT_DOWN = replacement(ReplyKind.UNAVAILABLE)
BUSY = rejected(FailureCause.RESOURCES_BUSY, "resourcesBusy(30)")
BAD_CERT = rejected(FailureCause.BAD_CERTIFICATE, "badCertificate(5)")
NO_ANCHOR = rejected(FailureCause.NO_TRUST_ANCHOR, "noTrustAnchor(10)")
TCOS_DOWN = classify_tcos_step(Step.INSTRUCTION, ProviderResponse(kind=ReplyKind.UNAVAILABLE))
ECOS_NOT_CONFIRMED = classify_confirmation(
    CosParty.ECOS, ProviderResponse(kind=ReplyKind.ANSWERED, confirmed=False)
)


def attempt(
    n: int,
    failure: StepFailure | None = None,
    *,
    of: DeviceModelKey = MODEL,
    ago: timedelta = timedelta(hours=1),
) -> CompletedAttempt:
    return CompletedAttempt(device_id=device(n), model=of, completed_at=AT - ago, failure=failure)


def attempts(succeeded: int, failed: int, failure: StepFailure = NO_RESPONSE, start: int = 0):
    return [attempt(start + i) for i in range(succeeded)] + [
        attempt(start + succeeded + i, failure) for i in range(failed)
    ]


# --- 4.3 suspension ------------------------------------------------------------------------


def test_the_suspension_rule_has_documented_defaults():
    rule = SuspensionRule()
    assert rule.window == timedelta(hours=24)
    assert rule.minimum_completed == 20
    assert rule.failure_ratio == 0.5
    assert rule.version == "suspension-rule.v1"


def test_half_of_twenty_completed_attempts_failing_proposes_a_suspension():
    result = assess_suspension(MODEL, attempts(10, 10), at=AT)
    assert result.propose
    assert (result.completed, result.failed, result.ratio) == (20, 10, 0.5)
    assert result.minimum == 20
    assert result.threshold == 0.5
    assert result.clause == clauses.ETMAD_6_1_D == "ETMAD 6.1(d)"
    assert result.rule.version == "suspension-rule.v1"
    assert "10 of 20" in result.reason


def test_below_the_minimum_sample_nothing_is_proposed_even_when_every_attempt_failed():
    result = assess_suspension(MODEL, attempts(0, 19), at=AT)
    assert not result.propose
    assert (result.completed, result.failed, result.ratio) == (19, 19, 1.0)
    assert "below the minimum of 20" in result.reason


def test_below_the_threshold_nothing_is_proposed():
    result = assess_suspension(MODEL, attempts(11, 9), at=AT)
    assert not result.propose
    assert result.ratio == 0.45


def test_the_denominator_is_this_model_s_attempts_completed_in_the_window():
    facts = [
        *attempts(5, 15),
        *[attempt(100 + i, of=OTHER) for i in range(50)],  # another model: ignored
        *[attempt(200 + i, ago=timedelta(hours=25)) for i in range(50)],  # before the window
        attempt(300, ago=timedelta(hours=-1)),  # after ``at``: ignored
    ]
    result = assess_suspension(MODEL, facts, at=AT)
    assert (result.completed, result.failed) == (20, 15)
    assert result.window_from == AT - timedelta(hours=24)
    assert result.propose


def test_the_window_is_open_at_its_start_and_closed_at_at():
    rule = SuspensionRule(minimum_completed=1)
    at_start = assess_suspension(MODEL, [attempt(1, NO_RESPONSE, ago=rule.window)], at=AT)
    at_end = assess_suspension(MODEL, [attempt(1, NO_RESPONSE, ago=timedelta(0))], at=AT)
    assert at_start.completed == 0
    assert at_end.completed == 1


def test_dcc_system_unavailability_is_left_out_of_the_suspension_ratio():
    facts = [*attempts(15, 5), *attempts(0, 30, TRANSPORT_DOWN, start=100)]
    result = assess_suspension(MODEL, facts, at=AT)
    assert (result.completed, result.failed, result.excluded_unavailable) == (20, 5, 30)
    assert not result.propose
    assert "not counted" in result.reason
    assert TCOS_DOWN is not None
    result = assess_suspension(MODEL, [*attempts(0, 19), attempt(99, TCOS_DOWN)], at=AT)
    assert result.completed == 19
    assert not result.propose


def test_every_other_failed_migration_counts_towards_the_ratio():
    assert ECOS_NOT_CONFIRMED is not None
    facts = [*attempts(10, 5, BUSY), *attempts(0, 5, ECOS_NOT_CONFIRMED, start=50)]
    result = assess_suspension(MODEL, facts, at=AT)
    assert (result.completed, result.failed) == (20, 10)
    assert result.propose


@pytest.mark.parametrize(
    "fields",
    [
        {"window": timedelta(0)},
        {"minimum_completed": 0},
        {"failure_ratio": 0},
        {"failure_ratio": 1.5},
        {"version": ""},
    ],
)
def test_suspension_parameters_are_checked(fields):
    with pytest.raises(RuleViolation) as refused:
        SuspensionRule(**fields)
    assert refused.value.code == "INVALID_POLICY_PARAMETERS"


counts = st.integers(min_value=0, max_value=60)


@given(succeeded=counts, failed=counts, minimum=st.integers(1, 40))
def test_never_proposes_below_the_minimum(succeeded, failed, minimum):
    rule = SuspensionRule(minimum_completed=minimum)
    result = assess_suspension(MODEL, attempts(succeeded, failed), at=AT, rule=rule)
    assert result.completed == succeeded + failed
    if result.completed < minimum:
        assert not result.propose


@given(succeeded=counts, failed=counts, ratio=st.sampled_from([0.1, 0.25, 0.5, 0.75, 1.0]))
def test_the_proposal_is_monotone_in_failures(succeeded, failed, ratio):
    rule = SuspensionRule(minimum_completed=5, failure_ratio=ratio)
    before = assess_suspension(MODEL, attempts(succeeded, failed), at=AT, rule=rule)
    # one more failure (in place of a success, or added) never withdraws a proposal
    more = assess_suspension(MODEL, attempts(succeeded, failed + 1), at=AT, rule=rule)
    swapped = assess_suspension(
        MODEL, attempts(max(succeeded - 1, 0), failed + min(succeeded, 1)), at=AT, rule=rule
    )
    if before.propose:
        assert more.propose
        assert swapped.propose


@given(unavailable=counts)
def test_unavailability_never_changes_the_suspension_assessment(unavailable):
    base = attempts(12, 8)
    noisy = [*base, *attempts(0, unavailable, TRANSPORT_DOWN, start=1000)]
    a = assess_suspension(MODEL, base, at=AT)
    b = assess_suspension(MODEL, noisy, at=AT)
    assert (a.completed, a.failed, a.propose) == (b.completed, b.failed, b.propose)
    assert b.excluded_unavailable == unavailable


# --- 4.2 Non-Migratable candidates ---------------------------------------------------------


def test_five_devices_rejecting_device_side_and_none_replacing_proposes_a_candidate():
    facts = [attempt(i, BAD_CERT) for i in range(3)] + [attempt(i, NO_ANCHOR) for i in range(3, 5)]
    result = propose_non_migratable(MODEL, facts, at=AT)
    assert result.propose
    assert result.clause == clauses.ETMAD_6_1_E == "ETMAD 6.1(e)"
    assert result.rule.version == "non-migratable-candidate-rule.v1"
    stats = result.statistics
    assert stats.devices_rejected == 5
    assert stats.rejections_by_cause == (
        (FailureCause.BAD_CERTIFICATE, 3),
        (FailureCause.NO_TRUST_ANCHOR, 2),
    )
    assert stats.devices_replaced == 0


def test_distinct_devices_count_not_attempts():
    facts = [attempt(1, BAD_CERT, ago=timedelta(hours=h)) for h in range(1, 10)]
    result = propose_non_migratable(MODEL, facts, at=AT)
    assert not result.propose
    assert result.statistics.attempts == 9
    assert result.statistics.devices_rejected == 1


def test_any_device_replacing_its_credentials_blocks_the_proposal():
    facts = [attempt(i, BAD_CERT) for i in range(10)]
    assert propose_non_migratable(MODEL, facts, at=AT).propose
    blocked = propose_non_migratable(MODEL, [*facts, attempt(99)], at=AT)
    assert not blocked.propose
    assert blocked.statistics.devices_replaced == 1
    # replacing and then failing only at the confirmation (iv) is a replacement too
    assert ECOS_NOT_CONFIRMED is not None
    confirmed_missing = propose_non_migratable(
        MODEL, [*facts, attempt(98, ECOS_NOT_CONFIRMED)], at=AT
    )
    assert not confirmed_missing.propose


def test_single_device_communications_failures_never_propose_a_candidate():
    facts = [
        *[attempt(i, NO_RESPONSE) for i in range(50)],
        *[attempt(100 + i, BUSY) for i in range(50)],
        *[attempt(200 + i, TRANSPORT_DOWN) for i in range(50)],
    ]
    result = propose_non_migratable(MODEL, facts, at=AT)
    assert not result.propose
    assert result.statistics.devices_rejected == 0
    assert result.statistics.devices_single_device_failures == 150
    assert "never count" in result.reason


def test_devices_that_migrated_then_failed_srv623_propose_a_candidate_even_after_success():
    facts = [attempt(i) for i in range(5)]
    result = propose_non_migratable(MODEL, facts, at=AT, failed_srv623_after_migration=5)
    assert result.propose
    assert "SRV 6.23" in result.reason
    assert result.statistics.devices_failed_srv623_after_migration == 5
    fewer = propose_non_migratable(MODEL, facts, at=AT, failed_srv623_after_migration=4)
    assert not fewer.propose


def test_other_models_and_later_attempts_are_ignored():
    facts = [
        *[attempt(i, BAD_CERT, of=OTHER) for i in range(10)],
        *[attempt(i, BAD_CERT, ago=timedelta(hours=-1)) for i in range(10, 20)],
    ]
    result = propose_non_migratable(MODEL, facts, at=AT)
    assert not result.propose
    assert result.statistics.attempts == 0


def test_the_candidate_minimum_is_a_parameter():
    facts = [attempt(i, BAD_CERT) for i in range(2)]
    assert propose_non_migratable(
        MODEL, facts, at=AT, rule=NonMigratableCandidateRule(minimum_devices=2)
    ).propose
    with pytest.raises(RuleViolation):
        NonMigratableCandidateRule(minimum_devices=0)


comms_failures = st.sampled_from([NO_RESPONSE, BUSY, TRANSPORT_DOWN])


@given(failures=st.lists(comms_failures, max_size=80))
def test_no_mix_of_single_device_failures_proposes_a_candidate(failures):
    facts = [attempt(i, f) for i, f in enumerate(failures)]
    assert not propose_non_migratable(MODEL, facts, at=AT).propose


# --- 4.4 incidents -------------------------------------------------------------------------


def test_a_transport_outage_across_three_models_raises_an_incident_assigned_to_the_dcc():
    facts = [attempt(i, TRANSPORT_DOWN, of=model(i), ago=timedelta(minutes=5)) for i in range(3)]
    result = assess_system_problem(facts, at=AT)
    assert result.raise_incident
    assert result.category == 1  # every model attempted was touched
    assert result.assigned_to == ASSIGNED_TO_DCC == "DCC"
    assert result.clause == clauses.ETMAD_3_7_E
    assert result.category_clause == clauses.ETMAD_3_7_G
    assert result.assignment_clause == clauses.ETMAD_3_7_D
    assert result.rule.version == "incident-rule.v1"
    assert [s.system for s in result.systems] == [DccSystem.TRANSPORT]


def test_the_category_follows_the_share_of_models_touched():
    down = [attempt(i, TRANSPORT_DOWN, of=model(i), ago=timedelta(minutes=5)) for i in range(3)]
    for healthy_models, category in ((0, 1), (3, 2), (6, 3), (20, 4), (40, 5)):
        healthy = [
            attempt(100 + i, of=model(100 + i), ago=timedelta(minutes=5))
            for i in range(healthy_models)
        ]
        result = assess_system_problem([*down, *healthy], at=AT)
        assert result.category == category, healthy_models


def test_one_model_s_or_one_device_s_failures_never_raise_an_incident():
    one_model = [attempt(i, TRANSPORT_DOWN, ago=timedelta(minutes=5)) for i in range(100)]
    device_side = [attempt(i, BAD_CERT, of=model(i), ago=timedelta(minutes=5)) for i in range(50)]
    for facts in (one_model, device_side, [attempt(1, NO_RESPONSE)]):
        result = assess_system_problem(facts, at=AT)
        assert not result.raise_incident
        assert result.category is None
        assert result.assigned_to is None


def test_unavailability_of_different_systems_is_not_added_together():
    assert TCOS_DOWN is not None
    facts = [
        attempt(1, TRANSPORT_DOWN, of=model(1), ago=timedelta(minutes=5)),
        attempt(2, TRANSPORT_DOWN, of=model(2), ago=timedelta(minutes=5)),
        attempt(3, TCOS_DOWN, of=model(3), ago=timedelta(minutes=5)),
    ]
    result = assess_system_problem(facts, at=AT)
    assert not result.raise_incident
    assert {s.system for s in result.systems} == {
        DccSystem.TRANSPORT,
        DccSystem.TCOS_SERVICE_PROVIDER,
    }


def test_unavailability_outside_the_window_does_not_count():
    facts = [attempt(i, TRANSPORT_DOWN, of=model(i), ago=timedelta(hours=2)) for i in range(5)]
    assert not assess_system_problem(facts, at=AT).raise_incident


@pytest.mark.parametrize(
    "fields",
    [{"minimum_models": 1}, {"category_shares": (0.5, 0.5, 0.2, 0.1)}, {"window": timedelta(0)}],
)
def test_incident_parameters_are_checked(fields):
    with pytest.raises(RuleViolation):
        IncidentRule(**fields)


def test_a_party_may_not_raise_an_incident_about_one_device_s_failed_steps():
    with pytest.raises(RuleViolation) as refused:
        refuse_party_raised_incident("SUPPLIER-A", device(1))
    assert refused.value.code == "PARTY_INCIDENT_REFUSED"
    assert refused.value.clause == clauses.ETMAD_3_7_F == "ETMAD 3.7(f)"


def test_a_party_incident_is_admitted_where_the_error_handling_approach_requires_it():
    admitted = refuse_party_raised_incident(
        "SUPPLIER-A", device(1), required_by_error_handling=True
    )
    assert admitted.about == device(1)
    assert admitted.clause == clauses.ETMAD_3_7_F


@given(n_models=st.integers(1, 10), minimum=st.integers(2, 6))
def test_an_incident_needs_the_minimum_number_of_models(n_models, minimum):
    facts = [
        attempt(i, TRANSPORT_DOWN, of=model(i), ago=timedelta(minutes=1)) for i in range(n_models)
    ]
    result = assess_system_problem(facts, at=AT, rule=IncidentRule(minimum_models=minimum))
    assert result.raise_incident == (n_models >= minimum)


# --- the incremental forms -----------------------------------------------------------------

HOUR = timedelta(hours=1)


def test_instants_count_a_half_open_span_and_remove_one_occurrence():
    instants = Instants([AT, AT - HOUR])
    instants.add(AT)
    instants.add(AT - 2 * HOUR)  # out of order: kept in order
    assert len(instants) == 4
    assert instants.upto(AT - HOUR) == 2
    assert instants.within(AT - 2 * HOUR, AT) == 3  # open at its start, closed at its end
    assert instants.within(AT, AT - HOUR) == 0
    assert instants.any_within(AT - 2 * HOUR, AT - HOUR)
    assert not instants.any_within(AT - HOUR, AT - timedelta(minutes=1))
    instants.remove(AT)
    assert instants.within(AT - HOUR, AT) == 1
    with pytest.raises(ValueError, match="not among"):
        instants.remove(AT + HOUR)


MODELS = (MODEL, OTHER, model(3), model(4))
EVERY_FAILURE = (
    None,
    None,
    NO_RESPONSE,
    TRANSPORT_DOWN,
    BUSY,
    BAD_CERT,
    NO_ANCHOR,
    rejected(FailureCause.INSUFFICIENT_MEMORY, "insufficientMemory(11)"),
    TCOS_DOWN,
    TRANSPORT_DOWN,
    ECOS_NOT_CONFIRMED,
)

#: Attempts of a few Devices of a few models, completed in any order over three hours.
histories = st.lists(
    st.builds(
        CompletedAttempt,
        device_id=st.integers(1, 8).map(device),
        model=st.sampled_from(MODELS),
        completed_at=st.integers(-180, 0).map(lambda m: AT + m * timedelta(minutes=1)),
        failure=st.sampled_from(EVERY_FAILURE),
    ),
    min_size=8,
    max_size=60,
)
instants_in_range = st.integers(-190, 10).map(lambda m: AT + m * timedelta(minutes=1))


@settings(max_examples=300)
@given(
    facts=histories,
    removed=st.sets(st.integers(0, 59), max_size=8),
    at=instants_in_range,
    window=st.integers(1, 240).map(lambda m: m * timedelta(minutes=1)),
    minimum=st.integers(1, 6),
    ratio=st.sampled_from([0.1, 0.3, 0.5, 2 / 3, 1.0]),
)
def test_the_suspension_tally_assesses_as_assess_suspension(
    *, facts, removed, at, window, minimum, ratio
):
    rule = SuspensionRule(window=window, minimum_completed=minimum, failure_ratio=ratio)
    tally = SuspensionTally(MODEL)
    for fact in facts:
        if fact.model == MODEL:
            tally.add(fact)
    kept = []
    for i, fact in enumerate(facts):
        if i in removed and fact.model == MODEL:
            tally.remove(fact)
        else:
            kept.append(fact)
    expected = assess_suspension(MODEL, kept, at=at, rule=rule)
    assert tally.assess(at=at, rule=rule) == expected
    assert tally.proposes(at=at, rule=rule) == expected.propose


def test_a_tally_holds_one_model_s_attempts_only():
    with pytest.raises(ValueError, match="not one of"):
        SuspensionTally(MODEL).add(attempt(1, of=OTHER))
    with pytest.raises(ValueError, match="not one of"):
        NonMigratableEvidence(MODEL).add(attempt(1, of=OTHER))
    with pytest.raises(ValueError, match="not among"):
        SuspensionTally(MODEL).remove(attempt(1))


@settings(max_examples=300)
@given(
    facts=histories,
    at=instants_in_range,
    failed_srv623=st.integers(0, 6),
    minimum=st.integers(1, 4),
)
def test_the_non_migratable_evidence_proposes_as_propose_non_migratable(
    facts, at, failed_srv623, minimum
):
    rule = NonMigratableCandidateRule(minimum_devices=minimum)
    evidence = NonMigratableEvidence(MODEL)
    for fact in facts:
        if fact.model == MODEL:
            evidence.add(fact)
    expected = propose_non_migratable(
        MODEL, facts, at=at, failed_srv623_after_migration=failed_srv623, rule=rule
    )
    candidate = evidence.candidate(at=at, failed_srv623_after_migration=failed_srv623, rule=rule)
    assert candidate == expected
    assert evidence.proposes(at=at, failed_srv623_after_migration=failed_srv623, rule=rule) == (
        expected.propose
    )
    with pytest.raises(RuleViolation):
        evidence.candidate(at=at, failed_srv623_after_migration=-1)


@settings(max_examples=300)
@given(
    facts=histories,
    removed=st.sets(st.integers(0, 59), max_size=8),
    at=instants_in_range,
    window=st.integers(1, 240).map(lambda m: m * timedelta(minutes=1)),
    minimum=st.integers(2, 4),
)
def test_the_unavailability_tally_raises_as_assess_system_problem(
    facts, removed, at, window, minimum
):
    rule = IncidentRule(window=window, minimum_models=minimum)
    tally = UnavailabilityTally()
    for fact in facts:
        tally.add(fact)
    kept = []
    for i, fact in enumerate(facts):
        if i in removed:
            tally.remove(fact)
        else:
            kept.append(fact)
    expected = assess_system_problem(kept, at=at, rule=rule)
    raising = tally.raising(at=at, rule=rule)
    assert raising == tuple(s.system for s in expected.systems if len(s.models) >= minimum)
    assert bool(raising) == expected.raise_incident
