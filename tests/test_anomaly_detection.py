"""CoS Party Threshold Anomaly Detection (DOMAIN.md 3.6; SRPD 8.2, clause 20; the TADP ADT file
rules): the zero defaults, ADT files and their sequence numbers, the 1440-minute rolling window
and its edges, and the cease / warn / proceed policy with its properties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import clauses
from domain.anomaly_detection import (
    ZERO_THRESHOLD,
    AdtEntry,
    AdtFileLoaded,
    AdtThreshold,
    AnomalyDetectionRecord,
    RequestAssessed,
    ThresholdSource,
    Verdict,
    anomaly_detection_aggregate_id,
    assess_threshold,
    requests_in_window,
)
from domain.errors import RuleViolation

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
USER = "90-B3-D5-1F-30-01-00-00"
DAY = timedelta(minutes=1440)


def later(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def entry(srv: str = "6.23", minutes: int = 1440, adt: int = 10, warning: int = 8) -> AdtEntry:
    return AdtEntry(srv=srv, time_period_minutes=minutes, adt=adt, warning=warning)


def fold(
    record: AnomalyDetectionRecord, event: AdtFileLoaded | RequestAssessed
) -> AnomalyDetectionRecord:
    if record.version == 0:
        return AnomalyDetectionRecord.create(event, 1)
    return record.apply(event, record.version + 1)


def loaded(
    sequence_number: int = 1, entries: tuple[AdtEntry, ...] = (entry(),), minute: float = 0
) -> AnomalyDetectionRecord:
    record = AnomalyDetectionRecord(user_id=USER)
    event = record.load_adt_file(sequence_number=sequence_number, entries=entries, at=later(minute))
    return fold(record, event)


def assess(record: AnomalyDetectionRecord, minute: float, n: int = 1):
    """Assess ``n`` requests at ``later(minute)``; the folded record and the last decision."""
    decision = None
    for i in range(n):
        event = record.assess(request=f"service-request:{USER}:{minute}:{i}", at=later(minute))
        decision = event.decision
        record = fold(record, event)
    return record, decision


# --- the zero defaults ----------------------------------------------------------------------


def test_a_user_who_never_submitted_a_file_gets_zeros_and_every_request_ceases():
    record = AnomalyDetectionRecord(user_id=USER)
    assert record.aggregate_id == f"adt:{USER}" == anomaly_detection_aggregate_id(USER)
    assert record.threshold == ZERO_THRESHOLD == AdtThreshold(adt=0, warning=0)
    assert record.threshold.time_period_minutes == 1440
    assert record.source is ThresholdSource.NO_ADT_FILE
    decision = assess_threshold(record, T0, 0)
    assert decision.verdict is Verdict.CEASE
    assert decision.ceases
    assert decision.alerts_user
    assert [r.code for r in decision.reasons] == ["THRESHOLD_FROM_NO_ADT_FILE", "ADT_EXCEEDED"]
    assert decision.reasons[0].clause == clauses.TADP_ADT_NO_FILE
    assert decision.reasons[1].clause == clauses.SRPD_20
    assert decision.sequence_number is None


def test_a_file_without_a_1440_minute_srv_6_23_entry_loads_zeros_and_ignores_the_rest():
    entries = (entry(minutes=60, adt=50), entry(srv="6.24", adt=7), entry(srv="4.1.1", adt=3))
    record = loaded(entries=entries)
    assert record.threshold == ZERO_THRESHOLD
    assert record.source is ThresholdSource.ADT_FILE_DEFAULT
    decision = assess_threshold(record, later(1), 0)
    assert decision.verdict is Verdict.CEASE
    assert decision.reasons[0].code == "THRESHOLD_FROM_ADT_FILE_DEFAULT"
    assert decision.reasons[0].clause == clauses.TADP_ADT_DEFAULTS
    event = AnomalyDetectionRecord(user_id=USER).load_adt_file(
        sequence_number=1, entries=entries, at=T0
    )
    assert event.ignored_entries == 3


def test_only_the_users_1440_minute_srv_6_23_threshold_is_applied():
    entries = (entry(minutes=60, adt=1), entry(adt=12, warning=9), entry(srv="6.24", adt=0))
    event = AnomalyDetectionRecord(user_id=USER).load_adt_file(
        sequence_number=4, entries=entries, at=T0
    )
    assert event.threshold == AdtThreshold(adt=12, warning=9)
    assert event.source is ThresholdSource.ADT_FILE
    assert event.ignored_entries == 2
    assert event.clause == clauses.TADP_ADT_SEQUENCE_NUMBER


def test_a_newer_file_replaces_the_threshold_and_old_values_are_not_kept():
    record = loaded(1, (entry(adt=20, warning=15),))
    event = record.load_adt_file(sequence_number=2, entries=(entry(srv="6.24"),), at=later(5))
    record = fold(record, event)
    assert (record.threshold, record.source) == (ZERO_THRESHOLD, ThresholdSource.ADT_FILE_DEFAULT)
    assert (record.sequence_number, record.files_loaded, record.loaded_at) == (2, 2, later(5))


# --- sequence numbers and file checks -------------------------------------------------------


@pytest.mark.parametrize("sequence_number", [7, 6, 0])
def test_a_file_whose_sequence_number_is_not_greater_is_refused(sequence_number: int):
    record = loaded(7)
    with pytest.raises(RuleViolation) as refusal:
        record.load_adt_file(sequence_number=sequence_number, entries=(entry(),), at=later(1))
    assert refusal.value.code == "ADT_FILE_REPLAYED"
    assert refusal.value.clause == clauses.TADP_ADT_SEQUENCE_NUMBER
    event = record.load_adt_file(sequence_number=8, entries=(entry(),), at=later(1))
    assert event.sequence_number == 8


def test_any_first_sequence_number_is_accepted_and_invalid_ones_are_refused():
    record = AnomalyDetectionRecord(user_id=USER)
    assert record.load_adt_file(sequence_number=0, entries=(), at=T0).sequence_number == 0
    for bad in (-1, True, 1.5):
        with pytest.raises(RuleViolation) as refusal:
            record.load_adt_file(sequence_number=bad, entries=(), at=T0)  # type: ignore[arg-type]
        assert refusal.value.code == "INVALID_ADT_SEQUENCE_NUMBER"


def test_a_file_with_two_entries_for_one_srv_and_time_period_is_rejected_whole():
    record = AnomalyDetectionRecord(user_id=USER)
    with pytest.raises(RuleViolation) as refusal:
        record.load_adt_file(
            sequence_number=1, entries=(entry(adt=5), entry(srv="6.24"), entry(adt=9)), at=T0
        )
    assert refusal.value.code == "DUPLICATE_ADT_ENTRY"
    assert refusal.value.clause == clauses.TADP_ADT_ONE_ENTRY
    # the same SRV over another Time Period is another entry
    ok = record.load_adt_file(sequence_number=1, entries=(entry(), entry(minutes=60)), at=T0)
    assert ok.threshold == AdtThreshold(adt=10, warning=8)


@pytest.mark.parametrize(
    "bad", [entry(srv=" "), entry(minutes=0), entry(adt=-1), entry(warning=-2)]
)
def test_an_invalid_entry_rejects_the_whole_file(bad: AdtEntry):
    with pytest.raises(RuleViolation) as refusal:
        AnomalyDetectionRecord(user_id=USER).load_adt_file(
            sequence_number=1, entries=(entry(srv="6.24"), bad), at=T0
        )
    assert refusal.value.code == "INVALID_ADT_ENTRY"
    assert refusal.value.clause == clauses.TADP_3_7


def test_a_rejected_file_leaves_the_record_and_its_sequence_number_unchanged():
    record = loaded(3, (entry(adt=4),))
    with pytest.raises(RuleViolation):
        record.load_adt_file(sequence_number=9, entries=(entry(), entry()), at=later(1))
    # nothing was recorded: 4 is still greater than the last file loaded
    assert record.sequence_number == 3
    assert record.load_adt_file(sequence_number=4, entries=(), at=later(1)).sequence_number == 4


def test_events_and_the_user_id_are_checked():
    with pytest.raises(RuleViolation) as refusal:
        AnomalyDetectionRecord(user_id=" ")
    assert refusal.value.code == "USER_ID_REQUIRED"
    record = loaded(minute=10)
    with pytest.raises(RuleViolation) as refusal:
        record.assess(request="r", at=later(9))
    assert refusal.value.code == "BEFORE_LAST_EVENT"
    with pytest.raises(RuleViolation) as refusal:
        record.assess(request=" ", at=later(11))
    assert refusal.value.code == "REQUEST_REQUIRED"
    with pytest.raises(RuleViolation) as refusal:
        assess_threshold(record, later(11), -1)
    assert refusal.value.code == "INVALID_WINDOW_COUNT"


# --- the window -----------------------------------------------------------------------------


def test_the_window_is_the_1440_minutes_ending_at_receipt_open_at_its_start():
    at = later(2000)
    times = [at - DAY, at - DAY + timedelta(microseconds=1), later(1000), at]
    assert requests_in_window(times, at) == 3
    assert requests_in_window(times, at - timedelta(microseconds=1)) == 3  # `at` not yet
    assert requests_in_window([at + timedelta(seconds=1)], at) == 0  # not yet received


def test_a_request_exactly_1440_minutes_earlier_no_longer_counts():
    record, first = assess(loaded(entries=(entry(adt=1, warning=0),)), 0)
    assert first is not None
    assert first.verdict is Verdict.PROCEED
    # one minute short of a day: the first still counts, the second would be the 2nd of ADT 1
    _, second = assess(record, 1439)
    assert second is not None
    assert (second.window_counts, second.count, second.verdict) == (1, 2, Verdict.CEASE)
    # exactly 1440 minutes after the first: it has left the window
    record, third = assess(record, 1440)
    assert third is not None
    assert (third.window_counts, third.verdict) == (0, Verdict.PROCEED)
    assert third.window_from == later(0)


def test_ceased_requests_are_not_counted_and_old_ones_are_dropped_from_the_record():
    record, _ = assess(loaded(entries=(entry(adt=2, warning=0),)), 0, n=2)
    record, ceased = assess(record, 10, n=3)
    assert ceased is not None
    assert ceased.ceases
    assert record.counted == (later(0), later(0))
    assert record.window_count(later(10)) == 2
    record, after = assess(record, 1440)  # the first two left the window; nothing else counted
    assert after is not None
    assert (after.window_counts, after.verdict) == (0, Verdict.PROCEED)
    assert record.counted == (later(1440),)


# --- cease, warn, proceed -------------------------------------------------------------------


def test_proceed_then_warn_at_the_warning_threshold_then_cease_above_the_adt():
    record = loaded(entries=(entry(adt=5, warning=4),))
    verdicts = []
    for minute in range(7):
        record, decision = assess(record, minute)
        assert decision is not None
        verdicts.append((decision.count, decision.verdict))
    assert verdicts == [
        (1, Verdict.PROCEED),
        (2, Verdict.PROCEED),
        (3, Verdict.PROCEED),
        (4, Verdict.WARN),
        (5, Verdict.WARN),
        (6, Verdict.CEASE),
        (6, Verdict.CEASE),  # the ceased one was not counted
    ]


def test_each_decision_carries_its_inputs_reasons_and_clause():
    record = loaded(9, (entry(adt=5, warning=4),), minute=0)
    decision = assess_threshold(record, later(30), 3)
    assert decision.verdict is Verdict.WARN
    assert decision.alerts_user
    assert not decision.ceases
    assert decision.user_id == USER
    assert (decision.at, decision.window_from) == (later(30), later(30) - DAY)
    assert (decision.window_counts, decision.count) == (3, 4)
    assert (decision.threshold, decision.source) == (
        AdtThreshold(adt=5, warning=4),
        ThresholdSource.ADT_FILE,
    )
    assert decision.sequence_number == 9
    assert decision.clause == clauses.SRPD_20
    assert [r.code for r in decision.reasons] == [
        "THRESHOLD_FROM_ADT_FILE",
        "WARNING_THRESHOLD_REACHED",
    ]
    assert "file 9" in decision.reasons[0].detail
    proceed = assess_threshold(record, later(30), 0)
    assert (proceed.verdict, proceed.alerts_user) == (Verdict.PROCEED, False)
    assert proceed.reasons[-1].code == "WITHIN_THRESHOLD"
    event = record.assess(request="service-request:x", at=later(30))
    assert (event.request, event.clause) == ("service-request:x", clauses.SRPD_8_2)


def test_a_warning_threshold_of_zero_sets_no_warning_level():
    record = loaded(entries=(entry(adt=3, warning=0),))
    assert [assess_threshold(record, later(1), n).verdict for n in range(4)] == [
        Verdict.PROCEED,
        Verdict.PROCEED,
        Verdict.PROCEED,
        Verdict.CEASE,
    ]


def test_the_record_replays_to_the_same_state():
    record = loaded(1, (entry(adt=3, warning=2),))
    events: list[RequestAssessed] = []
    live = record
    for minute in (1, 2, 3, 4):
        assessed = live.assess(request=f"r{minute}", at=later(minute))
        events.append(assessed)
        live = fold(live, assessed)
    replayed = record
    for event in events:
        replayed = fold(replayed, event)
    assert replayed == live
    # a User with no file: its record may start with a (ceased) request
    first = AnomalyDetectionRecord(user_id=USER).assess(request="r0", at=T0)
    started = AnomalyDetectionRecord.create(first, 1)
    assert (started.source, started.counted, started.version) == (
        ThresholdSource.NO_ADT_FILE,
        (),
        1,
    )
    assert started.aggregate_id == f"adt:{USER}"


# --- properties -----------------------------------------------------------------------------

thresholds = st.builds(
    AdtThreshold,
    adt=st.integers(min_value=0, max_value=1000),
    warning=st.integers(min_value=0, max_value=1200),
)


def _with(threshold: AdtThreshold) -> AnomalyDetectionRecord:
    return loaded(entries=(entry(adt=threshold.adt, warning=threshold.warning),))


@settings(max_examples=100, deadline=None)
@given(thresholds, st.integers(min_value=0, max_value=1500), st.integers(0, 1500))
def test_the_verdict_is_monotone_in_the_count(threshold: AdtThreshold, a: int, b: int):
    record = _with(threshold)
    low, high = sorted((a, b))
    first = assess_threshold(record, later(1), low).verdict
    second = assess_threshold(record, later(1), high).verdict
    assert first.severity <= second.severity


@settings(max_examples=100, deadline=None)
@given(thresholds, st.integers(min_value=0, max_value=1500))
def test_it_ceases_exactly_when_the_count_exceeds_the_adt(threshold: AdtThreshold, before: int):
    decision = assess_threshold(_with(threshold), later(1), before)
    assert decision.count == before + 1
    assert decision.ceases == (decision.count > threshold.adt)
    if decision.count <= threshold.adt:  # never cease at or below the threshold
        assert decision.verdict in {Verdict.PROCEED, Verdict.WARN}


@settings(max_examples=50, deadline=None)
@given(
    st.integers(min_value=0, max_value=6),
    st.lists(st.integers(min_value=0, max_value=3000), max_size=25).map(sorted),
)
def test_the_requests_let_through_in_any_window_never_exceed_the_adt(adt: int, minutes):
    record = loaded(entries=(entry(adt=adt, warning=0),))
    through: list[datetime] = []
    for minute in minutes:
        record, decision = assess(record, minute)
        assert decision is not None
        if not decision.ceases:
            through.append(later(minute))
        assert requests_in_window(through, later(minute)) <= adt
        assert record.window_count(later(minute)) == requests_in_window(through, later(minute))
