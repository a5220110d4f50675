"""Routing of SRV 6.23 'CoS Update Security Credentials' (SRPD 6.4 and clause 8 as rewritten by
ETMAD 3.5; DOMAIN.md 3.4): a policy, and its value.

``route_srv623`` decides where a request goes from four facts only: the identity of the target
Device's recorded CoS certificate (the party it pertains to comes from the
``cos-party-register``, never from the certificate's role: TCoS and ECoS certificates both carry
``transitionalCoS``), the request's SMETS generation, its Command Variant, and whether the
``ETMAD 1.20`` testing had completed at the request's time.

* a TCoS Device and a SMETS1 request: clause 8 does not apply, the request leaves on the legacy
  SMETS1 path (``SMETS1_LEGACY``, ``SRPD 6.4(b)``);
* a TCoS Device and not a SMETS1 request: the TCoS Party (``TCOS_PARTY``, ``SRPD 8.1A``);
* not a TCoS Device: the CoS Party, served by the ECoS Party (``COS_PARTY``, ``SRPD 8.1``); a
  SMETS1 request only once the ``ETMAD 1.20`` testing has completed.

Refusals (route ``REJECTED``) are collected, every one that applies: a Command Variant outside
DUIS's 1 to 8 (``INVALID_COMMAND_VARIANT``) or 2 or 3, local delivery, no longer supported for
SRV 6.23 (``COMMAND_VARIANT_NOT_SUPPORTED``); no CoS certificate recorded for the Device
(``NO_COS_CERTIFICATE``) or one in neither party's list (``UNKNOWN_COS_CERTIFICATE``: never
guessed); a SMETS1 request for a Device that is not a TCoS Device before the testing completed
(``SMETS1_ECOS_NOT_READY``).

How a SMETS1 Device stops being a TCoS Device is not in the seeds (DOMAIN.md 3.4 **[choice]**):
no rule here decides it. A SMETS1 Device is a TCoS Device exactly while the certificate the
inventory records for it is one the register gives to the TCoS Party.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Final

import attrs

from domain import clauses
from domain.cos_parties import CosPartyRegister
from domain.events import utc
from domain.identifiers import CertificateId, CosParty, SmetsGeneration

#: DUIS Command Variants of a Service Request (9 is internal to the DCC's systems).
COMMAND_VARIANTS: Final = range(1, 9)
#: Local delivery, no longer supported for SRV 6.23 (the 2021 consultation's DUIS changes).
LOCAL_DELIVERY_VARIANTS: Final = frozenset({2, 3})


class RouteTo(enum.StrEnum):
    """Where an SRV 6.23 goes."""

    TCOS_PARTY = "TCOS_PARTY"
    COS_PARTY = "COS_PARTY"  # the ECoS Party, serving the CoS Party
    SMETS1_LEGACY = "SMETS1_LEGACY"
    REJECTED = "REJECTED"


class RouteReasonCode(enum.StrEnum):
    """Why a request is routed or refused. Stable: other services match on these."""

    TCOS_DEVICE = "TCOS_DEVICE"
    NOT_A_TCOS_DEVICE = "NOT_A_TCOS_DEVICE"
    SMETS1_TCOS_DEVICE = "SMETS1_TCOS_DEVICE"
    SMETS1_ECOS_READY = "SMETS1_ECOS_READY"
    INVALID_COMMAND_VARIANT = "INVALID_COMMAND_VARIANT"
    COMMAND_VARIANT_NOT_SUPPORTED = "COMMAND_VARIANT_NOT_SUPPORTED"
    NO_COS_CERTIFICATE = "NO_COS_CERTIFICATE"
    UNKNOWN_COS_CERTIFICATE = "UNKNOWN_COS_CERTIFICATE"
    SMETS1_ECOS_NOT_READY = "SMETS1_ECOS_NOT_READY"


REASON_CLAUSES: Final[dict[RouteReasonCode, str]] = {
    RouteReasonCode.TCOS_DEVICE: clauses.SRPD_8_1A,
    RouteReasonCode.NOT_A_TCOS_DEVICE: clauses.SRPD_8_1,
    RouteReasonCode.SMETS1_TCOS_DEVICE: clauses.SRPD_6_4_B,
    RouteReasonCode.SMETS1_ECOS_READY: clauses.ETMAD_1_20,
    RouteReasonCode.INVALID_COMMAND_VARIANT: clauses.DUIS_COMMAND_VARIANT,
    RouteReasonCode.COMMAND_VARIANT_NOT_SUPPORTED: clauses.DUIS_3_8_76,
    RouteReasonCode.NO_COS_CERTIFICATE: clauses.ETMAD_2_TCOS_DEVICE,
    RouteReasonCode.UNKNOWN_COS_CERTIFICATE: clauses.ETMAD_2_TCOS_DEVICE,
    RouteReasonCode.SMETS1_ECOS_NOT_READY: clauses.ETMAD_1_20,
}

#: The codes that refuse a request.
REFUSALS: Final = frozenset(
    {
        RouteReasonCode.INVALID_COMMAND_VARIANT,
        RouteReasonCode.COMMAND_VARIANT_NOT_SUPPORTED,
        RouteReasonCode.NO_COS_CERTIFICATE,
        RouteReasonCode.UNKNOWN_COS_CERTIFICATE,
        RouteReasonCode.SMETS1_ECOS_NOT_READY,
    }
)


@attrs.frozen
class RouteReason:
    code: RouteReasonCode
    clause: str
    detail: str


@attrs.frozen(kw_only=True)
class RouteInputs:
    """Everything ``route_srv623`` looked at, as the register stood at the request's time."""

    certificate: CertificateId | None  # the target Device's recorded CoS certificate
    party: CosParty | None  # the register's party for it; None: in neither party's list
    generation: SmetsGeneration
    command_variant: int
    smets1_testing_completed_at: datetime | None  # ETMAD 1.20, if completed by the time


@attrs.frozen(kw_only=True)
class Route:
    """The decision: where the request goes, why (each reason naming its clause), at what time,
    from which inputs. ``REJECTED`` lists every refusal that applies."""

    route: RouteTo
    reasons: tuple[RouteReason, ...]
    as_of: datetime
    inputs: RouteInputs

    @property
    def rejected(self) -> bool:
        return self.route is RouteTo.REJECTED

    def codes(self) -> frozenset[RouteReasonCode]:
        return frozenset(r.code for r in self.reasons)


def _reason(code: RouteReasonCode, detail: str) -> RouteReason:
    return RouteReason(code, REASON_CLAUSES[code], detail)


def _variant_refusals(variant: int) -> list[RouteReason]:
    if variant not in COMMAND_VARIANTS:
        return [
            _reason(
                RouteReasonCode.INVALID_COMMAND_VARIANT,
                f"Command Variant {variant} is not one of a Service Request's (1 to 8)",
            )
        ]
    if variant in LOCAL_DELIVERY_VARIANTS:
        return [
            _reason(
                RouteReasonCode.COMMAND_VARIANT_NOT_SUPPORTED,
                f"Command Variant {variant} (local delivery) is no longer supported for SRV 6.23",
            )
        ]
    return []


def _certificate_refusals(inputs: RouteInputs) -> list[RouteReason]:
    if inputs.certificate is None:
        return [
            _reason(
                RouteReasonCode.NO_COS_CERTIFICATE,
                "the Smart Metering Inventory records no CoS certificate for the target Device",
            )
        ]
    if inputs.party is None:
        return [
            _reason(
                RouteReasonCode.UNKNOWN_COS_CERTIFICATE,
                f"the target Device's CoS certificate {inputs.certificate} is in neither the "
                "TCoS Party's nor the ECoS Party's list",
            )
        ]
    return []


def _path(inputs: RouteInputs, party: CosParty, at: datetime) -> tuple[RouteTo, list[RouteReason]]:
    """The clause-8 path for a Device whose certificate pertains to ``party``, at ``at``."""
    smets1 = inputs.generation is SmetsGeneration.SMETS1
    if party is CosParty.TCOS and smets1:
        why = "a SMETS1 Service Request targeted at a TCoS Device: clause 8 does not apply"
        return RouteTo.SMETS1_LEGACY, [_reason(RouteReasonCode.SMETS1_TCOS_DEVICE, why)]
    if party is CosParty.TCOS:
        why = "the target is a TCoS Device and the request is not a SMETS1 Service Request"
        return RouteTo.TCOS_PARTY, [_reason(RouteReasonCode.TCOS_DEVICE, why)]
    reasons = [
        _reason(
            RouteReasonCode.NOT_A_TCOS_DEVICE,
            f"the target Device's CoS certificate {inputs.certificate} pertains to the "
            f"{party} Party: it is not a TCoS Device",
        )
    ]
    if not smets1:
        return RouteTo.COS_PARTY, reasons
    completed = inputs.smets1_testing_completed_at
    if completed is None or completed > at:
        refusal = _reason(
            RouteReasonCode.SMETS1_ECOS_NOT_READY,
            "the ECoS Party may process SRV 6.23s for SMETS1 Devices only once the relevant "
            "testing is complete; no completion is recorded by the request's time",
        )
        return RouteTo.REJECTED, [refusal]
    ready = _reason(
        RouteReasonCode.SMETS1_ECOS_READY,
        f"the SMETS1 testing completed on {completed.isoformat()}",
    )
    return RouteTo.COS_PARTY, [*reasons, ready]


def decide_route(inputs: RouteInputs, *, at: datetime) -> Route:
    """Decide the route of an SRV 6.23 from its recorded inputs (see the module's text)."""
    at = utc(at)
    refusals = [*_variant_refusals(inputs.command_variant), *_certificate_refusals(inputs)]
    route, reasons = RouteTo.REJECTED, refusals
    if inputs.party is not None and inputs.certificate is not None:
        route, reasons = _path(inputs, inputs.party, at)
        if route is not RouteTo.REJECTED and refusals:
            route, reasons = RouteTo.REJECTED, refusals
        elif route is RouteTo.REJECTED:
            reasons = [*refusals, *reasons]
    return Route(route=route, reasons=tuple(reasons), as_of=at, inputs=inputs)


def route_srv623(
    *,
    certificate: CertificateId | None,
    generation: SmetsGeneration,
    command_variant: int,
    at: datetime,
    register: CosPartyRegister,
) -> Route:
    """Route an SRV 6.23 whose target Device's recorded CoS certificate is ``certificate``:
    the party is the one ``register`` gives the certificate's identity as at ``at``, and the
    ``ETMAD 1.20`` precondition is the testing completed by ``at``."""
    at = utc(at)
    testing = register.smets1_testing_as_of(at)
    inputs = RouteInputs(
        certificate=certificate,
        party=None if certificate is None else register.party_of(certificate, as_of=at),
        generation=generation,
        command_variant=command_variant,
        smets1_testing_completed_at=None if testing is None else testing.completed_at,
    )
    return decide_route(inputs, at=at)
