"""One SRV 6.23 'CoS Update Security Credentials' request through the whole of SRPD clause 8 as
rewritten by ETMAD 3.5 (DOMAIN.md 3.4): ``process_srv623``.

The DCC, the CoS Party and the TCoS Party are separate services with their own keys
(``Srv623Dcc``, ``PartyService``); they meet here only through the signed artefacts clause 8
names and the parties' reports (``PartyReport``). In order:

1. the DCC receives the request and runs its request checks (``application.srv623``; SRPD 6.1,
   6.4): a request whose bytes cannot be read or verified, whose Request ID was already
   received, or whose target the inventory does not hold is recorded as a ``RefusedRequest``
   (there is no trusted Request ID to key a ``ServiceRequest`` by) and goes no further;
2. checks passed: the DCC countersigns it and records ``Countersigned`` to the route's party
   (8.1(a), 8.1A(a)) — saved before the party is asked;
3. the party handles the Countersigned CoS Service Request and reports (8.1(b) to 8.3(a),
   8.1A(b) to 8.3A(a)); the DCC records the party's run of its checks (``StageChecked``) and then
   its refusal (``Rejected``, 8.3(b), 8.3A(b): the User is told), the cessation by anomaly
   detection (``Ceased``, SRPD 8.2 and 20: the User is alerted), or its answer
   (``PartyAnswered``);
4. the DCC checks the answer (8.4 or 8.4A, ``application.srv623_answers``) and records the run;
   a failure is rejected with its notifications (8.6, 8.6A);
5. every check passed: for a SMETS2+ Device the DCC records ``CommandIssued`` and
   ``Succeeded`` (8.5(a), 8.5A), saves them, then hands the Signed Pre-Command to its clause 13
   sending system (``DeviceTransport``: it applies the MAC that makes it the Command) and
   records the Device's response (``DeviceResponded``); for a SMETS1 Device it countersigns the
   request to the SMETS1 Service Provider (8.5(b)) and records ``Succeeded``;
6. the process manager that follows Device responses (``Srv623OutcomeRecorder``) records the
   SRV 6.23 on the Device, and the in-process proving policy proves its Device Model
   (DOMAIN.md 3.5; ETMAD 6.1(b)(ii)).

Each step is saved in its own unit of work as it is taken (what was sent is recorded before it
is sent), so a crash leaves the record at the last step taken, never half a step.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Final, Protocol, TypeVar

import attrs

from application.errors import CommandRejected, ConcurrencyConflict, UnknownDevice
from application.mapper import Envelope
from application.migration_ports import DeviceTransport, ReplyKind
from application.process_managers import Srv623OutcomeRecorder
from application.serialization import JSON
from application.service import EtmadApplication, Outcome, UnitOfWork
from application.srv623 import (
    CheckReport,
    CheckStatus,
    ReceiveStatus,
    RequestCheckResult,
    RequestNotVerified,
    SignedRequestReader,
    VerifiedRequest,
    receive_request,
)
from application.srv623_answers import (
    AnswerChecked,
    check_authorisation_response,
    check_signed_pre_command,
)
from application.srv623_ports import (
    AuthorisationResponseReader,
    CommandOutcome,
    CommandOutcomeReader,
    Countersigner,
    DspLookup,
    PartyReport,
    PartyVerdict,
    SignedPreCommandReader,
)
from domain import clauses
from domain.errors import DomainError
from domain.events import utc
from domain.identifiers import EUI64
from domain.refused_request import RefusedRequest, refused_request_aggregate_id
from domain.routing import RouteTo
from domain.service_request import (
    CheckOutcome,
    Party,
    RejectionReason,
    ServiceRequest,
    ServiceRequestStatus,
    StepKind,
    service_request_aggregate_id,
)
from domain.srv623_checks import Check, Stage, checks_of, response_code

_T = TypeVar("_T")

DEFAULT_COMMAND_TIMEOUT: Final = timedelta(seconds=30)
#: The transport recorded when the Command is handed over as an artefact (no transport given).
HANDED_OVER: Final = "handed-over-artefact"


class PartyService(Protocol):
    """**Protocol**: a CoS Party or TCoS Party service (``application.cos_party``,
    ``application.tcos_party``), reached only with the Countersigned CoS Service Request."""

    def handle(self, countersigned_xml: bytes, *, at: datetime) -> PartyReport:
        """Check, and answer, refuse or cease, the request in ``countersigned_xml``."""
        ...


@attrs.frozen(kw_only=True)
class Srv623Dcc:
    """What the DCC uses for SRV 6.23: its request reader, its countersigning key, its readers
    of the parties' answers, its clause 13 sending system and the reader of Device responses,
    and the configured Remote Party Role code of ``coSPartyXmlSign``.

    ``transport`` None: the Command is handed over as an artefact (``signed_pre_command``) for
    a sending system outside this process, and the Device's response is recorded when it comes
    (``record_device_response``)."""

    reader: SignedRequestReader
    countersigner: Countersigner
    response_reader: AuthorisationResponseReader
    pre_command_reader: SignedPreCommandReader
    transport: DeviceTransport | None
    outcome_reader: CommandOutcomeReader
    cos_party_role_code: int
    lookup: DspLookup | None = None
    command_timeout: timedelta = DEFAULT_COMMAND_TIMEOUT


@attrs.frozen(kw_only=True)
class Srv623Parties:
    """The two parties the DCC countersigns requests to."""

    cos_party: PartyService
    tcos_party: PartyService


class RequestSource(Protocol):
    """**Protocol**: the bytes of a signed request a command names: inline XML, or a path."""

    def read_request(self, request_xml: str) -> bytes:
        """The bytes of ``request_xml``: itself when it is XML, else the file it names."""
        ...


@attrs.frozen(kw_only=True)
class Srv623Setup:
    """Everything ``ProcessSrv623`` needs: the DCC, the two parties, and a request source."""

    dcc: Srv623Dcc
    parties: Srv623Parties
    requests: RequestSource


@attrs.frozen(kw_only=True)
class StageReport:
    """One stage's run as the result shows it: every check of the stage, in order."""

    stage: Stage
    party: str  # who ran it: DCC, CoS Party, TCoS Party
    checks: tuple[CheckReport, ...]


@attrs.frozen(kw_only=True)
class Srv623Result:
    """What ``process_srv623`` did with one request.

    ``status`` is the request's ``ServiceRequestStatus`` text, ``refused`` for an input
    recorded as a ``RefusedRequest``, or ``checks_incomplete`` when a request check could not be
    decided with the data held. ``artefacts`` are the bytes produced on the way, by name:
    ``countersigned_request``, ``cos_authorisation_response``, ``signed_pre_command``,
    ``smets1_countersigned_request``, ``device_response``."""

    request_id: str | None
    status: str
    route: RouteTo | None
    route_reasons: tuple[str, ...]
    stages: tuple[StageReport, ...]
    response_code: str | None
    message: str
    notified: tuple[Party, ...]
    artefacts: dict[str, bytes] = attrs.field(factory=dict, repr=False)
    device_outcome: CommandOutcome | None = None
    anomaly: str | None = None
    sha256: str = ""
    events: tuple[Envelope, ...] = attrs.field(default=(), repr=False)  # saved by the DCC


# --- the chain ----------------------------------------------------------------------------------


def process_srv623(
    app: EtmadApplication,
    dcc: Srv623Dcc,
    parties: Srv623Parties,
    request_xml: bytes,
    *,
    at: datetime,
) -> Srv623Result:
    """Run one signed SRV 6.23 request through clause 8 at ``at`` (see the module)."""
    at = utc(at)
    digest = hashlib.sha256(request_xml).hexdigest()
    try:
        outcome = _decided_afresh(app, lambda: receive_request(app, dcc.reader, request_xml, at=at))
    except RequestNotVerified as e:
        return _refuse(
            app, digest, code=e.code, message=e.message, check=e.check, request_id=None, at=at
        )
    except UnknownDevice as e:
        verified = _read_quietly(dcc.reader, request_xml, at)
        check = Check.REQUEST_MPXN_MATCHES_INVENTORY
        request_id = None if verified is None else verified.request_id
        return _refuse(
            app, digest, code=e.code, message=e.message, check=check, request_id=request_id, at=at
        )
    except CommandRejected as e:
        if e.code != "REQUEST_ID_ALREADY_RECEIVED":
            raise
        verified = _read_quietly(dcc.reader, request_xml, at)
        request_id = None if verified is None else verified.request_id
        return _refuse(
            app,
            digest,
            code=e.code,
            message=e.message,
            check=Check.REQUEST_NOT_A_REPLAY,
            request_id=request_id,
            at=at,
        )
    received = outcome.result
    assert isinstance(received, RequestCheckResult)  # noqa: S101 — receive_request's result
    request = received.request
    assert request is not None  # noqa: S101 — receive_request gives it
    key = service_request_aggregate_id(request.originator, request.target, request.counter)
    stages = [StageReport(stage=Stage.DCC_REQUEST, party="DCC", checks=received.checks)]
    run = _Run(app, dcc, key, request, request_xml, digest, at, stages)
    run.saved.extend(outcome.events)
    if received.status is not ReceiveStatus.CHECKS_PASSED:
        return run.result(received.missing or "")
    return run.to_party(parties)


#: How often a step is decided again after another writer saved first (each conflict means
#: another request of the same originator, or the same party record, moved on).
MAX_CONFLICTS: Final = 20


def _decided_afresh(app: EtmadApplication, step: Callable[[], _T]) -> _T:
    """Run ``step``; when its save conflicts with another writer's (``ConcurrencyConflict``:
    nothing of it was saved), catch up with the log and decide it again on the fresh state —
    e.g. two workers receiving requests of one originator at once, whose request counters (or
    the CoS Party's replay record) both moved: the later decision sees the other's counter."""
    conflicts = 0
    while True:
        try:
            return step()
        except ConcurrencyConflict:
            conflicts += 1
            if conflicts >= MAX_CONFLICTS:
                raise
            app.catch_up()


def _read_quietly(reader: SignedRequestReader, data: bytes, at: datetime) -> VerifiedRequest | None:
    try:
        return reader.read(data, at=at)
    except RequestNotVerified:
        return None


def _refuse(
    app: EtmadApplication,
    digest: str,
    *,
    code: str,
    message: str,
    check: Check | None,
    request_id: str | None,
    at: datetime,
) -> Srv623Result:
    """Record the refusal of an input that is not (or cannot be) a ``ServiceRequest``."""
    uow = UnitOfWork(app)
    code_of_check = None if check is None else response_code(check).code
    event = RefusedRequest.refuse(
        sha256=digest,
        code=code,
        message=message,
        check=check,
        response_code=code_of_check,
        request_id=request_id,
        at=at,
    )
    uow.record(refused_request_aggregate_id(digest), RefusedRequest.create, event)
    saved = uow.commit()
    return Srv623Result(
        request_id=request_id,
        status="refused",
        route=None,
        route_reasons=(),
        stages=(),
        response_code=code_of_check,
        message=f"{code}: {message}",
        notified=(Party.USER,),
        sha256=digest,
        events=saved,
    )


@attrs.define
class _Run:
    """The steps after the request stage, for one request."""

    app: EtmadApplication
    dcc: Srv623Dcc
    key: str
    request: VerifiedRequest
    request_xml: bytes
    digest: str
    at: datetime
    stages: list[StageReport]
    artefacts: dict[str, bytes] = attrs.field(factory=dict)
    device_outcome: CommandOutcome | None = None
    anomaly: str | None = None
    saved: list[Envelope] = attrs.field(factory=list)

    def state(self, uow: UnitOfWork) -> ServiceRequest:
        state = uow.get(self.key, ServiceRequest.create)
        assert state is not None  # noqa: S101 — received above
        return state

    def record(self, uow: UnitOfWork, make: Callable[[ServiceRequest], object]) -> ServiceRequest:
        event = make(self.state(uow))
        state = uow.record(self.key, ServiceRequest.create, event)  # type: ignore[arg-type]
        assert state is not None  # noqa: S101 — folded
        return state

    # --- 8.1(a), 8.1A(a) and the party ------------------------------------------------------

    def to_party(self, parties: Srv623Parties) -> Srv623Result:
        uow = UnitOfWork(self.app)
        state = self.state(uow)
        step = state.next_step
        assert step is not None  # noqa: S101 — the checks passed: countersigning is awaited
        assert step.kind is StepKind.COUNTERSIGN  # noqa: S101 — path_of
        party = step.party
        assert party in {Party.COS_PARTY, Party.TCOS_PARTY}  # noqa: S101 — path_of
        countersigned = self.dcc.countersigner.countersign(self.request_xml, at=self.at)
        self.artefacts["countersigned_request"] = countersigned
        self.record(
            uow, lambda s: s.record_countersigned(to=party, artefact=countersigned, at=self.at)
        )
        self.saved.extend(uow.commit())
        service = parties.cos_party if party is Party.COS_PARTY else parties.tcos_party
        report = _decided_afresh(self.app, lambda: service.handle(countersigned, at=self.at))
        return self.on_report(report)

    def on_report(self, report: PartyReport) -> Srv623Result:
        uow = UnitOfWork(self.app)
        state = self.record(
            uow, lambda s: s.record_stage(report.stage, report.outcomes, at=self.at)
        )
        self.stages.append(
            _stage_report(report.stage, str(report.party), report.outcomes, state.smets1)
        )
        if report.anomaly is not None:
            self.anomaly = str(report.anomaly.verdict)
        if report.verdict is PartyVerdict.REFUSED or state.failed_stage is not None:
            self.record(uow, lambda s: s.reject(at=self.at))
            self.saved.extend(uow.commit())
            return self.result()
        if report.verdict is PartyVerdict.CEASED:
            decision = report.anomaly
            assert decision is not None  # noqa: S101 — a cessation carries its decision
            reasons = tuple(
                RejectionReason(code=r.code, clause=r.clause, detail=r.detail)
                for r in decision.reasons
            )
            self.record(uow, lambda s: s.cease(reasons=reasons, at=self.at))
            self.saved.extend(uow.commit())
            return self.result()
        answer = report.answer
        assert answer is not None  # noqa: S101 — an answer carries its artefact
        name = (
            "signed_pre_command"
            if report.party is Party.TCOS_PARTY
            else "cos_authorisation_response"
        )
        self.artefacts[name] = answer
        state = self.record(
            uow, lambda s: s.record_answer(party=report.party, artefact=answer, at=self.at)
        )
        checked = self.check_answer(uow, state, answer)
        if checked.undecided is not None:
            self.saved.extend(uow.commit())
            return self.result(checked.missing or "")
        state = self.record(
            uow, lambda s: s.record_stage(checked.stage, checked.outcomes, at=self.at)
        )
        self.stages.append(_stage_report(checked.stage, "DCC", checked.outcomes, state.smets1))
        if not checked.passed:
            self.record(uow, lambda s: s.reject(at=self.at))
            self.saved.extend(uow.commit())
            return self.result()
        return self.complete(uow, state, checked)

    def check_answer(self, uow: UnitOfWork, state: ServiceRequest, answer: bytes) -> AnswerChecked:
        if state.route_to is RouteTo.TCOS_PARTY:
            return check_signed_pre_command(
                self.app,
                uow,
                state,
                answer,
                pre_command_reader=self.dcc.pre_command_reader,
                request_reader=self.dcc.reader,
                original_request=self.request,
                lookup=self.dcc.lookup,
                at=self.at,
            )
        return check_authorisation_response(
            self.app,
            uow,
            state,
            answer,
            response_reader=self.dcc.response_reader,
            request_reader=self.dcc.reader,
            pre_command_reader=self.dcc.pre_command_reader,
            cos_party_role_code=self.dcc.cos_party_role_code,
            at=self.at,
        )

    # --- 8.5, 8.5A --------------------------------------------------------------------------

    def complete(
        self, uow: UnitOfWork, state: ServiceRequest, checked: AnswerChecked
    ) -> Srv623Result:
        if state.smets1:
            # 8.5(b): countersign the request to the SMETS1 Service Provider (clause 14).
            handed = self.dcc.countersigner.countersign(self.request_xml, at=self.at)
            self.artefacts["smets1_countersigned_request"] = handed
            self.record(
                uow,
                lambda s: s.record_countersigned(
                    to=Party.SMETS1_SERVICE_PROVIDER, artefact=handed, at=self.at
                ),
            )
            self.record(uow, lambda s: s.succeed(at=self.at))
            self.saved.extend(uow.commit())
            return self.result()
        command = checked.pre_command
        assert command is not None  # noqa: S101 — a passed SMETS2+ run gives its Pre-Command
        self.artefacts.setdefault("signed_pre_command", command)
        sender = self.dcc.transport
        transport = HANDED_OVER if sender is None else type(sender).__name__
        self.record(
            uow, lambda s: s.record_command(command=command, transport=transport, at=self.at)
        )
        self.record(uow, lambda s: s.succeed(at=self.at))
        self.saved.extend(uow.commit())  # what is sent is recorded before it is sent
        if sender is None:
            return self.result()
        reply = sender.send(self.request.target, command, self.at, timeout=self.dcc.command_timeout)
        responded_at = self.at + reply.elapsed
        if reply.kind is ReplyKind.ANSWERED and reply.response is not None:
            self.artefacts["device_response"] = reply.response
            self.device_outcome = self.dcc.outcome_reader.command_outcome(reply.response)
        else:
            self.device_outcome = CommandOutcome(
                succeeded=False, detail=f"{reply.kind}: {reply.detail or 'no response'}"
            )
        outcome = self.device_outcome
        uow = UnitOfWork(self.app)
        self.record(
            uow,
            lambda s: s.record_device_response(
                response=self.artefacts.get("device_response"),
                succeeded=outcome.succeeded,
                detail=outcome.detail,
                at=responded_at,
            ),
        )
        self.saved.extend(uow.commit())
        Srv623OutcomeRecorder().pull(self.app)
        return self.result()

    # --- the result -------------------------------------------------------------------------

    def result(self, missing: str = "") -> Srv623Result:
        state = self.app.load(self.key, ServiceRequest.create)
        assert state is not None  # noqa: S101 — received above
        route = state.route
        status = str(state.status)
        message = missing
        if missing and state.status is ServiceRequestStatus.IN_PROGRESS:
            status = "checks_incomplete"
        notified: tuple[Party, ...] = ()
        response: str | None = None
        if state.rejection is not None:
            notified = state.rejection.notified
            response = state.rejection.response_code
            message = "; ".join(f"{r.code}: {r.detail}" for r in state.rejection.reasons)
        ceased = getattr(state, "cessation", None)
        if ceased is not None:
            notified = tuple(ceased.alerted)
            message = "; ".join(f"{r.code}: {r.detail}" for r in ceased.reasons)
        if state.status is ServiceRequestStatus.SUCCEEDED:
            message = "processed: countersigned to the SMETS1 Service Provider"
            if state.command is not None:
                handed = state.command.transport == HANDED_OVER
                message = f"processed: the Command was {'handed over' if handed else 'sent'}"
            if self.device_outcome is not None:
                message += f"; the Device: {self.device_outcome.detail}"
            elif not state.smets1 and state.device_response is None:
                message += "; awaiting the Device's response"
        return Srv623Result(
            request_id=self.request.request_id,
            status=status,
            route=None if route is None else route.route,
            route_reasons=() if route is None else tuple(r.detail for r in route.reasons),
            stages=tuple(self.stages),
            response_code=response,
            message=message,
            notified=notified,
            artefacts=dict(self.artefacts),
            device_outcome=self.device_outcome,
            anomaly=self.anomaly,
            sha256=self.digest,
            events=tuple(self.saved),
        )


def _stage_report(
    stage: Stage, party: str, outcomes: tuple[CheckOutcome, ...], smets1: bool
) -> StageReport:
    """Every check of ``stage`` with its status: passed, failed, or not run after a failure."""
    ran = {o.check: o for o in outcomes}
    reports: list[CheckReport] = []
    for check in checks_of(stage, smets1_target=smets1):
        found = ran.get(check)
        if found is None:
            status, detail = CheckStatus.NOT_RUN, ""
        else:
            status = CheckStatus.PASSED if found.passed else CheckStatus.FAILED
            detail = found.detail
        reports.append(
            CheckReport(
                check=check,
                status=status,
                clause=check.clause,
                response_code=response_code(check).code,
                detail=detail,
            )
        )
    return StageReport(stage=stage, party=party, checks=tuple(reports))


__all__ = [
    "DEFAULT_COMMAND_TIMEOUT",
    "GBCS_ARTEFACTS",
    "HANDED_OVER",
    "PartyService",
    "RequestSource",
    "Srv623Dcc",
    "Srv623Parties",
    "Srv623Result",
    "Srv623Setup",
    "StageReport",
    "artefact_summary",
    "process_srv623",
    "record_device_response",
    "result_json",
]


def record_device_response(
    app: EtmadApplication,
    outcome_reader: CommandOutcomeReader,
    *,
    request_id: str,
    response: bytes | None,
    at: datetime,
) -> Outcome:
    """Record the Device's response to the Command of the request ``request_id``
    (``originator:target:counter``, EUI-64s as DUIS writes them) handed over earlier; None: the
    sending system reports that none came. Then the process manager records the SRV 6.23 on
    the Device (DOMAIN.md 3.5). The ``Outcome``'s result is the ``CommandOutcome``."""
    at = utc(at)
    try:
        originator, target, counter = request_id.rsplit(":", 2)
        key = service_request_aggregate_id(
            EUI64.parse(originator), EUI64.parse(target), int(counter)
        )
    except (ValueError, DomainError):
        raise CommandRejected(
            "INVALID_REQUEST_ID",
            f"{request_id!r} is not a Request ID (originator:target:counter)",
            clause=clauses.DUIS_SRV_6_23,
        ) from None
    uow = UnitOfWork(app)
    state = uow.get(key, ServiceRequest.create)
    if state is None:
        raise CommandRejected(
            "UNKNOWN_SERVICE_REQUEST",
            f"no SRV 6.23 Service Request {request_id} was received",
            clause=clauses.DUIS_SRV_6_23,
        )
    if response is None:
        outcome = CommandOutcome(
            succeeded=False, detail="no response: the sending system reports none came"
        )
    else:
        outcome = outcome_reader.command_outcome(response)
    event = state.record_device_response(
        response=response, succeeded=outcome.succeeded, detail=outcome.detail, at=at
    )
    uow.record(key, ServiceRequest.create, event)
    saved = uow.commit()
    Srv623OutcomeRecorder().pull(app)
    return Outcome(saved, outcome)


# --- the result as JSON (``etmad sr process --json``, ``etmad apply`` ``ProcessSrv623``) ---------


def artefact_summary(name: str, data: bytes) -> dict[str, JSON]:
    """An artefact in a JSON result: its SHA-256 and size; the hex of the GBCS ones."""
    summary: dict[str, JSON] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    if name in GBCS_ARTEFACTS:
        summary["hex"] = data.hex().upper()
    return summary


#: The artefacts that are GBCS bytes (the others are XML).
GBCS_ARTEFACTS: Final = frozenset({"signed_pre_command", "device_response"})


def result_json(result: Srv623Result) -> dict[str, JSON]:
    """``result`` in the JSON shape ``etmad sr process --json`` and ``ProcessSrv623`` give."""
    return {
        "request_id": result.request_id,
        "sha256": result.sha256,
        "status": result.status,
        "route": None if result.route is None else str(result.route),
        "route_reasons": list(result.route_reasons),
        "stages": [
            {
                "stage": str(s.stage),
                "party": s.party,
                "checks": [
                    {
                        "check": str(c.check),
                        "status": str(c.status),
                        "clause": c.clause,
                        "response_code": c.response_code,
                        "detail": c.detail,
                    }
                    for c in s.checks
                ],
            }
            for s in result.stages
        ],
        "response_code": result.response_code,
        "message": result.message,
        "notified": [str(p) for p in result.notified],
        "anomaly_detection": result.anomaly,
        "device_outcome": None
        if result.device_outcome is None
        else {
            "succeeded": result.device_outcome.succeeded,
            "detail": result.device_outcome.detail,
        },
        "artefacts": {
            name: artefact_summary(name, data) for name, data in sorted(result.artefacts.items())
        },
    }
