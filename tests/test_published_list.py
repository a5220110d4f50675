"""ETMAD 1.12: the published list of Non-Migratable Device Models, reproducible for any date."""

from __future__ import annotations

from tests.conftest import Runner

MODEL_A = {"manufacturer": "ACME", "model": "G1", "hardware_version": "1", "firmware_version": "1"}
MODEL_B = {"manufacturer": "BETA", "model": "E9", "hardware_version": "2", "firmware_version": "7"}


def _register(run: Runner) -> None:
    for model in (MODEL_A, MODEL_B):
        run.ok(
            "RegisterDeviceModel", model=model, device_type="GSME", smets="SMETS2+", firmware_rank=1
        )


def test_the_list_shows_each_categorised_model_with_its_rationale_as_of_a_date(run: Runner):
    _register(run)
    run.ok(
        "CategoriseNonMigratable",
        model=MODEL_A,
        at="2023-08-01T00:00:00Z",
        rationale="every Device refused the CoS certificate replacement (status 5)",
        decided_by="DCC ECoS migration board",
    )
    run.ok(
        "RecordDisagreement",
        model=MODEL_A,
        at="2023-08-03T00:00:00Z",
        party="SUPX",
        reason="firmware 2 is in test",
    )
    run.ok("LodgeAppeal", model=MODEL_A, at="2023-08-20T00:00:00Z", party="SUPX")

    before = run.result("ListNonMigratable", at="2023-07-31T00:00:00Z")
    assert before == {"as_of": "2023-07-31T00:00:00+00:00", "models": []}

    during = run.result("ListNonMigratable", at="2023-08-10T00:00:00Z")
    (entry,) = during["models"]
    assert entry["model"] == MODEL_A
    assert entry["rationale"].startswith("every Device refused")
    assert entry["decided_by"] == "DCC ECoS migration board"
    assert [d["party"] for d in entry["disagreements"]] == ["SUPX"]
    assert entry["appeal"] is None  # not yet lodged on 10 August

    later = run.result("ListNonMigratable", at="2023-09-01T00:00:00Z")
    assert later["models"][0]["appeal"]["party"] == "SUPX"


def test_a_recategorised_model_leaves_the_list_from_that_date(run: Runner):
    _register(run)
    for model in (MODEL_A, MODEL_B):
        run.ok(
            "CategoriseNonMigratable",
            model=model,
            at="2023-08-01T00:00:00Z",
            rationale="cannot process an SRV 6.23 after replacement",
            decided_by="DCC",
        )
    run.ok(
        "RecategoriseMigratable",
        model=MODEL_B,
        at="2023-10-01T00:00:00Z",
        rationale="firmware fix proven in test",
        decided_by="DCC",
    )

    def listed(at: str) -> list[object]:
        return [m["model"] for m in run.result("ListNonMigratable", at=at)["models"]]

    assert listed("2023-09-01T00:00:00Z") == [MODEL_A, MODEL_B]
    assert listed("2023-10-02T00:00:00Z") == [MODEL_A]
