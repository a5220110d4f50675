"""The migration programme, day by day (ETMAD 6.1; DOMAIN.md 3.7): select, start, run, retry.

``Programme.run_day(day)`` does one business day from what the event log holds:

(a) the day's selection (``select_day``) with the parameters in force at the day's business time
    (``programme_state``), unless the day was already selected: then the recorded selection
    (``selection:<YYYY-MM-DD>``) is read back and used. A programme stopped at that time
    selects nothing (``stopped``); attempts in flight and retries due still run;
(b) each selected Device with no series in progress or succeeded, and none already started
    from this day's selection, gets a series started (``MigrationRunner.start_many``, one unit
    of work per batch); a Device a rule refuses (the Bulk cap reached, no longer eligible, ...)
    is left out and counted by the refusal's code — one Device never stops the day;
(c) each selected Device's series in progress is run from its current step at the day's
    business time (``MigrationRunner.run_many``: a batch a step at a time, one unit of work per
    step, the replacement commands saved before they are sent);
(d) the due retries: every Migration that ever scheduled a retry (its ``RetryScheduled`` in
    the notification log) whose retry is due by the end of the day is retried
    (``MigrationRunner.retry_many``); a retry that schedules another one due the same day is
    retried again in a further pass;
(e) the process managers follow the log (``ProcessManagers.pull_all``): suspension proposals
    (4.3), Non-Migratable candidates (4.2) and ECoS Migration Incidents (3.7), each saved with
    its tracking position.

Each step is carried by ``Resilience`` (``application/resilience.py``): a save that conflicts
with another worker's, or a store outage, makes the step decided again on the stored state
(after catching up with the log, or once the store answers again, within a bounded wait), and is
reported (``DayReport.conflicts``, ``outages``, ``notices``; ``on_notice``). Workers sharing a
store may split the Devices (``Shard``): the selection, the Bulk gate and the process managers
stay shared.

Everything is decided from, and recorded in, the event log, so a rerun of a day (after a
crash, or on purpose) continues where the last run stopped and does nothing twice: a day is
selected once, a series is started once per selection, ``run_many`` carries an attempt on from
its current step (a replacement command found in flight is reconciled, never resent), and each
process manager continues from its tracked position.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import attrs

from application.errors import CommandRejected, ConcurrencyConflict
from application.mapper import Envelope
from application.migration import MigrationRunner
from application.process_managers import ProcessManagers, ProcessManagersReport
from application.programme_control import programme_state
from application.resilience import Notice, NoticeKind, Resilience
from application.selection import select_day
from application.service import EtmadApplication
from domain.device_model import NonMigratableCandidateProposed, Suspended, SuspensionProposed
from domain.errors import DomainError
from domain.identifiers import EUI64
from domain.incidents import IncidentRaised
from domain.migration import (
    MigrationCompleted,
    MigrationStatus,
    RetryScheduled,
    SeriesCompletedUnsuccessfully,
)
from domain.selection import DaySelection, Selection, business_time, selection_aggregate_id

#: At most this many passes over the due retries in one day (a guard, never reached by the
#: default policy, whose shortest back-off is an hour).
MAX_RETRY_PASSES = 48
#: How often a batch whose save conflicted with another writer is decided again.
MAX_CONFLICT_RETRIES = 10
#: The refusal of a second selection of one day (``domain/selection.py``).
DAY_ALREADY_SELECTED = "DAY_ALREADY_SELECTED"
#: Devices carried through one unit of work per step (one transaction per batch and step).
BATCH_SIZE = 1000


def _batches(items: list[EUI64], size: int) -> list[list[EUI64]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


@attrs.define(kw_only=True)
class DayReport:
    """What one run of a business day did (counts of this run only; a rerun counts anew)."""

    day: date
    newly_selected: bool = False  # False: the day's recorded selection was reused
    stopped: bool = False  # the programme was stopped at the day's business time: no selection
    selected: int = 0
    started: int = 0
    succeeded: int = 0
    completed_unsuccessfully: int = 0
    failed: Counter[str] = attrs.field(factory=Counter)  # recorded failures by failure code
    retries: int = 0
    skipped: Counter[str] = attrs.field(factory=Counter)  # refusals by code
    events: int = 0
    #: what the process managers recorded after the day (``application/process_managers.py``)
    suspension_proposals: list[str] = attrs.field(factory=list)
    suspended: list[str] = attrs.field(factory=list)
    non_migratable_candidates: list[str] = attrs.field(factory=list)
    incidents: list[str] = attrs.field(factory=list)
    #: what this worker met on the way (``application/resilience.py``): saves that conflicted
    #: with another worker's and were decided again, waits through store outages, and each
    #: notice as the worker reported it
    conflicts: int = 0
    outages: int = 0
    notices: list[str] = attrs.field(factory=list)

    def count(self, events: tuple[Envelope, ...]) -> None:
        """Count the outcomes among events a use case saved."""
        self.events += len(events)
        for envelope in events:
            event = envelope.event
            if isinstance(event, MigrationCompleted):
                self.succeeded += 1
            elif isinstance(event, SeriesCompletedUnsuccessfully):
                self.completed_unsuccessfully += 1
            failure = getattr(event, "failure", None)
            if failure is not None:
                self.failed[str(failure.code)] += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "newly_selected": self.newly_selected,
            "stopped": self.stopped,
            "selected": self.selected,
            "started": self.started,
            "succeeded": self.succeeded,
            "completed_unsuccessfully": self.completed_unsuccessfully,
            "failed": dict(sorted(self.failed.items())),
            "retries": self.retries,
            "skipped": dict(sorted(self.skipped.items())),
            "events": self.events,
            "suspension_proposals": self.suspension_proposals,
            "suspended": self.suspended,
            "non_migratable_candidates": self.non_migratable_candidates,
            "incidents": self.incidents,
            "conflicts": self.conflicts,
            "outages": self.outages,
            "notices": self.notices,
        }

    def follow(self, pulled: ProcessManagersReport) -> None:
        """Count what the process managers recorded."""
        self.count(pulled.events)
        for envelope in pulled.events:
            event, key = envelope.event, envelope.originator_id
            if isinstance(event, SuspensionProposed):
                self.suspension_proposals.append(key)
            elif isinstance(event, Suspended):
                self.suspended.append(key)
            elif isinstance(event, NonMigratableCandidateProposed):
                self.non_migratable_candidates.append(key)
            elif isinstance(event, IncidentRaised):
                self.incidents.append(key)


@attrs.frozen
class Shard:
    """Worker ``index`` of ``count``: the Devices whose EUI-64 is ``index`` modulo ``count``.
    Workers that share a store may split the Devices so that each Device is carried by one of
    them (its day's selection, the process managers and the Bulk gate stay shared)."""

    index: int
    count: int

    def __attrs_post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ValueError(f"worker {self.index} of {self.count}: expected 0 <= index < count")

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``"K/N"``: worker K (from 0) of N."""
        index, slash, count = text.partition("/")
        if not slash or not index.strip().isdigit() or not count.strip().isdigit():
            raise ValueError(f"{text!r}: expected K/N, worker K (from 0) of N")
        return cls(int(index), int(count))

    def holds(self, device_id: EUI64) -> bool:
        return device_id.value % self.count == self.index


def _refusal_code(error: Exception) -> str:
    return str(getattr(error, "code", type(error).__name__))


class Programme:
    """Runs the migration programme day by day on an application and a ``MigrationRunner``."""

    def __init__(
        self,
        app: EtmadApplication,
        runner: MigrationRunner,
        *,
        batch_size: int = BATCH_SIZE,
        managers: ProcessManagers | None = None,
        resilience: Resilience | None = None,
        shard: Shard | None = None,
        on_notice: Callable[[Notice], None] | None = None,
    ) -> None:
        """``resilience``: how conflicts with other workers and store outages are carried
        through (``Resilience()``'s bounds by default); ``shard``: only these Devices are
        started, run and retried here (all by default); ``on_notice``: told each conflict,
        outage and resumption as it happens (the report keeps them too)."""
        if runner.app is not app:
            raise ValueError("the runner must run on the programme's application")
        if batch_size < 1:
            raise ValueError("a batch holds at least one Device")
        self.app = app
        self.runner = runner
        self.batch_size = batch_size
        self.managers = managers if managers is not None else ProcessManagers()
        self.resilience = resilience if resilience is not None else Resilience()
        self.shard = shard
        self.on_notice = on_notice

    def selection(self, day: date) -> DaySelection | None:
        """The day's recorded selection, if it has one."""
        return self.app.load(selection_aggregate_id(day), DaySelection.create)

    def run_day(self, day: date) -> DayReport:
        """Steps (a) to (e) of the module docstring, each carried through conflicts with other
        workers and through store outages by ``self.resilience`` (``application/resilience.py``):
        a step is decided again on fresh state after either, so its units of work already
        committed are not done again and the others are done once."""
        report = DayReport(day=day)
        at = business_time(day)
        ref = selection_aggregate_id(day)

        def tell(notice: Notice) -> None:
            report.notices.append(notice.describe())
            if notice.kind is NoticeKind.CONFLICT:
                report.conflicts += 1
            elif notice.kind is NoticeKind.OUTAGE:
                report.outages += 1
            if self.on_notice is not None:
                self.on_notice(notice)

        guard = attrs.evolve(self.resilience, on_notice=tell)
        selected = guard.run(self.app, "selection", lambda: self._select(day, at, report))
        report.selected = len(selected)
        guard.run(self.app, "starts", lambda: self._starts(selected, at, ref, report))
        guard.run(self.app, "runs", lambda: self._runs(selected, at, report))
        guard.run(self.app, "retries", lambda: self._retries(day, report))
        guard.run(
            self.app, "process managers", lambda: report.follow(self.managers.pull_all(self.app))
        )
        return report

    def _select(self, day: date, at: datetime, report: DayReport) -> tuple[EUI64, ...]:
        """(a): the day's recorded selection, else a new one (another worker's selection of
        the same day, saved first, makes ours conflict: then the recorded one is read)."""
        recorded = self.selection(day)
        if recorded is not None:
            return recorded.selected
        if not programme_state(self.app, at).running:
            report.stopped = True  # attempts in flight and retries due still run (6.1(b))
            return ()
        try:
            outcome = select_day(self.app, day)
        except (DomainError, CommandRejected) as refused:
            if _refusal_code(refused) != DAY_ALREADY_SELECTED:
                raise
            # Another worker selected the day after it was read here (the unit of work caught
            # up with the log and saw it): it is used as recorded.
            recorded = self.selection(day)
            assert recorded is not None  # noqa: S101 — the refusal says it is recorded
            return recorded.selected
        assert isinstance(outcome.result, Selection)  # noqa: S101 — select_day's result
        report.newly_selected = True
        report.count(outcome.events)
        return outcome.result.selected

    def _mine(self, device_id: EUI64) -> bool:
        return self.shard is None or self.shard.holds(device_id)

    def _starts(
        self, selected: tuple[EUI64, ...], at: datetime, ref: str, report: DayReport
    ) -> None:
        """(b), decided on the states as they stand now (so again after a conflict)."""
        to_start = [d for d in selected if self._mine(d) and self._startable(d, ref)]
        for batch in _batches(to_start, self.batch_size):
            self._start(batch, at, ref, report)

    def _runs(self, selected: tuple[EUI64, ...], at: datetime, report: DayReport) -> None:
        """(c), each batch's Devices read as they stand when it begins."""
        mine = [d for d in selected if self._mine(d)]
        for batch in _batches(mine, self.batch_size):
            running = [
                d for d in batch if (m := self.runner.migration(d)) is not None and m.in_progress
            ]
            if running:
                report.count(self.runner.run_many(running, at).events)

    def _startable(self, device_id: EUI64, ref: str) -> bool:
        migration = self.runner.migration(device_id)
        return migration is None or not (
            migration.in_progress
            or migration.succeeded
            or migration.current_series.selection_ref == ref
        )  # else started already (by this day's selection, or another)

    def _start(self, batch: list[EUI64], at: datetime, ref: str, report: DayReport) -> None:
        """Start a batch. Another writer starting Devices of the same models at the same time
        (another worker) makes the save conflict on a Device Model: the batch is decided again
        on the fresh state (the Bulk gate's count included) — nothing was saved."""
        for attempt in range(1, MAX_CONFLICT_RETRIES + 1):
            try:
                outcome = self.runner.start_many(batch, at, selection_ref=ref)
                break
            except ConcurrencyConflict:
                if attempt == MAX_CONFLICT_RETRIES:
                    raise
                report.conflicts += 1
                self.app.catch_up()
                batch = [d for d in batch if self._startable(d, ref)]
        assert isinstance(outcome.result, dict)  # noqa: S101 — start_many's result
        for result in outcome.result.values():
            if isinstance(result, DomainError | CommandRejected):
                report.skipped[_refusal_code(result)] += 1
            else:
                report.started += 1
        report.count(outcome.events)

    def _retries(self, day: date, report: DayReport) -> None:
        end = business_time(day + timedelta(days=1))
        start = business_time(day)
        for _ in range(MAX_RETRY_PASSES):
            due: dict[EUI64, datetime] = {}
            for aggregate_id in self.app.aggregates_with(RetryScheduled.TYPE):
                device_id = EUI64.parse(aggregate_id.removeprefix("migration:"))
                if not self._mine(device_id):
                    continue
                migration = self.runner.migration(device_id)
                if migration is None or migration.status is not MigrationStatus.RETRY_SCHEDULED:
                    continue
                when = migration.next_retry_at
                if when is not None and when < end:
                    due[device_id] = max(when, start)
            if not due:
                return
            for batch in _batches(list(due), self.batch_size):
                outcome = self.runner.retry_many({d: due[d] for d in batch})
                assert isinstance(outcome.result, dict)  # noqa: S101 — retry_many's result
                for result in outcome.result.values():
                    if isinstance(result, DomainError | CommandRejected):
                        report.skipped[_refusal_code(result)] += 1
                    else:
                        report.retries += 1
                report.count(outcome.events)

    def run_days(
        self,
        start: date,
        days: int,
        *,
        on_day: Callable[[DayReport], None] | None = None,
    ) -> list[DayReport]:
        """``run_day`` for ``days`` days from ``start``; ``on_day`` is told each day's report
        as soon as the day is done."""
        if days < 0:
            raise ValueError("a programme runs for zero or more days")
        reports = []
        for offset in range(days):
            report = self.run_day(start + timedelta(days=offset))
            reports.append(report)
            if on_day is not None:
                on_day(report)
        return reports
