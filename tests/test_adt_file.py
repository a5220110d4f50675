"""The ADT file (``etmad-adt/1``): its reader and writer, and loading it with ``etmad apply``
(``LoadAdtFile``, ``ShowAdtThresholds``) on the memory and SQLite stores."""

from __future__ import annotations

import io
import json
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.cli.apply import apply_lines
from adapters.codecs.adt import (
    MAX_BYTES,
    AdtBadColumns,
    AdtBadField,
    AdtBadHeader,
    AdtFileEmpty,
    AdtFileError,
    AdtFileNotUtf8,
    AdtFileTooLarge,
    AdtFileUnreadable,
    AdtUnsupportedVersion,
    DiskAdtFiles,
    decode_adt_file,
    encode_adt_file,
)
from application.anomaly_detection import AdtFile, AdtThresholds, load_adt_file
from application.commands import execute
from domain import clauses
from domain.anomaly_detection import AdtEntry

USER = "90-B3-D5-1F-30-01-00-00"
OTHER = "90-B3-D5-1F-30-01-00-01"
HEAD = "etmad-adt/1\nuser_id,sequence_number\n"
ENTRY_HEAD = "srv,time_period_minutes,adt,warning_threshold\n"


def text(sequence_number: int = 42, *rows: str, user: str = USER) -> bytes:
    body = "".join(f"{row}\n" for row in rows)
    return f"{HEAD}{user},{sequence_number}\n{ENTRY_HEAD}{body}".encode()


# --- the reader and the writer --------------------------------------------------------------


def test_a_file_reads_as_written_keeping_duplicates_and_entries_the_domain_refuses():
    data = text(7, "6.23,1440,10,8", "6.23,1440,3,1", "6.23,0,1,1", "4.1.1,60,5,4")
    assert decode_adt_file(data) == AdtFile(
        user_id=USER,
        sequence_number=7,
        entries=(
            AdtEntry(srv="6.23", time_period_minutes=1440, adt=10, warning=8),
            AdtEntry(srv="6.23", time_period_minutes=1440, adt=3, warning=1),
            AdtEntry(srv="6.23", time_period_minutes=0, adt=1, warning=1),
            AdtEntry(srv="4.1.1", time_period_minutes=60, adt=5, warning=4),
        ),
    )
    assert encode_adt_file(decode_adt_file(data)) == data


def test_crlf_line_ends_and_a_missing_final_line_feed_are_read():
    crlf = text(1, "6.23,1440,2,1").replace(b"\n", b"\r\n")
    assert decode_adt_file(crlf) == decode_adt_file(text(1, "6.23,1440,2,1"))
    no_entries = text(3).rstrip(b"\n")
    assert decode_adt_file(no_entries) == AdtFile(user_id=USER, sequence_number=3, entries=())


MALFORMED: list[tuple[bytes, type[AdtFileError], int | None, str | None]] = [
    (b"", AdtFileEmpty, None, None),
    (b"\n", AdtBadHeader, 1, None),
    (b"etmad-adt/2\n" + text()[len(b"etmad-adt/1\n") :], AdtUnsupportedVersion, 1, None),
    (b"etmad-adt/1.0\n", AdtUnsupportedVersion, 1, None),
    (b"user_id,sequence_number\n", AdtBadHeader, 1, None),
    (b"etmad-adt/1\n", AdtBadHeader, 2, None),
    (b"etmad-adt/1\nuser,sequence\n", AdtBadHeader, 2, None),
    (HEAD.encode(), AdtBadColumns, 3, None),
    (f"{HEAD}{USER},1\n".encode(), AdtBadHeader, 4, None),
    (f"{HEAD}{USER},1\nsrv,minutes,adt,warning\n".encode(), AdtBadHeader, 4, None),
    (f"{HEAD}{USER}\n{ENTRY_HEAD}".encode(), AdtBadColumns, 3, None),
    (text(1, user=f"{USER},2"), AdtBadColumns, 3, None),
    (text(1, user=" spaced"), AdtBadField, 3, "user_id"),
    (text(1, user=""), AdtBadField, 3, "user_id"),
    (f"{HEAD}{USER},x\n{ENTRY_HEAD}".encode(), AdtBadField, 3, "sequence_number"),
    (f"{HEAD}{USER},-1\n{ENTRY_HEAD}".encode(), AdtBadField, 3, "sequence_number"),
    (f"{HEAD}{USER},{'9' * 19}\n{ENTRY_HEAD}".encode(), AdtBadField, 3, "sequence_number"),
    (text(1, "6.23,1440,10"), AdtBadColumns, 5, None),
    (text(1, "6.23,1440,10,8", "6.23,60,1,1,1"), AdtBadColumns, 6, None),
    (text(1, ""), AdtBadColumns, 5, None),
    (text(1, "6.23,1440,10,8", "", "4.1.1,60,1,1"), AdtBadColumns, 6, None),
    (text(1, "6.23,1440,1.5,1"), AdtBadField, 5, "adt"),
    (text(1, "6.23,1440,10,-2"), AdtBadField, 5, "warning_threshold"),
    (text(1, "6.23,sixty,10,8"), AdtBadField, 5, "time_period_minutes"),
    (text(1, "6.23, 1440,10,8"), AdtBadField, 5, "time_period_minutes"),
    (text(1, "6.23,01440,10,8"), AdtBadField, 5, "time_period_minutes"),
    (text(1, "6.23,+1440,10,8"), AdtBadField, 5, "time_period_minutes"),
    (text(1, "SRV6.23,1440,10,8"), AdtBadField, 5, "srv"),
    (text(1, ",1440,10,8"), AdtBadField, 5, "srv"),
    (text(1, '"6.23",1440,10,8'), AdtBadField, 5, "srv"),
    (text(1, "6.23,1440,10,8") + b"\n", AdtBadColumns, 6, None),
    (text(1) + b"6.23,1440,\xff,8\n", AdtFileNotUtf8, 5, None),
    (text(1) + b"6.23,1440,10,8\r", AdtBadField, 5, "warning_threshold"),
    (b"\xef\xbb\xbf" + text(), AdtBadHeader, 1, None),
    (text(1, "6.23,1440,10,8") + b"x" * MAX_BYTES, AdtFileTooLarge, None, None),
]


@pytest.mark.parametrize(("data", "error", "line", "field"), MALFORMED)
def test_every_malformed_file_is_refused_whole_with_a_typed_error_naming_where(
    data: bytes, error: type[AdtFileError], line: int | None, field: str | None
):
    with pytest.raises(AdtFileError) as refusal:
        decode_adt_file(data)
    assert type(refusal.value) is error
    assert (refusal.value.line, refusal.value.field) == (line, field)
    assert refusal.value.clause == clauses.TADP_3_7
    if line is not None:
        assert refusal.value.message.startswith(f"line {line}")
    if field is not None:
        assert field in refusal.value.message


def test_each_refusal_has_its_stable_code():
    codes = {error.code for _, error, _, _ in MALFORMED}
    assert codes == {
        "ADT_FILE_EMPTY",
        "ADT_BAD_HEADER",
        "ADT_UNSUPPORTED_VERSION",
        "ADT_BAD_COLUMNS",
        "ADT_BAD_FIELD",
        "ADT_FILE_NOT_UTF8",
        "ADT_FILE_TOO_LARGE",
    }
    with pytest.raises(AdtFileError) as refusal:
        decode_adt_file(text(1, "6.23,1440,-3,1"))
    assert "negative" in refusal.value.message
    with pytest.raises(AdtFileError) as refusal:
        decode_adt_file(text(1, "6.23,1440,7,"))
    assert "not a whole number" in refusal.value.message


def test_the_writer_refuses_what_the_reader_would():
    good = AdtEntry(srv="6.23", time_period_minutes=1440, adt=1, warning=1)
    for bad in (
        AdtFile(user_id="a b", sequence_number=1, entries=()),
        AdtFile(user_id=USER, sequence_number=-1, entries=()),
        AdtFile(user_id=USER, sequence_number=1, entries=(AdtEntry(srv="6,23", **_nums()),)),
        AdtFile(user_id=USER, sequence_number=1, entries=(good, AdtEntry(srv="6.23", **_nums(-1)))),
        AdtFile(user_id=USER, sequence_number=True, entries=()),
    ):
        with pytest.raises(AdtBadField):
            encode_adt_file(bad)


def _nums(adt: int = 1) -> dict[str, int]:
    return {"time_period_minutes": 1440, "adt": adt, "warning": 0}


_whole = st.integers(min_value=0, max_value=10**18 - 1)
_entries = st.builds(
    AdtEntry,
    srv=st.from_regex(r"[0-9]{1,2}(\.[0-9]{1,2}){0,2}", fullmatch=True),
    time_period_minutes=_whole,
    adt=_whole,
    warning=_whole,
)
_files = st.builds(
    AdtFile,
    user_id=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}", fullmatch=True),
    sequence_number=_whole,
    entries=st.lists(_entries, max_size=20).map(tuple),
)


@settings(max_examples=200)
@given(_files)
def test_any_file_round_trips_through_its_one_byte_form(adt_file: AdtFile):
    data = encode_adt_file(adt_file)
    assert decode_adt_file(data) == adt_file
    assert encode_adt_file(decode_adt_file(data)) == data


def _decoded(data: bytes) -> AdtFile | AdtFileError:
    try:
        return decode_adt_file(data)
    except AdtFileError as refusal:
        return refusal


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_any_bytes_are_read_or_refused_with_a_typed_error(data: bytes):
    decoded = _decoded(data)
    if isinstance(decoded, AdtFileError):
        assert decoded.code.startswith("ADT_")
        assert decoded.clause == clauses.TADP_3_7
    else:  # what was read is what the writer writes, up to line ends
        written = encode_adt_file(decoded).rstrip(b"\n")
        assert written == data.replace(b"\r\n", b"\n").rstrip(b"\n")


@settings(max_examples=200)
@given(_files, st.data())
def test_any_one_changed_field_is_read_back_or_refused_naming_its_line(adt_file, data):
    lines = encode_adt_file(adt_file).decode().split("\n")[:-1]
    number = data.draw(st.integers(min_value=1, max_value=len(lines)), label="line")
    junk = data.draw(st.sampled_from(["", "-1", "x", "1.5", " 1", "01", ",", "é"]), label="junk")
    fields = lines[number - 1].split(",")
    fields[data.draw(st.integers(0, len(fields) - 1), label="field")] = junk
    lines[number - 1] = ",".join(fields)
    changed = ("\n".join(lines) + "\n").encode()
    decoded = _decoded(changed)
    if isinstance(decoded, AdtFileError):
        assert decoded.line == number
        assert decoded.message.startswith(f"line {number}")
    else:  # a User ID or an SRV can take some of the junk ("x", "01", "1.5"): read as written
        assert encode_adt_file(decoded) == changed


def test_the_disk_reader_reads_a_path_and_names_a_missing_one(tmp_path: Path):
    path = tmp_path / "adt.csv"
    path.write_bytes(text(5, "6.23,1440,3,2"))
    assert DiskAdtFiles().read_adt_file(str(path)).sequence_number == 5
    with pytest.raises(AdtFileUnreadable) as refusal:
        DiskAdtFiles().read_adt_file(str(tmp_path / "missing.csv"))
    assert refusal.value.code == "ADT_FILE_UNREADABLE"
    with pytest.raises(AdtFileUnreadable):
        DiskAdtFiles().read_adt_file(str(tmp_path))  # a folder
    path.write_bytes(b"x" * (MAX_BYTES + 1))
    with pytest.raises(AdtFileTooLarge):
        DiskAdtFiles().read_adt_file(str(path))


# --- etmad apply ----------------------------------------------------------------------------


def write(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def load(app, path: str, at: str, user: str = USER):
    return execute(
        app,
        {"command": "LoadAdtFile", "user_id": user, "path": path, "at": at},
        adt_files=DiskAdtFiles(),
    )


def show(app, at: str, user: str = USER):
    return execute(app, {"command": "ShowAdtThresholds", "user_id": user, "at": at})


def test_loading_a_file_sets_the_users_threshold_and_show_gives_it_at_any_time(app, tmp_path):
    before = show(app, "2024-03-01T08:00:00Z")
    assert before.ok
    assert before.result == {
        "user_id": USER,
        "as_of": "2024-03-01T08:00:00+00:00",
        "threshold": {"adt": 0, "warning": 0, "time_period_minutes": 1440},
        "source": "no_adt_file",
        "clause": clauses.TADP_ADT_NO_FILE,
        "sequence_number": None,
        "loaded_at": None,
        "files_loaded": 0,
        "requests_in_window": 0,
    }
    path = write(tmp_path, "a.csv", text(42, "6.23,1440,10,8", "6.23,60,2,1", "4.1.1,1440,5,4"))
    loaded = load(app, path, "2024-03-01T09:00:00Z")
    assert loaded.ok, loaded.error
    [event] = loaded.events
    assert event["aggregate_id"] == f"adt:{USER}"
    assert event["type"] == "etmad.anomaly_detection.AdtFileLoaded.v1"
    assert event["data"]["sequence_number"] == 42
    assert event["data"]["ignored_entries"] == 2
    assert loaded.result["threshold"] == {"adt": 10, "warning": 8, "time_period_minutes": 1440}
    assert (loaded.result["source"], loaded.result["clause"]) == ("adt_file", clauses.SRPD_20)
    later = show(app, "2024-03-02T00:00:00Z").result
    assert later == {**loaded.result, "as_of": "2024-03-02T00:00:00+00:00"}
    assert show(app, "2024-03-01T08:59:00Z").result["source"] == "no_adt_file"  # as of before


def test_a_file_without_a_1440_minute_srv_6_23_entry_loads_zeros(app, tmp_path):
    loaded = load(app, write(tmp_path, "a.csv", text(1, "6.23,60,9,9")), "2024-03-01T09:00:00Z")
    assert loaded.ok, loaded.error
    assert loaded.result["threshold"] == {"adt": 0, "warning": 0, "time_period_minutes": 1440}
    assert loaded.result["source"] == "adt_file_default"
    assert loaded.result["clause"] == clauses.TADP_ADT_DEFAULTS


def _stored(app) -> int:
    return len(list(app.stored(f"adt:{USER}")))


def test_a_replayed_sequence_number_is_refused_with_nothing_saved(app, tmp_path):
    assert load(app, write(tmp_path, "a.csv", text(42, "6.23,1440,10,8")), "2024-03-01T09:00Z").ok
    for sequence_number in (42, 41):
        path = write(tmp_path, "b.csv", text(sequence_number, "6.23,1440,99,1"))
        refused = load(app, path, "2024-03-02T09:00:00Z")
        assert not refused.ok
        assert refused.error == {
            "code": "ADT_FILE_REPLAYED",
            "message": refused.error["message"],
            "clause": clauses.TADP_ADT_SEQUENCE_NUMBER,
        }
    assert _stored(app) == 1
    assert show(app, "2024-03-03T00:00:00Z").result["threshold"]["adt"] == 10
    newer = load(app, write(tmp_path, "c.csv", text(43, "6.23,1440,99,1")), "2024-03-02T09:00Z")
    assert newer.ok
    assert newer.result["threshold"]["adt"] == 99
    assert _stored(app) == 2


def test_a_file_for_another_user_is_refused(app, tmp_path):
    path = write(tmp_path, "a.csv", text(1, "6.23,1440,10,8", user=OTHER))
    refused = load(app, path, "2024-03-01T09:00:00Z")
    assert not refused.ok
    assert refused.error["code"] == "ADT_USER_MISMATCH"
    assert refused.error["clause"] == clauses.TADP_ADT_SEQUENCE_NUMBER
    assert OTHER in refused.error["message"]
    assert _stored(app) == 0
    assert list(app.stored(f"adt:{OTHER}")) == []


@pytest.mark.parametrize(
    ("rows", "code", "clause"),
    [
        (("6.23,1440,10,8", "6.23,1440,3,1"), "DUPLICATE_ADT_ENTRY", clauses.TADP_ADT_ONE_ENTRY),
        (("6.23,0,1,1",), "INVALID_ADT_ENTRY", clauses.TADP_3_7),
        (("6.23,1440,1",), "ADT_BAD_COLUMNS", clauses.TADP_3_7),
    ],
)
def test_a_file_failing_a_check_is_refused_whole(app, tmp_path, rows, code, clause):
    refused = load(app, write(tmp_path, "a.csv", text(1, *rows)), "2024-03-01T09:00:00Z")
    assert not refused.ok
    assert (refused.error["code"], refused.error["clause"]) == (code, clause)
    assert _stored(app) == 0


def test_load_adt_file_without_a_reader_or_a_readable_file_is_refused(app, tmp_path):
    command = {"command": "LoadAdtFile", "user_id": USER, "path": "x", "at": "2024-03-01T09:00Z"}
    unread = execute(app, command)
    assert unread.error is not None
    assert unread.error["code"] == "NO_FILE_READER"
    missing = load(app, str(tmp_path / "missing.csv"), "2024-03-01T09:00:00Z")
    assert missing.error["code"] == "ADT_FILE_UNREADABLE"
    blank = load(app, str(tmp_path / "missing.csv"), "2024-03-01T09:00:00Z", user=" ")
    assert blank.error["code"] == "INVALID_COMMAND"


def test_the_use_case_saves_one_event_on_the_users_aggregate(app):
    entries = (AdtEntry(srv="6.23", time_period_minutes=1440, adt=4, warning=3),)
    outcome = load_adt_file(
        app,
        user_id=USER,
        sequence_number=0,
        entries=entries,
        at=datetime.fromisoformat("2024-03-01T09:00Z"),
    )
    [envelope] = outcome.events
    assert (envelope.originator_id, envelope.originator_version) == (f"adt:{USER}", 1)
    assert isinstance(outcome.result, AdtThresholds)
    assert (outcome.result.threshold.adt, outcome.result.sequence_number) == (4, 0)


def test_etmad_apply_reads_the_path_and_checks_the_commands_against_the_schema(app, tmp_path):
    path = write(tmp_path, "adt.csv", text(3, "6.23,1440,5,4"))
    lines = [
        json.dumps(
            {"command": "LoadAdtFile", "user_id": USER, "path": path, "at": "2024-03-01T09:00Z"}
        ),
        json.dumps({"command": "ShowAdtThresholds", "user_id": USER, "at": "2024-03-01T10:00Z"}),
        json.dumps({"command": "LoadAdtFile", "user_id": USER, "at": "2024-03-01T11:00Z"}),
        json.dumps({"command": "ShowAdtThresholds", "user_id": "  ", "at": "2024-03-01T10:00Z"}),
    ]
    out = io.StringIO()
    summary = apply_lines(app, lines, out)
    results = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["ok"] for r in results] == [True, True, False, False]
    assert results[1]["result"]["threshold"]["adt"] == 5
    assert results[2]["error"]["code"] == "INVALID_COMMAND"
    assert "path" in results[2]["error"]["message"]
    assert results[3]["error"]["code"] == "INVALID_COMMAND"
    assert (summary.applied, summary.rejected) == (2, 2)
