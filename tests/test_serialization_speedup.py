"""The compiled readers and writers of ``application.serialization`` give exactly what the
straightforward interpreters they replace give: the same values, the same canonical bytes, the
same errors with the same messages, for every event type and for annotations events do not use
yet. They are compiled lazily, once, and a warm reader or writer does no type introspection."""

from __future__ import annotations

import enum
import json
import subprocess
import sys
import types
import typing
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Union

import attrs
import pytest
from eventsourcing.persistence import JSONTranscoder
from hypothesis import given, settings
from hypothesis import strategies as st

from application import serialization
from application.mapper import Envelope, EventMapper
from application.serialization import (
    SerialisationError,
    canonical_json,
    from_primitive,
    reader_for,
    to_primitive,
)
from domain.catalogue import EVENT_TYPES
from domain.device import Registered
from domain.events import DomainEvent
from domain.failures import FailureCause
from domain.identifiers import (
    EUI64,
    MPAN,
    MPRN,
    CertificateId,
    DeviceModelKey,
    DeviceType,
    mpxn_from_json,
)
from domain.retry_policy import RetryPolicy
from domain.selection import SelectionParameters
from tests.test_mapper import (
    EVENT_STRATEGIES,
    LEAF_STRATEGIES,
    _corrupt,
    any_event,
    corrupt_values,
    envelopes,
    json_values,
)

# --- the reference: the interpreters the compiled converters replace ---------------------------


def reference_from_primitive(tp: Any, data: Any) -> Any:  # noqa: C901, PLR0911, PLR0912
    """Walk the annotation at every call, as ``from_primitive`` did before it was compiled."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (Union, types.UnionType):
        members = [a for a in args if a is not type(None)]
        if data is None:
            if type(None) in args:
                return None
            raise SerialisationError(f"None is not a {tp}")
        if set(members) == {MPAN, MPRN}:
            return mpxn_from_json(data)
        if len(members) == 1:
            return reference_from_primitive(members[0], data)
        raise SerialisationError(f"ambiguous union {tp}")
    if origin is tuple:
        if not isinstance(data, list):
            raise SerialisationError(f"expected a list for {tp}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(reference_from_primitive(args[0], v) for v in data)
        return tuple(reference_from_primitive(a, v) for a, v in zip(args, data, strict=True))
    if origin is frozenset:
        if not isinstance(data, list):
            raise SerialisationError(f"expected a list for {tp}")
        return frozenset(reference_from_primitive(args[0], v) for v in data)
    if tp is Any:
        return data
    if not isinstance(tp, type):
        raise SerialisationError(f"cannot read type {tp!r}")
    if issubclass(tp, enum.Enum):
        return tp(data)
    if tp is datetime:
        if not isinstance(data, str):
            raise SerialisationError("a time is ISO-8601 text")
        parsed = datetime.fromisoformat(data)
        if parsed.tzinfo is None or parsed.utcoffset() is None:
            raise SerialisationError(f"time {data!r} has no UTC offset")
        return parsed
    if tp is timedelta:
        return serialization.parse_duration(data)
    if tp is bool:
        if not isinstance(data, bool):
            raise SerialisationError(f"expected true/false, found {data!r}")
        return data
    if tp in (int, str, float):
        if not isinstance(data, tp) or isinstance(data, bool):
            raise SerialisationError(f"expected {tp.__name__}, found {data!r}")
        return data
    from_json = getattr(tp, "from_json", None)
    if callable(from_json):
        return from_json(data)
    if attrs.has(tp):
        if not isinstance(data, dict):
            raise SerialisationError(f"expected an object for {tp.__name__}")
        hints = typing.get_type_hints(tp)
        kwargs = {}
        for f in attrs.fields(tp):
            if f.name in data:
                kwargs[f.name] = reference_from_primitive(hints[f.name], data[f.name])
            elif f.default is attrs.NOTHING:
                raise SerialisationError(f"{tp.__name__} is missing {f.name}")
        return tp(**kwargs)
    raise SerialisationError(f"cannot read type {tp.__name__}")


def reference_to_primitive(value: Any) -> Any:  # noqa: PLR0911
    """Ask each value what it is, as ``to_primitive`` did before it was compiled."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, enum.Enum):
        return reference_to_primitive(value.value)
    if isinstance(value, datetime):
        return serialization.format_time(value)
    if isinstance(value, timedelta):
        return serialization.format_duration(value)
    to_json = getattr(value, "to_json", None)
    if callable(to_json):
        return to_json()
    if attrs.has(type(value)):
        return {
            f.name: reference_to_primitive(getattr(value, f.name))
            for f in attrs.fields(type(value))
        }
    if isinstance(value, frozenset | set):
        items = [reference_to_primitive(v) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, tuple | list):
        return [reference_to_primitive(v) for v in value]
    if isinstance(value, dict):
        return {str(k): reference_to_primitive(v) for k, v in value.items()}
    raise SerialisationError(f"no primitive form for {type(value).__name__}")


def reference_canonical_json(value: Any) -> bytes:
    return json.dumps(
        reference_to_primitive(value),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    ).encode("utf-8")


def outcome(function: Any, *args: Any) -> tuple[Any, ...]:
    """What a call gives: its value (with its type), or its error's type and message."""
    try:
        value = function(*args)
    except Exception as e:  # noqa: BLE001 — the error is the outcome compared
        return ("error", type(e), str(e))
    return ("value", type(value), value)


def assert_same_reading(tp: Any, data: Any) -> tuple[Any, ...]:
    compiled = outcome(from_primitive, tp, data)
    reference = outcome(reference_from_primitive, tp, data)
    assert compiled == reference
    if compiled[0] == "value":
        # Equal is not enough (1 == 1.0 == True): the canonical bytes tell the kinds apart.
        assert outcome(canonical_json, compiled[2]) == outcome(canonical_json, reference[2])
    return compiled


# --- types that events do not use (yet), to show the readers keep every rule ------------------


@attrs.frozen
class Node:
    """Refers to itself: its reader must compile without recursing for ever."""

    value: int
    next: Node | None


@attrs.frozen
class WithDefaults:
    name: str
    count: int = 0
    tags: tuple[str, ...] = ()


class Colour(enum.Enum):
    RED = "red"
    GREEN = "green"

    @classmethod
    def _missing_(cls, value: object) -> Colour | None:
        """Reads any case: the enum's own rule, which its reader must keep."""
        if isinstance(value, str):
            return cls.__members__.get(value.upper())
        return None


class Pair(enum.Enum):
    """Values that cannot be hashed: only the enum itself can look them up."""

    ONE_TWO = [1, 2]  # noqa: RUF012 — an enum value, not a mutable class attribute
    THREE = [3]  # noqa: RUF012


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


ANNOTATIONS: list[Any] = [
    int,
    str,
    float,
    bool,
    Any,
    datetime,
    timedelta,
    EUI64,
    MPAN,
    MPRN,
    DeviceModelKey,
    CertificateId,
    DeviceType,
    FailureCause,
    Colour,
    Pair,
    Level,
    MPAN | MPRN | None,
    MPAN | MPRN,
    Union[MPRN, MPAN],  # noqa: UP007 — the typing form prints differently
    int | None,
    typing.Optional[int],  # noqa: UP045
    int | str,
    str | int,
    int | str | None,
    Union[str, int],  # noqa: UP007
    EUI64 | None,
    tuple[int, ...],
    typing.Tuple[str, ...],  # noqa: UP006
    typing.Tuple,  # noqa: UP006
    tuple[int, str],
    tuple[()],
    tuple[tuple[int, int], ...],
    tuple[EUI64, ...],
    frozenset[FailureCause],
    frozenset[int],
    list[int],
    dict[str, int],
    "int",
    None,
    type(None),
    object,
    typing.Annotated[int, "metadata"],
    Node,
    Node | None,
    WithDefaults,
    RetryPolicy,
    SelectionParameters,
    Registered,
]

#: Valid values for some annotations, so the readers' success paths are exercised too.
VALUES: dict[Any, st.SearchStrategy[Any]] = {
    **LEAF_STRATEGIES,
    DeviceType: st.sampled_from(DeviceType),
    FailureCause: st.sampled_from(FailureCause),
    Colour: st.sampled_from(Colour),
    Level: st.sampled_from(Level),
    Node: st.recursive(
        st.builds(Node, st.integers(), st.none()),
        lambda inner: st.builds(Node, st.integers(), inner),
        max_leaves=4,
    ),
    WithDefaults: st.builds(WithDefaults, st.text(), st.integers(), st.tuples(st.text())),
    Registered: EVENT_STRATEGIES[Registered],
}


@st.composite
def primitive_for(draw: st.DrawFn, tp: Any) -> Any:
    """Data for an annotation: the primitive form of a valid value, one of those with a part
    replaced or dropped, or any JSON at all."""
    strategy = VALUES.get(tp)
    if strategy is None or draw(st.booleans()):
        return draw(st.one_of(json_values, corrupt_values))
    primitive = to_primitive(draw(strategy))
    if isinstance(primitive, dict) and primitive and draw(st.booleans()):
        return _corrupt(primitive, draw)
    return primitive


@settings(max_examples=600)
@given(st.data())
def test_every_annotation_reads_any_data_as_the_reference_does(data: st.DataObject):
    tp = data.draw(st.sampled_from(ANNOTATIONS))
    assert_same_reading(tp, data.draw(primitive_for(tp)))


@pytest.mark.parametrize("tp", [t for t in ANNOTATIONS if t in VALUES], ids=repr)
@given(data=st.data())
def test_valid_values_read_back_equal(tp: Any, data: st.DataObject):
    value = data.draw(VALUES[tp])
    kind, read_type, read = assert_same_reading(tp, to_primitive(value))
    assert kind == "value"
    assert read == value
    assert read_type is type(value)


# --- every event type ------------------------------------------------------------------------


@settings(max_examples=30)
@pytest.mark.parametrize("cls", EVENT_TYPES, ids=lambda c: c.TYPE)
@given(data=st.data())
def test_every_event_type_reads_and_writes_as_the_reference_does(
    cls: type[DomainEvent], data: st.DataObject
):
    event = data.draw(EVENT_STRATEGIES[cls])
    primitive = to_primitive(event)
    assert primitive == reference_to_primitive(event)
    assert canonical_json(event) == reference_canonical_json(event)

    kind, read_type, read = assert_same_reading(cls, primitive)
    assert (kind, read_type, read) == ("value", cls, event)
    assert canonical_json(read) == canonical_json(event)

    # Broken data is refused (or read) exactly as the reference does, with the same message.
    assert_same_reading(cls, _corrupt(typing.cast("dict[str, Any]", primitive), data.draw))


@settings(max_examples=100)
@given(envelopes)
def test_the_mapper_stores_the_reference_bytes_and_reads_back_the_reference_event(
    envelope: Envelope,
):
    mapper = EventMapper(transcoder=JSONTranscoder())
    stored = mapper.to_stored_event(envelope)
    recorded_at = serialization.format_time(envelope.recorded_at)
    assert stored.state == reference_canonical_json(
        {"recorded_at": recorded_at, "data": envelope.event}
    )
    read = mapper.to_domain_event(stored)
    document = json.loads(stored.state)
    assert read.event == reference_from_primitive(type(envelope.event), document["data"])
    assert read.recorded_at == reference_from_primitive(datetime, document["recorded_at"])
    assert read == envelope


# --- writing any value -----------------------------------------------------------------------

offsets = st.builds(
    timezone, st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23))
)
hashable_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=5),
    st.datetimes(timezones=st.none() | offsets | st.just(UTC)),
    st.timedeltas(),
    st.sampled_from([*DeviceType, *Colour, *Level, *FailureCause]),
    LEAF_STRATEGIES[EUI64],
    LEAF_STRATEGIES[DeviceModelKey],
    LEAF_STRATEGIES[MPAN],
)


class Opaque:
    """A value with no primitive form."""


values = st.recursive(
    st.one_of(
        hashable_leaves,
        any_event,
        st.sampled_from([*Pair]),
        st.builds(Opaque),
        st.just(b"bytes"),
        st.just(Opaque),  # a class is a value too, with no primitive form
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.lists(inner, max_size=3).map(tuple),
        st.frozensets(hashable_leaves, max_size=3),
        st.sets(hashable_leaves, max_size=3),
        st.dictionaries(st.text(max_size=3) | st.integers(), inner, max_size=3),
        st.builds(Node, st.integers(), st.none()),
    ),
    max_leaves=8,
)


@settings(max_examples=400)
@given(values)
def test_any_value_is_written_as_the_reference_writes_it(value: Any):
    assert outcome(to_primitive, value) == outcome(reference_to_primitive, value)
    assert outcome(canonical_json, value) == outcome(reference_canonical_json, value)


def test_to_json_is_looked_up_on_the_type_of_a_value():
    """The one difference from the reference, which asked each value for ``to_json``: a class
    whose instances have one is itself a value with no primitive form (the reference called
    the unbound method and failed with a TypeError)."""
    with pytest.raises(SerialisationError, match="no primitive form for type"):
        to_primitive(DeviceModelKey)
    with pytest.raises(TypeError):
        reference_to_primitive(DeviceModelKey)


# --- errors, named after the annotation asked for --------------------------------------------


@pytest.mark.parametrize(
    ("tp", "data", "message"),
    [
        (int | str, 1, "ambiguous union int | str"),
        (str | int, 1, "ambiguous union str | int"),
        (Union[int, str], 1, r"ambiguous union typing.Union\[int, str\]"),  # noqa: UP007
        (Union[str, int], 1, r"ambiguous union typing.Union\[str, int\]"),  # noqa: UP007
        (int | str, None, "None is not a int | str"),
        (str | int, None, "None is not a str | int"),
        (tuple[int, ...], {}, r"expected a list for tuple\[int, \.\.\.\]"),
        (typing.Tuple[int, ...], {}, r"expected a list for typing.Tuple\[int, \.\.\.\]"),  # noqa: UP006
        (frozenset[int], "x", r"expected a list for frozenset\[int\]"),
        (list[int], [], r"cannot read type list\[int\]"),
        ("int", 1, "cannot read type 'int'"),
        (WithDefaults, [], "expected an object for WithDefaults"),
        (WithDefaults, {"count": 1}, "WithDefaults is missing name"),
        (int, True, "expected int, found True"),
        (float, 1, "expected float, found 1"),
        (bool, 0, "expected true/false, found 0"),
        (datetime, 5, "a time is ISO-8601 text"),
        (datetime, "2024-03-01T12:00:00", "has no UTC offset"),
        (timedelta, "P1W", "is not a duration"),
    ],
)
def test_errors_name_the_annotation_as_it_was_written(tp: Any, data: Any, message: str):
    with pytest.raises(SerialisationError, match=message):
        from_primitive(tp, data)
    assert_same_reading(tp, data)


def test_a_fixed_tuple_of_the_wrong_length_is_refused():
    with pytest.raises(ValueError, match="zip"):
        from_primitive(tuple[int, int], [1, 2, 3])
    assert from_primitive(tuple[int, int], [1, 2]) == (1, 2)


def test_enum_rules_are_kept():
    assert from_primitive(Colour, "green") is Colour.GREEN
    assert from_primitive(Colour, "GREEN") is Colour.GREEN  # through the enum's own _missing_
    assert from_primitive(Pair, [1, 2]) is Pair.ONE_TWO  # unhashable values
    assert from_primitive(Level, 2) is Level.HIGH
    assert from_primitive(Level, True) is Level.LOW  # noqa: FBT003 — as Level(True), True == 1
    with pytest.raises(ValueError, match="'blue' is not a valid Colour"):
        from_primitive(Colour, "blue")
    with pytest.raises(ValueError, match="is not a valid DeviceType"):
        from_primitive(DeviceType, ["ESME"])


def test_defaults_fill_absent_fields_and_extra_keys_are_ignored():
    assert from_primitive(WithDefaults, {"name": "a", "other": 1}) == WithDefaults("a")
    assert from_primitive(WithDefaults, {"name": "a", "tags": ["x", "y"]}) == WithDefaults(
        "a", tags=("x", "y")
    )


def test_a_class_that_refers_to_itself_is_read_to_any_depth():
    chain = Node(1, Node(2, Node(3, None)))
    assert to_primitive(chain) == {
        "value": 1,
        "next": {"value": 2, "next": {"value": 3, "next": None}},
    }
    assert from_primitive(Node, to_primitive(chain)) == chain


# --- compiled once, lazily, and then without introspection -----------------------------------


def test_readers_are_compiled_once_per_annotation():
    assert reader_for(Registered) is reader_for(Registered)
    assert reader_for(int | None) is reader_for(int | None)
    assert reader_for(tuple[EUI64, ...]) is reader_for(tuple[EUI64, ...])
    # Equal annotations that print differently keep readers of their own (their messages).
    assert (int | str) == (str | int)
    assert reader_for(int | str) is not reader_for(str | int)
    assert reader_for(Union[int, str]) is not reader_for(int | str)  # noqa: UP007


def test_an_unhashable_annotation_is_read_without_being_cached():
    unhashable = typing.Annotated[int, []]
    with pytest.raises(TypeError):
        hash(unhashable)
    assert_same_reading(unhashable, 1)
    with pytest.raises(SerialisationError, match="cannot read type"):
        from_primitive(unhashable, 1)


def test_nothing_is_compiled_at_import():
    code = (
        "import application.serialization as s, application.mapper, domain.catalogue\n"
        "assert not s._READERS and not s._WRITERS, (s._READERS, s._WRITERS)\n"
        "assert s._canonical_encoder.cache_info().currsize == 0\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


class Tripwire:
    """A module stand-in that fails on the names a warm converter must no longer call."""

    def __init__(self, module: types.ModuleType, forbidden: set[str]) -> None:
        self._module = module
        self._forbidden = forbidden

    def __getattr__(self, name: str) -> Any:
        if name in self._forbidden:
            pytest.fail(f"{self._module.__name__}.{name} was called on a warm path")
        return getattr(self._module, name)


@settings(max_examples=25)
@given(st.lists(envelopes, min_size=1, max_size=5))
def test_warm_readers_and_writers_do_no_type_introspection(batch: list[Envelope]):
    mapper = EventMapper(transcoder=JSONTranscoder())
    stored = [mapper.to_stored_event(e) for e in batch]
    assert [mapper.to_domain_event(s) for s in stored] == batch
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            serialization,
            "typing",
            Tripwire(typing, {"get_origin", "get_args", "get_type_hints"}),
        )
        patch.setattr(serialization, "attrs", Tripwire(attrs, {"fields", "has"}))
        assert [mapper.to_stored_event(e) for e in batch] == stored
        assert [mapper.to_domain_event(s) for s in stored] == batch
