"""The Bulk gate as a pure policy (ETMAD 1.6, 6.1(b), 6.2, section 2), under Hypothesis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.bulk_gate import (
    AUTO_AUTHORISE_POLICY,
    BULK_MIGRATION_CEILING,
    assess_bulk_gate,
    authorise_by_policy,
    bulk_migration_number,
    find_proof,
)
from domain.device import ProvingPair
from domain.device_model import Authorisation, DeviceModel
from domain.errors import RuleViolation
from domain.events import EventRef
from domain.identifiers import EUI64, DeviceModelKey, DeviceType, SmetsGeneration

AT = datetime(2023, 7, 10, 12, tzinfo=UTC)


def model(
    firmware: int, *, hardware: str = "1", name: str = "M1", proven: bool = False
) -> DeviceModel:
    key = DeviceModelKey("ACME", name, hardware, f"{firmware:04d}")
    proof = None
    if proven:
        proof = ProvingPair(
            EUI64(firmware),
            key,
            EventRef(f"device:{firmware}", 3, "etmad.device.CredentialsReplaced.v1"),
            EventRef(f"device:{firmware}", 4, "etmad.device.Srv623Processed.v1"),
            AT - timedelta(days=1),
        )
    return DeviceModel(
        key=key,
        device_type=DeviceType.ESME,
        smets=SmetsGeneration.SMETS2_PLUS,
        firmware_rank=firmware,
        proving=proof,
    )


siblings = st.lists(
    st.tuples(
        st.integers(0, 20),
        st.sampled_from(["1", "2"]),
        st.sampled_from(["M1", "M2"]),
        st.booleans(),
    ),
    max_size=8,
)


@given(rank=st.integers(0, 20), others=siblings, own=st.booleans())
def test_proof_comes_only_from_the_model_or_a_later_firmware_of_its_family(rank, others, own):
    subject = model(rank, proven=own)
    family = [
        model(r, hardware=h, name=n, proven=p)
        for r, h, n, p in others
        if (r, h, n) != (rank, "1", "M1")
    ]
    proof = find_proof(subject, family)
    counting = [
        s
        for s in family
        if s.key.family == subject.key.family and s.firmware_rank > rank and s.proving
    ]
    if own:
        assert proof == subject.proving
    elif counting:
        assert proof is not None
        assert proof.model in {s.key for s in counting}
    else:
        assert proof is None


@given(
    cap=st.integers(0, BULK_MIGRATION_CEILING),
    started=st.integers(0, 400),
    authorised=st.booleans(),
)
def test_may_start_until_the_cap_unless_authorised(cap, started, authorised):
    subject = model(1, proven=authorised)
    devices = frozenset(EUI64(n) for n in range(started))
    decision = None
    if authorised:
        assert subject.proving is not None
        decision = Authorisation(
            AT, "ops", by_policy=False, rationale="reasonably satisfied", evidence=subject.proving
        )
    subject = attrs.evolve(subject, started_devices=devices, authorisation=decision)
    gate = assess_bulk_gate(subject, [], as_of=AT, cap=cap)
    assert gate.migrations_started == started
    assert gate.may_start == (authorised or started < cap)
    assert gate.authorised == authorised
    if not gate.may_start:
        assert [r.code for r in gate.reasons] == ["BULK_CAP_REACHED"]


@given(value=st.integers(-1000, 1000))
def test_the_bulk_migration_number_is_never_above_300(value):
    if 0 <= value <= BULK_MIGRATION_CEILING:
        assert bulk_migration_number(value) == value
    else:
        with pytest.raises(RuleViolation) as raised:
            bulk_migration_number(value)
        assert raised.value.code == "INVALID_BULK_MIGRATION_NUMBER"


def test_the_policy_decides_once_and_names_itself():
    subject = model(1, proven=True)
    decided = authorise_by_policy(subject, subject.proving, at=AT, enabled=True)
    assert decided is not None
    assert decided.decided_by == AUTO_AUTHORISE_POLICY
    assert decided.by_policy is True
    assert authorise_by_policy(subject, subject.proving, at=AT, enabled=False) is None
    assert authorise_by_policy(subject, None, at=AT, enabled=True) is None
    authorised = subject.apply(decided, 2)
    assert authorise_by_policy(authorised, subject.proving, at=AT, enabled=True) is None
