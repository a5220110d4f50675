"""Workers that share a store: a step retried on a concurrency conflict, and waited through a
store outage (issue 6, "Concurrency and faults"; decision text in ``docs/operations.md``).

Several worker processes may run the programme (and SRV 6.23 processing) on one PostgreSQL
store. Every unit of work is one transaction, version-checked against the states it was decided
on, so nothing one worker does can be half-saved or overwrite another's; what remains is for a
worker to carry on when

- its save conflicts with another writer's (``ConcurrencyConflict``: nothing of it was saved):
  it catches up with the notification log (``EtmadApplication.catch_up``) and decides the step
  again on the fresh state — what the other writer did is then seen, and not done again
  (at most ``max_conflicts`` times a step: every conflict means another writer moved on);
- the store is unreachable (eventsourcing's ``OperationalError`` or ``InterfaceError``, which
  its PostgreSQL recorders raise when the server restarts or the network drops, after their own
  short retries; an adapter may add its driver's errors through ``transient``): it reports the
  outage (``on_notice``), waits with a capped, doubling back-off, and decides the step again
  once the store answers — each unit of work of the step either committed before the outage
  (then the fresh state shows it) or did not (then it is decided again). The total wait of one
  outage is bounded (``max_wait``): beyond it ``StoreUnavailable`` is raised, and the worker
  stops with its work saved up to its last commit; a rerun continues from there.

A step handed to ``Resilience.run`` must therefore decide from the stored state each time it is
called (the programme's steps do: ``application/programme.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum
from typing import TypeVar

import attrs
from eventsourcing.persistence import InterfaceError, OperationalError

from application.errors import ConcurrencyConflict
from application.service import EtmadApplication

T = TypeVar("T")

#: eventsourcing's errors for a store that cannot be reached (a restart, a dropped connection).
STORE_UNREACHABLE: tuple[type[Exception], ...] = (OperationalError, InterfaceError)
#: The longest one outage is waited through before the worker gives up (seconds).
MAX_WAIT = 60.0
#: The first wait after an outage is seen, doubled each time up to ``MAX_BACKOFF`` (seconds).
FIRST_BACKOFF = 0.5
MAX_BACKOFF = 8.0
#: How often one step is decided again after conflicting with other writers.
MAX_CONFLICTS = 100


class NoticeKind(StrEnum):
    CONFLICT = "conflict"  # another writer saved first; the step is decided again
    OUTAGE = "outage"  # the store did not answer; waiting before the step is decided again
    RESUMED = "resumed"  # the store answers again after an outage


@attrs.frozen(kw_only=True)
class Notice:
    """What a worker reports while it carries a step through a conflict or an outage."""

    kind: NoticeKind
    step: str
    detail: str = ""
    attempt: int = 0  # the conflict's or the outage's wait's number in this step
    wait: float = 0.0  # seconds about to be waited (OUTAGE)
    waited: float = 0.0  # seconds waited through so far in this outage

    def describe(self) -> str:
        if self.kind is NoticeKind.CONFLICT:
            return (
                f"{self.step}: another worker saved first (conflict {self.attempt}); "
                "deciding again on fresh state"
            )
        if self.kind is NoticeKind.OUTAGE:
            return (
                f"{self.step}: the store is unavailable ({self.detail}); waiting "
                f"{self.wait:.1f}s (waited {self.waited:.1f}s so far), then resuming"
            )
        return f"{self.step}: the store answers again after {self.waited:.1f}s; resumed"


class StoreUnavailable(Exception):  # noqa: N818 — reads as the fact it reports
    """The store stayed unreachable for longer than the worker waits (``max_wait``): the worker
    stops; what it committed is saved, and a rerun continues from there."""

    def __init__(self, step: str, waited: float, detail: str) -> None:
        super().__init__(
            f"{step}: the store was unavailable for {waited:.1f}s, longer than this worker "
            f"waits; stopping (everything committed is kept; run again to continue): {detail}"
        )
        self.step = step
        self.waited = waited


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


@attrs.frozen(kw_only=True)
class Resilience:
    """How a worker carries its steps through conflicts and outages (module docstring)."""

    max_wait: float = MAX_WAIT
    first_backoff: float = FIRST_BACKOFF
    max_backoff: float = MAX_BACKOFF
    max_conflicts: int = MAX_CONFLICTS
    transient: tuple[type[Exception], ...] = STORE_UNREACHABLE
    on_notice: Callable[[Notice], None] | None = None
    sleep: Callable[[float], None] = time.sleep

    def __attrs_post_init__(self) -> None:
        if self.max_wait < 0 or self.first_backoff <= 0 or self.max_backoff < self.first_backoff:
            raise ValueError("waits: max_wait >= 0 and 0 < first_backoff <= max_backoff (seconds)")
        if self.max_conflicts < 0:
            raise ValueError("max_conflicts cannot be negative")

    def _tell(self, notice: Notice) -> None:
        if self.on_notice is not None:
            self.on_notice(notice)

    def run(self, app: EtmadApplication, step: str, work: Callable[[], T]) -> T:
        """``work()``, decided again after a conflict (once caught up with the log) or after an
        outage (once the store answers), within the bounds above."""
        conflicts = 0
        waits = 0
        waited = 0.0
        refresh = False
        while True:
            try:
                if refresh:
                    app.catch_up()  # what other writers (or this one, before an outage) saved
                    refresh = False
                result = work()
            except ConcurrencyConflict as conflict:
                conflicts += 1
                if conflicts > self.max_conflicts:
                    raise
                self._tell(
                    Notice(
                        kind=NoticeKind.CONFLICT,
                        step=step,
                        detail=_first_line(conflict),
                        attempt=conflicts,
                    )
                )
                refresh = True
                continue
            except self.transient as error:
                detail = _first_line(error)
                if waited >= self.max_wait:
                    raise StoreUnavailable(step, waited, detail) from error
                wait = min(self.max_backoff, self.first_backoff * 2**waits, self.max_wait - waited)
                waits += 1
                self._tell(
                    Notice(
                        kind=NoticeKind.OUTAGE,
                        step=step,
                        detail=detail,
                        attempt=waits,
                        wait=wait,
                        waited=waited,
                    )
                )
                self.sleep(wait)
                waited += wait
                refresh = True
                continue
            if waits:
                self._tell(Notice(kind=NoticeKind.RESUMED, step=step, waited=waited))
            return result
