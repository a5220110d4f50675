"""``etmad apply``: JSON Lines in, one JSON line out per command.

Exit status: 0 when every command was applied, 1 when any was rejected, 2 when the input could
not be read (missing file, not UTF-8, a line that is not a JSON object). Processing continues
after a rejected command; each command's events are saved together or not at all.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

import attrs
import structlog

from adapters.codecs.adt import DiskAdtFiles
from adapters.command_schema import CommandValidator
from application.anomaly_detection import AdtFileReader
from application.commands import CommandResult, command_names, execute
from application.service import EtmadApplication
from application.srv623_chain import Srv623Setup

EXIT_OK = 0
EXIT_REJECTED = 1
EXIT_UNREADABLE = 2


class UnreadableInputError(Exception):
    """The input file cannot be opened or decoded."""


@attrs.frozen
class ApplySummary:
    applied: int
    rejected: int
    unreadable: int

    @property
    def exit_code(self) -> int:
        if self.unreadable:
            return EXIT_UNREADABLE
        return EXIT_REJECTED if self.rejected else EXIT_OK


def read_lines(source: str) -> Iterator[str]:
    """Lines of ``source`` (a path, or ``-`` for standard input)."""
    if source == "-":
        yield from sys.stdin
        return
    path = Path(source)
    try:
        with path.open(encoding="utf-8") as handle:
            yield from handle
    except FileNotFoundError:
        raise UnreadableInputError(f"no such file: {source}") from None
    except UnicodeDecodeError as e:
        raise UnreadableInputError(f"{source} is not UTF-8 text: {e}") from None
    except OSError as e:
        raise UnreadableInputError(f"cannot read {source}: {e.strerror}") from None


def apply_lines(
    app: EtmadApplication,
    lines: Iterable[str],
    out: IO[str],
    *,
    adt_files: AdtFileReader | None = None,
    srv623: Srv623Setup | None = None,
) -> ApplySummary:
    """Apply each command line; a file a command names by its path (``LoadAdtFile``) is read
    by ``adt_files``, by default from the file system, relative to the working directory.
    ``ProcessSrv623`` and ``RecordSrv623Response`` run with ``srv623`` (refused without it)."""
    log = structlog.get_logger("etmad.apply")
    files = adt_files if adt_files is not None else DiskAdtFiles()
    validator = CommandValidator()
    known = set(command_names())
    applied = rejected = unreadable = 0
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        result = _one(app, validator, known, line, number, adt_files=files, srv623=srv623)
        out.write(json.dumps(result.to_json(), ensure_ascii=False) + "\n")
        out.flush()
        if not result.ok:
            log.info("command rejected", line=number, command=result.command, error=result.error)
        if result.ok:
            applied += 1
        elif result.error and result.error.get("code") == "MALFORMED_JSON":
            unreadable += 1
        else:
            rejected += 1
    log.info("apply finished", applied=applied, rejected=rejected, unreadable=unreadable)
    return ApplySummary(applied, rejected, unreadable)


def _one(
    app: EtmadApplication,
    validator: CommandValidator,
    known: set[str],
    line: str,
    number: int,
    *,
    adt_files: AdtFileReader,
    srv623: Srv623Setup | None,
) -> CommandResult:
    try:
        command = json.loads(line)
    except json.JSONDecodeError as e:
        return CommandResult(
            ok=False,
            command=None,
            error={"code": "MALFORMED_JSON", "message": f"line {number} is not JSON: {e.msg}"},
        )
    if not isinstance(command, dict):
        return CommandResult(
            ok=False,
            command=None,
            error={"code": "MALFORMED_JSON", "message": f"line {number} is not a JSON object"},
        )
    name = command.get("command")
    if isinstance(name, str) and name in known:
        problems = validator.problems(command)
        if problems:
            return CommandResult(
                ok=False,
                command=name,
                error={
                    "code": "INVALID_COMMAND",
                    "message": f"line {number}: " + "; ".join(problems),
                },
            )
    return execute(app, command, adt_files=adt_files, srv623=srv623)
