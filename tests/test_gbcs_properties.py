"""Properties of the GBCS codec: what we encode decodes to the same value (and re-encodes to
the same bytes), and no byte string crashes a decoder: it decodes or raises ``InvalidGbcs``."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.codecs.gbcs import (
    AuthorisingRemotePartyControl,
    Command,
    CpvChecks,
    CraFlag,
    CredentialsReplacementMode,
    DlmsDateTime,
    ExecutionOutcome,
    GeneralSigningHeader,
    GeneralSigningMessage,
    InvalidGbcs,
    LengthForm,
    RemotePartySeqNumberChange,
    ReplacementOutcome,
    SeqNumberUsage,
    SpecialistSeqNumber,
    StatusCode,
    TrustAnchorReplacement,
    UpdateSecurityCredentials,
    UpdateSecurityCredentialsAlert,
    UpdateSecurityCredentialsResponse,
    decode_alert,
    decode_command,
    decode_general_signing,
    decode_header,
    decode_message,
    decode_response,
    decode_update_security_credentials,
    encode_alert,
    encode_header,
    encode_response,
    encode_update_security_credentials,
)
from adapters.codecs.gbcs.ber import encode_length
from domain.identifiers import EUI64
from domain.smki import CellUsage, KeyUsage, RemotePartyRole, TrustAnchorCell
from tests.gbcs_support import DECODERS

counters = st.integers(0, (1 << 63) - 1)
eui64s = st.integers(0, (1 << 64) - 1).map(EUI64)
octet = st.integers(0, 255)


def _tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + encode_length(len(content)) + content


# A certificate stands in as a SEQUENCE of OCTET STRINGs: the codec carries certificates byte
# for byte and only checks that they are one well-formed SEQUENCE.
certificates = st.lists(st.binary(max_size=200), min_size=1, max_size=3).map(
    lambda parts: _tlv(0x30, b"".join(_tlv(0x04, p) for p in parts))
)
ka_certificates = certificates.filter(lambda der: len(der) > 8)

dlms_date_times = st.builds(
    DlmsDateTime,
    year=st.integers(0, 0xFFFF),
    month=octet,
    day=octet,
    day_of_week=octet,
    hour=octet,
    minute=octet,
    second=octet,
    hundredths=octet,
    deviation=st.integers(-0x8000, 0x7FFF),
    clock_status=octet,
)
utc_seconds = st.datetimes(
    min_value=datetime(1, 1, 2),  # noqa: DTZ001 — hypothesis adds the zone
    max_value=datetime(9999, 12, 30),  # noqa: DTZ001
    timezones=st.just(UTC),
).map(lambda d: d.replace(microsecond=0))


@st.composite
def headers(draw: st.DrawFn) -> GeneralSigningHeader:
    level = draw(st.integers(0, 4))  # how many supplementary fields other-information holds
    return GeneralSigningHeader(
        cra_flag=draw(st.sampled_from(CraFlag)),
        originator_counter=draw(counters),
        originator=draw(eui64s),
        recipient=draw(eui64s),
        message_code=draw(st.integers(0, 0xFFFF)),
        date_time=draw(st.none() | dlms_date_times),
        supplementary_remote_party_id=draw(eui64s) if level >= 1 else None,
        supplementary_remote_party_counter=draw(counters) if level >= 2 else None,
        supplementary_originator_counter=draw(counters) if level == 3 else None,
        supplementary_ka_certificate=draw(ka_certificates) if level == 4 else None,
    )


cells = st.builds(
    TrustAnchorCell,
    st.sampled_from(RemotePartyRole),
    st.sampled_from(KeyUsage),
    st.sampled_from(CellUsage),
)
specialists = st.lists(
    st.builds(SpecialistSeqNumber, st.just(SeqNumberUsage.PREPAYMENT_TOP_UP), counters),
    max_size=3,
).map(tuple)
changes = st.lists(
    st.builds(
        RemotePartySeqNumberChange,
        role=st.sampled_from(RemotePartyRole),
        floor_seq_number=counters,
        specialist_floor_seq_numbers=st.none() | specialists,
    ),
    max_size=3,
).map(tuple)
modes = st.sampled_from(CredentialsReplacementMode)
controls = st.builds(
    AuthorisingRemotePartyControl,
    mode=modes,
    seq_number=counters,
    authorising_cell=st.none() | cells,
    plaintext_symmetric_key=st.none() | st.binary(max_size=32),
    apply_time_based_cpv_checks=st.none() | st.sampled_from(CpvChecks),
    new_remote_party_floor_seq_number=st.none() | counters,
    new_remote_party_specialist_floor_seq_numbers=st.none() | specialists,
    other_remote_party_seq_number_changes=st.none() | changes,
)
commands = st.builds(
    UpdateSecurityCredentials,
    control=controls,
    replacements=st.lists(st.builds(TrustAnchorReplacement, certificates, cells), max_size=4).map(
        tuple
    ),
    certification_path=st.lists(certificates, max_size=3).map(tuple),
    execution_date_time=st.none() | utc_seconds,
)
outcomes = st.builds(
    ExecutionOutcome,
    seq_number=counters,
    mode=modes,
    seq_number_changes=changes,
    outcomes=st.lists(
        st.builds(
            ReplacementOutcome,
            cell=cells,
            status=st.sampled_from(StatusCode),
            existing_subject_unique_id=st.binary(max_size=16),
            existing_subject_key_id=st.binary(max_size=16),
            replacing_subject_unique_id=st.binary(max_size=16),
            replacing_subject_key_id=st.binary(max_size=16),
        ),
        max_size=5,
    ).map(tuple),
)
forms = st.sampled_from(LengthForm)
responses = st.builds(
    UpdateSecurityCredentialsResponse,
    execution_outcome=st.none() | outcomes,
    length_form=forms,
)
alerts = st.builds(
    UpdateSecurityCredentialsAlert,
    alert_code=st.integers(0, 0xFFFF),
    execution_date_time=utc_seconds,
    execution_outcome=outcomes,
    length_form=forms,
)
signatures = st.none() | st.just(b"") | st.binary(min_size=64, max_size=64)


@st.composite
def general_signing_messages(draw: st.DrawFn) -> GeneralSigningMessage:
    return GeneralSigningMessage.build(
        draw(headers()), draw(st.binary(max_size=300)), draw(signatures)
    )


command_frames = st.builds(
    Command,
    security_control=octet,
    invocation_counter=st.integers(0, 0xFFFFFFFF),
    message=general_signing_messages(),
    mac=st.binary(min_size=12, max_size=12),
)


# ------------------------------------------------------------------------- round trips


@given(headers(), st.integers(0, 300))
def test_a_header_decodes_to_the_header_encoded(header, content_length):
    data = encode_header(header, content_length) + bytes(content_length)
    decoded = decode_header(data)
    assert decoded.header == header
    assert decoded.content_length == content_length
    assert decoded.content_offset == len(data) - content_length


@given(commands)
def test_a_command_payload_decodes_to_the_payload_encoded(payload):
    data = encode_update_security_credentials(payload)
    decoded = decode_update_security_credentials(data)
    assert decoded == payload
    assert encode_update_security_credentials(decoded) == data


@given(responses)
def test_a_response_decodes_to_the_response_encoded_and_re_encodes_alike(response):
    data = encode_response(response)
    decoded = decode_response(data)
    assert decoded == response
    assert encode_response(decoded) == data


@given(alerts)
def test_an_alert_decodes_to_the_alert_encoded_and_re_encodes_alike(alert):
    data = encode_alert(alert)
    decoded = decode_alert(data)
    assert decoded == alert
    assert encode_alert(decoded) == data


@given(general_signing_messages())
def test_a_general_signing_message_decodes_to_the_message_encoded(message):
    data = message.encode()
    assert decode_general_signing(data) == message
    assert decode_message(data) == message


@given(command_frames)
def test_a_command_decodes_to_the_command_encoded(command):
    data = command.encode()
    assert decode_command(data) == command
    assert decode_message(data) == command


@given(commands, eui64s, eui64s)
def test_a_pre_command_carries_its_payload_under_the_mode_s_message_code(payload, src, dst):
    header = GeneralSigningHeader(
        cra_flag=CraFlag.COMMAND,
        originator_counter=payload.control.seq_number,
        originator=src,
        recipient=dst,
        message_code=payload.message_code,
    )
    message = decode_general_signing(GeneralSigningMessage.build(header, payload).encode())
    assert message.content() == payload


# ------------------------------------------------------------------------- no crashes


def _never_crashes(data: bytes) -> None:
    refusals: list[InvalidGbcs] = []
    for decoder in DECODERS.values():
        try:
            decoder(data)
        except InvalidGbcs as e:  # anything else fails the test
            refusals.append(e)
    assert all(e.code == "INVALID_GBCS" and e.message for e in refusals)


prefixes = st.sampled_from(
    [b"", b"\xdd", b"\xdd\x00\x00\x00\x00\x00\x00", b"\xdf", b"\xdf\x09\x01", b"\x30", b"\x30\x82"]
)


@settings(max_examples=400)
@given(prefixes, st.binary(max_size=400))
def test_random_bytes_never_crash_a_decoder(prefix, tail):
    _never_crashes(prefix + tail)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid encoding with a few bytes changed, dropped or inserted."""
    source = draw(
        st.one_of(
            general_signing_messages().map(lambda m: m.encode()),
            command_frames.map(lambda c: c.encode()),
            commands.map(encode_update_security_credentials),
            responses.map(encode_response),
            alerts.map(encode_alert),
        )
    )
    data = bytearray(source)
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["set", "drop", "insert", "truncate"]))
        if action == "set":
            data[at] = draw(octet)
        elif action == "drop":
            del data[at]
        elif action == "insert":
            data.insert(at, draw(octet))
        else:
            del data[at:]
    return bytes(data)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_damaged_encodings_never_crash_a_decoder(data):
    _never_crashes(data)
