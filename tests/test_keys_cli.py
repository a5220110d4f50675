"""``etmad keys import-test-pki`` on a SoftHSM2 token: the DCC test PKI's keys (``smki/z1``, read
in place) loaded into the token, each signing there what its certificate verifies."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from adapters.cli.main import main
from adapters.crypto.smki import parse_organisation_certificate
from application.credentials import SignatureEncoding
from tests.smki_material import smki
from tests.softhsm_support import PIN_ENV, USER_PIN, SoftHsmToken, fresh_token


@pytest.fixture
def token(monkeypatch) -> SoftHsmToken:
    monkeypatch.setenv(PIN_ENV, USER_PIN)
    return fresh_token()


def load(token: SoftHsmToken, *extra: str) -> list[str]:
    return [
        "keys",
        "import-test-pki",
        "--module",
        token.module,
        "--token",
        token.label,
        "--pin-env",
        PIN_ENV,
        *extra,
    ]


def test_the_test_pki_is_loaded_and_each_key_signs_what_its_certificate_verifies(token, capsys):
    z1 = smki() / "z1"
    assert main(load(token, "--from", str(z1))) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "Z1-transitionalCoS-ds -> Z1-transitionalCoS-ds.pem" in lines
    assert len(lines) == 13  # 14 key files, one key in two of them
    signer = token.signer()
    try:
        assert len(signer.keys()) == 13
        for label in ("Z1-transitionalCoS-ds", "dsp-xml-sign-90B3D51F30000002-ds"):
            certificate = parse_organisation_certificate((z1 / f"{label}.pem").read_bytes())
            public = serialization.load_der_public_key(certificate.certificate.public_key)
            assert isinstance(public, ec.EllipticCurvePublicKey)
            signature = signer.sign(label, b"demo", encoding=SignatureEncoding.DER)
            public.verify(signature, b"demo", ec.ECDSA(hashes.SHA256()))
            assert signer.certificate(label) == certificate.certificate.der
    finally:
        signer.close()


def test_the_dcc_material_is_the_default_and_loading_again_changes_nothing(token, capsys):
    smki()  # skips where the DCC material is absent
    assert main(load(token)) == 0
    first = capsys.readouterr().out.splitlines()
    assert main(load(token)) == 0
    again = capsys.readouterr().out.splitlines()
    assert [line.split(" (")[0] for line in again] == first
    assert all(line.endswith("(already in the token)") for line in again)


def test_a_pin_variable_that_is_unset_is_named(token, monkeypatch, capsys):
    monkeypatch.delenv(PIN_ENV)
    assert main(load(token, "--from", str(smki() / "z1"))) == 2
    error = capsys.readouterr().err
    assert PIN_ENV in error
    assert "PKCS11_URI_INVALID" in error
    assert USER_PIN not in error


def test_a_folder_without_keys_is_refused(token, tmp_path, capsys):
    assert main(load(token, "--from", str(tmp_path))) == 2
    assert "TEST_PKI_UNREADABLE" in capsys.readouterr().err
