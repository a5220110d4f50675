"""The migration ports (``application/migration_ports.py``): one contract per port, written
once, run against every adapter. The fleet simulator's adapters subclass them here; a real
TCoS or ECoS Service Provider client or DCC transport will subclass them with its own
fixtures (and a time at which it is down, where a test environment can arrange one)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from adapters.codecs.gbcs import (
    TRANSCOS_CELL,
    CraFlag,
    CredentialsReplacementMode,
    GeneralSigningMessage,
    UpdateSecurityCredentialsResponse,
    decode_message,
    verify_signature,
)
from adapters.simulator import (
    FleetSimulation,
    Outage,
    SimulatedDeviceTransport,
    SimulatedEcosServiceProvider,
    SimulatedSystem,
    SimulatedTcosServiceProvider,
)
from application.migration_ports import (
    DeviceReply,
    DeviceTransport,
    EcosServiceProvider,
    ReplyKind,
    ServiceProviderReply,
    TcosServiceProvider,
)
from domain.identifiers import EUI64
from tests.simulator_support import DEVICE, HEALTHY, T0, TCOS_PARTY, material

UNKNOWN = EUI64(0x00DBFFFFFFFFFFFE)
TIMEOUT = timedelta(minutes=2)
MakeCommand = Callable[[EUI64, int], bytes]


def _well_formed(reply: ServiceProviderReply) -> None:
    assert isinstance(reply, ServiceProviderReply)
    assert isinstance(reply.kind, ReplyKind)
    assert reply.elapsed >= timedelta(0)
    if reply.kind is ReplyKind.ANSWERED and not reply.confirmed:
        assert reply.reason.strip(), "a refusal says why"


def _well_formed_device_reply(reply: DeviceReply, timeout: timedelta) -> None:
    assert isinstance(reply, DeviceReply)
    assert isinstance(reply.kind, ReplyKind)
    assert reply.elapsed >= timedelta(0)
    assert (reply.kind is ReplyKind.ANSWERED) == (reply.response is not None)
    if reply.kind is ReplyKind.ANSWERED:
        assert reply.elapsed <= timeout, "nothing is answered after the time-out"


class ServiceProviderFixtures:
    @pytest.fixture
    def device_id(self) -> EUI64:
        """A Device the provider knows, eligible and not migrated."""
        raise NotImplementedError

    @pytest.fixture
    def migrated_device_id(self) -> EUI64 | None:
        """A Device whose credential already pertains to the ECoS Party (None: cannot)."""
        return None

    @pytest.fixture
    def at(self) -> datetime:
        """A business time at which the provider is available."""
        raise NotImplementedError

    @pytest.fixture
    def outage_at(self) -> datetime | None:
        """A business time at which the provider is down (None: the test cannot arrange one)."""
        return None


class TcosServiceProviderContract(ServiceProviderFixtures):
    """What every ``TcosServiceProvider`` promises."""

    @pytest.fixture
    def tcos(self) -> TcosServiceProvider:
        raise NotImplementedError

    def test_every_call_returns_a_well_formed_reply(self, tcos, device_id, at):
        for call in (tcos.instruct, tcos.review, tcos.confirm):
            for device in (device_id, UNKNOWN):
                _well_formed(call(device, at))

    def test_an_instructed_device_is_reviewed_as_ready_to_commence(self, tcos, device_id, at):
        instructed = tcos.instruct(device_id, at)
        assert instructed.kind is ReplyKind.ANSWERED
        assert instructed.confirmed
        reviewed = tcos.review(device_id, at + instructed.elapsed)
        assert reviewed.kind is ReplyKind.ANSWERED
        assert reviewed.confirmed, reviewed.reason

    def test_completion_is_not_confirmed_before_the_credentials_are_replaced(
        self, tcos, device_id, at
    ):
        tcos.instruct(device_id, at)
        reply = tcos.confirm(device_id, at)
        _well_formed(reply)
        assert not (reply.kind is ReplyKind.ANSWERED and reply.confirmed)

    def test_completion_is_confirmed_for_a_migrated_device(self, tcos, migrated_device_id, at):
        if migrated_device_id is None:
            pytest.skip("this adapter's test environment has no migrated Device")
        reply = tcos.confirm(migrated_device_id, at)
        assert reply.kind is ReplyKind.ANSWERED
        assert reply.confirmed

    def test_an_unknown_device_is_never_confirmed(self, tcos, at):
        for call in (tcos.instruct, tcos.review, tcos.confirm):
            reply = call(UNKNOWN, at)
            _well_formed(reply)
            assert not (reply.kind is ReplyKind.ANSWERED and reply.confirmed)

    def test_an_outage_is_a_reply_not_an_exception(self, tcos, device_id, outage_at):
        if outage_at is None:
            pytest.skip("this adapter's test environment cannot take the provider down")
        for call in (tcos.instruct, tcos.review, tcos.confirm):
            reply = call(device_id, outage_at)
            _well_formed(reply)
            assert reply.kind is ReplyKind.UNAVAILABLE


class EcosServiceProviderContract(ServiceProviderFixtures):
    """What every ``EcosServiceProvider`` promises."""

    @pytest.fixture
    def ecos(self) -> EcosServiceProvider:
        raise NotImplementedError

    def test_confirm_returns_a_well_formed_reply(self, ecos, device_id, at):
        for device in (device_id, UNKNOWN):
            _well_formed(ecos.confirm(device, at))

    def test_completion_is_not_confirmed_before_the_credentials_are_replaced(
        self, ecos, device_id, at
    ):
        reply = ecos.confirm(device_id, at)
        assert reply.kind is ReplyKind.ANSWERED
        assert not reply.confirmed
        assert reply.reason

    def test_completion_is_confirmed_for_a_migrated_device(self, ecos, migrated_device_id, at):
        if migrated_device_id is None:
            pytest.skip("this adapter's test environment has no migrated Device")
        reply = ecos.confirm(migrated_device_id, at)
        assert reply.kind is ReplyKind.ANSWERED
        assert reply.confirmed

    def test_an_unknown_device_is_never_confirmed(self, ecos, at):
        reply = ecos.confirm(UNKNOWN, at)
        _well_formed(reply)
        assert not (reply.kind is ReplyKind.ANSWERED and reply.confirmed)

    def test_an_outage_is_a_reply_not_an_exception(self, ecos, device_id, outage_at):
        if outage_at is None:
            pytest.skip("this adapter's test environment cannot take the provider down")
        reply = ecos.confirm(device_id, outage_at)
        _well_formed(reply)
        assert reply.kind is ReplyKind.UNAVAILABLE


class DeviceTransportContract:
    """What every ``DeviceTransport`` promises."""

    @pytest.fixture
    def transport(self) -> DeviceTransport:
        raise NotImplementedError

    @pytest.fixture
    def device_id(self) -> EUI64:
        """A Device that answers, holding the TCoS Party's credential."""
        raise NotImplementedError

    @pytest.fixture
    def make_command(self) -> MakeCommand:
        """Signed transCoSByTransCoS command bytes for (Device, counter), signed by the party
        whose credential the Device holds."""
        raise NotImplementedError

    @pytest.fixture
    def at(self) -> datetime:
        raise NotImplementedError

    @pytest.fixture
    def outage_at(self) -> datetime | None:
        """A business time at which the transport is down (None: cannot arrange one)."""
        return None

    @pytest.fixture
    def device_public_key(self) -> bytes | None:
        """The DER public key ``device_id``'s responses verify with (None: not known)."""
        return None

    def test_an_answer_is_a_gbcs_response_to_the_command_sent(
        self, transport, device_id, make_command, at
    ):
        command = make_command(device_id, 6000)
        reply = transport.send(device_id, command, at, timeout=TIMEOUT)
        _well_formed_device_reply(reply, TIMEOUT)
        assert reply.kind is ReplyKind.ANSWERED
        sent = decode_message(command)
        assert isinstance(sent, GeneralSigningMessage)
        response = decode_message(reply.response)
        assert isinstance(response, GeneralSigningMessage)
        assert response.header.cra_flag is CraFlag.RESPONSE
        assert response.header.message_code == sent.header.message_code == 0x0106
        assert response.header.originator_counter == sent.header.originator_counter
        assert response.header.originator == device_id
        assert response.header.recipient == sent.header.originator
        content = response.content()
        assert isinstance(content, UpdateSecurityCredentialsResponse)
        outcome = content.execution_outcome
        assert outcome is not None
        assert outcome.mode is CredentialsReplacementMode.TRANSCOS_BY_TRANSCOS
        assert outcome.seq_number == 6000
        assert [o.cell for o in outcome.outcomes] == [TRANSCOS_CELL]

    def test_an_answer_is_signed_by_the_device(
        self, transport, device_id, make_command, at, device_public_key
    ):
        if device_public_key is None:
            pytest.skip("this adapter's test environment does not know the Device's key")
        reply = transport.send(device_id, make_command(device_id, 6000), at, timeout=TIMEOUT)
        assert reply.response is not None
        assert verify_signature(reply.response, device_public_key)

    @pytest.mark.parametrize(
        "command",
        [b"", b"\x00", b"\xdf\x09", bytes(200), b"not a GBCS command at all"],
        ids=["empty", "zero", "truncated", "zeros", "text"],
    )
    def test_bytes_that_are_not_a_command_never_raise(self, transport, device_id, at, command):
        reply = transport.send(device_id, command, at, timeout=TIMEOUT)
        _well_formed_device_reply(reply, TIMEOUT)
        if reply.response is not None:
            decode_message(reply.response)

    def test_an_unknown_device_does_not_answer(self, transport, make_command, at):
        reply = transport.send(UNKNOWN, make_command(UNKNOWN, 6000), at, timeout=TIMEOUT)
        _well_formed_device_reply(reply, TIMEOUT)
        assert reply.kind is not ReplyKind.ANSWERED

    def test_nothing_is_answered_within_a_zero_time_out(
        self, transport, device_id, make_command, at
    ):
        reply = transport.send(device_id, make_command(device_id, 6000), at, timeout=timedelta(0))
        _well_formed_device_reply(reply, timedelta(0))
        assert reply.kind is ReplyKind.NO_RESPONSE

    def test_an_outage_is_a_reply_not_an_exception(
        self, transport, device_id, make_command, outage_at
    ):
        if outage_at is None:
            pytest.skip("this adapter's test environment cannot take the transport down")
        reply = transport.send(device_id, make_command(device_id, 6000), outage_at, timeout=TIMEOUT)
        _well_formed_device_reply(reply, TIMEOUT)
        assert reply.kind is ReplyKind.UNAVAILABLE


# ----------------------------------------------------------------- the fleet simulator

MIGRATED = EUI64(0x00DB1234567890A1)
OUTAGE_AT = T0 + timedelta(days=1)


@pytest.fixture
def fleet() -> FleetSimulation:
    """A healthy fleet of two Devices (one already migrated); every system is down for an
    hour a day after ``T0``."""
    fleet = material().fleet(
        outages=[
            Outage(system=system, start=OUTAGE_AT, end=OUTAGE_AT + timedelta(hours=1))
            for system in SimulatedSystem
        ]
    )
    fleet.add_device(DEVICE, HEALTHY)
    fleet.add_device(MIGRATED, HEALTHY, credential=material().ecos.der)
    return fleet


class SimulatorFixtures:
    @pytest.fixture
    def device_id(self) -> EUI64:
        return DEVICE

    @pytest.fixture
    def migrated_device_id(self) -> EUI64 | None:
        return MIGRATED

    @pytest.fixture
    def at(self) -> datetime:
        return T0

    @pytest.fixture
    def outage_at(self) -> datetime | None:
        return OUTAGE_AT


class TestSimulatedTcosServiceProvider(SimulatorFixtures, TcosServiceProviderContract):
    @pytest.fixture
    def tcos(self, fleet: FleetSimulation) -> TcosServiceProvider:
        return SimulatedTcosServiceProvider(fleet)


class TestSimulatedEcosServiceProvider(SimulatorFixtures, EcosServiceProviderContract):
    @pytest.fixture
    def ecos(self, fleet: FleetSimulation) -> EcosServiceProvider:
        return SimulatedEcosServiceProvider(fleet)


class TestSimulatedDeviceTransport(SimulatorFixtures, DeviceTransportContract):
    @pytest.fixture
    def transport(self, fleet: FleetSimulation) -> DeviceTransport:
        return SimulatedDeviceTransport(fleet)

    @pytest.fixture
    def make_command(self) -> MakeCommand:
        return lambda device, counter: material().command(device, counter)

    @pytest.fixture
    def device_public_key(self, fleet: FleetSimulation, device_id: EUI64) -> bytes | None:
        return fleet.device_public_key(device_id)

    def test_the_commands_come_from_the_tcos_party(self, make_command):
        sent = decode_message(make_command(DEVICE, 1))
        assert isinstance(sent, GeneralSigningMessage)
        assert sent.header.originator == TCOS_PARTY
