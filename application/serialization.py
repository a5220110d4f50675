"""Primitive (JSON) forms of domain values, and the canonical JSON the audit log will hash.

Canonical JSON: UTF-8, keys sorted, no insignificant white space, times as UTC ISO-8601
(``2023-07-10T12:00:00+00:00``), certificate serials as decimal strings, enums by value,
identifiers in their canonical text. ``from_primitive`` reads the same forms back, driven by the
type annotations of attrs classes, so every event type round-trips without hand-written code.

Both directions are compiled and cached on first use (nothing is built at import):
``to_primitive`` chooses a writer once per runtime type, ``from_primitive`` a reader once per
annotation (``reader_for``). Reading or writing an event is then plain function calls, with the
type introspection (origins, arguments, attrs fields, resolved string annotations) done once.
"""

from __future__ import annotations

import enum
import json
import re
import types
import typing
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, TypeVar, Union

import attrs

from domain.identifiers import MPAN, MPRN, mpxn_from_json

JSON = None | bool | int | float | str | list["JSON"] | dict[str, "JSON"]
T = TypeVar("T")


class SerialisationError(ValueError):
    """Stored or supplied data does not have the form its type needs."""


def format_time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def format_duration(value: timedelta) -> str:
    """ISO-8601 duration: whole days as ``P7D``, anything else in exact seconds (``PT90S``,
    ``PT1.5S``, ``PT-0.000001S``); ``parse_duration`` reads both back to the same value."""
    if value.seconds == 0 and value.microseconds == 0:
        return f"P{value.days}D"
    micros = (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
    sign = "-" if micros < 0 else ""
    whole, fraction = divmod(abs(micros), 1_000_000)
    text = f"{whole}.{fraction:06d}".rstrip("0").rstrip(".")
    return f"PT{sign}{text}S"


_DURATION = re.compile(
    r"P(?P<days>-?[0-9]+)D|PT(?P<sign>-?)(?P<whole>[0-9]+)(?:\.(?P<frac>[0-9]{1,6}))?S"
)


def parse_duration(text: object) -> timedelta:
    """Read a duration in the canonical form ``format_duration`` writes, and only that."""
    match = _DURATION.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise SerialisationError(f"{text!r} is not a duration such as P7D or PT90S")
    try:
        if match["days"] is not None:
            value = timedelta(days=int(match["days"]))
        else:
            micros = int(match["whole"]) * 1_000_000 + int((match["frac"] or "").ljust(6, "0"))
            value = timedelta(microseconds=-micros if match["sign"] else micros)
    except OverflowError:
        raise SerialisationError(f"duration {text!r} is out of range") from None
    if format_duration(value) != text:
        raise SerialisationError(f"duration {text!r} is not in its canonical form")
    return value


# --- writing: one writer per runtime type, chosen once ------------------------------------------

Writer = Callable[[Any], JSON]
Reader = Callable[[Any], Any]

_WRITERS: dict[type, Writer] = {}


def to_primitive(value: object) -> JSON:
    """The primitive form of a value, written by the writer compiled for its type."""
    kind = type(value)
    write = _WRITERS.get(kind)
    if write is None:
        write = _WRITERS[kind] = _compile_writer(kind)
    return write(value)


def canonical_json(value: object) -> bytes:
    return _canonical_encoder().encode(to_primitive(value)).encode("utf-8")


@cache
def _canonical_encoder() -> json.JSONEncoder:
    return json.JSONEncoder(
        sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def _compile_writer(kind: type) -> Writer:  # noqa: PLR0911 — one arm per kind of value
    """The writer for every value of type ``kind``: the first arm that fits, in the order plain
    values, enums, times, durations, ``to_json`` (looked up on the type), attrs classes, sets
    (sorted by their JSON), sequences, mappings."""
    if kind is type(None) or issubclass(kind, bool | int | float | str):
        return _itself
    if issubclass(kind, enum.Enum):
        return _write_enum
    if issubclass(kind, datetime):
        return format_time
    if issubclass(kind, timedelta):
        return format_duration
    if callable(getattr(kind, "to_json", None)):
        return _write_by_to_json
    if attrs.has(kind):
        return _attrs_writer(kind)
    if issubclass(kind, frozenset | set):
        return _write_set
    if issubclass(kind, tuple | list):
        return _write_sequence
    if issubclass(kind, dict):
        return _write_mapping
    return _refusal(f"no primitive form for {kind.__name__}")


def _itself(value: Any) -> Any:  # noqa: ANN401 — values that are their own primitive form
    return value


def _write_enum(value: enum.Enum) -> JSON:
    return to_primitive(value.value)


def _write_by_to_json(value: Any) -> JSON:  # noqa: ANN401 — any type with a to_json method
    return typing.cast("JSON", value.to_json())


def _attrs_writer(kind: type[attrs.AttrsInstance]) -> Writer:
    names = tuple(f.name for f in attrs.fields(kind))

    def write(value: object) -> JSON:
        return {name: to_primitive(getattr(value, name)) for name in names}

    return write


def _json_order(value: JSON) -> str:
    return json.dumps(value, sort_keys=True)


def _write_set(value: frozenset[object] | set[object]) -> JSON:
    return sorted([to_primitive(v) for v in value], key=_json_order)


def _write_sequence(value: tuple[object, ...] | list[object]) -> JSON:
    return [to_primitive(v) for v in value]


def _write_mapping(value: dict[object, object]) -> JSON:
    return {str(k): to_primitive(v) for k, v in value.items()}


def _refusal(message: str) -> Callable[[Any], Any]:
    """A converter for a type that has no form: it refuses whatever it is given, when given."""

    def refuse(_data: object) -> Any:  # noqa: ANN401 — never returns
        raise SerialisationError(message)

    return refuse


# --- reading: one reader per type annotation, compiled on first use -----------------------------

_READERS: dict[object, Reader] = {}


def from_primitive(tp: Any, data: Any) -> Any:  # noqa: ANN401 — any annotation, any JSON
    """Rebuild a value of type ``tp`` from its primitive form."""
    return reader_for(tp)(data)


def reader_for(tp: Any) -> Reader:  # noqa: ANN401 — any annotation
    """The function that rebuilds values of annotation ``tp`` from their primitive form.

    It is compiled once per annotation, on first use, and cached: the type introspection
    (origins, arguments, attrs fields, resolved string annotations) happens then, so reading a
    value is plain function calls. Annotations that are equal but print differently (``int |
    str`` and ``str | int``) get readers of their own, so error messages name the one asked for.
    """
    key = tp if isinstance(tp, type) else (type(tp), repr(tp), tp)
    try:
        read = _READERS.get(key)
    except TypeError:  # an unhashable annotation (Annotated metadata) is compiled every time
        return _compile_reader(tp)
    if read is None:
        read = _READERS[key] = _compile_reader(tp)
    return read


def parse_time(data: object) -> datetime:
    """Read a time: ISO-8601 text with its UTC offset."""
    if not isinstance(data, str):
        raise SerialisationError("a time is ISO-8601 text")
    parsed = datetime.fromisoformat(data)
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise SerialisationError(f"time {data!r} has no UTC offset")
    return parsed


def _compile_reader(tp: Any) -> Reader:  # noqa: ANN401, C901, PLR0911 — an arm per kind of type
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (Union, types.UnionType):
        return _union_reader(tp, args)
    if origin is tuple:
        return _tuple_reader(tp, args)
    if origin is frozenset:
        return _frozenset_reader(tp, args)
    if tp is Any:
        return _itself
    if not isinstance(tp, type):
        return _refusal(f"cannot read type {tp!r}")
    if issubclass(tp, enum.Enum):
        return _enum_reader(tp)
    if tp is datetime:
        return parse_time
    if tp is timedelta:
        return parse_duration
    if tp is bool:
        return _read_bool
    if tp in (int, str, float):
        return _scalar_reader(tp)
    from_json = getattr(tp, "from_json", None)
    if callable(from_json):
        return typing.cast("Reader", from_json)
    if attrs.has(tp):
        return _attrs_reader(tp)
    return _refusal(f"cannot read type {tp.__name__}")


def _union_reader(tp: Any, args: tuple[Any, ...]) -> Reader:  # noqa: ANN401 — a union
    members = [a for a in args if a is not type(None)]
    read_member: Reader
    if set(members) == {MPAN, MPRN}:
        read_member = mpxn_from_json
    elif len(members) == 1:
        read_member = reader_for(members[0])
    else:
        read_member = _refusal(f"ambiguous union {tp}")

    if type(None) in args:

        def read_optional(data: Any) -> Any:  # noqa: ANN401
            return None if data is None else read_member(data)

        return read_optional

    def read_required(data: Any) -> Any:  # noqa: ANN401
        if data is None:
            raise SerialisationError(f"None is not a {tp}")
        return read_member(data)

    return read_required


def _tuple_reader(tp: Any, args: tuple[Any, ...]) -> Reader:  # noqa: ANN401 — a tuple type
    if len(args) == 2 and args[1] is Ellipsis:  # noqa: PLR2004
        read_item = reader_for(args[0])

        def read_variadic(data: Any) -> tuple[Any, ...]:  # noqa: ANN401
            if not isinstance(data, list):
                raise SerialisationError(f"expected a list for {tp}")
            return tuple([read_item(v) for v in data])

        return read_variadic

    readers = tuple(reader_for(a) for a in args)

    def read_fixed(data: Any) -> tuple[Any, ...]:  # noqa: ANN401
        if not isinstance(data, list):
            raise SerialisationError(f"expected a list for {tp}")
        return tuple(read(v) for read, v in zip(readers, data, strict=True))

    return read_fixed


def _frozenset_reader(tp: Any, args: tuple[Any, ...]) -> Reader:  # noqa: ANN401 — a frozenset
    read_item = reader_for(args[0]) if args else _refusal(f"cannot read type {tp!r}")

    def read(data: Any) -> frozenset[Any]:  # noqa: ANN401
        if not isinstance(data, list):
            raise SerialisationError(f"expected a list for {tp}")
        return frozenset([read_item(v) for v in data])

    return read


def _enum_reader(tp: type[enum.Enum]) -> Reader:
    """Members by value, as ``tp(data)`` finds them; anything else (an unhashable value, a
    value for ``_missing_``, a wrong one and its error) goes through ``tp(data)`` itself."""
    try:
        by_value = {member.value: member for member in tp}
    except TypeError:  # members with unhashable values: only the enum itself can find them
        return tp

    def read(data: Any) -> enum.Enum:  # noqa: ANN401
        try:
            return by_value[data]
        except (KeyError, TypeError):
            return tp(data)

    return read


def _read_bool(data: Any) -> bool:  # noqa: ANN401
    if not isinstance(data, bool):
        raise SerialisationError(f"expected true/false, found {data!r}")
    return data


def _scalar_reader(tp: type) -> Reader:
    def read(data: Any) -> Any:  # noqa: ANN401
        if not isinstance(data, tp) or isinstance(data, bool):
            raise SerialisationError(f"expected {tp.__name__}, found {data!r}")
        return data

    return read


_ABSENT: Any = object()


def _attrs_reader(tp: type[attrs.AttrsInstance]) -> Reader:
    """Fields read by name through their own readers. The field readers are compiled on the
    first call, so a class that refers to itself (directly or not) compiles without recursion
    and string annotations are resolved once, when every class they name exists."""
    name = tp.__name__
    plan: tuple[tuple[str, Reader, bool], ...] | None = None

    def read(data: Any) -> Any:  # noqa: ANN401
        nonlocal plan
        if not isinstance(data, dict):
            raise SerialisationError(f"expected an object for {name}")
        if plan is None:
            plan = _field_plan(tp)
        kwargs = {}
        for field, read_field, required in plan:
            value = data.get(field, _ABSENT)
            if value is not _ABSENT:
                kwargs[field] = read_field(value)
            elif required:
                raise SerialisationError(f"{name} is missing {field}")
        return tp(**kwargs)

    return read


def _field_plan(tp: type[attrs.AttrsInstance]) -> tuple[tuple[str, Reader, bool], ...]:
    """Each field's name, reader and whether it must be present (it has no default)."""
    hints = typing.get_type_hints(tp)
    return tuple(
        (f.name, reader_for(hints[f.name]), f.default is attrs.NOTHING) for f in attrs.fields(tp)
    )
