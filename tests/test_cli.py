"""The ``etmad`` command line, run as a user runs it: a subprocess with files and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from adapters.command_schema import CommandValidator, command_schema

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT.parent / "shared" / "examples" / "apply-sample.jsonl"
MODEL = {
    "manufacturer": "ACME",
    "model": "E100",
    "hardware_version": "2.0",
    "firmware_version": "0103",
}


def etmad(
    *args: str, stdin: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "adapters.cli.main", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        check=False,
        timeout=120,
    )


def lines(text: str) -> list[Any]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def write(path: Path, commands: list[object]) -> Path:
    path.write_text("".join(json.dumps(c) + "\n" for c in commands))
    return path


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store' / 'etmad.sqlite'}"


def test_apply_prints_one_line_per_command_and_exits_0(sqlite_url):
    if not SAMPLE.exists():
        pytest.skip(f"shared example not found at {SAMPLE}")
    done = etmad("apply", "--store", sqlite_url, str(SAMPLE))
    assert done.returncode == 0, done.stderr
    out = lines(done.stdout)
    assert [o["command"] for o in out] == [
        "RegisterDeviceModel",
        "RegisterDevice",
        "RecordCommissioning",
        "RecordSupplierChange",
        "AssessEligibility",
        "BulkGate",
    ]
    assert all(o["ok"] for o in out)
    assert out[4]["result"]["reasons"][0]["code"] == "PENDING_CHANGE_OF_SUPPLIER"


def test_state_persists_between_runs_on_sqlite(tmp_path, sqlite_url):
    write(
        tmp_path / "a.jsonl",
        [
            {
                "command": "RegisterDeviceModel",
                "model": MODEL,
                "device_type": "ESME",
                "smets": "SMETS2+",
                "firmware_rank": 1,
            }
        ],
    )
    write(tmp_path / "b.jsonl", [{"command": "ShowModel", "model": MODEL}])
    assert etmad("apply", "--store", sqlite_url, str(tmp_path / "a.jsonl")).returncode == 0
    shown = etmad("apply", "--store", sqlite_url, str(tmp_path / "b.jsonl"))
    assert shown.returncode == 0
    assert lines(shown.stdout)[0]["result"]["firmware_rank"] == 1


def test_a_rejected_command_exits_1_and_processing_continues(tmp_path):
    path = write(
        tmp_path / "c.jsonl",
        [
            {
                "command": "RecordCommissioning",
                "device_id": "00-DB-12-34-56-78-90-A0",
                "at": "2023-01-01T00:00:00Z",
            },
            {
                "command": "RegisterDeviceModel",
                "model": MODEL,
                "device_type": "ESME",
                "smets": "SMETS2+",
                "firmware_rank": 1,
            },
        ],
    )
    done = etmad("apply", "--store", "memory:", str(path))
    assert done.returncode == 1
    first, second = lines(done.stdout)
    assert first == {
        "ok": False,
        "command": "RecordCommissioning",
        "error": {
            "code": "UNKNOWN_DEVICE",
            "message": "no Device 00-DB-12-34-56-78-90-A0 is registered",
        },
    }
    assert second["ok"] is True


def test_schema_violations_are_rejected_with_every_problem(tmp_path):
    path = write(tmp_path / "d.jsonl", [{"command": "RecordCommissioning", "device_id": "nope"}])
    done = etmad("apply", "--store", "memory:", str(path))
    assert done.returncode == 1
    error = lines(done.stdout)[0]["error"]
    assert error["code"] == "INVALID_COMMAND"
    assert "'at' is a required property" in error["message"]
    assert "device_id" in error["message"]


def test_unreadable_input_exits_2(tmp_path):
    missing = etmad("apply", "--store", "memory:", str(tmp_path / "missing.jsonl"))
    assert missing.returncode == 2
    assert "no such file" in missing.stderr
    assert "Traceback" not in missing.stderr
    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    assert etmad("apply", "--store", "memory:", str(binary)).returncode == 2
    malformed = etmad("apply", "--store", "memory:", "-", stdin='{"command": \n[1]\n')
    assert malformed.returncode == 2
    assert [o["error"]["code"] for o in lines(malformed.stdout)] == ["MALFORMED_JSON"] * 2


def test_stdin_comments_and_blank_lines():
    done = etmad(
        "apply",
        "--store",
        "memory:",
        "-",
        stdin='# a comment\n\n{"command": "RegisterDeviceModel", "model": '
        + json.dumps(MODEL)
        + ', "device_type": "ESME", "smets": "SMETS2+", "firmware_rank": 0}\n',
    )
    assert done.returncode == 0
    assert len(lines(done.stdout)) == 1


def test_bad_store_and_settings_are_reported_without_a_traceback(tmp_path):
    path = write(tmp_path / "e.jsonl", [])
    bad_store = etmad("apply", "--store", "mysql://x", str(path))
    assert bad_store.returncode == 2
    assert "unknown store" in bad_store.stderr
    assert "Traceback" not in bad_store.stderr
    too_many = etmad("apply", "--store", "memory:", "--bulk-migration-number", "301", str(path))
    assert too_many.returncode == 2
    assert "INVALID_BULK_MIGRATION_NUMBER" in too_many.stderr


def test_help_teaches_the_verbs():
    done = etmad("--help")
    assert done.returncode == 0
    for verb in ("apply", "schema", "demo", "log"):
        assert verb in done.stdout
    assert "sqlite:///var/etmad.sqlite" in done.stdout


def test_log_prints_canonical_events_in_order(sqlite_url):
    if not SAMPLE.exists():
        pytest.skip(f"shared example not found at {SAMPLE}")
    assert etmad("apply", "--store", sqlite_url, str(SAMPLE)).returncode == 0
    log = lines(etmad("log", "--store", sqlite_url).stdout)
    assert [e["notification_id"] for e in log] == list(range(1, len(log) + 1))
    assert log[-1]["type"] == "etmad.device.Commissioned.v1"
    assert log[-1]["data"] == {"occurred_at": "2023-03-01T09:30:00+00:00"}
    printed = etmad("log", "--store", sqlite_url, "--limit", "2").stdout.splitlines()
    assert len(printed) == 2
    # canonical: sorted keys, no insignificant white space
    assert printed[0] == json.dumps(
        json.loads(printed[0]), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )


def test_published_schema_is_the_one_the_cli_prints():
    published = json.loads((ROOT / "docs" / "commands.schema.json").read_text())
    assert published == command_schema(), "run: etmad schema > docs/commands.schema.json"


def test_schema_accepts_the_shared_sample_and_refuses_bad_shapes():
    validator = CommandValidator()
    if SAMPLE.exists():
        for line in SAMPLE.read_text().splitlines():
            assert validator.problems(json.loads(line)) == []
    assert validator.problems(
        {
            "command": "RegisterDevice",
            "device_id": "00DB1234567890A0",
            "device_type": "TOASTER",
            "model": MODEL,
        }
    )
    assert validator.problems(
        {
            "command": "AssessEligibility",
            "device_id": "00-DB-12-34-56-78-90-A0",
            "at": "2023-07-10T12:00:00",
        }
    )  # no offset
