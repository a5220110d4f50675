"""Reading SMKI certificates: canonical issuer names, the Organisation and Device Certificate
profiles of DOMAIN.md 6, the test PKI's shapes against the DCC's, and the DCC material itself."""

from __future__ import annotations

import contextlib
import json
import re
from datetime import UTC, datetime

import pytest
from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from adapters.crypto.pki_builder import IssuedCertificate, PkiBuilder
from adapters.crypto.smki import (
    canonical_dn,
    parse_certificate,
    parse_device_certificate,
    parse_organisation_certificate,
)
from domain.errors import InvalidIdentifier
from domain.identifiers import EUI64, CertificateId
from domain.smki import InvalidCertificate, KeyUsage, RemotePartyRole
from tests.smki_material import Z1_ISSUER, smki

# --- Canonical distinguished names --------------------------------------------------------


@pytest.mark.parametrize(
    "written",
    [
        "CN=Z1,OU=07",
        "CN=Z1, OU=07",  # DUIS templates write a space
        " cn = Z1 ; ou = 07 ",  # any case, spaces around '=', ';' between RDNs
        "commonName=Z1,organizationalUnitName=07",  # X.520 long names
        "OID.2.5.4.3=Z1,2.5.4.11=07",  # OIDs
        "CN=Z1,OU=#13023037",  # a #hex value that is a PrintableString
        'CN="Z1",OU=07',  # a quoted value
        "CN=\\5A1,OU=0\\37",  # hex escapes
    ],
)
def test_every_way_of_writing_the_z1_issuer_has_one_canonical_form(written):
    assert canonical_dn(written) == Z1_ISSUER


def test_the_canonical_form_keeps_value_case_sorts_multivalued_rdns_and_escapes():
    assert canonical_dn("OU=07+CN=z1,O=Acme") == "CN=z1+OU=07,O=Acme"
    assert canonical_dn("CN=  a   b  ") == "CN=a b"  # RFC 4518 insignificant space
    assert canonical_dn('CN=a\\,b\\+c\\"d\\\\e\\<f\\>g\\;h') == 'CN=a\\,b\\+c\\"d\\\\e\\<f\\>g\\;h'
    assert canonical_dn("CN=\\#1") == "CN=\\#1"
    assert canonical_dn("CN=caf\\C3\\A9") == "CN=café"
    assert canonical_dn("2.5.4.45=#03090090B3D51F30000004") == "2.5.4.45=#03090090b3d51f30000004"
    assert canonical_dn("") == ""


@pytest.mark.parametrize(
    "bad",
    ["CN", "CN=Z1,", "XYZ=1", "CN=\\q", "CN=#123", 'CN="a', "CN=\\C3", "=Z1", 'CN=a"b"c,=1'],
)
def test_a_malformed_dn_is_refused_with_a_typed_error(bad):
    with pytest.raises(InvalidIdentifier) as raised:
        canonical_dn(bad)
    assert raised.value.code == "INVALID_DISTINGUISHED_NAME"


_TYPES = st.sampled_from(["CN", "OU", "O", "C", "L", "ST", "DC", "UID", "2.5.4.5", "2.5.4.97"])
_VALUES = st.text(st.characters(codec="utf-8"), max_size=12)


def _hex_escaped(value: str) -> str:
    return "".join(f"\\{byte:02X}" for byte in value.encode())


@given(st.lists(st.lists(st.tuples(_TYPES, _VALUES), min_size=1, max_size=3), max_size=4))
def test_the_canonical_form_is_a_fixed_point(rdns):
    escaped = ",".join("+".join(f"{t}={_hex_escaped(v)}" for t, v in rdn) for rdn in rdns)
    once = canonical_dn(escaped)
    assert canonical_dn(once) == once


@given(st.text(max_size=40))
def test_any_text_is_read_or_refused_with_the_typed_error(text):
    try:
        outcome = canonical_dn(text)
    except InvalidIdentifier as refused:
        outcome = refused.code
    assert isinstance(outcome, str)
    assert outcome == "INVALID_DISTINGUISHED_NAME" or canonical_dn(outcome) == outcome


def test_a_certificate_issuer_is_rendered_in_the_canonical_form():
    pki = PkiBuilder()
    oca = pki.ca(None, name="Z 1", role="07")  # a space to escape nothing but keep
    issued = pki.organisation_certificate(oca)
    issuer = issued.certificate().certificate_id.issuer
    assert issuer == "CN=Z 1,OU=07"
    assert canonical_dn(issuer) == issuer
    # the cryptography package renders the same DN the same way
    rendered = x509.load_der_x509_certificate(issued.der).issuer.rfc4514_string()
    assert canonical_dn(rendered) == issuer


# --- Organisation Certificates ------------------------------------------------------------


@pytest.fixture(scope="module")
def pki() -> PkiBuilder:
    return PkiBuilder()


@pytest.fixture(scope="module")
def oca(pki: PkiBuilder) -> IssuedCertificate:
    return pki.ca(pki.root())


def test_an_organisation_certificate_gives_role_entity_identifier_and_key_usage(pki, oca):
    issued = pki.organisation_certificate(
        oca,
        role=RemotePartyRole.TRANSITIONAL_COS,
        entity_id=EUI64.parse("90-B3-D5-1F-30-00-00-04"),
        key_usage=KeyUsage.DIGITAL_SIGNATURE,
        serial=80934474337773775048443398092716228710,
    )
    certificate = parse_organisation_certificate(issued.der)
    assert certificate.role is RemotePartyRole.TRANSITIONAL_COS
    assert str(certificate.entity_id) == "90-B3-D5-1F-30-00-00-04"
    assert certificate.key_usage is KeyUsage.DIGITAL_SIGNATURE
    assert certificate.certificate_id == CertificateId(
        80934474337773775048443398092716228710, Z1_ISSUER
    )
    assert certificate.certificate.signature_algorithm == "ecdsa-with-SHA256"
    assert not certificate.certificate.is_ca


def test_pem_bytes_pem_text_and_der_read_the_same(pki, oca):
    issued = pki.organisation_certificate(oca, key_usage=KeyUsage.KEY_AGREEMENT)
    from_der = parse_organisation_certificate(issued.der)
    assert parse_organisation_certificate(issued.pem) == from_der
    assert parse_organisation_certificate(issued.pem.decode()) == from_der
    assert parse_organisation_certificate(parse_certificate(issued.der)) == from_der
    assert from_der.key_usage is KeyUsage.KEY_AGREEMENT


@pytest.mark.parametrize(
    ("role_text", "why"),
    [
        ("137", "decimal"),
        ("2", "one digit"),
        ("002", "three"),
        ("ZZ", "not hex"),
        ("7E", "no role"),
    ],
)
def test_a_role_that_is_not_two_hex_digits_of_a_known_role_is_refused(pki, oca, role_text, why):
    issued = pki.organisation_certificate(oca, role=role_text)
    with pytest.raises(InvalidCertificate) as raised:
        parse_organisation_certificate(issued.der)
    assert raised.value.code == "INVALID_REMOTE_PARTY_ROLE", why
    parse_certificate(issued.der)  # still a readable certificate


def test_lower_case_hex_digits_are_the_same_role(pki, oca):
    issued = pki.organisation_certificate(oca, role="7f")
    assert parse_organisation_certificate(issued.der).role is RemotePartyRole.OTHER


@pytest.mark.parametrize(
    "contents",
    [
        None,  # no x500UniqueIdentifier
        b"\x00" + bytes(7),  # 56 bits
        b"\x00" + bytes(9),  # 72 bits
        b"\x01" + bytes(8),  # 63 bits: one unused bit
    ],
)
def test_an_entity_identifier_that_is_not_64_bits_is_refused(pki, oca, contents):
    issued = pki.organisation_certificate(oca, entity_id=contents)
    with pytest.raises(InvalidCertificate) as raised:
        parse_organisation_certificate(issued.der)
    assert raised.value.code == "INVALID_ENTITY_IDENTIFIER"


@pytest.mark.parametrize(
    "usages",
    [
        {"digitalSignature", "keyAgreement"},  # never both
        {"nonRepudiation"},  # neither
        {"digitalSignature", "keyCertSign"},  # nothing else
    ],
)
def test_key_usage_must_be_exactly_one_of_digital_signature_and_key_agreement(pki, oca, usages):
    issued = pki.organisation_certificate(oca, key_usages=usages)
    with pytest.raises(InvalidCertificate) as raised:
        parse_organisation_certificate(issued.der)
    assert raised.value.code == "INVALID_KEY_USAGE"
    assert parse_certificate(issued.der).key_usages == usages


def test_a_key_other_than_p256_is_refused(oca):
    issuer = parse_certificate(oca.der)
    key = ec.generate_private_key(ec.SECP384R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "02"),
            x509.NameAttribute(
                NameOID.X500_UNIQUE_IDENTIFIER,
                b"\x00" + bytes(8),
                _type=x509.name._ASN1Type.BitString,
            ),
        ]
    )
    der = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(x509.load_der_x509_certificate(oca.der).subject)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(issuer.not_before)
        .not_valid_after(issuer.not_after)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.DER)
    )
    with pytest.raises(InvalidCertificate) as raised:
        parse_organisation_certificate(der)
    assert raised.value.code == "UNSUPPORTED_KEY"


# --- Device Certificates ------------------------------------------------------------------


def test_a_device_certificate_gives_the_device_id_from_hardware_module_name(pki):
    device_ca = pki.ca(None, name="E357", role=None)
    issued = pki.device_certificate(
        device_ca,
        device_id=EUI64.parse("00-DB-12-34-56-78-90-01"),
        key_usage=KeyUsage.KEY_AGREEMENT,
    )
    certificate = parse_device_certificate(issued.pem)
    assert str(certificate.device_id) == "00-DB-12-34-56-78-90-01"
    assert certificate.key_usage is KeyUsage.KEY_AGREEMENT
    assert certificate.certificate.subject == ""
    assert certificate.certificate_id.issuer == "CN=E357"


def test_a_certificate_without_hardware_module_name_is_not_a_device_certificate(pki, oca):
    with pytest.raises(InvalidCertificate) as raised:
        parse_device_certificate(pki.organisation_certificate(oca).der)
    assert raised.value.code == "INVALID_DEVICE_ID"


# --- Not certificates at all --------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x30\x00",
        "not a certificate",
        "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
        "-----BEGIN PUBLIC KEY-----\nMAA=\n-----END PUBLIC KEY-----\n",
        "caf\u00e9",
        12,
    ],
)
def test_what_is_not_a_certificate_is_refused_with_the_typed_error(data):
    with pytest.raises(InvalidCertificate) as raised:
        parse_certificate(data)
    assert raised.value.code == "INVALID_CERTIFICATE"


def test_two_pem_certificates_are_not_one(oca):
    with pytest.raises(InvalidCertificate, match="exactly one"):
        parse_certificate(oca.pem + oca.pem)


def test_trailing_bytes_after_the_der_are_refused(oca):
    with pytest.raises(InvalidCertificate):
        parse_certificate(oca.der + b"\x00")


def _der_sequence(body: bytes) -> bytes:
    length = len(body)
    header = bytes([length]) if length < 0x80 else b"\x82" + length.to_bytes(2, "big")
    return b"\x30" + header + body


#: Random bytes, and random bytes inside a DER SEQUENCE header (to get past the first check).
_RANDOM = st.one_of(st.binary(max_size=600), st.binary(max_size=600).map(_der_sequence))


@given(_RANDOM)
def test_random_bytes_never_crash_the_parser(data):
    for parse in (parse_certificate, parse_organisation_certificate, parse_device_certificate):
        with pytest.raises(InvalidCertificate):
            parse(data)


_SAMPLE = PkiBuilder()
_SAMPLE_DER = _SAMPLE.organisation_certificate(_SAMPLE.ca(None)).der


@given(st.lists(st.tuples(st.integers(0, len(_SAMPLE_DER) - 1), st.integers(0, 255)), max_size=4))
def test_corrupted_certificates_never_crash_the_parser(edits):
    data = bytearray(_SAMPLE_DER)
    for index, value in edits:
        data[index] = value
    for parse in (parse_organisation_certificate, parse_device_certificate):
        with contextlib.suppress(InvalidCertificate):
            parse(bytes(data))


@given(st.integers(0, len(_SAMPLE_DER)))
def test_truncated_certificates_never_crash_the_parser(length):
    with pytest.raises(InvalidCertificate):
        parse_certificate(_SAMPLE_DER[:length] if length < len(_SAMPLE_DER) else b"")


# --- The test PKI's shapes are the DCC's --------------------------------------------------


def _shape(der: bytes) -> dict[str, object]:
    """What the SMKI profile fixes: extensions (OID, criticality), subject attribute types."""
    certificate = asn1_x509.Certificate.load(der)
    tbs = certificate["tbs_certificate"]
    return {
        "version": tbs["version"].native,
        "extensions": sorted(
            (e["extn_id"].dotted, e["critical"].native) for e in tbs["extensions"]
        ),
        "subject": [[a["type"].dotted for a in rdn] for rdn in tbs["subject"].chosen],
        "algorithm": certificate["signature_algorithm"]["algorithm"].dotted,
        "key_id_octets": len(certificate.key_identifier or b""),
        "policies": [p["policy_identifier"].dotted for p in certificate.certificate_policies_value],
    }


def _dcc_der(name: str) -> bytes:
    return bytes(pem.unarmor((smki() / name).read_bytes())[2])


def test_the_test_pki_shapes_certificates_as_the_dcc_does(pki):
    root = pki.root()
    oca = pki.ca(root)
    assert _shape(oca.der) == _shape(_dcc_der("z1/Z1-OCA.pem"))
    assert _shape(
        pki.organisation_certificate(oca, role=RemotePartyRole.TRANSITIONAL_COS).der
    ) == _shape(_dcc_der("keystore/90b3d51f30000004-ds.pem"))
    assert _shape(pki.organisation_certificate(oca, common_name="GITTESTSUPPLIER").der) == _shape(
        _dcc_der("z1/Z1-supplier-ds.pem")
    )
    device_ca = pki.ca(root, name="E357", role=None)
    assert _shape(pki.device_certificate(device_ca).der) == _shape(
        _dcc_der("keystore/00db123456789001-ds.pem")
    )


# --- Conformance: every certificate of the DCC test SMKI ----------------------------------

_Z1_ROLES = {
    "recovery": RemotePartyRole.RECOVERY,
    "supplier": RemotePartyRole.SUPPLIER,
    "supplier2": RemotePartyRole.SUPPLIER,
    "networkOperator": RemotePartyRole.NETWORK_OPERATOR,
    "accessControlBroker": RemotePartyRole.ACCESS_CONTROL_BROKER,
    "accessControlBroker-dSPXmlSign": RemotePartyRole.DSP_XML_SIGN,
    "transitionalCoS": RemotePartyRole.TRANSITIONAL_COS,
    "wanProvider": RemotePartyRole.WAN_PROVIDER,
}
_USAGES = {"ds": KeyUsage.DIGITAL_SIGNATURE, "ka": KeyUsage.KEY_AGREEMENT}
#: A keystore file named for one party that holds another's certificate: the DCC keystore's
#: ``90b3d51f30000007-ka.pem`` is the supplier certificate of 90-B3-D5-1F-30-03-00-00 (the same
#: certificate as ``90b3d51f30030000-ka.pem``).
_MISNAMED = {"90b3d51f30000007-ka.pem": "90b3d51f30030000"}
_DEVICE_FILE = re.compile(r"00db12345678900[1-4]-(ds|ka)\.pem")


def _keystore_json() -> dict[str, dict[str, dict[str, dict[str, object]]]]:
    loaded: dict[str, dict[str, dict[str, dict[str, object]]]] = json.loads(
        (smki() / "keystore.json").read_text(encoding="utf-8")
    )
    return loaded


def _json_by_name() -> dict[str, tuple[str, str, int, object]]:
    """keystore.json's entries by name: (EUI-64, usage, serial, role)."""
    return {
        str(entry["name"]): (eui, usage, int(serial), entry["role"])
        for eui, usages in _keystore_json().items()
        for usage, by_serial in usages.items()
        for serial, entry in by_serial.items()
    }


def test_every_keystore_folder_certificate_matches_its_file_name():
    folder = smki() / "keystore"
    by_serial = {serial: role for _eui, _usage, serial, role in _json_by_name().values()}
    organisation = device = 0
    for path in sorted(folder.glob("*.pem")):
        if path.name == "fffffffffffffffe-ka.pem":  # a bare public key (README)
            with pytest.raises(InvalidCertificate, match="PUBLIC KEY"):
                parse_certificate(path.read_bytes())
            continue
        eui, _, usage = path.stem.partition("-")
        expected_usage = _USAGES[usage.removeprefix("pp-")]
        if _DEVICE_FILE.fullmatch(path.name):
            found = parse_device_certificate(path.read_bytes())
            assert found.device_id == EUI64.parse(eui), path.name
            assert found.key_usage is expected_usage
            device += 1
            continue
        certificate = parse_organisation_certificate(path.read_bytes())
        assert certificate.entity_id == EUI64.parse(_MISNAMED.get(path.name, eui)), path.name
        assert certificate.key_usage is expected_usage, path.name
        assert certificate.certificate_id.issuer == Z1_ISSUER
        if certificate.certificate_id.serial in by_serial:
            assert certificate.role.value == by_serial[certificate.certificate_id.serial]
        organisation += 1
    assert (organisation, device) == (16, 8)


def test_every_z1_folder_certificate_matches_its_file_name():
    by_name = _json_by_name()
    checked = 0
    for path in sorted((smki() / "z1").glob("*.pem")):
        name = path.stem
        if name == "dsp-xml-sign-90B3D51F30000002-ds.key":  # a PEM private key (README)
            with pytest.raises(InvalidCertificate, match="PRIVATE KEY"):
                parse_certificate(path.read_bytes())
            continue
        if name == "Z1-OCA":
            oca = parse_certificate(path.read_bytes())
            assert oca.is_ca
            assert oca.path_length == 0
            assert oca.subject == Z1_ISSUER
            assert oca.certificate_id.issuer == "CN=ZA,OU=00"
            assert oca.key_usages == {"keyCertSign", "cRLSign"}
            continue
        if name == "dsp-xml-sign-90B3D51F30000002-ds-pre-1.4.1":
            # DCC tooling before 1.4.1 wrote the role in decimal: OU=137 (0x89). Not two hex
            # digits, so not an Organisation Certificate by DOMAIN.md 6; still a certificate.
            with pytest.raises(InvalidCertificate) as raised:
                parse_organisation_certificate(path.read_bytes())
            assert raised.value.code == "INVALID_REMOTE_PARTY_ROLE"
            assert parse_certificate(path.read_bytes()).subject.endswith("OU=137")
            continue
        certificate = parse_organisation_certificate(path.read_bytes())
        prefix, _, rest = name.partition("-")
        role_name, _, usage = rest.rpartition("-")
        if rest == "accessControlBroker-dSPXmlSign":  # the one name without a usage suffix
            role_name, usage = rest, "ds"
        if prefix == "Z1":
            assert certificate.role is _Z1_ROLES[role_name], name
        else:  # xml-sign-<EUI>-ds (0x87), dsp-xml-sign-<EUI>-ds (0x89)
            eui = name.split("-")[-2]
            expected = (
                RemotePartyRole.DSP_XML_SIGN
                if name.startswith("dsp-")
                else RemotePartyRole.XML_SIGN
            )
            assert certificate.role is expected, name
            assert certificate.entity_id == EUI64.parse(eui), name
        assert certificate.key_usage is _USAGES[usage], name
        assert certificate.certificate_id.issuer == Z1_ISSUER
        if name in by_name:
            eui, json_usage, serial, role = by_name[name]
            assert certificate.entity_id == EUI64.parse(eui), name
            assert certificate.key_usage.value == json_usage, name
            assert certificate.certificate_id.serial == serial, name
            assert certificate.role.value == role, name
        checked += 1
    assert checked == 12


def test_the_dsp_xml_signing_certificate_not_in_keystore_json_is_the_acbs():
    path = smki() / "z1" / "Z1-accessControlBroker-dSPXmlSign.pem"
    certificate = parse_organisation_certificate(path.read_bytes())
    assert str(certificate.entity_id) == "90-B3-D5-1F-30-00-00-02"
    assert certificate.certificate.not_before == datetime(2025, 9, 1, tzinfo=UTC)


def test_every_keystore_json_entry_is_the_certificate_it_is_listed_as():
    entries = 0
    for eui, usages in _keystore_json().items():
        for usage, by_serial in usages.items():
            for serial, entry in by_serial.items():
                certificate = parse_organisation_certificate(str(entry["certificate"]))
                assert certificate.entity_id == EUI64.parse(eui), entry["name"]
                assert certificate.key_usage.value == usage, entry["name"]
                assert certificate.certificate_id.serial == int(serial), entry["name"]
                assert certificate.role.value == entry["role"], entry["name"]
                entries += 1
    assert entries == 33


def test_the_issuer_written_in_duis_finds_the_certificate_id():
    """DUIS X509IssuerName text, normalised, is the issuer of the Certificate ID."""
    certificate = parse_organisation_certificate(
        (smki() / "keystore" / "90b3d51f30000002-ds.pem").read_bytes()
    )
    # as duis/signed/message.xml writes it
    written = CertificateId(117636141832862931915946451229571981153, canonical_dn("CN=Z1,OU=07"))
    assert written == certificate.certificate_id
    assert CertificateId(written.serial, canonical_dn("CN=Z1, OU=07")) == written
