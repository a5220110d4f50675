"""Reading and writing stored events through the application's mapper, against parsing their
JSON, in the same run.

Every stored event of a store is decoded with ``EventMapper.to_domain_event`` (and the events
read are encoded again with ``to_stored_event``); the baseline is ``json.loads`` of the same
stored bytes, which every decoding needs. The ratio is the time of the baseline over the time of
the decoding: 1.0 would mean reading an event costs no more than parsing its JSON.

``python -m tests.benchmarks.decode`` generates and loads a demo estate (``--devices``,
``--models``) into a temporary SQLite store; ``--store URL`` reads an existing store instead,
such as one ``etmad demo`` left.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from eventsourcing.persistence import StoredEvent

from adapters.bootstrap import build_application
from adapters.demo import generate_estate, load_estate
from application.service import EtmadApplication, close_application
from application.settings import Settings

BATCH = 10_000
SEED = 20230705  # the seed `etmad demo` uses unless told otherwise


def stored_events(app: EtmadApplication) -> list[StoredEvent]:
    """Every stored event of the application's store, in log order."""
    events: list[StoredEvent] = []
    start = 1
    while batch := app.recorder.select_notifications(start=start, limit=BATCH):
        events.extend(batch)
        start = batch[-1].id + 1
    return events


def best_time(action: Callable[[], object], repeat: int) -> float:
    """The fastest of ``repeat`` runs, in seconds (the least disturbed by the machine)."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return min(times)


def bench_codec(app: EtmadApplication, *, repeat: int = 5) -> dict[str, float]:
    """Microseconds per event to decode, to encode and to parse the JSON of every stored event
    of ``app``, and the ratio of parsing to decoding."""
    events: Sequence[StoredEvent] = stored_events(app)
    if not events:
        raise SystemExit("the store holds no events to decode")
    mapper = app.mapper
    envelopes = [mapper.to_domain_event(e) for e in events]
    parse = best_time(lambda: [json.loads(e.state) for e in events], repeat)
    decode = best_time(lambda: [mapper.to_domain_event(e) for e in events], repeat)
    encode = best_time(lambda: [mapper.to_stored_event(e) for e in envelopes], repeat)
    micro = 1_000_000 / len(events)
    return {
        "events": len(events),
        "decode_us": decode * micro,
        "encode_us": encode * micro,
        "json_us": parse * micro,
        "ratio": parse / decode,
    }


def report(url: str, *, repeat: int = 5) -> None:
    app = build_application(url, settings=Settings())
    try:
        figures = bench_codec(app, repeat=repeat)
    finally:
        close_application(app)
    print(f"{'events':>8} {'decode µs':>10} {'encode µs':>10} {'json µs':>8} {'ratio':>7}")
    print(
        f"{figures['events']:8.0f} {figures['decode_us']:10.1f} {figures['encode_us']:10.1f} "
        f"{figures['json_us']:8.1f} {figures['ratio']:7.3f}"
    )
    print(
        "ratio = time of json.loads of the stored bytes / time of decoding them into events "
        "(1.0 = no cost beyond parsing)"
    )


def load_demo_estate(url: str, devices: int, models: int) -> None:
    app = build_application(url, settings=Settings())
    try:
        estate = generate_estate(SEED, devices, models)
        loaded = load_estate(app, estate.commands)
        if loaded.rejected:
            raise SystemExit(f"benchmark estate: {loaded.rejected} commands rejected")
    finally:
        close_application(app)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.decode", description=__doc__)
    parser.add_argument("--store", help="read this store instead of generating one")
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    if args.store:
        print(f"store: {args.store}")
        report(args.store, repeat=args.repeat)
        return 0
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'decode.sqlite'}"
        load_demo_estate(url, args.devices, args.models)
        print(f"demo estate: about {args.devices} Devices, {args.models} Device Models")
        report(url, repeat=args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
