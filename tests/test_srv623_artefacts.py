"""The SRV 6.23 artefact adapters (``adapters/srv623_artefacts.py``): the DCC countersigns the
DCC's 6.23 templates (re-signed with a generated PKI), the CoS Party reads the countersigned
request, makes the Signed Pre-Command with the ECoS Party's key and answers with its CoS
Authorisation Response, which the DCC reads with the signature and the form apart."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from adapters.codecs.duis import DuisSchema, parse_document, read_cos_update_request, sign_document
from adapters.codecs.gbcs import decode_general_signing
from adapters.codecs.substantive import from_cos_update_request, from_pre_command
from adapters.crypto.pki_builder import PkiBuilder
from adapters.crypto.trust_store import TrustStore
from adapters.simulator import FleetSimulation, SimulatedDeviceTransport
from adapters.srv623_artefacts import (
    CosPartyResponseWriter,
    DccAuthorisationResponseReader,
    DccCountersigner,
    GbcsCommandOutcomeReader,
    GbcsPreCommandReader,
    GbcsPreCommandSigner,
    PartyCountersignedReader,
)
from adapters.srv623_reader import DuisSignedRequestReader
from domain.identifiers import EUI64
from domain.smki import RemotePartyRole, ValidityCode
from domain.substantive import compare
from tests.duis_support import AT, FUTURE_DATED, IMMEDIATE, ORIGINATOR, require_vectors, schema_of
from tests.simulator_support import HEALTHY

DCC = EUI64(0x90B3D51F30000002)
COS_PARTY = EUI64(0x90B3D51F30000005)
ECOS_PARTY = EUI64(0x90B3D51F30000007)
TCOS_PARTY = EUI64(0x90B3D51F30000004)
TARGET = EUI64.parse("00-DB-12-34-56-78-90-A0")
COS_PARTY_ROLE = "8A"  # coSPartyXmlSign: a configured code, not in RemotePartyRole


class Parties:
    """One generated SMKI: the Supplier's xmlSign, the DCC's DSP XML signing, the CoS Party's
    coSPartyXmlSign, and the ECoS and TCoS Parties' transitionalCoS certificates."""

    def __init__(self) -> None:
        self.builder = PkiBuilder(seed=6230)
        self.oca = self.builder.ca(self.builder.root(name="TA"), name="T1")
        issue = self.builder.organisation_certificate
        self.supplier = issue(self.oca, role=RemotePartyRole.XML_SIGN, entity_id=ORIGINATOR)
        self.dcc = issue(self.oca, role=RemotePartyRole.DSP_XML_SIGN, entity_id=DCC)
        self.cos_party = issue(self.oca, role=COS_PARTY_ROLE, entity_id=COS_PARTY)
        self.ecos = issue(self.oca, role=RemotePartyRole.TRANSITIONAL_COS, entity_id=ECOS_PARTY)
        self.tcos = issue(self.oca, role=RemotePartyRole.TRANSITIONAL_COS, entity_id=TCOS_PARTY)
        self.store = TrustStore()
        self.store.add_anchor(self.oca.certificate())
        for issued in (self.supplier, self.dcc, self.ecos, self.tcos):
            self.store.add(issued.organisation())
        self.store.add(self.cos_party.certificate())
        self.signer = self.builder.signer


@pytest.fixture(scope="module")
def vectors() -> Path:
    return require_vectors()


@pytest.fixture(scope="module")
def schema(vectors: Path) -> DuisSchema:
    return schema_of(vectors)


@pytest.fixture(scope="module")
def parties() -> Parties:
    return Parties()


def signed_template(vectors: Path, parties: Parties, name: str) -> bytes:
    data = (vectors / "duis" / "requests" / name).read_bytes()
    issued = parties.supplier
    return sign_document(
        data, signer=parties.signer, key=issued.key, certificate=issued.certificate()
    )


def countersigner(parties: Parties) -> DccCountersigner:
    return DccCountersigner(
        signer=parties.signer, key=parties.dcc.key, certificate=parties.dcc.organisation()
    )


def party_reader(parties: Parties, schema: DuisSchema) -> PartyCountersignedReader:
    request_reader = DuisSignedRequestReader(
        schema=schema, authority=parties.store, mpan_check_digit=False
    )
    return PartyCountersignedReader(authority=parties.store, request_reader=request_reader)


def pre_command_signer(parties: Parties, schema: DuisSchema, issued=None) -> GbcsPreCommandSigner:
    issued = issued or parties.ecos
    return GbcsPreCommandSigner(
        signer=parties.signer,
        key=issued.key,
        originator=issued.organisation().entity_id,
        schema=schema,
    )


def response_writer(parties: Parties, issued=None) -> CosPartyResponseWriter:
    issued = issued or parties.cos_party
    return CosPartyResponseWriter(
        signer=parties.signer,
        key=issued.key,
        certificate=issued.certificate(),
        authority=parties.store,
    )


# --- the party reads the countersigned request -------------------------------------------


def test_the_party_reads_the_countersigned_request_and_the_request_inside(vectors, schema, parties):
    request = signed_template(vectors, parties, IMMEDIATE)
    countersigned = countersigner(parties).countersign(request, at=AT)
    facts = party_reader(parties, schema).read_countersigned(countersigned, at=AT)
    signature = facts.countersignature
    assert signature.verified, signature.detail
    assert signature.certificate_id == parties.dcc.organisation().certificate_id
    assert signature.entity_id == DCC
    assert signature.role_code == RemotePartyRole.DSP_XML_SIGN
    assert signature.validity is not None
    assert signature.validity.valid
    assert facts.countersigned_at == AT
    assert facts.request_xml == request
    assert facts.request is not None
    assert facts.request.target == TARGET
    assert facts.request.signer.validity.valid
    assert facts.request_failure == ""
    assert len(facts.sha256) == 64


def test_a_tampered_countersigned_request_is_not_verified_and_says_why(vectors, schema, parties):
    countersigned = countersigner(parties).countersign(
        signed_template(vectors, parties, IMMEDIATE), at=AT
    )
    tampered = countersigned.replace(b"2023-11-14T22:13:20Z", b"2023-11-14T22:13:21Z")
    assert tampered != countersigned
    facts = party_reader(parties, schema).read_countersigned(tampered, at=AT)
    assert not facts.countersignature.verified
    assert facts.countersignature.detail.startswith("SIGNATURE_INVALID: ")
    assert facts.countersignature.certificate_id == parties.dcc.organisation().certificate_id
    assert facts.request is None
    assert facts.request_xml is None


def test_a_form_refused_after_the_countersignature_verified_says_so(vectors, schema, parties):
    countersigned = countersigner(parties).countersign(
        signed_template(vectors, parties, IMMEDIATE), at=AT
    )
    # Another declaration: the same document, signature intact, not the one byte form.
    respelled = countersigned.replace(
        b"<?xml version='1.0' encoding='UTF-8'?>", b'<?xml version="1.0" encoding="UTF-8"?>', 1
    )
    facts = party_reader(parties, schema).read_countersigned(respelled, at=AT)
    assert not facts.countersignature.verified
    assert facts.countersignature.detail.startswith("NOT_CANONICAL: ")
    assert "itself verifies" in facts.countersignature.detail


def test_hostile_xml_is_not_verified(schema, parties):
    hostile = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>'
    facts = party_reader(parties, schema).read_countersigned(hostile, at=AT)
    assert not facts.countersignature.verified
    assert facts.countersignature.detail.startswith("HOSTILE_XML: ")
    response = DccAuthorisationResponseReader(authority=parties.store)
    read = response.read_authorisation_response(hostile, at=AT)
    assert not read.signature.verified
    assert not read.well_formed
    assert read.form_detail.startswith("HOSTILE_XML: ")


def test_an_inner_request_whose_signer_is_unknown_is_not_read(vectors, schema, parties):
    stranger = PkiBuilder(seed=1)
    oca = stranger.ca(stranger.root())
    other = stranger.organisation_certificate(
        oca, role=RemotePartyRole.XML_SIGN, entity_id=ORIGINATOR
    )
    data = (vectors / "duis" / "requests" / IMMEDIATE).read_bytes()
    request = sign_document(
        data, signer=stranger.signer, key=other.key, certificate=other.certificate()
    )
    countersigned = countersigner(parties).countersign(request, at=AT)
    facts = party_reader(parties, schema).read_countersigned(countersigned, at=AT)
    assert facts.countersignature.verified
    assert facts.request is None
    assert facts.request_failure.startswith("UNKNOWN_SIGNER: ")
    assert facts.request_xml == request


# --- the Signed Pre-Command ------------------------------------------------------------------


@pytest.mark.parametrize("name", [IMMEDIATE, FUTURE_DATED])
def test_the_signed_pre_command_is_the_request_and_verifies_with_the_partys_key_only(
    vectors, schema, parties, name
):
    request_xml = signed_template(vectors, parties, name)
    data = pre_command_signer(parties, schema).sign_pre_command(request_xml, counter=77, at=AT)
    request = read_cos_update_request(parse_document(request_xml, schema))
    sameness = compare(from_cos_update_request(request), from_pre_command(data))
    assert sameness.identical, sameness
    reader = GbcsPreCommandReader(authority=parties.store)
    ecos_id = parties.ecos.organisation().certificate_id
    facts = reader.read_pre_command(data, signed_by=ecos_id, at=AT)
    assert facts.readable
    assert facts.device == TARGET
    assert facts.update == from_pre_command(data)
    assert (facts.update.execution_date_time is not None) is (name == FUTURE_DATED)
    assert facts.signature.verified
    assert facts.signature.entity_id == ECOS_PARTY
    assert facts.signature.role_code == RemotePartyRole.TRANSITIONAL_COS
    assert facts.signature.validity is not None
    assert facts.signature.validity.valid
    assert [c.cell for c in facts.certificates if c.cell is not None] == [
        r.cell for r in facts.update.replacements
    ]
    assert all(c.validity is not None for c in facts.certificates if c.certificate_id)
    other = reader.read_pre_command(
        data, signed_by=parties.tcos.organisation().certificate_id, at=AT
    )
    assert not other.signature.verified
    assert other.signature.detail.startswith("SIGNATURE_INVALID: ")
    assert other.signature.entity_id == TCOS_PARTY


def test_the_pre_command_header_is_from_the_party_to_the_target(vectors, schema, parties):
    data = pre_command_signer(parties, schema).sign_pre_command(
        signed_template(vectors, parties, IMMEDIATE), counter=78, at=AT
    )
    header = decode_general_signing(data).header
    assert (header.originator, header.recipient, header.originator_counter) == (
        ECOS_PARTY,
        TARGET,
        78,
    )


def test_unreadable_pre_commands_and_unknown_certificates_are_facts(parties):
    reader = GbcsPreCommandReader(authority=parties.store)
    garbage = reader.read_pre_command(b"\x00garbage", signed_by=None, at=AT)
    assert not garbage.readable
    assert garbage.detail.startswith("INVALID_GBCS: ")
    assert not garbage.signature.verified


def test_a_pre_command_signed_by_an_unknown_certificate_is_not_verified(vectors, schema, parties):
    data = pre_command_signer(parties, schema).sign_pre_command(
        signed_template(vectors, parties, IMMEDIATE), counter=79, at=AT
    )
    stranger = PkiBuilder(seed=2)
    unknown = stranger.organisation_certificate(stranger.ca(stranger.root()))
    facts = GbcsPreCommandReader(authority=parties.store).read_pre_command(
        data, signed_by=unknown.organisation().certificate_id, at=AT
    )
    assert facts.readable
    assert not facts.signature.verified
    assert facts.signature.detail.startswith("UNKNOWN_SIGNER: ")


# --- the CoS Authorisation Response ----------------------------------------------------------


def _countersigned_and_pre_command(vectors, schema, parties):
    request = signed_template(vectors, parties, IMMEDIATE)
    countersigned = countersigner(parties).countersign(request, at=AT)
    pre_command = pre_command_signer(parties, schema).sign_pre_command(request, counter=5, at=AT)
    return request, countersigned, pre_command


def test_the_dcc_reads_the_cos_partys_response(vectors, schema, parties):
    request, countersigned, pre_command = _countersigned_and_pre_command(vectors, schema, parties)
    later = AT + timedelta(seconds=3)
    xml = response_writer(parties).write_authorisation_response(
        countersigned, signed_pre_command=pre_command, at=later
    )
    facts = DccAuthorisationResponseReader(authority=parties.store).read_authorisation_response(
        xml, at=later
    )
    assert facts.signature.verified, facts.signature.detail
    assert facts.signature.role_code == 0x8A
    assert facts.signature.entity_id == COS_PARTY
    assert facts.signature.validity is not None
    assert facts.signature.validity.code is ValidityCode.VALID
    assert facts.well_formed, facts.form_detail
    assert facts.authorised_at == later
    assert facts.countersigned_request_sha256 == (
        party_reader(parties, schema).read_countersigned(countersigned, at=AT).sha256
    )
    assert facts.request_xml == request
    assert facts.signed_pre_command == pre_command


def test_a_response_signed_by_a_certificate_of_another_role_gives_that_role(
    vectors, schema, parties
):
    _, countersigned, pre_command = _countersigned_and_pre_command(vectors, schema, parties)
    xml = CosPartyResponseWriter(
        signer=parties.signer,
        key=parties.supplier.key,
        certificate=parties.supplier.organisation(),
        authority=parties.store,
    ).write_authorisation_response(countersigned, signed_pre_command=pre_command, at=AT)
    facts = DccAuthorisationResponseReader(authority=parties.store).read_authorisation_response(
        xml, at=AT
    )
    assert facts.signature.verified
    assert facts.signature.role_code == RemotePartyRole.XML_SIGN
    assert facts.well_formed


def test_a_schema_invalid_response_whose_signature_verifies_is_verified_but_not_well_formed(
    vectors, schema, parties
):
    _, countersigned, pre_command = _countersigned_and_pre_command(vectors, schema, parties)
    xml = response_writer(parties).write_authorisation_response(
        countersigned, signed_pre_command=pre_command, at=AT
    )
    broken = xml.replace(b"<cos:AuthorisedAt>", b"<cos:Unexpected/><cos:AuthorisedAt>", 1)
    resigned = sign_document(
        broken,
        signer=parties.signer,
        key=parties.cos_party.key,
        certificate=parties.cos_party.certificate(),
    )
    facts = DccAuthorisationResponseReader(authority=parties.store).read_authorisation_response(
        resigned, at=AT
    )
    assert facts.signature.verified
    assert facts.signature.role_code == 0x8A
    assert not facts.well_formed
    assert facts.form_detail.startswith("SCHEMA_INVALID: ")
    assert facts.signed_pre_command is None


def test_a_tampered_response_is_not_verified_but_still_judged_for_its_form(
    vectors, schema, parties
):
    _, countersigned, pre_command = _countersigned_and_pre_command(vectors, schema, parties)
    xml = response_writer(parties).write_authorisation_response(
        countersigned, signed_pre_command=pre_command, at=AT
    )
    tampered = xml.replace(b"2023-11-14T22:13:20Z", b"2023-11-14T22:13:29Z", 1)
    assert tampered != xml
    facts = DccAuthorisationResponseReader(authority=parties.store).read_authorisation_response(
        tampered, at=AT
    )
    assert not facts.signature.verified
    assert facts.signature.detail.startswith("SIGNATURE_INVALID: ")
    assert facts.signature.role_code == 0x8A
    assert facts.well_formed
    assert facts.signed_pre_command is None


# --- the Device's response ---------------------------------------------------------------------


def test_the_command_outcome_of_a_simulated_devices_response_and_of_garbage(
    vectors, schema, parties
):
    fleet = FleetSimulation(
        seed=1, tcos_certificate=parties.tcos.der, ecos_certificate=parties.ecos.der
    )
    fleet.add_device(TARGET, HEALTHY, credential=parties.ecos.der)
    # the template's supplier certificates are the DCC's, read as supplier certificates
    pre_command = pre_command_signer(parties, schema).sign_pre_command(
        signed_template(vectors, parties, IMMEDIATE), counter=9, at=AT
    )
    reply = SimulatedDeviceTransport(fleet).send(
        TARGET, pre_command, AT, timeout=timedelta(seconds=60)
    )
    assert reply.response is not None
    outcome = GbcsCommandOutcomeReader().command_outcome(reply.response)
    assert outcome.succeeded, outcome.detail
    assert "SUPPLIER_BY_TRANSCOS" in outcome.detail
    garbage = GbcsCommandOutcomeReader().command_outcome(b"\xde\xad")
    assert not garbage.succeeded
    assert "INVALID_GBCS" in garbage.detail
    assert not GbcsCommandOutcomeReader().command_outcome(pre_command).succeeded
