"""Test material for the migration ports and the fleet simulator: a test PKI (Root, OCA, the
TCoS and ECoS Parties' transitionalCoS signing certificates) and CS02b transCoSByTransCoS
commands built the way the migration builds them (``transcos_by_transcos`` and
``build_signed_pre_command``, as ``tests/test_gbcs.py`` does)."""

from __future__ import annotations

import functools
from datetime import UTC, datetime

from adapters.codecs.gbcs import (
    Command,
    CpvChecks,
    GeneralSigningMessage,
    build_signed_pre_command,
    transcos_by_transcos,
)
from adapters.crypto.pki_builder import IssuedCertificate, PkiBuilder
from adapters.simulator import FleetSimulation
from domain.identifiers import EUI64, DeviceModelKey
from domain.smki import RemotePartyRole

#: The test transitionalCoS party of the DCC material; a fictional ECoS Party.
TCOS_PARTY = EUI64(0x90B3D51F30000004)
ECOS_PARTY = EUI64(0x90B3D51F30000007)
DEVICE = EUI64(0x00DB1234567890A0)
T0 = datetime(2023, 7, 5, 9, tzinfo=UTC)  # ECoS Migration go-live (DOMAIN.md 7)
HEALTHY = DeviceModelKey("ACME", "E100", "2.0", "0100")


class Material:
    """One test PKI and the commands signed with its keys."""

    def __init__(self) -> None:
        self.pki = PkiBuilder()
        root = self.pki.root()
        self.oca = self.pki.ca(root)
        self.tcos = self._transcos(TCOS_PARTY, "tcos-ds")
        self.ecos = self._transcos(ECOS_PARTY, "ecos-ds")
        self.supplier = self.pki.organisation_certificate(self.oca, key="supplier-ds")

    def _transcos(self, party: EUI64, key: str) -> IssuedCertificate:
        return self.pki.organisation_certificate(
            self.oca, role=RemotePartyRole.TRANSITIONAL_COS, entity_id=party, key=key
        )

    def signed(
        self,
        device: EUI64,
        counter: int,
        *,
        replacement: bytes | None = None,
        originator: EUI64 = TCOS_PARTY,
        key: str = "tcos-ds",
    ) -> GeneralSigningMessage:
        """A Signed Pre-Command putting ``replacement`` (the ECoS certificate by default) into
        ``device``'s transitionalCoS cell, as the TCoS Party signs it."""
        payload = transcos_by_transcos(
            counter=counter,
            replacement=self.ecos.der if replacement is None else replacement,
            certification_path=[self.oca.der],
            apply_time_based_cpv_checks=CpvChecks.DISAPPLY,
        )
        return build_signed_pre_command(
            payload, originator=originator, recipient=device, signer=self.pki.signer, key=key
        )

    def command(self, device: EUI64, counter: int, **kwargs: object) -> bytes:
        """The Signed Pre-Command's bytes."""
        return self.signed(device, counter, **kwargs).encode()  # type: ignore[arg-type]

    def mac_command(self, device: EUI64, counter: int) -> bytes:
        """The same as the Command the DCC makes of it (MAC header, MAC of zeros)."""
        signed = self.signed(device, counter)
        return Command(
            security_control=0x11, invocation_counter=0, message=signed, mac=bytes(12)
        ).encode()

    def fleet(self, seed: int = 2024, **kwargs: object) -> FleetSimulation:
        return FleetSimulation(
            seed=seed,
            tcos_certificate=self.tcos.der,
            ecos_certificate=self.ecos.der,
            **kwargs,  # type: ignore[arg-type]
        )


@functools.cache
def material() -> Material:
    """One PKI for the whole test run (its keys are generated once)."""
    return Material()


def device_ids(count: int, *, base: int = 0x00DB_0000_0000_0000) -> list[EUI64]:
    return [EUI64(base + i) for i in range(1, count + 1)]
