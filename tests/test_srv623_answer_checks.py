"""The DCC's checks on the parties' answers to an SRV 6.23 (``application/srv623_answers.py``):
8.4 on a CoS Authorisation Response, 8.4A on the TCoS Party's Signed Pre-Command.

The readers are fakes that give the facts a real reader would (no cryptography here: the
readers' own tests cover that). Each test brings a ServiceRequest to the point where the answer
is recorded, runs the stage, and, when a check fails, records the stage and the rejection as
the chain does: the response code, the clause (8.6, 8.6A) and who is notified."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest

from application.errors import CommandRejected
from application.service import EtmadApplication, UnitOfWork
from application.srv623 import ReplacementFacts, RequestNotVerified, SignerFacts, VerifiedRequest
from application.srv623_answers import (
    AnswerChecked,
    check_authorisation_response,
    check_signed_pre_command,
)
from application.srv623_ports import (
    AuthorisationResponseFacts,
    PreCommandCertificate,
    PreCommandFacts,
    SignatureCheck,
)
from domain import clauses
from domain.identifiers import (
    EUI64,
    CertificateId,
    CosParty,
    DeviceModelKey,
    DeviceType,
    MPxN,
    SmetsGeneration,
    parse_mpxn,
)
from domain.registration import SupplierChange
from domain.routing import RouteInputs, decide_route
from domain.service_request import (
    CheckOutcome,
    Party,
    PartyAnswered,
    Rejected,
    ServiceRequest,
    ServiceRequestStatus,
    StepKind,
    service_request_aggregate_id,
)
from domain.smki import (
    CellUsage,
    KeyUsage,
    RemotePartyRole,
    TrustAnchorCell,
    Validity,
    ValidityCode,
)
from domain.srv623_checks import DCC_8_4_E_RERUNS, Check, Stage, checks_of, response_code
from domain.substantive import CertificateIdentity, CredentialsUpdate, Replacement

S2 = SmetsGeneration.SMETS2_PLUS
S1 = SmetsGeneration.SMETS1
T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)  # received
NOW = T0 + timedelta(hours=1)  # the answer is checked
ORIGINATOR = EUI64.parse("90-B3-D5-1F-30-01-00-00")
OTHER_USER = EUI64.parse("90-B3-D5-1F-30-02-00-00")
TARGET = EUI64.parse("00-DB-12-34-56-78-90-A0")
OTHER_DEVICE = EUI64.parse("00-DB-12-34-56-78-90-A1")
COUNTER = 1006
MPXN = parse_mpxn("1312345678333", mpan_check_digit=False)
OTHER_MPXN = parse_mpxn("1312345678340", mpan_check_digit=False)
MPID, OTHER_MPID = "GTSP", "OTHR"
MODEL = DeviceModelKey("ACME", "E100", "2.0", "0100")
SIGNER = CertificateId(0x1001, "CN=Test OCA")
COS_CERTIFICATE = CertificateId(0x1234, "CN=ECOS,OU=07")
TCOS_CERTIFICATE = CertificateId(0x5678, "CN=TCOS,OU=07")
COS_PARTY_SIGNER = CertificateId(0x2002, "CN=Test OCA")
COS_PARTY_ROLE_CODE = 0x8A  # coSPartyXmlSign: configuration
OCA = "CN=Test OCA"
ROOT_ISSUED_OCA = CertificateId(0x0C, "CN=Test Root")
KEY = service_request_aggregate_id(ORIGINATOR, TARGET, COUNTER)

COUNTERSIGNED = b"<CountersignedCoSServiceRequest/>"
RESPONSE = b"<CoSAuthorisationResponse/>"
REQUEST_XML = b"<sr:Request/>"
PRE_COMMAND = b"\xd9 a CS02b Signed Pre-Command"

DS = TrustAnchorCell(RemotePartyRole.SUPPLIER, KeyUsage.DIGITAL_SIGNATURE, CellUsage.MANAGEMENT)
KA = TrustAnchorCell(RemotePartyRole.SUPPLIER, KeyUsage.KEY_AGREEMENT, CellUsage.MANAGEMENT)
TOP_UP = TrustAnchorCell(
    RemotePartyRole.SUPPLIER, KeyUsage.KEY_AGREEMENT, CellUsage.PREPAYMENT_TOP_UP
)
CELLS = (DS, KA, TOP_UP)
REPLACING = {
    cell: CertificateIdentity.of(f"new {cell}".encode(), certificate_id=CertificateId(n, OCA))
    for n, cell in enumerate(CELLS, start=0x100)
}

RESPONSE_RUN = checks_of(Stage.DCC_COS_AUTHORISATION_RESPONSE)
PRE_COMMAND_RUN = checks_of(Stage.DCC_SIGNED_PRE_COMMAND)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def later(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def valid(at: datetime = NOW) -> Validity:
    return Validity(valid=True, code=ValidityCode.VALID, detail="", at=at, path=())


def expired(at: datetime = NOW) -> Validity:
    return Validity(
        valid=False, code=ValidityCode.EXPIRED, detail="notAfter has passed", at=at, path=()
    )


def update(**changes: Any) -> CredentialsUpdate:
    fields: dict[str, Any] = {
        "device": TARGET,
        "replacements": tuple(Replacement(cell, REPLACING[cell]) for cell in CELLS),
        "supplier_floor_seq_number": 100,
        "prepayment_top_up_floor_seq_number": 5,
        "execution_date_time": None,
    }
    return CredentialsUpdate(**{**fields, **changes})


def verified(*, entity_id: EUI64 = ORIGINATOR, **changes: Any) -> VerifiedRequest:
    """The request as the DCC's reader gives it: every request check passes on it."""
    request = VerifiedRequest(
        originator=ORIGINATOR,
        target=TARGET,
        counter=COUNTER,
        signer=SignerFacts(
            certificate_id=SIGNER,
            entity_id=ORIGINATOR,
            role=RemotePartyRole.XML_SIGN,
            key_usage=KeyUsage.DIGITAL_SIGNATURE,
            validity=valid(T0),
        ),
        mpxn=MPXN,
        command_variant=1,
        requested=update(),
        replacements=tuple(
            ReplacementFacts(
                cell=cell,
                sha256=REPLACING[cell].sha256.hex(),
                certificate_id=REPLACING[cell].certificate_id,
                role=RemotePartyRole.SUPPLIER,
                key_usage=cell.key_usage,
                issuer_included=True,
                entity_id=entity_id,
            )
            for cell in CELLS
        ),
        certification_path=(CertificateId(0x0C, OCA),),
        certification_path_subjects=(OCA,),
    )
    return attrs.evolve(request, **changes)


# --- fake readers ------------------------------------------------------------------------------


class RequestReader:
    """The DCC's ``SignedRequestReader``: gives ``request`` or raises ``refusal``."""

    def __init__(self, request: VerifiedRequest | None = None, refusal: Exception | None = None):
        self.request = request or verified()
        self.refusal = refusal
        self.read_at: list[datetime] = []

    def read(self, data: bytes, *, at: datetime) -> VerifiedRequest:
        assert data == REQUEST_XML
        self.read_at.append(at)
        if self.refusal is not None:
            raise self.refusal
        return self.request


class ResponseReader:
    def __init__(self, facts: AuthorisationResponseFacts) -> None:
        self.facts = facts

    def read_authorisation_response(
        self, xml: bytes, *, at: datetime
    ) -> AuthorisationResponseFacts:
        assert (xml, at) == (RESPONSE, NOW)
        return self.facts


class PreCommandReader:
    """Gives ``facts``; remembers the certificate it was asked to check the signature with."""

    def __init__(self, facts: PreCommandFacts) -> None:
        self.facts = facts
        self.signed_by: list[CertificateId | None] = []

    def read_pre_command(
        self, data: bytes, *, signed_by: CertificateId | None, at: datetime
    ) -> PreCommandFacts:
        assert (data, at) == (PRE_COMMAND, NOW)
        self.signed_by.append(signed_by)
        return self.facts


def response_facts(**changes: Any) -> AuthorisationResponseFacts:
    facts = AuthorisationResponseFacts(
        sha256=sha256(RESPONSE),
        signature=SignatureCheck(
            verified=True,
            certificate_id=COS_PARTY_SIGNER,
            entity_id=EUI64.parse("90-B3-D5-1F-30-0E-C0-50"),
            role_code=COS_PARTY_ROLE_CODE,
            validity=valid(),
        ),
        well_formed=True,
        authorised_at=later(3.5),
        countersigned_request_sha256=sha256(COUNTERSIGNED),
        request_xml=REQUEST_XML,
        signed_pre_command=PRE_COMMAND,
    )
    return attrs.evolve(facts, **changes)


def pre_command_facts(
    *, signer: CertificateId = TCOS_CERTIFICATE, entity_id: EUI64 = ORIGINATOR, **changes: Any
) -> PreCommandFacts:
    organisation = tuple(
        PreCommandCertificate(
            cell=cell,
            certificate_id=REPLACING[cell].certificate_id,
            entity_id=entity_id,
            validity=valid(),
        )
        for cell in CELLS
    )
    path = PreCommandCertificate(
        cell=None, certificate_id=ROOT_ISSUED_OCA, entity_id=None, validity=valid()
    )
    facts = PreCommandFacts(
        sha256=sha256(PRE_COMMAND),
        readable=True,
        device=TARGET,
        update=update(),
        certificates=(*organisation, path),
        signature=SignatureCheck(verified=True, certificate_id=signer, validity=valid()),
    )
    return attrs.evolve(facts, **changes)


# --- the world ---------------------------------------------------------------------------------


def inventory(app: EtmadApplication, *, party: CosParty, smets: SmetsGeneration = S2) -> None:
    """The target ESME, its CoS certificate the CoS Party's (ECoS) or the TCoS Party's."""
    app.register_device_model(
        model=MODEL, device_type=DeviceType.ESME, smets=smets, firmware_rank=1
    )
    app.register_device(
        device_id=TARGET,
        device_type=DeviceType.ESME,
        model=MODEL,
        mpxn=MPXN,
        cos_party=party,
        cos_certificate=TCOS_CERTIFICATE if party is CosParty.TCOS else COS_CERTIFICATE,
    )


def registered(app: EtmadApplication, *, mpxn: MPxN = MPXN, supplier: str = MPID) -> None:
    """Registration Data name ``supplier`` Responsible Supplier since before ``T0``; Party
    Details give ``MPID`` to ``ORIGINATOR`` and ``OTHER_MPID`` to ``OTHER_USER``."""
    app.record_supplier_change(SupplierChange(T0 - timedelta(days=30), supplier, mpxn))
    assert app.party_details is not None
    app.party_details.record_mpid(ORIGINATOR, MPID)
    app.party_details.record_mpid(OTHER_USER, OTHER_MPID)


def all_pass(stage: Stage, smets: SmetsGeneration) -> list[CheckOutcome]:
    return [CheckOutcome(c, passed=True) for c in checks_of(stage, smets1_target=smets is S1)]


def answered(
    app: EtmadApplication,
    *,
    party: Party = Party.COS_PARTY,
    smets: SmetsGeneration = S2,
    requested: CredentialsUpdate | None = None,
) -> ServiceRequest:
    """Receive, route, pass the DCC's request checks, countersign to ``party``, pass its
    checks and record its answer (the chain records ``PartyAnswered`` before the DCC checks
    it)."""
    cos_party = CosParty.TCOS if party is Party.TCOS_PARTY else CosParty.ECOS
    inventory(app, party=cos_party, smets=smets)
    registered(app)
    uow = UnitOfWork(app)

    def record(event: Any) -> ServiceRequest:
        state = uow.record(KEY, ServiceRequest.create, event)
        assert state is not None
        return state

    state = record(
        ServiceRequest.receive(
            originator=ORIGINATOR,
            target=TARGET,
            counter=COUNTER,
            user_id=str(ORIGINATOR),
            signer=SIGNER,
            mpxn=MPXN,
            generation=smets,
            command_variant=1,
            requested=requested or update(),
            at=T0,
        )
    )
    inputs = RouteInputs(
        certificate=TCOS_CERTIFICATE if cos_party is CosParty.TCOS else COS_CERTIFICATE,
        party=cos_party,
        generation=smets,
        command_variant=1,
        smets1_testing_completed_at=T0 - timedelta(days=60),
    )
    state = record(state.record_route(decide_route(inputs, at=T0), at=T0))
    state = record(state.record_stage(Stage.DCC_REQUEST, all_pass(Stage.DCC_REQUEST, smets), at=T0))
    state = record(state.record_countersigned(to=party, artefact=COUNTERSIGNED, at=later(2)))
    stage = Stage.TCOS_PARTY if party is Party.TCOS_PARTY else Stage.COS_PARTY
    state = record(state.record_stage(stage, all_pass(stage, smets), at=later(3)))
    answer = PRE_COMMAND if party is Party.TCOS_PARTY else RESPONSE
    state = record(state.record_answer(party=party, artefact=answer, at=later(4)))
    uow.commit()
    return state


def check_response(
    app: EtmadApplication,
    request: ServiceRequest,
    facts: AuthorisationResponseFacts | None = None,
    *,
    request_reader: RequestReader | None = None,
    pre_command: PreCommandReader | None = None,
) -> AnswerChecked:
    return check_authorisation_response(
        app,
        UnitOfWork(app),
        request,
        RESPONSE,
        response_reader=ResponseReader(facts or response_facts()),
        request_reader=request_reader or RequestReader(),
        pre_command_reader=pre_command
        or PreCommandReader(pre_command_facts(signer=COS_PARTY_SIGNER)),
        cos_party_role_code=COS_PARTY_ROLE_CODE,
        at=NOW,
    )


def check_pre_command(
    app: EtmadApplication,
    request: ServiceRequest,
    facts: PreCommandFacts | None = None,
    *,
    original: VerifiedRequest | None = None,
    reader: PreCommandReader | None = None,
    lookup: Any = None,
) -> AnswerChecked:
    return check_signed_pre_command(
        app,
        UnitOfWork(app),
        request,
        PRE_COMMAND,
        pre_command_reader=reader or PreCommandReader(facts or pre_command_facts()),
        request_reader=RequestReader(),
        original_request=original or verified(),
        lookup=lookup,
        at=NOW,
    )


def assert_stopped_at(result: AnswerChecked, check: Check) -> None:
    """The run is in ``checks_of`` order and ends with ``check`` failed, saying why."""
    run = checks_of(check.stage)
    assert [o.check for o in result.outcomes] == list(run[: run.index(check) + 1])
    assert all(o.passed for o in result.outcomes[:-1])
    last = result.outcomes[-1]
    assert not last.passed
    assert last.detail
    assert (result.passed, result.pre_command, result.undecided) == (False, None, None)
    assert result.failed == last
    assert check.clause == CLAUSE_OF[check]


def rejected(app: EtmadApplication, result: AnswerChecked) -> Rejected:
    """Record the stage and the rejection as the chain does; the Rejected event."""
    uow = UnitOfWork(app)
    state = uow.get(KEY, ServiceRequest.create)
    assert state is not None
    checked = uow.record(
        KEY, ServiceRequest.create, state.record_stage(result.stage, result.outcomes, at=NOW)
    )
    assert checked is not None
    uow.record(KEY, ServiceRequest.create, checked.reject(at=NOW))
    uow.commit()
    loaded = app.load(KEY, ServiceRequest.create)
    assert loaded is not None
    assert loaded.status is ServiceRequestStatus.REJECTED
    assert loaded.rejection is not None
    return loaded.rejection


def assert_rejection(
    app: EtmadApplication, result: AnswerChecked, check: Check, notified: tuple[Party, ...]
) -> None:
    rejection = rejected(app, result)
    assert rejection.check is check
    assert rejection.response_code == response_code(check).code
    expected = {
        Stage.DCC_COS_AUTHORISATION_RESPONSE: ("E67", clauses.SRPD_8_6),
        Stage.DCC_SIGNED_PRE_COMMAND: ("E69", clauses.SRPD_8_6A),
    }[check.stage]
    assert (rejection.response_code, rejection.clause) == expected
    assert rejection.notified == notified
    assert rejection.reasons[0].clause == check.clause
    assert rejection.reasons[0].detail == result.outcomes[-1].detail


CLAUSE_OF = {
    Check.DCC_8_4_A_CRYPTOGRAPHIC_PROTECTION: clauses.SRPD_8_4_A,
    Check.DCC_8_4_B_CONFIRM_VALIDITY: clauses.SRPD_8_4_B,
    Check.DCC_8_4_ROLE_COS_PARTY_XML_SIGN: clauses.SRPD_8_4_ROLE,
    Check.DCC_8_4_C_VALID_AND_WELL_FORMED: clauses.SRPD_8_4_C,
    Check.DCC_8_4_D_MAPS_TO_COUNTERSIGNED_REQUEST: clauses.SRPD_8_4_D,
    **{check: clauses.SRPD_8_4_E for check in RESPONSE_RUN if check.spec.reruns},
    Check.DCC_8_4_F_PRE_COMMAND_SUBSTANTIVELY_IDENTICAL: clauses.SRPD_8_4_F,
    Check.DCC_8_4_G_NOT_A_REPLAY: clauses.SRPD_8_4_G,
    Check.TCOS_8_4A_A_USER_IDS_MATCH_REQUEST: clauses.SRPD_8_4A_A,
    Check.TCOS_8_4A_B_DEVICE_ID_MATCHES_REQUEST: clauses.SRPD_8_4A_B,
    Check.TCOS_8_4A_C_CRYPTOGRAPHIC_PROTECTION: clauses.SRPD_8_4A_C,
    Check.TCOS_8_4A_D_CONFIRM_VALIDITY: clauses.SRPD_8_4A_D,
    Check.TCOS_8_4A_E_PRE_COMMAND_CERTIFICATES_VALID: clauses.SRPD_8_4A_E,
    Check.TCOS_8_4A_F_RESPONSIBLE_SUPPLIER: clauses.SRPD_8_4A_F,
}
USER_AND_COS = (Party.USER, Party.COS_PARTY)
USER_AND_TCOS = (Party.USER, Party.TCOS_PARTY)


def rerun(original: Check) -> Check:
    return Check(f"DCC_8_4_E_{original.value}")


# --- 8.4: a CoS Authorisation Response ---------------------------------------------------------


def test_a_response_passing_every_check_gives_the_pre_command_to_send(app):
    request = answered(app)
    pre_command = PreCommandReader(pre_command_facts(signer=COS_PARTY_SIGNER))
    request_reader = RequestReader()
    result = check_response(app, request, request_reader=request_reader, pre_command=pre_command)
    assert result.passed
    assert [o.check for o in result.outcomes] == list(RESPONSE_RUN)
    assert all(o.passed for o in result.outcomes)
    assert result.pre_command == PRE_COMMAND
    assert (result.undecided, result.missing) == (None, None)
    # 8.4(e) read the inner request again at the time of the check; 8.4(f) read the
    # Pre-Command without checking its signature (the CoS Party's XML signature covers it).
    assert request_reader.read_at == [NOW]
    assert pre_command.signed_by == [None]
    # The chain records the passed stage; the Command is next (8.5).
    uow = UnitOfWork(app)
    checked = uow.record(
        KEY, ServiceRequest.create, request.record_stage(result.stage, result.outcomes, at=NOW)
    )
    assert checked is not None
    assert checked.next_step is not None
    assert checked.next_step.kind is StepKind.COMMAND


def test_a_smets1_response_skips_8_4_f_and_gives_no_pre_command(app):
    request = answered(app, smets=S1)
    pre_command = PreCommandReader(pre_command_facts())
    facts = response_facts(signed_pre_command=None)
    result = check_response(app, request, facts, pre_command=pre_command)
    assert result.passed
    expected = checks_of(Stage.DCC_COS_AUTHORISATION_RESPONSE, smets1_target=True)
    assert Check.DCC_8_4_F_PRE_COMMAND_SUBSTANTIVELY_IDENTICAL not in expected
    assert [o.check for o in result.outcomes] == list(expected)
    assert result.pre_command is None
    assert pre_command.signed_by == []
    uow = UnitOfWork(app)
    checked = uow.record(
        KEY, ServiceRequest.create, request.record_stage(result.stage, result.outcomes, at=NOW)
    )
    assert checked is not None
    assert checked.next_step is not None
    assert checked.next_step.party is Party.SMETS1_SERVICE_PROVIDER


def test_8_4_a_a_response_whose_signature_does_not_verify_is_rejected(app):
    request = answered(app)
    signature = SignatureCheck(verified=False, detail="BAD_SIGNATURE: the digest differs")
    result = check_response(app, request, response_facts(signature=signature))
    assert_stopped_at(result, Check.DCC_8_4_A_CRYPTOGRAPHIC_PROTECTION)
    assert "BAD_SIGNATURE" in result.outcomes[-1].detail
    assert_rejection(app, result, Check.DCC_8_4_A_CRYPTOGRAPHIC_PROTECTION, USER_AND_COS)


def test_8_4_b_a_response_signed_with_an_expired_certificate_is_rejected(app):
    request = answered(app)
    facts = response_facts()
    facts = attrs.evolve(facts, signature=attrs.evolve(facts.signature, validity=expired()))
    result = check_response(app, request, facts)
    assert_stopped_at(result, Check.DCC_8_4_B_CONFIRM_VALIDITY)
    assert "EXPIRED" in result.outcomes[-1].detail
    assert_rejection(app, result, Check.DCC_8_4_B_CONFIRM_VALIDITY, USER_AND_COS)


def test_8_4_role_a_response_signed_without_the_cos_party_xml_sign_role_is_rejected(app):
    request = answered(app)
    facts = response_facts()
    xml_sign = int(RemotePartyRole.XML_SIGN)
    facts = attrs.evolve(facts, signature=attrs.evolve(facts.signature, role_code=xml_sign))
    result = check_response(app, request, facts)
    assert_stopped_at(result, Check.DCC_8_4_ROLE_COS_PARTY_XML_SIGN)
    assert "coSPartyXmlSign (0x8a)" in result.outcomes[-1].detail
    assert_rejection(app, result, Check.DCC_8_4_ROLE_COS_PARTY_XML_SIGN, USER_AND_COS)


def test_8_4_c_a_response_not_well_formed_is_rejected_and_only_the_user_told(app):
    request = answered(app)
    facts = response_facts(well_formed=False, form_detail="SCHEMA: element X not expected")
    result = check_response(app, request, facts)
    assert_stopped_at(result, Check.DCC_8_4_C_VALID_AND_WELL_FORMED)
    assert "SCHEMA" in result.outcomes[-1].detail
    assert_rejection(app, result, Check.DCC_8_4_C_VALID_AND_WELL_FORMED, (Party.USER,))


def test_8_4_d_a_response_to_another_countersigned_request_is_rejected(app):
    request = answered(app)
    facts = response_facts(countersigned_request_sha256=sha256(b"another countersigned request"))
    result = check_response(app, request, facts)
    assert_stopped_at(result, Check.DCC_8_4_D_MAPS_TO_COUNTERSIGNED_REQUEST)
    assert sha256(COUNTERSIGNED) in result.outcomes[-1].detail
    assert_rejection(app, result, Check.DCC_8_4_D_MAPS_TO_COUNTERSIGNED_REQUEST, USER_AND_COS)


def test_8_4_e_an_inner_request_whose_signature_does_not_verify_is_rejected(app):
    request = answered(app)
    refusal = RequestNotVerified("SIGNATURE_INVALID", "the digest differs", signature=True)
    result = check_response(app, request, request_reader=RequestReader(refusal=refusal))
    check = rerun(Check.REQUEST_CRYPTOGRAPHIC_PROTECTION)
    assert_stopped_at(result, check)
    assert "SIGNATURE_INVALID: the digest differs" in result.outcomes[-1].detail
    assert_rejection(app, result, check, USER_AND_COS)


def test_8_4_e_a_change_of_supplier_since_receipt_fails_the_rerun_mpid_check(app):
    request = answered(app)
    # While the CoS Party worked, Registration Data came to name another supplier from before
    # the request's time.
    app.record_supplier_change(SupplierChange(T0 - timedelta(days=1), OTHER_MPID, MPXN))
    result = check_response(app, request)
    check = rerun(Check.REQUEST_MPID_IN_SIGNER_CERTIFICATE)
    assert_stopped_at(result, check)
    assert OTHER_MPID in result.outcomes[-1].detail
    assert_rejection(app, result, check, USER_AND_COS)


def _drop_top_up(request: VerifiedRequest) -> VerifiedRequest:
    return attrs.evolve(request, replacements=request.replacements[:2])


def _role(request: VerifiedRequest) -> VerifiedRequest:
    first = attrs.evolve(request.replacements[0], role=RemotePartyRole.NETWORK_OPERATOR)
    return attrs.evolve(request, replacements=(first, *request.replacements[1:]))


def _key_usage(request: VerifiedRequest) -> VerifiedRequest:
    first = attrs.evolve(request.replacements[0], key_usage=KeyUsage.KEY_AGREEMENT)
    return attrs.evolve(request, replacements=(first, *request.replacements[1:]))


def _no_issuer(request: VerifiedRequest) -> VerifiedRequest:
    first = attrs.evolve(request.replacements[0], issuer_included=False)
    return attrs.evolve(request, replacements=(first, *request.replacements[1:]))


RERUN_FAILURES = {
    Check.REQUEST_SIGNER_CONFIRM_VALIDITY: lambda r: attrs.evolve(
        r, signer=attrs.evolve(r.signer, validity=expired(T0))
    ),
    Check.REQUEST_SIGNER_ROLE_XML_SIGN: lambda r: attrs.evolve(
        r, signer=attrs.evolve(r.signer, role=RemotePartyRole.SUPPLIER)
    ),
    Check.REQUEST_USER_ID_MATCHES_SIGNER: lambda r: attrs.evolve(
        r, signer=attrs.evolve(r.signer, entity_id=OTHER_USER)
    ),
    Check.REQUEST_MPXN_MATCHES_INVENTORY: lambda r: attrs.evolve(r, mpxn=OTHER_MPXN),
    Check.REQUEST_REPLACEMENT_CERTIFICATE_COUNT: _drop_top_up,
    Check.REQUEST_REPLACEMENT_CERTIFICATE_ROLES: _role,
    Check.REQUEST_KEY_USAGE_MATCHES_CELL: _key_usage,
    Check.REQUEST_PREPAYMENT_FLOOR_SEQUENCE_NUMBER: lambda r: attrs.evolve(
        r, requested=update(prepayment_top_up_floor_seq_number=None)
    ),
    Check.REQUEST_ISSUING_OCA_CERTIFICATES_INCLUDED: _no_issuer,
    Check.REQUEST_OCA_CERTIFICATES_ALL_USED: lambda r: attrs.evolve(
        r,
        certification_path=(*r.certification_path, CertificateId(0x0D, OCA)),
        certification_path_subjects=(OCA, "CN=Unused OCA"),
    ),
}


def test_every_8_4_e_rerun_is_covered():
    covered = {
        Check.REQUEST_CRYPTOGRAPHIC_PROTECTION,
        Check.REQUEST_MPID_IN_SIGNER_CERTIFICATE,
        *RERUN_FAILURES,
    }
    assert covered == set(DCC_8_4_E_RERUNS)
    assert Check.REQUEST_NOT_A_REPLAY not in DCC_8_4_E_RERUNS  # 8.4(g) is the replay check


@pytest.mark.parametrize("original", list(RERUN_FAILURES), ids=str)
def test_8_4_e_each_rerun_request_check_rejects_the_response(app, original):
    request = answered(app)
    # OTHER_MPXN is GTSP's too: an inner request naming it passes the MPID re-run.
    app.record_supplier_change(SupplierChange(T0 - timedelta(days=30), MPID, OTHER_MPXN))
    inner = RERUN_FAILURES[original](verified())
    result = check_response(app, request, request_reader=RequestReader(inner))
    check = rerun(original)
    assert check.spec.reruns is original
    assert_stopped_at(result, check)
    assert_rejection(app, result, check, USER_AND_COS)


def test_8_4_e_without_party_details_the_rerun_mpid_check_is_undecided(app):
    request = answered(app)
    app.party_details = None
    result = check_response(app, request)
    check = rerun(Check.REQUEST_MPID_IN_SIGNER_CERTIFICATE)
    assert result.undecided is check
    assert result.missing is not None
    assert "Party Details" in result.missing
    assert [o.check for o in result.outcomes] == list(RESPONSE_RUN[: RESPONSE_RUN.index(check)])
    assert all(o.passed for o in result.outcomes)
    assert (result.passed, result.pre_command) == (False, None)


def test_8_4_f_a_pre_command_not_substantively_identical_is_rejected(app):
    request = answered(app)
    different = pre_command_facts(update=update(supplier_floor_seq_number=101))
    result = check_response(app, request, pre_command=PreCommandReader(different))
    check = Check.DCC_8_4_F_PRE_COMMAND_SUBSTANTIVELY_IDENTICAL
    assert_stopped_at(result, check)
    detail = result.outcomes[-1].detail
    assert "DIFFERENT_FLOOR_SEQUENCE_NUMBER" in detail
    assert "100" in detail
    assert "101" in detail
    assert_rejection(app, result, check, USER_AND_COS)


@pytest.mark.parametrize(
    ("facts", "pre_command", "said"),
    [
        (response_facts(signed_pre_command=None), None, "no Signed Pre-Command"),
        (
            None,
            PreCommandFacts(sha256=sha256(PRE_COMMAND), readable=False, detail="not CS02b"),
            "not CS02b",
        ),
    ],
    ids=["absent", "unreadable"],
)
def test_8_4_f_a_missing_or_unreadable_pre_command_fails_it(app, facts, pre_command, said):
    request = answered(app)
    reader = PreCommandReader(pre_command or pre_command_facts())
    result = check_response(app, request, facts, pre_command=reader)
    assert_stopped_at(result, Check.DCC_8_4_F_PRE_COMMAND_SUBSTANTIVELY_IDENTICAL)
    assert said in result.outcomes[-1].detail


def test_8_4_g_an_inner_request_accepted_for_another_request_id_is_a_replay(app):
    request = answered(app)
    inner = verified(counter=COUNTER - 1)
    result = check_response(app, request, request_reader=RequestReader(inner))
    assert_stopped_at(result, Check.DCC_8_4_G_NOT_A_REPLAY)
    assert "Replay" in result.outcomes[-1].detail
    assert_rejection(app, result, Check.DCC_8_4_G_NOT_A_REPLAY, USER_AND_COS)


@pytest.mark.parametrize(
    "authorised_at",
    [later(1), NOW + timedelta(seconds=1), None],
    ids=["before-countersigning", "after-now", "absent"],
)
def test_8_4_g_a_response_authorised_outside_its_window_is_a_replay(app, authorised_at):
    request = answered(app)
    result = check_response(app, request, response_facts(authorised_at=authorised_at))
    assert_stopped_at(result, Check.DCC_8_4_G_NOT_A_REPLAY)


def test_8_4_g_a_response_already_taken_as_an_answer_is_a_replay(app):
    request = answered(app)
    # An answer with the same digest held before this one (the latest answer is this one).
    earlier = PartyAnswered(
        occurred_at=later(3.9),
        party=Party.COS_PARTY,
        artefact=request.answers[-1].artefact,
        sha256=sha256(RESPONSE),
        clause=request.answers[-1].clause,
    )
    replayed = attrs.evolve(request, answers=(earlier, *request.answers))
    result = check_response(app, replayed)
    assert_stopped_at(result, Check.DCC_8_4_G_NOT_A_REPLAY)
    assert "already taken" in result.outcomes[-1].detail


# --- 8.4A: the TCoS Party's Signed Pre-Command -----------------------------------------------


def test_a_pre_command_passing_every_check_is_the_command_to_send(app):
    request = answered(app, party=Party.TCOS_PARTY)
    reader = PreCommandReader(pre_command_facts())
    result = check_pre_command(app, request, reader=reader)
    assert result.passed
    assert [o.check for o in result.outcomes] == list(PRE_COMMAND_RUN)
    assert result.pre_command == PRE_COMMAND
    # 8.4A(c): checked with the Device's CoS certificate, the TCoS Party's in the inventory.
    assert reader.signed_by == [TCOS_CERTIFICATE]
    uow = UnitOfWork(app)
    checked = uow.record(
        KEY, ServiceRequest.create, request.record_stage(result.stage, result.outcomes, at=NOW)
    )
    assert checked is not None
    assert checked.next_step is not None
    assert checked.next_step.kind is StepKind.COMMAND


def test_8_4a_c_a_pre_command_not_signed_by_the_tcos_party_is_rejected_and_only_the_user_told(
    app,
):
    request = answered(app, party=Party.TCOS_PARTY)
    signature = SignatureCheck(verified=False, detail="BAD_SIGNATURE: not the TCoS key")
    result = check_pre_command(app, request, pre_command_facts(signature=signature))
    assert_stopped_at(result, Check.TCOS_8_4A_C_CRYPTOGRAPHIC_PROTECTION)
    assert "BAD_SIGNATURE" in result.outcomes[-1].detail
    assert_rejection(app, result, Check.TCOS_8_4A_C_CRYPTOGRAPHIC_PROTECTION, (Party.USER,))


def test_8_4a_c_an_unreadable_pre_command_fails_it_with_the_readers_detail(app):
    request = answered(app, party=Party.TCOS_PARTY)
    facts = PreCommandFacts(sha256=sha256(PRE_COMMAND), readable=False, detail="GBCS: truncated")
    result = check_pre_command(app, request, facts)
    assert_stopped_at(result, Check.TCOS_8_4A_C_CRYPTOGRAPHIC_PROTECTION)
    assert "GBCS: truncated" in result.outcomes[-1].detail


def test_8_4a_d_a_pre_command_checked_with_an_expired_certificate_is_rejected(app):
    request = answered(app, party=Party.TCOS_PARTY)
    signature = SignatureCheck(verified=True, certificate_id=TCOS_CERTIFICATE, validity=expired())
    result = check_pre_command(app, request, pre_command_facts(signature=signature))
    assert_stopped_at(result, Check.TCOS_8_4A_D_CONFIRM_VALIDITY)
    assert "EXPIRED" in result.outcomes[-1].detail
    assert_rejection(app, result, Check.TCOS_8_4A_D_CONFIRM_VALIDITY, USER_AND_TCOS)


def test_8_4a_a_an_organisation_certificate_of_another_user_is_rejected(app):
    request = answered(app, party=Party.TCOS_PARTY)
    facts = pre_command_facts()
    ds = attrs.evolve(facts.certificates[0], entity_id=OTHER_USER)
    facts = attrs.evolve(facts, certificates=(ds, *facts.certificates[1:]))
    result = check_pre_command(app, request, facts)
    assert_stopped_at(result, Check.TCOS_8_4A_A_USER_IDS_MATCH_REQUEST)
    assert str(OTHER_USER) in result.outcomes[-1].detail
    assert_rejection(app, result, Check.TCOS_8_4A_A_USER_IDS_MATCH_REQUEST, USER_AND_TCOS)


def test_8_4a_b_a_pre_command_for_another_device_is_rejected(app):
    request = answered(app, party=Party.TCOS_PARTY)
    result = check_pre_command(app, request, pre_command_facts(device=OTHER_DEVICE))
    assert_stopped_at(result, Check.TCOS_8_4A_B_DEVICE_ID_MATCHES_REQUEST)
    assert str(OTHER_DEVICE) in result.outcomes[-1].detail
    assert_rejection(app, result, Check.TCOS_8_4A_B_DEVICE_ID_MATCHES_REQUEST, USER_AND_TCOS)


def test_8_4a_e_a_pre_command_carrying_an_expired_certificate_is_rejected(app):
    request = answered(app, party=Party.TCOS_PARTY)
    facts = pre_command_facts()
    path = attrs.evolve(facts.certificates[-1], validity=expired())
    facts = attrs.evolve(facts, certificates=(*facts.certificates[:-1], path))
    result = check_pre_command(app, request, facts)
    assert_stopped_at(result, Check.TCOS_8_4A_E_PRE_COMMAND_CERTIFICATES_VALID)
    assert str(ROOT_ISSUED_OCA) in result.outcomes[-1].detail
    assert_rejection(app, result, Check.TCOS_8_4A_E_PRE_COMMAND_CERTIFICATES_VALID, USER_AND_TCOS)


def test_8_4a_f_certificates_of_a_user_not_the_responsible_supplier_are_rejected(app):
    request = answered(app, party=Party.TCOS_PARTY)
    # Registration Data now name OTHR, whose User ID is not the certificates'.
    app.record_supplier_change(SupplierChange(T0 - timedelta(days=1), OTHER_MPID, MPXN))
    result = check_pre_command(app, request)
    assert_stopped_at(result, Check.TCOS_8_4A_F_RESPONSIBLE_SUPPLIER)
    assert OTHER_MPID in result.outcomes[-1].detail
    assert_rejection(app, result, Check.TCOS_8_4A_F_RESPONSIBLE_SUPPLIER, USER_AND_TCOS)


def test_8_4a_f_the_responsible_supplier_is_looked_up_on_the_execution_date(app):
    # OTHR (User ID OTHER_USER) becomes Responsible Supplier tomorrow; the request and its
    # Pre-Command are OTHR's, future-dated to after the change.
    switch = NOW + timedelta(days=1)
    executes = update(execution_date_time=switch + timedelta(hours=1))
    request = answered(app, party=Party.TCOS_PARTY, requested=executes)
    app.record_supplier_change(SupplierChange(switch, OTHER_MPID, MPXN))
    original = verified(entity_id=OTHER_USER, requested=executes)
    future = pre_command_facts(entity_id=OTHER_USER, update=executes)
    result = check_pre_command(app, request, future, original=original)
    assert result.passed
    # Immediate, the same certificates are checked against today's supplier, GTSP: not OTHR's.
    immediate = pre_command_facts(entity_id=OTHER_USER, update=update())
    result = check_pre_command(app, request, immediate, original=original)
    assert_stopped_at(result, Check.TCOS_8_4A_F_RESPONSIBLE_SUPPLIER)
    assert MPID in result.outcomes[-1].detail


def test_8_4a_f_without_party_details_is_undecided(app):
    request = answered(app, party=Party.TCOS_PARTY)
    app.party_details = None
    result = check_pre_command(app, request)
    assert result.undecided is Check.TCOS_8_4A_F_RESPONSIBLE_SUPPLIER
    assert result.missing is not None
    assert "Party Details" in result.missing
    assert [o.check for o in result.outcomes] == list(PRE_COMMAND_RUN[:-1])
    assert all(o.passed for o in result.outcomes)
    assert (result.passed, result.pre_command) == (False, None)


class Dsp:
    """A DSP view that names OTHR as Responsible Supplier, OTHR being ORIGINATOR's."""

    def responsible_supplier(self, mpxn: MPxN, on: datetime) -> str | None:
        assert (mpxn, on) == (MPXN, NOW)
        return OTHER_MPID

    def mpids_of(self, user_id: EUI64) -> frozenset[str] | None:
        return frozenset({OTHER_MPID}) if user_id == ORIGINATOR else frozenset()

    def mpxn_of(self, device: EUI64) -> MPxN | None:
        return MPXN if device == TARGET else None


def test_8_4a_f_uses_the_dsp_lookup_when_given(app):
    request = answered(app, party=Party.TCOS_PARTY)
    assert check_pre_command(app, request, lookup=Dsp()).passed


def test_the_original_request_must_be_the_service_requests_own(app):
    request = answered(app, party=Party.TCOS_PARTY)
    with pytest.raises(CommandRejected) as refused:
        check_pre_command(app, request, original=verified(counter=COUNTER + 1))
    assert refused.value.code == "ORIGINAL_REQUEST_MISMATCH"
