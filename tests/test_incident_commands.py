"""The DCC's decisions on what the programme policies propose and on incidents, as an operator
sends them through ``etmad apply``: dismissing a Non-Migratable candidate (DOMAIN 4.2,
``ETMAD 6.1(e)``), a Party's request to raise an ECoS Migration Incident about one Device
(``ETMAD 3.7(f)``), and reading the incidents recorded (``ETMAD 3.7(d)``-``(g)``)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from adapters.cli.apply import apply_lines
from adapters.command_schema import CommandValidator
from application.serialization import to_primitive
from application.service import EtmadApplication
from domain import clauses
from domain.identifiers import DeviceModelKey
from tests.builders import (
    eui,
    register_device,
    register_model,
    rejected_unchanged,
    show_model,
    stored_events,
)
from tests.conftest import Runner
from tests.test_cli import lines
from tests.test_process_managers import AT, MINUTE, attempt, attempts, model, pull, register

DCC = "DCC migration board"
SUPPLIER = "SUPPLIER-A"
A, B, C = model(1), model(2), model(3)


def key(of: DeviceModelKey) -> Any:
    return to_primitive(of)


def at(minutes: int) -> str:
    return (AT + minutes * MINUTE).isoformat()


def ok(run: Runner, name: str, **fields: Any) -> Any:
    """An accepted command's output line, as ``etmad apply`` writes it."""
    return run.ok(name, **fields).to_json()


# --- DismissNonMigratableCandidate ------------------------------------------------------------


@pytest.fixture
def proposed(app: EtmadApplication) -> DeviceModelKey:
    """Model A, proposed a Non-Migratable candidate at ``AT + 4 min``: five of its Devices
    rejected the credentials replacement with badCertificate, none replaced them."""
    register(app, A)
    attempts(app, A, 5, "bad_certificate")
    pull(app)
    return A


def test_the_dcc_dismisses_a_proposed_candidate(run: Runner, proposed: DeviceModelKey):
    candidate = show_model(run, key(proposed))["candidate"]
    assert candidate == {
        "at": at(4),
        "devices_rejected": 5,
        "devices_failed_srv623_after_migration": 0,
        "rule": "non-migratable-candidate-rule.v1",
    }
    dismissed = ok(
        run,
        "DismissNonMigratableCandidate",
        model=key(proposed),
        at=at(60),
        decided_by=DCC,
        rationale="one batch of faulty ECoS certificates, since replaced",
    )
    assert dismissed == {
        "ok": True,
        "command": "DismissNonMigratableCandidate",
        "events": [
            {
                "aggregate_id": "device-model:ACME/M1/1.0/0100",
                "version": 3,
                "type": "etmad.device_model.NonMigratableCandidateDismissed.v1",
                "data": {
                    "occurred_at": at(60),
                    "decided_by": DCC,
                    "rationale": "one batch of faulty ECoS certificates, since replaced",
                    "clause": "ETMAD 6.1(e)",
                },
            }
        ],
        "result": {},
    }
    shown = show_model(run, key(proposed))
    assert shown["candidate"] is None  # dismissed: no proposal stands
    assert shown["last_candidacy"] == candidate  # the rule proposes again only on more
    assert shown["non_migratable"] is None  # a dismissal categorises nothing

    # Nothing stands to dismiss any more; more evidence proposes the model again.
    error = rejected_unchanged(
        run,
        "DismissNonMigratableCandidate",
        "NO_CANDIDATE_PROPOSED",
        model=key(proposed),
        at=at(61),
        decided_by=DCC,
        rationale="again",
    ).error
    assert error is not None
    assert error["clause"] == clauses.ETMAD_6_1_E
    attempt(run.app, proposed, AT + 2 * 60 * MINUTE, "no_trust_anchor")
    pull(run.app)
    assert show_model(run, key(proposed))["candidate"]["devices_rejected"] == 6
    run.ok(
        "DismissNonMigratableCandidate",
        model=key(proposed),
        at=at(180),
        decided_by=DCC,
        rationale="the same batch",
    )


def test_dismissal_refusals(run: Runner, proposed: DeviceModelKey):
    fields = {"model": key(proposed), "at": at(60), "decided_by": DCC, "rationale": "why"}
    for name, value, code in [
        ("rationale", "  ", "RATIONALE_REQUIRED"),
        ("decided_by", "", "RATIONALE_REQUIRED"),
        ("model", key(B), "UNKNOWN_DEVICE_MODEL"),
        ("at", "2024-03-04T10:00:00", "INVALID_TIME"),
        ("rationale", 7, "INVALID_COMMAND"),
    ]:
        rejected_unchanged(run, "DismissNonMigratableCandidate", code, **{**fields, name: value})
    error = rejected_unchanged(
        run, "DismissNonMigratableCandidate", "RATIONALE_REQUIRED", **{**fields, "rationale": ""}
    ).error
    assert error is not None
    assert error["clause"] == clauses.ETMAD_6_1_E
    rejected_unchanged(
        run,
        "DismissNonMigratableCandidate",
        "INVALID_COMMAND",
        model=key(proposed),
        at=at(60),
        decided_by=DCC,
    )
    # A model the rule never proposed has nothing to dismiss.
    register(run.app, B)
    rejected_unchanged(
        run, "DismissNonMigratableCandidate", "NO_CANDIDATE_PROPOSED", **{**fields, "model": key(B)}
    )
    assert show_model(run, key(proposed))["candidate"] is not None


# --- RaisePartyIncident ---------------------------------------------------------------------


@pytest.fixture
def device(run: Runner) -> str:
    return register_device(run, eui(1), register_model(run))


def test_a_party_s_incident_about_one_device_is_refused_and_the_refusal_recorded(
    run: Runner, device: str
):
    refused = ok(
        run,
        "RaisePartyIncident",
        party=SUPPLIER,
        reference="INC-1",
        device_id=device,
        at=at(0),
        description="the migration of this meter failed twice",
    )
    reason = (
        f"{SUPPLIER} may not raise an ECoS Migration Incident about the failed steps of Device "
        f"{device}'s ECoS Migration: the Responsible Supplier is notified of them under the ETMAD"
    )
    assert refused["events"] == [
        {
            "aggregate_id": "incident:party/SUPPLIER-A/INC-1",
            "version": 1,
            "type": "etmad.incident.PartyIncidentRefused.v1",
            "data": {
                "occurred_at": at(0),
                "party": SUPPLIER,
                "about": device,
                "reference": "INC-1",
                "description": "the migration of this meter failed twice",
                "reason": reason,
                "code": "PARTY_INCIDENT_REFUSED",
                "clause": "ETMAD 3.7(f)",
            },
        }
    ]
    incident = {
        "incident_id": "party/SUPPLIER-A/INC-1",
        "kind": "party_refused",
        "at": at(0),
        "system": None,
        "category": None,
        "assigned_to": None,
        "party": SUPPLIER,
        "about": device,
        "reason": reason,
        "version": 1,
    }
    assert refused["result"] == incident
    shown = ok(run, "ShowIncident", incident="party/SUPPLIER-A/INC-1")
    assert shown["events"] == []
    assert shown["result"] == {**incident, "recorded": refused["events"]}

    # The same Party's reference is recorded once, refused or not.
    rejected_unchanged(
        run,
        "RaisePartyIncident",
        "INCIDENT_EXISTS",
        party=SUPPLIER,
        reference="INC-1",
        device_id=device,
        at=at(5),
        description="",
        required_by_error_handling=True,
    )
    # Another Party may use the same reference.
    run.ok(
        "RaisePartyIncident",
        party="SUPPLIER-B",
        reference="INC-1",
        device_id=device,
        at=at(5),
        description="",
    )


def test_a_party_s_incident_is_admitted_where_the_error_handling_approach_requires_it(
    run: Runner, device: str
):
    admitted = ok(
        run,
        "RaisePartyIncident",
        party="Supplier A",
        reference="INC 2/b",
        device_id=device,
        at=at(0),
        description="the Error Handling and Retry Approach requires it after the 3rd retry",
        required_by_error_handling=True,
    )
    [event] = admitted["events"]
    assert event["type"] == "etmad.incident.PartyIncidentAdmitted.v1"
    assert event["data"]["clause"] == clauses.ETMAD_3_7_F
    assert "code" not in event["data"]
    # The id percent-encodes the Party and its reference; ShowIncident takes it as given.
    incident_id = "party/Supplier%20A/INC%202%2Fb"
    assert event["aggregate_id"] == f"incident:{incident_id}"
    assert admitted["result"]["kind"] == "party_admitted"
    assert admitted["result"]["reason"] == (
        "required by the ECoS Migration Error Handling and Retry Approach"
    )
    assert run.result("ShowIncident", incident=incident_id)["kind"] == "party_admitted"
    assert run.result("ShowIncident", incident=f"incident:{incident_id}")["version"] == 1


def test_party_incident_refusals(run: Runner, device: str):
    fields = {
        "party": SUPPLIER,
        "reference": "INC-9",
        "device_id": device,
        "at": at(0),
        "description": "failed",
    }
    for name, value, code in [
        ("device_id", eui(2), "UNKNOWN_DEVICE"),
        ("party", "  ", "RATIONALE_REQUIRED"),
        ("reference", "", "RATIONALE_REQUIRED"),
        ("device_id", "not-an-eui", "INVALID_EUI64"),
        ("at", "2024-03-04T09:00:00", "INVALID_TIME"),
        ("description", None, "INVALID_COMMAND"),
        ("required_by_error_handling", "yes", "INVALID_COMMAND"),
    ]:
        rejected_unchanged(run, "RaisePartyIncident", code, **{**fields, name: value})
    error = rejected_unchanged(
        run, "RaisePartyIncident", "RATIONALE_REQUIRED", **{**fields, "reference": " "}
    ).error
    assert error is not None
    assert error["clause"] == clauses.ETMAD_3_7_F
    missing = {k: v for k, v in fields.items() if k != "reference"}
    rejected_unchanged(run, "RaisePartyIncident", "INVALID_COMMAND", **missing)
    # None of them recorded anything: the reference is still free.
    run.ok("RaisePartyIncident", **fields)


# --- ShowIncident and ListIncidents ---------------------------------------------------------


def transport_outage(app: EtmadApplication) -> str:
    """The transport unavailable to attempts of models A, B and C at ``AT + 10..12 min``: the
    incident monitor raises one incident for the DCC (``ETMAD 3.7(e)``). Its incident id."""
    register(app, A, B, C)
    for n, of in enumerate((A, B, C)):
        attempt(app, of, AT + (10 + n) * MINUTE, "transport_down")
    [raised] = pull(app).as_dict()["incidents_raised"]
    return str(raised["incident"]).removeprefix("incident:")


def test_an_incident_the_dcc_raised_is_shown_with_its_evidence(app: EtmadApplication):
    run = Runner(app)
    incident_id = transport_outage(app)
    assert incident_id == "dcc/transport/20240304T091000.000000Z"
    shown = run.result("ShowIncident", incident=incident_id)
    assert {k: v for k, v in shown.items() if k not in {"reason", "recorded"}} == {
        "incident_id": incident_id,
        "kind": "raised",
        "at": at(12),
        "system": "transport",
        "category": 1,  # 3 of the 3 models attempted in the hour
        "assigned_to": "DCC",
        "party": None,
        "about": None,
        "version": 1,
    }
    [record] = shown["recorded"]
    assert record["type"] == "etmad.incident.Raised.v1"
    assert record["data"]["models"] == [key(A), key(B), key(C)]
    assert (record["data"]["first_seen"], record["data"]["last_seen"]) == (at(10), at(12))
    assert (record["data"]["clause"], record["data"]["category_clause"]) == (
        clauses.ETMAD_3_7_E,
        clauses.ETMAD_3_7_G,
    )

    before = stored_events(app)
    for unknown in ("dcc/transport/20240304T091100.000000Z", "party/SUPPLIER-A/INC-1", "INC-1"):
        error = run.rejected("ShowIncident", "UNKNOWN_INCIDENT", incident=unknown).error
        assert error is not None
        assert unknown in str(error["message"])
    run.rejected("ShowIncident", "INVALID_COMMAND")
    run.rejected("ShowIncident", "INVALID_COMMAND", incident=3)
    assert stored_events(app) == before


def test_incidents_are_listed_as_they_stood_at_a_time(app: EtmadApplication):
    run = Runner(app)
    assert run.result("ListIncidents", at=at(60)) == {"as_of": at(60), "incidents": []}
    device = register_device(run, eui(1), register_model(run))
    for reference, minutes, required in (("INC-2", 30, True), ("INC-1", 5, False)):
        run.ok(
            "RaisePartyIncident",
            party=SUPPLIER,
            reference=reference,
            device_id=device,
            at=at(minutes),
            description="",
            required_by_error_handling=required,
        )
    raised = transport_outage(app)

    def listed(minutes: int) -> list[tuple[str, str]]:
        result = run.result("ListIncidents", at=at(minutes))
        assert result["as_of"] == at(minutes)
        return [(i["incident_id"], i["kind"]) for i in result["incidents"]]

    # In business-time order, whatever the order they were recorded in; later ones not yet.
    assert listed(4) == []
    assert listed(5) == [("party/SUPPLIER-A/INC-1", "party_refused")]
    assert listed(12) == [
        ("party/SUPPLIER-A/INC-1", "party_refused"),
        (raised, "raised"),
    ]
    assert listed(60) == [
        ("party/SUPPLIER-A/INC-1", "party_refused"),
        (raised, "raised"),
        ("party/SUPPLIER-A/INC-2", "party_admitted"),
    ]
    [shown] = [
        i for i in run.result("ListIncidents", at=at(60))["incidents"] if i["kind"] == "raised"
    ]
    assert shown == {
        k: v for k, v in run.result("ShowIncident", incident=raised).items() if k != "recorded"
    }
    run.rejected("ListIncidents", "INVALID_TIME", at="2024-03-04T09:00:00")
    run.rejected("ListIncidents", "INVALID_COMMAND")


# --- through the schema and the command line ----------------------------------------------------


@pytest.mark.parametrize(
    ("command", "problem"),
    [
        (
            {"command": "DismissNonMigratableCandidate", "rationale": ""},
            "rationale: '' should be non-empty",
        ),
        (
            {"command": "DismissNonMigratableCandidate", "decided_by": None},
            "decided_by: None is not of type 'string'",
        ),
        ({"command": "RaisePartyIncident", "party": ""}, "party: '' should be non-empty"),
        (
            {"command": "RaisePartyIncident", "required_by_error_handling": "yes"},
            "required_by_error_handling: 'yes' is not of type 'boolean'",
        ),
        (
            {"command": "RaisePartyIncident", "device_id": "00-DB"},
            "device_id: '00-DB' does not match",
        ),
        ({"command": "ShowIncident", "incident": ""}, "incident: '' should be non-empty"),
        ({"command": "ListIncidents", "at": "today"}, "at: 'today' does not match"),
    ],
)
def test_the_schema_refuses_bad_shapes(command: dict[str, Any], problem: str):
    full = {
        "model": key(A),
        "at": at(0),
        "decided_by": DCC,
        "rationale": "why",
        "party": SUPPLIER,
        "reference": "INC-1",
        "device_id": eui(1),
        "description": "",
        "incident": "party/SUPPLIER-A/INC-1",
        **command,
    }
    assert any(p.startswith(problem) for p in CommandValidator().problems(full)), (
        CommandValidator().problems(full)
    )


def test_apply_runs_the_incident_commands_through_the_schema(app: EtmadApplication):
    run = Runner(app)
    device = register_device(run, eui(1), register_model(run))
    commands = [
        {
            "command": "RaisePartyIncident",
            "party": SUPPLIER,
            "reference": "INC-1",
            "device_id": device,
            "at": at(0),
            "description": "failed twice",
        },
        {
            "command": "RaisePartyIncident",
            "party": SUPPLIER,
            "reference": "INC-2",
            "device_id": device,
            "at": at(0),
        },
        {"command": "ShowIncident", "incident": "party/SUPPLIER-A/INC-1"},
        {"command": "ListIncidents", "at": at(0)},
        {
            "command": "DismissNonMigratableCandidate",
            "model": key(A),
            "at": at(0),
            "decided_by": DCC,
            "rationale": "why",
        },
    ]
    out = io.StringIO()
    summary = apply_lines(app, [json.dumps(c) for c in commands], out)
    assert (summary.applied, summary.rejected) == (3, 2)
    refused, invalid, shown, listed, unknown = lines(out.getvalue())
    assert refused["events"][0]["data"]["code"] == "PARTY_INCIDENT_REFUSED"
    assert invalid["error"]["code"] == "INVALID_COMMAND"
    assert "line 2: (command): 'description' is a required property" in invalid["error"]["message"]
    assert shown["result"]["kind"] == "party_refused"
    assert [i["incident_id"] for i in listed["result"]["incidents"]] == ["party/SUPPLIER-A/INC-1"]
    assert unknown["error"]["code"] == "UNKNOWN_DEVICE_MODEL"
