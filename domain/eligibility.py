"""Eligibility for ECoS Migration (ETMAD 1.3 and 1.4, DOMAIN.md 4.1): a policy, and its value.

``assess_eligibility`` is a pure function of the facts it is given (``EligibilityInputs``) and
the DCC-set windows (``EligibilityParameters``). It collects **every** reason that applies, each
with a stable code and its clause, and returns them in an ``Eligibility`` together with the
inputs it saw, so that the decision can be re-derived and explained.

1.4 closing paragraph: when the issue that made a Device Ineligible is resolved or no longer
applies, the Device is no longer Ineligible. Nothing needs re-entering: assessing again at a
later time, on the facts as they then stand, gives the answer.
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta

import attrs

from domain import clauses
from domain.device import ConnectedDevice, TechnicalIssue
from domain.events import utc
from domain.identifiers import EUI64, CosParty, DeviceModelKey, DeviceType, MPxN
from domain.registration import SupplierChange, changes_of_supplier, supplier_on


class ReasonCode(enum.StrEnum):
    """Why a Device is not eligible. Stable: other services match on these."""

    NOT_COMMISSIONED = "NOT_COMMISSIONED"
    CHF_NOT_COMMISSIONED = "CHF_NOT_COMMISSIONED"
    DECOMMISSIONED = "DECOMMISSIONED"
    NOT_TCOS_DEVICE = "NOT_TCOS_DEVICE"
    NON_MIGRATABLE_MODEL = "NON_MIGRATABLE_MODEL"
    RECENT_CHANGE_OF_SUPPLIER = "RECENT_CHANGE_OF_SUPPLIER"
    PENDING_CHANGE_OF_SUPPLIER = "PENDING_CHANGE_OF_SUPPLIER"
    RECENTLY_COMMISSIONED = "RECENTLY_COMMISSIONED"
    TECHNICAL_ISSUE = "TECHNICAL_ISSUE"


REASON_CLAUSES: dict[ReasonCode, str] = {
    ReasonCode.NOT_COMMISSIONED: clauses.ETMAD_1_3,
    ReasonCode.CHF_NOT_COMMISSIONED: clauses.ETMAD_1_3,
    ReasonCode.DECOMMISSIONED: clauses.ETMAD_1_3,
    ReasonCode.NOT_TCOS_DEVICE: clauses.ETMAD_1_3,
    ReasonCode.NON_MIGRATABLE_MODEL: clauses.ETMAD_1_4_A,
    ReasonCode.RECENT_CHANGE_OF_SUPPLIER: clauses.ETMAD_1_4_B,
    ReasonCode.PENDING_CHANGE_OF_SUPPLIER: clauses.ETMAD_1_4_B,
    ReasonCode.RECENTLY_COMMISSIONED: clauses.ETMAD_1_4_B,
    ReasonCode.TECHNICAL_ISSUE: clauses.ETMAD_1_4_C,
}


@attrs.frozen
class Reason:
    code: ReasonCode
    clause: str
    detail: str


@attrs.frozen(kw_only=True)
class EligibilityParameters:
    """DCC-set windows for the 1.4(b) transient issues. The seed's examples are not exhaustive
    and give no values; these defaults are documented in ``docs/decisions.md``."""

    recent_change_of_supplier: timedelta = timedelta(days=7)
    pending_change_of_supplier: timedelta = timedelta(days=14)
    recent_commissioning: timedelta = timedelta(days=7)

    def __attrs_post_init__(self) -> None:
        for name in (
            "recent_change_of_supplier",
            "pending_change_of_supplier",
            "recent_commissioning",
        ):
            if getattr(self, name) < timedelta(0):
                msg = f"eligibility window {name} cannot be negative"
                raise ValueError(msg)


@attrs.frozen(kw_only=True)
class SupplierSource:
    """Whose Registration Data gives a Device its Responsible Supplier, and why."""

    mpxn: MPxN | None
    via_device: EUI64 | None
    rule: str


@attrs.frozen(kw_only=True)
class EligibilityInputs:
    """Everything ``assess_eligibility`` looks at, as it stood at the assessment time."""

    device_id: EUI64
    device_type: DeviceType
    model: DeviceModelKey
    cos_party: CosParty
    commissioned_at: datetime | None
    decommissioned_at: datetime | None
    comms_hub_commissioned_at: datetime | None = None
    comms_hub_decommissioned_at: datetime | None = None
    model_non_migratable: bool = False
    model_categorisation: str | None = None
    supplier_source: SupplierSource
    supplier_history: tuple[SupplierChange, ...] = ()
    technical_issues: tuple[TechnicalIssue, ...] = ()


@attrs.frozen(kw_only=True)
class Eligibility:
    """The decision: eligible or not, with every reason, as of a time, from recorded inputs."""

    device_id: EUI64
    as_of: datetime
    eligible: bool
    reasons: tuple[Reason, ...]
    responsible_supplier: str | None
    inputs: EligibilityInputs
    parameters: EligibilityParameters

    def codes(self) -> frozenset[ReasonCode]:
        return frozenset(r.code for r in self.reasons)


def _reason(code: ReasonCode, detail: str) -> Reason:
    return Reason(code, REASON_CLAUSES[code], detail)


def _days(later: datetime, earlier: datetime) -> int:
    return (later.date() - earlier.date()).days


def _day_word(n: int) -> str:
    return "1 day" if n == 1 else f"{n} days"


def _supplier_change_reasons(
    history: tuple[SupplierChange, ...], at: datetime, params: EligibilityParameters
) -> list[Reason]:
    reasons = []
    for change in changes_of_supplier(history):
        effective = change.effective_from
        if at - params.recent_change_of_supplier < effective <= at:
            ago = _days(at, effective)
            reasons.append(
                _reason(
                    ReasonCode.RECENT_CHANGE_OF_SUPPLIER,
                    f"change of supplier to {change.supplier_id} effective "
                    f"{effective.date().isoformat()} ({_day_word(ago)} ago)",
                )
            )
        elif at < effective <= at + params.pending_change_of_supplier:
            ahead = _days(effective, at)
            reasons.append(
                _reason(
                    ReasonCode.PENDING_CHANGE_OF_SUPPLIER,
                    f"change of supplier to {change.supplier_id} effective "
                    f"{effective.date().isoformat()} (in {_day_word(ahead)})",
                )
            )
    return reasons


def assess_eligibility(
    facts: EligibilityInputs,
    *,
    at: datetime,
    parameters: EligibilityParameters | None = None,
) -> Eligibility:
    """Decide whether a Device is eligible for ECoS Migration at ``at`` (1.3, 1.4).

    Eligible only if Commissioned (a Gas Proxy Function: installed as part of a Communications
    Hub Function that has been Commissioned), not since Decommissioned, a TCoS Device, and not
    Ineligible on a 1.4 ground. Every applicable reason is listed.
    """
    at = utc(at)
    params = parameters or EligibilityParameters()
    reasons: list[Reason] = []

    # 1.3 Commissioned (for a GPF: its Communications Hub Function) and not Decommissioned.
    is_gpf = facts.device_type is DeviceType.GPF
    commissioned_at = facts.comms_hub_commissioned_at if is_gpf else facts.commissioned_at
    if commissioned_at is None:
        if is_gpf:
            reasons.append(
                _reason(
                    ReasonCode.CHF_NOT_COMMISSIONED,
                    "the Communications Hub Function this Gas Proxy Function is part of has not "
                    "been Commissioned",
                )
            )
        else:
            reasons.append(
                _reason(ReasonCode.NOT_COMMISSIONED, "the Device has not been Commissioned")
            )
    decommissioned = [
        (who, when)
        for who, when in (
            ("the Device", facts.decommissioned_at),
            ("its Communications Hub Function", facts.comms_hub_decommissioned_at),
        )
        if when is not None and (who == "the Device" or is_gpf)
    ]
    for who, when in decommissioned:
        reasons.append(
            _reason(
                ReasonCode.DECOMMISSIONED, f"{who} was Decommissioned on {when.date().isoformat()}"
            )
        )
    # 1.3 "eligible TCoS Devices".
    if facts.cos_party is not CosParty.TCOS:
        reasons.append(
            _reason(
                ReasonCode.NOT_TCOS_DEVICE,
                f"the Device's CoS credential pertains to the {facts.cos_party} Party",
            )
        )
    # ETMAD 1.4(a): the Device Model is categorised Non-Migratable.
    if facts.model_non_migratable:
        reasons.append(
            _reason(
                ReasonCode.NON_MIGRATABLE_MODEL,
                f"Device Model {facts.model} is categorised Non-Migratable"
                + (f" ({facts.model_categorisation})" if facts.model_categorisation else ""),
            )
        )
    # ETMAD 1.4(b) transient issues: changes of supplier, recent or pending; recent Commissioning.
    reasons.extend(_supplier_change_reasons(facts.supplier_history, at, params))
    if commissioned_at is not None and at - params.recent_commissioning < commissioned_at <= at:
        whose = "its Communications Hub Function was" if is_gpf else "the Device was"
        reasons.append(
            _reason(
                ReasonCode.RECENTLY_COMMISSIONED,
                f"{whose} Commissioned on {commissioned_at.date().isoformat()} "
                f"({_day_word(_days(at, commissioned_at))} ago)",
            )
        )
    # ETMAD 1.4(c): technical issues impacting the Device's functionality.
    reasons.extend(
        _reason(
            ReasonCode.TECHNICAL_ISSUE,
            f"technical issue {issue.issue_id!r} raised {issue.raised_at.date().isoformat()}: "
            f"{issue.reason}",
        )
        for issue in facts.technical_issues
    )

    return Eligibility(
        device_id=facts.device_id,
        as_of=at,
        eligible=not reasons,
        reasons=tuple(reasons),
        responsible_supplier=(
            supplier_on(facts.supplier_history, at) if facts.supplier_source.mpxn else None
        ),
        inputs=facts,
        parameters=params,
    )


def supplier_source(
    *,
    device_type: DeviceType,
    own_mpxn: MPxN | None,
    device_id: EUI64,
    gsme: ConnectedDevice | None = None,
    esme: ConnectedDevice | None = None,
) -> SupplierSource:
    """Whose MPxN gives the Responsible Supplier (ETMAD section 2 for a Gas Proxy Function).

    A GPF's Responsible Supplier is that of the GSME connected to its Communications Hub,
    where available; where no GSME is connected, the ESME's, where available; where neither,
    there is none. Where a GSME is connected but has no MPxN, there is none either: the ESME
    is used only where *no* GSME is connected (``docs/decisions.md``).
    """
    if device_type is not DeviceType.GPF:
        return SupplierSource(
            mpxn=own_mpxn, via_device=device_id if own_mpxn else None, rule="the Device's own MPxN"
        )
    if gsme is not None:
        return SupplierSource(
            mpxn=gsme.mpxn,
            via_device=gsme.device_id,
            rule=f"{clauses.ETMAD_2_GPF_SUPPLIER}: the connected GSME",
        )
    if esme is not None:
        return SupplierSource(
            mpxn=esme.mpxn,
            via_device=esme.device_id,
            rule=f"{clauses.ETMAD_2_GPF_SUPPLIER}: no GSME connected; the connected ESME",
        )
    return SupplierSource(
        mpxn=None,
        via_device=None,
        rule=f"{clauses.ETMAD_2_GPF_SUPPLIER}: neither GSME nor ESME "
        "connected; no Responsible Supplier",
    )


def constant_between(
    facts: EligibilityInputs, at: datetime, parameters: EligibilityParameters | None = None
) -> tuple[datetime | None, datetime | None]:
    """``(lo, hi)``: on the same facts, ``assess_eligibility`` gives the same verdict and the
    same reason codes at every time ``t`` with ``lo <= t < hi`` (None: unbounded), ``at``
    included. Only the 1.4(b) windows depend on time: each change of supplier is pending on
    ``[effective - pending, effective)`` and recent on ``[effective, effective + recent)``, and
    Commissioning is recent on ``[commissioned, commissioned + recent)``; their ends are the only
    times the codes can change. (The reasons' texts count days, so they change daily.)"""
    at = utc(at)
    params = parameters or EligibilityParameters()
    is_gpf = facts.device_type is DeviceType.GPF
    commissioned_at = facts.comms_hub_commissioned_at if is_gpf else facts.commissioned_at
    ends: list[datetime] = []
    for change in changes_of_supplier(facts.supplier_history):
        effective = change.effective_from
        ends += [
            effective - params.pending_change_of_supplier,
            effective,
            effective + params.recent_change_of_supplier,
        ]
    if commissioned_at is not None:
        ends += [commissioned_at, commissioned_at + params.recent_commissioning]
    lo = max((t for t in ends if t <= at), default=None)
    hi = min((t for t in ends if t > at), default=None)
    return lo, hi
