"""The ADT file, our format ``etmad-adt/1`` (``docs/formats.md``, "ADT file").

The seeds say an ADT file is a CSV file carrying a Sequence Number and, per SRV and Time Period
Applicable, an Anomaly Detection Threshold and a Warning Threshold (2021 consultation 3.2); they
give no byte format, so etmad defines one: UTF-8 text, one record a line, comma-separated, no
quoting::

    etmad-adt/1
    user_id,sequence_number
    90-B3-D5-1F-30-01-00-00,42
    srv,time_period_minutes,adt,warning_threshold
    6.23,1440,10,8

``decode_adt_file`` checks the syntax only, and refuses with an ``AdtFileError`` naming the line
and field; it keeps the entries as written (duplicates, Time Periods of 0, other SRVs): the
aggregate applies the TADP rules. ``encode_adt_file`` writes the one byte form the reader reads
back to the same value. ``DiskAdtFiles`` is the ``AdtFileReader`` port on the file system.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

from application.anomaly_detection import AdtFile
from domain import clauses
from domain.anomaly_detection import AdtEntry
from domain.errors import DomainError

VERSION: Final = "etmad-adt/1"
FILE_HEADER: Final = "user_id,sequence_number"
ENTRY_HEADER: Final = "srv,time_period_minutes,adt,warning_threshold"
MAX_BYTES: Final = 1024 * 1024
MAX_DIGITS: Final = 18  # every whole number fits a signed 64-bit integer

_FILE_FIELDS: Final = tuple(FILE_HEADER.split(","))
_ENTRY_FIELDS: Final = tuple(ENTRY_HEADER.split(","))
_FIRST_ENTRY_LINE: Final = 5
_WHOLE = re.compile(r"0|[1-9][0-9]*")
_NEGATIVE = re.compile(r"-[0-9]+")
_SRV = re.compile(r"[0-9]+(\.[0-9]+)*")
_USER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
_VERSION_LIKE = re.compile(r"etmad-adt/.*")


class AdtFileError(DomainError):
    """Base of every refusal of an ADT file: the whole file is refused (TADP 3.7). ``line``
    (from 1) and ``field`` say where, when the refusal is about one place."""

    code = "ADT_FILE_INVALID"

    def __init__(self, message: str, *, line: int | None = None, field: str | None = None) -> None:
        where = "" if line is None else f"line {line}" + ("" if field is None else f", {field}")
        super().__init__(f"{where}: {message}" if where else message, clause=clauses.TADP_3_7)
        self.line = line
        self.field = field


class AdtFileUnreadable(AdtFileError):  # noqa: N818 — reads as the fact it reports
    """No such file, or it cannot be read."""

    code = "ADT_FILE_UNREADABLE"


class AdtFileEmpty(AdtFileError):  # noqa: N818 — reads as the fact it reports
    code = "ADT_FILE_EMPTY"


class AdtFileTooLarge(AdtFileError):  # noqa: N818 — reads as the fact it reports
    """Over ``MAX_BYTES``; refused before it is decoded."""

    code = "ADT_FILE_TOO_LARGE"


class AdtFileNotUtf8(AdtFileError):  # noqa: N818 — reads as the fact it reports
    code = "ADT_FILE_NOT_UTF8"


class AdtUnsupportedVersion(AdtFileError):  # noqa: N818 — reads as the fact it reports
    """The first line names another version of the format."""

    code = "ADT_UNSUPPORTED_VERSION"


class AdtBadHeader(AdtFileError):  # noqa: N818 — reads as the fact it reports
    """The version line or a header line is missing or not exactly the format's."""

    code = "ADT_BAD_HEADER"


class AdtBadColumns(AdtFileError):  # noqa: N818 — reads as the fact it reports
    """A record has a column missing or an extra one (an empty line has one empty column)."""

    code = "ADT_BAD_COLUMNS"


class AdtBadField(AdtFileError):  # noqa: N818 — reads as the fact it reports
    """A field is not of its form: a whole number, an SRV, a User ID."""

    code = "ADT_BAD_FIELD"


# --- reading --------------------------------------------------------------------------------


def _whole(text: str, line: int, field: str) -> int:
    if _NEGATIVE.fullmatch(text):
        raise AdtBadField(f"{text!r} is negative: a whole number from 0", line=line, field=field)
    if not _WHOLE.fullmatch(text):
        raise AdtBadField(
            f"{text!r} is not a whole number (ASCII digits, no sign or leading zero)",
            line=line,
            field=field,
        )
    if len(text) > MAX_DIGITS:
        raise AdtBadField(f"{text!r} has more than {MAX_DIGITS} digits", line=line, field=field)
    return int(text)


def _srv(text: str, line: int) -> str:
    if not _SRV.fullmatch(text):
        raise AdtBadField(f"{text!r} is not an SRV number such as 6.23", line=line, field="srv")
    return text


def _user_id(text: str, line: int) -> str:
    if not _USER_ID.fullmatch(text):
        raise AdtBadField(
            f"{text!r} is not a User ID (1 to 64 letters, digits, '.', '_', ':' or '-', "
            "starting with a letter or digit)",
            line=line,
            field="user_id",
        )
    return text


def _columns(record: str, line: int, names: tuple[str, ...]) -> list[str]:
    values = record.split(",")
    if not record:
        raise AdtBadColumns(f"the line is empty; expected {','.join(names)}", line=line)
    if len(values) < len(names):
        missing = ", ".join(names[len(values) :])
        raise AdtBadColumns(f"{len(values)} columns of {len(names)}: missing {missing}", line=line)
    if len(values) > len(names):
        raise AdtBadColumns(
            f"{len(values)} columns of {len(names)}: an extra column after {names[-1]}",
            line=line,
        )
    return values


def _lines(data: bytes) -> list[str]:
    if len(data) > MAX_BYTES:
        raise AdtFileTooLarge(f"the file is {len(data)} bytes; at most {MAX_BYTES} are read")
    if not data:
        raise AdtFileEmpty("the file is empty")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise AdtFileNotUtf8(
            f"not UTF-8 text: {e.reason}", line=data.count(b"\n", 0, e.start) + 1
        ) from None
    lines = text.replace("\r\n", "\n").split("\n")
    if lines[-1] == "":
        lines.pop()  # the final line feed
    return lines


def _header(lines: list[str], number: int, expected: str) -> None:
    if len(lines) < number:
        raise AdtBadHeader(f"the file ends before its header {expected!r}", line=number)
    if lines[number - 1] != expected:
        raise AdtBadHeader(f"{lines[number - 1]!r} is not the header {expected!r}", line=number)


def decode_adt_file(data: bytes) -> AdtFile:
    """Read an ``etmad-adt/1`` file; the first problem found refuses it whole."""
    lines = _lines(data)
    version = lines[0] if lines else ""
    if version != VERSION:
        if _VERSION_LIKE.fullmatch(version):
            raise AdtUnsupportedVersion(
                f"{version!r} is not a version this reader reads ({VERSION})", line=1
            )
        raise AdtBadHeader(f"{version!r} is not the format's version line {VERSION!r}", line=1)
    _header(lines, 2, FILE_HEADER)
    if len(lines) < 3:  # noqa: PLR2004 — the line of the file's User ID and sequence number
        raise AdtBadColumns(f"the file ends before its {FILE_HEADER} record", line=3)
    user_id, sequence_number = _columns(lines[2], 3, _FILE_FIELDS)
    file_user_id = _user_id(user_id, 3)
    number = _whole(sequence_number, 3, "sequence_number")
    _header(lines, 4, ENTRY_HEADER)
    entries = []
    for line, record in enumerate(lines[_FIRST_ENTRY_LINE - 1 :], start=_FIRST_ENTRY_LINE):
        srv, minutes, adt, warning = _columns(record, line, _ENTRY_FIELDS)
        entries.append(
            AdtEntry(
                srv=_srv(srv, line),
                time_period_minutes=_whole(minutes, line, "time_period_minutes"),
                adt=_whole(adt, line, "adt"),
                warning=_whole(warning, line, "warning_threshold"),
            )
        )
    return AdtFile(user_id=file_user_id, sequence_number=number, entries=tuple(entries))


# --- writing --------------------------------------------------------------------------------


def _written(value: int, line: int, field: str) -> str:
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else repr(value)
    _whole(text, line, field)
    return text


def encode_adt_file(adt_file: AdtFile) -> bytes:
    """The ``etmad-adt/1`` bytes of ``adt_file`` (LF line ends, a final LF); refuses, as the
    reader would, a value the format cannot carry."""
    rows = [
        VERSION,
        FILE_HEADER,
        ",".join(
            (
                _user_id(adt_file.user_id, 3),
                _written(adt_file.sequence_number, 3, "sequence_number"),
            )
        ),
        ENTRY_HEADER,
    ]
    for line, entry in enumerate(adt_file.entries, start=_FIRST_ENTRY_LINE):
        rows.append(
            ",".join(
                (
                    _srv(entry.srv, line),
                    _written(entry.time_period_minutes, line, "time_period_minutes"),
                    _written(entry.adt, line, "adt"),
                    _written(entry.warning, line, "warning_threshold"),
                )
            )
        )
    data = ("\n".join(rows) + "\n").encode("utf-8")
    if len(data) > MAX_BYTES:
        raise AdtFileTooLarge(f"the file would be {len(data)} bytes; at most {MAX_BYTES}")
    return data


# --- the port on the file system ------------------------------------------------------------


class DiskAdtFiles:
    """The ``AdtFileReader`` port on the file system: ``path`` is absolute or relative to the
    working directory; at most ``MAX_BYTES`` + 1 bytes are read."""

    def read_adt_file(self, path: str) -> AdtFile:
        try:
            with Path(path).open("rb") as handle:
                data = handle.read(MAX_BYTES + 1)
        except FileNotFoundError:
            raise AdtFileUnreadable(f"no such ADT file: {path}") from None
        except OSError as e:
            raise AdtFileUnreadable(f"cannot read the ADT file {path}: {e.strerror}") from None
        return decode_adt_file(data)
