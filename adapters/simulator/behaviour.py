"""What a simulated Device (by Device Model, or one Device) and the simulated parties do.

A ``DeviceBehaviour`` is a value: the GBCS status the Device puts on the cell a command
replaces, how often the command is lost on the way (no response), how long the Device takes
to answer, whether it processes SRV 6.23 once migrated, and whether the TCoS Service
Provider's review refuses it. An ``Outage`` makes one simulated system unavailable to every
Device between two business times (``docs/simulator.md``).
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta
from typing import Final, Self

import attrs

from adapters.codecs.gbcs import StatusCode

#: How long a healthy Device takes to answer the transCoSByTransCoS command.
DEFAULT_DEVICE_ELAPSED: Final = timedelta(seconds=4)
#: How long a Service Provider takes to answer an instruction, review or confirmation.
DEFAULT_SERVICE_PROVIDER_ELAPSED: Final = timedelta(seconds=1)


def aware(at: datetime, *, name: str = "at") -> datetime:
    """``at`` if it carries its UTC offset; business time is never naive."""
    if not isinstance(at, datetime) or at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, not {at!r}")
    return at


def _probability(_instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ValueError(f"{attribute.name} is a probability 0..1, not {value!r}")


def _non_negative(
    _instance: object, attribute: attrs.Attribute[timedelta], value: timedelta
) -> None:
    if not isinstance(value, timedelta) or value < timedelta(0):
        raise ValueError(f"{attribute.name} is a non-negative timedelta, not {value!r}")


def _refusal(_instance: object, attribute: attrs.Attribute[str | None], value: str | None) -> None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise ValueError(f"{attribute.name} is None or a non-empty reason, not {value!r}")


@attrs.frozen(kw_only=True)
class DeviceBehaviour:
    """How a Device of a Device Model (or one Device, as a fault) behaves.

    - ``status``: the GBCS status the Device puts on the cell the command replaces (anything
      but ``SUCCESS`` rejects the replacement: badCertificate 5, noTrustAnchor 10, ...);
    - ``no_response_probability``: the chance that a command is lost on its way to the Device
      (flaky communications; 1 never answers). A lost command never reaches the Device;
    - ``elapsed``: how long the Device takes to answer; beyond the time-out given to ``send``
      the answer counts as no response (a slow Device still executes the command);
    - ``processes_srv623_once_migrated``: False for a Device that accepts the replacement but
      then fails SRV 6.23 'CoS Update Security Credentials';
    - ``review_refusal``: a reason for which the TCoS Service Provider's review refuses
      that migration can commence (None: the review confirms).
    """

    status: StatusCode = attrs.field(default=StatusCode.SUCCESS, converter=StatusCode)
    no_response_probability: float = attrs.field(default=0.0, validator=_probability)
    elapsed: timedelta = attrs.field(default=DEFAULT_DEVICE_ELAPSED, validator=_non_negative)
    processes_srv623_once_migrated: bool = True
    review_refusal: str | None = attrs.field(default=None, validator=_refusal)

    @classmethod
    def healthy(cls) -> Self:
        """Answers within a few seconds and accepts the replacement."""
        return cls()

    @classmethod
    def rejecting(cls, status: StatusCode | int) -> Self:
        """Answers, rejecting the replacement with ``status`` (badCertificate, ...)."""
        if StatusCode(status) is StatusCode.SUCCESS:
            raise ValueError("a rejecting Device answers with a status other than SUCCESS")
        return cls(status=status)

    @classmethod
    def failing_srv623(cls) -> Self:
        """Accepts the replacement, then fails SRV 6.23 once migrated."""
        return cls(processes_srv623_once_migrated=False)

    @classmethod
    def flaky(cls, no_response_probability: float) -> Self:
        """Loses commands with the given probability, otherwise healthy."""
        return cls(no_response_probability=no_response_probability)

    @classmethod
    def slow(cls, elapsed: timedelta) -> Self:
        """Executes the command but answers after ``elapsed``."""
        return cls(elapsed=elapsed)

    @classmethod
    def silent(cls) -> Self:
        """Never answers: every command is lost."""
        return cls(no_response_probability=1.0)

    @classmethod
    def refused_by_review(cls, reason: str) -> Self:
        """The TCoS Service Provider's review refuses migration, with ``reason``."""
        return cls(review_refusal=reason)


class SimulatedSystem(enum.StrEnum):
    """The systems of the simulation that an outage can take down."""

    TCOS_SERVICE_PROVIDER = "tcos_service_provider"
    ECOS_SERVICE_PROVIDER = "ecos_service_provider"
    DEVICE_TRANSPORT = "device_transport"


@attrs.frozen(kw_only=True)
class Outage:
    """``system`` refuses every call (``UNAVAILABLE``) from ``start`` until just before
    ``end`` (business time, ``start <= at < end``), for every Device of every model."""

    system: SimulatedSystem = attrs.field(converter=SimulatedSystem)
    start: datetime = attrs.field()
    end: datetime = attrs.field()

    @start.validator
    def _check_start(self, _attribute: object, value: datetime) -> None:
        aware(value, name="start")

    @end.validator
    def _check_end(self, _attribute: object, value: datetime) -> None:
        if aware(value, name="end") <= self.start:
            raise ValueError(f"an outage ends after it starts ({self.start} .. {value})")

    def covers(self, system: SimulatedSystem, at: datetime) -> bool:
        """Whether ``system`` is down at ``at``."""
        return system is self.system and self.start <= at < self.end
