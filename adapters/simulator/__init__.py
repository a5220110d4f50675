"""A seeded fleet simulator: in-memory adapters of the migration ports
(``application/migration_ports.py``) for tests and ``etmad programme run``
(``adapters/simulated_programme.py``, ``docs/simulator.md``).

::

    fleet = FleetSimulation(seed=7, tcos_certificate=tcos_der, ecos_certificate=ecos_der,
                            behaviours={flaky_model: DeviceBehaviour.flaky(0.2)},
                            outages=[Outage(system=SimulatedSystem.ECOS_SERVICE_PROVIDER,
                                            start=t1, end=t2)])
    fleet.add_device(device_id, model)
    fleet.set_fault(other_id, DeviceBehaviour.rejecting(StatusCode.BAD_CERTIFICATE))
    tcos = SimulatedTcosServiceProvider(fleet)
    ecos = SimulatedEcosServiceProvider(fleet)
    transport = SimulatedDeviceTransport(fleet)
    clock = SimulatedClock(start)        # business time for a programme run

Nothing in ``application/`` knows it talks to a simulation.
"""

from adapters.simulator.behaviour import (
    DEFAULT_DEVICE_ELAPSED,
    DEFAULT_SERVICE_PROVIDER_ELAPSED,
    DeviceBehaviour,
    Outage,
    SimulatedSystem,
)
from adapters.simulator.clock import SimulatedClock
from adapters.simulator.device_keys import SeededDeviceSigner
from adapters.simulator.fleet import DeviceNotInFleet, FleetSimulation, SimulatedDevice
from adapters.simulator.parties import (
    SimulatedDeviceTransport,
    SimulatedEcosServiceProvider,
    SimulatedTcosServiceProvider,
)

__all__ = [
    "DEFAULT_DEVICE_ELAPSED",
    "DEFAULT_SERVICE_PROVIDER_ELAPSED",
    "DeviceBehaviour",
    "DeviceNotInFleet",
    "FleetSimulation",
    "Outage",
    "SeededDeviceSigner",
    "SimulatedClock",
    "SimulatedDevice",
    "SimulatedDeviceTransport",
    "SimulatedEcosServiceProvider",
    "SimulatedSystem",
    "SimulatedTcosServiceProvider",
]
