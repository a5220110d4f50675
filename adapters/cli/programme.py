"""``etmad programme run --days N --from DATE [--seed S] [--json]``: the migration programme,
day by day, on the fleet simulator (``adapters/simulated_programme.py``).

Each business day is selected (unless it already was), its Devices started and run, and the
due retries processed (``application/programme.py``). One line per day goes to standard output
as soon as the day is done (JSON with ``--json``), a progress line to standard error, and the
totals at the end. Everything is recorded in the store, so a run that was stopped continues
where it stopped when run again. Exit 0; 130 when interrupted (Ctrl-C).

Several workers may run at once on one PostgreSQL store (``docs/operations.md``, "Several
workers, and recovering from failures"): ``--worker K/N`` makes this one carry only its share of
the Devices (the selection, the Bulk gate and the process managers stay shared). A save that
conflicts with another worker's is decided again on fresh state, and a store outage is waited
through (at most ``--max-outage-wait`` seconds, ``ETMAD_MAX_OUTAGE_WAIT``, 60 by default): each
is reported on standard error as it happens (``etmad programme run: worker K/N: …``). An outage
longer than that stops the run with exit 75, its work saved up to its last commit: run again.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from collections.abc import Callable
from datetime import date
from typing import Any, Final

import psycopg

from adapters.simulated_programme import build_simulated_programme
from application.programme import DayReport, Shard
from application.resilience import (
    MAX_WAIT,
    STORE_UNREACHABLE,
    Notice,
    Resilience,
    StoreUnavailable,
)
from application.service import EtmadApplication, close_application

EXIT_OK: Final = 0
EXIT_USAGE: Final = 2
EXIT_STORE_UNAVAILABLE: Final = 75  # sysexits' EX_TEMPFAIL: try again later
EXIT_INTERRUPTED: Final = 130
#: The driver's own errors for a lost connection, besides eventsourcing's (Registration Data
#: and Party Details talk to PostgreSQL through psycopg directly).
TRANSIENT: Final = (*STORE_UNREACHABLE, psycopg.OperationalError, psycopg.InterfaceError)
DEFAULT_SEED: Final = 20230705


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _shard(text: str) -> Shard:
    try:
        return Shard.parse(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected seconds from 0")
    return value


def _default_wait() -> float:
    raw = os.environ.get("ETMAD_MAX_OUTAGE_WAIT", "")
    return _seconds(raw) if raw.strip() else MAX_WAIT


def add_programme_parser(
    sub: Any,  # noqa: ANN401 — argparse's private subparsers action
    add_store: Callable[[argparse.ArgumentParser], None],
) -> None:
    """Register ``programme`` and its ``run`` action on the ``etmad`` sub-parsers."""
    programme = sub.add_parser(
        "programme",
        help="run the migration programme on the fleet simulator",
        description="Run the ECoS migration programme (select, start, run, retry) day by day.",
    )
    actions = programme.add_subparsers(dest="programme_action", required=True, metavar="ACTION")
    run = actions.add_parser(
        "run",
        help="run business days of the programme on the simulated fleet",
        description="For each business day from --from: select the day's Devices (unless "
        "already selected), start and run their migrations, and process the retries due, on a "
        "seeded simulation of the store's Devices. Resumable: run again to continue. "
        "Exit 0; 130 when interrupted.",
    )
    add_store(run)
    run.add_argument("--from", dest="start", type=_day, required=True, help="first day")
    run.add_argument("--days", type=int, default=1, metavar="N", help="how many days (1)")
    run.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help=f"simulation seed (default {DEFAULT_SEED})"
    )
    run.add_argument("--json", action="store_true", help="one JSON object a line")
    run.add_argument(
        "--worker",
        type=_shard,
        default=None,
        metavar="K/N",
        help="carry only the Devices of worker K (from 0) of N sharing the store (default: all)",
    )
    run.add_argument(
        "--max-outage-wait",
        type=_seconds,
        default=None,
        metavar="SECONDS",
        help="how long to wait through one store outage before stopping with exit 75 "
        f"(default $ETMAD_MAX_OUTAGE_WAIT or {MAX_WAIT:g})",
    )


def _line(report: DayReport) -> str:
    failed = ", ".join(f"{code} {n}" for code, n in sorted(report.failed.items())) or "none"
    skipped = ", ".join(f"{code} {n}" for code, n in sorted(report.skipped.items())) or "none"
    reused = "" if report.newly_selected else " (selection reused)"
    if report.stopped:
        reused = " (the programme is stopped)"
    waited = ""
    if report.conflicts or report.outages:
        waited = f"; conflicts {report.conflicts}, outages {report.outages}"
    line = (
        f"{report.day.isoformat()}: selected {report.selected}{reused}, started "
        f"{report.started}, succeeded {report.succeeded}, completed unsuccessfully "
        f"{report.completed_unsuccessfully}, retries {report.retries}, failed: {failed}; "
        f"skipped: {skipped}{waited}"
    )
    for label, ids in (
        ("suspension proposed", report.suspension_proposals),
        ("suspended", report.suspended),
        ("Non-Migratable candidate", report.non_migratable_candidates),
        ("incident raised", report.incidents),
    ):
        if ids:
            line += f"; {label}: " + ", ".join(ids)
    return line


def _totals(reports: list[DayReport]) -> dict[str, Any]:
    failed: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    for r in reports:
        failed.update(r.failed)
        skipped.update(r.skipped)
    return {
        "days": len(reports),
        "selected": sum(r.selected for r in reports),
        "started": sum(r.started for r in reports),
        "succeeded": sum(r.succeeded for r in reports),
        "completed_unsuccessfully": sum(r.completed_unsuccessfully for r in reports),
        "retries": sum(r.retries for r in reports),
        "failed": dict(sorted(failed.items())),
        "skipped": dict(sorted(skipped.items())),
        "events": sum(r.events for r in reports),
        "suspended": [m for r in reports for m in r.suspended],
        "non_migratable_candidates": [m for r in reports for m in r.non_migratable_candidates],
        "incidents": [i for r in reports for i in r.incidents],
    }


def run_programme(args: argparse.Namespace, app: EtmadApplication) -> int:
    """Run ``args.days`` days on ``app`` (closed here); see the module docstring."""
    if args.days < 0:
        print("etmad programme run: --days cannot be negative", file=sys.stderr)
        close_application(app)
        return EXIT_USAGE
    reports: list[DayReport] = []

    def on_day(report: DayReport) -> None:
        reports.append(report)
        if args.json:
            print(json.dumps(report.as_dict(), sort_keys=True), flush=True)
        else:
            print(_line(report), flush=True)
        print(
            f"etmad programme run: day {len(reports)} of {args.days} done "
            f"({report.day.isoformat()}, {report.events} events)",
            file=sys.stderr,
            flush=True,
        )

    shard: Shard | None = args.worker
    worker = f"worker {shard.index}/{shard.count}" if shard else "worker"

    def on_notice(notice: Notice) -> None:
        print(f"etmad programme run: {worker}: {notice.describe()}", file=sys.stderr, flush=True)

    try:
        wait = args.max_outage_wait if args.max_outage_wait is not None else _default_wait()
    except argparse.ArgumentTypeError as e:
        print(f"etmad programme run: ETMAD_MAX_OUTAGE_WAIT: {e}", file=sys.stderr)
        close_application(app)
        return EXIT_USAGE
    try:
        programme = build_simulated_programme(app, seed=args.seed)
        programme.resilience = Resilience(max_wait=wait, transient=TRANSIENT)
        programme.shard = shard
        programme.on_notice = on_notice
        programme.run_days(args.start, args.days, on_day=on_day)
    except KeyboardInterrupt:
        print("etmad programme run: interrupted; run again to continue", file=sys.stderr)
        return EXIT_INTERRUPTED
    except StoreUnavailable as e:
        print(f"etmad programme run: {worker}: {e}", file=sys.stderr, flush=True)
        return EXIT_STORE_UNAVAILABLE
    finally:
        close_application(app)
    totals = _totals(reports)
    if args.json:
        print(json.dumps({"totals": totals}, sort_keys=True))
    else:
        failed = ", ".join(f"{c} {n}" for c, n in totals["failed"].items()) or "none"
        skipped = ", ".join(f"{c} {n}" for c, n in totals["skipped"].items()) or "none"
        print(
            f"total over {totals['days']} days: started {totals['started']}, succeeded "
            f"{totals['succeeded']}, completed unsuccessfully "
            f"{totals['completed_unsuccessfully']}, retries {totals['retries']}, "
            f"failed: {failed}; skipped: {skipped}; {totals['events']} events"
        )
    return EXIT_OK
