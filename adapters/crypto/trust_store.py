"""``TrustStore``: an in-memory ``CertificateAuthority`` (the SMKI as the checks see it).

It holds trust anchors, intermediate CA certificates, Organisation and Device Certificates by
Certificate ID, and a revocation list; ``adapters.crypto.validity.confirm_validity`` walks it.
It is filled in code (``add_anchor``, ``add``, ``revoke``) or from files (``docs/smki.md``):

**Folders** (``load_folder``): every file below the folder, in name order. PEM files may hold
several blocks; files ending ``.der``, ``.cer`` or ``.crt`` that are not PEM are read as DER.
A certificate with basicConstraints cA=TRUE becomes a *trust anchor*: putting a CA certificate in
a trust folder is the act of trusting it. This is how an SMKI Issuing Authority's OCA
certificate (``Z1-OCA.pem``: cA, pathLen 0, ``OU=07``) anchors its Organisation Certificates
when its Root (``ZA``) is not at hand; a Root may sit beside it and is an anchor too. An
end-entity certificate is read as an Organisation Certificate if it has that profile, else as a
Device Certificate if it has that one, else kept as a plain certificate with a note (still found
by Certificate ID, for signature checks: the DCC's ``dsp-xml-sign-...-pre-1.4.1`` certificate
writes its role in decimal, ``137``, and is held that way). Private keys,
bare public keys, other files and unreadable certificates are skipped with a ``LoadNote``;
loading never raises for a file's content.

**keystore.json** (``load_keystore_json``), the DCC keystore format: ``{EUI-64 as 16 hex digits:
{"digitalSignature" | "keyAgreement": {serial in decimal: {"certificate": PEM, "privateKey":
PEM, "name": text, "role": integer}}}}``. Each certificate must agree with its entry (Entity
Identifier, key usage, serial, role); an entry that does not is skipped with a note. Private keys
go to a ``SoftwareSigner`` if one is given, named by the entry's ``name``.

**Revocation list** (``load_revocation_list``), our format, version 1::

    {"format": "etmad-revocation-list", "version": 1,
     "revoked": [{"serial": "80934474337773775048443398092716228710", "issuer": "CN=Z1,OU=07"}]}

``serial`` is decimal or ``0x`` hex text; ``issuer`` any RFC 4514 DN (normalised by
``canonical_dn``). A malformed list raises ``InvalidRevocationList`` and changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Final

import attrs

from adapters.crypto.dn import canonical_dn
from adapters.crypto.smki import (
    parse_certificate,
    parse_device_certificate,
    parse_organisation_certificate,
    pem_blocks,
)
from adapters.crypto.software_signer import SoftwareSigner
from domain.errors import DomainError, InvalidIdentifier
from domain.identifiers import EUI64, CertificateId
from domain.smki import (
    Certificate,
    DeviceCertificate,
    InvalidCertificate,
    KeyUsage,
    OrganisationCertificate,
    RemotePartyRole,
)

REVOCATION_FORMAT: Final = "etmad-revocation-list"
REVOCATION_VERSION: Final = 1
_CERTIFICATE_BLOCKS: Final = frozenset({"CERTIFICATE", "X509 CERTIFICATE"})
_DER_SUFFIXES: Final = frozenset({".der", ".cer", ".crt"})

AnyCertificate = Certificate | OrganisationCertificate | DeviceCertificate


class InvalidRevocationList(DomainError, ValueError):  # noqa: N818 — reads as the fact
    """A revocation list file that is not our format, version 1."""

    code = "INVALID_REVOCATION_LIST"


@attrs.frozen
class LoadNote:
    """Something a loader skipped or doubted, and why (never fatal)."""

    source: str
    message: str

    def __str__(self) -> str:
        return f"{self.source}: {self.message}"


class TrustStore:
    """In-memory SMKI view (implements ``CertificateAuthority``); see the module docstring."""

    def __init__(
        self,
        *,
        anchors: Iterable[Certificate] = (),
        certificates: Iterable[AnyCertificate] = (),
        revoked: Iterable[CertificateId] = (),
    ) -> None:
        self._anchors: dict[CertificateId, Certificate] = {}
        self._intermediates: dict[CertificateId, Certificate] = {}
        self._all: dict[CertificateId, Certificate] = {}
        self._organisation: dict[CertificateId, OrganisationCertificate] = {}
        self._device: dict[CertificateId, DeviceCertificate] = {}
        self._revoked: set[CertificateId] = set()
        self._notes: list[LoadNote] = []
        for anchor in anchors:
            self.add_anchor(anchor)
        for certificate in certificates:
            self.add(certificate)
        for certificate_id in revoked:
            self.revoke(certificate_id)

    # Filling the store -------------------------------------------------------------------

    def add_anchor(self, certificate: Certificate) -> None:
        """Trust ``certificate``: chains may end at it. Its own issuer is not checked."""
        self._hold(certificate)
        self._anchors[certificate.certificate_id] = certificate

    def add_intermediate(self, certificate: Certificate) -> None:
        """Hold a CA certificate that chains may pass through (it is not trusted by itself)."""
        self._hold(certificate)
        self._intermediates[certificate.certificate_id] = certificate

    def add(self, certificate: AnyCertificate) -> None:
        """Hold an end-entity certificate (Organisation, Device, or plain) by Certificate ID."""
        if isinstance(certificate, OrganisationCertificate):
            self._hold(certificate.certificate)
            self._organisation[certificate.certificate_id] = certificate
        elif isinstance(certificate, DeviceCertificate):
            self._hold(certificate.certificate)
            self._device[certificate.certificate_id] = certificate
        else:
            self._hold(certificate)

    def revoke(self, certificate_id: CertificateId) -> None:
        """Put a Certificate ID on the revocation list (its issuer is normalised)."""
        self._revoked.add(_canonical_id(certificate_id))

    def load_folder(self, folder: Path | str) -> list[LoadNote]:
        """Load every certificate below ``folder`` (rules in the module docstring).

        Returns (and keeps, see ``notes``) what was skipped and why.
        """
        root = Path(folder)
        notes: list[LoadNote] = []
        if not root.is_dir():
            notes.append(LoadNote(str(root), "not a folder; nothing loaded"))
        else:
            for path in sorted(p for p in root.rglob("*") if p.is_file()):
                notes += self._load_file(path)
        self._notes += notes
        return notes

    def load_keystore_json(
        self, path: Path | str, *, signer: SoftwareSigner | None = None
    ) -> list[LoadNote]:
        """Load a DCC ``keystore.json`` (format in the module docstring); keys go to ``signer``."""
        notes: list[LoadNote] = []
        try:
            document = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            notes.append(LoadNote(str(path), f"unreadable keystore.json: {exc}"))
            document = {}
        for source, entry in _keystore_entries(str(path), document, notes):
            note = self._load_keystore_entry(source, entry, signer)
            if note is not None:
                notes.append(note)
        self._notes += notes
        return notes

    def load_revocation_list(self, path: Path | str) -> int:
        """Add the Certificate IDs of a revocation list file; returns how many it lists."""
        try:
            document = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InvalidRevocationList(f"{path}: unreadable: {exc}") from None
        ids = revocation_list_from_json(document, source=str(path))
        for certificate_id in ids:
            self.revoke(certificate_id)
        return len(ids)

    @property
    def notes(self) -> tuple[LoadNote, ...]:
        """Every note of every load so far."""
        return tuple(self._notes)

    # The CertificateAuthority port -------------------------------------------------------

    def organisation_certificate(
        self, certificate_id: CertificateId
    ) -> OrganisationCertificate | None:
        """The Organisation Certificate with this Certificate ID, if held."""
        return self._organisation.get(_canonical_id(certificate_id))

    def find(
        self, entity_id: EUI64, role: RemotePartyRole, key_usage: KeyUsage
    ) -> Sequence[OrganisationCertificate]:
        """A party's certificates in a role with a key usage, newest ``not_before`` first."""
        found = [
            c
            for c in self._organisation.values()
            if c.entity_id == entity_id and c.role == role and c.key_usage == key_usage
        ]
        return sorted(found, key=lambda c: (c.certificate.not_before, c.certificate_id))[::-1]

    def trust_anchors(self) -> Sequence[Certificate]:
        return tuple(self._anchors.values())

    def issuer_of(self, certificate: Certificate) -> Certificate | None:
        """The CA (anchor or intermediate) whose subject is the certificate's issuer name.

        When the certificate names its issuer's key (authorityKeyIdentifier), only a CA with
        that subjectKeyIdentifier qualifies (RFC 5280 4.2.1.1); an anchor is preferred.
        """
        issuer = certificate.certificate_id.issuer
        candidates = [
            c
            for c in (*self._anchors.values(), *self._intermediates.values())
            if c.subject == issuer and c.der != certificate.der
        ]
        if certificate.issuer_key_id is not None:
            candidates = [c for c in candidates if c.subject_key_id == certificate.issuer_key_id]
        return candidates[0] if candidates else None

    def is_revoked(self, certificate_id: CertificateId) -> bool:
        return _canonical_id(certificate_id) in self._revoked

    # Beyond the port ---------------------------------------------------------------------

    def certificate(self, certificate_id: CertificateId) -> Certificate | None:
        """Any certificate held under this Certificate ID (anchors, CAs, end entities)."""
        return self._all.get(_canonical_id(certificate_id))

    def device_certificate(self, certificate_id: CertificateId) -> DeviceCertificate | None:
        return self._device.get(_canonical_id(certificate_id))

    def organisation_certificates(self) -> tuple[OrganisationCertificate, ...]:
        return tuple(self._organisation.values())

    def revoked(self) -> frozenset[CertificateId]:
        return frozenset(self._revoked)

    # Internals ---------------------------------------------------------------------------

    def _hold(self, certificate: Certificate) -> None:
        held = self._all.get(certificate.certificate_id)
        if held is not None and held.der != certificate.der:
            raise InvalidCertificate(
                f"a different certificate is already held as {certificate.certificate_id}: "
                "a Certificate ID names one certificate (serial and issuer)"
            )
        self._all[certificate.certificate_id] = certificate

    def _load_file(self, path: Path) -> list[LoadNote]:
        source = str(path)
        try:
            data = path.read_bytes()
            blocks = pem_blocks(data)
        except (OSError, InvalidCertificate) as exc:
            return [LoadNote(source, f"skipped: {exc}")]
        if not blocks:
            if path.suffix.lower() in _DER_SUFFIXES:
                return self._load_der(source, data)
            return [LoadNote(source, "skipped: not PEM (private keys in DER are for a signer)")]
        notes: list[LoadNote] = []
        for kind, der in blocks:
            if kind in _CERTIFICATE_BLOCKS:
                notes += self._load_der(source, der)
            else:
                notes.append(LoadNote(source, f"skipped: a {kind} block is not a certificate"))
        return notes

    def _load_der(self, source: str, der: bytes) -> list[LoadNote]:
        try:
            certificate = parse_certificate(der)
        except InvalidCertificate as exc:
            return [LoadNote(source, f"skipped: {exc}")]
        return self._classify(source, certificate)

    def _classify(self, source: str, certificate: Certificate) -> list[LoadNote]:
        notes: list[LoadNote] = []
        held: AnyCertificate = certificate
        if not certificate.is_ca:
            try:
                held = parse_organisation_certificate(certificate)
            except InvalidCertificate as not_organisation:
                try:
                    held = parse_device_certificate(certificate)
                except InvalidCertificate as not_device:
                    notes.append(
                        LoadNote(
                            source,
                            "held as a plain certificate: not an Organisation Certificate "
                            f"({not_organisation.code}: {not_organisation}); not a Device "
                            f"Certificate ({not_device.code})",
                        )
                    )
        try:
            if certificate.is_ca:
                self.add_anchor(certificate)
            else:
                self.add(held)
        except InvalidCertificate as exc:
            return [LoadNote(source, f"skipped: {exc}")]
        return notes

    def _load_keystore_entry(
        self, source: str, entry: _KeystoreEntry, signer: SoftwareSigner | None
    ) -> LoadNote | None:
        try:
            certificate = parse_organisation_certificate(entry.certificate_pem)
        except InvalidCertificate as exc:
            return LoadNote(source, f"skipped: {exc}")
        disagreement = entry.disagreement(certificate)
        if disagreement:
            return LoadNote(source, f"skipped: the certificate disagrees: {disagreement}")
        try:
            self.add(certificate)
        except InvalidCertificate as exc:
            return LoadNote(source, f"skipped: {exc}")
        if signer is not None and entry.private_key_pem and entry.name not in signer:
            try:
                signer.add_key(entry.name, entry.private_key_pem)
            except DomainError as exc:
                return LoadNote(source, f"certificate loaded, key skipped: {exc}")
        return None


def _canonical_id(certificate_id: CertificateId) -> CertificateId:
    issuer = canonical_dn(certificate_id.issuer)
    if issuer == certificate_id.issuer:
        return certificate_id
    return CertificateId(certificate_id.serial, issuer)


@attrs.frozen
class _KeystoreEntry:
    entity_id: str
    usage: str
    serial: str
    name: str
    role: object
    certificate_pem: str
    private_key_pem: str | None

    def disagreement(self, certificate: OrganisationCertificate) -> str:
        """What the entry says that the certificate does not ('' if they agree)."""
        found = []
        if self.entity_id.upper() != f"{certificate.entity_id.value:016X}":
            found.append(f"Entity Identifier {self.entity_id} vs {certificate.entity_id}")
        if self.usage != certificate.key_usage.value:
            found.append(f"key usage {self.usage} vs {certificate.key_usage.value}")
        if self.serial != str(certificate.certificate_id.serial):
            found.append(f"serial {self.serial} vs {certificate.certificate_id.serial}")
        if self.role != certificate.role.value:
            found.append(f"role {self.role} vs {certificate.role.value}")
        return "; ".join(found)


def _keystore_entries(
    path: str, document: object, notes: list[LoadNote]
) -> list[tuple[str, _KeystoreEntry]]:
    entries: list[tuple[str, _KeystoreEntry]] = []
    if not isinstance(document, dict):
        notes.append(LoadNote(path, "keystore.json is not an object of Entity Identifiers"))
        return entries
    for entity_id, usages in document.items():
        for usage, by_serial in _items(usages):
            for serial, entry in _items(by_serial):
                source = f"{path}[{entity_id}][{usage}][{serial}]"
                if not (isinstance(entry, dict) and isinstance(entry.get("certificate"), str)):
                    notes.append(LoadNote(source, "skipped: no certificate"))
                    continue
                key = entry.get("privateKey")
                entries.append(
                    (
                        source,
                        _KeystoreEntry(
                            entity_id=str(entity_id),
                            usage=str(usage),
                            serial=str(serial),
                            name=str(entry.get("name") or f"{entity_id}-{usage}-{serial}"),
                            role=entry.get("role"),
                            certificate_pem=entry["certificate"],
                            private_key_pem=key if isinstance(key, str) else None,
                        ),
                    )
                )
    return entries


def _items(value: object) -> list[tuple[str, object]]:
    """A JSON object's members; nothing for any other JSON value."""
    return [(str(k), v) for k, v in value.items()] if isinstance(value, dict) else []


def revocation_list_from_json(
    document: object, *, source: str = "revocation list"
) -> list[CertificateId]:
    """Read our revocation list format, version 1 (module docstring); strict."""
    if not (
        isinstance(document, dict)
        and document.get("format") == REVOCATION_FORMAT
        and type(document.get("version")) is int
        and document.get("version") == REVOCATION_VERSION
        and isinstance(document.get("revoked"), list)
        and set(document) == {"format", "version", "revoked"}
    ):
        raise InvalidRevocationList(
            f"{source}: expected {{'format': {REVOCATION_FORMAT!r}, 'version': "
            f"{REVOCATION_VERSION}, 'revoked': [...]}}"
        )
    ids = []
    for index, item in enumerate(document["revoked"]):
        try:
            found = CertificateId.from_json(item)
            ids.append(CertificateId(found.serial, canonical_dn(found.issuer)))
        except InvalidIdentifier as exc:
            raise InvalidRevocationList(f"{source}: revoked[{index}]: {exc}") from None
    return ids


def revocation_list_to_json(ids: Iterable[CertificateId]) -> dict[str, Any]:
    """Write our revocation list format, version 1 (sorted, issuers canonical)."""
    return {
        "format": REVOCATION_FORMAT,
        "version": REVOCATION_VERSION,
        "revoked": [_canonical_id(i).to_json() for i in sorted(set(ids))],
    }
