"""Primitive (JSON) forms of domain values, and the canonical JSON the audit log will hash.

Canonical JSON: UTF-8, keys sorted, no insignificant white space, times as UTC ISO-8601
(``2023-07-10T12:00:00+00:00``), certificate serials as decimal strings, enums by value,
identifiers in their canonical text. ``from_primitive`` reads the same forms back, driven by the
type annotations of attrs classes, so every event type round-trips without hand-written code.
"""

from __future__ import annotations

import enum
import json
import re
import types
import typing
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


def to_primitive(value: object) -> JSON:  # noqa: PLR0911 — one arm per kind of value
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, enum.Enum):
        return to_primitive(value.value)
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, timedelta):
        return format_duration(value)
    to_json = getattr(value, "to_json", None)
    if callable(to_json):
        return typing.cast("JSON", to_json())
    if attrs.has(type(value)):
        return {
            f.name: to_primitive(getattr(value, f.name))
            for f in attrs.fields(typing.cast("type[attrs.AttrsInstance]", type(value)))
        }
    if isinstance(value, frozenset | set):
        items = [to_primitive(v) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, tuple | list):
        return [to_primitive(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_primitive(v) for k, v in value.items()}
    raise SerialisationError(f"no primitive form for {type(value).__name__}")


def canonical_json(value: object) -> bytes:
    return json.dumps(
        to_primitive(value),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    ).encode("utf-8")


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def from_primitive(tp: Any, data: Any) -> Any:  # noqa: ANN401, C901, PLR0911, PLR0912
    """Rebuild a value of type ``tp`` from its primitive form."""
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
            return from_primitive(members[0], data)
        raise SerialisationError(f"ambiguous union {tp}")
    if origin is tuple:
        if not isinstance(data, list):
            raise SerialisationError(f"expected a list for {tp}")
        if len(args) == 2 and args[1] is Ellipsis:  # noqa: PLR2004
            return tuple(from_primitive(args[0], v) for v in data)
        return tuple(from_primitive(a, v) for a, v in zip(args, data, strict=True))
    if origin is frozenset:
        if not isinstance(data, list):
            raise SerialisationError(f"expected a list for {tp}")
        return frozenset(from_primitive(args[0], v) for v in data)
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
        return parse_duration(data)
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
        hints = _hints(tp)
        kwargs = {}
        for f in attrs.fields(tp):
            if f.name in data:
                kwargs[f.name] = from_primitive(hints[f.name], data[f.name])
            elif f.default is attrs.NOTHING:
                raise SerialisationError(f"{tp.__name__} is missing {f.name}")
        return tp(**kwargs)
    raise SerialisationError(f"cannot read type {tp.__name__}")
