"""``FleetSimulation``: a seeded, in-memory fleet of Devices, the state behind the simulated
TCoS and ECoS Service Providers and Device transport (``adapters/simulator/parties.py``).

The simulation is told which Devices exist and of which Device Model (``add_device``; a
firmware upgrade moves a Device: ``set_model``), how each Device Model behaves
(``set_behaviour``), which Devices have a fault of their own (``set_fault``) and when a
system is down (``add_outage``). It keeps, per Device, the credential the Device holds in its
transitionalCoS cell (the TCoS Party's until a replacement succeeds), what its Supplier cells
hold once an SRV 6.23 command replaced them, the last command counter it accepted, whether the
TCoS Service Provider was instructed, and its own random stream.

Determinism: every random draw comes from a ``random.Random`` seeded with the simulation's
seed and the Device ID, one draw per command sent to that Device. The same seed and the same
calls give the same replies (byte for byte: Devices sign with keys derived from the seed, by
deterministic ECDSA); what one Device draws never depends on calls made for another.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta

import attrs

from adapters.crypto.smki import parse_organisation_certificate
from adapters.simulator.behaviour import (
    DEFAULT_SERVICE_PROVIDER_ELAPSED,
    DeviceBehaviour,
    Outage,
    SimulatedSystem,
    aware,
)
from adapters.simulator.device_keys import SeededDeviceSigner
from domain.identifiers import EUI64, DeviceModelKey
from domain.smki import KeyUsage, OrganisationCertificate, RemotePartyRole, TrustAnchorCell


class DeviceNotInFleet(LookupError):  # noqa: N818 — reads as the fact it reports
    """The simulation was not told of this Device (``add_device``)."""


def transcos_credential(der: bytes, *, name: str) -> OrganisationCertificate:
    """``der`` read as an Organisation Certificate that can sit in a Device's transitionalCoS
    cell (role transitionalCoS, digitalSignature), else ``ValueError``."""
    certificate = parse_organisation_certificate(der)
    if certificate.role is not RemotePartyRole.TRANSITIONAL_COS or (
        certificate.key_usage is not KeyUsage.DIGITAL_SIGNATURE
    ):
        raise ValueError(
            f"{name} must be a transitionalCoS digitalSignature Organisation Certificate, not "
            f"{certificate.role.name} {certificate.key_usage}"
        )
    return certificate


@attrs.define(kw_only=True)
class SimulatedDevice:
    """One Device as the simulation holds it (the simulated adapters read and move it)."""

    device_id: EUI64
    model: DeviceModelKey
    credential: OrganisationCertificate  # what its transitionalCoS cell holds
    stream: random.Random = attrs.field(repr=False)
    last_counter: int | None = None  # the last command counter it accepted from that cell
    instructed: bool = False  # the TCoS Service Provider was instructed to initiate
    # what its Supplier cells hold: set by an SRV 6.23 supplierByTransCoS command it executed
    supplier_cells: dict[TrustAnchorCell, OrganisationCertificate] = attrs.field(factory=dict)

    def draw(self) -> float:
        """The next number in [0, 1) of this Device's random stream."""
        return self.stream.random()


class FleetSimulation:
    """A seeded fleet of simulated Devices and the behaviours configured for them.

    ``tcos_certificate`` and ``ecos_certificate`` (DER) are the TCoS and ECoS Parties'
    transitionalCoS digital signing certificates: every Device starts holding the first
    (unless ``add_device`` says otherwise) and is migrated when it holds one of the ECoS
    Party's (same Entity Identifier as the second). ``behaviours`` maps Device Models to their
    behaviour; a model not in it behaves as ``default_behaviour``.
    """

    def __init__(
        self,
        *,
        seed: int,
        tcos_certificate: bytes,
        ecos_certificate: bytes,
        default_behaviour: DeviceBehaviour | None = None,
        behaviours: Mapping[DeviceModelKey, DeviceBehaviour] | None = None,
        outages: Iterable[Outage] = (),
        service_provider_elapsed: timedelta = DEFAULT_SERVICE_PROVIDER_ELAPSED,
        on_unknown: Callable[[EUI64], None] | None = None,
    ) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"a simulation seed is an int, not {seed!r}")
        if not isinstance(service_provider_elapsed, timedelta) or (
            service_provider_elapsed < timedelta(0)
        ):
            raise ValueError("service_provider_elapsed is a non-negative timedelta")
        self.seed = seed
        self.tcos_credential = transcos_credential(tcos_certificate, name="tcos_certificate")
        self.ecos_credential = transcos_credential(ecos_certificate, name="ecos_certificate")
        if self.tcos_credential.entity_id == self.ecos_credential.entity_id:
            raise ValueError("the TCoS and ECoS Parties have different Entity Identifiers")
        self.default_behaviour = default_behaviour or DeviceBehaviour.healthy()
        self.service_provider_elapsed = service_provider_elapsed
        self.device_signer = SeededDeviceSigner(seed)
        self._behaviours: dict[DeviceModelKey, DeviceBehaviour] = dict(behaviours or {})
        self._faults: dict[EUI64, DeviceBehaviour] = {}
        self._outages: list[Outage] = list(outages)
        self._devices: dict[EUI64, SimulatedDevice] = {}
        self._read: dict[bytes, OrganisationCertificate] = {}
        # Called with a Device the fleet does not have yet, which it may ``add_device``: a fleet
        # restored from a store adds each Device the first time something asks for it.
        self._on_unknown = on_unknown

    # ------------------------------------------------------------------------- the fleet

    def add_device(
        self, device_id: EUI64, model: DeviceModelKey, *, credential: bytes | None = None
    ) -> None:
        """Put a Device of ``model`` in the fleet, holding ``credential`` (DER) in its
        transitionalCoS cell: by default the TCoS Party's certificate."""
        if device_id in self._devices:
            raise ValueError(f"Device {device_id} is already in the simulated fleet")
        held = self.tcos_credential if credential is None else self.read_credential(credential)
        self.device_signer.derive(str(device_id))
        self._devices[device_id] = SimulatedDevice(
            device_id=device_id,
            model=model,
            credential=held,
            stream=random.Random(f"etmad-simulator/{self.seed}/{device_id}"),  # noqa: S311 — simulation, not cryptography
        )

    def read_credential(self, der: bytes, *, name: str = "credential") -> OrganisationCertificate:
        """``transcos_credential``, remembered: a fleet reads the same few certificates."""
        read = self._read.get(der)
        if read is None:
            read = self._read[der] = transcos_credential(der, name=name)
        return read

    def set_model(self, device_id: EUI64, model: DeviceModelKey) -> None:
        """Move a Device to another Device Model (a firmware upgrade): it behaves as that
        model from the next call on."""
        self._known(device_id).model = model

    def model_of(self, device_id: EUI64) -> DeviceModelKey:
        return self._known(device_id).model

    def devices(self) -> Sequence[EUI64]:
        """The Devices of the fleet so far, in the order they were added."""
        return tuple(self._devices)

    def device(self, device_id: EUI64) -> SimulatedDevice | None:
        """The simulated Device, or None if the fleet has no such Device."""
        return self._lookup(device_id)

    def _lookup(self, device_id: EUI64) -> SimulatedDevice | None:
        device = self._devices.get(device_id)
        if device is None and self._on_unknown is not None:
            self._on_unknown(device_id)
            device = self._devices.get(device_id)
        return device

    # -------------------------------------------------------------------- behaviours

    def set_behaviour(self, model: DeviceModelKey, behaviour: DeviceBehaviour) -> None:
        """How Devices of ``model`` behave from now on."""
        self._behaviours[model] = behaviour

    def set_fault(self, device_id: EUI64, behaviour: DeviceBehaviour) -> None:
        """Give one Device a behaviour of its own, replacing its model's until cleared."""
        self._known(device_id)
        self._faults[device_id] = behaviour

    def clear_fault(self, device_id: EUI64) -> None:
        """The Device behaves as its model again."""
        self._faults.pop(device_id, None)

    def behaviour_of(self, device_id: EUI64) -> DeviceBehaviour:
        """The Device's own fault if it has one, else its model's, else the default."""
        fault = self._faults.get(device_id)
        if fault is not None:
            return fault
        return self._behaviours.get(self._known(device_id).model, self.default_behaviour)

    def add_outage(self, outage: Outage) -> None:
        self._outages.append(outage)

    def is_down(self, system: SimulatedSystem, at: datetime) -> bool:
        """Whether an outage covers ``system`` at business time ``at``."""
        aware(at)
        return any(outage.covers(system, at) for outage in self._outages)

    # ------------------------------------------------------------------- what it knows

    def credential(self, device_id: EUI64) -> bytes:
        """The DER certificate the Device holds in its transitionalCoS cell."""
        return self._known(device_id).credential.certificate.der

    def supplier_certificates(self, device_id: EUI64) -> dict[TrustAnchorCell, bytes]:
        """The DER certificates the Device holds in its Supplier cells, by cell (those an
        SRV 6.23 supplierByTransCoS command put there; empty before the first)."""
        return {
            cell: held.certificate.der
            for cell, held in self._known(device_id).supplier_cells.items()
        }

    def holds_ecos_credential(self, device_id: EUI64) -> bool:
        """Whether the Device's transitionalCoS credential pertains to the ECoS Party (its
        Entity Identifier is the ECoS Party's): the Device is migrated."""
        device = self._lookup(device_id)
        return device is not None and self.pertains_to_ecos(device.credential)

    def pertains_to_ecos(self, credential: OrganisationCertificate) -> bool:
        return credential.entity_id == self.ecos_credential.entity_id

    def processes_srv623(self, device_id: EUI64) -> bool:
        """Whether the Device processes an SRV 6.23 'CoS Update Security Credentials'.

        False for a Device not in the fleet. A Device not migrated processes it (from the TCoS
        Party) as it always has; a migrated one unless its behaviour fails SRV 6.23."""
        device = self._lookup(device_id)
        if device is None:
            return False
        if not self.pertains_to_ecos(device.credential):
            return True
        return self.behaviour_of(device_id).processes_srv623_once_migrated

    def device_public_key(self, device_id: EUI64) -> bytes:
        """The DER SubjectPublicKeyInfo the Device's responses verify with."""
        self._known(device_id)
        return self.device_signer.public_key(str(device_id))

    def _known(self, device_id: EUI64) -> SimulatedDevice:
        device = self._lookup(device_id)
        if device is None:
            raise DeviceNotInFleet(f"Device {device_id} is not in the simulated fleet")
        return device
