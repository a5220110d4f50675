"""Reading SMKI certificates (X.509, PEM or DER) into the domain's values, with ``asn1crypto``.

``parse_certificate`` reads any certificate into ``domain.smki.Certificate``: what chain
validation needs. ``parse_organisation_certificate`` and ``parse_device_certificate`` add the
SMKI profile checks of DOMAIN.md 6 (from the DCC test PKI and the SMKI certificate profiles):

- an Organisation Certificate names its Remote Party Role in the subject's single
  ``organizationalUnitName``, as exactly two hex digits (``02`` supplier, ``87`` xmlSign, ...);
- its Entity Identifier is the subject's single ``x500UniqueIdentifier``: a BIT STRING of exactly
  64 bits (no unused bits), the EUI-64 in network order;
- a Device Certificate names its Device ID in a subjectAltName ``otherName`` of type
  ``hardwareModuleName`` (RFC 4108): ``hwSerialNum``, 8 octets, is the EUI-64;
- either carries keyUsage with exactly one of digitalSignature and keyAgreement, and no other
  bit ("never both");
- either holds an ECDSA P-256 public key.

The Certificate ID is (serial, issuer), the issuer in the canonical RFC 4514 form of
``adapters.crypto.dn`` (re-exported here as ``canonical_dn``): every look-up by Certificate ID
uses that form, so DUIS ``X509IssuerName`` text must go through ``canonical_dn`` first.

Every failure is ``domain.smki.InvalidCertificate`` with a stable ``code``; nothing else
escapes for bad input, however malformed.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, Final, TypeVar

from asn1crypto import core, pem, x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

from adapters.crypto.dn import canonical_dn, render_name
from domain.identifiers import EUI64, CertificateId
from domain.smki import (
    Certificate,
    DeviceCertificate,
    InvalidCertificate,
    KeyUsage,
    OrganisationCertificate,
    RemotePartyRole,
)

__all__ = [
    "DEVICE_HW_TYPE",
    "ECDSA_WITH_SHA256",
    "HARDWARE_MODULE_NAME",
    "HardwareModuleName",
    "canonical_dn",
    "certificate_from_pem_or_der",
    "parse_certificate",
    "parse_device_certificate",
    "parse_organisation_certificate",
    "pem_blocks",
]

#: The signature algorithm of every SMKI certificate (DOMAIN.md 6), as ``signature_algorithm``.
ECDSA_WITH_SHA256: Final = "ecdsa-with-SHA256"
_ALGORITHM_NAMES: Final = {"1.2.840.10045.4.3.2": ECDSA_WITH_SHA256}

#: RFC 5280 4.2.1.3 names of the keyUsage bits, as ``Certificate.key_usages`` holds them.
_KEY_USAGE_NAMES: Final = {
    "digital_signature": "digitalSignature",
    "non_repudiation": "nonRepudiation",
    "key_encipherment": "keyEncipherment",
    "data_encipherment": "dataEncipherment",
    "key_agreement": "keyAgreement",
    "key_cert_sign": "keyCertSign",
    "crl_sign": "cRLSign",
    "encipher_only": "encipherOnly",
    "decipher_only": "decipherOnly",
}

_ROLE_DIGITS: Final = re.compile(r"[0-9A-Fa-f]{2}")
_OU: Final = "2.5.4.11"
_UNIQUE_IDENTIFIER: Final = "2.5.4.45"
#: id-on-hardwareModuleName (RFC 4108), the otherName of a Device Certificate's Device ID.
HARDWARE_MODULE_NAME: Final = "1.3.6.1.5.5.7.8.4"
#: The hwType of the DCC test Device Certificates.
DEVICE_HW_TYPE: Final = "1.2.826.0.1.8641679.1.2.2.1"
_EUI64_OCTETS: Final = 8
_PEM_BEGIN: Final = b"-----BEGIN"

T = TypeVar("T")


class HardwareModuleName(core.Sequence):  # type: ignore[misc]  # asn1crypto has no types
    """RFC 4108 HardwareModuleName ::= SEQUENCE { hwType OID, hwSerialNum OCTET STRING }."""

    _fields = [("hw_type", core.ObjectIdentifier), ("hw_serial_num", core.OctetString)]  # noqa: RUF012


def pem_blocks(data: bytes | str) -> list[tuple[str, bytes]]:
    """The (type, DER) of every PEM block in ``data``, in order; ``[]`` if there is none.

    Raises ``InvalidCertificate`` if a block is malformed.
    """
    raw = _bytes(data)
    if _PEM_BEGIN not in raw:
        return []
    try:
        return [(kind, der) for kind, _headers, der in pem.unarmor(raw, multiple=True)]
    except (ValueError, TypeError) as exc:
        raise InvalidCertificate(f"malformed PEM: {exc}") from None


def certificate_from_pem_or_der(data: bytes | str) -> bytes:
    """The DER of the one certificate in ``data`` (a PEM ``CERTIFICATE`` block, or DER)."""
    raw = _bytes(data)
    if not raw.lstrip().startswith(_PEM_BEGIN):
        return raw
    blocks = pem_blocks(raw)
    certificates = [der for kind, der in blocks if kind in {"CERTIFICATE", "X509 CERTIFICATE"}]
    if len(blocks) != 1 or len(certificates) != 1:
        kinds = ", ".join(kind for kind, _der in blocks) or "none"
        raise InvalidCertificate(
            f"expected exactly one PEM CERTIFICATE block, found: {kinds}"
            " (a bare public key or a private key is not a certificate)"
        )
    return certificates[0]


#: Certificates read recently, by their DER: a certificate is an immutable value, and one SRV
#: 6.23 request has its certificates read by each party (tens of reads of a few certificates).
#: A refusal is kept too, and raised afresh each time.
PARSED_CERTIFICATES: Final = 4096


def parse_certificate(data: bytes | str) -> Certificate:
    """Read one X.509 certificate (PEM text or bytes, or DER) into a ``Certificate``."""
    return _parsed(certificate_from_pem_or_der(data))


def parse_organisation_certificate(data: bytes | str | Certificate) -> OrganisationCertificate:
    """Read an SMKI Organisation Certificate: role, Entity Identifier, key usage (DOMAIN.md 6)."""
    der = data.der if isinstance(data, Certificate) else certificate_from_pem_or_der(data)
    return _organisation_parsed(der)


def _parsed(der: bytes) -> Certificate:
    return _kept(_read_certificate(der))


def _organisation_parsed(der: bytes) -> OrganisationCertificate:
    return _kept(_read_organisation(der))


def _kept(found: T | InvalidCertificate) -> T:
    """A kept reading: the value, or a fresh copy of the refusal (a certificate that is not an
    Organisation Certificate, such as a role code the enumeration does not know, is asked about
    as often as one that is)."""
    if isinstance(found, InvalidCertificate):
        raise copy.copy(found) from None
    return found


@functools.lru_cache(maxsize=PARSED_CERTIFICATES)
def _read_certificate(der: bytes) -> Certificate | InvalidCertificate:
    try:
        return _guarded(lambda: _certificate(_load(der)))
    except InvalidCertificate as e:
        return e


@functools.lru_cache(maxsize=PARSED_CERTIFICATES)
def _read_organisation(der: bytes) -> OrganisationCertificate | InvalidCertificate:
    found = _read_certificate(der)
    if isinstance(found, InvalidCertificate):
        return found
    try:
        return _guarded(lambda: _organisation(found, _load(der)))
    except InvalidCertificate as e:
        return e


def parse_device_certificate(data: bytes | str | Certificate) -> DeviceCertificate:
    """Read an SMKI Device Certificate: Device ID (hardwareModuleName) and key usage."""
    certificate = data if isinstance(data, Certificate) else parse_certificate(data)
    return _guarded(lambda: _device(certificate, _load(certificate.der)))


def _bytes(data: bytes | str) -> bytes:
    if isinstance(data, str):
        try:
            return data.encode("ascii")
        except UnicodeEncodeError:
            raise InvalidCertificate("PEM text must be ASCII") from None
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data)
    raise InvalidCertificate(f"a certificate is bytes or PEM text, not {type(data).__name__}")


def _guarded(read: Callable[[], T]) -> T:
    """Run ``read``; whatever asn1crypto raises on malformed input becomes InvalidCertificate."""
    try:
        return read()
    except InvalidCertificate:
        raise
    except Exception as exc:  # noqa: BLE001 — asn1crypto signals malformed input with many types
        raise InvalidCertificate(
            f"malformed X.509 certificate: {type(exc).__name__}: {exc}"
        ) from None


def _load(der: bytes) -> Any:  # noqa: ANN401 — an asn1crypto Certificate (untyped library)
    certificate = x509.Certificate.load(der, strict=True)
    _ = certificate.native  # parse everything now, so malformed input fails here
    return certificate


def _certificate(cert: Any) -> Certificate:  # noqa: ANN401 — an asn1crypto Certificate
    tbs = cert["tbs_certificate"]
    outer = cert["signature_algorithm"]["algorithm"].dotted
    if tbs["signature"]["algorithm"].dotted != outer:
        raise InvalidCertificate(
            "signatureAlgorithm differs from the TBSCertificate's signature (RFC 5280 4.1.1.2)"
        )
    names = [extension["extn_id"].dotted for extension in tbs["extensions"]]
    if len(names) != len(set(names)):
        raise InvalidCertificate("an extension appears twice (RFC 5280 4.2)")
    serial = tbs["serial_number"].native
    if serial < 0:
        raise InvalidCertificate(f"negative serial number {serial} (RFC 5280 4.1.2.2)")
    not_before = tbs["validity"]["not_before"].native
    not_after = tbs["validity"]["not_after"].native
    if not (isinstance(not_before, datetime) and isinstance(not_after, datetime)):
        raise InvalidCertificate("validity times out of range (year 0)")
    constraints = cert.basic_constraints_value
    usage = cert.key_usage_value
    signature = cert["signature_value"].native
    return Certificate(
        certificate_id=CertificateId(serial, render_name(tbs["issuer"])),
        subject=render_name(tbs["subject"]),
        not_before=not_before,
        not_after=not_after,
        public_key=tbs["subject_public_key_info"].dump(),
        subject_key_id=cert.key_identifier,
        issuer_key_id=cert.authority_key_identifier,
        is_ca=bool(constraints is not None and constraints["ca"].native),
        key_usages=frozenset(_KEY_USAGE_NAMES[bit] for bit in usage.native)
        if usage
        else frozenset(),
        tbs=tbs.dump(),
        signature=bytes(signature),
        signature_algorithm=_ALGORITHM_NAMES.get(outer, outer),
        der=cert.dump(),
        path_length=constraints["path_len_constraint"].native if constraints else None,
    )


def _organisation(certificate: Certificate, cert: Any) -> OrganisationCertificate:  # noqa: ANN401
    subject = cert["tbs_certificate"]["subject"]
    _require_p256(certificate)
    return OrganisationCertificate(
        certificate=certificate,
        role=_role(_single(subject, _OU, "organizationalUnitName", "INVALID_REMOTE_PARTY_ROLE")),
        entity_id=_entity_id(
            _single(
                subject, _UNIQUE_IDENTIFIER, "x500UniqueIdentifier", "INVALID_ENTITY_IDENTIFIER"
            )
        ),
        key_usage=_one_key_usage(certificate),
    )


def _device(certificate: Certificate, cert: Any) -> DeviceCertificate:  # noqa: ANN401
    _require_p256(certificate)
    names = cert.subject_alt_name_value
    found = [
        general_name.chosen
        for general_name in (names or [])
        if general_name.name == "other_name"
        and general_name.chosen["type_id"].dotted == HARDWARE_MODULE_NAME
    ]
    if len(found) != 1:
        raise InvalidCertificate(
            f"a Device Certificate names its Device ID in exactly one subjectAltName otherName "
            f"hardwareModuleName ({HARDWARE_MODULE_NAME}); found {len(found)}",
            code="INVALID_DEVICE_ID",
        )
    value = found[0]["value"].dump()  # otherName's value is [0] EXPLICIT
    serial = HardwareModuleName.load(value, strict=True, explicit=0)["hw_serial_num"].native
    if len(serial) != _EUI64_OCTETS:
        raise InvalidCertificate(
            f"hardwareModuleName hwSerialNum must be the 8-octet Device ID, not {serial.hex()}",
            code="INVALID_DEVICE_ID",
        )
    return DeviceCertificate(
        certificate=certificate,
        device_id=EUI64(int.from_bytes(serial, "big")),
        key_usage=_one_key_usage(certificate),
    )


def _single(subject: Any, oid: str, name: str, code: str) -> Any:  # noqa: ANN401
    values = [
        attribute["value"]
        for rdn in subject.chosen
        for attribute in rdn
        if attribute["type"].dotted == oid
    ]
    if len(values) != 1:
        raise InvalidCertificate(
            f"an Organisation Certificate's subject has exactly one {name}; found {len(values)}"
            f" in {render_name(subject)!r}",
            code=code,
        )
    return values[0]


def _role(value: Any) -> RemotePartyRole:  # noqa: ANN401 — an asn1crypto DirectoryString
    text = value.native
    if not isinstance(text, str) or not _ROLE_DIGITS.fullmatch(text):
        raise InvalidCertificate(
            f"organizationalUnitName {text!r} is not a Remote Party Role: expected two hex "
            "digits such as 02 or 87 (DOMAIN.md 6)",
            code="INVALID_REMOTE_PARTY_ROLE",
        )
    try:
        return RemotePartyRole(int(text, 16))
    except ValueError:
        raise InvalidCertificate(
            f"organizationalUnitName {text} is not a known Remote Party Role",
            code="INVALID_REMOTE_PARTY_ROLE",
        ) from None


def _entity_id(value: Any) -> EUI64:  # noqa: ANN401 — an asn1crypto value
    der = value.dump()
    bit_string = core.Asn1Value.load(der, strict=True)
    contents = bytes(bit_string.contents or b"")
    if not isinstance(bit_string, core.BitString) or len(contents) != 1 + _EUI64_OCTETS:
        raise InvalidCertificate(
            f"x500UniqueIdentifier must be a BIT STRING of 64 bits, not #{der.hex()}",
            code="INVALID_ENTITY_IDENTIFIER",
        )
    if contents[0] != 0:
        raise InvalidCertificate(
            f"x500UniqueIdentifier has {contents[0]} unused bits; an EUI-64 has none",
            code="INVALID_ENTITY_IDENTIFIER",
        )
    return EUI64(int.from_bytes(contents[1:], "big"))


def _one_key_usage(certificate: Certificate) -> KeyUsage:
    """Exactly one of digitalSignature and keyAgreement, and no other bit (DOMAIN.md 6)."""
    usages = certificate.key_usages
    if usages not in ({KeyUsage.DIGITAL_SIGNATURE.value}, {KeyUsage.KEY_AGREEMENT.value}):
        shown = ", ".join(sorted(usages)) or "no keyUsage"
        raise InvalidCertificate(
            f"an SMKI end-entity certificate's keyUsage is digitalSignature or keyAgreement, "
            f"exactly one; this one has: {shown}",
            code="INVALID_KEY_USAGE",
        )
    return KeyUsage(next(iter(usages)))


def _require_p256(certificate: Certificate) -> None:
    try:
        key = load_der_public_key(certificate.public_key)
    except (ValueError, TypeError) as exc:
        raise InvalidCertificate(f"public key unreadable: {exc}", code="UNSUPPORTED_KEY") from None
    if not (isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1)):
        raise InvalidCertificate(
            "SMKI keys are ECDSA P-256 (DOMAIN.md 6); this certificate holds another key",
            code="UNSUPPORTED_KEY",
        )
