"""Eligibility for ECoS Migration (ETMAD 1.3, 1.4 and its closing paragraph, section 2).

Each story builds a Device through the command interface and asks ``AssessEligibility`` why it
may or may not be migrated: every reason carries a stable code, its clause and the fact behind
it (DOMAIN.md 4.1).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from application.settings import Settings
from domain.device import TechnicalIssue
from domain.eligibility import (
    REASON_CLAUSES,
    EligibilityInputs,
    EligibilityParameters,
    ReasonCode,
    SupplierSource,
    assess_eligibility,
    constant_between,
)
from domain.identifiers import EUI64, MPAN, CosParty, DeviceModelKey, DeviceType
from domain.registration import SupplierChange
from tests.builders import (
    LONG_AGO,
    NOW,
    assess,
    chf_model,
    commissioned_device,
    days,
    eui,
    iso,
    mpan,
    mprn,
    reason,
    reason_codes,
    register_device,
    register_model,
    replace_credentials,
    show_device,
    supplier_change,
)
from tests.conftest import AppFactory, Runner

ESME = eui(1)
HUB = eui(2)
GPF = eui(3)
GSME = eui(4)
METER_ESME = eui(5)
ELEC = mpan(1)
GAS = mprn(1)


def _eligible(run: Runner, device_id: str, at: datetime = NOW) -> bool:
    return bool(assess(run, device_id, at)["eligible"])


def _gpf_on_hub(run: Runner, *, hub_commissioned: bool = True) -> dict[str, str]:
    """A Communications Hub (commissioned long ago, unless told) with its Gas Proxy Function."""
    hub_model = chf_model(run)
    register_device(run, HUB, hub_model, device_type="CHF")
    if hub_commissioned:
        run.ok("RecordCommissioning", device_id=HUB, at=iso(LONG_AGO))
    register_device(run, GPF, hub_model, device_type="GPF", comms_hub_id=HUB)
    return hub_model


# --- every reason code (1.3, 1.4) -----------------------------------------------------------


def test_a_commissioned_tcos_device_with_no_issue_is_eligible(run: Runner):
    # 1.3: the DCC shall attempt ECoS Migration for all eligible TCoS Devices.
    commissioned_device(run, ESME, register_model(run), mpxn=ELEC)
    result = assess(run, ESME)
    assert result["eligible"] is True
    assert result["reasons"] == []
    assert result["as_of"] == iso(NOW)


def test_a_device_never_commissioned_is_not_eligible(run: Runner):
    # 1.3: only Devices that have been Commissioned are eligible.
    register_device(run, ESME, register_model(run))
    result = assess(run, ESME)
    assert result["eligible"] is False
    found = reason(result, "NOT_COMMISSIONED")
    assert found["clause"] == "ETMAD 1.3"
    assert "not been Commissioned" in found["detail"]


def test_a_gas_proxy_function_needs_its_comms_hub_function_commissioned(run: Runner):
    # 1.3: a GPF is eligible once "installed as part of a Communications Hub Function that
    # has been Commissioned".
    _gpf_on_hub(run, hub_commissioned=False)
    result = assess(run, GPF)
    assert reason_codes(result) == ["CHF_NOT_COMMISSIONED"]
    found = reason(result, "CHF_NOT_COMMISSIONED")
    assert found["clause"] == "ETMAD 1.3"
    assert "Communications Hub Function" in found["detail"]
    assert "not been Commissioned" in found["detail"]

    run.ok("RecordCommissioning", device_id=HUB, at=iso(LONG_AGO))
    assert _eligible(run, GPF)


def test_a_decommissioned_device_is_not_eligible(run: Runner):
    # 1.3: "... and have not subsequently been Decommissioned".
    commissioned_device(run, ESME, register_model(run))
    run.ok("RecordDecommissioning", device_id=ESME, at=iso(NOW - days(3)))
    found = reason(assess(run, ESME), "DECOMMISSIONED")
    assert found["clause"] == "ETMAD 1.3"
    assert "Decommissioned" in found["detail"]
    assert (NOW - days(3)).date().isoformat() in found["detail"]


def test_a_gas_proxy_function_on_a_decommissioned_comms_hub_is_not_eligible(run: Runner):
    # 1.3 for a GPF: the Communications Hub Function it is part of was Decommissioned.
    _gpf_on_hub(run)
    run.ok("RecordDecommissioning", device_id=HUB, at=iso(NOW - days(1)))
    found = reason(assess(run, GPF), "DECOMMISSIONED")
    assert found["clause"] == "ETMAD 1.3"
    assert "Communications Hub Function" in found["detail"]


def test_an_ecos_device_after_its_credentials_were_replaced_is_not_a_tcos_device(run: Runner):
    # 1.3 migrates TCoS Devices; section 2: a Device whose credentials pertain to the ECoS
    # Party is an ECoS Device.
    commissioned_device(run, ESME, register_model(run))
    replace_credentials(run, ESME, NOW - days(2), party="ECoS")
    found = reason(assess(run, ESME), "NOT_TCOS_DEVICE")
    assert found["clause"] == "ETMAD 1.3"
    assert "ECoS" in found["detail"]


def test_a_device_registered_with_ecos_credentials_is_not_a_tcos_device(run: Runner):
    # 1.15/1.16: ECoS stock is installed alongside TCoS stock; it needs no migration.
    commissioned_device(run, ESME, register_model(run), cos_party="ECoS")
    result = assess(run, ESME)
    assert reason_codes(result) == ["NOT_TCOS_DEVICE"]
    assert "ECoS" in reason(result, "NOT_TCOS_DEVICE")["detail"]


def test_a_tcos_to_tcos_housekeeping_replacement_keeps_the_device_a_tcos_device(run: Runner):
    # 6.1(b)(i): a different TCoS certificate still pertains to the TCoS Party.
    commissioned_device(run, ESME, register_model(run))
    replace_credentials(run, ESME, NOW - days(20), party="TCoS")
    assert _eligible(run, ESME)


def test_a_device_of_a_non_migratable_model_is_ineligible(run: Runner):
    # 1.4(a): the Device is of a Device Model that has been classified as Non-Migratable.
    model = register_model(run)
    commissioned_device(run, ESME, model)
    run.ok(
        "CategoriseNonMigratable",
        model=model,
        at=iso(NOW - days(1)),
        rationale="cannot accept the CoS certificate replacement",
        decided_by="DCC migration board",
    )
    result = assess(run, ESME)
    assert reason_codes(result) == ["NON_MIGRATABLE_MODEL"]
    found = reason(result, "NON_MIGRATABLE_MODEL")
    assert found["clause"] == "ETMAD 1.4(a)"
    assert "ACME/E100/2.0/0100" in found["detail"]
    assert "cannot accept the CoS certificate replacement" in found["detail"]


def test_a_recent_change_of_supplier_makes_the_device_ineligible(run: Runner):
    # 1.4(b): a transient issue such as a recent change of supplier.
    commissioned_device(run, ESME, register_model(run), mpxn=ELEC)
    supplier_change(run, ELEC, "OLDCO", LONG_AGO - days(400))
    supplier_change(run, ELEC, "NEWCO", NOW - days(3))
    result = assess(run, ESME)
    assert reason_codes(result) == ["RECENT_CHANGE_OF_SUPPLIER"]
    found = reason(result, "RECENT_CHANGE_OF_SUPPLIER")
    assert found["clause"] == "ETMAD 1.4(b)"
    assert "NEWCO" in found["detail"]
    assert (NOW - days(3)).date().isoformat() in found["detail"]
    assert "3 days ago" in found["detail"]


def test_a_pending_change_of_supplier_makes_the_device_ineligible(run: Runner):
    # 1.4(b): a transient issue such as a pending change of supplier.
    commissioned_device(run, ESME, register_model(run), mpxn=ELEC)
    supplier_change(run, ELEC, "OLDCO", LONG_AGO - days(400))
    supplier_change(run, ELEC, "NEWCO", NOW + days(10))
    result = assess(run, ESME)
    assert reason_codes(result) == ["PENDING_CHANGE_OF_SUPPLIER"]
    found = reason(result, "PENDING_CHANGE_OF_SUPPLIER")
    assert found["clause"] == "ETMAD 1.4(b)"
    assert "NEWCO" in found["detail"]
    assert (NOW + days(10)).date().isoformat() in found["detail"]
    assert "in 10 days" in found["detail"]


def test_restating_the_same_supplier_is_not_a_change_of_supplier(run: Runner):
    # 1.4(b) speaks of a *change* of supplier: the same supplier again changes nothing.
    commissioned_device(run, ESME, register_model(run), mpxn=ELEC)
    supplier_change(run, ELEC, "OLDCO", LONG_AGO - days(400))
    supplier_change(run, ELEC, "OLDCO", NOW - days(2))
    supplier_change(run, ELEC, "OLDCO", NOW + days(2))
    assert _eligible(run, ESME)


def test_a_recently_commissioned_device_is_ineligible(run: Runner):
    # 1.4(b): a transient issue such as recent Commissioning.
    commissioned_device(run, ESME, register_model(run), at=NOW - days(2))
    result = assess(run, ESME)
    assert reason_codes(result) == ["RECENTLY_COMMISSIONED"]
    found = reason(result, "RECENTLY_COMMISSIONED")
    assert found["clause"] == "ETMAD 1.4(b)"
    assert (NOW - days(2)).date().isoformat() in found["detail"]
    assert "2 days ago" in found["detail"]


def test_a_device_with_a_technical_issue_is_ineligible(run: Runner):
    # 1.4(c): a technical issue impacting the functionality of the Device.
    commissioned_device(run, ESME, register_model(run))
    run.ok(
        "RaiseTechnicalIssue",
        device_id=ESME,
        at=iso(NOW - days(1)),
        reason="HAN radio unresponsive",
        issue_id="INC-42",
    )
    result = assess(run, ESME)
    assert reason_codes(result) == ["TECHNICAL_ISSUE"]
    found = reason(result, "TECHNICAL_ISSUE")
    assert found["clause"] == "ETMAD 1.4(c)"
    assert "HAN radio unresponsive" in found["detail"]
    assert "INC-42" in found["detail"]


# --- the 1.4(b) windows, at their edges ------------------------------------------------------
# Defaults (docs: DCC-set parameters): a change of supplier in the last 7 days is recent, one
# in the next 14 days is pending, a Commissioning in the last 7 days is recent.


@pytest.mark.parametrize(
    ("effective_from", "expected"),
    [
        pytest.param(NOW - days(7), [], id="exactly-7-days-ago-is-past-the-window"),
        pytest.param(
            NOW - days(7) + timedelta(seconds=1),
            ["RECENT_CHANGE_OF_SUPPLIER"],
            id="just-inside-7-days",
        ),
        pytest.param(NOW, ["RECENT_CHANGE_OF_SUPPLIER"], id="effective-now-is-recent"),
        pytest.param(NOW + timedelta(seconds=1), ["PENDING_CHANGE_OF_SUPPLIER"], id="just-ahead"),
        pytest.param(NOW + days(14), ["PENDING_CHANGE_OF_SUPPLIER"], id="exactly-14-days-ahead"),
        pytest.param(NOW + days(14) + timedelta(seconds=1), [], id="beyond-14-days"),
    ],
)
def test_change_of_supplier_windows_at_their_edges(
    run: Runner, effective_from: datetime, expected: list[str]
):
    commissioned_device(run, ESME, register_model(run), mpxn=ELEC)
    supplier_change(run, ELEC, "OLDCO", LONG_AGO - days(400))
    supplier_change(run, ELEC, "NEWCO", effective_from)
    assert reason_codes(assess(run, ESME)) == expected


@pytest.mark.parametrize(
    ("commissioned_at", "expected"),
    [
        pytest.param(NOW - days(7), [], id="exactly-7-days-ago-is-past-the-window"),
        pytest.param(
            NOW - days(7) + timedelta(seconds=1), ["RECENTLY_COMMISSIONED"], id="just-inside"
        ),
        pytest.param(NOW, ["RECENTLY_COMMISSIONED"], id="commissioned-now"),
    ],
)
def test_recent_commissioning_window_at_its_edges(
    run: Runner, commissioned_at: datetime, expected: list[str]
):
    commissioned_device(run, ESME, register_model(run), at=commissioned_at)
    assert reason_codes(assess(run, ESME)) == expected


# --- collect-all ---------------------------------------------------------------------------


def test_every_applicable_reason_is_listed(run: Runner):
    # DOMAIN.md 4.1 [choice]: collect-all, each reason with its own code and clause.
    model = register_model(run)
    commissioned_device(run, ESME, model, mpxn=ELEC, at=NOW - days(2))
    supplier_change(run, ELEC, "NEWCO", NOW + days(5))
    run.ok("RaiseTechnicalIssue", device_id=ESME, at=iso(NOW - days(1)), reason="no display")
    run.ok(
        "RaiseTechnicalIssue",
        device_id=ESME,
        at=iso(NOW - days(1)),
        reason="clock drift",
        issue_id="INC-2",
    )
    run.ok(
        "CategoriseNonMigratable",
        model=model,
        at=iso(NOW - days(1)),
        rationale="fails SRV 6.23 after replacement",
        decided_by="DCC",
    )
    replace_credentials(run, ESME, NOW - days(1), party="ECoS")

    result = assess(run, ESME)
    assert result["eligible"] is False
    assert sorted(reason_codes(result)) == sorted(
        [
            "NOT_TCOS_DEVICE",
            "NON_MIGRATABLE_MODEL",
            "PENDING_CHANGE_OF_SUPPLIER",
            "RECENTLY_COMMISSIONED",
            "TECHNICAL_ISSUE",
            "TECHNICAL_ISSUE",
        ]
    )
    clauses = {r["code"]: r["clause"] for r in result["reasons"]}
    assert clauses == {
        "NOT_TCOS_DEVICE": "ETMAD 1.3",
        "NON_MIGRATABLE_MODEL": "ETMAD 1.4(a)",
        "PENDING_CHANGE_OF_SUPPLIER": "ETMAD 1.4(b)",
        "RECENTLY_COMMISSIONED": "ETMAD 1.4(b)",
        "TECHNICAL_ISSUE": "ETMAD 1.4(c)",
    }


def test_a_gpf_on_an_uncommissioned_hub_with_ecos_credentials_lists_both_grounds(run: Runner):
    # Collect-all also for a Gas Proxy Function: its hub's grounds and its own together.
    _gpf_on_hub(run, hub_commissioned=False)
    run.ok(
        "RecordCredentialsReplaced",
        device_id=GPF,
        at=iso(NOW - days(1)),
        party="ECoS",
        certificate={"serial": "9", "issuer": "ECOS-ISSUER"},
    )
    assert sorted(reason_codes(assess(run, GPF))) == ["CHF_NOT_COMMISSIONED", "NOT_TCOS_DEVICE"]


# --- re-eligibility: the closing paragraph of 1.4 -------------------------------------------


def test_clearing_a_technical_issue_makes_the_device_eligible_again(run: Runner):
    # 1.4 closing paragraph: when the issue is resolved the Device is no longer Ineligible,
    # and nobody re-enters it.
    commissioned_device(run, ESME, register_model(run))
    run.ok("RaiseTechnicalIssue", device_id=ESME, at=iso(NOW - days(5)), reason="no display")
    assert reason_codes(assess(run, ESME)) == ["TECHNICAL_ISSUE"]

    run.ok("ClearTechnicalIssue", device_id=ESME, at=iso(NOW - days(1)), reason="display swapped")
    assert _eligible(run, ESME)
    # As it stood while the issue was open, the Device was Ineligible: history is kept.
    assert reason_codes(assess(run, ESME, NOW - days(3))) == ["TECHNICAL_ISSUE"]


def test_a_device_is_eligible_again_once_a_change_of_supplier_has_passed(run: Runner):
    # 1.4 closing paragraph: the pending change "no longer applies" once it has happened and
    # is no longer recent; assessing later is enough.
    commissioned_device(run, ESME, register_model(run), mpxn=ELEC)
    supplier_change(run, ELEC, "OLDCO", LONG_AGO - days(400))
    effective = NOW + days(10)
    supplier_change(run, ELEC, "NEWCO", effective)

    assert reason_codes(assess(run, ESME, NOW)) == ["PENDING_CHANGE_OF_SUPPLIER"]
    assert reason_codes(assess(run, ESME, effective + days(1))) == ["RECENT_CHANGE_OF_SUPPLIER"]
    assert _eligible(run, ESME, effective + days(7))


def test_recently_commissioned_device_becomes_eligible_as_time_passes(run: Runner):
    commissioned_device(run, ESME, register_model(run), at=NOW - days(1))
    assert reason_codes(assess(run, ESME)) == ["RECENTLY_COMMISSIONED"]
    assert _eligible(run, ESME, NOW + days(6))


def test_recategorising_the_model_migratable_makes_its_devices_eligible_again(run: Runner):
    # 1.14: the DCC may re-categorise a Non-Migratable model as capable of migration; its
    # Devices are then no longer Ineligible on the 1.4(a) ground.
    model = register_model(run)
    commissioned_device(run, ESME, model)
    run.ok(
        "CategoriseNonMigratable",
        model=model,
        at=iso(NOW - days(10)),
        rationale="cannot process SRV 6.23",
        decided_by="DCC",
    )
    assert reason_codes(assess(run, ESME)) == ["NON_MIGRATABLE_MODEL"]

    run.ok(
        "RecategoriseMigratable",
        model=model,
        at=iso(NOW - days(1)),
        rationale="fixed in the ECoS Party's processing",
        decided_by="DCC",
    )
    assert _eligible(run, ESME)
    assert reason_codes(assess(run, ESME, NOW - days(5))) == ["NON_MIGRATABLE_MODEL"]


# --- Gas Proxy Functions (section 2) --------------------------------------------------------


def test_a_gpf_registered_with_another_model_than_its_comms_hub_is_refused(run: Runner):
    # Section 2: a GPF's Device Model is that of the Communications Hub it forms part of.
    hub_model = chf_model(run)
    other = chf_model(run, "0200", firmware_rank=2)
    register_device(run, HUB, hub_model, device_type="CHF")
    result = run.rejected(
        "RegisterDevice",
        "GPF_MODEL_MISMATCH",
        device_id=GPF,
        device_type="GPF",
        model=other,
        comms_hub_id=HUB,
    )
    assert result.error is not None
    assert result.error["clause"] == "ETMAD 2 (Gas Proxy Function Device Model)"


def test_upgrading_the_comms_hub_firmware_moves_the_gpf_to_the_new_model(run: Runner):
    # Section 2: any reference to a GPF's Device Model is to its Comms Hub's; the CHF's
    # firmware upgrade therefore moves the GPF too.
    old = _gpf_on_hub(run)
    new = chf_model(run, "0200", firmware_rank=2)
    assert show_device(run, GPF)["effective_model"] == old

    run.ok("UpgradeFirmware", device_id=HUB, at=iso(NOW - days(30)), model=new)
    assert show_device(run, GPF)["effective_model"] == new
    assert show_device(run, HUB)["model"] == new

    # The Non-Migratable categorisation of the new model now reaches the GPF; the old one's
    # no longer would.
    run.ok(
        "CategoriseNonMigratable",
        model=new,
        at=iso(NOW - days(2)),
        rationale="CHF firmware 0200 rejects the ECoS certificate",
        decided_by="DCC",
    )
    result = assess(run, GPF, explain=True)
    assert reason_codes(result) == ["NON_MIGRATABLE_MODEL"]
    assert "HUBCO/CH2/1.0/0200" in reason(result, "NON_MIGRATABLE_MODEL")["detail"]
    assert result["inputs"]["model"] == new
    # Before the upgrade, the GPF was of the old model, which is not Non-Migratable.
    before = assess(run, GPF, NOW - days(31), explain=True)
    assert before["inputs"]["model"] == old
    assert before["eligible"] is True


def test_a_gpf_firmware_upgrade_is_refused(run: Runner):
    # Section 2: the GPF's model follows its Comms Hub: upgrade the CHF instead.
    _gpf_on_hub(run)
    new = chf_model(run, "0200", firmware_rank=2)
    result = run.rejected(
        "UpgradeFirmware", "GPF_MODEL_FOLLOWS_COMMS_HUB", device_id=GPF, at=iso(NOW), model=new
    )
    assert result.error is not None
    assert result.error["clause"] == "ETMAD 2 (Gas Proxy Function Device Model)"


def _meters_on_hub(run: Runner, *, gsme_mpxn: str | None = GAS, with_gsme: bool = True) -> None:
    esme_model = register_model(run)
    gsme_model = register_model(
        run, "0300", device_type="GSME", manufacturer="GASCO", model="G4", hardware_version="1"
    )
    register_device(run, METER_ESME, esme_model, mpxn=ELEC, comms_hub_id=HUB)
    if with_gsme:
        register_device(run, GSME, gsme_model, device_type="GSME", mpxn=gsme_mpxn, comms_hub_id=HUB)
    supplier_change(run, ELEC, "ELEC-OLD", LONG_AGO - days(400))
    supplier_change(run, ELEC, "ELEC-NEW", NOW - days(2))


def test_a_gpf_takes_its_responsible_supplier_from_the_connected_gsme(run: Runner):
    # Section 2: the Responsible Supplier of a GPF is that of the GSME connected to its Comms
    # Hub, so the GSME's MPRN (not the ESME's MPAN) gives the change-of-supplier grounds.
    _gpf_on_hub(run)
    _meters_on_hub(run)
    supplier_change(run, GAS, "GAS-OLD", LONG_AGO - days(400))
    supplier_change(run, GAS, "GAS-NEW", NOW + days(5))

    result = assess(run, GPF, explain=True)
    assert reason_codes(result) == ["PENDING_CHANGE_OF_SUPPLIER"]
    assert "GAS-NEW" in reason(result, "PENDING_CHANGE_OF_SUPPLIER")["detail"]
    assert result["responsible_supplier"] == "GAS-OLD"
    source = result["inputs"]["supplier_source"]
    assert source["mpxn"] == GAS
    assert source["via_device"] == GSME
    assert "GSME" in source["rule"]


def test_a_gpf_with_no_gsme_takes_its_responsible_supplier_from_the_esme(run: Runner):
    # Section 2: where no GSME is connected, that of the connected ESME.
    _gpf_on_hub(run)
    _meters_on_hub(run, with_gsme=False)

    result = assess(run, GPF, explain=True)
    assert reason_codes(result) == ["RECENT_CHANGE_OF_SUPPLIER"]
    assert "ELEC-NEW" in reason(result, "RECENT_CHANGE_OF_SUPPLIER")["detail"]
    assert result["responsible_supplier"] == "ELEC-NEW"
    assert result["inputs"]["supplier_source"]["mpxn"] == ELEC
    assert result["inputs"]["supplier_source"]["via_device"] == METER_ESME


def test_a_gpf_with_neither_meter_connected_has_no_responsible_supplier(run: Runner):
    # Section 2: where neither a GSME nor an ESME is connected there is none.
    _gpf_on_hub(run)
    result = assess(run, GPF, explain=True)
    assert result["eligible"] is True
    assert result["responsible_supplier"] is None
    assert result["inputs"]["supplier_source"]["mpxn"] is None
    assert result["inputs"]["supplier_source"]["via_device"] is None


@pytest.mark.parametrize(
    "gsme_mpxn", [GAS, None], ids=["mprn-without-registration-data", "no-mprn"]
)
def test_a_connected_gsme_without_registration_data_gives_no_responsible_supplier(
    run: Runner, gsme_mpxn: str | None
):
    # DOMAIN.md glossary [choice]: a GSME is connected but its Responsible Supplier is not
    # available. Our documented choice: none, with no fall back to the ESME's (the ESME is
    # used only where *no* GSME is connected). The ESME's recent change is not a ground.
    _gpf_on_hub(run)
    _meters_on_hub(run, gsme_mpxn=gsme_mpxn)

    result = assess(run, GPF, explain=True)
    assert result["responsible_supplier"] is None
    assert result["inputs"]["supplier_source"]["via_device"] == GSME
    assert result["inputs"]["supplier_source"]["mpxn"] == gsme_mpxn
    assert result["eligible"] is True


# --- settings: the windows are parameters ---------------------------------------------------


def test_the_1_4_b_windows_are_parameters(make_app: AppFactory):
    # DOMAIN.md 4.1: window lengths are DCC-set parameters; moving them moves the answer.
    wide = Settings(
        eligibility=EligibilityParameters(
            recent_change_of_supplier=days(1),
            pending_change_of_supplier=days(30),
            recent_commissioning=days(0),
        )
    )
    answers = {}
    # The same story on two applications (on SQLite they share one file: distinct ids).
    for n, (name, settings) in enumerate((("default", Settings()), ("wide", wide)), start=1):
        run = Runner(make_app(settings=settings))
        device, meter = eui(100 + n), mpan(100 + n)
        model = register_model(run, f"010{n}", firmware_rank=n)
        commissioned_device(run, device, model, mpxn=meter, at=NOW - days(1))
        supplier_change(run, meter, "OLDCO", LONG_AGO - days(400))
        supplier_change(run, meter, "MIDCO", NOW - days(3))
        supplier_change(run, meter, "NEWCO", NOW + days(20))
        answers[name] = reason_codes(assess(run, device))
    # Default: commissioned yesterday (recent, 7 days) and a change 3 days ago (recent); the
    # change in 20 days lies beyond the 14-day pending window.
    assert sorted(answers["default"]) == ["RECENTLY_COMMISSIONED", "RECENT_CHANGE_OF_SUPPLIER"]
    # Wide pending window (30 days), narrow recent windows (1 day, and none for commissioning).
    assert answers["wide"] == ["PENDING_CHANGE_OF_SUPPLIER"]


def test_the_parameters_in_force_are_reported_with_the_decision(make_app: AppFactory):
    run = Runner(
        make_app(
            settings=Settings(
                eligibility=EligibilityParameters(pending_change_of_supplier=days(30))
            )
        )
    )
    commissioned_device(run, ESME, register_model(run))
    assert assess(run, ESME, explain=True)["parameters"] == {
        "recent_change_of_supplier": "P7D",
        "pending_change_of_supplier": "P30D",
        "recent_commissioning": "P7D",
    }


# --- historical eligibility -----------------------------------------------------------------


def test_assessing_at_an_earlier_time_gives_the_earlier_answer(run: Runner):
    # Auditors replay (DOMAIN.md 1): eligibility at a past time is decided on the facts as
    # they stood then.
    model = register_model(run)
    commissioned_at = NOW - days(60)
    commissioned_device(run, ESME, model, at=commissioned_at)
    replace_credentials(run, ESME, NOW - days(1), party="ECoS")

    assert reason_codes(assess(run, ESME, commissioned_at - days(1))) == ["NOT_COMMISSIONED"]
    assert reason_codes(assess(run, ESME, commissioned_at + days(1))) == ["RECENTLY_COMMISSIONED"]
    assert _eligible(run, ESME, NOW - days(10))
    assert reason_codes(assess(run, ESME, NOW)) == ["NOT_TCOS_DEVICE"]


def test_the_typed_api_gives_the_same_decision_as_a_value(run: Runner):
    # DOMAIN.md 4.1: the decision is a value (eligible + reasons + as-of time + inputs seen).
    model = register_model(run)
    commissioned_device(run, ESME, model, mpxn=ELEC)
    run.ok("RaiseTechnicalIssue", device_id=ESME, at=iso(NOW - days(1)), reason="no display")
    decision = run.app.assess_eligibility(EUI64.parse(ESME), NOW)
    assert decision.eligible is False
    assert decision.as_of == NOW
    assert decision.codes() == {ReasonCode.TECHNICAL_ISSUE}
    assert decision.inputs.commissioned_at == LONG_AGO
    assert decision.inputs.model == DeviceModelKey("ACME", "E100", "2.0", "0100")
    assert decision.inputs.technical_issues[0].reason == "no display"


# --- the pure policy, as a property ---------------------------------------------------------

_TIMES = st.datetimes(
    min_value=datetime(2019, 1, 1),  # noqa: DTZ001 — hypothesis bounds are naive; tz below
    max_value=datetime(2026, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
)
_WINDOWS = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=60))
_PARAMETERS = st.builds(
    EligibilityParameters,
    recent_change_of_supplier=_WINDOWS,
    pending_change_of_supplier=_WINDOWS,
    recent_commissioning=_WINDOWS,
)
_METER = MPAN("1200023305967")
_SUPPLIERS = st.sampled_from(["SUPA", "SUPB", "SUPC"])
_CHANGES = st.lists(st.builds(SupplierChange, _TIMES, _SUPPLIERS, st.just(_METER)), max_size=4)
_ISSUES = st.lists(
    st.builds(TechnicalIssue, st.sampled_from(["a", "b", "c"]), st.just("fault"), _TIMES),
    max_size=3,
)
_SOURCE = SupplierSource(mpxn=_METER, via_device=None, rule="the Device's own MPxN")


def _inputs(**overrides: object) -> st.SearchStrategy[EligibilityInputs]:
    fields: dict[str, object] = {
        "device_id": st.builds(EUI64, st.integers(0, 2**64 - 1)),
        "device_type": st.sampled_from(DeviceType),
        "model": st.just(DeviceModelKey("ACME", "E100", "2.0", "0100")),
        "cos_party": st.sampled_from(CosParty),
        "commissioned_at": st.none() | _TIMES,
        "decommissioned_at": st.none() | _TIMES,
        "comms_hub_commissioned_at": st.none() | _TIMES,
        "comms_hub_decommissioned_at": st.none() | _TIMES,
        "model_non_migratable": st.booleans(),
        "model_categorisation": st.none() | st.just("rationale"),
        "supplier_source": st.just(_SOURCE),
        "supplier_history": _CHANGES.map(tuple),
        "technical_issues": _ISSUES.map(tuple),
    }
    fields.update(overrides)
    return st.builds(EligibilityInputs, **fields)  # type: ignore[arg-type]


@hypothesis_settings(deadline=None, max_examples=150)
@given(facts=_inputs(), at=_TIMES, parameters=_PARAMETERS)
def test_policy_is_eligible_iff_no_reasons_and_cites_each_reasons_clause(
    facts: EligibilityInputs, at: datetime, parameters: EligibilityParameters
):
    decision = assess_eligibility(facts, at=at, parameters=parameters)
    assert decision.eligible == (not decision.reasons)
    for found in decision.reasons:
        assert found.clause == REASON_CLAUSES[found.code]
        assert found.detail
    assert decision.as_of == at
    assert decision.inputs is facts


@st.composite
def _no_grounds(draw: st.DrawFn) -> tuple[EligibilityInputs, datetime, EligibilityParameters]:
    """A TCoS Device commissioned before the recent window, never decommissioned, of a
    migratable model, with no change of supplier near ``at`` and no open technical issue."""
    at = draw(_TIMES)
    params = draw(_PARAMETERS)
    commissioned_at = at - params.recent_commissioning - draw(_WINDOWS)
    quiet = st.one_of(
        st.builds(
            lambda d: at - params.recent_change_of_supplier - d,
            st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=900)),
        ),
        st.builds(
            lambda d: at + params.pending_change_of_supplier + d,
            st.timedeltas(min_value=timedelta(microseconds=1), max_value=timedelta(days=900)),
        ),
    )
    changes = draw(st.lists(st.builds(SupplierChange, quiet, _SUPPLIERS, st.just(_METER))))
    facts = draw(
        _inputs(
            cos_party=st.just(CosParty.TCOS),
            commissioned_at=st.just(commissioned_at),
            decommissioned_at=st.none(),
            comms_hub_commissioned_at=st.just(commissioned_at),
            comms_hub_decommissioned_at=st.none(),
            model_non_migratable=st.just(value=False),
            supplier_history=st.just(tuple(changes)),
            technical_issues=st.just(()),
        )
    )
    return facts, at, params


@hypothesis_settings(deadline=None, max_examples=150)
@given(case=_no_grounds())
def test_policy_finds_a_device_with_no_grounds_eligible(
    case: tuple[EligibilityInputs, datetime, EligibilityParameters],
):
    facts, at, parameters = case
    decision = assess_eligibility(facts, at=at, parameters=parameters)
    assert decision.eligible, decision.reasons
    assert decision.reasons == ()


@hypothesis_settings(deadline=None, max_examples=300)
@given(
    facts=_inputs(),
    at=_TIMES,
    parameters=_PARAMETERS,
    where=st.floats(min_value=0, max_value=1),
)
def test_the_verdict_and_codes_hold_between_the_window_ends_around_a_time(
    facts: EligibilityInputs, at: datetime, parameters: EligibilityParameters, where: float
):
    """``constant_between`` is what lets the daily selection reuse an assessment: anywhere in
    ``[lo, hi)`` the same facts give the same verdict and reason codes as at ``at``."""
    lo, hi = constant_between(facts, at, parameters)
    assert lo is None or lo <= at
    assert hi is None or at < hi
    first = lo if lo is not None else at - timedelta(days=400)
    last = (hi if hi is not None else at + timedelta(days=400)) - timedelta(microseconds=1)
    decision = assess_eligibility(facts, at=at, parameters=parameters)
    for t in (first, last, first + (last - first) * where):
        other = assess_eligibility(facts, at=t, parameters=parameters)
        assert (other.eligible, [r.code for r in other.reasons]) == (
            decision.eligible,
            [r.code for r in decision.reasons],
        )
