"""The Non-Migratable lifecycle of a Device Model (ETMAD 1.8(b), 1.12-1.14, 6.1(d), 6.1(e), 1.17).

The DCC categorises a model Non-Migratable with its rationale (6.1(e), 1.8(b)); a Party may
disagree and the DCC endeavours to agree a position (1.13); only where agreement cannot be
reached may the Party appeal to the Secretary of State, whose determination is final and
binding (1.14) — except that whenever a model stands categorised, the DCC may re-categorise it
as capable of migration (1.14). Every step is a recorded fact that can be replayed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from tests.builders import (
    NOW,
    assess,
    commissioned_device,
    days,
    eui,
    iso,
    register_model,
    rejected_unchanged,
    show_model,
)
from tests.conftest import Runner

RATIONALE = "cannot accept the CoS certificate replacement (12 of 12 trial Devices)"
T1 = NOW - days(60)  # categorised
T2 = NOW - days(50)  # disagreement
T3 = NOW - days(40)  # agreement, or appeal
T4 = NOW - days(30)  # determination
T5 = NOW - days(20)  # re-categorisation


@pytest.fixture
def model(run: Runner) -> dict[str, str]:
    return register_model(run)


def categorise(run: Runner, model: dict[str, str], at: datetime = T1) -> None:
    run.ok(
        "CategoriseNonMigratable",
        model=model,
        at=iso(at),
        rationale=RATIONALE,
        decided_by="DCC ECoS migration board",
    )


def disagree(run: Runner, model: dict[str, str], at: datetime = T2, party: str = "SUPA") -> None:
    run.ok(
        "RecordDisagreement",
        model=model,
        at=iso(at),
        party=party,
        reason="our field trial migrated 40 Devices of this model",
    )


def appeal(run: Runner, model: dict[str, str], at: datetime = T3, party: str = "SUPA") -> None:
    run.ok("LodgeAppeal", model=model, at=iso(at), party=party)


def determine(run: Runner, model: dict[str, str], outcome: str, at: datetime = T4) -> None:
    run.ok("RecordDetermination", model=model, at=iso(at), outcome=outcome)


def recategorise(**fields: Any) -> dict[str, Any]:
    return {"rationale": "ECoS Party fix deployed", "decided_by": "DCC", **fields}


def _standing(run: Runner, model: dict[str, str]) -> Any:
    return show_model(run, model)["non_migratable"]


# --- categorisation (6.1(e), 1.8(b)) --------------------------------------------------------


def test_a_categorisation_is_recorded_with_its_rationale_and_decider(
    run: Runner, model: dict[str, str]
):
    categorise(run, model)
    assert _standing(run, model) == {
        "at": iso(T1),
        "rationale": RATIONALE,
        "decided_by": "DCC ECoS migration board",
        "disagreements": [],
        "appeal": None,
        "determination": None,
    }
    # 1.4(a): its Devices are Ineligible.
    device = commissioned_device(run, eui(1), model)
    assert [r["code"] for r in assess(run, device)["reasons"]] == ["NON_MIGRATABLE_MODEL"]


@pytest.mark.parametrize(
    ("rationale", "decided_by"),
    [("", "DCC"), ("   ", "DCC"), (RATIONALE, "")],
    ids=["empty-rationale", "blank-rationale", "no-decider"],
)
def test_a_categorisation_needs_a_rationale_and_a_decider(
    run: Runner, model: dict[str, str], rationale: str, decided_by: str
):
    # 1.8(b): the reports give the DCC's supporting rationale; it never categorises silently.
    rejected_unchanged(
        run,
        "CategoriseNonMigratable",
        "RATIONALE_REQUIRED",
        model=model,
        at=iso(T1),
        rationale=rationale,
        decided_by=decided_by,
    )
    assert _standing(run, model) is None


def test_a_model_cannot_be_categorised_twice(run: Runner, model: dict[str, str]):
    categorise(run, model)
    refused = rejected_unchanged(
        run,
        "CategoriseNonMigratable",
        "ALREADY_NON_MIGRATABLE",
        model=model,
        at=iso(T2),
        rationale="again",
        decided_by="DCC",
    )
    assert refused.error is not None
    assert refused.error["clause"] == "ETMAD 6.1(e)"


def test_an_unknown_model_cannot_be_categorised(run: Runner):
    run.rejected(
        "CategoriseNonMigratable",
        "UNKNOWN_DEVICE_MODEL",
        model={"manufacturer": "X", "model": "Y", "hardware_version": "1", "firmware_version": "1"},
        at=iso(T1),
        rationale=RATIONALE,
        decided_by="DCC",
    )


# --- disagreement and agreement (1.13) ------------------------------------------------------


def test_a_disagreement_needs_a_non_migratable_categorisation(run: Runner, model: dict[str, str]):
    refused = rejected_unchanged(
        run,
        "RecordDisagreement",
        "NOT_NON_MIGRATABLE",
        model=model,
        at=iso(T2),
        party="SUPA",
        reason="we disagree",
    )
    assert refused.error is not None
    assert refused.error["clause"] == "ETMAD 1.13"


def test_one_party_has_one_open_disagreement_at_a_time(run: Runner, model: dict[str, str]):
    categorise(run, model)
    disagree(run, model)
    rejected_unchanged(
        run,
        "RecordDisagreement",
        "DISAGREEMENT_ALREADY_OPEN",
        model=model,
        at=iso(T3),
        party="SUPA",
        reason="again",
    )
    disagree(run, model, T3, party="SUPB")
    assert [d["party"] for d in _standing(run, model)["disagreements"]] == ["SUPA", "SUPB"]


def test_an_agreement_that_keeps_the_categorisation_closes_the_disagreement(
    run: Runner, model: dict[str, str]
):
    # 1.13: the DCC endeavours to reach an agreed position; here, the categorisation stands.
    categorise(run, model)
    disagree(run, model)
    run.ok("RecordAgreement", model=model, at=iso(T3), outcome="kept", party="SUPA")

    standing = _standing(run, model)
    assert standing["rationale"] == RATIONALE
    assert standing["disagreements"] == [
        {
            "party": "SUPA",
            "reason": "our field trial migrated 40 Devices of this model",
            "at": iso(T2),
            "agreement": "kept",
        }
    ]
    device = commissioned_device(run, eui(1), model)
    assert assess(run, device)["eligible"] is False
    # Agreement was reached, so there is nothing to appeal.
    refused = rejected_unchanged(
        run, "LodgeAppeal", "NO_UNRESOLVED_DISAGREEMENT", model=model, at=iso(T4), party="SUPA"
    )
    assert refused.error is not None
    assert refused.error["clause"] == "ETMAD 1.13"


def test_an_agreement_that_withdraws_the_categorisation_makes_the_model_migratable(
    run: Runner, model: dict[str, str]
):
    categorise(run, model)
    disagree(run, model)
    run.ok("RecordAgreement", model=model, at=iso(T3), outcome="withdrawn")  # the one party
    assert _standing(run, model) is None
    device = commissioned_device(run, eui(1), model)
    assert assess(run, device)["eligible"] is True
    # Nothing stands to disagree with any more.
    rejected_unchanged(
        run,
        "RecordDisagreement",
        "NOT_NON_MIGRATABLE",
        model=model,
        at=iso(T4),
        party="SUPB",
        reason="late",
    )


def test_an_agreement_needs_an_unresolved_disagreement(run: Runner, model: dict[str, str]):
    rejected_unchanged(
        run, "RecordAgreement", "NOT_NON_MIGRATABLE", model=model, at=iso(T3), outcome="kept"
    )
    categorise(run, model)
    rejected_unchanged(
        run,
        "RecordAgreement",
        "NO_UNRESOLVED_DISAGREEMENT",
        model=model,
        at=iso(T3),
        outcome="kept",
    )
    disagree(run, model)
    rejected_unchanged(
        run,
        "RecordAgreement",
        "NO_UNRESOLVED_DISAGREEMENT",
        model=model,
        at=iso(T3),
        outcome="kept",
        party="SUPB",
    )


def test_with_several_parties_disagreeing_the_agreement_names_the_party(
    run: Runner, model: dict[str, str]
):
    categorise(run, model)
    disagree(run, model, party="SUPA")
    disagree(run, model, party="SUPB")
    rejected_unchanged(
        run, "RecordAgreement", "PARTY_REQUIRED", model=model, at=iso(T3), outcome="kept"
    )
    run.ok("RecordAgreement", model=model, at=iso(T3), outcome="kept", party="SUPB")
    # SUPA's disagreement is still unresolved: SUPA may appeal, SUPB may not.
    rejected_unchanged(
        run, "LodgeAppeal", "NO_UNRESOLVED_DISAGREEMENT", model=model, at=iso(T4), party="SUPB"
    )
    appeal(run, model, T4, party="SUPA")


# --- appeal and determination (1.13, 1.14) --------------------------------------------------


def test_an_appeal_needs_a_recorded_disagreement(run: Runner, model: dict[str, str]):
    # 1.13: "Where agreement cannot be reached, Parties may appeal".
    rejected_unchanged(
        run, "LodgeAppeal", "NOT_NON_MIGRATABLE", model=model, at=iso(T3), party="SUPA"
    )
    categorise(run, model)
    rejected_unchanged(
        run, "LodgeAppeal", "NO_UNRESOLVED_DISAGREEMENT", model=model, at=iso(T3), party="SUPA"
    )
    disagree(run, model, party="SUPB")
    # Another Party's disagreement does not open the way for SUPA.
    rejected_unchanged(
        run, "LodgeAppeal", "NO_UNRESOLVED_DISAGREEMENT", model=model, at=iso(T3), party="SUPA"
    )


def test_an_appeal_is_lodged_once(run: Runner, model: dict[str, str]):
    categorise(run, model)
    disagree(run, model)
    appeal(run, model)
    refused = rejected_unchanged(
        run, "LodgeAppeal", "APPEAL_ALREADY_LODGED", model=model, at=iso(T4), party="SUPA"
    )
    assert refused.error is not None
    assert refused.error["clause"] == "ETMAD 1.13"
    assert _standing(run, model)["appeal"] == {"party": "SUPA", "at": iso(T3)}


def test_no_agreement_is_recorded_while_the_appeal_awaits_the_secretary_of_state(
    run: Runner, model: dict[str, str]
):
    categorise(run, model)
    disagree(run, model)
    appeal(run, model)
    rejected_unchanged(
        run, "RecordAgreement", "APPEAL_PENDING", model=model, at=iso(T4), outcome="kept"
    )


def test_a_determination_needs_an_appeal(run: Runner, model: dict[str, str]):
    for outcome in ("upheld", "overturned"):
        rejected_unchanged(
            run, "RecordDetermination", "NO_APPEAL_LODGED", model=model, at=iso(T4), outcome=outcome
        )
    categorise(run, model)
    disagree(run, model)
    refused = rejected_unchanged(
        run, "RecordDetermination", "NO_APPEAL_LODGED", model=model, at=iso(T4), outcome="upheld"
    )
    assert refused.error is not None
    assert refused.error["clause"] == "ETMAD 1.14"


def test_an_upheld_determination_is_final_and_binding(run: Runner, model: dict[str, str]):
    # 1.14: the determination by the Secretary of State is final and binding.
    categorise(run, model)
    disagree(run, model)
    appeal(run, model)
    determine(run, model, "upheld")
    assert _standing(run, model)["determination"] == "upheld"

    later = iso(T5)
    for name, fields in (
        ("RecordDisagreement", {"party": "SUPB", "reason": "we still disagree"}),
        ("LodgeAppeal", {"party": "SUPA"}),
        ("RecordDetermination", {"outcome": "overturned"}),
        ("RecordAgreement", {"party": "SUPA", "outcome": "withdrawn"}),
    ):
        refused = rejected_unchanged(
            run, name, "DETERMINATION_FINAL", model=model, at=later, **fields
        )
        assert refused.error is not None
        assert refused.error["clause"] == "ETMAD 1.14"
    device = commissioned_device(run, eui(1), model)
    assert [r["code"] for r in assess(run, device)["reasons"]] == ["NON_MIGRATABLE_MODEL"]


def test_an_overturned_determination_makes_the_model_migratable(run: Runner, model: dict[str, str]):
    categorise(run, model)
    disagree(run, model)
    appeal(run, model)
    determine(run, model, "overturned")
    assert _standing(run, model) is None
    device = commissioned_device(run, eui(1), model)
    assert assess(run, device)["eligible"] is True
    # While it stood categorised, its Devices were Ineligible.
    assert assess(run, device, T4 - days(1))["eligible"] is False


# --- re-categorisation as capable of migration (1.14) ---------------------------------------


def _categorised(run: Runner, model: dict[str, str]) -> None:
    categorise(run, model)


def _disputed(run: Runner, model: dict[str, str]) -> None:
    categorise(run, model)
    disagree(run, model)


def _appealed(run: Runner, model: dict[str, str]) -> None:
    _disputed(run, model)
    appeal(run, model)


def _upheld(run: Runner, model: dict[str, str]) -> None:
    _appealed(run, model)
    determine(run, model, "upheld")


def _kept(run: Runner, model: dict[str, str]) -> None:
    _disputed(run, model)
    run.ok("RecordAgreement", model=model, at=iso(T3), outcome="kept")


@pytest.mark.parametrize(
    "stage",
    [_categorised, _disputed, _kept, _appealed, _upheld],
    ids=["categorised", "disagreed", "agreed-kept", "appeal-pending", "upheld-on-appeal"],
)
def test_a_standing_categorisation_may_be_recategorised_migratable_at_any_stage(
    run: Runner, model: dict[str, str], stage: Callable[[Runner, dict[str, str]], None]
):
    # 1.14: "where a Device Model is categorised as Non-Migratable, the DCC may subsequently
    # re-categorise the Device Model as being capable of ECoS Migration" - appealed or not.
    stage(run, model)
    run.ok("RecategoriseMigratable", model=model, **recategorise(at=iso(T5)))
    assert _standing(run, model) is None
    device = commissioned_device(run, eui(1), model)
    assert assess(run, device)["eligible"] is True


def _never(run: Runner, model: dict[str, str]) -> None:
    del run, model


def _withdrawn(run: Runner, model: dict[str, str]) -> None:
    _disputed(run, model)
    run.ok("RecordAgreement", model=model, at=iso(T3), outcome="withdrawn")


def _overturned(run: Runner, model: dict[str, str]) -> None:
    _appealed(run, model)
    determine(run, model, "overturned")


def _recategorised(run: Runner, model: dict[str, str]) -> None:
    categorise(run, model)
    run.ok("RecategoriseMigratable", model=model, **recategorise(at=iso(T4)))


@pytest.mark.parametrize(
    "stage",
    [_never, _withdrawn, _overturned, _recategorised],
    ids=["never-categorised", "withdrawn", "overturned", "already-recategorised"],
)
def test_only_a_standing_categorisation_can_be_recategorised(
    run: Runner, model: dict[str, str], stage: Callable[[Runner, dict[str, str]], None]
):
    stage(run, model)
    refused = rejected_unchanged(
        run, "RecategoriseMigratable", "NOT_NON_MIGRATABLE", model=model, **recategorise(at=iso(T5))
    )
    assert refused.error is not None
    assert refused.error["clause"] == "ETMAD 1.14"


def test_a_recategorisation_needs_its_rationale(run: Runner, model: dict[str, str]):
    categorise(run, model)
    rejected_unchanged(
        run,
        "RecategoriseMigratable",
        "RATIONALE_REQUIRED",
        model=model,
        **recategorise(at=iso(T5), rationale=""),
    )


def test_a_model_may_be_categorised_again_after_recategorisation(
    run: Runner, model: dict[str, str]
):
    # A fresh categorisation starts a fresh lifecycle: the old determination does not bind it.
    _upheld(run, model)
    run.ok("RecategoriseMigratable", model=model, **recategorise(at=iso(T5)))
    categorise(run, model, NOW - days(10))
    disagree(run, model, NOW - days(5))
    appeal(run, model, NOW - days(1))
    standing = _standing(run, model)
    assert standing["at"] == iso(NOW - days(10))
    assert standing["determination"] is None
    assert standing["appeal"] == {"party": "SUPA", "at": iso(NOW - days(1))}


# --- order of the steps ---------------------------------------------------------------------


def _step_before_categorisation(run: Runner, model: dict[str, str]) -> tuple[str, dict[str, Any]]:
    categorise(run, model)
    return "RecordDisagreement", {"at": iso(T1 - days(1)), "party": "SUPA", "reason": "x"}


def _agreement_before_disagreement(
    run: Runner, model: dict[str, str]
) -> tuple[str, dict[str, Any]]:
    _disputed(run, model)
    return "RecordAgreement", {"at": iso(T2 - days(1)), "outcome": "kept"}


def _appeal_before_disagreement(run: Runner, model: dict[str, str]) -> tuple[str, dict[str, Any]]:
    _disputed(run, model)
    return "LodgeAppeal", {"at": iso(T2 - days(1)), "party": "SUPA"}


def _determination_before_appeal(run: Runner, model: dict[str, str]) -> tuple[str, dict[str, Any]]:
    _appealed(run, model)
    return "RecordDetermination", {"at": iso(T3 - days(1)), "outcome": "overturned"}


def _recategorisation_before_determination(
    run: Runner, model: dict[str, str]
) -> tuple[str, dict[str, Any]]:
    _upheld(run, model)
    return "RecategoriseMigratable", recategorise(at=iso(T4 - days(1)))


def _categorisation_before_recategorisation(
    run: Runner, model: dict[str, str]
) -> tuple[str, dict[str, Any]]:
    _recategorised(run, model)
    return "CategoriseNonMigratable", {
        "at": iso(T4 - days(1)),
        "rationale": RATIONALE,
        "decided_by": "DCC",
    }


@pytest.mark.parametrize(
    "story",
    [
        _step_before_categorisation,
        _agreement_before_disagreement,
        _appeal_before_disagreement,
        _determination_before_appeal,
        _recategorisation_before_determination,
        _categorisation_before_recategorisation,
    ],
    ids=[
        "disagreement-before-categorisation",
        "agreement-before-disagreement",
        "appeal-before-disagreement",
        "determination-before-appeal",
        "recategorisation-before-determination",
        "categorisation-before-recategorisation",
    ],
)
def test_a_lifecycle_step_dated_before_the_previous_step_is_out_of_order(
    run: Runner,
    model: dict[str, str],
    story: Callable[[Runner, dict[str, str]], tuple[str, dict[str, Any]]],
):
    name, fields = story(run, model)
    rejected_unchanged(run, name, "OUT_OF_ORDER", model=model, **fields)


def test_a_step_at_the_same_time_as_the_previous_one_is_in_order(
    run: Runner, model: dict[str, str]
):
    categorise(run, model)
    disagree(run, model, T1)
    assert _standing(run, model)["disagreements"][0]["at"] == iso(T1)


# --- the record: rationale and evidence kept, and replayable --------------------------------


def test_the_whole_lifecycle_is_kept_and_can_be_replayed_as_of_any_time(
    run: Runner, model: dict[str, str]
):
    # DOMAIN.md 1 (appeals draw evidence from the log) and 1.12 (the published list changes):
    # every step is kept, and the model can be shown as it stood at any past time.
    categorise(run, model)
    disagree(run, model)
    appeal(run, model)
    determine(run, model, "upheld")
    run.ok("RecategoriseMigratable", model=model, **recategorise(at=iso(T5)))

    assert _standing(run, model) is None
    assert show_model(run, model)["lifecycle_at"] == iso(T5)

    def as_of(at: datetime) -> Any:
        return show_model(run, model, as_of=iso(at))["non_migratable"]

    assert as_of(T1 - days(1)) is None
    assert as_of(T1) == {
        "at": iso(T1),
        "rationale": RATIONALE,
        "decided_by": "DCC ECoS migration board",
        "disagreements": [],
        "appeal": None,
        "determination": None,
    }
    at_appeal = as_of(T3)
    assert at_appeal["disagreements"] == [
        {
            "party": "SUPA",
            "reason": "our field trial migrated 40 Devices of this model",
            "at": iso(T2),
            "agreement": None,
        }
    ]
    assert at_appeal["appeal"] == {"party": "SUPA", "at": iso(T3)}
    assert at_appeal["determination"] is None
    assert as_of(T4)["determination"] == "upheld"
    assert as_of(T5) is None

    # The same by position in the model's own history (version 1 is its registration).
    assert show_model(run, model, version=1)["non_migratable"] is None
    assert show_model(run, model, version=2)["non_migratable"]["rationale"] == RATIONALE


# --- suspension (6.1(d)) --------------------------------------------------------------------


def test_suspension_and_resumption(run: Runner, model: dict[str, str]):
    # 6.1(d): suspend migration of certain Device Models to allow issues to be investigated.
    refused = rejected_unchanged(
        run, "ResumeModel", "NOT_SUSPENDED", model=model, at=iso(T1), reason="nothing to resume"
    )
    assert refused.error is not None
    assert refused.error["clause"] == "ETMAD 6.1(d)"

    run.ok("SuspendModel", model=model, at=iso(T1), reason="failure rate 40% in week 3")
    assert show_model(run, model)["suspension"] == {
        "at": iso(T1),
        "reason": "failure rate 40% in week 3",
    }
    refused = rejected_unchanged(
        run, "SuspendModel", "ALREADY_SUSPENDED", model=model, at=iso(T2), reason="again"
    )
    assert refused.error is not None
    assert refused.error["clause"] == "ETMAD 6.1(d)"

    run.ok("ResumeModel", model=model, at=iso(T3), reason="root cause fixed")
    assert show_model(run, model)["suspension"] is None
    assert show_model(run, model, as_of=iso(T2))["suspension"]["reason"] == (
        "failure rate 40% in week 3"
    )
    # Suspended again later: a new suspension.
    run.ok("SuspendModel", model=model, at=iso(T4), reason="second incident")
    assert show_model(run, model)["suspension"]["reason"] == "second incident"


def test_a_suspension_needs_a_reason(run: Runner, model: dict[str, str]):
    rejected_unchanged(
        run, "SuspendModel", "RATIONALE_REQUIRED", model=model, at=iso(T1), reason=""
    )


def test_suspension_and_non_migratable_categorisation_are_independent(
    run: Runner, model: dict[str, str]
):
    # 6.1(d) names both: suspension to investigate, and prevention for Non-Migratable models.
    run.ok("SuspendModel", model=model, at=iso(T1), reason="investigating")
    categorise(run, model, T2)
    run.ok("RecategoriseMigratable", model=model, **recategorise(at=iso(T3)))
    shown = show_model(run, model)
    assert shown["non_migratable"] is None
    assert shown["suspension"]["reason"] == "investigating"


# --- pre-CPL test evidence (1.17) -----------------------------------------------------------


def test_test_evidence_is_recorded_with_its_outcome(run: Runner, model: dict[str, str]):
    # 1.17: before a new model joins the CPL, testing that ECoS Migration works, including a
    # later SRV 6.23, where reasonably practicable - or a record that it was not.
    evidence = [
        (T1, "failed", "replacement refused by the trial Device"),
        (T2, "passed", "migration and a later SRV 6.23 on 3 lab Devices"),
        (T3, "not_reasonably_practicable", "no lab stock of this variant"),
    ]
    for at, outcome, detail in evidence:
        run.ok("RecordModelTestEvidence", model=model, at=iso(at), outcome=outcome, detail=detail)

    assert show_model(run, model)["test_evidence"] == [
        {"at": iso(at), "outcome": outcome, "detail": detail} for at, outcome, detail in evidence
    ]
    assert len(show_model(run, model, as_of=iso(T2))["test_evidence"]) == 2


def test_test_evidence_needs_a_known_outcome(run: Runner, model: dict[str, str]):
    rejected_unchanged(
        run,
        "RecordModelTestEvidence",
        "INVALID_COMMAND",
        model=model,
        at=iso(T1),
        outcome="probably fine",
        detail="",
    )
