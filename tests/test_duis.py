"""DUIS XML: hostile-XML refusal, schema validation, SRV 6.23 values, XML signatures.

Acceptance items of the Credentials toolkit issue: the DCC's signed responses verify with the
signer KeyInfo names (and the bad one is refused with the reason); the SRV 6.23 templates, signed
with a test xmlSign key, verify and validate; hostile XML is refused before processing; a
signature is only ever checked with the certificate KeyInfo names.
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from adapters.codecs import duis
from adapters.codecs.duis import (
    COUNTER_LIMIT,
    MAX_DEPTH,
    MAX_DOCUMENT_BYTES,
    DuisError,
    RequestId,
    load_schema,
    parse_cos_update_request,
    parse_xml,
    schema_folder,
    sign_document,
    verify_document,
    verify_signature,
)
from adapters.codecs.duis.safe_xml import hardened_parser
from adapters.codecs.duis.xmldsig import DS_NS
from adapters.crypto.smki import parse_certificate, parse_organisation_certificate
from adapters.crypto.trust_store import TrustStore
from application.credentials import UnknownKey
from domain.errors import DomainError, InvalidIdentifier
from domain.identifiers import EUI64
from domain.smki import KeyUsage, RemotePartyRole, ValidityCode
from tests.duis_support import (
    AT,
    FUTURE_DATED,
    IMMEDIATE,
    ORIGINATOR,
    TEMPLATES,
    XML_SIGN,
    TestPki,
    require_vectors,
    schema_of,
    z1_signer,
    z1_trust_store,
)

DS = f"{{{DS_NS}}}"
#: Certificate IDs (serials) of the DCC material, as KeyInfo names them.
ACB_DS_SERIAL = 0x587FE59553E2675B0C0E2A5C402A9F61  # 90b3d51f30000002-ds (message.xml)
DSP_PRE_141_SERIAL = 0x261E9CCC40A78FD13D83BCE07DACFE08  # readfw-response.xml


@pytest.fixture(scope="module")
def vectors() -> Path:
    return require_vectors()


@pytest.fixture(scope="module")
def schema(vectors: Path) -> duis.DuisSchema:
    return schema_of(vectors)


@pytest.fixture(scope="module")
def z1(vectors: Path) -> TrustStore:
    return z1_trust_store(vectors)


def signed(vectors: Path, name: str) -> bytes:
    return (vectors / "duis" / "signed" / name).read_bytes()


def template(vectors: Path, name: str) -> bytes:
    return (vectors / "duis" / "requests" / name).read_bytes()


def code_of(error: pytest.ExceptionInfo[DuisError]) -> str:
    return error.value.code


# Hostile XML: refused before any processing -----------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<lolz>&lol9;</lolz>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<r>&xxe;</r>"""
DTD_FETCH = b"""<?xml version="1.0"?>
<!DOCTYPE r SYSTEM "http://127.0.0.1:9/evil.dtd">
<r/>"""
PARAMETER_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/x.dtd"> %remote;]>
<r/>"""
HOSTILE = {
    "billion laughs": BILLION_LAUGHS,
    "external entity": EXTERNAL_ENTITY,
    "DTD fetch": DTD_FETCH,
    "parameter entity": PARAMETER_ENTITY,
    "entity declaration without DOCTYPE keyword in a comment": b"<r><!-- <!ENTITY x 'y'> --></r>",
    "oversize": b"<r>" + b"x" * MAX_DOCUMENT_BYTES + b"</r>",
    "too deep": b"<a>" * (MAX_DEPTH + 1) + b"</a>" * (MAX_DEPTH + 1),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_xml_is_refused_before_the_parser_sees_it(name, monkeypatch):
    data = HOSTILE[name]
    if name != "too deep":  # depth is counted as the parser reads, and stops it there

        def no_parsing(*_args, **_kwargs):
            pytest.fail("the parser was reached")

        monkeypatch.setattr(etree, "XMLPullParser", no_parsing)
    with pytest.raises(duis.HostileXml) as refused:
        parse_xml(data)
    assert refused.value.code == "HOSTILE_XML"
    assert isinstance(refused.value, DomainError)


def test_the_refusals_name_the_reason():
    with pytest.raises(duis.HostileXml, match="DTDs and entity declarations are refused"):
        parse_xml(EXTERNAL_ENTITY)
    with pytest.raises(duis.HostileXml, match=r"limit is 1048576 bytes \(1 MiB\)"):
        parse_xml(HOSTILE["oversize"])
    with pytest.raises(duis.HostileXml, match=f"more than {MAX_DEPTH} deep"):
        parse_xml(HOSTILE["too deep"])


def test_a_document_at_the_limits_is_read():
    deepest = b"<a>" * MAX_DEPTH + b"</a>" * MAX_DEPTH
    assert parse_xml(deepest).tag == "a"
    padding = MAX_DOCUMENT_BYTES - len(b"<r></r>")
    assert len(parse_xml(b"<r>" + b"x" * padding + b"</r>").text or "") == padding


def test_the_hardened_parser_alone_would_neither_load_nor_expand_entities(tmp_path):
    # Defence in depth: were a DOCTYPE to pass the scan, lxml is configured not to resolve it.
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    xxe = f'<!DOCTYPE r [<!ENTITY x SYSTEM "{secret.as_uri()}">]><r>&x;</r>'.encode()
    root = etree.fromstring(xxe, hardened_parser())
    assert "TOP SECRET" not in etree.tostring(root).decode()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "Document is empty"),
        (b"<r>", "not well-formed"),
        (b"<a/><b/>", "Extra content"),
        (b"<r>&undeclared;</r>", "not well-formed"),
        ("<r/>".encode("utf-16"), "UTF-16 or UTF-32"),
        (b"<r>\xff</r>", "not UTF-8"),
        (b'<?xml version="1.0" encoding="ISO-8859-1"?><r/>', "declares encoding 'ISO-8859-1'"),
    ],
)
def test_what_is_not_utf8_well_formed_xml_is_invalid_xml(data, message):
    with pytest.raises(duis.InvalidXml, match=message) as refused:
        parse_xml(data)
    assert refused.value.code == "INVALID_XML"


def _outcome(data: bytes | str) -> str:
    """'read', or the code of the typed refusal; anything else escapes and fails the test."""
    try:
        parse_xml(data)
    except DuisError as e:
        return e.code
    return "read"


@given(st.binary(max_size=2048))
def test_random_bytes_never_crash_the_reader(data):
    assert _outcome(data) in {"read", "INVALID_XML", "HOSTILE_XML"}


@given(st.text(max_size=512))
def test_random_text_never_crashes_the_reader(text):
    assert _outcome(text) in {"read", "INVALID_XML", "HOSTILE_XML"}


@given(
    st.recursive(
        st.text(alphabet="ab<>/&;!-[]= \"'", max_size=8),
        lambda inner: st.builds(
            lambda name, body: f"<{name}>{body}</{name}>", st.sampled_from("abc"), inner
        ),
        max_leaves=20,
    )
)
def test_random_markup_never_crashes_the_reader(text):
    assert _outcome(text) in {"read", "INVALID_XML", "HOSTILE_XML"}


# The DUIS XML Schema -------------------------------------------------------------------------


def test_the_schema_is_compiled_once_per_folder(vectors):
    folder = vectors / "duis" / "schema"
    assert load_schema(folder) is load_schema(str(folder))


def test_the_dcc_templates_and_signed_responses_are_schema_valid(vectors, schema):
    for path in [
        *(vectors / "duis" / "requests").iterdir(),
        *(vectors / "duis" / "signed").iterdir(),
    ]:
        assert schema.errors(parse_xml(path.read_bytes())) == [], path.name


def test_a_schema_invalid_body_is_refused_with_the_line_and_reason(vectors, schema):
    data = template(vectors, IMMEDIATE).replace(
        b"<sr:SupplierFloorSeqNumber>0</sr:SupplierFloorSeqNumber>", b""
    )
    with pytest.raises(duis.SchemaInvalid, match=r"line \d+: .*SupplierFloorSeqNumber") as refused:
        parse_cos_update_request(data, schema)
    assert refused.value.code == "SCHEMA_INVALID"


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b":1006</sr:RequestID>", b":18446744073709551616</sr:RequestID>"),  # counter 2^64
        (b"<sr:CommandVariant>1<", b"<sr:CommandVariant>10<"),
        (b"<sr:ImportMPxN>1312345678333<", b"<sr:ImportMPxN>13123456783331<"),
        (b"<sr:SupplierFloorSeqNumber>0<", b"<sr:SupplierFloorSeqNumber>9223372036854775808<"),
    ],
)
def test_schema_limits_are_enforced(vectors, schema, old, new):
    data = template(vectors, IMMEDIATE)
    assert old in data
    with pytest.raises(duis.SchemaInvalid):
        parse_cos_update_request(data.replace(old, new), schema)


def test_the_schema_folder_may_have_spaces_in_its_path(vectors, tmp_path):
    folder = tmp_path / "DUIS schemas with spaces"
    folder.mkdir()
    for path in (vectors / "duis" / "schema").iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    schema = load_schema(folder)
    assert schema.errors(parse_xml(template(vectors, IMMEDIATE))) == []


def test_a_schema_import_outside_its_folder_is_not_loaded(tmp_path):
    (tmp_path / "outside.xsd").write_text(
        '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:o"/>'
    )
    folder = tmp_path / "schema"
    folder.mkdir()
    (folder / "DUIS Schema V5.4.xsd").write_text(
        '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:o="urn:o" '
        'targetNamespace="urn:s"><xs:import namespace="urn:o" schemaLocation="../outside.xsd"/>'
        '<xs:element name="e" type="o:missing"/></xs:schema>'
    )
    with pytest.raises(duis.SchemaUnavailable, match="refused to load") as refused:
        load_schema(folder)
    assert refused.value.code == "SCHEMA_UNAVAILABLE"


def test_a_missing_schema_folder_is_schema_unavailable(tmp_path):
    with pytest.raises(duis.SchemaUnavailable, match=re.escape("has no 'DUIS Schema V5.4.xsd'")):
        load_schema(tmp_path)


def test_the_schema_folder_setting_order(tmp_path):
    assert schema_folder("opt", env={"ETMAD_DUIS_SCHEMA_DIR": "env"}) == Path("opt")
    assert schema_folder(None, env={"ETMAD_DUIS_SCHEMA_DIR": "env"}) == Path("env")
    assert schema_folder(None, env={"ETMAD_DCC_VECTORS": str(tmp_path)}) == (
        tmp_path / "duis" / "schema"
    )


# Request values: the Request ID and SRV 6.23 -----------------------------------------------


def test_a_request_id_reads_and_renders_canonically():
    found = RequestId.parse("90-b3-d5-1f-30-01-00-00:00-DB-12-34-56-78-90-A0:1006")
    assert found == RequestId(EUI64(0x90B3D51F30010000), EUI64(0x00DB1234567890A0), 1006)
    assert str(found) == "90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:1006"
    assert RequestId.from_json(found.to_json()) == found


@pytest.mark.parametrize(
    "text",
    [
        "90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:18446744073709551616",  # 2^64
        "90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:01",  # a leading zero
        "90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:-1",
        "90B3D51F30010000:00DB1234567890A0:1",  # DUIS writes EUI-64s hyphenated
        "90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0",
        "90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:1 ",
        "90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:\u0661",  # not an ASCII digit
    ],
)
def test_a_malformed_request_id_is_refused(text):
    with pytest.raises(InvalidIdentifier) as refused:
        RequestId.parse(text)
    assert refused.value.code == "INVALID_REQUEST_ID"


def test_request_id_counters_are_64_bit_unsigned():
    assert RequestId(EUI64(1), EUI64(2), COUNTER_LIMIT - 1).counter == 2**64 - 1
    for bad in (COUNTER_LIMIT, -1, True):
        with pytest.raises(InvalidIdentifier):
            RequestId(EUI64(1), EUI64(2), bad)


@given(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1), st.integers(0, COUNTER_LIMIT - 1))
def test_request_ids_round_trip(originator, target, counter):
    value = RequestId(EUI64(originator), EUI64(target), counter)
    assert RequestId.parse(str(value)) == value


def test_the_immediate_template_reads_as_srv_6_23(vectors, schema):
    request = parse_cos_update_request(template(vectors, IMMEDIATE), schema)
    header, body = request.header, request.body
    assert request.schema_version == "5.4"
    assert str(request.request_id) == "90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:1006"
    assert request.request_id.originator == ORIGINATOR
    assert (header.command_variant, header.service_reference) == (1, "6.23")
    assert header.service_reference_variant == "6.23"
    assert body.execution_date_time is None
    assert not body.future_dated
    assert body.supplier_floor_seq_number == 0
    assert body.supplier_prepayment_top_up_floor_seq_number == 0
    assert body.apply_time_based_cpv_checks is True
    assert body.import_mpxn == "1312345678333"
    replacement = body.replacement_certificates
    digital_signing = parse_organisation_certificate(replacement.digital_signing)
    assert digital_signing.role is RemotePartyRole.SUPPLIER
    assert digital_signing.key_usage is KeyUsage.DIGITAL_SIGNATURE
    assert replacement.key_agreement is not None
    assert replacement.key_agreement_top_up is not None
    assert parse_organisation_certificate(replacement.key_agreement).key_usage is (
        KeyUsage.KEY_AGREEMENT
    )
    assert len(body.certification_path_certificates) == 1


def test_the_future_dated_template_carries_its_execution_date_time(vectors, schema):
    request = parse_cos_update_request(template(vectors, FUTURE_DATED), schema)
    assert request.body.execution_date_time == datetime(2030, 1, 2, tzinfo=UTC)
    assert request.body.future_dated
    assert request.request_id.counter == 1007


def test_an_execution_date_time_without_a_time_zone_is_refused(vectors, schema):
    data = template(vectors, FUTURE_DATED).replace(
        b"2030-01-02T00:00:00.00Z", b"2030-01-02T00:00:00"
    )
    with pytest.raises(duis.InvalidRequest, match="no time zone"):
        parse_cos_update_request(data, schema)


def test_a_document_that_is_not_an_srv_6_23_request_is_refused(vectors, schema):
    with pytest.raises(duis.InvalidRequest, match="not a DUIS request"):
        parse_cos_update_request(signed(vectors, "message.xml"), schema)


# Verifying the DCC's own signatures ---------------------------------------------------------


def test_message_xml_verifies_with_the_certificate_keyinfo_names(vectors, z1):
    verified = verify_signature(signed(vectors, "message.xml"), z1)
    assert verified.certificate_id.serial == ACB_DS_SERIAL
    assert verified.certificate_id.issuer == "CN=Z1,OU=07"
    assert verified.key_info.issuer_name == "CN=Z1,OU=07"
    assert verified.signer is not None
    assert verified.signer.role is RemotePartyRole.ACCESS_CONTROL_BROKER
    assert verified.signer.entity_id == EUI64(0x90B3D51F30000002)


def test_message_xml_passes_every_check_at_the_reference_time(vectors, schema, z1):
    report = verify_document(signed(vectors, "message.xml"), schema=schema, authority=z1, at=AT)
    assert report.ok, report.failures
    assert report.schema_valid
    assert report.signature_valid
    assert report.validity is not None
    assert report.validity.code is ValidityCode.VALID


def test_readfw_response_verifies_with_the_pre_1_4_1_dsp_certificate(vectors, z1):
    verified = verify_signature(signed(vectors, "readfw-response.xml"), z1)
    assert verified.certificate_id.serial == DSP_PRE_141_SERIAL
    # That certificate writes its role as '137' (decimal 0x89): held, but not readable as an
    # SMKI Organisation Certificate, so no role or Entity Identifier is claimed for it.
    assert verified.signer is None
    assert verified.not_organisation is not None
    assert "'137'" in verified.not_organisation


def test_readfw_response_signer_fails_confirm_validity_against_the_z1_oca(vectors, schema, z1):
    # The DCC signing tool's xmlSign and DSP certificates name issuer CN=Z1,OU=07 but are not
    # signed by the key of smki/z1/Z1-OCA.pem: the signature holds, the chain does not.
    report = verify_document(
        signed(vectors, "readfw-response.xml"), schema=schema, authority=z1, at=AT
    )
    assert report.schema_valid
    assert report.signature_valid
    assert not report.ok
    assert report.validity is not None
    assert report.validity.code is ValidityCode.BAD_SIGNATURE
    # Its role is written in decimal (OU=137), so it is not an Organisation Certificate either.
    assert [f.code for f in report.failures] == [
        "SIGNER_NOT_ORGANISATION_CERTIFICATE",
        "SIGNER_NOT_VALID",
    ]


def test_the_bad_signature_is_refused_with_the_reason(vectors, schema, z1):
    data = signed(vectors, "readfw-response-badsignature.xml")
    with pytest.raises(duis.SignatureInvalid, match="SignatureValue does not verify") as refused:
        verify_signature(data, z1)
    assert refused.value.code == "SIGNATURE_INVALID"
    report = verify_document(data, schema=schema, authority=z1, at=AT)
    assert not report.ok
    assert not report.signature_valid
    assert report.reason is not None
    assert report.reason.code == "SIGNATURE_INVALID"


def test_the_dcc_signs_signatures_with_raw_r_s_values(vectors):
    for name in ("message.xml", "readfw-response.xml"):
        value = parse_xml(signed(vectors, name)).find(f"{DS}Signature/{DS}SignatureValue")
        assert value is not None
        assert len(base64.b64decode(value.text or "")) == 64  # r‖s, not DER


def test_tampered_content_is_signature_invalid(vectors, z1):
    data = signed(vectors, "message.xml").replace(b"<sr:ResponseCode>I0<", b"<sr:ResponseCode>I99<")
    with pytest.raises(duis.SignatureInvalid, match="signed content was altered"):
        verify_signature(data, z1)


def _name_in_keyinfo(data: bytes, serial: int) -> bytes:
    return re.sub(
        rb"<ds:X509SerialNumber>\d+</ds:X509SerialNumber>",
        f"<ds:X509SerialNumber>{serial}</ds:X509SerialNumber>".encode(),
        data,
    )


def test_keyinfo_naming_a_certificate_the_store_lacks_is_unknown_signer(vectors, z1):
    data = signed(vectors, "message.xml")
    # KeyInfo is outside what is signed: naming another certificate leaves the signature
    # verifiable by the original key, which the store holds. It is not tried.
    assert z1.organisation_certificate(verify_signature(data, z1).certificate_id) is not None
    with pytest.raises(duis.UnknownSigner, match="does not hold") as refused:
        verify_signature(_name_in_keyinfo(data, 12345), z1)
    assert refused.value.code == "UNKNOWN_SIGNER"


def test_keyinfo_naming_another_held_certificate_is_signature_invalid(vectors, z1):
    supplier = 0x4FBC525201A1D7586C1BC1C4734DEB9F  # Z1-supplier-ds, held by the store
    with pytest.raises(duis.SignatureInvalid):
        verify_signature(_name_in_keyinfo(signed(vectors, "message.xml"), supplier), z1)


def test_an_unsigned_template_names_a_placeholder_signer(vectors, z1):
    with pytest.raises(duis.UnknownSigner, match="1234567890"):
        verify_signature(template(vectors, IMMEDIATE), z1)


def test_a_signer_expired_at_the_time_fails_confirm_validity(vectors, schema, z1):
    later = datetime(2026, 1, 1, tzinfo=UTC)  # 90b3d51f30000002-ds expired 2025-10-29
    report = verify_document(signed(vectors, "message.xml"), schema=schema, authority=z1, at=later)
    assert report.signature_valid
    assert not report.ok
    assert report.validity is not None
    assert report.validity.code is ValidityCode.EXPIRED
    assert report.reason is not None
    assert report.reason.code == "SIGNER_NOT_VALID"
    assert "EXPIRED" in report.reason.message


@settings(max_examples=200)
@given(position=st.integers(0, 10_000), byte=st.integers(0, 255))
def test_a_corrupted_signed_document_gives_a_typed_outcome(vectors, schema, z1, position, byte):
    data = bytearray(signed(vectors, "message.xml"))
    data[position % len(data)] = byte
    try:
        report = verify_document(bytes(data), schema=schema, authority=z1, at=AT)
    except DuisError as e:
        assert e.code in {"INVALID_XML", "HOSTILE_XML"}  # noqa: PT017 — any other escapes
        return
    if bytes(data) != signed(vectors, "message.xml") and report.ok:
        # Only bytes outside what is signed may change without failing: the SignatureValue's
        # base64 padding/line break, or KeyInfo whitespace.
        assert report.signature_valid


def _edit_signature(data: bytes, old: bytes, new: bytes) -> bytes:
    assert old in data
    return data.replace(old, new)


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        (b"xml-exc-c14n#", b"xml-exc-c14n#WithComments", "CanonicalizationMethod"),
        (b"xmldsig-more#ecdsa-sha256", b"xmldsig-more#ecdsa-sha384", "SignatureMethod"),
        (b"xmlenc#sha256", b"xmlenc#sha512", "DigestMethod"),
        (b'Reference URI=""', b'Reference URI="#x"', 'URI=""'),
        (b"enveloped-signature", b"enveloped-signature-x", "Transform"),
        (b"<ds:X509SerialNumber>", b"<ds:X509SerialNumber>-", "not a decimal number"),
    ],
)
def test_a_signature_not_in_the_duis_profile_is_refused(vectors, z1, old, new, reason):
    data = _edit_signature(signed(vectors, "message.xml"), old, new)
    with pytest.raises(duis.SignatureProfile, match=reason) as refused:
        verify_signature(data, z1)
    assert refused.value.code == "SIGNATURE_PROFILE"


def test_a_signature_moved_or_doubled_is_refused(vectors, z1):
    root = parse_xml(signed(vectors, "message.xml"))
    signature = root.find(f"{DS}Signature")
    assert signature is not None
    copy = etree.fromstring(etree.tostring(signature))
    body = root.find("{http://www.dccinterface.co.uk/ServiceUserGateway}Body")
    assert body is not None
    body.append(copy)
    with pytest.raises(duis.SignatureProfile, match="2 ds:Signature"):
        verify_signature(root, z1)
    root.remove(signature)
    with pytest.raises(duis.SignatureProfile, match="child of the root"):
        verify_signature(root, z1)
    body.remove(copy)
    with pytest.raises(duis.SignatureMissing):
        verify_signature(root, z1)


# Signing the SRV 6.23 templates -------------------------------------------------------------


@pytest.mark.parametrize("name", TEMPLATES)
def test_a_template_signed_with_the_originators_xml_sign_key_verifies(vectors, schema, z1, name):
    signer = z1_signer(vectors, XML_SIGN)
    certificate = parse_organisation_certificate(
        (vectors / "smki" / "z1" / f"{XML_SIGN}.pem").read_bytes()
    )
    assert certificate.role is RemotePartyRole.XML_SIGN
    assert certificate.entity_id == ORIGINATOR  # the templates' originator
    data = sign_document(
        template(vectors, name), signer=signer, key=XML_SIGN, certificate=certificate
    )
    assert schema.errors(parse_xml(data)) == []
    verified = verify_signature(data, z1)
    assert verified.signer == certificate
    request = parse_cos_update_request(data, schema)
    assert request == parse_cos_update_request(template(vectors, name), schema)
    assert verified.signer.entity_id == request.request_id.originator


@pytest.mark.parametrize("name", TEMPLATES)
def test_a_signed_template_passes_every_check_under_a_pki_that_issued_its_signer(
    vectors, schema, name
):
    pki = TestPki()
    data = sign_document(
        template(vectors, name),
        signer=pki.signer,
        key=pki.xml_sign.key,
        certificate=pki.xml_sign.organisation(),
    )
    report = verify_document(data, schema=schema, authority=pki.store, at=AT)
    assert report.ok, report.failures
    assert report.signer is not None
    assert report.signer.role is RemotePartyRole.XML_SIGN
    assert report.request_id is not None
    assert report.request_id.startswith("90-B3-D5-1F-30-01-00-00:")


def test_signing_replaces_the_placeholder_and_keeps_the_layout(vectors):
    pki = TestPki()
    original = template(vectors, IMMEDIATE)
    data = sign_document(
        original, signer=pki.signer, key=pki.xml_sign.key, certificate=pki.xml_sign.organisation()
    )
    root = parse_xml(data)
    assert len(root.findall(f"{DS}Signature")) == 1
    assert b"ZGVmYXVsdA==" not in data
    assert data.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    before, _, _ = original.partition(b"<ds:Signature")
    assert before.split(b"?>", 1)[1] in data  # everything signed is byte-for-byte unchanged


def test_our_digest_and_signed_info_are_the_dccs(vectors, z1):
    # Re-sign message.xml with the key that signed it: ECDSA values differ each time, but the
    # digest and the canonical SignedInfo must be the DCC's. message.xml's root already binds
    # the XML-DSig namespace to 'ns3', which lxml reuses; the DCC's tool declared 'ds' again.
    handle = "Z1-accessControlBroker-ds"
    signer = z1_signer(vectors, handle)
    data = signed(vectors, "message.xml")
    certificate = z1.organisation_certificate(verify_signature(data, z1).certificate_id)
    assert certificate is not None
    ours = parse_xml(sign_document(data, signer=signer, key=handle, certificate=certificate))
    theirs = parse_xml(data)

    def signed_info(root):
        found = root.find(f"{DS}Signature/{DS}SignedInfo")
        canonical = etree.tostring(found, method="c14n", exclusive=True)
        return canonical.replace(b"ns3:", b"ds:").replace(b"xmlns:ns3=", b"xmlns:ds=")

    assert signed_info(ours) == signed_info(theirs)
    assert verify_signature(etree.tostring(ours), z1).certificate_id.serial == ACB_DS_SERIAL


def test_our_digest_of_readfw_response_is_the_dccs(vectors):
    handle = "dsp-xml-sign-90B3D51F30000002-ds-pre-1.4.1"
    signer = z1_signer(vectors, handle)
    certificate = parse_certificate((vectors / "smki" / "z1" / f"{handle}.pem").read_bytes())
    data = signed(vectors, "readfw-response.xml")
    ours = parse_xml(sign_document(data, signer=signer, key=handle, certificate=certificate))

    def digest(root):
        return root.find(f"{DS}Signature/{DS}SignedInfo/{DS}Reference/{DS}DigestValue").text

    assert digest(ours) == digest(parse_xml(data)) == "necBxpQbLFPgG6EsJOuVqQgo4NcYjj1XkBHySZpIXSg="


def test_signing_with_a_key_that_is_not_the_certificates_is_refused(vectors):
    pki = TestPki()
    other = pki.builder.organisation_certificate(pki.oca, role=RemotePartyRole.XML_SIGN)
    with pytest.raises(duis.SigningKeyMismatch) as refused:
        sign_document(
            template(vectors, IMMEDIATE),
            signer=pki.signer,
            key=other.key,
            certificate=pki.xml_sign.organisation(),
        )
    assert refused.value.code == "SIGNING_KEY_MISMATCH"
    with pytest.raises(UnknownKey):
        sign_document(
            template(vectors, IMMEDIATE),
            signer=pki.signer,
            key="no such key",
            certificate=pki.xml_sign.organisation(),
        )


def test_a_generated_signer_expired_at_the_time_fails_confirm_validity(vectors, schema):
    pki = TestPki(not_after=datetime(2023, 1, 1, tzinfo=UTC))
    data = sign_document(
        template(vectors, IMMEDIATE),
        signer=pki.signer,
        key=pki.xml_sign.key,
        certificate=pki.xml_sign.organisation(),
    )
    report = verify_document(data, schema=schema, authority=pki.store, at=AT)
    assert report.signature_valid
    assert report.validity is not None
    assert report.validity.code is ValidityCode.EXPIRED
    assert not report.ok


def test_a_signed_document_with_an_element_added_after_signing_is_refused(vectors):
    pki = TestPki()
    data = sign_document(
        template(vectors, IMMEDIATE),
        signer=pki.signer,
        key=pki.xml_sign.key,
        certificate=pki.xml_sign.organisation(),
    )
    tampered = data.replace(
        b"<sr:ImportMPxN>1312345678333</sr:ImportMPxN>",
        b"<sr:ImportMPxN>1312345678334</sr:ImportMPxN>",
    )
    with pytest.raises(duis.SignatureInvalid, match="altered"):
        verify_signature(tampered, pki.store)
