"""Decisions judged on the facts as they stood at their time (business time), on both stores.

- A Gas Proxy Function's evidence counts for its Communications Hub's Device Model as it is
  when the evidence happens (ETMAD section 2, 6.1(b)).
- The 1.6 decision by policy is dated when the 6.1(b)/6.2 evidence first stood for the model,
  never before it.
- A migration start is judged on the model's suspension, categorisation and 1.6 decision as
  they stood at the start's time (6.1(d), 1.4(a), 1.6).
"""

from __future__ import annotations

from typing import Any

from tests.builders import (
    LONG_AGO,
    NOW,
    chf_model,
    commissioned_device,
    days,
    eui,
    gate,
    iso,
    model_key,
    mpan,
    prove,
    register_model,
    show_model,
)
from tests.conftest import Runner


def test_a_gpf_proves_its_comms_hubs_current_firmware(run: Runner):
    old = chf_model(run, "0100", firmware_rank=1)
    new = chf_model(run, "0200", firmware_rank=2)
    hub = commissioned_device(run, eui(1), old, device_type="CHF")
    gpf = commissioned_device(run, eui(2), old, device_type="GPF", comms_hub_id=hub)
    # The Comms Hub is upgraded; the GPF's Device Model follows it (section 2).
    run.ok("UpgradeFirmware", device_id=hub, at=iso(NOW - days(30)), model=new)
    prove(run, gpf, NOW - days(10))

    assert gate(run, new)["proven"] is True
    assert gate(run, new)["proven_by"]["model"] == new
    assert gate(run, old)["proven"] is True  # 6.2: proven by its later-firmware sibling
    assert gate(run, old)["proven_by"]["model"] == new


def test_the_policy_decision_is_never_dated_before_its_evidence(run: Runner):
    later = register_model(run, "0200", firmware_rank=2)
    device = commissioned_device(run, eui(3), later, mpxn=mpan(3))
    prove(run, device, NOW - days(20))  # proven from NOW - 19 days
    # An earlier firmware registered with a business time before that evidence existed.
    earlier = model_key("0100")
    run.ok(
        "RegisterDeviceModel",
        model=earlier,
        device_type="ESME",
        smets="SMETS2+",
        firmware_rank=1,
        at=iso(LONG_AGO),
    )

    authorisation = gate(run, earlier, explain=True)["authorisation"]
    assert authorisation["decided_by"] == "policy:authorise-bulk-on-proof.v1"
    assert authorisation["at"] == iso(NOW - days(19))
    before = gate(run, earlier, NOW - days(25))
    assert (before["proven"], before["authorised"]) == (False, False)


def test_a_start_is_judged_on_the_suspension_standing_at_its_time(run: Runner):
    model = register_model(run)
    devices = [commissioned_device(run, eui(10 + n), model, mpxn=mpan(10 + n)) for n in range(3)]
    run.ok("SuspendModel", model=model, at=iso(NOW - days(5)), reason="investigating failures")
    run.ok("ResumeModel", model=model, at=iso(NOW - days(2)), reason="fixed")

    # Dated inside the suspension: refused, although it has since been lifted.
    run.rejected(
        "RecordMigrationStarted", "MODEL_SUSPENDED", device_id=devices[0], at=iso(NOW - days(3))
    )
    # Dated before it and after it: accepted.
    run.ok("RecordMigrationStarted", device_id=devices[1], at=iso(NOW - days(6)))
    run.ok("RecordMigrationStarted", device_id=devices[2], at=iso(NOW - days(1)))
    assert gate(run, model)["migrations_started"] == 2


def test_decision_events_name_their_clause(run: Runner):
    model = register_model(run)
    device = commissioned_device(run, eui(20), model, mpxn=mpan(20))
    _, processed = prove(run, device, NOW - days(5))
    by_type: dict[Any, Any] = {e["type"]: e["data"] for e in processed.events}
    assert by_type["etmad.device_model.ProvingEvidenceRecorded.v1"]["clause"] == "ETMAD 6.1(b)"
    assert by_type["etmad.device_model.BulkMigrationAuthorised.v1"]["clause"] == "ETMAD 1.6"
    other = commissioned_device(run, eui(21), model, mpxn=mpan(21))
    started = run.ok("RecordMigrationStarted", device_id=other, at=iso(NOW - days(3)))
    first: Any = started.events[0]
    assert first["data"]["clause"] == "ETMAD 2 (Bulk Migration)"
    assert show_model(run, model)["authorisation"]["by_policy"] is True


def test_an_earlier_sibling_registered_after_the_evidence_is_authorised_from_its_registration(
    run: Runner,
):
    # The earlier firmware joins the estate (business time) after its later sibling was
    # proven; when new evidence then appears, the policy's decision for it is not dated
    # before the model existed.
    later = register_model(run, "0200", firmware_rank=2)
    earlier = model_key("0100")
    registered = NOW - days(3)
    run.ok(
        "RegisterDeviceModel",
        model=earlier,
        device_type="ESME",
        smets="SMETS2+",
        firmware_rank=1,
        at=iso(registered),
    )
    device = commissioned_device(run, eui(30), later, mpxn=mpan(30))
    prove(run, device, NOW - days(20))  # the evidence is dated before that registration

    authorisation = gate(run, earlier, explain=True)["authorisation"]
    assert authorisation["at"] == iso(registered)
    assert gate(run, later, explain=True)["authorisation"]["at"] == iso(NOW - days(19))
