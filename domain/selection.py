"""The Device Candidate Selection Engine (ETMAD 1.3, 6.1(a)-(b); DCC response paras 28-30).

Each business day the DCC selects eligible TCoS Devices for ECoS Migration (DOMAIN.md 3.7,
``docs/selection.md``). ``select_candidates`` is a pure function of the day, the per-Device facts
(``Candidate``), the per-model gate facts (``ModelFacts``) and the DCC-set ``SelectionParameters``:

* a Device is *selectable* when it is eligible (1.3, 1.4), has no Migration series in progress
  or succeeded, and its Device Model has gate facts;
* each model gets a cap for the day from every rule that applies, and is allowed the least of
  them (collect-all: every rule that held the model below its selectable Devices is listed):

  - ``NON_MIGRATABLE_MODEL`` (``ETMAD 1.4(a)``) and ``MODEL_SUSPENDED`` (``ETMAD 6.1(d)``): 0;
  - before the 1.6 decision, ``PILOT_SIZE`` (``ETMAD 1.6``): the pilot size less the
    migrations already started, and ``BULK_MIGRATION_NUMBER`` (``ETMAD 2 (Bulk Migration)``):
    the Bulk Migration number less the migrations already started;
  - after it, ``RAMP_UP`` (``ETMAD 6.1(b)``, our choice after DCC response para 30): the daily
    cap of the step in force for the days since the decision;

* the programme's daily capacity (``PROGRAMME_CAPACITY``, ``ETMAD 6.1(b)``) is shared across the
  models one Device at a time in model order (round robin), so one large model cannot starve
  the rest; within a model the lowest Device ids are taken first;
* the selected Devices are listed by model (its text form) then Device id, and the selected set
  is fingerprinted: SHA-256 of the sorted EUI-64 texts (``00-DB-...``) joined by ``\\n``, UTF-8,
  no trailing newline (``selection_sha256``).
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Final, Self

import attrs

from domain import clauses
from domain.bulk_gate import BULK_MIGRATION_CEILING
from domain.errors import RuleViolation
from domain.events import DomainEvent, utc
from domain.identifiers import EUI64, DeviceModelKey
from domain.migration import Migration

#: ``docs/selection.md``: 50 a day from the decision, 200 from day 7, 1000 from day 14, 5000
#: from day 28 (a DCC-set parameter; what is not listed stays at the last step).
DEFAULT_RAMP_UP: Final = ((0, 50), (7, 200), (14, 1000), (28, 5000))

RAMP_UP_CLAUSE: Final = clauses.ETMAD_6_1_B
CAPACITY_CLAUSE: Final = clauses.ETMAD_6_1_B


def selection_aggregate_id(day: date) -> str:
    """``selection:<YYYY-MM-DD>``: one selection per business day."""
    return f"selection:{day.isoformat()}"


def business_time(day: date) -> datetime:
    """The business time a day's selection is made at: 00:00 UTC of that day."""
    return datetime.combine(day, time(0), tzinfo=UTC)


def selection_sha256(selected: Iterable[EUI64]) -> str:
    """SHA-256 (hex) of the canonical selected set: the sorted EUI-64 texts joined by ``\\n``,
    UTF-8, no trailing newline (the empty set hashes the empty string)."""
    canonical = "\n".join(sorted(str(d) for d in set(selected)))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _invalid(message: str) -> RuleViolation:
    return RuleViolation(message, code="INVALID_SELECTION_PARAMETERS", clause=clauses.ETMAD_6_1_A)


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


@attrs.frozen(kw_only=True)
class SelectionParameters:
    """DCC-set parameters of the daily selection (``docs/selection.md``).

    - ``daily_capacity``: Devices the programme selects in one business day, across models;
    - ``pilot_size``: Devices of a model migrated before the 1.6 decision, counting migrations
      already started; never past the Bulk Migration number (the policy takes the lesser);
    - ``ramp_up``: after the 1.6 decision, ``(days since the decision, daily cap)`` steps; the
      first at day 0, days strictly increasing; beyond the last, the last cap holds.
    """

    daily_capacity: int = 10_000
    pilot_size: int = 20
    ramp_up: tuple[tuple[int, int], ...] = DEFAULT_RAMP_UP

    def __attrs_post_init__(self) -> None:
        if not _whole(self.daily_capacity):
            raise _invalid(f"daily_capacity must be a whole number, not {self.daily_capacity!r}")
        if not _whole(self.pilot_size) or self.pilot_size > BULK_MIGRATION_CEILING:
            raise _invalid(
                f"pilot_size must be a whole number from 0 to {BULK_MIGRATION_CEILING} (never "
                f"past the Bulk Migration number), not {self.pilot_size!r}"
            )
        steps = self.ramp_up
        if not steps or any(
            not isinstance(s, tuple) or len(s) != 2 or not all(_whole(v) for v in s)  # noqa: PLR2004
            for s in steps
        ):
            raise _invalid(f"ramp_up must be (days, daily cap) pairs of whole numbers: {steps!r}")
        if steps[0][0] != 0 or any(a[0] >= b[0] for a, b in itertools.pairwise(steps)):
            raise _invalid(f"ramp_up must start at day 0 with days strictly increasing: {steps!r}")

    def ramp_cap(self, days_since_authorisation: int) -> int:
        """The daily cap of the step in force ``days_since_authorisation`` days after the 1.6
        decision (the first step before day 0, the last beyond the last step)."""
        cap = self.ramp_up[0][1]
        for from_day, step_cap in self.ramp_up:
            if days_since_authorisation >= from_day:
                cap = step_cap
        return cap


@attrs.frozen(kw_only=True)
class Candidate:
    """One Device as the selection sees it on the day."""

    device_id: EUI64
    model: DeviceModelKey  # the effective Device Model (a GPF's: its Communications Hub's)
    eligible: bool
    reasons: tuple[str, ...] = ()  # the eligibility reason codes, where not eligible
    migrating: bool = False  # a Migration series in progress, or succeeded
    resting: bool = False  # its last series failed and it is not yet due again (``rest_until``)


@attrs.frozen(kw_only=True)
class ModelFacts:
    """One Device Model's gate facts as they stood at the day's business time."""

    model: DeviceModelKey
    proven: bool
    authorised_at: datetime | None  # the 1.6 decision, if any (None: not authorised)
    authorised: bool
    started: int  # migrations started (in flight and completed), as the Bulk gate counts them
    cap: int  # the Bulk Migration number
    suspended: bool
    non_migratable: bool


@attrs.frozen
class Limit:
    """A rule that held a model below its selectable Devices (or closed it) on the day."""

    code: str
    clause: str
    detail: str


@attrs.frozen(kw_only=True)
class ModelAllowance:
    """What the day's selection allowed a model, and why it was limited."""

    model: DeviceModelKey
    selectable: int
    allowed: int
    selected: int
    limits: tuple[Limit, ...]


@attrs.frozen(kw_only=True)
class Selection:
    """The day's decision: the Devices selected in order, and how each model was limited."""

    day: date
    parameters: SelectionParameters
    considered: int
    allowances: tuple[ModelAllowance, ...]
    selected: tuple[EUI64, ...]
    sha256: str


def _model_caps(
    day: date, facts: ModelFacts, parameters: SelectionParameters
) -> list[tuple[int, Limit]]:
    """Every rule's cap for the model on the day, each with its reason."""
    caps: list[tuple[int, Limit]] = []
    if facts.non_migratable:
        caps.append(
            (0, Limit("NON_MIGRATABLE_MODEL", clauses.ETMAD_1_4_A, "categorised Non-Migratable"))
        )
    if facts.suspended:
        caps.append((0, Limit("MODEL_SUSPENDED", clauses.ETMAD_6_1_D, "migration is suspended")))
    if facts.authorised:
        # A decision with no business time is a standing fact: the last step holds.
        at = facts.authorised_at
        days = (day - utc(at).date()).days if at is not None else parameters.ramp_up[-1][0]
        cap = parameters.ramp_cap(days)
        caps.append(
            (
                cap,
                Limit(
                    "RAMP_UP",
                    RAMP_UP_CLAUSE,
                    f"ramp-up: {cap} a day, {days} days after the 1.6 decision",
                ),
            )
        )
    else:
        pilot_left = max(0, parameters.pilot_size - facts.started)
        caps.append(
            (
                pilot_left,
                Limit(
                    "PILOT_SIZE",
                    clauses.ETMAD_1_6,
                    f"no 1.6 decision: pilot of {parameters.pilot_size}, {facts.started} started",
                ),
            )
        )
        bulk_left = max(0, facts.cap - facts.started)
        caps.append(
            (
                bulk_left,
                Limit(
                    "BULK_MIGRATION_NUMBER",
                    clauses.ETMAD_2_BULK,
                    f"no 1.6 decision: at most {facts.cap} migrations, {facts.started} started",
                ),
            )
        )
    return caps


def select_candidates(
    day: date,
    candidates: Sequence[Candidate],
    models: Sequence[ModelFacts],
    parameters: SelectionParameters,
) -> Selection:
    """Select the day's Devices (pure; see the module's docstring for the policy)."""
    facts = {m.model: m for m in models}
    selectable: dict[DeviceModelKey, list[EUI64]] = {}
    for c in candidates:
        if c.eligible and not c.migrating and not c.resting and c.model in facts:
            selectable.setdefault(c.model, []).append(c.device_id)
    order = sorted(set(facts) | set(selectable), key=lambda k: (str(k), k))
    pools = {k: sorted(set(selectable.get(k, ())), key=lambda d: d.value) for k in order}

    allowed: dict[DeviceModelKey, int] = {}
    limits: dict[DeviceModelKey, list[Limit]] = {}
    for key in order:
        caps = _model_caps(day, facts[key], parameters)
        count = len(pools[key])
        allowed[key] = min([count, *(cap for cap, _ in caps)])
        limits[key] = [limit for cap, limit in caps if cap < count or cap == 0]

    # The programme's capacity, shared one Device at a time in model order.
    granted = dict.fromkeys(order, 0)
    remaining = parameters.daily_capacity
    open_models = [k for k in order if allowed[k] > 0]
    while remaining > 0 and open_models:
        for key in list(open_models):
            if remaining == 0:
                break
            granted[key] += 1
            remaining -= 1
            if granted[key] == allowed[key]:
                open_models.remove(key)
    for key in order:
        if granted[key] < allowed[key]:
            limits[key].append(
                Limit(
                    "PROGRAMME_CAPACITY",
                    CAPACITY_CLAUSE,
                    f"the programme's daily capacity of {parameters.daily_capacity} is used",
                )
            )

    selected = tuple(d for key in order for d in pools[key][: granted[key]])
    return Selection(
        day=day,
        parameters=parameters,
        considered=len(candidates),
        allowances=tuple(
            ModelAllowance(
                model=key,
                selectable=len(pools[key]),
                allowed=allowed[key],
                selected=granted[key],
                limits=tuple(limits[key]),
            )
            for key in order
        ),
        selected=selected,
        sha256=selection_sha256(selected),
    )


# --- selected again after a failed series (1.3) -----------------------------------------------

#: Our choice (``docs/selection.md``): a Device whose series completed unsuccessfully rests this
#: long before it is selected again, unless a remediation of it is resolved sooner.
DEFAULT_REST: Final = timedelta(days=7)
#: A remediation still open: the Device waits for its outcome.
UNTIL_REMEDIATED: Final = datetime.max.replace(tzinfo=UTC)


def rest_until(migration: Migration, rest: timedelta = DEFAULT_REST) -> datetime | None:
    """When a Device whose latest series completed unsuccessfully may be selected again.

    ETMAD 1.3: a Failed Migration does not make a Device Ineligible by itself; subject to 1.4,
    the DCC attempts migration again as soon as reasonably practicable. Our reading of
    "reasonably practicable" (``docs/decisions.md``):

    - a remediation assigned after the series (1.7, 1.9) and not yet resolved: not until it is
      (``UNTIL_REMEDIATED``) — the owner is working on the cause;
    - a remediation resolved after the series ended: at once (from its resolution);
    - otherwise ``rest`` after the series ended (default 7 days, the retry window's length),
      so a Device that just failed is not sent the same command again the next morning.

    None: the Device is not resting (no series ended unsuccessfully, or one is in progress).
    """
    series = migration.current_series
    if series.ended_at is None or series.succeeded_at is not None:
        return None
    after = [r for r in migration.remediations if r.series == series.number]
    if after:
        latest = after[-1]
        return latest.last_at if latest.resolved else UNTIL_REMEDIATED
    return series.ended_at + rest


# --- the day's record ---------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class DaySelected(DomainEvent):
    """The day's selection, with its inputs (parameters, how many Devices were considered, each
    model's allowance) and the SHA-256 of the selected set (``selection_sha256``)."""

    TYPE = "etmad.selection.DaySelected.v1"
    day: str  # YYYY-MM-DD
    parameters: SelectionParameters
    considered: int
    allowances: tuple[ModelAllowance, ...]
    selected: tuple[EUI64, ...]
    selected_sha256: str
    clause: str = clauses.ETMAD_6_1_A


EVENTS: tuple[type[DomainEvent], ...] = (DaySelected,)


@attrs.frozen(kw_only=True)
class DaySelection:
    """The ``selection:<YYYY-MM-DD>`` aggregate: one recorded selection per business day."""

    day: str
    selected: tuple[EUI64, ...]
    selected_sha256: str
    version: int = 0

    @staticmethod
    def record(existing: DaySelection | None, selection: Selection) -> DaySelected:
        """Record the day's selection; a day is selected once (``DAY_ALREADY_SELECTED``)."""
        DaySelection.check_open(existing, selection.day)
        return DaySelected(
            occurred_at=business_time(selection.day),
            day=selection.day.isoformat(),
            parameters=selection.parameters,
            considered=selection.considered,
            allowances=selection.allowances,
            selected=selection.selected,
            selected_sha256=selection.sha256,
        )

    @staticmethod
    def check_open(existing: DaySelection | None, day: date) -> None:
        """Refuse a day that already has its selection (``DAY_ALREADY_SELECTED``)."""
        if existing is not None:
            raise RuleViolation(
                f"{day.isoformat()} has already been selected "
                f"({len(existing.selected)} Devices, SHA-256 {existing.selected_sha256})",
                code="DAY_ALREADY_SELECTED",
                clause=clauses.ETMAD_6_1_A,
            )

    @classmethod
    def create(cls, event: DomainEvent, version: int) -> Self:
        if not isinstance(event, DaySelected):
            raise TypeError(f"a DaySelection starts with DaySelected, not {event.TYPE}")
        return cls(
            day=event.day,
            selected=event.selected,
            selected_sha256=event.selected_sha256,
            version=version,
        )

    @property
    def aggregate_id(self) -> str:
        return selection_aggregate_id(date.fromisoformat(self.day))

    def apply(self, event: DomainEvent, version: int) -> Self:  # noqa: ARG002 — nothing folds
        raise TypeError(f"a day's selection is recorded once; {event.TYPE} does not apply")
