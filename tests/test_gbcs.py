"""GBCS codec against the RTDS 4.5.0 CS02b vectors: decode, re-encode, verify, build, CLI."""

from __future__ import annotations

import contextlib
import json
import random
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from adapters.codecs.gbcs import (
    SUPPLIER_DIGITAL_SIGNING_CELL,
    SUPPLIER_KEY_AGREEMENT_CELL,
    SUPPLIER_TOP_UP_KEY_AGREEMENT_CELL,
    TRANSCOS_CELL,
    Command,
    CpvChecks,
    CraFlag,
    CredentialsReplacementMode,
    DlmsDateTime,
    GeneralSigningMessage,
    InvalidGbcs,
    LengthForm,
    RemotePartySeqNumberChange,
    SeqNumberUsage,
    SpecialistSeqNumber,
    StatusCode,
    UpdateSecurityCredentials,
    UpdateSecurityCredentialsResponse,
    build_signed_pre_command,
    decode_command,
    decode_general_signing,
    decode_message,
    decode_response,
    decode_update_security_credentials,
    decode_view,
    encode_header,
    encode_payload,
    sign_pre_command,
    supplier_by_transcos,
    transcos_by_transcos,
    verify_signature,
)
from adapters.crypto.software_signer import SoftwareSigner
from domain.errors import DomainError
from domain.identifiers import EUI64
from domain.smki import RemotePartyRole
from tests.gbcs_support import (
    DECODERS,
    ROOT,
    SUPPLIER_BY_SUPPLIER_COMMAND,
    SUPPLIER_BY_SUPPLIER_PRECOMMAND,
    SUPPLIER_BY_SUPPLIER_RESPONSE,
    SUPPLIER_BY_TRANSCOS_COMMAND,
    SUPPLIER_BY_TRANSCOS_RESPONSE,
    SUPPLIER_PARTY,
    TRANSCOS_BY_TRANSCOS_COMMAND,
    TRANSCOS_BY_TRANSCOS_RESPONSE,
    TRANSCOS_PARTY,
    VECTOR_NAMES,
    certificate_der,
    dcc_vectors,
    keystore,
    keystore_json_certificate,
    oca_der,
    public_key_der,
    vector,
    vector_path,
)

DEVICE = EUI64.parse("00-DB-12-34-56-78-90-A0")
COS_PARTY = EUI64.parse("90-B3-D5-1F-30-00-00-04")
MAC_HEADER_LENGTH = 15  # DD 00*6, 82 hh ll, 11 00000000


def signed_part(message: GeneralSigningMessage | Command) -> GeneralSigningMessage:
    return message.message if isinstance(message, Command) else message


def transcos_signer() -> SoftwareSigner:
    signer = SoftwareSigner()
    signer.add_key("tcos-ds", keystore(f"{TRANSCOS_PARTY}-ds.key").read_bytes())
    return signer


# ------------------------------------------------------------------------- every vector


def test_the_vector_folder_holds_exactly_the_vectors_these_tests_know():
    found = {p.name for p in (dcc_vectors() / "gbcs").iterdir()}
    assert found == set(VECTOR_NAMES)


@pytest.mark.parametrize("name", VECTOR_NAMES)
def test_every_vector_decodes_and_each_part_re_encodes_to_the_identical_bytes(name):
    data = vector(name)
    message = decode_message(data)
    assert message.encode() == data
    part = signed_part(message)
    assert encode_header(part.header, len(part.payload)) == part.header_bytes
    content = part.content()
    assert content is not None
    assert encode_payload(content) == part.payload
    if isinstance(message, Command):
        assert data[:MAC_HEADER_LENGTH] == message.mac_header
        assert data[-12:] == message.mac


@pytest.mark.parametrize(
    ("name", "kind", "mode", "counter"),
    [
        (
            SUPPLIER_BY_TRANSCOS_COMMAND,
            Command,
            CredentialsReplacementMode.SUPPLIER_BY_TRANSCOS,
            6001,
        ),
        (
            TRANSCOS_BY_TRANSCOS_COMMAND,
            Command,
            CredentialsReplacementMode.TRANSCOS_BY_TRANSCOS,
            6000,
        ),
        (
            SUPPLIER_BY_SUPPLIER_COMMAND,
            Command,
            CredentialsReplacementMode.SUPPLIER_BY_SUPPLIER,
            1000,
        ),
        (
            SUPPLIER_BY_SUPPLIER_PRECOMMAND,
            GeneralSigningMessage,
            CredentialsReplacementMode.SUPPLIER_BY_SUPPLIER,
            1000,
        ),
    ],
)
def test_command_headers_carry_the_mode_s_message_code_and_the_authorising_counter(
    name, kind, mode, counter
):
    message = decode_message(vector(name))
    assert isinstance(message, kind)
    part = signed_part(message)
    header = part.header
    assert header.cra_flag is CraFlag.COMMAND
    assert header.message_code == mode.message_code == 0x0100 + mode.value
    assert header.originator_counter == counter
    assert header.recipient == DEVICE
    assert header.date_time is None
    payload = part.content()
    assert isinstance(payload, UpdateSecurityCredentials)
    assert payload.mode is mode
    assert payload.control.seq_number == counter
    assert payload.certification_path == (oca_der(),)
    assert payload.execution_date_time is None


def test_the_6_23_command_puts_three_supplier_certificates_into_the_supplier_cells():
    command = decode_command(vector(SUPPLIER_BY_TRANSCOS_COMMAND))
    assert command.message.header.originator == COS_PARTY
    assert command.security_control == 0x11
    assert command.invocation_counter == 0
    payload = command.message.content()
    assert isinstance(payload, UpdateSecurityCredentials)
    control = payload.control
    assert control.authorising_cell == TRANSCOS_CELL
    assert control.apply_time_based_cpv_checks is None
    assert control.new_remote_party_floor_seq_number is None
    assert control.other_remote_party_seq_number_changes == (
        RemotePartySeqNumberChange(
            role=RemotePartyRole.SUPPLIER,
            floor_seq_number=0,
            specialist_floor_seq_numbers=(
                SpecialistSeqNumber(SeqNumberUsage.PREPAYMENT_TOP_UP, 0),
            ),
        ),
    )
    new_supplier = "90b3d51f30030000"
    assert [(r.cell, r.certificate) for r in payload.replacements] == [
        (SUPPLIER_DIGITAL_SIGNING_CELL, certificate_der(keystore(f"{new_supplier}-ds.pem"))),
        (SUPPLIER_KEY_AGREEMENT_CELL, certificate_der(keystore(f"{new_supplier}-ka.pem"))),
        (
            SUPPLIER_TOP_UP_KEY_AGREEMENT_CELL,
            certificate_der(keystore(f"{new_supplier}-pp-ka.pem")),
        ),
    ]


def test_the_migration_command_replaces_the_transcos_cell_and_disapplies_time_checks():
    payload = decode_command(vector(TRANSCOS_BY_TRANSCOS_COMMAND)).message.content()
    assert isinstance(payload, UpdateSecurityCredentials)
    assert payload.control.authorising_cell == TRANSCOS_CELL
    assert payload.control.apply_time_based_cpv_checks is CpvChecks.DISAPPLY
    assert payload.control.other_remote_party_seq_number_changes is None
    (replacement,) = payload.replacements
    assert replacement.cell == TRANSCOS_CELL
    assert replacement.certificate == keystore_json_certificate(
        TRANSCOS_PARTY, "digitalSignature", "Z1b-transitionalCoS-ds"
    )


@pytest.mark.parametrize(
    ("name", "mode", "cells", "form"),
    [
        (
            SUPPLIER_BY_TRANSCOS_RESPONSE,
            CredentialsReplacementMode.SUPPLIER_BY_TRANSCOS,
            3,
            LengthForm.TWO_OCTET,
        ),
        (
            SUPPLIER_BY_SUPPLIER_RESPONSE,
            CredentialsReplacementMode.SUPPLIER_BY_SUPPLIER,
            3,
            LengthForm.TWO_OCTET,
        ),
        (
            TRANSCOS_BY_TRANSCOS_RESPONSE,
            CredentialsReplacementMode.TRANSCOS_BY_TRANSCOS,
            1,
            LengthForm.DER,
        ),
    ],
)
def test_responses_report_success_per_cell(name, mode, cells, form):
    message = decode_general_signing(vector(name))
    header = message.header
    assert header.cra_flag is CraFlag.RESPONSE
    assert header.originator == DEVICE
    assert header.message_code == mode.message_code
    assert header.date_time is not None
    moment = header.date_time.to_datetime()
    assert moment is not None
    assert moment.isoformat() == "2015-01-01T00:00:00"  # no deviation given: naive local time
    assert message.signature is not None
    assert len(message.signature) == 64
    response = message.content()
    assert isinstance(response, UpdateSecurityCredentialsResponse)
    assert response.length_form is form
    outcome = response.execution_outcome
    assert outcome is not None
    assert outcome.mode is mode
    assert outcome.seq_number == header.originator_counter
    assert len(outcome.outcomes) == cells
    assert outcome.succeeded
    assert {o.status for o in outcome.outcomes} == {StatusCode.SUCCESS}


def test_the_6_23_response_names_the_old_and_new_supplier_in_each_cell():
    response = decode_response(
        decode_general_signing(vector(SUPPLIER_BY_TRANSCOS_RESPONSE)).payload
    )
    assert response.execution_outcome is not None
    outcomes = response.execution_outcome.outcomes
    assert [o.cell for o in outcomes] == [
        SUPPLIER_DIGITAL_SIGNING_CELL,
        SUPPLIER_KEY_AGREEMENT_CELL,
        SUPPLIER_TOP_UP_KEY_AGREEMENT_CELL,
    ]
    assert {o.existing_subject_unique_id.hex() for o in outcomes} == {SUPPLIER_PARTY}
    assert {o.replacing_subject_unique_id.hex() for o in outcomes} == {"90b3d51f30030000"}
    assert outcomes[0].replacing_subject_key_id == bytes.fromhex("4A8103ADAC183A89")


def test_device_responses_write_long_lengths_in_two_octets_and_re_encode_so():
    payload = decode_general_signing(vector(SUPPLIER_BY_TRANSCOS_RESPONSE)).payload
    assert payload[:4] == bytes.fromhex("308200CA")  # DER would be 30 81 CA
    response = decode_response(payload)
    assert encode_payload(response) == payload
    der = encode_payload(
        UpdateSecurityCredentialsResponse(execution_outcome=response.execution_outcome)
    )
    assert der[:3] == bytes.fromhex("3081C8")  # two nested lengths lose an octet each
    assert decode_response(der) == response  # the form is how it is written, not what it says


# ------------------------------------------------------------------------- signatures


@pytest.mark.parametrize("name", [SUPPLIER_BY_TRANSCOS_COMMAND, TRANSCOS_BY_TRANSCOS_COMMAND])
def test_the_transcos_commands_verify_with_the_test_transcos_certificate(name):
    key = public_key_der(keystore(f"{TRANSCOS_PARTY}-ds.pem"))
    data = vector(name)
    assert verify_signature(data, key)
    assert verify_signature(decode_command(data), key)
    wrong = public_key_der(keystore(f"{SUPPLIER_PARTY}-ds.pem"))
    assert not verify_signature(data, wrong)


def test_the_signature_covers_the_header_without_its_tag_then_the_payload():
    message = decode_command(vector(SUPPLIER_BY_TRANSCOS_COMMAND)).message
    assert message.header_bytes[0] == 0xDF
    assert message.signed_data == message.header_bytes[1:] + message.payload
    certificate = x509.load_pem_x509_certificate(keystore(f"{TRANSCOS_PARTY}-ds.pem").read_bytes())
    key = certificate.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert message.signature is not None
    der = encode_dss_signature(
        int.from_bytes(message.signature[:32], "big"), int.from_bytes(message.signature[32:], "big")
    )
    key.verify(der, message.signed_data, ec.ECDSA(hashes.SHA256()))
    with pytest.raises(InvalidSignature):  # with the 0xDF tag it does not verify
        key.verify(der, message.header_bytes + message.payload, ec.ECDSA(hashes.SHA256()))


def test_a_changed_byte_breaks_the_signature():
    key = public_key_der(keystore(f"{TRANSCOS_PARTY}-ds.pem"))
    data = bytearray(vector(TRANSCOS_BY_TRANSCOS_COMMAND))
    data[MAC_HEADER_LENGTH + 60] ^= 0x01  # inside the payload
    assert not verify_signature(bytes(data), key)


def test_the_6_15_1_pre_command_sits_inside_its_command():
    pre = vector(SUPPLIER_BY_SUPPLIER_PRECOMMAND)
    raw = vector(SUPPLIER_BY_SUPPLIER_COMMAND)
    # The Pre-Command the DCC returns is header ‖ payload, unsigned.
    pre_command = decode_general_signing(pre)
    assert pre_command.signature is None
    assert pre_command.encode() == pre
    # The Command: MAC header ‖ Pre-Command ‖ 0x40 ‖ 64-octet signature ‖ 12-octet MAC.
    mac_header, rest = raw[:MAC_HEADER_LENGTH], raw[MAC_HEADER_LENGTH:]
    assert mac_header[:7] == bytes.fromhex("DD000000000000")
    assert mac_header[7:10] == bytes.fromhex("82") + (len(raw) - 10).to_bytes(2, "big")
    assert mac_header[10:] == bytes.fromhex("1100000000")
    assert rest[: len(pre)] == pre
    assert rest[len(pre)] == 0x40
    signature = rest[len(pre) + 1 : len(pre) + 65]
    mac = rest[len(pre) + 65 :]
    assert len(mac) == 12
    command = decode_command(raw)
    assert command.message.pre_command == pre
    assert command.message.signature == signature
    assert command.mac == mac
    # The supplier signed the Pre-Command: the signature verifies with its certificate, and
    # signing the Pre-Command again with its key gives another signature that verifies too.
    supplier = public_key_der(keystore(f"{SUPPLIER_PARTY}-ds.pem"))
    assert verify_signature(command, supplier)
    signer = SoftwareSigner()
    signer.add_key("supplier-ds", keystore(f"{SUPPLIER_PARTY}-ds.key").read_bytes())
    ours = sign_pre_command(pre, signer=signer, key="supplier-ds")
    assert ours.pre_command == pre
    assert verify_signature(ours, supplier)
    assert verify_signature(ours.encode(), supplier)


# ------------------------------------------------------------------------- building


def test_a_mode_7_signed_pre_command_built_from_the_6_23_inputs_matches_the_vector():
    vector_message = decode_command(vector(SUPPLIER_BY_TRANSCOS_COMMAND)).message
    new_supplier = "90b3d51f30030000"
    payload = supplier_by_transcos(
        counter=6001,
        digital_signing=certificate_der(keystore(f"{new_supplier}-ds.pem")),
        key_agreement=certificate_der(keystore(f"{new_supplier}-ka.pem")),
        key_agreement_top_up=certificate_der(keystore(f"{new_supplier}-pp-ka.pem")),
        certification_path=[oca_der()],
        supplier_floor_seq_number=0,
        supplier_prepayment_top_up_floor_seq_number=0,
        apply_time_based_cpv_checks=None,
    )
    signed = build_signed_pre_command(
        payload, originator=COS_PARTY, recipient=DEVICE, signer=transcos_signer(), key="tcos-ds"
    )
    assert signed.header_bytes == vector_message.header_bytes
    assert signed.payload == vector_message.payload
    assert signed.pre_command == vector_message.pre_command
    assert signed.signature is not None
    assert signed.signature != vector_message.signature  # ECDSA is randomised
    assert verify_signature(signed.encode(), public_key_der(keystore(f"{TRANSCOS_PARTY}-ds.pem")))
    wire = signed.encode()
    assert wire[len(signed.pre_command)] == 0x40
    assert len(wire) == len(signed.pre_command) + 65


def test_a_mode_6_signed_pre_command_built_from_the_migration_inputs_matches_the_vector():
    vector_message = decode_command(vector(TRANSCOS_BY_TRANSCOS_COMMAND)).message
    payload = transcos_by_transcos(
        counter=6000,
        replacement=keystore_json_certificate(
            TRANSCOS_PARTY, "digitalSignature", "Z1b-transitionalCoS-ds"
        ),
        certification_path=[oca_der()],
        apply_time_based_cpv_checks=CpvChecks.DISAPPLY,
    )
    signed = build_signed_pre_command(
        payload, originator=COS_PARTY, recipient=DEVICE, signer=transcos_signer(), key="tcos-ds"
    )
    assert signed.pre_command == vector_message.pre_command
    assert verify_signature(signed, public_key_der(keystore(f"{TRANSCOS_PARTY}-ds.pem")))


def test_a_future_dated_command_carries_its_execution_date_time_last():
    when = datetime(2030, 1, 2, tzinfo=UTC)
    payload = transcos_by_transcos(
        counter=7,
        replacement=_tiny_certificate(),
        certification_path=[],
        apply_time_based_cpv_checks=None,
        execution_date_time=when,
    )
    der = encode_payload(payload)
    assert der.endswith(b"\x18\x0f20300102000000Z")
    assert decode_update_security_credentials(der) == payload


# ------------------------------------------------------------------------- refusals


def _tiny_certificate() -> bytes:
    return bytes.fromhex("3006040401020304")


def test_the_error_is_a_domain_error_with_a_stable_code_naming_the_offset():
    data = vector(SUPPLIER_BY_TRANSCOS_RESPONSE)[:20]
    with pytest.raises(InvalidGbcs) as caught:
        decode_message(data)
    assert isinstance(caught.value, DomainError)
    assert isinstance(caught.value, ValueError)
    assert caught.value.code == "INVALID_GBCS"
    assert caught.value.offset == 20
    assert "offset 20" in caught.value.message


def test_payload_errors_name_the_field():
    payload = bytearray(decode_command(vector(SUPPLIER_BY_TRANSCOS_COMMAND)).message.payload)
    assert payload[6:9] == bytes.fromhex("020107")  # credentialsReplacementMode 7
    payload[8] = 0x01  # mode 1 does not exist
    with pytest.raises(InvalidGbcs, match=r"credentialsReplacementMode: 1 is not one of") as e:
        decode_update_security_credentials(bytes(payload))
    assert e.value.field == "authorisingRemotePartyControl.credentialsReplacementMode"


def test_a_payload_whose_mode_differs_from_the_message_code_is_refused():
    message = decode_command(vector(SUPPLIER_BY_TRANSCOS_COMMAND)).message
    header = message.header
    other = GeneralSigningMessage.build(
        type(header)(
            cra_flag=header.cra_flag,
            originator_counter=header.originator_counter,
            originator=header.originator,
            recipient=header.recipient,
            message_code=0x0106,
        ),
        message.payload,
    )
    with pytest.raises(InvalidGbcs, match="0x0106"):
        other.content()


def test_only_a_command_is_signed_as_a_pre_command():
    response = vector(TRANSCOS_BY_TRANSCOS_RESPONSE)
    with pytest.raises(InvalidGbcs, match="RESPONSE"):
        sign_pre_command(response, signer=transcos_signer(), key="tcos-ds")


def test_a_signer_returning_der_instead_of_raw_is_refused():
    class DerSigner(SoftwareSigner):
        def sign(self, key, data, *, encoding=None):  # noqa: ARG002
            return b"\x30" * 70

    signer = DerSigner()
    signer.add_key("k", keystore(f"{TRANSCOS_PARTY}-ds.key").read_bytes())
    with pytest.raises(InvalidGbcs, match="64"):
        sign_pre_command(vector(SUPPLIER_BY_SUPPLIER_PRECOMMAND), signer=signer, key="k")


def test_verification_refuses_a_key_that_is_not_p256():
    with pytest.raises(InvalidGbcs, match="public_key"):
        verify_signature(vector(TRANSCOS_BY_TRANSCOS_COMMAND), b"not a key")


def test_an_unsigned_pre_command_does_not_verify():
    key = public_key_der(keystore(f"{SUPPLIER_PARTY}-ds.pem"))
    assert not verify_signature(vector(SUPPLIER_BY_SUPPLIER_PRECOMMAND), key)


def test_dlms_date_times_read_with_their_deviation():
    utc = DlmsDateTime.from_datetime(datetime(2024, 7, 19, 12, 30, tzinfo=UTC))
    assert utc.to_datetime() == datetime(2024, 7, 19, 12, 30, tzinfo=UTC)
    assert DlmsDateTime.decode(utc.encode()) == utc
    plus_one = DlmsDateTime(
        year=2024, month=7, day=19, day_of_week=5, hour=13, minute=30, second=0,
        hundredths=0, deviation=-60, clock_status=0,
    )  # fmt: skip
    assert plus_one.to_datetime() == datetime(2024, 7, 19, 12, 30, tzinfo=UTC)
    unspecified = DlmsDateTime(
        year=0xFFFF, month=1, day=1, day_of_week=0xFF, hour=0, minute=0, second=0,
        hundredths=0, deviation=-0x8000, clock_status=0xFF,
    )  # fmt: skip
    assert unspecified.to_datetime() is None


def test_damaged_vectors_never_crash_a_decoder():
    """2,000 vectors (and their payloads) with a few bytes changed, dropped or cut: each decoder
    decodes or raises InvalidGbcs (a seeded sweep; the properties file fuzzes synthetic input)."""
    sources = []
    for name in VECTOR_NAMES:
        data = vector(name)
        sources += [data, signed_part(decode_message(data)).payload]
    rng = random.Random(20230705)  # noqa: S311 — test data, not cryptography
    for _ in range(2000):
        damaged = bytearray(rng.choice(sources))
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(damaged))
            roll = rng.random()
            if roll < 0.7:
                damaged[at] = rng.randrange(256)
            elif roll < 0.8:
                del damaged[at]
            elif roll < 0.9:
                damaged.insert(at, rng.randrange(256))
            else:
                del damaged[at + 1 :]
        for decoder in DECODERS.values():
            with contextlib.suppress(InvalidGbcs):
                decoder(bytes(damaged))


def _keys(value: object) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


def test_docs_name_every_member_of_the_json_view():
    doc = (ROOT / "docs" / "gbcs.md").read_text(encoding="utf-8")
    keys = set().union(*(_keys(decode_view(vector(name))) for name in VECTOR_NAMES))
    assert {k for k in keys if f'"{k}"' not in doc and f"`{k}`" not in doc} == set()


# ------------------------------------------------------------------------- CLI


def etmad(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "adapters.cli.main", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=120,
    )


@pytest.mark.slow
def test_cli_decodes_a_command_vector_file_as_json():
    done = etmad("gbcs", "decode", str(vector_path(SUPPLIER_BY_TRANSCOS_COMMAND)), "--json")
    assert done.returncode == 0, done.stderr
    view = json.loads(done.stdout)
    assert view["kind"] == "command"
    assert view["mac_header"]["hex"] == "DD0000000000008207531100000000"
    assert view["header"]["originator"] == "90-B3-D5-1F-30-00-00-04"
    assert view["header"]["originator_counter"] == "6001"
    assert view["header"]["message_code"] == "0x0107"
    payload = view["payload"]
    assert payload["type"] == "UpdateSecurityCredentials"
    assert payload["control"]["mode"] == "SUPPLIER_BY_TRANSCOS"
    assert [r["cell"]["key_usage"] for r in payload["replacements"]] == [
        "digitalSignature",
        "keyAgreement",
        "keyAgreement",
    ]
    assert payload["replacements"][0]["certificate"]["subject_key_id"] == "4A8103ADAC183A89"
    assert view["signature"]["length"] == 64
    assert len(view["mac"]["hex"]) == 24
    assert view["signed_bytes"] == {"offset": MAC_HEADER_LENGTH + 1, "length": 35 + 1757}


@pytest.mark.slow
def test_cli_decodes_hex_on_the_command_line_and_from_standard_input():
    hex_text = vector_path(TRANSCOS_BY_TRANSCOS_RESPONSE).read_text(encoding="ascii").strip()
    done = etmad("gbcs", "decode", hex_text, "--json")
    assert done.returncode == 0, done.stderr
    view = json.loads(done.stdout)
    assert view["kind"] == "response"
    assert view["payload"]["execution_outcome"]["succeeded"] is True
    piped = etmad("gbcs", "decode", "-", "--json", stdin=hex_text.lower() + "\n")
    assert piped.returncode == 0, piped.stderr
    assert json.loads(piped.stdout) == view
    outline = etmad("gbcs", "decode", hex_text)
    assert outline.returncode == 0, outline.stderr
    assert 'status: "SUCCESS"' in outline.stdout


@pytest.mark.slow
@pytest.mark.parametrize("garbage", ["zzzz", "DF0901", "3003020100", "DD0000000000000511"])
def test_cli_refuses_garbage_with_exit_1_and_a_message(garbage, tmp_path: Path):
    done = etmad("gbcs", "decode", garbage, "--json")
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith("etmad gbcs decode: ")
    assert "Traceback" not in done.stderr
    binary = tmp_path / "noise.bin"
    binary.write_bytes(bytes(range(256)))
    done = etmad("gbcs", "decode", str(binary))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
