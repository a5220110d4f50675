"""A test PKI: SMKI-shaped certificates issued on demand, with ``cryptography``'s x509 builder.

For tests and the demo, never for production. ``PkiBuilder`` issues a Root, CAs (an Issuing
Authority's OCA, a Device CA), Organisation Certificates and Device Certificates shaped as the DCC
test PKI shapes them (``tests/test_pki_builder.py`` compares the two):

- CA: subject ``OU=<role>`` then ``CN=<name>`` as PrintableString; keyUsage keyCertSign and
  cRLSign (critical); basicConstraints cA with pathLen (critical); certificatePolicies
  (critical); subject and authority key identifiers of 8 octets;
- Organisation Certificate: subject ``[CN=<name>]``, ``OU=<two hex digits>``,
  ``x500UniqueIdentifier=<64-bit BIT STRING>``; keyUsage digitalSignature or keyAgreement
  (critical); no basicConstraints; certificatePolicies (critical); key identifiers;
- Device Certificate: empty subject; subjectAltName otherName hardwareModuleName (critical);
  otherwise as an Organisation Certificate.

Every key is P-256 and lives in the builder's ``SoftwareSigner`` under the handle returned with
the certificate; the builder keeps its own copy only to sign what it issues. Keyword arguments
bend the shape for negative tests (a CA without keyCertSign, an end entity that is a CA, a
role in decimal, a tampered signature).
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Final

import attrs
from asn1crypto import algos
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID, ObjectIdentifier

from adapters.crypto.smki import (
    DEVICE_HW_TYPE,
    HARDWARE_MODULE_NAME,
    HardwareModuleName,
    parse_certificate,
    parse_device_certificate,
    parse_organisation_certificate,
)
from adapters.crypto.software_signer import SoftwareSigner
from domain.identifiers import EUI64
from domain.smki import (
    Certificate,
    DeviceCertificate,
    KeyUsage,
    OrganisationCertificate,
    RemotePartyRole,
)

#: The certificate policies of the DCC test PKI (Organisation and CA; Device).
ORGANISATION_POLICY: Final = "1.2.826.0.1.8641679.1.2.1.4"
DEVICE_POLICY: Final = "1.2.826.0.1.1800000.1.2.1.4"
DEFAULT_NOT_BEFORE: Final = datetime(2015, 1, 1, tzinfo=UTC)
DEFAULT_NOT_AFTER: Final = datetime(2040, 1, 1, tzinfo=UTC)
#: The test supplier's Entity Identifier and a test ESME's Device ID, as in the DCC material.
DEFAULT_ENTITY_ID: Final = EUI64(0x90B3D51F30010000)
DEFAULT_DEVICE_ID: Final = EUI64(0x00DB123456789001)
_KEY_ID_OCTETS: Final = 8
_P256_ORDER: Final = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_CA_USAGES: Final = frozenset({"keyCertSign", "cRLSign"})
_USAGE_ARGUMENTS: Final = {
    "digitalSignature": "digital_signature",
    "nonRepudiation": "content_commitment",
    "keyEncipherment": "key_encipherment",
    "dataEncipherment": "data_encipherment",
    "keyAgreement": "key_agreement",
    "keyCertSign": "key_cert_sign",
    "cRLSign": "crl_sign",
    "encipherOnly": "encipher_only",
    "decipherOnly": "decipher_only",
}


@attrs.frozen
class IssuedCertificate:
    """A certificate the builder issued (DER) and the handle of its key in the signer."""

    der: bytes
    key: str

    @property
    def pem(self) -> bytes:
        return x509.load_der_x509_certificate(self.der).public_bytes(serialization.Encoding.PEM)

    def certificate(self) -> Certificate:
        return parse_certificate(self.der)

    def organisation(self) -> OrganisationCertificate:
        return parse_organisation_certificate(self.der)

    def device(self) -> DeviceCertificate:
        return parse_device_certificate(self.der)


class PkiBuilder:
    """Issues SMKI-shaped test certificates; keys go to ``signer`` (see the module docstring)."""

    def __init__(
        self,
        signer: SoftwareSigner | None = None,
        *,
        not_before: datetime = DEFAULT_NOT_BEFORE,
        not_after: datetime = DEFAULT_NOT_AFTER,
        seed: int | None = None,
    ) -> None:
        """``seed`` makes the PKI reproducible: every key is derived from the seed and its
        handle, and certificates are signed by deterministic ECDSA (RFC 6979), so the same
        seed and the same calls issue byte-identical certificates (a simulation's PKI, rebuilt
        by each process that resumes it). Such keys protect nothing."""
        self.signer = signer if signer is not None else SoftwareSigner()
        self.seed = seed
        self.not_before = not_before
        self.not_after = not_after
        self._private: dict[str, ec.EllipticCurvePrivateKey] = {}
        self._adopted: set[str] = set()
        self._serials = itertools.count(0x5EC0_0001)
        self._handles = itertools.count(1)

    def root(
        self, *, name: str = "ZA", key: str | None = None, serial: int | None = None
    ) -> IssuedCertificate:
        """A self-signed Root (``OU=00``), cA without a path length limit."""
        return self.ca(None, name=name, role="00", path_length=None, key=key, serial=serial)

    def ca(
        self,
        issuer: IssuedCertificate | None,
        *,
        name: str = "Z1",
        role: str | None = "07",
        path_length: int | None = 0,
        ca: bool | None = True,
        key_usages: Collection[str] = _CA_USAGES,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
        key: str | None = None,
        serial: int | None = None,
    ) -> IssuedCertificate:
        """A CA issued by ``issuer`` (self-signed if None): an OCA (``OU=07``) by default.

        ``ca=None`` omits basicConstraints; ``ca=False`` and ``key_usages`` without keyCertSign
        make the broken issuers of negative tests.
        """
        attributes = []
        if role is not None:
            attributes.append(_printable(NameOID.ORGANIZATIONAL_UNIT_NAME, role))
        attributes.append(_printable(NameOID.COMMON_NAME, name))
        return self._issue(
            issuer,
            subject=x509.Name([x509.RelativeDistinguishedName([a]) for a in attributes]),
            key_usages=key_usages,
            ca=ca,
            path_length=path_length,
            policy=ORGANISATION_POLICY,
            not_before=not_before,
            not_after=not_after,
            key=key,
            serial=serial,
        )

    def organisation_certificate(
        self,
        issuer: IssuedCertificate,
        *,
        role: RemotePartyRole | str = RemotePartyRole.SUPPLIER,
        entity_id: EUI64 | bytes | None = DEFAULT_ENTITY_ID,
        key_usage: KeyUsage = KeyUsage.DIGITAL_SIGNATURE,
        key_usages: Collection[str] | None = None,
        ca: bool | None = None,
        common_name: str | None = None,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
        key: str | None = None,
        serial: int | None = None,
    ) -> IssuedCertificate:
        """An Organisation Certificate of ``role`` and ``entity_id``, signed by ``issuer``.

        ``role`` as text is written verbatim (``"137"``, to test the parser's refusal);
        ``entity_id`` as bytes is the raw BIT STRING contents (unused-bits octet first), None
        omits it; ``key_usages`` replaces the one ``key_usage``; ``ca`` adds basicConstraints.
        """
        rdns: list[x509.NameAttribute[str] | x509.NameAttribute[bytes]] = []
        if common_name is not None:
            rdns.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
        role_text = role.hex if isinstance(role, RemotePartyRole) else role
        rdns.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role_text))
        if entity_id is not None:
            contents = (
                b"\x00" + entity_id.value.to_bytes(8, "big")
                if isinstance(entity_id, EUI64)
                else entity_id
            )
            rdns.append(
                x509.NameAttribute(
                    NameOID.X500_UNIQUE_IDENTIFIER, contents, _type=_ASN1Type.BitString
                )
            )
        return self._issue(
            issuer,
            subject=x509.Name([x509.RelativeDistinguishedName([a]) for a in rdns]),
            key_usages={key_usage.value} if key_usages is None else key_usages,
            ca=ca,
            path_length=None,
            policy=ORGANISATION_POLICY,
            not_before=not_before,
            not_after=not_after,
            key=key,
            serial=serial,
        )

    def device_certificate(
        self,
        issuer: IssuedCertificate,
        *,
        device_id: EUI64 = DEFAULT_DEVICE_ID,
        key_usage: KeyUsage = KeyUsage.DIGITAL_SIGNATURE,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
        key: str | None = None,
        serial: int | None = None,
    ) -> IssuedCertificate:
        """A Device Certificate: empty subject, Device ID in subjectAltName hardwareModuleName."""
        module = HardwareModuleName(
            {"hw_type": DEVICE_HW_TYPE, "hw_serial_num": device_id.value.to_bytes(8, "big")}
        )
        other_name = x509.OtherName(ObjectIdentifier(HARDWARE_MODULE_NAME), module.dump())
        return self._issue(
            issuer,
            subject=x509.Name([]),
            key_usages={key_usage.value},
            ca=None,
            path_length=None,
            policy=DEVICE_POLICY,
            not_before=not_before,
            not_after=not_after,
            key=key,
            serial=serial,
            alt_name=x509.SubjectAlternativeName([other_name]),
        )

    def tampered(self, issued: IssuedCertificate) -> IssuedCertificate:
        """The same certificate (same Certificate ID) with a signature that does not verify."""
        return IssuedCertificate(tamper_signature(issued.der), issued.key)

    def private_key_der(self, handle: str) -> bytes:
        """The PKCS#8 DER of the test key ``handle``, to hand it to the one service that signs
        with it (a test PKI's keys protect nothing)."""
        return self._private[handle].private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def adopt_key(self, handle: str, private_key: bytes) -> None:
        """Certify an existing key (PKCS#8 DER or PEM): certificates issued with ``key=handle``
        carry it, and ``signer`` signs with it."""
        loaded = (
            serialization.load_pem_private_key(private_key, password=None)
            if private_key.lstrip().startswith(b"-----")
            else serialization.load_der_private_key(private_key, password=None)
        )
        if not isinstance(loaded, ec.EllipticCurvePrivateKey):
            raise TypeError(f"{handle}: not an elliptic-curve private key")
        self.signer.add_key(handle, private_key)
        self._private[handle] = loaded
        self._adopted.add(handle)

    def _new_key(self, handle: str | None) -> tuple[str, ec.EllipticCurvePrivateKey]:
        if handle is not None and handle in self._adopted:
            return handle, self._private[handle]
        name = handle or f"test-key-{next(self._handles)}"
        if self.seed is None:
            private = ec.generate_private_key(ec.SECP256R1())
        else:
            digest = hashlib.sha256(f"etmad test PKI key/{self.seed}/{name}".encode()).digest()
            scalar = int.from_bytes(digest, "big") % (_P256_ORDER - 1) + 1
            private = ec.derive_private_key(scalar, ec.SECP256R1())
        self.signer.add_key(
            name,
            private.private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )
        self._private[name] = private
        return name, private

    def _issue(
        self,
        issuer: IssuedCertificate | None,
        *,
        subject: x509.Name,
        key_usages: Collection[str],
        ca: bool | None,
        path_length: int | None,
        policy: str,
        not_before: datetime | None,
        not_after: datetime | None,
        key: str | None,
        serial: int | None,
        alt_name: x509.SubjectAlternativeName | None = None,
    ) -> IssuedCertificate:
        handle, private = self._new_key(key)
        public = private.public_key()
        if issuer is None:
            issuer_name, signing_key, issuer_key = subject, private, public
        else:
            issuer_certificate = x509.load_der_x509_certificate(issuer.der)
            issuer_name = issuer_certificate.subject
            signing_key = self._private[issuer.key]
            issuer_key = signing_key.public_key()
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer_name)
            .public_key(public)
            .serial_number(serial if serial is not None else next(self._serials))
            .not_valid_before(not_before or self.not_before)
            .not_valid_after(not_after or self.not_after)
            .add_extension(_key_usage(key_usages), critical=True)
        )
        if ca is not None:
            builder = builder.add_extension(
                x509.BasicConstraints(ca=ca, path_length=path_length if ca else None),
                critical=True,
            )
        if alt_name is not None:
            builder = builder.add_extension(alt_name, critical=True)
        builder = (
            builder.add_extension(
                x509.CertificatePolicies([x509.PolicyInformation(ObjectIdentifier(policy), None)]),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier(_key_id(public)), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier(_key_id(issuer_key), None, None), critical=False
            )
        )
        certificate = builder.sign(
            signing_key, hashes.SHA256(), ecdsa_deterministic=self.seed is not None or None
        )
        return IssuedCertificate(certificate.public_bytes(serialization.Encoding.DER), handle)


def tamper_signature(der: bytes) -> bytes:
    """A certificate's DER with one bit of its signature's ``s`` flipped: still well-formed."""
    certificate = asn1_x509.Certificate.load(der)
    signature = algos.DSASignature.load(certificate["signature_value"].native)
    flipped = algos.DSASignature({"r": signature["r"].native, "s": signature["s"].native ^ 1})
    rebuilt = asn1_x509.Certificate(
        {
            "tbs_certificate": certificate["tbs_certificate"],
            "signature_algorithm": certificate["signature_algorithm"],
            "signature_value": flipped.dump(),
        }
    )
    return bytes(rebuilt.dump())


def _printable(oid: ObjectIdentifier, value: str) -> x509.NameAttribute[str]:
    return x509.NameAttribute(oid, value, _type=_ASN1Type.PrintableString)


def _key_usage(names: Collection[str]) -> x509.KeyUsage:
    flags = dict.fromkeys(_USAGE_ARGUMENTS.values(), False)
    for name in names:
        flags[_USAGE_ARGUMENTS[name]] = True
    return x509.KeyUsage(**flags)


def _key_id(key: ec.EllipticCurvePublicKey) -> bytes:
    """8 octets, as the DCC's key identifiers: the first of SHA-256 over the public point."""
    point = key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return hashlib.sha256(point).digest()[:_KEY_ID_OCTETS]
