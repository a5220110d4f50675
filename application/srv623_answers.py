"""The DCC's checks on a party's answer to an SRV 6.23 (SRPD 8.4, 8.4A as rewritten by ETMAD
3.5; DOMAIN.md 3.4): ``check_authorisation_response`` runs ``Stage.DCC_COS_AUTHORISATION_RESPONSE``
on a CoS Authorisation Response, ``check_signed_pre_command`` runs ``Stage.DCC_SIGNED_PRE_COMMAND``
on the TCoS Party's Signed Pre-Command.

Each runs its stage's checks in the order ``checks_of`` gives and stops at the first failure
(8.6(a), 8.6A). It decides only: it records nothing. The caller (the chain) records
``StageChecked`` with the outcomes and, when one failed, ``Rejected`` (8.6, 8.6A: who is
notified is the domain's ``notified_of``). When a check cannot be decided with the data held
(``undecided``), the outcomes stop before it and the caller records nothing.

What is decided, and how (``docs/decisions.md`` records the choices):

* 8.4(a), (b) and the role check are the answer reader's facts about the signature; the
  coSPartyXmlSign Remote Party Role code is configuration (``cos_party_role_code``).
* 8.4(d): the SHA-256 the response names is that of the Countersigned CoS Service Request this
  ServiceRequest recorded as sent to the CoS Party.
* 8.4(e): the inner request is read again with the DCC's ``SignedRequestReader`` and every
  request check but anti-replay is run on it as the DCC holds things now (``held_state``): the
  target's Device, Registration Data, Party Details may have changed while the CoS Party worked.
* 8.4(f): ``domain.substantive.compare`` of the request as received and the Pre-Command.
* 8.4(g) **[choice]**: the inner request is this ServiceRequest's own (same originator, target
  and counter: a request accepted for another Request ID is a Replay here), and the response
  is no Replay: authorised no earlier than the countersigning and no later than now, and not
  an answer the DCC already took for this request.
* 8.4A(c) **[choice]**: the Pre-Command's signature is checked with the target Device's
  current CoS certificate in the Smart Metering Inventory: the certificate the Device itself
  will check it with.
* 8.4A(a) needs the User IDs of the original request's Organisation Certificates, which the
  ServiceRequest record does not keep: the caller passes the ``VerifiedRequest`` it read.
* 8.4A(f): the Responsible Supplier on the Pre-Command's execution date-time (else now) of the
  MPxN the inventory associates with the Pre-Command's Device, against the MPIDs Party Details
  give each Organisation Certificate's User ID; without Party Details it is undecided.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Final

import attrs

from application.errors import CommandRejected, UnknownDevice
from application.service import EtmadApplication, UnitOfWork
from application.srv623 import (
    NO_PARTY_DETAILS,
    RequestNotVerified,
    RequestState,
    SignedRequestReader,
    VerifiedRequest,
    held_state,
    missing_for,
    request_check_failure,
)
from application.srv623_ports import (
    AuthorisationResponseFacts,
    AuthorisationResponseReader,
    DspLookup,
    PreCommandCertificate,
    PreCommandFacts,
    SignatureCheck,
    SignedPreCommandReader,
)
from domain import clauses
from domain.device import Device, device_aggregate_id
from domain.events import utc
from domain.identifiers import EUI64, MPxN
from domain.registration import supplier_on
from domain.service_request import CheckOutcome, Countersigned, Party, ServiceRequest
from domain.smki import RemotePartyRole, TrustAnchorCell, Validity
from domain.srv623_checks import Check, Stage, checks_of
from domain.substantive import compare

# --- the result --------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class AnswerChecked:
    """The DCC's run of one answer stage (8.4 or 8.4A).

    ``outcomes`` are in ``checks_of`` order, to the first failure (all of them when the run
    passed). ``pre_command`` is the Signed Pre-Command to send as the Command when every check
    passed and the target is SMETS2+ (None otherwise). ``undecided`` is a check that cannot be
    decided with the data held, ``missing`` what is missing: the outcomes then stop before it
    and the caller records nothing."""

    stage: Stage
    outcomes: tuple[CheckOutcome, ...]
    pre_command: bytes | None
    undecided: Check | None = None
    missing: str | None = None

    @property
    def passed(self) -> bool:
        """Every check of the stage ran and passed."""
        return (
            self.undecided is None
            and bool(self.outcomes)
            and all(outcome.passed for outcome in self.outcomes)
        )

    @property
    def failed(self) -> CheckOutcome | None:
        """The check that failed, if one did (it is the last outcome)."""
        return next((o for o in self.outcomes if not o.passed), None)


class _Missing(Exception):  # noqa: N818 — internal signal: the check cannot be decided
    def __init__(self, missing: str) -> None:
        super().__init__(missing)
        self.missing = missing


_Decide = Callable[[Check], str | None]


def _run(
    checks: Sequence[Check], decide: _Decide
) -> tuple[tuple[CheckOutcome, ...], Check | None, str | None]:
    """Run ``checks`` in order with ``decide`` (why it failed, None: passed; ``_Missing``:
    undecided), to the first failure or the first undecided check (8.6(a), 8.6A)."""
    outcomes: list[CheckOutcome] = []
    for check in checks:
        try:
            failure = decide(check)
        except _Missing as missing:
            return tuple(outcomes), check, missing.missing
        if failure is None:
            outcomes.append(CheckOutcome(check, passed=True))
            continue
        outcomes.append(CheckOutcome(check, passed=False, detail=failure))
        break
    return tuple(outcomes), None, None


# --- shared wording --------------------------------------------------------------------------


def _signature_failure(signature: SignatureCheck, what: str) -> str | None:
    if signature.verified:
        return None
    detail = signature.detail or "the signature did not verify"
    return f"Check Cryptographic Protection of the {what} failed: {detail}"


def _validity_failure(validity: Validity | None, certificate: object, what: str) -> str | None:
    if validity is None:
        return f"Confirm Validity of the certificate used to check the {what} was not given"
    if validity.valid:
        return None
    return (
        f"Confirm Validity of {certificate} at {validity.at.isoformat()} failed: "
        f"{validity.code.value}: {validity.detail}"
    )


def _cell_text(cell: TrustAnchorCell) -> str:
    return f"{RemotePartyRole(cell.role).name} {cell.key_usage} {cell.cell_usage}"


def _target_device(uow: UnitOfWork, target: EUI64) -> Device:
    device = uow.get(device_aggregate_id(target), Device.create)
    if device is None:
        raise UnknownDevice(target)
    return device


# --- 8.4: the CoS Authorisation Response ----------------------------------------------------


class _ResponseRun:
    """What the 8.4 checks read, each piece obtained once, when the first check needing it
    runs."""

    def __init__(
        self,
        app: EtmadApplication,
        uow: UnitOfWork,
        request: ServiceRequest,
        facts: AuthorisationResponseFacts,
        *,
        request_reader: SignedRequestReader,
        pre_command_reader: SignedPreCommandReader,
        cos_party_role_code: int,
        at: datetime,
    ) -> None:
        self.app, self.uow, self.request, self.facts = app, uow, request, facts
        self.request_reader = request_reader
        self.pre_command_reader = pre_command_reader
        self.role_code = cos_party_role_code
        self.at = at

    # --- what is read once ---

    @functools.cached_property
    def sent(self) -> Countersigned | None:
        """The Countersigned CoS Service Request this request sent to the CoS Party."""
        return next((c for c in self.request.countersigned if c.to is Party.COS_PARTY), None)

    @functools.cached_property
    def inner(self) -> VerifiedRequest | RequestNotVerified:
        xml = self.facts.request_xml
        if xml is None:
            return RequestNotVerified(
                "NO_INNER_REQUEST", "the response carries no Service Request", signature=False
            )
        try:
            return self.request_reader.read(xml, at=self.at)
        except RequestNotVerified as refused:
            return refused

    @functools.cached_property
    def held(self) -> RequestState:
        inner = self.inner
        assert isinstance(inner, VerifiedRequest)  # noqa: S101 — the crypto re-run passed
        device = _target_device(self.uow, self.request.received.target)
        return held_state(self.app, inner, device, self.uow, self.at)

    @functools.cached_property
    def missing(self) -> dict[Check, str]:
        return missing_for(self.held)

    @functools.cached_property
    def pre_command(self) -> PreCommandFacts | None:
        data = self.facts.signed_pre_command
        if data is None:
            return None
        return self.pre_command_reader.read_pre_command(data, signed_by=None, at=self.at)

    # --- the checks ---

    def decide(self, check: Check) -> str | None:
        rule = _RESPONSE_RULES.get(check)
        if rule is not None:
            return rule(self)
        return self._rerun(check)

    def _rerun(self, check: Check) -> str | None:
        """SRPD 8.4(e): the request check ``check`` re-runs, on the inner request."""
        original = check.spec.reruns
        assert original is not None  # noqa: S101 — every other 8.4 check has its rule
        if original is Check.REQUEST_CRYPTOGRAPHIC_PROTECTION:
            inner = self.inner
            if isinstance(inner, RequestNotVerified):
                return f"the inner Service Request: {inner.code}: {inner.message}"
            return None
        if original in self.missing:
            raise _Missing(self.missing[original])
        return request_check_failure(check, self.held)

    def signature(self) -> str | None:
        """SRPD 8.4(a)."""
        return _signature_failure(self.facts.signature, "CoS Authorisation Response")

    def validity(self) -> str | None:
        """SRPD 8.4(b)."""
        signature = self.facts.signature
        return _validity_failure(
            signature.validity, signature.certificate_id, "CoS Authorisation Response"
        )

    def role(self) -> str | None:
        """SRPD 8.4 (role check): coSPartyXmlSign, by its configured code."""
        code = self.facts.signature.role_code
        if code == self.role_code:
            return None
        shown = "none" if code is None else f"{code:#04x}"
        return (
            f"the Remote Party Role code of {self.facts.signature.certificate_id} is {shown}, "
            f"not coSPartyXmlSign ({self.role_code:#04x})"
        )

    def well_formed(self) -> str | None:
        """SRPD 8.4(c)."""
        if self.facts.well_formed:
            return None
        return (
            f"the CoS Authorisation Response is not valid and well formed: {self.facts.form_detail}"
        )

    def maps_to_countersigned(self) -> str | None:
        """SRPD 8.4(d): it answers the Countersigned CoS Service Request sent to the CoS Party."""
        sent, named = self.sent, self.facts.countersigned_request_sha256
        if sent is None:
            return "no Countersigned CoS Service Request was sent to the CoS Party for this request"
        if named == sent.sha256:
            return None
        return (
            f"the response answers Countersigned CoS Service Request {named or 'none'}; the one "
            f"sent to the CoS Party for {self.request.aggregate_id} is {sent.sha256}"
        )

    def substantively_identical(self) -> str | None:
        """SRPD 8.4(f), SMETS2+ only: the Signed Pre-Command does what the request asks."""
        facts = self.pre_command
        if facts is None:
            return "the response carries no Signed Pre-Command for a SMETS2+ Device"
        if not facts.readable or facts.update is None:
            return f"the Signed Pre-Command cannot be read: {facts.detail}"
        sameness = compare(self.request.requested, facts.update, clause=clauses.SRPD_8_4_F)
        if sameness.identical:
            return None
        return "the Signed Pre-Command is not substantively identical to the request: " + "; ".join(
            f"{d.code}: {d.detail}" for d in sameness.differences
        )

    def not_a_replay(self) -> str | None:
        """SRPD 8.4(g) [choice]: the inner request is this one, and the response is fresh."""
        inner, received = self.inner, self.request.received
        assert isinstance(inner, VerifiedRequest)  # noqa: S101 — 8.4(e) ran before
        ours = (received.originator, received.target, received.counter)
        if (inner.originator, inner.target, inner.counter) != ours:
            return (
                f"the inner Service Request is {inner.request_id}, not this request "
                f"{':'.join(map(str, ours))}: it is a Replay"
            )
        sent = self.sent
        assert sent is not None  # noqa: S101 — 8.4(d) ran before
        assert sent.occurred_at is not None  # noqa: S101 — every event has its time
        authorised = self.facts.authorised_at
        if authorised is None:
            return "the response gives no time of authorisation: it cannot be shown not a Replay"
        if not sent.occurred_at <= authorised <= self.at:
            return (
                f"the response was authorised at {authorised.isoformat()}, outside "
                f"{sent.occurred_at.isoformat()} (the countersigning) to {self.at.isoformat()}: "
                "it is a Replay"
            )
        earlier = {answer.sha256 for answer in self.request.answers[:-1]}
        if self.facts.sha256 in earlier:
            return (
                f"the response {self.facts.sha256} was already taken as an answer to "
                f"{self.request.aggregate_id}: it is a Replay"
            )
        return None


_RESPONSE_RULES: Final[dict[Check, Callable[[_ResponseRun], str | None]]] = {
    Check.DCC_8_4_A_CRYPTOGRAPHIC_PROTECTION: _ResponseRun.signature,
    Check.DCC_8_4_B_CONFIRM_VALIDITY: _ResponseRun.validity,
    Check.DCC_8_4_ROLE_COS_PARTY_XML_SIGN: _ResponseRun.role,
    Check.DCC_8_4_C_VALID_AND_WELL_FORMED: _ResponseRun.well_formed,
    Check.DCC_8_4_D_MAPS_TO_COUNTERSIGNED_REQUEST: _ResponseRun.maps_to_countersigned,
    Check.DCC_8_4_F_PRE_COMMAND_SUBSTANTIVELY_IDENTICAL: _ResponseRun.substantively_identical,
    Check.DCC_8_4_G_NOT_A_REPLAY: _ResponseRun.not_a_replay,
}


def check_authorisation_response(
    app: EtmadApplication,
    uow: UnitOfWork,
    request: ServiceRequest,
    data: bytes,
    *,
    response_reader: AuthorisationResponseReader,
    request_reader: SignedRequestReader,
    pre_command_reader: SignedPreCommandReader,
    cos_party_role_code: int,
    at: datetime,
) -> AnswerChecked:
    """Run the DCC's 8.4 checks on the CoS Authorisation Response ``data`` answering
    ``request`` (whose ``PartyAnswered`` the caller has recorded), at ``at``: 8.4(a), (b), the
    role check (``cos_party_role_code``: coSPartyXmlSign's code), (c), (d), the (e) re-runs,
    (f) for a SMETS2+ target, (g). Records nothing (see the module). Raises ``UnknownDevice``
    when the inventory no longer holds the target Device the (e) re-runs need."""
    at = utc(at)
    facts = response_reader.read_authorisation_response(data, at=at)
    run = _ResponseRun(
        app,
        uow,
        request,
        facts,
        request_reader=request_reader,
        pre_command_reader=pre_command_reader,
        cos_party_role_code=cos_party_role_code,
        at=at,
    )
    stage = Stage.DCC_COS_AUTHORISATION_RESPONSE
    outcomes, undecided, missing = _run(checks_of(stage, smets1_target=request.smets1), run.decide)
    result = AnswerChecked(
        stage=stage, outcomes=outcomes, pre_command=None, undecided=undecided, missing=missing
    )
    if result.passed and not request.smets1:
        return attrs.evolve(result, pre_command=facts.signed_pre_command)
    return result


# --- 8.4A: the TCoS Party's Signed Pre-Command -----------------------------------------------


class _InventoryLookup:
    """The DCC's own look-ups (Registration Data, Party Details, the Smart Metering
    Inventory), as a ``DspLookup``."""

    def __init__(self, app: EtmadApplication, uow: UnitOfWork) -> None:
        self._app, self._uow = app, uow

    def responsible_supplier(self, mpxn: MPxN, on: datetime) -> str | None:
        return supplier_on(self._app.registration.supplier_history(mpxn), on)

    def mpids_of(self, user_id: EUI64) -> frozenset[str] | None:
        details = self._app.party_details
        return None if details is None else details.mpids_of(user_id)

    def mpxn_of(self, device: EUI64) -> MPxN | None:
        held = self._uow.get(device_aggregate_id(device), Device.create)
        return None if held is None else held.mpxn


def _organisation_certificates(facts: PreCommandFacts) -> tuple[PreCommandCertificate, ...]:
    return tuple(c for c in facts.certificates if c.cell is not None)


class _PreCommandRun:
    """What the 8.4A checks read."""

    def __init__(
        self,
        request: ServiceRequest,
        original: VerifiedRequest,
        device: Device,
        data: bytes,
        *,
        reader: SignedPreCommandReader,
        lookup: DspLookup,
        at: datetime,
    ) -> None:
        self.request, self.original, self.device, self.data = request, original, device, data
        self.reader, self.lookup, self.at = reader, lookup, at

    @functools.cached_property
    def facts(self) -> PreCommandFacts:
        return self.reader.read_pre_command(
            self.data, signed_by=self.device.cos_certificate, at=self.at
        )

    def decide(self, check: Check) -> str | None:
        return _PRE_COMMAND_RULES[check](self)

    def signature(self) -> str | None:
        """SRPD 8.4A(c): it came from the TCoS Party, whose certificate is the Device's."""
        if self.device.cos_certificate is None:
            return (
                f"the Smart Metering Inventory holds no CoS certificate for Device "
                f"{self.device.device_id}: the TCoS Party's signature cannot be checked"
            )
        facts = self.facts
        if not facts.readable:
            return f"the Signed Pre-Command cannot be read: {facts.detail}"
        return _signature_failure(facts.signature, "Signed Pre-Command")

    def validity(self) -> str | None:
        """SRPD 8.4A(d)."""
        signature = self.facts.signature
        certificate = signature.certificate_id or self.device.cos_certificate
        return _validity_failure(signature.validity, certificate, "Signed Pre-Command")

    def user_ids(self) -> str | None:
        """SRPD 8.4A(a): each Organisation Certificate's User ID is the one in the same cell
        of the original request."""
        requested = {r.cell: r.entity_id for r in self.original.replacements}
        wrong: list[str] = []
        for certificate in _organisation_certificates(self.facts):
            cell = certificate.cell
            assert cell is not None  # noqa: S101 — Organisation Certificates fill a cell
            if cell not in requested:
                wrong.append(f"{_cell_text(cell)}: the original request replaces no such cell")
            elif certificate.entity_id is None or certificate.entity_id != requested[cell]:
                wrong.append(
                    f"{_cell_text(cell)}: {certificate.entity_id or 'no User ID'}, the original "
                    f"request's {requested[cell] or 'no User ID'}"
                )
        if not wrong:
            return None
        return (
            "Organisation Certificates whose User ID is not the original request's: "
            + "; ".join(wrong)
        )

    def device_id(self) -> str | None:
        """SRPD 8.4A(b)."""
        target = self.request.received.target
        if self.facts.device == target:
            return None
        return f"the Signed Pre-Command is for Device {self.facts.device}, the request for {target}"

    def certificates_valid(self) -> str | None:
        """SRPD 8.4A(e): Confirm Validity of every certificate in the Pre-Command."""
        wrong = [_certificate_failure(c) for c in self.facts.certificates]
        failures = [w for w in wrong if w is not None]
        if not failures:
            return None
        return "certificates in the Signed Pre-Command that are not valid: " + "; ".join(failures)

    def responsible_supplier(self) -> str | None:
        """SRPD 8.4A(f): as 8.1A(b)(iv), with the MPxN of the Pre-Command's Device."""
        facts = self.facts
        assert facts.device is not None  # noqa: S101 — 8.4A(b) ran before
        mpxn = self.lookup.mpxn_of(facts.device)
        if mpxn is None:
            return f"the Smart Metering Inventory associates no MPxN with Device {facts.device}"
        on = (facts.update.execution_date_time if facts.update else None) or self.at
        supplier = self.lookup.responsible_supplier(mpxn, on)
        if supplier is None:
            return f"Registration Data names no Responsible Supplier for {mpxn} at {on.isoformat()}"
        wrong: list[str] = []
        for certificate in _organisation_certificates(facts):
            user = certificate.entity_id
            mpids = None if user is None else self.lookup.mpids_of(user)
            if user is not None and mpids is None:
                raise _Missing(NO_PARTY_DETAILS)
            if mpids is None or supplier not in mpids:
                held = ", ".join(sorted(mpids or ())) or "none"
                wrong.append(f"{certificate.certificate_id}: User ID {user} (MPIDs: {held})")
        if not wrong:
            return None
        return (
            f"Organisation Certificates whose User ID is not that of {supplier}, Responsible "
            f"Supplier of {mpxn} at {on.isoformat()}: " + "; ".join(wrong)
        )


def _certificate_failure(certificate: PreCommandCertificate) -> str | None:
    what = certificate.certificate_id or "an unreadable certificate"
    validity = certificate.validity
    if validity is None:
        return f"{what}: not checked ({certificate.detail or 'not read'})"
    if validity.valid:
        return None
    return f"{what}: {validity.code.value}: {validity.detail}"


_PRE_COMMAND_RULES: Final[dict[Check, Callable[[_PreCommandRun], str | None]]] = {
    Check.TCOS_8_4A_C_CRYPTOGRAPHIC_PROTECTION: _PreCommandRun.signature,
    Check.TCOS_8_4A_D_CONFIRM_VALIDITY: _PreCommandRun.validity,
    Check.TCOS_8_4A_A_USER_IDS_MATCH_REQUEST: _PreCommandRun.user_ids,
    Check.TCOS_8_4A_B_DEVICE_ID_MATCHES_REQUEST: _PreCommandRun.device_id,
    Check.TCOS_8_4A_E_PRE_COMMAND_CERTIFICATES_VALID: _PreCommandRun.certificates_valid,
    Check.TCOS_8_4A_F_RESPONSIBLE_SUPPLIER: _PreCommandRun.responsible_supplier,
}


def check_signed_pre_command(
    app: EtmadApplication,
    uow: UnitOfWork,
    request: ServiceRequest,
    data: bytes,
    *,
    pre_command_reader: SignedPreCommandReader,
    request_reader: SignedRequestReader,
    original_request: VerifiedRequest,
    lookup: DspLookup | None = None,
    at: datetime,
) -> AnswerChecked:
    """Run the DCC's 8.4A checks on the TCoS Party's Signed Pre-Command ``data`` answering
    ``request``, at ``at``: (c), (d), (a), (b), (e), (f). Records nothing (see the module).

    ``original_request`` is the request as the DCC read it when it received it (the chain
    holds it; the ServiceRequest record keeps no User IDs of its certificates, which 8.4A(a)
    compares). ``lookup`` answers the Registration Data, Party Details and inventory look-ups
    of 8.4A(f); None: the application's own. ``request_reader`` is not read: 8.4A re-runs no
    request check (kept so the chain passes the same readers to both stages). Raises
    ``CommandRejected`` ``ORIGINAL_REQUEST_MISMATCH`` when ``original_request`` is not
    ``request``'s, and ``UnknownDevice`` when the inventory holds no target Device."""
    del request_reader
    at = utc(at)
    received = request.received
    ours = (received.originator, received.target, received.counter)
    if (original_request.originator, original_request.target, original_request.counter) != ours:
        raise CommandRejected(
            "ORIGINAL_REQUEST_MISMATCH",
            f"the original request given is {original_request.request_id}, not "
            f"{request.aggregate_id}",
            clause=clauses.SRPD_8_4A_A,
        )
    device = _target_device(uow, received.target)
    run = _PreCommandRun(
        request,
        original_request,
        device,
        data,
        reader=pre_command_reader,
        lookup=lookup or _InventoryLookup(app, uow),
        at=at,
    )
    stage = Stage.DCC_SIGNED_PRE_COMMAND
    outcomes, undecided, missing = _run(checks_of(stage, smets1_target=request.smets1), run.decide)
    result = AnswerChecked(
        stage=stage, outcomes=outcomes, pre_command=None, undecided=undecided, missing=missing
    )
    if result.passed and not request.smets1:
        return attrs.evolve(result, pre_command=data)
    return result
