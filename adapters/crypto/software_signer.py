"""``SoftwareSigner``: the ``Signer`` port on ``cryptography``, with keys held in memory.

For tests, the demo and the DCC test material; production keys live in an HSM (a PKCS#11 signer
passes the same contract, ``tests/test_signer_contract.py``). Keys are ECDSA P-256 and
signatures ECDSA with SHA-256 (DOMAIN.md 6). A key is named by a *handle* chosen when it is
added; nothing returns a private key.

RAW signatures are 64 bytes, r then s, each big-endian on 32 bytes: the form GBCS carries after
the 0x40 tag of a Signed Pre-Command, and DUIS XML-DSig carries in SignatureValue. DER
signatures are the ASN.1 ``ECDSA-Sig-Value`` that X.509 certificates and CMS carry.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Final

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from application.credentials import SignatureEncoding, UnknownKey
from domain.errors import DomainError

_P256_OCTETS: Final = 32
_PEM_BEGIN: Final = b"-----BEGIN"
#: File names ``from_folder`` reads as keys, longest suffix first; the handle is the rest.
KEY_SUFFIXES: Final = (".key.pem", ".key.der", ".key")


class InvalidPrivateKey(DomainError, ValueError):  # noqa: N818 — reads as the fact it reports
    """Key material that is not an unencrypted ECDSA P-256 PKCS#8 (or SEC 1) private key."""

    code = "INVALID_PRIVATE_KEY"


class SoftwareSigner:
    """Signs with ECDSA P-256 keys it holds in memory (implements ``Signer``)."""

    def __init__(self, *, deterministic: bool = False) -> None:
        """``deterministic``: sign by deterministic ECDSA (RFC 6979), so the same key and data
        give the same signature (simulations that must replay byte for byte)."""
        self._keys: dict[str, ec.EllipticCurvePrivateKey] = {}
        self._deterministic = deterministic

    @classmethod
    def from_folder(cls, folder: Path | str) -> SoftwareSigner:
        """A signer holding every key file in ``folder`` (not its subfolders), named by stem.

        Key files end in ``.key``, ``.key.pem`` or ``.key.der`` and hold PEM or DER PKCS#8;
        the handle is the name without that suffix (``Z1-supplier-ds.key`` is
        ``Z1-supplier-ds``). Two files of one handle must hold the same key.
        """
        signer = cls()
        for path in sorted(Path(folder).iterdir()):
            handle = _handle_of(path.name)
            if handle is None or not path.is_file():
                continue
            key = _load_private_key(path.read_bytes(), source=str(path))
            held = signer._keys.get(handle)
            if held is not None and _spki(held) != _spki(key):
                raise InvalidPrivateKey(
                    f"{path} holds a different key from another file named {handle!r}"
                )
            signer._keys[handle] = key
        return signer

    def add_key(self, handle: str, private_key: bytes | str) -> bytes:
        """Hold ``private_key`` (PEM text or bytes, or DER; PKCS#8 or SEC 1) as ``handle``.

        Returns the DER SubjectPublicKeyInfo. A handle already held is refused.
        """
        key = _load_private_key(
            private_key.encode("ascii") if isinstance(private_key, str) else private_key,
            source=handle,
        )
        return self._hold(handle, key)

    def generate(self, handle: str) -> bytes:
        """Generate a fresh P-256 key held as ``handle``; returns its DER SubjectPublicKeyInfo."""
        return self._hold(handle, ec.generate_private_key(ec.SECP256R1()))

    def sign(
        self, key: str, data: bytes, *, encoding: SignatureEncoding = SignatureEncoding.RAW
    ) -> bytes:
        """Sign ``data`` (hashed here with SHA-256) with the key named ``key``."""
        der = self._key(key).sign(
            bytes(data), ec.ECDSA(hashes.SHA256(), deterministic_signing=self._deterministic)
        )
        if SignatureEncoding(encoding) is SignatureEncoding.DER:
            return der
        r, s = decode_dss_signature(der)
        return r.to_bytes(_P256_OCTETS, "big") + s.to_bytes(_P256_OCTETS, "big")

    def public_key(self, key: str) -> bytes:
        """The DER SubjectPublicKeyInfo of the key named ``key``."""
        return _spki(self._key(key))

    def keys(self) -> Sequence[str]:
        """The handles held, sorted."""
        return tuple(sorted(self._keys))

    def __contains__(self, handle: object) -> bool:
        return handle in self._keys

    def _key(self, handle: str) -> ec.EllipticCurvePrivateKey:
        try:
            return self._keys[handle]
        except KeyError:
            raise UnknownKey(f"no key {handle!r} in this signer") from None

    def _hold(self, handle: str, key: ec.EllipticCurvePrivateKey) -> bytes:
        if not isinstance(handle, str) or not handle:
            raise InvalidPrivateKey("a key handle is non-empty text")
        if handle in self._keys:
            raise InvalidPrivateKey(f"this signer already holds a key named {handle!r}")
        self._keys[handle] = key
        return _spki(key)


def _handle_of(name: str) -> str | None:
    for suffix in KEY_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return None


def _load_private_key(data: bytes, *, source: str) -> ec.EllipticCurvePrivateKey:
    loader = (
        serialization.load_pem_private_key
        if data.lstrip().startswith(_PEM_BEGIN)
        else serialization.load_der_private_key
    )
    try:
        key = loader(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise InvalidPrivateKey(f"{source}: not an unencrypted private key ({exc})") from None
    if not (isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1)):
        raise InvalidPrivateKey(f"{source}: not an ECDSA P-256 key (DOMAIN.md 6)")
    return key


def _spki(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
