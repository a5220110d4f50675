"""The DCC's request stage of an SRV 6.23 (``application/srv623.py``, SRPD 6.1, DOMAIN 3.4):
the DCC's 6.23 templates, signed as a User signs them, received against a test inventory."""

from __future__ import annotations

import base64
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

from adapters.codecs.duis import DuisSchema, parse_document, read_cos_update_request, sign_document
from adapters.srv623_reader import DuisSignedRequestReader
from application.errors import CommandRejected
from application.service import EtmadApplication, Outcome, UnitOfWork
from application.srv623 import (
    CheckStatus,
    ReceiveStatus,
    RequestCheckResult,
    RequestNotVerified,
    SignedRequestReader,
    VerifiedRequest,
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
from domain.registration import SupplierChange
from domain.replay import CounterAccepted, RequestCounterRecord, request_counters_aggregate_id
from domain.routing import RouteTo
from domain.service_request import (
    Party,
    Received,
    Rejected,
    Routed,
    ServiceRequest,
    ServiceRequestStatus,
    StageChecked,
    StepKind,
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
MPID = "GTSP"  # the MPID Party Details give to the templates' originator (GITTESTSUPPLIER)
OTHER_MPXN = "1312345678340"


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


def duis_reader(schema: DuisSchema, pki: TestPki) -> DuisSignedRequestReader:
    return DuisSignedRequestReader(schema=schema, authority=pki.store, mpan_check_digit=False)


class WithoutPathSubjects:
    """A reader that, like an older one, gives no certification path subjects."""

    def __init__(self, real: SignedRequestReader) -> None:
        self._real = real

    def read(self, data: bytes, *, at: datetime) -> VerifiedRequest:
        return attrs.evolve(self._real.read(data, at=at), certification_path_subjects=None)


def reader(schema: DuisSchema, pki: TestPki) -> Any:
    return duis_reader(schema, pki)


def signed(vectors: Path, name: str, pki: TestPki, issued=None, *, change=None) -> bytes:
    """The template ``name``, changed by ``change`` (bytes to bytes), signed by ``issued``."""
    issued = issued or pki.xml_sign
    data = template(vectors, name)
    if change is not None:
        changed = change(data)
        assert changed != data
        data = changed
    return sign_document(data, signer=pki.signer, key=issued.key, certificate=issued.certificate())


def element(name: str) -> re.Pattern[bytes]:
    return re.compile(rb"<sr:" + name.encode() + rb">([^<]*)</sr:" + name.encode() + rb">")


def certificate_of(data: bytes, name: str) -> bytes:
    found = element(name).search(data)
    assert found is not None
    return found.group(1)


def with_element(data: bytes, name: str, content: bytes) -> bytes:
    tag = name.encode()
    return element(name).sub(b"<sr:" + tag + b">" + content + b"</sr:" + tag + b">", data)


def without_element(data: bytes, name: str) -> bytes:
    return element(name).sub(b"", data)


def b64(der: bytes) -> bytes:
    return base64.b64encode(der)


def registered(app: EtmadApplication, *, mpxn: str = IMPORT_MPXN, supplier: str = MPID) -> None:
    """Registration Data name ``supplier`` as the MPxN's Responsible Supplier since before
    ``AT``; Party Details give ``MPID`` to the templates' originator."""
    since = AT - timedelta(days=30)
    app.record_supplier_change(
        SupplierChange(since, supplier, parse_mpxn(mpxn, mpan_check_digit=False))
    )
    assert app.party_details is not None
    app.party_details.record_mpid(ORIGINATOR, MPID)


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
def test_a_valid_request_passes_every_check_and_awaits_countersigning(
    app, vectors, schema, pki, name
):
    inventory(app)
    registered(app)
    outcome = receive_request(app, reader(schema, pki), signed(vectors, name, pki), at=AT)
    result = result_of(outcome)
    assert result.route is RouteTo.COS_PARTY
    assert result.status is ReceiveStatus.CHECKS_PASSED
    assert (result.response_code, result.undecided, result.missing) == (None, None, None)
    assert [r.check for r in result.checks] == list(REQUEST_CHECKS)
    assert all(r.status is CheckStatus.PASSED for r in result.checks)
    assert all(r.clause == clauses.SRPD_6_1 for r in result.checks)
    # Received, routed and checked in one unit of work; the counter accepted on the record.
    assert [type(e.event) for e in outcome.events] == [
        Received,
        Routed,
        StageChecked,
        CounterAccepted,
    ]
    state = service_request(app, COUNTERS[name])
    assert state is not None
    assert state.status is ServiceRequestStatus.IN_PROGRESS
    stage = state.outcome_of(Stage.DCC_REQUEST)
    assert stage is not None
    assert stage.failed is None
    assert [o.check for o in stage.outcomes] == list(REQUEST_CHECKS)
    assert state.next_step is not None
    assert (state.next_step.kind, state.next_step.party) == (StepKind.COUNTERSIGN, Party.COS_PARTY)
    assert result.next_step == state.next_step
    assert state.next_step.clause == clauses.SRPD_8_1_A
    record = counters(app)
    assert record is not None
    assert record.highest == COUNTERS[name]


def test_without_party_details_the_mpid_check_is_undecided_and_nothing_is_checked(
    app, vectors, schema, pki
):
    inventory(app)
    registered(app)
    app.party_details = None  # an application built without Party Details
    outcome = receive_request(app, reader(schema, pki), signed(vectors, IMMEDIATE, pki), at=AT)
    result = result_of(outcome)
    assert result.status is ReceiveStatus.CHECKS_INCOMPLETE
    assert result.undecided is Check.REQUEST_MPID_IN_SIGNER_CERTIFICATE
    assert result.missing is not None
    assert "Party Details" in result.missing
    before = REQUEST_CHECKS[: REQUEST_CHECKS.index(Check.REQUEST_MPID_IN_SIGNER_CERTIFICATE)]
    assert all(statuses(result)[c] is CheckStatus.PASSED for c in before)
    assert statuses(result)[Check.REQUEST_MPID_IN_SIGNER_CERTIFICATE] is CheckStatus.UNDECIDED
    after = REQUEST_CHECKS[len(before) + 1 :]
    assert all(statuses(result)[c] is CheckStatus.NOT_RUN for c in after)
    # Received and routed; no stage recorded, no counter accepted.
    assert [type(e.event) for e in outcome.events] == [Received, Routed]
    state = service_request(app, COUNTERS[IMMEDIATE])
    assert state is not None
    assert state.next_step is not None
    assert state.next_step.stage is Stage.DCC_REQUEST
    assert counters(app) is None


def test_without_the_path_subjects_the_last_oca_check_is_undecided(app, vectors, schema, pki):
    inventory(app)
    registered(app)
    data = signed(vectors, IMMEDIATE, pki)
    without = WithoutPathSubjects(duis_reader(schema, pki))
    result = result_of(receive_request(app, without, data, at=AT))
    assert result.status is ReceiveStatus.CHECKS_INCOMPLETE
    assert result.undecided is Check.REQUEST_OCA_CERTIFICATES_ALL_USED
    assert all(r.status is CheckStatus.PASSED for r in result.checks[:-1])
    assert counters(app) is None


# --- one failure per check ------------------------------------------------------------------


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
    registered(app)
    accept_counter(app, COUNTERS[IMMEDIATE])
    data = signed(vectors, FUTURE_DATED, pki)  # counter 1007
    result = result_of(receive_request(app, reader(schema, pki), data, at=AT))
    assert statuses(result)[Check.REQUEST_NOT_A_REPLAY] is CheckStatus.PASSED
    assert result.status is ReceiveStatus.CHECKS_PASSED


def rejected(app, schema, pki, data: bytes, *, check: Check, code: str) -> None:
    outcome = receive_request(app, reader(schema, pki), data, at=AT)
    assert_rejected_by(app, result_of(outcome), check, code)
    assert [type(e.event) for e in outcome.events] == [Received, Routed, StageChecked, Rejected]
    assert counters(app) is None  # a rejected request's counter is not accepted


def test_an_mpid_that_is_not_the_signing_users_fails_the_mpid_check_with_e062303(
    app, vectors, schema, pki
):
    inventory(app)
    registered(app, supplier="RIVL")  # Registration Data name another supplier
    assert app.party_details is not None
    app.party_details.record_mpid(OTHER_USER, "RIVL")
    data = signed(vectors, IMMEDIATE, pki)
    rejected(app, schema, pki, data, check=Check.REQUEST_MPID_IN_SIGNER_CERTIFICATE, code="E062303")


def test_an_mpxn_without_a_responsible_supplier_fails_the_mpid_check(app, vectors, schema, pki):
    inventory(app)
    assert app.party_details is not None
    app.party_details.record_mpid(ORIGINATOR, MPID)
    data = signed(vectors, IMMEDIATE, pki)
    rejected(app, schema, pki, data, check=Check.REQUEST_MPID_IN_SIGNER_CERTIFICATE, code="E062303")


def test_the_supplier_is_looked_up_on_the_execution_date_of_a_future_dated_request(
    app, vectors, schema, pki
):
    inventory(app)
    registered(app)
    execution = read_cos_update_request(
        parse_document(template(vectors, FUTURE_DATED), schema)
    ).body.execution_date_time
    assert execution is not None
    assert execution > AT
    # From the execution date-time another supplier is to be the Responsible Supplier.
    mpxn = parse_mpxn(IMPORT_MPXN, mpan_check_digit=False)
    app.record_supplier_change(SupplierChange(execution, "RIVL", mpxn))
    outcome = receive_request(app, reader(schema, pki), signed(vectors, FUTURE_DATED, pki), at=AT)
    result = result_of(outcome)
    assert result.status is ReceiveStatus.REJECTED
    assert result.response_code == "E062303"
    failed = next(r for r in result.checks if r.status is CheckStatus.FAILED)
    assert failed.check is Check.REQUEST_MPID_IN_SIGNER_CERTIFICATE
    assert "RIVL" in failed.detail


def test_an_mpxn_not_the_inventorys_fails_the_mpxn_check_with_e062304(app, vectors, schema, pki):
    inventory(app)
    registered(app)
    registered(app, mpxn=OTHER_MPXN)
    data = signed(
        vectors, IMMEDIATE, pki, change=lambda d: with_element(d, "ImportMPxN", OTHER_MPXN.encode())
    )
    rejected(app, schema, pki, data, check=Check.REQUEST_MPXN_MATCHES_INVENTORY, code="E062304")


def test_too_few_replacement_certificates_fail_the_count_check_with_e062305(
    app, vectors, schema, pki
):
    inventory(app)
    registered(app)
    data = signed(
        vectors,
        IMMEDIATE,
        pki,
        change=lambda d: without_element(d, "KeyAgreementTopUpCertificate"),
    )
    rejected(
        app, schema, pki, data, check=Check.REQUEST_REPLACEMENT_CERTIFICATE_COUNT, code="E062305"
    )


def test_a_replacement_certificate_of_another_role_fails_the_role_check_with_e062305(
    app, vectors, schema, pki
):
    inventory(app)
    registered(app)
    operator = pki.builder.organisation_certificate(pki.oca, role=RemotePartyRole.NETWORK_OPERATOR)
    data = signed(
        vectors,
        IMMEDIATE,
        pki,
        change=lambda d: with_element(d, "DigitalSigningCertificate", b64(operator.der)),
    )
    rejected(
        app, schema, pki, data, check=Check.REQUEST_REPLACEMENT_CERTIFICATE_ROLES, code="E062305"
    )


def test_certificates_in_each_others_cells_fail_the_key_usage_check_with_e062305(
    app, vectors, schema, pki
):
    inventory(app)
    registered(app)

    def swapped(d: bytes) -> bytes:
        signing = certificate_of(d, "DigitalSigningCertificate")
        agreement = certificate_of(d, "KeyAgreementCertificate")
        d = with_element(d, "DigitalSigningCertificate", agreement)
        return with_element(d, "KeyAgreementCertificate", signing)

    data = signed(vectors, IMMEDIATE, pki, change=swapped)
    rejected(app, schema, pki, data, check=Check.REQUEST_KEY_USAGE_MATCHES_CELL, code="E062305")


def test_a_top_up_key_without_its_floor_fails_the_prepayment_check_with_e062306(
    app, vectors, schema, pki
):
    inventory(app)
    registered(app)
    data = signed(
        vectors,
        IMMEDIATE,
        pki,
        change=lambda d: without_element(d, "SupplierPrepaymentTopUpFloorSeqNumber"),
    )
    rejected(
        app, schema, pki, data, check=Check.REQUEST_PREPAYMENT_FLOOR_SEQUENCE_NUMBER, code="E062306"
    )


def test_a_path_without_the_issuing_oca_fails_the_issuer_check_with_e1007(
    app, vectors, schema, pki
):
    inventory(app)
    registered(app)
    data = signed(
        vectors, IMMEDIATE, pki, change=lambda d: with_element(d, "Certificate", b64(pki.oca.der))
    )
    rejected(
        app, schema, pki, data, check=Check.REQUEST_ISSUING_OCA_CERTIFICATES_INCLUDED, code="E1007"
    )


def test_an_oca_that_issued_no_replacement_fails_the_last_oca_check_with_e1007(
    app, vectors, schema, pki
):
    inventory(app)
    registered(app)
    extra = b"</sr:Certificate><sr:Certificate>" + b64(pki.oca.der) + b"</sr:Certificate>"
    data = signed(
        vectors, IMMEDIATE, pki, change=lambda d: d.replace(b"</sr:Certificate>", extra, 1)
    )
    rejected(app, schema, pki, data, check=Check.REQUEST_OCA_CERTIFICATES_ALL_USED, code="E1007")


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
