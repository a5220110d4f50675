"""Small builders shared by the story tests: Device Models, Devices, times and results.

Everything goes through the ``etmad apply`` command vocabulary (a ``Runner``), so the tests
read as the commands an embedding service or an auditor would send.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from application.commands import CommandResult
from application.service import EtmadApplication
from domain.identifiers import mpan_check_digit
from tests.conftest import Runner

#: The time the stories are told at, unless they say otherwise.
NOW = datetime(2023, 7, 10, 12, 0, tzinfo=UTC)
#: When the Devices of a story were commissioned: long enough ago not to be "recent" (1.4(b)).
LONG_AGO = NOW - timedelta(days=90)

TCOS_CA = "TCOS-ISSUER"
ECOS_CA = "ECOS-ISSUER"


def days(n: float) -> timedelta:
    return timedelta(days=n)


def iso(at: datetime) -> str:
    return at.isoformat()


def eui(n: int) -> str:
    """A Device identifier in DUIS text form, distinct for each ``n``."""
    raw = f"00DB1234{n:08X}"
    return "-".join(raw[i : i + 2] for i in range(0, 16, 2))


def mpan(n: int) -> str:
    """A 13-digit MPAN core with a valid check digit."""
    first = f"12{n:010d}"
    return first + str(mpan_check_digit(first))


def mprn(n: int) -> str:
    return f"{7_000_000 + n}"


def cert(serial: int, issuer: str = TCOS_CA) -> dict[str, str]:
    return {"serial": str(serial), "issuer": issuer}


def model_key(
    firmware_version: str = "0100",
    *,
    manufacturer: str = "ACME",
    model: str = "E100",
    hardware_version: str = "2.0",
) -> dict[str, str]:
    return {
        "manufacturer": manufacturer,
        "model": model,
        "hardware_version": hardware_version,
        "firmware_version": firmware_version,
    }


def data(result: CommandResult) -> Any:
    """The ``result`` object of an accepted command."""
    return result.result


# --- Device Models --------------------------------------------------------------------------


def register_model(
    run: Runner,
    firmware_version: str = "0100",
    *,
    device_type: str = "ESME",
    firmware_rank: int = 1,
    smets: str = "SMETS2+",
    **key: str,
) -> dict[str, str]:
    """Register a Device Model and return its key (ACME/E100/2.0 unless told otherwise)."""
    model = model_key(firmware_version, **key)
    run.ok(
        "RegisterDeviceModel",
        model=model,
        device_type=device_type,
        smets=smets,
        firmware_rank=firmware_rank,
    )
    return model


def chf_model(
    run: Runner, firmware_version: str = "0100", *, firmware_rank: int = 1
) -> dict[str, str]:
    return register_model(
        run,
        firmware_version,
        device_type="CHF",
        firmware_rank=firmware_rank,
        manufacturer="HUBCO",
        model="CH2",
        hardware_version="1.0",
    )


# --- Devices --------------------------------------------------------------------------------


def register_device(
    run: Runner,
    device_id: str,
    model: dict[str, str],
    *,
    device_type: str = "ESME",
    mpxn: str | None = None,
    comms_hub_id: str | None = None,
    cos_party: str = "TCoS",
    certificate: dict[str, str] | None = None,
) -> str:
    fields: dict[str, Any] = {
        "device_id": device_id,
        "device_type": device_type,
        "model": model,
        "cos_party": cos_party,
        "cos_certificate": certificate or cert(1, TCOS_CA if cos_party == "TCoS" else ECOS_CA),
    }
    if mpxn is not None:
        fields["mpxn"] = mpxn
    if comms_hub_id is not None:
        fields["comms_hub_id"] = comms_hub_id
    run.ok("RegisterDevice", **fields)
    return device_id


def commissioned_device(
    run: Runner,
    device_id: str,
    model: dict[str, str],
    *,
    at: datetime = LONG_AGO,
    **kwargs: Any,
) -> str:
    """A registered Device commissioned at ``at`` (long ago unless told otherwise)."""
    register_device(run, device_id, model, **kwargs)
    run.ok("RecordCommissioning", device_id=device_id, at=iso(at))
    return device_id


def supplier_change(run: Runner, mpxn: str, supplier_id: str, effective_from: datetime) -> None:
    run.ok(
        "RecordSupplierChange",
        mpxn=mpxn,
        supplier_id=supplier_id,
        effective_from=iso(effective_from),
    )


def replace_credentials(
    run: Runner, device_id: str, at: datetime, *, party: str = "ECoS", serial: int = 2
) -> CommandResult:
    issuer = ECOS_CA if party == "ECoS" else TCOS_CA
    return run.ok(
        "RecordCredentialsReplaced",
        device_id=device_id,
        at=iso(at),
        party=party,
        certificate=cert(serial, issuer),
    )


def srv623(run: Runner, device_id: str, at: datetime, request_id: str = "SR-1") -> CommandResult:
    return run.ok("RecordSrv623Processed", device_id=device_id, at=iso(at), request_id=request_id)


def prove(
    run: Runner, device_id: str, at: datetime, *, party: str = "ECoS"
) -> tuple[CommandResult, CommandResult]:
    """6.1(b) on one Device: its TCoS certificate replaced at ``at``, an SRV 6.23 a day later."""
    replaced = replace_credentials(run, device_id, at, party=party)
    processed = srv623(run, device_id, at + days(1))
    return replaced, processed


# --- queries --------------------------------------------------------------------------------


def assess(run: Runner, device_id: str, at: datetime = NOW, **extra: Any) -> Any:
    return data(run.ok("AssessEligibility", device_id=device_id, at=iso(at), **extra))


def reason_codes(assessment: Any) -> list[str]:
    return [r["code"] for r in assessment["reasons"]]


def reason(assessment: Any, code: str) -> Any:
    """The one reason with ``code`` in an assessment."""
    found = [r for r in assessment["reasons"] if r["code"] == code]
    assert len(found) == 1, assessment["reasons"]
    return found[0]


def gate(run: Runner, model: dict[str, str], at: datetime = NOW, **extra: Any) -> Any:
    return data(run.ok("BulkGate", model=model, at=iso(at), **extra))


def show_model(run: Runner, model: dict[str, str], **extra: Any) -> Any:
    return data(run.ok("ShowModel", model=model, **extra))


def show_device(run: Runner, device_id: str, **extra: Any) -> Any:
    return data(run.ok("ShowDevice", device_id=device_id, **extra))


# --- the store ------------------------------------------------------------------------------


def stored_events(app: EtmadApplication) -> int:
    """How many events the store holds (its highest notification id)."""
    return app.recorder.max_notification_id() or 0


def rejected_unchanged(run: Runner, name: str, code: str, **fields: Any) -> CommandResult:
    """Assert the command is rejected with ``code`` and that the store is unchanged by it."""
    before = stored_events(run.app)
    result = run.rejected(name, code, **fields)
    assert result.events == ()
    assert stored_events(run.app) == before, f"{name} was rejected but saved events"
    return result
