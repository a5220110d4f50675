"""``etmad demo``: a generated sample estate loads without a rejection, and its summary adds up.

The estate is generated small (150 Devices over 12 Device Models) so that each test loads it in
a second or two, on the memory store and on a SQLite file.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path

import pytest

from adapters.bootstrap import build_application
from adapters.cli.main import main
from adapters.command_schema import CommandValidator
from adapters.demo import (
    AS_OF,
    Command,
    ProgressBar,
    generate_estate,
    load_estate,
    render,
    summarise,
)
from application.service import close_application
from domain.bulk_gate import AUTO_AUTHORISE_POLICY
from domain.eligibility import ReasonCode
from domain.identifiers import EUI64, MPAN

SEED = 11
SMALL = ["--devices", "150", "--models", "12", "--seed", str(SEED)]


@pytest.fixture(scope="module")
def estate() -> list[Command]:
    return generate_estate(SEED, 150, 12)


def _device_ids(commands: list[Command]) -> list[str]:
    return [str(c["device_id"]) for c in commands if c["command"] == "RegisterDevice"]


# --- the generator ----------------------------------------------------------------------------


def test_the_same_seed_gives_the_same_estate_and_another_seed_another(estate):
    assert generate_estate(SEED, 150, 12) == estate
    assert generate_estate(SEED + 1, 150, 12) != estate


def test_the_estate_has_the_requested_size_and_the_story_of_the_issue(estate):
    names = Counter(c["command"] for c in estate)
    assert names["RegisterDeviceModel"] == 12
    assert 150 <= names["RegisterDevice"] < 160  # whole premises are added until 150
    for expected in (
        "RecordCommissioning",
        "RecordSupplierChange",
        "RaiseTechnicalIssue",
        "RecordCredentialsReplaced",
        "RecordSrv623Processed",
        "RecordMigrationStarted",
        "CategoriseNonMigratable",
        "RecordDisagreement",
        "LodgeAppeal",
    ):
        assert names[expected] >= 1, expected
    assert names["CategoriseNonMigratable"] == 1
    assert names["LodgeAppeal"] == 1


def test_every_generated_command_conforms_to_the_published_schema(estate):
    validator = CommandValidator()
    assert [(c, p) for c in estate if (p := validator.problems(c))] == []


def test_every_generated_mpan_has_a_valid_check_digit(estate):
    mpans = [c["mpxn"] for c in estate if len(c.get("mpxn", "")) == 13]
    assert mpans
    assert all(MPAN.parse(m).has_valid_check_digit for m in mpans)


def test_the_generator_refuses_an_estate_too_small_to_tell_the_story():
    with pytest.raises(ValueError, match="Device Models"):
        generate_estate(SEED, 150, 3)


# --- loading and the summary ------------------------------------------------------------------


def test_the_estate_loads_without_a_rejection_and_the_summary_adds_up(make_app, estate):
    app = make_app()
    report = load_estate(app, estate)
    assert report.rejected == 0, report.rejections
    assert report.applied == len(estate)

    summary = summarise(app, AS_OF, store="memory:")
    device_ids = _device_ids(estate)
    e = summary.eligibility
    assert summary.devices == e.assessed == len(device_ids)
    assert summary.device_models == len(summary.gates) == 12
    assert summary.events == app.recorder.max_notification_id()
    assert e.eligible + e.ineligible == e.assessed
    assert sum(t.devices for t in e.by_device_type) == e.assessed
    assert sum(t.eligible for t in e.by_device_type) == e.eligible
    assert sum(g.devices for g in summary.gates) == e.assessed
    assert sum(g.eligible for g in summary.gates) == e.eligible

    # An independent recount, Device by Device, through the application's own query.
    reasons: Counter[ReasonCode] = Counter()
    eligible = several = 0
    for device_id in device_ids:
        decision = app.assess_eligibility(EUI64.parse(device_id), AS_OF)
        eligible += decision.eligible
        several += len(decision.codes()) > 1
        reasons.update(decision.codes())
    assert e.eligible == eligible
    assert e.several_reasons == several
    assert {r.code: r.devices for r in e.by_reason} == dict(reasons)
    assert e.ineligible > 0
    assert e.ineligible <= sum(reasons.values())


def test_the_non_migratable_model_shows_its_pending_appeal(make_app, estate):
    app = make_app()
    load_estate(app, estate)
    summary = summarise(app, AS_OF)

    [gate] = [g for g in summary.gates if g.non_migratable is not None]
    nm = gate.non_migratable
    assert nm is not None
    assert nm.rationale
    assert nm.appeal == "pending"
    assert [party for party, _, agreement in nm.disagreements if agreement is None] == [
        nm.appeal_party
    ]
    assert not gate.may_start
    assert "NON_MIGRATABLE_MODEL" in gate.gate_reasons
    # Every Device of the model is Ineligible on that ground (1.4(a)), and no other is.
    by_reason = {r.code: r.devices for r in summary.eligibility.by_reason}
    assert by_reason[ReasonCode.NON_MIGRATABLE_MODEL] == gate.devices > 0
    text = render(summary)
    assert f"appeal: lodged by {nm.appeal_party}" in text
    assert "pending with the Secretary of State" in text


def test_proving_authorises_by_policy_and_migrations_started_are_counted(make_app, estate):
    app = make_app()
    load_estate(app, estate)
    summary = summarise(app, AS_OF)

    by_policy = [g for g in summary.gates if g.authorised and g.by_policy]
    assert by_policy
    assert all(g.proven and g.decided_by == AUTO_AUTHORISE_POLICY for g in by_policy)
    assert all(g.authorised for g in summary.gates if g.proven)
    assert not any(g.authorised for g in summary.gates if not g.proven)
    started = {c["device_id"] for c in estate if c["command"] == "RecordMigrationStarted"}
    assert sum(g.migrations_started for g in summary.gates) == len(started) > 0
    assert any(g.migrations_started and not g.authorised for g in summary.gates)


# --- the command line -------------------------------------------------------------------------


def test_demo_on_sqlite_refuses_to_load_twice_without_fresh(tmp_path: Path, capsys):
    url = f"sqlite:///{tmp_path / 'demo.sqlite'}"
    assert main(["demo", "--store", url, *SMALL]) == 0
    first = capsys.readouterr()
    assert "0 rejected" in first.out
    assert "Bulk Migration gate per Device Model" in first.out
    assert "loading: 100%" in first.err  # progress, a line per tenth when not a terminal

    assert main(["demo", "--store", url, *SMALL]) == 2
    refused = capsys.readouterr()
    assert "--fresh" in refused.err
    assert refused.out == ""

    assert main(["demo", "--store", url, "--fresh", "--json", *SMALL]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["load"]["rejected"] == 0
    assert data["store_path"] == str((tmp_path / "demo.sqlite").resolve())
    app = build_application(url)
    try:
        assert app.recorder.max_notification_id() == data["events"]  # loaded once, not twice
    finally:
        close_application(app)


def test_demo_json_on_memory_parses_and_adds_up(capsys):
    assert main(["demo", "--store", "memory:", "--json", *SMALL]) == 0
    data = json.loads(capsys.readouterr().out)
    e = data["eligibility"]
    assert e["eligible"] + e["ineligible"] == e["assessed"] == data["devices"]
    assert data["load"]["rejected"] == 0
    assert data["load"]["seed"] == SEED
    [nm] = [g for g in data["bulk_gate"] if g["non_migratable"]]
    assert nm["non_migratable"]["appeal"]["determination"] is None
    assert any(g["authorised_by"] == "policy" for g in data["bulk_gate"])


def test_demo_without_the_policy_records_operator_decisions(capsys):
    args = ["demo", "--store", "memory:", "--json", "--no-auto-authorise", *SMALL]
    assert main(args) == 0
    gates = json.loads(capsys.readouterr().out)["bulk_gate"]
    assert {g["authorised_by"] for g in gates if g["authorised"]} == {"operator"}
    assert any(g["proven"] and not g["authorised"] for g in gates)


def test_a_small_bulk_migration_number_is_reached_by_one_model(capsys):
    args = ["demo", "--store", "memory:", "--json", "--bulk-migration-number", "3", *SMALL]
    assert main(args) == 0
    gates = json.loads(capsys.readouterr().out)["bulk_gate"]
    [full] = [g for g in gates if "BULK_CAP_REACHED" in g["gate_reasons"]]
    assert full["migrations_started"] == full["cap"] == 3
    assert not full["may_start"]


def test_demo_refuses_sizes_too_small(capsys):
    assert main(["demo", "--store", "memory:", "--models", "3"]) == 2
    assert "--models" in capsys.readouterr().err


def test_progress_bar_redraws_in_place_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    bar = ProgressBar(stream)
    for done in range(201):
        bar(done, 200)
    text = stream.getvalue()
    assert text.count("\r") == 101  # once per percent, 0 to 100
    assert text.endswith("100%  200/200 commands\n")
