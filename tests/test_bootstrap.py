"""The composition root: stores by URL, settings from the environment, and nothing else."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

from adapters.bootstrap import (
    ConfigurationError,
    StoreLocation,
    build_application,
    settings_from_env,
)
from application.commands import execute
from application.service import close_application
from application.settings import Settings
from domain.programme_policies import SuspensionRule
from domain.selection import SelectionParameters
from tests.test_cli import etmad, write


def test_store_urls():
    assert StoreLocation.parse("memory:").kind == "memory"
    assert StoreLocation.parse("sqlite:///var/etmad.sqlite").path == Path("var/etmad.sqlite")
    assert StoreLocation.parse("sqlite:////srv/etmad.sqlite").path == Path("/srv/etmad.sqlite")
    for bad in ("sqlite:///", "mysql://x", "postgresql://localhost/etmad", ""):
        with pytest.raises(ConfigurationError):
            StoreLocation.parse(bad)


def test_the_process_environment_cannot_move_the_event_store(tmp_path, monkeypatch):
    # eventsourcing would read ETMAD_SQLITE_DBNAME (application name + setting) from the
    # environment; the composition root's store URL must be the only say.
    elsewhere = tmp_path / "elsewhere.sqlite"
    monkeypatch.setenv("ETMAD_SQLITE_DBNAME", str(elsewhere))
    monkeypatch.setenv("PERSISTENCE_MODULE", "eventsourcing.popo")
    chosen = tmp_path / "chosen.sqlite"
    app = build_application(f"sqlite:///{chosen}", settings=Settings())
    try:
        model = {
            "manufacturer": "A",
            "model": "B",
            "hardware_version": "1",
            "firmware_version": "1",
        }
        assert execute(
            app,
            {
                "command": "RegisterDeviceModel",
                "model": model,
                "device_type": "ESME",
                "smets": "SMETS2+",
                "firmware_rank": 1,
            },
        ).ok
    finally:
        close_application(app)
    assert chosen.exists()
    assert not elsewhere.exists()


def test_settings_from_the_environment():
    settings = settings_from_env(
        {
            "ETMAD_BULK_MIGRATION_NUMBER": "120",
            "ETMAD_AUTO_AUTHORISE_BULK": "false",
            "ETMAD_MPAN_CHECK_DIGIT": "relaxed",
            "ETMAD_RECENT_CHANGE_OF_SUPPLIER_DAYS": "10",
            "ETMAD_PENDING_CHANGE_OF_SUPPLIER_DAYS": "21",
            "ETMAD_RECENT_COMMISSIONING_DAYS": "3",
        }
    )
    assert settings.bulk_migration_number == 120
    assert settings.auto_authorise_bulk is False
    assert settings.mpan_check_digit is False
    assert settings.eligibility.recent_change_of_supplier.days == 10
    assert settings.eligibility.pending_change_of_supplier.days == 21
    assert settings.eligibility.recent_commissioning.days == 3
    assert settings_from_env({}) == Settings()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ETMAD_BULK_MIGRATION_NUMBER", "many"),
        ("ETMAD_AUTO_AUTHORISE_BULK", "perhaps"),
        ("ETMAD_MPAN_CHECK_DIGIT", "lenient"),
        ("ETMAD_RECENT_COMMISSIONING_DAYS", "-1"),
        ("ETMAD_PENDING_CHANGE_OF_SUPPLIER_DAYS", "two weeks"),
    ],
)
def test_bad_settings_are_refused_with_their_name(name, value):
    with pytest.raises(ConfigurationError) as raised:
        settings_from_env({name: value})
    assert name in raised.value.message


# --- the programme's settings -------------------------------------------------------------------

PROGRAMME_ENV = {
    "ETMAD_RESELECT_AFTER_DAYS": "3",
    "ETMAD_AUTO_SUSPEND": "off",
    "ETMAD_DAILY_CAPACITY": "2500",
    "ETMAD_PILOT_SIZE": "10",
    "ETMAD_RAMP_UP": "0:25, 7:100 ,14:500",
    "ETMAD_AGGREGATE_CACHE_SIZE": "50000",
    "ETMAD_SUSPENSION_WINDOW_HOURS": "12",
    "ETMAD_SUSPENSION_MIN_ATTEMPTS": "40",
    "ETMAD_SUSPENSION_RATIO": "0.25",
}


def test_the_programme_settings_from_the_environment():
    settings = settings_from_env(PROGRAMME_ENV)
    assert settings.reselect_after == timedelta(days=3)
    assert settings.auto_suspend is False
    assert settings.selection == SelectionParameters(
        daily_capacity=2500, pilot_size=10, ramp_up=((0, 25), (7, 100), (14, 500))
    )
    assert settings.aggregate_cache_size == 50_000
    assert settings.suspension_rule == SuspensionRule(
        window=timedelta(hours=12), minimum_completed=40, failure_ratio=0.25
    )
    # Each left unset, or set empty, keeps its default; the others are unchanged.
    defaults = Settings()
    assert settings.non_migratable_candidate_rule == defaults.non_migratable_candidate_rule
    assert settings_from_env(dict.fromkeys(PROGRAMME_ENV, "")) == defaults
    only_ratio = settings_from_env({"ETMAD_SUSPENSION_RATIO": "1"}).suspension_rule
    assert only_ratio == attrs.evolve(defaults.suspension_rule, failure_ratio=1.0)
    only_pilot = settings_from_env({"ETMAD_PILOT_SIZE": "0"}).selection
    assert only_pilot == attrs.evolve(defaults.selection, pilot_size=0)


def test_the_programme_runs_on_the_parameters_from_the_environment():
    env = {"ETMAD_DAILY_CAPACITY": "2500", "ETMAD_RAMP_UP": "0:10,3:40"}
    app = build_application("memory:", settings=settings_from_env(env))
    try:
        shown: Any = execute(app, {"command": "ShowProgramme", "at": "2023-07-10T00:00:00Z"})
    finally:
        close_application(app)
    assert shown.ok
    assert shown.result["parameters"] == {
        "daily_capacity": 2500,
        "pilot_size": 20,
        "ramp_up": [[0, 10], [3, 40]],
    }


@pytest.mark.parametrize(
    ("name", "value", "expects"),
    [
        ("ETMAD_RESELECT_AFTER_DAYS", "-1", "cannot be negative"),
        ("ETMAD_RESELECT_AFTER_DAYS", "a week", "expected a whole number of days"),
        ("ETMAD_AUTO_SUSPEND", "sometimes", "expected true or false"),
        ("ETMAD_DAILY_CAPACITY", "-5", "cannot be negative"),
        ("ETMAD_DAILY_CAPACITY", "1_000", "expected a whole number of Devices a day"),
        ("ETMAD_PILOT_SIZE", "2.5", "expected a whole number of Devices"),
        ("ETMAD_RAMP_UP", "50,200", "expected days:daily cap steps"),
        ("ETMAD_RAMP_UP", "0:50,7:-1", "expected days:daily cap steps"),
        ("ETMAD_RAMP_UP", "0:50,", "expected days:daily cap steps"),
        ("ETMAD_AGGREGATE_CACHE_SIZE", "0", "expected a whole number of aggregates from 1"),
        ("ETMAD_AGGREGATE_CACHE_SIZE", "lots", "expected a whole number of aggregates"),
        ("ETMAD_SUSPENSION_WINDOW_HOURS", "0", "expected a whole number of hours from 1"),
        ("ETMAD_SUSPENSION_WINDOW_HOURS", "1.5", "expected a whole number of hours"),
        ("ETMAD_SUSPENSION_MIN_ATTEMPTS", "0", "from 1"),
        ("ETMAD_SUSPENSION_RATIO", "half", "expected a decimal number above 0, at most 1"),
        ("ETMAD_SUSPENSION_RATIO", "-0.5", "expected a decimal number above 0, at most 1"),
    ],
)
def test_bad_programme_settings_are_refused_with_their_name_and_what_they_expect(
    name, value, expects
):
    with pytest.raises(ConfigurationError) as raised:
        settings_from_env({name: value})
    assert raised.value.message.startswith(f"{name}={value!r}: ")
    assert expects in raised.value.message


@pytest.mark.parametrize(
    ("name", "value", "expects", "clause"),
    [
        ("ETMAD_PILOT_SIZE", "301", "pilot_size must be a whole number from 0 to 300", "6.1(a)"),
        ("ETMAD_RAMP_UP", "1:50,7:200", "ramp_up must start at day 0", "6.1(a)"),
        ("ETMAD_RAMP_UP", "0:50,7:200,7:300", "days strictly increasing", "6.1(a)"),
        ("ETMAD_SUSPENSION_RATIO", "0", "failure_ratio must be above 0 and at most 1", "6.1(d)"),
        ("ETMAD_SUSPENSION_RATIO", "1.5", "failure_ratio must be above 0 and at most 1", "6.1(d)"),
    ],
)
def test_values_the_rules_refuse_are_refused_with_the_variable_and_the_rule_s_clause(
    name, value, expects, clause
):
    with pytest.raises(ConfigurationError) as raised:
        settings_from_env({name: value})
    assert raised.value.code == "CONFIGURATION_ERROR"
    assert raised.value.message.startswith(f"{name}={value!r}: ")
    assert expects in raised.value.message
    assert raised.value.clause == f"ETMAD {clause}"


def test_a_bad_programme_setting_stops_the_command_line_before_anything_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("ETMAD_RAMP_UP", "7:200")
    commands = write(
        tmp_path / "show.jsonl", [{"command": "ShowProgramme", "at": "2023-07-10T00:00:00Z"}]
    )
    done = etmad("apply", "--store", "memory:", str(commands))
    assert done.returncode == 2
    assert done.stdout == ""
    assert "ETMAD_RAMP_UP='7:200': ramp_up must start at day 0" in done.stderr
    assert "[CONFIGURATION_ERROR]" in done.stderr
