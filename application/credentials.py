"""Ports for credentials: signing keys and the SMKI view (DOMAIN.md 6; ETMAD 3.2, 3.4).

Keys never cross a port: a ``Signer`` signs with a key it holds, named by a handle. The
``CertificateAuthority`` is the part of the SMKI the checks need: certificates by Certificate
ID and by (Entity Identifier, role, key usage), the trust anchors (OCA certificates), and
revocation.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Protocol

from domain.identifiers import EUI64, CertificateId
from domain.smki import Certificate, KeyUsage, OrganisationCertificate, RemotePartyRole


class SignatureEncoding(enum.StrEnum):
    """How an ECDSA P-256 signature is returned."""

    RAW = "raw"  # 64 bytes r||s, as GBCS and DUIS XML-DSig SignatureValue carry it
    DER = "der"  # ASN.1 ECDSA-Sig-Value, as X.509 certificates and CMS carry it


class UnknownKey(LookupError):  # noqa: N818 — reads as the fact it reports
    """The signer holds no key under that handle."""


class Signer(Protocol):
    """**Protocol**: signs with ECDSA P-256 / SHA-256 using keys it holds; keys never leave it.

    Promises: ``sign`` hashes ``data`` with SHA-256 and signs the digest with the key named
    ``key``, returning the signature in ``encoding``; every signature verifies against
    ``public_key(key)``; an unknown handle raises ``UnknownKey``.
    """

    def sign(
        self, key: str, data: bytes, *, encoding: SignatureEncoding = SignatureEncoding.RAW
    ) -> bytes:
        """Sign ``data`` (not a digest) with the key named ``key``."""
        ...

    def public_key(self, key: str) -> bytes:
        """The DER SubjectPublicKeyInfo of the key named ``key``."""
        ...

    def keys(self) -> Sequence[str]:
        """The handles of the keys this signer holds."""
        ...


class CertificateAuthority(Protocol):
    """**Protocol**: the SMKI as the checks see it.

    Promises: look-ups never raise for an unknown certificate (they return None or nothing);
    ``trust_anchors`` are the issuing (OCA) certificates chains must end at; ``issuer_of`` finds
    a certificate's issuer among the anchors and the intermediate certificates it holds.
    """

    def organisation_certificate(
        self, certificate_id: CertificateId
    ) -> OrganisationCertificate | None:
        """The Organisation Certificate with this Certificate ID, if held."""
        ...

    def find(
        self, entity_id: EUI64, role: RemotePartyRole, key_usage: KeyUsage
    ) -> Sequence[OrganisationCertificate]:
        """Organisation Certificates of a party in a role with a key usage."""
        ...

    def trust_anchors(self) -> Sequence[Certificate]:
        """The certificates every chain must end at."""
        ...

    def issuer_of(self, certificate: Certificate) -> Certificate | None:
        """The certificate that issued ``certificate`` (by key identifier, else by name)."""
        ...

    def is_revoked(self, certificate_id: CertificateId) -> bool:
        """Whether the certificate is on the revocation list."""
        ...
