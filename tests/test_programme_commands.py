"""The operator commands of ``etmad apply`` for the migration programme (ETMAD 1.3, 1.6,
6.1(a)-(b)) and for remediation (ETMAD 1.7, 1.9-1.11), as an operator sends them: JSON
objects through the command vocabulary, the JSON Schema and the command line."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from adapters.cli.apply import apply_lines
from adapters.command_schema import CommandValidator
from application.service import EtmadApplication
from domain import clauses
from tests.builders import (
    NOW,
    chf_model,
    commissioned_device,
    days,
    eui,
    iso,
    model_key,
    mpan,
    register_device,
    register_model,
    rejected_unchanged,
    supplier_change,
)
from tests.conftest import Runner
from tests.test_cli import etmad, lines, write
from tests.test_programme_control import ESME_MODEL, HUB_MODEL, failed_migrations

BOARD = "DCC migration board"
DEFAULTS = {
    "daily_capacity": 10_000,
    "pilot_size": 20,
    "ramp_up": [[0, 50], [7, 200], [14, 1000], [28, 5000]],
}


def at(day: int) -> str:
    return iso(NOW + days(day))


def ok(run: Runner, name: str, **fields: Any) -> Any:
    """An accepted command's output line, as ``etmad apply`` writes it."""
    return run.ok(name, **fields).to_json()


def show(run: Runner, day: int) -> Any:
    return run.result("ShowProgramme", at=at(day))


def test_an_empty_store_s_programme_is_running_on_the_default_parameters(run: Runner):
    assert ok(run, "ShowProgramme", at=at(0)) == {
        "ok": True,
        "command": "ShowProgramme",
        "events": [],
        "result": {
            "as_of": "2023-07-10T12:00:00+00:00",
            "running": True,
            "running_by_default": True,
            "run": None,
            "parameters": DEFAULTS,
            "decisions": {"daily_capacity": None, "pilot_size": None, "ramp_up": None},
        },
    }


def test_the_operator_starts_stops_and_restarts_the_programme(run: Runner):
    started = ok(run, "StartProgramme", at=at(0), decided_by=BOARD, reason="go-live")
    assert started["events"] == [
        {
            "aggregate_id": "programme",
            "version": 1,
            "type": "etmad.programme.ProgrammeStarted.v1",
            "data": {
                "occurred_at": "2023-07-10T12:00:00+00:00",
                "decided_by": BOARD,
                "reason": "go-live",
                "clause": "ETMAD 1.3",
            },
        }
    ]
    assert started["result"]["running"] is True
    assert started["result"]["run"] == {
        "running": True,
        "at": "2023-07-10T12:00:00+00:00",
        "decided_by": BOARD,
        "reason": "go-live",
    }
    error = rejected_unchanged(
        run, "StartProgramme", "PROGRAMME_ALREADY_STARTED", at=at(1), decided_by=BOARD
    ).error
    assert error is not None
    assert error["clause"] == clauses.ETMAD_1_3

    stopped = ok(run, "StopProgramme", at=at(5), decided_by=BOARD, reason="ECoS outage")
    assert stopped["events"][0]["data"]["clause"] == "ETMAD 6.1(b)"
    assert stopped["result"]["running"] is False
    rejected_unchanged(
        run, "StopProgramme", "PROGRAMME_ALREADY_STOPPED", at=at(6), decided_by=BOARD, reason="x"
    )
    rejected_unchanged(
        run, "StopProgramme", "RATIONALE_REQUIRED", at=at(6), decided_by=" ", reason="x"
    )
    rejected_unchanged(run, "StartProgramme", "OUT_OF_ORDER", at=at(4), decided_by=BOARD)
    run.ok("StartProgramme", at=at(7), decided_by=BOARD)

    # As it stood: running by default, started, stopped, started again.
    assert show(run, -1)["running_by_default"] is True
    assert [show(run, d)["running"] for d in (-1, 0, 4, 5, 6, 7)] == [
        True,
        True,
        True,
        False,
        False,
        True,
    ]
    assert show(run, 6)["run"]["reason"] == "ECoS outage"


def test_capacity_ramp_up_and_pilot_override_the_defaults_field_by_field(run: Runner):
    capacity = ok(
        run,
        "SetProgrammeCapacity",
        at=at(0),
        daily_capacity=2000,
        decided_by=BOARD,
        reason="staffing",
    )
    assert [e["type"] for e in capacity["events"]] == ["etmad.programme.CapacitySet.v1"]
    assert capacity["result"]["parameters"] == {**DEFAULTS, "daily_capacity": 2000}
    assert capacity["result"]["decisions"]["daily_capacity"] == {
        "value": 2000,
        "at": "2023-07-10T12:00:00+00:00",
        "decided_by": BOARD,
        "reason": "staffing",
    }

    ramp = ok(
        run,
        "SetRampUpSchedule",
        at=at(3),
        ramp_up=[[0, 10], [7, 100]],
        pilot_size=5,
        decided_by=BOARD,
    )
    assert [(e["type"], e["version"]) for e in ramp["events"]] == [
        ("etmad.programme.RampUpScheduleSet.v1", 2),
        ("etmad.programme.PilotSizeSet.v1", 3),
    ]
    assert ramp["events"][0]["data"] == {
        "occurred_at": "2023-07-13T12:00:00+00:00",
        "ramp_up": [[0, 10], [7, 100]],
        "decided_by": BOARD,
        "reason": "",
        "clause": "ETMAD 6.1(b)",
    }
    assert ramp["events"][1]["data"]["clause"] == "ETMAD 1.6"
    assert ramp["result"]["parameters"] == {
        "daily_capacity": 2000,
        "pilot_size": 5,
        "ramp_up": [[0, 10], [7, 100]],
    }
    # Without a pilot size, only the ramp-up is set.
    again = ok(run, "SetRampUpSchedule", at=at(4), ramp_up=[[0, 20]], decided_by=BOARD)
    assert [e["type"] for e in again["events"]] == ["etmad.programme.RampUpScheduleSet.v1"]
    assert again["result"]["parameters"]["pilot_size"] == 5

    assert show(run, 1)["parameters"] == {**DEFAULTS, "daily_capacity": 2000}
    assert show(run, 2)["decisions"]["ramp_up"] is None
    assert show(run, 3)["decisions"]["pilot_size"]["value"] == 5


def test_the_rules_refuse_what_the_schema_lets_through(run: Runner):
    # A library caller skipping the schema meets the same rules, with the selection's code.
    refusals: list[tuple[str, dict[str, Any]]] = [
        ("SetProgrammeCapacity", {"daily_capacity": -1}),
        ("SetRampUpSchedule", {"ramp_up": [[1, 5]]}),
        ("SetRampUpSchedule", {"ramp_up": [[0, 5], [0, 6]]}),
        ("SetRampUpSchedule", {"ramp_up": [[0, 5]], "pilot_size": 301}),
    ]
    for name, fields in refusals:
        error = rejected_unchanged(
            run, name, "INVALID_SELECTION_PARAMETERS", at=at(0), decided_by=BOARD, **fields
        ).error
        assert error is not None
        assert error["clause"] == clauses.ETMAD_6_1_A
    malformed: list[tuple[str, dict[str, Any]]] = [
        ("SetProgrammeCapacity", {"daily_capacity": "10"}),
        ("SetProgrammeCapacity", {"daily_capacity": True}),
        ("SetRampUpSchedule", {"ramp_up": [[0]]}),
        ("SetRampUpSchedule", {"ramp_up": {"0": 5}}),
        ("SetRampUpSchedule", {"ramp_up": [[0, 5]], "pilot_size": 2.5}),
        ("StopProgramme", {}),
    ]
    for name, fields in malformed:
        rejected_unchanged(run, name, "INVALID_COMMAND", at=at(0), decided_by=BOARD, **fields)


@pytest.mark.parametrize(
    ("command", "problem"),
    [
        (
            {"command": "SetProgrammeCapacity", "daily_capacity": -1},
            "daily_capacity: -1 is less than the minimum of 0",
        ),
        (
            {"command": "SetRampUpSchedule", "ramp_up": [[0, 50]], "pilot_size": 301},
            "pilot_size: 301 is greater than the maximum of 300",
        ),
        ({"command": "SetRampUpSchedule", "ramp_up": []}, "ramp_up: [] should be non-empty"),
        (
            {"command": "SetRampUpSchedule", "ramp_up": [[0, 5, 9]]},
            "ramp_up/0: [0, 5, 9] is too long",
        ),
        ({"command": "StopProgramme"}, "(command): 'reason' is a required property"),
        ({"command": "StartProgramme", "decided_by": ""}, "decided_by: '' should be non-empty"),
    ],
)
def test_the_schema_refuses_bad_shapes(command: dict[str, Any], problem: str):
    full = {"at": at(0), "decided_by": BOARD, **command}
    assert problem in CommandValidator().problems(full)


def test_apply_runs_the_programme_commands_through_the_schema(app: EtmadApplication):
    commands = [
        {"command": "StopProgramme", "at": at(0), "decided_by": BOARD, "reason": "incident"},
        {"command": "SetProgrammeCapacity", "at": at(1), "decided_by": BOARD, "daily_capacity": -5},
        {"command": "ShowProgramme", "at": at(1)},
    ]
    out = io.StringIO()
    summary = apply_lines(app, [json.dumps(c) for c in commands], out)
    assert (summary.applied, summary.rejected) == (2, 1)
    stopped, invalid, shown = lines(out.getvalue())
    assert stopped["ok"] is True
    assert invalid["error"]["code"] == "INVALID_COMMAND"
    assert "line 2: daily_capacity: -5 is less than the minimum of 0" in invalid["error"]["message"]
    assert shown["result"]["running"] is False


def test_a_stop_recorded_by_one_run_is_read_by_the_next(tmp_path: Path):
    store = f"sqlite:///{tmp_path / 'etmad.sqlite'}"
    stop = write(
        tmp_path / "stop.jsonl",
        [{"command": "StopProgramme", "at": at(0), "decided_by": BOARD, "reason": "PKT"}],
    )
    assert etmad("apply", "--store", store, str(stop)).returncode == 0
    again = etmad("apply", "--store", store, str(stop))
    assert again.returncode == 1
    assert lines(again.stdout)[0]["error"]["code"] == "PROGRAMME_ALREADY_STOPPED"
    show_file = write(tmp_path / "show.jsonl", [{"command": "ShowProgramme", "at": at(1)}])
    shown = etmad("apply", "--store", store, str(show_file))
    assert shown.returncode == 0
    assert lines(shown.stdout)[0]["result"]["running"] is False


# --- remediation ------------------------------------------------------------------------------


@pytest.fixture
def failed(run: Runner) -> dict[str, str]:
    """An ESME supplied by SUPA and a GPF, each with a series that completed unsuccessfully at
    ``NOW``, and their Communications Hub with none; a later firmware of the ESME's model."""
    model = register_model(run)
    register_model(run, "0200", firmware_rank=2)
    hub = chf_model(run)
    supplier_change(run, mpan(1), "SUPA", NOW - days(400))
    esme = commissioned_device(run, eui(1), model, mpxn=mpan(1))
    chf = commissioned_device(run, eui(2), hub, device_type="CHF")
    gpf = register_device(run, eui(3), hub, device_type="GPF", comms_hub_id=chf)
    failed_migrations(run.app, (ESME_MODEL, HUB_MODEL), esme, gpf)
    return {"esme": esme, "gpf": gpf, "chf": chf}


def test_a_remediation_is_assigned_and_its_firmware_upgrade_recorded(
    run: Runner, failed: dict[str, str]
):
    esme = failed["esme"]
    assigned = ok(
        run,
        "AssignRemediation",
        device_id=esme,
        at=at(1),
        basis="issues_unresolved",
        owner="responsible_supplier",
        root_cause="firmware 0100 cannot hold the ECoS certificate",
    )
    assert [e["type"] for e in assigned["events"]] == ["etmad.migration.RemediationAssigned.v1"]
    assert assigned["events"][0]["aggregate_id"] == f"migration:{esme}"
    assert assigned["result"] == {
        "device_id": esme,
        "remediation": {
            "number": 1,
            "assigned_at": "2023-07-11T12:00:00+00:00",
            "series": 1,
            "basis": "issues_unresolved",
            "owner": "responsible_supplier",
            "responsible_supplier": "SUPA",  # from Registration Data at ``at``
            "root_cause": "firmware 0100 cannot hold the ECoS certificate",
            "clause": "ETMAD 1.10",
            "actions": [],
            "resolved": False,
        },
    }
    rejected_unchanged(
        run,
        "RecordRemediationAction",
        "FIRMWARE_UPGRADE_REQUIRED",
        device_id=esme,
        at=at(2),
        remediation=1,
        action="communications_fix",
        detail="reset",
        outcome="resolved",
    )
    rejected_unchanged(
        run,
        "RecordRemediationAction",
        "NOT_A_FIRMWARE_UPGRADE",
        device_id=esme,
        at=at(2),
        remediation=1,
        action="firmware_upgrade",
        detail="to an unrelated model",
        outcome="resolved",
        to_model=model_key(manufacturer="OTHER"),
    )
    rejected_unchanged(
        run,
        "RecordRemediationAction",
        "NO_SUCH_REMEDIATION",
        device_id=esme,
        at=at(2),
        remediation=2,
        action="firmware_upgrade",
        detail="x",
        outcome="resolved",
        to_model=model_key("0200"),
    )
    action = ok(
        run,
        "RecordRemediationAction",
        device_id=esme,
        at=at(2),
        remediation=1,
        action="firmware_upgrade",
        detail="over-the-air upgrade to 0200",
        outcome="resolved",
        to_model=model_key("0200"),
    )
    assert action["events"][0]["data"] == {
        "occurred_at": "2023-07-12T12:00:00+00:00",
        "remediation": 1,
        "action": "firmware_upgrade",
        "detail": "over-the-air upgrade to 0200",
        "outcome": "resolved",
        "to_model": model_key("0200"),
        "clause": "ETMAD 1.10",
    }
    assert action["result"]["remediation"]["resolved"] is True
    assert action["result"]["remediation"]["actions"] == [
        {
            "at": "2023-07-12T12:00:00+00:00",
            "kind": "firmware_upgrade",
            "detail": "over-the-air upgrade to 0200",
            "outcome": "resolved",
            "to_model": model_key("0200"),
        }
    ]


def test_remediation_refusals(run: Runner, failed: dict[str, str]):
    error = rejected_unchanged(
        run,
        "AssignRemediation",
        "GPF_REMEDIATION_IS_DCCS",
        device_id=failed["gpf"],
        at=at(1),
        basis="failed_migration",
        owner="responsible_supplier",
        responsible_supplier="GASSUP",
        root_cause="Comms Hub firmware",
    ).error
    assert error is not None
    assert error["clause"] == clauses.ETMAD_1_11
    rejected_unchanged(
        run,
        "AssignRemediation",
        "FIRMWARE_UPGRADE_IS_SUPPLIERS",
        device_id=failed["esme"],
        at=at(1),
        basis="non_migratable_model",
        owner="DCC",
        root_cause="categorised Non-Migratable",
    )
    rejected_unchanged(
        run,
        "AssignRemediation",
        "OUT_OF_ORDER",
        device_id=failed["esme"],
        at=at(-1),
        basis="failed_migration",
        owner="DCC",
        root_cause="comms",
    )
    rejected_unchanged(
        run,
        "AssignRemediation",
        "NO_MIGRATION",
        device_id=failed["chf"],
        at=at(1),
        basis="failed_migration",
        owner="DCC",
        root_cause="comms",
    )
    rejected_unchanged(
        run,
        "AssignRemediation",
        "INVALID_COMMAND",
        device_id=failed["esme"],
        at=at(1),
        basis="failed_migration",
        owner="the supplier",
        root_cause="comms",
    )
    rejected_unchanged(
        run,
        "RecordRemediationAction",
        "INVALID_COMMAND",
        device_id=failed["esme"],
        at=at(1),
        remediation="1",
        action="other",
        detail="x",
        outcome="resolved",
    )
    assert CommandValidator().problems(
        {
            "command": "AssignRemediation",
            "device_id": failed["esme"],
            "at": at(1),
            "basis": "failed_migration",
            "owner": "dcc",
            "root_cause": "comms",
        }
    ) == ["owner: 'dcc' is not one of ['DCC', 'responsible_supplier']"]
