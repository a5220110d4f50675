"""ETMAD 1.19: before the ECoS Migration Period ends, the DCC ensures the ECoS Party has the
information to process SRV 6.23s for all SMETS1 Devices. ``ShowSmets1Readiness`` answers, for
every SMETS1 Device in the Smart Metering Inventory at a time, whether an SRV 6.23 for it could
be processed by the ECoS Party then, and why not (ETMAD 1.20, routing, the request checks)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from application.service import EtmadApplication, UnitOfWork
from application.settings import REQUISITE_REPLACEMENT_CERTIFICATES, Settings
from domain import clauses
from domain.cos_parties import COS_PARTY_REGISTER_ID, CosPartyRegister
from domain.identifiers import EUI64, MPAN, CertificateId, CosParty, DeviceType, SmetsGeneration
from domain.routing import RouteInputs, RouteTo, decide_route, route_srv623
from domain.smets1_readiness import (
    ETMAD_1_19,
    REASON_CLAUSES,
    SUPPOSED_COMMAND_VARIANT,
    ReadinessCode,
    ReadinessInputs,
    assess_smets1_readiness,
)
from tests.builders import ECOS_CA, TCOS_CA, cert, eui, iso, mpan, register_model
from tests.conftest import Runner

T0 = datetime(2024, 1, 2, 9, 0, tzinfo=UTC)  # the Devices are registered
TESTED = datetime(2024, 3, 1, tzinfo=UTC)  # the ETMAD 1.20 testing completed
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
PERIOD_END = datetime(2024, 11, 1, tzinfo=UTC)  # ETMAD 1.21, unless the SoS directs later

TCOS_CERT = cert(101, TCOS_CA)
ECOS_CERT = cert(201, ECOS_CA)
STRANGER = cert(301, "CN=Some Supplier OCA")
C = ReadinessCode


# --- the story's set-up -------------------------------------------------------------------------


def certificate(fields: dict[str, str]) -> CertificateId:
    return CertificateId.from_json(fields)


def cos_party_register(app: EtmadApplication, *, tested: datetime | None = TESTED) -> None:
    """The register gives ``TCOS_CERT`` to the TCoS Party and ``ECOS_CERT`` to the ECoS Party
    (recorded before the Devices), and records the ETMAD 1.20 testing completed at ``tested``."""
    uow = UnitOfWork(app)
    register = CosPartyRegister()
    for fields, party in ((TCOS_CERT, CosParty.TCOS), (ECOS_CERT, CosParty.ECOS)):
        event = register.record_certificate(
            certificate=certificate(fields),
            party=party,
            at=T0 - timedelta(days=30),
            recorded_by="DCC",
        )
        register = uow.record(COS_PARTY_REGISTER_ID, CosPartyRegister.create, event) or register
    if tested is not None:
        completed = register.record_smets1_testing_completed(
            completed_at=tested, evidence="ECoS Testing Approach: SMETS1 report", recorded_by="DCC"
        )
        uow.record(COS_PARTY_REGISTER_ID, CosPartyRegister.create, completed)
    uow.commit()


def smets1_model(run: Runner, device_type: str = "ESME", name: str = "S1E") -> dict[str, str]:
    return register_model(run, device_type=device_type, smets="SMETS1", model=name)


def device(
    run: Runner,
    n: int,
    model: dict[str, str],
    *,
    device_type: str = "ESME",
    mpxn: str | None = None,
    certificate: dict[str, str] | None = ECOS_CERT,
    cos_party: str = "ECoS",
    at: datetime = T0,
) -> str:
    """Register Device ``n`` at ``at``; an ESME gets an MPAN unless ``mpxn`` says otherwise."""
    fields: dict[str, Any] = {
        "device_id": eui(n),
        "device_type": device_type,
        "model": model,
        "cos_party": cos_party,
        "at": iso(at),
    }
    if certificate is not None:
        fields["cos_certificate"] = certificate
    if mpxn is not None:
        fields["mpxn"] = mpxn
    run.ok("RegisterDevice", **fields)
    return eui(n)


def readiness(run: Runner, at: datetime = NOW, **extra: Any) -> Any:
    return run.result("ShowSmets1Readiness", at=iso(at), **extra)


def listed(report: Any) -> dict[str, Any]:
    return {d["device_id"]: d for d in report["devices"]}


def codes(entry: Any) -> list[str]:
    return [r["code"] for r in entry["reasons"]]


# --- through the command vocabulary --------------------------------------------------------------


def test_a_smets1_ecos_device_with_its_information_held_is_ready(app, run):
    cos_party_register(app)
    device(run, 1, smets1_model(run), mpxn=mpan(1))

    report = readiness(run)

    assert report["as_of"] == "2024-06-01T12:00:00+00:00"
    assert report["clause"] == "ETMAD 1.19"
    assert (report["smets1_devices"], report["ready"], report["not_ready"]) == (1, 1, 0)
    assert report["devices"] == []
    assert set(report["by_reason"].values()) == {0}
    assert (report["period_end"], report["days_to_period_end"]) == (None, None)
    assert (report["limit"], report["truncated"]) == (1000, False)


def test_each_missing_piece_of_information_is_a_reason_naming_its_clause(app, run):
    cos_party_register(app)
    esme = smets1_model(run)
    still_tcos = device(run, 1, esme, mpxn=mpan(1), certificate=TCOS_CERT, cos_party="TCoS")
    no_certificate = device(run, 2, esme, mpxn=mpan(2), certificate=None)
    unknown = device(run, 3, esme, mpxn=mpan(3), certificate=STRANGER)
    no_mpxn = device(run, 4, esme)
    ppmid = device(run, 5, smets1_model(run, "PPMID", "S1P"), device_type="PPMID", mpxn=mpan(5))
    hub = device(run, 6, smets1_model(run, "CHF", "S1H"), device_type="CHF")
    ready = device(run, 7, esme, mpxn=mpan(7))

    report = readiness(run)

    assert (report["smets1_devices"], report["ready"], report["not_ready"]) == (7, 1, 6)
    devices = listed(report)
    assert ready not in devices
    expected = {
        still_tcos: ([C.TCOS_DEVICE], RouteTo.SMETS1_LEGACY),
        no_certificate: ([C.NO_COS_CERTIFICATE], RouteTo.REJECTED),
        unknown: ([C.UNKNOWN_COS_CERTIFICATE], RouteTo.REJECTED),
        no_mpxn: ([C.NO_MPXN], RouteTo.COS_PARTY),
        ppmid: ([C.NO_REQUISITE_REPLACEMENT_CERTIFICATES], RouteTo.COS_PARTY),
        hub: ([C.NO_MPXN, C.NO_REQUISITE_REPLACEMENT_CERTIFICATES], RouteTo.COS_PARTY),
    }
    assert {d: (codes(e), e["route"]) for d, e in devices.items()} == expected
    clause_of = {
        C.TCOS_DEVICE: clauses.SRPD_6_4_B,
        C.NO_COS_CERTIFICATE: clauses.ETMAD_2_TCOS_DEVICE,
        C.UNKNOWN_COS_CERTIFICATE: clauses.ETMAD_2_TCOS_DEVICE,
        C.NO_MPXN: clauses.SRPD_6_1,
        C.NO_REQUISITE_REPLACEMENT_CERTIFICATES: clauses.SRPD_6_1,
    }
    for entry in devices.values():
        assert entry["ready"] is False
        for r in entry["reasons"]:
            assert r["clause"] == clause_of[ReadinessCode(r["code"])]
            assert r["detail"]
    assert devices[hub]["model"]["model"] == "S1H"
    assert devices[hub]["device_type"] == "CHF"
    assert report["by_reason"] == {
        "SMETS1_TESTING_NOT_COMPLETED": 0,
        "TCOS_DEVICE": 1,
        "NO_COS_CERTIFICATE": 1,
        "UNKNOWN_COS_CERTIFICATE": 1,
        "NO_MPXN": 2,
        "NO_REQUISITE_REPLACEMENT_CERTIFICATES": 2,
    }


def test_a_tcos_device_becomes_ready_once_its_certificate_pertains_to_the_ecos_party(app, run):
    cos_party_register(app)
    tcos = device(run, 1, smets1_model(run), mpxn=mpan(1), certificate=TCOS_CERT, cos_party="TCoS")
    run.ok(
        "RecordCredentialsReplaced",
        device_id=tcos,
        at=iso(NOW - timedelta(days=1)),
        party="ECoS",
        certificate=ECOS_CERT,
    )

    before = readiness(run, NOW - timedelta(days=2))
    after = readiness(run)

    assert codes(listed(before)[tcos]) == ["TCOS_DEVICE"]
    assert (after["ready"], after["not_ready"]) == (1, 0)


def test_the_answer_is_the_one_routing_gives(app, run):
    cos_party_register(app)
    esme = smets1_model(run)
    device(run, 1, esme, mpxn=mpan(1), certificate=TCOS_CERT, cos_party="TCoS")
    device(run, 2, esme, mpxn=mpan(2), certificate=STRANGER)
    device(run, 3, esme, mpxn=mpan(3))

    for at in (TESTED - timedelta(days=1), NOW):
        report = readiness(run, at)
        register = app.load(COS_PARTY_REGISTER_ID, CosPartyRegister.create)
        assert register is not None
        for n in (1, 2, 3):
            held = app.device(EUI64.parse(eui(n)))
            routed = route_srv623(
                certificate=held.cos_certificate,
                generation=SmetsGeneration.SMETS1,
                command_variant=SUPPOSED_COMMAND_VARIANT,
                at=at,
                register=register,
            )
            entry = listed(report).get(eui(n))
            assert (entry["route"] if entry else RouteTo.COS_PARTY) == routed.route


def test_smets2_devices_are_not_counted(app, run):
    cos_party_register(app)
    device(run, 1, register_model(run, smets="SMETS2+"), mpxn=mpan(1))
    device(run, 2, register_model(run, smets="SMETS2+", model="E2"), certificate=None)
    device(run, 3, smets1_model(run), mpxn=mpan(3))

    report = readiness(run)

    assert (report["smets1_devices"], report["ready"], report["not_ready"]) == (1, 1, 0)


def test_before_the_1_20_testing_is_recorded_every_device_is_not_ready_for_that_reason(app, run):
    cos_party_register(app, tested=None)
    esme = smets1_model(run)
    ready_but_untested = device(run, 1, esme, mpxn=mpan(1))
    tcos = device(run, 2, esme, mpxn=mpan(2), certificate=TCOS_CERT, cos_party="TCoS")

    report = readiness(run)

    assert (report["smets1_devices"], report["ready"], report["not_ready"]) == (2, 0, 2)
    devices = listed(report)
    assert codes(devices[ready_but_untested]) == ["SMETS1_TESTING_NOT_COMPLETED"]
    assert devices[ready_but_untested]["route"] == RouteTo.REJECTED
    assert codes(devices[tcos]) == ["SMETS1_TESTING_NOT_COMPLETED", "TCOS_DEVICE"]
    for entry in devices.values():
        assert entry["reasons"][0]["clause"] == clauses.ETMAD_1_20
    assert report["by_reason"]["SMETS1_TESTING_NOT_COMPLETED"] == 2


def test_a_testing_completed_after_the_time_asked_does_not_count(app, run):
    cos_party_register(app)
    ready = device(run, 1, smets1_model(run), mpxn=mpan(1))

    before = readiness(run, TESTED - timedelta(seconds=1))
    at_completion = readiness(run, TESTED)

    assert codes(listed(before)[ready]) == ["SMETS1_TESTING_NOT_COMPLETED"]
    assert (at_completion["ready"], at_completion["not_ready"]) == (1, 0)


def test_period_end_gives_the_whole_days_remaining(app, run):
    cos_party_register(app)
    device(run, 1, smets1_model(run), mpxn=mpan(1))

    report = readiness(run, period_end=iso(PERIOD_END))
    last_day = readiness(run, PERIOD_END - timedelta(hours=1), period_end=iso(PERIOD_END))
    passed = readiness(run, PERIOD_END + timedelta(hours=1), period_end=iso(PERIOD_END))

    assert report["period_end"] == "2024-11-01T00:00:00+00:00"
    assert report["days_to_period_end"] == 152  # 1 June 12:00 to 1 November 00:00: 152.5 days
    assert last_day["days_to_period_end"] == 0
    assert passed["days_to_period_end"] == -1


def test_a_device_registered_after_the_time_asked_is_not_counted(app, run):
    cos_party_register(app)
    esme = smets1_model(run)
    device(run, 1, esme, mpxn=mpan(1))
    later = device(run, 2, esme, at=NOW + timedelta(days=1))

    now = readiness(run)
    then = readiness(run, NOW + timedelta(days=2))

    assert (now["smets1_devices"], now["not_ready"]) == (1, 0)
    assert (then["smets1_devices"], then["not_ready"]) == (2, 1)
    assert list(listed(then)) == [later]


def test_a_decommissioned_device_is_not_counted(app, run):
    cos_party_register(app)
    gone = device(run, 1, smets1_model(run))
    run.ok("RecordCommissioning", device_id=gone, at=iso(T0))
    run.ok("RecordDecommissioning", device_id=gone, at=iso(NOW - timedelta(days=1)))

    before = readiness(run, NOW - timedelta(days=2))
    after = readiness(run)

    assert (before["smets1_devices"], before["not_ready"], before["decommissioned"]) == (1, 1, 0)
    assert (after["smets1_devices"], after["not_ready"], after["decommissioned"]) == (0, 0, 1)


def test_the_list_of_devices_is_capped_by_limit_and_the_counts_are_not(app, run):
    cos_party_register(app)
    esme = smets1_model(run)
    for n in (1, 2, 3):
        device(run, n, esme)

    capped = readiness(run, limit=2)
    none_listed = readiness(run, limit=0)
    all_listed = readiness(run, limit=3)

    assert [d["device_id"] for d in capped["devices"]] == [eui(1), eui(2)]
    assert (capped["not_ready"], capped["limit"], capped["truncated"]) == (3, 2, True)
    assert (none_listed["devices"], none_listed["truncated"]) == ([], True)
    assert (len(all_listed["devices"]), all_listed["truncated"]) == (3, False)
    assert capped["by_reason"]["NO_MPXN"] == 3
    run.rejected("ShowSmets1Readiness", "INVALID_COMMAND", at=iso(NOW), limit=-1)
    run.rejected("ShowSmets1Readiness", "INVALID_COMMAND", at=iso(NOW), limit="ten")
    run.rejected("ShowSmets1Readiness", "INVALID_TIME", at=iso(NOW), period_end="2024-11-01T00:00")


def test_the_requisite_certificate_counts_are_the_settings(make_app):
    app = make_app(
        Settings(
            replacement_certificates={**REQUISITE_REPLACEMENT_CERTIFICATES, DeviceType.PPMID: 1}
        )
    )
    run = Runner(app)
    cos_party_register(app)
    device(run, 1, smets1_model(run, "PPMID", "S1P"), device_type="PPMID", mpxn=mpan(1))

    report = readiness(run)

    assert (report["ready"], report["not_ready"]) == (1, 0)


def test_nothing_is_recorded(app, run):
    cos_party_register(app)
    device(run, 1, smets1_model(run))

    result = run.ok("ShowSmets1Readiness", at=iso(NOW))

    assert result.events == ()


# --- the policy ----------------------------------------------------------------------------------

AT = datetime(2024, 6, 1, tzinfo=UTC)
CERTIFICATES = st.sampled_from(
    [None, CertificateId(0x1001, "CN=TCoS OCA"), CertificateId(0x2002, "CN=ECoS OCA")]
)
TIMES = st.none() | st.sampled_from([AT - timedelta(days=1), AT, AT + timedelta(seconds=1)])
INPUTS = st.builds(
    ReadinessInputs,
    device_id=st.just(EUI64.parse("00-DB-12-34-56-78-90-A0")),
    device_type=st.sampled_from(DeviceType),
    certificate=CERTIFICATES,
    party=st.none() | st.sampled_from(CosParty),
    mpxn=st.none() | st.just(MPAN.parse(mpan(1))),
    requisite_replacements=st.none() | st.integers(1, 3),
    smets1_testing_completed_at=TIMES,
)


@given(INPUTS)
def test_ready_exactly_when_no_reason_applies_and_then_routing_sends_it_to_the_cos_party(inputs):
    decision = assess_smets1_readiness(inputs, at=AT)

    assert decision.ready == (decision.reasons == ())
    assert decision.clause == ETMAD_1_19
    assert all(r.clause == REASON_CLAUSES[r.code] and r.detail for r in decision.reasons)
    assert len(decision.codes()) == len(decision.reasons)
    routed = decide_route(
        RouteInputs(
            certificate=inputs.certificate,
            party=inputs.party,
            generation=SmetsGeneration.SMETS1,
            command_variant=SUPPOSED_COMMAND_VARIANT,
            smets1_testing_completed_at=inputs.smets1_testing_completed_at,
        ),
        at=AT,
    )
    assert decision.route is routed.route
    if decision.ready:
        assert decision.route is RouteTo.COS_PARTY


@given(INPUTS)
def test_each_reason_applies_exactly_when_its_information_is_missing(inputs):
    codes = assess_smets1_readiness(inputs, at=AT).codes()

    completed = inputs.smets1_testing_completed_at
    assert (C.SMETS1_TESTING_NOT_COMPLETED in codes) == (completed is None or completed > AT)
    assert (C.NO_COS_CERTIFICATE in codes) == (inputs.certificate is None)
    known = inputs.certificate is not None
    assert (C.UNKNOWN_COS_CERTIFICATE in codes) == (known and inputs.party is None)
    assert (C.TCOS_DEVICE in codes) == (known and inputs.party is CosParty.TCOS)
    assert (C.NO_MPXN in codes) == (inputs.mpxn is None)
    assert (C.NO_REQUISITE_REPLACEMENT_CERTIFICATES in codes) == (
        inputs.requisite_replacements is None
    )
