"""SRV 6.23 routing (SRPD 6.4, 8.1, 8.1A as rewritten by ETMAD 3.5; ETMAD 1.20; DOMAIN.md 3.4)
and the register of the CoS parties' certificates it reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain import clauses
from domain.cos_parties import (
    COS_PARTY_REGISTER_ID,
    CosCertificateRecorded,
    CosPartyRegister,
    Smets1TestingCompleted,
)
from domain.device import Commissioned
from domain.errors import RuleViolation
from domain.events import DomainEvent
from domain.identifiers import CertificateId, CosParty, SmetsGeneration
from domain.routing import (
    REASON_CLAUSES,
    REFUSALS,
    RouteInputs,
    RouteReasonCode,
    RouteTo,
    decide_route,
    route_srv623,
)

T0 = datetime(2023, 7, 1, 9, 0, tzinfo=UTC)
TCOS_CERT = CertificateId(0x1001, "CN=Test TCoS OCA")
ECOS_CERT = CertificateId(0x2002, "CN=Test ECoS OCA")
STRANGER = CertificateId(0x3003, "CN=Test Supplier OCA")
SMETS1 = SmetsGeneration.SMETS1
SMETS2 = SmetsGeneration.SMETS2_PLUS
R = RouteReasonCode


def fold(events: list[DomainEvent]) -> CosPartyRegister:
    """Fold events as the store would: the first creates, each later one applies."""
    register = CosPartyRegister.create(events[0], 1)
    for version, event in enumerate(events[1:], start=2):
        register = register.apply(event, version)
    return register


def record(register: CosPartyRegister, *events: DomainEvent) -> CosPartyRegister:
    for event in events:
        register = register.apply(event, register.version + 1)
    return register


def register_with(*, testing_at: datetime | None = None) -> CosPartyRegister:
    """The TCoS and ECoS certificates recorded at T0, and the SMETS1 testing if given."""
    register = CosPartyRegister()
    register = record(
        register,
        register.record_certificate(
            certificate=TCOS_CERT, party=CosParty.TCOS, at=T0, recorded_by="dcc-ops"
        ),
    )
    register = record(
        register,
        register.record_certificate(
            certificate=ECOS_CERT, party=CosParty.ECOS, at=T0, recorded_by="dcc-ops"
        ),
    )
    if testing_at is not None:
        register = record(
            register,
            register.record_smets1_testing_completed(
                completed_at=testing_at, evidence="ETAD SMETS1 test report 4.2", recorded_by="x"
            ),
        )
    return register


def route(
    certificate: CertificateId | None,
    generation: SmetsGeneration,
    *,
    variant: int = 1,
    at: datetime = T0 + timedelta(days=1),
    register: CosPartyRegister | None = None,
):
    return route_srv623(
        certificate=certificate,
        generation=generation,
        command_variant=variant,
        at=at,
        register=register if register is not None else register_with(),
    )


# --- the register ---------------------------------------------------------------------------


def test_the_register_folds_its_events_and_answers_by_certificate_identity():
    events: list[DomainEvent] = [
        CosCertificateRecorded(
            occurred_at=T0, certificate=TCOS_CERT, party=CosParty.TCOS, recorded_by="a"
        ),
        Smets1TestingCompleted(occurred_at=T0, evidence="report", recorded_by="b"),
        CosCertificateRecorded(
            occurred_at=T0, certificate=ECOS_CERT, party=CosParty.ECOS, recorded_by="a"
        ),
    ]
    register = fold(events)
    assert register.aggregate_id == COS_PARTY_REGISTER_ID
    assert register.version == 3
    assert register.party_of(TCOS_CERT) is CosParty.TCOS
    assert register.party_of(ECOS_CERT) is CosParty.ECOS
    assert register.party_of(STRANGER) is None
    # Identity is serial and issuer together: the same serial from another issuer is unknown.
    assert register.party_of(CertificateId(TCOS_CERT.serial, "CN=Other OCA")) is None
    assert register.party_of(CertificateId(ECOS_CERT.serial, TCOS_CERT.issuer)) is None
    assert register.smets1_testing is not None
    assert (register.smets1_testing.completed_at, register.smets1_testing.evidence) == (
        T0,
        "report",
    )
    # each event names the clause it records under
    assert events[0].clause == clauses.ETMAD_2_TCOS_DEVICE  # type: ignore[attr-defined]
    assert events[1].clause == clauses.ETMAD_1_20  # type: ignore[attr-defined]


def test_an_empty_register_knows_no_certificate_and_no_testing():
    register = CosPartyRegister()
    assert register.party_of(TCOS_CERT) is None
    assert register.smets1_testing_as_of(None) is None


def test_the_register_answers_as_it_stood_at_a_time():
    register = register_with(testing_at=T0 + timedelta(days=10))
    assert register.party_of(TCOS_CERT, as_of=T0 - timedelta(seconds=1)) is None
    assert register.party_of(TCOS_CERT, as_of=T0) is CosParty.TCOS
    assert register.smets1_testing_as_of(T0 + timedelta(days=9)) is None
    testing = register.smets1_testing_as_of(T0 + timedelta(days=10))
    assert testing is not None
    assert testing.evidence == "ETAD SMETS1 test report 4.2"


def test_a_certificate_recorded_for_one_party_is_refused_for_the_other():
    register = register_with()
    with pytest.raises(RuleViolation) as refused:
        register.record_certificate(
            certificate=TCOS_CERT, party=CosParty.ECOS, at=T0, recorded_by="dcc-ops"
        )
    assert refused.value.code == "COS_CERTIFICATE_OF_OTHER_PARTY"
    assert refused.value.clause == clauses.ETMAD_2_TCOS_DEVICE


def test_a_certificate_is_recorded_once():
    register = register_with()
    with pytest.raises(RuleViolation) as refused:
        register.record_certificate(
            certificate=ECOS_CERT, party=CosParty.ECOS, at=T0, recorded_by="dcc-ops"
        )
    assert refused.value.code == "COS_CERTIFICATE_ALREADY_RECORDED"
    assert refused.value.clause == clauses.ETMAD_2_TCOS_DEVICE


def test_recording_names_who_recorded_and_needs_an_aware_time():
    register = CosPartyRegister()
    with pytest.raises(RuleViolation) as refused:
        register.record_certificate(
            certificate=TCOS_CERT, party=CosParty.TCOS, at=T0, recorded_by="  "
        )
    assert refused.value.code == "RECORDED_BY_REQUIRED"
    with pytest.raises(RuleViolation) as naive:
        register.record_certificate(
            certificate=TCOS_CERT,
            party=CosParty.TCOS,
            at=datetime(2023, 7, 1),  # noqa: DTZ001 — the refusal under test
            recorded_by="dcc-ops",
        )
    assert naive.value.code == "INVALID_TIME"


def test_the_smets1_testing_is_recorded_once_with_its_evidence():
    register = CosPartyRegister()
    with pytest.raises(RuleViolation) as no_evidence:
        register.record_smets1_testing_completed(completed_at=T0, evidence=" ", recorded_by="x")
    assert (no_evidence.value.code, no_evidence.value.clause) == ("EVIDENCE_REQUIRED", "ETMAD 1.20")
    with pytest.raises(RuleViolation) as nobody:
        register.record_smets1_testing_completed(completed_at=T0, evidence="r", recorded_by="")
    assert nobody.value.code == "RECORDED_BY_REQUIRED"

    event = register.record_smets1_testing_completed(
        completed_at=T0, evidence="report", recorded_by="x"
    )
    assert event.occurred_at == T0
    register = record(register, event)
    with pytest.raises(RuleViolation) as again:
        register.record_smets1_testing_completed(
            completed_at=T0 + timedelta(days=1), evidence="report", recorded_by="x"
        )
    assert (again.value.code, again.value.clause) == (
        "SMETS1_TESTING_ALREADY_RECORDED",
        "ETMAD 1.20",
    )


def test_the_register_folds_only_its_own_events():
    with pytest.raises(TypeError):
        CosPartyRegister().apply(Commissioned(occurred_at=T0), 1)


# --- the routes -----------------------------------------------------------------------------


def test_a_smets2_request_for_a_tcos_device_goes_to_the_tcos_party():
    decided = route(TCOS_CERT, SMETS2)
    assert decided.route is RouteTo.TCOS_PARTY
    assert [(r.code, r.clause) for r in decided.reasons] == [(R.TCOS_DEVICE, "SRPD 8.1A")]
    assert not decided.rejected
    assert decided.inputs == RouteInputs(
        certificate=TCOS_CERT,
        party=CosParty.TCOS,
        generation=SMETS2,
        command_variant=1,
        smets1_testing_completed_at=None,
    )
    assert decided.as_of == T0 + timedelta(days=1)


def test_a_smets1_request_for_a_tcos_device_leaves_on_the_legacy_path():
    # SRPD 6.4(b): clause 8 does not apply, with or without the ETMAD 1.20 testing.
    for register in (register_with(), register_with(testing_at=T0)):
        decided = route(TCOS_CERT, SMETS1, register=register)
        assert decided.route is RouteTo.SMETS1_LEGACY
        assert [(r.code, r.clause) for r in decided.reasons] == [
            (R.SMETS1_TCOS_DEVICE, "SRPD 6.4(b)")
        ]


def test_a_smets2_request_for_a_device_that_is_not_a_tcos_device_goes_to_the_cos_party():
    decided = route(ECOS_CERT, SMETS2)
    assert decided.route is RouteTo.COS_PARTY
    assert [(r.code, r.clause) for r in decided.reasons] == [(R.NOT_A_TCOS_DEVICE, "SRPD 8.1")]


def test_a_smets1_request_for_an_ecos_device_waits_for_the_1_20_testing():
    completed = T0 + timedelta(days=5)
    register = register_with(testing_at=completed)

    before = route(ECOS_CERT, SMETS1, at=completed - timedelta(microseconds=1), register=register)
    assert before.route is RouteTo.REJECTED
    assert [(r.code, r.clause) for r in before.reasons] == [(R.SMETS1_ECOS_NOT_READY, "ETMAD 1.20")]
    assert before.inputs.smets1_testing_completed_at is None

    at_completion = route(ECOS_CERT, SMETS1, at=completed, register=register)
    assert at_completion.route is RouteTo.COS_PARTY
    assert [(r.code, r.clause) for r in at_completion.reasons] == [
        (R.NOT_A_TCOS_DEVICE, "SRPD 8.1"),
        (R.SMETS1_ECOS_READY, "ETMAD 1.20"),
    ]
    assert at_completion.inputs.smets1_testing_completed_at == completed

    never = route(ECOS_CERT, SMETS1, register=register_with())
    assert never.codes() == {R.SMETS1_ECOS_NOT_READY}


@pytest.mark.parametrize("variant", [2, 3])
@pytest.mark.parametrize("certificate", [TCOS_CERT, ECOS_CERT])
@pytest.mark.parametrize("generation", [SMETS1, SMETS2])
def test_local_delivery_variants_are_rejected(
    variant: int, certificate: CertificateId, generation: SmetsGeneration
):
    decided = route(certificate, generation, variant=variant, register=register_with(testing_at=T0))
    assert decided.route is RouteTo.REJECTED
    assert [(r.code, r.clause) for r in decided.reasons] == [
        (R.COMMAND_VARIANT_NOT_SUPPORTED, "DUIS 3.8.76")
    ]


@pytest.mark.parametrize("variant", [-1, 0, 9, 10])
def test_a_variant_outside_duis_range_is_invalid(variant: int):
    decided = route(TCOS_CERT, SMETS2, variant=variant)
    assert decided.route is RouteTo.REJECTED
    assert [(r.code, r.clause) for r in decided.reasons] == [
        (R.INVALID_COMMAND_VARIANT, "DUIS CommandVariant")
    ]


@pytest.mark.parametrize("variant", [1, 4, 5, 6, 7, 8])
def test_the_other_variants_are_routed(variant: int):
    assert route(TCOS_CERT, SMETS2, variant=variant).route is RouteTo.TCOS_PARTY


def test_a_certificate_in_neither_list_is_refused_not_guessed():
    for generation in (SMETS1, SMETS2):
        decided = route(STRANGER, generation, register=register_with(testing_at=T0))
        assert decided.route is RouteTo.REJECTED
        assert [(r.code, r.clause) for r in decided.reasons] == [
            (R.UNKNOWN_COS_CERTIFICATE, clauses.ETMAD_2_TCOS_DEVICE)
        ]
        assert decided.inputs.party is None


def test_a_certificate_recorded_after_the_request_is_unknown_to_it():
    decided = route(TCOS_CERT, SMETS2, at=T0 - timedelta(days=1))
    assert decided.codes() == {R.UNKNOWN_COS_CERTIFICATE}


def test_a_device_with_no_recorded_certificate_is_refused():
    decided = route(None, SMETS2)
    assert decided.route is RouteTo.REJECTED
    assert [(r.code, r.clause) for r in decided.reasons] == [
        (R.NO_COS_CERTIFICATE, clauses.ETMAD_2_TCOS_DEVICE)
    ]


def test_every_refusal_that_applies_is_listed():
    decided = route(STRANGER, SMETS1, variant=3)
    assert [r.code for r in decided.reasons] == [
        R.COMMAND_VARIANT_NOT_SUPPORTED,
        R.UNKNOWN_COS_CERTIFICATE,
    ]
    not_ready = route(ECOS_CERT, SMETS1, variant=0)
    assert [r.code for r in not_ready.reasons] == [
        R.INVALID_COMMAND_VARIANT,
        R.SMETS1_ECOS_NOT_READY,
    ]


def test_the_route_needs_an_aware_time():
    with pytest.raises(RuleViolation) as naive:
        route(TCOS_CERT, SMETS2, at=datetime(2023, 7, 2))  # noqa: DTZ001 — the refusal under test
    assert naive.value.code == "INVALID_TIME"


def test_decide_route_ignores_a_testing_completed_after_its_time():
    inputs = RouteInputs(
        certificate=ECOS_CERT,
        party=CosParty.ECOS,
        generation=SMETS1,
        command_variant=1,
        smets1_testing_completed_at=T0 + timedelta(days=1),
    )
    assert decide_route(inputs, at=T0).codes() == {R.SMETS1_ECOS_NOT_READY}
    assert decide_route(inputs, at=T0 + timedelta(days=1)).route is RouteTo.COS_PARTY


# --- properties -----------------------------------------------------------------------------

# Few serials, so that a drawn certificate is often one a drawn register holds.
certificates = st.builds(
    CertificateId,
    st.integers(min_value=0, max_value=4) | st.integers(min_value=0, max_value=2**160 - 1),
    st.sampled_from(["CN=Test TCoS OCA", "CN=Test ECoS OCA", "CN=Other"]),
)
times = st.datetimes(
    min_value=datetime(2022, 1, 1),  # noqa: DTZ001 — bounds of naive values, made UTC below
    max_value=datetime(2025, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
)
variants = st.integers(min_value=1, max_value=8) | st.integers(min_value=-2, max_value=12)
generations = st.sampled_from(list(SmetsGeneration))


@st.composite
def registers(draw: st.DrawFn) -> CosPartyRegister:
    """A register with some certificates for each party and maybe the SMETS1 testing."""
    register = CosPartyRegister()
    for certificate in draw(st.lists(certificates, max_size=6, unique=True)):
        party = draw(st.sampled_from(list(CosParty)))
        at = draw(times)
        register = record(
            register,
            register.record_certificate(
                certificate=certificate, party=party, at=at, recorded_by="dcc"
            ),
        )
    testing_at = draw(st.none() | times)
    if testing_at is not None:
        register = record(
            register,
            register.record_smets1_testing_completed(
                completed_at=testing_at, evidence="report", recorded_by="dcc"
            ),
        )
    return register


def expected_route(
    party: CosParty | None, generation: SmetsGeneration, variant: int, ready: bool
) -> RouteTo:
    """DOMAIN.md 3.4, written plainly."""
    if variant not in range(1, 9) or variant in {2, 3} or party is None:
        return RouteTo.REJECTED
    if party is CosParty.TCOS:
        return RouteTo.SMETS1_LEGACY if generation is SMETS1 else RouteTo.TCOS_PARTY
    if generation is SMETS1 and not ready:
        return RouteTo.REJECTED
    return RouteTo.COS_PARTY


def certificate_of(register: CosPartyRegister) -> st.SearchStrategy[CertificateId]:
    """One of the register's certificates, or any."""
    held = [r.certificate for r in register.certificates]
    return st.sampled_from(held) | certificates if held else certificates


@given(registers(), generations, variants, times, st.data())
def test_the_route_follows_the_certificate_s_party_generation_variant_and_precondition(
    register: CosPartyRegister,
    generation: SmetsGeneration,
    variant: int,
    at: datetime,
    data: st.DataObject,
):
    certificate = data.draw(certificate_of(register))
    decided = route(certificate, generation, variant=variant, at=at, register=register)
    party = register.party_of(certificate, as_of=at)
    ready = register.smets1_testing_as_of(at) is not None
    assert decided.route is expected_route(party, generation, variant, ready)
    assert decided.inputs.party is party
    assert decided.inputs.certificate == certificate
    # rejected iff some reason refuses; every reason names its code's clause
    assert decided.rejected == bool(decided.codes() & REFUSALS)
    assert (decided.codes() <= REFUSALS) == decided.rejected
    assert all(r.clause == REASON_CLAUSES[r.code] for r in decided.reasons)
    assert decided.reasons


@given(registers(), registers(), st.tuples(generations, variants, times), st.data())
def test_the_route_depends_on_nothing_else_in_the_register(
    first: CosPartyRegister,
    second: CosPartyRegister,
    request: tuple[SmetsGeneration, int, datetime],
    data: st.DataObject,
):
    """Two registers that agree on this certificate's party and on the 1.20 precondition give
    the same route and reasons, whatever else they hold."""
    generation, variant, at = request
    certificate = data.draw(certificate_of(first))
    same_party = first.party_of(certificate, as_of=at) is second.party_of(certificate, as_of=at)
    testing = (first.smets1_testing_as_of(at), second.smets1_testing_as_of(at))
    same_testing = (testing[0] is None) == (testing[1] is None)
    if not (same_party and same_testing):
        return
    one = route(certificate, generation, variant=variant, at=at, register=first)
    two = route(certificate, generation, variant=variant, at=at, register=second)
    assert one.route is two.route
    assert [r.code for r in one.reasons] == [r.code for r in two.reasons]


@given(registers(), certificates, generations, st.sampled_from([2, 3]), times)
def test_local_delivery_is_always_rejected(
    register: CosPartyRegister,
    certificate: CertificateId,
    generation: SmetsGeneration,
    variant: int,
    at: datetime,
):
    decided = route(certificate, generation, variant=variant, at=at, register=register)
    assert decided.route is RouteTo.REJECTED
    assert R.COMMAND_VARIANT_NOT_SUPPORTED in decided.codes()


@given(certificates, st.sampled_from(list(CosParty)), generations, times)
def test_only_the_certificate_s_identity_decides_its_party(
    certificate: CertificateId, party: CosParty, generation: SmetsGeneration, at: datetime
):
    """The same serial under another issuer, or another serial under the same issuer, is a
    different certificate: refused as unknown, never given the recorded one's party."""
    register = CosPartyRegister()
    register = record(
        register,
        register.record_certificate(certificate=certificate, party=party, at=at, recorded_by="dcc"),
    )
    for other in (
        CertificateId(certificate.serial, certificate.issuer + "X"),
        CertificateId((certificate.serial + 1) % 2**160, certificate.issuer),
    ):
        decided = route(other, generation, at=at, register=register)
        assert decided.codes() == {R.UNKNOWN_COS_CERTIFICATE}
    assert route(certificate, generation, at=at, register=register).inputs.party is party


def test_every_code_has_its_clause():
    assert set(REASON_CLAUSES) == set(RouteReasonCode)
    assert REASON_CLAUSES[R.SMETS1_ECOS_NOT_READY] == clauses.ETMAD_1_20
    assert REASON_CLAUSES[R.SMETS1_TCOS_DEVICE] == clauses.SRPD_6_4_B
    assert REASON_CLAUSES[R.TCOS_DEVICE] == clauses.SRPD_8_1A
    assert REASON_CLAUSES[R.NOT_A_TCOS_DEVICE] == clauses.SRPD_8_1
