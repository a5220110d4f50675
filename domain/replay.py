"""The per-originator anti-replay record of DUIS Request IDs (DOMAIN.md 3.4; the SRPD 6.1
replay check, ``domain.srv623_checks.Check.REQUEST_NOT_A_REPLAY``): one aggregate per
originator, id ``request-counters:<originator EUI-64>``.

A request's originator counter is accepted only if it is strictly greater than the highest
counter accepted from the same originator (``CounterAccepted``); an equal or lower counter is a
Replay and is refused ``REPLAYED_REQUEST``. Originators are independent: each has its own
record. Counters are DUIS's 0..2^64-1.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, Self

import attrs

from domain.errors import RuleViolation
from domain.events import DomainEvent, utc
from domain.identifiers import EUI64
from domain.srv623_checks import Check

COUNTER_LIMIT: Final = 1 << 64  # the DUIS Request ID's originator counter is 0..2^64-1
REPLAY_CLAUSE: Final = Check.REQUEST_NOT_A_REPLAY.clause


def request_counters_aggregate_id(originator: EUI64) -> str:
    return f"request-counters:{originator}"


@attrs.frozen(kw_only=True)
class CounterAccepted(DomainEvent):
    """A request's originator counter was accepted as not a Replay (``occurred_at``: when)."""

    TYPE = "etmad.request_counters.CounterAccepted.v1"
    originator: EUI64
    counter: int
    target: EUI64
    clause: str = REPLAY_CLAUSE


EVENTS: tuple[type[DomainEvent], ...] = (CounterAccepted,)


@attrs.frozen(kw_only=True)
class RequestCounterRecord:
    """The ``request-counters:<originator>`` aggregate. Nothing recorded: no counter accepted
    (``highest`` None)."""

    originator: EUI64
    highest: int | None = None
    accepted: int = 0  # how many counters were accepted
    version: int = 0

    @classmethod
    def create(cls, event: DomainEvent, version: int) -> Self:
        if not isinstance(event, CounterAccepted):
            raise TypeError(
                f"a request counter record starts with CounterAccepted, not {event.TYPE}"
            )
        return cls(originator=event.originator).apply(event, version)

    @property
    def aggregate_id(self) -> str:
        return request_counters_aggregate_id(self.originator)

    def apply(self, event: DomainEvent, version: int) -> Self:
        if not isinstance(event, CounterAccepted):
            raise TypeError(f"a request counter record does not fold {event.TYPE}")
        return attrs.evolve(
            self, highest=event.counter, accepted=self.accepted + 1, version=version
        )

    def is_replay(self, counter: int) -> bool:
        """Whether ``counter`` is not greater than the highest accepted from this originator."""
        return self.highest is not None and counter <= self.highest

    def accept(self, *, counter: int, target: EUI64, at: datetime) -> CounterAccepted:
        """Accept the originator counter of a request to ``target``, if it is not a Replay."""
        at = utc(at)
        if isinstance(counter, bool) or not 0 <= counter < COUNTER_LIMIT:
            raise RuleViolation(
                f"the Request ID's originator counter is 0..2^64-1, not {counter!r}",
                code="INVALID_REQUEST_COUNTER",
                clause=REPLAY_CLAUSE,
            )
        if self.is_replay(counter):
            raise RuleViolation(
                f"counter {counter} from originator {self.originator} is not greater than the "
                f"highest accepted, {self.highest}: the request is a Replay",
                code="REPLAYED_REQUEST",
                clause=REPLAY_CLAUSE,
            )
        return CounterAccepted(
            occurred_at=at, originator=self.originator, counter=counter, target=target
        )
