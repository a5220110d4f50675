"""The DCC's control of the migration programme (ETMAD 1.3, 6.1(a)-(b); DOMAIN.md 3.7).

One ``ProgrammeControl`` aggregate per store, id ``programme``, records the operator decisions
that steer the daily selection (``domain.selection``), each with who decided, why, and its
business time:

* ``ProgrammeStarted`` (``ETMAD 1.3``: attempt ECoS Migration as soon as reasonably
  practicable) and ``ProgrammeStopped`` (``ETMAD 6.1(b)``: migration is initiated in a
  controlled and managed way, which includes not initiating it);
* ``CapacitySet``: the programme's daily capacity (``ETMAD 6.1(b)``);
* ``RampUpScheduleSet``: the ramp-up steps after a model's 1.6 decision (``ETMAD 6.1(b)``, our
  choice after DCC response para 30);
* ``PilotSizeSet``: a model's pilot before its 1.6 decision (``ETMAD 1.6``).

**Running by default** (our choice): with no start or stop recorded, the programme is running.
1.3 obliges the DCC to attempt migration as soon as reasonably practicable, so the duty needs no
trigger; a recorded stop is what halts it. An explicit start is accepted then (it records the
DCC's decision), and afterwards a second start is refused (``PROGRAMME_ALREADY_STARTED``), as is
a stop of a stopped programme (``PROGRAMME_ALREADY_STOPPED``).

Parameters are checked by the rules of ``SelectionParameters`` (``INVALID_SELECTION_PARAMETERS``)
and each one set overrides, field by field, the DCC-set default the application was configured
with (``ProgrammeControl.parameters``). Decisions are recorded in business-time order
(``OUT_OF_ORDER`` otherwise), so the control as it stood at any time is the fold of the
decisions dated up to then.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, Generic, Self, TypeVar

import attrs

from domain import clauses
from domain.errors import RuleViolation
from domain.events import DomainEvent, utc
from domain.selection import CAPACITY_CLAUSE, RAMP_UP_CLAUSE, SelectionParameters

#: The one programme of a store.
PROGRAMME_AGGREGATE_ID: Final = "programme"

PILOT_SIZE_CLAUSE: Final = clauses.ETMAD_1_6

RampUp = tuple[tuple[int, int], ...]
T = TypeVar("T")

# --- events ---------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ProgrammeStarted(DomainEvent):
    """The DCC started (or restarted) the migration programme."""

    TYPE = "etmad.programme.ProgrammeStarted.v1"
    decided_by: str
    reason: str
    clause: str = clauses.ETMAD_1_3


@attrs.frozen(kw_only=True)
class ProgrammeStopped(DomainEvent):
    """The DCC stopped the migration programme: no Devices are selected or started."""

    TYPE = "etmad.programme.ProgrammeStopped.v1"
    decided_by: str
    reason: str
    clause: str = clauses.ETMAD_6_1_B


@attrs.frozen(kw_only=True)
class CapacitySet(DomainEvent):
    """The Devices the programme may select in one business day, across models."""

    TYPE = "etmad.programme.CapacitySet.v1"
    daily_capacity: int
    decided_by: str
    reason: str
    clause: str = CAPACITY_CLAUSE


@attrs.frozen(kw_only=True)
class RampUpScheduleSet(DomainEvent):
    """The ramp-up after a model's 1.6 decision: ``(days since the decision, daily cap)``."""

    TYPE = "etmad.programme.RampUpScheduleSet.v1"
    ramp_up: RampUp
    decided_by: str
    reason: str
    clause: str = RAMP_UP_CLAUSE


@attrs.frozen(kw_only=True)
class PilotSizeSet(DomainEvent):
    """The Devices of a model migrated before its 1.6 decision (never past the Bulk
    Migration number: the selection takes the lesser)."""

    TYPE = "etmad.programme.PilotSizeSet.v1"
    pilot_size: int
    decided_by: str
    reason: str
    clause: str = PILOT_SIZE_CLAUSE


EVENTS: tuple[type[DomainEvent], ...] = (
    ProgrammeStarted,
    ProgrammeStopped,
    CapacitySet,
    RampUpScheduleSet,
    PilotSizeSet,
)

# --- state ----------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class RunDecision:
    """The last start or stop."""

    running: bool
    at: datetime
    decided_by: str
    reason: str


@attrs.frozen(kw_only=True)
class Setting(Generic[T]):
    """A parameter value the DCC set, and its decision."""

    value: T
    at: datetime
    decided_by: str
    reason: str


@attrs.frozen(kw_only=True)
class ProgrammeControl:
    """The ``programme`` aggregate: the last start or stop and the parameters set."""

    run: RunDecision | None = None
    daily_capacity: Setting[int] | None = None
    pilot_size: Setting[int] | None = None
    ramp_up: Setting[RampUp] | None = None
    last_at: datetime | None = None
    version: int = 0

    @classmethod
    def create(cls, event: DomainEvent, version: int) -> Self:
        """Any programme decision may be the first (nothing recorded: running, defaults)."""
        return cls().apply(event, version)

    @property
    def aggregate_id(self) -> str:
        return PROGRAMME_AGGREGATE_ID

    @property
    def running(self) -> bool:
        """Running unless the last start or stop recorded was a stop (running by default)."""
        return self.run is None or self.run.running

    @property
    def running_by_default(self) -> bool:
        """No start or stop recorded yet."""
        return self.run is None

    def parameters(self, defaults: SelectionParameters) -> SelectionParameters:
        """``defaults`` with every parameter the DCC set here put in its place."""
        return SelectionParameters(
            daily_capacity=(
                defaults.daily_capacity
                if self.daily_capacity is None
                else self.daily_capacity.value
            ),
            pilot_size=defaults.pilot_size if self.pilot_size is None else self.pilot_size.value,
            ramp_up=defaults.ramp_up if self.ramp_up is None else self.ramp_up.value,
        )

    def apply(self, event: DomainEvent, version: int) -> Self:
        at = event.occurred_at
        assert at is not None  # noqa: S101 — every programme decision is dated
        match event:
            case ProgrammeStarted() | ProgrammeStopped():
                run = RunDecision(
                    running=isinstance(event, ProgrammeStarted),
                    at=at,
                    decided_by=event.decided_by,
                    reason=event.reason,
                )
                return attrs.evolve(self, run=run, last_at=at, version=version)
            case CapacitySet():
                setting = Setting(
                    value=event.daily_capacity,
                    at=at,
                    decided_by=event.decided_by,
                    reason=event.reason,
                )
                return attrs.evolve(self, daily_capacity=setting, last_at=at, version=version)
            case RampUpScheduleSet():
                steps = Setting(
                    value=event.ramp_up, at=at, decided_by=event.decided_by, reason=event.reason
                )
                return attrs.evolve(self, ramp_up=steps, last_at=at, version=version)
            case PilotSizeSet():
                pilot = Setting(
                    value=event.pilot_size, at=at, decided_by=event.decided_by, reason=event.reason
                )
                return attrs.evolve(self, pilot_size=pilot, last_at=at, version=version)
        raise TypeError(f"the programme does not fold {event.TYPE}")

    # --- commands -------------------------------------------------------------------------

    def start(self, *, at: datetime, decided_by: str, reason: str = "") -> ProgrammeStarted:
        """Start the programme; refused when the last start or stop recorded was a start."""
        at = self._decision(at, decided_by, clauses.ETMAD_1_3)
        if self.run is not None and self.run.running:
            raise RuleViolation(
                f"the migration programme was already started on {self.run.at.isoformat()} "
                f"by {self.run.decided_by}",
                code="PROGRAMME_ALREADY_STARTED",
                clause=clauses.ETMAD_1_3,
            )
        return ProgrammeStarted(occurred_at=at, decided_by=decided_by, reason=reason)

    def stop(self, *, at: datetime, decided_by: str, reason: str) -> ProgrammeStopped:
        """Stop the programme, with a reason; refused when it is stopped already."""
        at = self._decision(at, decided_by, clauses.ETMAD_6_1_B)
        if self.run is not None and not self.run.running:
            raise RuleViolation(
                f"the migration programme was already stopped on {self.run.at.isoformat()} "
                f"by {self.run.decided_by}",
                code="PROGRAMME_ALREADY_STOPPED",
                clause=clauses.ETMAD_6_1_B,
            )
        _require_text(reason, "stopping the programme needs a reason", clauses.ETMAD_6_1_B)
        return ProgrammeStopped(occurred_at=at, decided_by=decided_by, reason=reason)

    def set_capacity(
        self, *, at: datetime, daily_capacity: int, decided_by: str, reason: str = ""
    ) -> CapacitySet:
        """Set the daily programme capacity (a whole number, ``SelectionParameters``)."""
        at = self._decision(at, decided_by, CAPACITY_CLAUSE)
        SelectionParameters(daily_capacity=daily_capacity)
        return CapacitySet(
            occurred_at=at, daily_capacity=daily_capacity, decided_by=decided_by, reason=reason
        )

    def set_ramp_up(
        self, *, at: datetime, ramp_up: RampUp, decided_by: str, reason: str = ""
    ) -> RampUpScheduleSet:
        """Set the ramp-up steps: whole-number pairs, the first at day 0, days increasing."""
        at = self._decision(at, decided_by, RAMP_UP_CLAUSE)
        SelectionParameters(ramp_up=ramp_up)
        return RampUpScheduleSet(
            occurred_at=at, ramp_up=ramp_up, decided_by=decided_by, reason=reason
        )

    def set_pilot_size(
        self, *, at: datetime, pilot_size: int, decided_by: str, reason: str = ""
    ) -> PilotSizeSet:
        """Set the pilot size: a whole number, never past the Bulk Migration ceiling (300)."""
        at = self._decision(at, decided_by, PILOT_SIZE_CLAUSE)
        SelectionParameters(pilot_size=pilot_size)
        return PilotSizeSet(
            occurred_at=at, pilot_size=pilot_size, decided_by=decided_by, reason=reason
        )

    def _decision(self, at: datetime, decided_by: str, clause: str) -> datetime:
        """A decision's time in UTC, at or after the last one, and who decided it."""
        at = utc(at)
        if self.last_at is not None and at < self.last_at:
            raise RuleViolation(
                f"{at.isoformat()} precedes the programme's last decision at "
                f"{self.last_at.isoformat()}",
                code="OUT_OF_ORDER",
            )
        _require_text(decided_by, "a programme decision names who decided", clause)
        return at


def _require_text(value: str, message: str, clause: str) -> None:
    if not value.strip():
        raise RuleViolation(message, code="RATIONALE_REQUIRED", clause=clause)
