"""``etmad duis verify FILE``: check a DUIS document's schema, signature, signer and validity.

Exit status: 0 when the document is valid against the DUIS XML Schema, its signature verifies
with the certificate its KeyInfo names (found in the trust store), and that certificate passes
Confirm Validity at ``--at``; 1 when any of those fails (the reason is printed); 2 when the input
cannot be read as XML (missing file, not UTF-8, not well formed, hostile: ``docs/duis.md``) or
the schema or trust folder is unusable. Nothing here prints a traceback.

This module only builds the argument parser when imported; the codec is imported when the verb
runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from adapters.codecs.duis import DuisVerification

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_UNREADABLE = 2

VERIFY_DESCRIPTION = """\
Check a DUIS XML document (a request or a response): valid against the DUIS XML Schema 5.4;
signed as DUIS signs (enveloped, exclusive c14n, ecdsa-sha256, sha256); the signer resolved
from KeyInfo X509IssuerSerial through the trust store and the signature verified with that
certificate's key (never any other); and SMKI Confirm Validity of the signer at --at.
Prints the signer's Certificate ID, Remote Party Role and Entity Identifier.
Exit 0 when all hold, 1 with the reason otherwise, 2 when the input cannot be read.
"""


def instant(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 date-time (2023-11-14T22:13:20Z)"
        ) from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no time zone: add Z or +00:00")
    return value.astimezone(UTC)


def add_duis_parser(sub: Any) -> None:  # noqa: ANN401 — argparse's private subparsers action
    """Add ``duis verify`` to the ``etmad`` sub-parsers."""
    duis = sub.add_parser("duis", help="DUIS XML: verify a signed document")
    verbs = duis.add_subparsers(dest="duis_verb", required=True, metavar="DUIS_VERB")
    verify = verbs.add_parser(
        "verify",
        help="check schema, signature, signer and Confirm Validity",
        description=VERIFY_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verify.add_argument("file", help="a DUIS XML file, or - for standard input")
    verify.add_argument(
        "--at",
        type=instant,
        default=None,
        metavar="T",
        help="judge the signer's validity at T, ISO 8601 with a time zone (default: now)",
    )
    verify.add_argument(
        "--trust",
        default=None,
        metavar="DIR",
        help="a folder of PEM certificates: CA certificates are trust anchors, the others the "
        "certificates signers are looked up in (default: none, so every signer is unknown)",
    )
    verify.add_argument(
        "--schema-dir",
        default=None,
        metavar="DIR",
        help="the DUIS XML Schema 5.4 folder (default: $ETMAD_DUIS_SCHEMA_DIR, else the shared "
        "DCC vectors' duis/schema)",
    )
    verify.add_argument("--json", action="store_true", help="print the report as one JSON object")


def _read(source: str) -> bytes:
    from adapters.codecs.duis import MAX_DOCUMENT_BYTES  # noqa: PLC0415 — see module docstring

    stream = sys.stdin.buffer if source == "-" else Path(source).open("rb")  # noqa: SIM115
    with stream:
        return stream.read(MAX_DOCUMENT_BYTES + 1)


def _unreadable(args: argparse.Namespace, code: str, message: str) -> int:
    print(f"etmad duis verify: {message} [{code}]", file=sys.stderr)
    if args.json:
        print(json.dumps({"ok": False, "error": {"code": code, "message": message}}))
    return EXIT_UNREADABLE


def _print_text(file: str, report: DuisVerification) -> None:
    print(f"file: {file}")
    print(f"document: {report.document}" + (f" {report.request_id}" if report.request_id else ""))
    print(
        "schema: valid (DUIS 5.4)"
        if report.schema_valid
        else f"schema: INVALID: {report.schema_errors[0]}"
    )
    named = report.key_info
    keyinfo = f"KeyInfo {named.issuer_name} serial {named.serial}" if named else "no KeyInfo"
    print(f"signature: {'valid' if report.signature_valid else 'NOT VALID'} ({keyinfo})")
    certificate, signer = report.certificate, report.signer
    if certificate is not None:
        print(f"signer certificate: {certificate.certificate_id}")
        if signer is not None:
            print(f"signer role: {signer.role.hex} ({signer.role.name})")
            print(f"signer entity: {signer.entity_id}")
        else:
            print(f"signer role, entity: unknown ({report.not_organisation})")
    validity = report.validity
    if validity is not None:
        at = report.at.isoformat().replace("+00:00", "Z")
        print(f"confirm validity at {at}: {validity.code.value} ({validity.detail})")
    for failure in report.failures:
        print(f"failed: {failure.code}: {failure.message}")
    print("result: OK" if report.ok else "result: FAILED")


def run_duis(args: argparse.Namespace) -> int:
    """Run ``etmad duis ...`` (only ``verify`` exists)."""
    from adapters.codecs.duis import (  # noqa: PLC0415 — see module docstring
        DuisError,
        load_schema,
        parse_xml,
        verify_document,
    )
    from adapters.crypto.trust_store import TrustStore  # noqa: PLC0415

    at = args.at or datetime.now(UTC)
    try:
        schema = load_schema(args.schema_dir)
    except DuisError as e:
        return _unreadable(args, e.code, e.message)
    store = TrustStore()
    if args.trust is not None:
        if not Path(args.trust).is_dir():
            return _unreadable(args, "TRUST_UNAVAILABLE", f"--trust {args.trust} is not a folder")
        store.load_folder(args.trust)
    try:
        data = _read(args.file)
    except OSError as e:
        return _unreadable(args, "UNREADABLE", f"cannot read {args.file}: {e.strerror or e}")
    try:
        report = verify_document(parse_xml(data), schema=schema, authority=store, at=at)
    except DuisError as e:
        return _unreadable(args, e.code, e.message)
    if args.json:
        print(json.dumps(report.to_json(), sort_keys=True))
    else:
        _print_text(args.file, report)
    if not report.ok:
        reason = report.reason
        if reason is not None:
            print(f"etmad duis verify: {reason.message} [{reason.code}]", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK
