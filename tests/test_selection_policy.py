"""The Device Candidate Selection Engine's policy, pure (ETMAD 6.1(a)-(b); DOMAIN.md 3.7)."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from random import Random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain import clauses
from domain.errors import RuleViolation
from domain.identifiers import EUI64, DeviceModelKey
from domain.selection import (
    DEFAULT_RAMP_UP,
    Candidate,
    DaySelection,
    ModelAllowance,
    ModelFacts,
    Selection,
    SelectionParameters,
    business_time,
    select_candidates,
    selection_aggregate_id,
    selection_sha256,
)

DAY = date(2024, 3, 4)
KEYS = [DeviceModelKey("ACME", f"E{n}", "2.0", "0100") for n in range(4)]
UNKNOWN = DeviceModelKey("NOBODY", "X", "1", "1")


def facts(
    key: DeviceModelKey = KEYS[0],
    *,
    authorised_at: datetime | None = None,
    started: int = 0,
    cap: int = 300,
    suspended: bool = False,
    non_migratable: bool = False,
) -> ModelFacts:
    return ModelFacts(
        model=key,
        proven=authorised_at is not None,
        authorised=authorised_at is not None,
        authorised_at=authorised_at,
        started=started,
        cap=cap,
        suspended=suspended,
        non_migratable=non_migratable,
    )


def devices(n: int, key: DeviceModelKey = KEYS[0], *, first: int = 1) -> list[Candidate]:
    return [
        Candidate(device_id=EUI64(i), model=key, eligible=True) for i in range(first, first + n)
    ]


def allowance(selection: Selection, key: DeviceModelKey) -> ModelAllowance:
    return next(a for a in selection.allowances if a.model == key)


def codes(selection: Selection, key: DeviceModelKey) -> list[str]:
    return [limit.code for limit in next(a for a in selection.allowances if a.model == key).limits]


# --- strategies ---------------------------------------------------------------------------------

model_facts = st.builds(
    ModelFacts,
    model=st.sampled_from(KEYS),
    proven=st.booleans(),
    authorised=st.booleans(),
    authorised_at=st.none()
    | st.integers(min_value=-40, max_value=40).map(
        lambda d: business_time(DAY) + timedelta(days=d, hours=5)
    ),
    started=st.integers(min_value=0, max_value=400),
    cap=st.integers(min_value=0, max_value=300),
    suspended=st.booleans(),
    non_migratable=st.booleans(),
)
models_strategy = st.lists(model_facts, max_size=4, unique_by=lambda m: m.model)
candidates_strategy = st.lists(
    st.builds(
        Candidate,
        device_id=st.integers(min_value=0, max_value=300).map(EUI64),
        model=st.sampled_from([*KEYS, UNKNOWN]),
        eligible=st.booleans(),
        reasons=st.just(()),
        migrating=st.booleans(),
    ),
    max_size=60,
    unique_by=lambda c: c.device_id,
)


def _schedule(gaps: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    steps, day = [(0, 3)], 0
    for gap, cap in gaps:
        day += gap
        steps.append((day, cap))
    return tuple(steps)


ramp_strategy = st.lists(
    st.tuples(st.integers(min_value=1, max_value=20), st.integers(min_value=0, max_value=30)),
    max_size=3,
).map(_schedule)


parameters_strategy = st.builds(
    SelectionParameters,
    daily_capacity=st.integers(min_value=0, max_value=40),
    pilot_size=st.integers(min_value=0, max_value=300),
    ramp_up=ramp_strategy,
)


def _days_since(m: ModelFacts) -> int | None:
    return None if m.authorised_at is None else (DAY - m.authorised_at.date()).days


# --- properties ---------------------------------------------------------------------------------


@given(candidates_strategy, models_strategy, parameters_strategy)
def test_the_selection_keeps_every_limit(
    candidates: list[Candidate], models: list[ModelFacts], parameters: SelectionParameters
) -> None:
    selection = select_candidates(DAY, candidates, models, parameters)
    by_id = {c.device_id: c for c in candidates}
    by_model = {m.model: m for m in models}
    chosen = selection.selected

    # The programme's capacity, and each Device once.
    assert len(chosen) <= parameters.daily_capacity
    assert len(set(chosen)) == len(chosen)
    # Never an ineligible, already-migrating, unknown-model, suspended or Non-Migratable one.
    for device_id in chosen:
        c = by_id[device_id]
        assert c.eligible
        assert not c.migrating
        assert c.model in by_model
        assert not by_model[c.model].suspended
        assert not by_model[c.model].non_migratable
    for m in models:
        count = sum(1 for d in chosen if by_id[d].model == m.model)
        if m.authorised:
            # The ramp-up step in force caps the day.
            days = _days_since(m)
            steps = parameters.ramp_up
            step_cap = (
                steps[-1][1]
                if days is None
                else max((s for s in steps if s[0] <= days), default=steps[0])[1]
            )
            assert count <= step_cap
        else:
            # Before the 1.6 decision: the pilot and the Bulk Migration number, counting the
            # migrations already started.
            assert m.started + count <= max(m.started, min(parameters.pilot_size, m.cap))
    # The allowances account for every selected Device, and explain every shortfall.
    assert sum(a.selected for a in selection.allowances) == len(chosen)
    for a in selection.allowances:
        assert 0 <= a.selected <= a.allowed <= a.selectable
        if a.selected < a.selectable:
            assert a.limits, a
    # Capacity left over means every model had all it was allowed.
    if len(chosen) < parameters.daily_capacity:
        assert all(a.selected == a.allowed for a in selection.allowances)
    # The fingerprint is the SHA-256 of the canonical selected set.
    canonical = "\n".join(sorted(str(d) for d in chosen)).encode("utf-8")
    assert selection.sha256 == hashlib.sha256(canonical).hexdigest()
    assert selection.considered == len(candidates)


@given(candidates_strategy, models_strategy, parameters_strategy, st.randoms())
def test_the_same_inputs_in_any_order_give_the_same_selection(
    candidates: list[Candidate],
    models: list[ModelFacts],
    parameters: SelectionParameters,
    random: Random,
) -> None:
    first = select_candidates(DAY, candidates, models, parameters)
    shuffled_candidates, shuffled_models = list(candidates), list(models)
    random.shuffle(shuffled_candidates)
    random.shuffle(shuffled_models)
    again = select_candidates(DAY, shuffled_candidates, shuffled_models, parameters)
    assert again == first
    # Ordered by model (its text form) then Device id.
    order = [
        (str(next(c.model for c in candidates if c.device_id == d)), d.value)
        for d in first.selected
    ]
    assert order == sorted(order)


# --- examples -----------------------------------------------------------------------------------


def test_before_the_decision_the_pilot_counts_migrations_already_started() -> None:
    params = SelectionParameters(pilot_size=20)
    selection = select_candidates(DAY, devices(30), [facts(started=15)], params)
    assert len(selection.selected) == 5
    assert codes(selection, KEYS[0]) == ["PILOT_SIZE"]
    limit = allowance(selection, KEYS[0]).limits[0]
    assert limit.clause == clauses.ETMAD_1_6


def test_the_pilot_never_passes_the_bulk_migration_number() -> None:
    params = SelectionParameters(pilot_size=300)
    selection = select_candidates(DAY, devices(50), [facts(started=2, cap=10)], params)
    assert len(selection.selected) == 8
    limits = allowance(selection, KEYS[0]).limits
    assert [(lim.code, lim.clause) for lim in limits] == [
        ("BULK_MIGRATION_NUMBER", clauses.ETMAD_2_BULK)
    ]


def test_a_model_at_its_bulk_number_gets_nothing_before_the_decision() -> None:
    selection = select_candidates(
        DAY, devices(5), [facts(started=300)], SelectionParameters(pilot_size=20)
    )
    assert selection.selected == ()
    assert codes(selection, KEYS[0]) == ["PILOT_SIZE", "BULK_MIGRATION_NUMBER"]


@pytest.mark.parametrize(
    ("days_after", "cap"),
    [
        (0, 50),
        (1, 50),
        (6, 50),
        (7, 200),
        (13, 200),
        (14, 1000),
        (27, 1000),
        (28, 5000),
        (400, 5000),
    ],
)
def test_after_the_decision_the_ramp_up_step_in_force_caps_the_day(
    days_after: int, cap: int
) -> None:
    authorised = business_time(DAY - timedelta(days=days_after)) + timedelta(hours=9)
    params = SelectionParameters(daily_capacity=100_000)
    assert params.ramp_up == DEFAULT_RAMP_UP
    selection = select_candidates(
        DAY, devices(6000), [facts(authorised_at=authorised, started=300)], params
    )
    assert len(selection.selected) == cap
    assert codes(selection, KEYS[0]) == ["RAMP_UP"]


def test_suspension_and_non_migratable_are_both_listed_and_close_the_model() -> None:
    selection = select_candidates(
        DAY,
        devices(3),
        [facts(suspended=True, non_migratable=True, authorised_at=business_time(DAY))],
        SelectionParameters(),
    )
    assert selection.selected == ()
    a = allowance(selection, KEYS[0])
    assert [(lim.code, lim.clause) for lim in a.limits] == [
        ("NON_MIGRATABLE_MODEL", clauses.ETMAD_1_4_A),
        ("MODEL_SUSPENDED", clauses.ETMAD_6_1_D),
    ]


def test_capacity_is_shared_across_models_one_device_at_a_time() -> None:
    candidates = (
        devices(10, KEYS[0]) + devices(10, KEYS[1], first=100) + devices(1, KEYS[2], first=200)
    )
    models = [facts(KEYS[0]), facts(KEYS[1]), facts(KEYS[2])]
    selection = select_candidates(DAY, candidates, models, SelectionParameters(daily_capacity=7))
    assert [a.selected for a in selection.allowances] == [3, 3, 1]
    assert codes(selection, KEYS[0]) == ["PROGRAMME_CAPACITY"]
    assert codes(selection, KEYS[2]) == []
    # Lowest Device ids first, listed by model then id.
    assert selection.selected == (
        EUI64(1),
        EUI64(2),
        EUI64(3),
        EUI64(100),
        EUI64(101),
        EUI64(102),
        EUI64(200),
    )


def test_a_model_with_no_selectable_devices_is_listed_with_nothing_selected() -> None:
    candidates = [
        Candidate(device_id=EUI64(1), model=KEYS[1], eligible=False, reasons=("TECHNICAL_ISSUE",)),
        Candidate(device_id=EUI64(2), model=KEYS[1], eligible=True, migrating=True),
    ]
    selection = select_candidates(
        DAY, candidates, [facts(KEYS[1], authorised_at=business_time(DAY))], SelectionParameters()
    )
    assert selection.selected == ()
    assert selection.considered == 2
    a = allowance(selection, KEYS[1])
    assert (a.selectable, a.allowed, a.selected, a.limits) == (0, 0, 0, ())
    assert selection.sha256 == hashlib.sha256(b"").hexdigest()


def test_devices_of_a_model_without_gate_facts_are_never_selected() -> None:
    selection = select_candidates(DAY, devices(3, UNKNOWN), [], SelectionParameters())
    assert selection.selected == ()
    assert selection.allowances == ()


def test_the_canonical_bytes_are_the_sorted_eui64_texts_joined_by_newlines() -> None:
    chosen = [EUI64.parse("00DB1234000000B0"), EUI64.parse("00-db-12-34-00-00-00-a0")]
    expected = b"00-DB-12-34-00-00-00-A0\n00-DB-12-34-00-00-00-B0"
    assert selection_sha256(chosen) == hashlib.sha256(expected).hexdigest()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"daily_capacity": -1},
        {"pilot_size": 301},
        {"pilot_size": True},
        {"ramp_up": ()},
        {"ramp_up": ((1, 50),)},
        {"ramp_up": ((0, 50), (7, 200), (7, 300))},
        {"ramp_up": ((0, -5),)},
    ],
)
def test_invalid_parameters_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(RuleViolation) as refused:
        SelectionParameters(**kwargs)  # type: ignore[arg-type]
    assert refused.value.code == "INVALID_SELECTION_PARAMETERS"


def test_a_day_is_recorded_once() -> None:
    selection = select_candidates(DAY, devices(2), [facts()], SelectionParameters())
    event = DaySelection.record(None, selection)
    assert event.day == "2024-03-04"
    assert event.occurred_at == datetime(2024, 3, 4, tzinfo=UTC)
    assert event.selected_sha256 == selection.sha256
    assert event.clause == clauses.ETMAD_6_1_A
    state = DaySelection.create(event, 1)
    assert state.aggregate_id == selection_aggregate_id(DAY) == "selection:2024-03-04"
    with pytest.raises(RuleViolation) as refused:
        DaySelection.record(state, selection)
    assert refused.value.code == "DAY_ALREADY_SELECTED"
    with pytest.raises(TypeError):
        state.apply(event, 2)
