"""The simulated TCoS Service Provider, ECoS Service Provider and Device transport: the
migration ports (``application/migration_ports.py``) on a ``FleetSimulation``.

Each call takes the business time ``at``; replies say how long they took. A system in an
outage refuses at once (``UNAVAILABLE``, elapsed 0). A Device that does not answer costs the
caller the whole time-out (``NO_RESPONSE``, elapsed = time-out). Nothing here raises for a
refusal, an outage, an unknown Device or bytes a Device cannot read.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from adapters.simulator.behaviour import SimulatedSystem, aware
from adapters.simulator.device import Ignored, handle_command
from adapters.simulator.fleet import FleetSimulation, SimulatedDevice
from application.migration_ports import DeviceReply, ReplyKind, ServiceProviderReply
from domain.identifiers import EUI64

_REFUSED_AT_ONCE = timedelta(0)


class _ServiceProvider:
    """What the two simulated Service Providers share: outages, unknown Devices, elapsed."""

    system: SimulatedSystem
    name: str

    def __init__(self, fleet: FleetSimulation) -> None:
        self.fleet = fleet

    def _unavailable(self, at: datetime) -> ServiceProviderReply | None:
        if self.fleet.is_down(self.system, aware(at)):
            return ServiceProviderReply(
                kind=ReplyKind.UNAVAILABLE,
                reason=f"the {self.name} is unavailable",
                elapsed=_REFUSED_AT_ONCE,
            )
        return None

    def _answer(self, *, confirmed: bool, reason: str = "") -> ServiceProviderReply:
        return ServiceProviderReply(
            kind=ReplyKind.ANSWERED,
            confirmed=confirmed,
            reason=reason,
            elapsed=self.fleet.service_provider_elapsed,
        )

    def _unknown(self, device_id: EUI64) -> ServiceProviderReply:
        return self._answer(
            confirmed=False, reason=f"Device {device_id} is not known to the {self.name}"
        )

    def _confirm(self, device_id: EUI64, at: datetime) -> ServiceProviderReply:
        """Confirmed when the Device holds a credential that pertains to the ECoS Party."""
        refused = self._unavailable(at)
        if refused is not None:
            return refused
        device = self.fleet.device(device_id)
        if device is None:
            return self._unknown(device_id)
        if self.fleet.pertains_to_ecos(device.credential):
            return self._answer(confirmed=True)
        return self._answer(
            confirmed=False,
            reason="the Device's transitionalCoS credential does not pertain to the ECoS Party",
        )


class SimulatedTcosServiceProvider(_ServiceProvider):
    """``TcosServiceProvider`` on the simulation: acknowledges instructions; its review
    confirms an instructed Device that is not yet migrated, unless the Device's behaviour
    refuses; confirms completion when the Device holds the ECoS Party's credential."""

    system = SimulatedSystem.TCOS_SERVICE_PROVIDER
    name = "TCoS Service Provider"

    def instruct(self, device_id: EUI64, at: datetime) -> ServiceProviderReply:
        refused = self._unavailable(at)
        if refused is not None:
            return refused
        device = self.fleet.device(device_id)
        if device is None:
            return self._unknown(device_id)
        device.instructed = True
        return self._answer(confirmed=True)

    def review(self, device_id: EUI64, at: datetime) -> ServiceProviderReply:
        refused = self._unavailable(at)
        if refused is not None:
            return refused
        device = self.fleet.device(device_id)
        if device is None:
            return self._unknown(device_id)
        if not device.instructed:
            return self._answer(
                confirmed=False, reason="no instruction to initiate ECoS Migration was received"
            )
        if self.fleet.pertains_to_ecos(device.credential):
            return self._answer(
                confirmed=False,
                reason="the Device's credential already pertains to the ECoS Party",
            )
        refusal = self.fleet.behaviour_of(device_id).review_refusal
        if refusal is not None:
            return self._answer(confirmed=False, reason=refusal)
        return self._answer(confirmed=True)

    def confirm(self, device_id: EUI64, at: datetime) -> ServiceProviderReply:
        return self._confirm(device_id, at)


class SimulatedEcosServiceProvider(_ServiceProvider):
    """``EcosServiceProvider`` on the simulation: confirms completion when the Device holds
    the ECoS Party's credential."""

    system = SimulatedSystem.ECOS_SERVICE_PROVIDER
    name = "ECoS Service Provider"

    def confirm(self, device_id: EUI64, at: datetime) -> ServiceProviderReply:
        return self._confirm(device_id, at)


class SimulatedDeviceTransport:
    """``DeviceTransport`` on the simulation.

    In order: an outage of the transport refuses (``UNAVAILABLE``); a Device not in the fleet
    does not answer; the Device's random stream decides whether the command is lost on the
    way (``no_response_probability``); the Device ignores a command it would not act on
    (``adapters/simulator/device.py``); it executes the rest and answers after its
    behaviour's ``elapsed``, which past ``timeout`` counts as no response.
    """

    def __init__(self, fleet: FleetSimulation) -> None:
        self.fleet = fleet

    def send(
        self, device_id: EUI64, command: bytes, at: datetime, *, timeout: timedelta
    ) -> DeviceReply:
        aware(at)
        if not isinstance(timeout, timedelta) or timeout < timedelta(0):
            raise ValueError(f"a time-out is a non-negative timedelta, not {timeout!r}")
        if self.fleet.is_down(SimulatedSystem.DEVICE_TRANSPORT, at):
            return DeviceReply(
                kind=ReplyKind.UNAVAILABLE,
                detail="the transport to Devices is unavailable",
                elapsed=_REFUSED_AT_ONCE,
            )
        device = self.fleet.device(device_id)
        if device is None:
            return _no_response(timeout, f"no Device {device_id} answered")
        return self._deliver(device, command, at, timeout)

    def _deliver(
        self, device: SimulatedDevice, command: bytes, at: datetime, timeout: timedelta
    ) -> DeviceReply:
        behaviour = self.fleet.behaviour_of(device.device_id)
        if device.draw() < behaviour.no_response_probability:
            return _no_response(timeout, "no response: the command was lost")
        handled = handle_command(
            self.fleet, device, command, behaviour=behaviour, answered_at=at + behaviour.elapsed
        )
        if isinstance(handled, Ignored):
            return _no_response(timeout, f"no response: the Device ignored it ({handled.detail})")
        if behaviour.elapsed > timeout:
            return _no_response(timeout, f"no response within the time-out of {timeout}")
        return DeviceReply(
            kind=ReplyKind.ANSWERED, response=handled.response, elapsed=behaviour.elapsed
        )


def _no_response(timeout: timedelta, detail: str) -> DeviceReply:
    return DeviceReply(kind=ReplyKind.NO_RESPONSE, detail=detail, elapsed=timeout)
