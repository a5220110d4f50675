"""The command vocabulary of ``etmad apply``, in primitives at the edge.

``execute(app, command)`` takes one command as a JSON object (already checked against the
published JSON Schema by the caller, and checked again here field by field), runs it, and
returns a ``CommandResult``: the events saved and a result object, or an error with a stable
code. A rejected command saves nothing. ``docs/commands.md`` documents every command.

A command that names a file by its path (``LoadAdtFile``) reads it through a port the caller
gives ``execute`` (``adt_files``, an ``AdtFileReader``): this layer never touches the file
system or a byte format; ``etmad apply`` gives the adapters' reader.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

import attrs

from application.anomaly_detection import (
    AdtFileReader,
    AdtThresholds,
    adt_thresholds,
    load_read_adt_file,
)
from application.cos_party_register import (
    record_cos_certificate,
    record_smets1_testing_completed,
)
from application.errors import CommandRejected
from application.mapper import event_record
from application.process_managers import (
    dismiss_non_migratable_candidate,
    refuse_party_raised_incident,
)
from application.programme_control import (
    ProgrammeState,
    programme_state,
    set_capacity,
    set_ramp_up,
    start_programme,
    stop_programme,
)
from application.remediation import assign_remediation, record_remediation_action
from application.serialization import JSON, format_time, to_primitive
from application.service import EtmadApplication, Outcome
from application.smets1_readiness import DEFAULT_LIMIT, report_json, smets1_readiness
from application.srv623_chain import (
    Srv623Setup,
    process_srv623,
    record_device_response,
    result_json,
)
from application.srv623_ports import CommandOutcome
from domain.device_model import (
    AgreementOutcome,
    DeterminationOutcome,
    MigrationStarted,
    TestOutcome,
)
from domain.errors import DomainError
from domain.identifiers import (
    EUI64,
    CertificateId,
    CosParty,
    DeviceModelKey,
    DeviceType,
    SmetsGeneration,
    parse_mpxn,
)
from domain.incidents import EVENTS as INCIDENT_EVENTS
from domain.incidents import Incident, incident_aggregate_id
from domain.registration import SupplierChange
from domain.remediation import (
    ActionOutcome,
    Remediation,
    RemediationActionKind,
    RemediationBasis,
    RemediationOwner,
)

Payload = Mapping[str, Any]
E = TypeVar("E")


@attrs.frozen
class CommandResult:
    """One line of ``etmad apply`` output."""

    ok: bool
    command: str | None
    events: tuple[dict[str, JSON], ...] = ()
    result: JSON = None
    error: dict[str, JSON] | None = None

    def to_json(self) -> dict[str, JSON]:
        if self.ok:
            return {
                "ok": True,
                "command": self.command,
                "events": list(self.events),
                "result": self.result if self.result is not None else {},
            }
        return {"ok": False, "command": self.command, "error": self.error}


class InvalidCommand(CommandRejected):
    def __init__(self, message: str) -> None:
        super().__init__("INVALID_COMMAND", message)


# --- reading fields -------------------------------------------------------------------------


def _field(payload: Payload, name: str) -> Any:  # noqa: ANN401 — untrusted JSON
    if name not in payload:
        raise InvalidCommand(f"missing field {name!r}")
    return payload[name]


def _text(payload: Payload, name: str, *, optional: bool = False) -> str:
    value = payload.get(name) if optional else _field(payload, name)
    if value is None and optional:
        return ""
    if not isinstance(value, str):
        raise InvalidCommand(f"field {name!r} must be text")
    return value


def parse_time(value: object, name: str = "at") -> datetime:
    """An ISO-8601 time with a UTC offset (``2023-07-10T12:00:00+00:00`` or ``...Z``)."""
    if not isinstance(value, str):
        raise InvalidCommand(f"field {name!r} must be an ISO-8601 time with an offset")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidCommand(f"field {name!r}: {value!r} is not an ISO-8601 time") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise CommandRejected(
            "INVALID_TIME", f"field {name!r}: {value!r} has no UTC offset (add +00:00 or Z)"
        )
    return parsed


def _at(payload: Payload) -> datetime:
    return parse_time(_field(payload, "at"))


def _optional_at(payload: Payload, name: str = "at") -> datetime | None:
    value = payload.get(name)
    return None if value is None else parse_time(value, name)


def _device_id(payload: Payload, name: str = "device_id") -> EUI64:
    return EUI64.parse(_field(payload, name))


def _model(payload: Payload, name: str = "model") -> DeviceModelKey:
    return DeviceModelKey.from_json(_field(payload, name))


def _enum(payload: Payload, name: str, kind: Callable[[str], E], default: E | None = None) -> E:
    value = payload.get(name)
    if value is None:
        if default is not None:
            return default
        raise InvalidCommand(f"missing field {name!r}")
    try:
        return kind(value)
    except ValueError:
        raise InvalidCommand(
            f"field {name!r}: {value!r} is not one of the allowed values"
        ) from None


def _whole(payload: Payload, name: str) -> int:
    """A JSON integer (its range is the rule's to check)."""
    value = _field(payload, name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidCommand(f"field {name!r} must be a whole number")
    return value


def _ramp_up(payload: Payload, name: str = "ramp_up") -> tuple[tuple[int, int], ...]:
    """``[[days, daily cap], ...]``: pairs of integers (their order and range are the rule's)."""
    value = _field(payload, name)
    if not isinstance(value, list) or not all(
        isinstance(step, list)
        and len(step) == 2  # noqa: PLR2004 — a pair
        and all(isinstance(v, int) and not isinstance(v, bool) for v in step)
        for step in value
    ):
        raise InvalidCommand(f"field {name!r} must be a list of [days, daily cap] pairs")
    return tuple((days, cap) for days, cap in value)


def _flag(payload: Payload, name: str) -> bool:
    """An optional JSON boolean (absent or null: false)."""
    value = payload.get(name)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InvalidCommand(f"field {name!r} must be true or false")
    return value


def _version(payload: Payload) -> int | None:
    value = payload.get("version")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidCommand("field 'version' must be a whole number from 1")
    return value


def _done(outcome: Outcome, result: JSON = None) -> tuple[Outcome, JSON]:
    return outcome, result


# --- handlers -------------------------------------------------------------------------------

Handler = Callable[[EtmadApplication, Payload], tuple[Outcome, JSON]]
HANDLERS: dict[str, Handler] = {}


def handler(name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[name] = fn
        return fn

    return register


@handler("RegisterDeviceModel")
def _register_device_model(app: EtmadApplication, p: Payload) -> tuple[Outcome, JSON]:
    rank = _field(p, "firmware_rank")
    if isinstance(rank, bool) or not isinstance(rank, int):
        raise InvalidCommand("field 'firmware_rank' must be a whole number")
    model = _model(p)
    outcome = app.register_device_model(
        model=model,
        device_type=_enum(p, "device_type", DeviceType),
        smets=_enum(p, "smets", SmetsGeneration),
        firmware_rank=rank,
        at=_optional_at(p),
    )
    return _done(outcome, {"model": to_primitive(model)})


@handler("RegisterDevice")
def _register_device(app: EtmadApplication, p: Payload) -> tuple[Outcome, JSON]:
    mpxn_text = p.get("mpxn")
    hub = p.get("comms_hub_id")
    cert = p.get("cos_certificate")
    device_id = _device_id(p)
    outcome = app.register_device(
        device_id=device_id,
        device_type=_enum(p, "device_type", DeviceType),
        model=_model(p),
        mpxn=None
        if mpxn_text is None
        else parse_mpxn(mpxn_text, mpan_check_digit=app.settings.mpan_check_digit),
        comms_hub_id=None if hub is None else EUI64.parse(hub),
        cos_party=_enum(p, "cos_party", CosParty, CosParty.TCOS),
        cos_certificate=None if cert is None else CertificateId.from_json(cert),
        at=_optional_at(p),
    )
    return _done(outcome, {"device_id": str(device_id)})


@handler("RecordCommissioning")
def _commissioning(app: EtmadApplication, p: Payload) -> tuple[Outcome, JSON]:
    return _done(app.record_commissioning(device_id=_device_id(p), at=_at(p)))


@handler("RecordDecommissioning")
def _decommissioning(app: EtmadApplication, p: Payload) -> tuple[Outcome, JSON]:
    return _done(app.record_decommissioning(device_id=_device_id(p), at=_at(p)))


@handler("RecordCredentialsReplaced")
def _credentials(app: EtmadApplication, p: Payload) -> tuple[Outcome, JSON]:
    return _done(
        app.record_credentials_replaced(
            device_id=_device_id(p),
            at=_at(p),
            party=_enum(p, "party", CosParty),
            certificate=CertificateId.from_json(_field(p, "certificate")),
        )
    )


@handler("RecordCosCertificate")
def _record_cos_certificate(app: EtmadApplication, p: Payload) -> tuple[Outcome, JSON]:
    return _done(
        record_cos_certificate(
            app,
            certificate=CertificateId.from_json(_field(p, "certificate")),
            party=_enum(p, "party", CosParty),
            at=_at(p),
            recorded_by=_text(p, "recorded_by"),
        )
    )


@handler("RecordSmets1TestingCompleted")
def _record_smets1_testing(app: EtmadApplication, p: Payload) -> tuple[Outcome, JSON]:
    return _done(
        record_smets1_testing_completed(
            app,
            completed_at=_at(p),
            evidence=_text(p, "evidence"),
            recorded_by=_text(p, "recorded_by"),
        )
    )


@handler("RecordSrv623Processed")
def _srv623(app: EtmadApplication, p: Payload) -> tuple[Outcome, JSON]:
    return _done(
        app.record_srv623_processed(
            device_id=_device_id(p), at=_at(p), request_id=_text(p, "request_id")
        )
    )


@handler("RaiseTechnicalIssue")
def _raise_issue(app: EtmadApplication, p: Payload) -> tuple[Outcome, JSON]:
    return _done(
        app.raise_technical_issue(
            device_id=_device_id(p),
            at=_at(p),
            reason=_text(p, "reason"),
            issue_id=_text(p, "issue_id", optional=True) or "default",
        )
    )


@handler("ClearTechnicalIssue")
def _clear_issue(app: EtmadApplication, p: Payload) -> tuple[Outcome, JSON]:
    return _done(
        app.clear_technical_issue(
            device_id=_device_id(p),
            at=_at(p),
            reason=_text(p, "reason"),
            issue_id=_text(p, "issue_id", optional=True) or "default",
        )
    )


@handler("RecordSupplierChange")
def _supplier_change(app: EtmadApplication, p: Payload) -> tuple[Outcome, JSON]:
    mpxn = parse_mpxn(_text(p, "mpxn"), mpan_check_digit=app.settings.mpan_check_digit)
    supplier = _text(p, "supplier_id")
    if not supplier.strip():
        raise InvalidCommand("field 'supplier_id' must not be empty")
    change = SupplierChange(
        parse_time(_field(p, "effective_from"), "effective_from"), supplier, mpxn
    )
    recorded = app.record_supplier_change(change)
    return _done(
        Outcome(()),
        {
            "mpxn": str(mpxn),
            "supplier_id": supplier,
            "effective_from": format_time(change.effective_from),
            "recorded": recorded,
        },
    )


@handler("RecordPartyDetails")
def _party_details(app: EtmadApplication, p: Payload) -> tuple[Outcome, JSON]:
    """The DSP's Party Details: an MPID of the Party whose DUIS User ID is ``user_id``
    (DOMAIN 1), read by the SRV 6.23 MPID check (SRPD 6.1)."""
    user_id = _device_id(p, "user_id")
    mpid = _text(p, "mpid")
    if not mpid.strip():
        raise InvalidCommand("field 'mpid' must not be empty")
    if app.party_details is None:
        raise CommandRejected(
            "NO_PARTY_DETAILS", "this application holds no Party Details (see bootstrap)"
        )
    recorded = app.party_details.record_mpid(user_id, mpid)
    return _done(Outcome(()), {"user_id": str(user_id), "mpid": mpid, "recorded": recorded})


@handler("UpgradeFirmware")
def _upgrade(app: EtmadApplication, p: Payload) -> tuple[Outcome, JSON]:
    return _done(app.upgrade_firmware(device_id=_device_id(p), at=_at(p), model=_model(p)))


@handler("RecordMigrationStarted")
def _migration_started(app: EtmadApplication, p: Payload) -> tuple[Outcome, JSON]:
    device_id = _device_id(p)
    outcome = app.record_migration_started(device_id=device_id, at=_at(p))
    envelope = outcome.events[-1]
    started = envelope.event
    assert isinstance(started, MigrationStarted)  # noqa: S101 — the use case's last event
    return _done(
        outcome,
        {
            "device_id": str(device_id),
            "model_aggregate_id": envelope.originator_id,
            "counted": started.counted,
            "authorised": started.authorised,
            "cap": started.cap,
            "migrations_started": started.started_before + int(started.counted),
        },
    )


@handler("AuthoriseBulkMigration")
def _authorise(app: EtmadApplication, p: Payload) -> tuple[Outcome, JSON]:
    return _done(
        app.authorise_bulk_migration(
            model=_model(p),
            at=_at(p),
            decided_by=_text(p, "decided_by"),
            rationale=_text(p, "rationale"),
        )
    )


@handler("RecordModelTestEvidence")
def _test_evidence(app: EtmadApplication, p: Payload) -> tuple[Outcome, JSON]:
    return _done(
        app.record_model_test_evidence(
            model=_model(p),
            at=_at(p),
            outcome=_enum(p, "outcome", TestOutcome),
            detail=_text(p, "detail", optional=True),
        )
    )


@handler("SuspendModel")
def _suspend(app: EtmadApplication, p: Payload) -> tuple[Outcome, JSON]:
    return _done(app.suspend_model(model=_model(p), at=_at(p), reason=_text(p, "reason")))


@handler("ResumeModel")
def _resume(app: EtmadApplication, p: Payload) -> tuple[Outcome, JSON]:
    return _done(app.resume_model(model=_model(p), at=_at(p), reason=_text(p, "reason")))


@handler("CategoriseNonMigratable")
def _categorise(app: EtmadApplication, p: Payload) -> tuple[Outcome, JSON]:
    return _done(
        app.categorise_non_migratable(
            model=_model(p),
            at=_at(p),
            rationale=_text(p, "rationale"),
            decided_by=_text(p, "decided_by"),
        )
    )


@handler("RecordDisagreement")
def _disagreement(app: EtmadApplication, p: Payload) -> tuple[Outcome, JSON]:
    return _done(
        app.record_disagreement(
            model=_model(p), at=_at(p), party=_text(p, "party"), reason=_text(p, "reason")
        )
    )


@handler("RecordAgreement")
def _agreement(app: EtmadApplication, p: Payload) -> tuple[Outcome, JSON]:
    party = p.get("party")
    if party is not None and not isinstance(party, str):
        raise InvalidCommand("field 'party' must be text")
    return _done(
        app.record_agreement(
            model=_model(p), at=_at(p), outcome=_enum(p, "outcome", AgreementOutcome), party=party
        )
    )


@handler("LodgeAppeal")
def _appeal(app: EtmadApplication, p: Payload) -> tuple[Outcome, JSON]:
    return _done(app.lodge_appeal(model=_model(p), at=_at(p), party=_text(p, "party")))


@handler("RecordDetermination")
def _determination(app: EtmadApplication, p: Payload) -> tuple[Outcome, JSON]:
    return _done(
        app.record_determination(
            model=_model(p), at=_at(p), outcome=_enum(p, "outcome", DeterminationOutcome)
        )
    )


@handler("RecategoriseMigratable")
def _recategorise(app: EtmadApplication, p: Payload) -> tuple[Outcome, JSON]:
    return _done(
        app.recategorise_migratable(
            model=_model(p),
            at=_at(p),
            rationale=_text(p, "rationale"),
            decided_by=_text(p, "decided_by"),
        )
    )


# --- the programme and remediation ----------------------------------------------------------


def _programme(state: object) -> JSON:
    """The ``ShowProgramme`` result: running, the parameters in force, and the decisions
    behind them (``null``: the configured default)."""
    assert isinstance(state, ProgrammeState)  # noqa: S101 — the use cases' result
    return {
        "as_of": format_time(state.as_of),
        "running": state.running,
        "running_by_default": state.running_by_default,
        "run": to_primitive(state.run),
        "parameters": to_primitive(state.parameters),
        "decisions": {
            "daily_capacity": to_primitive(state.daily_capacity),
            "pilot_size": to_primitive(state.pilot_size),
            "ramp_up": to_primitive(state.ramp_up),
        },
    }


def _remediation(device_id: EUI64, remediation: object) -> JSON:
    assert isinstance(remediation, Remediation)  # noqa: S101 — the use cases' result
    state = to_primitive(remediation)
    assert isinstance(state, dict)  # noqa: S101 — attrs state is an object
    state["resolved"] = remediation.resolved
    return {"device_id": str(device_id), "remediation": state}


@handler("StartProgramme")
def _start_programme(app: EtmadApplication, p: Payload) -> tuple[Outcome, JSON]:
    outcome = start_programme(
        app,
        at=_at(p),
        decided_by=_text(p, "decided_by"),
        reason=_text(p, "reason", optional=True),
    )
    return _done(outcome, _programme(outcome.result))


@handler("StopProgramme")
def _stop_programme(app: EtmadApplication, p: Payload) -> tuple[Outcome, JSON]:
    outcome = stop_programme(
        app, at=_at(p), decided_by=_text(p, "decided_by"), reason=_text(p, "reason")
    )
    return _done(outcome, _programme(outcome.result))


@handler("SetProgrammeCapacity")
def _set_capacity(app: EtmadApplication, p: Payload) -> tuple[Outcome, JSON]:
    outcome = set_capacity(
        app,
        at=_at(p),
        daily_capacity=_whole(p, "daily_capacity"),
        decided_by=_text(p, "decided_by"),
        reason=_text(p, "reason", optional=True),
    )
    return _done(outcome, _programme(outcome.result))


@handler("SetRampUpSchedule")
def _set_ramp_up(app: EtmadApplication, p: Payload) -> tuple[Outcome, JSON]:
    outcome = set_ramp_up(
        app,
        at=_at(p),
        ramp_up=_ramp_up(p),
        pilot_size=None if p.get("pilot_size") is None else _whole(p, "pilot_size"),
        decided_by=_text(p, "decided_by"),
        reason=_text(p, "reason", optional=True),
    )
    return _done(outcome, _programme(outcome.result))


@handler("AssignRemediation")
def _assign_remediation(app: EtmadApplication, p: Payload) -> tuple[Outcome, JSON]:
    supplier = p.get("responsible_supplier")
    if supplier is not None and not isinstance(supplier, str):
        raise InvalidCommand("field 'responsible_supplier' must be text")
    device_id = _device_id(p)
    outcome = assign_remediation(
        app,
        device_id=device_id,
        at=_at(p),
        basis=_enum(p, "basis", RemediationBasis),
        owner=_enum(p, "owner", RemediationOwner),
        root_cause=_text(p, "root_cause"),
        responsible_supplier=supplier,
    )
    return _done(outcome, _remediation(device_id, outcome.result))


@handler("RecordRemediationAction")
def _remediation_action(app: EtmadApplication, p: Payload) -> tuple[Outcome, JSON]:
    device_id = _device_id(p)
    number = _whole(p, "remediation")
    outcome = record_remediation_action(
        app,
        device_id=device_id,
        at=_at(p),
        remediation=number,
        action=_enum(p, "action", RemediationActionKind),
        detail=_text(p, "detail"),
        outcome=_enum(p, "outcome", ActionOutcome),
        to_model=None if p.get("to_model") is None else _model(p, "to_model"),
    )
    return _done(outcome, _remediation(device_id, outcome.result))


# --- the programme policies' proposals and incidents ----------------------------------------


def _incident(incident: Incident) -> dict[str, JSON]:
    """An incident's state, as ``ShowIncident`` and ``ListIncidents`` give it."""
    state = to_primitive(incident)
    assert isinstance(state, dict)  # noqa: S101 — attrs state is an object
    return state


@handler("DismissNonMigratableCandidate")
def _dismiss_candidate(app: EtmadApplication, p: Payload) -> tuple[Outcome, JSON]:
    return _done(
        dismiss_non_migratable_candidate(
            app,
            model=_model(p),
            at=_at(p),
            decided_by=_text(p, "decided_by"),
            rationale=_text(p, "rationale"),
        )
    )


@handler("RaisePartyIncident")
def _party_incident(app: EtmadApplication, p: Payload) -> tuple[Outcome, JSON]:
    outcome = refuse_party_raised_incident(
        app,
        party=_text(p, "party"),
        about=_device_id(p),
        reference=_text(p, "reference"),
        description=_text(p, "description"),
        at=_at(p),
        required_by_error_handling=_flag(p, "required_by_error_handling"),
    )
    [recorded] = outcome.events  # the decision, on a new incident
    return _done(outcome, _incident(Incident.create(recorded.event, recorded.originator_version)))


# --- queries --------------------------------------------------------------------------------


@handler("AssessEligibility")
def _assess(app: EtmadApplication, p: Payload) -> tuple[Outcome, JSON]:
    decision = app.assess_eligibility(_device_id(p), _at(p))
    result: dict[str, JSON] = {
        "device_id": str(decision.device_id),
        "as_of": format_time(decision.as_of),
        "eligible": decision.eligible,
        "reasons": [
            {"code": str(r.code), "clause": r.clause, "detail": r.detail} for r in decision.reasons
        ],
    }
    if p.get("explain"):
        result["responsible_supplier"] = decision.responsible_supplier
        result["inputs"] = to_primitive(decision.inputs)
        result["parameters"] = to_primitive(decision.parameters)
    return _done(Outcome(()), result)


@handler("BulkGate")
def _bulk_gate(app: EtmadApplication, p: Payload) -> tuple[Outcome, JSON]:
    gate = app.bulk_gate(_model(p), _at(p))
    result: dict[str, JSON] = {
        "proven": gate.proven,
        "proven_by": to_primitive(gate.proven_by),
        "authorised": gate.authorised,
        "cap": gate.cap,
        "migrations_started": gate.migrations_started,
        "may_start": gate.may_start,
    }
    if p.get("explain"):
        result["authorisation"] = to_primitive(gate.authorisation)
        result["suspended"] = gate.suspended
        result["non_migratable"] = gate.non_migratable
        result["reasons"] = to_primitive(gate.reasons)
    return _done(Outcome(()), result)


@handler("ShowDevice")
def _show_device(app: EtmadApplication, p: Payload) -> tuple[Outcome, JSON]:
    key = p.get("id", p.get("device_id"))
    if key is None:
        raise InvalidCommand("missing field 'id' (or 'device_id')")
    as_of = _optional_at(p, "as_of")
    device = app.device(EUI64.parse(key), version=_version(p), as_of=as_of)
    state = to_primitive(device)
    assert isinstance(state, dict)  # noqa: S101 — attrs state is an object
    state["effective_model"] = to_primitive(app.effective_model(device, as_of=as_of))
    return _done(Outcome(()), state)


@handler("ShowModel")
def _show_model(app: EtmadApplication, p: Payload) -> tuple[Outcome, JSON]:
    model = app.device_model(_model(p), version=_version(p), as_of=_optional_at(p, "as_of"))
    return _done(Outcome(()), to_primitive(model))


@handler("ListNonMigratable")
def _list_non_migratable(app: EtmadApplication, p: Payload) -> tuple[Outcome, JSON]:
    at = _at(p)
    models: list[JSON] = []
    for model in app.non_migratable_list(at):
        nm = model.non_migratable
        assert nm is not None  # noqa: S101 — the list holds categorised models only
        models.append(
            {
                "model": to_primitive(model.key),
                "device_type": str(model.device_type),
                "smets": str(model.smets),
                "categorised_at": to_primitive(nm.at),
                "rationale": nm.rationale,
                "decided_by": nm.decided_by,
                "disagreements": to_primitive(nm.disagreements),
                "appeal": to_primitive(nm.appeal),
                "determination": to_primitive(nm.determination),
            }
        )
    return _done(Outcome(()), {"as_of": format_time(at), "models": models})


@handler("ListFailedMigrations")
def _list_failed_migrations(app: EtmadApplication, p: Payload) -> tuple[Outcome, JSON]:
    at = _at(p)
    devices: list[JSON] = []
    for migration in app.failed_migrations(at):
        failed = migration.failed_migration
        assert failed is not None  # noqa: S101 — the list holds failed ones only
        series = migration.current_series
        devices.append(
            {
                "device_id": str(migration.device_id),
                "device_type": str(migration.device_type),
                "model": to_primitive(series.model),
                "status": str(migration.status),
                "series": series.number,
                "attempts": migration.attempts,
                "failure_code": str(failed.failure_code),
                "failure_sub_code": failed.failure_sub_code,
                "date_of_last_failure": format_time(failed.date_of_last_failure),
                "step": str(failed.step),
                "cause": str(failed.cause),
                "detail": failed.detail,
                "remediations": len(migration.remediations),
            }
        )
    return _done(Outcome(()), {"as_of": format_time(at), "devices": devices})


@handler("ShowProgramme")
def _show_programme(app: EtmadApplication, p: Payload) -> tuple[Outcome, JSON]:
    return _done(Outcome(()), _programme(programme_state(app, _at(p))))


@handler("ShowIncident")
def _show_incident(app: EtmadApplication, p: Payload) -> tuple[Outcome, JSON]:
    key = _text(p, "incident")
    aggregate_id = key if key.startswith("incident:") else incident_aggregate_id(key)
    incident = app.load(aggregate_id, Incident.create)
    if incident is None:
        raise CommandRejected("UNKNOWN_INCIDENT", f"no incident {key!r} is recorded")
    result = _incident(incident)
    result["recorded"] = [event_record(e) for e in app.stored(aggregate_id)]
    return _done(Outcome(()), result)


@handler("ListIncidents")
def _list_incidents(app: EtmadApplication, p: Payload) -> tuple[Outcome, JSON]:
    at = _at(p)
    ids = dict.fromkeys(i for kind in INCIDENT_EVENTS for i in app.aggregates_with(kind.TYPE))
    found = [app.load(i, Incident.create, as_of=at) for i in ids]
    incidents = sorted(
        (i for i in found if i is not None),
        key=lambda i: (i.at.timestamp() if i.at is not None else float("-inf"), i.incident_id),
    )
    return _done(
        Outcome(()), {"as_of": format_time(at), "incidents": [_incident(i) for i in incidents]}
    )


@handler("ShowSmets1Readiness")
def _show_smets1_readiness(app: EtmadApplication, p: Payload) -> tuple[Outcome, JSON]:
    limit = DEFAULT_LIMIT if p.get("limit") is None else _whole(p, "limit")
    if limit < 0:
        raise InvalidCommand("field 'limit' must be a whole number from 0")
    report = smets1_readiness(app, _at(p), period_end=_optional_at(p, "period_end"), limit=limit)
    return _done(Outcome(()), report_json(report))


# --- CoS Party anomaly detection ------------------------------------------------------------

ReadingHandler = Callable[[EtmadApplication, Payload, AdtFileReader], tuple[Outcome, JSON]]
#: Handlers of the commands that name a file, given the caller's ``AdtFileReader``.
READING_HANDLERS: dict[str, ReadingHandler] = {}


def reading_handler(name: str) -> Callable[[ReadingHandler], ReadingHandler]:
    def register(fn: ReadingHandler) -> ReadingHandler:
        READING_HANDLERS[name] = fn
        return fn

    return register


def _user_id(payload: Payload) -> str:
    user_id = _text(payload, "user_id")
    if not user_id.strip():
        raise InvalidCommand("field 'user_id' must not be empty")
    return user_id


def _thresholds(thresholds: object) -> JSON:
    """The ``ShowAdtThresholds`` result, also ``LoadAdtFile``'s."""
    assert isinstance(thresholds, AdtThresholds)  # noqa: S101 — the use cases' result
    return to_primitive(thresholds)


@reading_handler("LoadAdtFile")
def _load_adt_file(
    app: EtmadApplication, p: Payload, adt_files: AdtFileReader
) -> tuple[Outcome, JSON]:
    user_id = _user_id(p)
    at = _at(p)
    adt_file = adt_files.read_adt_file(_text(p, "path"))
    outcome = load_read_adt_file(app, user_id=user_id, adt_file=adt_file, at=at)
    return _done(outcome, _thresholds(outcome.result))


@handler("ShowAdtThresholds")
def _show_adt_thresholds(app: EtmadApplication, p: Payload) -> tuple[Outcome, JSON]:
    return _done(Outcome(()), _thresholds(adt_thresholds(app, user_id=_user_id(p), at=_at(p))))


# --- SRV 6.23 through clause 8 ------------------------------------------------------------

Srv623Handler = Callable[[EtmadApplication, Payload, Srv623Setup], tuple[Outcome, JSON]]
#: Handlers of the commands that run the SRV 6.23 chain, given the caller's set-up.
SRV623_HANDLERS: dict[str, Srv623Handler] = {}


def srv623_handler(name: str) -> Callable[[Srv623Handler], Srv623Handler]:
    def register(fn: Srv623Handler) -> Srv623Handler:
        SRV623_HANDLERS[name] = fn
        return fn

    return register


@srv623_handler("ProcessSrv623")
def _process_srv623(app: EtmadApplication, p: Payload, setup: Srv623Setup) -> tuple[Outcome, JSON]:
    data = setup.requests.read_request(_text(p, "request_xml"))
    result = process_srv623(app, setup.dcc, setup.parties, data, at=_at(p))
    return _done(Outcome(result.events, result), result_json(result))


@srv623_handler("RecordSrv623Response")
def _record_srv623_response(
    app: EtmadApplication, p: Payload, setup: Srv623Setup
) -> tuple[Outcome, JSON]:
    response: bytes | None = None
    if p.get("response_hex") is not None:
        text = _text(p, "response_hex")
        try:
            response = bytes.fromhex(text)
        except ValueError:
            raise InvalidCommand("field 'response_hex' must be hexadecimal") from None
    outcome = record_device_response(
        app,
        setup.dcc.outcome_reader,
        request_id=_text(p, "request_id"),
        response=response,
        at=_at(p),
    )
    found = outcome.result
    assert isinstance(found, CommandOutcome)  # noqa: S101 — the use case's result
    return _done(outcome, {"succeeded": found.succeeded, "detail": found.detail})


def command_names() -> tuple[str, ...]:
    return tuple(sorted({*HANDLERS, *READING_HANDLERS, *SRV623_HANDLERS}))


def _run(
    app: EtmadApplication,
    name: str,
    command: Payload,
    adt_files: AdtFileReader | None,
    srv623: Srv623Setup | None,
) -> tuple[Outcome, JSON]:
    chain = SRV623_HANDLERS.get(name)
    if chain is not None:
        if srv623 is None:
            raise CommandRejected(
                "NO_SRV623_SETUP",
                f"{name} needs the DCC's and the parties' SRV 6.23 set-up (keys, trust store, "
                "readers), and this caller of execute gives none (srv623)",
            )
        return chain(app, command, srv623)
    reading = READING_HANDLERS.get(name)
    if reading is None:
        return HANDLERS[name](app, command)
    if adt_files is None:
        raise CommandRejected(
            "NO_FILE_READER",
            f"{name} reads a file, and this caller of execute gives no reader (adt_files)",
        )
    return reading(app, command, adt_files)


def execute(
    app: EtmadApplication,
    command: Payload,
    *,
    adt_files: AdtFileReader | None = None,
    srv623: Srv623Setup | None = None,
) -> CommandResult:
    """Run one command. Never raises for bad input or a refused rule: it returns the error.

    ``adt_files`` reads the file ``LoadAdtFile`` names; without it that command is refused
    ``NO_FILE_READER``. ``srv623`` is the SRV 6.23 set-up ``ProcessSrv623`` and
    ``RecordSrv623Response`` run with; without it they are refused ``NO_SRV623_SETUP``."""
    name = command.get("command") if isinstance(command, Mapping) else None
    if not isinstance(name, str):
        return CommandResult(
            ok=False,
            command=None,
            error={"code": "INVALID_COMMAND", "message": 'each line needs a "command" name'},
        )
    if name not in HANDLERS and name not in READING_HANDLERS and name not in SRV623_HANDLERS:
        return CommandResult(
            ok=False,
            command=name,
            error={
                "code": "UNKNOWN_COMMAND",
                "message": f"unknown command {name!r}; known: {', '.join(command_names())}",
            },
        )
    try:
        outcome, result = _run(app, name, command, adt_files, srv623)
    except (CommandRejected, DomainError) as e:
        error: dict[str, JSON] = {"code": e.code, "message": e.message}
        if e.clause:
            error["clause"] = e.clause
        return CommandResult(ok=False, command=name, error=error)
    return CommandResult(
        ok=True, command=name, events=tuple(event_record(e) for e in outcome.events), result=result
    )
