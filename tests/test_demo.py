"""``etmad demo``: a generated estate runs through the migration programme, and what the summary
says adds up and tells the story of the issue.

The estate is small (300 Devices over 12 Device Models) and the programme short (30 days): long
enough for the pilot, proving, the 1.6 decision, the ramp-up and the first models at the last
ramp-up step (bulk, 28 days after the decision). The programme runs once in memory for the
module, once more to show that the same seed gives the same summary, and the command line runs
a smaller one on a SQLite file.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import attrs
import pytest

from adapters.bootstrap import build_application
from adapters.cli.main import main
from adapters.command_schema import CommandValidator
from adapters.demo import (
    GO_LIVE,
    DemoEstate,
    DemoReport,
    ProgressBar,
    generate_estate,
    load_estate,
    render,
)
from adapters.demo_programme import (
    DayProgress,
    DeviceStatus,
    ProgrammeDay,
    ScenarioKind,
    Stage,
    run_programme_demo,
    summarise_programme,
)
from application.programme import DayReport
from application.selection import aggregates_with
from application.service import EtmadApplication, close_application
from application.settings import Settings
from domain.failures import FailureCode
from domain.identifiers import MPAN, DeviceModelKey, DeviceType, SmetsGeneration
from domain.migration import Migration, MigrationCompleted, SeriesStarted

SEED = 11
DEVICES, MODELS, DAYS = 300, 12, 30


@pytest.fixture(scope="module")
def estate() -> DemoEstate:
    return generate_estate(SEED, DEVICES, MODELS, start=GO_LIVE, days=DAYS)


def run_demo_api(app: EtmadApplication, estate: DemoEstate, store: str) -> DemoReport:
    """What ``etmad demo`` does, through the modules' functions, on ``app``."""
    load = load_estate(app, estate.commands)
    run = run_programme_demo(app, start=GO_LIVE, days=DAYS, seed=SEED, scenarios=estate.scenarios)
    summary = summarise_programme(app, run, scenarios=estate.scenarios, store=store)
    return DemoReport(
        seed=SEED,
        load=load,
        scenarios=estate.scenario_counts(),
        programme_seconds=run.seconds,
        summary=summary,
    )


@attrs.frozen
class Ran:
    app: EtmadApplication  # the store, kept open for the module's tests to read
    report: DemoReport
    data: dict[str, Any]  # the report as ``--json`` prints it


@pytest.fixture(scope="module")
def ran(estate: DemoEstate) -> Iterator[Ran]:
    app = build_application("memory:", settings=Settings())
    try:
        report = run_demo_api(app, estate, "memory:")
        yield Ran(app, report, json.loads(json.dumps(report.to_json())))
    finally:
        close_application(app)


def models_simulated_as(data: dict[str, Any], kind: ScenarioKind) -> list[dict[str, Any]]:
    return [m for m in data["models"] if m["simulated"]["kind"] == str(kind)]


# --- the generated estate ---------------------------------------------------------------------


def test_the_same_seed_gives_the_same_estate_and_another_seed_another(estate):
    assert generate_estate(SEED, DEVICES, MODELS, start=GO_LIVE, days=DAYS) == estate
    assert generate_estate(SEED + 1, DEVICES, MODELS, start=GO_LIVE, days=DAYS) != estate


def test_the_estate_is_the_one_before_the_programme(estate):
    names = Counter(c["command"] for c in estate.commands)
    assert names["RegisterDeviceModel"] == MODELS
    assert DEVICES <= names["RegisterDevice"] < DEVICES + 10  # whole premises until 300
    for expected in (
        "RecordCommissioning",
        "RecordSupplierChange",
        "RaiseTechnicalIssue",
        "ClearTechnicalIssue",
        "UpgradeFirmware",
    ):
        assert names[expected] >= 1, expected
    # The programme proves, starts, migrates and categorises: the estate does none of it.
    for programme in (
        "RecordCredentialsReplaced",
        "RecordSrv623Processed",
        "RecordMigrationStarted",
        "AuthoriseBulkMigration",
        "CategoriseNonMigratable",
        "SuspendModel",
    ):
        assert names[programme] == 0, programme
    models = [c for c in estate.commands if c["command"] == "RegisterDeviceModel"]
    assert {c["smets"] for c in models} == {"SMETS1", "SMETS2+"}
    assert any(c["firmware_rank"] > 1 for c in models)  # later-firmware siblings
    devices = [c for c in estate.commands if c["command"] == "RegisterDevice"]
    assert {c["device_type"] for c in devices} == {"CHF", "GPF", "ESME", "GSME"}
    assert {c["cos_party"] for c in devices} == {"TCoS", "ECoS"}  # some new ECoS stock


def test_changes_of_supplier_and_issue_clearances_fall_before_and_during_the_programme(estate):
    start = f"{GO_LIVE.isoformat()}T00:00:00+00:00"
    changes = [
        c["effective_from"] for c in estate.commands if c["command"] == "RecordSupplierChange"
    ]
    assert any(at < start for at in changes)
    assert any(at >= start for at in changes)  # pending at go-live, or later in the programme
    cleared = [c["at"] for c in estate.commands if c["command"] == "ClearTechnicalIssue"]
    assert any(at >= start for at in cleared)


def test_the_scenarios_script_two_rejecting_models_one_failing_srv623_and_a_flaky_slice(estate):
    kinds = estate.scenario_counts()
    assert kinds[ScenarioKind.REJECTS_REPLACEMENT] == 2
    assert kinds[ScenarioKind.FAILS_SRV623] == 1
    assert kinds[ScenarioKind.FLAKY] >= 1
    assert sum(kinds.values()) == MODELS
    rejecting = [
        s.behaviour.status
        for s in estate.scenarios.values()
        if s.kind is ScenarioKind.REJECTS_REPLACEMENT
    ]
    assert len(set(rejecting)) == 2
    registered = {
        DeviceModelKey.from_json(c["model"]): c
        for c in estate.commands
        if c["command"] == "RegisterDeviceModel"
    }
    assert set(estate.scenarios) == set(registered)
    for key, scenario in estate.scenarios.items():
        if scenario.kind in {ScenarioKind.REJECTS_REPLACEMENT, ScenarioKind.FAILS_SRV623}:
            assert registered[key]["smets"] == str(SmetsGeneration.SMETS2_PLUS)
            assert registered[key]["device_type"] in {str(DeviceType.ESME), str(DeviceType.GSME)}
    other = generate_estate(SEED + 1, DEVICES, MODELS, start=GO_LIVE, days=DAYS)
    assert other.scenarios != estate.scenarios


def test_every_generated_command_conforms_to_the_published_schema(estate):
    validator = CommandValidator()
    assert [(c, p) for c in estate.commands if (p := validator.problems(c))] == []


def test_every_generated_mpan_has_a_valid_check_digit(estate):
    mpans = [c["mpxn"] for c in estate.commands if len(c.get("mpxn", "")) == 13]
    assert mpans
    assert all(MPAN.parse(m).has_valid_check_digit for m in mpans)


def test_the_generator_refuses_an_estate_too_small_to_tell_the_story():
    with pytest.raises(ValueError, match="Device Models"):
        generate_estate(SEED, DEVICES, 3)
    with pytest.raises(ValueError, match="Devices"):
        generate_estate(SEED, 5, MODELS)


# --- the programme and its summary ------------------------------------------------------------


def test_the_estate_loads_without_a_rejection(ran, estate):
    assert ran.report.load.rejected == 0, ran.report.load.rejections
    assert ran.data["estate"]["applied"] == len(estate.commands)


def test_the_summary_numbers_add_up(ran, estate):
    d = ran.data["devices"]
    registered = sum(1 for c in estate.commands if c["command"] == "RegisterDevice")
    assert d["devices"] == registered == ran.data["estate"]["devices"]
    assert sum(d[str(s)] for s in DeviceStatus) == registered
    assert sum(d["failed_by_code"].values()) == d["failed"]
    reasons = [r["devices"] for r in d["ineligible_by_reason"].values()]
    assert all(n <= d["ineligible"] for n in reasons)
    assert sum(reasons) >= d["ineligible"] > 0
    for status in DeviceStatus:  # every Device is counted on exactly one model
        assert sum(m[str(status)] for m in ran.data["models"]) == d[str(status)]
    assert sum(m["devices"] for m in ran.data["models"]) == registered
    # A Device migrates once: the days' migrations are the Devices migrated at the end.
    days = ran.data["days"]
    totals = ran.data["totals"]
    assert len(days) == totals["days"] == DAYS
    assert sum(day["programme"]["succeeded"] for day in days) == totals["succeeded"]
    assert totals["succeeded"] == d["migrated"]
    assert days[-1]["migrated_to_date"] == d["migrated"]
    assert ran.data["events"] > 0


def test_the_summary_agrees_with_an_independent_count_from_the_store(ran):
    completed = set(aggregates_with(ran.app, MigrationCompleted.TYPE))
    started = set(aggregates_with(ran.app, SeriesStarted.TYPE))
    d = ran.data["devices"]
    assert len(completed) == d["migrated"]
    assert len(started) == d["migrated"] + d["failed"] + d["in_progress"]


def test_the_rejecting_models_devices_failed_with_replacement_rejected(ran):
    rejecting = models_simulated_as(ran.data, ScenarioKind.REJECTS_REPLACEMENT)
    assert len(rejecting) == 2
    for m in rejecting:
        assert m["migrated"] == 0
        assert m["failed"] > 0
        assert m["failed_by_code"] == {"REPLACEMENT_REJECTED": m["failed"]}
    keys = {DeviceModelKey.from_json(m["model"]) for m in rejecting}
    migrations = [
        ran.app.load(aggregate_id, Migration.create)
        for aggregate_id in aggregates_with(ran.app, SeriesStarted.TYPE)
    ]
    theirs = [m for m in migrations if m is not None and m.current_series.model in keys]
    assert len(theirs) == sum(m["failed"] for m in rejecting)
    for migration in theirs:
        assert not migration.succeeded
        assert {f.failure.code for f in migration.failures} == {FailureCode.REPLACEMENT_REJECTED}


def test_a_model_was_proven_authorised_by_policy_and_ramped_up_to_bulk(ran):
    pilot = ran.data["selection"]["pilot_size"]
    ramped = [
        m
        for m in ran.data["models"]
        if m["proven"]
        and m["authorised_by"] == "policy"
        and m["stage"] == str(Stage.BULK)
        and m["migrated"] > pilot
    ]
    assert ramped
    assert all(m["authorised_on"] == GO_LIVE.isoformat() for m in ramped)  # proven on day 1
    days = ran.data["days"]
    assert days[0]["stages"][str(Stage.PILOT)] == MODELS  # the first day: every model's pilot
    assert days[1]["stages"][str(Stage.RAMP_UP)] >= len(ramped)
    assert days[-1]["stages"][str(Stage.BULK)] >= len(ramped)
    assert ran.data["totals"]["srv623"]["processed"] > 0


def test_non_migratable_candidates_are_categorised_by_the_dcc(ran):
    rejecting = models_simulated_as(ran.data, ScenarioKind.REJECTS_REPLACEMENT)
    for m in rejecting:
        assert m["non_migratable_proposed_on"] is not None
        assert m["non_migratable_on"] >= m["non_migratable_proposed_on"]
        assert "non-migratable-candidate-rule" in m["non_migratable_rationale"]
        assert m["stage"] == str(Stage.NON_MIGRATABLE)
        assert m["remaining"] == 0  # the rest of their Devices: Ineligible, 1.4(a)
    by_reason = ran.data["devices"]["ineligible_by_reason"]
    assert by_reason["NON_MIGRATABLE_MODEL"]["clause"] == "ETMAD 1.4(a)"
    assert by_reason["NON_MIGRATABLE_MODEL"]["devices"] >= sum(m["ineligible"] for m in rejecting)
    assert ran.data["totals"]["categorised_non_migratable"] >= len(rejecting)


def test_the_model_failing_srv623_migrates_and_its_srv623s_are_recorded_failed(ran):
    [failing] = models_simulated_as(ran.data, ScenarioKind.FAILS_SRV623)
    assert failing["migrated"] > 0
    assert not failing["proven"]  # no SRV 6.23 succeeded on it: never proven, never authorised
    assert failing["stage"] in {str(Stage.PILOT), str(Stage.NON_MIGRATABLE)}
    assert ran.data["totals"]["srv623"]["failed"] > 0


def test_the_summary_names_the_store_and_reads_as_text(ran):
    assert ran.data["store"] == "memory:"
    assert ran.data["store_path"] is None
    text = render(ran.report)
    assert "store      memory:  (in memory: gone when the command ends)" in text
    for heading in (
        "Devices at the end of the programme",
        "The programme week by week",
        "Milestones",
        "Device Models at the end",
        f"Totals over the {DAYS} days",
    ):
        assert heading in text
    assert "REPLACEMENT_REJECTED" in text
    assert "categorised Non-Migratable by the DCC" in text


def test_the_same_seed_gives_the_same_summary(ran, estate):
    app = build_application("memory:", settings=Settings())
    try:
        again = run_demo_api(app, estate, "memory:").to_json()
    finally:
        close_application(app)
    first = dict(ran.data)
    first.pop("timings")  # the one thing that varies
    again.pop("timings")
    assert json.loads(json.dumps(again)) == first


def test_without_the_policy_the_scripted_dcc_authorises_as_an_operator():
    small = generate_estate(SEED, 60, 6, start=GO_LIVE, days=2)
    app = build_application("memory:", settings=Settings(auto_authorise_bulk=False))
    try:
        load_estate(app, small.commands)
        run = run_programme_demo(app, start=GO_LIVE, days=2, seed=SEED, scenarios=small.scenarios)
        summary = summarise_programme(app, run, scenarios=small.scenarios)
    finally:
        close_application(app)
    authorised = [m for m in summary.models if m.authorised]
    assert authorised
    assert not any(m.by_policy for m in authorised)
    assert {str(m.stage) for m in authorised} <= {"pilot", "ramp_up"}


# --- the command line -------------------------------------------------------------------------

SMALL = ["--devices", "60", "--models", "6", "--seed", str(SEED)]


def test_demo_runs_on_sqlite_with_progress_and_refuses_to_run_twice(tmp_path: Path, capsys):
    path = tmp_path / "demo.sqlite"
    url = f"sqlite:///{path}"
    assert main(["demo", "--store", url, "--days", "1", *SMALL]) == 0
    first = capsys.readouterr()
    assert "loading: 100%" in first.err  # a line per tenth when not a terminal
    assert "programme: day 1/1 2023-07-05: " in first.err
    assert "etmad demo: a 1-day ECoS Migration programme" in first.out
    assert f"store      {url}  ({path.resolve()})" in first.out

    assert main(["demo", "--store", url, "--days", "1", *SMALL]) == 2
    refused = capsys.readouterr()
    assert "--fresh" in refused.err
    assert refused.out == ""

    assert main(["demo", "--store", url, "--days", "0", "--fresh", "--json", *SMALL]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["store_path"] == str(path.resolve())
    assert data["days"] == []
    assert data["devices"]["remaining"] > 0  # nothing started yet


def test_demo_json_from_another_day_parses(capsys):
    args = ["demo", "--store", "memory:", "--json", "--days", "1", "--from", "2024-01-08"]
    assert main([*args, *SMALL]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["start"] == "2024-01-08"
    assert [d["day"] for d in data["days"]] == ["2024-01-08"]
    assert data["estate"]["rejected"] == 0
    assert data["seed"] == SEED
    assert data["store_path"] is None
    d = data["devices"]
    assert sum(d[str(s)] for s in DeviceStatus) == d["devices"]


def test_demo_refuses_arguments_out_of_range(capsys):
    assert main(["demo", "--store", "memory:", "--models", "3"]) == 2
    assert "--models" in capsys.readouterr().err
    assert main(["demo", "--store", "memory:", "--days", "-1"]) == 2
    assert "--days" in capsys.readouterr().err


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_redraws_in_place_on_a_terminal():
    stream = Terminal()
    bar = ProgressBar(stream)
    for done in range(201):
        bar(done, 200)
    text = stream.getvalue()
    assert text.count("\r") == 101  # once per percent, 0 to 100
    assert text.endswith("100%  200/200 commands\n")


def test_day_progress_redraws_one_bar_on_a_terminal_and_writes_lines_elsewhere():
    def day(number: int, migrated: int) -> ProgrammeDay:
        report = DayReport(day=date(2023, 7, 4 + number), succeeded=10)
        return ProgrammeDay(number=number, report=report, migrated_to_date=migrated)

    terminal, log = Terminal(), io.StringIO()
    for stream in (terminal, log):
        progress = DayProgress(stream, days=3, devices=100)
        for n in (1, 2, 3):
            progress(day(n, 10 * n))
    assert terminal.getvalue().count("\r") == 3
    assert terminal.getvalue().endswith("day 3/3 2023-07-07  30 of 100 Devices migrated\n")
    assert "#" * DayProgress.WIDTH in terminal.getvalue()
    lines = log.getvalue().splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("programme: day 1/3 2023-07-05: 10 of 100 Devices migrated")
