"""The TCoS Party's handling of a Countersigned CoS Service Request (SRPD 8.1A(b), 8.2A, 8.3A(a)
as rewritten by ETMAD 3.5; DOMAIN.md 3.4). The TCoS Party is a separate service with its own
key and its own store (``app``, where it records only the Pre-Command counters it used); it
consults the DSP only through its limited view (``DspLookup``, DOMAIN.md 1).

``TcosPartyService.handle`` runs ``checks_of(Stage.TCOS_PARTY)`` in order, stopping at the first
failure:

* 8.1A(b)(i) Check Cryptographic Protection of the communication and of the inner request: the
  DCC's countersignature and the User's request signature both verified (the detail says which
  did not);
* 8.1A(b)(ii) Confirm Validity, at the time of handling, of the certificates used to check both
  (the countersigner's and the request signer's);
* 8.1A(b)(iii) the submitting User's User ID (the request's originator) and the User ID (Entity
  Identifier) in each Organisation Certificate in the request are associated with the same User:
  **[choice]** they are equal, or Party Details give both User IDs a common MPID (a Party's
  User IDs share its MPIDs). A replacement that is not an Organisation Certificate fails, and so
  does a request with no replacement (there is nothing to associate);
* 8.1A(b)(iv) the User ID in each Organisation Certificate is that of the Party who is (or is to
  be) Responsible Supplier: Registration Data's MPID for the request's MPxN on the request's
  execution date-time, or on the current date (the time of handling) if none is specified, must
  be an MPID Party Details give that User ID. **[choice]** Without Party Details (``mpids_of``
  None) the check fails: the TCoS Party cannot confirm it.

Any failure: 8.3A(a) — no further processing; the DCC is notified (``PartyReport``,
``REFUSED``); nothing is recorded. All passed: 8.2A — the Signed Pre-Command (``PreCommandSigner``,
the TCoS Party key) is the answer (``ANSWERED``), its originator counter the microseconds since
the Unix epoch of the signing time, raised above the last the party used for that Device
(``tcos_party_pre_command_aggregate_id``: ``tcos-party:pre-command-counters:<Device>``, recorded
in one unit of work).
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

import attrs

from application.cos_party import (
    countersignature_failure,
    next_pre_command_counter,
    validity_failure,
)
from application.service import EtmadApplication, UnitOfWork
from application.srv623 import VerifiedRequest
from application.srv623_ports import (
    CountersignedFacts,
    CountersignedRequestReader,
    DspLookup,
    PartyReport,
    PartyVerdict,
    PreCommandSigner,
    SignatureCheck,
)
from domain import clauses
from domain.events import utc
from domain.identifiers import EUI64
from domain.replay import RequestCounterRecord
from domain.service_request import CheckOutcome, Party
from domain.srv623_checks import Check, Stage, checks_of

TCOS_PARTY_PREFIX: Final = "tcos-party:"

#: Why 8.1A(b)(iv) cannot be confirmed without Party Details ([choice]: it fails).
NO_PARTY_DETAILS: Final = (
    "the TCoS Party holds no Party Details (User ID to MPIDs): whether a User ID is the "
    "Responsible Supplier's cannot be confirmed"
)


def tcos_party_pre_command_aggregate_id(device: EUI64) -> str:
    """The TCoS Party's record of the Pre-Command counters it used for ``device`` (8.2A)."""
    return f"{TCOS_PARTY_PREFIX}pre-command-counters:{device}"


# --- the checks ---------------------------------------------------------------------------------


def both_signatures_failure(facts: CountersignedFacts) -> str | None:
    """8.1A(b)(i): the countersignature and the inner request's signature both verified."""
    failures: list[str] = []
    countersignature = countersignature_failure(facts.countersignature)
    if countersignature is not None:
        failures.append(countersignature)
    if facts.request is None:
        failures.append(
            "the inner Service Request's signature does not verify: "
            f"{facts.request_failure or 'no reason given'}"
        )
    return "; ".join(failures) or None


def both_validities_failure(facts: CountersignedFacts, request: VerifiedRequest) -> str | None:
    """8.1A(b)(ii): Confirm Validity of the countersigner's and the request signer's
    certificates."""
    signer = request.signer
    signer_check = SignatureCheck(
        verified=True,
        certificate_id=signer.certificate_id,
        entity_id=signer.entity_id,
        validity=signer.validity,
    )
    failures = [
        failure
        for failure in (
            validity_failure(facts.countersignature, "countersigning"),
            validity_failure(signer_check, "request signing"),
        )
        if failure is not None
    ]
    return "; ".join(failures) or None


def _certificates(request: VerifiedRequest) -> tuple[list[EUI64], list[str]]:
    """The User IDs of the request's Organisation Certificates, and the replacements that are
    not Organisation Certificates."""
    user_ids: list[EUI64] = []
    not_organisation: list[str] = []
    for replacement in request.replacements:
        if replacement.entity_id is None:
            cell = replacement.cell
            not_organisation.append(f"{cell.role.name} {cell.key_usage} {cell.cell_usage}")
        else:
            user_ids.append(replacement.entity_id)
    return user_ids, not_organisation


def same_user_failure(request: VerifiedRequest, lookup: DspLookup) -> str | None:
    """8.1A(b)(iii): the originator's User ID and each Organisation Certificate's User ID are
    associated with the same User ([choice]: equal, or sharing an MPID in Party Details)."""
    user_ids, not_organisation = _certificates(request)
    if not_organisation:
        return (
            "replacement certificates that are not Organisation Certificates (no User ID): "
            + "; ".join(not_organisation)
        )
    if not user_ids:
        return "the request carries no Organisation Certificate: no User ID to associate"
    originator = request.originator
    others = sorted({u for u in user_ids if u != originator}, key=str)
    if not others:
        return None
    submitter = lookup.mpids_of(originator)
    unrelated: list[str] = []
    for user_id in others:
        theirs = lookup.mpids_of(user_id)
        if submitter is None or theirs is None:
            unrelated.append(f"{user_id} (no Party Details held)")
        elif not submitter & theirs:
            held = ", ".join(sorted(theirs)) or "none"
            unrelated.append(f"{user_id} (MPIDs: {held})")
    if not unrelated:
        return None
    mine = "no Party Details held" if submitter is None else ", ".join(sorted(submitter)) or "none"
    return (
        f"Organisation Certificate User IDs not associated with the submitting User {originator} "
        f"(MPIDs: {mine}): {'; '.join(unrelated)}"
    )


def responsible_supplier_failure(
    request: VerifiedRequest, lookup: DspLookup, *, at: datetime
) -> str | None:
    """8.1A(b)(iv): each Organisation Certificate's User ID is the Responsible Supplier's (by
    Registration Data for the request's MPxN) on the execution date-time, else at ``at``."""
    on = request.requested.execution_date_time or at
    when = on.isoformat()
    supplier = lookup.responsible_supplier(request.mpxn, on)
    if supplier is None:
        return f"Registration Data names no Responsible Supplier for {request.mpxn} at {when}"
    user_ids, _ = _certificates(request)
    wrong: list[str] = []
    for user_id in sorted(set(user_ids), key=str):
        mpids = lookup.mpids_of(user_id)
        if mpids is None:
            return NO_PARTY_DETAILS
        if supplier not in mpids:
            wrong.append(f"{user_id} (MPIDs: {', '.join(sorted(mpids)) or 'none'})")
    if not wrong:
        return None
    return (
        f"the Responsible Supplier of {request.mpxn} at {when} is {supplier}; Organisation "
        f"Certificate User IDs that are not its: {'; '.join(wrong)}"
    )


def _outcome(check: Check, failure: str | None) -> CheckOutcome:
    if failure is None:
        return CheckOutcome(check, passed=True)
    return CheckOutcome(check, passed=False, detail=failure)


# --- the service --------------------------------------------------------------------------------


class TcosPartyService:
    """The TCoS Party (see the module): its store, its trust store (the reader), its TCoS key
    (``pre_command_signer``) and its limited DSP view (``lookup``)."""

    def __init__(
        self,
        app: EtmadApplication,
        *,
        countersigned_reader: CountersignedRequestReader,
        pre_command_signer: PreCommandSigner,
        lookup: DspLookup,
    ) -> None:
        self._app = app
        self._reader = countersigned_reader
        self._signer = pre_command_signer
        self._lookup = lookup

    def handle(self, countersigned_xml: bytes, *, at: datetime) -> PartyReport:
        """Handle one Countersigned CoS Service Request received at ``at`` (8.1A(b), 8.2A,
        8.3A(a)); see the module."""
        at = utc(at)
        facts = self._reader.read_countersigned(countersigned_xml, at=at)
        request = facts.request
        request_id = None if request is None else request.request_id
        outcomes: list[CheckOutcome] = []
        for check in checks_of(Stage.TCOS_PARTY):
            failure = self._failure(check, facts, at=at)
            outcomes.append(_outcome(check, failure))
            if failure is not None:
                # SRPD 8.3A(a): no further processing; the DCC is notified; nothing recorded.
                return self._report(outcomes, PartyVerdict.REFUSED, request_id=request_id)
        assert request is not None  # noqa: S101 — (i) passed
        # SRPD 8.2A: the Signed Pre-Command, with a counter above the last used for the Device.
        pre_command = self._sign(facts, request, at=at)
        return self._report(
            outcomes, PartyVerdict.ANSWERED, request_id=request_id, answer=pre_command
        )

    def _failure(self, check: Check, facts: CountersignedFacts, *, at: datetime) -> str | None:
        if check is Check.TCOS_8_1A_B_I_CRYPTOGRAPHIC_PROTECTION:  # SRPD 8.1A(b)(i)
            return both_signatures_failure(facts)
        request = facts.request
        assert request is not None  # noqa: S101 — (i) passed
        if check is Check.TCOS_8_1A_B_II_CONFIRM_VALIDITY:  # SRPD 8.1A(b)(ii)
            return both_validities_failure(facts, request)
        if check is Check.TCOS_8_1A_B_III_SAME_USER:  # SRPD 8.1A(b)(iii)
            return same_user_failure(request, self._lookup)
        # SRPD 8.1A(b)(iv)
        return responsible_supplier_failure(request, self._lookup, at=at)

    def _sign(self, facts: CountersignedFacts, request: VerifiedRequest, *, at: datetime) -> bytes:
        request_xml = facts.request_xml
        assert request_xml is not None  # noqa: S101 — given whenever the request was read
        uow = UnitOfWork(self._app)
        key = tcos_party_pre_command_aggregate_id(request.target)
        used = uow.get(key, RequestCounterRecord.create)
        counter = next_pre_command_counter(used, at)
        signed = self._signer.sign_pre_command(request_xml, counter=counter, at=at)
        record = used or RequestCounterRecord(originator=request.target)
        event = record.accept(counter=counter, target=request.target, at=at)
        uow.record(key, RequestCounterRecord.create, attrs.evolve(event, clause=clauses.SRPD_8_2A))
        uow.commit()
        return signed

    @staticmethod
    def _report(
        outcomes: list[CheckOutcome],
        verdict: PartyVerdict,
        *,
        request_id: str | None,
        answer: bytes | None = None,
    ) -> PartyReport:
        return PartyReport(
            party=Party.TCOS_PARTY,
            stage=Stage.TCOS_PARTY,
            outcomes=tuple(outcomes),
            verdict=verdict,
            answer=answer,
            request_id=request_id,
        )
