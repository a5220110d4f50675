"""Ports of ECoS Migration toward the outside world (ETMAD 6.1(c); DOMAIN.md 3.3).

The four steps of one Device's migration talk to three parties: the TCoS Service Provider
(instruct, review, confirm), the Device (the CS02b transCoSByTransCoS Signed Pre-Command and its
response, through the DCC's transport), and the ECoS Service Provider (confirm). Each is a port;
adapters may be real systems or the seeded fleet simulator. Nothing in ``application/`` knows
which. A fourth port, ``ReplacementCodec``, builds and signs the GBCS command and reads the
Device's response, so that the application never touches GBCS or keys.

Time: calls take the business time at which they are made; replies say how long they took
(``elapsed``), so a caller running on business time can advance it and apply its time-outs.
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta
from typing import Protocol

import attrs

from domain.failures import DeviceOutcome
from domain.identifiers import EUI64, CertificateId


class ReplyKind(enum.StrEnum):
    """What came back from a party or a Device."""

    ANSWERED = "answered"  # a reply arrived (its content says whether it succeeded)
    NO_RESPONSE = "no_response"  # nothing arrived within the time-out
    UNAVAILABLE = "unavailable"  # the party or transport refused the call (outage)


@attrs.frozen(kw_only=True)
class ServiceProviderReply:
    """A Service Provider's answer to an instruction, review or confirmation."""

    kind: ReplyKind
    confirmed: bool = False
    reason: str = ""
    elapsed: timedelta = timedelta(0)


@attrs.frozen(kw_only=True)
class DeviceReply:
    """What the transport brought back for a command sent toward a Device.

    ``response`` is the GBCS response message (bytes) when ``kind`` is ``ANSWERED``."""

    kind: ReplyKind
    response: bytes | None = None
    detail: str = ""
    elapsed: timedelta = timedelta(0)


class TcosServiceProvider(Protocol):
    """**Protocol**: the TCoS Service Provider's part in 6.1(c)(i), (ii) and (iv).

    Promises: each call returns a reply, never raises for a refusal or an outage (those are
    reply kinds); ``confirmed`` is meaningful only when ``kind`` is ``ANSWERED``.
    """

    def instruct(self, device_id: EUI64, at: datetime) -> ServiceProviderReply:
        """6.1(c)(i): instruct the TCoS Service Provider to initiate ECoS Migration."""
        ...

    def review(self, device_id: EUI64, at: datetime) -> ServiceProviderReply:
        """6.1(c)(ii): its review confirming (or refusing, with a reason) that migration can
        commence."""
        ...

    def confirm(self, device_id: EUI64, at: datetime) -> ServiceProviderReply:
        """6.1(c)(iv): its confirmation that the migration completed successfully."""
        ...


class EcosServiceProvider(Protocol):
    """**Protocol**: the ECoS Service Provider's confirmation in 6.1(c)(iv)."""

    def confirm(self, device_id: EUI64, at: datetime) -> ServiceProviderReply:
        """Confirm that the Device's migration completed successfully."""
        ...


class DeviceTransport(Protocol):
    """**Protocol**: sends a command toward a Device and brings back its response.

    Promises: ``send`` never raises for a Device that does not answer (``NO_RESPONSE``) or a
    transport outage (``UNAVAILABLE``); an answered reply carries the GBCS response bytes.
    """

    def send(
        self, device_id: EUI64, command: bytes, at: datetime, *, timeout: timedelta
    ) -> DeviceReply:
        """Send ``command`` (the Command the DCC makes from a Signed Pre-Command) at ``at``."""
        ...


@attrs.frozen(kw_only=True)
class ReplacementCommand:
    """A CS02b transCoSByTransCoS Signed Pre-Command (mode 6, message code 0x0106) signed by
    the TCoS Party, and the Certificate ID of the ECoS Party certificate it carries for the
    transitionalCoS cell (DOMAIN.md 3.3 step 3)."""

    command: bytes
    ecos_certificate: CertificateId
    originator_counter: int


class ReplacementCodec(Protocol):
    """**Protocol**: builds the 6.1(c)(iii) command and reads the Device's response.

    Promises: ``replacement_command`` signs inside the adapter (through its ``Signer``, with
    the TCoS Party's key), with ``originator_counter`` as the header's originator counter and
    the command's authorising sequence number; ``device_outcome`` never raises for a response
    it cannot read: that is the domain's invalid-response outcome (answered, no usable cells,
    ``detail`` saying why).
    """

    def replacement_command(
        self, device_id: EUI64, *, originator_counter: int, at: datetime
    ) -> ReplacementCommand:
        """The Signed Pre-Command putting the ECoS Party's certificate into ``device_id``'s
        transitionalCoS cell."""
        ...

    def device_outcome(self, response: bytes, command: ReplacementCommand) -> DeviceOutcome:
        """The Device's per-cell outcome for ``command``, from its GBCS response bytes."""
        ...
