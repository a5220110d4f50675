"""The TCoS Party (SRPD 8.1A(b), 8.2A, 8.3A(a); DOMAIN.md 3.4): each 8.1A(b) check failing alone
and giving the User its rejection; the same-User association; the Responsible Supplier on the
execution date of a future-dated request; the Signed Pre-Command as the answer; and the
``ApplicationDspLookup`` it consults."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import attrs
import pytest

from application.cos_party import microseconds
from application.dsp_lookup import ApplicationDspLookup
from application.errors import UnknownDevice
from application.srv623_ports import CountersignedFacts, DspLookup, PartyReport, PartyVerdict
from application.tcos_party import (
    NO_PARTY_DETAILS,
    TcosPartyService,
    tcos_party_pre_command_aggregate_id,
)
from domain import clauses
from domain.identifiers import (
    EUI64,
    DeviceModelKey,
    DeviceType,
    MPxN,
    SmetsGeneration,
)
from domain.registration import SupplierChange
from domain.service_request import CheckOutcome, Party
from domain.srv623_checks import Check, Stage, checks_of
from tests.test_cos_party import (
    AT,
    MPXN,
    ORIGINATOR,
    OTHER_USER,
    TARGET,
    FakeReader,
    FakeSigner,
    assert_nothing_recorded,
    assert_rejected_by,
    countersigned,
    events_of,
    expired,
    replacement,
    request,
)

TCOS_CHECKS = checks_of(Stage.TCOS_PARTY)
SUPPLIER = "GTSP"
NEW_SUPPLIER = "NEWS"
NEW_USER = EUI64.parse("90-B3-D5-1F-30-03-00-00")


@attrs.define
class FakeLookup:
    """A ``DspLookup``: one MPxN's Responsible Supplier (optionally changing at ``change_at``)
    and Party Details (None: none held)."""

    supplier: str | None = SUPPLIER
    parties: dict[EUI64, frozenset[str]] | None = attrs.Factory(
        lambda: {ORIGINATOR: frozenset({SUPPLIER})}
    )

    def responsible_supplier(self, mpxn: MPxN, on: datetime) -> str | None:
        del on
        return self.supplier if mpxn == MPXN else None

    def mpids_of(self, user_id: EUI64) -> frozenset[str] | None:
        if self.parties is None:
            return None
        return self.parties.get(user_id, frozenset())

    def mpxn_of(self, device: EUI64) -> MPxN | None:
        return MPXN if device == TARGET else None


@attrs.define
class Harness:
    service: TcosPartyService
    reader: FakeReader
    signer: FakeSigner

    def handle(self, facts: CountersignedFacts, at: datetime = AT) -> PartyReport:
        return self.service.handle(self.reader.artefact(facts), at=at)


def tcos_party(app, lookup: DspLookup | None = None) -> Harness:
    reader, signer = FakeReader(), FakeSigner()
    service = TcosPartyService(
        app,
        countersigned_reader=reader,
        pre_command_signer=signer,
        lookup=lookup or FakeLookup(),
    )
    return Harness(service, reader, signer)


def refused(app, facts: CountersignedFacts, check: Check, lookup: Any = None) -> PartyReport:
    party = tcos_party(app, lookup)
    report = party.handle(facts)
    assert report.party is Party.TCOS_PARTY
    assert_rejected_by(report, facts.request or request(), check)
    assert party.signer.counters == []  # 8.3A(a): no further processing
    assert_nothing_recorded(app)
    return report


# --- 8.1A(b): each check failing ----------------------------------------------------------------


def test_a_countersignature_that_does_not_verify_fails_8_1a_b_i(app):
    facts = countersigned(request(), verified=False, detail="BAD_SIGNATURE: digest differs")
    report = refused(app, facts, Check.TCOS_8_1A_B_I_CRYPTOGRAPHIC_PROTECTION)
    assert "countersignature" in report.outcomes[-1].detail
    assert "inner" not in report.outcomes[-1].detail


def test_an_inner_request_that_does_not_verify_fails_8_1a_b_i(app):
    facts = countersigned(None, request_failure="E2: the request's signature does not verify")
    report = refused(app, facts, Check.TCOS_8_1A_B_I_CRYPTOGRAPHIC_PROTECTION)
    assert "inner Service Request" in report.outcomes[-1].detail
    assert "countersignature" not in report.outcomes[-1].detail


def test_an_invalid_countersigning_certificate_fails_8_1a_b_ii(app):
    report = refused(
        app,
        countersigned(request(), validity=expired()),
        Check.TCOS_8_1A_B_II_CONFIRM_VALIDITY,
    )
    assert "countersigning" in report.outcomes[-1].detail


def test_an_invalid_request_signing_certificate_fails_8_1a_b_ii(app):
    report = refused(
        app,
        countersigned(request(signer_validity=expired())),
        Check.TCOS_8_1A_B_II_CONFIRM_VALIDITY,
    )
    assert "request signing" in report.outcomes[-1].detail
    assert "EXPIRED" in report.outcomes[-1].detail


def test_an_organisation_certificate_of_an_unrelated_user_fails_8_1a_b_iii(app):
    lookup = FakeLookup(
        parties={ORIGINATOR: frozenset({SUPPLIER}), OTHER_USER: frozenset({"RIVL"})}
    )
    inner = request(replacements=(replacement(entity_id=OTHER_USER),))
    report = refused(app, countersigned(inner), Check.TCOS_8_1A_B_III_SAME_USER, lookup)
    assert str(OTHER_USER) in report.outcomes[-1].detail


def test_a_replacement_that_is_not_an_organisation_certificate_fails_8_1a_b_iii(app):
    inner = request(replacements=(replacement(entity_id=None),))
    report = refused(app, countersigned(inner), Check.TCOS_8_1A_B_III_SAME_USER)
    assert "not Organisation Certificates" in report.outcomes[-1].detail


def test_a_different_user_id_of_the_same_party_passes_8_1a_b_iii(app):
    lookup = FakeLookup(
        parties={ORIGINATOR: frozenset({SUPPLIER}), OTHER_USER: frozenset({SUPPLIER, "OTHR"})}
    )
    inner = request(replacements=(replacement(entity_id=OTHER_USER),))
    report = tcos_party(app, lookup).handle(countersigned(inner))
    assert report.verdict is PartyVerdict.ANSWERED


def test_certificates_not_of_the_responsible_supplier_fail_8_1a_b_iv(app):
    report = refused(
        app,
        countersigned(request()),
        Check.TCOS_8_1A_B_IV_RESPONSIBLE_SUPPLIER,
        FakeLookup(supplier="RIVL"),
    )
    assert "RIVL" in report.outcomes[-1].detail


def test_an_mpxn_without_a_responsible_supplier_fails_8_1a_b_iv(app):
    report = refused(
        app,
        countersigned(request()),
        Check.TCOS_8_1A_B_IV_RESPONSIBLE_SUPPLIER,
        FakeLookup(supplier=None),
    )
    assert "no Responsible Supplier" in report.outcomes[-1].detail


def test_without_party_details_8_1a_b_iv_cannot_be_confirmed_and_fails(app):
    report = refused(
        app,
        countersigned(request()),
        Check.TCOS_8_1A_B_IV_RESPONSIBLE_SUPPLIER,
        FakeLookup(parties=None),
    )
    assert report.outcomes[-1].detail == NO_PARTY_DETAILS


# --- 8.2A: the Signed Pre-Command -----------------------------------------------------------


def test_a_passing_request_is_answered_with_the_signed_pre_command(app):
    party = tcos_party(app)
    inner = request()
    report = party.handle(countersigned(inner))
    assert report.verdict is PartyVerdict.ANSWERED
    assert report.outcomes == tuple(CheckOutcome(c, passed=True) for c in TCOS_CHECKS)
    assert report.request_id == inner.request_id
    assert report.anomaly is None
    assert report.answer == b"pre-command " + str(microseconds(AT)).encode() + b" of <request/>"
    (used,) = events_of(app, tcos_party_pre_command_aggregate_id(TARGET))
    assert (used.counter, used.clause) == (microseconds(AT), clauses.SRPD_8_2A)
    # The next Pre-Command for the Device, signed in the same microsecond, counts above it.
    party.handle(countersigned(request(counter=8)))
    assert party.signer.counters == [microseconds(AT), microseconds(AT) + 1]


# --- the Responsible Supplier of a change of supplier in flight, on the DSP view -------------


MODEL = DeviceModelKey("ACME", "E100", "2.0", "0100")


def in_flight(app) -> datetime:
    """Registration Data: ``SUPPLIER`` now, ``NEW_SUPPLIER`` from a date ahead; Party Details
    give each its User ID. Returns the date of the change."""
    change = AT + timedelta(days=10)
    app.record_supplier_change(SupplierChange(AT - timedelta(days=30), SUPPLIER, MPXN))
    app.record_supplier_change(SupplierChange(change, NEW_SUPPLIER, MPXN))
    assert app.party_details is not None
    app.party_details.record_mpid(ORIGINATOR, SUPPLIER)
    app.party_details.record_mpid(NEW_USER, NEW_SUPPLIER)
    return change


def test_the_responsible_supplier_is_the_one_on_the_execution_date(app):
    change = in_flight(app)
    lookup = ApplicationDspLookup(app)
    party = tcos_party(app, lookup)
    future = change + timedelta(hours=1)
    incoming = request(originator=NEW_USER, execution=future)
    assert party.handle(countersigned(incoming)).verdict is PartyVerdict.ANSWERED
    outgoing = request(counter=8, execution=future)
    report = party.handle(countersigned(outgoing))
    assert report.verdict is PartyVerdict.REFUSED
    assert report.outcomes[-1].check is Check.TCOS_8_1A_B_IV_RESPONSIBLE_SUPPLIER
    assert NEW_SUPPLIER in report.outcomes[-1].detail
    # Without an execution date-time it is the current date's: the outgoing supplier's.
    now = request(counter=9)
    assert party.handle(countersigned(now)).verdict is PartyVerdict.ANSWERED
    early = request(originator=NEW_USER, counter=10)
    assert party.handle(countersigned(early)).verdict is PartyVerdict.REFUSED


def test_the_dsp_lookup_reads_registration_party_details_and_the_inventory(app):
    change = in_flight(app)
    lookup: DspLookup = ApplicationDspLookup(app)
    assert lookup.responsible_supplier(MPXN, AT) == SUPPLIER
    assert lookup.responsible_supplier(MPXN, change) == NEW_SUPPLIER
    assert lookup.mpids_of(NEW_USER) == frozenset({NEW_SUPPLIER})
    assert lookup.mpids_of(OTHER_USER) == frozenset()
    assert lookup.mpxn_of(TARGET) is None
    dsp = ApplicationDspLookup(app)
    with pytest.raises(UnknownDevice):
        dsp.smets1(TARGET)
    app.register_device_model(
        model=MODEL, device_type=DeviceType.ESME, smets=SmetsGeneration.SMETS1, firmware_rank=1
    )
    app.register_device(device_id=TARGET, device_type=DeviceType.ESME, model=MODEL, mpxn=MPXN)
    assert lookup.mpxn_of(TARGET) == MPXN
    assert dsp.smets1(TARGET) is True
    app.party_details = None
    assert lookup.mpids_of(NEW_USER) is None
