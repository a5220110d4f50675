"""Readiness of the ECoS Party for SMETS1 SRV 6.23s (ETMAD 1.19, with 1.20): a policy, and its
value.

1.19: "Prior to the end of the ECoS Migration Period, DCC shall ensure that the ECoS Party has the
required information to enable processing of CoS Update Security Credentials Service Requests
(Service Reference Variant 6.23) for all SMETS1 Devices." ``assess_smets1_readiness`` decides,
for one SMETS1 Device at a time, whether an SRV 6.23 for it could be processed on the CoS Party
path (served by the ECoS Party) from what is held, and collects **every** reason it could not:

* ``SMETS1_TESTING_NOT_COMPLETED`` (``ETMAD 1.20``): the testing under the ECoS Testing Approach
  Document is not recorded as completed by the time;
* ``TCOS_DEVICE``, ``NO_COS_CERTIFICATE``, ``UNKNOWN_COS_CERTIFICATE``: routing
  (``domain.routing.decide_route``) would not send the request to the CoS Party — the Device's
  recorded CoS certificate pertains to the TCoS Party in the ``cos-party-register`` (a SMETS1
  request for a TCoS Device leaves on the legacy SMETS1 path, ``SRPD 6.4(b)``), or none is
  recorded, or the register gives it to neither party (``ETMAD 2 (TCoS Device / ECoS Device)``);
  the route is routing's own decision, so the two never disagree;
* ``NO_MPXN`` (the MPxN check, ``SRPD 6.1``): the Smart Metering Inventory associates no MPxN
  with the Device, so the request's MPxN cannot match it;
* ``NO_REQUISITE_REPLACEMENT_CERTIFICATES`` (the certificate count check, ``SRPD 6.1``): no
  requisite number of replacement certificates is set for the Device's type, so the count check
  fails whatever the request carries.

What "the required information" is taken to be (``docs/decisions.md``): what the DCC holds and
the routing and request checks read for the Device — the register's party for its certificate,
the ``ETMAD 1.20`` precondition, its MPxN and its type's requisite certificate count. What a
request itself carries (its signer, its certificates) and Registration Data are not information
about the Device the DCC could hold in advance, and are not judged here.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Final

import attrs

from domain import clauses
from domain.events import utc
from domain.identifiers import EUI64, CertificateId, CosParty, DeviceType, MPxN, SmetsGeneration
from domain.routing import REASON_CLAUSES as ROUTE_CLAUSES
from domain.routing import RouteInputs, RouteReasonCode, RouteTo, decide_route
from domain.srv623_checks import Check

ETMAD_1_19: Final = clauses.ETMAD_1_19

#: The Command Variant of the SRV 6.23 the readiness supposes: a remote one (1), which routing
#: never refuses, so the answer does not turn on how a User would send it.
SUPPOSED_COMMAND_VARIANT: Final = 1


class ReadinessCode(enum.StrEnum):
    """Why an SRV 6.23 for a SMETS1 Device could not be processed by the ECoS Party. Stable:
    other services match on these."""

    SMETS1_TESTING_NOT_COMPLETED = "SMETS1_TESTING_NOT_COMPLETED"
    TCOS_DEVICE = "TCOS_DEVICE"
    NO_COS_CERTIFICATE = "NO_COS_CERTIFICATE"
    UNKNOWN_COS_CERTIFICATE = "UNKNOWN_COS_CERTIFICATE"
    NO_MPXN = "NO_MPXN"
    NO_REQUISITE_REPLACEMENT_CERTIFICATES = "NO_REQUISITE_REPLACEMENT_CERTIFICATES"


REASON_CLAUSES: Final[dict[ReadinessCode, str]] = {
    ReadinessCode.SMETS1_TESTING_NOT_COMPLETED: clauses.ETMAD_1_20,
    ReadinessCode.TCOS_DEVICE: ROUTE_CLAUSES[RouteReasonCode.SMETS1_TCOS_DEVICE],
    ReadinessCode.NO_COS_CERTIFICATE: ROUTE_CLAUSES[RouteReasonCode.NO_COS_CERTIFICATE],
    ReadinessCode.UNKNOWN_COS_CERTIFICATE: ROUTE_CLAUSES[RouteReasonCode.UNKNOWN_COS_CERTIFICATE],
    ReadinessCode.NO_MPXN: Check.REQUEST_MPXN_MATCHES_INVENTORY.clause,
    ReadinessCode.NO_REQUISITE_REPLACEMENT_CERTIFICATES: (
        Check.REQUEST_REPLACEMENT_CERTIFICATE_COUNT.clause
    ),
}

#: The routing refusals that say the ECoS Party lacks the Device's certificate information.
_ROUTE_REFUSALS: Final[dict[RouteReasonCode, ReadinessCode]] = {
    RouteReasonCode.NO_COS_CERTIFICATE: ReadinessCode.NO_COS_CERTIFICATE,
    RouteReasonCode.UNKNOWN_COS_CERTIFICATE: ReadinessCode.UNKNOWN_COS_CERTIFICATE,
}


@attrs.frozen
class ReadinessReason:
    code: ReadinessCode
    clause: str
    detail: str


@attrs.frozen(kw_only=True)
class ReadinessInputs:
    """Everything ``assess_smets1_readiness`` looks at, as it stood at the assessment time."""

    device_id: EUI64
    device_type: DeviceType
    certificate: CertificateId | None  # the Device's recorded CoS certificate
    party: CosParty | None  # the register's party for it; None: in neither party's list
    mpxn: MPxN | None  # the MPxN the Smart Metering Inventory associates with the Device
    requisite_replacements: int | None  # set for the Device's type; None: none is set
    smets1_testing_completed_at: datetime | None  # ETMAD 1.20, if completed by the time


@attrs.frozen(kw_only=True)
class Smets1Readiness:
    """The decision for one SMETS1 Device: ready or not, with every reason (each naming its
    clause), as of a time, from recorded inputs; ``route`` is where routing would send a SMETS1
    SRV 6.23 for it then. ``clause`` is the obligation answered."""

    device_id: EUI64
    as_of: datetime
    ready: bool
    reasons: tuple[ReadinessReason, ...]
    route: RouteTo
    inputs: ReadinessInputs
    clause: str = ETMAD_1_19

    def codes(self) -> frozenset[ReadinessCode]:
        return frozenset(r.code for r in self.reasons)


def _reason(code: ReadinessCode, detail: str) -> ReadinessReason:
    return ReadinessReason(code, REASON_CLAUSES[code], detail)


def _testing(inputs: ReadinessInputs, at: datetime) -> list[ReadinessReason]:
    completed = inputs.smets1_testing_completed_at
    if completed is not None and completed <= at:
        return []
    return [
        _reason(
            ReadinessCode.SMETS1_TESTING_NOT_COMPLETED,
            "the ECoS Party may process SRV 6.23s for SMETS1 Devices only once the relevant "
            "testing under the ECoS Testing Approach Document is complete; no completion is "
            f"recorded by {at.isoformat()}",
        )
    ]


def _routing(inputs: ReadinessInputs, at: datetime) -> tuple[RouteTo, list[ReadinessReason]]:
    route = decide_route(
        RouteInputs(
            certificate=inputs.certificate,
            party=inputs.party,
            generation=SmetsGeneration.SMETS1,
            command_variant=SUPPOSED_COMMAND_VARIANT,
            smets1_testing_completed_at=inputs.smets1_testing_completed_at,
        ),
        at=at,
    )
    reasons = [
        _reason(_ROUTE_REFUSALS[r.code], r.detail)
        for r in route.reasons
        if r.code in _ROUTE_REFUSALS
    ]
    if route.route is RouteTo.SMETS1_LEGACY:
        reasons.append(
            _reason(
                ReadinessCode.TCOS_DEVICE,
                f"the Device's CoS certificate {inputs.certificate} pertains to the TCoS Party: "
                "it is still a TCoS Device, and a SMETS1 SRV 6.23 for it leaves on the legacy "
                "SMETS1 path, not to the ECoS Party",
            )
        )
    return route.route, reasons


def _inventory(inputs: ReadinessInputs) -> list[ReadinessReason]:
    reasons = []
    if inputs.mpxn is None:
        reasons.append(
            _reason(
                ReadinessCode.NO_MPXN,
                "the Smart Metering Inventory associates no MPxN with the Device: the MPxN "
                "check of an SRV 6.23 for it would fail",
            )
        )
    if inputs.requisite_replacements is None:
        reasons.append(
            _reason(
                ReadinessCode.NO_REQUISITE_REPLACEMENT_CERTIFICATES,
                "no requisite number of replacement certificates is set for a "
                f"{inputs.device_type}: the certificate count check of an SRV 6.23 for it "
                "would fail",
            )
        )
    return reasons


def assess_smets1_readiness(inputs: ReadinessInputs, *, at: datetime) -> Smets1Readiness:
    """Whether an SRV 6.23 for the SMETS1 Device ``inputs`` describes could be processed by the
    ECoS Party at ``at`` (see the module's text): ready exactly when no reason applies, and
    then routing sends it to the CoS Party."""
    at = utc(at)
    route, routing = _routing(inputs, at)
    reasons = (*_testing(inputs, at), *routing, *_inventory(inputs))
    return Smets1Readiness(
        device_id=inputs.device_id,
        as_of=at,
        ready=not reasons,
        reasons=reasons,
        route=route,
        inputs=inputs,
    )
