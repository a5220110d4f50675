"""``make bench``: command throughput against the raw storage it needs, in the same run; then
event decoding against JSON parsing (``tests/benchmarks/decode.py``) and the migration
programme against raw batched inserts (``tests/benchmarks/programme.py``).

For each store (memory, SQLite) it applies a generated workload of ``etmad apply`` commands
(register a Device, commission it, assess its eligibility) and reports commands per second,
then inserts the same number of stored events straight through the recorder, one transaction
per command as the application does, and reports the ratio. A ratio near 1 means the
application's own work costs little beside the storage it needs.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from uuid import uuid4

from eventsourcing.persistence import StoredEvent

from adapters.bootstrap import build_application
from application.commands import execute
from application.service import EtmadApplication, close_application
from application.settings import Settings
from domain.identifiers import mpan_check_digit
from tests.benchmarks import decode, programme

MODEL = {"manufacturer": "BENCH", "model": "E1", "hardware_version": "1", "firmware_version": "1"}


def workload(devices: int) -> list[dict[str, object]]:
    commands: list[dict[str, object]] = [
        {
            "command": "RegisterDeviceModel",
            "model": MODEL,
            "device_type": "ESME",
            "smets": "SMETS2+",
            "firmware_rank": 1,
        },
    ]
    for n in range(devices):
        device_id = f"{0xBE00000000000000 + n:016X}"
        core = f"{100000000000 + n:012d}"
        commands.append(
            {
                "command": "RegisterDevice",
                "device_id": device_id,
                "device_type": "ESME",
                "model": MODEL,
                "mpxn": core + str(mpan_check_digit(core)),
            }
        )
        commands.append(
            {
                "command": "RecordCommissioning",
                "device_id": device_id,
                "at": "2022-01-01T00:00:00+00:00",
            }
        )
        commands.append(
            {
                "command": "AssessEligibility",
                "device_id": device_id,
                "at": "2023-07-10T12:00:00+00:00",
            }
        )
    return commands


def run_commands(app: EtmadApplication, commands: list[dict[str, object]]) -> tuple[float, int]:
    started = time.perf_counter()
    events = 0
    for command in commands:
        result = execute(app, command)
        if not result.ok:
            raise SystemExit(f"benchmark command rejected: {result.error}")
        events += len(result.events)
    return time.perf_counter() - started, events


def raw_inserts(app: EtmadApplication, transactions: int) -> float:
    state = b'{"data":{"occurred_at":"2022-01-01T00:00:00+00:00"},"recorded_at":"x"}'
    started = time.perf_counter()
    for _ in range(transactions):
        app.recorder.insert_events(
            [
                StoredEvent(
                    originator_id=f"raw:{uuid4()}",
                    originator_version=1,
                    topic="etmad.bench.Raw.v1",
                    state=state,
                )
            ]
        )
    return time.perf_counter() - started


def bench_store(url: str, devices: int) -> dict[str, float]:
    app = build_application(url, settings=Settings())
    try:
        commands = workload(devices)
        elapsed, events = run_commands(app, commands)
        writes = sum(1 for c in commands if c["command"] != "AssessEligibility")
        raw = raw_inserts(app, writes)
    finally:
        close_application(app)
    return {
        "commands_per_s": len(commands) / elapsed,
        "events": events,
        "write_commands_per_s": writes / elapsed,
        "raw_transactions_per_s": writes / raw,
        "ratio": raw / elapsed,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__)
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument(
        "--programme-devices",
        type=int,
        default=100_000,
        help="the programme benchmark's estate (default 100,000: several minutes)",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        stores = {"memory": "memory:", "sqlite": f"sqlite:///{Path(folder) / 'bench.sqlite'}"}
        print(f"workload: {args.devices} Devices x (register, commission, assess eligibility)")
        print(f"{'store':8} {'commands/s':>11} {'raw tx/s':>10} {'ratio':>7}")
        for name, url in stores.items():
            figures = bench_store(url, args.devices)
            print(
                f"{name:8} {figures['commands_per_s']:11.0f} "
                f"{figures['raw_transactions_per_s']:10.0f} {figures['ratio']:7.3f}"
            )
    print(
        "ratio = time of the raw inserts the commands need / time of the commands "
        "(1.0 = no overhead beyond storage)"
    )
    print()
    decode.main(["--devices", "2000", "--models", "20"])
    print()
    programme.main(["--devices", str(args.programme_devices)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
