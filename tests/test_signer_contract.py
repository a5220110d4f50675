"""The ``Signer`` port: one contract, written once, run against every signer: the
``SoftwareSigner`` and the ``Pkcs11Signer`` on a SoftHSM2 token (``tests/softhsm_support.py``;
skipped, saying why, only where SoftHSM2 is absent)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pkcs11
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from adapters.crypto.pkcs11_signer import (
    Pkcs11Signer,
    Pkcs11TokenUnavailable,
    Pkcs11Uri,
    Pkcs11UriInvalid,
)
from adapters.crypto.signer_uri import SignerUriInvalid, is_hardware, signer_from_uri
from adapters.crypto.smki import parse_organisation_certificate
from adapters.crypto.software_signer import InvalidPrivateKey, SoftwareSigner
from application.credentials import SignatureEncoding, Signer, UnknownKey
from tests.smki_material import smki
from tests.softhsm_support import PIN_ENV, USER_PIN, SoftHsmToken, fresh_token

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

    #: Whether the signer draws a fresh ECDSA nonce per signature (a seeded, RFC 6979 signer
    #: does not: its signatures of the same bytes are the same, and each verifies).
    randomised = True

    def test_signatures_are_randomised_and_each_verifies(self, signer, key):
        first, second = (signer.sign(key, DATA, encoding=SignatureEncoding.DER) for _ in "12")
        assert (first != second) is self.randomised
        assert _verifies(signer, key, first, DATA)
        assert _verifies(signer, key, second, DATA)

    def test_signing_from_several_threads_at_once(self, signer, key):
        with ThreadPoolExecutor(max_workers=8) as pool:
            signatures = list(
                pool.map(lambda i: signer.sign(key, DATA + bytes([i]), encoding="der"), range(32))
            )
        assert all(_verifies(signer, key, s, DATA + bytes([i])) for i, s in enumerate(signatures))


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


# --- the PKCS#11 signer on SoftHSM2 -----------------------------------------------------------


def _pkcs8(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.fixture
def token() -> SoftHsmToken:
    return fresh_token()


class TestPkcs11Signer(SignerContract):
    @pytest.fixture
    def signer(self, token: SoftHsmToken) -> Iterator[Pkcs11Signer]:
        token.import_key("party-key", _pkcs8(ec.generate_private_key(ec.SECP256R1())))
        signer = token.signer()
        yield signer
        signer.close()

    @pytest.fixture
    def key(self, signer: Pkcs11Signer) -> str:  # noqa: ARG002 — the key is the signer's
        return "party-key"

    @pytest.mark.usefixtures("signer")
    def test_the_private_key_cannot_be_read_out_of_the_token(self, token, key):
        library = pkcs11.lib(token.module)
        with library.get_token(token_label=token.label).open() as session:
            private = session.get_key(object_class=pkcs11.ObjectClass.PRIVATE_KEY, label=key)
            assert private[pkcs11.Attribute.SENSITIVE] is True
            assert private[pkcs11.Attribute.EXTRACTABLE] is False
            with pytest.raises(pkcs11.exceptions.AttributeSensitive):
                private[pkcs11.Attribute.VALUE]

    def test_a_dcc_key_signs_in_the_token_what_its_certificate_verifies(self, token):
        z1 = smki() / "z1"
        name = "Z1-transitionalCoS-ds"
        certificate = (z1 / f"{name}.pem").read_bytes()
        spki = token.import_key(name, (z1 / f"{name}.key").read_bytes(), certificate)
        signer = token.signer()
        try:
            parsed = parse_organisation_certificate(certificate)
            assert spki == signer.public_key(name) == parsed.certificate.public_key
            der = signer.certificate(name)
            assert der is not None
            assert parse_organisation_certificate(der) == parsed
            assert _verifies(signer, name, signer.sign(name, DATA, encoding="der"), DATA)
        finally:
            signer.close()

    def test_a_key_is_found_by_its_id_too(self, signer, key):
        public = serialization.load_der_public_key(signer.public_key(key))
        assert isinstance(public, ec.EllipticCurvePublicKey)
        point = public.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        by_id = "id:" + hashlib.sha1(point).hexdigest()  # noqa: S324 — the key id import gives
        assert signer.public_key(by_id) == signer.public_key(key)
        assert _verifies(signer, key, signer.sign(by_id, DATA, encoding="der"), DATA)

    @pytest.mark.usefixtures("signer")
    def test_a_label_is_imported_once(self, token, key):
        with pytest.raises(InvalidPrivateKey, match="already holds"):
            token.import_key(key, _pkcs8(ec.generate_private_key(ec.SECP256R1())))

    def test_a_key_that_is_not_p256_is_not_imported(self, token):
        with pytest.raises(InvalidPrivateKey, match="P-256"):
            token.import_key("p384", _pkcs8(ec.generate_private_key(ec.SECP384R1())))

    def test_a_certificate_of_another_key_is_not_imported_with_it(self, token):
        z1 = smki() / "z1"
        with pytest.raises(InvalidPrivateKey, match="does not certify"):
            token.import_key(
                "mismatch",
                (z1 / "Z1-supplier-ds.key").read_bytes(),
                (z1 / "Z1-transitionalCoS-ds.pem").read_bytes(),
            )

    def test_a_wrong_pin_is_refused_and_named(self, token):
        with pytest.raises(Pkcs11TokenUnavailable, match=r"PIN of token .* is wrong"):
            Pkcs11Signer(module=token.module, token=token.label, pin="not-the-pin")

    def test_an_absent_token_is_named_with_the_tokens_there(self, token):
        absent = f"no token labelled 'absent'.*{token.label}"
        with pytest.raises(Pkcs11TokenUnavailable, match=absent):
            Pkcs11Signer(module=token.module, token="absent", pin=USER_PIN)  # noqa: S106 — a label

    def test_a_module_that_cannot_be_loaded_is_named(self, tmp_path):
        with pytest.raises(Pkcs11TokenUnavailable, match="cannot load the PKCS#11 module"):
            Pkcs11Signer(module=str(tmp_path / "absent.so"), token="t", pin="p")  # noqa: S106

    # python-pkcs11 finalises the failed search on the dead session in a __del__, which
    # reports SessionHandleInvalid as unraisable: expected here, the signer then reopens.
    @pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
    def test_the_session_is_reopened_when_the_module_is_reinitialised(self, token, signer, key):
        pkcs11.lib(token.module).reinitialize()  # every session of the process is gone
        assert _verifies(signer, key, signer.sign(key, DATA, encoding="der"), DATA)

    @pytest.mark.usefixtures("signer")
    def test_two_signers_on_one_token_both_sign(self, token, key):
        other = token.signer()  # the token is already logged in by ``signer``
        try:
            assert _verifies(other, key, other.sign(key, DATA, encoding="der"), DATA)
        finally:
            other.close()

    def test_the_uri_gives_the_signer_and_the_key_with_the_pin_from_the_environment(
        self, token, key, signer
    ):
        from_uri, handle = signer_from_uri(token.uri(key), environ={PIN_ENV: USER_PIN})
        assert handle == key
        assert isinstance(from_uri, Pkcs11Signer)
        assert is_hardware(from_uri)
        assert from_uri.public_key(handle) == signer.public_key(key)
        from_uri.close()

    def test_a_uri_whose_pin_variable_is_unset_is_refused_naming_it(self, token, key):
        with pytest.raises(Pkcs11UriInvalid, match=f"{PIN_ENV} .* is not set"):
            signer_from_uri(token.uri(key), environ={})


class TestPkcs11Uri:
    def test_the_parts_are_read_and_percent_decoded(self):
        uri = Pkcs11Uri.parse(
            "pkcs11:module=/usr/lib/p11.so;token=CoS%20Party;pin-env=HSM_PIN;label=ecos%3Bv2"
        )
        assert (uri.module, uri.token, uri.pin_env, uri.label) == (
            "/usr/lib/p11.so",
            "CoS Party",
            "HSM_PIN",
            "ecos;v2",
        )
        assert uri.key == "ecos;v2"
        assert uri.pin({"HSM_PIN": "1234"}) == "1234"

    def test_a_key_by_id_is_named_id_hex(self):
        uri = Pkcs11Uri.parse("pkcs11:module=m.so;token=t;pin-env=P;id=0A:1b")
        assert uri.key_id == b"\x0a\x1b"
        assert uri.key == "id:0a1b"

    @pytest.mark.parametrize(
        ("text", "reason"),
        [
            ("pkcs11:module=m.so;token=t;pin-env=P;pin-value=1234", "never carries a PIN"),
            ("pkcs11:module=m.so;token=t;pin-env=P;pin=1234", "never carries a PIN"),
            ("pkcs11:token=t;pin-env=P", "lacks module="),
            ("pkcs11:module=m.so;pin-env=P", "lacks token="),
            ("pkcs11:module=m.so;token=t", "lacks pin-env="),
            ("pkcs11:module=m.so;token=t;pin-env=1X", "names an environment variable"),
            ("pkcs11:module=m.so;token=t;pin-env=P;slot=1", "unknown PKCS#11 URI attribute"),
            ("pkcs11:module=m.so;token=t;token=u;pin-env=P", "token= twice"),
            ("pkcs11:module=m.so;token=t;pin-env=P;id=xyz", "hexadecimal"),
            ("pkcs11:module=m.so;token=t;pin-env=P;id=01;label=k", "not both"),
            ("file:x.key", "starts with 'pkcs11:'"),
        ],
    )
    def test_what_cannot_be_used_is_refused_saying_why(self, text, reason):
        with pytest.raises(Pkcs11UriInvalid, match=reason) as raised:
            Pkcs11Uri.parse(text)
        assert raised.value.code == "PKCS11_URI_INVALID"

    def test_a_uri_without_a_key_names_no_signing_key(self):
        with pytest.raises(Pkcs11UriInvalid, match="names no key"):
            signer_from_uri("pkcs11:module=m.so;token=t;pin-env=P", environ={"P": "1"})


class TestFileUri:
    def test_a_key_file_is_a_software_signer_named_by_its_stem(self):
        z1 = smki() / "z1"
        signer, handle = signer_from_uri(f"file:{z1 / 'Z1-supplier-ds.key'}")
        assert handle == "Z1-supplier-ds"
        assert isinstance(signer, SoftwareSigner)
        assert not is_hardware(signer)
        assert list(signer.keys()) == [handle]

    def test_a_relative_path_is_read_from_the_base(self):
        signer, handle = signer_from_uri("file:Z1-recovery-ds.key", base=smki() / "z1")
        assert list(signer.keys()) == [handle]

    def test_an_unreadable_file_or_an_unknown_scheme_is_refused(self, tmp_path):
        with pytest.raises(SignerUriInvalid, match="cannot read the key file"):
            signer_from_uri(f"file:{tmp_path / 'absent.key'}")
        with pytest.raises(SignerUriInvalid, match="pkcs11:") as raised:
            signer_from_uri("/etc/keys/party.key")
        assert raised.value.code == "SIGNER_URI_INVALID"
