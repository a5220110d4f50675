"""The CoS Party register through `etmad apply` (DOMAIN.md 3.4; ETMAD 2, 1.20): the certificates
of the TCoS and the ECoS Party, and the SMETS1 testing, recorded as routing reads them."""

from __future__ import annotations

from datetime import UTC, datetime

from domain.cos_parties import COS_PARTY_REGISTER_ID, CosPartyRegister
from domain.identifiers import CertificateId, CosParty, SmetsGeneration
from domain.routing import RouteTo, route_srv623
from tests.builders import rejected_unchanged
from tests.conftest import Runner

AT = datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
TCOS = {"serial": "4660", "issuer": "CN=Z1,OU=07"}
ECOS = {"serial": "4661", "issuer": "CN=Z1,OU=07"}


def register(run: Runner) -> CosPartyRegister:
    found = run.app.load(COS_PARTY_REGISTER_ID, CosPartyRegister.create)
    assert found is not None
    return found


def test_certificates_are_recorded_for_their_party_and_routing_reads_them(run: Runner) -> None:
    first = run.ok(
        "RecordCosCertificate",
        certificate=TCOS,
        party="TCoS",
        at="2023-11-01T00:00:00Z",
        recorded_by="DCC SMKI operations",
    )
    assert [e["type"] for e in first.events] == [
        "etmad.cos_party_register.CosCertificateRecorded.v1"
    ]
    run.ok(
        "RecordCosCertificate",
        certificate=ECOS,
        party="ECoS",
        at="2023-11-01T00:00:00Z",
        recorded_by="DCC SMKI operations",
    )
    held = register(run)
    tcos = CertificateId(4660, "CN=Z1,OU=07")
    ecos = CertificateId(4661, "CN=Z1,OU=07")
    for certificate, route in ((tcos, RouteTo.TCOS_PARTY), (ecos, RouteTo.COS_PARTY)):
        decided = route_srv623(
            certificate=certificate,
            generation=SmetsGeneration.SMETS2_PLUS,
            command_variant=1,
            at=AT,
            register=held,
        )
        assert decided.route is route
    # SMETS1 requests for an ECoS Device wait for the 1.20 testing
    before = route_srv623(
        certificate=ecos,
        generation=SmetsGeneration.SMETS1,
        command_variant=1,
        at=AT,
        register=held,
    )
    assert before.rejected
    run.ok(
        "RecordSmets1TestingCompleted",
        at="2023-11-10T00:00:00Z",
        evidence="ECoS Testing Approach Document: SMETS1 test report 42",
        recorded_by="DCC",
    )
    after = route_srv623(
        certificate=ecos,
        generation=SmetsGeneration.SMETS1,
        command_variant=1,
        at=AT,
        register=register(run),
    )
    assert after.route is RouteTo.COS_PARTY
    assert register(run).party_of(ecos, as_of=AT) is CosParty.ECOS


def test_a_certificate_is_recorded_once_and_the_testing_once_with_evidence(run: Runner) -> None:
    run.ok(
        "RecordCosCertificate",
        certificate=TCOS,
        party="TCoS",
        at="2023-11-01T00:00:00Z",
        recorded_by="DCC",
    )
    rejected_unchanged(
        run,
        "RecordCosCertificate",
        "COS_CERTIFICATE_ALREADY_RECORDED",
        certificate=TCOS,
        party="TCoS",
        at="2023-11-02T00:00:00Z",
        recorded_by="DCC",
    )
    run.ok(
        "RecordSmets1TestingCompleted",
        at="2023-11-10T00:00:00Z",
        evidence="report 42",
        recorded_by="DCC",
    )
    rejected_unchanged(
        run,
        "RecordSmets1TestingCompleted",
        "SMETS1_TESTING_ALREADY_RECORDED",
        at="2023-11-11T00:00:00Z",
        evidence="report 43",
        recorded_by="DCC",
    )
