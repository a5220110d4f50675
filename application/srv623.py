"""The DCC's request stage of an SRV 6.23 (``Stage.DCC_REQUEST``, SRPD 6.1; DOMAIN.md 3.4).

``receive_request`` reads signed request bytes through a ``SignedRequestReader`` (a port: the
DUIS codec and the SMKI trust store are adapters), then, in one unit of work: records
``Received`` on the ``ServiceRequest``, routes it (``route_srv623``, SRPD 6.4), and runs the
request checks in the order ``checks_of`` gives, stopping at the first failure.

What is decided, and how (``docs/decisions.md`` records the choices):

* Check Cryptographic Protection is the reader's: a request whose signature does not verify with
  the certificate its KeyInfo names (or that cannot be read) raises ``RequestNotVerified`` and
  nothing is saved — its Request ID cannot be trusted, so no record is keyed by it. A request
  the reader returns has passed it.
* Confirm Validity of the signer, its ``xmlSign`` role, User ID against the signer and
  anti-replay are decided from the request and the request counters.
* ``REQUEST_MPID_IN_SIGNER_CERTIFICATE``: an SMKI Organisation Certificate carries no MPID, so
  the MPIDs "in" the signer's certificate are those the DSP's Party Details give to its User ID
  (``application.ports.PartyDetails``; DOMAIN 1: "Party Details ↔ User ID"). The MPID used for
  the Registration Data look-up is the Responsible Supplier Registration Data names for the
  request's MPxN on its execution date-time, or when it is received if it is not future-dated
  (8.1A(b)(iv)'s "is (or is to be) … on the specified execution date, or on the current date if
  none is specified", read for the DCC's look-up). It must be one of those MPIDs.
* The MPxN against the Smart Metering Inventory, the replacement certificates (their number for
  the target's Device type, ``Settings.replacement_certificates`` **[our choice]**; their role;
  their key usage against their cell), the prepayment top-up floor, and the OCA certificates
  (every replacement's issuer included; every included OCA the issuer of a replacement).
* A check is **undecided** when the data to decide it is not given: the MPID check when the
  application holds no Party Details, the last OCA check when the reader does not give the
  certification path certificates' subjects. ``record_stage`` records a run only in
  ``checks_of`` order, and a passing run only with every check, so when the run reaches one the
  stage is **not recorded**: the request stays received and routed, its counter is not
  accepted, and the result says which check is undecided and what is missing.
* When every check passes, ``StageChecked`` is recorded, the counter is accepted on the replay
  record and the request awaits the next step of its route, which the result names
  (countersigning to the CoS or TCoS Party, 8.1(a), 8.1A(a)).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Final, Protocol

import attrs

from application.errors import CommandRejected, UnknownDevice, UnknownDeviceModel
from application.ports import PartyDetails
from application.service import EtmadApplication, Outcome, UnitOfWork
from domain import clauses
from domain.cos_parties import COS_PARTY_REGISTER_ID, CosPartyRegister
from domain.device import Device, device_aggregate_id
from domain.device_model import DeviceModel, model_aggregate_id
from domain.events import utc
from domain.identifiers import EUI64, CertificateId, DeviceType, MPxN
from domain.registration import supplier_on
from domain.replay import RequestCounterRecord, request_counters_aggregate_id
from domain.routing import RouteTo, route_srv623
from domain.service_request import (
    CheckOutcome,
    PathStep,
    ServiceRequest,
    service_request_aggregate_id,
)
from domain.smki import CellUsage, KeyUsage, RemotePartyRole, TrustAnchorCell, Validity
from domain.srv623_checks import Check, Stage, checks_of, response_code
from domain.substantive import CredentialsUpdate

# --- the port and its values -----------------------------------------------------------------


@attrs.frozen(kw_only=True)
class SignerFacts:
    """The certificate the request's signature verified with: its Certificate ID; its Entity
    Identifier, Remote Party Role and key usage when it is an SMKI Organisation Certificate
    (None otherwise); Confirm Validity of it at the request's time."""

    certificate_id: CertificateId
    entity_id: EUI64 | None
    role: RemotePartyRole | None
    key_usage: KeyUsage | None
    validity: Validity


@attrs.frozen(kw_only=True)
class ReplacementFacts:
    """One replacement certificate as read: the cell it fills, the SHA-256 of its DER, and,
    when it parses as an Organisation Certificate, its ID, role and key usage; whether the
    certificate of its issuer is among the request's certification path certificates."""

    cell: TrustAnchorCell
    sha256: str
    certificate_id: CertificateId | None
    role: RemotePartyRole | None
    key_usage: KeyUsage | None
    issuer_included: bool
    #: The Entity Identifier (User ID) of the Organisation Certificate; None when it is not one.
    entity_id: EUI64 | None = None


@attrs.frozen(kw_only=True)
class VerifiedRequest:
    """An SRV 6.23 request whose signature verified with the certificate KeyInfo names.

    ``user_id`` is the Request ID's originator (the DUIS User ID of the sender)."""

    originator: EUI64
    target: EUI64
    counter: int
    signer: SignerFacts
    mpxn: MPxN
    command_variant: int
    requested: CredentialsUpdate
    replacements: tuple[ReplacementFacts, ...]
    certification_path: tuple[CertificateId, ...]
    #: The subject of each certification path certificate, in ``certification_path``'s order;
    #: None when the reader does not give them (``REQUEST_OCA_CERTIFICATES_ALL_USED`` is then
    #: undecided).
    certification_path_subjects: tuple[str, ...] | None = None

    @property
    def user_id(self) -> str:
        return str(self.originator)

    @property
    def request_id(self) -> str:
        return f"{self.originator}:{self.target}:{self.counter}"


class RequestNotVerified(CommandRejected):
    """The bytes are not a readable SRV 6.23 request, or its signature does not verify; nothing
    is saved. ``check`` is ``REQUEST_CRYPTOGRAPHIC_PROTECTION`` when the signature is what
    failed (``response_code`` its code), None when the request could not be read at all."""

    def __init__(self, code: str, message: str, *, signature: bool) -> None:
        check = Check.REQUEST_CRYPTOGRAPHIC_PROTECTION if signature else None
        super().__init__(code, message, clause=clauses.SRPD_6_1 if signature else None)
        self.check = check
        self.response_code = None if check is None else response_code(check).code


class SignedRequestReader(Protocol):
    """**Protocol**: reads signed SRV 6.23 request bytes.

    Promises: returns a ``VerifiedRequest`` only when the bytes are a well-formed, schema-valid
    SRV 6.23 request whose signature verifies with the key of the certificate its KeyInfo names
    (held by the reader's trust store), with Confirm Validity of that certificate at ``at``;
    raises ``RequestNotVerified`` otherwise."""

    def read(self, data: bytes, *, at: datetime) -> VerifiedRequest:
        """The verified request in ``data``, its signer judged at ``at``."""
        ...


# --- the result --------------------------------------------------------------------------------


class CheckStatus(enum.StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    UNDECIDED = "undecided"  # the data to decide it is not held: the run stops here
    NOT_RUN = "not_run"


class ReceiveStatus(enum.StrEnum):
    REJECTED = "rejected"  # by its route or by a failed check: Rejected recorded
    LEFT_ON_LEGACY_PATH = "left_on_legacy_path"  # SRPD 6.4(b)
    CHECKS_PASSED = "checks_passed"  # StageChecked passed, counter accepted
    CHECKS_INCOMPLETE = "checks_incomplete"  # a check is undecided: no StageChecked recorded


@attrs.frozen(kw_only=True)
class CheckReport:
    """One request check: its status, clause, the code its failure gives, and why."""

    check: Check
    status: CheckStatus
    clause: str
    response_code: str
    detail: str = ""


@attrs.frozen(kw_only=True)
class RequestCheckResult:
    request_id: str
    route: RouteTo
    status: ReceiveStatus
    checks: tuple[CheckReport, ...]
    response_code: str | None  # the code the User receives, when a check rejected it
    undecided: Check | None = None
    missing: str | None = None
    next_step: PathStep | None = None  # what the request awaits when every check passed
    #: The request as the reader verified it (for the steps that follow, without reading again).
    request: VerifiedRequest | None = attrs.field(default=None, repr=False, eq=False)


# --- the checks ----------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class RequestState:
    """The request and what is held about it when the request checks run.

    The DCC holds all of it; a CoS Party re-running checks under 8.1(b)(iii) holds only the
    request: the checks it re-runs (``COS_PARTY_RERUNS``) read nothing else, so the rest may
    be left None."""

    request: VerifiedRequest
    counters: RequestCounterRecord | None = None
    device: Device | None = None
    party_details: PartyDetails | None = None
    lookup_at: datetime | None = None  # when the Responsible Supplier is looked up
    supplier: str | None = None  # the Responsible Supplier Registration Data names then
    requisite: Mapping[DeviceType, int] = attrs.field(factory=dict)


_State = RequestState


def _outcome(check: Check, failure: str | None) -> CheckOutcome:
    if failure is None:
        return CheckOutcome(check, passed=True)
    return CheckOutcome(check, passed=False, detail=failure)


def _signature(state: _State) -> str | None:
    # The reader returns only requests whose signature verified (RequestNotVerified otherwise).
    del state
    return None


def _signer_valid(state: _State) -> str | None:
    validity = state.request.signer.validity
    if validity.valid:
        return None
    return (
        f"Confirm Validity of signer {state.request.signer.certificate_id} at "
        f"{validity.at.isoformat()} failed: {validity.code.value}: {validity.detail}"
    )


def _xml_sign(state: _State) -> str | None:
    role = state.request.signer.role
    if role is RemotePartyRole.XML_SIGN:
        return None
    shown = "none (not an SMKI Organisation Certificate)" if role is None else role.name
    return f"the signing certificate's Remote Party Role is {shown}, not XML_SIGN"


def _user_id(state: _State) -> str | None:
    request = state.request
    if request.signer.entity_id == request.originator:
        return None
    return (
        f"the request's User ID {request.originator} is not the signing certificate's "
        f"Entity Identifier {request.signer.entity_id}"
    )


def _not_a_replay(state: _State) -> str | None:
    counter = state.request.counter
    assert state.counters is not None  # noqa: S101 — the DCC's check: it holds them
    if not state.counters.is_replay(counter):
        return None
    return (
        f"counter {counter} from originator {state.request.originator} is not greater than the "
        f"highest accepted, {state.counters.highest}: the request is a Replay"
    )


def _mpid(state: _State) -> str | None:
    request, supplier = state.request, state.supplier
    assert state.lookup_at is not None  # noqa: S101 — the DCC's check: it looks up
    when = state.lookup_at.isoformat()
    if supplier is None:
        return f"Registration Data names no Responsible Supplier for {request.mpxn} at {when}"
    assert state.party_details is not None  # noqa: S101 — undecided without them
    mpids = state.party_details.mpids_of(request.originator)
    if supplier in mpids:
        return None
    held = ", ".join(sorted(mpids)) or "none"
    return (
        f"the MPID {supplier}, Responsible Supplier of {request.mpxn} at {when} in Registration "
        f"Data, is not an MPID of User ID {request.originator} (Party Details: {held})"
    )


def _mpxn(state: _State) -> str | None:
    assert state.device is not None  # noqa: S101 — the DCC's check: it holds the inventory
    held = state.device.mpxn
    if held == state.request.mpxn:
        return None
    return (
        f"the request's MPxN {state.request.mpxn} is not the one the Smart Metering Inventory "
        f"associates with Device {state.request.target}: {held or 'none'}"
    )


def _count(state: _State) -> str | None:
    assert state.device is not None  # noqa: S101 — the DCC's check: it holds the inventory
    device_type = state.device.device_type
    requisite = state.requisite.get(device_type)
    carried = len(state.request.replacements)
    if requisite is None:
        return f"no requisite number of replacement certificates is set for a {device_type}"
    if carried == requisite:
        return None
    return (
        f"the request carries {carried} replacement certificates; a {device_type} needs {requisite}"
    )


def _cell(replacement: ReplacementFacts) -> str:
    cell = replacement.cell
    return f"{cell.role.name} {cell.key_usage} {cell.cell_usage}"


def _roles(state: _State) -> str | None:
    wrong = [
        f"{_cell(r)}: {'none' if r.role is None else r.role.name}"
        for r in state.request.replacements
        if r.role is not RemotePartyRole.SUPPLIER
    ]
    if not wrong:
        return None
    return f"replacement certificates whose Remote Party Role is not SUPPLIER: {'; '.join(wrong)}"


def _key_usage(state: _State) -> str | None:
    wrong = [
        f"{_cell(r)}: {r.key_usage or 'none'}"
        for r in state.request.replacements
        if r.key_usage is not r.cell.key_usage
    ]
    if not wrong:
        return None
    return f"replacement certificates whose key usage does not suit their cell: {'; '.join(wrong)}"


def _prepayment_floor(state: _State) -> str | None:
    top_up = any(
        r.cell.cell_usage is CellUsage.PREPAYMENT_TOP_UP for r in state.request.replacements
    )
    if not top_up or state.request.requested.prepayment_top_up_floor_seq_number is not None:
        return None
    return "a prepayment top-up key is replaced but SupplierPrepaymentTopUpFloorSeqNumber is absent"


def _issuers_included(state: _State) -> str | None:
    missing = [
        f"{_cell(r)}: {r.certificate_id or 'unreadable certificate'}"
        for r in state.request.replacements
        if not r.issuer_included
    ]
    if not missing:
        return None
    return (
        "replacement certificates whose issuing OCA certificate is not among the certification "
        f"path certificates: {'; '.join(missing)}"
    )


def _ocas_used(state: _State) -> str | None:
    subjects = state.request.certification_path_subjects
    assert subjects is not None  # noqa: S101 — undecided without them
    issuers = {r.certificate_id.issuer for r in state.request.replacements if r.certificate_id}
    unused = [
        f"{oca} ({subject})"
        for oca, subject in zip(state.request.certification_path, subjects, strict=True)
        if subject not in issuers
    ]
    if not unused:
        return None
    return f"certification path certificates that issued no replacement: {'; '.join(unused)}"


#: The request checks, each a function of the request and the held state giving why it failed
#: (None: passed).
_DECIDED: Final[dict[Check, Callable[[_State], str | None]]] = {
    Check.REQUEST_CRYPTOGRAPHIC_PROTECTION: _signature,
    Check.REQUEST_SIGNER_CONFIRM_VALIDITY: _signer_valid,
    Check.REQUEST_SIGNER_ROLE_XML_SIGN: _xml_sign,
    Check.REQUEST_USER_ID_MATCHES_SIGNER: _user_id,
    Check.REQUEST_NOT_A_REPLAY: _not_a_replay,
    Check.REQUEST_MPID_IN_SIGNER_CERTIFICATE: _mpid,
    Check.REQUEST_MPXN_MATCHES_INVENTORY: _mpxn,
    Check.REQUEST_REPLACEMENT_CERTIFICATE_COUNT: _count,
    Check.REQUEST_REPLACEMENT_CERTIFICATE_ROLES: _roles,
    Check.REQUEST_KEY_USAGE_MATCHES_CELL: _key_usage,
    Check.REQUEST_PREPAYMENT_FLOOR_SEQUENCE_NUMBER: _prepayment_floor,
    Check.REQUEST_ISSUING_OCA_CERTIFICATES_INCLUDED: _issuers_included,
    Check.REQUEST_OCA_CERTIFICATES_ALL_USED: _ocas_used,
}

#: What is missing when a check cannot be decided with the data given.
NO_PARTY_DETAILS: Final = (
    "the MPIDs of the signing User: an SMKI Organisation Certificate carries a Remote Party "
    "Role and an Entity Identifier, no MPID, and the application holds no Party Details "
    "(User ID to MPIDs)"
)
NO_PATH_SUBJECTS: Final = (
    "the subjects of the certification path certificates: the request reader did not give them"
)


def request_check_failure(check: Check, state: RequestState) -> str | None:
    """Run one request check (a ``Stage.DCC_REQUEST`` check, or the original a re-run names)
    on ``state``: why it failed, None when it passed. The caller decides it is decidable
    (``missing_for``)."""
    original = check.spec.reruns or check
    return _DECIDED[original](state)


def missing_for(state: RequestState) -> dict[Check, str]:
    """The request checks that cannot be decided with ``state``, and what is missing."""
    return _missing(state)


def _missing(state: _State) -> dict[Check, str]:
    missing: dict[Check, str] = {}
    if state.party_details is None:
        missing[Check.REQUEST_MPID_IN_SIGNER_CERTIFICATE] = NO_PARTY_DETAILS
    if state.request.certification_path_subjects is None:
        missing[Check.REQUEST_OCA_CERTIFICATES_ALL_USED] = NO_PATH_SUBJECTS
    return missing


def _report(check: Check, status: CheckStatus, detail: str = "") -> CheckReport:
    return CheckReport(
        check=check,
        status=status,
        clause=check.clause,
        response_code=response_code(check).code,
        detail=detail,
    )


# --- the use case ---------------------------------------------------------------------------


def receive_request(
    app: EtmadApplication, reader: SignedRequestReader, request_bytes: bytes, *, at: datetime
) -> Outcome:
    """Receive a signed SRV 6.23 request at ``at`` and run the DCC's request checks (see the
    module); the ``Outcome``'s result is a ``RequestCheckResult``. Raises ``RequestNotVerified``
    (nothing saved) for bytes that are not a verified request, ``CommandRejected``
    ``REQUEST_ID_ALREADY_RECEIVED`` for a Request ID already received, and ``UNKNOWN_DEVICE``
    when the Smart Metering Inventory holds no target Device (its SMETS generation, which the
    request does not carry, is its Device Model's)."""
    at = utc(at)
    request = reader.read(request_bytes, at=at)
    uow = UnitOfWork(app)
    key = service_request_aggregate_id(request.originator, request.target, request.counter)
    if uow.get(key, ServiceRequest.create) is not None:
        raise CommandRejected(
            "REQUEST_ID_ALREADY_RECEIVED",
            f"Service Request {request.request_id} was already received",
            clause=clauses.SRPD_6_1,
        )
    device = uow.get(device_aggregate_id(request.target), Device.create)
    if device is None:
        raise UnknownDevice(request.target)
    model = uow.get(model_aggregate_id(device.model), DeviceModel.create)
    if model is None:
        raise UnknownDeviceModel(device.model)
    received = ServiceRequest.receive(
        originator=request.originator,
        target=request.target,
        counter=request.counter,
        user_id=request.user_id,
        signer=request.signer.certificate_id,
        mpxn=request.mpxn,
        generation=model.smets,
        command_variant=request.command_variant,
        requested=request.requested,
        at=at,
    )
    state = uow.record(key, ServiceRequest.create, received)
    assert state is not None  # noqa: S101 — just created
    register = uow.get(COS_PARTY_REGISTER_ID, CosPartyRegister.create) or CosPartyRegister()
    route = route_srv623(
        certificate=None if device is None else device.cos_certificate,
        generation=model.smets,
        command_variant=request.command_variant,
        at=at,
        register=register,
    )
    state = uow.record(key, ServiceRequest.create, state.record_route(route, at=at))
    assert state is not None  # noqa: S101 — folded
    if route.rejected:
        uow.record(key, ServiceRequest.create, state.reject(at=at))
        result = _result(request, route.route, ReceiveStatus.REJECTED, ())
        return Outcome(uow.commit(), result)
    if route.route is RouteTo.SMETS1_LEGACY:
        result = _result(request, route.route, ReceiveStatus.LEFT_ON_LEGACY_PATH, ())
        return Outcome(uow.commit(), result)
    return _run_checks(app, uow, state, request, device, at=at)


def held_state(
    app: EtmadApplication, request: VerifiedRequest, device: Device, uow: UnitOfWork, at: datetime
) -> RequestState:
    """What the DCC holds when it runs the request checks on ``request`` at ``at``: the
    originator's request counters, the target Device, Party Details, and the Responsible
    Supplier on the execution date-time (else ``at``)."""
    counters = uow.get(
        request_counters_aggregate_id(request.originator), RequestCounterRecord.create
    ) or RequestCounterRecord(originator=request.originator)
    lookup_at = request.requested.execution_date_time or at
    history = app.registration.supplier_history(request.mpxn)
    return _State(
        request=request,
        counters=counters,
        device=device,
        party_details=app.party_details,
        lookup_at=lookup_at,
        supplier=supplier_on(history, lookup_at),
        requisite=app.settings.replacement_certificates,
    )


def _run_checks(
    app: EtmadApplication,
    uow: UnitOfWork,
    state: ServiceRequest,
    request: VerifiedRequest,
    device: Device,
    *,
    at: datetime,
) -> Outcome:
    held = held_state(app, request, device, uow, at)
    counters, missing = held.counters, _missing(held)
    assert counters is not None  # noqa: S101 — held_state gives them
    counters_key = request_counters_aggregate_id(request.originator)
    checks = checks_of(Stage.DCC_REQUEST, smets1_target=state.smets1)
    outcomes: list[CheckOutcome] = []
    reports: list[CheckReport] = []
    undecided: Check | None = None
    for check in checks:
        if check in missing:
            undecided = check
            reports.append(_report(check, CheckStatus.UNDECIDED, missing[check]))
            break
        outcome = _outcome(check, _DECIDED[check](held))
        outcomes.append(outcome)
        status = CheckStatus.PASSED if outcome.passed else CheckStatus.FAILED
        reports.append(_report(check, status, outcome.detail))
        if not outcome.passed:
            break
    reports.extend(_report(c, CheckStatus.NOT_RUN) for c in checks[len(reports) :])
    key = state.aggregate_id
    route = state.route_to
    assert route is not None  # noqa: S101 — routed above
    failed = next((o for o in outcomes if not o.passed), None)
    if failed is None and undecided is not None:
        result = _result(
            request,
            route,
            ReceiveStatus.CHECKS_INCOMPLETE,
            reports,
            undecided=undecided,
            missing=missing[undecided],
        )
        return Outcome(uow.commit(), result)
    checked = uow.record(
        key, ServiceRequest.create, state.record_stage(Stage.DCC_REQUEST, outcomes, at=at)
    )
    assert checked is not None  # noqa: S101 — folded
    if failed is not None:
        uow.record(key, ServiceRequest.create, checked.reject(at=at))
        result = _result(
            request,
            route,
            ReceiveStatus.REJECTED,
            reports,
            response_code=response_code(failed.check).code,
        )
        return Outcome(uow.commit(), result)
    accepted = counters.accept(counter=request.counter, target=request.target, at=at)
    uow.record(counters_key, RequestCounterRecord.create, accepted)
    result = _result(
        request, route, ReceiveStatus.CHECKS_PASSED, reports, next_step=checked.next_step
    )
    return Outcome(uow.commit(), result)


def _result(
    request: VerifiedRequest,
    route: RouteTo,
    status: ReceiveStatus,
    reports: tuple[CheckReport, ...] | list[CheckReport],
    *,
    response_code: str | None = None,
    undecided: Check | None = None,
    missing: str | None = None,
    next_step: PathStep | None = None,
) -> RequestCheckResult:
    return RequestCheckResult(
        request=request,
        request_id=request.request_id,
        route=route,
        status=status,
        checks=tuple(reports),
        response_code=response_code,
        undecided=undecided,
        missing=missing,
        next_step=next_step,
    )
