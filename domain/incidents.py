"""ECoS Migration Incidents (DOMAIN.md 4.4; ETMAD 3.7(d)-(g)): the incident record.

An ``Incident`` aggregate (``incident:<id>``) records one fact:

- ``IncidentRaised``: the DCC's monitoring identified a problem with the DCC Systems as used for
  ECoS Migration (3.7(e)): one DCC system (a Service Provider or the transport) unavailable to
  attempts of several Device Models (``domain.programme_policies.assess_system_problem``), with
  its category (3.7(g)), to whom its resolution is assigned (3.7(d)) and the evidence. Its id is
  ``incident:dcc/<system>/<first seen>``: one incident per outage of one system, where an
  outage is the system's unavailability seen with no gap longer than the rule's window
  (``application.process_managers.IncidentMonitor`` keeps the outages);
- ``PartyIncidentRefused``: a Party asked to raise an ECoS Migration Incident about the failed
  steps of one Device's ECoS Migration and was refused (3.7(f));
- ``PartyIncidentAdmitted``: such a request admitted because the ECoS Migration Error Handling
  and Retry Approach requires it (3.7(f)'s exception).

Their ids are ``incident:party/<party>/<the Party's reference>``. Resolution is not recorded
yet: an incident is one event so far.

Shares (floats) are recorded as their shortest decimal text (``"0.25"``), which reads back to
the same float, so the canonical JSON of an event never depends on how floats are formatted.
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta
from typing import Self
from urllib.parse import quote

import attrs

from domain import clauses
from domain.errors import RuleViolation
from domain.events import DomainEvent, utc
from domain.identifiers import EUI64, DeviceModelKey
from domain.programme_policies import (
    AffectedSystem,
    DccSystem,
    IncidentAssessment,
    refuse_party_raised_incident,
)


def _quote(text: str) -> str:
    return quote(text, safe="")


def incident_aggregate_id(incident_id: str) -> str:
    return f"incident:{incident_id}"


def system_incident_id(system: DccSystem, first_seen: datetime) -> str:
    """``dcc/<system>/<first seen, compact UTC>``: ``dcc/transport/20240304T110500.000000Z``."""
    stamp = utc(first_seen).strftime("%Y%m%dT%H%M%S.%fZ")
    return f"dcc/{system.name.lower()}/{stamp}"


def party_incident_id(party: str, reference: str) -> str:
    """``party/<party>/<reference>``, each percent-encoded."""
    return f"party/{_quote(party)}/{_quote(reference)}"


def _decimal(value: float) -> str:
    return repr(float(value))


class IncidentKind(enum.StrEnum):
    RAISED = "raised"  # by the DCC's monitoring (3.7(e))
    PARTY_REFUSED = "party_refused"  # a Party's request, refused (3.7(f))
    PARTY_ADMITTED = "party_admitted"  # a Party's request, admitted (3.7(f)'s exception)


# --- events ---------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class IncidentRaised(DomainEvent):
    """The DCC raised an ECoS Migration Incident: one DCC system unavailable across Device
    Models in the rule's window ending at ``occurred_at``, with the evidence it counted."""

    TYPE = "etmad.incident.Raised.v1"
    system: DccSystem
    category: int  # 3.7(g): 1 (critical) to 5 (minimal)
    assigned_to: str  # 3.7(d)
    first_seen: datetime  # the first unavailability of this outage
    last_seen: datetime  # the latest in the window when raised
    models: tuple[DeviceModelKey, ...]  # the Device Models it touched in the window
    models_attempted: int  # Device Models with attempts completed in the window
    devices: int
    failures: int
    window: timedelta
    minimum_models: int
    category_shares: tuple[str, ...]  # the rule's shares, decimal text
    rule: str
    reason: str
    clause: str = clauses.ETMAD_3_7_E
    category_clause: str = clauses.ETMAD_3_7_G
    assignment_clause: str = clauses.ETMAD_3_7_D


@attrs.frozen(kw_only=True)
class PartyIncidentRefused(DomainEvent):
    """A Party's ECoS Migration Incident about one Device's failed steps, refused (3.7(f))."""

    TYPE = "etmad.incident.PartyIncidentRefused.v1"
    party: str
    about: EUI64
    reference: str
    description: str
    reason: str
    code: str
    clause: str = clauses.ETMAD_3_7_F


@attrs.frozen(kw_only=True)
class PartyIncidentAdmitted(DomainEvent):
    """A Party's ECoS Migration Incident about one Device, admitted because the Error
    Handling and Retry Approach requires it (3.7(f))."""

    TYPE = "etmad.incident.PartyIncidentAdmitted.v1"
    party: str
    about: EUI64
    reference: str
    description: str
    reason: str
    clause: str = clauses.ETMAD_3_7_F


EVENTS: tuple[type[DomainEvent], ...] = (
    IncidentRaised,
    PartyIncidentRefused,
    PartyIncidentAdmitted,
)

# --- the aggregate --------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Incident:
    """One ECoS Migration Incident, or one Party's request to raise one."""

    incident_id: str
    kind: IncidentKind
    at: datetime | None
    system: DccSystem | None = None
    category: int | None = None
    assigned_to: str | None = None
    party: str | None = None
    about: EUI64 | None = None
    reason: str = ""
    version: int = 0

    @staticmethod
    def raise_for(
        assessment: IncidentAssessment,
        affected: AffectedSystem,
        *,
        first_seen: datetime,
        last_seen: datetime,
    ) -> IncidentRaised:
        """3.7(e): raise an incident for one system the assessment found unavailable across
        at least the rule's minimum of Device Models; its category (3.7(g)) is by the share of
        the models attempted in the window that this system touched, and its resolution is
        the DCC's (3.7(d)). Never for fewer models: that is one model's or one Device's
        problem (``NOT_A_SYSTEM_PROBLEM``)."""
        rule = assessment.rule
        if (
            not assessment.raise_incident
            or affected not in assessment.systems
            or len(affected.models) < rule.minimum_models
        ):
            raise RuleViolation(
                f"{affected.system} was unavailable across {len(affected.models)} Device Models "
                f"(fewer than {rule.minimum_models}): not a problem with the DCC's systems",
                code="NOT_A_SYSTEM_PROBLEM",
                clause=clauses.ETMAD_3_7_E,
            )
        share = len(affected.models) / assessment.models_attempted
        category = rule.category(share)
        reason = (
            f"{affected.system} unavailable to {affected.failures} attempts of "
            f"{affected.devices} Devices across {len(affected.models)} of "
            f"{assessment.models_attempted} Device Models attempted in the "
            f"{rule.window.total_seconds() / 3600:g} h to {utc(assessment.at).isoformat()} "
            f"({share:.0%}): Category {category}; resolution assigned to the DCC, which can "
            "resolve a problem with its own systems without a Responsible Supplier"
        )
        assert assessment.assigned_to is not None  # noqa: S101 — set when raising
        return IncidentRaised(
            occurred_at=assessment.at,
            system=affected.system,
            category=category,
            assigned_to=assessment.assigned_to,
            first_seen=utc(first_seen),
            last_seen=utc(last_seen),
            models=affected.models,
            models_attempted=assessment.models_attempted,
            devices=affected.devices,
            failures=affected.failures,
            window=rule.window,
            minimum_models=rule.minimum_models,
            category_shares=tuple(_decimal(s) for s in rule.category_shares),
            rule=rule.version,
            reason=reason,
        )

    @staticmethod
    def request_by_party(
        *,
        party: str,
        about: EUI64,
        reference: str,
        description: str,
        at: datetime,
        required_by_error_handling: bool = False,
    ) -> PartyIncidentRefused | PartyIncidentAdmitted:
        """3.7(f): a Party's request to raise an ECoS Migration Incident about one Device's
        failed steps is refused, unless the Error Handling and Retry Approach requires it.
        Either way the decision is recorded."""
        for value, what in ((party, "the Party"), (reference, "its reference")):
            if not value.strip():
                raise RuleViolation(
                    f"a Party's incident names {what}",
                    code="RATIONALE_REQUIRED",
                    clause=clauses.ETMAD_3_7_F,
                )
        at = utc(at)
        try:
            admitted = refuse_party_raised_incident(
                party, about, required_by_error_handling=required_by_error_handling
            )
        except RuleViolation as refused:
            return PartyIncidentRefused(
                occurred_at=at,
                party=party,
                about=about,
                reference=reference,
                description=description,
                reason=refused.message,
                code=refused.code,
            )
        return PartyIncidentAdmitted(
            occurred_at=at,
            party=party,
            about=about,
            reference=reference,
            description=description,
            reason=admitted.reason,
        )

    @classmethod
    def create(cls, event: DomainEvent, version: int) -> Self:
        match event:
            case IncidentRaised():
                assert event.occurred_at is not None  # noqa: S101 — raise_for gives a time
                return cls(
                    incident_id=system_incident_id(event.system, event.first_seen),
                    kind=IncidentKind.RAISED,
                    at=event.occurred_at,
                    system=event.system,
                    category=event.category,
                    assigned_to=event.assigned_to,
                    reason=event.reason,
                    version=version,
                )
            case PartyIncidentRefused() | PartyIncidentAdmitted():
                refused = isinstance(event, PartyIncidentRefused)
                return cls(
                    incident_id=party_incident_id(event.party, event.reference),
                    kind=IncidentKind.PARTY_REFUSED if refused else IncidentKind.PARTY_ADMITTED,
                    at=event.occurred_at,
                    party=event.party,
                    about=event.about,
                    reason=event.reason,
                    version=version,
                )
        raise TypeError(f"an Incident starts with Raised or a Party's request, not {event.TYPE}")

    @property
    def aggregate_id(self) -> str:
        return incident_aggregate_id(self.incident_id)

    def apply(self, event: DomainEvent, version: int) -> Self:  # noqa: ARG002 — nothing folds
        raise TypeError(f"an incident is recorded once (resolution is not built); {event.TYPE}")
