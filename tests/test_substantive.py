"""SRPD 8.4(f): a Signed Pre-Command is substantively identical to its SRV 6.23 request — same
Device, same certificates in the same cells, same floor sequence numbers, same execution time.

Properties of ``domain.substantive.compare`` first, then round trips through the real codecs:
the DCC's SRV 6.23 request templates read by the DUIS reader, made into Signed Pre-Commands by
the GBCS codec (``supplier_by_transcos``, ``build_signed_pre_command``), read back.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.codecs.duis import CosUpdateRequest, DuisSchema, parse_cos_update_request
from adapters.codecs.gbcs import (
    SUPPLIER_DIGITAL_SIGNING_CELL,
    SUPPLIER_KEY_AGREEMENT_CELL,
    SUPPLIER_TOP_UP_KEY_AGREEMENT_CELL,
    Command,
    CpvChecks,
    GeneralSigningMessage,
    InvalidGbcs,
    UpdateSecurityCredentials,
    build_signed_pre_command,
    decode_message,
    supplier_by_transcos,
)
from adapters.codecs.substantive import (
    certificate_identity,
    from_cos_update_request,
    from_pre_command,
)
from domain import clauses
from domain.identifiers import EUI64, CertificateId
from domain.smki import CellUsage, KeyUsage, RemotePartyRole, TrustAnchorCell
from domain.substantive import (
    MAX_SEQ_NUMBER,
    CertificateIdentity,
    CredentialsUpdate,
    DifferenceCode,
    InvalidCredentialsUpdate,
    Replacement,
    compare,
)
from tests.duis_support import FUTURE_DATED, IMMEDIATE, require_vectors, schema_of
from tests.gbcs_support import (
    SUPPLIER_BY_TRANSCOS_COMMAND,
    SUPPLIER_BY_TRANSCOS_RESPONSE,
    vector,
)
from tests.simulator_support import TCOS_PARTY, material

Code = DifferenceCode
T = TypeVar("T")

# Strategies -------------------------------------------------------------------------------

CELLS = [
    TrustAnchorCell(role, usage, cell_usage)
    for role in RemotePartyRole
    for usage in KeyUsage
    for cell_usage in CellUsage
]
devices = st.integers(0, 2**64 - 1).map(EUI64)
identities = st.binary(min_size=32, max_size=32).map(CertificateIdentity)
seq_numbers = st.integers(0, MAX_SEQ_NUMBER)
moments = st.datetimes(
    # Hypothesis takes naive bounds and adds the time zone itself.
    min_value=datetime(2000, 1, 1),  # noqa: DTZ001
    max_value=datetime(2100, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
).map(lambda moment: moment.replace(microsecond=0))


@st.composite
def updates(draw: st.DrawFn, *, min_replacements: int = 0) -> CredentialsUpdate:
    cells = draw(
        st.lists(st.sampled_from(CELLS), unique=True, min_size=min_replacements, max_size=6)
    )
    return CredentialsUpdate(
        device=draw(devices),
        replacements=tuple(Replacement(cell, draw(identities)) for cell in cells),
        supplier_floor_seq_number=draw(st.none() | seq_numbers),
        prepayment_top_up_floor_seq_number=draw(st.none() | seq_numbers),
        execution_date_time=draw(st.none() | moments),
    )


def _other(draw: st.DrawFn, strategy: st.SearchStrategy[T], than: T) -> T:
    return draw(strategy.filter(lambda value: value != than))


# Each mutation changes one aspect of an update and names the one code it must be reported as.
Mutation = Callable[[st.DrawFn, CredentialsUpdate], CredentialsUpdate]


def _new_device(draw: st.DrawFn, x: CredentialsUpdate) -> CredentialsUpdate:
    return attrs.evolve(x, device=_other(draw, devices, x.device))


def _new_certificate(draw: st.DrawFn, x: CredentialsUpdate) -> CredentialsUpdate:
    i = draw(st.integers(0, len(x.replacements) - 1))
    old = x.replacements[i]
    new = Replacement(old.cell, _other(draw, identities, old.certificate))
    return attrs.evolve(x, replacements=(*x.replacements[:i], new, *x.replacements[i + 1 :]))


def _dropped(draw: st.DrawFn, x: CredentialsUpdate) -> CredentialsUpdate:
    i = draw(st.integers(0, len(x.replacements) - 1))
    return attrs.evolve(x, replacements=x.replacements[:i] + x.replacements[i + 1 :])


def _added(draw: st.DrawFn, x: CredentialsUpdate) -> CredentialsUpdate:
    used = {r.cell for r in x.replacements}
    cell = draw(st.sampled_from([c for c in CELLS if c not in used]))
    return attrs.evolve(x, replacements=(*x.replacements, Replacement(cell, draw(identities))))


def _duplicated(draw: st.DrawFn, x: CredentialsUpdate) -> CredentialsUpdate:
    again = draw(st.sampled_from(x.replacements))
    return attrs.evolve(x, replacements=(*x.replacements, again))


def _new_floor(draw: st.DrawFn, x: CredentialsUpdate) -> CredentialsUpdate:
    floor = _other(draw, st.none() | seq_numbers, x.supplier_floor_seq_number)
    return attrs.evolve(x, supplier_floor_seq_number=floor)


def _new_top_up_floor(draw: st.DrawFn, x: CredentialsUpdate) -> CredentialsUpdate:
    floor = _other(draw, st.none() | seq_numbers, x.prepayment_top_up_floor_seq_number)
    return attrs.evolve(x, prepayment_top_up_floor_seq_number=floor)


def _new_execution_time(draw: st.DrawFn, x: CredentialsUpdate) -> CredentialsUpdate:
    when = _other(draw, st.none() | moments, x.execution_date_time)
    return attrs.evolve(x, execution_date_time=when)


MUTATIONS: dict[Code, Mutation] = {
    Code.DIFFERENT_DEVICE: _new_device,
    Code.DIFFERENT_CERTIFICATE_IN_CELL: _new_certificate,
    Code.MISSING_REPLACEMENT: _dropped,
    Code.EXTRA_REPLACEMENT: _added,
    Code.DUPLICATE_CELL: _duplicated,
    Code.DIFFERENT_FLOOR_SEQUENCE_NUMBER: _new_floor,
    Code.DIFFERENT_TOP_UP_FLOOR_SEQUENCE_NUMBER: _new_top_up_floor,
    Code.DIFFERENT_EXECUTION_TIME: _new_execution_time,
}


# Properties -------------------------------------------------------------------------------


@given(updates())
def test_an_update_is_substantively_identical_to_itself(x):
    sameness = compare(x, x)
    assert sameness.identical
    assert sameness.differences == ()
    assert sameness.clause == clauses.SRPD_8_4_F


def test_every_difference_code_has_a_mutation():
    assert set(MUTATIONS) == set(DifferenceCode)


@pytest.mark.parametrize("code", list(DifferenceCode))
@given(data=st.data())
def test_a_single_mutation_is_reported_with_exactly_its_code(code, data):
    request = data.draw(updates(min_replacements=1))
    pre_command = MUTATIONS[code](data.draw, request)
    sameness = compare(request, pre_command)
    assert not sameness.identical
    assert sameness.codes() == (code,)
    assert all(d.clause == clauses.SRPD_8_4_F for d in sameness.differences)


@given(data=st.data())
def test_differences_are_collected_not_first_only(data):
    request = data.draw(updates(min_replacements=1))
    independent = [
        Code.DIFFERENT_DEVICE,
        Code.DIFFERENT_CERTIFICATE_IN_CELL,
        Code.DIFFERENT_FLOOR_SEQUENCE_NUMBER,
        Code.DIFFERENT_TOP_UP_FLOOR_SEQUENCE_NUMBER,
        Code.DIFFERENT_EXECUTION_TIME,
    ]
    chosen = data.draw(st.lists(st.sampled_from(independent), unique=True, min_size=1))
    pre_command = request
    for code in chosen:
        pre_command = MUTATIONS[code](data.draw, pre_command)
    assert sorted(compare(request, pre_command).codes()) == sorted(chosen)


def test_every_difference_is_listed_in_one_decision():
    ds, ka = SUPPLIER_DIGITAL_SIGNING_CELL, SUPPLIER_KEY_AGREEMENT_CELL
    request = CredentialsUpdate(
        device=EUI64(1),
        replacements=(Replacement(ds, identity(1)), Replacement(ka, identity(2))),
        supplier_floor_seq_number=0,
        prepayment_top_up_floor_seq_number=None,
    )
    pre_command = CredentialsUpdate(
        device=EUI64(2),
        replacements=(
            Replacement(ds, identity(3)),
            Replacement(SUPPLIER_TOP_UP_KEY_AGREEMENT_CELL, identity(4)),
        ),
        supplier_floor_seq_number=1,
        prepayment_top_up_floor_seq_number=0,
        execution_date_time=datetime(2030, 1, 2, tzinfo=UTC),
    )
    sameness = compare(request, pre_command)
    assert sameness.codes() == (
        Code.DIFFERENT_DEVICE,
        Code.DIFFERENT_CERTIFICATE_IN_CELL,
        Code.MISSING_REPLACEMENT,
        Code.EXTRA_REPLACEMENT,
        Code.DIFFERENT_FLOOR_SEQUENCE_NUMBER,
        Code.DIFFERENT_TOP_UP_FLOOR_SEQUENCE_NUMBER,
        Code.DIFFERENT_EXECUTION_TIME,
    )
    cells = [d.cell for d in sameness.differences]
    assert cells == [None, ds, ka, SUPPLIER_TOP_UP_KEY_AGREEMENT_CELL, None, None, None]
    assert "00-00-00-00-00-00-00-01" in sameness.differences[0].detail
    assert "immediate" in sameness.differences[-1].detail


@given(data=st.data())
def test_the_order_of_the_replacements_is_not_substantive(data):
    """Decided: cells are compared by identity, not position (the request names certificates
    by role; the Device replaces, and reports on, each cell by its identity)."""
    request = data.draw(updates())
    shuffled = data.draw(st.permutations(request.replacements))
    pre_command = attrs.evolve(request, replacements=tuple(shuffled))
    assert pre_command == request
    assert compare(request, pre_command).identical


@given(updates(), updates())
def test_a_difference_seen_from_the_other_side_swaps_missing_and_extra(x, y):
    swap = {Code.MISSING_REPLACEMENT: Code.EXTRA_REPLACEMENT}
    swap |= {v: k for k, v in swap.items()}
    forwards = sorted(compare(x, y).codes())
    backwards = sorted(swap.get(code, code) for code in compare(y, x).codes())
    assert forwards == backwards


@given(updates(), st.sampled_from([clauses.SRPD_8_2_A, clauses.SRPD_8_2A]))
def test_the_parties_check_under_their_own_clause(x, clause):
    changed = attrs.evolve(x, device=EUI64((x.device.value + 1) % 2**64))
    sameness = compare(x, changed, clause=clause)
    assert sameness.clause == clause
    assert [d.clause for d in sameness.differences] == [clause]


def test_a_clause_that_does_not_ask_for_sameness_is_refused():
    x = update()
    with pytest.raises(InvalidCredentialsUpdate, match="substantively identical"):
        compare(x, x, clause=clauses.ETMAD_1_4)


def test_the_certificate_id_is_shown_but_not_compared():
    one = CertificateIdentity(bytes(32), CertificateId(1, "CN=Z1"))
    other = CertificateIdentity(bytes(32), CertificateId(2, "CN=Z1"))
    assert one == other
    assert str(one).startswith("1@CN=Z1")
    assert str(CertificateIdentity(bytes(32))) == "0" * 16


def test_execution_times_are_compared_as_instants():
    at_utc = update(execution_date_time=datetime(2030, 1, 2, tzinfo=UTC))
    at_plus_one = update(
        execution_date_time=datetime(2030, 1, 2, 1, tzinfo=timezone(timedelta(hours=1)))
    )
    assert compare(at_utc, at_plus_one).identical


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"execution_date_time": datetime(2030, 1, 2)}, "aware"),  # noqa: DTZ001 — naive on purpose
        ({"execution_date_time": datetime(2030, 1, 2, 0, 0, 0, 5, tzinfo=UTC)}, "whole seconds"),
        ({"supplier_floor_seq_number": -1}, "0..2\\^63-1"),
        ({"prepayment_top_up_floor_seq_number": MAX_SEQ_NUMBER + 1}, "0..2\\^63-1"),
        ({"supplier_floor_seq_number": True}, "0..2\\^63-1"),
    ],
)
def test_a_credentials_update_refuses_what_it_cannot_hold(change, message):
    with pytest.raises(InvalidCredentialsUpdate, match=message) as refused:
        update(**change)
    assert refused.value.code == "INVALID_CREDENTIALS_UPDATE"


def test_a_certificate_identity_is_a_sha256_digest():
    with pytest.raises(InvalidCredentialsUpdate, match="32-octet"):
        CertificateIdentity(b"short")
    # FIPS 180-2's known answer for "abc".
    assert CertificateIdentity.of(b"abc").sha256.hex() == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


def identity(n: int) -> CertificateIdentity:
    return CertificateIdentity(n.to_bytes(32, "big"))


def update(**change: Any) -> CredentialsUpdate:
    base = CredentialsUpdate(
        device=EUI64(0x00DB1234567890A0),
        replacements=(Replacement(SUPPLIER_KEY_AGREEMENT_CELL, identity(1)),),
        supplier_floor_seq_number=0,
    )
    return attrs.evolve(base, **change)


# Round trips through the real codecs -------------------------------------------------------


@pytest.fixture(scope="module")
def vectors() -> Path:
    return require_vectors()


@pytest.fixture(scope="module")
def schema(vectors: Path) -> DuisSchema:
    return schema_of(vectors)


def request_from(vectors: Path, schema: DuisSchema, name: str) -> CosUpdateRequest:
    return parse_cos_update_request((vectors / "duis" / "requests" / name).read_bytes(), schema)


def pre_command_for(
    request: CosUpdateRequest, *, device: EUI64 | None = None, **change: object
) -> GeneralSigningMessage:
    """The Signed Pre-Command a CoS Party makes of ``request`` with the GBCS codec, with
    ``change`` to ``supplier_by_transcos``'s arguments."""
    body = request.body
    certificates = body.replacement_certificates
    arguments: dict[str, object] = {
        "counter": 6001,
        "digital_signing": certificates.digital_signing,
        "key_agreement": certificates.key_agreement,
        "key_agreement_top_up": certificates.key_agreement_top_up,
        "certification_path": body.certification_path_certificates,
        "supplier_floor_seq_number": body.supplier_floor_seq_number,
        "supplier_prepayment_top_up_floor_seq_number": (
            body.supplier_prepayment_top_up_floor_seq_number
        ),
        "apply_time_based_cpv_checks": None
        if body.apply_time_based_cpv_checks
        else CpvChecks.DISAPPLY,
        "execution_date_time": body.execution_date_time,
    }
    payload = supplier_by_transcos(**(arguments | change))  # type: ignore[arg-type]
    return build_signed_pre_command(
        payload,
        originator=TCOS_PARTY,
        recipient=request.request_id.target if device is None else device,
        signer=material().pki.signer,
        key="tcos-ds",
    )


@pytest.mark.parametrize("name", [IMMEDIATE, FUTURE_DATED])
def test_a_pre_command_made_from_a_request_is_substantively_identical_to_it(vectors, schema, name):
    request = request_from(vectors, schema, name)
    wire = pre_command_for(request).encode()
    asked = from_cos_update_request(request)
    sameness = compare(asked, from_pre_command(wire))
    assert sameness.identical, sameness.differences
    assert len(asked.replacements) == 3
    assert all(r.certificate.certificate_id is not None for r in asked.replacements)


def test_the_command_made_of_the_pre_command_is_read_the_same(vectors, schema):
    request = request_from(vectors, schema, IMMEDIATE)
    signed = pre_command_for(request)
    command = Command(security_control=0x11, invocation_counter=7, message=signed, mac=bytes(12))
    assert from_pre_command(command.encode()) == from_pre_command(signed)
    assert from_pre_command(decode_message(command.encode())) == from_pre_command(signed)


def test_what_is_not_compared_does_not_make_a_difference(vectors, schema):
    """Another counter, signer, certification path and CPV setting: still identical."""
    request = request_from(vectors, schema, IMMEDIATE)
    different = pre_command_for(
        request,
        counter=99,
        certification_path=(),
        apply_time_based_cpv_checks=CpvChecks.DISAPPLY,
    )
    assert compare(from_cos_update_request(request), from_pre_command(different)).identical


OTHER_CERTIFICATE = "other certificate"
ALTERATIONS: dict[str, tuple[dict[str, object], tuple[Code, ...]]] = {
    "another key agreement certificate": (
        {"key_agreement": OTHER_CERTIFICATE},
        (Code.DIFFERENT_CERTIFICATE_IN_CELL,),
    ),
    "the top-up certificate left out": (
        {"key_agreement_top_up": None},
        (Code.MISSING_REPLACEMENT,),
    ),
    "another Supplier floor": (
        {"supplier_floor_seq_number": 5},
        (Code.DIFFERENT_FLOOR_SEQUENCE_NUMBER,),
    ),
    "no top-up floor": (
        {"supplier_prepayment_top_up_floor_seq_number": None},
        (Code.DIFFERENT_TOP_UP_FLOOR_SEQUENCE_NUMBER,),
    ),
    "future-dated": (
        {"execution_date_time": datetime(2031, 1, 1, tzinfo=UTC)},
        (Code.DIFFERENT_EXECUTION_TIME,),
    ),
    "another Device": ({"device": EUI64(0x00DB1234567890A1)}, (Code.DIFFERENT_DEVICE,)),
}


@pytest.mark.parametrize("alteration", list(ALTERATIONS))
def test_an_altered_pre_command_is_not_substantively_identical(vectors, schema, alteration):
    change, codes = ALTERATIONS[alteration]
    change = {
        k: material().supplier.der if v == OTHER_CERTIFICATE else v for k, v in change.items()
    }
    request = request_from(vectors, schema, IMMEDIATE)
    altered = pre_command_for(request, **change)  # type: ignore[arg-type]
    sameness = compare(from_cos_update_request(request), from_pre_command(altered.encode()))
    assert sameness.codes() == codes


def test_a_future_execution_date_time_is_carried_into_the_gbcs_command(vectors, schema):
    request = request_from(vectors, schema, FUTURE_DATED)
    assert request.body.execution_date_time == datetime(2030, 1, 2, tzinfo=UTC)
    wire = pre_command_for(request).encode()
    payload = decode_message(wire).content()  # type: ignore[union-attr]
    assert isinstance(payload, UpdateSecurityCredentials)
    assert payload.execution_date_time == datetime(2030, 1, 2, tzinfo=UTC)
    assert from_pre_command(wire).execution_date_time == datetime(2030, 1, 2, tzinfo=UTC)
    immediate = pre_command_for(request, execution_date_time=None)
    sameness = compare(from_cos_update_request(request), from_pre_command(immediate))
    assert sameness.codes() == (Code.DIFFERENT_EXECUTION_TIME,)


def test_a_fraction_of_a_second_is_dropped_as_gbcs_carries_whole_seconds(vectors, schema):
    data = (vectors / "duis" / "requests" / FUTURE_DATED).read_bytes()
    request = parse_cos_update_request(
        data.replace(b"2030-01-02T00:00:00.00Z", b"2030-01-02T00:00:00.75Z"), schema
    )
    assert request.body.execution_date_time == datetime(2030, 1, 2, 0, 0, 0, 750000, tzinfo=UTC)
    asked = from_cos_update_request(request)
    assert asked.execution_date_time == datetime(2030, 1, 2, tzinfo=UTC)
    # The codec refuses the fraction: a CoS Party makes the command at the whole second.
    with pytest.raises(InvalidGbcs, match="whole seconds"):
        pre_command_for(request)
    made = pre_command_for(request, execution_date_time=datetime(2030, 1, 2, tzinfo=UTC))
    assert compare(asked, from_pre_command(made)).identical


def test_the_dcc_templates_are_not_a_matched_pair(vectors, schema):
    """The RTDS 6.23 command vector and the DUIS 6.23 template share the Device, floors and
    cells, but carry other certificates: every cell differs, nothing else does."""
    request = from_cos_update_request(request_from(vectors, schema, IMMEDIATE))
    command = from_pre_command(vector(SUPPLIER_BY_TRANSCOS_COMMAND))
    assert compare(request, command).codes() == (Code.DIFFERENT_CERTIFICATE_IN_CELL,) * 3


def test_only_a_supplier_by_transcos_command_is_read_as_a_pre_command():
    migration = material().command(EUI64(0x00DB1234567890A0), 1)  # mode 6
    with pytest.raises(InvalidGbcs, match="mode 7") as refused:
        from_pre_command(migration)
    assert refused.value.code == "INVALID_GBCS"
    with pytest.raises(InvalidGbcs, match="a Pre-Command is a command"):
        from_pre_command(vector(SUPPLIER_BY_TRANSCOS_RESPONSE))


def test_a_certificate_the_smki_parser_cannot_read_is_still_identified():
    found = certificate_identity(b"\x30\x03\x02\x01\x01")
    assert found.certificate_id is None
    assert found == CertificateIdentity.of(b"\x30\x03\x02\x01\x01")
