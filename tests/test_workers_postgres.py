"""Several worker processes on one PostgreSQL store (issue 6, "Concurrency and faults"):
workers running the same days at once, a worker killed mid-run, the database restarted under a
running worker, and SRV 6.23 requests processed by two processes at once. Each worker is a real
process (``etmad programme run`` or a small module entry), the store a throwaway server.

What must hold afterwards, read from the store itself (``check_store``): every aggregate's
versions run 1, 2, 3, ... (no event lost or doubled) and each notification id appears once; no
Device completed a migration twice or had two series started from one day's selection; no
counter was sent twice; no Device Model counted more starts than the Bulk Migration number
before a 1.6 decision; and every ``MigrationStarted`` on a Device Model was saved with its
``SeriesStarted`` on the Migration (one unit of work, ``MigrationRunner.start_many``), and
vice versa.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from eventsourcing.persistence import OperationalError
from psycopg import sql

from adapters.bootstrap import build_application
from application.mapper import Envelope
from application.service import EtmadApplication, close_application
from application.settings import Settings
from domain.device_model import BulkMigrationAuthorised, MigrationStarted
from domain.identifiers import EUI64, CosParty, DeviceType, parse_mpxn
from domain.migration import (
    Migration,
    MigrationCompleted,
    MigrationStatus,
    ReplacementCommandSent,
    SeriesStarted,
)
from domain.refused_request import Refused
from domain.registration import SupplierChange
from domain.selection import business_time
from domain.service_request import ServiceRequest, ServiceRequestStatus
from tests.builders import commissioned_device, eui, register_model
from tests.conftest import FixedClock, Runner
from tests.duis_support import IMMEDIATE, require_vectors
from tests.postgres_support import Cluster, NoServerError, Server
from tests.srv623_support import IMPORT_MPXN, MODEL, TARGET, Srv623World

ROOT = Path(__file__).resolve().parent.parent
DAY = date(2023, 7, 11)
DAYS = 3
SEED = 5
CAP = 5  # the Bulk Migration number for these runs (300 in production)
MODELS = ("E100", "E200", "E300", "E400")
PER_MODEL = 8  # more than CAP: the Bulk gate is reached
TIMEOUT = 90.0
#: A worker is interrupted once it has saved more than this many events of its own.
MID_RUN = 40
#: Seconds the database is down: longer than eventsourcing's own retries hide (see store_url).
OUTAGE = 15.0


# --- the store and the estate --------------------------------------------------------------


def store_url(server: Server, schema: str) -> str:
    # pre_ping: a pooled connection cut by a restart is noticed before it is used;
    # connect_timeout: eventsourcing's recorders retry each call ten times, each waiting this
    # long for a connection, before the worker hears of an outage (about 12 s here)
    return server.url(
        schema=schema, pool_size=1, max_overflow=4, pre_ping="true", connect_timeout=1
    )


def settings() -> Settings:
    return Settings(bulk_migration_number=CAP)


def load_estate(url: str) -> list[EUI64]:
    """``PER_MODEL`` commissioned TCoS Devices of each model."""
    app = build_application(url, settings=settings(), clock=FixedClock())
    try:
        run = Runner(app)
        devices = []
        for m, name in enumerate(MODELS):
            model = register_model(run, model=name)
            devices += [
                EUI64.parse(commissioned_device(run, eui(100 * m + n), model))
                for n in range(1, PER_MODEL + 1)
            ]
        return devices
    finally:
        close_application(app)


def env() -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "ETMAD_STORE": "",
        "ETMAD_BULK_MIGRATION_NUMBER": str(CAP),
    }


def worker(url: str, *extra: str, days: int = DAYS) -> list[str]:
    return [
        sys.executable,
        "-m",
        "adapters.cli.main",
        "programme",
        "run",
        "--from",
        DAY.isoformat(),
        "--days",
        str(days),
        "--store",
        url,
        "--seed",
        str(SEED),
        *extra,
    ]


#: ``etmad programme run`` as the CLI runs it (``run_programme``), in a worker that opens the
#: store first — one worker at a time, under a file lock: eventsourcing's table set-up replaces a
#: database function, which two connections cannot do at the same instant (see the report on
#: ``adapters/storage/postgres.py``) — says so (the file named by its first argument), and waits
#: for the file named by its second: workers started together run within milliseconds.
ON_GO = (
    "import fcntl, os, sys, time\n"
    "from adapters.bootstrap import build_application, settings_from_env\n"
    "from adapters.cli.main import build_parser\n"
    "from adapters.cli.programme import run_programme\n"
    "ready, go, lock, *argv = sys.argv[1:]\n"
    "args = build_parser().parse_args(argv)\n"
    "with open(lock, 'w') as held:\n"
    "    fcntl.flock(held, fcntl.LOCK_EX)\n"
    "    app = build_application(args.store, settings=settings_from_env())\n"
    "open(ready, 'w').close()\n"
    "while not os.path.exists(go):\n"
    "    time.sleep(0.001)\n"
    "sys.exit(run_programme(args, app))\n"
)


def together(commands: list[list[str]], folder: Path) -> list[subprocess.Popen[str]]:
    """Start the ``etmad`` commands at the same moment (once each has imported)."""
    go = folder / "go"
    ready = [folder / f"ready-{n}" for n in range(len(commands))]
    workers = [
        start([sys.executable, "-c", ON_GO, str(r), str(go), str(folder / "lock"), *c[3:]])
        for r, c in zip(ready, commands, strict=True)
    ]
    deadline = time.monotonic() + TIMEOUT
    while not all(r.exists() for r in ready):
        assert time.monotonic() < deadline, "the workers did not start"
        assert all(w.poll() is None for w in workers), "a worker ended before it began"
        time.sleep(0.01)
    go.touch()
    return workers


def start(command: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env(),
    )


def finish(process: subprocess.Popen[str]) -> tuple[str, str]:
    try:
        out, err = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:  # pragma: no cover — a hung worker fails the test
        process.kill()
        out, err = process.communicate()
        pytest.fail(f"a worker ran longer than {TIMEOUT}s:\n{err[-3000:]}")
    assert process.returncode == 0, err[-3000:]
    return out, err


def run_worker(url: str, *extra: str) -> tuple[str, str]:
    return finish(start(worker(url, *extra)))


# --- reading the store back ----------------------------------------------------------------


def stored(url: str) -> list[tuple[int, Envelope]]:
    app = build_application(url, settings=settings())
    try:
        return stored_in(app)
    finally:
        close_application(app)


def migrations(url: str) -> dict[str, Migration]:
    app = build_application(url, settings=settings())
    try:
        found = {}
        for _, envelope in stored_in(app):
            if envelope.originator_id.startswith("migration:"):
                state = app.load(envelope.originator_id, Migration.create)
                assert state is not None
                found[envelope.originator_id] = state
        return found
    finally:
        close_application(app)


def stored_in(app: EtmadApplication) -> list[tuple[int, Envelope]]:
    return [
        (n.id, app.mapper.to_domain_event(n))  # type: ignore[misc]
        for n in app.recorder.select_notifications(start=1, limit=1_000_000)
    ]


def check_store(url: str) -> list[Envelope]:
    """The invariants of the module docstring; returns the events in log order."""
    log = stored(url)
    ids = [n for n, _ in log]
    assert ids == sorted(set(ids)), "a notification id is missing its order or appears twice"
    events = [e for _, e in log]
    versions: dict[str, list[int]] = {}
    for e in events:
        versions.setdefault(e.originator_id, []).append(e.originator_version)
    for aggregate, seen in versions.items():
        assert seen == list(range(1, len(seen) + 1)), f"{aggregate}: versions {seen}"

    completed = Counter(e.originator_id for e in events if isinstance(e.event, MigrationCompleted))
    assert not completed or max(completed.values()) == 1, "a Device was migrated twice"
    series = Counter(
        (e.originator_id, e.event.selection_ref)
        for e in events
        if isinstance(e.event, SeriesStarted)
    )
    assert not series or max(series.values()) == 1, "two series from one day's selection"
    counters = Counter(
        (e.originator_id, e.event.originator_counter)
        for e in events
        if isinstance(e.event, ReplacementCommandSent)
    )
    assert not counters or max(counters.values()) == 1, "a counter was sent twice"

    # Before a model's 1.6 decision, at most CAP distinct Devices counted against its gate
    # (a Device's later series is recorded, not counted again).
    decided: set[str] = set()
    counted: dict[str, set[str]] = {}
    for e in events:
        if isinstance(e.event, BulkMigrationAuthorised):
            decided.add(e.originator_id)
        elif isinstance(e.event, MigrationStarted) and e.originator_id not in decided:
            devices = counted.setdefault(e.originator_id, set())
            assert e.event.counted == (str(e.event.device_id) not in devices), e
            devices.add(str(e.event.device_id))
    over = {model: len(d) for model, d in counted.items() if len(d) > CAP}
    assert not over, f"over the Bulk Migration number: {over}"

    # One unit of work: the model's MigrationStarted and the Migration's SeriesStarted, together.
    on_models = {
        (str(e.event.device_id), e.event.occurred_at, e.recorded_at)
        for e in events
        if isinstance(e.event, MigrationStarted)
    }
    on_migrations = {
        (str(e.event.device_id), e.event.occurred_at, e.recorded_at)
        for e in events
        if isinstance(e.event, SeriesStarted)
    }
    assert on_models == on_migrations, "a start saved without its other half"
    return events


def final(url: str, last_day: date) -> dict[str, MigrationStatus]:
    """Each Migration's status; none is left in an attempt or awaiting a decision, and every
    retry scheduled is due after the last day."""
    end = business_time(last_day + timedelta(days=1))
    statuses: dict[str, MigrationStatus] = {}
    for key, migration in migrations(url).items():
        assert migration.status in {
            MigrationStatus.SUCCEEDED,
            MigrationStatus.COMPLETED_UNSUCCESSFULLY,
            MigrationStatus.RETRY_SCHEDULED,
        }, (key, migration.status)
        if migration.status is MigrationStatus.RETRY_SCHEDULED:
            assert migration.next_retry_at is not None
            assert migration.next_retry_at >= end, (key, migration.next_retry_at)
        statuses[key] = migration.status
    return statuses


def succeeded(statuses: dict[str, MigrationStatus]) -> set[str]:
    return {k for k, s in statuses.items() if s is MigrationStatus.SUCCEEDED}


# --- servers -------------------------------------------------------------------------------

_SCHEMAS = itertools.count(1)


def new_schema(server: Server) -> str:
    """A new, empty schema (on a connection of its own: the restart test cuts connections)."""
    name = f"workers_{next(_SCHEMAS)}"
    with contextlib.closing(server.connect()) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    return name


def notifications(server: Server, schema: str) -> int:
    with contextlib.closing(server.connect()) as conn:
        row = conn.execute(
            sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, "etmad_events"))
        ).fetchone()
    return 0 if row is None else int(str(row[0]))


def wait_for_work(server: Server, schema: str, loaded: int, process: subprocess.Popen[str]) -> int:
    """Wait until the worker has saved some events of its own (mid-run); their number."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        saved = notifications(server, schema) - loaded
        if saved > MID_RUN:
            return saved
        assert process.poll() is None, "the worker ended before it was interrupted"
        time.sleep(0.01)
    pytest.fail("the worker saved nothing")  # pragma: no cover


@pytest.fixture(scope="module")
def own_server() -> Iterator[tuple[Cluster, Server]]:
    """A server of this module's own, which the restart test restarts."""
    folder = Path(tempfile.mkdtemp(prefix="etmad-pg-workers-"))
    try:
        try:
            cluster = Cluster(folder)
        except NoServerError as e:
            pytest.skip(f"PostgreSQL store: {e}")
        cluster.init()
        server = cluster.start()
        try:
            yield cluster, server
        finally:
            cluster.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def server(own_server: tuple[Cluster, Server]) -> Server:
    return own_server[1]


@pytest.fixture(scope="module")
def single_run(server: Server) -> dict[str, MigrationStatus]:
    """One worker alone over the days, on a fresh store: what the others are compared with."""
    url = store_url(server, new_schema(server))
    load_estate(url)
    run_worker(url)
    check_store(url)
    return final(url, DAY + timedelta(days=DAYS - 1))


# --- (a) several workers over the same days at once ----------------------------------------


def test_three_workers_over_the_same_days_migrate_each_device_once_within_the_cap(
    server: Server, single_run: dict[str, MigrationStatus], tmp_path: Path
) -> None:
    url = store_url(server, new_schema(server))
    devices = load_estate(url)
    workers = together([worker(url) for _ in range(3)], tmp_path)
    outputs = [finish(w) for w in workers]
    events = check_store(url)
    statuses = final(url, DAY + timedelta(days=DAYS - 1))
    assert succeeded(single_run)  # the seeded fleet migrates some Devices
    # Every Device the single worker started was started here too, and ended the same way.
    assert statuses == single_run
    started = {e.originator_id for e in events if isinstance(e.event, SeriesStarted)}
    assert len(started) <= len(devices)
    days = [e for e in events if e.originator_id.startswith("selection:")]
    assert len(days) == DAYS  # each day selected once, by one of the workers
    # They ran at once and met: a save conflicted and was decided again.
    assert any("conflicts" in out for out, _ in outputs) or any(
        "another worker saved first" in err for _, err in outputs
    ), outputs


def test_workers_sharing_the_devices_out_finish_the_same_programme(
    server: Server, single_run: dict[str, MigrationStatus], tmp_path: Path
) -> None:
    url = store_url(server, new_schema(server))
    load_estate(url)
    workers = together([worker(url, "--worker", f"{k}/3") for k in range(3)], tmp_path)
    for w in workers:
        finish(w)
    # Each day's own Devices were carried by their worker; a last pass of one worker over all
    # of them finds the days done.
    out, _ = run_worker(url)
    assert "selection reused" in out
    check_store(url)
    assert final(url, DAY + timedelta(days=DAYS - 1)) == single_run


# --- (b) a worker killed mid-run -----------------------------------------------------------


def test_a_worker_killed_mid_run_leaves_whole_units_of_work_and_a_rerun_completes(
    server: Server, single_run: dict[str, MigrationStatus]
) -> None:
    schema = new_schema(server)
    url = store_url(server, schema)
    load_estate(url)
    loaded = notifications(server, schema)
    victim = start(worker(url))
    survivor = start(worker(url))
    try:
        wait_for_work(server, schema, loaded, victim)
        victim.send_signal(signal.SIGKILL)
        victim.communicate(timeout=TIMEOUT)
    finally:
        if victim.poll() is None:  # pragma: no cover — only if the wait above failed
            victim.kill()
            victim.communicate()
    assert victim.returncode == -signal.SIGKILL
    finish(survivor)  # the survivor carried on regardless
    check_store(url)  # all of each unit of work, or none of it
    run_worker(url)  # a rerun over the same days
    check_store(url)
    assert final(url, DAY + timedelta(days=DAYS - 1)) == single_run


# --- (c) the database restarted under a running worker -------------------------------------


def test_a_database_restart_is_reported_waited_through_and_the_worker_resumes(
    own_server: tuple[Cluster, Server], single_run: dict[str, MigrationStatus]
) -> None:
    cluster, server = own_server
    schema = new_schema(server)
    url = store_url(server, schema)
    load_estate(url)
    loaded = notifications(server, schema)
    process = start(worker(url, "--max-outage-wait", "60"))
    wait_for_work(server, schema, loaded, process)
    cluster.restart(server, down_for=OUTAGE)
    out, err = finish(process)
    assert "the store is unavailable" in err, err[-3000:]
    assert "resumed" in err
    assert "outages" in out  # the day's line says so too
    check_store(url)
    assert final(url, DAY + timedelta(days=DAYS - 1)) == single_run
    assert len(out.strip().splitlines()) == DAYS + 1  # every day, then the totals


def test_an_outage_longer_than_the_wait_stops_the_worker_with_its_work_saved(
    own_server: tuple[Cluster, Server], single_run: dict[str, MigrationStatus]
) -> None:
    cluster, server = own_server
    schema = new_schema(server)
    url = store_url(server, schema)
    load_estate(url)
    loaded = notifications(server, schema)
    process = start(worker(url, "--max-outage-wait", "0"))
    try:
        wait_for_work(server, schema, loaded, process)
        cluster.stop()
        try:
            process.wait(timeout=TIMEOUT)
        finally:
            cluster.restart(server)
    finally:
        if process.poll() is None:  # pragma: no cover — only if the wait above failed
            process.kill()
    _, err = process.communicate()
    assert process.returncode == 75, err[-3000:]
    assert "longer than this worker waits" in err
    check_store(url)  # what it committed is whole
    run_worker(url)  # run again: it continues
    check_store(url)
    assert final(url, DAY + timedelta(days=DAYS - 1)) == single_run


# --- (d) SRV 6.23 requests processed by two processes at once ------------------------------

SECOND = "00-DB-12-34-56-78-90-A1"  # a second target Device, of the same premises

#: A process that processes SRV 6.23 requests (files) one after the other, once told to go;
#: each carried through conflicts by ``Resilience``; one JSON line per request.
SRV623_WORKER = (
    "import json, os, sys, time\n"
    "from pathlib import Path\n"
    "from adapters.bootstrap import build_application\n"
    "from application.resilience import Resilience\n"
    "from application.settings import Settings\n"
    "from application.srv623_chain import process_srv623\n"
    "from domain.identifiers import EUI64\n"
    "from tests.duis_support import AT, require_vectors\n"
    "from tests.srv623_support import MODEL, TARGET, Srv623World\n"
    "url, ready, go, *files = sys.argv[1:]\n"
    "world = Srv623World(require_vectors())\n"
    "fleet = world.fleet()\n"
    "for device in (TARGET, EUI64.parse(" + repr(SECOND) + ")):\n"
    "    fleet.add_device(device, MODEL, credential=world.ecos.der)\n"
    "app = build_application(url, settings=Settings())\n"
    "setup = world.setup(app, fleet=fleet)\n"
    "open(ready, 'w').close()\n"
    "while not os.path.exists(go):\n"
    "    time.sleep(0.001)\n"
    "for name in files:\n"
    "    data = Path(name).read_bytes()\n"
    "    result = Resilience().run(\n"
    "        app, 'srv623', lambda: process_srv623(app, setup.dcc, setup.parties, data, at=AT)\n"
    "    )\n"
    "    print(json.dumps({'file': name, 'status': result.status, 'message': result.message,\n"
    "                      'request_id': result.request_id}), flush=True)\n"
)


def test_two_processes_process_distinct_srv623_requests_once_and_refuse_the_duplicates(
    server: Server, tmp_path: Path
) -> None:
    world = Srv623World(require_vectors())  # skips where the DCC material is missing
    url = store_url(server, new_schema(server))
    app = build_application(url, settings=Settings(), clock=FixedClock())
    try:
        world.inventory(app, migrated=True)
        app.register_device(
            device_id=EUI64.parse(SECOND),
            device_type=DeviceType.ESME,
            model=MODEL,
            mpxn=parse_mpxn(IMPORT_MPXN, mpan_check_digit=False),
            cos_party=CosParty.TCOS,
            cos_certificate=world.tcos_certificate.certificate_id,
            at=datetime(2023, 9, 1, tzinfo=UTC),
        )
        app.record_credentials_replaced(  # a migrated Device too: the CoS Party's path
            device_id=EUI64.parse(SECOND),
            at=datetime(2023, 9, 2, tzinfo=UTC),
            party=CosParty.ECOS,
            certificate=world.ecos_certificate.certificate_id,
        )
    finally:
        close_application(app)
    first = tmp_path / "first.xml"
    first.write_bytes(world.signed(IMMEDIATE))
    second = tmp_path / "second.xml"
    second.write_bytes(
        world.signed(
            IMMEDIATE,
            change=lambda d: d.replace(f"{TARGET}:1006".encode(), f"{SECOND}:1007".encode()),
        )
    )
    go = tmp_path / "go"
    ready = [tmp_path / "ready-0", tmp_path / "ready-1"]
    # Both take the requests in the same order (a User's counters must rise: SRPD 6.1), so
    # each request reaches both at once: one processes it, the other finds it received.
    orders = ([first, second], [first, second])
    workers = [
        start([sys.executable, "-c", SRV623_WORKER, url, str(r), str(go), *map(str, files)])
        for r, files in zip(ready, orders, strict=True)
    ]
    deadline = time.monotonic() + TIMEOUT
    while not all(r.exists() for r in ready):
        assert time.monotonic() < deadline, "the SRV 6.23 processes did not start"
        assert all(w.poll() is None for w in workers), [w.communicate() for w in workers]
        time.sleep(0.01)
    go.touch()
    results = [json.loads(line) for w in workers for line in finish(w)[0].splitlines()]
    by_file: dict[str, list[str]] = {}
    for result in results:
        by_file.setdefault(Path(result["file"]).name, []).append(result["status"])
    assert {name: sorted(statuses) for name, statuses in by_file.items()} == {
        "first.xml": ["refused", "succeeded"],
        "second.xml": ["refused", "succeeded"],
    }, results
    refused = [r for r in results if r["status"] == "refused"]
    assert all("REQUEST_ID_ALREADY_RECEIVED" in r["message"] for r in refused), refused

    events = check_store(url)
    check = build_application(url, settings=Settings())
    try:
        requests = {
            e.originator_id for e in events if e.originator_id.startswith("service-request:")
        }
        assert len(requests) == 2  # one per Device
        for key in requests:
            state = check.load(key, ServiceRequest.create)
            assert state is not None
            assert state.status is ServiceRequestStatus.SUCCEEDED
        refusals = [e for e in events if isinstance(e.event, Refused)]
        assert len(refusals) == 2  # each duplicate, recorded once
    finally:
        close_application(check)


def test_registration_data_reconnects_after_a_database_restart(
    own_server: tuple[Cluster, Server],
) -> None:
    """Registration Data keeps a connection of its own: after a restart it opens a new one
    and reads the table again; while the server is down it raises the store's
    ``OperationalError``, which a worker waits through."""
    cluster, server = own_server
    app = build_application(
        server.url(schema="registration_restart", connect_timeout=1), settings=Settings()
    )
    try:
        mpxn = parse_mpxn(IMPORT_MPXN, mpan_check_digit=False)
        at = datetime(2023, 11, 1, tzinfo=UTC)
        app.record_supplier_change(SupplierChange(at, "SUPA", mpxn))
        cluster.stop()
        try:
            with pytest.raises(OperationalError):
                app.registration.supplier_history(mpxn)
        finally:
            cluster.start_again(server)
        assert [c.supplier_id for c in app.registration.supplier_history(mpxn)] == ["SUPA"]
    finally:
        close_application(app)
