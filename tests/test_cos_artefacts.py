"""The two signed XML artefacts we define for SRV 6.23 (``etmad-cos-artefacts/1``).

A story in three parties: a Supplier signs an SRV 6.23 request; the DCC wraps it, byte for
byte, in a Countersigned CoS Service Request (SRPD 8.1(a)); the CoS Party reads that, and
answers with a CoS Authorisation Response signed with its coSPartyXmlSign key (8.2(a)/(b)),
which the DCC reads and maps back to what it sent (8.4(c), 8.4(d)). Everything hostile,
invalid, unsigned, wrongly signed, of another version or altered by one byte is refused with
its typed error.
"""

from __future__ import annotations

import base64
import hashlib
import tomllib
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from adapters.codecs.cos_artefacts import (
    NAMESPACE,
    VERSION,
    CosArtefactError,
    CountersignedRequest,
    InvalidArtefact,
    NotCanonical,
    UnsupportedVersion,
    WrongArtefact,
    build_cos_authorisation_response,
    build_countersigned_request,
    read_cos_authorisation_response,
    read_countersigned_request,
)
from adapters.codecs.cos_artefacts.authorisation_response import (
    SCHEMA_FILE as RESPONSE_SCHEMA_FILE,
)
from adapters.codecs.cos_artefacts.countersigned_request import SCHEMA_FILE
from adapters.codecs.cos_artefacts.envelope import artefact_schema, write_artefact
from adapters.codecs.duis import (
    DuisError,
    HostileXml,
    InvalidXml,
    SchemaInvalid,
    SignatureInvalid,
    SignatureMissing,
    SigningKeyMismatch,
    UnknownSigner,
    parse_cos_update_request,
    sign_document,
    verify_signature,
)
from adapters.codecs.duis.request import SR_NS
from adapters.codecs.duis.safe_xml import hardened_parser
from adapters.crypto.pki_builder import PkiBuilder
from adapters.crypto.trust_store import TrustStore
from domain import clauses
from domain.identifiers import EUI64
from domain.smki import RemotePartyRole
from tests.duis_support import IMMEDIATE, ORIGINATOR, ROOT, require_vectors, schema_of

AT = datetime(2023, 11, 14, 22, 13, 20, 250000, tzinfo=UTC)
DCC = EUI64(0x90B3D51F30000002)
COS_PARTY = EUI64(0x90B3D51F30000005)
#: The coSPartyXmlSign role code is configuration (DOMAIN.md 6); the tests use one the SMKI
#: enumeration does not know, so the trust store holds the certificate as a plain certificate.
COS_PARTY_ROLE = "8A"
CS = f"{{{NAMESPACE}}}"
PRE_COMMAND = bytes.fromhex("DF0900000000000000010000000000000000") + b"\x40" + bytes(64)


class Parties:
    """One test SMKI: the Supplier's xmlSign, the DCC's DSP XML signing and the CoS Party's
    coSPartyXmlSign certificates under one OCA, all held by ``store``."""

    def __init__(self) -> None:
        self.builder = PkiBuilder(seed=623)
        oca = self.builder.ca(self.builder.root(name="TA"), name="T1")
        self.supplier = self.builder.organisation_certificate(
            oca, role=RemotePartyRole.XML_SIGN, entity_id=ORIGINATOR, key="supplier"
        )
        self.dcc = self.builder.organisation_certificate(
            oca, role=RemotePartyRole.DSP_XML_SIGN, entity_id=DCC, key="dcc"
        )
        self.cos_party = self.builder.organisation_certificate(
            oca, role=COS_PARTY_ROLE, entity_id=COS_PARTY, key="cos-party"
        )
        self.store = TrustStore()
        self.store.add_anchor(oca.certificate())
        self.store.add(self.supplier.organisation())
        self.store.add(self.dcc.organisation())
        self.store.add(self.cos_party.certificate())
        self.signer = self.builder.signer

    def countersign(self, request: bytes, *, key=None, certificate=None, at=AT) -> bytes:
        return build_countersigned_request(
            request,
            signer=self.signer,
            key=key or self.dcc.key,
            certificate=certificate or self.dcc.organisation(),
            at=at,
        )

    def authorise(self, countersigned: CountersignedRequest, pre_command=PRE_COMMAND) -> bytes:
        return build_cos_authorisation_response(
            countersigned,
            signed_pre_command=pre_command,
            signer=self.signer,
            key=self.cos_party.key,
            certificate=self.cos_party.certificate(),
            at=AT + timedelta(seconds=2),
        )


def request_text(counter: int = 1006, note: str = "") -> str:
    """A small SRV 6.23-shaped DUIS request, laid out as a person would (CRLF, indents)."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\r\n'
        f'<sr:Request xmlns:sr="{SR_NS}" schemaVersion="5.4">\r\n'
        "  <sr:Header>\r\n"
        f"    <sr:RequestID>90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:{counter}"
        "</sr:RequestID>\r\n"
        "    <sr:CommandVariant>1</sr:CommandVariant>\r\n"
        "    <sr:ServiceReference>6.23</sr:ServiceReference>\r\n"
        "    <sr:ServiceReferenceVariant>6.23</sr:ServiceReferenceVariant>\r\n"
        "  </sr:Header>\r\n"
        f"  <sr:Body><!-- {note} --></sr:Body>\r\n"
        "</sr:Request>\r\n"
    )


@pytest.fixture(scope="module")
def parties():
    return Parties()


@pytest.fixture(scope="module")
def signed_request(parties):
    return _signed(parties, request_text())


def _signed(parties: Parties, text: str) -> bytes:
    return sign_document(
        text.encode(),
        signer=parties.signer,
        key=parties.supplier.key,
        certificate=parties.supplier.organisation(),
    )


@pytest.fixture(scope="module")
def countersigned(parties, signed_request):
    return parties.countersign(signed_request)


@pytest.fixture(scope="module")
def response(parties, countersigned):
    return parties.authorise(read_countersigned_request(countersigned, authority=parties.store))


def refusal(error: pytest.ExceptionInfo[DuisError]) -> tuple[str, str | None]:
    return error.value.code, error.value.clause


# Round trips -----------------------------------------------------------------------------


def test_a_countersigned_request_round_trips_and_unwraps_the_request_byte_for_byte(
    parties, signed_request, countersigned
):
    read = read_countersigned_request(countersigned, authority=parties.store)
    assert read.request_xml == signed_request
    assert read.xml == countersigned
    assert read.sha256 == hashlib.sha256(countersigned).digest()
    assert read.countersigned_at == AT
    assert read.countersignature.signer == parties.dcc.organisation()
    # the Supplier's own signature still verifies once unwrapped (SRPD 8.1(b)(i))
    assert (
        verify_signature(read.request_xml, parties.store).signer == parties.supplier.organisation()
    )


def test_the_countersigned_request_is_our_namespace_version_and_shape(countersigned):
    assert countersigned.startswith(b"<?xml version='1.0' encoding='UTF-8'?>\n")
    root = etree.fromstring(countersigned, hardened_parser())
    assert root.tag == f"{CS}CountersignedCosServiceRequest"
    assert root.get("version") == VERSION == "etmad-cos-artefacts/1"
    assert [etree.QName(child).localname for child in root] == [
        "CountersignedAt",
        "ServiceRequest",
        "Signature",
    ]
    assert root[0].text == "2023-11-14T22:13:20.250000Z"


def test_a_cos_authorisation_response_round_trips_and_maps_to_its_countersigned_request(
    parties, signed_request, countersigned, response
):
    read = read_cos_authorisation_response(response, authority=parties.store)
    sent = read_countersigned_request(countersigned, authority=parties.store)
    assert read.countersigned_request_sha256 == hashlib.sha256(countersigned).digest()
    assert read.request_xml == signed_request
    assert read.signed_pre_command == PRE_COMMAND
    assert read.authorised_at == AT + timedelta(seconds=2)
    assert read.maps_to(sent)  # SRPD 8.4(d)
    # the signer is the certificate KeyInfo names: the CoS Party's, whose role code is
    # configuration, so it is held as a plain certificate and judged by the caller
    assert read.signature.certificate == parties.cos_party.certificate()
    assert read.signature.signer is None
    assert (
        verify_signature(read.request_xml, parties.store).signer == parties.supplier.organisation()
    )


def test_a_smets1_response_carries_no_pre_command(parties, countersigned):
    sent = read_countersigned_request(countersigned, authority=parties.store)
    data = parties.authorise(sent, pre_command=None)
    assert b"SignedPreCommand" not in data
    read = read_cos_authorisation_response(data, authority=parties.store)
    assert read.signed_pre_command is None
    assert read.maps_to(sent)


def test_a_response_does_not_map_to_another_countersigned_request(parties, response):
    other = read_countersigned_request(
        parties.countersign(_signed(parties, request_text(counter=1007))), authority=parties.store
    )
    assert not read_cos_authorisation_response(response, authority=parties.store).maps_to(other)


def test_a_dcc_template_request_is_wrapped_and_still_reads_as_srv_6_23(parties):
    vectors = require_vectors()
    schema = schema_of(vectors)
    request = sign_document(
        (vectors / "duis" / "requests" / IMMEDIATE).read_bytes(),
        signer=parties.signer,
        key=parties.supplier.key,
        certificate=parties.supplier.organisation(),
    )
    read = read_countersigned_request(parties.countersign(request), authority=parties.store)
    assert read.request_xml == request
    assert parse_cos_update_request(read.request_xml, schema).header.service_reference == "6.23"


def test_times_are_written_in_utc_and_a_naive_time_is_refused(parties, signed_request):
    later = parties.countersign(
        signed_request, at=datetime(2024, 1, 1, 1, tzinfo=timezone(timedelta(hours=1)))
    )
    read = read_countersigned_request(later, authority=parties.store)
    assert read.countersigned_at == datetime(2024, 1, 1, tzinfo=UTC)
    assert b"<cos:CountersignedAt>2024-01-01T00:00:00Z<" in later
    with pytest.raises(InvalidArtefact, match="timezone-aware"):
        parties.countersign(signed_request, at=datetime(2024, 1, 1))  # noqa: DTZ001


# What the writers refuse -----------------------------------------------------------------


def test_the_writer_refuses_what_is_not_a_signed_duis_request(parties, signed_request):
    with pytest.raises(InvalidArtefact, match="not a signed DUIS request"):
        parties.countersign(request_text().encode())
    with pytest.raises(InvalidArtefact, match="not a DUIS request"):
        parties.countersign(b"<other/>")
    with pytest.raises(HostileXml):
        parties.countersign(b'<!DOCTYPE r [<!ENTITY e "x">]><r>&e;</r>')
    with pytest.raises(InvalidXml):
        parties.countersign(b"<sr:Request")
    with pytest.raises(SigningKeyMismatch):
        parties.countersign(signed_request, key=parties.cos_party.key)


def test_the_response_writer_refuses_an_empty_pre_command(parties, countersigned):
    sent = read_countersigned_request(countersigned, authority=parties.store)
    with pytest.raises(InvalidArtefact) as error:
        parties.authorise(sent, pre_command=b"")
    assert error.value.clause == clauses.SRPD_8_2_A


# Hostile and invalid input ---------------------------------------------------------------

HOSTILE = {
    "external entity": (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>'
    ),
    "billion laughs": (b'<!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><l>&b;</l>'),
    "external DTD": b'<!DOCTYPE r SYSTEM "http://example.invalid/r.dtd"><r/>',
    "oversize": b"<r>" + b"a" * (1024 * 1024) + b"</r>",
    "too deep": b"<a>" * 40 + b"</a>" * 40,
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_xml_is_refused_by_both_readers(parties, name):
    for read in (read_countersigned_request, read_cos_authorisation_response):
        with pytest.raises(HostileXml):
            read(HOSTILE[name], authority=parties.store)


@pytest.mark.parametrize(
    "data", [b"", b"<cos:X", b"not xml", "<r/>".encode("utf-16"), b"<r>\xff</r>"]
)
def test_malformed_xml_is_refused(parties, data):
    with pytest.raises(InvalidXml):
        read_countersigned_request(data, authority=parties.store)


def test_text_is_refused_because_the_bytes_are_what_is_hashed(parties, countersigned):
    with pytest.raises(InvalidArtefact, match="bytes"):
        read_countersigned_request(countersigned.decode(), authority=parties.store)


def test_each_reader_refuses_the_other_artefact(parties, countersigned, response):
    with pytest.raises(WrongArtefact, match="not a Countersigned CoS Service Request"):
        read_countersigned_request(response, authority=parties.store)
    with pytest.raises(WrongArtefact, match="not a CoS Authorisation Response"):
        read_cos_authorisation_response(countersigned, authority=parties.store)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ((b'version="etmad-cos-artefacts/1"', b'version="etmad-cos-artefacts/2"'), "'[^']+/2'"),
        ((b' version="etmad-cos-artefacts/1"', b""), "no version attribute"),
    ],
)
def test_another_version_is_refused_by_name(parties, countersigned, response, change, message):
    old, new = change
    for data, read, clause in (
        (countersigned, read_countersigned_request, clauses.SRPD_8_1_A),
        (response, read_cos_authorisation_response, clauses.SRPD_8_4_C),
    ):
        with pytest.raises(UnsupportedVersion, match=message) as error:
            read(data.replace(old, new), authority=parties.store)
        assert refusal(error) == ("UNSUPPORTED_VERSION", clause)


def _unsigned(*children: tuple[str, str], root: str = "CountersignedCosServiceRequest") -> bytes:
    element = etree.Element(f"{CS}{root}", nsmap={"cos": NAMESPACE})
    element.set("version", VERSION)
    for name, text in children:
        etree.SubElement(element, f"{CS}{name}").text = text
    return etree.tostring(element, xml_declaration=True, encoding="UTF-8")


def test_an_unsigned_artefact_is_refused(parties, signed_request):
    data = _unsigned(
        ("CountersignedAt", "2023-11-14T22:13:20Z"),
        ("ServiceRequest", base64.b64encode(signed_request).decode()),
    )
    with pytest.raises(SignatureMissing) as error:
        read_countersigned_request(data, authority=parties.store)
    assert refusal(error) == ("SIGNATURE_MISSING", clauses.SRPD_8_1_A)


@pytest.mark.parametrize(
    "children",
    [
        [("ServiceRequest", "PHIvPg==")],  # no CountersignedAt
        [("CountersignedAt", "2023-11-14T22:13:20"), ("ServiceRequest", "PHIvPg==")],  # no Z
        [("CountersignedAt", "2023-11-14T22:13:20Z"), ("ServiceRequest", "PHIv Pg==")],
        [("CountersignedAt", "2023-11-14T22:13:20Z"), ("ServiceRequest", "")],
        [
            ("CountersignedAt", "2023-11-14T22:13:20Z"),
            ("ServiceRequest", "PHIvPg=="),
            ("Extra", "x"),
        ],
    ],
)
def test_a_signed_but_schema_invalid_artefact_is_refused(parties, children):
    data = sign_document(
        _unsigned(*children),
        signer=parties.signer,
        key=parties.dcc.key,
        certificate=parties.dcc.organisation(),
    )
    with pytest.raises(SchemaInvalid, match="not a valid Countersigned CoS Service Request"):
        read_countersigned_request(data, authority=parties.store)


def test_a_response_with_a_malformed_digest_is_schema_invalid(parties, response):
    root = etree.fromstring(response, hardened_parser())
    digest = root.find(f"{CS}CountersignedRequestSHA256")
    assert digest is not None
    digest.text = "AB" * 32  # upper case
    data = sign_document(
        root,
        signer=parties.signer,
        key=parties.cos_party.key,
        certificate=parties.cos_party.certificate(),
    )
    with pytest.raises(SchemaInvalid) as error:
        read_cos_authorisation_response(data, authority=parties.store)
    assert error.value.clause == clauses.SRPD_8_4_C


def test_a_validly_signed_artefact_wrapping_a_hostile_request_is_refused(parties):
    for inner, expected in (
        (b'<!DOCTYPE r [<!ENTITY e SYSTEM "file:///etc/passwd">]><r>&e;</r>', HostileXml),
        (b"<sr:Request", InvalidXml),
        (request_text().encode(), InvalidArtefact),  # unsigned inner request
    ):
        data = write_artefact(
            "CountersignedCosServiceRequest",
            [
                ("CountersignedAt", "2023-11-14T22:13:20Z"),
                ("ServiceRequest", base64.b64encode(inner).decode()),
            ],
            schema_file=SCHEMA_FILE,
            what="Countersigned CoS Service Request",
            signer=parties.signer,
            key=parties.dcc.key,
            certificate=parties.dcc.organisation(),
        )
        with pytest.raises(expected, match="the wrapped Service Request") as error:
            read_countersigned_request(data, authority=parties.store)
        assert error.value.clause == clauses.SRPD_8_1_A


# Wrong signatures ------------------------------------------------------------------------


def test_a_signer_the_trust_store_does_not_hold_is_refused(parties, signed_request):
    stranger = PkiBuilder(parties.signer)
    oca = stranger.ca(stranger.root(name="XA", key="stranger-root"), name="X1", key="stranger-oca")
    other = stranger.organisation_certificate(
        oca, role=RemotePartyRole.DSP_XML_SIGN, entity_id=DCC, key="stranger-dcc"
    )
    data = parties.countersign(signed_request, key=other.key, certificate=other.organisation())
    with pytest.raises(UnknownSigner) as error:
        read_countersigned_request(data, authority=parties.store)
    assert refusal(error) == ("UNKNOWN_SIGNER", clauses.SRPD_8_1_B_I)


def test_a_signature_by_another_key_under_the_named_certificate_is_refused(parties, countersigned):
    # the DCC's signature, with KeyInfo naming the Supplier's certificate instead
    dcc_id = parties.dcc.organisation().certificate_id
    supplier_id = parties.supplier.organisation().certificate_id
    data = countersigned.replace(
        f"<ds:X509SerialNumber>{dcc_id.serial}<".encode(),
        f"<ds:X509SerialNumber>{supplier_id.serial}<".encode(),
    )
    assert data != countersigned
    with pytest.raises(SignatureInvalid) as error:
        read_countersigned_request(data, authority=parties.store)
    assert refusal(error) == ("SIGNATURE_INVALID", clauses.SRPD_8_1_B_I)


def test_an_altered_wrapped_request_is_refused(parties, countersigned, signed_request):
    original = base64.b64encode(signed_request)
    altered = base64.b64encode(signed_request.replace(b":1006<", b":1007<"))
    with pytest.raises(SignatureInvalid, match="altered") as error:
        read_cos_authorisation_response(
            parties_response(parties, countersigned).replace(original, altered),
            authority=parties.store,
        )
    assert refusal(error) == ("SIGNATURE_INVALID", clauses.SRPD_8_4_A)


def parties_response(parties: Parties, countersigned: bytes) -> bytes:
    return parties.authorise(read_countersigned_request(countersigned, authority=parties.store))


def test_another_spelling_of_the_signer_issuer_is_not_canonical(parties, countersigned):
    issuer = parties.dcc.organisation().certificate_id.issuer
    respelt = issuer.replace("CN=", "cn=")
    assert respelt != issuer
    data = countersigned.replace(issuer.encode(), respelt.encode())
    with pytest.raises(NotCanonical, match="canonical form"):
        read_countersigned_request(data, authority=parties.store)


def test_white_space_between_elements_is_not_canonical_even_when_signed(parties, signed_request):
    laid_out = _unsigned(
        ("CountersignedAt", "2023-11-14T22:13:20Z"),
        ("ServiceRequest", base64.b64encode(signed_request).decode()),
    ).replace(b"><cos:", b">\n  <cos:")
    data = sign_document(
        laid_out, signer=parties.signer, key=parties.dcc.key, certificate=parties.dcc.organisation()
    )
    with pytest.raises(NotCanonical, match="white space"):
        read_countersigned_request(data, authority=parties.store)


# One altered byte anywhere ---------------------------------------------------------------


def _refused(read, data: bytes, store: TrustStore) -> bool:
    try:
        read(data, authority=store)
    except DuisError:
        return True
    return False


@pytest.mark.parametrize("which", ["countersigned", "response"])
def test_every_byte_flipped_anywhere_is_refused(parties, countersigned, response, which):
    data, read = (
        (countersigned, read_countersigned_request)
        if which == "countersigned"
        else (response, read_cos_authorisation_response)
    )
    accepted = [
        offset
        for offset in range(len(data))
        if not _refused(
            read, data[:offset] + bytes([data[offset] ^ 0x01]) + data[offset + 1 :], parties.store
        )
    ]
    assert accepted == []


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(position=st.floats(0, 1, exclude_max=True), value=st.integers(0, 255))
def test_any_byte_replaced_anywhere_is_refused(parties, countersigned, position, value):
    offset = int(position * len(countersigned))
    if countersigned[offset] == value:
        return
    data = countersigned[:offset] + bytes([value]) + countersigned[offset + 1 :]
    assert _refused(read_countersigned_request, data, parties.store)


# Any request is wrapped byte for byte ----------------------------------------------------


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    note=st.text(
        st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"), exclude_characters="-<>&"),
        max_size=200,
    ),
    counter=st.integers(0, 2**64 - 1),
)
def test_any_signed_request_comes_back_byte_for_byte(parties, note, counter):
    request = request_text(counter=counter, note=note).encode()
    # a placeholder signature: the wrapper keeps whatever bytes it is given
    request = request.replace(
        b"</sr:Request>",
        b'<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"/>\r\n</sr:Request>',
    )
    countersigned = parties.countersign(request)
    read = read_countersigned_request(countersigned, authority=parties.store)
    assert read.request_xml == request
    response = read_cos_authorisation_response(parties.authorise(read), authority=parties.store)
    assert response.request_xml == request
    assert response.maps_to(read)


def test_the_schemas_ship_as_package_data():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = declared["tool"]["setuptools"]["package-data"]["adapters.codecs.cos_artefacts"]
    package = ROOT / "adapters" / "codecs" / "cos_artefacts"
    shipped = {path.name for pattern in patterns for path in package.glob(pattern)}
    assert shipped == {SCHEMA_FILE, RESPONSE_SCHEMA_FILE}
    for name in shipped:
        assert artefact_schema(name).file_name == name  # compiles from the package's own files


def test_every_refusal_is_a_duis_error_and_ours_are_cos_artefact_errors():
    for error in (WrongArtefact, UnsupportedVersion, NotCanonical, InvalidArtefact):
        assert issubclass(error, CosArtefactError)
        assert issubclass(error, DuisError)
