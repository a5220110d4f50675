"""``SimulatedClock``: business time that moves only when told to (implements ``Clock``)."""

from __future__ import annotations

from datetime import datetime, timedelta

from adapters.simulator.behaviour import aware


class SimulatedClock:
    """A clock for a programme run on business time: ``now()`` is where it was set, and it
    moves only by ``advance`` or ``set``, never backwards. Nothing reads the wall clock."""

    def __init__(self, start: datetime) -> None:
        self._now = aware(start, name="start")

    def now(self) -> datetime:
        """The current business time, timezone-aware."""
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move forward by ``delta`` (zero or more); returns the new time."""
        if not isinstance(delta, timedelta) or delta < timedelta(0):
            raise ValueError(f"a simulated clock only moves forward, not by {delta!r}")
        self._now += delta
        return self._now

    def set(self, at: datetime) -> datetime:
        """Move to ``at`` (not earlier than now); returns it."""
        if aware(at) < self._now:
            raise ValueError(f"a simulated clock only moves forward: {at} is before {self._now}")
        self._now = at
        return self._now
