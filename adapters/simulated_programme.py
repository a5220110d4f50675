"""The migration programme on the fleet simulator: composition for ``etmad programme run``.

``build_simulated_programme(app, seed=...)`` builds, from the seed alone (nothing at import):

- a reproducible test PKI (``PkiBuilder(seed=...)``: keys derived from the seed, certificates
  and the TCoS Party's command signatures by deterministic ECDSA), with the TCoS and ECoS
  Parties' transitionalCoS digital signing certificates;
- a ``FleetSimulation`` of the application's registered Devices, each of its effective Device
  Model, each restored from the event log the first time the simulation is asked about it: a
  Device recorded as an ECoS Device holds the ECoS certificate; one whose current attempt
  instructed the TCoS Service Provider is instructed; each Device's random stream has drawn
  once per command the log says reached its transport. A command sent by a run that was
  killed during the send is lost (the simulation lived in that process): the rerun reconciles
  it, finds it not confirmed, and the retry policy decides;
- the behaviour of each Device Model: ``behaviours`` if given, else drawn from the seed
  (``seeded_behaviours``: mostly healthy, some flaky, a few rejecting);
- the ``GbcsReplacementCodec``, the ``MigrationRunner`` and the ``Programme``.

For simulations and demonstrations only: the keys come from a seed anyone can read.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta

import attrs

from adapters.codecs.gbcs import CpvChecks, StatusCode
from adapters.codecs.gbcs.replacement import GbcsReplacementCodec
from adapters.crypto.pki_builder import IssuedCertificate, PkiBuilder
from adapters.crypto.software_signer import SoftwareSigner
from adapters.simulator import (
    DeviceBehaviour,
    FleetSimulation,
    SimulatedDeviceTransport,
    SimulatedEcosServiceProvider,
    SimulatedTcosServiceProvider,
)
from application.migration import MigrationRunner
from application.programme import Programme
from application.selection import aggregates_with
from application.service import EtmadApplication
from domain.device import Device, device_aggregate_id
from domain.device_model import DeviceModel, ModelRegistered
from domain.failures import ReplyKind
from domain.identifiers import EUI64, CosParty, DeviceModelKey
from domain.migration import Migration, migration_aggregate_id
from domain.smki import RemotePartyRole

#: The simulated TCoS and ECoS Parties' Entity Identifiers (the DCC test material's
#: transitionalCoS party, and a fictional ECoS Party).
TCOS_PARTY = EUI64(0x90B3D51F30000004)
ECOS_PARTY = EUI64(0x90B3D51F30000007)
TCOS_KEY = "tcos-ds"
ECOS_KEY = "ecos-ds"
DEVICE_TIMEOUT = timedelta(seconds=60)
#: How often a Device Model is given each behaviour by ``seeded_behaviours``.
FLAKY_SHARE = 0.2
REJECTING_SHARE = 0.1
FLAKY_NO_RESPONSE = 0.3


@attrs.frozen
class SimulatedPki:
    """The programme's test PKI: the Organisation CA and the two Parties' certificates."""

    signer: SoftwareSigner
    oca: IssuedCertificate
    tcos: IssuedCertificate
    ecos: IssuedCertificate


def simulated_pki(seed: int) -> SimulatedPki:
    """A test PKI rebuilt byte for byte from ``seed``."""
    signer = SoftwareSigner(deterministic=True)
    pki = PkiBuilder(signer, seed=seed)
    oca = pki.ca(pki.root())

    def transcos(party: EUI64, key: str) -> IssuedCertificate:
        return pki.organisation_certificate(
            oca, role=RemotePartyRole.TRANSITIONAL_COS, entity_id=party, key=key
        )

    return SimulatedPki(
        signer=signer,
        oca=oca,
        tcos=transcos(TCOS_PARTY, TCOS_KEY),
        ecos=transcos(ECOS_PARTY, ECOS_KEY),
    )


def seeded_behaviours(
    models: Iterable[DeviceModelKey], seed: int
) -> dict[DeviceModelKey, DeviceBehaviour]:
    """A behaviour for each model, drawn from ``seed`` in the models' sorted order."""
    draw = random.Random(f"etmad-programme/{seed}")  # noqa: S311 — simulation, not cryptography
    behaviours = {}
    for model in sorted(set(models), key=str):
        x = draw.random()
        if x < REJECTING_SHARE:
            behaviours[model] = DeviceBehaviour.rejecting(StatusCode.BAD_CERTIFICATE)
        elif x < REJECTING_SHARE + FLAKY_SHARE:
            behaviours[model] = DeviceBehaviour.flaky(FLAKY_NO_RESPONSE)
        else:
            behaviours[model] = DeviceBehaviour.healthy()
    return behaviours


def _restorer(
    app: EtmadApplication, pki: SimulatedPki, fleet: Callable[[], FleetSimulation]
) -> Callable[[EUI64], None]:
    """Add a registered Device to the fleet, as the event log says it stands, the first time
    the simulation is asked about it (a store of 20,000 Devices is not read at start-up)."""

    def restore(device_id: EUI64) -> None:
        device = app.load(device_aggregate_id(device_id), Device.create)
        if device is None:
            return  # not registered: the fleet does not have it
        ecos = device.cos_party is CosParty.ECOS
        fleet().add_device(
            device.device_id,
            app.effective_model(device),
            credential=pki.ecos.der if ecos else None,
        )
        migration = app.load(migration_aggregate_id(device.device_id), Migration.create)
        simulated = fleet().device(device.device_id)
        if migration is None or simulated is None:
            return
        for series in migration.series:
            for attempt in series.attempts:
                outcome = attempt.device_outcome
                if attempt.command is not None and (
                    outcome is None
                    or outcome.kind not in {ReplyKind.UNAVAILABLE, ReplyKind.INTERRUPTED}
                ):
                    simulated.draw()  # the transport drew once for this command
        current = migration.current_attempt
        simulated.instructed = bool(
            current is not None
            and current.instruction is not None
            and current.instruction.confirmed
        )

    return restore


def build_simulated_programme(
    app: EtmadApplication,
    *,
    seed: int,
    behaviours: Mapping[DeviceModelKey, DeviceBehaviour] | None = None,
    device_timeout: timedelta = DEVICE_TIMEOUT,
) -> Programme:
    """The programme on a fleet simulation of ``app``'s registered Devices (module docstring)."""
    pki = simulated_pki(seed)
    if behaviours is None:
        models = [
            model.key
            for aggregate_id in aggregates_with(app, ModelRegistered.TYPE)
            if (model := app.load(aggregate_id, DeviceModel.create)) is not None
        ]
        behaviours = seeded_behaviours(models, seed)
    fleet: FleetSimulation | None = None

    def the_fleet() -> FleetSimulation:
        assert fleet is not None  # noqa: S101 — asked only once it is built
        return fleet

    fleet = FleetSimulation(
        seed=seed,
        tcos_certificate=pki.tcos.der,
        ecos_certificate=pki.ecos.der,
        behaviours=behaviours,
        on_unknown=_restorer(app, pki, the_fleet),
    )
    codec = GbcsReplacementCodec(
        signer=pki.signer,
        key=TCOS_KEY,
        tcos_party=TCOS_PARTY,
        ecos_certificate=pki.ecos.der,
        certification_path=[pki.oca.der],
        cpv_checks=CpvChecks.DISAPPLY,
    )
    runner = MigrationRunner(
        app,
        tcos=SimulatedTcosServiceProvider(fleet),
        ecos=SimulatedEcosServiceProvider(fleet),
        transport=SimulatedDeviceTransport(fleet),
        codec=codec,
        device_timeout=device_timeout,
    )
    return Programme(app, runner)
