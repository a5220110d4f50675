"""The fleet simulator's behaviours (``docs/simulator.md``); the ports' contracts run on it in
``tests/test_migration_ports_contract.py``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.codecs.gbcs import (
    TRANSCOS_CELL,
    GeneralSigningMessage,
    StatusCode,
    UpdateSecurityCredentialsResponse,
    decode_message,
    supplier_by_transcos,
    verify_signature,
)
from adapters.codecs.gbcs import build_signed_pre_command as sign_command
from adapters.simulator import (
    DeviceBehaviour,
    DeviceNotInFleet,
    FleetSimulation,
    Outage,
    SeededDeviceSigner,
    SimulatedClock,
    SimulatedDeviceTransport,
    SimulatedEcosServiceProvider,
    SimulatedSystem,
    SimulatedTcosServiceProvider,
)
from application.migration_ports import DeviceReply, ReplyKind
from domain.identifiers import EUI64, DeviceModelKey
from tests.simulator_support import (
    DEVICE,
    ECOS_PARTY,
    HEALTHY,
    T0,
    TCOS_PARTY,
    device_ids,
    material,
)
from tests.test_signer_contract import SignerContract

TIMEOUT = timedelta(minutes=2)
REJECTING = DeviceModelKey("ACME", "E100", "2.0", "0099")
FAILS_623 = DeviceModelKey("BETA", "G7", "1", "3.1")
FLAKY = DeviceModelKey("GAMMA", "C3", "4", "7")
SLOW = DeviceModelKey("DELTA", "P1", "1", "1")


def _fleet(seed: int = 2024, **kwargs: object) -> FleetSimulation:
    return material().fleet(seed=seed, **kwargs)


def _send(fleet: FleetSimulation, device: EUI64, counter: int = 6000, **kwargs) -> DeviceReply:
    at = kwargs.pop("at", T0)
    timeout = kwargs.pop("timeout", TIMEOUT)
    command = material().command(device, counter, **kwargs)
    return SimulatedDeviceTransport(fleet).send(device, command, at, timeout=timeout)


def _outcome(reply: DeviceReply):
    assert reply.kind is ReplyKind.ANSWERED, reply.detail
    assert reply.response is not None
    message = decode_message(reply.response)
    assert isinstance(message, GeneralSigningMessage)
    content = message.content()
    assert isinstance(content, UpdateSecurityCredentialsResponse)
    assert content.execution_outcome is not None
    (outcome,) = content.execution_outcome.outcomes
    return outcome


def _pattern(fleet: FleetSimulation, devices: list[EUI64], rounds: int = 1) -> list[ReplyKind]:
    """The reply kinds of ``rounds`` commands to each Device (fresh counters each round)."""
    return [
        _send(fleet, device, counter=6000 + r).kind for r in range(rounds) for device in devices
    ]


# ------------------------------------------------------------------------------ healthy


def test_a_healthy_device_accepts_the_ecos_credential_and_says_so_in_a_signed_response():
    # A Device of a healthy model answers within a few seconds: the transitionalCoS cell now
    # holds the ECoS Party's certificate, which the response names, and both Service
    # Providers confirm the migration completed.
    fleet = _fleet()
    fleet.add_device(DEVICE, HEALTHY)
    tcos, ecos = SimulatedTcosServiceProvider(fleet), SimulatedEcosServiceProvider(fleet)
    assert tcos.instruct(DEVICE, T0).confirmed
    assert tcos.review(DEVICE, T0).confirmed
    assert not ecos.confirm(DEVICE, T0).confirmed

    reply = _send(fleet, DEVICE, at=T0)
    assert reply.elapsed == timedelta(seconds=4)
    outcome = _outcome(reply)
    assert outcome.status is StatusCode.SUCCESS
    assert outcome.cell == TRANSCOS_CELL
    tcos_read, ecos_read = material().tcos.organisation(), material().ecos.organisation()
    assert outcome.existing_subject_unique_id == TCOS_PARTY.value.to_bytes(8, "big")
    assert outcome.existing_subject_key_id == tcos_read.certificate.subject_key_id
    assert outcome.replacing_subject_unique_id == ECOS_PARTY.value.to_bytes(8, "big")
    assert outcome.replacing_subject_key_id == ecos_read.certificate.subject_key_id
    assert reply.response is not None
    assert verify_signature(reply.response, fleet.device_public_key(DEVICE))

    assert fleet.credential(DEVICE) == material().ecos.der
    assert fleet.holds_ecos_credential(DEVICE)
    assert fleet.processes_srv623(DEVICE)
    assert tcos.confirm(DEVICE, T0 + reply.elapsed).confirmed
    assert ecos.confirm(DEVICE, T0 + reply.elapsed).confirmed
    # Once migrated, the TCoS Service Provider's review no longer confirms.
    assert "already" in tcos.review(DEVICE, T0).reason


def test_the_response_is_dated_when_the_device_answers_and_mirrors_the_command_header():
    fleet = _fleet()
    fleet.add_device(DEVICE, HEALTHY)
    reply = _send(fleet, DEVICE, counter=777, at=T0)
    assert reply.response is not None
    message = decode_message(reply.response)
    assert isinstance(message, GeneralSigningMessage)
    assert message.header.date_time is not None
    assert message.header.date_time.to_datetime() == T0 + timedelta(seconds=4)
    assert message.header.originator_counter == 777
    assert (message.header.originator, message.header.recipient) == (DEVICE, TCOS_PARTY)


def test_the_command_the_dcc_makes_with_its_mac_is_read_as_well():
    fleet = _fleet()
    fleet.add_device(DEVICE, HEALTHY)
    command = material().mac_command(DEVICE, 6000)
    assert command[0] == 0xDD
    reply = SimulatedDeviceTransport(fleet).send(DEVICE, command, T0, timeout=TIMEOUT)
    assert _outcome(reply).status is StatusCode.SUCCESS


# ---------------------------------------------------------------------------- rejection


@pytest.mark.parametrize("status", [s for s in StatusCode if s is not StatusCode.SUCCESS])
def test_a_rejecting_model_answers_with_its_status_and_keeps_the_tcos_credential(status):
    fleet = _fleet(behaviours={REJECTING: DeviceBehaviour.rejecting(status)})
    fleet.add_device(DEVICE, REJECTING)
    outcome = _outcome(_send(fleet, DEVICE))
    assert outcome.status is status
    assert outcome.cell == TRANSCOS_CELL
    assert outcome.replacing_subject_unique_id == ECOS_PARTY.value.to_bytes(8, "big")
    assert fleet.credential(DEVICE) == material().tcos.der
    assert not fleet.holds_ecos_credential(DEVICE)
    confirmed = SimulatedEcosServiceProvider(fleet).confirm(DEVICE, T0)
    assert confirmed.kind is ReplyKind.ANSWERED
    assert not confirmed.confirmed


def test_a_replacement_that_is_not_a_transitional_cos_certificate_is_a_bad_certificate():
    # Even a healthy Device refuses a Supplier certificate for its transitionalCoS cell.
    fleet = _fleet()
    fleet.add_device(DEVICE, HEALTHY)
    outcome = _outcome(_send(fleet, DEVICE, replacement=material().supplier.der))
    assert outcome.status is StatusCode.BAD_CERTIFICATE
    assert fleet.credential(DEVICE) == material().tcos.der


# ------------------------------------------------------------------------------ SRV 6.23


def test_a_device_that_fails_srv_6_23_accepts_the_replacement_then_fails_srv_6_23():
    fleet = _fleet(behaviours={FAILS_623: DeviceBehaviour.failing_srv623()})
    fleet.add_device(DEVICE, FAILS_623)
    assert fleet.processes_srv623(DEVICE)  # as a TCoS Device, it always has
    assert _outcome(_send(fleet, DEVICE)).status is StatusCode.SUCCESS
    assert fleet.holds_ecos_credential(DEVICE)
    assert not fleet.processes_srv623(DEVICE)
    assert not fleet.processes_srv623(EUI64(0x00DB999999999999))  # not in the fleet


# ------------------------------------------------------------------------- flaky, slow


def test_a_flaky_model_loses_commands_with_its_probability_exactly_so_for_a_fixed_seed():
    devices = device_ids(400)
    fleet = _fleet(seed=2024, behaviours={FLAKY: DeviceBehaviour.flaky(0.2)})
    for device in devices:
        fleet.add_device(device, FLAKY)
    kinds = _pattern(fleet, devices)
    lost = kinds.count(ReplyKind.NO_RESPONSE)
    assert lost == 80  # seed 2024 (for any seed: 400 x 0.2 = 80, one standard deviation 8)
    assert kinds.count(ReplyKind.ANSWERED) == 400 - lost
    # A lost command never reached its Device: exactly the answered Devices migrated.
    migrated = [fleet.holds_ecos_credential(d) for d in devices]
    assert migrated == [k is ReplyKind.ANSWERED for k in kinds]


def test_a_lost_command_costs_the_whole_time_out_and_carries_no_response():
    fleet = _fleet(default_behaviour=DeviceBehaviour.silent())
    fleet.add_device(DEVICE, HEALTHY)
    for counter in range(1, 6):
        reply = _send(fleet, DEVICE, counter=counter)
        assert reply.kind is ReplyKind.NO_RESPONSE
        assert reply.elapsed == TIMEOUT
        assert reply.response is None
    assert not fleet.holds_ecos_credential(DEVICE)


def test_a_slow_device_past_the_time_out_is_no_response_but_executes_the_command():
    fleet = _fleet(behaviours={SLOW: DeviceBehaviour.slow(timedelta(minutes=10))})
    fleet.add_device(DEVICE, SLOW)
    late = _send(fleet, DEVICE, counter=1, timeout=timedelta(minutes=5))
    assert late.kind is ReplyKind.NO_RESPONSE
    assert late.elapsed == timedelta(minutes=5)
    assert "time-out" in late.detail
    assert fleet.holds_ecos_credential(DEVICE)  # the answer was late, not the work

    other = EUI64(0x00DB1234567890A2)
    fleet.add_device(other, SLOW)
    in_time = _send(fleet, other, counter=1, timeout=timedelta(minutes=15))
    assert in_time.kind is ReplyKind.ANSWERED
    assert in_time.elapsed == timedelta(minutes=10)


# ------------------------------------------------------------------------- determinism


def test_the_same_seed_and_calls_give_the_same_replies_byte_for_byte():
    devices = device_ids(12)

    def run(seed: int) -> list[DeviceReply]:
        fleet = _fleet(seed=seed, default_behaviour=DeviceBehaviour.flaky(0.5))
        for device in devices:
            fleet.add_device(device, HEALTHY)
        transport = SimulatedDeviceTransport(fleet)
        commands = {d: material().command(d, 6000) for d in devices}
        return [transport.send(d, commands[d], T0, timeout=TIMEOUT) for d in devices * 2]

    first, second = run(7), run(7)
    assert first == second
    assert {r.kind for r in first} == {ReplyKind.ANSWERED, ReplyKind.NO_RESPONSE}


def test_a_different_seed_gives_a_different_flaky_pattern():
    devices = device_ids(30)

    def pattern(seed: int) -> list[ReplyKind]:
        fleet = _fleet(seed=seed, default_behaviour=DeviceBehaviour.flaky(0.5))
        for device in devices:
            fleet.add_device(device, HEALTHY)
        return _pattern(fleet, devices)

    assert pattern(1) != pattern(2)
    assert pattern(1) == pattern(1)


def test_what_one_device_draws_does_not_depend_on_calls_made_for_another():
    devices = device_ids(6)
    alone = _fleet(default_behaviour=DeviceBehaviour.flaky(0.5))
    crowded = _fleet(default_behaviour=DeviceBehaviour.flaky(0.5))
    for device in devices:
        alone.add_device(device, HEALTHY)
        crowded.add_device(device, HEALTHY)
    _pattern(crowded, devices[1:], rounds=3)
    target = devices[:1]
    assert _pattern(alone, target, rounds=8) == _pattern(crowded, target, rounds=8)


def test_the_device_keys_are_derived_from_the_seed():
    assert _fleet(seed=1).device_signer.derive("d") == _fleet(seed=1).device_signer.derive("d")
    assert _fleet(seed=1).device_signer.derive("d") != _fleet(seed=2).device_signer.derive("d")


# ------------------------------------------------------------------------------- outages


def test_a_service_provider_outage_is_seen_across_models_between_its_two_times():
    start, end = T0 + timedelta(hours=1), T0 + timedelta(hours=3)
    fleet = _fleet(
        behaviours={FLAKY: DeviceBehaviour.flaky(0.3), REJECTING: DeviceBehaviour.rejecting(5)},
        outages=[Outage(system=SimulatedSystem.TCOS_SERVICE_PROVIDER, start=start, end=end)],
    )
    devices = device_ids(3)
    for device, model in zip(devices, (HEALTHY, FLAKY, REJECTING), strict=True):
        fleet.add_device(device, model)
    tcos, ecos = SimulatedTcosServiceProvider(fleet), SimulatedEcosServiceProvider(fleet)
    tick = timedelta(microseconds=1)
    for device in devices:
        for at in (start, end - tick):
            for call in (tcos.instruct, tcos.review, tcos.confirm):
                down = call(device, at)
                assert down.kind is ReplyKind.UNAVAILABLE
                assert down.elapsed == timedelta(0)
                assert not down.confirmed
            assert ecos.confirm(device, at).kind is ReplyKind.ANSWERED  # not down
        for at in (start - tick, end):
            assert tcos.instruct(device, at).kind is ReplyKind.ANSWERED


def test_an_ecos_outage_and_a_transport_outage_are_added_while_running():
    fleet = _fleet()
    fleet.add_device(DEVICE, HEALTHY)
    start, end = T0 + timedelta(days=2), T0 + timedelta(days=2, hours=6)
    fleet.add_outage(Outage(system="ecos_service_provider", start=start, end=end))
    fleet.add_outage(Outage(system=SimulatedSystem.DEVICE_TRANSPORT, start=start, end=end))
    ecos = SimulatedEcosServiceProvider(fleet)
    assert ecos.confirm(DEVICE, start).kind is ReplyKind.UNAVAILABLE
    down = _send(fleet, DEVICE, counter=1, at=start)
    assert (down.kind, down.response, down.elapsed) == (ReplyKind.UNAVAILABLE, None, timedelta(0))
    assert not fleet.holds_ecos_credential(DEVICE)
    assert _send(fleet, DEVICE, counter=2, at=end).kind is ReplyKind.ANSWERED
    assert ecos.confirm(DEVICE, end).confirmed


# ----------------------------------------------------------------- per-Device faults


def test_a_per_device_fault_overrides_its_model_until_cleared():
    fleet = _fleet()
    faulty, sibling = device_ids(2)
    fleet.add_device(faulty, HEALTHY)
    fleet.add_device(sibling, HEALTHY)
    fleet.set_fault(faulty, DeviceBehaviour.rejecting(StatusCode.NO_TRUST_ANCHOR))
    assert _outcome(_send(fleet, faulty, counter=1)).status is StatusCode.NO_TRUST_ANCHOR
    assert _outcome(_send(fleet, sibling, counter=1)).status is StatusCode.SUCCESS
    fleet.set_fault(faulty, DeviceBehaviour.silent())
    assert _send(fleet, faulty, counter=2).kind is ReplyKind.NO_RESPONSE
    fleet.clear_fault(faulty)
    assert fleet.behaviour_of(faulty) == DeviceBehaviour.healthy()
    assert _outcome(_send(fleet, faulty, counter=3)).status is StatusCode.SUCCESS


def test_a_firmware_upgrade_moves_a_device_to_its_new_models_behaviour():
    upgraded = attrs.evolve(REJECTING, firmware_version="0100")
    fleet = _fleet(behaviours={REJECTING: DeviceBehaviour.rejecting(StatusCode.BAD_CERTIFICATE)})
    fleet.add_device(DEVICE, REJECTING)
    assert _outcome(_send(fleet, DEVICE, counter=1)).status is StatusCode.BAD_CERTIFICATE
    fleet.set_model(DEVICE, upgraded)
    assert fleet.model_of(DEVICE) == upgraded
    assert _outcome(_send(fleet, DEVICE, counter=2)).status is StatusCode.SUCCESS


def test_a_model_behaviour_can_change_while_running():
    fleet = _fleet()
    fleet.add_device(DEVICE, HEALTHY)
    fleet.set_behaviour(HEALTHY, DeviceBehaviour.rejecting(StatusCode.RESOURCES_BUSY))
    assert _outcome(_send(fleet, DEVICE)).status is StatusCode.RESOURCES_BUSY


def test_the_fleet_registry_refuses_what_it_was_not_told():
    fleet = _fleet()
    fleet.add_device(DEVICE, HEALTHY)
    with pytest.raises(ValueError, match="already"):
        fleet.add_device(DEVICE, FLAKY)
    stranger = EUI64(0x00DB000000000BAD)
    for call in (
        lambda: fleet.set_model(stranger, HEALTHY),
        lambda: fleet.set_fault(stranger, DeviceBehaviour.silent()),
        lambda: fleet.credential(stranger),
        lambda: fleet.behaviour_of(stranger),
        lambda: fleet.model_of(stranger),
    ):
        with pytest.raises(DeviceNotInFleet):
            call()
    assert fleet.devices() == (DEVICE,)
    assert not fleet.holds_ecos_credential(stranger)


# ---------------------------------------------------------------- the TCoS review


def test_the_review_needs_an_instruction_and_follows_the_models_refusal():
    fleet = _fleet(behaviours={REJECTING: DeviceBehaviour.refused_by_review("ESME firmware")})
    first, second = device_ids(2)
    fleet.add_device(first, HEALTHY)
    fleet.add_device(second, REJECTING)
    tcos = SimulatedTcosServiceProvider(fleet)
    not_instructed = tcos.review(first, T0)
    assert (not_instructed.kind, not_instructed.confirmed) == (ReplyKind.ANSWERED, False)
    assert "instruction" in not_instructed.reason
    tcos.instruct(first, T0)
    tcos.instruct(second, T0)
    assert tcos.review(first, T0).confirmed
    refused = tcos.review(second, T0)
    assert (refused.confirmed, refused.reason) == (False, "ESME firmware")
    assert refused.elapsed == timedelta(seconds=1)


# ------------------------------------------------------- commands a Device ignores


def _ignored(reply: DeviceReply, why: str) -> None:
    assert reply.kind is ReplyKind.NO_RESPONSE
    assert reply.response is None
    assert reply.elapsed == TIMEOUT
    assert why in reply.detail


def test_a_device_ignores_what_it_cannot_act_on():
    fleet = _fleet()
    fleet.add_device(DEVICE, HEALTHY)
    transport = SimulatedDeviceTransport(fleet)

    def send(command: bytes) -> DeviceReply:
        return transport.send(DEVICE, command, T0, timeout=TIMEOUT)

    _ignored(send(b"\x00garbage"), "not a GBCS message")
    other = EUI64(0x00DB1234567890FF)
    _ignored(send(material().command(other, 1)), f"addressed to {other}")
    unsigned = material().signed(DEVICE, 1)
    _ignored(send(unsigned.pre_command), "signature")
    _ignored(send(material().command(DEVICE, 1, key="ecos-ds")), "signature")
    _ignored(send(material().command(DEVICE, 1, originator=ECOS_PARTY)), "not from")
    mode_7 = supplier_by_transcos(
        counter=1,
        digital_signing=material().supplier.der,
        certification_path=[material().oca.der],
        supplier_floor_seq_number=0,
        apply_time_based_cpv_checks=None,
        execution_date_time=datetime(2030, 1, 2, tzinfo=UTC),
    )
    signed_7 = sign_command(
        mode_7, originator=TCOS_PARTY, recipient=DEVICE, signer=material().pki.signer, key="tcos-ds"
    )
    _ignored(send(signed_7.encode()), "future-dated")
    # Nothing ignored changed the Device, nor used up counter 1.
    assert fleet.credential(DEVICE) == material().tcos.der
    answered = send(material().command(DEVICE, 1))
    assert answered.kind is ReplyKind.ANSWERED
    assert answered.response is not None
    _ignored(send(answered.response), "not a command")


def test_a_replayed_counter_is_ignored():
    fleet = _fleet(behaviours={REJECTING: DeviceBehaviour.rejecting(StatusCode.RESOURCES_BUSY)})
    fleet.add_device(DEVICE, REJECTING)
    command = material().command(DEVICE, 50)
    transport = SimulatedDeviceTransport(fleet)
    assert transport.send(DEVICE, command, T0, timeout=TIMEOUT).kind is ReplyKind.ANSWERED
    _ignored(transport.send(DEVICE, command, T0, timeout=TIMEOUT), "replayed")
    _ignored(_send(fleet, DEVICE, counter=49), "replayed")
    assert _send(fleet, DEVICE, counter=51).kind is ReplyKind.ANSWERED


def test_once_migrated_only_the_ecos_party_can_replace_the_credential():
    # The transitionalCoS cell holds the ECoS Party's certificate now: the TCoS Party's
    # commands no longer authenticate; the ECoS Party's own do, from a fresh counter.
    fleet = _fleet()
    fleet.add_device(DEVICE, HEALTHY)
    assert _outcome(_send(fleet, DEVICE, counter=9000)).status is StatusCode.SUCCESS
    _ignored(_send(fleet, DEVICE, counter=9001), "not from")
    _ignored(_send(fleet, DEVICE, counter=9002, originator=ECOS_PARTY), "signature")
    by_ecos = _send(fleet, DEVICE, counter=1, originator=ECOS_PARTY, key="ecos-ds")
    assert _outcome(by_ecos).status is StatusCode.SUCCESS
    assert fleet.holds_ecos_credential(DEVICE)


@st.composite
def damaged_commands(draw: st.DrawFn) -> bytes:
    """A valid command with some octets changed, cut short or lengthened."""
    data = bytearray(material().command(DEVICE, draw(st.integers(1, 2**63 - 1))))
    for _ in range(draw(st.integers(1, 4))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    cut = draw(st.integers(0, len(data)))
    return bytes(data[:cut] if draw(st.booleans()) else data + draw(st.binary(max_size=8)))


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=300), damaged_commands()))
def test_whatever_bytes_are_sent_the_transport_replies_and_never_raises(command):
    fleet = _fleet()
    fleet.add_device(DEVICE, HEALTHY)
    reply = SimulatedDeviceTransport(fleet).send(DEVICE, command, T0, timeout=TIMEOUT)
    assert reply.kind in {ReplyKind.ANSWERED, ReplyKind.NO_RESPONSE}
    if reply.response is not None:
        assert isinstance(decode_message(reply.response), GeneralSigningMessage)
    # The signature covers the command: only an undamaged one is executed.
    assert (reply.kind is ReplyKind.ANSWERED) == fleet.holds_ecos_credential(DEVICE)


# ----------------------------------------------------------------------- configuration


def test_configuration_is_checked_when_given():
    with pytest.raises(ValueError, match="probability"):
        DeviceBehaviour.flaky(1.5)
    with pytest.raises(ValueError, match="SUCCESS"):
        DeviceBehaviour.rejecting(StatusCode.SUCCESS)
    with pytest.raises(ValueError, match="non-negative"):
        DeviceBehaviour.slow(timedelta(seconds=-1))
    with pytest.raises(ValueError, match="reason"):
        DeviceBehaviour.refused_by_review(" ")
    with pytest.raises(ValueError, match="ends after it starts"):
        Outage(system=SimulatedSystem.DEVICE_TRANSPORT, start=T0, end=T0)
    with pytest.raises(ValueError, match="timezone-aware"):
        Outage(system=SimulatedSystem.DEVICE_TRANSPORT, start=datetime(2023, 1, 1), end=T0)  # noqa: DTZ001
    with pytest.raises(TypeError, match="seed"):
        _fleet(seed="7")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="transitionalCoS"):
        FleetSimulation(
            seed=1, tcos_certificate=material().supplier.der, ecos_certificate=material().ecos.der
        )
    with pytest.raises(ValueError, match="different Entity Identifiers"):
        FleetSimulation(
            seed=1, tcos_certificate=material().tcos.der, ecos_certificate=material().tcos.der
        )
    fleet = _fleet()
    fleet.add_device(DEVICE, HEALTHY)
    with pytest.raises(ValueError, match="timezone-aware"):
        SimulatedTcosServiceProvider(fleet).instruct(DEVICE, datetime(2023, 7, 5))  # noqa: DTZ001
    with pytest.raises(ValueError, match="time-out"):
        SimulatedDeviceTransport(fleet).send(DEVICE, b"", T0, timeout=timedelta(seconds=-1))


# ---------------------------------------------------------------------------- the clock


def test_the_simulated_clock_moves_only_forward_and_only_when_told():
    clock = SimulatedClock(T0)
    assert clock.now() == T0
    assert clock.advance(timedelta(hours=2)) == T0 + timedelta(hours=2)
    assert clock.now() == T0 + timedelta(hours=2)
    later = datetime(2023, 8, 1, tzinfo=UTC)
    assert clock.set(later) == later
    assert clock.now() == later
    with pytest.raises(ValueError, match="forward"):
        clock.set(T0)
    with pytest.raises(ValueError, match="forward"):
        clock.advance(timedelta(seconds=-1))
    with pytest.raises(ValueError, match="timezone-aware"):
        SimulatedClock(datetime(2023, 7, 5))  # noqa: DTZ001


# ------------------------------------------------------------------- the Device keys


class TestSeededDeviceSigner(SignerContract):
    randomised = False  # deterministic ECDSA (RFC 6979): a simulation replays byte for byte

    @pytest.fixture
    def signer(self) -> SeededDeviceSigner:
        return SeededDeviceSigner(seed=11)

    @pytest.fixture
    def key(self, signer: SeededDeviceSigner) -> str:
        signer.derive(str(DEVICE))
        return str(DEVICE)

    def test_signatures_are_deterministic(self, signer, key):
        assert signer.sign(key, b"data") == signer.sign(key, b"data")
        assert signer.sign(key, b"data") != signer.sign(key, b"other")


def test_a_fleet_asks_for_a_device_it_does_not_have_the_first_time_it_is_asked_about() -> None:
    asked: list[EUI64] = []
    stranger = EUI64(0x00DB1234FFFF0001)

    def restore(device_id: EUI64) -> None:
        asked.append(device_id)
        if device_id == DEVICE:
            fleet.add_device(device_id, HEALTHY)

    fleet = material().fleet(on_unknown=restore)
    assert fleet.devices() == ()  # nothing is read up front
    assert not fleet.holds_ecos_credential(DEVICE)  # restored, as a TCoS Device
    assert fleet.model_of(DEVICE) == HEALTHY
    assert asked == [DEVICE]  # asked once
    assert fleet.device(stranger) is None  # not registered: still not in the fleet
    with pytest.raises(DeviceNotInFleet):
        fleet.credential(stranger)
    assert fleet.devices() == (DEVICE,)
