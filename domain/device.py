"""The Device aggregate (DOMAIN.md 3.2): one installed smart-metering Device.

It records commissioning and decommissioning, its links (MPxN; Communications Hub for ESME,
GSME and GPF), firmware upgrades that move it to another Device Model, its CoS credential
(which party it pertains to and which certificate), SRV 6.23s it processed, and technical
issues (ETMAD 1.4(c)). Supplier changes are Registration Data, not part of this aggregate.
"""

from __future__ import annotations

from datetime import datetime
from typing import Self

import attrs

from domain import clauses
from domain.errors import RuleViolation
from domain.events import DomainEvent, EventRef, utc
from domain.identifiers import (
    EUI64,
    CertificateId,
    CosParty,
    DeviceModelKey,
    DeviceType,
    MPxN,
)


def device_aggregate_id(device_id: EUI64) -> str:
    return f"device:{device_id}"


# --- events ---------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Registered(DomainEvent):
    TYPE = "etmad.device.Registered.v1"
    device_id: EUI64
    device_type: DeviceType
    model: DeviceModelKey
    mpxn: MPxN | None
    comms_hub_id: EUI64 | None
    cos_party: CosParty
    cos_certificate: CertificateId | None


@attrs.frozen(kw_only=True)
class Commissioned(DomainEvent):
    TYPE = "etmad.device.Commissioned.v1"


@attrs.frozen(kw_only=True)
class Decommissioned(DomainEvent):
    TYPE = "etmad.device.Decommissioned.v1"


@attrs.frozen(kw_only=True)
class DeviceConnected(DomainEvent):
    """On a Communications Hub Function: a Device was linked to it by ``comms_hub_id``."""

    TYPE = "etmad.device.DeviceConnected.v1"
    connected_id: EUI64
    connected_type: DeviceType
    connected_mpxn: MPxN | None


@attrs.frozen(kw_only=True)
class CredentialsReplaced(DomainEvent):
    """The Device's CoS credential was replaced (6.1(c)(iii), or TCoS→TCoS housekeeping)."""

    TYPE = "etmad.device.CredentialsReplaced.v1"
    party: CosParty
    certificate: CertificateId
    previous_party: CosParty
    previous_certificate: CertificateId | None
    model: DeviceModelKey  # the Device Model it happened on (a GPF's: its Comms Hub's)


@attrs.frozen(kw_only=True)
class Srv623Processed(DomainEvent):
    """The Device successfully processed a 'CoS Update Security Credentials' (SRV 6.23)."""

    TYPE = "etmad.device.Srv623Processed.v1"
    request_id: str
    model: DeviceModelKey  # the Device Model it happened on (a GPF's: its Comms Hub's)


@attrs.frozen(kw_only=True)
class Srv623Failed(DomainEvent):
    """An SRV 6.23 'CoS Update Security Credentials' sent to the Device failed (the Device
    rejected or did not execute the update). On an ECoS Device this is the evidence of DOMAIN.md
    4.2 that a migrated model cannot complete a change of supplier."""

    TYPE = "etmad.device.Srv623Failed.v1"
    request_id: str
    model: DeviceModelKey  # the Device Model it happened on (a GPF's: its Comms Hub's)
    cos_party: CosParty  # the Device's CoS credential when it failed
    reason: str


@attrs.frozen(kw_only=True)
class TechnicalIssueRaised(DomainEvent):
    TYPE = "etmad.device.TechnicalIssueRaised.v1"
    issue_id: str
    reason: str


@attrs.frozen(kw_only=True)
class TechnicalIssueCleared(DomainEvent):
    TYPE = "etmad.device.TechnicalIssueCleared.v1"
    issue_id: str
    reason: str


@attrs.frozen(kw_only=True)
class FirmwareUpgraded(DomainEvent):
    TYPE = "etmad.device.FirmwareUpgraded.v1"
    from_model: DeviceModelKey
    to_model: DeviceModelKey


EVENTS: tuple[type[DomainEvent], ...] = (
    Registered,
    Commissioned,
    Decommissioned,
    DeviceConnected,
    CredentialsReplaced,
    Srv623Processed,
    Srv623Failed,
    TechnicalIssueRaised,
    TechnicalIssueCleared,
    FirmwareUpgraded,
)

# --- state ----------------------------------------------------------------------------------


@attrs.frozen
class Replacement:
    """A credentials replacement as the Device saw it, with its event's position."""

    version: int
    at: datetime
    party: CosParty
    certificate: CertificateId
    previous_party: CosParty
    model: DeviceModelKey


@attrs.frozen
class ProcessedSrv623:
    version: int
    at: datetime
    request_id: str
    model: DeviceModelKey


@attrs.frozen
class FailedSrv623:
    version: int
    at: datetime
    request_id: str
    model: DeviceModelKey
    cos_party: CosParty
    reason: str


@attrs.frozen
class TechnicalIssue:
    issue_id: str
    reason: str
    raised_at: datetime


@attrs.frozen
class ConnectedDevice:
    device_id: EUI64
    device_type: DeviceType
    mpxn: MPxN | None


@attrs.frozen
class ProvingPair:
    """6.1(b)(i) then (ii) on one Device of one Device Model: two event references."""

    device_id: EUI64
    model: DeviceModelKey
    replacement: EventRef
    srv623: EventRef
    proven_at: datetime


DEFAULT_ISSUE_ID = "default"


@attrs.frozen(kw_only=True)
class Device:
    device_id: EUI64
    device_type: DeviceType
    model: DeviceModelKey
    mpxn: MPxN | None
    comms_hub_id: EUI64 | None
    cos_party: CosParty
    cos_certificate: CertificateId | None
    commissioned_at: datetime | None = None
    decommissioned_at: datetime | None = None
    technical_issues: tuple[TechnicalIssue, ...] = ()
    replacements: tuple[Replacement, ...] = ()
    srv623s: tuple[ProcessedSrv623, ...] = ()
    failed_srv623s: tuple[FailedSrv623, ...] = ()
    connected: tuple[ConnectedDevice, ...] = ()
    version: int = 0

    # --- creation and folding ---------------------------------------------------------------

    @staticmethod
    def register(
        *,
        device_id: EUI64,
        device_type: DeviceType,
        model: DeviceModelKey,
        mpxn: MPxN | None,
        comms_hub_id: EUI64 | None,
        cos_party: CosParty,
        cos_certificate: CertificateId | None,
        at: datetime | None,
    ) -> Registered:
        """Register a Device. Cross-aggregate rules (the model exists, the Comms Hub link,
        a Gas Proxy Function's model) are checked by the application before this."""
        if comms_hub_id is not None and not device_type.connects_to_comms_hub:
            raise RuleViolation(
                f"a {device_type} is not linked to a Communications Hub by comms_hub_id",
                code="COMMS_HUB_LINK_NOT_ALLOWED",
            )
        if device_type is DeviceType.GPF and comms_hub_id is None:
            raise RuleViolation(
                "a Gas Proxy Function forms part of a Communications Hub: comms_hub_id is required",
                code="COMMS_HUB_REQUIRED",
                clause=clauses.ETMAD_2_GPF_MODEL,
            )
        if device_type in {DeviceType.CHF, DeviceType.GPF} and mpxn is not None:
            raise RuleViolation(f"a {device_type} has no MPxN of its own", code="MPXN_NOT_ALLOWED")
        return Registered(
            occurred_at=at,
            device_id=device_id,
            device_type=device_type,
            model=model,
            mpxn=mpxn,
            comms_hub_id=comms_hub_id,
            cos_party=cos_party,
            cos_certificate=cos_certificate,
        )

    @classmethod
    def create(cls, event: DomainEvent, version: int) -> Self:
        if not isinstance(event, Registered):
            raise TypeError(f"a Device starts with Registered, not {event.TYPE}")
        return cls(
            device_id=event.device_id,
            device_type=event.device_type,
            model=event.model,
            mpxn=event.mpxn,
            comms_hub_id=event.comms_hub_id,
            cos_party=event.cos_party,
            cos_certificate=event.cos_certificate,
            version=version,
        )

    @property
    def aggregate_id(self) -> str:
        return device_aggregate_id(self.device_id)

    def apply(self, event: DomainEvent, version: int) -> Self:  # noqa: PLR0911 — an arm per event
        at = event.occurred_at
        match event:
            case Commissioned():
                return attrs.evolve(self, commissioned_at=at, version=version)
            case Decommissioned():
                return attrs.evolve(self, decommissioned_at=at, version=version)
            case DeviceConnected():
                link = ConnectedDevice(
                    event.connected_id, event.connected_type, event.connected_mpxn
                )
                return attrs.evolve(self, connected=(*self.connected, link), version=version)
            case CredentialsReplaced():
                assert at is not None  # noqa: S101 — the command always gives a time
                record = Replacement(
                    version, at, event.party, event.certificate, event.previous_party, event.model
                )
                return attrs.evolve(
                    self,
                    cos_party=event.party,
                    cos_certificate=event.certificate,
                    replacements=(*self.replacements, record),
                    version=version,
                )
            case Srv623Processed():
                assert at is not None  # noqa: S101 — the command always gives a time
                done = ProcessedSrv623(version, at, event.request_id, event.model)
                return attrs.evolve(self, srv623s=(*self.srv623s, done), version=version)
            case Srv623Failed():
                assert at is not None  # noqa: S101 — the command always gives a time
                failed = FailedSrv623(
                    version, at, event.request_id, event.model, event.cos_party, event.reason
                )
                return attrs.evolve(
                    self, failed_srv623s=(*self.failed_srv623s, failed), version=version
                )
            case TechnicalIssueRaised():
                assert at is not None  # noqa: S101 — the command always gives a time
                issue = TechnicalIssue(event.issue_id, event.reason, at)
                return attrs.evolve(
                    self, technical_issues=(*self.technical_issues, issue), version=version
                )
            case TechnicalIssueCleared():
                still_open = tuple(i for i in self.technical_issues if i.issue_id != event.issue_id)
                return attrs.evolve(self, technical_issues=still_open, version=version)
            case FirmwareUpgraded():
                return attrs.evolve(self, model=event.to_model, version=version)
        raise TypeError(f"a Device does not fold {event.TYPE}")

    # --- commands ---------------------------------------------------------------------------

    def commission(self, at: datetime) -> Commissioned:
        at = utc(at)
        if self.decommissioned_at is not None:
            raise RuleViolation(
                f"Device {self.device_id} was decommissioned; it cannot be commissioned again",
                code="DECOMMISSIONED",
            )
        if self.commissioned_at is not None:
            raise RuleViolation(
                f"Device {self.device_id} was already commissioned at "
                f"{self.commissioned_at.isoformat()}",
                code="ALREADY_COMMISSIONED",
            )
        return Commissioned(occurred_at=at)

    def decommission(self, at: datetime) -> Decommissioned:
        at = utc(at)
        if self.commissioned_at is None:
            raise RuleViolation(
                f"Device {self.device_id} was never commissioned; it cannot be decommissioned",
                code="NOT_COMMISSIONED",
            )
        if self.decommissioned_at is not None:
            raise RuleViolation(
                f"Device {self.device_id} is already decommissioned", code="ALREADY_DECOMMISSIONED"
            )
        if at < self.commissioned_at:
            raise RuleViolation(
                f"decommissioning at {at.isoformat()} precedes commissioning at "
                f"{self.commissioned_at.isoformat()}",
                code="OUT_OF_ORDER",
            )
        return Decommissioned(occurred_at=at)

    def connect(self, other: Registered) -> DeviceConnected:
        """Link a Device to this Communications Hub Function (one GPF per Comms Hub)."""
        if self.device_type is not DeviceType.CHF:
            raise RuleViolation(
                f"{self.device_id} is a {self.device_type}, not a Communications Hub Function",
                code="NOT_A_COMMS_HUB",
            )
        if self.decommissioned_at is not None:
            raise RuleViolation(
                f"Communications Hub {self.device_id} is decommissioned", code="DECOMMISSIONED"
            )
        if other.device_type is DeviceType.GPF and any(
            c.device_type is DeviceType.GPF for c in self.connected
        ):
            raise RuleViolation(
                f"Communications Hub {self.device_id} already has a Gas Proxy Function",
                code="COMMS_HUB_HAS_GPF",
            )
        return DeviceConnected(
            occurred_at=other.occurred_at,
            connected_id=other.device_id,
            connected_type=other.device_type,
            connected_mpxn=other.mpxn,
        )

    def replace_credentials(
        self,
        *,
        at: datetime,
        party: CosParty,
        certificate: CertificateId,
        model: DeviceModelKey | None = None,
    ) -> CredentialsReplaced:
        """Record a replacement of the CoS credential: TCoS→ECoS (6.1(c)(iii)), TCoS→TCoS
        with a different certificate (6.1(b)(i) housekeeping), or ECoS→ECoS. A Device never
        goes back from ECoS to TCoS."""
        at = utc(at)
        if self.cos_party is CosParty.ECOS and party is CosParty.TCOS:
            raise RuleViolation(
                f"Device {self.device_id} is an ECoS Device; its credentials do not go back "
                "to the TCoS Party",
                code="ECOS_TO_TCOS_NOT_ALLOWED",
                clause=clauses.ETMAD_2_TCOS_DEVICE,
            )
        if certificate == self.cos_certificate:
            raise RuleViolation(
                f"Device {self.device_id} already holds certificate {certificate}: a "
                "replacement must install a different certificate",
                code="SAME_CERTIFICATE",
                clause=clauses.ETMAD_6_1_B,
            )
        return CredentialsReplaced(
            occurred_at=at,
            model=model or self.model,
            party=party,
            certificate=certificate,
            previous_party=self.cos_party,
            previous_certificate=self.cos_certificate,
        )

    def record_srv623(
        self, *, at: datetime, request_id: str, model: DeviceModelKey | None = None
    ) -> Srv623Processed:
        """``model`` is the Device Model in force (for a Gas Proxy Function, its Comms Hub's,
        which the application knows); it defaults to the Device's own."""
        if not request_id.strip():
            raise RuleViolation("an SRV 6.23 needs its request_id", code="INVALID_REQUEST_ID")
        return Srv623Processed(
            occurred_at=utc(at), request_id=request_id, model=model or self.model
        )

    def record_srv623_failure(
        self,
        *,
        at: datetime,
        request_id: str,
        reason: str,
        model: DeviceModelKey | None = None,
    ) -> Srv623Failed:
        """A failed SRV 6.23 on this Device; ``model`` as for ``record_srv623``."""
        if not request_id.strip():
            raise RuleViolation("an SRV 6.23 needs its request_id", code="INVALID_REQUEST_ID")
        if not reason.strip():
            raise RuleViolation("a failed SRV 6.23 needs its reason", code="INVALID_REASON")
        return Srv623Failed(
            occurred_at=utc(at),
            request_id=request_id,
            model=model or self.model,
            cos_party=self.cos_party,
            reason=reason,
        )

    def raise_technical_issue(
        self, *, at: datetime, reason: str, issue_id: str = DEFAULT_ISSUE_ID
    ) -> TechnicalIssueRaised:
        if not reason.strip():
            raise RuleViolation(
                "a technical issue needs a reason",
                code="REASON_REQUIRED",
                clause=clauses.ETMAD_1_4_C,
            )
        if any(i.issue_id == issue_id for i in self.technical_issues):
            raise RuleViolation(
                f"technical issue {issue_id!r} is already open on Device {self.device_id}",
                code="TECHNICAL_ISSUE_ALREADY_RAISED",
                clause=clauses.ETMAD_1_4_C,
            )
        return TechnicalIssueRaised(occurred_at=utc(at), issue_id=issue_id, reason=reason)

    def clear_technical_issue(
        self, *, at: datetime, reason: str, issue_id: str = DEFAULT_ISSUE_ID
    ) -> TechnicalIssueCleared:
        at = utc(at)
        issue = next((i for i in self.technical_issues if i.issue_id == issue_id), None)
        if issue is None:
            raise RuleViolation(
                f"no open technical issue {issue_id!r} on Device {self.device_id}",
                code="NO_TECHNICAL_ISSUE",
                clause=clauses.ETMAD_1_4,
            )
        if at < issue.raised_at:
            raise RuleViolation(
                f"clearing at {at.isoformat()} precedes raising at {issue.raised_at.isoformat()}",
                code="OUT_OF_ORDER",
            )
        return TechnicalIssueCleared(occurred_at=at, issue_id=issue_id, reason=reason)

    def upgrade_firmware(self, *, at: datetime, to_model: DeviceModelKey) -> FirmwareUpgraded:
        """Move the Device to another firmware of its manufacturer/model/hardware version.
        Whether the target is a later firmware is the application's check (it needs the
        Device Models' firmware ranks)."""
        at = utc(at)
        if self.device_type is DeviceType.GPF:
            raise RuleViolation(
                "a Gas Proxy Function's Device Model is its Communications Hub's: upgrade the "
                "Communications Hub Function instead",
                code="GPF_MODEL_FOLLOWS_COMMS_HUB",
                clause=clauses.ETMAD_2_GPF_MODEL,
            )
        if not to_model.is_sibling_of(self.model) or to_model == self.model:
            raise RuleViolation(
                f"a firmware upgrade keeps manufacturer, model and hardware version and changes "
                f"the firmware: {self.model} -> {to_model}",
                code="NOT_A_FIRMWARE_UPGRADE",
            )
        if self.decommissioned_at is not None:
            raise RuleViolation(f"Device {self.device_id} is decommissioned", code="DECOMMISSIONED")
        return FirmwareUpgraded(occurred_at=at, from_model=self.model, to_model=to_model)

    # --- derived facts ----------------------------------------------------------------------

    def proving_pairs(self) -> tuple[ProvingPair, ...]:
        """ETMAD 6.1(b): each SRV 6.23 processed *after* a credentials replacement that took
        the Device off a TCoS certificate (to ECoS, or to a different TCoS certificate), on
        the same Device Model as the replacement. The earliest replacement before each 6.23
        is paired with it."""
        pairs: list[ProvingPair] = []
        for srv in self.srv623s:
            earlier = [
                r
                for r in self.replacements
                if r.previous_party is CosParty.TCOS and r.at < srv.at and r.model == srv.model
            ]
            if earlier:
                first = min(earlier, key=lambda r: (r.at, r.version))
                pairs.append(
                    ProvingPair(
                        self.device_id,
                        srv.model,
                        EventRef(self.aggregate_id, first.version, CredentialsReplaced.TYPE),
                        EventRef(self.aggregate_id, srv.version, Srv623Processed.TYPE),
                        srv.at,
                    )
                )
        return tuple(pairs)

    def connected_of(self, device_type: DeviceType) -> tuple[ConnectedDevice, ...]:
        return tuple(c for c in self.connected if c.device_type is device_type)
