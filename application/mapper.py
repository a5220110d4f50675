"""How our attrs events are stored by eventsourcing: stable names, versions, upcasters.

An ``Envelope`` carries one domain event with its place in the store (aggregate id, version)
and the store's recording time; it satisfies eventsourcing's ``DomainEventProtocol``. The
``EventMapper`` stores it under the event's own versioned type name (never a Python path) with
the canonical JSON of its data. Reading an older version runs the registered upcasters until
the current version is reached.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

import attrs
from eventsourcing.persistence import (
    Cipher,
    Compressor,
    Mapper,
    MapperDeserialisationError,
    StoredEvent,
    Transcoder,
)

from application.serialization import (
    JSON,
    SerialisationError,
    canonical_json,
    format_time,
    parse_time,
    reader_for,
    to_primitive,
)
from domain.catalogue import EVENT_TYPES
from domain.errors import DomainError
from domain.events import DomainEvent

#: An upcaster reads the data of an old event version and returns the next version's data.
Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


@attrs.frozen
class Envelope:
    """One stored domain event: where it sits, when it was recorded, and the fact itself."""

    originator_id: str
    originator_version: int
    recorded_at: datetime
    event: DomainEvent

    @property
    def type(self) -> str:
        return self.event.TYPE

    def canonical(self) -> bytes:
        """The canonical JSON of the event in its place (recording time excluded)."""
        return canonical_json(event_record(self))


def event_record(envelope: Envelope) -> dict[str, JSON]:
    return {
        "aggregate_id": envelope.originator_id,
        "version": envelope.originator_version,
        "type": envelope.type,
        "data": to_primitive(envelope.event),
    }


class EventTypeRegistry:
    """Event classes by stable type name, with upcasters between versions."""

    def __init__(
        self,
        event_types: Iterable[type[DomainEvent]] = EVENT_TYPES,
        upcasters: Mapping[str, Upcaster] | None = None,
    ) -> None:
        self._by_name: dict[str, type[DomainEvent]] = {}
        self._current: dict[str, type[DomainEvent]] = {}
        for cls in event_types:
            if cls.TYPE in self._by_name:
                raise ValueError(f"two event classes claim {cls.TYPE}")
            self._by_name[cls.TYPE] = cls
            base = cls.type_base()
            known = self._current.get(base)
            if known is None or known.type_version() < cls.type_version():
                self._current[base] = cls
        self._upcasters = dict(upcasters or {})
        # Stored names of current versions need no upcasting: one look-up reads them.
        self._current_by_name = {cls.TYPE: cls for cls in self._current.values()}

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._by_name))

    def resolve(
        self, type_name: str, data: dict[str, Any]
    ) -> tuple[type[DomainEvent], dict[str, Any]]:
        """The current class for a stored type name, and its data upcast to that class."""
        current = self._current_by_name.get(type_name)
        if current is not None:
            return current, data
        base, _, version_text = type_name.rpartition(".v")
        current = self._current.get(base)
        if current is None or not version_text.isdigit():
            raise MapperDeserialisationError(f"unknown event type {type_name!r}")
        version = int(version_text)
        while version < current.type_version():
            name = f"{base}.v{version}"
            upcast = self._upcasters.get(name)
            if upcast is None:
                raise MapperDeserialisationError(f"no upcaster from {name} to the next version")
            data = upcast(dict(data))
            version += 1
        if version != current.type_version():
            raise MapperDeserialisationError(f"{type_name} is newer than this software knows")
        return current, data


class EventMapper(Mapper[str]):
    """eventsourcing ``Mapper`` for ``Envelope`` objects, with stable type names as topics."""

    def __init__(
        self,
        transcoder: Transcoder,
        compressor: Compressor | None = None,
        cipher: Cipher | None = None,
        *,
        registry: EventTypeRegistry | None = None,
    ) -> None:
        super().__init__(transcoder=transcoder, compressor=compressor, cipher=cipher)
        self.registry = registry or EventTypeRegistry()

    def to_stored_event(self, domain_event: Any) -> StoredEvent:  # noqa: ANN401 — library API
        envelope = domain_event
        if not isinstance(envelope, Envelope):
            raise TypeError(f"EventMapper stores Envelope objects, not {type(envelope)!r}")
        state = canonical_json(
            {"recorded_at": format_time(envelope.recorded_at), "data": envelope.event}
        )
        if self.compressor:
            state = self.compressor.compress(state)
        if self.cipher:
            state = self.cipher.encrypt(state)
        return StoredEvent(
            originator_id=envelope.originator_id,
            originator_version=envelope.originator_version,
            topic=envelope.type,
            state=state,
        )

    def to_domain_event(self, stored_event: StoredEvent) -> Any:  # noqa: ANN401 — library API
        state = stored_event.state
        try:
            if self.cipher:
                state = self.cipher.decrypt(state)
            if self.compressor:
                state = self.compressor.decompress(state)
            document = json.loads(state)
            cls, data = self.registry.resolve(stored_event.topic, document["data"])
            event = reader_for(cls)(data)
            recorded_at = parse_time(document["recorded_at"])
        except (ValueError, KeyError, TypeError, SerialisationError, DomainError) as e:
            if isinstance(e, MapperDeserialisationError):
                raise
            msg = (
                f"cannot read stored event {stored_event.topic} of "
                f"{stored_event.originator_id!s} version {stored_event.originator_version}: {e}"
            )
            raise MapperDeserialisationError(msg) from e
        return Envelope(
            originator_id=str(stored_event.originator_id),
            originator_version=stored_event.originator_version,
            recorded_at=recorded_at,
            event=event,
        )
