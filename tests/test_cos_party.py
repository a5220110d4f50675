"""The CoS Party (SRPD 8.1(b), 8.2, 8.3(a); DOMAIN.md 3.4-3.6): each 8.1(b) check, re-runs
included, failing alone and giving the User its rejection; its own anti-replay record; CoS Party
Threshold Anomaly Detection; the Pre-Command's counter; SMETS1 without a Pre-Command. The
party's ports are small fakes: the artefacts' codecs are tested elsewhere."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest

from application.anomaly_detection import load_adt_file
from application.cos_party import (
    CosPartyService,
    cos_party_counters_aggregate_id,
    cos_party_pre_command_aggregate_id,
    microseconds,
)
from application.srv623 import ReplacementFacts, SignerFacts, VerifiedRequest
from application.srv623_ports import CountersignedFacts, PartyReport, PartyVerdict, SignatureCheck
from domain import clauses
from domain.anomaly_detection import (
    AdtEntry,
    RequestAssessed,
    ThresholdSource,
    Verdict,
    anomaly_detection_aggregate_id,
)
from domain.identifiers import EUI64, MPAN, CertificateId, CosParty, SmetsGeneration
from domain.replay import CounterAccepted, request_counters_aggregate_id
from domain.routing import RouteInputs, RouteTo, decide_route
from domain.service_request import CheckOutcome, Party, ServiceRequest
from domain.smki import (
    CellUsage,
    KeyUsage,
    RemotePartyRole,
    TrustAnchorCell,
    Validity,
    ValidityCode,
)
from domain.srv623_checks import Check, Stage, checks_of, response_code
from domain.substantive import CertificateIdentity, CredentialsUpdate, Replacement

AT = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
ORIGINATOR = EUI64.parse("90-B3-D5-1F-30-01-00-00")
OTHER_USER = EUI64.parse("90-B3-D5-1F-30-02-00-00")
TARGET = EUI64.parse("00-DB-12-34-56-78-90-A0")
MPXN = MPAN.parse("1200023456781")
OCA = "CN=Z1 OCA"
SIGNER = CertificateId(0x1234, OCA)
DCC = CertificateId(0x99, "CN=DCC OCA")
MANAGEMENT = TrustAnchorCell(
    RemotePartyRole.SUPPLIER, KeyUsage.DIGITAL_SIGNATURE, CellUsage.MANAGEMENT
)
TOP_UP = TrustAnchorCell(
    RemotePartyRole.SUPPLIER, KeyUsage.DIGITAL_SIGNATURE, CellUsage.PREPAYMENT_TOP_UP
)
COS_PARTY_CHECKS = checks_of(Stage.COS_PARTY)


def valid(at: datetime = AT) -> Validity:
    return Validity(valid=True, code=ValidityCode.VALID, detail="", at=at, path=())


def expired(at: datetime = AT) -> Validity:
    return Validity(
        valid=False, code=ValidityCode.EXPIRED, detail="notAfter passed", at=at, path=()
    )


def replacement(
    *, entity_id: EUI64 | None = ORIGINATOR, cell: TrustAnchorCell = MANAGEMENT, **changes: Any
) -> ReplacementFacts:
    return ReplacementFacts(
        cell=cell,
        sha256="ab" * 32,
        certificate_id=CertificateId(0x42, OCA),
        role=changes.pop("role", RemotePartyRole.SUPPLIER),
        key_usage=changes.pop("key_usage", KeyUsage.DIGITAL_SIGNATURE),
        issuer_included=changes.pop("issuer_included", True),
        entity_id=entity_id,
    )


def request(
    *,
    counter: int = 7,
    originator: EUI64 = ORIGINATOR,
    replacements: tuple[ReplacementFacts, ...] | None = None,
    execution: datetime | None = None,
    **changes: Any,
) -> VerifiedRequest:
    """A verified SRV 6.23 request that passes every check the parties run; ``changes`` set
    ``signer`` fields (``signer_*``) or the request's own."""
    replacements = replacements or (replacement(entity_id=originator),)
    signer = SignerFacts(
        certificate_id=SIGNER,
        entity_id=changes.pop("signer_entity_id", originator),
        role=changes.pop("signer_role", RemotePartyRole.XML_SIGN),
        key_usage=KeyUsage.DIGITAL_SIGNATURE,
        validity=changes.pop("signer_validity", valid()),
    )
    requested = CredentialsUpdate(
        device=TARGET,
        replacements=tuple(
            Replacement(r.cell, CertificateIdentity.of(bytes([i])))
            for i, r in enumerate(replacements)
        ),
        supplier_floor_seq_number=100,
        prepayment_top_up_floor_seq_number=changes.pop("top_up_floor", None),
        execution_date_time=execution,
    )
    fields: dict[str, Any] = {
        "originator": originator,
        "target": TARGET,
        "counter": counter,
        "signer": signer,
        "mpxn": MPXN,
        "command_variant": 1,
        "requested": requested,
        "replacements": replacements,
        "certification_path": (CertificateId(0x7, "CN=Root"),),
        "certification_path_subjects": (OCA,),
    }
    fields.update(changes)
    return VerifiedRequest(**fields)


def countersigned(
    inner: VerifiedRequest | None, *, request_failure: str = "", **changes: Any
) -> CountersignedFacts:
    """The facts a party's reader gives for a Countersigned CoS Service Request around
    ``inner`` (None: the inner request did not verify)."""
    countersignature = SignatureCheck(
        verified=changes.pop("verified", True),
        detail=changes.pop("detail", ""),
        certificate_id=DCC,
        validity=changes.pop("validity", valid()),
    )
    return CountersignedFacts(
        sha256="cd" * 32,
        countersigned_at=AT,
        countersignature=countersignature,
        request_xml=b"<request/>",
        request=inner,
        request_failure=request_failure,
    )


class FakeReader:
    """The party's ``CountersignedRequestReader``: gives the facts it was told for each
    artefact."""

    def __init__(self) -> None:
        self.facts: dict[bytes, CountersignedFacts] = {}

    def artefact(self, facts: CountersignedFacts) -> bytes:
        xml = f"<countersigned n='{len(self.facts)}'/>".encode()
        self.facts[xml] = facts
        return xml

    def read_countersigned(self, xml: bytes, *, at: datetime) -> CountersignedFacts:
        del at
        return self.facts[xml]


@attrs.define
class FakeSigner:
    """A ``PreCommandSigner``: the Pre-Command names its counter."""

    counters: list[int] = attrs.Factory(list)

    def sign_pre_command(self, request_xml: bytes, *, counter: int, at: datetime) -> bytes:
        del at
        self.counters.append(counter)
        return b"pre-command " + str(counter).encode() + b" of " + request_xml


@attrs.define
class FakeWriter:
    """An ``AuthorisationResponseWriter``: the response carries what it was given."""

    carried: list[bytes | None] = attrs.Factory(list)

    def write_authorisation_response(
        self, countersigned_xml: bytes, *, signed_pre_command: bytes | None, at: datetime
    ) -> bytes:
        del at
        self.carried.append(signed_pre_command)
        return b"response to " + countersigned_xml + b" with " + (signed_pre_command or b"none")


@attrs.define
class Harness:
    service: CosPartyService
    reader: FakeReader
    signer: FakeSigner
    writer: FakeWriter

    def handle(self, facts: CountersignedFacts, at: datetime = AT) -> PartyReport:
        return self.service.handle(self.reader.artefact(facts), at=at)


def cos_party(app, *, smets1: Callable[[EUI64], bool] = lambda _: False) -> Harness:
    reader, signer, writer = FakeReader(), FakeSigner(), FakeWriter()
    service = CosPartyService(
        app,
        countersigned_reader=reader,
        pre_command_signer=signer,
        response_writer=writer,
        smets1=smets1,
    )
    return Harness(service, reader, signer, writer)


def adt_file(app, *, adt: int, warning: int, at: datetime = AT - timedelta(days=1)) -> None:
    load_adt_file(
        app,
        user_id=str(ORIGINATOR),
        sequence_number=1,
        entries=(AdtEntry(srv="6.23", time_period_minutes=1440, adt=adt, warning=warning),),
        at=at,
    )


def events_of(app, aggregate_id: str) -> list[Any]:
    return [e.event for e in app.stored(aggregate_id)]


# --- the DCC's record of the party's report ----------------------------------------------------


def routed_request(
    inner: VerifiedRequest, party: CosParty, generation=SmetsGeneration.SMETS2_PLUS
) -> ServiceRequest:
    """The DCC's ServiceRequest for ``inner``, routed to ``party`` and countersigned to it."""
    received = ServiceRequest.receive(
        originator=inner.originator,
        target=inner.target,
        counter=inner.counter,
        user_id=inner.user_id,
        signer=inner.signer.certificate_id,
        mpxn=inner.mpxn,
        generation=generation,
        command_variant=inner.command_variant,
        requested=inner.requested,
        at=AT - timedelta(minutes=5),
    )
    state = ServiceRequest.create(received, 1)
    inputs = RouteInputs(
        certificate=CertificateId(11 if party is CosParty.TCOS else 22, "CN=CoS CA"),
        party=party,
        generation=generation,
        command_variant=inner.command_variant,
        smets1_testing_completed_at=AT - timedelta(days=30),
    )
    when = AT - timedelta(minutes=4)
    state = state.apply(state.record_route(decide_route(inputs, at=when), at=when), 2)
    passed = [CheckOutcome(c, passed=True) for c in checks_of(Stage.DCC_REQUEST)]
    when += timedelta(minutes=1)
    state = state.apply(state.record_stage(Stage.DCC_REQUEST, passed, at=when), 3)
    to = Party.TCOS_PARTY if party is CosParty.TCOS else Party.COS_PARTY
    when += timedelta(minutes=1)
    return state.apply(state.record_countersigned(to=to, artefact=b"<cs/>", at=when), 4)


def assert_rejected_by(report: PartyReport, inner: VerifiedRequest, check: Check) -> None:
    """The report refuses at ``check`` (every check before it passed), and folded into the
    DCC's ServiceRequest it rejects the request with ``check``'s code, under 8.3 / 8.3A, the
    User notified."""
    assert report.verdict is PartyVerdict.REFUSED
    assert report.answer is None
    run = checks_of(check.stage)
    assert [o.check for o in report.outcomes] == list(run[: run.index(check) + 1])
    assert all(o.passed for o in report.outcomes[:-1])
    assert not report.outcomes[-1].passed
    assert report.outcomes[-1].detail
    party = CosParty.TCOS if report.stage is Stage.TCOS_PARTY else CosParty.ECOS
    state = routed_request(inner, party)
    assert state.route is not None
    assert state.route.route is (
        RouteTo.TCOS_PARTY if party is CosParty.TCOS else RouteTo.COS_PARTY
    )
    checked = state.record_stage(report.stage, report.outcomes, at=AT + timedelta(minutes=1))
    state = state.apply(checked, state.version + 1)
    rejected = state.reject(at=AT + timedelta(minutes=2))
    assert rejected.check is check
    assert rejected.response_code == response_code(check).code
    assert rejected.clause == (clauses.SRPD_8_3A if party is CosParty.TCOS else clauses.SRPD_8_3)
    assert rejected.notified == (Party.USER,)


def assert_nothing_recorded(app) -> None:
    assert app.process_recorder.max_notification_id() in (None, 0)


# --- 8.1(b): each check failing ----------------------------------------------------------------


def _failing(check: Check) -> tuple[VerifiedRequest | None, CountersignedFacts]:
    """A Countersigned CoS Service Request failing exactly ``check`` (8.1(b)(i)-(iii))."""
    good = request()
    cases: dict[Check, tuple[VerifiedRequest | None, CountersignedFacts]] = {
        Check.COS_8_1_B_I_CRYPTOGRAPHIC_PROTECTION: (
            good,
            countersigned(good, verified=False, detail="BAD_SIGNATURE: digest differs"),
        ),
        Check.COS_8_1_B_II_CONFIRM_VALIDITY: (good, countersigned(good, validity=expired())),
        Check.COS_8_1_B_III_REQUEST_CRYPTOGRAPHIC_PROTECTION: (
            None,
            countersigned(None, request_failure="E2: the request's signature does not verify"),
        ),
    }
    if check in cases:
        return cases[check]
    inner = {
        Check.COS_8_1_B_III_REQUEST_SIGNER_CONFIRM_VALIDITY: lambda: request(
            signer_validity=expired()
        ),
        Check.COS_8_1_B_III_REQUEST_SIGNER_ROLE_XML_SIGN: lambda: request(
            signer_role=RemotePartyRole.SUPPLIER
        ),
        Check.COS_8_1_B_III_REQUEST_USER_ID_MATCHES_SIGNER: lambda: request(
            signer_entity_id=OTHER_USER
        ),
        Check.COS_8_1_B_III_REQUEST_REPLACEMENT_CERTIFICATE_ROLES: lambda: request(
            replacements=(replacement(role=RemotePartyRole.NETWORK_OPERATOR),)
        ),
        Check.COS_8_1_B_III_REQUEST_KEY_USAGE_MATCHES_CELL: lambda: request(
            replacements=(replacement(key_usage=KeyUsage.KEY_AGREEMENT),)
        ),
        Check.COS_8_1_B_III_REQUEST_PREPAYMENT_FLOOR_SEQUENCE_NUMBER: lambda: request(
            replacements=(replacement(cell=TOP_UP),)
        ),
        Check.COS_8_1_B_III_REQUEST_ISSUING_OCA_CERTIFICATES_INCLUDED: lambda: request(
            replacements=(replacement(issuer_included=False),)
        ),
        Check.COS_8_1_B_III_REQUEST_OCA_CERTIFICATES_ALL_USED: lambda: request(
            certification_path=(CertificateId(0x7, "CN=Root"), CertificateId(0x8, "CN=Root")),
            certification_path_subjects=(OCA, "CN=Unused OCA"),
        ),
    }[check]()
    return inner, countersigned(inner)


@pytest.mark.parametrize(
    "check", [c for c in COS_PARTY_CHECKS if c is not Check.COS_8_1_B_IV_NOT_A_REPLAY]
)
def test_each_check_of_8_1_b_failing_refuses_and_the_dcc_rejects_with_its_code(app, check):
    inner, facts = _failing(check)
    party = cos_party(app)
    report = party.handle(facts)
    assert report.party is Party.COS_PARTY
    assert report.stage is Stage.COS_PARTY
    assert_rejected_by(report, inner or request(), check)
    # 8.3(a): no further processing, nothing recorded, no artefact written.
    assert report.anomaly is None
    assert party.signer.counters == []
    assert party.writer.carried == []
    assert_nothing_recorded(app)


def test_a_rerun_the_party_cannot_decide_fails(app):
    inner = request(certification_path_subjects=None)
    report = cos_party(app).handle(countersigned(inner))
    assert_rejected_by(report, inner, Check.COS_8_1_B_III_REQUEST_OCA_CERTIFICATES_ALL_USED)
    assert "cannot be confirmed" in report.outcomes[-1].detail


def test_a_request_the_party_already_answered_is_a_replay(app):
    adt_file(app, adt=10, warning=0)
    party = cos_party(app)
    first = request(counter=7)
    assert party.handle(countersigned(first)).verdict is PartyVerdict.ANSWERED
    for counter in (7, 6):
        again = request(counter=counter)
        report = party.handle(countersigned(again), at=AT + timedelta(minutes=1))
        assert_rejected_by(report, again, Check.COS_8_1_B_IV_NOT_A_REPLAY)
        assert "Replay" in report.outcomes[-1].detail
    # Only the first was answered: one counter accepted, one assessment, one Pre-Command.
    assert len(events_of(app, cos_party_counters_aggregate_id(ORIGINATOR))) == 1
    assert len(events_of(app, anomaly_detection_aggregate_id(str(ORIGINATOR)))) == 2
    assert party.signer.counters == [microseconds(AT)]
    later = request(counter=8)
    assert party.handle(countersigned(later), at=AT + timedelta(minutes=2)).verdict is (
        PartyVerdict.ANSWERED
    )


# --- 8.2: answering ----------------------------------------------------------------------------


def test_a_passing_request_is_answered_with_the_response_carrying_the_pre_command(app):
    adt_file(app, adt=10, warning=0)
    party = cos_party(app)
    inner = request()
    report = party.handle(countersigned(inner))
    assert report.verdict is PartyVerdict.ANSWERED
    assert report.outcomes == tuple(CheckOutcome(c, passed=True) for c in COS_PARTY_CHECKS)
    assert report.request_id == inner.request_id
    pre_command = b"pre-command " + str(microseconds(AT)).encode() + b" of <request/>"
    assert party.signer.counters == [microseconds(AT)]
    assert party.writer.carried == [pre_command]
    assert report.answer is not None
    assert report.answer.endswith(b" with " + pre_command)
    assert report.anomaly is not None
    assert report.anomaly.verdict is Verdict.PROCEED
    # The party's own records, in one unit of work: its replay record (not the DCC's), the
    # assessment, and the Pre-Command counter used for the Device.
    (accepted,) = events_of(app, cos_party_counters_aggregate_id(ORIGINATOR))
    assert isinstance(accepted, CounterAccepted)
    assert (accepted.counter, accepted.clause) == (7, clauses.SRPD_8_1_B_IV)
    assert events_of(app, request_counters_aggregate_id(ORIGINATOR)) == []
    _, assessed = events_of(app, anomaly_detection_aggregate_id(str(ORIGINATOR)))
    assert isinstance(assessed, RequestAssessed)
    assert assessed.request == f"service-request:{ORIGINATOR}:{TARGET}:7"
    (used,) = events_of(app, cos_party_pre_command_aggregate_id(TARGET))
    assert (used.counter, used.clause) == (microseconds(AT), clauses.SRPD_8_2_A)
    saved = [e.originator_id for e in app.stored(cos_party_counters_aggregate_id(ORIGINATOR))]
    assert saved == [cos_party_counters_aggregate_id(ORIGINATOR)]


def test_a_smets1_target_gets_a_response_without_a_pre_command(app):
    adt_file(app, adt=10, warning=0)
    asked: list[EUI64] = []

    def smets1(device: EUI64) -> bool:
        asked.append(device)
        return True

    party = cos_party(app, smets1=smets1)
    report = party.handle(countersigned(request()))
    assert report.verdict is PartyVerdict.ANSWERED
    assert asked == [TARGET]
    assert party.signer.counters == []
    assert party.writer.carried == [None]  # 8.2(b)
    assert events_of(app, cos_party_pre_command_aggregate_id(TARGET)) == []
    assert len(events_of(app, cos_party_counters_aggregate_id(ORIGINATOR))) == 1


def test_pre_command_counters_rise_above_the_last_used_for_the_device(app):
    adt_file(app, adt=10, warning=0)
    party = cos_party(app)
    for counter in (1, 2):  # two requests signed in the same microsecond
        assert party.handle(countersigned(request(counter=counter))).verdict is (
            PartyVerdict.ANSWERED
        )
    later = AT + timedelta(seconds=1)
    party.handle(countersigned(request(counter=3)), at=later)
    assert party.signer.counters == [microseconds(AT), microseconds(AT) + 1, microseconds(later)]


# --- 8.2, SRPD 20: CoS Party Threshold Anomaly Detection ---------------------------------------


def test_a_user_without_an_adt_file_is_ceased(app):
    party = cos_party(app)
    inner = request()
    report = party.handle(countersigned(inner))
    assert report.verdict is PartyVerdict.CEASED
    assert report.answer is None
    assert report.outcomes == tuple(CheckOutcome(c, passed=True) for c in COS_PARTY_CHECKS)
    assert report.anomaly is not None
    assert report.anomaly.source is ThresholdSource.NO_ADT_FILE
    assert report.anomaly.ceases
    assert party.signer.counters == []
    assert party.writer.carried == []
    # Only the assessment is recorded: the counter is not accepted, the request may be resent.
    (assessed,) = events_of(app, anomaly_detection_aggregate_id(str(ORIGINATOR)))
    assert isinstance(assessed, RequestAssessed)
    assert events_of(app, cos_party_counters_aggregate_id(ORIGINATOR)) == []
    adt_file(app, adt=1, warning=0, at=AT + timedelta(minutes=1))
    resent = party.handle(countersigned(inner), at=AT + timedelta(minutes=2))
    assert resent.verdict is PartyVerdict.ANSWERED


def test_a_user_is_warned_then_ceased_inside_1440_minutes_and_counted_again_after(app):
    adt_file(app, adt=2, warning=2)
    party = cos_party(app)
    verdicts = []
    for minute, counter in ((0, 1), (10, 2), (20, 3)):
        report = party.handle(
            countersigned(request(counter=counter)), at=AT + timedelta(minutes=minute)
        )
        assert report.anomaly is not None
        verdicts.append((report.verdict, report.anomaly.verdict, report.anomaly.count))
    assert verdicts == [
        (PartyVerdict.ANSWERED, Verdict.PROCEED, 1),
        (PartyVerdict.ANSWERED, Verdict.WARN, 2),  # a warning is an answer, and reported
        (PartyVerdict.CEASED, Verdict.CEASE, 3),
    ]
    # After the 1440 minutes of the first two, counting starts again.
    after = AT + timedelta(minutes=10 + 1440)
    report = party.handle(countersigned(request(counter=4)), at=after)
    assert report.verdict is PartyVerdict.ANSWERED
    assert report.anomaly is not None
    assert (report.anomaly.verdict, report.anomaly.count) == (Verdict.PROCEED, 1)
