"""SRV 6.23 end to end (issue acceptance): the DCC's DUIS 6.23 templates, signed with the test
supplier's xmlSign key, processed at 2023-11-14T22:13:20Z through SRPD clause 8 — the DCC, the
TCoS Party or the CoS Party with their own keys, the DCC again, the Command to a simulated
Device — and the proving of a migrated Device's model by its first successful 6.23; and hostile
input, end to end, refused with a recorded reason and no Command."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import attrs
import pytest

from adapters.bootstrap import build_application
from adapters.codecs.duis import parse_document, read_cos_update_request
from adapters.codecs.substantive import from_cos_update_request, from_pre_command
from adapters.srv623_artefacts import GbcsPreCommandReader
from application.anomaly_detection import load_adt_file
from application.errors import ConcurrencyConflict
from application.service import EtmadApplication
from application.settings import Settings
from application.srv623_chain import Srv623Result, process_srv623, result_json
from domain.anomaly_detection import SRV_6_23, AdtEntry
from domain.device import Device, Srv623Processed, device_aggregate_id
from domain.device_model import DeviceModel, model_aggregate_id
from domain.refused_request import RefusedRequest, refused_request_aggregate_id
from domain.routing import RouteTo
from domain.service_request import (
    Party,
    ServiceRequest,
    ServiceRequestStatus,
    service_request_aggregate_id,
)
from domain.srv623_checks import Check, Stage
from domain.substantive import compare
from tests.conftest import FixedClock
from tests.duis_support import AT, FUTURE_DATED, IMMEDIATE, ORIGINATOR, TEMPLATES, require_vectors
from tests.srv623_support import MODEL, TARGET, Srv623World

COUNTERS = {IMMEDIATE: 1006, FUTURE_DATED: 1007}


@pytest.fixture(scope="module")
def world() -> Srv623World:
    return Srv623World(require_vectors())


def run(app, world: Srv623World, data: bytes, *, migrated: bool, fleet=True) -> Srv623Result:
    simulated = world.fleet() if fleet else None
    world.inventory(app, migrated=migrated, fleet=simulated)
    setup = world.setup(app, fleet=simulated)
    return process_srv623(app, setup.dcc, setup.parties, data, at=AT)


def request_of(app: EtmadApplication, name: str) -> ServiceRequest:
    state = app.load(
        service_request_aggregate_id(ORIGINATOR, TARGET, COUNTERS[name]), ServiceRequest.create
    )
    assert state is not None
    return state


def all_passed(result: Srv623Result) -> bool:
    return all(c.status == "passed" for s in result.stages for c in s.checks)


def assert_pre_command_is_the_request(world: Srv623World, name: str, pre_command: bytes, signer):
    """The Pre-Command decodes to the request's certificates (substantively identical) and
    verifies with ``signer``'s key, and with no other party's."""
    request = read_cos_update_request(parse_document(world.template(name), world.schema))
    assert compare(from_cos_update_request(request), from_pre_command(pre_command)).identical
    reader = GbcsPreCommandReader(authority=world.trust)
    other = (
        world.ecos_certificate
        if signer.certificate_id == world.tcos_certificate.certificate_id
        else world.tcos_certificate
    )
    mine = reader.read_pre_command(pre_command, signed_by=signer.certificate_id, at=AT)
    assert mine.signature.verified
    assert not reader.read_pre_command(
        pre_command, signed_by=other.certificate_id, at=AT
    ).signature.verified


@pytest.mark.parametrize("name", TEMPLATES)
def test_a_request_for_a_tcos_device_goes_to_the_tcos_party_which_answers_with_its_pre_command(
    app, world, name
):
    result = run(app, world, world.signed(name), migrated=False)
    assert result.route is RouteTo.TCOS_PARTY
    assert [s.stage for s in result.stages] == [
        Stage.DCC_REQUEST,
        Stage.TCOS_PARTY,
        Stage.DCC_SIGNED_PRE_COMMAND,
    ]
    assert all(c.status == "passed" for s in result.stages[:2] for c in s.checks)
    assert "cos_authorisation_response" not in result.artefacts
    pre_command = result.artefacts["signed_pre_command"]
    assert_pre_command_is_the_request(world, name, pre_command, world.tcos_certificate)
    # The templates' replacement certificates are valid from 2025-09-01: at the templates' time
    # the DCC's 8.4A(e) (Confirm Validity of every certificate inside the Signed Pre-Command)
    # is not satisfied, and the request is rejected (8.6A) with no Command sent.
    failed = [c for c in result.stages[2].checks if c.status == "failed"]
    assert [c.check for c in failed] == [Check.TCOS_8_4A_E_PRE_COMMAND_CERTIFICATES_VALID]
    assert "NOT_YET_VALID" in failed[0].detail
    assert result.status == "rejected"
    assert result.response_code == failed[0].response_code
    assert result.notified == (Party.USER, Party.TCOS_PARTY)
    assert request_of(app, name).command is None


def test_inside_the_certificates_validity_the_tcos_partys_pre_command_is_sent_as_the_command(
    app, world
):
    at = datetime(2025, 9, 2, tzinfo=UTC)  # the templates' certificates and the TCoS key's
    simulated = world.fleet()
    world.inventory(app, migrated=False, fleet=simulated, since=at - timedelta(days=60))
    setup = world.setup(app, fleet=simulated)
    result = process_srv623(app, setup.dcc, setup.parties, world.signed(IMMEDIATE), at=at)
    assert result.route is RouteTo.TCOS_PARTY
    assert result.status == "succeeded", result.message
    assert all_passed(result)
    assert result.response_code is None
    assert result.device_outcome is not None
    assert result.device_outcome.succeeded, result.device_outcome.detail
    state = request_of(app, IMMEDIATE)
    assert state.status is ServiceRequestStatus.SUCCEEDED
    assert state.device_response is not None
    assert state.device_response.succeeded


@pytest.mark.parametrize("name", TEMPLATES)
def test_a_request_for_a_migrated_device_goes_to_the_ecos_party_with_its_authorisation(
    app, world, name
):
    result = run(app, world, world.signed(name), migrated=True)
    assert result.route is RouteTo.COS_PARTY
    assert result.status == "succeeded", result.message
    assert [s.stage for s in result.stages] == [
        Stage.DCC_REQUEST,
        Stage.COS_PARTY,
        Stage.DCC_COS_AUTHORISATION_RESPONSE,
    ]
    assert all_passed(result)
    assert {"countersigned_request", "cos_authorisation_response", "signed_pre_command"} <= set(
        result.artefacts
    )
    assert result.artefacts["cos_authorisation_response"].startswith(b"<?xml")
    pre_command = result.artefacts["signed_pre_command"]
    assert_pre_command_is_the_request(world, name, pre_command, world.ecos_certificate)
    assert result.anomaly in {"proceed", "warn"}
    shown = result_json(result)
    assert shown["route"] == "COS_PARTY"
    artefacts = shown["artefacts"]
    assert isinstance(artefacts, dict)
    summary = artefacts["signed_pre_command"]
    assert isinstance(summary, dict)
    assert summary["hex"] == pre_command.hex().upper()


def test_a_migrated_device_of_an_unproven_model_proves_it_and_opens_the_bulk_gate(app, world):
    result = run(app, world, world.signed(IMMEDIATE), migrated=True)
    assert result.status == "succeeded", result.message
    assert result.device_outcome is not None
    assert result.device_outcome.succeeded, result.device_outcome.detail
    device = app.load(device_aggregate_id(TARGET), Device.create)
    assert device is not None
    model = app.load(model_aggregate_id(MODEL), DeviceModel.create)
    assert model is not None
    assert model.proving is not None
    assert model.authorisation is not None  # the 1.6 decision by policy: the Bulk gate opens
    recorded = app.recorder.select_notifications(start=1, limit=100, topics=[Srv623Processed.TYPE])
    assert [n.originator_id for n in recorded] == [device_aggregate_id(TARGET)]


def test_without_a_transport_the_command_is_handed_over_and_awaits_the_response(app, world):
    result = run(app, world, world.signed(IMMEDIATE), migrated=True, fleet=False)
    assert result.status == "succeeded"
    assert "awaiting the Device's response" in result.message
    assert result.device_outcome is None
    assert request_of(app, IMMEDIATE).device_response is None


def test_the_parties_may_keep_their_own_stores_and_the_dcc_records_none_of_their_aggregates(
    app, world
):
    """DOMAIN 1: three separable services. With their own stores, the CoS Party's records
    (its replay record, Pre-Command counters, anomaly detection) are in its store only; the
    DCC's holds the ServiceRequest and the DSP's data the parties consult."""
    dcc = app
    cos_party = build_application("memory:", settings=Settings(), clock=FixedClock())
    tcos_party = build_application("memory:", settings=Settings(), clock=FixedClock())
    simulated = world.fleet()
    world.inventory(dcc, migrated=True, fleet=simulated, adt=None)
    entry = AdtEntry(srv=SRV_6_23, time_period_minutes=1440, adt=100, warning=0)
    load_adt_file(cos_party, user_id=str(ORIGINATOR), sequence_number=1, entries=(entry,), at=AT)
    setup = world.setup(
        dcc, fleet=simulated, cos_party_store=cos_party, tcos_party_store=tcos_party
    )
    result = process_srv623(dcc, setup.dcc, setup.parties, world.signed(IMMEDIATE), at=AT)
    assert result.status == "succeeded", result.message

    def ids(app: EtmadApplication) -> set[str]:
        found = app.recorder.select_notifications(start=1, limit=10_000)
        return {str(n.originator_id).split(":")[0] for n in found}

    assert {"cos-party", "adt"} <= ids(cos_party)
    assert "service-request" not in ids(cos_party)
    assert not ({"cos-party", "tcos-party", "adt"} & ids(dcc))
    assert "service-request" in ids(dcc)
    assert ids(tcos_party) == set()


# --- hostile input, end to end ------------------------------------------------------------------


def refusals(app, data: bytes):
    record = app.load(
        refused_request_aggregate_id(hashlib.sha256(data).hexdigest()), RefusedRequest.create
    )
    assert record is not None
    return record.refusals


def assert_refused(app, result: Srv623Result, data: bytes, code: str, response_code):
    assert result.status == "refused"
    assert result.response_code == response_code
    assert code in result.message
    assert result.notified == (Party.USER,)
    assert not result.artefacts  # nothing countersigned, no Command
    (refused,) = refusals(app, data)
    assert refused.code == code


def test_an_unsigned_request_is_refused_and_recorded(app, world):
    data = world.template(IMMEDIATE)
    result = run(app, world, data, migrated=True)
    # the template's signature value is not a real one, and its KeyInfo names a certificate the
    # trust store does not hold
    assert_refused(app, result, data, "UNKNOWN_SIGNER", "E2")


def test_a_wrongly_signed_request_is_refused_and_recorded(app, world):
    signed = world.signed(IMMEDIATE)
    data = signed.replace(b"<sr:CommandVariant>1<", b"<sr:CommandVariant>8<")
    assert data != signed
    result = run(app, world, data, migrated=True)
    assert_refused(app, result, data, "SIGNATURE_INVALID", "E2")


def test_xml_with_a_dtd_or_external_entity_is_refused_and_recorded(app, world):
    data = (
        b'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n<r>&x;</r>'
    )
    result = run(app, world, data, migrated=True)
    assert_refused(app, result, data, "HOSTILE_XML", None)


def test_a_schema_invalid_body_is_refused_and_recorded(app, world):
    data = world.signed(IMMEDIATE, change=lambda d: d.replace(b"<sr:Body>", b"<sr:Body><x/>", 1))
    result = run(app, world, data, migrated=True)
    assert_refused(app, result, data, "SCHEMA_INVALID", None)


def test_a_request_for_an_unknown_device_is_refused_and_recorded(app, world):
    other = b"00-DB-12-34-56-78-90-A1"
    data = world.signed(IMMEDIATE, change=lambda d: d.replace(b"00-DB-12-34-56-78-90-A0", other))
    result = run(app, world, data, migrated=True)
    assert_refused(app, result, data, "UNKNOWN_DEVICE", "E062304")
    assert result.request_id is not None


def test_a_replayed_request_is_refused_and_no_second_command_is_sent(app, world):
    data = world.signed(IMMEDIATE)
    first = run(app, world, data, migrated=True)
    assert first.status == "succeeded"
    setup = world.setup(app, fleet=None)
    again = process_srv623(app, setup.dcc, setup.parties, data, at=AT)
    assert_refused(app, again, data, "REQUEST_ID_ALREADY_RECEIVED", "E19")
    assert request_of(app, IMMEDIATE).status is ServiceRequestStatus.SUCCEEDED


def test_an_expired_signer_fails_confirm_validity_and_is_rejected_with_its_code(app, world):
    simulated = world.fleet()
    world.inventory(app, migrated=True, fleet=simulated)
    setup = world.setup(app, fleet=simulated)
    later = AT.replace(year=2060)
    result = process_srv623(app, setup.dcc, setup.parties, world.signed(IMMEDIATE), at=later)
    assert result.status == "rejected"
    assert result.response_code == "E4"
    failed = [c for s in result.stages for c in s.checks if c.status == "failed"]
    assert [c.check for c in failed] == [Check.REQUEST_SIGNER_CONFIRM_VALIDITY]
    assert "countersigned_request" not in result.artefacts


def test_an_over_threshold_user_is_ceased_and_no_command_is_produced(app, world):
    # A User with no ADT file gets zero thresholds: its first SRV 6.23 exceeds them.
    data = world.signed(IMMEDIATE)
    simulated = world.fleet()
    world.inventory(app, migrated=True, fleet=simulated, adt=None)
    setup = world.setup(app, fleet=simulated)
    result = process_srv623(app, setup.dcc, setup.parties, data, at=AT)
    assert result.status == "ceased"
    assert result.anomaly == "cease"
    assert result.notified == (Party.USER,)
    assert "signed_pre_command" not in result.artefacts
    assert "cos_authorisation_response" not in result.artefacts
    assert request_of(app, IMMEDIATE).status is ServiceRequestStatus.CEASED


class ConflictingOnce:
    """A party service whose first save conflicts with another writer's (nothing of it saved),
    as when another worker's request of the same originator moved the party's record."""

    def __init__(self, party) -> None:
        self.party = party
        self.calls = 0

    def handle(self, countersigned_xml: bytes, *, at):
        self.calls += 1
        if self.calls == 1:
            raise ConcurrencyConflict("another worker saved the party's record first")
        return self.party.handle(countersigned_xml, at=at)


def test_a_party_save_that_conflicts_is_decided_again_and_the_request_completes(app, world):
    simulated = world.fleet()
    world.inventory(app, migrated=True, fleet=simulated)
    setup = world.setup(app, fleet=simulated)
    party = ConflictingOnce(setup.parties.cos_party)
    parties = attrs.evolve(setup.parties, cos_party=party)
    result = process_srv623(app, setup.dcc, parties, world.signed(IMMEDIATE), at=AT)
    assert party.calls == 2
    assert result.status == "succeeded", result.message
