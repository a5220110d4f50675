"""The migration programme day by day on the simulated fleet, on both stores; and
``etmad programme run`` killed and resumed in a subprocess."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters.bootstrap import build_application
from adapters.codecs.gbcs import StatusCode
from adapters.simulated_programme import build_simulated_programme
from adapters.simulator import DeviceBehaviour
from application.mapper import Envelope, event_record
from application.programme import DayReport, Programme
from application.selection import select_day
from application.serialization import canonical_json
from application.service import EtmadApplication, close_application
from application.settings import Settings
from domain.device import Device, device_aggregate_id
from domain.failures import ReplyKind
from domain.identifiers import EUI64, CosParty, DeviceModelKey
from domain.migration import (
    Migration,
    MigrationCompleted,
    MigrationStatus,
    ReplacementCommandSent,
    ReplacementOutcomeRecorded,
    migration_aggregate_id,
)
from domain.selection import (
    DaySelected,
    DaySelection,
    SelectionParameters,
    business_time,
    selection_aggregate_id,
)
from tests.builders import NOW, commissioned_device, eui, iso, register_model, stored_events
from tests.conftest import AppFactory, FixedClock, Runner

DAY = NOW.date() + timedelta(days=1)  # 2023-07-11
PER_MODEL = 6
HEALTHY, REJECTING, SILENT, FLAKY = "E100", "E200", "E300", "E400"
MODELS = (HEALTHY, REJECTING, SILENT, FLAKY)
BEHAVIOURS = {
    DeviceModelKey("ACME", HEALTHY, "2.0", "0100"): DeviceBehaviour.healthy(),
    DeviceModelKey("ACME", REJECTING, "2.0", "0100"): DeviceBehaviour.rejecting(
        StatusCode.BAD_CERTIFICATE
    ),
    DeviceModelKey("ACME", SILENT, "2.0", "0100"): DeviceBehaviour.silent(),
    DeviceModelKey("ACME", FLAKY, "2.0", "0100"): DeviceBehaviour.flaky(0.5),
}


def estate(app: EtmadApplication, per_model: int = PER_MODEL) -> dict[str, list[EUI64]]:
    """``per_model`` commissioned TCoS Devices of each of four models."""
    run = Runner(app)
    devices: dict[str, list[EUI64]] = {}
    for m, name in enumerate(MODELS):
        model = register_model(run, model=name)
        devices[name] = [
            EUI64.parse(commissioned_device(run, eui(100 * m + n), model))
            for n in range(1, per_model + 1)
        ]
    return devices


def programme(app: EtmadApplication, seed: int = 7) -> Programme:
    return build_simulated_programme(app, seed=seed, behaviours=BEHAVIOURS)


def migration(app: EtmadApplication, device_id: EUI64) -> Migration:
    found = app.load(migration_aggregate_id(device_id), Migration.create)
    assert found is not None
    return found


def cos_party(app: EtmadApplication, device_id: EUI64) -> CosParty:
    device = app.load(device_aggregate_id(device_id), Device.create)
    assert device is not None
    return device.cos_party


def all_events(app: EtmadApplication) -> list[Envelope]:
    events = []
    for notification in app.recorder.select_notifications(start=1, limit=1_000_000):
        envelope = app.mapper.to_domain_event(notification)
        assert isinstance(envelope, Envelope)
        events.append(envelope)
    return events


def per_aggregate(events: list[Envelope]) -> dict[str, list[bytes]]:
    streams: dict[str, list[bytes]] = {}
    for e in events:
        streams.setdefault(e.originator_id, []).append(canonical_json(event_record(e)))
    return streams


def canonical_stream(app: EtmadApplication) -> list[bytes]:
    """Every stored event's canonical record, recording time excluded, in log order."""
    return [canonical_json(event_record(e)) for e in all_events(app)]


def test_days_migrate_healthy_devices_end_rejecting_ones_and_retry_silent_ones(
    make_app: AppFactory,
) -> None:
    app = make_app()
    devices = estate(app)
    reports = programme(app).run_days(DAY, 3)
    first = reports[0]
    assert first.newly_selected
    assert first.selected == first.started == len(MODELS) * PER_MODEL
    assert first.succeeded >= PER_MODEL
    assert first.completed_unsuccessfully == PER_MODEL  # the rejecting model
    assert first.failed["REPLACEMENT_REJECTED"] == PER_MODEL
    assert first.failed["REPLACEMENT_NO_RESPONSE"] >= 3 * PER_MODEL  # silent: three attempts
    for device_id in devices[HEALTHY]:
        assert migration(app, device_id).succeeded
        assert cos_party(app, device_id) is CosParty.ECOS
    for device_id in devices[REJECTING]:
        assert migration(app, device_id).status is MigrationStatus.COMPLETED_UNSUCCESSFULLY
        assert cos_party(app, device_id) is CosParty.TCOS
    for device_id in devices[SILENT]:
        m = migration(app, device_id)
        assert m.status is MigrationStatus.RETRY_SCHEDULED
        assert m.attempts >= 4  # the first, two retries on day 1, one on each later day
    assert first.retries >= 2 * PER_MODEL  # the silent model's 1-hour and 6-hour retries
    for later in reports[1:]:
        assert later.newly_selected  # each business day has its own selection
        # the rejecting model's Devices rest after their failed series (1.3, our choice: 7
        # days unless a remediation is resolved sooner); nobody else is left to select
        assert later.selected == later.started == later.completed_unsuccessfully == 0
    # the silent model: back-off 1 hour and 6 hours (day 1), 1 day (day 2), then 2 days
    assert [r.retries for r in reports[1:]] == [PER_MODEL, 0]


def test_running_a_day_again_does_nothing_new(make_app: AppFactory) -> None:
    app = make_app()
    estate(app, per_model=3)
    loaded = stored_events(app)
    first = programme(app).run_day(DAY)
    held = stored_events(app)
    assert first.events == held - loaded > 0
    again = programme(app).run_day(DAY)  # a fresh programme: only the store carries state
    assert stored_events(app) == held
    assert not again.newly_selected
    assert again.selected == first.selected
    assert (again.started, again.succeeded, again.retries, again.events) == (0, 0, 0, 0)
    assert not again.failed
    assert not again.skipped


def test_a_device_refused_at_its_start_is_skipped_and_the_day_goes_on(
    make_app: AppFactory,
) -> None:
    app = make_app()
    devices = estate(app, per_model=2)
    select_day(app, DAY)
    gone = devices[HEALTHY][0]
    Runner(app).ok("RecordDecommissioning", device_id=str(gone), at=iso(business_time(DAY)))
    report = programme(app).run_day(DAY)
    assert not report.newly_selected
    assert report.started == len(MODELS) * 2 - 1
    assert sum(report.skipped.values()) == 1
    assert app.load(migration_aggregate_id(gone), Migration.create) is None
    assert migration(app, devices[HEALTHY][1]).succeeded


def test_the_same_seed_gives_the_same_event_streams() -> None:
    streams = []
    for _ in range(2):
        app = build_application("memory:", settings=Settings(), clock=FixedClock())
        try:
            estate(app, per_model=4)
            programme(app, seed=11).run_days(DAY, 3)
            streams.append(canonical_stream(app))
        finally:
            close_application(app)
    assert streams[0] == streams[1]
    assert any(b"ReplacementCommandSent" in record for record in streams[0])


def test_a_programme_run_in_two_invocations_equals_one_run() -> None:
    """Rebuilding the simulation from the log between days continues it exactly."""
    streams = []
    for split in (False, True):
        app = build_application("memory:", settings=Settings(), clock=FixedClock())
        try:
            estate(app, per_model=4)
            if split:
                programme(app, seed=11).run_days(DAY, 2)
                programme(app, seed=11).run_days(DAY + timedelta(days=2), 2)
            else:
                programme(app, seed=11).run_days(DAY, 4)
            streams.append(canonical_stream(app))
        finally:
            close_application(app)
    assert streams[0] == streams[1]


# --- the command line, killed and resumed --------------------------------------------------

TIMEOUT = 120.0


def _cli(store: Path, days: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "adapters.cli.main",
        "programme",
        "run",
        "--days",
        str(days),
        "--from",
        DAY.isoformat(),
        "--store",
        f"sqlite:///{store}",
        "--seed",
        "5",
    ]


def _env() -> dict[str, str]:
    root = Path(__file__).resolve().parent.parent
    return {**os.environ, "PYTHONPATH": str(root), "ETMAD_STORE": ""}


def _run_to_completion(store: Path, days: int) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        _cli(store, days), capture_output=True, text=True, timeout=TIMEOUT, env=_env(), check=False
    )
    assert done.returncode == 0, done.stderr
    return done


def _kill_after_first_day(store: Path, days: int) -> None:
    process = subprocess.Popen(
        _cli(store, days),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=_env(),
    )
    timer = threading.Timer(TIMEOUT, process.kill)
    timer.start()
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith(DAY.isoformat()), line
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=TIMEOUT)
    finally:
        timer.cancel()
        if process.poll() is None:  # pragma: no cover — only if the wait above timed out
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def _final_state(store: Path) -> tuple[set[EUI64], list[Envelope]]:
    app = build_application(f"sqlite:///{store}", settings=Settings())
    try:
        events = all_events(app)
        migrated = {
            EUI64.parse(e.originator_id.removeprefix("migration:"))
            for e in events
            if isinstance(e.event, MigrationCompleted)
        }
        return migrated, events
    finally:
        close_application(app)


@pytest.mark.slow
def test_a_killed_programme_run_resumes_to_the_state_of_an_uninterrupted_one(
    tmp_path: Path,
) -> None:
    days = 4
    loaded = tmp_path / "loaded.sqlite"
    app = build_application(f"sqlite:///{loaded}", settings=Settings(), clock=FixedClock())
    try:
        estate(app, per_model=10)
    finally:
        close_application(app)
    killed, whole = tmp_path / "killed.sqlite", tmp_path / "whole.sqlite"
    shutil.copyfile(loaded, killed)
    shutil.copyfile(loaded, whole)

    _kill_after_first_day(killed, days)
    resumed = _run_to_completion(killed, days)
    _run_to_completion(whole, days)
    assert "selection reused" in resumed.stdout  # at least the first day was done already

    migrated_after_kill, events_after_kill = _final_state(killed)
    migrated, events = _final_state(whole)
    assert migrated_after_kill == migrated
    assert migrated  # the seeded behaviours migrate the healthy models
    for stream in (events_after_kill, events):
        completed = Counter(
            e.originator_id for e in stream if isinstance(e.event, MigrationCompleted)
        )
        assert set(completed.values()) == {1}  # no Device migrated twice
        counters = Counter(
            (e.originator_id, e.event.originator_counter)
            for e in stream
            if isinstance(e.event, ReplacementCommandSent)
        )
        assert set(counters.values()) == {1}  # no counter sent twice
        selected = [e for e in stream if e.originator_id.startswith("selection:")]
        assert len(selected) == days  # each day selected once
    # Every aggregate has the same canonical stream as in the uninterrupted run, except where
    # the kill landed during a send: that Migration reconciled its command (its simulated
    # Device lived in the killed process) and the retry policy took over.
    interrupted = {
        e.originator_id
        for e in events_after_kill
        if isinstance(e.event, ReplacementOutcomeRecorded)
        and e.event.outcome.kind is ReplyKind.INTERRUPTED
    }
    spared = interrupted | {
        device_aggregate_id(EUI64.parse(m.removeprefix("migration:"))) for m in interrupted
    }
    after_kill, whole_run = per_aggregate(events_after_kill), per_aggregate(events)
    assert set(after_kill) == set(whole_run)
    assert {a for a in whole_run if after_kill[a] != whole_run[a]} <= spared


def test_day_report_as_dict_is_json_ready() -> None:
    report = DayReport(day=DAY)
    report.failed["REPLACEMENT_REJECTED"] += 2
    report.skipped["INELIGIBLE"] += 1
    shown = report.as_dict()
    assert shown["day"] == DAY.isoformat()
    assert shown["failed"] == {"REPLACEMENT_REJECTED": 2}
    assert shown["skipped"] == {"INELIGIBLE": 1}


def test_the_cli_reports_each_day_and_ctrl_c_exits_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from adapters.cli import programme as cli  # noqa: PLC0415 — the module under test
    from adapters.cli.main import main  # noqa: PLC0415

    args = ["programme", "run", "--store", "memory:", "--from", DAY.isoformat(), "--days", "2"]
    assert main([*args, "--json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line).get("day") for line in lines[:2]] == [
        DAY.isoformat(),
        (DAY + timedelta(days=1)).isoformat(),
    ]
    assert json.loads(lines[-1])["totals"]["days"] == 2

    class Interrupted:
        def run_days(self, *_: object, **__: object) -> None:
            raise KeyboardInterrupt

    monkeypatch.setattr(cli, "build_simulated_programme", lambda *_, **__: Interrupted())
    assert main(args) == 130
    assert "interrupted; run again to continue" in capsys.readouterr().err


def test_the_simulated_pki_is_rebuilt_byte_for_byte_from_its_seed() -> None:
    from adapters.simulated_programme import TCOS_KEY, simulated_pki  # noqa: PLC0415

    one, two, other = simulated_pki(3), simulated_pki(3), simulated_pki(4)
    assert (one.oca.der, one.tcos.der, one.ecos.der) == (two.oca.der, two.tcos.der, two.ecos.der)
    assert one.ecos.der != other.ecos.der
    assert one.signer.sign(TCOS_KEY, b"data") == two.signer.sign(TCOS_KEY, b"data")
    assert one.signer.sign(TCOS_KEY, b"data") != other.signer.sign(TCOS_KEY, b"data")


# --- selected again after a failed series (1.3) ---------------------------------------------


def test_a_failed_series_is_selected_again_after_its_rest_or_its_remediation(
    make_app: AppFactory,
) -> None:
    app = make_app()
    devices = estate(app, per_model=2)
    prog = programme(app)
    prog.run_day(DAY)
    first, second = devices[REJECTING]
    assert migration(app, first).status is MigrationStatus.COMPLETED_UNSUCCESSFULLY
    # An open remediation holds the first Device back; the second rests for 7 days.
    ended = migration(app, first).current_series.ended_at
    assert ended is not None
    Runner(app).ok(
        "AssignRemediation",
        device_id=str(first),
        at=iso(ended + timedelta(hours=1)),
        basis="failed_migration",
        owner="DCC",
        root_cause="trust anchor cell rejects the ECoS certificate (badCertificate)",
    )
    week = [prog.run_day(DAY + timedelta(days=n)) for n in range(1, 9)]
    # it ended a few seconds into DAY: 7 days later is a few seconds into DAY + 7
    assert [r.selected for r in week[:7]] == [0] * 7
    assert week[7].selected == 1  # DAY + 8: only the second, its rest over
    assert migration(app, second).current_series.number == 2
    assert migration(app, first).current_series.number == 1
    # The remediation resolved: the first is selected the next day.
    Runner(app).ok(
        "RecordRemediationAction",
        device_id=str(first),
        at=iso(business_time(DAY + timedelta(days=9)) + timedelta(hours=9)),
        remediation=1,
        action="other",
        detail="trust anchor cell reset by the DCC",
        outcome="resolved",
    )
    again = prog.run_day(DAY + timedelta(days=10))
    assert again.selected == again.started == 1
    assert migration(app, first).current_series.number == 2


# --- the operator's commands (6.1(b)) -------------------------------------------------------


def test_a_stopped_programme_selects_nothing_and_a_set_capacity_is_used(
    make_app: AppFactory,
) -> None:
    app = make_app()
    estate(app, per_model=3)
    run = Runner(app)
    run.ok(
        "StopProgramme",
        at=iso(business_time(DAY) - timedelta(hours=1)),
        decided_by="DCC migration manager",
        reason="go-live moved by a day",
    )
    stopped = programme(app).run_day(DAY)
    assert stopped.stopped
    assert (stopped.selected, stopped.started, stopped.events) == (0, 0, 0)
    assert programme(app).selection(DAY) is None  # no selection is recorded for the day
    later = DAY + timedelta(days=1)
    run.ok("StartProgramme", at=iso(business_time(later) - timedelta(hours=2)), decided_by="DCC")
    run.ok(
        "SetProgrammeCapacity",
        at=iso(business_time(later) - timedelta(hours=1)),
        daily_capacity=5,
        decided_by="DCC",
    )
    report = programme(app).run_day(later)
    assert not report.stopped
    assert report.selected == report.started == 5


# --- the Bulk Migration number under concurrent starts (1.6, section 2) -----------------------


def test_two_workers_starting_one_model_never_pass_the_bulk_migration_number(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'shared.sqlite'}"
    cap = 12
    settings = Settings(bulk_migration_number=cap)
    setup = build_application(url, settings=settings, clock=FixedClock())
    run = Runner(setup)
    model = register_model(run, model=HEALTHY)
    devices = [EUI64.parse(commissioned_device(run, eui(n), model)) for n in range(1, 31)]
    close_application(setup)
    workers = [build_application(url, settings=settings, clock=FixedClock()) for _ in range(2)]
    reports = [DayReport(day=DAY) for _ in workers]
    halves = (devices[0::2], devices[1::2])
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            prog = programme(workers[n])
            barrier.wait()
            for batch in (halves[n][i : i + 3] for i in range(0, len(halves[n]), 3)):
                prog._start(batch, business_time(DAY), "selection:concurrent", reports[n])
        except BaseException as e:  # noqa: BLE001 — reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    try:
        started = [
            d for d in devices if workers[0].load(migration_aggregate_id(d), Migration.create)
        ]
        assert len(started) == sum(r.started for r in reports) == cap
        assert sum(sum(r.skipped.values()) for r in reports) == len(devices) - cap
        gate = workers[0].bulk_gate(
            DeviceModelKey("ACME", HEALTHY, "2.0", "0100"), business_time(DAY) + timedelta(hours=1)
        )
        assert gate.migrations_started == cap
    finally:
        for w in workers:
            close_application(w)


# --- pilot, proving, the 1.6 decision, ramp-up (1.6, 6.1(b)) --------------------------------


def test_pilot_then_proving_then_authorisation_then_ramp_up(make_app: AppFactory) -> None:
    app = make_app(
        Settings(
            selection=SelectionParameters(
                daily_capacity=1000, pilot_size=4, ramp_up=((0, 5), (2, 100))
            )
        )
    )
    run = Runner(app)
    model = register_model(run, model=HEALTHY)
    key = DeviceModelKey(**model)
    devices = [EUI64.parse(commissioned_device(run, eui(n), model)) for n in range(1, 41)]
    prog = programme(app)

    def limits(day: date) -> list[str]:
        selection = app.load(selection_aggregate_id(day), DaySelection.create)
        assert selection is not None
        recorded = [
            e.event
            for e in app.stored(selection_aggregate_id(day))
            if isinstance(e.event, DaySelected)
        ]
        (allowance,) = recorded[0].allowances
        return [limit.code for limit in allowance.limits]

    pilot = prog.run_day(DAY)  # no 1.6 decision: the pilot of 4
    assert pilot.selected == pilot.succeeded == 4
    assert limits(DAY) == ["PILOT_SIZE"]
    quiet = prog.run_day(DAY + timedelta(days=1))  # the pilot is used up; nothing is proven
    assert quiet.selected == 0
    assert app.device_model(key).authorisation is None
    # 6.1(b)(ii): an SRV 6.23 on a migrated Device proves the model; the policy decides (1.6).
    migrated = next(d for d in devices if migration(app, d).succeeded)
    proven_at = business_time(DAY + timedelta(days=1)) + timedelta(hours=12)
    run.ok("RecordSrv623Processed", device_id=str(migrated), at=iso(proven_at), request_id="SR-1")
    authorisation = app.device_model(key).authorisation
    assert authorisation is not None
    ramp = [prog.run_day(DAY + timedelta(days=n)) for n in (2, 3, 4)]
    # decided on DAY + 1: one day after it 5 a day; from day 2 100, more than is left
    assert [r.selected for r in ramp] == [5, 40 - 4 - 5, 0]
    assert limits(DAY + timedelta(days=2)) == ["RAMP_UP"]
    assert limits(DAY + timedelta(days=3)) == []  # the cap of 100 held nothing back
    assert all(migration(app, d).succeeded for d in devices)


# --- the Devices that have Failed Migration (1.8(a), H17.5) -----------------------------------


def test_failed_migrations_are_listed_with_their_h17_5_items_as_of_a_time(
    make_app: AppFactory,
) -> None:
    app = make_app()
    devices = estate(app, per_model=2)
    programme(app).run_day(DAY)
    run = Runner(app)
    before = run.ok("ListFailedMigrations", at=iso(business_time(DAY)))
    assert before.result == {"as_of": iso(business_time(DAY)), "devices": []}
    after = run.ok("ListFailedMigrations", at=iso(business_time(DAY + timedelta(days=1))))
    assert isinstance(after.result, dict)
    items: list[dict[str, Any]] = after.result["devices"]  # type: ignore[assignment]
    listed = {item["device_id"]: item for item in items}
    for device_id in devices[REJECTING]:
        item = listed[str(device_id)]
        assert item["failure_code"] == "REPLACEMENT_REJECTED"
        assert item["failure_sub_code"] == "badCertificate(5)"
        assert item["status"] == "completed_unsuccessfully"
        assert item["step"] == "replacement"
    for device_id in devices[SILENT]:
        assert listed[str(device_id)]["failure_code"] == "REPLACEMENT_NO_RESPONSE"
        assert listed[str(device_id)]["status"] == "retry_scheduled"
    assert not any(str(d) in listed for d in devices[HEALTHY])
