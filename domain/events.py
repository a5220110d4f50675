"""What every domain event is, and how aggregates fold them.

Events are attrs-frozen facts in the past tense. Each class names itself with an explicit,
versioned, stable type name (``etmad.device.Commissioned.v1``): the event log stores that name,
never a Python path, so classes can move and be renamed without touching history. A new version
of an event gets a new class (``...v2``) and an upcaster from the old one (application layer).

``occurred_at`` is business time (when the fact happened in the world, timezone-aware UTC).
It is ``None`` only for standing facts that hold at every time, such as a Device Model's
registration when no time was given. The store's recording time is kept apart from it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar, Protocol, Self

import attrs

from domain.errors import RuleViolation


def utc(value: datetime) -> datetime:
    """Normalise a timezone-aware time to UTC; naive times are refused (time needs an offset)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise RuleViolation(f"time {value.isoformat()} has no UTC offset", code="INVALID_TIME")
    return value.astimezone(UTC)


def _to_utc(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


@attrs.frozen(kw_only=True)
class DomainEvent:
    """Base of every event. Subclasses set ``TYPE`` to their stable versioned type name."""

    TYPE: ClassVar[str] = ""
    occurred_at: datetime | None = attrs.field(converter=_to_utc)

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("TYPE", "")
        if name:
            base, _, version = name.rpartition(".v")
            if not base.startswith("etmad.") or not version.isdigit():
                msg = f"event type name {name!r} must look like 'etmad.<aggregate>.<Name>.v<N>'"
                raise TypeError(msg)

    @classmethod
    def type_base(cls) -> str:
        """The type name without its version suffix."""
        return cls.TYPE.rpartition(".v")[0]

    @classmethod
    def type_version(cls) -> int:
        return int(cls.TYPE.rpartition(".v")[2])


@attrs.frozen
class EventRef:
    """A reference to one stored event: its aggregate, its position there and its type."""

    aggregate_id: str
    version: int
    type: str

    def __str__(self) -> str:
        return f"{self.aggregate_id}@{self.version} ({self.type})"


class Aggregate(Protocol):
    """**Protocol**: an immutable aggregate state that folds events.

    ``apply`` returns the next state and is the only place state changes. ``version`` is the
    position of the last event folded (0 before any), the optimistic-concurrency token.
    """

    @property
    def version(self) -> int: ...

    @property
    def aggregate_id(self) -> str: ...

    def apply(self, event: DomainEvent, version: int) -> Self: ...


def visible_at(event: DomainEvent, as_of: datetime | None) -> bool:
    """Whether a fact is part of the world as it stood at business time ``as_of``."""
    return as_of is None or event.occurred_at is None or event.occurred_at <= as_of
