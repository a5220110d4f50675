"""The migration programme's throughput against the raw storage it needs, in the same run.

An estate of ``--devices`` commissioned TCoS ESMEs over ``--models`` healthy Device Models is
loaded; day 1 runs the pilot (20 a model), a migrated Device of each model then processes an
SRV 6.23 (6.1(b) proof: the 1.6 decision is recorded by policy), and day 2 — the measured day —
selects and migrates every remaining Device under a ramp-up of ``--devices`` a day, a batch of
``BATCH_SIZE`` Devices per unit of work and step, through the real GBCS codec and the fleet
simulator.

Reported per store (memory, SQLite, PostgreSQL — a throwaway server the benchmark starts and
removes, ``tests/benchmarks/postgres.py``):

- migrations completed per second on the measured day, the events it stored, and those events
  per second (the programme's append rate);
- the share of that time spent inside the ports (the simulated Service Providers and Devices,
  and the codec building and signing each CS02b command): the outside world, which a real
  deployment waits for instead;
- the raw rate: the same number of stored events (of the same sizes) inserted straight through
  the recorder, ``BATCH_SIZE`` events per ``insert_events`` call;
- ``ratio`` = raw insert time / programme time, and ``ratio excl. ports`` = raw insert time /
  (programme time - time in the ports): the programme's own logic against its storage.

``python -m tests.benchmarks.programme --devices 100000`` (the default) — several minutes a store;
``--stores memory,sqlite,postgresql`` (default ``memory,sqlite``). Where no PostgreSQL server
binary exists, ``postgresql`` is skipped with the reason printed.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

from eventsourcing.persistence import StoredEvent

from adapters.bootstrap import build_application
from adapters.simulated_programme import build_simulated_programme
from adapters.simulator import DeviceBehaviour
from application.programme import BATCH_SIZE, Programme
from application.service import EtmadApplication, UnitOfWork, close_application
from application.settings import Settings
from domain.device import Device, device_aggregate_id
from domain.identifiers import (
    EUI64,
    MPAN,
    CertificateId,
    CosParty,
    DeviceModelKey,
    DeviceType,
    SmetsGeneration,
    mpan_check_digit,
)
from domain.migration import Migration, migration_aggregate_id
from domain.selection import SelectionParameters, business_time
from tests.benchmarks import postgres

COMMISSIONED = datetime(2021, 1, 1, tzinfo=UTC)
DAY1 = date(2023, 7, 5)
TCOS_CERTIFICATE = CertificateId(4097, "bench-organisation-ca")


class Timed:
    """A port wrapped so that the time spent inside it is added up."""

    def __init__(self, port: object, clock: list[float]) -> None:
        self._port = port
        self._clock = clock

    def __getattr__(self, name: str) -> Any:
        inner = getattr(self._port, name)
        if not callable(inner):
            return inner

        def timed(*args: object, **kwargs: object) -> object:
            started = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self._clock[0] += time.perf_counter() - started

        return timed


def load_estate(app: EtmadApplication, devices: int, models: int) -> list[DeviceModelKey]:
    """Models, then Devices registered and commissioned a thousand per unit of work."""
    keys = [DeviceModelKey("BENCH", f"E{m:03d}", "1.0", "0100") for m in range(models)]
    for key in keys:
        app.register_device_model(
            model=key,
            device_type=DeviceType.ESME,
            smets=SmetsGeneration.SMETS2_PLUS,
            firmware_rank=1,
        )
    for start in range(0, devices, 1000):
        uow = UnitOfWork(app)
        for n in range(start, min(devices, start + 1000)):
            device_id = EUI64(0xBE00000000000000 + n)
            core = f"{100000000000 + n:012d}"
            registered = Device.register(
                device_id=device_id,
                device_type=DeviceType.ESME,
                model=keys[n % models],
                mpxn=MPAN.parse(core + str(mpan_check_digit(core))),
                comms_hub_id=None,
                cos_party=CosParty.TCOS,
                cos_certificate=TCOS_CERTIFICATE,
                at=COMMISSIONED,
            )
            aggregate_id = device_aggregate_id(device_id)
            device = uow.record(aggregate_id, Device.create, registered)
            assert device is not None
            uow.record(aggregate_id, Device.create, device.commission(COMMISSIONED))
        uow.commit()
    return keys


def prove_each_model(app: EtmadApplication, devices: int, models: int, at: datetime) -> None:
    """An SRV 6.23 on one migrated Device of each model (6.1(b)(ii))."""
    proven: set[int] = set()
    for n in range(devices):
        model = n % models
        if model in proven:
            continue
        device_id = EUI64(0xBE00000000000000 + n)
        migration = app.load(migration_aggregate_id(device_id), Migration.create)
        if migration is not None and migration.succeeded:
            app.record_srv623_processed(device_id=device_id, at=at, request_id=f"BENCH-{n}")
            proven.add(model)
        if len(proven) == models:
            return


def raw_inserts(app: EtmadApplication, sizes: list[int]) -> float:
    """``len(sizes)`` events of the given state sizes, ``BATCH_SIZE`` per call."""
    started = time.perf_counter()
    for start in range(0, len(sizes), BATCH_SIZE):
        app.recorder.insert_events(
            [
                StoredEvent(
                    originator_id=f"raw:{uuid4()}",
                    originator_version=1,
                    topic="etmad.bench.Raw.v1",
                    state=b"x" * size,
                )
                for size in sizes[start : start + BATCH_SIZE]
            ]
        )
    return time.perf_counter() - started


def stored_sizes(app: EtmadApplication, after: int) -> list[int]:
    sizes: list[int] = []
    start = after + 1
    while True:
        batch = app.recorder.select_notifications(start=start, limit=10_000)
        if not batch:
            return sizes
        sizes.extend(len(n.state) for n in batch)
        start = batch[-1].id + 1


def bench_store(
    url: str, devices: int, models: int, say: Callable[[str], None]
) -> dict[str, float]:
    settings = Settings(
        selection=SelectionParameters(
            daily_capacity=devices, pilot_size=20, ramp_up=((0, devices),)
        ),
        aggregate_cache_size=max(1_000_000, 3 * devices),
    )
    app = build_application(url, settings=settings)
    try:
        started = time.perf_counter()
        load_estate(app, devices, models)
        say(f"  estate of {devices} Devices loaded in {time.perf_counter() - started:.1f} s")
        behaviours = {
            DeviceModelKey("BENCH", f"E{m:03d}", "1.0", "0100"): DeviceBehaviour.healthy()
            for m in range(models)
        }
        programme: Programme = build_simulated_programme(app, seed=1, behaviours=behaviours)
        runner = programme.runner
        ports = [0.0]
        runner.tcos = Timed(runner.tcos, ports)
        runner.ecos = Timed(runner.ecos, ports)
        runner.transport = Timed(runner.transport, ports)
        runner.codec = Timed(runner.codec, ports)
        pilot = programme.run_day(DAY1)
        prove_each_model(app, devices, models, business_time(DAY1) + timedelta(hours=12))
        say(f"  day 1: pilot of {pilot.succeeded} migrations; every model proven")
        before = app.recorder.max_notification_id() or 0
        ports[0] = 0.0
        started = time.perf_counter()
        day = programme.run_day(DAY1 + timedelta(days=1))
        elapsed = time.perf_counter() - started
        sizes = stored_sizes(app, before)
        raw = raw_inserts(app, sizes)
    finally:
        close_application(app)
    return {
        "migrations": day.succeeded,
        "migrations_per_s": day.succeeded / elapsed,
        "events": len(sizes),
        "events_per_s": len(sizes) / elapsed,
        "ports_share": ports[0] / elapsed,
        "raw_events_per_s": len(sizes) / raw,
        "ratio": raw / elapsed,
        "ratio_excl_ports": raw / (elapsed - ports[0]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.programme", description=__doc__
    )
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--models", type=int, default=40)
    parser.add_argument("--stores", default="memory,sqlite")
    args = parser.parse_args(argv)
    say = print
    names = args.stores.split(",")
    unknown = sorted(set(names) - {"memory", "sqlite", "postgresql"})
    if unknown:
        parser.error(f"unknown store {', '.join(unknown)}: use memory, sqlite, postgresql")
    if "postgresql" in names and (reason := postgres.unavailable()) is not None:
        say(f"programme on postgresql skipped: {reason}")
        names.remove("postgresql")
    rows = []
    with tempfile.TemporaryDirectory() as folder, contextlib.ExitStack() as stack:
        stores = {"memory": "memory:", "sqlite": f"sqlite:///{Path(folder) / 'programme.sqlite'}"}
        if "postgresql" in names:
            stores["postgresql"] = stack.enter_context(postgres.postgresql_stores())("programme")
        for name in names:
            say(f"programme on {name}: {args.devices} Devices, {args.models} models")
            rows.append((name, bench_store(stores[name], args.devices, args.models, say)))
    say(
        f"{'store':10} {'migrations':>10} {'migr/s':>8} {'events':>9} {'ev/s':>8} "
        f"{'in ports':>9} {'raw ev/s':>10} {'ratio':>7} {'excl. ports':>12}"
    )
    for name, f in rows:
        say(
            f"{name:10} {f['migrations']:10.0f} {f['migrations_per_s']:8.0f} {f['events']:9.0f} "
            f"{f['events_per_s']:8.0f} {f['ports_share']:9.1%} {f['raw_events_per_s']:10.0f} "
            f"{f['ratio']:7.3f} {f['ratio_excl_ports']:12.3f}"
        )
    say(
        "ev/s = events the programme appended per second on the measured day; raw ev/s = the "
        f"same stored events inserted straight through the recorder, {BATCH_SIZE} per "
        "insert_events call; ratio = raw insert time / programme time (= ev/s / raw ev/s); "
        "excl. ports = the same without the time inside the simulated outside world"
    )
    if "postgresql" in stores:
        say(
            "postgresql: a throwaway server started for this run (fsync and synchronous_commit "
            f"off), pool of {postgres.POOL_SIZE} (+{postgres.MAX_OVERFLOW} overflow) connections"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
