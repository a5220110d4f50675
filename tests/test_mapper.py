"""Every event type round-trips through the event mapper and its canonical JSON; old versions
are read through upcasters; stored data that cannot be read fails with the mapper's error."""

from __future__ import annotations

import enum
import importlib
import json
import pkgutil
import re
import types
import typing
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import attrs
import pytest
from eventsourcing.persistence import JSONTranscoder, MapperDeserialisationError, StoredEvent
from hypothesis import given, settings
from hypothesis import strategies as st

import domain
from application.mapper import Envelope, EventMapper, EventTypeRegistry, Upcaster
from application.serialization import canonical_json, to_primitive
from domain import selection
from domain.catalogue import EVENT_TYPES
from domain.device import TechnicalIssueRaised
from domain.device_model import ProvingEvidenceRecorded
from domain.events import DomainEvent
from domain.failures import FailureCause
from domain.identifiers import (
    EUI64,
    MPAN,
    MPRN,
    CertificateId,
    DeviceModelKey,
    mpan_check_digit,
)
from domain.retry_policy import RetryPolicy

TYPE_NAME = re.compile(r"etmad\.[a-z_]+\.[A-Z][A-Za-z0-9]*\.v[0-9]+")
UTC_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00")

# --- strategies, built from the attrs field types ---------------------------------------------

utc_times = st.datetimes(
    min_value=datetime(1970, 1, 1),  # noqa: DTZ001 — bounds of naive values, made UTC below
    max_value=datetime(2200, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
)
model_text = st.text(
    alphabet=st.characters(categories=["L", "N", "P", "S", "Zs"]), min_size=1, max_size=64
).filter(lambda s: s == s.strip() and bool(s))


def _valid_mpan(first_twelve: str) -> MPAN:
    return MPAN(f"{first_twelve}{mpan_check_digit(first_twelve)}")


def _ramp_up(steps: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """Gaps and caps as a valid schedule: day 0 first, days strictly increasing."""
    schedule, day = [(0, 50)], 0
    for gap, cap in steps:
        day += gap
        schedule.append((day, cap))
    return tuple(schedule)


LEAF_STRATEGIES: dict[object, st.SearchStrategy[Any]] = {
    str: st.text(),
    int: st.integers(min_value=-(2**63), max_value=2**63),
    bool: st.booleans(),
    datetime: utc_times,
    EUI64: st.builds(EUI64, st.integers(min_value=0, max_value=2**64 - 1)),
    DeviceModelKey: st.builds(DeviceModelKey, model_text, model_text, model_text, model_text),
    CertificateId: st.builds(
        CertificateId,
        st.integers(min_value=0, max_value=2**160 - 1),
        st.text(min_size=1).filter(lambda s: bool(s.strip())),
    ),
    MPAN: st.text(alphabet="0123456789", min_size=12, max_size=12).map(_valid_mpan),
    MPRN: st.builds(MPRN, st.text(alphabet="0123456789", min_size=6, max_size=10)),
    timedelta: st.timedeltas(),
    # A policy validates itself (a version, at least one non-negative delay, a window).
    RetryPolicy: st.builds(
        RetryPolicy,
        version=st.text(min_size=1).filter(lambda s: bool(s.strip())),
        effective_from=utc_times,
        retryable=st.frozensets(st.sampled_from(FailureCause)),
        backoff=st.lists(st.timedeltas(min_value=timedelta(0)), min_size=1, max_size=4).map(tuple),
        window=st.timedeltas(min_value=timedelta(microseconds=1)),
        max_attempts=st.none() | st.integers(min_value=1, max_value=2**31),
    ),
    # Parameters validate themselves (pilot at most 300; ramp-up from day 0, days increasing).
    selection.SelectionParameters: st.builds(
        selection.SelectionParameters,
        daily_capacity=st.integers(min_value=0, max_value=2**31),
        pilot_size=st.integers(min_value=0, max_value=300),
        ramp_up=st.lists(
            st.tuples(st.integers(min_value=1, max_value=60), st.integers(0, 10_000)), max_size=3
        ).map(_ramp_up),
    ),
}


def strategy_for(tp: Any) -> st.SearchStrategy[Any]:
    """A strategy for values of an annotated type: leaves, enums, Optional/unions, tuples, and
    attrs classes field by field (events included), so a new event class needs no code here."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return st.one_of(
            *(st.none() if a is type(None) else strategy_for(a) for a in typing.get_args(tp))
        )
    if tp in LEAF_STRATEGIES:
        return LEAF_STRATEGIES[tp]
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return st.lists(strategy_for(args[0]), max_size=3).map(tuple)
        return st.tuples(*(strategy_for(a) for a in args))
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return st.sampled_from(list(tp))
    if isinstance(tp, type) and attrs.has(tp):
        hints = typing.get_type_hints(tp)
        fields = {f.name: strategy_for(hints[f.name]) for f in attrs.fields(tp) if f.init}
        return st.builds(tp, **fields)
    msg = f"no strategy for {tp!r}: add one to LEAF_STRATEGIES"
    raise TypeError(msg)


EVENT_STRATEGIES = {cls: strategy_for(cls) for cls in EVENT_TYPES}
any_event = st.one_of(*EVENT_STRATEGIES.values())
envelopes = st.builds(
    Envelope,
    originator_id=st.text(min_size=1),
    originator_version=st.integers(min_value=1, max_value=2**31),
    recorded_at=utc_times,
    event=any_event,
)


def _all_subclasses(cls: type) -> set[type]:
    found: set[type] = set()
    subclasses: list[type] = cls.__subclasses__()
    for sub in subclasses:
        found |= {sub, *_all_subclasses(sub)}
    return found


def test_every_event_type_has_a_strategy_and_a_stable_name():
    assert set(EVENT_STRATEGIES) == set(EVENT_TYPES)
    assert len(EVENT_TYPES) == len({cls.TYPE for cls in EVENT_TYPES})
    for cls in EVENT_TYPES:
        assert TYPE_NAME.fullmatch(cls.TYPE), cls.TYPE
        assert cls.__module__ not in cls.TYPE
    # Every event class the domain defines is in the catalogue the mapper reads.
    defined = {
        cls
        for cls in _all_subclasses(DomainEvent)
        if cls.__module__.startswith("domain.") and cls.__dict__.get("TYPE")
    }
    assert defined == set(EVENT_TYPES)
    # ... and it is exactly the events the domain modules list as theirs (``EVENTS``).
    listed: set[type] = set()
    for module in pkgutil.iter_modules(domain.__path__):
        listed |= set(getattr(importlib.import_module(f"domain.{module.name}"), "EVENTS", ()))
    assert listed == set(EVENT_TYPES)


def _mapper(registry: EventTypeRegistry | None = None) -> EventMapper:
    return EventMapper(transcoder=JSONTranscoder(), registry=registry)


def _assert_canonical(data: bytes) -> Any:
    parsed = json.loads(data.decode("utf-8"))
    again = json.dumps(
        parsed, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")
    assert again == data
    return parsed


def _assert_times_are_utc(value: object, primitive: object) -> int:
    """Walk a value and its primitive form together; every time is UTC ISO-8601."""
    if isinstance(value, datetime):
        assert isinstance(primitive, str)
        assert UTC_TIME.fullmatch(primitive), primitive
        assert datetime.fromisoformat(primitive) == value
        return 1
    if attrs.has(type(value)) and not callable(getattr(value, "to_json", None)):
        assert isinstance(primitive, dict)
        found = 0
        for f in attrs.fields(typing.cast("type[attrs.AttrsInstance]", type(value))):
            found += _assert_times_are_utc(getattr(value, f.name), primitive[f.name])
        return found
    return 0


@settings(max_examples=40)
@pytest.mark.parametrize("cls", EVENT_TYPES, ids=lambda c: c.TYPE)
@given(data=st.data())
def test_every_event_type_round_trips(cls: type[DomainEvent], data: st.DataObject):
    event = data.draw(EVENT_STRATEGIES[cls])
    envelope = data.draw(envelopes.map(lambda e: attrs.evolve(e, event=event)))
    mapper = _mapper()

    stored = mapper.to_stored_event(envelope)
    assert stored.topic == cls.TYPE
    assert stored.originator_id == envelope.originator_id
    assert stored.originator_version == envelope.originator_version
    read = mapper.to_domain_event(stored)
    assert read == envelope
    assert type(read.event) is cls

    before = canonical_json(event)
    after = canonical_json(read.event)
    assert after == before
    assert read.canonical() == envelope.canonical()
    assert _assert_canonical(before) == to_primitive(event)
    _assert_canonical(envelope.canonical())
    document = _assert_canonical(stored.state)
    assert set(document) == {"data", "recorded_at"}
    assert UTC_TIME.fullmatch(document["recorded_at"])
    assert document["data"] == to_primitive(event)
    _assert_times_are_utc(event, to_primitive(event))


@given(
    strategy_for(ProvingEvidenceRecorded),
    utc_times,
    st.integers(min_value=-14 * 60 + 1, max_value=14 * 60 - 1),
)
def test_times_given_in_another_offset_are_written_in_utc(
    event: ProvingEvidenceRecorded, recorded_at: datetime, minutes: int
):
    """Times without a converter (inside a ProvingPair, the recording time) are written in
    UTC too, and read back as the same instant."""
    offset = timezone(timedelta(minutes=minutes))
    pair = attrs.evolve(event.evidence, proven_at=event.evidence.proven_at.astimezone(offset))
    moved = attrs.evolve(event, evidence=pair)
    envelope = Envelope("device-model:x", 1, recorded_at.astimezone(offset), moved)
    stored = _mapper().to_stored_event(envelope)
    document = _assert_canonical(stored.state)
    assert UTC_TIME.fullmatch(document["recorded_at"])
    assert UTC_TIME.fullmatch(document["data"]["evidence"]["proven_at"])
    assert canonical_json(moved) == canonical_json(event)
    assert _mapper().to_domain_event(stored) == envelope


@given(any_event, st.integers(min_value=-14 * 60 + 1, max_value=14 * 60 - 1))
def test_business_times_are_stored_in_utc_whatever_offset_they_came_with(
    event: DomainEvent, minutes: int
):
    if event.occurred_at is None:
        return
    local = event.occurred_at.astimezone(timezone(timedelta(minutes=minutes)))
    moved = attrs.evolve(event, occurred_at=local)
    assert moved.occurred_at == event.occurred_at
    assert moved.occurred_at is not None
    assert moved.occurred_at.utcoffset() == timedelta(0)
    assert canonical_json(moved) == canonical_json(event)


@given(envelopes)
def test_stored_state_is_the_canonical_json_of_time_and_data(envelope: Envelope):
    stored = _mapper().to_stored_event(envelope)
    expected = canonical_json({"recorded_at": envelope.recorded_at, "data": envelope.event})
    assert stored.state == expected


def test_mapper_stores_envelopes_only():
    with pytest.raises(TypeError):
        _mapper().to_stored_event(TechnicalIssueRaised(occurred_at=None, issue_id="a", reason="b"))


# --- versions and upcasters -----------------------------------------------------------------

AT = datetime(2024, 3, 1, 12, 30, tzinfo=UTC)
RECORDED = datetime(2024, 3, 2, tzinfo=UTC)


def _stored(topic: str, data: object, *, recorded_at: object = None) -> StoredEvent:
    document = {
        "recorded_at": (recorded_at or RECORDED.isoformat()),
        "data": data,
    }
    return StoredEvent(
        originator_id="device:00-DB-12-34-56-78-90-A0",
        originator_version=3,
        topic=topic,
        state=json.dumps(document).encode("utf-8"),
    )


def _add_issue_id(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "issue_id": "default"}


V0_ISSUE = {"occurred_at": AT.isoformat(), "reason": "no response to SRV 6.23"}


def test_an_old_version_is_read_as_the_current_class_through_its_upcaster():
    registry = EventTypeRegistry(
        event_types=EVENT_TYPES, upcasters={"etmad.device.TechnicalIssueRaised.v0": _add_issue_id}
    )
    read = _mapper(registry).to_domain_event(
        _stored("etmad.device.TechnicalIssueRaised.v0", V0_ISSUE)
    )
    assert read == Envelope(
        originator_id="device:00-DB-12-34-56-78-90-A0",
        originator_version=3,
        recorded_at=RECORDED,
        event=TechnicalIssueRaised(occurred_at=AT, issue_id="default", reason=V0_ISSUE["reason"]),
    )
    # The current version is read as it is, without the upcaster.
    current = _mapper(registry).to_stored_event(read)
    assert current.topic == "etmad.device.TechnicalIssueRaised.v1"
    assert _mapper(registry).to_domain_event(current) == read


@attrs.frozen(kw_only=True)
class GadgetV1(DomainEvent):
    TYPE = "etmad.test.GadgetNoted.v1"
    name: str


@attrs.frozen(kw_only=True)
class GadgetV2(DomainEvent):
    TYPE = "etmad.test.GadgetNoted.v2"
    name: str
    colour: str
    size: int


def test_upcasters_chain_from_the_oldest_version_to_the_newest_class():
    calls: list[str] = []

    def v0_to_v1(data: dict[str, Any]) -> dict[str, Any]:
        calls.append("v0")
        return {"occurred_at": data["occurred_at"], "name": data.pop("label")}

    def v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
        calls.append("v1")
        return {**data, "colour": "grey", "size": 1}

    upcasters: dict[str, Upcaster] = {
        "etmad.test.GadgetNoted.v0": v0_to_v1,
        "etmad.test.GadgetNoted.v1": v1_to_v2,
    }
    registry = EventTypeRegistry(
        event_types=(*EVENT_TYPES, GadgetV1, GadgetV2), upcasters=upcasters
    )
    mapper = _mapper(registry)
    read = mapper.to_domain_event(
        _stored("etmad.test.GadgetNoted.v0", {"occurred_at": None, "label": "g"})
    )
    assert read.event == GadgetV2(occurred_at=None, name="g", colour="grey", size=1)
    assert calls == ["v0", "v1"]
    # A stored v1 takes only the last step, even though its class is still known.
    read = mapper.to_domain_event(
        _stored("etmad.test.GadgetNoted.v1", {"occurred_at": None, "name": "h"})
    )
    assert read.event == GadgetV2(occurred_at=None, name="h", colour="grey", size=1)
    assert calls == ["v0", "v1", "v1"]
    assert "etmad.test.GadgetNoted.v1" in registry.names()


def test_a_current_version_is_read_as_stored_without_any_upcaster():
    calls: list[str] = []

    def spy(data: dict[str, Any]) -> dict[str, Any]:
        calls.append("upcast")
        return data

    registry = EventTypeRegistry(
        upcasters={f"{cls.type_base()}.v{cls.type_version() - 1}": spy for cls in EVENT_TYPES}
    )
    for cls in EVENT_TYPES:
        data = {"occurred_at": None}
        current, read = registry.resolve(cls.TYPE, data)
        assert current is cls
        assert read is data
    assert calls == []


def test_two_classes_may_not_claim_one_type_name():
    @attrs.frozen(kw_only=True)
    class Impostor(DomainEvent):
        TYPE = "etmad.device.Commissioned.v1"

    with pytest.raises(ValueError, match=r"etmad\.device\.Commissioned\.v1"):
        EventTypeRegistry(event_types=(*EVENT_TYPES, Impostor))


@pytest.mark.parametrize(
    ("topic", "message"),
    [
        ("etmad.device.NoSuchEvent.v1", "unknown event type"),
        ("etmad.nowhere.TechnicalIssueRaised.v1", "unknown event type"),
        ("etmad.device.TechnicalIssueRaised", "unknown event type"),
        ("etmad.device.TechnicalIssueRaised.vX", "unknown event type"),
        ("domain.device:TechnicalIssueRaised", "unknown event type"),
        ("domain.device.TechnicalIssueRaised", "unknown event type"),
        ("", "unknown event type"),
        ("etmad.device.TechnicalIssueRaised.v0", "no upcaster"),
        ("etmad.device.TechnicalIssueRaised.v2", "newer"),
        ("etmad.device.TechnicalIssueRaised.v17", "newer"),
    ],
)
def test_unknown_types_missing_upcasters_and_newer_versions_are_refused(topic: str, message: str):
    data = {**V0_ISSUE, "issue_id": "x"}
    with pytest.raises(MapperDeserialisationError, match=message):
        _mapper().to_domain_event(_stored(topic, data))


def test_an_upcaster_that_leaves_the_data_unreadable_is_a_mapper_error():
    registry = EventTypeRegistry(
        upcasters={"etmad.device.TechnicalIssueRaised.v0": lambda data: data}
    )
    with pytest.raises(MapperDeserialisationError, match="issue_id"):
        _mapper(registry).to_domain_event(_stored("etmad.device.TechnicalIssueRaised.v0", V0_ISSUE))


# --- data that cannot be read ---------------------------------------------------------------

GOOD_ISSUE = {**V0_ISSUE, "issue_id": "default"}
ISSUE_TOPIC = TechnicalIssueRaised.TYPE


@pytest.mark.parametrize(
    "state",
    [
        b"",
        b"\xff\xfe\x00garbage",
        b"not json",
        b"[]",
        b"{}",
        b"null",
        b'"text"',
        b'{"recorded_at": "2024-03-02T00:00:00+00:00"}',
        b'{"data": {}}',
        b'{"recorded_at": "yesterday", "data": ' + json.dumps(GOOD_ISSUE).encode() + b"}",
        b'{"recorded_at": 5, "data": ' + json.dumps(GOOD_ISSUE).encode() + b"}",
        b'{"recorded_at": "2024-03-02T00:00:00+00:00", "data": null}',
        b'{"recorded_at": "2024-03-02T00:00:00+00:00", "data": []}',
        b'{"recorded_at": "2024-03-02T00:00:00+00:00", "data": {"issue_id": 5}}',
        json.dumps({"recorded_at": RECORDED.isoformat(), "data": GOOD_ISSUE})[:-5].encode(),
        # times without their UTC offset, in the data and in the recording time
        json.dumps(
            {
                "recorded_at": RECORDED.isoformat(),
                "data": {**GOOD_ISSUE, "occurred_at": "2024-03-01"},
            }
        ).encode(),
        json.dumps({"recorded_at": "2024-03-02T00:00:00", "data": GOOD_ISSUE}).encode(),
        json.dumps(
            {"recorded_at": RECORDED.isoformat(), "data": {**GOOD_ISSUE, "reason": None}}
        ).encode(),
    ],
)
def test_corrupt_state_bytes_raise_the_mapper_error(state: bytes):
    stored = StoredEvent(
        originator_id="device:00-DB-12-34-56-78-90-A0",
        originator_version=1,
        topic=ISSUE_TOPIC,
        state=state,
    )
    with pytest.raises(MapperDeserialisationError):
        _mapper().to_domain_event(stored)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text() | st.floats(allow_nan=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=6,
)
corrupt_values = st.one_of(
    json_values,
    st.sampled_from(
        [
            "2024-03-01T12:30:00",  # a time without its offset
            "2024-13-01T00:00:00+00:00",
            "00-DB-12-34-56-78-90",
            "ESME ",
            "0x",
            {"serial": "x", "issuer": "CA"},
            {"serial": True, "issuer": "CA"},
            {"manufacturer": "A", "model": "B", "hardware_version": "C"},
            {"manufacturer": " A", "model": "B", "hardware_version": "C", "firmware_version": "D"},
            "123",
            12345678901234,
        ]
    ),
)


def _corrupt(document: dict[str, Any], draw: Callable[..., Any]) -> dict[str, Any]:
    """Replace one value somewhere in a stored document (or drop a key) with a bad one."""
    paths: list[tuple[str, ...]] = []

    def walk(value: object, path: tuple[str, ...]) -> None:
        paths.append(path)
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, (*path, key))

    walk(document, ())
    path = draw(st.sampled_from(paths[1:]))
    drop = draw(st.booleans()) and draw(st.booleans())
    replacement = None if drop else draw(corrupt_values)
    copy = json.loads(json.dumps(document))
    target = copy
    for key in path[:-1]:
        target = target[key]
    if drop:
        del target[path[-1]]
    else:
        target[path[-1]] = replacement
    return typing.cast("dict[str, Any]", copy)


@settings(max_examples=300)
@given(envelopes, st.data())
def test_stored_data_is_read_or_refused_with_the_mapper_error_never_another(
    envelope: Envelope, data: st.DataObject
):
    mapper = _mapper()
    stored = mapper.to_stored_event(envelope)
    document = _corrupt(json.loads(stored.state), data.draw)
    bad = StoredEvent(
        originator_id=stored.originator_id,
        originator_version=stored.originator_version,
        topic=stored.topic,
        state=json.dumps(document).encode("utf-8"),
    )
    try:
        read = mapper.to_domain_event(bad)
    except MapperDeserialisationError:
        return
    # Whatever is read back is a valid event of the stored type.
    assert stored.topic == type(read.event).TYPE
    assert read.recorded_at.utcoffset() is not None
    assert read.event.occurred_at is None or read.event.occurred_at.utcoffset() == timedelta(0)
