"""The Bulk Migration gate of a Device Model (ETMAD 1.6, 6.1(b), 6.2, section 2).

Until the DCC is reasonably satisfied that it can migrate a Device of a model (1.6), at least
after the 6.1(b) proving activities, no more than the DCC-defined Bulk Migration number of the
model's Devices may be migrated; that number is never above 300 (section 2).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from application.errors import ConcurrencyConflict
from application.service import UnitOfWork
from application.settings import Settings
from domain.bulk_gate import AUTO_AUTHORISE_POLICY
from domain.device import Device, device_aggregate_id
from domain.device_model import DeviceModel, model_aggregate_id
from domain.errors import RuleViolation
from domain.identifiers import EUI64, DeviceModelKey
from tests.builders import (
    LONG_AGO,
    NOW,
    commissioned_device,
    data,
    days,
    eui,
    gate,
    iso,
    model_key,
    prove,
    register_model,
    rejected_unchanged,
    replace_credentials,
    show_model,
    srv623,
    stored_events,
)
from tests.conftest import AppFactory, Runner

CREDENTIALS_REPLACED = "etmad.device.CredentialsReplaced.v1"
SRV623_PROCESSED = "etmad.device.Srv623Processed.v1"
PROVEN_AT = NOW - days(20)


def _start(run: Runner, device_id: str, at: datetime = NOW) -> Any:
    return data(run.ok("RecordMigrationStarted", device_id=device_id, at=iso(at)))


def _devices(run: Runner, model: dict[str, str], count: int, first: int = 1) -> list[str]:
    return [commissioned_device(run, eui(n), model) for n in range(first, first + count)]


def _ref(result: Any, aggregate_type: str) -> dict[str, Any]:
    """The aggregate id and version of the event of ``aggregate_type`` a command saved."""
    (event,) = [e for e in result.events if e["type"] == aggregate_type]
    return {"aggregate_id": event["aggregate_id"], "version": event["version"]}


# --- the Bulk Migration number (section 2, 1.6) ---------------------------------------------


def test_the_bulk_migration_number_caps_migrations_before_the_1_6_decision(
    make_app: AppFactory,
):
    # Section 2: the DCC defines the number of Devices that constitutes Bulk Migration; until
    # it decides under 1.6 no more may be migrated.
    run = Runner(make_app(settings=Settings(bulk_migration_number=3, auto_authorise_bulk=False)))
    model = register_model(run)
    first, second, third, fourth, prover = _devices(run, model, 5)

    for n, device in enumerate((first, second, third), start=1):
        started = _start(run, device)
        assert started["counted"] is True
        assert started["authorised"] is False
        assert started["cap"] == 3
        assert started["migrations_started"] == n

    refused = rejected_unchanged(
        run, "RecordMigrationStarted", "BULK_CAP_REACHED", device_id=fourth, at=iso(NOW)
    )
    assert refused.error is not None
    assert refused.error["clause"] == "ETMAD 2 (Bulk Migration)"

    # A retry for a Device already counted is recorded, not counted again.
    again = _start(run, first)
    assert again["counted"] is False
    assert again["migrations_started"] == 3

    assert gate(run, model) == {
        "proven": False,
        "proven_by": None,
        "authorised": False,
        "cap": 3,
        "migrations_started": 3,
        "may_start": False,
    }

    # Once proven (6.1(b)) and decided (1.6), Bulk Migration may commence.
    prove(run, prover, PROVEN_AT, party="TCoS")
    run.ok(
        "AuthoriseBulkMigration",
        model=model,
        at=iso(NOW - days(1)),
        decided_by="ops:migration-lead",
        rationale="6.1(b) proven on a Device of the model",
    )
    started = _start(run, fourth)
    assert started["counted"] is True
    assert started["authorised"] is True
    assert started["migrations_started"] == 4
    shown = gate(run, model)
    assert (shown["authorised"], shown["migrations_started"], shown["may_start"]) == (True, 4, True)


def test_the_policy_decision_lifts_the_cap_as_soon_as_the_model_is_proven(
    make_app: AppFactory,
):
    run = Runner(make_app(settings=Settings(bulk_migration_number=1)))
    model = register_model(run)
    first, second = _devices(run, model, 2)
    _start(run, first)
    run.rejected("RecordMigrationStarted", "BULK_CAP_REACHED", device_id=second, at=iso(NOW))

    # The first Device's migration replaces its credentials and it then processes a 6.23.
    prove(run, first, NOW + days(1))
    assert _start(run, second, NOW + days(3))["authorised"] is True


def test_a_bulk_migration_number_of_zero_allows_no_migration_before_the_decision(
    make_app: AppFactory,
):
    run = Runner(make_app(settings=Settings(bulk_migration_number=0)))
    model = register_model(run)
    (device,) = _devices(run, model, 1)
    run.rejected("RecordMigrationStarted", "BULK_CAP_REACHED", device_id=device, at=iso(NOW))
    assert gate(run, model)["may_start"] is False


@pytest.mark.parametrize("number", [301, -1, 1000])
def test_a_bulk_migration_number_outside_0_to_300_is_refused(number: int):
    # Section 2: until proving succeeds "no more than three hundred (300) Devices of a
    # particular Device Model shall be migrated".
    with pytest.raises(RuleViolation) as refused:
        Settings(bulk_migration_number=number)
    assert refused.value.code == "INVALID_BULK_MIGRATION_NUMBER"
    assert refused.value.clause == "ETMAD 2 (Bulk Migration)"


def test_the_default_bulk_migration_number_is_the_ceiling_of_300(run: Runner):
    model = register_model(run)
    assert Settings(bulk_migration_number=300).bulk_migration_number == 300
    assert gate(run, model) == {
        "proven": False,
        "proven_by": None,
        "authorised": False,
        "cap": 300,
        "migrations_started": 0,
        "may_start": True,
    }


# --- migrations that may not start ----------------------------------------------------------


def test_an_ineligible_device_may_not_start_migration(run: Runner):
    # 1.4: the DCC shall not attempt to migrate a Device deemed Ineligible.
    model = register_model(run)
    device = commissioned_device(run, eui(1), model, at=NOW - days(2))
    refused = rejected_unchanged(
        run, "RecordMigrationStarted", "DEVICE_INELIGIBLE", device_id=device, at=iso(NOW)
    )
    assert refused.error is not None
    assert refused.error["clause"] == "ETMAD 1.4"
    assert "RECENTLY_COMMISSIONED" in str(refused.error["message"])
    assert gate(run, model)["migrations_started"] == 0


def test_a_device_of_a_suspended_model_may_not_start_migration(run: Runner):
    # 6.1(d): suspension of ECoS Migration for certain Device Models.
    model = register_model(run)
    (device,) = _devices(run, model, 1)
    run.ok("SuspendModel", model=model, at=iso(NOW - days(1)), reason="failure rate 40%")
    refused = rejected_unchanged(
        run, "RecordMigrationStarted", "MODEL_SUSPENDED", device_id=device, at=iso(NOW)
    )
    assert refused.error is not None
    assert refused.error["clause"] == "ETMAD 6.1(d)"
    explained = gate(run, model, explain=True)
    assert explained["may_start"] is False
    assert explained["suspended"] is True
    assert [r["code"] for r in explained["reasons"]] == ["MODEL_SUSPENDED"]

    run.ok("ResumeModel", model=model, at=iso(NOW), reason="firmware fix confirmed")
    assert _start(run, device, NOW + days(1))["counted"] is True


def test_a_device_of_a_non_migratable_model_may_not_start_migration(run: Runner):
    # 1.4(a) and 6.1(d): prevent migration of Devices of Non-Migratable models.
    model = register_model(run)
    (device,) = _devices(run, model, 1)
    run.ok(
        "CategoriseNonMigratable",
        model=model,
        at=iso(NOW - days(1)),
        rationale="cannot process SRV 6.23",
        decided_by="DCC",
    )
    refused = rejected_unchanged(
        run, "RecordMigrationStarted", "DEVICE_INELIGIBLE", device_id=device, at=iso(NOW)
    )
    assert "NON_MIGRATABLE_MODEL" in str(refused.error)
    explained = gate(run, model, explain=True)
    assert explained["non_migratable"] is True
    assert explained["may_start"] is False
    assert [r["code"] for r in explained["reasons"]] == ["NON_MIGRATABLE_MODEL"]


# --- proving (6.1(b), 6.2) ------------------------------------------------------------------


@pytest.mark.parametrize("party", ["ECoS", "TCoS"], ids=["tcos-to-ecos", "tcos-to-new-tcos"])
def test_a_replacement_then_an_srv_6_23_proves_the_model(make_app: AppFactory, party: str):
    # 6.1(b)(i): the TCoS Certificate replaced by an ECoS Certificate *or a different TCoS
    # Certificate* (the housekeeping replacement counts); (ii) subsequently an SRV 6.23
    # successfully processed. The evidence is the pair of event references.
    run = Runner(make_app(settings=Settings(auto_authorise_bulk=False)))
    model = register_model(run)
    (device,) = _devices(run, model, 1)
    replaced, processed = prove(run, device, PROVEN_AT, party=party)

    shown = gate(run, model)
    assert shown["proven"] is True
    assert shown["authorised"] is False
    evidence = shown["proven_by"]
    assert evidence["device_id"] == device
    assert evidence["model"] == model
    assert evidence["replacement"] == {
        **_ref(replaced, CREDENTIALS_REPLACED),
        "type": CREDENTIALS_REPLACED,
    }
    assert evidence["srv623"] == {**_ref(processed, SRV623_PROCESSED), "type": SRV623_PROCESSED}
    assert evidence["proven_at"] == iso(PROVEN_AT + days(1))
    # The proof is part of the Device Model's record, from the time of the SRV 6.23.
    assert show_model(run, model)["proving"] == evidence
    assert gate(run, model, PROVEN_AT)["proven"] is False


def test_an_srv_6_23_before_the_replacement_does_not_prove_the_model(run: Runner):
    # 6.1(b)(ii): the SRV 6.23 must come *subsequently* to the replacement.
    model = register_model(run)
    (device,) = _devices(run, model, 1)
    srv623(run, device, PROVEN_AT - days(1), request_id="SR-early")
    replace_credentials(run, device, PROVEN_AT)
    assert gate(run, model)["proven"] is False
    assert show_model(run, model)["proving"] is None

    processed = srv623(run, device, PROVEN_AT + days(1), request_id="SR-late")
    proof = gate(run, model)["proven_by"]
    assert proof["srv623"]["version"] == _ref(processed, SRV623_PROCESSED)["version"]


def test_an_srv_6_23_alone_does_not_prove_the_model(run: Runner):
    model = register_model(run)
    (device,) = _devices(run, model, 1)
    srv623(run, device, PROVEN_AT)
    assert gate(run, model)["proven"] is False


def test_a_later_firmware_sibling_proves_the_model(run: Runner):
    # 6.2(b): same manufacturer, model and hardware version, a later firmware version.
    older = register_model(run, "0100", firmware_rank=1)
    newer = register_model(run, "0200", firmware_rank=2)
    (device,) = _devices(run, newer, 1)
    prove(run, device, PROVEN_AT)

    shown = gate(run, older)
    assert shown["proven"] is True
    assert shown["proven_by"]["model"] == newer
    assert shown["proven_by"]["device_id"] == device
    # The older model's own record holds no evidence of its own.
    assert show_model(run, older)["proving"] is None


def test_an_earlier_firmware_sibling_does_not_prove_the_model(make_app: AppFactory):
    # 6.2 only looks forward: a model cannot be upgraded to an *earlier* firmware.
    run = Runner(make_app(settings=Settings(auto_authorise_bulk=False)))
    older = register_model(run, "0100", firmware_rank=1)
    newer = register_model(run, "0200", firmware_rank=2)
    (device,) = _devices(run, older, 1)
    prove(run, device, PROVEN_AT)
    assert gate(run, older)["proven"] is True
    assert gate(run, newer)["proven"] is False
    run.rejected(
        "AuthoriseBulkMigration",
        "NOT_PROVEN",
        model=newer,
        at=iso(NOW),
        decided_by="ops",
        rationale="sibling proven",
    )


def test_a_sibling_of_another_hardware_version_does_not_prove_the_model(run: Runner):
    # 6.2: the same hardware version is required.
    model = register_model(run, "0100", firmware_rank=1)
    other_hw = register_model(run, "0200", firmware_rank=2, hardware_version="3.0")
    (device,) = _devices(run, other_hw, 1)
    prove(run, device, PROVEN_AT)
    assert gate(run, other_hw)["proven"] is True
    assert gate(run, model)["proven"] is False


def test_a_model_registered_after_its_later_sibling_was_proven_is_proven_at_once(run: Runner):
    newer = register_model(run, "0200", firmware_rank=2)
    (device,) = _devices(run, newer, 1)
    prove(run, device, PROVEN_AT)

    older = register_model(run, "0100", firmware_rank=1)
    shown = gate(run, older, explain=True)
    assert shown["proven"] is True
    assert shown["proven_by"]["model"] == newer
    # And the 1.6 policy decided for it at registration.
    assert shown["authorised"] is True
    assert shown["authorisation"]["decided_by"] == AUTO_AUTHORISE_POLICY


# --- the 1.6 decision -----------------------------------------------------------------------


def test_the_policy_records_the_decision_the_moment_the_evidence_appears(run: Runner):
    # DOMAIN.md 3.1 [choice]: a configured policy records the 1.6 decision automatically,
    # decided_by naming the policy, and citing the evidence.
    model = register_model(run)
    (device,) = _devices(run, model, 1)
    _, processed = prove(run, device, PROVEN_AT)

    # The SRV 6.23's command saved the evidence and the decision with it, all at once.
    assert [e["type"] for e in processed.events] == [
        SRV623_PROCESSED,
        "etmad.device_model.ProvingEvidenceRecorded.v1",
        "etmad.device_model.BulkMigrationAuthorised.v1",
    ]
    shown = gate(run, model, explain=True)
    assert shown["authorised"] is True
    decision = shown["authorisation"]
    assert decision["decided_by"] == "policy:authorise-bulk-on-proof.v1"
    assert decision["by_policy"] is True
    assert decision["at"] == iso(PROVEN_AT + days(1))
    assert decision["evidence"] == shown["proven_by"]
    assert device in decision["rationale"]
    # Before the evidence, there was no decision.
    assert gate(run, model, PROVEN_AT)["authorised"] is False


def test_the_policy_also_decides_for_earlier_firmware_siblings(run: Runner):
    # 6.2: evidence on a later firmware counts for the earlier ones, so the policy decides
    # for them too.
    older = register_model(run, "0100", firmware_rank=1)
    newer = register_model(run, "0200", firmware_rank=2)
    (device,) = _devices(run, newer, 1)
    prove(run, device, PROVEN_AT)

    decision = gate(run, older, explain=True)["authorisation"]
    assert decision["decided_by"] == AUTO_AUTHORISE_POLICY
    assert decision["evidence"]["model"] == newer
    assert "6.2" in decision["rationale"]


def test_an_operator_records_the_decision_when_the_policy_is_off(make_app: AppFactory):
    # 1.6: "until the DCC is reasonably satisfied": an operator's recorded decision.
    run = Runner(make_app(settings=Settings(auto_authorise_bulk=False)))
    model = register_model(run)
    (device,) = _devices(run, model, 1)
    authorise = {
        "model": model,
        "decided_by": "ops:migration-lead",
        "rationale": "proving reviewed; SRV 6.23 latency acceptable",
    }

    refused = rejected_unchanged(
        run, "AuthoriseBulkMigration", "NOT_PROVEN", at=iso(NOW), **authorise
    )
    assert refused.error is not None
    assert refused.error["clause"] == "ETMAD 6.1(b)"

    prove(run, device, PROVEN_AT)
    assert gate(run, model)["authorised"] is False
    # A decision cannot rest on evidence that did not exist yet.
    rejected_unchanged(
        run, "AuthoriseBulkMigration", "NOT_PROVEN", at=iso(PROVEN_AT - days(1)), **authorise
    )
    rejected_unchanged(
        run,
        "AuthoriseBulkMigration",
        "RATIONALE_REQUIRED",
        model=model,
        at=iso(NOW),
        decided_by="ops",
        rationale=" ",
    )

    run.ok("AuthoriseBulkMigration", at=iso(NOW), **authorise)
    shown = gate(run, model, explain=True)
    assert shown["authorised"] is True
    assert shown["authorisation"]["decided_by"] == "ops:migration-lead"
    assert shown["authorisation"]["by_policy"] is False
    assert shown["authorisation"]["rationale"] == authorise["rationale"]
    assert shown["authorisation"]["evidence"] == shown["proven_by"]

    refused = rejected_unchanged(
        run, "AuthoriseBulkMigration", "ALREADY_AUTHORISED", at=iso(NOW + days(1)), **authorise
    )
    assert refused.error is not None
    assert refused.error["clause"] == "ETMAD 1.6"


def test_an_operator_may_decide_on_a_later_sibling_s_evidence(make_app: AppFactory):
    run = Runner(make_app(settings=Settings(auto_authorise_bulk=False)))
    older = register_model(run, "0100", firmware_rank=1)
    newer = register_model(run, "0200", firmware_rank=2)
    (device,) = _devices(run, newer, 1)
    prove(run, device, PROVEN_AT)
    run.ok(
        "AuthoriseBulkMigration",
        model=older,
        at=iso(NOW),
        decided_by="ops",
        rationale="6.2: upgradeable to 0200, which is proven",
    )
    assert gate(run, older, explain=True)["authorisation"]["evidence"]["model"] == newer


def test_an_operator_s_decision_rests_on_the_evidence_in_force_at_its_time(
    make_app: AppFactory,
):
    # The model's own proof comes later than its sibling's (6.2): a decision dated between
    # the two rests on the sibling's, as the Bulk gate reports for that time.
    run = Runner(make_app(settings=Settings(auto_authorise_bulk=False)))
    older = register_model(run, "0100", firmware_rank=1)
    newer = register_model(run, "0200", firmware_rank=2)
    own, sibling = commissioned_device(run, eui(1), older), commissioned_device(run, eui(2), newer)
    prove(run, sibling, PROVEN_AT - days(30))
    prove(run, own, PROVEN_AT)
    between = PROVEN_AT - days(10)
    assert gate(run, older, between)["proven_by"]["model"] == newer

    run.ok(
        "AuthoriseBulkMigration",
        model=older,
        at=iso(between),
        decided_by="ops",
        rationale="6.2: upgradeable to 0200, which is proven",
    )
    decision = gate(run, older, explain=True)["authorisation"]
    assert decision["at"] == iso(between)
    assert decision["evidence"]["model"] == newer
    assert decision["evidence"]["device_id"] == sibling


def test_pre_cpl_test_evidence_alone_does_not_prove_the_model(run: Runner):
    # DOMAIN.md 3.1 [choice]: 1.17 test evidence is kept on the model but is not 6.1(b)
    # proving evidence, which must be on a Device in the field.
    model = register_model(run)
    run.ok(
        "RecordModelTestEvidence",
        model=model,
        at=iso(PROVEN_AT),
        outcome="passed",
        detail="ECoS Migration and a later SRV 6.23 on lab Devices",
    )
    shown = gate(run, model)
    assert (shown["proven"], shown["authorised"]) == (False, False)


# --- atomicity and concurrency --------------------------------------------------------------


def test_a_rejected_command_saves_no_events(run: Runner):
    model = register_model(run)
    (device,) = _devices(run, model, 1)
    before = stored_events(run.app)
    run.rejected("RecordMigrationStarted", "UNKNOWN_DEVICE", device_id=eui(99), at=iso(NOW))
    run.rejected("SuspendModel", "RATIONALE_REQUIRED", model=model, at=iso(NOW), reason="")
    run.rejected("ResumeModel", "NOT_SUSPENDED", model=model, at=iso(NOW), reason="none")
    run.rejected("BulkGate", "UNKNOWN_DEVICE_MODEL", model=model_key("9999"), at=iso(NOW))
    run.rejected("RecordMigrationStarted", "DEVICE_INELIGIBLE", device_id=device, at=iso(LONG_AGO))
    assert stored_events(run.app) == before


def test_two_writers_on_one_device_model_conflict_and_the_second_saves_nothing(
    store_url: str, make_app: AppFactory
):
    # Each command saves every event it records in one transaction, or none (DOMAIN.md 3):
    # a writer that read a Device Model another writer has since changed is refused whole.
    first = make_app()
    # On SQLite, a second application on the same file; the memory store is private to one
    # application, so there both writers share it.
    second = first if store_url == "memory:" else make_app()
    run = Runner(first)
    model = register_model(run)
    device, other = _devices(run, model, 2)
    key = DeviceModelKey.from_json(model)
    model_id = model_aggregate_id(key)

    one, two = UnitOfWork(first), UnitOfWork(second)
    mine = one.get(model_id, DeviceModel.create)
    theirs = two.get(model_id, DeviceModel.create)
    assert mine is not None
    assert theirs is not None
    other_device = two.get(device_aggregate_id(EUI64.parse(other)), Device.create)
    assert other_device is not None

    one.record(model_id, DeviceModel.create, mine.suspend(at=NOW, reason="investigating"))
    two.record(
        other_device.aggregate_id,
        Device.create,
        other_device.raise_technical_issue(at=NOW, reason="seen by the second writer"),
    )
    two.record(
        model_id,
        DeviceModel.create,
        theirs.start_migration(at=NOW, device_id=EUI64.parse(device), cap=300),
    )

    one.commit()
    before = stored_events(second)
    with pytest.raises(ConcurrencyConflict) as conflict:
        two.commit()
    assert conflict.value.code == "CONCURRENCY_CONFLICT"

    # Nothing of the second command was saved: not its Device event, not its model event.
    assert stored_events(second) == before
    assert second.device(EUI64.parse(other)).technical_issues == ()
    reread = second.device_model(key)
    assert reread.suspension is not None
    assert reread.started_devices == frozenset()
    # Retrying on fresh state is refused for the right reason now.
    Runner(second).rejected(
        "RecordMigrationStarted", "MODEL_SUSPENDED", device_id=device, at=iso(NOW)
    )
