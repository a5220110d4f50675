"""Folded aggregates kept in memory and kept current from the notification log.

Rebuilding an aggregate replays all of its events; a Device Model collects one event per
migration started, and the daily selection reads every Device. ``AggregateCache`` keeps the
latest folded state of each aggregate loaded (states are immutable values, so sharing them is
safe) and keeps it current two ways:

- the application's own saves hand over the states they folded (``saved``);
- ``catch_up`` reads the notification log from the last position seen and folds into the cached
  states every event they have not seen (another process's writes). It runs at the start of
  every unit of work and of the public queries, never per load.

A cached state serves a load "as of" a business time only when none of its events is later than
that time (``latest``); otherwise the load replays the store, as without a cache. Decisions stay
safe under concurrency without trusting the cache: every write is checked against the version it
was decided on (a conflict evicts the states involved and is reported, ``CONCURRENCY_CONFLICT``).

``ids_with(topic)`` answers "which aggregates recorded an event of this type" incrementally from
the log (remembered per topic, extended from the last position), in first-recorded order.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs

from domain.events import DomainEvent

if TYPE_CHECKING:  # pragma: no cover
    from application.mapper import Envelope

#: Notifications read per query while catching up.
BATCH = 1000
#: Envelopes this application saved, remembered by notification id for readers in-process.
RECENT = 100_000


@attrs.define
class _Entry:
    state: Any
    factory: Callable[..., Any]
    latest: datetime | None  # the latest business time among its events (None: none had one)
    #: The last state served "as of" a business time earlier than ``latest``: (as of, the
    #: version it was folded from, the state; None if the aggregate did not exist then).
    as_of: tuple[datetime, int, Any] | None = None

    def state_as_of(self, at: datetime) -> tuple[bool, Any]:
        """(True, state) if the state as of ``at`` is remembered for the current version."""
        memo = self.as_of
        if memo is not None and memo[0] == at and memo[1] == self.state.version:
            return True, memo[2]
        return False, None


def _later(a: datetime | None, event: DomainEvent) -> datetime | None:
    b = event.occurred_at
    if b is None:
        return a
    return b if a is None or b > a else a


@attrs.define
class _TopicIndex:
    position: int = 0
    ids: dict[str, None] = attrs.field(factory=dict)


class AggregateCache:
    """Latest folded aggregate states by id (at most ``maxsize``, least recently used first
    out), current up to ``position`` in the notification log."""

    def __init__(
        self,
        *,
        select: Callable[[int, int, int | None, Sequence[str]], Sequence[Any]],
        top: Callable[[], int | None],
        decode: Callable[[Any], Envelope],
        maxsize: int = 1_000_000,
    ) -> None:
        if maxsize < 1:
            raise ValueError("the aggregate cache holds at least one aggregate")
        self._select = select
        self._top = top
        self._decode = decode
        self._maxsize = maxsize
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._topics: dict[str, _TopicIndex] = {}
        self._recent: OrderedDict[int, Envelope] = OrderedDict()
        self.position = 0
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    # --- reading ----------------------------------------------------------------------------

    def get(self, aggregate_id: str, factory: Callable[..., Any]) -> _Entry | None:
        entry = self._entries.get(aggregate_id)
        if entry is None or entry.factory != factory:
            self.misses += 1
            return None
        self._entries.move_to_end(aggregate_id)
        self.hits += 1
        return entry

    def put(
        self,
        aggregate_id: str,
        factory: Callable[..., Any],
        state: object,
        events: Iterable[DomainEvent],
    ) -> None:
        """Keep ``state`` (folded from exactly ``events``, all of the aggregate's; ``None``
        with no events: the aggregate does not exist, until an event of it is seen)."""
        latest: datetime | None = None
        for event in events:
            latest = _later(latest, event)
        self._keep(aggregate_id, _Entry(state, factory, latest))

    def _keep(self, aggregate_id: str, entry: _Entry) -> None:
        self._entries[aggregate_id] = entry
        self._entries.move_to_end(aggregate_id)
        while len(self._entries) > self._maxsize:
            self._entries.popitem(last=False)

    def remember(self, notification_ids: Sequence[int], envelopes: Sequence[Envelope]) -> None:
        """Keep the envelopes this application just saved by notification id (the last
        ``RECENT`` of them), so that a process manager in this process reading them back from
        the notification log need not decode them again. They are immutable values."""
        for notification_id, envelope in zip(notification_ids, envelopes, strict=True):
            self._recent[notification_id] = envelope
        while len(self._recent) > RECENT:
            self._recent.popitem(last=False)

    def recent(self, notification_id: int) -> Envelope | None:
        return self._recent.get(notification_id)

    def evict(self, aggregate_ids: Iterable[str]) -> None:
        for aggregate_id in aggregate_ids:
            self._entries.pop(aggregate_id, None)

    def clear(self) -> None:
        self._entries.clear()
        self._topics.clear()
        self._recent.clear()

    # --- keeping current --------------------------------------------------------------------

    def saved(
        self,
        envelopes: Sequence[Envelope],
        notification_ids: Sequence[int],
        states: Mapping[str, tuple[Callable[..., Any], Any]],
    ) -> None:
        """The application saved ``envelopes`` (in order) as ``notification_ids``; ``states``
        holds each written aggregate's state after them (with its factory), as the unit of work
        folded it. A cached state that was the base of the writes is replaced by it; an
        aggregate created by them is kept; any other cached state of a written aggregate is
        dropped (reloaded when next needed). The position moves on if nothing else came
        between."""
        first: dict[str, int] = {}
        events: dict[str, list[DomainEvent]] = {}
        for envelope in envelopes:
            first.setdefault(envelope.originator_id, envelope.originator_version)
            events.setdefault(envelope.originator_id, []).append(envelope.event)
        for aggregate_id, (factory, state) in states.items():
            if aggregate_id not in first:
                continue
            entry = self._entries.get(aggregate_id)
            base = first[aggregate_id] - 1
            if entry is not None and entry.state is None:
                entry = None  # it did not exist: ``put`` below when this save created it
            if entry is not None and entry.factory == factory and entry.state.version == base:
                latest = entry.latest
                for event in events[aggregate_id]:
                    latest = _later(latest, event)
                entry.state, entry.latest, entry.as_of = state, latest, None
                self._entries.move_to_end(aggregate_id)
            elif base == 0:
                self.put(aggregate_id, factory, state, events[aggregate_id])
            else:
                self._entries.pop(aggregate_id, None)
        self.advance(envelopes, notification_ids)

    def advance(self, envelopes: Sequence[Envelope], notification_ids: Sequence[int]) -> None:
        """Move the position (and the topic indexes) over this application's own save, if
        nothing else was recorded before it since."""
        ids = sorted(notification_ids)
        if ids and ids[0] == self.position + 1 and ids[-1] == self.position + len(ids):
            self.position = ids[-1]
            for topic, index in self._topics.items():
                if index.position == ids[0] - 1:
                    for envelope in envelopes:
                        if topic == envelope.event.TYPE:
                            index.ids.setdefault(envelope.originator_id, None)
                    index.position = ids[-1]

    def catch_up(self) -> int:
        """Fold every event recorded since the position into the cached states; returns how
        many notifications were read. Only the events of aggregates the cache holds are
        decoded; while it holds none, the position simply moves to the end of the log."""
        if not self._entries:
            self.position = max(self.position, self._top() or 0)
            return 0
        read = 0
        while True:
            batch = self._select(self.position + 1, BATCH, None, ())
            if not batch:
                return read
            held = self._entries
            self._fold([self._decode(n) for n in batch if str(n.originator_id) in held])
            self.position = batch[-1].id
            read += len(batch)

    def _fold(self, envelopes: Iterable[Envelope]) -> None:
        for envelope in envelopes:
            entry = self._entries.get(envelope.originator_id)
            if entry is None:
                continue
            version = envelope.originator_version
            if entry.state is None:  # known not to exist: this is its first event
                if version == 1:
                    entry.state = entry.factory(envelope.event, version)
                    entry.latest = _later(None, envelope.event)
                else:
                    del self._entries[envelope.originator_id]
                continue
            if version <= entry.state.version:
                continue  # folded already (this application's own save)
            if version != entry.state.version + 1:
                del self._entries[envelope.originator_id]  # a gap: reload when next needed
                continue
            entry.state = entry.state.apply(envelope.event, version)
            entry.latest = _later(entry.latest, envelope.event)

    # --- ids by event type ------------------------------------------------------------------

    def ids_with(self, topic: str) -> list[str]:
        """The ids of the aggregates that recorded an event of type ``topic``, in the order
        of their first such event."""
        index = self._topics.setdefault(topic, _TopicIndex())
        top = self._top() or 0  # read first: what is recorded later is read next time
        while index.position < top:
            batch = self._select(index.position + 1, BATCH, top, (topic,))
            for notification in batch:
                index.ids.setdefault(str(notification.originator_id), None)
            index.position = batch[-1].id if len(batch) == BATCH else top
        return list(index.ids)
