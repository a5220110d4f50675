"""The fast paths of the GBCS codec give exactly what the general ones give.

A simulated programme runs tens of thousands of CS02b commands through the codec and the
simulated Devices, so the codec writes payloads with a small DER writer (``der.py``), reads
canonical DER without asn1crypto (``canonical.py``), checks BER framing in one iterative pass
(``ber.py``) and remembers what depends on a certificate's bytes alone. Each shortcut is
proved here against the way it replaces: asn1crypto's encoding, the asn1crypto decoder, and
the recursive framing walk the codec had before (written out below as the reference).
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import attrs
import pytest
from asn1crypto import core
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from adapters.codecs.gbcs import (
    TRANSCOS_CELL,
    AuthorisingRemotePartyControl,
    CpvChecks,
    CredentialsReplacementMode,
    ExecutionOutcome,
    GeneralSigningMessage,
    InvalidGbcs,
    LengthForm,
    ReplacementOutcome,
    StatusCode,
    TrustAnchorReplacement,
    UpdateSecurityCredentials,
    UpdateSecurityCredentialsResponse,
    asn1,
    canonical,
    credentials,
    decode_message,
    decode_response,
    decode_update_security_credentials,
    der,
    encode_alert,
    encode_response,
    encode_update_security_credentials,
    transcos_by_transcos,
    verify_signature,
)
from adapters.codecs.gbcs.ber import (
    MAX_DEPTH,
    Tlv,
    encode_length,
    frame,
    length_form,
    read_tlv,
    relength,
    single_element,
    walk,
)
from adapters.codecs.gbcs.payload import check_certificate
from adapters.codecs.gbcs.replacement import GbcsReplacementCodec
from adapters.simulator import SimulatedDeviceTransport
from application.migration_ports import ReplyKind
from domain.failures import GbcsStatus
from domain.smki import KeyUsage, TrustAnchorCell
from tests.simulator_support import HEALTHY, T0, TCOS_PARTY, device_ids, material
from tests.test_gbcs_properties import alerts, cells, controls, responses, utc_seconds

# ------------------------------------------------------------------------ the references


def _reference_walk(data: bytes, field: str) -> list[Tlv]:
    """The recursive framing walk the iterative pass replaced."""
    found: list[Tlv] = []

    def visit(offset: int, end: int, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise InvalidGbcs(f"nested deeper than {MAX_DEPTH} levels", offset=offset, field=field)
        while offset < end:
            tlv = read_tlv(data, offset, end, field=field)
            found.append(tlv)
            if tlv.constructed:
                visit(tlv.content_offset, tlv.end, depth + 1)
            offset = tlv.end

    visit(0, len(data), 0)
    return found


def _reference_form(elements: list[Tlv]) -> LengthForm | None:
    for form in LengthForm:
        if all(e.header_length - 1 == len(encode_length(e.length, form)) for e in elements):
            return form
    return None


def _asn1_cell(cell: TrustAnchorCell) -> dict[str, Any]:
    return {
        "remotePartyRole": int(cell.role),
        "keyUsage": {str(KeyUsage(cell.key_usage))},
        "cellUsage": {"management": 0, "prePaymentTopUp": 1}[str(cell.cell_usage)],
    }


def _asn1_specialists(items: Any) -> list[dict[str, int]]:
    return [{"seqNumberUsage": int(s.usage), "seqNumber": s.seq_number} for s in items]


def _asn1_changes(items: Any) -> list[dict[str, Any]]:
    out = []
    for change in items:
        item: dict[str, Any] = {
            "remotePartyRole": int(change.role),
            "floorSeqNumber": change.floor_seq_number,
        }
        if change.specialist_floor_seq_numbers is not None:
            item["specialistFloorSeqNumber"] = _asn1_specialists(
                change.specialist_floor_seq_numbers
            )
        out.append(item)
    return out


def _asn1_control(control: AuthorisingRemotePartyControl) -> dict[str, Any]:
    optional = {
        "plaintextSymmetricKey": control.plaintext_symmetric_key,
        "applyTimeBasedCPVChecks": None
        if control.apply_time_based_cpv_checks is None
        else int(control.apply_time_based_cpv_checks),
        "authorisingRemotePartyTACellIdentifier": None
        if control.authorising_cell is None
        else _asn1_cell(control.authorising_cell),
        "newRemotePartyFloorSeqNumber": control.new_remote_party_floor_seq_number,
        "newRemotePartySpecialistFloorSeqNumber": None
        if control.new_remote_party_specialist_floor_seq_numbers is None
        else _asn1_specialists(control.new_remote_party_specialist_floor_seq_numbers),
        "otherRemotePartySeqNumberChanges": None
        if control.other_remote_party_seq_number_changes is None
        else _asn1_changes(control.other_remote_party_seq_number_changes),
    }
    return {
        "credentialsReplacementMode": int(control.mode),
        "authorisingRemotePartySeqNumber": control.seq_number,
    } | {name: value for name, value in optional.items() if value is not None}


def _asn1_command(payload: UpdateSecurityCredentials) -> bytes:
    """The payload as asn1crypto writes it (the codec's encoder before the DER writer)."""
    value = asn1.UpdateSecurityCredentials(
        {
            "authorisingRemotePartyControl": _asn1_control(payload.control),
            "replacements": [
                {
                    "replacementCertificate": core.Any.load(r.certificate),
                    "targetTrustAnchorCell": _asn1_cell(r.cell),
                }
                for r in payload.replacements
            ],
            "certificationPathCertificates": [core.Any.load(c) for c in payload.certification_path],
        }
    )
    if payload.execution_date_time is not None:
        value["executionDateTime"] = credentials.generalized_time(payload.execution_date_time)
    return bytes(value.dump())


def _asn1_outcome(outcome: Any) -> dict[str, Any]:
    return {
        "authorisingRemotePartySeqNumber": outcome.seq_number,
        "credentialsReplacementMode": int(outcome.mode),
        "remotePartySeqNumberChanges": _asn1_changes(outcome.seq_number_changes),
        "replacementOutcomes": [
            {
                "affectedTrustAnchorCell": _asn1_cell(o.cell),
                "statusCode": int(o.status),
                "existingSubjectUniqueID": o.existing_subject_unique_id,
                "existingSubjectKeyIdentifier": o.existing_subject_key_id,
                "replacingSubjectUniqueID": o.replacing_subject_unique_id,
                "replacingSubjectKeyIdentifier": o.replacing_subject_key_id,
            }
            for o in outcome.outcomes
        ],
    }


def _in_form(data: bytes, form: LengthForm) -> bytes:
    return data if form is LengthForm.DER else relength(data, form, field="payload")


# ------------------------------------------------------------------------ test inputs


def _element(tag: int, content: bytes, header: int) -> bytes:
    """An element whose length is written in the fewest octets (header 0), in 0x81 xx form
    where it fits (1), or in 0x82 xx xx form (2): certificates are carried however written."""
    size = len(content)
    if header == 1 and size < 0x100:
        return bytes([tag, 0x81, size]) + content
    if header == 2:
        return bytes([tag, 0x82]) + size.to_bytes(2, "big") + content
    return bytes([tag]) + encode_length(size) + content


headers = st.integers(0, 2)
ber_trees = st.recursive(
    st.builds(lambda b, h: _element(0x04, b, h), st.binary(max_size=40), headers),
    lambda inner: st.builds(
        lambda parts, h: _element(0x30, b"".join(parts), h), st.lists(inner, max_size=3), headers
    ),
    max_leaves=12,
)


def _certificates(header: st.SearchStrategy[int]) -> st.SearchStrategy[bytes]:
    """Certificates stand in as SEQUENCEs of nested SEQUENCEs and OCTET STRINGs, lengths inside
    in any form: the codec carries them byte for byte and only checks their framing."""
    return st.builds(
        lambda parts, h: _element(0x30, b"".join(parts), h), st.lists(ber_trees, max_size=3), header
    )


def _command_payloads(certificates: st.SearchStrategy[bytes]) -> st.SearchStrategy[Any]:
    return st.builds(
        UpdateSecurityCredentials,
        control=controls,
        replacements=st.lists(
            st.builds(TrustAnchorReplacement, certificates, cells), max_size=3
        ).map(tuple),
        certification_path=st.lists(certificates, max_size=3).map(tuple),
        execution_date_time=st.none() | utc_seconds,
    )


command_payloads = _command_payloads(_certificates(headers))
# DER certificates (their own length in the fewest octets), as every real one is.
der_command_payloads = _command_payloads(_certificates(st.just(0)))


def _certificates_of(payload: UpdateSecurityCredentials) -> list[bytes]:
    return [r.certificate for r in payload.replacements] + list(payload.certification_path)


@st.composite
def damaged(draw: st.DrawFn, sources: st.SearchStrategy[bytes]) -> bytes:
    """An encoding with a few bytes changed, dropped, inserted or cut off."""
    data = bytearray(draw(sources))
    for _ in range(draw(st.integers(1, 3))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["set", "bump", "drop", "insert", "truncate"]))
        if action == "set":
            data[at] = draw(st.integers(0, 255))
        elif action == "bump":  # a value one off: the kind of change canonical DER survives
            data[at] = (data[at] + 1) % 256
        elif action == "drop":
            del data[at]
        elif action == "insert":
            data.insert(at, draw(st.integers(0, 255)))
        else:
            del data[at:]
    return bytes(data)


@st.composite
def tweaked(draw: st.DrawFn, sources: st.SearchStrategy[bytes]) -> bytes:
    """An encoding with one byte changed, often by a little: the changes that leave it
    canonical DER (a number, a tag, a length one off) are the ones the fast reader answers."""
    data = bytearray(draw(sources))
    if data:
        at = draw(st.integers(0, len(data) - 1))
        change = draw(st.sampled_from([1, 0x80, 0xFF]) | st.integers(0, 255))
        data[at] = (data[at] + change) % 256
    return bytes(data)


def _nested(depth: int) -> bytes:
    """``depth`` SEQUENCEs, each holding the next (a certificate that deep)."""
    data = bytes([0x30, 0])
    for _ in range(depth - 1):
        data = bytes([0x30]) + encode_length(len(data)) + data
    return data


def _refusal(call: Any) -> tuple[object, ...]:
    try:
        return ("answered", call())
    except InvalidGbcs as e:
        return ("refused", e.message, e.offset, e.field)


# ------------------------------------------------------------------------ the DER writer


@given(command_payloads)
def test_a_command_payload_is_written_byte_for_byte_as_asn1crypto_writes_it(payload):
    # asn1crypto rewrites a certificate header whose last octet is 0x80 (see below)
    assume(all(core.Any.load(c).dump() == c for c in _certificates_of(payload)))
    assert encode_update_security_credentials(payload) == _asn1_command(payload)


def test_a_certificate_is_carried_byte_for_byte_where_asn1crypto_rewrote_its_header():
    """asn1crypto takes a header ending in octet 0x80 for an indefinite length and rewrites it:
    a certificate of 128 content octets written ``30 82 00 80`` became ``30 81 80``. The writer
    carries it as given, as the codec promises; DER certificates are never affected."""
    certificate = bytes.fromhex("3082008004") + bytes([126]) + bytes(126)
    assert core.Any.load(certificate).dump().startswith(bytes.fromhex("308180"))
    payload = transcos_by_transcos(
        counter=1,
        replacement=certificate,
        certification_path=[certificate],
        apply_time_based_cpv_checks=None,
    )
    assert encode_update_security_credentials(payload).count(certificate) == 2
    rewritten = bytes.fromhex("308180") + certificate[4:]
    assert _asn1_command(payload) == encode_update_security_credentials(
        transcos_by_transcos(
            counter=1,
            replacement=rewritten,
            certification_path=[rewritten],
            apply_time_based_cpv_checks=None,
        )
    )


@given(responses)
def test_a_response_is_written_byte_for_byte_as_asn1crypto_writes_it(response):
    value = asn1.UpdateSecurityCredentialsResponse({"commandAccepted": None})
    if response.execution_outcome is not None:
        value["executionOutcome"] = _asn1_outcome(response.execution_outcome)
    assert encode_response(response) == _in_form(bytes(value.dump()), response.length_form)


@given(alerts)
def test_an_alert_is_written_byte_for_byte_as_asn1crypto_writes_it(alert):
    value = asn1.UpdateSecurityCredentialsAlert(
        {
            "alertCode": alert.alert_code,
            "executionDateTime": credentials.generalized_time(alert.execution_date_time),
            "executionOutcome": _asn1_outcome(alert.execution_outcome),
        }
    )
    assert encode_alert(alert) == _in_form(bytes(value.dump()), alert.length_form)


@given(st.integers(-(1 << 80), 1 << 80))
def test_integers_are_written_as_asn1crypto_writes_them(value):
    assert der.integer(value) == core.Integer(value).dump()


@given(st.frozensets(st.sampled_from(sorted(asn1.KEY_USAGE_BITS))))
def test_named_bits_are_written_as_asn1crypto_writes_them(bits):
    names = {asn1.KEY_USAGE_BITS[bit] for bit in bits}
    assert der.named_bits(bits) == asn1.KeyUsage(names).dump()


@given(st.binary(max_size=70_000))
def test_elements_of_any_size_get_der_lengths(content):
    assert der.octet_string(content) == core.OctetString(content).dump()


# ------------------------------------------------------------------------ the canonical readers


@given(der_command_payloads)
def test_every_command_the_codec_writes_reads_the_fast_way_unless_future_dated(payload):
    data = encode_update_security_credentials(payload)
    read = canonical.read_command(data)
    if payload.execution_date_time is not None:
        assert read is None  # a future-dated command is read the general way
    else:
        assert read == payload
    assert decode_update_security_credentials(data) == payload


@given(responses)
def test_every_der_response_reads_the_fast_way_with_its_length_form(response):
    data = encode_response(response)
    read = canonical.read_response(data)
    general = credentials._asn1_response(data)
    assert general == response
    if read is not None:
        assert read == general
        assert read.length_form is general.length_form
    if response.length_form is LengthForm.DER:
        assert read is not None


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        tweaked(der_command_payloads.map(encode_update_security_credentials)),
        damaged(command_payloads.map(encode_update_security_credentials)),
    )
)
def test_a_damaged_command_the_fast_reader_answers_reads_alike_the_general_way(data):
    read = canonical.read_command(data)
    if read is not None:
        assert credentials._asn1_command(data) == read


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(tweaked(responses.map(encode_response)), damaged(responses.map(encode_response))))
def test_a_damaged_response_the_fast_reader_answers_reads_alike_the_general_way(data):
    read = canonical.read_response(data)
    if read is not None:
        general = credentials._asn1_response(data)
        assert general == read
        assert general.length_form is read.length_form


def test_every_one_byte_change_to_the_migration_command_reads_alike_both_ways():
    """Each byte of the migration payload (outside the certificates' contents) bumped by one:
    whenever the fast reader answers, the asn1crypto decoder answers the same."""
    m = material()
    payload = encode_update_security_credentials(
        transcos_by_transcos(
            counter=0x0123_4567_89AB_CDEF,
            replacement=m.ecos.der,
            certification_path=[m.oca.der],
            apply_time_based_cpv_checks=CpvChecks.DISAPPLY,
        )
    )
    inside = set()
    for certificate in (m.ecos.der, m.oca.der):
        start = payload.index(certificate)
        inside |= set(range(start + 4, start + len(certificate)))
    answered = 0
    for at in sorted(set(range(len(payload))) - inside):
        data = bytearray(payload)
        data[at] = (data[at] + 1) % 256
        read = canonical.read_command(bytes(data))
        if read is not None:
            answered += 1
            assert credentials._asn1_command(bytes(data)) == read
    assert answered > 0  # counter and enumeration bumps stay canonical


@pytest.mark.parametrize(
    ("place", "depth", "readable"),
    [
        ("replacement", 29, True),
        ("replacement", 30, False),
        ("path", 30, True),
        ("path", 31, False),
    ],
)
def test_a_deeply_nested_certificate_is_refused_where_the_payload_walk_refuses_it(
    place, depth, readable
):
    """A certificate well-formed on its own may nest too deep for the payload holding it: the
    fast reader declines it and the general decoder refuses it, as before."""
    certificate = _nested(depth)
    check_certificate(certificate, field="certificate")
    other = _nested(1)
    payload = transcos_by_transcos(
        counter=7,
        replacement=certificate if place == "replacement" else other,
        certification_path=[certificate if place == "path" else other],
        apply_time_based_cpv_checks=None,
    )
    data = encode_update_security_credentials(payload)
    if readable:
        assert canonical.read_command(data) == payload
        assert decode_update_security_credentials(data) == payload
    else:
        assert canonical.read_command(data) is None
        with pytest.raises(InvalidGbcs, match="nested deeper than 32 levels"):
            decode_update_security_credentials(data)


def _control_hex(seq_number: str = "830107", cell_usage: str = "") -> bytes:
    cell = bytes.fromhex("020105" + "03020780" + cell_usage)  # transitionalCoS, digitalSignature
    control = bytes.fromhex("020106" + "810101") + der.tlv(0xA2, cell) + bytes.fromhex(seq_number)
    return der.sequence(der.sequence(control), der.sequence(), der.sequence())


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("a length in more octets than needed", b"\x30\x81" + _control_hex()[1:]),
        ("an integer in more octets than needed", _control_hex(seq_number="83020007")),
        ("a DEFAULT cell usage written out", _control_hex(cell_usage="020100")),
    ],
)
def test_other_ber_forms_are_left_to_the_general_decoder(name, data):
    expected = canonical.read_command(_control_hex())
    assert expected is not None
    assert expected.control.seq_number == 7
    assert canonical.read_command(data) is None, name
    assert decode_update_security_credentials(data) == expected


def test_a_response_in_two_octet_lengths_is_read_the_general_way_and_keeps_its_form():
    """As the RTDS Devices write responses of 128 octets and more."""
    outcome = ReplacementOutcome(
        cell=TRANSCOS_CELL,
        status=StatusCode.SUCCESS,
        existing_subject_unique_id=bytes(8),
        existing_subject_key_id=bytes(8),
        replacing_subject_unique_id=bytes(8),
        replacing_subject_key_id=bytes(8),
    )
    response = UpdateSecurityCredentialsResponse(
        execution_outcome=ExecutionOutcome(
            seq_number=9,
            mode=CredentialsReplacementMode.TRANSCOS_BY_TRANSCOS,
            seq_number_changes=(),
            outcomes=(outcome,) * 3,
        ),
        length_form=LengthForm.TWO_OCTET,
    )
    data = encode_response(response)
    assert data.startswith(b"\x30\x82\x00")
    assert canonical.read_response(data) is None
    decoded = decode_response(data)
    assert decoded == response
    assert decoded.length_form is LengthForm.TWO_OCTET
    der_data = encode_response(attrs.evolve(response, length_form=LengthForm.DER))
    assert canonical.read_response(der_data) == response
    assert decode_response(der_data).length_form is LengthForm.DER


# ------------------------------------------------------------------------ the framing pass


@settings(max_examples=500)
@given(
    st.one_of(
        st.binary(max_size=300),
        ber_trees,
        damaged(ber_trees),
        st.builds(
            lambda depth, tail: _nested(depth) + tail, st.integers(30, 35), st.binary(max_size=3)
        ),
    )
)
def test_the_framing_pass_finds_and_refuses_what_the_recursive_walk_did(data):
    reference = _refusal(lambda: _reference_walk(data, "x"))
    assert _refusal(lambda: walk(data, field="x")) == reference
    if reference[0] == "answered":
        elements = reference[1]
        assert isinstance(elements, list)
        framing = frame(data, field="x")
        assert framing.length_form is _reference_form(elements)
        assert length_form(data, field="x") is _reference_form(elements)
        assert framing.first_tag == (elements[0].tag if elements else -1)
    else:
        assert _refusal(lambda: frame(data, field="x")) == reference


@given(st.one_of(st.binary(max_size=200), ber_trees, damaged(ber_trees)), st.integers(0, 50))
def test_a_single_element_is_checked_as_before(data, offset):
    def reference() -> Tlv:
        elements = _reference_walk(data, "x")
        if not elements:
            raise InvalidGbcs("empty", offset=offset, field="x")
        top = elements[0]
        if top.end != len(data):
            raise InvalidGbcs(
                f"{len(data) - top.end} bytes after the end of the element",
                offset=offset + top.end,
                field="x",
            )
        return top

    assert _refusal(lambda: single_element(data, field="x", offset=offset)) == _refusal(reference)


def test_nesting_is_refused_past_32_levels_at_the_content_of_the_33rd():
    assert frame(_nested(32), field="x").depth == MAX_DEPTH
    with pytest.raises(InvalidGbcs) as caught:
        frame(_nested(33), field="x")
    assert caught.value.offset == 2 * (MAX_DEPTH + 1)  # 2 octets of header per level
    assert "nested deeper than 32 levels" in caught.value.message


# ------------------------------------------------------------------------ what is remembered


def test_a_certificate_refusal_is_not_remembered_and_names_each_field():
    bad = bytes.fromhex("3005040401020304")  # announces 5 content octets, holds 6
    for field in ("replacements[0].replacementCertificate", "certification_path[1]"):
        for _ in range(2):
            with pytest.raises(InvalidGbcs) as caught:
                check_certificate(bad, field=field)
            assert caught.value.field == field
    good = bytes.fromhex("3006040401020304")
    assert check_certificate(good, field="a") is good
    assert check_certificate(bytes(bytearray(good)), field="b") == good


def test_a_remembered_public_key_still_verifies_every_signature():
    m = material()
    signed = m.signed(device_ids(1)[0], 10)
    key = m.pki.signer.public_key("tcos-ds")
    tampered = signed.encode()[:-1] + bytes([signed.encode()[-1] ^ 1])
    assert verify_signature(signed, key)
    assert not verify_signature(tampered, key)
    assert verify_signature(signed.encode(), bytes(bytearray(key)))
    with pytest.raises(InvalidGbcs, match="public_key"):
        verify_signature(signed, "not bytes")  # type: ignore[arg-type]


# ------------------------------------------------------------------------ the migration round


def test_a_simulated_migration_reads_every_payload_the_fast_way(monkeypatch):
    """Built, sent, executed, answered and read without the asn1crypto decoder: the commands
    and responses of a migration are canonical DER."""

    def general_decoder_used(*_: object) -> None:
        raise AssertionError("the asn1crypto decoder was used")

    monkeypatch.setattr(credentials, "_load", general_decoder_used)
    m = material()
    codec = GbcsReplacementCodec(
        signer=m.pki.signer,
        key="tcos-ds",
        tcos_party=TCOS_PARTY,
        ecos_certificate=m.ecos.der,
        certification_path=[m.oca.der],
    )
    fleet = m.fleet(seed=11)
    transport = SimulatedDeviceTransport(fleet)
    digests = set()
    for counter, device in enumerate(device_ids(5), start=1000):
        fleet.add_device(device, HEALTHY)
        command = codec.replacement_command(device, originator_counter=counter, at=T0)
        reply = transport.send(device, command.command, T0, timeout=timedelta(minutes=1))
        assert reply.kind is ReplyKind.ANSWERED
        assert reply.response is not None
        outcome = codec.device_outcome(reply.response, command)
        assert [c.status for c in outcome.cells] == [GbcsStatus.SUCCESS]
        assert fleet.holds_ecos_credential(device)
        digests.add(hashlib.sha256(reply.response).digest())
    assert len(digests) == 5  # each response is the Device's own


def test_the_migration_command_carries_the_payload_asn1crypto_writes():
    m = material()
    codec = GbcsReplacementCodec(
        signer=m.pki.signer,
        key="tcos-ds",
        tcos_party=TCOS_PARTY,
        ecos_certificate=m.ecos.der,
        certification_path=[m.oca.der],
    )
    command = codec.replacement_command(device_ids(1)[0], originator_counter=77, at=T0)
    sent = decode_message(command.command)
    assert isinstance(sent, GeneralSigningMessage)
    expected = transcos_by_transcos(
        counter=77,
        replacement=m.ecos.der,
        certification_path=[m.oca.der],
        apply_time_based_cpv_checks=CpvChecks.DISAPPLY,
    )
    assert sent.payload == _asn1_command(expected)
    assert sent.content() == expected
