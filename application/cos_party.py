"""The CoS Party's handling of a Countersigned CoS Service Request (SRPD 8.1(b), 8.2, 8.3(a) as
rewritten by ETMAD 3.5; DOMAIN.md 3.4-3.6). The CoS Party is a separate service with its own
keys and its own store (``app``): it records only its own aggregates, and talks to the DCC only
through the artefacts (``application.srv623_ports``).

``CosPartyService.handle`` runs ``checks_of(Stage.COS_PARTY)`` in order, stopping at the first
failure:

* 8.1(b)(i) Check Cryptographic Protection of the Countersigned CoS Service Request: the DCC's
  countersignature verified (the party's ``CountersignedRequestReader``);
* 8.1(b)(ii) Confirm Validity, at the time of handling, of the certificate it was checked with;
* 8.1(b)(iii) the request checks the CoS Party re-runs (``COS_PARTY_RERUNS``), each decided by
  ``application.srv623.request_check_failure`` on the inner request as the party's own reader
  verified it. The re-run of Check Cryptographic Protection fails when the reader gave no
  verified request (``request_failure`` says why). **[choice]** A re-run the party cannot decide
  (the certification path subjects not given) fails: 8.1(b)(iii) asks it to *confirm*;
* 8.1(b)(iv) the inner request is not a Replay, on the CoS Party's **own** per-originator record
  (``cos_party_counters_aggregate_id``: ``cos-party:request-counters:<originator>``, a
  ``RequestCounterRecord`` kept apart from the DCC's ``request-counters:<originator>``). Its
  counter is accepted only when the party answers.

Any failure: 8.3(a) — the party undertakes no further processing, notifies the DCC (the
``PartyReport``, verdict ``REFUSED``) and records nothing.

All passed: 8.2 — CoS Party Threshold Anomaly Detection (SRPD 20, ``domain.anomaly_detection``)
on the request's User ID: ``RequestAssessed`` is recorded on ``adt:<User ID>`` (a User that
never submitted an ADT file has ADT 0: every request of it is ceased). A ceasing decision ends
the processing (``CEASED``; only the assessment is recorded). Otherwise:

* 8.2(a) SMETS2+: the Signed Pre-Command (``PreCommandSigner``, the ECoS Party key), then the
  CoS Authorisation Response carrying it; 8.2(b) SMETS1: the response without one. The target's
  generation is not in the Countersigned CoS Service Request: **[choice]** the service is given
  ``smets1``, a question about the Device's generation, which ``ApplicationDspLookup.smets1``
  answers from the Smart Metering Inventory (the Device Model's ``smets``, DOMAIN.md 1 "MPxN ↔
  Device"); it is asked only once the checks passed.
* the Pre-Command's originator counter is the microseconds since the Unix epoch of the signing
  time, raised above the last counter the party used for that Device: **[choice]** the party
  keeps a per-Device ``RequestCounterRecord`` of its Pre-Command counters
  (``cos_party_pre_command_aggregate_id``: ``cos-party:pre-command-counters:<Device>``), since a
  Device orders the counters of the commands signed with the key in its CoS cell;
* the request counter is accepted on the party's replay record and every event of the party is
  saved in one unit of work; the answer is the CoS Authorisation Response (``ANSWERED``, with
  the anomaly decision: a warning is reported too).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final

import attrs

from application.service import EtmadApplication, UnitOfWork
from application.srv623 import RequestState, VerifiedRequest, missing_for, request_check_failure
from application.srv623_ports import (
    AuthorisationResponseWriter,
    CountersignedFacts,
    CountersignedRequestReader,
    PartyReport,
    PartyVerdict,
    PreCommandSigner,
    SignatureCheck,
)
from domain import clauses
from domain.anomaly_detection import (
    AnomalyDecision,
    AnomalyDetectionRecord,
    RequestAssessed,
    anomaly_detection_aggregate_id,
)
from domain.events import utc
from domain.identifiers import EUI64
from domain.replay import RequestCounterRecord, request_counters_aggregate_id
from domain.service_request import CheckOutcome, Party, service_request_aggregate_id
from domain.srv623_checks import Check, Stage, checks_of

COS_PARTY_PREFIX: Final = "cos-party:"
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def cos_party_counters_aggregate_id(originator: EUI64) -> str:
    """The CoS Party's own anti-replay record of ``originator``'s Request IDs (8.1(b)(iv)),
    apart from the DCC's (``request_counters_aggregate_id``)."""
    return f"{COS_PARTY_PREFIX}{request_counters_aggregate_id(originator)}"


def cos_party_pre_command_aggregate_id(device: EUI64) -> str:
    """The CoS Party's record of the Pre-Command counters it used for ``device`` (8.2(a))."""
    return f"{COS_PARTY_PREFIX}pre-command-counters:{device}"


def microseconds(at: datetime) -> int:
    """Microseconds since the Unix epoch of ``at``, exactly (a Pre-Command's counter)."""
    delta = utc(at) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def next_pre_command_counter(record: RequestCounterRecord | None, at: datetime) -> int:
    """The counter of a Pre-Command signed at ``at``: its microseconds since the epoch, raised
    above the highest the party used for the Device (``record``; None: none used)."""
    counter = microseconds(at)
    if record is not None and record.highest is not None and counter <= record.highest:
        return record.highest + 1
    return counter


# --- the checks ---------------------------------------------------------------------------------


def countersignature_failure(signature: SignatureCheck) -> str | None:
    """8.1(b)(i) / 8.1A(b)(i): the DCC's countersignature verified."""
    if signature.verified:
        return None
    return f"the countersignature does not verify: {signature.detail or 'no reason given'}"


def validity_failure(signature: SignatureCheck, what: str) -> str | None:
    """8.1(b)(ii) / 8.1A(b)(ii): Confirm Validity of the certificate ``signature`` was checked
    with, as the reader judged it at the time of handling."""
    validity = signature.validity
    if validity is None:
        return f"Confirm Validity of the {what} certificate was not given: it is not confirmed"
    if validity.valid:
        return None
    return (
        f"Confirm Validity of the {what} certificate {signature.certificate_id} at "
        f"{validity.at.isoformat()} failed: {validity.code.value}: {validity.detail}"
    )


def rerun_failure(check: Check, facts: CountersignedFacts) -> str | None:
    """8.1(b)(iii): one re-run request check on the inner request as the party read it."""
    request = facts.request
    if request is None:
        # Only the re-run of Check Cryptographic Protection is reached without a request: it
        # fails, and the run stops there.
        return (
            "the inner Service Request could not be verified: "
            f"{facts.request_failure or 'no reason given'}"
        )
    state = RequestState(request=request)
    original = check.spec.reruns or check
    missing = missing_for(state).get(original)
    if missing is not None:
        return f"cannot be confirmed: {missing}"  # [choice] not confirmed is failed
    return request_check_failure(check, state)


def replay_failure(record: RequestCounterRecord, request: VerifiedRequest) -> str | None:
    """8.1(b)(iv): the request's counter is greater than any the party accepted from its
    originator."""
    if not record.is_replay(request.counter):
        return None
    return (
        f"counter {request.counter} from originator {request.originator} is not greater than the "
        f"highest the CoS Party answered, {record.highest}: the request is a Replay"
    )


def _outcome(check: Check, failure: str | None) -> CheckOutcome:
    if failure is None:
        return CheckOutcome(check, passed=True)
    return CheckOutcome(check, passed=False, detail=failure)


# --- the service --------------------------------------------------------------------------------


class CosPartyService:
    """The CoS Party (see the module): its store, its trust store (the reader), its ECoS Party
    key (``pre_command_signer``), its CoS Party XML Signing Key (``response_writer``), and
    ``smets1``, which tells it whether a target Device is SMETS1 (8.2(b))."""

    def __init__(
        self,
        app: EtmadApplication,
        *,
        countersigned_reader: CountersignedRequestReader,
        pre_command_signer: PreCommandSigner,
        response_writer: AuthorisationResponseWriter,
        smets1: Callable[[EUI64], bool],
    ) -> None:
        self._app = app
        self._reader = countersigned_reader
        self._signer = pre_command_signer
        self._writer = response_writer
        self._smets1 = smets1

    def handle(self, countersigned_xml: bytes, *, at: datetime) -> PartyReport:
        """Handle one Countersigned CoS Service Request received at ``at`` (8.1(b), 8.2,
        8.3(a)); see the module."""
        at = utc(at)
        facts = self._reader.read_countersigned(countersigned_xml, at=at)
        request = facts.request
        request_id = None if request is None else request.request_id
        uow = UnitOfWork(self._app)
        outcomes: list[CheckOutcome] = []
        counters: RequestCounterRecord | None = None
        # The COS_PARTY checks have no SMETS2+-only check: the run is the same for SMETS1.
        for check in checks_of(Stage.COS_PARTY):
            if check is Check.COS_8_1_B_I_CRYPTOGRAPHIC_PROTECTION:  # SRPD 8.1(b)(i)
                failure = countersignature_failure(facts.countersignature)
            elif check is Check.COS_8_1_B_II_CONFIRM_VALIDITY:  # SRPD 8.1(b)(ii)
                failure = validity_failure(facts.countersignature, "countersigning")
            elif check is Check.COS_8_1_B_IV_NOT_A_REPLAY:  # SRPD 8.1(b)(iv)
                assert request is not None  # noqa: S101 — (iii) passed
                counters = self._counters(uow, request.originator)
                failure = replay_failure(counters, request)
            else:  # SRPD 8.1(b)(iii): a re-run request check
                failure = rerun_failure(check, facts)
            outcomes.append(_outcome(check, failure))
            if failure is not None:
                # SRPD 8.3(a): no further processing; the DCC is notified; nothing recorded.
                return self._report(outcomes, PartyVerdict.REFUSED, request_id=request_id)
        assert request is not None  # noqa: S101 — every check passed
        assert counters is not None  # noqa: S101 — (iv) ran
        return self._answer(
            uow,
            facts,
            request=request,
            counters=counters,
            countersigned_xml=countersigned_xml,
            outcomes=outcomes,
            at=at,
        )

    def _answer(
        self,
        uow: UnitOfWork,
        facts: CountersignedFacts,
        *,
        request: VerifiedRequest,
        counters: RequestCounterRecord,
        countersigned_xml: bytes,
        outcomes: list[CheckOutcome],
        at: datetime,
    ) -> PartyReport:
        # SRPD 8.2, 20: CoS Party Threshold Anomaly Detection on the request's User ID.
        adt_id = anomaly_detection_aggregate_id(request.user_id)
        user = uow.get(adt_id, AnomalyDetectionRecord.create) or AnomalyDetectionRecord(
            user_id=request.user_id
        )
        service_request = service_request_aggregate_id(
            request.originator, request.target, request.counter
        )
        assessed: RequestAssessed = user.assess(request=service_request, at=at)
        uow.record(adt_id, AnomalyDetectionRecord.create, assessed)
        decision = assessed.decision
        if decision.ceases:
            # SRPD 8.2 "may result in a cessation of processing"; SRPD 20: nothing quarantined.
            uow.commit()
            return self._report(
                outcomes,
                PartyVerdict.CEASED,
                request_id=request.request_id,
                anomaly=decision,
            )
        signed_pre_command: bytes | None = None
        if not self._smets1(request.target):
            # SRPD 8.2(a)(i), (ii): the Signed Pre-Command, with a counter above the last used.
            signed_pre_command = self._sign(uow, facts, request, at=at)
        # SRPD 8.2(a)(iii), 8.2(b): the CoS Authorisation Response (None for SMETS1).
        response = self._writer.write_authorisation_response(
            countersigned_xml, signed_pre_command=signed_pre_command, at=at
        )
        # SRPD 8.1(b)(iv): the counter is accepted once the party answers.
        accepted = counters.accept(counter=request.counter, target=request.target, at=at)
        uow.record(
            cos_party_counters_aggregate_id(request.originator),
            RequestCounterRecord.create,
            attrs.evolve(accepted, clause=clauses.SRPD_8_1_B_IV),
        )
        uow.commit()
        return self._report(
            outcomes,
            PartyVerdict.ANSWERED,
            request_id=request.request_id,
            answer=response,
            anomaly=decision,
        )

    def _sign(
        self, uow: UnitOfWork, facts: CountersignedFacts, request: VerifiedRequest, *, at: datetime
    ) -> bytes:
        request_xml = facts.request_xml
        assert request_xml is not None  # noqa: S101 — given whenever the request was read
        key = cos_party_pre_command_aggregate_id(request.target)
        used = uow.get(key, RequestCounterRecord.create)
        counter = next_pre_command_counter(used, at)
        signed = self._signer.sign_pre_command(request_xml, counter=counter, at=at)
        record = used or RequestCounterRecord(originator=request.target)
        event = record.accept(counter=counter, target=request.target, at=at)
        uow.record(key, RequestCounterRecord.create, attrs.evolve(event, clause=clauses.SRPD_8_2_A))
        return signed

    def _counters(self, uow: UnitOfWork, originator: EUI64) -> RequestCounterRecord:
        key = cos_party_counters_aggregate_id(originator)
        record = uow.get(key, RequestCounterRecord.create)
        return record or RequestCounterRecord(originator=originator)

    @staticmethod
    def _report(
        outcomes: list[CheckOutcome],
        verdict: PartyVerdict,
        *,
        request_id: str | None,
        answer: bytes | None = None,
        anomaly: AnomalyDecision | None = None,
    ) -> PartyReport:
        return PartyReport(
            party=Party.COS_PARTY,
            stage=Stage.COS_PARTY,
            outcomes=tuple(outcomes),
            verdict=verdict,
            answer=answer,
            anomaly=anomaly,
            request_id=request_id,
        )
