"""``etmad demo``: a generated estate of Devices runs through a whole ECoS Migration programme.

- ``generate_estate(seed, devices, models, start=..., days=...)`` — pure and seeded: the estate
  as it stands before the programme, as ``etmad apply`` commands in log order (Device Models in
  families with later-firmware siblings, SMETS1 and SMETS2+ ESME, GSME and Communications Hubs;
  Devices on Communications Hubs with MPxNs and commissioning dates; Registration Data with past,
  recent, pending and in-programme changes of supplier; technical issues, many cleared during
  the programme; firmware upgrades; meter exchanges and decommissionings), with the simulated
  behaviour of each Device Model (``ModelScenario``): two reject the replacement, one fails
  SRV 6.23 once migrated, a slice is flaky, the rest are healthy.
- ``load_estate(app, commands)`` — applies them one by one (saved a batch at a time), as
  ``etmad apply`` does, counting rejections.
- ``adapters.demo_programme`` — runs the programme day by day on the fleet simulator, with the
  Responsible Suppliers' SRV 6.23s and the DCC's decisions, and summarises the store at the end.
- ``run_demo(args)`` — ``etmad demo``: all three, with progress on standard error and the
  summary (text, or JSON with ``--json``) on standard output.

The estate's dates are relative to the programme's first day (``--from``, by default ECoS
Migration go-live on 5 July 2023, DOMAIN.md 7). Every name (manufacturers, suppliers) is
fictional. ``docs/demo.md`` describes the phases, the flags and the summary.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import IO, Final

import attrs

from adapters.bootstrap import (
    DEFAULT_STORE,
    StoreLocation,
    build_application,
    settings_from_env,
)
from adapters.codecs.gbcs import StatusCode
from adapters.demo_programme import (
    DayProgress,
    ModelScenario,
    ProgrammeSummary,
    ScenarioKind,
    render_programme,
    run_programme_demo,
    summarise_programme,
)
from application.commands import execute
from application.serialization import JSON
from application.service import EtmadApplication, close_application
from application.settings import Settings
from domain.identifiers import (
    EUI64,
    DeviceModelKey,
    DeviceType,
    SmetsGeneration,
    mpan_check_digit,
)
from domain.selection import business_time

#: Commands saved together while loading the estate (one transaction each batch).
LOAD_BATCH: Final = 2000
EXIT_OK: Final = 0
EXIT_REJECTED: Final = 1
EXIT_USAGE: Final = 2

#: ECoS Migration went live on 5 July 2023 (DOMAIN.md 7): the programme's default first day.
GO_LIVE: Final = date(2023, 7, 5)
DEFAULT_DAYS: Final = 120
DEFAULT_DEVICES: Final = 20_000
DEFAULT_MODELS: Final = 40
MIN_MODELS: Final = 6
MIN_DEVICES: Final = 20

Command = dict[str, JSON]

# --- the generator --------------------------------------------------------------------------

_ISSUER: Final = "demo-smki-organisation-ca"
TCOS_CERTIFICATE: Final[Command] = {"serial": "4097", "issuer": _ISSUER}
ECOS_CERTIFICATE: Final[Command] = {"serial": "8193", "issuer": _ISSUER}

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
#: The Device Models scripted to fail (two rejecting the replacement, one failing SRV 6.23) are
#: drawn, where the estate allows, from SMETS2+ meter models with at least this many Devices and
#: no later firmware (so that no sibling's evidence authorises them under 6.2).
_SCRIPTED_MIN_DEVICES: Final = 8
#: The device-side rejections the two rejecting models answer with (GBCS status codes).
_REJECTIONS: Final = (StatusCode.BAD_CERTIFICATE, StatusCode.NO_TRUST_ANCHOR)
#: The share of the other models given flaky communications, and how flaky.
_FLAKY_SHARE: Final = 0.2
_FLAKY_LOSSES: Final = (0.1, 0.25)
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

    def __init__(self, seed: int, devices: int, models: int, *, start: datetime, days: int) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.target_devices = devices
        self.target_models = models
        self.start = start
        self.end = start + timedelta(days=max(1, days))
        self.models: list[_Model] = []
        self.devices: list[_Device] = []
        self._timed: list[_Timed] = []
        self._used_ids: set[int] = set()
        self._used_mpxns: set[str] = set()
        self._ouis: dict[str, int] = {}
        self._issue_count = 0

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

    def _before(self, days: float) -> datetime:
        return self.start - timedelta(days=days)

    def _install_time(self, smets: SmetsGeneration) -> tuple[datetime | None, bool]:
        """When the premises was commissioned (None: never), and whether with ECoS stock."""
        rng = self.rng
        roll = rng.random()
        if roll < 0.015:  # noqa: PLR2004 — installed, never commissioned
            return None, False
        if smets is SmetsGeneration.SMETS1:  # enrolled into the DCC in the last three years
            return _between(rng, self._before(3 * 365), self._before(180)), False
        if roll < 0.045:  # noqa: PLR2004 — commissioned in the 7 days before the programme
            return _between(rng, self._before(6.8), self._before(1 / 24)), False
        if roll < 0.06:  # noqa: PLR2004 — new ECoS stock (1.15, 1.16)
            return _between(rng, self._before(120), self._before(8)), True
        return _between(rng, self._before(1650), self._before(9)), False

    def _premises(self, smets: SmetsGeneration, *, electricity: bool, gas: bool) -> None:
        rng = self.rng
        installed, ecos = self._install_time(smets)
        registered = (
            installed - timedelta(days=rng.randint(1, 21), minutes=rng.randrange(600))
            if installed is not None
            else _between(rng, self._before(900), self._before(5))
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
        if installed < self._before(540) and rng.random() < 0.004:  # noqa: PLR2004
            self._decommission_premises(hub, installed)
            return
        for meter in meters:
            if (
                meter.commissioned_at is not None
                and meter.commissioned_at < self._before(130)
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
        at = _between(self.rng, installed + timedelta(days=120), self._before(35))
        for device in [d for d in self.devices if d is hub or d.hub is hub]:
            if device.commissioned_at is not None:
                self._decommission(device, at + timedelta(minutes=5))

    def _exchange(self, old: _Device) -> None:
        """A meter exchange: the old meter decommissioned, a new one on the same MPxN and Hub."""
        assert old.commissioned_at is not None  # noqa: S101 — only commissioned meters
        at = _between(self.rng, old.commissioned_at + timedelta(days=60), self._before(35))
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
        """Older changes of supplier; then a slice recent (in the 7 days before the programme),
        pending (in its first 14 days) or later in the programme (1.4(b) while they last)."""
        rng = self.rng
        if rng.random() < 0.3:  # noqa: PLR2004 — a change of supplier in the past years
            first = points[0].history[0][0]
            latest = self._before(60)
            if first + timedelta(days=90) < latest:
                past = _midnight(_between(rng, first + timedelta(days=90), latest))
                self._change_supplier(points, past, both=rng.random() < 0.85)  # noqa: PLR2004
        roll = rng.random()
        when: datetime | None = None
        if roll < 0.035:  # noqa: PLR2004 — effective in the last 7 days
            when = self.start - timedelta(days=rng.randint(1, 7))
        elif roll < 0.08:  # noqa: PLR2004 — pending, effective in the first 14 days
            when = self.start + timedelta(days=rng.randint(0, 13))
        elif roll < 0.14 and self.end - self.start > timedelta(days=15):  # noqa: PLR2004
            when = _midnight(_between(rng, self.start + timedelta(days=15), self.end))
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
                and device.commissioned_at < self._before(60)
                and rng.random() < 0.05  # noqa: PLR2004
            ):
                at = _between(rng, device.commissioned_at + timedelta(days=30), self._before(7))
                device.model = rng.choice(later)
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
        """A technical issue raised in the six months before the programme (1.4(c)): 45 % are
        cleared within three weeks, 40 % at some time during the programme (the Device becomes
        eligible again, 1.4's closing paragraph), the rest stay open."""
        rng = self.rng
        assert device.commissioned_at is not None  # noqa: S101 — only commissioned Devices
        start = max(device.commissioned_at + timedelta(days=1), self._before(180))
        if start >= self._before(1 / 12):
            return
        self._issue_count += 1
        issue_id = f"INC-{self._issue_count:05d}"
        raised = _between(rng, start, self._before(1 / 12))
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
        roll = rng.random()
        cleared: datetime | None = None
        if roll < 0.45:  # noqa: PLR2004 — cleared within three weeks of being raised
            cleared = raised + timedelta(hours=rng.randint(6, 480))
        elif roll < 0.85:  # noqa: PLR2004 — cleared at some time during the programme
            cleared = _between(rng, self.start, self.end)
        if cleared is not None and cleared < self.end:
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

    # -- the simulated behaviour of each Device Model ----------------------------------------

    def _device_counts(self) -> Counter[_Model]:
        """Devices by effective Device Model (a GPF's is its Communications Hub's)."""
        return Counter(device.effective_model for device in self.devices)

    def choose_scenarios(self) -> dict[DeviceModelKey, ModelScenario]:
        """Two models reject the replacement, one fails SRV 6.23 once migrated, a slice is
        flaky, the rest healthy: drawn from the seed alone (its own stream, so the estate does
        not depend on it), in the models' generated order."""
        draw = random.Random(f"etmad-demo-scenarios/{self.seed}")
        counts = self._device_counts()
        meters = [
            m
            for m in self.models
            if m.device_type in {DeviceType.ESME, DeviceType.GSME}
            and m.smets is SmetsGeneration.SMETS2_PLUS
            and counts[m]
        ]
        preferred = [
            m for m in meters if counts[m] >= _SCRIPTED_MIN_DEVICES and not self.siblings_after(m)
        ]
        wanted = len(_REJECTIONS) + 1
        chosen = draw.sample(preferred, min(wanted, len(preferred)))
        others = [m for m in meters if m not in chosen]
        chosen += draw.sample(others, min(wanted - len(chosen), len(others)))
        scenarios: dict[_Model, ModelScenario] = {}
        for model, status in zip(chosen, _REJECTIONS, strict=False):
            scenarios[model] = ModelScenario.rejecting(status)
        if len(chosen) == wanted:
            scenarios[chosen[-1]] = ModelScenario.failing_srv623()
        rest = [m for m in self.models if m not in scenarios]
        for model in rest:
            if draw.random() < _FLAKY_SHARE:
                scenarios[model] = ModelScenario.flaky(draw.choice(_FLAKY_LOSSES))
        if rest and not any(s.kind is ScenarioKind.FLAKY for s in scenarios.values()):
            scenarios[draw.choice(rest)] = ModelScenario.flaky(max(_FLAKY_LOSSES))
        return {
            DeviceModelKey(**m.key): scenarios.get(m, ModelScenario.healthy()) for m in self.models
        }


@attrs.frozen(kw_only=True)
class DemoEstate:
    """The generated estate: its commands in log order, and each Device Model's scenario."""

    commands: list[Command]
    scenarios: dict[DeviceModelKey, ModelScenario]

    def scenario_counts(self) -> Counter[ScenarioKind]:
        return Counter(s.kind for s in self.scenarios.values())


def generate_estate(
    seed: int,
    devices: int = DEFAULT_DEVICES,
    models: int = DEFAULT_MODELS,
    *,
    start: date = GO_LIVE,
    days: int = DEFAULT_DAYS,
) -> DemoEstate:
    """The estate before a programme of ``days`` days from ``start``, as ``etmad apply``
    commands in log order, and the simulated behaviour of each Device Model. Pure: the same
    arguments always give the same estate. ``devices`` is approximate (whole premises are added
    until it is reached); ``models`` is exact."""
    if models < MIN_MODELS:
        raise ValueError(f"the demo needs at least {MIN_MODELS} Device Models, not {models}")
    if devices < MIN_DEVICES:
        raise ValueError(f"the demo needs at least {MIN_DEVICES} Devices, not {devices}")
    builder = _EstateBuilder(seed, devices, models, start=business_time(start), days=days)
    builder.build_models()
    builder.build_premises()
    builder.build_issues_and_upgrades()
    return DemoEstate(commands=builder.commands(), scenarios=builder.choose_scenarios())


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

    def to_json(self) -> dict[str, JSON]:
        return {
            "commands": self.commands,
            "applied": self.applied,
            "rejected": self.rejected,
            "rejections": [r.to_json() for r in self.rejections],
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
    batch: int = LOAD_BATCH,
) -> LoadReport:
    """Apply ``commands`` in order through ``application.commands.execute``, as ``etmad apply``
    does, saved ``batch`` commands at a time in one transaction (``EtmadApplication.batch``:
    each command decides on the ones before it; a rejected one saves nothing). Rejections are
    counted and the first ``keep`` of them kept. (The generated commands also conform to the
    published JSON Schema — the tests check that — but validating each here would cost more
    than applying it.)"""
    if batch < 1:
        raise ValueError("a batch holds at least one command")
    rejections: list[Rejection] = []
    rejected = supplier_changes = 0
    total = len(commands)
    started = time.perf_counter()
    if progress is not None:
        progress(0, total)
    for first in range(0, total, batch):
        with app.batch():
            for index in range(first, min(total, first + batch)):
                command = commands[index]
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
            progress(min(total, first + batch), total)
    return LoadReport(
        commands=total,
        applied=total - rejected,
        rejected=rejected,
        rejections=tuple(rejections),
        seconds=time.perf_counter() - started,
        supplier_changes=supplier_changes,
    )


# --- the report -----------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class DemoReport:
    """What ``etmad demo`` prints: the estate as loaded, the simulated behaviours, and the
    store as the programme left it (``ProgrammeSummary``)."""

    seed: int
    load: LoadReport
    scenarios: Mapping[ScenarioKind, int]
    programme_seconds: float
    summary: ProgrammeSummary

    def to_json(self) -> dict[str, JSON]:
        s = self.summary
        return {
            "store": s.store,
            "store_path": s.store_path,
            "seed": self.seed,
            "estate": {
                "devices": s.devices.devices,
                "device_models": len(s.models),
                **self.load.to_json(),
                "simulated": {str(kind): self.scenarios.get(kind, 0) for kind in ScenarioKind},
            },
            **{k: v for k, v in s.to_json().items() if k not in {"store", "store_path"}},
            "timings": {
                "load_seconds": round(self.load.seconds, 3),
                "programme_seconds": round(self.programme_seconds, 3),
                "summary_seconds": round(s.seconds, 3),
            },
        }


_SCENARIO_WORDS: Final = {
    ScenarioKind.REJECTS_REPLACEMENT: "reject the replacement",
    ScenarioKind.FAILS_SRV623: "fail SRV 6.23 once migrated",
    ScenarioKind.FLAKY: "flaky",
    ScenarioKind.HEALTHY: "healthy",
}


def _render_header(report: DemoReport) -> list[str]:
    s = report.summary
    load = report.load
    days = len(s.days)
    title = f"etmad demo: a {days}-day ECoS Migration programme on a generated estate"
    lines = [f"{title} (SEC Appendix AS)", ""]
    where = s.store
    if s.store_path is not None:
        where += f"  ({s.store_path})"
    elif s.store == "memory:":
        where += "  (in memory: gone when the command ends)"
    lines.append(f"  store      {where}")
    rate = load.commands / load.seconds if load.seconds else 0.0
    lines.append(
        f"  estate     {s.devices.devices:,} Devices on {len(s.models)} Device Models (seed "
        f"{report.seed}): {load.commands:,} commands loaded in {load.seconds:.1f} s "
        f"({rate:,.0f}/s, a transaction per {LOAD_BATCH:,} commands), {load.rejected:,} rejected; "
        f"{load.supplier_changes:,} Registration Data entries"
    )
    lines.extend(
        f"             rejected #{r.index} {r.command}: {r.code} {r.message}"
        for r in load.rejections
    )
    simulated = ", ".join(
        f"{report.scenarios[kind]} {_SCENARIO_WORDS[kind]}"
        for kind in _SCENARIO_WORDS
        if report.scenarios.get(kind)
    )
    lines.append(f"  simulated  Device Models: {simulated}")
    if s.days:
        lines.append(
            f"  programme  {days} days, {s.days[0].day.isoformat()} to "
            f"{s.days[-1].day.isoformat()}, in {report.programme_seconds:.1f} s; "
            f"summary read back in {s.seconds:.1f} s"
        )
    lines.append(f"  stored     {s.events:,} events")
    return lines


def render(report: DemoReport) -> str:
    """The report as aligned plain text."""
    lines = [*_render_header(report), "", *render_programme(report.summary)]
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


def delete_store(location: StoreLocation) -> list[str]:
    """Delete a SQLite store's file and its journal files, or drop a PostgreSQL store's etmad
    tables; what was deleted."""
    if location.postgres is not None:
        return location.postgres.drop_tables()
    if location.path is None:
        return []
    deleted: list[str] = []
    for suffix in ("", "-wal", "-shm", "-journal"):
        path = location.path.with_name(location.path.name + suffix)
        if path.exists():
            path.unlink()
            deleted.append(str(path))
    return deleted


def _usage(args: argparse.Namespace) -> str | None:
    if args.models < MIN_MODELS or args.devices < MIN_DEVICES:
        return (
            f"the estate needs --models of at least {MIN_MODELS} and --devices of at least "
            f"{MIN_DEVICES}"
        )
    if args.days < 0:
        return "--days cannot be negative"
    return None


def run_demo(args: argparse.Namespace) -> int:
    """``etmad demo``: generate and load an estate, run the programme on it, and summarise.
    Exit 0 when every command of the estate was accepted, 1 when any was rejected, 2 when the
    store already holds events (without ``--fresh``) or the arguments are out of range."""
    problem = _usage(args)
    if problem is not None:
        print(f"etmad demo: {problem}", file=sys.stderr)
        return EXIT_USAGE
    url = _store_url(args)
    location = StoreLocation.parse(url)
    if args.fresh:
        delete_store(location)
    app = build_application(url, settings=_settings(args))
    try:
        held = app.recorder.max_notification_id() or 0
        if held:
            print(
                f"etmad demo: the store {url} already holds {held:,} events; running the demo "
                "again would mix two estates. Use --fresh to delete it first, or choose another "
                "--store.",
                file=sys.stderr,
            )
            return EXIT_USAGE
        estate = generate_estate(
            args.seed, args.devices, args.models, start=args.start, days=args.days
        )
        load = load_estate(app, estate.commands, progress=ProgressBar(sys.stderr))
        devices = sum(1 for c in estate.commands if c.get("command") == "RegisterDevice")
        started = time.perf_counter()
        run = run_programme_demo(
            app,
            start=args.start,
            days=args.days,
            seed=args.seed,
            scenarios=estate.scenarios,
            on_day=DayProgress(sys.stderr, days=args.days, devices=devices),
        )
        seconds = time.perf_counter() - started
        print("etmad demo: reading the store back for the summary", file=sys.stderr, flush=True)
        summary = summarise_programme(app, run, scenarios=estate.scenarios, store=url)
    finally:
        close_application(app)
    report = DemoReport(
        seed=args.seed,
        load=load,
        scenarios=estate.scenario_counts(),
        programme_seconds=seconds,
        summary=summary,
    )
    if args.json:
        print(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
    else:
        print(render(report), end="")
    if load.rejected:
        print(
            f"etmad demo: {load.rejected:,} of {load.commands:,} commands were rejected",
            file=sys.stderr,
        )
        return EXIT_REJECTED
    return EXIT_OK
