"""The DCC's request stage of an SRV 6.23 (``application/srv623.py``, SRPD 6.1, DOMAIN 3.4):
the DCC's 6.23 templates, signed as a User signs them, received against a test inventory."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from adapters.codecs.duis import DuisSchema, sign_document
from adapters.srv623_reader import DuisSignedRequestReader
from application.errors import CommandRejected
from application.service import EtmadApplication, Outcome, UnitOfWork
from application.srv623 import (
    CheckStatus,
    ReceiveStatus,
    RequestCheckResult,
    RequestNotVerified,
    receive_request,
)
from domain import clauses
from domain.cos_parties import COS_PARTY_REGISTER_ID, CosPartyRegister
from domain.identifiers import (
    EUI64,
    CertificateId,
    CosParty,
    DeviceModelKey,
    DeviceType,
    SmetsGeneration,
    parse_mpxn,
)
from domain.replay import RequestCounterRecord, request_counters_aggregate_id
from domain.routing import RouteTo
from domain.service_request import (
    Received,
    Rejected,
    Routed,
    ServiceRequest,
    ServiceRequestStatus,
    StageChecked,
    service_request_aggregate_id,
)
from domain.smki import RemotePartyRole
from domain.srv623_checks import Check, Stage, checks_of
from tests.builders import stored_events
from tests.duis_support import (
    AT,
    FUTURE_DATED,
    IMMEDIATE,
    ORIGINATOR,
    TEMPLATES,
    TestPki,
    require_vectors,
    schema_of,
)

TARGET = EUI64.parse("00-DB-12-34-56-78-90-A0")  # the templates' target Device
IMPORT_MPXN = "1312345678333"  # the templates' ImportMPxN (a DCC test MPAN)
COUNTERS = {IMMEDIATE: 1006, FUTURE_DATED: 1007}
COS_CERTIFICATE = CertificateId(0x1234, "CN=ECOS,OU=07")
MODEL = DeviceModelKey("ACME", "E100", "2.0", "0100")
OTHER_USER = EUI64(0x90B3D51F30020000)
REQUEST_CHECKS = checks_of(Stage.DCC_REQUEST)
DECIDED = REQUEST_CHECKS[: REQUEST_CHECKS.index(Check.REQUEST_MPID_IN_SIGNER_CERTIFICATE)]


@pytest.fixture(scope="module")
def vectors() -> Path:
    return require_vectors()


@pytest.fixture(scope="module")
def schema(vectors: Path) -> DuisSchema:
    return schema_of(vectors)


@pytest.fixture
def pki() -> TestPki:
    return TestPki()


def template(vectors: Path, name: str) -> bytes:
    return (vectors / "duis" / "requests" / name).read_bytes()


def reader(schema: DuisSchema, pki: TestPki) -> DuisSignedRequestReader:
    return DuisSignedRequestReader(schema=schema, authority=pki.store, mpan_check_digit=False)


def signed(vectors: Path, name: str, pki: TestPki, issued=None) -> bytes:
    issued = issued or pki.xml_sign
    return sign_document(
        template(vectors, name), signer=pki.signer, key=issued.key, certificate=issued.certificate()
    )


def inventory(
    app: EtmadApplication, *, smets: SmetsGeneration = SmetsGeneration.SMETS2_PLUS, known=True
):
    """The target Device, an ESME of a registered model whose CoS certificate the register
    gives to the ECoS Party (``known``) or to neither party."""
    app.register_device_model(
        model=MODEL, device_type=DeviceType.ESME, smets=smets, firmware_rank=1
    )
    app.register_device(
        device_id=TARGET,
        device_type=DeviceType.ESME,
        model=MODEL,
        mpxn=parse_mpxn(IMPORT_MPXN, mpan_check_digit=False),
        cos_party=CosParty.ECOS,
        cos_certificate=COS_CERTIFICATE,
    )
    if known:
        uow = UnitOfWork(app)
        recorded = CosPartyRegister().record_certificate(
            certificate=COS_CERTIFICATE,
            party=CosParty.ECOS,
            at=AT - timedelta(days=30),
            recorded_by="test",
        )
        uow.record(COS_PARTY_REGISTER_ID, CosPartyRegister.create, recorded)
        uow.commit()


def service_request(app: EtmadApplication, counter: int) -> ServiceRequest | None:
    return app.load(
        service_request_aggregate_id(ORIGINATOR, TARGET, counter), ServiceRequest.create
    )


def counters(app: EtmadApplication) -> RequestCounterRecord | None:
    return app.load(request_counters_aggregate_id(ORIGINATOR), RequestCounterRecord.create)


def result_of(outcome: Outcome) -> RequestCheckResult:
    assert isinstance(outcome.result, RequestCheckResult)
    return outcome.result


def statuses(result: RequestCheckResult) -> dict[Check, CheckStatus]:
    return {report.check: report.status for report in result.checks}


def assert_rejected_by(app: EtmadApplication, result: RequestCheckResult, check: Check, code: str):
    assert result.status is ReceiveStatus.REJECTED
    assert result.response_code == code
    ran = REQUEST_CHECKS[: REQUEST_CHECKS.index(check) + 1]
    assert [r.check for r in result.checks] == list(REQUEST_CHECKS)
    assert all(statuses(result)[c] is CheckStatus.PASSED for c in ran[:-1])
    failed = next(r for r in result.checks if r.status is CheckStatus.FAILED)
    assert (failed.check, failed.clause, failed.response_code) == (check, clauses.SRPD_6_1, code)
    assert failed.detail
    assert all(statuses(result)[c] is CheckStatus.NOT_RUN for c in REQUEST_CHECKS[len(ran) :])
    state = service_request(app, COUNTERS[IMMEDIATE])
    assert state is not None
    assert state.status is ServiceRequestStatus.REJECTED
    stage = state.outcome_of(Stage.DCC_REQUEST)
    assert stage is not None
    assert [o.check for o in stage.outcomes] == list(ran)
    assert stage.failed is not None
    assert (stage.failed.check, stage.failed.response_code) == (check, code)
    assert state.rejection is not None
    assert (state.rejection.check, state.response_code) == (check, code)
    assert state.rejection.clause == clauses.SRPD_6_1


# --- a valid request ------------------------------------------------------------------------


@pytest.mark.parametrize("name", TEMPLATES)
def test_a_valid_request_passes_every_decided_check_and_stops_at_the_mpid_check(
    app, vectors, schema, pki, name
):
    inventory(app)
    outcome = receive_request(app, reader(schema, pki), signed(vectors, name, pki), at=AT)
    result = result_of(outcome)
    assert result.route is RouteTo.COS_PARTY
    assert result.status is ReceiveStatus.CHECKS_INCOMPLETE
    assert result.response_code is None
    assert [r.check for r in result.checks] == list(REQUEST_CHECKS)
    assert all(statuses(result)[c] is CheckStatus.PASSED for c in DECIDED)
    assert result.undecided is Check.REQUEST_MPID_IN_SIGNER_CERTIFICATE
    assert result.missing is not None
    assert "MPID" in result.missing
    assert statuses(result)[Check.REQUEST_MPID_IN_SIGNER_CERTIFICATE] is CheckStatus.UNDECIDED
    later = REQUEST_CHECKS[len(DECIDED) + 1 :]
    assert all(statuses(result)[c] is CheckStatus.NOT_RUN for c in later)
    assert all(r.clause == clauses.SRPD_6_1 for r in result.checks)
    # Received and routed, in one unit of work; no stage recorded, no counter accepted.
    assert [type(e.event) for e in outcome.events] == [Received, Routed]
    state = service_request(app, COUNTERS[name])
    assert state is not None
    assert state.status is ServiceRequestStatus.IN_PROGRESS
    assert state.next_step is not None
    assert state.next_step.stage is Stage.DCC_REQUEST
    assert state.received.user_id == str(ORIGINATOR)
    assert state.received.signer == pki.xml_sign.certificate().certificate_id
    assert state.received.generation is SmetsGeneration.SMETS2_PLUS
    assert counters(app) is None


# --- one failure per decided check ----------------------------------------------------------


def test_a_signer_not_valid_at_the_request_time_fails_confirm_validity_with_e4(
    app, vectors, schema
):
    pki = TestPki(not_after=AT - timedelta(days=1))
    inventory(app)
    outcome = receive_request(app, reader(schema, pki), signed(vectors, IMMEDIATE, pki), at=AT)
    assert_rejected_by(app, result_of(outcome), Check.REQUEST_SIGNER_CONFIRM_VALIDITY, "E4")
    assert [type(e.event) for e in outcome.events] == [Received, Routed, StageChecked, Rejected]
    assert counters(app) is None


def test_a_signer_whose_role_is_not_xml_sign_fails_the_role_check_with_e65(
    app, vectors, schema, pki
):
    supplier = pki.builder.organisation_certificate(
        pki.oca, role=RemotePartyRole.SUPPLIER, entity_id=ORIGINATOR
    )
    pki.store.add(supplier.organisation())
    inventory(app)
    data = signed(vectors, IMMEDIATE, pki, supplier)
    outcome = receive_request(app, reader(schema, pki), data, at=AT)
    assert_rejected_by(app, result_of(outcome), Check.REQUEST_SIGNER_ROLE_XML_SIGN, "E65")
    assert counters(app) is None


def test_a_signer_of_another_user_fails_the_user_id_check_with_e062302(app, vectors, schema, pki):
    other = pki.builder.organisation_certificate(
        pki.oca, role=RemotePartyRole.XML_SIGN, entity_id=OTHER_USER
    )
    pki.store.add(other.organisation())
    inventory(app)
    data = signed(vectors, IMMEDIATE, pki, other)
    outcome = receive_request(app, reader(schema, pki), data, at=AT)
    assert_rejected_by(app, result_of(outcome), Check.REQUEST_USER_ID_MATCHES_SIGNER, "E062302")
    assert counters(app) is None


def accept_counter(app: EtmadApplication, counter: int) -> None:
    uow = UnitOfWork(app)
    accepted = RequestCounterRecord(originator=ORIGINATOR).accept(
        counter=counter, target=TARGET, at=AT - timedelta(hours=1)
    )
    uow.record(request_counters_aggregate_id(ORIGINATOR), RequestCounterRecord.create, accepted)
    uow.commit()


def test_a_counter_not_above_the_highest_accepted_fails_anti_replay_with_e19(
    app, vectors, schema, pki
):
    inventory(app)
    accept_counter(app, COUNTERS[IMMEDIATE])
    data = signed(vectors, IMMEDIATE, pki)
    outcome = receive_request(app, reader(schema, pki), data, at=AT)
    assert_rejected_by(app, result_of(outcome), Check.REQUEST_NOT_A_REPLAY, "E19")
    record = counters(app)
    assert record is not None
    assert (record.highest, record.accepted) == (COUNTERS[IMMEDIATE], 1)


def test_a_higher_counter_from_the_same_originator_is_not_a_replay(app, vectors, schema, pki):
    inventory(app)
    accept_counter(app, COUNTERS[IMMEDIATE])
    data = signed(vectors, FUTURE_DATED, pki)  # counter 1007
    result = result_of(receive_request(app, reader(schema, pki), data, at=AT))
    assert statuses(result)[Check.REQUEST_NOT_A_REPLAY] is CheckStatus.PASSED
    assert result.status is ReceiveStatus.CHECKS_INCOMPLETE


def test_the_same_request_id_again_is_refused_and_nothing_saved(app, vectors, schema, pki):
    inventory(app)
    data = signed(vectors, IMMEDIATE, pki)
    receive_request(app, reader(schema, pki), data, at=AT)
    before = stored_events(app)
    with pytest.raises(CommandRejected) as refused:
        receive_request(app, reader(schema, pki), data, at=AT + timedelta(seconds=1))
    assert refused.value.code == "REQUEST_ID_ALREADY_RECEIVED"
    assert stored_events(app) == before


# --- requests that are not verified: typed refusals, nothing saved ---------------------------


def refused(app, schema, pki, data: bytes) -> RequestNotVerified:
    before = stored_events(app)
    with pytest.raises(RequestNotVerified) as error:
        receive_request(app, reader(schema, pki), data, at=AT)
    assert stored_events(app) == before
    assert service_request(app, COUNTERS[IMMEDIATE]) is None
    return error.value


def test_malformed_bytes_are_refused_without_a_check(app, schema, pki):
    inventory(app)
    error = refused(app, schema, pki, b"<sr:Request")
    assert error.code == "INVALID_XML"
    assert (error.check, error.response_code) == (None, None)


def test_a_request_that_is_not_schema_valid_is_refused(app, vectors, schema, pki):
    inventory(app)
    data = signed(vectors, IMMEDIATE, pki).replace(
        b"<sr:CommandVariant>1<", b"<sr:CommandVariant>x<"
    )
    error = refused(app, schema, pki, data)
    assert error.code == "SCHEMA_INVALID"
    assert error.check is None


def test_an_unsigned_template_fails_cryptographic_protection(app, vectors, schema, pki):
    inventory(app)
    error = refused(app, schema, pki, template(vectors, IMMEDIATE))
    assert error.check is Check.REQUEST_CRYPTOGRAPHIC_PROTECTION
    assert (error.response_code, error.clause) == ("E2", clauses.SRPD_6_1)


def test_a_request_changed_after_signing_fails_cryptographic_protection(app, vectors, schema, pki):
    inventory(app)
    data = signed(vectors, IMMEDIATE, pki).replace(
        b"<sr:SupplierFloorSeqNumber>0<", b"<sr:SupplierFloorSeqNumber>9<"
    )
    error = refused(app, schema, pki, data)
    assert error.code == "SIGNATURE_INVALID"
    assert (error.check, error.response_code) == (Check.REQUEST_CRYPTOGRAPHIC_PROTECTION, "E2")


def test_a_request_signed_by_a_certificate_the_trust_store_lacks_is_refused(
    app, vectors, schema, pki
):
    unregistered = pki.builder.organisation_certificate(
        pki.oca, role=RemotePartyRole.XML_SIGN, entity_id=ORIGINATOR
    )
    inventory(app)
    error = refused(app, schema, pki, signed(vectors, IMMEDIATE, pki, unregistered))
    assert error.code == "UNKNOWN_SIGNER"
    assert error.check is Check.REQUEST_CRYPTOGRAPHIC_PROTECTION


def test_a_request_signed_with_a_key_not_the_named_certificates_is_refused(
    app, vectors, schema, pki
):
    # Another PKI built the same way names a certificate with the same Certificate ID as the
    # held xmlSign certificate, with its own key: the held certificate's key does not verify.
    impostor = TestPki()
    inventory(app)
    error = refused(app, schema, pki, signed(vectors, IMMEDIATE, impostor))
    assert error.code == "SIGNATURE_INVALID"
    assert error.check is Check.REQUEST_CRYPTOGRAPHIC_PROTECTION


# --- routing comes first ---------------------------------------------------------------------


def test_a_device_whose_cos_certificate_is_in_neither_list_is_rejected_by_its_route(
    app, vectors, schema, pki
):
    inventory(app, known=False)
    outcome = receive_request(app, reader(schema, pki), signed(vectors, IMMEDIATE, pki), at=AT)
    assert result_of(outcome).status is ReceiveStatus.REJECTED
    assert result_of(outcome).route is RouteTo.REJECTED
    assert result_of(outcome).checks == ()
    assert [type(e.event) for e in outcome.events] == [Received, Routed, Rejected]
    state = service_request(app, COUNTERS[IMMEDIATE])
    assert state is not None
    assert state.outcome_of(Stage.DCC_REQUEST) is None
    assert state.rejection is not None
    assert state.rejection.reasons[0].code == "UNKNOWN_COS_CERTIFICATE"


def test_a_request_for_a_device_not_in_the_inventory_is_refused_and_nothing_saved(
    app, vectors, schema, pki
):
    before = stored_events(app)
    with pytest.raises(CommandRejected) as error:
        receive_request(app, reader(schema, pki), signed(vectors, IMMEDIATE, pki), at=AT)
    assert error.value.code == "UNKNOWN_DEVICE"
    assert stored_events(app) == before
