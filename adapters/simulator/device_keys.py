"""``SeededDeviceSigner``: the keys simulated Devices sign their responses with.

A GBCS response is signed by the Device (``docs/gbcs.md``). A simulated Device's key is
derived from the simulation's seed and the key's handle (the Device ID), and its signatures
are deterministic ECDSA (RFC 6979): the same seed and the same calls give byte-identical
responses. It implements the ``Signer`` port (``tests/test_simulator.py`` runs the signer
contract on it). Deterministic ECDSA needs ``cryptography`` 44 or later on OpenSSL 3.2 or
later. For simulations only: a key anyone can derive from a seed protects nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Final

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from application.credentials import SignatureEncoding, UnknownKey

_P256_ORDER: Final = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_P256_OCTETS: Final = 32


class SeededDeviceSigner:
    """Holds P-256 keys derived from ``seed`` and each handle; signs deterministically."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._keys: dict[str, ec.EllipticCurvePrivateKey] = {}

    def derive(self, handle: str) -> bytes:
        """Hold the key of ``handle`` (the same for the same seed and handle); returns its DER
        SubjectPublicKeyInfo. Deriving a handle already held returns the same key."""
        if not isinstance(handle, str) or not handle:
            raise ValueError("a key handle is non-empty text")
        if handle not in self._keys:
            digest = hashlib.sha256(f"etmad-simulator device key/{self._seed}/{handle}".encode())
            scalar = int.from_bytes(digest.digest(), "big") % (_P256_ORDER - 1) + 1
            self._keys[handle] = ec.derive_private_key(scalar, ec.SECP256R1())
        return self.public_key(handle)

    def sign(
        self, key: str, data: bytes, *, encoding: SignatureEncoding = SignatureEncoding.RAW
    ) -> bytes:
        """Sign ``data`` (hashed here with SHA-256) with the key named ``key`` (RFC 6979)."""
        der = self._key(key).sign(
            bytes(data), ec.ECDSA(hashes.SHA256(), deterministic_signing=True)
        )
        if SignatureEncoding(encoding) is SignatureEncoding.DER:
            return der
        r, s = decode_dss_signature(der)
        return r.to_bytes(_P256_OCTETS, "big") + s.to_bytes(_P256_OCTETS, "big")

    def public_key(self, key: str) -> bytes:
        """The DER SubjectPublicKeyInfo of the key named ``key``."""
        return (
            self._key(key)
            .public_key()
            .public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

    def keys(self) -> Sequence[str]:
        """The handles held, sorted."""
        return tuple(sorted(self._keys))

    def _key(self, handle: str) -> ec.EllipticCurvePrivateKey:
        try:
            return self._keys[handle]
        except KeyError:
            raise UnknownKey(f"no key {handle!r} in this signer") from None
