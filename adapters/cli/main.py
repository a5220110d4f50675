"""The ``etmad`` command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import date

from adapters.bootstrap import (
    DEFAULT_STORE,
    ConfigurationError,
    build_application,
    configure_logging,
    settings_from_env,
)
from adapters.cli.apply import EXIT_UNREADABLE, UnreadableInputError, apply_lines, read_lines
from adapters.cli.duis import add_duis_parser, run_duis
from adapters.cli.gbcs import add_gbcs_parser, run_gbcs
from adapters.cli.keys import add_keys_parser, run_keys
from adapters.cli.programme import add_programme_parser, run_programme
from adapters.cli.sr import add_sr_parser, run_sr
from adapters.command_schema import command_schema
from application.mapper import Envelope, event_record
from application.service import EtmadApplication, close_application
from domain.errors import DomainError

EXIT_USAGE = 2
SRV623_CONFIG_ENV = "ETMAD_SRV623_CONFIG"

DESCRIPTION = """\
etmad decides and records, as events, the migration of smart-metering Devices from the
Transitional CoS (TCoS) certificate to the Enduring (ECoS) one under SEC Appendix AS (the
ETMAD): eligibility (1.3, 1.4), the Bulk Migration gate (1.6, 6.1(b), 6.2) and the
Non-Migratable lifecycle (1.8, 1.12-1.14).
"""

EPILOG = """\
stores:
  --store memory:                      in memory, gone when the command ends
  --store sqlite:///var/etmad.sqlite   the embedded default (relative path)
  --store sqlite:////srv/etmad.sqlite  an absolute path
  (or set ETMAD_STORE)

examples:
  etmad apply commands.jsonl           apply JSON Lines commands, print one result per line
  etmad apply - < commands.jsonl       the same from standard input
  etmad schema > commands.schema.json  the JSON Schema every command is checked against
  etmad demo --fresh                   load a sample estate into ./var/ and summarise it
  etmad log --limit 20                 the event log in canonical JSON, oldest first
  etmad programme run --from 2023-08-01 --days 5
                                       run the migration programme on the simulated fleet
  etmad sr process request.xml --at 2023-11-14T22:13:20Z
                                       one signed SRV 6.23 request through SRPD clause 8

docs/commands.md describes every command; docs/operations.md every setting.
"""


def _add_store(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store", default=None, help=f"event store URL (default: $ETMAD_STORE or {DEFAULT_STORE})"
    )
    parser.add_argument(
        "--mpan-check-digit",
        choices=["strict", "relaxed"],
        default=None,
        help="verify MPAN check digits (strict, default) or accept DCC test "
        "MPANs that fail them (relaxed)",
    )
    parser.add_argument(
        "--bulk-migration-number",
        type=int,
        default=None,
        metavar="N",
        help="migrations of a Device Model allowed before the 1.6 decision (0..300, default 300)",
    )
    parser.add_argument(
        "--no-auto-authorise",
        action="store_true",
        help="do not record the 1.6 decision by policy when proving evidence "
        "appears; an operator must AuthoriseBulkMigration",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="etmad",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--log-level",
        default="WARNING",
        help="logging level for messages on standard error (default WARNING)",
    )
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    apply = sub.add_parser(
        "apply",
        help="apply JSON Lines commands",
        description="Read JSON Lines, one command per line, apply them in order, and print one "
        'JSON line per command: {"ok": true, "command", "events", "result"} '
        'or {"ok": false, "command", "error": {"code", "message"}}. '
        "Blank lines and lines starting with # are skipped. Exit 0 if all applied, "
        "1 if any was rejected, 2 if the input could not be read.",
    )
    apply.add_argument("file", help="a JSON Lines file, or - for standard input")
    apply.add_argument(
        "--srv623-config",
        default=None,
        metavar="FILE",
        help="the SRV 6.23 set-up file ProcessSrv623 and RecordSrv623Response run with "
        f"(default ${SRV623_CONFIG_ENV})",
    )
    apply.add_argument(
        "--srv623-signer",
        action="append",
        default=[],
        metavar="ROLE=KEY",
        help="a role's key instead of the set-up file's (as etmad sr process --signer)",
    )
    _add_store(apply)

    sub.add_parser("schema", help="print the JSON Schema of apply commands")

    demo = sub.add_parser(
        "demo",
        help="run a whole migration programme on a generated estate and summarise it",
        description="Generate a seeded estate (Device Models in families, SMETS1 and SMETS2+ "
        "Devices on Communications Hubs, Registration Data with changes of supplier, technical "
        "issues), load it into the store, run the migration programme on it day by day on the "
        "fleet simulator (two models reject the replacement, one fails SRV 6.23 once migrated, "
        "some are flaky), with the suppliers' SRV 6.23s and the DCC's Non-Migratable decisions, "
        "and print where every Device and Device Model ended. docs/demo.md describes it.",
    )
    _add_store(demo)
    demo.add_argument(
        "--fresh",
        action="store_true",
        help="delete the store first: a SQLite file, or etmad's tables in a PostgreSQL schema",
    )
    demo.add_argument("--devices", type=int, default=20_000, help="about how many Devices (20000)")
    demo.add_argument("--models", type=int, default=40, help="how many Device Models (40)")
    demo.add_argument("--days", type=int, default=120, help="business days to run (120)")
    demo.add_argument(
        "--from",
        dest="start",
        type=date.fromisoformat,
        default=date(2023, 7, 5),
        metavar="YYYY-MM-DD",
        help="the programme's first day (2023-07-05, ECoS Migration go-live)",
    )
    demo.add_argument("--seed", type=int, default=20230705, help="random seed (20230705)")
    demo.add_argument("--json", action="store_true", help="print the summary as JSON")

    log = sub.add_parser(
        "log",
        help="print the event log (canonical JSON lines)",
        description="Print stored events in recording order, one canonical "
        "JSON object per line, with notification ids.",
    )
    _add_store(log)
    log.add_argument("--start", type=int, default=1, help="first notification id (default 1)")
    log.add_argument("--limit", type=int, default=None, help="at most this many events")

    add_duis_parser(sub)
    add_gbcs_parser(sub)
    add_programme_parser(sub, _add_store)
    add_sr_parser(sub, _add_store)
    add_keys_parser(sub)
    return parser


def _application(args: argparse.Namespace) -> EtmadApplication:
    settings = settings_from_env(
        mpan_check_digit=None
        if args.mpan_check_digit is None
        else args.mpan_check_digit == "strict",
        bulk_migration_number=args.bulk_migration_number,
        auto_authorise_bulk=False if args.no_auto_authorise else None,
    )
    return build_application(args.store, settings=settings)


def _run_apply(args: argparse.Namespace) -> int:
    app = _application(args)
    try:
        srv623 = None
        config = args.srv623_config or os.environ.get(SRV623_CONFIG_ENV)
        if config:
            from adapters.srv623_setup import (  # noqa: PLC0415 — the codecs
                load_srv623_setup,
                parse_signer_options,
            )

            signers = parse_signer_options(args.srv623_signer)
            srv623 = load_srv623_setup(config, app, signers=signers)
        summary = apply_lines(app, read_lines(args.file), sys.stdout, srv623=srv623)
    except UnreadableInputError as e:
        print(f"etmad apply: {e}", file=sys.stderr)
        return EXIT_UNREADABLE
    finally:
        close_application(app)
    return summary.exit_code


def _run_log(args: argparse.Namespace) -> int:

    app = _application(args)
    try:
        printed = 0
        start = max(1, args.start)
        while args.limit is None or printed < args.limit:
            batch = app.recorder.select_notifications(start=start, limit=500)
            if not batch:
                break
            for notification in batch:
                envelope = app.mapper.to_domain_event(notification)
                assert isinstance(envelope, Envelope)  # noqa: S101 — our mapper's type
                record = event_record(envelope)
                record["notification_id"] = notification.id
                record["recorded_at"] = envelope.recorded_at.isoformat()
                print(json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False))
                printed += 1
                start = notification.id + 1
                if args.limit is not None and printed >= args.limit:
                    break
    finally:
        close_application(app)
    return 0


def main(argv: Sequence[str] | None = None) -> int:  # noqa: C901, PLR0911 — one exit per verb
    args = build_parser().parse_args(argv)
    configure_logging(level=args.log_level)
    try:
        if args.verb == "apply":
            return _run_apply(args)
        if args.verb == "schema":
            print(json.dumps(command_schema(), indent=2, sort_keys=True))
            return 0
        if args.verb == "log":
            return _run_log(args)
        if args.verb == "demo":
            from adapters.demo import run_demo  # noqa: PLC0415 — only this verb needs it

            return run_demo(args)
        if args.verb == "duis":
            return run_duis(args)
        if args.verb == "gbcs":
            return run_gbcs(args)
        if args.verb == "programme":
            return run_programme(args, _application(args))
        if args.verb == "sr":
            return run_sr(args, _application(args))
        if args.verb == "keys":
            return run_keys(args)
    except (ConfigurationError, DomainError) as e:
        print(f"etmad {args.verb}: {e.message} [{e.code}]", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"etmad {args.verb}: interrupted", file=sys.stderr)
        return 130
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
