"""DUIS XML signatures: verify with the signer KeyInfo names, and sign through a ``Signer``.

The profile, as the DCC's own tooling signs (checked against its signed responses):

- one enveloped ``ds:Signature``, the last child of the root element;
- ``SignedInfo`` canonicalised with exclusive XML canonicalisation 1.0 (no comments);
- ``SignatureMethod`` ecdsa-sha256; ``SignatureValue`` the raw 64-byte r‖s, base64;
- one ``Reference`` with ``URI=""`` (the whole document), whose only transform is
  enveloped-signature, so the document without its signature is canonicalised, as XML-DSig
  prescribes for a node-set with no canonicalisation transform, with *inclusive* Canonical XML
  1.0 (not exclusive: the DCC's signed responses only verify that way); ``DigestMethod`` sha256;
- ``KeyInfo`` holds only ``X509Data/X509IssuerSerial``: the signer's Certificate ID.

Verification resolves the signer only from ``X509IssuerSerial`` through the
``CertificateAuthority`` and checks the signature with that certificate's key and no other. The
cryptography is signxml's; the profile, the signer resolution and signing (the key stays behind
the ``Signer`` port, which signxml's signer cannot use) are here. Whether the signer's
certificate is valid at a time is Confirm Validity's question, not this module's.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import re
from typing import Final, Protocol, cast

import attrs
from cryptography import x509
from lxml import etree
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod
from signxml.exceptions import InvalidDigest, InvalidInput, SignXMLException
from signxml.verifier import SignatureConfiguration, XMLVerifier

from adapters.codecs.duis.errors import (
    InvalidXml,
    SignatureInvalid,
    SignatureMissing,
    SignatureProfile,
    SigningKeyMismatch,
    UnknownSigner,
)
from adapters.codecs.duis.safe_xml import hardened_parser, parse_xml
from adapters.crypto.dn import canonical_dn
from adapters.crypto.smki import parse_organisation_certificate
from application.credentials import CertificateAuthority, SignatureEncoding, Signer
from domain.errors import InvalidIdentifier
from domain.identifiers import CertificateId
from domain.smki import Certificate, InvalidCertificate, OrganisationCertificate

DS_NS: Final = "http://www.w3.org/2000/09/xmldsig#"
EXCLUSIVE_C14N: Final = "http://www.w3.org/2001/10/xml-exc-c14n#"
ECDSA_SHA256: Final = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
SHA256: Final = "http://www.w3.org/2001/04/xmlenc#sha256"
ENVELOPED: Final = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"

_DIGITS: Final = re.compile(r"[0-9]{1,49}", re.ASCII)
_SIGNXML_CONFIG: Final = SignatureConfiguration(
    require_x509=True,
    location="./",
    expect_references=1,
    signature_methods=frozenset({SignatureMethod.ECDSA_SHA256}),
    digest_algorithms=frozenset({DigestAlgorithm.SHA256}),
    default_reference_c14n_method=CanonicalizationMethod.CANONICAL_XML_1_0,
)


def _ds(name: str) -> str:
    return f"{{{DS_NS}}}{name}"


@attrs.frozen(kw_only=True)
class KeyInfoName:
    """What ``X509IssuerSerial`` names: the issuer as written, and the serial number."""

    issuer_name: str
    serial: int

    def certificate_id(self) -> CertificateId:
        """The Certificate ID, with the issuer in canonical form; ``UNKNOWN_SIGNER`` if unusable."""
        try:
            return CertificateId(self.serial, canonical_dn(self.issuer_name))
        except InvalidIdentifier as e:
            raise UnknownSigner(
                f"KeyInfo X509IssuerName {self.issuer_name!r} is unusable: {e.message}"
            ) from None


@attrs.frozen(kw_only=True)
class VerifiedSignature:
    """A signature that verified with the key of the certificate its KeyInfo names.

    ``signer`` is that certificate read as an SMKI Organisation Certificate (role, Entity
    Identifier); it is None when the trust store holds the certificate only as a plain
    certificate, and ``not_organisation`` then says why (the DCC's pre-1.4.1 DSP XML signing
    certificate writes its role as ``137``, not two hex digits). Callers that judge the role
    (xmlSign, DSP XML signing, coSPartyXmlSign) must refuse a signer that is None.
    """

    certificate: Certificate
    signer: OrganisationCertificate | None
    key_info: KeyInfoName
    not_organisation: str | None = None

    @property
    def certificate_id(self) -> CertificateId:
        return self.certificate.certificate_id


class _HoldsCertificates(Protocol):
    """Beyond the port: a trust store that finds any held certificate by Certificate ID."""

    def certificate(self, certificate_id: CertificateId) -> Certificate | None: ...


def resolve_signer(
    named: KeyInfoName, authority: CertificateAuthority
) -> tuple[Certificate, OrganisationCertificate | None, str | None]:
    """The certificate KeyInfo names, as held by ``authority``; ``UNKNOWN_SIGNER`` if not held.

    An Organisation Certificate is looked up through the port; failing that, a trust store
    that also holds certificates outside the SMKI Organisation profile by Certificate ID
    (``TrustStore.certificate``) is asked for one. No other certificate is ever tried.
    """
    certificate_id = named.certificate_id()
    organisation = authority.organisation_certificate(certificate_id)
    if organisation is not None:
        return organisation.certificate, organisation, None
    plain = None
    if callable(getattr(authority, "certificate", None)):
        plain = cast("_HoldsCertificates", authority).certificate(certificate_id)
    if plain is None or plain.is_ca:
        raise UnknownSigner(
            f"KeyInfo names certificate serial {named.serial} issued by {named.issuer_name!r} "
            f"({certificate_id}), which the trust store does not hold"
        )
    try:
        parse_organisation_certificate(plain)
        why = "not held as an Organisation Certificate"
    except InvalidCertificate as e:
        why = f"not an SMKI Organisation Certificate: {e.message}"
    return plain, None, why


def _only(parent: etree._Element, name: str) -> etree._Element:
    found = _elements(parent)
    if len(found) != 1 or found[0].tag != _ds(name):
        raise SignatureProfile(
            f"{etree.QName(parent).localname} must hold exactly one {name} (DUIS profile)"
        )
    return found[0]


def _elements(parent: etree._Element) -> list[etree._Element]:
    return [child for child in parent if isinstance(child.tag, str)]


def _algorithm(element: etree._Element, expected: str) -> None:
    if element.get("Algorithm") != expected or _elements(element):
        raise SignatureProfile(
            f"{etree.QName(element).localname} is {element.get('Algorithm')!r}; "
            f"DUIS signatures use {expected}"
        )


def find_signature(root: etree._Element) -> etree._Element:
    """The one ``ds:Signature`` of a DUIS document, a child of its root; raises otherwise."""
    found = list(root.iter(_ds("Signature")))
    if not found:
        raise SignatureMissing("document has no ds:Signature")
    if len(found) > 1:
        raise SignatureProfile(f"document has {len(found)} ds:Signature elements; DUIS has one")
    if found[0].getparent() is not root:
        raise SignatureProfile("ds:Signature must be a child of the root element (enveloped)")
    return found[0]


def check_profile(signature: etree._Element) -> KeyInfoName:
    """Check ``signature`` is shaped as DUIS signs; return what its KeyInfo names."""
    children = _elements(signature)
    if [child.tag for child in children] != [
        _ds("SignedInfo"),
        _ds("SignatureValue"),
        _ds("KeyInfo"),
    ]:
        raise SignatureProfile(
            "ds:Signature must hold SignedInfo, SignatureValue and KeyInfo, in that order"
        )
    signed_info, _value, key_info = children
    parts = _elements(signed_info)
    if len(parts) != 3 or [p.tag for p in parts[:2]] != [  # noqa: PLR2004 — three parts
        _ds("CanonicalizationMethod"),
        _ds("SignatureMethod"),
    ]:
        raise SignatureProfile(
            "SignedInfo must hold CanonicalizationMethod, SignatureMethod and one Reference"
        )
    _algorithm(parts[0], EXCLUSIVE_C14N)
    _algorithm(parts[1], ECDSA_SHA256)
    reference = parts[2]
    if reference.tag != _ds("Reference") or reference.get("URI") != "":
        raise SignatureProfile('the one Reference must have URI="" (the whole document)')
    if [p.tag for p in _elements(reference)] != [
        _ds("Transforms"),
        _ds("DigestMethod"),
        _ds("DigestValue"),
    ]:
        raise SignatureProfile("Reference must hold Transforms, DigestMethod and DigestValue")
    transforms, digest_method, _digest = _elements(reference)
    _algorithm(_only(transforms, "Transform"), ENVELOPED)
    _algorithm(digest_method, SHA256)
    issuer_serial = _only(_only(key_info, "X509Data"), "X509IssuerSerial")
    if [p.tag for p in _elements(issuer_serial)] != [
        _ds("X509IssuerName"),
        _ds("X509SerialNumber"),
    ]:
        raise SignatureProfile("X509IssuerSerial must hold X509IssuerName and X509SerialNumber")
    issuer_name, serial = _elements(issuer_serial)
    serial_text = (serial.text or "").strip()
    if not _DIGITS.fullmatch(serial_text):
        raise SignatureProfile(f"X509SerialNumber {serial_text!r} is not a decimal number")
    return KeyInfoName(issuer_name=(issuer_name.text or "").strip(), serial=int(serial_text))


def _x509(certificate: Certificate) -> x509.Certificate:
    return x509.load_der_x509_certificate(certificate.der)


def _verify_with(root: etree._Element, certificate: Certificate) -> None:
    """Check the signature of ``root`` with ``certificate``'s key (its dates are not judged)."""
    try:
        loaded = _x509(certificate)
    except ValueError as e:
        raise SignatureInvalid(
            f"certificate {certificate.certificate_id} cannot be used to verify: {e}"
        ) from None
    # signxml would also judge the certificate's dates; Confirm Validity does that at the
    # caller's time, so signxml is given a time inside the validity period.
    config = dataclasses.replace(_SIGNXML_CONFIG, verification_time=loaded.not_valid_before_utc)
    try:
        XMLVerifier().verify(root, x509_cert=loaded, parser=hardened_parser(), expect_config=config)
    except InvalidDigest:
        raise SignatureInvalid(
            "the signed content was altered: the digest of the document does not match "
            "the signed DigestValue"
        ) from None
    except InvalidInput as e:
        raise SignatureProfile(f"signature not as DUIS signs: {e}") from None
    except etree.C14NError as e:
        raise SignatureInvalid(
            f"the document cannot be canonicalised (a relative namespace URI?): {e}"
        ) from None
    except (SignXMLException, etree.LxmlError, ValueError) as e:
        detail = str(e).strip().removesuffix(":").strip()
        generic = detail in {"", "Signature verification failed"}
        raise SignatureInvalid(
            f"the SignatureValue does not verify with the key of certificate "
            f"{certificate.certificate_id}" + ("" if generic else f" ({detail})")
        ) from None


def verify_signature(
    document: etree._Element | bytes, authority: CertificateAuthority
) -> VerifiedSignature:
    """Verify a DUIS document's signature with the certificate its KeyInfo names.

    Raises ``SIGNATURE_MISSING``, ``SIGNATURE_PROFILE``, ``UNKNOWN_SIGNER`` (the trust store
    does not hold the certificate KeyInfo names: no other key is tried; see
    :func:`resolve_signer`) or ``SIGNATURE_INVALID``. Does not judge the signer's validity at
    any time (use Confirm Validity) nor its role (the caller's rule).
    """
    root = parse_xml(document) if isinstance(document, bytes) else document
    named = check_profile(find_signature(root))
    certificate, signer, why = resolve_signer(named, authority)
    _verify_with(root, certificate)
    return VerifiedSignature(
        certificate=certificate, signer=signer, key_info=named, not_organisation=why
    )


def _remove_keeping_tail(element: etree._Element) -> None:
    parent = element.getparent()
    if parent is None:
        return
    if element.tail:
        previous = element.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + element.tail
        else:
            parent.text = (parent.text or "") + element.tail
    parent.remove(element)


def _copy(root: etree._Element) -> etree._Element:
    """A copy that keeps every in-scope namespace declaration (deepcopy may not)."""
    return etree.fromstring(etree.tostring(root), hardened_parser())


def _digest(root: etree._Element) -> bytes:
    """SHA-256 of the document without its signature, inclusive Canonical XML 1.0."""
    copied = _copy(root)
    _remove_keeping_tail(find_signature(copied))
    return hashlib.sha256(
        etree.tostring(copied, method="c14n", exclusive=False, with_comments=False)
    ).digest()


def _signature_skeleton(name: CertificateId) -> etree._Element:
    signature = etree.Element(_ds("Signature"), nsmap={"ds": DS_NS})
    signed_info = etree.SubElement(signature, _ds("SignedInfo"))
    etree.SubElement(signed_info, _ds("CanonicalizationMethod"), Algorithm=EXCLUSIVE_C14N)
    etree.SubElement(signed_info, _ds("SignatureMethod"), Algorithm=ECDSA_SHA256)
    reference = etree.SubElement(signed_info, _ds("Reference"), URI="")
    transforms = etree.SubElement(reference, _ds("Transforms"))
    etree.SubElement(transforms, _ds("Transform"), Algorithm=ENVELOPED)
    etree.SubElement(reference, _ds("DigestMethod"), Algorithm=SHA256)
    etree.SubElement(reference, _ds("DigestValue"))
    etree.SubElement(signature, _ds("SignatureValue"))
    issuer_serial = etree.SubElement(
        etree.SubElement(etree.SubElement(signature, _ds("KeyInfo")), _ds("X509Data")),
        _ds("X509IssuerSerial"),
    )
    etree.SubElement(issuer_serial, _ds("X509IssuerName")).text = name.issuer
    etree.SubElement(issuer_serial, _ds("X509SerialNumber")).text = str(name.serial)
    return signature


def sign_document(
    document: etree._Element | bytes,
    *,
    signer: Signer,
    key: str,
    certificate: Certificate | OrganisationCertificate,
) -> bytes:
    """``document`` signed as DUIS signs, by ``signer``'s key ``key`` for ``certificate``.

    Any existing ``ds:Signature`` (the placeholder of a DUIS template, say) is replaced in
    place; otherwise the signature is appended as the root's last child. KeyInfo names
    ``certificate`` by its Certificate ID (issuer in canonical RFC 4514 form). Raises
    ``SIGNING_KEY_MISMATCH`` unless the key is the certificate's, and ``UnknownKey`` (from the
    port) for an unknown handle. The result is UTF-8 XML with a declaration; it is verified
    with ``certificate`` before it is returned. The signature elements use the prefix ``ds``
    unless the document already binds the XML-DSig namespace to another prefix, which lxml
    reuses (prefixes do not change what is signed).
    """
    cert = (
        certificate.certificate if isinstance(certificate, OrganisationCertificate) else certificate
    )
    if signer.public_key(key) != cert.public_key:
        raise SigningKeyMismatch(
            f"key {key!r} is not the key of certificate {cert.certificate_id}; "
            "KeyInfo would name a certificate that cannot verify the signature"
        )
    root = _copy(parse_xml(document) if isinstance(document, bytes) else document)
    signature = _signature_skeleton(cert.certificate_id)
    existing = [child for child in root if child.tag == _ds("Signature")]
    if existing:
        existing[0].addprevious(signature)
        signature.tail = existing[0].tail
        for old in existing:
            root.remove(old)
    else:
        root.append(signature)
    find_signature(root)  # exactly one, a child of the root
    signed_info, signature_value = signature[0], signature[1]  # as _signature_skeleton made
    digest_value = signed_info.find(f"{_ds('Reference')}/{_ds('DigestValue')}")
    assert digest_value is not None  # noqa: S101 — built by _signature_skeleton
    try:
        digest_value.text = base64.b64encode(_digest(root)).decode("ascii")
        canonical = etree.tostring(signed_info, method="c14n", exclusive=True, with_comments=False)
    except etree.C14NError as e:
        raise InvalidXml(f"the document cannot be canonicalised for signing: {e}") from None
    value = signer.sign(key, canonical, encoding=SignatureEncoding.RAW)
    signature_value.text = base64.b64encode(value).decode("ascii")
    _verify_with(root, cert)
    return etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")
