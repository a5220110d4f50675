"""``etmad sr process REQUEST.xml [--at T] [--json]``: one signed DUIS SRV 6.23 request through
the whole of SRPD clause 8 (DCC, CoS Party or TCoS Party, DCC again, Command).

Prints the route and why, every check of every stage with its outcome, clause and response code,
the response code the User receives, who is notified, and where the artefacts produced on the
way were written (``--out``, by default ``./var/sr/<request id>/``): the Countersigned CoS
Service Request and the CoS Authorisation Response as XML, the Signed Pre-Command and the
Device's response as hex.

Exit status: 0 when the DCC's processing under clause 8 completed (the Command was sent or
handed over; for SMETS1 the request was countersigned to the SMETS1 Service Provider); 1 when
the request was refused, rejected, ceased by anomaly detection, left on the legacy SMETS1 path
or could not be decided; 2 when the file or the SRV 6.23 set-up cannot be read, or the
artefacts of a processed (and recorded) request cannot be written. Nothing here prints a
traceback.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adapters.cli.duis import instant
from application.service import close_application
from domain.errors import DomainError

if TYPE_CHECKING:
    from application.service import EtmadApplication
    from application.srv623_chain import Srv623Result

EXIT_OK = 0
EXIT_NOT_PROCESSED = 1
EXIT_UNREADABLE = 2

PROCESS_DESCRIPTION = """\
Run one signed DUIS SRV 6.23 'CoS Update Security Credentials' request through SRPD clause 8 as
the ETMAD rewrites it: the DCC's request checks (SRPD 6.1) and route (6.4: TCoS Party for a TCoS
Device, the CoS Party otherwise); the Countersigned CoS Service Request (8.1(a), 8.1A(a)); the
party's checks (8.1(b), 8.1A(b)), CoS Party anomaly detection (8.2, clause 20) and its answer
(the CoS Authorisation Response, 8.2; the Signed Pre-Command, 8.2A); the DCC's checks on it
(8.4, 8.4A); the Command (8.5, 8.5A) or the rejection and who is told (8.3, 8.6, 8.6A).

Keys, trust store and DUIS schema come from the SRV 6.23 set-up file (--config, or
$ETMAD_SRV623_CONFIG; docs/formats.md "SRV 6.23 set-up"). Everything is recorded in the store.
Exit 0 when processed, 1 when refused, rejected, ceased or undecided, 2 when unreadable.
"""

EPILOG = """\
examples:
  etmad sr process request.xml --at 2023-11-14T22:13:20Z
  etmad sr process request.xml --json --out var/sr/run-1
"""

_SAFE = re.compile(r"[^0-9A-Za-z._-]+")
_SUFFIX = {
    "countersigned_request": ".xml",
    "cos_authorisation_response": ".xml",
    "smets1_countersigned_request": ".xml",
    "signed_pre_command": ".hex",
    "device_response": ".hex",
}


def add_sr_parser(
    sub: Any,  # noqa: ANN401 — argparse's private subparsers action
    add_store: Callable[[argparse.ArgumentParser], None],
) -> None:
    """Add ``sr process`` to the ``etmad`` sub-parsers."""
    sr = sub.add_parser("sr", help="SRV 6.23 Service Requests through SRPD clause 8")
    verbs = sr.add_subparsers(dest="sr_verb", required=True, metavar="SR_VERB")
    process = verbs.add_parser(
        "process",
        help="run a signed DUIS 6.23 request through the whole chain",
        description=PROCESS_DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    process.add_argument("request", help="the signed DUIS request (XML file)")
    process.add_argument(
        "--at",
        type=instant,
        default=None,
        help="when the DCC receives it (ISO 8601 with a zone; default: now)",
    )
    process.add_argument("--json", action="store_true", help="print the result as one JSON object")
    process.add_argument(
        "--out", default=None, help="folder for the artefacts (default ./var/sr/<request id>/)"
    )
    process.add_argument(
        "--config", default=None, help="the SRV 6.23 set-up file (default $ETMAD_SRV623_CONFIG)"
    )
    process.add_argument(
        "--signer",
        action="append",
        default=[],
        metavar="ROLE=KEY",
        help="a role's key instead of the set-up file's: ROLE is dcc, cos_party.xml_sign, "
        "cos_party.ecos or tcos_party; KEY a pkcs11:module=…;token=…;pin-env=…;label=… URI "
        "or a key file (repeatable)",
    )
    add_store(process)


def run_sr(args: argparse.Namespace, app: EtmadApplication) -> int:
    """Run ``etmad sr process`` on ``app``, and close it (its store) whatever happens."""
    try:
        return _process(args, app)
    finally:
        close_application(app)


def _process(args: argparse.Namespace, app: EtmadApplication) -> int:
    from adapters.srv623_setup import (  # noqa: PLC0415 — only this verb needs the codecs
        load_srv623_setup,
        parse_signer_options,
    )
    from application.srv623_chain import (  # noqa: PLC0415 — only this verb needs it
        process_srv623,
        result_json,
    )

    path = Path(args.request)
    try:
        data = path.read_bytes()
    except OSError as e:
        print(f"etmad sr process: cannot read {path}: {e.strerror}", file=sys.stderr)
        return EXIT_UNREADABLE
    try:
        setup = load_srv623_setup(args.config, app, signers=parse_signer_options(args.signer))
    except DomainError as e:  # the file's own errors, and a certificate the store refuses
        print(f"etmad sr process: {e.message} [{e.code}]", file=sys.stderr)
        return EXIT_UNREADABLE
    at = args.at or datetime.now(UTC)
    result = process_srv623(app, setup.dcc, setup.parties, data, at=at)
    try:
        written = _write_artefacts(result, args.out)
    except OSError as e:  # recorded in the store all the same; say so, and where it failed
        print(
            f"etmad sr process: request {result.request_id or result.sha256} was processed "
            f"({result.status}) and recorded, but its artefacts cannot be written: "
            f"{e.filename}: {e.strerror}",
            file=sys.stderr,
        )
        return EXIT_UNREADABLE
    if args.json:
        shown = result_json(result)
        shown["written"] = {name: str(p) for name, p in written.items()}
        print(json.dumps(shown, indent=2, sort_keys=True))
    else:
        _print(result, written)
    processed = result.status == "succeeded"
    return EXIT_OK if processed else EXIT_NOT_PROCESSED


def _write_artefacts(result: Srv623Result, out: str | None) -> dict[str, Path]:
    if not result.artefacts:
        return {}
    name = _SAFE.sub("_", result.request_id or result.sha256[:16])
    folder = Path(out) if out else Path("var") / "sr" / name
    folder.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for artefact, data in sorted(result.artefacts.items()):
        suffix = _SUFFIX.get(artefact, ".bin")
        target = folder / f"{artefact}{suffix}"
        if suffix == ".hex":
            target.write_text(data.hex().upper() + "\n", encoding="ascii")
        else:
            target.write_bytes(data)
        written[artefact] = target
    return written


def _print(result: Srv623Result, written: dict[str, Path]) -> None:
    print(f"SRV 6.23 {result.request_id or '(no trusted Request ID)'}: {result.status}")
    _print_checks(result)
    if result.anomaly:
        print(f"CoS Party anomaly detection: {result.anomaly}")
    print(f"response code: {result.response_code or '-'}")
    if result.notified:
        print(f"notified: {', '.join(str(p) for p in result.notified)}")
    if result.message:
        print(f"message: {result.message}")
    if written:
        print("artefacts written:")
        for artefact, target in written.items():
            print(f"  {artefact}: {target}")


def _print_checks(result: Srv623Result) -> None:
    if result.route is not None:
        print(f"route: {result.route}")
        for reason in result.route_reasons:
            print(f"  because {reason}")
    for stage in result.stages:
        print(f"{stage.stage} ({stage.party}):")
        for check in stage.checks:
            line = f"  {check.status:<9} {check.check}  {check.clause}  [{check.response_code}]"
            print(line)
            if check.detail:
                print(f"            {check.detail}")
