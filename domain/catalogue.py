"""Every event type of the domain, in one place, for the event mapper."""

from __future__ import annotations

from domain import (
    anomaly_detection,
    cos_parties,
    device,
    device_model,
    incidents,
    migration,
    programme_control,
    refused_request,
    replay,
    selection,
    service_request,
)
from domain.events import DomainEvent

EVENT_TYPES: tuple[type[DomainEvent], ...] = (
    *device.EVENTS,
    *device_model.EVENTS,
    *incidents.EVENTS,
    *migration.EVENTS,
    *selection.EVENTS,
    *programme_control.EVENTS,
    *cos_parties.EVENTS,
    *service_request.EVENTS,
    *replay.EVENTS,
    *anomaly_detection.EVENTS,
    *refused_request.EVENTS,
)
