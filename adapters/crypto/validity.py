"""SMKI "Confirm Validity" of a certificate at a given time (DOMAIN.md 6; RFC 5280 6.1).

``confirm_validity`` builds the path from the certificate to a trust anchor through the
``CertificateAuthority`` (``issuer_of``), then checks it from the anchor down, one link (issuer
to subject) at a time, and returns the first failure as a ``Validity`` decision. The order:

1. the path reaches a configured trust anchor, within ``MAX_PATH`` certificates
   (else ``UNTRUSTED_ISSUER``, failing the last certificate reached);
2. the anchor is inside its validity period at ``at`` and not revoked (its own issuer, such as
   the SMKI Root above an OCA, is not checked: trusting the anchor is configuration);
3. for each link: the issuer is a CA (basicConstraints cA, ``BASIC_CONSTRAINTS``), may sign
   certificates (keyUsage keyCertSign, ``KEY_USAGE``) and its pathLenConstraint allows the CAs
   below it (``BASIC_CONSTRAINTS``); the subject's signature verifies under the issuer's key with
   ECDSA P-256/SHA-256 (``BAD_SIGNATURE``); the subject is inside its validity period at ``at``
   (``NOT_YET_VALID`` / ``EXPIRED``; both bounds inclusive, RFC 5280 4.1.2.5) and not revoked
   (``REVOKED``);
4. the end entity is not a CA and does not assert keyCertSign (``BASIC_CONSTRAINTS`` /
   ``KEY_USAGE``); an Organisation or Device Certificate's key usage is exactly its one
   ``key_usage`` (DOMAIN.md 6, ``KEY_USAGE``).

Time is always the argument ``at`` (the request's or event's time), never the wall clock: the
DCC test certificates expired in 2025. An invalid certificate never raises; only a naive ``at``
(a programming error) does.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

from adapters.crypto.smki import ECDSA_WITH_SHA256
from application.credentials import CertificateAuthority
from domain.identifiers import CertificateId
from domain.smki import (
    Certificate,
    DeviceCertificate,
    OrganisationCertificate,
    Validity,
    ValidityCode,
)

#: The longest path walked (end entity, CAs, anchor); the SMKI's is 2 (OCA, end entity) or 3.
MAX_PATH: Final = 8
KEY_CERT_SIGN: Final = "keyCertSign"


class _Failed(Exception):  # noqa: N818 — internal: carries the decision out of the checks
    def __init__(self, code: ValidityCode, detail: str, failed: Certificate) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.failed = failed


def confirm_validity(
    cert: Certificate | OrganisationCertificate | DeviceCertificate,
    at: datetime,
    authority: CertificateAuthority,
) -> Validity:
    """Whether ``cert`` is valid at ``at`` under ``authority`` (rules in the module docstring)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("confirm_validity needs a timezone-aware time")
    leaf = cert if isinstance(cert, Certificate) else cert.certificate
    path: list[Certificate] = [leaf]
    try:
        _build_path(path, authority)
        _check_anchor(path[-1], at, authority)
        for index in range(len(path) - 2, -1, -1):
            _check_link(path, index, at, authority)
        if len(path) > 1:
            _check_end_entity(cert, leaf)
    except _Failed as failure:
        return Validity(
            valid=False,
            code=failure.code,
            detail=failure.detail,
            at=at,
            path=_ids(path),
            failed=failure.failed.certificate_id,
        )
    return Validity(
        valid=True,
        code=ValidityCode.VALID,
        detail=f"valid at {at.isoformat()}: chains to trust anchor {path[-1].certificate_id}",
        at=at,
        path=_ids(path),
    )


def _ids(path: Sequence[Certificate]) -> tuple[CertificateId, ...]:
    return tuple(c.certificate_id for c in path)


def _build_path(path: list[Certificate], authority: CertificateAuthority) -> None:
    anchors = {anchor.der for anchor in authority.trust_anchors()}
    while path[-1].der not in anchors:
        last = path[-1]
        issuer = authority.issuer_of(last)
        if issuer is None:
            key = f" with key id {last.issuer_key_id.hex()}" if last.issuer_key_id else ""
            raise _Failed(
                ValidityCode.UNTRUSTED_ISSUER,
                f"{last.certificate_id}: its issuer {last.certificate_id.issuer!r}{key} is "
                "neither a trust anchor nor a CA certificate held",
                last,
            )
        if any(issuer.der == c.der for c in path) or len(path) >= MAX_PATH:
            raise _Failed(
                ValidityCode.UNTRUSTED_ISSUER,
                f"{last.certificate_id}: no trust anchor within {MAX_PATH} certificates",
                last,
            )
        path.append(issuer)


def _check_anchor(anchor: Certificate, at: datetime, authority: CertificateAuthority) -> None:
    _check_time(anchor, at)
    _check_revocation(anchor, authority)


def _check_link(
    path: Sequence[Certificate], index: int, at: datetime, authority: CertificateAuthority
) -> None:
    subject, issuer = path[index], path[index + 1]
    if not issuer.is_ca:
        raise _Failed(
            ValidityCode.BASIC_CONSTRAINTS,
            f"{issuer.certificate_id} issued {subject.certificate_id} but is not a CA "
            "(basicConstraints cA, RFC 5280 4.2.1.9)",
            issuer,
        )
    if KEY_CERT_SIGN not in issuer.key_usages:
        raise _Failed(
            ValidityCode.KEY_USAGE,
            f"{issuer.certificate_id} issued {subject.certificate_id} but its keyUsage lacks "
            "keyCertSign (RFC 5280 4.2.1.3)",
            issuer,
        )
    cas_below = index  # the CA certificates between this issuer and the end entity
    if issuer.path_length is not None and cas_below > issuer.path_length:
        raise _Failed(
            ValidityCode.BASIC_CONSTRAINTS,
            f"{issuer.certificate_id} allows {issuer.path_length} CA certificates below it "
            f"(pathLenConstraint, RFC 5280 4.2.1.9); the path has {cas_below}",
            issuer,
        )
    problem = _signature_problem(subject, issuer)
    if problem:
        raise _Failed(
            ValidityCode.BAD_SIGNATURE,
            f"{subject.certificate_id}: {problem} (issuer {issuer.certificate_id})",
            subject,
        )
    _check_time(subject, at)
    _check_revocation(subject, authority)


def _check_end_entity(
    cert: Certificate | OrganisationCertificate | DeviceCertificate, leaf: Certificate
) -> None:
    if leaf.is_ca:
        raise _Failed(
            ValidityCode.BASIC_CONSTRAINTS,
            f"{leaf.certificate_id} is an end entity but asserts basicConstraints cA",
            leaf,
        )
    if KEY_CERT_SIGN in leaf.key_usages:
        raise _Failed(
            ValidityCode.KEY_USAGE,
            f"{leaf.certificate_id} is not a CA but asserts keyCertSign (RFC 5280 4.2.1.3)",
            leaf,
        )
    if not isinstance(cert, Certificate) and leaf.key_usages != {cert.key_usage.value}:
        shown = ", ".join(sorted(leaf.key_usages)) or "none"
        raise _Failed(
            ValidityCode.KEY_USAGE,
            f"{leaf.certificate_id}: keyUsage must be exactly {cert.key_usage.value} "
            f"(DOMAIN.md 6); it is: {shown}",
            leaf,
        )


def _check_time(certificate: Certificate, at: datetime) -> None:
    if at < certificate.not_before:
        raise _Failed(
            ValidityCode.NOT_YET_VALID,
            f"{certificate.certificate_id} is valid from {certificate.not_before.isoformat()}, "
            f"after {at.isoformat()}",
            certificate,
        )
    if at > certificate.not_after:
        raise _Failed(
            ValidityCode.EXPIRED,
            f"{certificate.certificate_id} expired at {certificate.not_after.isoformat()}, "
            f"before {at.isoformat()}",
            certificate,
        )


def _check_revocation(certificate: Certificate, authority: CertificateAuthority) -> None:
    if authority.is_revoked(certificate.certificate_id):
        raise _Failed(
            ValidityCode.REVOKED,
            f"{certificate.certificate_id} is on the revocation list",
            certificate,
        )


def _signature_problem(subject: Certificate, issuer: Certificate) -> str | None:
    """Why ``issuer``'s key does not verify ``subject``'s signature, or None if it does."""
    if subject.signature_algorithm != ECDSA_WITH_SHA256:
        return f"signature algorithm {subject.signature_algorithm} is not {ECDSA_WITH_SHA256}"
    try:
        key = load_der_public_key(issuer.public_key)
    except (ValueError, UnsupportedAlgorithm) as exc:
        return f"the issuer's public key is unreadable ({exc})"
    if not (isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1)):
        return "the issuer's key is not ECDSA P-256"
    try:
        key.verify(subject.signature, subject.tbs, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return "the signature does not verify under the issuer's key"
    return None
