"""SRV 6.23 end to end: latency and throughput of the whole clause 8 chain against the time of
its signature operations, in the same run.

For each store (memory, SQLite in a temporary file, PostgreSQL on a throwaway server the
benchmark starts and removes — ``tests/benchmarks/postgres.py``, a schema per route) and each
route — the ECoS path (a migrated
Device, at the DCC material's time) and the TCoS path (a TCoS Device, at 2025-09-02, inside the
templates' replacement certificates' validity) — a fresh application is given the
``tests.srv623_support`` world (an ADT file of ``10**9`` SRV 6.23s a day) and processes
``--requests`` distinct requests through ``process_srv623``: the DCC, the CoS or TCoS Party,
the DCC again, the Command to the simulated Device and its response. Each request is the
IMMEDIATE template with its Request ID counter raised by one (from ``FIRST_COUNTER``), signed
with the supplier's key before anything is timed (that is the supplier's work), and processed
one second after the one before it, so anomaly detection's window and the Device's counters
move on. ``--warmup`` requests go first, untimed.

Counted as signature operations (a cumulative ``perf_counter`` timer around each):

- ECDSA signing: ``SoftwareSigner.sign`` (the DCC, the CoS Party, the TCoS Party) and
  ``SeededDeviceSigner.sign`` (the simulated Device signing its response);
- XML-DSig verification: signxml's ``XMLVerifier._verify_signature_with_pubkey`` (the ECDSA
  check of SignedInfo, with the key taken from the certificate; not canonicalisation or the
  reference digests);
- GBCS verification: the ``verify`` of the key ``adapters.codecs.gbcs.signing`` verifies with
  (the ECDSA check alone, not decoding the message);
- certificate signatures: ``adapters.crypto.validity._signature_problem`` (Confirm Validity's
  check of each link, with the issuer's public key loaded from DER).

A profile of one warm-up request counts the ECDSA ``sign`` and ``verify`` calls ``cryptography``
itself sees, and the benchmark says how many of them the timers caught.

Reported per store and route: requests per second, p50 and p99 latency per request, the share
of the time inside signature operations, their time per request (the floor: the chain cannot be
faster than its signatures) and ``ratio`` = total time / signature time (1.0 = nothing beyond
the signatures), and ``drift`` = p50 of the last tenth of the requests / p50 of the first
tenth (above 1: each request costs more as the Device's history grows). The p99 of SQLite and
of PostgreSQL is set against the 50 ms goal. Raw ECDSA P-256 costs of one sign and one verify,
measured in the same run, are printed beside.

``python -m tests.benchmarks.srv623 --requests 300`` (the default: a minute or two a store).
``--stores`` defaults to ``memory,sqlite,postgresql`` where a PostgreSQL server binary exists,
else to ``memory,sqlite`` with the reason printed. Without the DCC material it prints why and
exits 0.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import functools
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from signxml.verifier import XMLVerifier

from adapters.bootstrap import build_application
from adapters.codecs.gbcs import signing as gbcs_signing
from adapters.crypto import validity
from adapters.crypto.software_signer import SoftwareSigner
from adapters.simulator.device_keys import SeededDeviceSigner
from application.service import EtmadApplication, close_application
from application.settings import Settings
from application.srv623_chain import process_srv623
from tests.benchmarks import postgres
from tests.duis_support import IMMEDIATE
from tests.smki_material import vectors_folder
from tests.srv623_support import Srv623World

GOAL_P99_S = 0.050  # the p99 latency goal per request on a durable store
FIRST_COUNTER = 10_000  # above the templates' own counters (1006, 1007)
TEMPLATE_COUNTER = b":1006</sr:RequestID>"
ECOS_AT = datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)  # tests.duis_support.AT
TCOS_AT = datetime(2025, 9, 2, tzinfo=UTC)  # inside the replacement certificates' validity
ROUTES = {"ECoS": (True, ECOS_AT), "TCoS": (False, TCOS_AT)}
KINDS = ("sign", "xml verify", "gbcs verify", "cert verify")


class SignatureClock:
    """Time and calls inside signature operations, by kind, since the last ``reset``."""

    def __init__(self) -> None:
        self.seconds = dict.fromkeys(KINDS, 0.0)
        self.calls = dict.fromkeys(KINDS, 0)

    def reset(self) -> None:
        self.seconds = dict.fromkeys(KINDS, 0.0)
        self.calls = dict.fromkeys(KINDS, 0)

    @property
    def total(self) -> float:
        return sum(self.seconds.values())

    @property
    def operations(self) -> int:
        return sum(self.calls.values())

    def timed(self, kind: str, inner: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.seconds[kind] += time.perf_counter() - started
                self.calls[kind] += 1

        return timed


class TimedPublicKey:
    """A GBCS verification key whose ``verify`` is timed (the caller checked its type)."""

    def __init__(self, key: ec.EllipticCurvePublicKey, clock: SignatureClock) -> None:
        self.verify = clock.timed("gbcs verify", key.verify)


@contextmanager
def timing_signatures(clock: SignatureClock) -> Iterator[None]:
    """The signature operations the chain uses, wrapped to add their time to ``clock``."""
    public_key = gbcs_signing._public_key

    def gbcs_key(key: Any) -> Any:
        return TimedPublicKey(public_key(key), clock)

    patches: list[tuple[object, str, object]] = [
        (SoftwareSigner, "sign", clock.timed("sign", SoftwareSigner.sign)),
        (SeededDeviceSigner, "sign", clock.timed("sign", SeededDeviceSigner.sign)),
        (
            XMLVerifier,
            "_verify_signature_with_pubkey",
            clock.timed("xml verify", XMLVerifier._verify_signature_with_pubkey),
        ),
        (gbcs_signing, "_public_key", gbcs_key),
        (validity, "_signature_problem", clock.timed("cert verify", validity._signature_problem)),
    ]
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in patches]
    try:
        for owner, name, replacement in patches:
            setattr(owner, name, replacement)
        yield
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)


def ecdsa_calls_seen(action: Callable[[], object]) -> int:
    """The ECDSA ``sign`` and ``verify`` calls ``cryptography`` sees while ``action`` runs."""
    profile = cProfile.Profile()
    profile.runcall(action)
    stats: dict[tuple[str, int, str], tuple[Any, ...]] = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    return sum(
        figures[1]
        for (_, _, name), figures in stats.items()
        if name.startswith(("<method 'sign' of ", "<method 'verify' of "))
        and ("ECPrivateKey" in name or "ECPublicKey" in name)
    )


def raw_ecdsa(repeat: int = 200) -> tuple[float, float]:
    """Seconds of one ECDSA P-256 SHA-256 sign and one verify of 512 bytes, best of batches."""
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key()
    data = bytes(512)
    algorithm = ec.ECDSA(hashes.SHA256())
    signature = key.sign(data, algorithm)

    def best(action: Callable[[], object]) -> float:
        times = []
        for _ in range(5):
            started = time.perf_counter()
            for _ in range(repeat):
                action()
            times.append((time.perf_counter() - started) / repeat)
        return min(times)

    return best(lambda: key.sign(data, algorithm)), best(
        lambda: public.verify(signature, data, algorithm)
    )


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def with_counter(counter: int) -> Callable[[bytes], bytes]:
    def change(data: bytes) -> bytes:
        if TEMPLATE_COUNTER not in data:
            raise SystemExit("the template's Request ID is not the expected one (…:1006)")
        return data.replace(TEMPLATE_COUNTER, f":{counter}</sr:RequestID>".encode())

    return change


def bench_route(
    url: str, world: Srv623World, *, migrated: bool, at: datetime, requests: int, warmup: int
) -> dict[str, float]:
    total = warmup + requests
    signed = [world.signed(IMMEDIATE, change=with_counter(FIRST_COUNTER + n)) for n in range(total)]
    times = [at + timedelta(seconds=n) for n in range(total)]
    app: EtmadApplication = build_application(url, settings=Settings())
    clock = SignatureClock()
    try:
        fleet = world.fleet()
        world.inventory(
            app, migrated=migrated, fleet=fleet, adt=10**9, since=at - timedelta(days=60)
        )
        setup = world.setup(app, fleet=fleet)

        def one(n: int) -> None:
            result = process_srv623(app, setup.dcc, setup.parties, signed[n], at=times[n])
            if result.status != "succeeded":
                raise SystemExit(f"request {n}: {result.status}: {result.message}")

        with timing_signatures(clock):
            seen = counted = 0
            for n in range(warmup):
                clock.reset()
                if n == warmup - 1:
                    seen = ecdsa_calls_seen(functools.partial(one, n))
                    counted = clock.operations
                else:
                    one(n)
            clock.reset()
            latencies = []
            started = time.perf_counter()
            for n in range(warmup, total):
                began = time.perf_counter()
                one(n)
                latencies.append(time.perf_counter() - began)
            elapsed = time.perf_counter() - started
    finally:
        close_application(app)
    tenth = max(1, requests // 10)
    return {
        "requests_per_s": requests / elapsed,
        "p50": statistics.median(latencies),
        "p99": percentile(latencies, 0.99),
        "drift": statistics.median(latencies[-tenth:]) / statistics.median(latencies[:tenth]),
        "signature_share": clock.total / elapsed,
        "signature_per_request": clock.total / requests,
        "operations_per_request": clock.operations / requests,
        "ratio": elapsed / clock.total,
        "counted": counted,
        "seen": seen,
        **{f"calls {kind}": clock.calls[kind] / requests for kind in KINDS},
    }


Row = tuple[str, str, dict[str, float]]


def run_stores(stores: list[str], world: Srv623World, *, requests: int, warmup: int) -> list[Row]:
    """Each route on each store, each on a fresh application (and SQLite file or schema)."""
    rows = []
    with tempfile.TemporaryDirectory() as folder, contextlib.ExitStack() as stack:
        urls: dict[str, Callable[[str], str]] = {
            "memory": lambda _: "memory:",
            "sqlite": lambda route: f"sqlite:///{Path(folder) / route}.db",
        }
        if "postgresql" in stores:
            urls["postgresql"] = stack.enter_context(postgres.postgresql_stores())
        for store in stores:
            for route, (migrated, at) in ROUTES.items():
                url = urls[store](route.lower())
                figures = bench_route(
                    url, world, migrated=migrated, at=at, requests=requests, warmup=warmup
                )
                rows.append((store, route, figures))
    return rows


def report(rows: list[Row], sign_s: float, verify_s: float) -> None:
    print(
        f"{'store':10} {'route':5} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'in sigs':>8} "
        f"{'sig ms/req':>10} {'ops/req':>8} {'ratio':>6} {'drift':>6}"
    )
    for store, route, f in rows:
        print(
            f"{store:10} {route:5} {f['requests_per_s']:7.1f} {f['p50'] * 1e3:7.2f} "
            f"{f['p99'] * 1e3:7.2f} {f['signature_share']:8.1%} "
            f"{f['signature_per_request'] * 1e3:10.2f} {f['operations_per_request']:8.1f} "
            f"{f['ratio']:6.2f} {f['drift']:6.2f}"
        )
    print(
        "in sigs = share of the time inside ECDSA sign/verify (SoftwareSigner.sign, the "
        "simulated Device's sign, signxml's SignedInfo verify, the GBCS key's verify, "
        "Confirm Validity's certificate signature checks); sig ms/req = that time per request, "
        "the floor; ratio = total time / signature time (1.0 = nothing beyond the signatures); "
        "drift = p50 of the last tenth of the requests / p50 of the first tenth (1.0 = no "
        "slowing as the Device's history grows)"
    )
    for store, route, f in rows:
        calls = ", ".join(f"{kind} {f['calls ' + kind]:.0f}" for kind in KINDS)
        print(
            f"{store:10} {route:5} ops per request: {calls}; "
            f"ECDSA calls timed {f['counted']:.0f} of {f['seen']:.0f} seen by the profiler"
        )
    print(
        f"raw ECDSA P-256 in this run: sign {sign_s * 1e6:.0f} µs, verify {verify_s * 1e6:.0f} µs"
    )
    for store, route, f in rows:
        if store != "memory":
            verdict = "meets" if f["p99"] <= GOAL_P99_S else "MISSES"
            print(
                f"{store} {route}: p99 {f['p99'] * 1e3:.1f} ms {verdict} the "
                f"{GOAL_P99_S * 1e3:.0f} ms goal ({f['p99'] / GOAL_P99_S:.0%} of it)"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.srv623", description=__doc__)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument(
        "--stores",
        default=None,
        help="comma-separated, of memory, sqlite, postgresql (default: all three where a "
        "PostgreSQL server binary exists)",
    )
    args = parser.parse_args(argv)
    if args.requests < 1 or args.warmup < 1:
        parser.error("--requests and --warmup must be at least 1")
    stores = (args.stores or "memory,sqlite,postgresql").split(",")
    unknown = sorted(set(stores) - {"memory", "sqlite", "postgresql"})
    if unknown:
        parser.error(f"unknown store {', '.join(unknown)}: use memory, sqlite, postgresql")
    vectors = vectors_folder()
    missing = [part for part in ("duis", "smki") if not (vectors / part).is_dir()]
    if missing:
        print(
            f"srv623 benchmark skipped: DCC test material ({', '.join(missing)}) not found at "
            f"{vectors}; set ETMAD_DCC_VECTORS to the folder holding duis/ and smki/"
        )
        return 0
    if "postgresql" in stores and (reason := postgres.unavailable()) is not None:
        print(f"srv623 on postgresql skipped: {reason}")
        stores.remove("postgresql")
    world = Srv623World(vectors)
    sign_s, verify_s = raw_ecdsa()
    print(f"SRV 6.23 end to end: {args.requests} distinct requests a run (+{args.warmup} warm-up)")
    rows = run_stores(stores, world, requests=args.requests, warmup=args.warmup)
    report(rows, sign_s, verify_s)
    if "postgresql" in stores:
        print(
            "postgresql: a throwaway server started for this run (fsync and synchronous_commit "
            f"off), a schema per route, pool of {postgres.POOL_SIZE} "
            f"(+{postgres.MAX_OVERFLOW} overflow) connections"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
