"""The published JSON Schema of ``etmad apply`` commands (Draft 2020-12).

``etmad schema`` prints it; ``docs/commands.schema.json`` is a copy kept in step by a test.
Each command is one object with ``"command"`` naming it; unknown extra fields are allowed (the
contract may grow), known fields are typed.
"""

from __future__ import annotations

from typing import Any

import jsonschema

from application.commands import command_names
from domain.bulk_gate import BULK_MIGRATION_CEILING
from domain.remediation import (
    ActionOutcome,
    RemediationActionKind,
    RemediationBasis,
    RemediationOwner,
)

SCHEMA_ID = "https://etmad.invalid/schemas/commands-v1.json"

_TIME = {"$ref": "#/$defs/time"}
_EUI64 = {"$ref": "#/$defs/eui64"}
_MODEL = {"$ref": "#/$defs/model"}
_TEXT = {"type": "string"}
_NONEMPTY = {"type": "string", "minLength": 1}
_PARTY = {"enum": ["TCoS", "ECoS"]}
_DEVICE_TYPE = {"enum": ["ESME", "GSME", "CHF", "GPF", "PPMID", "HCALCS", "IHD", "CAD"]}
_WHOLE = {"type": "integer", "minimum": 0}
_USER_ID = {"type": "string", "minLength": 1, "pattern": "\\S"}  # not only spaces
_RAMP_UP = {
    "type": "array",
    "minItems": 1,
    "items": {
        "type": "array",
        "prefixItems": [_WHOLE, _WHOLE],
        "minItems": 2,
        "maxItems": 2,
    },
}


def _command(
    name: str, required: dict[str, Any], optional: dict[str, Any] | None = None
) -> dict[str, Any]:
    properties = {"command": {"const": name}, **required, **(optional or {})}
    return {
        "type": "object",
        "properties": properties,
        "required": ["command", *required],
    }


_COMMANDS: dict[str, dict[str, Any]] = {
    "RegisterDeviceModel": _command(
        "RegisterDeviceModel",
        {
            "model": _MODEL,
            "device_type": _DEVICE_TYPE,
            "smets": {"enum": ["SMETS1", "SMETS2+"]},
            "firmware_rank": {"type": "integer", "minimum": 0},
        },
        {"at": _TIME},
    ),
    "RegisterDevice": _command(
        "RegisterDevice",
        {"device_id": _EUI64, "device_type": _DEVICE_TYPE, "model": _MODEL},
        {
            "mpxn": {"type": "string", "pattern": "^[0-9]{6,13}$"},
            "comms_hub_id": _EUI64,
            "cos_party": _PARTY,
            "cos_certificate": {"$ref": "#/$defs/certificate"},
            "at": _TIME,
        },
    ),
    "RecordCommissioning": _command("RecordCommissioning", {"device_id": _EUI64, "at": _TIME}),
    "RecordDecommissioning": _command("RecordDecommissioning", {"device_id": _EUI64, "at": _TIME}),
    "RecordCredentialsReplaced": _command(
        "RecordCredentialsReplaced",
        {
            "device_id": _EUI64,
            "at": _TIME,
            "party": _PARTY,
            "certificate": {"$ref": "#/$defs/certificate"},
        },
    ),
    "RecordCosCertificate": _command(
        "RecordCosCertificate",
        {
            "certificate": {"$ref": "#/$defs/certificate"},
            "party": _PARTY,
            "at": _TIME,
            "recorded_by": _NONEMPTY,
        },
    ),
    "RecordSmets1TestingCompleted": _command(
        "RecordSmets1TestingCompleted",
        {"at": _TIME, "evidence": _NONEMPTY, "recorded_by": _NONEMPTY},
    ),
    "RecordSrv623Processed": _command(
        "RecordSrv623Processed", {"device_id": _EUI64, "at": _TIME, "request_id": _NONEMPTY}
    ),
    "RaiseTechnicalIssue": _command(
        "RaiseTechnicalIssue",
        {"device_id": _EUI64, "at": _TIME, "reason": _NONEMPTY},
        {"issue_id": _NONEMPTY},
    ),
    "ClearTechnicalIssue": _command(
        "ClearTechnicalIssue",
        {"device_id": _EUI64, "at": _TIME, "reason": _TEXT},
        {"issue_id": _NONEMPTY},
    ),
    "RecordSupplierChange": _command(
        "RecordSupplierChange",
        {
            "mpxn": {"type": "string", "pattern": "^[0-9]{6,13}$"},
            "supplier_id": _NONEMPTY,
            "effective_from": _TIME,
        },
    ),
    "RecordPartyDetails": _command("RecordPartyDetails", {"user_id": _EUI64, "mpid": _NONEMPTY}),
    "UpgradeFirmware": _command(
        "UpgradeFirmware", {"device_id": _EUI64, "at": _TIME, "model": _MODEL}
    ),
    "RecordMigrationStarted": _command(
        "RecordMigrationStarted", {"device_id": _EUI64, "at": _TIME}
    ),
    "AuthoriseBulkMigration": _command(
        "AuthoriseBulkMigration",
        {"model": _MODEL, "at": _TIME, "decided_by": _NONEMPTY, "rationale": _NONEMPTY},
    ),
    "RecordModelTestEvidence": _command(
        "RecordModelTestEvidence",
        {
            "model": _MODEL,
            "at": _TIME,
            "outcome": {"enum": ["passed", "failed", "not_reasonably_practicable"]},
        },
        {"detail": _TEXT},
    ),
    "SuspendModel": _command("SuspendModel", {"model": _MODEL, "at": _TIME, "reason": _NONEMPTY}),
    "ResumeModel": _command("ResumeModel", {"model": _MODEL, "at": _TIME, "reason": _TEXT}),
    "CategoriseNonMigratable": _command(
        "CategoriseNonMigratable",
        {"model": _MODEL, "at": _TIME, "rationale": _NONEMPTY, "decided_by": _NONEMPTY},
    ),
    "RecordDisagreement": _command(
        "RecordDisagreement", {"model": _MODEL, "at": _TIME, "party": _NONEMPTY, "reason": _TEXT}
    ),
    "RecordAgreement": _command(
        "RecordAgreement",
        {"model": _MODEL, "at": _TIME, "outcome": {"enum": ["kept", "withdrawn"]}},
        {"party": _NONEMPTY},
    ),
    "LodgeAppeal": _command("LodgeAppeal", {"model": _MODEL, "at": _TIME, "party": _NONEMPTY}),
    "RecordDetermination": _command(
        "RecordDetermination",
        {"model": _MODEL, "at": _TIME, "outcome": {"enum": ["upheld", "overturned"]}},
    ),
    "RecategoriseMigratable": _command(
        "RecategoriseMigratable",
        {"model": _MODEL, "at": _TIME, "rationale": _NONEMPTY, "decided_by": _NONEMPTY},
    ),
    "StartProgramme": _command(
        "StartProgramme", {"at": _TIME, "decided_by": _NONEMPTY}, {"reason": _TEXT}
    ),
    "StopProgramme": _command(
        "StopProgramme", {"at": _TIME, "decided_by": _NONEMPTY, "reason": _NONEMPTY}
    ),
    "SetProgrammeCapacity": _command(
        "SetProgrammeCapacity",
        {"at": _TIME, "daily_capacity": _WHOLE, "decided_by": _NONEMPTY},
        {"reason": _TEXT},
    ),
    "SetRampUpSchedule": _command(
        "SetRampUpSchedule",
        {"at": _TIME, "ramp_up": _RAMP_UP, "decided_by": _NONEMPTY},
        {
            "pilot_size": {"type": "integer", "minimum": 0, "maximum": BULK_MIGRATION_CEILING},
            "reason": _TEXT,
        },
    ),
    "AssignRemediation": _command(
        "AssignRemediation",
        {
            "device_id": _EUI64,
            "at": _TIME,
            "basis": {"enum": [b.value for b in RemediationBasis]},
            "owner": {"enum": [o.value for o in RemediationOwner]},
            "root_cause": _NONEMPTY,
        },
        {"responsible_supplier": _NONEMPTY},
    ),
    "RecordRemediationAction": _command(
        "RecordRemediationAction",
        {
            "device_id": _EUI64,
            "at": _TIME,
            "remediation": {"type": "integer", "minimum": 1},
            "action": {"enum": [a.value for a in RemediationActionKind]},
            "detail": _NONEMPTY,
            "outcome": {"enum": [o.value for o in ActionOutcome]},
        },
        {"to_model": _MODEL},
    ),
    "DismissNonMigratableCandidate": _command(
        "DismissNonMigratableCandidate",
        {"model": _MODEL, "at": _TIME, "decided_by": _NONEMPTY, "rationale": _NONEMPTY},
    ),
    "RaisePartyIncident": _command(
        "RaisePartyIncident",
        {
            "party": _NONEMPTY,
            "reference": _NONEMPTY,
            "device_id": _EUI64,
            "at": _TIME,
            "description": _TEXT,
        },
        {"required_by_error_handling": {"type": "boolean"}},
    ),
    "AssessEligibility": _command(
        "AssessEligibility", {"device_id": _EUI64, "at": _TIME}, {"explain": {"type": "boolean"}}
    ),
    "BulkGate": _command(
        "BulkGate", {"model": _MODEL, "at": _TIME}, {"explain": {"type": "boolean"}}
    ),
    "ShowDevice": {
        "type": "object",
        "properties": {
            "command": {"const": "ShowDevice"},
            "id": _EUI64,
            "device_id": _EUI64,
            "as_of": _TIME,
            "version": {"type": "integer", "minimum": 1},
        },
        "required": ["command"],
        "anyOf": [{"required": ["id"]}, {"required": ["device_id"]}],
    },
    "ListNonMigratable": _command("ListNonMigratable", {"at": _TIME}),
    "ListFailedMigrations": _command("ListFailedMigrations", {"at": _TIME}),
    "ShowProgramme": _command("ShowProgramme", {"at": _TIME}),
    "ShowIncident": _command("ShowIncident", {"incident": _NONEMPTY}),
    "ListIncidents": _command("ListIncidents", {"at": _TIME}),
    "ShowSmets1Readiness": _command(
        "ShowSmets1Readiness", {"at": _TIME}, {"period_end": _TIME, "limit": _WHOLE}
    ),
    "LoadAdtFile": _command("LoadAdtFile", {"user_id": _USER_ID, "path": _NONEMPTY, "at": _TIME}),
    "ShowAdtThresholds": _command("ShowAdtThresholds", {"user_id": _USER_ID, "at": _TIME}),
    "ProcessSrv623": _command("ProcessSrv623", {"request_xml": _NONEMPTY, "at": _TIME}),
    "RecordSrv623Response": _command(
        "RecordSrv623Response",
        {"request_id": _NONEMPTY, "at": _TIME},
        {"response_hex": {"type": "string", "pattern": "^([0-9A-Fa-f]{2})+$"}},
    ),
    "ShowModel": _command(
        "ShowModel",
        {"model": _MODEL},
        {"as_of": _TIME, "version": {"type": "integer", "minimum": 1}},
    ),
}


def command_schema() -> dict[str, Any]:
    """The whole schema: one command object, dispatched on its ``command`` name."""
    if set(_COMMANDS) != set(command_names()):
        missing = set(command_names()) ^ set(_COMMANDS)
        raise RuntimeError(f"schema and command handlers disagree on: {sorted(missing)}")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "etmad apply command",
        "type": "object",
        "required": ["command"],
        "properties": {"command": {"enum": sorted(_COMMANDS)}},
        "allOf": [
            {
                "if": {"properties": {"command": {"const": name}}, "required": ["command"]},
                "then": {"$ref": f"#/$defs/commands/{name}"},
            }
            for name in sorted(_COMMANDS)
        ],
        "$defs": {
            "time": {
                "type": "string",
                "format": "date-time",
                "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?"
                r"(Z|[+-]\d{2}:\d{2})$",
            },
            "eui64": {
                "type": "string",
                "pattern": "^([0-9A-Fa-f]{2}(-[0-9A-Fa-f]{2}){7}|[0-9A-Fa-f]{16})$",
            },
            "model": {
                "type": "object",
                "properties": dict.fromkeys(
                    ("manufacturer", "model", "hardware_version", "firmware_version"), _NONEMPTY
                ),
                "required": ["manufacturer", "model", "hardware_version", "firmware_version"],
                "additionalProperties": False,
            },
            "certificate": {
                "type": "object",
                "properties": {"serial": {"type": ["string", "integer"]}, "issuer": _NONEMPTY},
                "required": ["serial", "issuer"],
                "additionalProperties": False,
            },
            "commands": _COMMANDS,
        },
    }


class CommandValidator:
    """Validates command objects against the schema, with one readable message per failure.

    Each command is checked against its own sub-schema (chosen by its ``command`` name), which
    is what the whole schema's ``if``/``then`` dispatch does, without trying every branch."""

    def __init__(self) -> None:
        schema = command_schema()
        jsonschema.Draft202012Validator.check_schema(schema)
        self._whole = jsonschema.Draft202012Validator(schema)
        self._by_name = {
            name: jsonschema.Draft202012Validator(
                {"$schema": schema["$schema"], "$defs": schema["$defs"], **sub}
            )
            for name, sub in schema["$defs"]["commands"].items()
        }

    def problems(self, command: object) -> list[str]:
        name = command.get("command") if isinstance(command, dict) else None
        validator = self._by_name.get(name, self._whole) if isinstance(name, str) else self._whole
        errors = sorted(validator.iter_errors(command), key=lambda e: list(e.path))
        return [
            f"{'/'.join(str(p) for p in e.absolute_path) or '(command)'}: {e.message}"
            for e in errors
        ]
