"""``etmad gbcs decode FILE|HEX [--json]``: show what a GBCS message holds.

The input is a file (hex text, base64 text or raw bytes), ``-`` for standard input, or the hex
itself on the command line. A Command (0xDD) or a General Signing message (0xDF: Pre-Command,
Signed Pre-Command, response, alert) is decoded and printed: as JSON with ``--json`` (the shape
``docs/gbcs.md`` gives), otherwise as an indented outline of the same fields.

Exit status: 0 decoded, 1 not a GBCS message this codec reads (the reason on standard error).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import re
import sys
from pathlib import Path
from typing import Any, Final

from adapters.codecs.gbcs import InvalidGbcs, decode_view

EXIT_OK: Final = 0
EXIT_INVALID: Final = 1
_HEX_NOISE: Final = re.compile(r"[\s:]+")
_HEX: Final = re.compile(r"[0-9A-F]+")
_OUTLINE_HEX_LIMIT: Final = 64
_GBCS_TAGS: Final = (0xDD, 0xDF)


class UnreadableMessageError(Exception):
    """The argument is neither a readable file nor hex (or base64) text."""


def add_gbcs_parser(sub: Any) -> None:  # noqa: ANN401 — argparse's private subparsers action
    """Register ``gbcs`` and its ``decode`` action on the ``etmad`` sub-parsers."""
    gbcs = sub.add_parser(
        "gbcs",
        help="decode GBCS messages (CS02b Update Security Credentials)",
        description="Work with GBCS messages: Commands, Pre-Commands, responses, alerts.",
    )
    actions = gbcs.add_subparsers(dest="gbcs_action", required=True, metavar="ACTION")
    decode = actions.add_parser(
        "decode",
        help="print what a GBCS message holds",
        description="Decode a GBCS Command or General Signing message (header, payload, "
        "signature; for a Command the MAC header and MAC). Exit 0 if decoded, 1 if not.",
    )
    decode.add_argument(
        "message",
        metavar="FILE|HEX",
        help="a file of hex, base64 or raw bytes, - for standard input, or the hex itself",
    )
    decode.add_argument("--json", action="store_true", help="print JSON (docs/gbcs.md)")


def _text_to_bytes(text: str) -> bytes | None:
    compact = _HEX_NOISE.sub("", text)
    compact = compact.removeprefix("0x").removeprefix("0X")
    if compact and len(compact) % 2 == 0:
        try:
            return bytes.fromhex(compact)
        except ValueError:
            pass
    try:
        data = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        return None
    return data if data[:1] and data[0] in _GBCS_TAGS else None


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):  # a name too long for a file, or with a NUL: not a file
        return False


def _read_source(argument: str) -> bytes | None:
    """The bytes of ``-`` or of the file ``argument`` names; None if it names no file."""
    if argument == "-":
        return sys.stdin.buffer.read()
    path = Path(argument)
    if not _is_file(path):
        return None
    try:
        return path.read_bytes()
    except OSError as e:
        raise UnreadableMessageError(f"cannot read {argument}: {e.strerror}") from None


def read_message(argument: str) -> bytes:
    """The bytes named by ``argument``: ``-`` (standard input), a file, or hex text."""
    raw = _read_source(argument)
    if raw is None:
        data = _text_to_bytes(argument)
        if data is None:
            raise UnreadableMessageError(
                f"{argument[:40]!r} is neither a file nor hex (or base64) text"
            )
        return data
    if raw[:1] and raw[0] in _GBCS_TAGS:
        return raw  # the message itself, in binary
    try:
        data = _text_to_bytes(raw.decode("ascii"))
    except UnicodeDecodeError:
        data = None
    if data is None:
        raise UnreadableMessageError(
            f"{argument} holds neither hex, base64 nor a GBCS message (0xDD or 0xDF first)"
        )
    return data


def _outline(value: Any, indent: int = 0) -> list[str]:  # noqa: ANN401 — a JSON value
    pad = "  " * indent
    lines: list[str] = []
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        label = f"[{key}]" if isinstance(key, int) else key
        if isinstance(item, dict | list) and item:
            lines.append(f"{pad}{label}:")
            lines.extend(_outline(item, indent + 1))
            continue
        shown = json.dumps(item, ensure_ascii=False)
        if isinstance(item, str) and len(item) > _OUTLINE_HEX_LIMIT and _HEX.fullmatch(item):
            shown = f"{item[:_OUTLINE_HEX_LIMIT]}… ({len(item) // 2} bytes)"
        lines.append(f"{pad}{label}: {shown}")
    return lines


def run_gbcs(args: argparse.Namespace) -> int:
    """Run ``etmad gbcs <action>``; returns the exit status."""
    try:
        view = decode_view(read_message(args.message))
    except UnreadableMessageError as e:
        print(f"etmad gbcs decode: {e}", file=sys.stderr)
        return EXIT_INVALID
    except InvalidGbcs as e:
        print(f"etmad gbcs decode: not a GBCS message: {e.message} [{e.code}]", file=sys.stderr)
        return EXIT_INVALID
    if args.json:
        print(json.dumps(view, indent=2, ensure_ascii=False))
    else:
        print("\n".join(_outline(view)))
    return EXIT_OK
