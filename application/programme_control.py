"""Operator control of the migration programme (ETMAD 1.3, 6.1(a)-(b); DOMAIN.md 3.7).

Use cases on the store's one ``programme`` aggregate (``domain.programme_control``), each one
unit of work whose ``Outcome`` result is the ``ProgrammeState`` as of the decision's time:

* ``start_programme`` and ``stop_programme``;
* ``set_capacity``: the programme's daily capacity;
* ``set_ramp_up``: the ramp-up steps after a model's 1.6 decision, and optionally the pilot
  size before it (both saved together, or neither).

``programme_state(app, at)`` is the query the daily programme asks: whether the programme was
running at business time ``at`` (running by default until a stop is recorded, see
``domain.programme_control``), and the ``SelectionParameters`` in force then: each parameter
the DCC had recorded by ``at`` in place of the configured default (``app.settings.selection``),
field by field. It reads the facts dated up to ``at`` only, so it answers for any past time.
"""

from __future__ import annotations

from datetime import datetime

import attrs

from application.service import EtmadApplication, Outcome, UnitOfWork
from domain.events import utc
from domain.programme_control import (
    PROGRAMME_AGGREGATE_ID,
    ProgrammeControl,
    RampUp,
    RunDecision,
    Setting,
)
from domain.selection import SelectionParameters


@attrs.frozen(kw_only=True)
class ProgrammeState:
    """The programme as it stood at ``as_of``.

    ``parameters`` are the ones in force; ``daily_capacity``, ``pilot_size`` and ``ramp_up``
    are the recorded decisions behind them (None: the configured default holds)."""

    as_of: datetime
    running: bool
    running_by_default: bool  # no start or stop recorded by ``as_of``
    run: RunDecision | None  # the last start or stop recorded by ``as_of``
    parameters: SelectionParameters
    daily_capacity: Setting[int] | None
    pilot_size: Setting[int] | None
    ramp_up: Setting[RampUp] | None


def programme_state(app: EtmadApplication, at: datetime) -> ProgrammeState:
    """Whether the programme was running at ``at``, and the selection parameters in force."""
    at = utc(at)
    control = (
        app.load(PROGRAMME_AGGREGATE_ID, ProgrammeControl.create, as_of=at) or ProgrammeControl()
    )
    return ProgrammeState(
        as_of=at,
        running=control.running,
        running_by_default=control.running_by_default,
        run=control.run,
        parameters=control.parameters(app.settings.selection),
        daily_capacity=control.daily_capacity,
        pilot_size=control.pilot_size,
        ramp_up=control.ramp_up,
    )


def _control(uow: UnitOfWork) -> ProgrammeControl:
    return uow.get(PROGRAMME_AGGREGATE_ID, ProgrammeControl.create) or ProgrammeControl()


def _decided(app: EtmadApplication, uow: UnitOfWork, at: datetime) -> Outcome:
    events = uow.commit()
    return Outcome(events, programme_state(app, at))


def start_programme(
    app: EtmadApplication, *, at: datetime, decided_by: str, reason: str = ""
) -> Outcome:
    """Start the programme (``ProgrammeStarted``, ETMAD 1.3)."""
    uow = UnitOfWork(app)
    event = _control(uow).start(at=at, decided_by=decided_by, reason=reason)
    uow.record(PROGRAMME_AGGREGATE_ID, ProgrammeControl.create, event)
    return _decided(app, uow, at)


def stop_programme(app: EtmadApplication, *, at: datetime, decided_by: str, reason: str) -> Outcome:
    """Stop the programme, with a reason (``ProgrammeStopped``, ETMAD 6.1(b))."""
    uow = UnitOfWork(app)
    event = _control(uow).stop(at=at, decided_by=decided_by, reason=reason)
    uow.record(PROGRAMME_AGGREGATE_ID, ProgrammeControl.create, event)
    return _decided(app, uow, at)


def set_capacity(
    app: EtmadApplication, *, at: datetime, daily_capacity: int, decided_by: str, reason: str = ""
) -> Outcome:
    """Set the programme's daily capacity (``CapacitySet``, ETMAD 6.1(b))."""
    uow = UnitOfWork(app)
    event = _control(uow).set_capacity(
        at=at, daily_capacity=daily_capacity, decided_by=decided_by, reason=reason
    )
    uow.record(PROGRAMME_AGGREGATE_ID, ProgrammeControl.create, event)
    return _decided(app, uow, at)


def set_ramp_up(
    app: EtmadApplication,
    *,
    at: datetime,
    ramp_up: RampUp,
    decided_by: str,
    reason: str = "",
    pilot_size: int | None = None,
) -> Outcome:
    """Set the ramp-up schedule (``RampUpScheduleSet``, ETMAD 6.1(b)) and, if given, the pilot
    size (``PilotSizeSet``, ETMAD 1.6) in the same unit of work."""
    uow = UnitOfWork(app)
    control = _control(uow)
    steps = control.set_ramp_up(at=at, ramp_up=ramp_up, decided_by=decided_by, reason=reason)
    control = uow.record(PROGRAMME_AGGREGATE_ID, ProgrammeControl.create, steps) or control
    if pilot_size is not None:
        pilot = control.set_pilot_size(
            at=at, pilot_size=pilot_size, decided_by=decided_by, reason=reason
        )
        uow.record(PROGRAMME_AGGREGATE_ID, ProgrammeControl.create, pilot)
    return _decided(app, uow, at)
