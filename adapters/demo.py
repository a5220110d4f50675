"""``etmad demo``: a generated sample estate, loaded through the command interface, summarised.

Three parts, each usable on its own:

- ``generate_estate(seed, devices, models)`` — a pure, seeded generator of a sample estate as a
  list of ``etmad apply`` commands (the JSON vocabulary of ``application.commands``), in the
  order a log would hold them: Device Models; Devices on Communications Hubs with MPxNs,
  commissioned over 2019-2023; Registration Data with recent and pending changes of supplier;
  technical issues; firmware upgrades; meter exchanges and decommissionings; proving on a few
  models (6.1(b), 6.2) with the 1.6 decision; migrations started against the Bulk gate; one
  model categorised Non-Migratable, disagreed with and appealed (1.13); one model suspended.
- ``load_estate(app, commands)`` — applies them one by one (each its own transaction), checked
  against the published JSON Schema first, counting rejections.
- ``summarise(app, at)`` and ``render(summary)`` — eligibility at the as-of time by reason
  (1.3, 1.4) and the Bulk Migration gate per Device Model (1.6, 6.1(b), 6.2), read back from
  the store.

The estate's dates sit around ECoS Migration go-live (5 July 2023, DOMAIN.md 7); the summary is
taken at ``AS_OF`` (10 July 2023, noon UTC). Every name (manufacturers, suppliers) is fictional.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import textwrap
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Final

import attrs

from adapters.bootstrap import (
    DEFAULT_STORE,
    StoreLocation,
    build_application,
    settings_from_env,
)
from application.commands import execute
from application.errors import UnknownDevice, UnknownDeviceModel
from application.mapper import Envelope
from application.serialization import JSON, to_primitive
from application.service import EtmadApplication, close_application
from application.settings import Settings
from domain.bulk_gate import AUTO_AUTHORISE_POLICY
from domain.device import Registered
from domain.device_model import DeviceModel, ModelRegistered
from domain.eligibility import REASON_CLAUSES, ReasonCode
from domain.events import DomainEvent
from domain.identifiers import (
    EUI64,
    DeviceModelKey,
    DeviceType,
    SmetsGeneration,
    mpan_check_digit,
)

EXIT_OK: Final = 0
EXIT_REJECTED: Final = 1
EXIT_USAGE: Final = 2

#: The moment the summary describes: five days after ECoS Migration went live (DOMAIN.md 7).
AS_OF: Final = datetime(2023, 7, 10, 12, 0, tzinfo=UTC)
GO_LIVE: Final = datetime(2023, 7, 5, 0, 0, tzinfo=UTC)
MIN_MODELS: Final = 6
MIN_DEVICES: Final = 20

Command = dict[str, JSON]

# --- the generator --------------------------------------------------------------------------

_ISSUER: Final = "demo-smki-organisation-ca"
TCOS_CERTIFICATE: Final[Command] = {"serial": "4097", "issuer": _ISSUER}
#: A later TCoS Party certificate: the TCoS->TCoS housekeeping replacement of 6.1(b)(i).
TCOS_CERTIFICATE_2: Final[Command] = {"serial": "4098", "issuer": _ISSUER}
ECOS_CERTIFICATE: Final[Command] = {"serial": "8193", "issuer": _ISSUER}
#: The DUIS Request ID originator of the demo's SRV 6.23s (a fictional supplier's EUI-64).
_SRV_ORIGINATOR: Final = "90-B3-D5-1F-30-01-00-00"

_METER_MAKERS: Final = (
    "Acme Metering",
    "Borealis Meters",
    "Cobalt Devices",
    "Dunmore Instruments",
    "Elstree Metering",
)
_HUB_MAKERS: Final = ("Harlow Communications", "Isca Networks", "Jura Telemetry")
_SMETS1_MAKER: Final = "Fenwick Legacy Metering"
_SUPPLIERS: Final = ("SUPA", "SUPB", "SUPC", "SUPD", "SUPE", "SUPF", "SUPG", "SUPH")
_SUPPLIER_WEIGHTS: Final = (22, 18, 15, 12, 10, 9, 8, 6)
_ISSUE_REASONS: Final = (
    "no response to scheduled reads for 5 days",
    "firmware image activation failed",
    "HAN join to the Communications Hub lost",
    "clock drift beyond tolerance",
    "tamper alert raised by the Device",
)
#: A Bulk Migration number below this is reached by one model's migrations started. (At the
#: default of 300 it is not: each start replays the model's history, so filling 300 would
#: dominate the demo's loading time.)
_SHOW_CAP_BELOW: Final = 50
_TYPE_PREFIX: Final = {DeviceType.ESME: "E", DeviceType.GSME: "G", DeviceType.CHF: "CH"}


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _between(rng: random.Random, start: datetime, end: datetime) -> datetime:
    """A moment in [start, end), to the minute."""
    minutes = max(1, int((end - start).total_seconds() // 60))
    return start + timedelta(minutes=rng.randrange(minutes))


def _midnight(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


@attrs.define(eq=False)
class _Model:
    key: dict[str, str]
    device_type: DeviceType
    smets: SmetsGeneration
    rank: int
    family: tuple[str, str, str]
    weight: float

    @property
    def label(self) -> str:
        return "/".join(self.key.values())


@attrs.define
class _MeterPoint:
    mpxn: str
    #: (effective from, supplier), oldest first; the first entry is the initial appointment.
    history: list[tuple[datetime, str]] = attrs.field(factory=list)

    def supplier_on(self, at: datetime) -> str:
        current = self.history[0][1]
        for effective, supplier in self.history:
            if effective <= at:
                current = supplier
        return current

    def changes_between(self, start: datetime, end: datetime) -> bool:
        return any(start <= effective <= end for effective, _ in self.history)


@attrs.define(eq=False)
class _Device:
    device_id: str
    device_type: DeviceType
    model: _Model
    hub: _Device | None = None
    point: _MeterPoint | None = None
    cos_party: str = "TCoS"
    commissioned_at: datetime | None = None
    decommissioned_at: datetime | None = None
    upgraded: bool = False
    issue: bool = False
    proving: bool = False
    #: For a Gas Proxy Function: the MPxN that gives its Responsible Supplier (section 2).
    supplier_point: _MeterPoint | None = None

    @property
    def effective_model(self) -> _Model:
        """A Gas Proxy Function takes its Communications Hub's Device Model (section 2)."""
        if self.device_type is DeviceType.GPF and self.hub is not None:
            return self.hub.model
        return self.model


@attrs.define
class _Timed:
    """A command with the business time that orders it in the generated log."""

    at: datetime
    order: int
    command: Command


class _EstateBuilder:
    """Builds one estate from one ``random.Random``; every choice is drawn from it in order."""

    def __init__(
        self,
        seed: int,
        devices: int,
        models: int,
        *,
        bulk_migration_number: int,
        auto_authorise: bool,
    ) -> None:
        self.rng = random.Random(seed)
        self.target_devices = devices
        self.target_models = models
        self.cap = bulk_migration_number
        self.auto_authorise = auto_authorise
        self.models: list[_Model] = []
        self.devices: list[_Device] = []
        self._timed: list[_Timed] = []
        self._used_ids: set[int] = set()
        self._used_mpxns: set[str] = set()
        self._ouis: dict[str, int] = {}
        self._issue_count = 0
        self._srv_counter = 1000

    # -- output ------------------------------------------------------------------------------

    def emit(self, at: datetime, command: Command) -> None:
        self._timed.append(_Timed(at, len(self._timed), command))

    def commands(self) -> list[Command]:
        ordered = sorted(self._timed, key=lambda t: (t.at, t.order))
        return [t.command for t in ordered]

    # -- Device Models -----------------------------------------------------------------------

    def build_models(self) -> None:
        rng = self.rng
        with_smets1 = self.target_models >= 12  # noqa: PLR2004 — room for one SMETS1 premises set
        rest = self.target_models - (3 if with_smets1 else 0)
        chf = max(1, round(rest * 0.2))
        gsme = max(1, round(rest * 0.35))
        counts = {DeviceType.CHF: chf, DeviceType.ESME: rest - chf - gsme, DeviceType.GSME: gsme}
        used_codes: set[str] = set()
        for device_type, count in counts.items():
            makers = _HUB_MAKERS if device_type is DeviceType.CHF else _METER_MAKERS
            left = count
            while left:
                size = min(left, rng.choices((1, 2, 3), weights=(5, 3, 2))[0])
                self._family(
                    rng.choice(makers), device_type, SmetsGeneration.SMETS2_PLUS, size, used_codes
                )
                left -= size
        if with_smets1:
            for device_type in (DeviceType.CHF, DeviceType.ESME, DeviceType.GSME):
                self._family(_SMETS1_MAKER, device_type, SmetsGeneration.SMETS1, 1, used_codes)
        for m in self.models:
            self.emit(
                datetime.min.replace(tzinfo=UTC),
                {
                    "command": "RegisterDeviceModel",
                    "model": dict(m.key),
                    "device_type": str(m.device_type),
                    "smets": str(m.smets),
                    "firmware_rank": m.rank,
                },
            )

    def _family(
        self,
        maker: str,
        device_type: DeviceType,
        smets: SmetsGeneration,
        size: int,
        used_codes: set[str],
    ) -> None:
        rng = self.rng
        code = f"{_TYPE_PREFIX[device_type]}{rng.randrange(100, 1000)}"
        while code in used_codes:
            code = f"{_TYPE_PREFIX[device_type]}{rng.randrange(100, 1000)}"
        used_codes.add(code)
        hardware = rng.choice(("1.0", "1.1", "2.0", "2.1", "3.0"))
        major, minor = rng.randrange(1, 5), rng.randrange(0, 4)
        for rank in range(1, size + 1):
            minor += rng.randint(1, 3)
            firmware = f"{major}.{minor}.{rng.randrange(0, 20):02d}"
            key = {
                "manufacturer": maker,
                "model": code,
                "hardware_version": hardware,
                "firmware_version": firmware,
            }
            weight = rng.lognormvariate(0, 0.8)
            self.models.append(
                _Model(key, device_type, smets, rank, (maker, code, hardware), weight)
            )

    def _pick_model(self, device_type: DeviceType, smets: SmetsGeneration) -> _Model:
        pool = [m for m in self.models if m.device_type is device_type and m.smets is smets]
        return self.rng.choices(pool, weights=[m.weight for m in pool])[0]

    def siblings_after(self, model: _Model) -> list[_Model]:
        return [m for m in self.models if m.family == model.family and m.rank > model.rank]

    # -- identifiers -------------------------------------------------------------------------

    def _eui(self, maker: str) -> str:
        if maker not in self._ouis:
            self._ouis[maker] = self.rng.getrandbits(24) & 0xFCFFFF  # unicast, global
        while True:
            value = (self._ouis[maker] << 40) | self.rng.getrandbits(40)
            if value not in self._used_ids:
                self._used_ids.add(value)
                return str(EUI64(value))

    def _mpan(self) -> str:
        while True:
            first = f"{self.rng.randrange(10, 24)}{self.rng.randrange(10**10):010d}"
            mpan = first + str(mpan_check_digit(first))
            if mpan not in self._used_mpxns:
                self._used_mpxns.add(mpan)
                return mpan

    def _mprn(self) -> str:
        while True:
            mprn = str(self.rng.randrange(10**9, 10**10))
            if mprn not in self._used_mpxns:
                self._used_mpxns.add(mprn)
                return mprn

    # -- premises: a Communications Hub with its GPF and meters ------------------------------

    def build_premises(self) -> None:
        rng = self.rng
        has_smets1 = any(m.smets is SmetsGeneration.SMETS1 for m in self.models)
        while len(self.devices) < self.target_devices:
            smets1 = has_smets1 and rng.random() < 0.07  # noqa: PLR2004
            fuel = rng.random()
            electricity, gas = fuel < 0.95, fuel < 0.58 or fuel >= 0.95  # noqa: PLR2004
            self._premises(
                SmetsGeneration.SMETS1 if smets1 else SmetsGeneration.SMETS2_PLUS,
                electricity=electricity,
                gas=gas,
            )

    def _install_time(self, smets: SmetsGeneration) -> tuple[datetime | None, bool]:
        """When the premises was commissioned (None: never), and whether with ECoS stock."""
        rng = self.rng
        roll = rng.random()
        if roll < 0.015:  # noqa: PLR2004 — installed, never commissioned
            return None, False
        if smets is SmetsGeneration.SMETS1:  # enrolled into the DCC 2020-2022
            return _between(
                rng, datetime(2020, 6, 1, tzinfo=UTC), datetime(2023, 1, 1, tzinfo=UTC)
            ), False
        if roll < 0.045:  # noqa: PLR2004 — commissioned in the last 7 days
            return _between(
                rng, AS_OF - timedelta(days=6, hours=20), AS_OF - timedelta(hours=1)
            ), False
        if roll < 0.06:  # noqa: PLR2004 — new ECoS stock (1.15, 1.16)
            return _between(rng, datetime(2023, 3, 1, tzinfo=UTC), AS_OF - timedelta(days=8)), True
        return _between(
            rng, datetime(2019, 1, 1, tzinfo=UTC), datetime(2023, 6, 26, tzinfo=UTC)
        ), False

    def _premises(self, smets: SmetsGeneration, *, electricity: bool, gas: bool) -> None:
        rng = self.rng
        installed, ecos = self._install_time(smets)
        registered = (
            installed - timedelta(days=rng.randint(1, 21), minutes=rng.randrange(600))
            if installed is not None
            else _between(rng, datetime(2021, 1, 1, tzinfo=UTC), datetime(2023, 6, 30, tzinfo=UTC))
        )
        party = "ECoS" if ecos else "TCoS"
        hub_model = self._pick_model(DeviceType.CHF, smets)
        hub = self._register(
            DeviceType.CHF, hub_model, registered, party=party, installed=installed
        )
        gpf = self._register(
            DeviceType.GPF, hub_model, registered, hub=hub, party=party, installed=installed
        )
        supplier = self._supplier()
        since = (installed or registered) - timedelta(days=rng.randint(30, 2500))
        meters: list[_Device] = []
        points: list[_MeterPoint] = []
        for device_type, wanted in ((DeviceType.ESME, electricity), (DeviceType.GSME, gas)):
            if not wanted:
                continue
            point = _MeterPoint(self._mpan() if device_type is DeviceType.ESME else self._mprn())
            point.history.append(
                (_midnight(max(since, datetime(2010, 1, 1, tzinfo=UTC))), supplier)
            )
            points.append(point)
            at = None
            if installed is not None and not (
                device_type is DeviceType.GSME and rng.random() < 0.03  # noqa: PLR2004
            ):
                at = installed + timedelta(minutes=rng.randint(5, 90))
            meters.append(
                self._register(
                    device_type,
                    self._pick_model(device_type, smets),
                    registered,
                    hub=hub,
                    point=point,
                    party=party,
                    installed=at,
                )
            )
        # The GPF's Responsible Supplier: the GSME's where one is connected, else the ESME's.
        gpf.supplier_point = points[-1]
        self._supplier_changes(points)
        if installed is None or ecos:
            return
        if installed < datetime(2022, 1, 1, tzinfo=UTC) and rng.random() < 0.004:  # noqa: PLR2004
            self._decommission_premises(hub, installed)
            return
        for meter in meters:
            if (
                meter.commissioned_at is not None
                and meter.commissioned_at < datetime(2023, 3, 1, tzinfo=UTC)
                and rng.random() < 0.012  # noqa: PLR2004
            ):
                self._exchange(meter)

    def _register(
        self,
        device_type: DeviceType,
        model: _Model,
        registered: datetime,
        *,
        hub: _Device | None = None,
        point: _MeterPoint | None = None,
        party: str = "TCoS",
        installed: datetime | None = None,
    ) -> _Device:
        device = _Device(
            self._eui(model.key["manufacturer"]),
            device_type,
            model,
            hub=hub,
            point=point,
            cos_party=party,
        )
        command: Command = {
            "command": "RegisterDevice",
            "device_id": device.device_id,
            "device_type": str(device_type),
            "model": dict(model.key),
        }
        if point is not None:
            command["mpxn"] = point.mpxn
        if hub is not None:
            command["comms_hub_id"] = hub.device_id
        command["cos_party"] = party
        command["cos_certificate"] = dict(ECOS_CERTIFICATE if party == "ECoS" else TCOS_CERTIFICATE)
        command["at"] = _iso(registered)
        self.emit(registered, command)
        self.devices.append(device)
        if installed is not None:
            self._commission(device, installed)
        return device

    def _commission(self, device: _Device, at: datetime) -> None:
        device.commissioned_at = at
        self.emit(
            at, {"command": "RecordCommissioning", "device_id": device.device_id, "at": _iso(at)}
        )

    def _decommission(self, device: _Device, at: datetime) -> None:
        device.decommissioned_at = at
        self.emit(
            at, {"command": "RecordDecommissioning", "device_id": device.device_id, "at": _iso(at)}
        )

    def _decommission_premises(self, hub: _Device, installed: datetime) -> None:
        at = _between(self.rng, installed + timedelta(days=120), datetime(2023, 6, 1, tzinfo=UTC))
        for device in [d for d in self.devices if d is hub or d.hub is hub]:
            if device.commissioned_at is not None:
                self._decommission(device, at + timedelta(minutes=5))

    def _exchange(self, old: _Device) -> None:
        """A meter exchange: the old meter decommissioned, a new one on the same MPxN and Hub."""
        assert old.commissioned_at is not None  # noqa: S101 — only commissioned meters
        at = _between(
            self.rng, old.commissioned_at + timedelta(days=60), datetime(2023, 6, 1, tzinfo=UTC)
        )
        self._decommission(old, at)
        self._register(
            old.device_type,
            self._pick_model(old.device_type, old.model.smets),
            at + timedelta(minutes=10),
            hub=old.hub,
            point=old.point,
            installed=at + timedelta(minutes=40),
        )

    # -- Registration Data -------------------------------------------------------------------

    def _supplier(self, other_than: str | None = None) -> str:
        while True:
            supplier = self.rng.choices(_SUPPLIERS, weights=_SUPPLIER_WEIGHTS)[0]
            if supplier != other_than:
                return supplier

    def _supplier_changes(self, points: list[_MeterPoint]) -> None:
        """Older changes of supplier, then a slice recent (7 days), pending (14) or later."""
        rng = self.rng
        if rng.random() < 0.3:  # noqa: PLR2004 — a change of supplier in the past years
            first = points[0].history[0][0]
            latest = AS_OF - timedelta(days=60)
            if first + timedelta(days=90) < latest:
                past = _midnight(_between(rng, first + timedelta(days=90), latest))
                self._change_supplier(points, past, both=rng.random() < 0.85)  # noqa: PLR2004
        roll = rng.random()
        when: datetime | None = None
        if roll < 0.035:  # noqa: PLR2004 — effective in the last 7 days
            when = _midnight(AS_OF) - timedelta(days=rng.randint(0, 6))
        elif roll < 0.08:  # noqa: PLR2004 — pending, effective in the next 14 days
            when = _midnight(AS_OF) + timedelta(days=rng.randint(1, 14))
        elif roll < 0.09:  # noqa: PLR2004 — further ahead than the pending window
            when = _midnight(AS_OF) + timedelta(days=rng.randint(16, 60))
        if when is not None:
            self._change_supplier(points, when, both=rng.random() < 0.85)  # noqa: PLR2004
        for point in points:
            for effective, supplier in point.history:
                # Registration Data learns of a change about three weeks before it is effective.
                self.emit(
                    effective - timedelta(days=21),
                    {
                        "command": "RecordSupplierChange",
                        "mpxn": point.mpxn,
                        "supplier_id": supplier,
                        "effective_from": _iso(effective),
                    },
                )

    def _change_supplier(self, points: list[_MeterPoint], when: datetime, *, both: bool) -> None:
        chosen = points if both else [self.rng.choice(points)]
        new = self._supplier(other_than=chosen[0].supplier_on(when))
        for point in chosen:
            if point.supplier_on(when) != new:
                point.history.append((when, new))

    # -- technical issues and firmware upgrades ----------------------------------------------

    def build_issues_and_upgrades(self) -> None:
        rng = self.rng
        for device in list(self.devices):
            if device.commissioned_at is None or device.decommissioned_at is not None:
                continue
            if rng.random() < 0.025:  # noqa: PLR2004
                self._issue(device)
            later = self.siblings_after(device.model)
            if (
                later
                and device.device_type is not DeviceType.GPF
                and device.commissioned_at < datetime(2023, 5, 1, tzinfo=UTC)
                and rng.random() < 0.05  # noqa: PLR2004
            ):
                at = _between(
                    rng,
                    device.commissioned_at + timedelta(days=30),
                    datetime(2023, 6, 28, tzinfo=UTC),
                )
                device.model = rng.choice(later)
                device.upgraded = True
                self.emit(
                    at,
                    {
                        "command": "UpgradeFirmware",
                        "device_id": device.device_id,
                        "at": _iso(at),
                        "model": dict(device.model.key),
                    },
                )

    def _issue(self, device: _Device) -> None:
        rng = self.rng
        assert device.commissioned_at is not None  # noqa: S101 — only commissioned Devices
        start = max(device.commissioned_at + timedelta(days=1), datetime(2023, 1, 1, tzinfo=UTC))
        if start >= AS_OF - timedelta(hours=2):
            return
        self._issue_count += 1
        issue_id = f"INC-{self._issue_count:05d}"
        raised = _between(rng, start, AS_OF - timedelta(hours=2))
        device.issue = True
        self.emit(
            raised,
            {
                "command": "RaiseTechnicalIssue",
                "device_id": device.device_id,
                "at": _iso(raised),
                "reason": rng.choice(_ISSUE_REASONS),
                "issue_id": issue_id,
            },
        )
        cleared = raised + timedelta(hours=rng.randint(6, 480))
        if rng.random() < 0.4 and cleared < AS_OF - timedelta(hours=1):  # noqa: PLR2004
            self.emit(
                cleared,
                {
                    "command": "ClearTechnicalIssue",
                    "device_id": device.device_id,
                    "at": _iso(cleared),
                    "reason": "resolved by the Responsible Supplier's field visit",
                    "issue_id": issue_id,
                },
            )

    # -- proving, the 1.6 decision, the Non-Migratable lifecycle, migrations started ---------

    def _prover(self, model: _Model, before: datetime) -> _Device | None:
        """A Device of ``model`` that can carry the 6.1(b) evidence: a commissioned TCoS
        meter, untouched by exchanges, upgrades or issues."""
        for device in self.devices:
            if (
                device.model is model
                and device.device_type in {DeviceType.ESME, DeviceType.GSME}
                and device.cos_party == "TCoS"
                and device.commissioned_at is not None
                and device.commissioned_at < before
                and device.decommissioned_at is None
                and not (device.upgraded or device.issue or device.proving)
            ):
                return device
        return None

    def _prove(
        self, device: _Device, replaced: datetime, processed: datetime, *, ecos: bool
    ) -> None:
        device.proving = True
        self.emit(
            replaced,
            {
                "command": "RecordCredentialsReplaced",
                "device_id": device.device_id,
                "at": _iso(replaced),
                "party": "ECoS" if ecos else "TCoS",
                "certificate": dict(ECOS_CERTIFICATE if ecos else TCOS_CERTIFICATE_2),
            },
        )
        self._srv_counter += 1
        self.emit(
            processed,
            {
                "command": "RecordSrv623Processed",
                "device_id": device.device_id,
                "at": _iso(processed),
                "request_id": f"{_SRV_ORIGINATOR}:{device.device_id}:{self._srv_counter}",
            },
        )

    def build_programme(self) -> None:
        """Proving (6.1(b), 6.2), the 1.6 decision, the Non-Migratable lifecycle, pre-CPL test
        evidence, migrations started against the Bulk gate, and one suspension."""
        proofs = self._build_proving()
        proven = self._proven_models(proofs)
        authorised = self._build_authorisations(proofs, proven)
        nm = self._build_non_migratable(proven)
        self._build_test_evidence(proven, nm)
        self._build_starts(authorised, nm)

    def _build_proving(self) -> list[tuple[_Model, datetime]]:
        """The proving styles, in this order, as far as the estate allows: the latest
        firmware of a family (its earlier firmware proven by 6.2); TCoS->TCoS housekeeping
        that predates the ETMAD; a TCoS->ECoS proving migration; the earliest firmware of a
        family (which proves nothing later)."""
        meters = [
            m
            for m in self.models
            if m.device_type in {DeviceType.ESME, DeviceType.GSME}
            and m.smets is SmetsGeneration.SMETS2_PLUS
        ]
        wanted = 4 if self.target_models >= 24 else 3 if self.target_models >= 12 else 2  # noqa: PLR2004
        styles: list[tuple[str, datetime, datetime, bool]] = [
            ("latest", GO_LIVE + timedelta(hours=10), GO_LIVE + timedelta(days=1, hours=9), True),
            (
                "single",
                datetime(2022, 3, 14, 10, tzinfo=UTC),
                datetime(2022, 3, 21, 10, tzinfo=UTC),
                False,
            ),
            ("single", GO_LIVE + timedelta(hours=13), GO_LIVE + timedelta(days=2, hours=10), True),
            (
                "earliest",
                GO_LIVE + timedelta(hours=15),
                GO_LIVE + timedelta(days=1, hours=14),
                True,
            ),
        ]
        used_families: list[tuple[str, str, str]] = []
        proofs: list[tuple[_Model, datetime]] = []
        for style, replaced, processed, ecos in styles[:wanted]:
            candidates = [m for m in meters if m.family not in used_families]
            family_size = {
                m.family: sum(1 for o in meters if o.family == m.family) for m in candidates
            }
            if style == "latest":
                ordered = sorted(candidates, key=lambda m: (-family_size[m.family], -m.rank))
            elif style == "earliest":
                ordered = sorted(candidates, key=lambda m: (-family_size[m.family], m.rank))
            else:
                ordered = sorted(candidates, key=lambda m: family_size[m.family])
            for model in ordered:
                device = self._prover(model, replaced - timedelta(days=8))
                if device is not None:
                    self._prove(device, replaced, processed, ecos=ecos)
                    used_families.append(model.family)
                    proofs.append((model, processed))
                    break
        return proofs

    def _proven_models(self, proofs: list[tuple[_Model, datetime]]) -> dict[_Model, datetime]:
        """Models proven (own evidence, or a later firmware's: 6.2), by id, and since when."""
        proven: dict[_Model, datetime] = {}
        for model, at in proofs:
            for m in self.models:
                if m.family == model.family and m.rank <= model.rank:
                    proven[m] = min(at, proven.get(m, at))
        return proven

    def _build_authorisations(
        self, proofs: list[tuple[_Model, datetime]], proven: dict[_Model, datetime]
    ) -> dict[_Model, datetime]:
        """With the 1.6 policy on, every proven model is authorised when its evidence appears.
        Without it an operator authorises all but one (proven but not yet authorised)."""
        if self.auto_authorise:
            return dict(proven)
        authorised: dict[_Model, datetime] = {}
        chosen = [m for m in self.models if m in proven]
        for m in chosen[:-1] if len(chosen) > 1 else chosen:
            at = max(proven[m] + timedelta(hours=6), datetime(2023, 6, 1, tzinfo=UTC))
            authorised[m] = at
            via = next(p for p, _ in proofs if p.family == m.family)
            self.emit(
                at,
                {
                    "command": "AuthoriseBulkMigration",
                    "model": dict(m.key),
                    "at": _iso(at),
                    "decided_by": "operator:ecos-migration-manager",
                    "rationale": (
                        f"6.1(b) evidence on {via.label} reviewed; the DCC is reasonably "
                        "satisfied its systems can migrate a Device of this model (1.6)"
                    ),
                },
            )
        return authorised

    def _device_counts(self) -> dict[_Model, int]:
        counts: dict[_Model, int] = {}
        for device in self.devices:
            key = device.effective_model
            counts[key] = counts.get(key, 0) + 1
        return counts

    def _build_non_migratable(self, proven: dict[_Model, datetime]) -> _Model | None:
        """One SMETS2+ meter model categorised Non-Migratable (1.8(b), 6.1(e)), a supplier's
        disagreement (1.13) and its appeal to the Secretary of State, left pending."""
        counts = self._device_counts()
        candidates = sorted(
            (
                m
                for m in self.models
                if m.device_type in {DeviceType.ESME, DeviceType.GSME}
                and m.smets is SmetsGeneration.SMETS2_PLUS
                and m not in proven
                and counts.get(m, 0) >= 1
            ),
            key=lambda m: counts[m],
        )
        if not candidates:
            return None
        model = self.rng.choice(candidates[: max(1, len(candidates) // 3)])
        categorised = datetime(2023, 6, 20, 10, tzinfo=UTC)
        party = next(
            (
                d.point.supplier_on(categorised)
                for d in self.devices
                if d.model is model and d.point is not None
            ),
            "SUPC",
        )
        steps: list[tuple[datetime, Command]] = [
            (
                categorised,
                {
                    "command": "CategoriseNonMigratable",
                    "rationale": (
                        "pre-migration trials: on 4 Devices the CoS certificate replacement was "
                        "rejected by the Device itself and none succeeded; the model cannot "
                        "accept the ECoS Party's credentials (technically impracticable)"
                    ),
                    "decided_by": "dcc:ecos-migration-design-authority",
                },
            ),
            (
                datetime(2023, 6, 27, 11, tzinfo=UTC),
                {
                    "command": "RecordDisagreement",
                    "party": party,
                    "reason": (
                        "the manufacturer has a firmware release in test that fixes certificate "
                        "handling; the Devices can be upgraded and migrated"
                    ),
                },
            ),
            (datetime(2023, 7, 6, 16, tzinfo=UTC), {"command": "LodgeAppeal", "party": party}),
        ]
        for at, command in steps:
            self.emit(at, {**command, "model": dict(model.key), "at": _iso(at)})
        return model

    def _build_test_evidence(self, proven: dict[_Model, datetime], nm: _Model | None) -> None:
        """Pre-CPL test evidence (1.17) on the latest firmware of one unproven family."""
        latest = [
            m
            for m in self.models
            if m is not nm
            and m not in proven
            and m.smets is SmetsGeneration.SMETS2_PLUS
            and not self.siblings_after(m)
            and m.rank > 1
        ]
        if not latest:
            return
        model = latest[0]
        at = datetime(2023, 5, 15, 9, tzinfo=UTC)
        self.emit(
            at,
            {
                "command": "RecordModelTestEvidence",
                "model": dict(model.key),
                "at": _iso(at),
                "outcome": "passed",
                "detail": "pre-CPL test: ECoS Migration then an SRV 6.23 succeeded on 3 Devices",
            },
        )

    def _can_start(self, device: _Device, nm: _Model | None) -> bool:
        """Whether the Device is eligible throughout the start window (5-10 July 2023),
        predicted from the plan: commissioned before 20 June (for a GPF, its Hub), never
        decommissioned, TCoS, no issues, no proving, and no change of supplier on the MPxN
        that gives its Responsible Supplier from 25 June to 1 August."""
        settled = datetime(2023, 6, 20, tzinfo=UTC)
        subject = device.hub if device.device_type is DeviceType.GPF else device
        if subject is None or subject.commissioned_at is None or subject.commissioned_at >= settled:
            return False
        if device.decommissioned_at is not None or subject.decommissioned_at is not None:
            return False
        if device.cos_party != "TCoS" or device.issue or device.proving:
            return False
        if device.effective_model is nm:
            return False
        point = device.supplier_point if device.device_type is DeviceType.GPF else device.point
        return point is None or not point.changes_between(
            datetime(2023, 6, 25, tzinfo=UTC), datetime(2023, 8, 1, tzinfo=UTC)
        )

    def _build_starts(self, authorised: dict[_Model, datetime], nm: _Model | None) -> None:
        """Migrations started on a few models not yet authorised (counted against the Bulk
        Migration number, section 2), one of them then suspended (6.1(d)), and on up to two
        authorised ones. Only on Devices the plan shows eligible throughout (1.3, 1.4)."""
        rng = self.rng
        candidates: dict[_Model, list[_Device]] = {}
        for device in self.devices:
            if self._can_start(device, nm):
                candidates.setdefault(device.effective_model, []).append(device)
        ranked = sorted(
            (m for m in self.models if m is not nm and candidates.get(m)),
            key=lambda m: -len(candidates[m]),
        )
        capped = [m for m in ranked if m not in authorised]
        # The largest model of each type first, then the next largest of any type.
        firsts = [
            next(m for m in capped if m.device_type is t)
            for t in (DeviceType.CHF, DeviceType.ESME, DeviceType.GSME)
            if any(m.device_type is t for m in capped)
        ]
        limit = max(2, self.target_models // 7)
        chosen = (firsts + [m for m in capped if m not in firsts])[:limit]
        window_start = GO_LIVE + timedelta(hours=8)
        for index, model in enumerate(chosen):
            pool = candidates[model]
            count = max(1, round(len(pool) * rng.uniform(0.05, 0.15)))
            if index == 0 and self.cap < min(len(pool), _SHOW_CAP_BELOW):
                count = self.cap  # a small Bulk Migration number: this model reaches it
            count = min(count, self.cap)
            suspend = index == 1
            end = datetime(2023, 7, 7, 18, tzinfo=UTC) if suspend else AS_OF - timedelta(hours=1)
            for device in rng.sample(pool, count):
                self._start(device, _between(rng, window_start, end))
            if suspend:
                at = datetime(2023, 7, 8, 9, 30, tzinfo=UTC)
                self.emit(
                    at,
                    {
                        "command": "SuspendModel",
                        "model": dict(model.key),
                        "at": _iso(at),
                        "reason": (
                            "Failed Migrations under investigation: credential replacement "
                            "(6.1(c)(iii)) failed on several attempts"
                        ),
                    },
                )
        for model in [m for m in ranked if m in authorised][:2]:
            pool = candidates[model]
            start = max(authorised[model] + timedelta(hours=1), window_start)
            for device in rng.sample(pool, max(1, round(len(pool) * rng.uniform(0.05, 0.15)))):
                self._start(device, _between(rng, start, AS_OF - timedelta(hours=1)))

    def _start(self, device: _Device, at: datetime) -> None:
        self.emit(
            at, {"command": "RecordMigrationStarted", "device_id": device.device_id, "at": _iso(at)}
        )


def generate_estate(
    seed: int,
    devices: int = 3000,
    models: int = 36,
    *,
    bulk_migration_number: int = 300,
    auto_authorise: bool = True,
) -> list[Command]:
    """A sample estate as ``etmad apply`` commands, in log order. Pure: the same arguments
    always give the same commands. ``devices`` is approximate (whole premises are added
    until it is reached); ``models`` is exact. ``bulk_migration_number`` and
    ``auto_authorise`` must match the settings of the application that loads the estate, so
    that the migrations started stay within the Bulk gate and operator decisions (1.6) are
    recorded only where the policy does not record them."""
    if models < MIN_MODELS:
        raise ValueError(f"the demo needs at least {MIN_MODELS} Device Models, not {models}")
    if devices < MIN_DEVICES:
        raise ValueError(f"the demo needs at least {MIN_DEVICES} Devices, not {devices}")
    builder = _EstateBuilder(
        seed,
        devices,
        models,
        bulk_migration_number=bulk_migration_number,
        auto_authorise=auto_authorise,
    )
    builder.build_models()
    builder.build_premises()
    builder.build_issues_and_upgrades()
    builder.build_programme()
    return builder.commands()


# --- loading --------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Rejection:
    """A command the application refused, with its place in the generated estate."""

    index: int
    command: str | None
    code: str
    message: str

    def to_json(self) -> dict[str, JSON]:
        return {
            "index": self.index,
            "command": self.command,
            "code": self.code,
            "message": self.message,
        }


@attrs.frozen(kw_only=True)
class LoadReport:
    """How loading went: commands applied and rejected, and how long it took."""

    commands: int
    applied: int
    rejected: int
    rejections: tuple[Rejection, ...]
    seconds: float
    supplier_changes: int
    seed: int | None = None

    def to_json(self) -> dict[str, JSON]:
        return {
            "seed": self.seed,
            "commands": self.commands,
            "applied": self.applied,
            "rejected": self.rejected,
            "rejections": [r.to_json() for r in self.rejections],
            "seconds": round(self.seconds, 3),
            "supplier_changes": self.supplier_changes,
        }


class ProgressBar:
    """Loading progress on a stream: a bar redrawn in place on a terminal, otherwise a line
    at about every tenth of the work."""

    WIDTH: Final = 30

    def __init__(self, stream: IO[str], label: str = "loading") -> None:
        self._stream = stream
        self._label = label
        self._tty = stream.isatty()
        self._shown = -1

    def __call__(self, done: int, total: int) -> None:
        percent = 100 * done // total if total else 100
        if self._tty:
            if percent == self._shown and done != total:
                return
            filled = self.WIDTH * percent // 100
            bar = "#" * filled + "-" * (self.WIDTH - filled)
            self._stream.write(
                f"\r{self._label} [{bar}] {percent:3d}%  {done:,}/{total:,} commands"
            )
            if done == total:
                self._stream.write("\n")
        else:
            step = percent // 10 * 10
            if step == 0 or step <= self._shown:
                return
            percent = step
            self._stream.write(f"{self._label}: {percent:3d}%  {done:,}/{total:,} commands\n")
        self._shown = percent
        self._stream.flush()


def load_estate(
    app: EtmadApplication,
    commands: Sequence[Mapping[str, JSON]],
    *,
    progress: Callable[[int, int], None] | None = None,
    keep: int = 20,
) -> LoadReport:
    """Apply ``commands`` in order through ``application.commands.execute``, each in its own
    transaction, as ``etmad apply`` does. Rejections are counted and the first ``keep`` of
    them kept. (The generated commands also conform to the published JSON Schema — the tests
    check that — but validating each here would cost more than applying it.)"""
    rejections: list[Rejection] = []
    rejected = supplier_changes = 0
    total = len(commands)
    started = time.perf_counter()
    if progress is not None:
        progress(0, total)
    for index, command in enumerate(commands):
        name = command.get("command")
        result = execute(app, command)
        error = result.error
        if not result.ok and error is not None:
            rejected += 1
            if len(rejections) < keep:
                rejections.append(
                    Rejection(
                        index=index,
                        command=name if isinstance(name, str) else None,
                        code=str(error.get("code")),
                        message=str(error.get("message")),
                    )
                )
        elif name == "RecordSupplierChange":
            supplier_changes += 1
        if progress is not None:
            progress(index + 1, total)
    return LoadReport(
        commands=total,
        applied=total - rejected,
        rejected=rejected,
        rejections=tuple(rejections),
        seconds=time.perf_counter() - started,
        supplier_changes=supplier_changes,
    )


# --- the summary ----------------------------------------------------------------------------


@attrs.frozen
class ReasonCount:
    code: ReasonCode
    clause: str
    devices: int


@attrs.frozen
class TypeCount:
    device_type: DeviceType
    devices: int
    eligible: int


@attrs.frozen(kw_only=True)
class EligibilitySummary:
    """Eligibility of every Device at one time. A Device may have several reasons: each
    reason counts the Devices it applies to, and ``ineligible`` counts each Device once."""

    assessed: int
    eligible: int
    ineligible: int
    several_reasons: int
    by_reason: tuple[ReasonCount, ...]
    by_device_type: tuple[TypeCount, ...]
    not_yet_registered: int = 0


@attrs.frozen(kw_only=True)
class NonMigratableStatus:
    """A standing Non-Migratable categorisation and what followed it (1.12-1.14)."""

    since: datetime | None
    rationale: str
    decided_by: str
    disagreements: tuple[tuple[str, datetime | None, str | None], ...]
    appeal_party: str | None
    appeal_lodged: datetime | None
    determination: str | None

    @property
    def appeal(self) -> str:
        if self.appeal_party is None:
            return "none"
        return "pending" if self.determination is None else self.determination


@attrs.frozen(kw_only=True)
class ModelGate:
    """One Device Model's line of the Bulk gate table."""

    model: DeviceModelKey
    device_type: DeviceType
    smets: SmetsGeneration
    firmware_rank: int
    devices: int
    eligible: int
    proven: bool
    proven_via: DeviceModelKey | None
    authorised: bool
    decided_by: str | None
    by_policy: bool
    migrations_started: int
    cap: int
    may_start: bool
    gate_reasons: tuple[str, ...]
    non_migratable: NonMigratableStatus | None
    suspension: str | None
    test_evidence: tuple[str, ...]

    @property
    def proof(self) -> str:
        if not self.proven:
            return "-"
        return "own" if self.proven_via is None else f"via {self.proven_via.firmware_version}"

    @property
    def authorised_by(self) -> str:
        if not self.authorised:
            return "-"
        return "policy" if self.by_policy else "operator"

    @property
    def started(self) -> str:
        if self.authorised:
            return f"{self.migrations_started} (bulk)"
        return f"{self.migrations_started}/{self.cap}"

    @property
    def notes(self) -> str:
        notes = []
        if self.non_migratable is not None:
            appeal = self.non_migratable.appeal
            notes.append("Non-Migratable" + ("" if appeal == "none" else f", appeal {appeal}"))
        if self.suspension is not None:
            notes.append("suspended")
        if "BULK_CAP_REACHED" in self.gate_reasons:
            notes.append("Bulk Migration number reached")
        notes.extend(f"pre-CPL test {outcome}" for outcome in self.test_evidence)
        return "; ".join(notes)

    def to_json(self) -> dict[str, JSON]:
        nm = self.non_migratable
        return {
            "model": to_primitive(self.model),
            "device_type": str(self.device_type),
            "smets": str(self.smets),
            "devices": self.devices,
            "eligible": self.eligible,
            "proven": self.proven,
            "proven_by": None
            if not self.proven
            else "own"
            if self.proven_via is None
            else "sibling",
            "proven_via": to_primitive(self.proven_via),
            "authorised": self.authorised,
            "authorised_by": None if not self.authorised else self.authorised_by,
            "decided_by": self.decided_by,
            "migrations_started": self.migrations_started,
            "cap": self.cap,
            "may_start": self.may_start,
            "gate_reasons": list(self.gate_reasons),
            "suspended": self.suspension,
            "test_evidence": list(self.test_evidence),
            "non_migratable": None
            if nm is None
            else {
                "since": None if nm.since is None else _iso(nm.since),
                "rationale": nm.rationale,
                "decided_by": nm.decided_by,
                "disagreements": [
                    {
                        "party": party,
                        "at": None if at is None else _iso(at),
                        "agreement": agreement,
                    }
                    for party, at, agreement in nm.disagreements
                ],
                "appeal": None
                if nm.appeal_party is None
                else {
                    "party": nm.appeal_party,
                    "lodged": None if nm.appeal_lodged is None else _iso(nm.appeal_lodged),
                    "determination": nm.determination,
                },
            },
        }


@attrs.frozen(kw_only=True)
class DemoSummary:
    """What the store holds and what it decides at ``as_of``."""

    store: str
    store_path: str | None
    as_of: datetime
    device_models: int
    devices: int
    events: int
    eligibility: EligibilitySummary
    gates: tuple[ModelGate, ...]
    load: LoadReport | None = None

    def to_json(self) -> dict[str, JSON]:
        e = self.eligibility
        return {
            "store": self.store,
            "store_path": self.store_path,
            "as_of": _iso(self.as_of),
            "device_models": self.device_models,
            "devices": self.devices,
            "events": self.events,
            "load": None if self.load is None else self.load.to_json(),
            "eligibility": {
                "assessed": e.assessed,
                "eligible": e.eligible,
                "ineligible": e.ineligible,
                "several_reasons": e.several_reasons,
                "not_yet_registered": e.not_yet_registered,
                "by_reason": {
                    str(r.code): {"clause": r.clause, "devices": r.devices} for r in e.by_reason
                },
                "by_device_type": {
                    str(t.device_type): {"devices": t.devices, "eligible": t.eligible}
                    for t in e.by_device_type
                },
            },
            "bulk_gate": [g.to_json() for g in self.gates],
        }


def _events_of_type(app: EtmadApplication, topic: str) -> Iterator[DomainEvent]:
    """The domain events of one type, in recording order, read page by page."""
    start = 1
    while True:
        batch = app.recorder.select_notifications(start=start, limit=1000, topics=[topic])
        if not batch:
            return
        for notification in batch:
            envelope = app.mapper.to_domain_event(notification)
            assert isinstance(envelope, Envelope)  # noqa: S101 — our mapper's type
            yield envelope.event
        start = batch[-1].id + 1


_TYPE_ORDER: Final = {t: i for i, t in enumerate(DeviceType)}
_CHF_FIRST: Final = (DeviceType.CHF, DeviceType.GPF, DeviceType.ESME, DeviceType.GSME)


def _type_rank(device_type: DeviceType) -> int:
    if device_type in _CHF_FIRST:
        return _CHF_FIRST.index(device_type)
    return len(_CHF_FIRST) + _TYPE_ORDER[device_type]


def _eligibility(
    app: EtmadApplication, at: datetime
) -> tuple[EligibilitySummary, dict[DeviceModelKey, tuple[int, int]]]:
    reasons: dict[ReasonCode, int] = {}
    types: dict[DeviceType, list[int]] = {}
    per_model: dict[DeviceModelKey, list[int]] = {}
    assessed = eligible = several = later = 0
    for event in _events_of_type(app, Registered.TYPE):
        assert isinstance(event, Registered)  # noqa: S101 — selected by its type name
        try:
            decision = app.assess_eligibility(event.device_id, at)
        except UnknownDevice:
            later += 1  # registered after ``at``
            continue
        assessed += 1
        counts = types.setdefault(decision.inputs.device_type, [0, 0])
        model_counts = per_model.setdefault(decision.inputs.model, [0, 0])
        counts[0] += 1
        model_counts[0] += 1
        if decision.eligible:
            eligible += 1
            counts[1] += 1
            model_counts[1] += 1
        codes = decision.codes()
        several += len(codes) > 1
        for code in codes:
            reasons[code] = reasons.get(code, 0) + 1
    summary = EligibilitySummary(
        assessed=assessed,
        eligible=eligible,
        ineligible=assessed - eligible,
        several_reasons=several,
        by_reason=tuple(
            ReasonCount(code, REASON_CLAUSES[code], reasons[code])
            for code in ReasonCode
            if code in reasons
        ),
        by_device_type=tuple(
            TypeCount(t, types[t][0], types[t][1]) for t in sorted(types, key=_type_rank)
        ),
        not_yet_registered=later,
    )
    return summary, {k: (v[0], v[1]) for k, v in per_model.items()}


def _non_migratable(state: DeviceModel) -> NonMigratableStatus | None:
    nm = state.non_migratable
    if nm is None:
        return None
    return NonMigratableStatus(
        since=nm.at,
        rationale=nm.rationale,
        decided_by=nm.decided_by,
        disagreements=tuple(
            (d.party, d.at, None if d.agreement is None else str(d.agreement))
            for d in nm.disagreements
        ),
        appeal_party=None if nm.appeal is None else nm.appeal.party,
        appeal_lodged=None if nm.appeal is None else nm.appeal.at,
        determination=None if nm.determination is None else str(nm.determination),
    )


def _gate(
    app: EtmadApplication, key: DeviceModelKey, at: datetime, counts: tuple[int, int]
) -> ModelGate | None:
    try:
        gate = app.bulk_gate(key, at)
    except UnknownDeviceModel:
        return None
    state = app.device_model(key, as_of=at)
    proof = gate.proven_by
    authorisation = gate.authorisation
    return ModelGate(
        model=key,
        device_type=state.device_type,
        smets=state.smets,
        firmware_rank=state.firmware_rank,
        devices=counts[0],
        eligible=counts[1],
        proven=gate.proven,
        proven_via=None if proof is None or proof.model == key else proof.model,
        authorised=gate.authorised,
        decided_by=None if authorisation is None else authorisation.decided_by,
        by_policy=authorisation is not None and authorisation.by_policy,
        migrations_started=gate.migrations_started,
        cap=gate.cap,
        may_start=gate.may_start,
        gate_reasons=tuple(r.code for r in gate.reasons),
        non_migratable=_non_migratable(state),
        suspension=None if state.suspension is None else state.suspension.reason,
        test_evidence=tuple(str(t.outcome) for t in state.test_evidence),
    )


def summarise(app: EtmadApplication, at: datetime = AS_OF, *, store: str = "") -> DemoSummary:
    """Read back every Device and Device Model the store holds and decide, as of ``at``,
    each Device's eligibility (1.3, 1.4) and each model's Bulk gate (1.6, 6.1(b), 6.2)."""
    eligibility, per_model = _eligibility(app, at)
    keys = [
        event.model
        for event in _events_of_type(app, ModelRegistered.TYPE)
        if isinstance(event, ModelRegistered)
    ]
    gates = [g for k in keys if (g := _gate(app, k, at, per_model.get(k, (0, 0)))) is not None]
    gates.sort(
        key=lambda g: (
            _type_rank(g.device_type),
            g.smets is not SmetsGeneration.SMETS2_PLUS,
            g.model.family,
            g.firmware_rank,
        )
    )
    location = StoreLocation.parse(store) if store else None
    path = location.path if location is not None else None
    return DemoSummary(
        store=store,
        store_path=None if path is None else str(path.resolve()),
        as_of=at,
        device_models=len(keys),
        devices=eligibility.assessed + eligibility.not_yet_registered,
        events=app.recorder.max_notification_id() or 0,
        eligibility=eligibility,
        gates=tuple(gates),
    )


# --- rendering ------------------------------------------------------------------------------


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], right: set[int]) -> list[str]:
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=True)]
    lines = []
    for row in (header, *rows):
        cells = [
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  " + "  ".join(cells).rstrip())
    return lines


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:5.1f}%" if whole else "    -"


def _wrap(text: str, indent: str) -> list[str]:
    return textwrap.wrap(text, width=100, initial_indent=indent, subsequent_indent=indent + "  ")


def _day(moment: datetime | None) -> str:
    return "(standing)" if moment is None else moment.date().isoformat()


def _render_header(summary: DemoSummary) -> list[str]:
    lines = ["etmad demo: a generated sample estate, ECoS Migration (SEC Appendix AS)", ""]
    where = summary.store
    if summary.store_path is not None:
        where += f"  ({summary.store_path})"
    elif summary.store == "memory:":
        where += "  (in memory: gone when the command ends)"
    lines.append(f"  store      {where}")
    load = summary.load
    if load is not None:
        rate = load.commands / load.seconds if load.seconds else 0.0
        seed = "" if load.seed is None else f" (seed {load.seed})"
        lines.append(
            f"  loaded     {load.commands:,} commands{seed} in {load.seconds:.1f} s "
            f"({rate:,.0f}/s, one transaction each): {load.rejected:,} rejected"
        )
        lines.extend(
            f"             rejected #{r.index} {r.command}: {r.code} {r.message}"
            for r in load.rejections
        )
    registration = "" if load is None else f"; {load.supplier_changes:,} Registration Data entries"
    lines.append(
        f"  stored     {summary.device_models:,} Device Models, {summary.devices:,} Devices, "
        f"{summary.events:,} events{registration}"
    )
    lines.append(f"  as of      {_iso(summary.as_of)}")
    return lines


def _render_eligibility(e: EligibilitySummary) -> list[str]:
    lines = [f"Eligibility for ECoS Migration (ETMAD 1.3, 1.4): {e.assessed:,} Devices"]
    lines += _table(
        ("", "Devices", "Share"),
        [
            ("eligible", f"{e.eligible:,}", _percent(e.eligible, e.assessed)),
            ("ineligible", f"{e.ineligible:,}", _percent(e.ineligible, e.assessed)),
            ("  of which with several reasons", f"{e.several_reasons:,}", ""),
        ],
        {1, 2},
    )
    if e.not_yet_registered:
        lines.append(f"  ({e.not_yet_registered:,} Devices registered after the as-of time)")
    lines.append("")
    lines += _table(
        ("Ineligible because", "Clause", "Devices", "Share"),
        [
            (str(r.code), r.clause, f"{r.devices:,}", _percent(r.devices, e.assessed))
            for r in e.by_reason
        ],
        {2, 3},
    )
    lines.append("")
    lines += _table(
        ("Device type", "Devices", "Eligible", "Ineligible"),
        [
            (str(t.device_type), f"{t.devices:,}", f"{t.eligible:,}", f"{t.devices - t.eligible:,}")
            for t in e.by_device_type
        ],
        {1, 2, 3},
    )
    return lines


_GATE_HEADER: Final = (
    "Device Model",
    "Type",
    "SMETS",
    "Devices",
    "Eligible",
    "Proven",
    "Authorised",
    "Started",
    "May start",
    "Notes",
)


def _render_gates(gates: Sequence[ModelGate]) -> list[str]:
    cap = gates[0].cap if gates else 0
    lines = [
        "Bulk Migration gate per Device Model (ETMAD 1.6, 6.1(b), 6.2)",
        f"  until the 1.6 decision at most {cap} migrations of a model may start (section 2)",
    ]
    lines += _table(
        _GATE_HEADER,
        [
            (
                str(g.model),
                str(g.device_type),
                str(g.smets),
                f"{g.devices:,}",
                f"{g.eligible:,}",
                g.proof,
                g.authorised_by,
                g.started,
                "yes" if g.may_start else "no",
                g.notes,
            )
            for g in gates
        ],
        {3, 4, 7},
    )
    lines += [
        "  Proven: own 6.1(b) evidence, or via a later firmware of the same model (6.2).",
        f"  Authorised: the 1.6 decision, by policy ({AUTO_AUTHORISE_POLICY}) or an operator.",
        "  Started: migrations counted against the Bulk Migration number; '(bulk)': authorised.",
    ]
    return lines


def _render_non_migratable(model: DeviceModelKey, nm: NonMigratableStatus) -> list[str]:
    lines = [f"  {model}: categorised {_day(nm.since)} by {nm.decided_by}"]
    lines += _wrap(f"rationale: {nm.rationale}", "    ")
    for party, at, agreement in nm.disagreements:
        state = "no agreement reached" if agreement is None else f"agreed: {agreement}"
        lines.append(f"    disagreement: {party} on {_day(at)} ({state})")
    if nm.appeal_party is not None:
        outcome = (
            "pending with the Secretary of State"
            if nm.determination is None
            else f"determined: {nm.determination} (final and binding, 1.14)"
        )
        lines.append(
            f"    appeal: lodged by {nm.appeal_party} on {_day(nm.appeal_lodged)}, {outcome}"
        )
    return lines


def render(summary: DemoSummary) -> str:
    """The summary as aligned plain text."""
    lines = _render_header(summary)
    lines += ["", *_render_eligibility(summary.eligibility)]
    lines += ["", *_render_gates(summary.gates)]
    non_migratable = [(g.model, g.non_migratable) for g in summary.gates if g.non_migratable]
    if non_migratable:
        lines += ["", "Non-Migratable Device Models (ETMAD 1.12 list; 1.13 disagreements, appeals)"]
        for model, nm in non_migratable:
            lines += _render_non_migratable(model, nm)
    suspended = [g for g in summary.gates if g.suspension is not None]
    if suspended:
        lines += ["", "Suspended Device Models (ETMAD 6.1(d))"]
        for g in suspended:
            lines += _wrap(f"{g.model}: {g.suspension}", "  ")
    return "\n".join(lines) + "\n"


# --- the command ----------------------------------------------------------------------------


def _store_url(args: argparse.Namespace) -> str:
    return str(args.store or os.environ.get("ETMAD_STORE") or DEFAULT_STORE)


def _settings(args: argparse.Namespace) -> Settings:
    return settings_from_env(
        mpan_check_digit=None
        if args.mpan_check_digit is None
        else args.mpan_check_digit == "strict",
        bulk_migration_number=args.bulk_migration_number,
        auto_authorise_bulk=False if args.no_auto_authorise else None,
    )


def delete_store(location: StoreLocation) -> list[Path]:
    """Delete a SQLite store's file and its journal files; the paths deleted."""
    if location.path is None:
        return []
    deleted = []
    for suffix in ("", "-wal", "-shm", "-journal"):
        path = location.path.with_name(location.path.name + suffix)
        if path.exists():
            path.unlink()
            deleted.append(path)
    return deleted


def run_demo(args: argparse.Namespace) -> int:
    """``etmad demo``: generate, load and summarise a sample estate. Exit 0 when every
    command was accepted, 1 when any was rejected, 2 when the store already holds events
    (without ``--fresh``) or the sizes are too small."""
    if args.models < MIN_MODELS or args.devices < MIN_DEVICES:
        print(
            f"etmad demo: the sample estate needs --models of at least {MIN_MODELS} and "
            f"--devices of at least {MIN_DEVICES}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    url = _store_url(args)
    location = StoreLocation.parse(url)
    if args.fresh:
        delete_store(location)
    settings = _settings(args)
    app = build_application(url, settings=settings)
    try:
        held = app.recorder.max_notification_id() or 0
        if held:
            print(
                f"etmad demo: the store {url} already holds {held:,} events; loading the sample "
                "estate again would mix two estates. Use --fresh to delete it first, or "
                "choose another --store.",
                file=sys.stderr,
            )
            return EXIT_USAGE
        commands = generate_estate(
            args.seed,
            args.devices,
            args.models,
            bulk_migration_number=settings.bulk_migration_number,
            auto_authorise=settings.auto_authorise_bulk,
        )
        report = attrs.evolve(
            load_estate(app, commands, progress=ProgressBar(sys.stderr)), seed=args.seed
        )
        summary = attrs.evolve(summarise(app, AS_OF, store=url), load=report)
    finally:
        close_application(app)
    if args.json:
        print(json.dumps(summary.to_json(), indent=2, ensure_ascii=False))
    else:
        print(render(summary), end="")
    if report.rejected:
        print(
            f"etmad demo: {report.rejected:,} of {report.commands:,} commands were rejected",
            file=sys.stderr,
        )
        return EXIT_REJECTED
    return EXIT_OK
