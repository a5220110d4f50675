"""Shared helpers of the DUIS tests: where the DCC material is, and small builders.

The DCC public test material is read in place, never copied into the repository: from
``$ETMAD_DCC_VECTORS`` or ``../shared/vectors/dcc`` next to the project. Tests that need it skip
with the reason when it is absent.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from adapters.codecs.duis import DuisSchema, load_schema
from adapters.crypto.pki_builder import IssuedCertificate, PkiBuilder
from adapters.crypto.software_signer import SoftwareSigner
from adapters.crypto.trust_store import TrustStore
from domain.identifiers import EUI64
from domain.smki import RemotePartyRole
from tests.smki_material import require_material, vectors_folder

ROOT = Path(__file__).resolve().parents[1]
#: A time inside the validity of the DCC material's certificates (its README).
AT = datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
#: The originator of the DCC's SRV 6.23 templates (GITTESTSUPPLIER).
ORIGINATOR = EUI64(0x90B3D51F30010000)
IMMEDIATE = "CS02bSupplierByTransCoS_6.23_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML"
FUTURE_DATED = "CS02bSupplierByTransCoS_6.23_FUTURE_DATED_SUCCESS_REQUEST_DUIS.XML"
TEMPLATES = (IMMEDIATE, FUTURE_DATED)
#: The DCC signing tool's xmlSign key and certificate of the templates' originator.
XML_SIGN = "xml-sign-90B3D51F30010000-ds"


def vectors_path() -> Path:
    return vectors_folder()


def require_vectors() -> Path:
    """The DCC material folder, or skip the test saying where it was looked for."""
    return require_material("duis", "smki")


def schema_of(vectors: Path) -> DuisSchema:
    return load_schema(vectors / "duis" / "schema")


def z1_trust_store(vectors: Path) -> TrustStore:
    """The test SMKI of ``smki/z1``: the Z1 OCA as anchor and the parties' certificates."""
    store = TrustStore()
    store.load_folder(vectors / "smki" / "z1")
    return store


def z1_signer(vectors: Path, *handles: str) -> SoftwareSigner:
    signer = SoftwareSigner()
    for handle in handles:
        signer.add_key(handle, (vectors / "smki" / "z1" / f"{handle}.key").read_bytes())
    return signer


class TestPki:
    """A generated SMKI (Root, OCA, xmlSign certificate of ``ORIGINATOR``) and its store."""

    __test__ = False  # not a test class

    def __init__(self, *, not_after: datetime | None = None) -> None:
        self.builder = PkiBuilder()
        self.root = self.builder.root(name="TA")
        self.oca = self.builder.ca(self.root, name="T1")
        self.xml_sign: IssuedCertificate = self.builder.organisation_certificate(
            self.oca,
            role=RemotePartyRole.XML_SIGN,
            entity_id=ORIGINATOR,
            not_after=not_after,
        )
        self.store = TrustStore()
        self.store.add_anchor(self.oca.certificate())
        self.store.add(self.xml_sign.organisation())

    @property
    def signer(self) -> SoftwareSigner:
        return self.builder.signer

    def write_trust_folder(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "oca.pem").write_bytes(self.oca.pem)
        (folder / "xml-sign.pem").write_bytes(self.xml_sign.pem)
        return folder
