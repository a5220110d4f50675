"""The SRV 6.23 ServiceRequest aggregate (DOMAIN.md 3.4) and the per-originator anti-replay
record: each path told as a story, every refusal of an out-of-order step, a rejection at each
stage with who is told, and a property that any run of accepted commands folds to a consistent
state."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from domain import clauses
from domain.errors import RuleViolation
from domain.events import DomainEvent
from domain.identifiers import EUI64, MPAN, CertificateId, CosParty, SmetsGeneration
from domain.replay import (
    CounterAccepted,
    RequestCounterRecord,
    request_counters_aggregate_id,
)
from domain.routing import Route, RouteInputs, RouteTo, decide_route
from domain.service_request import (
    Artefact,
    Ceased,
    CheckOutcome,
    CommandIssued,
    Countersigned,
    DeviceResponded,
    Party,
    PartyAnswered,
    Received,
    Rejected,
    RejectionReason,
    Routed,
    ServiceRequest,
    ServiceRequestStatus,
    StageChecked,
    Succeeded,
    notified_of,
    service_request_aggregate_id,
)
from domain.smki import CellUsage, KeyUsage, RemotePartyRole, TrustAnchorCell
from domain.srv623_checks import Check, Stage, checks_of, response_code
from domain.substantive import CertificateIdentity, CredentialsUpdate, Replacement

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
ORIGINATOR = EUI64.parse("90-B3-D5-1F-30-01-00-00")
TARGET = EUI64.parse("00-DB-12-34-56-78-90-A0")
SIGNER = CertificateId(0x1234, "CN=Z1")
TCOS_CERT = CertificateId(11, "CN=TCoS CA")
ECOS_CERT = CertificateId(22, "CN=ECoS CA")
S2 = SmetsGeneration.SMETS2_PLUS
S1 = SmetsGeneration.SMETS1


def later(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def update(device: EUI64 = TARGET) -> CredentialsUpdate:
    cell = TrustAnchorCell(
        RemotePartyRole.SUPPLIER, KeyUsage.DIGITAL_SIGNATURE, CellUsage.MANAGEMENT
    )
    return CredentialsUpdate(
        device=device,
        replacements=(Replacement(cell, CertificateIdentity.of(b"new supplier DS cert")),),
        supplier_floor_seq_number=100,
    )


def received(generation: SmetsGeneration = S2, counter: int = 7, variant: int = 1) -> Received:
    return ServiceRequest.receive(
        originator=ORIGINATOR,
        target=TARGET,
        counter=counter,
        user_id="Z1-SUPPLIER",
        signer=SIGNER,
        mpxn=MPAN.parse("1200023456781"),
        generation=generation,
        command_variant=variant,
        requested=update(),
        at=T0,
    )


def route(
    party: CosParty | None, generation: SmetsGeneration = S2, variant: int = 1, *, ready=True
) -> Route:
    certificate = {CosParty.TCOS: TCOS_CERT, CosParty.ECOS: ECOS_CERT, None: ECOS_CERT}[party]
    inputs = RouteInputs(
        certificate=certificate,
        party=party,
        generation=generation,
        command_variant=variant,
        smets1_testing_completed_at=T0 - timedelta(days=30) if ready else None,
    )
    return decide_route(inputs, at=T0)


class Story:
    """A request and its events so far; each step records the event the command returns."""

    def __init__(self, first: Received) -> None:
        self.events: list[DomainEvent] = [first]
        self.state = ServiceRequest.create(first, 1)
        self.minute = 0

    def do(self, step: Callable[..., DomainEvent], /, *args: Any, **kwargs: Any) -> DomainEvent:
        self.minute += 1
        event = step(*args, at=later(self.minute), **kwargs)
        self.events.append(event)
        self.state = self.state.apply(event, len(self.events))
        return event

    def refused(self, step: Callable[..., DomainEvent], /, *args: Any, **kwargs: Any) -> str:
        with pytest.raises(RuleViolation) as refusal:
            step(*args, at=later(self.minute + 1), **kwargs)
        return refusal.value.code

    @property
    def s(self) -> ServiceRequest:
        return self.state

    def status(self) -> ServiceRequestStatus:
        return self.state.status


def all_pass(stage: Stage, generation: SmetsGeneration = S2) -> list[CheckOutcome]:
    return [CheckOutcome(c, passed=True) for c in checks_of(stage, smets1_target=generation is S1)]


def failing_at(check: Check, generation: SmetsGeneration = S2) -> list[CheckOutcome]:
    run = checks_of(check.stage, smets1_target=generation is S1)
    before = run[: run.index(check)]
    return [
        *(CheckOutcome(c, passed=True) for c in before),
        CheckOutcome(check, passed=False, detail="it did not"),
    ]


def fold(events: Iterable[DomainEvent]) -> ServiceRequest:
    events = list(events)
    state = ServiceRequest.create(events[0], 1)
    for version, later_event in enumerate(events[1:], start=2):
        state = state.apply(later_event, version)
    return state


def routed(party: CosParty | None, generation: SmetsGeneration = S2) -> Story:
    story = Story(received(generation))
    story.do(story.s.record_route, route(party, generation))
    return story


def through_dcc_request(party: CosParty, generation: SmetsGeneration = S2) -> Story:
    story = routed(party, generation)
    story.do(story.s.record_stage, Stage.DCC_REQUEST, all_pass(Stage.DCC_REQUEST, generation))
    return story


# --- happy paths ----------------------------------------------------------------------------


def test_tcos_party_path_smets2_from_receipt_to_success():
    story = routed(CosParty.TCOS)
    assert story.s.route is not None
    assert story.s.route.route is RouteTo.TCOS_PARTY
    assert story.s.aggregate_id == f"service-request:{ORIGINATOR}:{TARGET}:7"
    # The DCC's own SRPD 6.1 checks, then the countersigned request to the TCoS Party (8.1A(a))
    story.do(story.s.record_stage, Stage.DCC_REQUEST, all_pass(Stage.DCC_REQUEST))
    sent = story.do(story.s.record_countersigned, to=Party.TCOS_PARTY, artefact=b"countersigned")
    assert isinstance(sent, Countersigned)
    assert sent.clause == clauses.SRPD_8_1A_A
    # The TCoS Party's 8.1A(b) checks, and its Signed Pre-Command (8.2A)
    story.do(story.s.record_stage, Stage.TCOS_PARTY, all_pass(Stage.TCOS_PARTY))
    answer = story.do(story.s.record_answer, party=Party.TCOS_PARTY, artefact=b"pre-command")
    assert isinstance(answer, PartyAnswered)
    assert (answer.artefact, answer.clause) == (Artefact.SIGNED_PRE_COMMAND, clauses.SRPD_8_2A)
    # The DCC's 8.4A checks, the Command (8.5A), success
    story.do(
        story.s.record_stage, Stage.DCC_SIGNED_PRE_COMMAND, all_pass(Stage.DCC_SIGNED_PRE_COMMAND)
    )
    command = story.do(story.s.record_command, command=b"command", transport="dcc-transport")
    assert isinstance(command, CommandIssued)
    assert command.clause == clauses.SRPD_8_5A
    done = story.do(story.s.succeed)
    assert isinstance(done, Succeeded)
    assert done.clause == clauses.SRPD_8_5A

    s = story.s
    assert s.status is ServiceRequestStatus.SUCCEEDED
    assert [x.stage for x in s.stages] == [
        Stage.DCC_REQUEST,
        Stage.TCOS_PARTY,
        Stage.DCC_SIGNED_PRE_COMMAND,
    ]
    assert all(x.failed is None for x in s.stages)
    assert s.response_code is None
    assert s.next_step is None
    assert s.requested == update()
    assert fold(story.events) == s


def test_the_digests_are_the_sha256_of_the_artefacts():
    story = through_dcc_request(CosParty.TCOS)
    sent = story.do(story.s.record_countersigned, to=Party.TCOS_PARTY, artefact=b"abc")
    assert isinstance(sent, Countersigned)
    assert sent.sha256 == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_cos_party_path_smets2_from_receipt_to_success():
    story = through_dcc_request(CosParty.ECOS)
    assert story.s.route_to is RouteTo.COS_PARTY
    sent = story.do(story.s.record_countersigned, to=Party.COS_PARTY, artefact=b"countersigned")
    assert isinstance(sent, Countersigned)
    assert sent.clause == clauses.SRPD_8_1_A
    story.do(story.s.record_stage, Stage.COS_PARTY, all_pass(Stage.COS_PARTY))
    answer = story.do(story.s.record_answer, party=Party.COS_PARTY, artefact=b"response")
    assert isinstance(answer, PartyAnswered)
    assert (answer.artefact, answer.clause) == (
        Artefact.COS_AUTHORISATION_RESPONSE,
        clauses.SRPD_8_2_A,
    )
    checked = story.do(
        story.s.record_stage,
        Stage.DCC_COS_AUTHORISATION_RESPONSE,
        all_pass(Stage.DCC_COS_AUTHORISATION_RESPONSE),
    )
    assert isinstance(checked, StageChecked)
    assert Check.DCC_8_4_F_PRE_COMMAND_SUBSTANTIVELY_IDENTICAL in [
        o.check for o in checked.outcomes
    ]
    command = story.do(story.s.record_command, command=b"command", transport="dcc-transport")
    assert isinstance(command, CommandIssued)
    assert command.clause == clauses.SRPD_8_5
    story.do(story.s.succeed)
    assert story.status() is ServiceRequestStatus.SUCCEEDED
    assert story.s.outcome_of(Stage.COS_PARTY) is not None
    assert story.s.outcome_of(Stage.TCOS_PARTY) is None
    assert fold(story.events) == story.s


def test_cos_party_path_smets1_ends_with_the_countersigned_request_to_the_smets1_provider():
    story = through_dcc_request(CosParty.ECOS, S1)
    story.do(story.s.record_countersigned, to=Party.COS_PARTY, artefact=b"countersigned")
    story.do(story.s.record_stage, Stage.COS_PARTY, all_pass(Stage.COS_PARTY, S1))
    answer = story.do(story.s.record_answer, party=Party.COS_PARTY, artefact=b"response")
    assert isinstance(answer, PartyAnswered)
    assert answer.clause == clauses.SRPD_8_2_B  # no Pre-Command for SMETS1
    # 8.4(f) does not run for a SMETS1 target
    run = all_pass(Stage.DCC_COS_AUTHORISATION_RESPONSE, S1)
    assert Check.DCC_8_4_F_PRE_COMMAND_SUBSTANTIVELY_IDENTICAL not in [o.check for o in run]
    story.do(story.s.record_stage, Stage.DCC_COS_AUTHORISATION_RESPONSE, run)
    # no Command for SMETS1: the DCC countersigns to the SMETS1 Service Provider (8.5)
    code = story.refused(story.s.record_command, command=b"command", transport="t")
    assert code == "NO_COMMAND_FOR_SMETS1"
    onward = story.do(
        story.s.record_countersigned, to=Party.SMETS1_SERVICE_PROVIDER, artefact=b"to S1SP"
    )
    assert isinstance(onward, Countersigned)
    assert onward.clause == clauses.SRPD_8_5
    done = story.do(story.s.succeed)
    assert isinstance(done, Succeeded)
    assert done.clause == clauses.SRPD_8_5
    assert story.status() is ServiceRequestStatus.SUCCEEDED
    assert story.s.command is None
    assert [c.to for c in story.s.countersigned] == [
        Party.COS_PARTY,
        Party.SMETS1_SERVICE_PROVIDER,
    ]


def test_a_smets1_request_to_a_tcos_device_leaves_on_the_legacy_path_and_nothing_follows():
    story = routed(CosParty.TCOS, S1)
    assert story.status() is ServiceRequestStatus.LEFT_ON_LEGACY_PATH
    assert story.s.next_step is None
    code = story.refused(story.s.record_stage, Stage.DCC_REQUEST, all_pass(Stage.DCC_REQUEST, S1))
    assert code == "LEFT_ON_LEGACY_PATH"
    assert story.refused(story.s.reject) == "LEFT_ON_LEGACY_PATH"


# --- refusals of out-of-order steps ---------------------------------------------------------


def test_nothing_but_routing_comes_before_routing():
    story = Story(received())
    assert story.status() is ServiceRequestStatus.RECEIVED
    assert story.refused(story.s.record_stage, Stage.DCC_REQUEST, []) == "NOT_ROUTED"
    assert (
        story.refused(story.s.record_countersigned, to=Party.COS_PARTY, artefact=b"x")
        == "NOT_ROUTED"
    )
    assert story.refused(story.s.record_answer, party=Party.COS_PARTY, artefact=b"x") == (
        "NOT_ROUTED"
    )
    assert story.refused(story.s.record_command, command=b"x", transport="t") == "NOT_ROUTED"
    assert story.refused(story.s.succeed) == "NOT_ROUTED"
    assert story.refused(story.s.reject) == "NOTHING_TO_REJECT"


def test_a_request_is_routed_once_and_by_a_route_decided_for_it():
    story = Story(received())
    assert story.refused(story.s.record_route, route(CosParty.ECOS, S1)) == (
        "ROUTE_NOT_FOR_THIS_REQUEST"
    )
    assert story.refused(story.s.record_route, route(CosParty.ECOS, variant=4)) == (
        "ROUTE_NOT_FOR_THIS_REQUEST"
    )
    story.do(story.s.record_route, route(CosParty.ECOS))
    assert story.refused(story.s.record_route, route(CosParty.ECOS)) == "ALREADY_ROUTED"


def test_a_stage_runs_only_after_routing_to_its_party():
    tcos = routed(CosParty.TCOS)
    cos = routed(CosParty.ECOS)
    tcos.do(tcos.s.record_stage, Stage.DCC_REQUEST, all_pass(Stage.DCC_REQUEST))
    cos.do(cos.s.record_stage, Stage.DCC_REQUEST, all_pass(Stage.DCC_REQUEST))
    for stage in (Stage.COS_PARTY, Stage.DCC_COS_AUTHORISATION_RESPONSE):
        assert tcos.refused(tcos.s.record_stage, stage, all_pass(stage)) == "NOT_ON_ROUTE"
    for stage in (Stage.TCOS_PARTY, Stage.DCC_SIGNED_PRE_COMMAND):
        assert cos.refused(cos.s.record_stage, stage, all_pass(stage)) == "NOT_ON_ROUTE"
    assert (
        tcos.refused(tcos.s.record_countersigned, to=Party.COS_PARTY, artefact=b"x")
        == "NOT_ON_ROUTE"
    )
    assert cos.refused(cos.s.record_answer, party=Party.TCOS_PARTY, artefact=b"x") == (
        "NOT_ON_ROUTE"
    )
    assert (
        cos.refused(cos.s.record_countersigned, to=Party.SMETS1_SERVICE_PROVIDER, artefact=b"x")
        == "NOT_ON_ROUTE"
    )


def test_each_step_waits_for_the_one_before_it():
    story = routed(CosParty.TCOS)
    # the party's stage before the DCC's own checks and the countersigning
    assert story.refused(story.s.record_stage, Stage.TCOS_PARTY, all_pass(Stage.TCOS_PARTY)) == (
        "STEP_OUT_OF_ORDER"
    )
    assert (
        story.refused(story.s.record_countersigned, to=Party.TCOS_PARTY, artefact=b"x")
        == "STEP_OUT_OF_ORDER"
    )
    story.do(story.s.record_stage, Stage.DCC_REQUEST, all_pass(Stage.DCC_REQUEST))
    assert story.refused(story.s.record_answer, party=Party.TCOS_PARTY, artefact=b"x") == (
        "STEP_OUT_OF_ORDER"
    )
    assert story.refused(story.s.record_stage, Stage.DCC_REQUEST, all_pass(Stage.DCC_REQUEST)) == (
        "ALREADY_RECORDED"
    )
    assert story.s.next_step is not None
    assert story.s.next_step.party is Party.TCOS_PARTY


def test_the_command_waits_for_the_dccs_last_stage_to_pass():
    story = through_dcc_request(CosParty.TCOS)
    assert story.refused(story.s.record_command, command=b"c", transport="t") == (
        "COMMAND_BEFORE_CHECKS_PASSED"
    )
    story.do(story.s.record_countersigned, to=Party.TCOS_PARTY, artefact=b"x")
    story.do(story.s.record_stage, Stage.TCOS_PARTY, all_pass(Stage.TCOS_PARTY))
    story.do(story.s.record_answer, party=Party.TCOS_PARTY, artefact=b"pre-command")
    assert story.refused(story.s.record_command, command=b"c", transport="t") == (
        "COMMAND_BEFORE_CHECKS_PASSED"
    )
    assert story.refused(story.s.succeed) == "SUCCESS_BEFORE_COMPLETION"
    story.do(
        story.s.record_stage,
        Stage.DCC_SIGNED_PRE_COMMAND,
        all_pass(Stage.DCC_SIGNED_PRE_COMMAND),
    )
    assert story.refused(story.s.succeed) == "SUCCESS_BEFORE_COMPLETION"
    assert story.refused(story.s.record_command, command=b"c", transport=" ") == (
        "TRANSPORT_REQUIRED"
    )
    assert story.refused(story.s.record_command, command=b"", transport="t") == "EMPTY_ARTEFACT"
    story.do(story.s.record_command, command=b"c", transport="t")
    assert story.refused(story.s.record_command, command=b"c", transport="t") == (
        "ALREADY_RECORDED"
    )
    story.do(story.s.succeed)
    assert story.refused(story.s.succeed) == "REQUEST_SUCCEEDED"
    assert story.refused(story.s.reject) == "REQUEST_SUCCEEDED"


def test_a_stage_runs_its_checks_in_order_until_the_first_failure():
    story = routed(CosParty.ECOS)
    checks = all_pass(Stage.DCC_REQUEST)
    assert story.refused(story.s.record_stage, Stage.DCC_REQUEST, checks[::-1]) == (
        "CHECKS_NOT_IN_ORDER"
    )
    assert story.refused(story.s.record_stage, Stage.DCC_REQUEST, checks[:3]) == (
        "STAGE_INCOMPLETE"
    )
    fails_then_goes_on = [CheckOutcome(checks[0].check, passed=False, detail="bad"), *checks[1:]]
    assert story.refused(story.s.record_stage, Stage.DCC_REQUEST, fails_then_goes_on) == (
        "CHECKS_NOT_IN_ORDER"
    )
    wrong_stage = all_pass(Stage.COS_PARTY)
    assert story.refused(story.s.record_stage, Stage.DCC_REQUEST, wrong_stage) == (
        "CHECKS_NOT_IN_ORDER"
    )


def test_time_does_not_run_backwards():
    story = routed(CosParty.ECOS)
    with pytest.raises(RuleViolation) as refusal:
        story.s.record_stage(Stage.DCC_REQUEST, all_pass(Stage.DCC_REQUEST), at=T0)
    assert refusal.value.code == "BEFORE_LAST_EVENT"


def test_receipt_refuses_a_counter_out_of_range_an_empty_user_and_another_device():
    def receive(**changes: Any) -> str:
        fields: dict[str, Any] = {
            "originator": ORIGINATOR,
            "target": TARGET,
            "counter": 7,
            "user_id": "Z1",
            "signer": SIGNER,
            "mpxn": MPAN.parse("1200023456781"),
            "generation": S2,
            "command_variant": 1,
            "requested": update(),
            "at": T0,
        }
        with pytest.raises(RuleViolation) as refusal:
            ServiceRequest.receive(**{**fields, **changes})
        return refusal.value.code

    assert receive(counter=-1) == "INVALID_REQUEST_COUNTER"
    assert receive(counter=1 << 64) == "INVALID_REQUEST_COUNTER"
    assert receive(user_id="  ") == "USER_ID_REQUIRED"
    assert receive(requested=update(ORIGINATOR)) == "DEVICE_NOT_TARGET"


# --- rejections -----------------------------------------------------------------------------


def test_a_refusing_route_is_rejected_to_the_user_with_the_routes_reasons():
    story = Story(received(variant=2))
    story.do(story.s.record_route, route(CosParty.ECOS, variant=2))
    assert story.status() is ServiceRequestStatus.REJECTION_DUE
    assert story.refused(story.s.record_stage, Stage.DCC_REQUEST, []) == "REJECTION_DUE"
    rejected = story.do(story.s.reject)
    assert isinstance(rejected, Rejected)
    assert rejected.check is None
    assert rejected.response_code is None
    assert rejected.notified == (Party.USER,)
    assert [r.code for r in rejected.reasons] == ["COMMAND_VARIANT_NOT_SUPPORTED"]
    assert rejected.clause == clauses.DUIS_3_8_76
    assert story.status() is ServiceRequestStatus.REJECTED


def test_smets1_to_the_cos_party_before_the_testing_completed_is_rejected():
    story = Story(received(S1))
    story.do(story.s.record_route, route(CosParty.ECOS, S1, ready=False))
    rejected = story.do(story.s.reject)
    assert isinstance(rejected, Rejected)
    assert rejected.clause == clauses.ETMAD_1_20


def _to_stage(party: CosParty, stage: Stage, generation: SmetsGeneration = S2) -> Story:
    """A story on ``party``'s path, every step before ``stage`` done."""
    story = routed(party, generation)
    path = story.s.path
    for step in path:
        if step.stage is stage:
            return story
        if step.stage is not None:
            story.do(story.s.record_stage, step.stage, all_pass(step.stage, generation))
        elif step.kind == "countersign":
            story.do(story.s.record_countersigned, to=step.party, artefact=b"c")
        elif step.kind == "answer":
            story.do(story.s.record_answer, party=step.party, artefact=b"a")
    raise AssertionError(stage)


REJECTIONS = [
    # (party, failing check, rejection clause, who is notified)
    (CosParty.ECOS, Check.REQUEST_SIGNER_ROLE_XML_SIGN, clauses.SRPD_6_1, (Party.USER,)),
    (CosParty.TCOS, Check.REQUEST_NOT_A_REPLAY, clauses.SRPD_6_1, (Party.USER,)),
    (CosParty.ECOS, Check.COS_8_1_B_IV_NOT_A_REPLAY, clauses.SRPD_8_3, (Party.USER,)),
    (
        CosParty.ECOS,
        Check.DCC_8_4_F_PRE_COMMAND_SUBSTANTIVELY_IDENTICAL,
        clauses.SRPD_8_6,
        (Party.USER, Party.COS_PARTY),
    ),
    (CosParty.ECOS, Check.DCC_8_4_C_VALID_AND_WELL_FORMED, clauses.SRPD_8_6, (Party.USER,)),
    (CosParty.TCOS, Check.TCOS_8_1A_B_III_SAME_USER, clauses.SRPD_8_3A, (Party.USER,)),
    (
        CosParty.TCOS,
        Check.TCOS_8_4A_F_RESPONSIBLE_SUPPLIER,
        clauses.SRPD_8_6A,
        (Party.USER, Party.TCOS_PARTY),
    ),
    (CosParty.TCOS, Check.TCOS_8_4A_C_CRYPTOGRAPHIC_PROTECTION, clauses.SRPD_8_6A, (Party.USER,)),
]


@pytest.mark.parametrize(("party", "check", "clause", "notified"), REJECTIONS)
def test_a_failed_stage_is_rejected_with_its_code_clause_and_who_is_notified(
    party, check, clause, notified
):
    story = _to_stage(party, check.stage)
    checked = story.do(story.s.record_stage, check.stage, failing_at(check))
    assert isinstance(checked, StageChecked)
    assert checked.failed is not None
    assert checked.failed.check is check
    assert checked.failed.response_code == response_code(check).code
    assert checked.failed.clause == check.clause
    # nothing but the rejection follows a failed stage
    assert story.status() is ServiceRequestStatus.REJECTION_DUE
    assert story.refused(story.s.record_command, command=b"c", transport="t") == "REJECTION_DUE"
    rejected = story.do(story.s.reject)
    assert isinstance(rejected, Rejected)
    assert rejected.check is check
    assert rejected.response_code == response_code(check).code
    assert rejected.clause == clause
    assert rejected.notified == notified
    assert rejected.reasons[0].detail == "it did not"
    s = story.s
    assert s.status is ServiceRequestStatus.REJECTED
    assert s.response_code == response_code(check).code
    assert s.outcome_of(check.stage) == checked
    # nothing follows a rejection
    assert story.refused(story.s.reject) == "REQUEST_REJECTED"
    assert story.refused(story.s.succeed) == "REQUEST_REJECTED"
    assert story.refused(story.s.record_answer, party=Party.COS_PARTY, artefact=b"a") == (
        "REQUEST_REJECTED"
    )
    assert fold(story.events) == s


def test_a_passed_stage_has_nothing_to_reject():
    story = through_dcc_request(CosParty.ECOS)
    assert story.refused(story.s.reject) == "NOTHING_TO_REJECT"


def test_only_the_dccs_checks_on_a_partys_communication_notify_that_party():
    assert notified_of(Stage.COS_PARTY, Check.COS_8_1_B_I_CRYPTOGRAPHIC_PROTECTION) == (Party.USER,)
    assert notified_of(
        Stage.DCC_COS_AUTHORISATION_RESPONSE, Check.DCC_8_4_A_CRYPTOGRAPHIC_PROTECTION
    ) == (Party.USER, Party.COS_PARTY)


# --- cessation by the CoS Party's anomaly detection (SRPD 8.2, SRPD 20) ---------------------

ANOMALY = (
    RejectionReason(
        code="ADT_EXCEEDED",
        clause=clauses.SRPD_20,
        detail="101 SRV 6.23 requests in 1440 minutes exceed the ADT of 100",
    ),
)


def test_the_cos_party_may_cease_a_request_by_anomaly_detection_and_the_user_is_alerted():
    story = _to_stage(CosParty.ECOS, Stage.COS_PARTY)
    story.do(story.s.record_stage, Stage.COS_PARTY, all_pass(Stage.COS_PARTY))
    assert story.s.next_step is not None
    assert (story.s.next_step.kind, story.s.next_step.party) == ("answer", Party.COS_PARTY)
    ceased = story.do(story.s.cease, reasons=ANOMALY)
    assert isinstance(ceased, Ceased)
    assert (ceased.party, ceased.reasons, ceased.clause) == (
        Party.COS_PARTY,
        ANOMALY,
        clauses.SRPD_8_2,
    )
    assert ceased.alerted == (Party.USER,)  # SRPD 20: an alert to the User
    s = story.s
    assert s.status is ServiceRequestStatus.CEASED
    assert s.cessation == ceased
    assert s.next_step is None
    # not a rejection: no check failed, no DUIS response code, nothing quarantined
    assert s.rejection is None
    assert s.response_code is None
    assert s.answers == ()
    assert fold(story.events) == s


def test_a_smets1_request_may_be_ceased_on_the_cos_party_path_too():
    story = _to_stage(CosParty.ECOS, Stage.COS_PARTY, S1)
    story.do(story.s.record_stage, Stage.COS_PARTY, all_pass(Stage.COS_PARTY, S1))
    story.do(story.s.cease, reasons=ANOMALY)
    assert story.status() is ServiceRequestStatus.CEASED


def test_a_cessation_waits_for_the_cos_partys_stage_and_precedes_its_answer():
    story = Story(received())
    assert story.refused(story.s.cease, reasons=ANOMALY) == "NOT_ROUTED"
    story.do(story.s.record_route, route(CosParty.ECOS))
    assert story.refused(story.s.cease, reasons=ANOMALY) == "STEP_OUT_OF_ORDER"
    story.do(story.s.record_stage, Stage.DCC_REQUEST, all_pass(Stage.DCC_REQUEST))
    story.do(story.s.record_countersigned, to=Party.COS_PARTY, artefact=b"countersigned")
    # the countersigned request reached the CoS Party, its 8.1(b) checks are not recorded yet
    assert story.refused(story.s.cease, reasons=ANOMALY) == "STEP_OUT_OF_ORDER"
    story.do(story.s.record_stage, Stage.COS_PARTY, all_pass(Stage.COS_PARTY))
    assert story.refused(story.s.cease, reasons=()) == "CESSATION_REASON_REQUIRED"
    story.do(story.s.record_answer, party=Party.COS_PARTY, artefact=b"response")
    # it answered: it did not cease
    assert story.refused(story.s.cease, reasons=ANOMALY) == "ALREADY_RECORDED"


def test_a_failed_cos_party_stage_is_rejected_not_ceased():
    story = _to_stage(CosParty.ECOS, Stage.COS_PARTY)
    story.do(story.s.record_stage, Stage.COS_PARTY, failing_at(Check.COS_8_1_B_IV_NOT_A_REPLAY))
    assert story.refused(story.s.cease, reasons=ANOMALY) == "REJECTION_DUE"


def test_the_tcos_party_never_ceases():
    story = _to_stage(CosParty.TCOS, Stage.TCOS_PARTY)
    story.do(story.s.record_stage, Stage.TCOS_PARTY, all_pass(Stage.TCOS_PARTY))
    with pytest.raises(RuleViolation) as refusal:
        story.s.cease(reasons=ANOMALY, at=later(story.minute + 1))
    assert (refusal.value.code, refusal.value.clause) == ("NOT_ON_ROUTE", clauses.SRPD_8_2)


def test_nothing_follows_a_cessation():
    story = _to_stage(CosParty.ECOS, Stage.COS_PARTY)
    story.do(story.s.record_stage, Stage.COS_PARTY, all_pass(Stage.COS_PARTY))
    story.do(story.s.cease, reasons=ANOMALY)
    assert story.refused(story.s.cease, reasons=ANOMALY) == "REQUEST_CEASED"
    assert story.refused(story.s.record_answer, party=Party.COS_PARTY, artefact=b"a") == (
        "REQUEST_CEASED"
    )
    assert story.refused(story.s.reject) == "REQUEST_CEASED"
    assert story.refused(story.s.succeed) == "REQUEST_CEASED"
    assert story.refused(story.s.record_command, command=b"c", transport="t") == ("REQUEST_CEASED")
    assert (
        story.refused(story.s.record_device_response, response=b"r", succeeded=True, detail="")
        == "REQUEST_CEASED"
    )


# --- the Device's response to the Command (8.5, 8.5A) -----------------------------------------


def _commanded(party: CosParty) -> Story:
    """A SMETS2+ request on ``party``'s path, its Command issued."""
    stage = (
        Stage.DCC_SIGNED_PRE_COMMAND
        if party is CosParty.TCOS
        else Stage.DCC_COS_AUTHORISATION_RESPONSE
    )
    story = _to_stage(party, stage)
    story.do(story.s.record_stage, stage, all_pass(stage))
    story.do(story.s.record_command, command=b"command", transport="dcc-transport")
    return story


def test_the_devices_response_follows_success_on_the_tcos_party_path():
    story = _commanded(CosParty.TCOS)
    story.do(story.s.succeed)
    responded = story.do(
        story.s.record_device_response, response=b"abc", succeeded=True, detail="success"
    )
    assert isinstance(responded, DeviceResponded)
    assert (responded.answered, responded.succeeded, responded.detail) == (True, True, "success")
    assert responded.sha256 == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert responded.clause == clauses.SRPD_8_5A
    s = story.s
    assert s.status is ServiceRequestStatus.SUCCEEDED  # the DCC's processing stays complete
    assert s.device_response == responded
    assert fold(story.events) == s
    # once only, and nothing else after it
    assert (
        story.refused(story.s.record_device_response, response=b"abc", succeeded=True, detail="")
        == "ALREADY_RECORDED"
    )
    assert story.refused(story.s.succeed) == "REQUEST_SUCCEEDED"
    assert story.refused(story.s.reject) == "REQUEST_SUCCEEDED"


def test_the_devices_response_may_come_before_success_on_the_cos_party_path():
    story = _commanded(CosParty.ECOS)
    responded = story.do(
        story.s.record_device_response,
        response=b"rejected",
        succeeded=False,
        detail="badCertificate",
    )
    assert isinstance(responded, DeviceResponded)
    assert (responded.succeeded, responded.clause) == (False, clauses.SRPD_8_5)
    assert story.status() is ServiceRequestStatus.IN_PROGRESS  # Succeeded is still awaited
    story.do(story.s.succeed)
    assert story.status() is ServiceRequestStatus.SUCCEEDED
    assert story.s.device_response == responded
    assert fold(story.events) == story.s


def test_a_device_that_did_not_answer_is_recorded_as_not_answered_and_not_succeeded():
    story = _commanded(CosParty.ECOS)
    story.do(story.s.succeed)
    assert (
        story.refused(story.s.record_device_response, response=None, succeeded=True, detail="")
        == "NO_ANSWER_CANNOT_SUCCEED"
    )
    assert (
        story.refused(story.s.record_device_response, response=None, succeeded=False, detail=" ")
        == "FAILURE_DETAIL_REQUIRED"
    )
    assert (
        story.refused(story.s.record_device_response, response=b"", succeeded=False, detail="x")
        == "EMPTY_ARTEFACT"
    )
    responded = story.do(
        story.s.record_device_response, response=None, succeeded=False, detail="no response"
    )
    assert isinstance(responded, DeviceResponded)
    assert (responded.answered, responded.succeeded, responded.sha256) == (False, False, "")


def test_the_devices_response_follows_the_command_and_never_comes_for_smets1():
    story = _to_stage(CosParty.ECOS, Stage.DCC_COS_AUTHORISATION_RESPONSE)
    args = {"response": b"r", "succeeded": True, "detail": ""}
    assert story.refused(story.s.record_device_response, **args) == "RESPONSE_BEFORE_COMMAND"
    story.do(
        story.s.record_stage,
        Stage.DCC_COS_AUTHORISATION_RESPONSE,
        all_pass(Stage.DCC_COS_AUTHORISATION_RESPONSE),
    )
    assert story.refused(story.s.record_device_response, **args) == "RESPONSE_BEFORE_COMMAND"
    # SMETS1: the DCC countersigns to the SMETS1 Service Provider, no Command, no response
    smets1 = _to_stage(CosParty.ECOS, Stage.DCC_COS_AUTHORISATION_RESPONSE, S1)
    run = all_pass(Stage.DCC_COS_AUTHORISATION_RESPONSE, S1)
    smets1.do(smets1.s.record_stage, Stage.DCC_COS_AUTHORISATION_RESPONSE, run)
    smets1.do(smets1.s.record_countersigned, to=Party.SMETS1_SERVICE_PROVIDER, artefact=b"s1")
    smets1.do(smets1.s.succeed)
    assert smets1.refused(smets1.s.record_device_response, **args) == "NO_COMMAND_FOR_SMETS1"


def test_a_rejected_request_has_no_device_response():
    story = _to_stage(CosParty.ECOS, Stage.COS_PARTY)
    story.do(story.s.record_stage, Stage.COS_PARTY, failing_at(Check.COS_8_1_B_IV_NOT_A_REPLAY))
    story.do(story.s.reject)
    assert (
        story.refused(story.s.record_device_response, response=b"r", succeeded=True, detail="")
        == "REQUEST_REJECTED"
    )


# --- the anti-replay record -----------------------------------------------------------------


def _accept(record: RequestCounterRecord, counter: int, minute: int = 0) -> RequestCounterRecord:
    event = record.accept(counter=counter, target=TARGET, at=later(minute))
    assert isinstance(event, CounterAccepted)
    if record.version == 0:
        return RequestCounterRecord.create(event, 1)
    return record.apply(event, record.version + 1)


def test_counters_are_accepted_only_when_greater_than_the_highest_accepted():
    record = RequestCounterRecord(originator=ORIGINATOR)
    assert record.aggregate_id == f"request-counters:{ORIGINATOR}"
    assert record.aggregate_id == request_counters_aggregate_id(ORIGINATOR)
    record = _accept(record, 5)
    record = _accept(record, 9, 1)
    assert (record.highest, record.accepted, record.version) == (9, 2, 2)
    for replayed in (9, 5, 0):
        with pytest.raises(RuleViolation) as refusal:
            record.accept(counter=replayed, target=TARGET, at=later(2))
        assert refusal.value.code == "REPLAYED_REQUEST"
        assert refusal.value.clause == Check.REQUEST_NOT_A_REPLAY.clause == clauses.SRPD_6_1
    with pytest.raises(RuleViolation) as refusal:
        record.accept(counter=1 << 64, target=TARGET, at=later(2))
    assert refusal.value.code == "INVALID_REQUEST_COUNTER"


def test_each_originator_has_its_own_counters():
    other = EUI64.parse("90-B3-D5-1F-30-02-00-00")
    first = _accept(RequestCounterRecord(originator=ORIGINATOR), 100)
    second = RequestCounterRecord(originator=other)
    assert not second.is_replay(1)
    second = _accept(second, 1)
    assert (first.highest, second.highest) == (100, 1)
    assert first.is_replay(1)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=50), max_size=20))
def test_the_accepted_counters_strictly_increase(counters):
    record = RequestCounterRecord(originator=ORIGINATOR)
    accepted: list[int] = []
    for counter in counters:
        if record.is_replay(counter):
            continue
        record = _accept(record, counter)
        accepted.append(counter)
    assert accepted == sorted(set(accepted))
    assert record.highest == (accepted[-1] if accepted else None)


# --- any sequence of accepted commands folds to a consistent state ---------------------------

_ROUTES = st.sampled_from(
    # the two clause-8 paths twice as often as the refusals (no certificate, local delivery)
    [(CosParty.TCOS, 1), (CosParty.ECOS, 1)] * 2 + [(None, 1), (CosParty.ECOS, 2)]
)


def _commands(s: ServiceRequest, generation: SmetsGeneration) -> list[Callable[..., DomainEvent]]:
    """Every command, with plausible arguments, some of them failing runs."""
    commands: list[Callable[..., DomainEvent]] = [
        lambda at: s.reject(at=at),
        lambda at: s.succeed(at=at),
        lambda at: s.record_command(command=b"c", transport="t", at=at),
        lambda at: s.cease(reasons=ANOMALY, at=at),
        lambda at: s.record_device_response(response=b"r", succeeded=True, detail="", at=at),
        lambda at: s.record_device_response(response=None, succeeded=False, detail="no", at=at),
    ]
    for party in (Party.COS_PARTY, Party.TCOS_PARTY, Party.SMETS1_SERVICE_PROVIDER):
        commands.append(lambda at, p=party: s.record_countersigned(to=p, artefact=b"x", at=at))
        commands.append(lambda at, p=party: s.record_answer(party=p, artefact=b"x", at=at))
    for stage in Stage:
        run = checks_of(stage, smets1_target=generation is S1)
        commands.append(lambda at, g=stage: s.record_stage(g, all_pass(g, generation), at=at))
        commands.append(
            lambda at, g=stage, c=run[-1]: s.record_stage(g, failing_at(c, generation), at=at)
        )
    return commands


def _forward(
    s: ServiceRequest, generation: SmetsGeneration, *, fail: bool
) -> Callable[..., DomainEvent] | None:
    """The command the request awaits (a failing run of a stage, or the CoS Party's
    cessation, when ``fail``), if any; after success, the Device's response to its Command."""
    if s.status is ServiceRequestStatus.REJECTION_DUE:
        return lambda at: s.reject(at=at)
    step = s.next_step
    if step is None:
        if s.command is not None and s.device_response is None:
            return lambda at: s.record_device_response(
                response=b"r", succeeded=not fail, detail="" if not fail else "rejected", at=at
            )
        return None
    if fail and step.kind == "answer" and step.party is Party.COS_PARTY:
        return lambda at: s.cease(reasons=ANOMALY, at=at)
    if step.stage is not None:
        stage, last = step.stage, checks_of(step.stage, smets1_target=generation is S1)[-1]
        run = failing_at(last, generation) if fail else all_pass(stage, generation)
        return lambda at: s.record_stage(stage, run, at=at)
    party = step.party or Party.USER  # every countersign and answer step names its party
    calls: dict[str, Callable[..., DomainEvent]] = {
        "countersign": lambda at: s.record_countersigned(to=party, artefact=b"x", at=at),
        "answer": lambda at: s.record_answer(party=party, artefact=b"x", at=at),
        "command": lambda at: s.record_command(command=b"c", transport="t", at=at),
        "success": lambda at: s.succeed(at=at),
    }
    return calls[step.kind]


def _assert_cessation_and_response_consistent(s: ServiceRequest, events: list[DomainEvent]):
    """A cessation ends the record, on the CoS Party path after its stage passed and before
    its answer; a Device's response, once, follows the Command, and only success follows it."""
    if s.status is ServiceRequestStatus.CEASED:
        assert isinstance(events[-1], Ceased)
        assert s.route_to is RouteTo.COS_PARTY
        assert s.done[-1].stage is Stage.COS_PARTY
        assert s.answers == ()
    else:
        assert not any(isinstance(e, Ceased) for e in events)
    responses = [i for i, e in enumerate(events) if isinstance(e, DeviceResponded)]
    assert len(responses) <= 1
    if responses:
        assert s.command is not None
        assert s.device_response == events[responses[0]]
        assert all(isinstance(e, Succeeded) for e in events[responses[0] + 1 :])
        assert s.status in {ServiceRequestStatus.IN_PROGRESS, ServiceRequestStatus.SUCCEEDED}


@settings(max_examples=200, deadline=None)
@given(
    generation=st.sampled_from([S1, S2]),
    routing=_ROUTES,
    picks=st.lists(st.integers(min_value=0, max_value=99), min_size=5, max_size=40),
)
def test_any_sequence_of_accepted_commands_folds_to_a_consistent_state(generation, routing, picks):
    party, variant = routing
    story = Story(received(generation, variant=variant))
    story.do(story.s.record_route, route(party, generation, variant))
    for pick in picks:
        commands = _commands(story.s, generation)
        forward = _forward(story.s, generation, fail=pick < 5)
        command = forward if pick < 60 and forward else commands[pick % len(commands)]
        try:
            story.do(command)
        except RuleViolation:
            continue
    s = story.s
    event(f"{s.route_to} {s.status}")
    ended = [s.rejection is not None, s.succeeded_at is not None, s.cessation is not None]
    assert sum(ended) <= 1
    assert fold(story.events) == s
    assert len(s.done) <= len(s.path)
    assert s.path[: len(s.done)] == s.done
    if s.status is ServiceRequestStatus.SUCCEEDED:
        assert all(x.failed is None for x in s.stages)
        assert s.done == s.path
        assert (s.command is None) == (generation is S1)
        assert s.response_code is None
    if s.status is ServiceRequestStatus.REJECTED:
        assert s.rejection is not None
        assert isinstance(story.events[-1], Rejected)
        assert (s.response_code is None) == (s.failed_stage is None)
    else:
        assert s.rejection is None
        assert not any(isinstance(e, Rejected) for e in story.events)
    _assert_cessation_and_response_consistent(s, story.events)
    failed = [x for x in s.stages if x.failed is not None]
    assert len(failed) <= 1
    if failed:
        assert s.stages[-1] is failed[0]
        assert s.status in {ServiceRequestStatus.REJECTION_DUE, ServiceRequestStatus.REJECTED}
    routed_events = [e for e in story.events if isinstance(e, Routed)]
    assert len(routed_events) == 1
    assert s.aggregate_id == service_request_aggregate_id(ORIGINATOR, TARGET, 7)
