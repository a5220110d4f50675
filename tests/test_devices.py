"""Device and Device Model invariants, identifiers at the edge, Registration Data, and history.

DOMAIN.md 3.1 and 3.2: a Device is registered against a known Device Model, commissioned and
decommissioned once each, linked to its Communications Hub (one Gas Proxy Function per hub),
moved between firmware of its family only forwards, and its CoS credential never goes back
from the ECoS to the TCoS Party. Every refusal leaves the store exactly as it was.
"""

from __future__ import annotations

from typing import Any

import pytest

from application.settings import Settings
from domain.errors import RuleViolation
from domain.identifiers import EUI64, MPAN, CosParty, parse_mpxn
from tests.builders import (
    ECOS_CA,
    LONG_AGO,
    NOW,
    TCOS_CA,
    cert,
    chf_model,
    commissioned_device,
    days,
    eui,
    iso,
    model_key,
    mpan,
    mprn,
    register_device,
    register_model,
    rejected_unchanged,
    replace_credentials,
    show_device,
    show_model,
    stored_events,
    supplier_change,
)
from tests.conftest import AppFactory, Runner

METER = eui(1)
HUB = eui(2)
UNKNOWN = eui(99)
ELEC = mpan(1)
#: The DCC's test MPAN: well formed, but its check digit is wrong (expected 0, found 3).
TEST_MPAN = "1312345678333"


# --- commissioning and decommissioning (DOMAIN.md 3.2) --------------------------------------


def test_a_never_commissioned_device_cannot_be_decommissioned(run: Runner):
    register_device(run, METER, register_model(run))
    rejected_unchanged(
        run, "RecordDecommissioning", "NOT_COMMISSIONED", device_id=METER, at=iso(NOW)
    )


def test_a_device_is_decommissioned_once(run: Runner):
    commissioned_device(run, METER, register_model(run))
    run.ok("RecordDecommissioning", device_id=METER, at=iso(NOW - days(1)))
    rejected_unchanged(
        run, "RecordDecommissioning", "ALREADY_DECOMMISSIONED", device_id=METER, at=iso(NOW)
    )
    assert show_device(run, METER)["decommissioned_at"] == iso(NOW - days(1))


def test_a_device_is_commissioned_once(run: Runner):
    commissioned_device(run, METER, register_model(run))
    rejected_unchanged(
        run, "RecordCommissioning", "ALREADY_COMMISSIONED", device_id=METER, at=iso(NOW)
    )
    assert show_device(run, METER)["commissioned_at"] == iso(LONG_AGO)


def test_a_decommissioned_device_is_not_commissioned_again(run: Runner):
    commissioned_device(run, METER, register_model(run))
    run.ok("RecordDecommissioning", device_id=METER, at=iso(NOW - days(1)))
    rejected_unchanged(run, "RecordCommissioning", "DECOMMISSIONED", device_id=METER, at=iso(NOW))


def test_decommissioning_cannot_precede_commissioning(run: Runner):
    commissioned_device(run, METER, register_model(run))
    rejected_unchanged(
        run,
        "RecordDecommissioning",
        "OUT_OF_ORDER",
        device_id=METER,
        at=iso(LONG_AGO - days(1)),
    )


# --- unknown things -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fields"),
    [
        ("RecordCommissioning", {"at": iso(NOW)}),
        ("RecordDecommissioning", {"at": iso(NOW)}),
        ("RaiseTechnicalIssue", {"at": iso(NOW), "reason": "no display"}),
        ("ClearTechnicalIssue", {"at": iso(NOW), "reason": "fixed"}),
        (
            "RecordCredentialsReplaced",
            {"at": iso(NOW), "party": "ECoS", "certificate": cert(2, ECOS_CA)},
        ),
        ("RecordSrv623Processed", {"at": iso(NOW), "request_id": "SR-1"}),
        ("UpgradeFirmware", {"at": iso(NOW), "model": model_key("0200")}),
        ("RecordMigrationStarted", {"at": iso(NOW)}),
        ("AssessEligibility", {"at": iso(NOW)}),
        ("ShowDevice", {}),
    ],
)
def test_commands_on_an_unknown_device_are_refused(run: Runner, name: str, fields: dict[str, Any]):
    register_model(run)
    register_model(run, "0200", firmware_rank=2)
    rejected_unchanged(run, name, "UNKNOWN_DEVICE", device_id=UNKNOWN, **fields)


@pytest.mark.parametrize(
    ("name", "fields"),
    [
        ("RegisterDevice", {"device_id": METER, "device_type": "ESME"}),
        ("ShowModel", {}),
        ("BulkGate", {"at": iso(NOW)}),
        ("SuspendModel", {"at": iso(NOW), "reason": "investigating"}),
        ("RecordModelTestEvidence", {"at": iso(NOW), "outcome": "passed"}),
        (
            "AuthoriseBulkMigration",
            {"at": iso(NOW), "decided_by": "ops", "rationale": "proven"},
        ),
    ],
)
def test_commands_on_an_unknown_device_model_are_refused(
    run: Runner, name: str, fields: dict[str, Any]
):
    rejected_unchanged(run, name, "UNKNOWN_DEVICE_MODEL", model=model_key("0999"), **fields)


def test_upgrading_to_an_unknown_device_model_is_refused(run: Runner):
    commissioned_device(run, METER, register_model(run))
    rejected_unchanged(
        run,
        "UpgradeFirmware",
        "UNKNOWN_DEVICE_MODEL",
        device_id=METER,
        at=iso(NOW),
        model=model_key("0999"),
    )


# --- registration ---------------------------------------------------------------------------


def test_a_device_is_registered_once(run: Runner):
    model = register_model(run)
    register_device(run, METER, model)
    rejected_unchanged(
        run, "RegisterDevice", "DEVICE_EXISTS", device_id=METER, device_type="ESME", model=model
    )


def test_a_device_model_is_registered_once(run: Runner):
    model = register_model(run)
    rejected_unchanged(
        run,
        "RegisterDeviceModel",
        "DEVICE_MODEL_EXISTS",
        model=model,
        device_type="ESME",
        smets="SMETS2+",
        firmware_rank=5,
    )


def test_firmware_ranks_in_a_family_differ(run: Runner):
    # 6.2 needs to know which firmware is later: ranks order a family's firmware.
    register_model(run, "0100", firmware_rank=1)
    refused = rejected_unchanged(
        run,
        "RegisterDeviceModel",
        "DUPLICATE_FIRMWARE_RANK",
        model=model_key("0200"),
        device_type="ESME",
        smets="SMETS2+",
        firmware_rank=1,
    )
    assert refused.error is not None
    assert refused.error["clause"] == "ETMAD 6.2"
    # Another hardware version is another family, with ranks of its own.
    register_model(run, "0200", firmware_rank=1, hardware_version="3.0")


def test_a_family_shares_its_device_type_and_smets_generation(run: Runner):
    register_model(run, "0100", firmware_rank=1)
    rejected_unchanged(
        run,
        "RegisterDeviceModel",
        "FAMILY_MISMATCH",
        model=model_key("0200"),
        device_type="GSME",
        smets="SMETS2+",
        firmware_rank=2,
    )


def test_a_gas_proxy_function_has_no_device_model_of_its_own(run: Runner):
    # Section 2: a GPF's Device Model is its Communications Hub's.
    rejected_unchanged(
        run,
        "RegisterDeviceModel",
        "GPF_MODEL_FOLLOWS_COMMS_HUB",
        model=model_key(),
        device_type="GPF",
        smets="SMETS2+",
        firmware_rank=1,
    )


def test_a_device_is_registered_against_a_model_of_its_type(run: Runner):
    gas_model = register_model(run, device_type="GSME")
    rejected_unchanged(
        run,
        "RegisterDevice",
        "DEVICE_TYPE_MISMATCH",
        device_id=METER,
        device_type="ESME",
        model=gas_model,
    )


def test_a_meter_links_only_to_a_registered_comms_hub(run: Runner):
    rejected_unchanged(
        run,
        "RegisterDevice",
        "UNKNOWN_COMMS_HUB",
        device_id=METER,
        device_type="ESME",
        model=register_model(run),
        comms_hub_id=UNKNOWN,
    )


def test_a_meter_links_only_to_a_comms_hub_function(run: Runner):
    model = register_model(run)
    register_device(run, HUB, model)  # an ESME, not a CHF
    rejected_unchanged(
        run,
        "RegisterDevice",
        "NOT_A_COMMS_HUB",
        device_id=METER,
        device_type="ESME",
        model=model,
        comms_hub_id=HUB,
    )


def test_a_comms_hub_has_one_gas_proxy_function(run: Runner):
    hub_model = chf_model(run)
    register_device(run, HUB, hub_model, device_type="CHF")
    register_device(run, eui(3), hub_model, device_type="GPF", comms_hub_id=HUB)
    rejected_unchanged(
        run,
        "RegisterDevice",
        "COMMS_HUB_HAS_GPF",
        device_id=eui(4),
        device_type="GPF",
        model=hub_model,
        comms_hub_id=HUB,
    )
    assert [c["device_type"] for c in show_device(run, HUB)["connected"]] == ["GPF"]


def test_a_gas_proxy_function_needs_its_comms_hub(run: Runner):
    rejected_unchanged(
        run,
        "RegisterDevice",
        "COMMS_HUB_REQUIRED",
        device_id=eui(3),
        device_type="GPF",
        model=chf_model(run),
    )


def test_a_comms_hub_function_has_no_mpxn(run: Runner):
    rejected_unchanged(
        run,
        "RegisterDevice",
        "MPXN_NOT_ALLOWED",
        device_id=HUB,
        device_type="CHF",
        model=chf_model(run),
        mpxn=ELEC,
    )


def test_nothing_is_linked_to_a_decommissioned_comms_hub(run: Runner):
    hub_model = chf_model(run)
    commissioned_device(run, HUB, hub_model, device_type="CHF")
    run.ok("RecordDecommissioning", device_id=HUB, at=iso(NOW - days(1)))
    rejected_unchanged(
        run,
        "RegisterDevice",
        "DECOMMISSIONED",
        device_id=METER,
        device_type="ESME",
        model=register_model(run),
        comms_hub_id=HUB,
    )


def test_a_meter_registered_on_a_hub_is_shown_connected_with_its_mpxn(run: Runner):
    hub_model = chf_model(run)
    register_device(run, HUB, hub_model, device_type="CHF")
    register_device(run, METER, register_model(run), mpxn=ELEC, comms_hub_id=HUB)
    assert show_device(run, HUB)["connected"] == [
        {"device_id": METER, "device_type": "ESME", "mpxn": ELEC}
    ]
    assert show_device(run, METER)["comms_hub_id"] == HUB


# --- firmware upgrades (DOMAIN.md glossary: a firmware upgrade moves a Device's model) -------


def test_a_firmware_upgrade_moves_the_device_to_the_later_model(run: Runner):
    old = register_model(run, "0100", firmware_rank=1)
    new = register_model(run, "0200", firmware_rank=2)
    commissioned_device(run, METER, old)
    run.ok("UpgradeFirmware", device_id=METER, at=iso(NOW - days(1)), model=new)
    assert show_device(run, METER)["model"] == new
    assert show_device(run, METER, as_of=iso(NOW - days(2)))["model"] == old


def test_a_firmware_downgrade_is_not_a_firmware_upgrade(run: Runner):
    old = register_model(run, "0100", firmware_rank=1)
    new = register_model(run, "0200", firmware_rank=2)
    commissioned_device(run, METER, new)
    refused = rejected_unchanged(
        run, "UpgradeFirmware", "NOT_A_FIRMWARE_UPGRADE", device_id=METER, at=iso(NOW), model=old
    )
    assert refused.error is not None
    assert refused.error["clause"] == "ETMAD 1.10"
    rejected_unchanged(
        run, "UpgradeFirmware", "NOT_A_FIRMWARE_UPGRADE", device_id=METER, at=iso(NOW), model=new
    )


def test_a_firmware_upgrade_keeps_the_hardware_version(run: Runner):
    old = register_model(run, "0100", firmware_rank=1)
    other_hw = register_model(run, "0200", firmware_rank=2, hardware_version="3.0")
    commissioned_device(run, METER, old)
    rejected_unchanged(
        run,
        "UpgradeFirmware",
        "NOT_A_FIRMWARE_UPGRADE",
        device_id=METER,
        at=iso(NOW),
        model=other_hw,
    )


# --- CoS credentials (section 2, 6.1(b)(i), 6.1(c)(iii)) ------------------------------------


def test_an_ecos_device_does_not_go_back_to_tcos(run: Runner):
    commissioned_device(run, METER, register_model(run))
    replace_credentials(run, METER, NOW - days(1), party="ECoS")
    refused = rejected_unchanged(
        run,
        "RecordCredentialsReplaced",
        "ECOS_TO_TCOS_NOT_ALLOWED",
        device_id=METER,
        at=iso(NOW),
        party="TCoS",
        certificate=cert(7, TCOS_CA),
    )
    assert refused.error is not None
    assert refused.error["clause"] == "ETMAD 2 (TCoS Device / ECoS Device)"
    assert show_device(run, METER)["cos_party"] == "ECoS"


def test_a_replacement_installs_a_different_certificate(run: Runner):
    commissioned_device(run, METER, register_model(run), certificate=cert(1, TCOS_CA))
    refused = rejected_unchanged(
        run,
        "RecordCredentialsReplaced",
        "SAME_CERTIFICATE",
        device_id=METER,
        at=iso(NOW),
        party="TCoS",
        certificate=cert(1, TCOS_CA),
    )
    assert refused.error is not None
    assert refused.error["clause"] == "ETMAD 6.1(b)"
    # The same serial from another issuer is another certificate (Certificate ID is both).
    run.ok(
        "RecordCredentialsReplaced",
        device_id=METER,
        at=iso(NOW),
        party="TCoS",
        certificate=cert(1, "TCOS-ISSUER-2"),
    )


def test_a_failed_srv623_is_recorded_with_the_credential_it_failed_on(run: Runner):
    commissioned_device(run, METER, register_model(run))
    replace_credentials(run, METER, NOW - days(1), party="ECoS")
    app = run.app
    app.record_srv623_failed(
        device_id=EUI64.parse(METER), at=NOW, request_id="SR-9", reason="Device rejected E62301"
    )
    device = app.device(EUI64.parse(METER))
    (failed,) = device.failed_srv623s
    assert (failed.request_id, failed.cos_party, failed.reason) == (
        "SR-9",
        CosParty.ECOS,
        "Device rejected E62301",
    )
    assert failed.model == device.model
    assert device.srv623s == ()  # a failure is not proving evidence (6.1(b)(ii))
    with pytest.raises(RuleViolation) as refused:
        app.record_srv623_failed(
            device_id=EUI64.parse(METER), at=NOW, request_id="SR-10", reason=" "
        )
    assert refused.value.code == "INVALID_REASON"


# --- technical issues (1.4(c)) --------------------------------------------------------------


def test_technical_issues_are_raised_and_cleared_by_id(run: Runner):
    commissioned_device(run, METER, register_model(run))
    rejected_unchanged(
        run, "ClearTechnicalIssue", "NO_TECHNICAL_ISSUE", device_id=METER, at=iso(NOW), reason="x"
    )
    rejected_unchanged(
        run, "RaiseTechnicalIssue", "REASON_REQUIRED", device_id=METER, at=iso(NOW), reason=" "
    )
    run.ok("RaiseTechnicalIssue", device_id=METER, at=iso(NOW - days(2)), reason="no display")
    rejected_unchanged(
        run,
        "RaiseTechnicalIssue",
        "TECHNICAL_ISSUE_ALREADY_RAISED",
        device_id=METER,
        at=iso(NOW),
        reason="no display, again",
    )
    rejected_unchanged(
        run,
        "ClearTechnicalIssue",
        "OUT_OF_ORDER",
        device_id=METER,
        at=iso(NOW - days(3)),
        reason="fixed",
    )
    run.ok("ClearTechnicalIssue", device_id=METER, at=iso(NOW), reason="display replaced")
    assert show_device(run, METER)["technical_issues"] == []


# --- identifiers and times at the edge ------------------------------------------------------


def test_a_time_without_an_offset_is_refused(run: Runner):
    register_device(run, METER, register_model(run))
    refused = rejected_unchanged(
        run, "RecordCommissioning", "INVALID_TIME", device_id=METER, at="2023-07-10T12:00:00"
    )
    assert refused.error is not None
    assert "offset" in str(refused.error["message"])
    # With an offset it is accepted, and kept in UTC.
    run.ok("RecordCommissioning", device_id=METER, at="2023-07-10T13:00:00+01:00")
    assert show_device(run, METER)["commissioned_at"] == "2023-07-10T12:00:00+00:00"


@pytest.mark.parametrize(
    "device_id",
    ["00-DB-12-34-56-78-90", "00-DB-12-34-56-78-90-A0-FF", "00:DB:12:34:56:78:90:A0", "XYZ", ""],
)
def test_a_malformed_eui64_is_refused(run: Runner, device_id: str):
    rejected_unchanged(
        run,
        "RegisterDevice",
        "INVALID_EUI64",
        device_id=device_id,
        device_type="ESME",
        model=register_model(run),
    )


def test_an_eui64_is_read_in_either_form_and_shown_canonically(run: Runner):
    model = register_model(run)
    run.ok("RegisterDevice", device_id="00db1234567890a0", device_type="ESME", model=model)
    assert show_device(run, "00-DB-12-34-56-78-90-A0")["device_id"] == "00-DB-12-34-56-78-90-A0"
    rejected_unchanged(
        run,
        "RegisterDevice",
        "DEVICE_EXISTS",
        device_id="00-db-12-34-56-78-90-a0",
        device_type="ESME",
        model=model,
    )


def test_an_mpan_with_a_wrong_check_digit_is_refused(run: Runner):
    assert not MPAN(TEST_MPAN).has_valid_check_digit
    model = register_model(run)
    rejected_unchanged(
        run,
        "RegisterDevice",
        "INVALID_MPAN",
        device_id=METER,
        device_type="ESME",
        model=model,
        mpxn=TEST_MPAN,
    )
    rejected_unchanged(
        run,
        "RecordSupplierChange",
        "INVALID_MPAN",
        mpxn=TEST_MPAN,
        supplier_id="SUPA",
        effective_from=iso(NOW),
    )


def test_the_mpan_check_digit_can_be_relaxed_for_dcc_test_mpans(make_app: AppFactory):
    run = Runner(make_app(settings=Settings(mpan_check_digit=False)))
    register_device(run, METER, register_model(run), mpxn=TEST_MPAN)
    supplier_change(run, TEST_MPAN, "SUPA", NOW + days(3))
    assert show_device(run, METER)["mpxn"] == TEST_MPAN


# --- Registration Data ----------------------------------------------------------------------


def test_conflicting_supplier_changes_for_one_mpxn_and_time_are_refused(run: Runner):
    # Registration Data maps an MPxN to its Responsible Supplier over time (DOMAIN.md 2): one
    # supplier per MPxN and effective time.
    gas = mprn(1)
    supplier_change(run, gas, "SUPA", NOW)
    refused = run.rejected(
        "RecordSupplierChange",
        "SUPPLIER_CHANGE_CONFLICT",
        mpxn=gas,
        supplier_id="SUPB",
        effective_from=iso(NOW),
    )
    assert refused.error is not None
    assert "SUPA" in str(refused.error["message"])
    # The same instant written with another offset is the same time.
    run.rejected(
        "RecordSupplierChange",
        "SUPPLIER_CHANGE_CONFLICT",
        mpxn=gas,
        supplier_id="SUPB",
        effective_from="2023-07-10T13:00:00+01:00",
    )
    # Recording exactly the same change again is idempotent.
    again = run.ok("RecordSupplierChange", mpxn=gas, supplier_id="SUPA", effective_from=iso(NOW))
    assert again.result == {
        "mpxn": gas,
        "supplier_id": "SUPA",
        "effective_from": iso(NOW),
        "recorded": False,
    }
    history = run.app.supplier_history(parse_mpxn(gas))
    assert [(c.supplier_id, c.effective_from) for c in history] == [("SUPA", NOW)]


# --- history: the Device as it stood ----------------------------------------------------------


def test_a_device_can_be_shown_as_it_stood_at_a_version_or_a_time(run: Runner):
    # DOMAIN.md 1: auditors rebuild any Device's state at any past moment from the log.
    commissioned_device(run, METER, register_model(run), mpxn=ELEC)  # versions 1 and 2
    run.ok("RaiseTechnicalIssue", device_id=METER, at=iso(NOW - days(20)), reason="no display")
    replace_credentials(run, METER, NOW - days(10), party="ECoS")  # version 4

    now = show_device(run, METER)
    assert (now["version"], now["cos_party"], len(now["technical_issues"])) == (4, "ECoS", 1)

    at_two = show_device(run, METER, version=2)
    assert at_two["version"] == 2
    assert at_two["commissioned_at"] == iso(LONG_AGO)
    assert at_two["technical_issues"] == []
    assert at_two["cos_party"] == "TCoS"

    before_replacement = show_device(run, METER, as_of=iso(NOW - days(11)))
    assert before_replacement["version"] == 3
    assert before_replacement["cos_party"] == "TCoS"
    assert before_replacement["cos_certificate"] == cert(1, TCOS_CA)
    assert before_replacement["technical_issues"][0]["reason"] == "no display"

    before_commissioning = show_device(run, METER, as_of=iso(LONG_AGO - days(1)))
    assert before_commissioning["commissioned_at"] is None
    assert before_commissioning["version"] == 1


def test_a_device_model_can_be_shown_as_it_stood_at_a_version(run: Runner):
    model = register_model(run)
    run.ok("SuspendModel", model=model, at=iso(NOW), reason="investigating")
    assert show_model(run, model)["suspension"] is not None
    assert show_model(run, model, version=1)["suspension"] is None


def test_a_version_must_be_a_whole_number_from_one(run: Runner):
    register_device(run, METER, register_model(run))
    rejected_unchanged(run, "ShowDevice", "INVALID_COMMAND", device_id=METER, version=0)


# --- rejected commands leave the store unchanged ---------------------------------------------


def test_every_rejected_command_of_a_story_leaves_the_store_unchanged(run: Runner):
    model = register_model(run)
    commissioned_device(run, METER, model)
    before = stored_events(run.app)
    refusals: list[tuple[str, str, dict[str, Any]]] = [
        ("RecordCommissioning", "ALREADY_COMMISSIONED", {"device_id": METER, "at": iso(NOW)}),
        ("RecordCommissioning", "INVALID_TIME", {"device_id": METER, "at": "2023-07-10"}),
        ("RecordCommissioning", "INVALID_COMMAND", {"device_id": METER}),
        (
            "RegisterDevice",
            "DEVICE_EXISTS",
            {"device_id": METER, "device_type": "ESME", "model": model},
        ),
        (
            "UpgradeFirmware",
            "NOT_A_FIRMWARE_UPGRADE",
            {"device_id": METER, "at": iso(NOW), "model": model},
        ),
        ("NoSuchCommand", "UNKNOWN_COMMAND", {}),
    ]
    for name, code, fields in refusals:
        rejected_unchanged(run, name, code, **fields)
    assert stored_events(run.app) == before
