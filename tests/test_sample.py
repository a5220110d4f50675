"""The shared example of the command interface gives its documented output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from application.commands import execute
from application.service import EtmadApplication

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "examples" / "apply-sample.jsonl"


def test_sample_fifth_line_is_the_documented_pending_change(app: EtmadApplication):
    lines = SAMPLE.read_text().splitlines() if SAMPLE.exists() else []
    if not lines:
        pytest.skip(f"shared example not found at {SAMPLE}")
    results = [execute(app, json.loads(line)).to_json() for line in lines]
    assert all(r["ok"] for r in results)
    assert results[4] == {
        "ok": True,
        "command": "AssessEligibility",
        "events": [],
        "result": {
            "device_id": "00-DB-12-34-56-78-90-A0",
            "as_of": "2023-07-10T12:00:00+00:00",
            "eligible": False,
            "reasons": [
                {
                    "code": "PENDING_CHANGE_OF_SUPPLIER",
                    "clause": "ETMAD 1.4(b)",
                    "detail": "change of supplier to SUPA effective 2023-07-20 (in 10 days)",
                }
            ],
        },
    }
    assert results[5]["result"] == {
        "proven": False,
        "proven_by": None,
        "authorised": False,
        "cap": 300,
        "migrations_started": 0,
        "may_start": True,
    }
