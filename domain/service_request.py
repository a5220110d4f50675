"""The ServiceRequest aggregate (DOMAIN.md 3.4): one SRV 6.23 'CoS Update Security Credentials'
Service Request, by its DUIS Request ID (originator EUI-64, target EUI-64, originator counter),
id ``service-request:<originator>:<target>:<counter>``.

It records what happened to the request, as events, in the order clause 8 (as rewritten by
ETMAD 3.5) allows:

1. ``Received``: the request as the DCC read it (``DUIS SRV 6.23``);
2. ``Routed``: the ``domain.routing.Route`` decision, with its reasons (``SRPD 6.4``). A
   ``SMETS1_LEGACY`` route ends the record here: clause 8 does not apply and the request leaves
   this core on the legacy SMETS1 path (``SRPD 6.4(b)``); a ``REJECTED`` route must be followed
   by ``Rejected``;
3. the steps of the route's path, each only once the one before it is recorded:

   * TCoS Party path: ``StageChecked`` ``dcc_request`` (SRPD 6.1), ``Countersigned`` to the TCoS
     Party (8.1A(a)), ``StageChecked`` ``tcos_party`` (8.1A(b)), ``PartyAnswered`` with the
     Signed Pre-Command (8.2A), ``StageChecked`` ``dcc_signed_pre_command`` (8.4A),
     ``CommandIssued`` (8.5A), ``Succeeded``;
   * CoS Party path: ``dcc_request``, ``Countersigned`` to the CoS Party (8.1(a)), ``cos_party``
     (8.1(b)), ``PartyAnswered`` with the CoS Authorisation Response (8.2(a) SMETS2+, 8.2(b)
     SMETS1), ``dcc_cos_authorisation_response`` (8.4), then for SMETS2+ ``CommandIssued``
     (8.5) and for SMETS1 ``Countersigned`` to the SMETS1 Service Provider (8.5), then
     ``Succeeded``.

   **[choice]** SMETS1 on the CoS Party path ends with a second ``Countersigned`` event, to the
   ``SMETS1 Service Provider``, with the SHA-256 of the countersigned request: it is the 8.5
   action for SMETS1, and no Command is issued by the DCC (``CommandIssued`` is refused,
   ``NO_COMMAND_FOR_SMETS1``). ``Succeeded`` records that the DCC's processing under clause 8
   is complete: the Command sent (SMETS2+) or the countersigned request handed to the SMETS1
   Service Provider.

   **[choice]** 8.5 (the 2021 consultation's DCC anomaly detection before sending): we follow
   the ETMAD text, which is silent; no such step is recorded here.

4. A ``StageChecked`` whose run failed must be followed by ``Rejected`` and nothing else; it
   names the failed check, its DUIS response code, the clause the rejection is made under and
   who is notified: the User always (SRPD 6.1; 8.3(b), 8.3A(b) through the DCC User Interface;
   8.6, 8.6A), and the CoS Party (8.6) or the TCoS Party (8.6A) of the rejection and its
   reasons when the DCC's checks on its communication failed, save where the failure was
   8.4(c) or 8.4A(c).
5. ``Ceased``: on the CoS Party path, once the CoS Party's 8.1(b) stage passed and while its
   answer is awaited, the CoS Party may instead cease processing the request by its CoS Party
   Threshold Anomaly Detection (SRPD 8.2 "may result in a cessation of processing"; DOMAIN.md
   3.6). It carries the anomaly decision's reasons; an alert goes to the User (SRPD 20) and
   nothing is quarantined: the supplier must send a new request. It is not a rejection (no
   check failed, no DUIS response code). Never on the TCoS Party path: 8.2 is the CoS Party's.
6. ``DeviceResponded``: the target Device's response to the Command the DCC sent (8.5, 8.5A),
   once, any time after ``CommandIssued`` (before or after ``Succeeded``), so never for SMETS1
   (no Command). **[choice]** ``Succeeded`` records that the DCC's processing under clause 8 is
   complete; what the Device then says is a later fact, recorded on the request because it is
   this request's outcome on the Device: ``succeeded``, the SHA-256 of the response bytes and
   the DCC's reading of it (``detail``). A Device that did not answer is recorded with
   ``answered`` False, an empty digest and ``succeeded`` False. A process manager follows it
   onto the Device (``application/process_managers.py::Srv623OutcomeRecorder``).

Nothing follows ``Rejected`` or ``Ceased``; nothing but the Device's response follows
``Succeeded``.

Each command checks the order first and refuses with a stable code (``OrderCode``) naming the
clause of the step it was asked for; it returns the event, it never changes the state.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Final, Self

import attrs

from domain import clauses
from domain.errors import RuleViolation
from domain.events import DomainEvent, utc
from domain.identifiers import EUI64, CertificateId, MPxN, SmetsGeneration
from domain.routing import Route, RouteTo
from domain.smki import TrustAnchorCell
from domain.srv623_checks import Check, Stage, checks_of, response_code
from domain.substantive import CertificateIdentity, CredentialsUpdate, Replacement

COUNTER_LIMIT: Final = 1 << 64  # the DUIS Request ID's originator counter is 0..2^64-1


def service_request_aggregate_id(originator: EUI64, target: EUI64, counter: int) -> str:
    return f"service-request:{originator}:{target}:{counter}"


class Party(enum.StrEnum):
    """Who a communication goes to, who answers, who is notified."""

    USER = "User"
    COS_PARTY = "CoS Party"
    TCOS_PARTY = "TCoS Party"
    SMETS1_SERVICE_PROVIDER = "SMETS1 Service Provider"


class Artefact(enum.StrEnum):
    """What a CoS or TCoS Party answers with."""

    COS_AUTHORISATION_RESPONSE = "CoS Authorisation Response"  # 8.2(a), 8.2(b)
    SIGNED_PRE_COMMAND = "Signed Pre-Command"  # 8.2A


class ServiceRequestStatus(enum.StrEnum):
    RECEIVED = "received"  # awaiting its route
    IN_PROGRESS = "in_progress"  # the next step of its path is awaited
    REJECTION_DUE = "rejection_due"  # a stage failed or the route refused it: record Rejected
    REJECTED = "rejected"
    SUCCEEDED = "succeeded"
    CEASED = "ceased"  # SRPD 8.2: the CoS Party's anomaly detection ceased its processing
    LEFT_ON_LEGACY_PATH = "left_on_legacy_path"  # SRPD 6.4(b): clause 8 does not apply


class OrderCode(enum.StrEnum):
    """Why a command was refused. Stable: callers match on these."""

    NOT_ROUTED = "NOT_ROUTED"
    ALREADY_ROUTED = "ALREADY_ROUTED"
    ROUTE_NOT_FOR_THIS_REQUEST = "ROUTE_NOT_FOR_THIS_REQUEST"
    REQUEST_REJECTED = "REQUEST_REJECTED"
    REQUEST_SUCCEEDED = "REQUEST_SUCCEEDED"
    REQUEST_CEASED = "REQUEST_CEASED"
    LEFT_ON_LEGACY_PATH = "LEFT_ON_LEGACY_PATH"
    REJECTION_DUE = "REJECTION_DUE"
    NOTHING_TO_REJECT = "NOTHING_TO_REJECT"
    NOT_ON_ROUTE = "NOT_ON_ROUTE"
    ALREADY_RECORDED = "ALREADY_RECORDED"
    STEP_OUT_OF_ORDER = "STEP_OUT_OF_ORDER"
    COMMAND_BEFORE_CHECKS_PASSED = "COMMAND_BEFORE_CHECKS_PASSED"
    NO_COMMAND_FOR_SMETS1 = "NO_COMMAND_FOR_SMETS1"
    SUCCESS_BEFORE_COMPLETION = "SUCCESS_BEFORE_COMPLETION"
    CHECKS_NOT_IN_ORDER = "CHECKS_NOT_IN_ORDER"
    STAGE_INCOMPLETE = "STAGE_INCOMPLETE"
    BEFORE_LAST_EVENT = "BEFORE_LAST_EVENT"
    EMPTY_ARTEFACT = "EMPTY_ARTEFACT"
    TRANSPORT_REQUIRED = "TRANSPORT_REQUIRED"
    INVALID_REQUEST_COUNTER = "INVALID_REQUEST_COUNTER"
    USER_ID_REQUIRED = "USER_ID_REQUIRED"
    DEVICE_NOT_TARGET = "DEVICE_NOT_TARGET"
    CESSATION_REASON_REQUIRED = "CESSATION_REASON_REQUIRED"
    RESPONSE_BEFORE_COMMAND = "RESPONSE_BEFORE_COMMAND"
    NO_ANSWER_CANNOT_SUCCEED = "NO_ANSWER_CANNOT_SUCCEED"
    FAILURE_DETAIL_REQUIRED = "FAILURE_DETAIL_REQUIRED"


#: The clause each stage's run is made under.
STAGE_CLAUSES: Final[dict[Stage, str]] = {
    Stage.DCC_REQUEST: clauses.SRPD_6_1,
    Stage.COS_PARTY: clauses.SRPD_8_1_B,
    Stage.DCC_COS_AUTHORISATION_RESPONSE: clauses.SRPD_8_4,
    Stage.TCOS_PARTY: clauses.SRPD_8_1A_B,
    Stage.DCC_SIGNED_PRE_COMMAND: clauses.SRPD_8_4A,
}

#: The clause a failure at each stage is rejected under, and who is notified of it.
REJECTION_CLAUSES: Final[dict[Stage, str]] = {
    Stage.DCC_REQUEST: clauses.SRPD_6_1,
    Stage.COS_PARTY: clauses.SRPD_8_3,
    Stage.DCC_COS_AUTHORISATION_RESPONSE: clauses.SRPD_8_6,
    Stage.TCOS_PARTY: clauses.SRPD_8_3A,
    Stage.DCC_SIGNED_PRE_COMMAND: clauses.SRPD_8_6A,
}

#: The party the DCC notifies of the rejection and its reasons (8.6, 8.6A), when its checks on
#: that party's communication fail, save where the check that failed is the one named here.
_PARTY_NOTIFIED: Final[dict[Stage, tuple[Party, Check]]] = {
    Stage.DCC_COS_AUTHORISATION_RESPONSE: (Party.COS_PARTY, Check.DCC_8_4_C_VALID_AND_WELL_FORMED),
    Stage.DCC_SIGNED_PRE_COMMAND: (Party.TCOS_PARTY, Check.TCOS_8_4A_C_CRYPTOGRAPHIC_PROTECTION),
}


def notified_of(stage: Stage, check: Check) -> tuple[Party, ...]:
    """Who is notified when ``check`` fails at ``stage``: the User always; the CoS Party (8.6)
    or the TCoS Party (8.6A) too, save where 8.4(c) or 8.4A(c) failed."""
    party = _PARTY_NOTIFIED.get(stage)
    if party is None or check is party[1]:
        return (Party.USER,)
    return (Party.USER, party[0])


# --- values carried by events ----------------------------------------------------------------


@attrs.frozen(kw_only=True)
class RequestedReplacement:
    """One replacement of a ``CredentialsUpdate``, stored: the certificate by the hex of the
    SHA-256 of its DER bytes (the event log stores text, not bytes)."""

    cell: TrustAnchorCell
    certificate_sha256: str
    certificate_id: CertificateId | None


@attrs.frozen(kw_only=True)
class RequestedCredentials:
    """The requested ``CredentialsUpdate`` as stored in ``Received``; ``update()`` gives it
    back (``domain.substantive`` validates it)."""

    device: EUI64
    replacements: tuple[RequestedReplacement, ...]
    supplier_floor_seq_number: int | None
    prepayment_top_up_floor_seq_number: int | None
    execution_date_time: datetime | None

    @classmethod
    def of(cls, update: CredentialsUpdate) -> Self:
        return cls(
            device=update.device,
            replacements=tuple(
                RequestedReplacement(
                    cell=r.cell,
                    certificate_sha256=r.certificate.sha256.hex(),
                    certificate_id=r.certificate.certificate_id,
                )
                for r in update.replacements
            ),
            supplier_floor_seq_number=update.supplier_floor_seq_number,
            prepayment_top_up_floor_seq_number=update.prepayment_top_up_floor_seq_number,
            execution_date_time=update.execution_date_time,
        )

    def update(self) -> CredentialsUpdate:
        return CredentialsUpdate(
            device=self.device,
            replacements=tuple(
                Replacement(
                    r.cell,
                    CertificateIdentity(bytes.fromhex(r.certificate_sha256), r.certificate_id),
                )
                for r in self.replacements
            ),
            supplier_floor_seq_number=self.supplier_floor_seq_number,
            prepayment_top_up_floor_seq_number=self.prepayment_top_up_floor_seq_number,
            execution_date_time=self.execution_date_time,
        )


@attrs.frozen
class CheckOutcome:
    """One check as run: passed or not; ``detail`` says why it failed (empty when it passed)."""

    check: Check
    passed: bool = attrs.field(kw_only=True)
    detail: str = attrs.field(default="", kw_only=True)


@attrs.frozen(kw_only=True)
class FailedCheck:
    """The first check of a stage that failed, its clause and the DUIS response code."""

    check: Check
    clause: str
    response_code: str
    detail: str


@attrs.frozen(kw_only=True)
class RejectionReason:
    code: str
    clause: str
    detail: str


# --- events ---------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Received(DomainEvent):
    """The DCC received the request (``occurred_at``: when)."""

    TYPE = "etmad.service_request.Received.v1"
    originator: EUI64
    target: EUI64
    counter: int
    user_id: str
    signer: CertificateId
    mpxn: MPxN
    generation: SmetsGeneration
    command_variant: int
    requested: RequestedCredentials
    clause: str = clauses.DUIS_SRV_6_23


@attrs.frozen(kw_only=True)
class Routed(DomainEvent):
    TYPE = "etmad.service_request.Routed.v1"
    route: Route
    clause: str = clauses.SRPD_6_4


@attrs.frozen(kw_only=True)
class StageChecked(DomainEvent):
    """One stage's run, in order, stopping at the first failure (``failed``; None: passed)."""

    TYPE = "etmad.service_request.StageChecked.v1"
    stage: Stage
    outcomes: tuple[CheckOutcome, ...]
    failed: FailedCheck | None
    clause: str


@attrs.frozen(kw_only=True)
class Countersigned(DomainEvent):
    """The DCC countersigned the request and sent it on (8.1(a), 8.1A(a), 8.5 SMETS1)."""

    TYPE = "etmad.service_request.Countersigned.v1"
    to: Party
    sha256: str
    clause: str


@attrs.frozen(kw_only=True)
class PartyAnswered(DomainEvent):
    """The CoS or TCoS Party's answer reached the DCC (8.2(a), 8.2(b), 8.2A)."""

    TYPE = "etmad.service_request.PartyAnswered.v1"
    party: Party
    artefact: Artefact
    sha256: str
    clause: str


@attrs.frozen(kw_only=True)
class CommandIssued(DomainEvent):
    """The DCC sent the Command of the Signed Pre-Command (8.5, 8.5A)."""

    TYPE = "etmad.service_request.CommandIssued.v1"
    sha256: str
    transport: str
    clause: str


@attrs.frozen(kw_only=True)
class Rejected(DomainEvent):
    """The request was rejected: by its route (``check`` None, no response code held) or by
    the first failed check of a stage; ``notified``: who is told."""

    TYPE = "etmad.service_request.Rejected.v1"
    check: Check | None
    response_code: str | None
    reasons: tuple[RejectionReason, ...]
    notified: tuple[Party, ...]
    clause: str


@attrs.frozen(kw_only=True)
class Succeeded(DomainEvent):
    TYPE = "etmad.service_request.Succeeded.v1"
    clause: str


@attrs.frozen(kw_only=True)
class Ceased(DomainEvent):
    """The CoS Party ceased processing the request by its CoS Party Threshold Anomaly
    Detection (SRPD 8.2): ``reasons`` are the anomaly decision's; ``alerted``: who is told
    (the User, SRPD 20). Nothing is quarantined: the supplier must resend."""

    TYPE = "etmad.service_request.Ceased.v1"
    party: Party
    reasons: tuple[RejectionReason, ...]
    alerted: tuple[Party, ...] = (Party.USER,)
    clause: str = clauses.SRPD_8_2


@attrs.frozen(kw_only=True)
class DeviceResponded(DomainEvent):
    """The target Device's response to the Command (8.5, 8.5A), as the DCC received and read
    it (``occurred_at``: when): ``answered`` False when the Device did not answer (then
    ``sha256`` is empty and ``succeeded`` False); ``sha256`` of the response bytes;
    ``succeeded`` whether the update it carried succeeded; ``detail`` what it said."""

    TYPE = "etmad.service_request.DeviceResponded.v1"
    answered: bool
    succeeded: bool
    sha256: str
    detail: str
    clause: str


EVENTS: tuple[type[DomainEvent], ...] = (
    Received,
    Routed,
    StageChecked,
    Countersigned,
    PartyAnswered,
    CommandIssued,
    Rejected,
    Succeeded,
    Ceased,
    DeviceResponded,
)

# --- the path of each route -----------------------------------------------------------------


class StepKind(enum.StrEnum):
    STAGE = "stage"
    COUNTERSIGN = "countersign"
    ANSWER = "answer"
    COMMAND = "command"
    SUCCESS = "success"


@attrs.frozen
class PathStep:
    """One step of a route's path: a stage's run, a countersigning to a party, a party's
    answer, the Command, success; with the clause it is taken under."""

    kind: StepKind
    clause: str
    stage: Stage | None = None
    party: Party | None = None

    def __str__(self) -> str:
        what = self.stage or self.party
        return f"{self.kind} ({what}, {self.clause})" if what else f"{self.kind} ({self.clause})"


def _stage(stage: Stage) -> PathStep:
    return PathStep(StepKind.STAGE, STAGE_CLAUSES[stage], stage=stage)


def path_of(route: RouteTo, generation: SmetsGeneration) -> tuple[PathStep, ...]:
    """The steps a request on ``route`` takes, in order (none: it leaves or is refused)."""
    if route is RouteTo.TCOS_PARTY:
        return (
            _stage(Stage.DCC_REQUEST),
            PathStep(StepKind.COUNTERSIGN, clauses.SRPD_8_1A_A, party=Party.TCOS_PARTY),
            _stage(Stage.TCOS_PARTY),
            PathStep(StepKind.ANSWER, clauses.SRPD_8_2A, party=Party.TCOS_PARTY),
            _stage(Stage.DCC_SIGNED_PRE_COMMAND),
            PathStep(StepKind.COMMAND, clauses.SRPD_8_5A),
            PathStep(StepKind.SUCCESS, clauses.SRPD_8_5A),
        )
    if route is not RouteTo.COS_PARTY:
        return ()
    smets1 = generation is SmetsGeneration.SMETS1
    answer = clauses.SRPD_8_2_B if smets1 else clauses.SRPD_8_2_A
    last = (
        PathStep(StepKind.COUNTERSIGN, clauses.SRPD_8_5, party=Party.SMETS1_SERVICE_PROVIDER)
        if smets1
        else PathStep(StepKind.COMMAND, clauses.SRPD_8_5)
    )
    return (
        _stage(Stage.DCC_REQUEST),
        PathStep(StepKind.COUNTERSIGN, clauses.SRPD_8_1_A, party=Party.COS_PARTY),
        _stage(Stage.COS_PARTY),
        PathStep(StepKind.ANSWER, answer, party=Party.COS_PARTY),
        _stage(Stage.DCC_COS_AUTHORISATION_RESPONSE),
        last,
        PathStep(StepKind.SUCCESS, clauses.SRPD_8_5),
    )


def _violation(message: str, code: OrderCode, clause: str | None = None) -> RuleViolation:
    return RuleViolation(message, code=code.value, clause=clause)


def _sha256(artefact: bytes, what: str, clause: str) -> str:
    if not artefact:
        raise _violation(f"the {what} is empty", OrderCode.EMPTY_ARTEFACT, clause)
    return hashlib.sha256(artefact).hexdigest()


# --- the aggregate --------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ServiceRequest:
    """The ``service-request:<originator>:<target>:<counter>`` aggregate (see the module)."""

    received: Received
    route: Route | None = None
    stages: tuple[StageChecked, ...] = ()
    countersigned: tuple[Countersigned, ...] = ()
    answers: tuple[PartyAnswered, ...] = ()
    command: CommandIssued | None = None
    rejection: Rejected | None = None
    succeeded_at: datetime | None = None
    cessation: Ceased | None = None
    device_response: DeviceResponded | None = None
    done: tuple[PathStep, ...] = ()
    last_at: datetime
    version: int = 0

    # --- creation and folding ---------------------------------------------------------------

    @staticmethod
    def receive(
        *,
        originator: EUI64,
        target: EUI64,
        counter: int,
        user_id: str,
        signer: CertificateId,
        mpxn: MPxN,
        generation: SmetsGeneration,
        command_variant: int,
        requested: CredentialsUpdate,
        at: datetime,
    ) -> Received:
        """Record the receipt of an SRV 6.23 request: its Request ID, who sent and signed it,
        and what it asks for. The Command Variant is judged by routing, not here."""
        at = utc(at)
        if isinstance(counter, bool) or not 0 <= counter < COUNTER_LIMIT:
            raise _violation(
                f"the Request ID's originator counter is 0..2^64-1, not {counter!r}",
                OrderCode.INVALID_REQUEST_COUNTER,
                clauses.DUIS_SRV_6_23,
            )
        if not user_id.strip():
            raise _violation(
                "a Service Request names its User ID", OrderCode.USER_ID_REQUIRED, clauses.SRPD_6_1
            )
        if requested.device != target:
            raise _violation(
                f"the request asks to update Device {requested.device}, its target is {target}",
                OrderCode.DEVICE_NOT_TARGET,
                clauses.DUIS_SRV_6_23,
            )
        return Received(
            occurred_at=at,
            originator=originator,
            target=target,
            counter=counter,
            user_id=user_id,
            signer=signer,
            mpxn=mpxn,
            generation=generation,
            command_variant=command_variant,
            requested=RequestedCredentials.of(requested),
        )

    @classmethod
    def create(cls, event: DomainEvent, version: int) -> Self:
        if not isinstance(event, Received):
            raise TypeError(f"a ServiceRequest starts with Received, not {event.TYPE}")
        assert event.occurred_at is not None  # noqa: S101 — receive always gives a time
        return cls(received=event, last_at=event.occurred_at, version=version)

    @property
    def aggregate_id(self) -> str:
        r = self.received
        return service_request_aggregate_id(r.originator, r.target, r.counter)

    def apply(self, event: DomainEvent, version: int) -> Self:  # noqa: PLR0911 — one per event
        at = event.occurred_at
        assert at is not None  # noqa: S101 — every command gives a time
        state = attrs.evolve(self, last_at=at, version=version)
        match event:
            case Routed():
                return attrs.evolve(state, route=event.route)
            case StageChecked():
                step = _stage(event.stage)
                return attrs.evolve(state, stages=(*self.stages, event), done=(*self.done, step))
            case Countersigned():
                step = self._step_for(StepKind.COUNTERSIGN, event.to)
                return attrs.evolve(
                    state, countersigned=(*self.countersigned, event), done=(*self.done, step)
                )
            case PartyAnswered():
                step = self._step_for(StepKind.ANSWER, event.party)
                return attrs.evolve(state, answers=(*self.answers, event), done=(*self.done, step))
            case CommandIssued():
                step = self._step_for(StepKind.COMMAND, None)
                return attrs.evolve(state, command=event, done=(*self.done, step))
            case Rejected():
                return attrs.evolve(state, rejection=event)
            case Succeeded():
                step = self._step_for(StepKind.SUCCESS, None)
                return attrs.evolve(state, succeeded_at=at, done=(*self.done, step))
            case Ceased():
                return attrs.evolve(state, cessation=event)
            case DeviceResponded():
                return attrs.evolve(state, device_response=event)
        raise TypeError(f"a ServiceRequest does not fold {event.TYPE}")

    def _step_for(self, kind: StepKind, party: Party | None) -> PathStep:
        return next(s for s in self.path if s.kind is kind and s.party is party)

    # --- what an auditor reads --------------------------------------------------------------

    @property
    def path(self) -> tuple[PathStep, ...]:
        if self.route is None:
            return ()
        return path_of(self.route.route, self.received.generation)

    @property
    def smets1(self) -> bool:
        return self.received.generation is SmetsGeneration.SMETS1

    @property
    def failed_stage(self) -> StageChecked | None:
        """The stage whose run failed, if one did (it is the last recorded)."""
        if self.stages and self.stages[-1].failed is not None:
            return self.stages[-1]
        return None

    @property
    def status(self) -> ServiceRequestStatus:
        ended = self._ended_as()
        if ended is not None:
            return ended
        if self.route is None:
            return ServiceRequestStatus.RECEIVED
        if self.route.route is RouteTo.SMETS1_LEGACY:
            return ServiceRequestStatus.LEFT_ON_LEGACY_PATH
        if self.route.rejected or self.failed_stage is not None:
            return ServiceRequestStatus.REJECTION_DUE
        return ServiceRequestStatus.IN_PROGRESS

    def _ended_as(self) -> ServiceRequestStatus | None:
        """The status of a request whose record ended: rejected, ceased or succeeded."""
        if self.rejection is not None:
            return ServiceRequestStatus.REJECTED
        if self.cessation is not None:
            return ServiceRequestStatus.CEASED
        if self.succeeded_at is not None:
            return ServiceRequestStatus.SUCCEEDED
        return None

    @property
    def next_step(self) -> PathStep | None:
        """The step awaited (None: none is, the request is not in progress)."""
        if self.status is not ServiceRequestStatus.IN_PROGRESS:
            return None
        return self.path[len(self.done)]

    def outcome_of(self, stage: Stage) -> StageChecked | None:
        """The run of ``stage``, if recorded."""
        return next((s for s in self.stages if s.stage is stage), None)

    @property
    def response_code(self) -> str | None:
        """The DUIS response code the User received, if the request was rejected by a check."""
        return None if self.rejection is None else self.rejection.response_code

    @property
    def requested(self) -> CredentialsUpdate:
        return self.received.requested.update()

    # --- commands ---------------------------------------------------------------------------

    def record_route(self, route: Route, *, at: datetime) -> Routed:
        """Record the routing decision (``domain.routing.route_srv623``) made for this
        request: its generation and Command Variant must be the request's."""
        at = self._in_time(at)
        if self.route is not None:
            raise _violation(
                f"request {self.aggregate_id} was already routed to {self.route.route}",
                OrderCode.ALREADY_ROUTED,
                clauses.SRPD_6_4,
            )
        inputs, r = route.inputs, self.received
        if inputs.generation is not r.generation or inputs.command_variant != r.command_variant:
            raise _violation(
                f"the route was decided for a {inputs.generation} request with Command Variant "
                f"{inputs.command_variant}; this is a {r.generation} request with Command "
                f"Variant {r.command_variant}",
                OrderCode.ROUTE_NOT_FOR_THIS_REQUEST,
                clauses.SRPD_6_4,
            )
        return Routed(occurred_at=at, route=route)

    def record_stage(
        self, stage: Stage, outcomes: Sequence[CheckOutcome], *, at: datetime
    ) -> StageChecked:
        """Record one run of ``stage``'s checks: in ``checks_of``'s order (SMETS2+-only checks
        left out for a SMETS1 target), every one run until the first failure, which ends it
        (**[choice]**, 8.3, 8.6(a), 8.6A)."""
        step = _stage(stage)
        at = self._expect(step, at)
        expected = checks_of(stage, smets1_target=self.smets1)
        ran = tuple(o.check for o in outcomes)
        failures = [i for i, o in enumerate(outcomes) if not o.passed]
        ends_at = failures[0] + 1 if failures else len(expected)
        if ran != expected[: len(ran)] or len(ran) > ends_at:
            raise _violation(
                f"the {stage} checks run in this order, stopping at the first failure: "
                f"{', '.join(expected)}; got {', '.join(ran) or 'none'}",
                OrderCode.CHECKS_NOT_IN_ORDER,
                step.clause,
            )
        if len(ran) < ends_at:
            raise _violation(
                f"the {stage} run passed {len(ran)} of its {len(expected)} checks: a stage "
                "passes only when every check has run",
                OrderCode.STAGE_INCOMPLETE,
                step.clause,
            )
        failed = None
        if failures:
            first = outcomes[failures[0]]
            failed = FailedCheck(
                check=first.check,
                clause=first.check.clause,
                response_code=response_code(first.check).code,
                detail=first.detail,
            )
        return StageChecked(
            occurred_at=at, stage=stage, outcomes=tuple(outcomes), failed=failed, clause=step.clause
        )

    def record_countersigned(self, *, to: Party, artefact: bytes, at: datetime) -> Countersigned:
        """Record that the DCC countersigned the request and sent it to ``to``: the CoS Party
        (8.1(a)) or the TCoS Party (8.1A(a)) once its own checks passed; for SMETS1 on the CoS
        Party path, the SMETS1 Service Provider once the 8.4 checks passed (8.5)."""
        step = PathStep(StepKind.COUNTERSIGN, "", party=to)
        at = self._expect(step, at)
        clause = self._step_for(StepKind.COUNTERSIGN, to).clause
        digest = _sha256(artefact, "countersigned request", clause)
        return Countersigned(occurred_at=at, to=to, sha256=digest, clause=clause)

    def record_answer(self, *, party: Party, artefact: bytes, at: datetime) -> PartyAnswered:
        """Record the CoS Party's CoS Authorisation Response (8.2(a), 8.2(b)) or the TCoS
        Party's Signed Pre-Command (8.2A)."""
        at = self._expect(PathStep(StepKind.ANSWER, "", party=party), at)
        kind = (
            Artefact.SIGNED_PRE_COMMAND
            if party is Party.TCOS_PARTY
            else Artefact.COS_AUTHORISATION_RESPONSE
        )
        clause = self._step_for(StepKind.ANSWER, party).clause
        digest = _sha256(artefact, str(kind), clause)
        return PartyAnswered(
            occurred_at=at, party=party, artefact=kind, sha256=digest, clause=clause
        )

    def record_command(self, *, command: bytes, transport: str, at: datetime) -> CommandIssued:
        """Record that the DCC sent the Command (the Signed Pre-Command with the DCC's MAC)
        over ``transport``, once its last stage passed (8.5, 8.5A); never for SMETS1."""
        at = self._expect(PathStep(StepKind.COMMAND, ""), at)
        clause = self._step_for(StepKind.COMMAND, None).clause
        if not transport.strip():
            raise _violation("a Command names its transport", OrderCode.TRANSPORT_REQUIRED, clause)
        digest = _sha256(command, "Command", clause)
        return CommandIssued(occurred_at=at, sha256=digest, transport=transport, clause=clause)

    def succeed(self, *, at: datetime) -> Succeeded:
        """Record that the DCC's processing under clause 8 is complete (8.5, 8.5A)."""
        at = self._expect(PathStep(StepKind.SUCCESS, ""), at)
        return Succeeded(occurred_at=at, clause=self._step_for(StepKind.SUCCESS, None).clause)

    def reject(self, *, at: datetime) -> Rejected:
        """Record the rejection due: by the route's refusals (the User is notified), or by the
        first failed check of the stage that failed (``notified_of``)."""
        at = self._in_time(at)
        self._not_ended()
        if self.status is not ServiceRequestStatus.REJECTION_DUE:
            raise _violation(
                f"request {self.aggregate_id} has nothing to reject: no refusing route and no "
                "failed stage",
                OrderCode.NOTHING_TO_REJECT,
            )
        failed = self.failed_stage
        if failed is None:
            assert self.route is not None  # noqa: S101 — REJECTION_DUE without a failed stage
            reasons = tuple(
                RejectionReason(code=r.code.value, clause=r.clause, detail=r.detail)
                for r in self.route.reasons
            )
            return Rejected(
                occurred_at=at,
                check=None,
                response_code=None,
                reasons=reasons,
                notified=(Party.USER,),
                clause=reasons[0].clause,
            )
        check = failed.failed
        assert check is not None  # noqa: S101 — that is what failed_stage means
        return Rejected(
            occurred_at=at,
            check=check.check,
            response_code=check.response_code,
            reasons=(
                RejectionReason(code=check.check.value, clause=check.clause, detail=check.detail),
            ),
            notified=notified_of(failed.stage, check.check),
            clause=REJECTION_CLAUSES[failed.stage],
        )

    def cease(self, *, reasons: Sequence[RejectionReason], at: datetime) -> Ceased:
        """Record that the CoS Party ceased processing the request by its CoS Party Threshold
        Anomaly Detection (SRPD 8.2), with the anomaly decision's reasons: on the CoS Party
        path only, once its 8.1(b) stage passed and while its answer is awaited. The User is
        alerted (SRPD 20); nothing follows."""
        at = self._in_time(at)
        self._not_ended()
        if self.route_to is RouteTo.TCOS_PARTY:
            raise _violation(
                "only the CoS Party ceases processing by anomaly detection (8.2): this request "
                "is on the TCoS Party path",
                OrderCode.NOT_ON_ROUTE,
                clauses.SRPD_8_2,
            )
        at = self._expect(PathStep(StepKind.ANSWER, "", party=Party.COS_PARTY), at)
        if not reasons:
            raise _violation(
                "a cessation names the reasons of the anomaly decision that ceased it",
                OrderCode.CESSATION_REASON_REQUIRED,
                clauses.SRPD_8_2,
            )
        return Ceased(occurred_at=at, party=Party.COS_PARTY, reasons=tuple(reasons))

    def record_device_response(
        self, *, response: bytes | None, succeeded: bool, detail: str, at: datetime
    ) -> DeviceResponded:
        """Record the target Device's response to the Command (8.5, 8.5A): ``response`` its
        bytes (None: the Device did not answer, which is not a success), ``succeeded`` whether
        the update it carried succeeded, ``detail`` what it said (required when it did not
        succeed). Once, after ``CommandIssued``, before or after ``Succeeded``."""
        at = self._in_time(at)
        self._not_ended(device_response=True)
        if self.command is None:
            if self.smets1:
                raise _violation(
                    "for SMETS1 the DCC issues no Command: there is no Device response to record",
                    OrderCode.NO_COMMAND_FOR_SMETS1,
                    clauses.SRPD_8_5,
                )
            raise _violation(
                f"request {self.aggregate_id} has no Command issued: the Device's response "
                "follows the Command",
                OrderCode.RESPONSE_BEFORE_COMMAND,
                clauses.SRPD_8_5A if self.route_to is RouteTo.TCOS_PARTY else clauses.SRPD_8_5,
            )
        clause = self.command.clause
        if self.device_response is not None:
            raise _violation(
                f"the Device's response to request {self.aggregate_id} was already recorded",
                OrderCode.ALREADY_RECORDED,
                clause,
            )
        digest = ""
        if response is None:
            if succeeded:
                raise _violation(
                    "a Device that did not answer did not succeed",
                    OrderCode.NO_ANSWER_CANNOT_SUCCEED,
                    clause,
                )
        else:
            digest = _sha256(response, "Device's response", clause)
        if not succeeded and not detail.strip():
            raise _violation(
                "a Device response that did not succeed says why",
                OrderCode.FAILURE_DETAIL_REQUIRED,
                clause,
            )
        return DeviceResponded(
            occurred_at=at,
            answered=response is not None,
            succeeded=succeeded,
            sha256=digest,
            detail=detail,
            clause=clause,
        )

    # --- checks -----------------------------------------------------------------------------

    def _in_time(self, at: datetime) -> datetime:
        at = utc(at)
        if at < self.last_at:
            raise _violation(
                f"{at.isoformat()} precedes the last event of request {self.aggregate_id} at "
                f"{self.last_at.isoformat()}",
                OrderCode.BEFORE_LAST_EVENT,
            )
        return at

    def _not_ended(self, *, device_response: bool = False) -> None:
        """Refuse when nothing may follow: after ``Rejected``, ``Ceased``, the legacy route, or
        ``Succeeded`` (save, with ``device_response``, the Device's response)."""
        status = self.status
        if status is ServiceRequestStatus.REJECTED:
            assert self.rejection is not None  # noqa: S101 — that is the status
            raise _violation(
                f"request {self.aggregate_id} was rejected: nothing follows a rejection",
                OrderCode.REQUEST_REJECTED,
                self.rejection.clause,
            )
        if status is ServiceRequestStatus.CEASED:
            raise _violation(
                f"the CoS Party ceased processing request {self.aggregate_id}: nothing follows; "
                "the supplier sends a new request",
                OrderCode.REQUEST_CEASED,
                clauses.SRPD_8_2,
            )
        if status is ServiceRequestStatus.SUCCEEDED and not device_response:
            raise _violation(
                f"request {self.aggregate_id} has succeeded: nothing but the Device's response "
                "follows",
                OrderCode.REQUEST_SUCCEEDED,
            )
        if status is ServiceRequestStatus.LEFT_ON_LEGACY_PATH:
            raise _violation(
                f"request {self.aggregate_id} left on the legacy SMETS1 path: clause 8 does not "
                "apply",
                OrderCode.LEFT_ON_LEGACY_PATH,
                clauses.SRPD_6_4_B,
            )

    def _expect(self, step: PathStep, at: datetime) -> datetime:
        """``at``, if ``step`` (by kind, stage and party) is the step awaited."""
        at = self._in_time(at)
        self._not_ended()
        status = self.status
        if status is ServiceRequestStatus.RECEIVED:
            raise _violation(
                f"request {self.aggregate_id} must be routed before its {step.kind}",
                OrderCode.NOT_ROUTED,
                clauses.SRPD_6_4,
            )
        if status is ServiceRequestStatus.REJECTION_DUE:
            raise _violation(
                f"request {self.aggregate_id} is to be rejected: record the rejection",
                OrderCode.REJECTION_DUE,
            )
        if step.kind is StepKind.COMMAND and self.smets1:
            raise _violation(
                "for SMETS1 the DCC countersigns the request to the SMETS1 Service Provider; it "
                "issues no Command",
                OrderCode.NO_COMMAND_FOR_SMETS1,
                clauses.SRPD_8_5,
            )
        path = self.path
        same = [i for i, s in enumerate(path) if _same(s, step)]
        if not same:
            raise _violation(
                f"{step.kind} ({step.stage or step.party}) is not on the {self.route_to} path",
                OrderCode.NOT_ON_ROUTE,
                clauses.SRPD_6_4,
            )
        index, expected = same[0], path[len(self.done)]
        if index < len(self.done):
            raise _violation(
                f"{path[index]} was already recorded",
                OrderCode.ALREADY_RECORDED,
                path[index].clause,
            )
        if index == len(self.done):
            return at
        code = OrderCode.STEP_OUT_OF_ORDER
        if step.kind is StepKind.COMMAND:
            code = OrderCode.COMMAND_BEFORE_CHECKS_PASSED
        elif step.kind is StepKind.SUCCESS:
            code = OrderCode.SUCCESS_BEFORE_COMPLETION
        raise _violation(f"{path[index]} cannot come before {expected}", code, path[index].clause)

    @property
    def route_to(self) -> RouteTo | None:
        return None if self.route is None else self.route.route


def _same(a: PathStep, b: PathStep) -> bool:
    return a.kind is b.kind and a.stage is b.stage and a.party is b.party
