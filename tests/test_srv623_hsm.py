"""SRV 6.23 with the parties' keys in an HSM: the world of ``tests/srv623_support.py`` with the
TCoS Party's key (Z1 transitionalCoS) and the CoS Party's two keys (ECoS Party, CoS Party XML
signing) imported into a SoftHSM2 token, signing there; the chain runs to success. And the
production setting: CoS and TCoS Party keys must be in a FIPS 140-2 Level 3 module (DOMAIN.md 1),
so a production set-up file refuses software keys for those roles."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters.crypto.pkcs11_signer import Pkcs11Signer
from adapters.simulator import SimulatedDeviceTransport
from adapters.srv623_setup import (
    FIPS_MODULE_CLAUSE,
    HSM_ROLES,
    PRODUCTION_ENV,
    SigningKey,
    Srv623Keys,
    Srv623SetupError,
    build_srv623_setup,
    parse_signer_options,
    read_srv623_keys,
)
from application.srv623_chain import process_srv623
from domain.routing import RouteTo
from tests.duis_support import AT, IMMEDIATE, require_vectors, z1_signer
from tests.softhsm_support import PIN_ENV, USER_PIN, SoftHsmToken, fresh_token
from tests.srv623_support import COS_PARTY_ROLE, DCC, TCOS, Srv623World
from tests.test_sr_cli import write_setup

VALID = datetime(2025, 9, 2, tzinfo=UTC)  # inside the templates' and the TCoS key's validity


@pytest.fixture(scope="module")
def world() -> Srv623World:
    return Srv623World(require_vectors())


@pytest.fixture
def token(world: Srv623World, monkeypatch) -> SoftHsmToken:
    """A token holding the TCoS Party's and the CoS Party's keys, with their certificates."""
    monkeypatch.setenv(PIN_ENV, USER_PIN)
    monkeypatch.delenv(PRODUCTION_ENV, raising=False)
    token = fresh_token("srv623")
    z1 = world.vectors / "smki" / "z1"
    token.import_key(TCOS, (z1 / f"{TCOS}.key").read_bytes(), (z1 / f"{TCOS}.pem").read_bytes())
    token.import_key("ecos", world.builder.private_key_der("ecos"), world.ecos.der)
    token.import_key(
        "cos-xml-sign", world.builder.private_key_der("cos-xml-sign"), world.cos_xml_sign.der
    )
    return token


def hsm_keys(world: Srv623World, token: SoftHsmToken) -> Srv623Keys:
    """The world's keys, the parties' in the token (each party its own session), the DCC's in
    software."""
    tcos_signer = token.signer()
    cos_signer = token.signer()
    return Srv623Keys(
        schema=world.schema,
        trust=world.trust,
        mpan_check_digit=False,
        cos_party_role_code=int(COS_PARTY_ROLE, 16),
        dcc=SigningKey(
            signer=z1_signer(world.vectors, DCC), key=DCC, certificate=world.dcc_certificate
        ),
        cos_party_xml_sign=SigningKey(
            signer=cos_signer, key="cos-xml-sign", certificate=world.cos_xml_sign.certificate()
        ),
        ecos=SigningKey(signer=cos_signer, key="ecos", certificate=world.ecos_certificate),
        tcos=SigningKey(signer=tcos_signer, key=TCOS, certificate=world.tcos_certificate),
    )


def test_the_tcos_party_signs_its_pre_command_in_the_hsm_and_the_command_is_sent(app, world, token):
    fleet = world.fleet()
    world.inventory(app, migrated=False, fleet=fleet, since=VALID - timedelta(days=60))
    keys = hsm_keys(world, token)
    setup = build_srv623_setup(app, keys, transport=SimulatedDeviceTransport(fleet))
    result = process_srv623(app, setup.dcc, setup.parties, world.signed(IMMEDIATE), at=VALID)
    assert result.route is RouteTo.TCOS_PARTY
    assert result.status == "succeeded", result.message
    assert all(c.status == "passed" for s in result.stages for c in s.checks)
    assert result.device_outcome is not None
    assert result.device_outcome.succeeded, result.device_outcome.detail


def test_the_cos_party_signs_its_answer_and_pre_command_in_the_hsm(app, world, token):
    fleet = world.fleet()
    world.inventory(app, migrated=True, fleet=fleet)
    keys = hsm_keys(world, token)
    assert isinstance(keys.ecos.signer, Pkcs11Signer)
    setup = build_srv623_setup(app, keys, transport=SimulatedDeviceTransport(fleet))
    result = process_srv623(app, setup.dcc, setup.parties, world.signed(IMMEDIATE), at=AT)
    assert result.route is RouteTo.COS_PARTY
    assert result.status == "succeeded", result.message
    assert all(c.status == "passed" for s in result.stages for c in s.checks)
    assert {"cos_authorisation_response", "signed_pre_command"} <= set(result.artefacts)


# --- the set-up file --------------------------------------------------------------------------


def hsm_setup(world: Srv623World, token: SoftHsmToken, folder: Path, **extra) -> Path:
    """The set-up file of ``tests/test_sr_cli.py`` with the parties' keys as ``pkcs11:`` URIs
    (the DCC's stays a key file)."""
    path = write_setup(world, folder)
    document = json.loads(path.read_text(encoding="utf-8"))
    document["tcos_party"]["key"] = token.uri(TCOS)
    document["cos_party"]["ecos"]["key"] = token.uri("ecos")
    document["cos_party"]["xml_sign"]["key"] = token.uri("cos-xml-sign")
    document.update(extra)
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_a_production_set_up_with_the_party_keys_in_the_hsm_runs_the_chain(
    app, world, token, tmp_path
):
    keys = read_srv623_keys(hsm_setup(world, token, tmp_path, production=True))
    for pair in (keys.tcos, keys.ecos, keys.cos_party_xml_sign):
        assert isinstance(pair.signer, Pkcs11Signer)
    assert keys.ecos.key == "ecos"
    fleet = world.fleet()
    world.inventory(app, migrated=True, fleet=fleet)
    setup = build_srv623_setup(app, keys, transport=SimulatedDeviceTransport(fleet))
    result = process_srv623(app, setup.dcc, setup.parties, world.signed(IMMEDIATE), at=AT)
    assert result.status == "succeeded", result.message


def software_keys(world: Srv623World) -> dict[str, str]:
    """The set-up file's software keys of the CoS and TCoS Party roles (``write_setup``)."""
    return {
        "cos_party.xml_sign": "keys/cos-xml-sign.key",
        "cos_party.ecos": "file:keys/ecos.key",
        "tcos_party": str(world.vectors / "smki" / "z1" / f"{TCOS}.key"),
    }


def role_section(document: dict[str, Any], role: str) -> dict[str, Any]:
    section, _, sub = role.partition(".")
    found: dict[str, Any] = document[section][sub] if sub else document[section]
    return found


@pytest.mark.parametrize("role", HSM_ROLES)
def test_a_production_set_up_refuses_a_software_key_for_a_cos_or_tcos_party_role(
    world, token, tmp_path, role
):
    path = hsm_setup(world, token, tmp_path, production=True)
    document = json.loads(path.read_text(encoding="utf-8"))
    role_section(document, role)["key"] = software_keys(world)[role]
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(Srv623SetupError) as raised:
        read_srv623_keys(path)
    assert raised.value.code == "SRV623_SETUP_INVALID"
    assert raised.value.clause == FIPS_MODULE_CLAUSE
    assert role in raised.value.message
    assert "FIPS 140-2 Level 3" in raised.value.message
    assert ("TCoS Party" if role == "tcos_party" else "CoS Party") in raised.value.message


def test_the_environment_makes_a_set_up_production_and_the_file_cannot_undo_it(
    world, tmp_path, monkeypatch
):
    path = write_setup(world, tmp_path)  # every key a software key file
    document = json.loads(path.read_text(encoding="utf-8"))
    document["production"] = False
    path.write_text(json.dumps(document), encoding="utf-8")
    assert read_srv623_keys(path).tcos.key == "tcos_party"  # not production: files work
    monkeypatch.setenv(PRODUCTION_ENV, "1")
    with pytest.raises(Srv623SetupError, match="FIPS 140-2 Level 3"):
        read_srv623_keys(path)
    monkeypatch.setenv(PRODUCTION_ENV, "maybe")
    with pytest.raises(Srv623SetupError, match=PRODUCTION_ENV):
        read_srv623_keys(path)


def test_outside_production_the_dcc_and_party_keys_may_be_files_or_hsm_keys(world, token, tmp_path):
    path = hsm_setup(world, token, tmp_path)
    document = json.loads(path.read_text(encoding="utf-8"))
    document["cos_party"]["ecos"]["key"] = "file:keys/ecos.key"
    path.write_text(json.dumps(document), encoding="utf-8")
    keys = read_srv623_keys(path)
    assert isinstance(keys.tcos.signer, Pkcs11Signer)
    assert not isinstance(keys.ecos.signer, Pkcs11Signer)
    assert keys.ecos.key == "ecos"


def test_an_hsm_key_that_is_absent_or_not_the_certified_one_is_refused(world, token, tmp_path):
    path = hsm_setup(world, token, tmp_path)
    document = json.loads(path.read_text(encoding="utf-8"))
    document["tcos_party"]["key"] = token.uri("no-such-key")
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(Srv623SetupError, match="tcos_party: no key 'no-such-key'"):
        read_srv623_keys(path)
    document["tcos_party"]["key"] = token.uri("ecos")
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(Srv623SetupError, match="not the key certified by"):
        read_srv623_keys(path)


def test_a_signer_option_chooses_a_roles_key_instead_of_the_files(world, token, tmp_path):
    """``--signer ROLE=KEY`` (``etmad sr process``, ``etmad apply --srv623-signer``): the
    TCoS Party's key from the token, the set-up file's keys otherwise."""
    path = write_setup(world, tmp_path)  # every key a software key file
    token.import_key("tcos-hsm", (world.vectors / "smki" / "z1" / f"{TCOS}.key").read_bytes())
    signers = parse_signer_options([f"tcos_party={token.uri('tcos-hsm')}"])
    keys = read_srv623_keys(path, signers=signers)
    assert isinstance(keys.tcos.signer, Pkcs11Signer)
    assert not isinstance(keys.ecos.signer, Pkcs11Signer)
    for wrong in (["tcos_party"], ["nobody=file:x.key"], ["tcos_party="], ["dcc=a", "dcc=b"]):
        with pytest.raises(Srv623SetupError):
            parse_signer_options(wrong)
