"""The simulated Device executes SRV 6.23's Command: the CS02b supplierByTransCoS command
(mode 7), authorised from its transitionalCoS cell, puts the new Supplier's certificates in
its Supplier cells (``adapters/simulator/device.py``)."""

from __future__ import annotations

import functools
from datetime import timedelta

from adapters.codecs.gbcs import (
    SUPPLIER_DIGITAL_SIGNING_CELL,
    SUPPLIER_KEY_AGREEMENT_CELL,
    CredentialsReplacementMode,
    StatusCode,
    UpdateSecurityCredentialsResponse,
    build_signed_pre_command,
    decode_general_signing,
    supplier_by_transcos,
)
from adapters.codecs.gbcs import verify_signature as verify_gbcs
from adapters.simulator import DeviceBehaviour, SimulatedDeviceTransport
from adapters.srv623_artefacts import GbcsCommandOutcomeReader
from application.migration_ports import ReplyKind
from domain.identifiers import EUI64
from domain.smki import KeyUsage, RemotePartyRole
from tests.simulator_support import DEVICE, ECOS_PARTY, HEALTHY, T0, TCOS_PARTY, material

TIMEOUT = timedelta(seconds=60)
NEW_SUPPLIER = EUI64(0x90B3D51F30030000)


@functools.cache
def _supplier_certificates():
    pki = material().pki
    ds = pki.organisation_certificate(material().oca, entity_id=NEW_SUPPLIER)
    ka = pki.organisation_certificate(
        material().oca, entity_id=NEW_SUPPLIER, key_usage=KeyUsage.KEY_AGREEMENT
    )
    return ds, ka


def _command(counter: int, *, key: str, originator: EUI64, digital_signing=None) -> bytes:
    ds, ka = _supplier_certificates()
    payload = supplier_by_transcos(
        counter=counter,
        digital_signing=ds.der if digital_signing is None else digital_signing,
        key_agreement=ka.der,
        certification_path=[material().oca.der],
        supplier_floor_seq_number=0,
        apply_time_based_cpv_checks=None,
    )
    return build_signed_pre_command(
        payload, originator=originator, recipient=DEVICE, signer=material().pki.signer, key=key
    ).encode()


def _migrated_fleet(**kwargs):
    fleet = material().fleet(**kwargs)
    fleet.add_device(DEVICE, HEALTHY, credential=material().ecos.der)
    return fleet


def _send(fleet, command: bytes):
    return SimulatedDeviceTransport(fleet).send(DEVICE, command, T0, timeout=TIMEOUT)


def test_a_migrated_device_accepts_the_ecos_partys_mode_7_command_and_fills_its_supplier_cells():
    fleet = _migrated_fleet()
    ds, ka = _supplier_certificates()
    reply = _send(fleet, _command(1_000, key="ecos-ds", originator=ECOS_PARTY))
    assert reply.kind is ReplyKind.ANSWERED
    assert reply.response is not None
    message = decode_general_signing(reply.response)
    assert message.header.originator == DEVICE
    assert message.header.recipient == ECOS_PARTY
    assert (
        message.header.message_code == CredentialsReplacementMode.SUPPLIER_BY_TRANSCOS.message_code
    )
    assert verify_gbcs(message, fleet.device_public_key(DEVICE))
    response = message.content()
    assert isinstance(response, UpdateSecurityCredentialsResponse)
    outcome = response.execution_outcome
    assert outcome is not None
    assert [(o.cell, o.status) for o in outcome.outcomes] == [
        (SUPPLIER_DIGITAL_SIGNING_CELL, StatusCode.SUCCESS),
        (SUPPLIER_KEY_AGREEMENT_CELL, StatusCode.SUCCESS),
    ]
    assert outcome.seq_number_changes[0].role is RemotePartyRole.SUPPLIER
    assert fleet.supplier_certificates(DEVICE) == {
        SUPPLIER_DIGITAL_SIGNING_CELL: ds.der,
        SUPPLIER_KEY_AGREEMENT_CELL: ka.der,
    }
    assert fleet.credential(DEVICE) == material().ecos.der  # the transitionalCoS cell stays
    assert GbcsCommandOutcomeReader().command_outcome(reply.response).succeeded


def test_a_migrated_device_ignores_a_mode_7_command_signed_with_the_tcos_key():
    fleet = _migrated_fleet()
    reply = _send(fleet, _command(1_000, key="tcos-ds", originator=TCOS_PARTY))
    assert reply.kind is ReplyKind.NO_RESPONSE
    assert "not from" in reply.detail
    forged = _send(fleet, _command(1_001, key="tcos-ds", originator=ECOS_PARTY))
    assert forged.kind is ReplyKind.NO_RESPONSE
    assert "signature" in forged.detail
    assert fleet.supplier_certificates(DEVICE) == {}


def test_a_replayed_mode_7_counter_is_ignored():
    fleet = _migrated_fleet()
    command = _command(2_000, key="ecos-ds", originator=ECOS_PARTY)
    assert _send(fleet, command).kind is ReplyKind.ANSWERED
    replayed = _send(fleet, command)
    assert replayed.kind is ReplyKind.NO_RESPONSE
    assert "replayed" in replayed.detail
    assert _send(fleet, _command(1_999, key="ecos-ds", originator=ECOS_PARTY)).kind is (
        ReplyKind.NO_RESPONSE
    )
    assert _send(fleet, _command(2_001, key="ecos-ds", originator=ECOS_PARTY)).kind is (
        ReplyKind.ANSWERED
    )


def test_a_certificate_that_is_not_the_cells_supplier_certificate_is_a_bad_certificate():
    fleet = _migrated_fleet()
    reply = _send(
        fleet,
        _command(
            1, key="ecos-ds", originator=ECOS_PARTY, digital_signing=material().ecos.der
        ),  # a transitionalCoS certificate into the Supplier's digital signing cell
    )
    assert reply.response is not None
    response = decode_general_signing(reply.response).content()
    assert isinstance(response, UpdateSecurityCredentialsResponse)
    assert response.execution_outcome is not None
    statuses = [o.status for o in response.execution_outcome.outcomes]
    assert statuses == [StatusCode.BAD_CERTIFICATE, StatusCode.SUCCESS]
    assert fleet.supplier_certificates(DEVICE) == {}  # all or nothing
    assert not GbcsCommandOutcomeReader().command_outcome(reply.response).succeeded


def test_a_migrated_device_whose_model_fails_srv_6_23_answers_other():
    fleet = _migrated_fleet(default_behaviour=DeviceBehaviour.failing_srv623())
    reply = _send(fleet, _command(1, key="ecos-ds", originator=ECOS_PARTY))
    assert reply.response is not None
    outcome = GbcsCommandOutcomeReader().command_outcome(reply.response)
    assert not outcome.succeeded
    assert "OTHER" in outcome.detail
    assert fleet.supplier_certificates(DEVICE) == {}


def test_a_device_not_yet_migrated_executes_the_tcos_partys_mode_7_command():
    fleet = material().fleet()
    fleet.add_device(DEVICE, HEALTHY)
    reply = _send(fleet, _command(5, key="tcos-ds", originator=TCOS_PARTY))
    assert reply.response is not None
    assert GbcsCommandOutcomeReader().command_outcome(reply.response).succeeded
