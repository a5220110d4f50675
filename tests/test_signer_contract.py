"""The ``Signer`` port: one contract, written once, run against every signer.

A PKCS#11 (SoftHSM2) signer will subclass ``SignerContract`` and provide the two fixtures.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from adapters.crypto.smki import parse_organisation_certificate
from adapters.crypto.software_signer import InvalidPrivateKey, SoftwareSigner
from application.credentials import SignatureEncoding, Signer, UnknownKey
from tests.smki_material import smki

DATA = b"GBCS Grouping Header without its 0xDF tag, then the DER payload"
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def _verifies(signer: Signer, key: str, der_signature: bytes, data: bytes) -> bool:
    public = serialization.load_der_public_key(signer.public_key(key))
    assert isinstance(public, ec.EllipticCurvePublicKey)
    try:
        public.verify(der_signature, data, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def _raw_to_der(raw: bytes) -> bytes:
    return encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))


class SignerContract:
    """What every ``Signer`` promises (see ``application/credentials.py``)."""

    @pytest.fixture
    def signer(self) -> Signer:
        """Each implementation's test class provides a signer holding at least one key."""
        raise NotImplementedError

    @pytest.fixture
    def key(self, signer: Signer) -> str:
        """The handle of a P-256 key ``signer`` holds."""
        raise NotImplementedError

    def test_raw_is_64_bytes_of_r_then_s_and_verifies(self, signer, key):
        raw = signer.sign(key, DATA, encoding=SignatureEncoding.RAW)
        assert len(raw) == 64
        r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
        assert 0 < r < P256_ORDER
        assert 0 < s < P256_ORDER
        assert _verifies(signer, key, _raw_to_der(raw), DATA)

    def test_raw_is_the_default_encoding(self, signer, key):
        assert len(signer.sign(key, DATA)) == 64

    def test_der_verifies(self, signer, key):
        der = signer.sign(key, DATA, encoding=SignatureEncoding.DER)
        assert der[0] == 0x30
        assert _verifies(signer, key, der, DATA)

    def test_a_signature_verifies_for_its_data_only(self, signer, key):
        for encoding in SignatureEncoding:
            signature = signer.sign(key, DATA, encoding=encoding)
            der = _raw_to_der(signature) if encoding is SignatureEncoding.RAW else signature
            assert _verifies(signer, key, der, DATA)
            assert not _verifies(signer, key, der, DATA + b"\x00")

    def test_the_same_data_verifies_across_both_encodings(self, signer, key):
        raw = signer.sign(key, DATA, encoding=SignatureEncoding.RAW)
        der = signer.sign(key, DATA, encoding=SignatureEncoding.DER)
        r, s = decode_dss_signature(der)
        as_raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        assert _verifies(signer, key, _raw_to_der(as_raw), DATA)
        assert _verifies(signer, key, _raw_to_der(raw), DATA)

    def test_empty_and_large_data_are_signed(self, signer, key):
        for data in (b"", bytes(1 << 20)):
            assert _verifies(signer, key, signer.sign(key, data, encoding="der"), data)

    def test_the_public_key_is_a_p256_subject_public_key_info(self, signer, key):
        public = serialization.load_der_public_key(signer.public_key(key))
        assert isinstance(public, ec.EllipticCurvePublicKey)
        assert isinstance(public.curve, ec.SECP256R1)

    def test_an_unknown_handle_is_unknown_key(self, signer):
        with pytest.raises(UnknownKey):
            signer.sign("no-such-key", DATA)
        with pytest.raises(UnknownKey):
            signer.public_key("no-such-key")

    def test_keys_lists_the_handles(self, signer, key):
        handles = signer.keys()
        assert key in handles
        assert "no-such-key" not in handles


class TestSoftwareSigner(SignerContract):
    @pytest.fixture
    def signer(self) -> SoftwareSigner:
        return SoftwareSigner()

    @pytest.fixture
    def key(self, signer: SoftwareSigner) -> str:
        signer.generate("generated")
        return "generated"

    def test_no_method_returns_a_private_key(self, signer):
        public = {name for name in dir(signer) if not name.startswith("_")}
        assert public == {"add_key", "from_folder", "generate", "keys", "public_key", "sign"}

    def test_a_handle_is_held_once(self, signer, key):
        with pytest.raises(InvalidPrivateKey, match="already"):
            signer.generate(key)

    def test_keys_are_pem_or_der_pkcs8_text_or_bytes(self, signer):
        private = ec.generate_private_key(ec.SECP256R1())
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        der = private.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        spkis = {
            signer.add_key("pem-bytes", pem),
            signer.add_key("pem-text", pem.decode()),
            signer.add_key("der", der),
        }
        assert len(spkis) == 1
        assert list(signer.keys()) == ["der", "pem-bytes", "pem-text"]

    @pytest.mark.parametrize(
        "material",
        [
            b"",
            b"not a key",
            ec.generate_private_key(ec.SECP384R1()).private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
            ec.generate_private_key(ec.SECP256R1()).private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(b"secret"),
            ),
        ],
        ids=["empty", "garbage", "p384", "encrypted"],
    )
    def test_what_is_not_an_unencrypted_p256_key_is_refused(self, signer, material):
        with pytest.raises(InvalidPrivateKey) as raised:
            signer.add_key("k", material)
        assert raised.value.code == "INVALID_PRIVATE_KEY"
        assert list(signer.keys()) == []

    def test_a_folder_of_dcc_keys_is_named_by_file_stem(self):
        z1 = SoftwareSigner.from_folder(smki() / "z1").keys()  # DER PKCS#8 and one PEM
        assert "Z1-transitionalCoS-ds" in z1
        assert "dsp-xml-sign-90B3D51F30000002-ds" in z1  # from .key and .key.pem: one key
        assert len(z1) == 13  # 14 key files
        keystore = SoftwareSigner.from_folder(smki() / "keystore").keys()  # PEM PKCS#8
        assert "90b3d51f30000004-ds" in keystore

    def test_a_dcc_key_signs_what_its_certificate_verifies(self):
        signer = SoftwareSigner.from_folder(smki() / "keystore")
        certificate = parse_organisation_certificate(
            (smki() / "keystore" / "90b3d51f30000004-ds.pem").read_bytes()
        )
        assert signer.public_key("90b3d51f30000004-ds") == certificate.certificate.public_key

    def test_two_files_of_one_handle_must_hold_one_key(self, tmp_path: Path):
        for name in ("party.key", "party.key.pem"):
            (tmp_path / name).write_bytes(
                ec.generate_private_key(ec.SECP256R1()).private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
        with pytest.raises(InvalidPrivateKey, match="different key"):
            SoftwareSigner.from_folder(tmp_path)
