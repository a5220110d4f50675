"""What both CoS artefacts share: namespace, version, schemas, and the read and write paths.

Reading an artefact, in order (the first failure is raised):

1. the DUIS hardened parse (``adapters.codecs.duis.safe_xml``): over 1 MiB, a DTD or entity
   declaration, nesting over 32 deep → ``HOSTILE_XML``; not well-formed UTF-8 → ``INVALID_XML``;
2. the root element is the artefact asked for → else ``WRONG_ARTEFACT``;
3. its ``version`` attribute is ``etmad-cos-artefacts/1`` → else ``UNSUPPORTED_VERSION``;
4. it has a ``ds:Signature`` → else ``SIGNATURE_MISSING``;
5. valid against the artefact's XML Schema (shipped with this package) → else
   ``SCHEMA_INVALID``;
6. the signature, DUIS profile, verified with the key of the certificate its KeyInfo names
   (``SIGNATURE_PROFILE``, ``UNKNOWN_SIGNER``, ``SIGNATURE_INVALID``);
7. the bytes are exactly the serialisation etmad writes: the same declaration, no comments or
   processing instructions, no white space inside tags or between elements, KeyInfo's issuer
   in canonical form → else ``NOT_CANONICAL``. One content has one byte form, so the SHA-256 of
   a Countersigned CoS Service Request (SRPD 8.4(d)) cannot be changed without a refusal;
8. the wrapped Service Request is itself a signed DUIS request (``INVALID_ARTEFACT``).
"""

from __future__ import annotations

import base64
import binascii
import functools
import importlib.resources
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Final

import attrs
from lxml import etree

from adapters.codecs.cos_artefacts.errors import (
    InvalidArtefact,
    NotCanonical,
    UnsupportedVersion,
    WrongArtefact,
)
from adapters.codecs.duis.errors import DuisError, SignatureMissing
from adapters.codecs.duis.request import SR_NS, parse_date_time
from adapters.codecs.duis.safe_xml import hardened_parser, parse_xml
from adapters.codecs.duis.schema import CompiledSchema
from adapters.codecs.duis.xmldsig import (
    DS_NS,
    VerifiedSignature,
    find_signature,
    sign_document,
    verify_signature,
)
from application.credentials import CertificateAuthority, Signer
from domain.smki import Certificate, OrganisationCertificate

NAMESPACE: Final = "urn:etmad:ns:cos-artefacts"
VERSION: Final = "etmad-cos-artefacts/1"
PREFIX: Final = "cos"
DECLARATION: Final = b"<?xml version='1.0' encoding='UTF-8'?>\n"


def cos(name: str) -> str:
    """The qualified name of an element of ours."""
    return f"{{{NAMESPACE}}}{name}"


@attrs.frozen(eq=False)
class ArtefactSchema:
    """One artefact's compiled XML Schema (read from the package, compiled on first use)."""

    file_name: str
    _compiled: CompiledSchema = attrs.field(repr=False)

    def errors(self, root: etree._Element) -> list[str]:
        """Why ``root`` is not valid (empty when it is), as ``line N: message``."""
        return self._compiled.errors(root)

    def validate(self, root: etree._Element, *, what: str) -> None:
        heading = f"not a valid {what} ({VERSION}, schema {self.file_name})"
        self._compiled.validate(root, heading=heading)


@functools.cache
def artefact_schema(file_name: str) -> ArtefactSchema:
    """The schema ``file_name`` of this package, compiled once per process."""
    data = importlib.resources.files(__package__).joinpath(file_name).read_bytes()
    schema = etree.XMLSchema(etree.fromstring(data, hardened_parser()))
    return ArtefactSchema(file_name, CompiledSchema(schema))


def format_time(at: datetime, *, what: str) -> str:
    """``at`` in UTC as ``YYYY-MM-DDThh:mm:ss[.ffffff]Z``; a naive time is refused."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise InvalidArtefact(f"the {what} time must be timezone-aware, not {at.isoformat()}")
    utc = at.astimezone(UTC)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    return text + (f".{utc.microsecond:06d}" if utc.microsecond else "") + "Z"


def child(root: etree._Element, name: str) -> etree._Element:
    """The child ``name`` of a schema-valid artefact (the schema requires it)."""
    found = root.find(cos(name))
    if found is None:
        raise InvalidArtefact(f"{etree.QName(root).localname} has no {name}")
    return found


def read_time(element: etree._Element) -> datetime:
    return parse_date_time(element.text or "")


def encode_bytes(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def decode_bytes(element: etree._Element) -> bytes:
    try:
        return base64.b64decode(element.text or "", validate=True)
    except (binascii.Error, ValueError):
        raise InvalidArtefact(f"{etree.QName(element).localname} is not base64") from None


def check_service_request(data: bytes, *, writing: bool) -> None:
    """Refuse ``data`` unless it reads as a signed DUIS ``sr:Request`` (read hardened).

    Its signature is not verified here: that is the CoS or TCoS Party's check (SRPD 8.1(b)(i),
    8.1A(b)(i)) and the DCC's (8.4(e)) through the DUIS codec, on the bytes returned.
    """
    doing = "cannot wrap" if writing else "the wrapped Service Request:"
    if not isinstance(data, bytes):
        raise InvalidArtefact(f"{doing} a Service Request is bytes, not {type(data).__name__}")
    try:
        root = parse_xml(data)
    except DuisError as e:
        raise type(e)(f"{doing} {e.message}") from None
    if root.tag != f"{{{SR_NS}}}Request":
        raise InvalidArtefact(f"{doing} not a DUIS request: the root element is {root.tag}")
    try:
        find_signature(root)
    except DuisError as e:
        raise InvalidArtefact(f"{doing} not a signed DUIS request ({e.message})") from None


def write_artefact(
    root_name: str,
    children: Sequence[tuple[str, str]],
    *,
    schema_file: str,
    what: str,
    signer: Signer,
    key: str,
    certificate: Certificate | OrganisationCertificate,
) -> bytes:
    """The artefact ``root_name`` holding ``children`` (name, text) in order, signed."""
    root = etree.Element(cos(root_name), nsmap={PREFIX: NAMESPACE})
    root.set("version", VERSION)
    for name, text in children:
        etree.SubElement(root, cos(name)).text = text
    signed = sign_document(root, signer=signer, key=key, certificate=certificate)
    artefact_schema(schema_file).validate(parse_xml(signed), what=what)
    return signed


@attrs.frozen
class ReadArtefact:
    root: etree._Element
    signature: VerifiedSignature


def _check_canonical(data: bytes, serialised: bytes, root: etree._Element) -> None:
    if not data.startswith(DECLARATION):
        raise NotCanonical(
            f"an artefact starts with exactly {DECLARATION.decode().strip()} and a line feed"
        )
    outside = [*root.itersiblings(preceding=True), *root.itersiblings()]
    if outside or any(True for _ in root.iter(etree.Comment, etree.PI)):
        raise NotCanonical("comments and processing instructions are not part of the format")
    if any(
        (element.text is not None and len(element) > 0) or element.tail is not None
        for element in root.iter()
    ):
        raise NotCanonical("white space between elements is not part of the format")
    if serialised != data:
        raise NotCanonical(
            "the bytes are not the serialisation etmad writes (white space inside a tag, "
            "a quote character, an escape or trailing bytes differ)"
        )


def read_artefact(
    data: bytes,
    *,
    root_name: str,
    schema_file: str,
    what: str,
    authority: CertificateAuthority,
    form_clause: str,
    signature_clause: str,
) -> ReadArtefact:
    """Steps 1 to 7 of the module docstring; every refusal carries the clause it fails."""
    try:
        if not isinstance(data, bytes):
            raise InvalidArtefact(f"a {what} is bytes, not {type(data).__name__}")
        root = parse_xml(data)
        if root.tag != cos(root_name):
            raise WrongArtefact(f"not a {what}: the root element is {root.tag}")
        version = root.get("version")
        if version != VERSION:
            raise UnsupportedVersion(
                f"{what} version {version!r} is not read here; this codec reads {VERSION!r}"
                if version is not None
                else f"{what} has no version attribute; this codec reads {VERSION!r}"
            )
        if root.find(f"{{{DS_NS}}}Signature") is None:
            raise SignatureMissing(f"{what} is not signed: it has no ds:Signature")
        artefact_schema(schema_file).validate(root, what=what)
    except DuisError as e:
        e.clause = e.clause or form_clause
        raise
    serialised = etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")
    try:
        signature = verify_signature(root, authority)
    except DuisError as e:
        e.clause = e.clause or signature_clause
        raise
    try:
        _check_canonical(data, serialised, root)
        canonical_issuer = signature.key_info.certificate_id().issuer
        if signature.key_info.issuer_name != canonical_issuer:
            raise NotCanonical(
                f"KeyInfo X509IssuerName {signature.key_info.issuer_name!r} is not in the "
                f"canonical form etmad writes ({canonical_issuer!r})"
            )
    except DuisError as e:
        e.clause = e.clause or form_clause
        raise
    return ReadArtefact(root, signature)
