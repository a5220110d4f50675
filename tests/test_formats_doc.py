"""``docs/formats.md`` stays true: it documents every stored event type of
``domain.catalogue.EVENT_TYPES`` (one row each, naming its class and every field, in the section
of its aggregate), and every event type name it mentions is a real one."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from pathlib import Path

import attrs

from domain.anomaly_detection import anomaly_detection_aggregate_id
from domain.catalogue import EVENT_TYPES
from domain.cos_parties import COS_PARTY_REGISTER_ID
from domain.device import device_aggregate_id
from domain.device_model import family_aggregate_id, model_aggregate_id
from domain.events import DomainEvent
from domain.identifiers import EUI64, DeviceModelKey
from domain.incidents import incident_aggregate_id
from domain.migration import migration_aggregate_id
from domain.programme_control import PROGRAMME_AGGREGATE_ID
from domain.refused_request import refused_request_aggregate_id
from domain.replay import request_counters_aggregate_id
from domain.selection import selection_aggregate_id
from domain.service_request import service_request_aggregate_id

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "formats.md").read_text(encoding="utf-8")
TYPE_NAME = re.compile(r"\betmad\.[A-Za-z_]+\.[A-Za-z0-9_]+\.v[0-9]+\b")

_DEVICE = EUI64.parse("00-DB-12-34-56-78-90-A0")
_MODEL = DeviceModelKey(
    manufacturer="ACME", model="E100", hardware_version="2.0", firmware_version="0103"
)

#: The aggregate each type name's second part is recorded on, as the code forms its id.
AGGREGATE_IDS: dict[str, Callable[[], str]] = {
    "device": lambda: device_aggregate_id(_DEVICE),
    "device_model": lambda: model_aggregate_id(_MODEL),
    "model_family": lambda: family_aggregate_id(_MODEL),
    "migration": lambda: migration_aggregate_id(_DEVICE),
    "selection": lambda: selection_aggregate_id(date(2023, 7, 5)),
    "programme": lambda: PROGRAMME_AGGREGATE_ID,
    "incident": lambda: incident_aggregate_id("dcc/transport/20230801T110000.000000Z"),
    "cos_party_register": lambda: COS_PARTY_REGISTER_ID,
    "service_request": lambda: service_request_aggregate_id(_DEVICE, _DEVICE, 7),
    "request_counters": lambda: request_counters_aggregate_id(_DEVICE),
    "anomaly_detection": lambda: anomaly_detection_aggregate_id("90-B3-D5-1F-30-01-00-00"),
    "refused_request": lambda: refused_request_aggregate_id("0" * 64),
}


def _aggregate(event_type: type[DomainEvent]) -> str:
    return event_type.TYPE.split(".")[1]


def _rows(event_type: type[DomainEvent]) -> list[tuple[str, str]]:
    """The table rows that document ``event_type``, each with the heading it stands under."""
    heading = ""
    rows: list[tuple[str, str]] = []
    for line in DOC.splitlines():
        if line.startswith("#"):
            heading = line
        elif line.startswith(f"| `{event_type.TYPE}` "):
            rows.append((heading, line))
    return rows


def test_every_stored_event_type_is_named_in_the_doc():
    absent = [t.TYPE for t in EVENT_TYPES if f"`{t.TYPE}`" not in DOC]
    assert absent == []


def test_every_event_type_name_the_doc_mentions_is_a_real_one():
    known = {t.TYPE for t in EVENT_TYPES}
    mentioned = set(TYPE_NAME.findall(DOC))
    assert len(mentioned) >= len(known)
    assert sorted(mentioned - known) == []


def test_the_stale_name_check_sees_a_name_that_is_not_real():
    # The pattern finds what a stale row would name (an old version, a renamed class), and no
    # other dotted text of the page (the schema's $id, the template etmad.<aggregate>...).
    text = "`etmad.device.Srv623Failed.v2`, `etmad.<aggregate>.<Name>.v<N>`, etmad.invalid/x-v1"
    assert TYPE_NAME.findall(text) == ["etmad.device.Srv623Failed.v2"]


def test_each_event_type_has_one_row_naming_its_class_and_every_field():
    incomplete: dict[str, list[str]] = {}
    for event_type in EVENT_TYPES:
        rows = _rows(event_type)
        assert len(rows) == 1, event_type.TYPE
        _, row = rows[0]
        type_cell = row.split(" | ")[0]
        fields_cell = row.split(" | ")[1]
        assert f"(`{event_type.__name__}`)" in type_cell, event_type.TYPE
        # every event carries occurred_at; the page says so once, above the tables
        missing = [
            f.name
            for f in attrs.fields(event_type)
            if f.name != "occurred_at" and f"`{f.name}`" not in fields_cell
        ]
        if missing:
            incomplete[event_type.TYPE] = missing
    assert incomplete == {}


def test_each_event_type_is_in_the_section_of_its_aggregate():
    assert {_aggregate(t) for t in EVENT_TYPES} <= AGGREGATE_IDS.keys()
    misplaced: list[tuple[str, str]] = []
    for event_type in EVENT_TYPES:
        aggregate_id = AGGREGATE_IDS[_aggregate(event_type)]()
        prefix = aggregate_id.split(":")[0] + (":" if ":" in aggregate_id else "`")
        misplaced.extend(
            (event_type.TYPE, heading)
            for heading, _ in _rows(event_type)
            if not heading.startswith("### ") or f"(`{prefix}" not in heading
        )
    assert misplaced == []
