"""An SRV 6.23 world for end-to-end tests and the benchmark: the DCC's DUIS 6.23 templates signed
with the test supplier's xmlSign key (``smki/z1``), the DCC countersigning with its DSP XML
signing key (``smki/z1``), the TCoS Party with the Z1 transitionalCoS key (``smki/z1``), and an
ECoS Party and a CoS Party XML signing certificate (role code ``8A``, configuration) generated
under a test OCA; a Smart Metering Inventory holding the templates' target Device, either a TCoS
Device or a migrated one; Registration Data and Party Details naming the templates' supplier; a
simulated Device answering the Command. The DCC material is read in place.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from adapters.codecs.duis import sign_document
from adapters.crypto.pki_builder import IssuedCertificate, PkiBuilder
from adapters.crypto.smki import parse_certificate, parse_organisation_certificate
from adapters.crypto.software_signer import SoftwareSigner
from adapters.crypto.trust_store import TrustStore
from adapters.simulator import DeviceBehaviour, FleetSimulation, SimulatedDeviceTransport
from adapters.srv623_setup import SigningKey, Srv623Keys, build_srv623_setup
from application.anomaly_detection import load_adt_file
from application.service import EtmadApplication, UnitOfWork
from application.srv623_chain import Srv623Setup
from domain.anomaly_detection import SRV_6_23, AdtEntry
from domain.cos_parties import COS_PARTY_REGISTER_ID, CosPartyRegister
from domain.identifiers import (
    EUI64,
    CertificateId,
    CosParty,
    DeviceModelKey,
    DeviceType,
    SmetsGeneration,
    parse_mpxn,
)
from domain.registration import SupplierChange
from domain.smki import OrganisationCertificate, RemotePartyRole
from tests.duis_support import AT, ORIGINATOR, XML_SIGN, schema_of, z1_signer, z1_trust_store

TARGET = EUI64.parse("00-DB-12-34-56-78-90-A0")  # the templates' target Device
IMPORT_MPXN = "1312345678333"  # the templates' ImportMPxN (a DCC test MPAN)
MPID = "GTSP"  # the MPID Party Details give to the templates' originator
MODEL = DeviceModelKey("ACME", "E100", "2.0", "0100")
ECOS_PARTY = EUI64(0x90B3D51F30000007)
COS_PARTY = EUI64(0x90B3D51F30000005)
COS_PARTY_ROLE = "8A"
TCOS = "Z1-transitionalCoS-ds"
DCC = "dsp-xml-sign-90B3D51F30000002-ds"
DCC_ID = EUI64(0x90B3D51F30000002)
CERTIFICATES_USER = EUI64(0x90B3D51F30030000)  # in the templates' replacement certificates
HEALTHY = DeviceBehaviour()


class Srv623World:
    """The parties' keys and certificates, the trust store, and the simulated Device."""

    def __init__(self, vectors: Path) -> None:
        self.vectors = vectors
        self.schema = schema_of(vectors)
        z1 = vectors / "smki" / "z1"
        self.builder = PkiBuilder(seed=623)
        oca = self.builder.ca(self.builder.root(name="TA"), name="T9")
        # The DCC signing tool's xmlSign and DSP XML signing certificates name CN=Z1 as issuer
        # but the Z1 OCA did not issue them, so they fail Confirm Validity (decision 36). Their
        # keys are certified here under a test OCA: requests are signed with the test
        # supplier's xmlSign key, and pass.
        self.builder.adopt_key(XML_SIGN, (z1 / f"{XML_SIGN}.key").read_bytes())
        self.builder.adopt_key(DCC, (z1 / f"{DCC}.key").read_bytes())
        self.xml_sign = self.builder.organisation_certificate(
            oca, role=RemotePartyRole.XML_SIGN, entity_id=ORIGINATOR, key=XML_SIGN
        )
        self.supplier_signer = z1_signer(vectors, XML_SIGN)
        self.supplier_certificate = self.xml_sign.organisation()
        self.dcc = self.builder.organisation_certificate(
            oca, role=RemotePartyRole.DSP_XML_SIGN, entity_id=DCC_ID, key=DCC
        )
        self.ecos: IssuedCertificate = self.builder.organisation_certificate(
            oca, role=RemotePartyRole.TRANSITIONAL_COS, entity_id=ECOS_PARTY, key="ecos"
        )
        self.cos_xml_sign: IssuedCertificate = self.builder.organisation_certificate(
            oca, role=COS_PARTY_ROLE, entity_id=COS_PARTY, key="cos-xml-sign"
        )
        self.tcos_certificate = parse_organisation_certificate((z1 / f"{TCOS}.pem").read_bytes())
        self.dcc_certificate = self.dcc.organisation()
        self.trust: TrustStore = z1_trust_store(vectors)
        self.trust.add_anchor(oca.certificate())
        self.trust.add(self.ecos.organisation())
        self.trust.add(self.supplier_certificate)
        self.trust.add(self.dcc_certificate)
        self.trust.add(self.cos_xml_sign.certificate())

    @property
    def ecos_certificate(self) -> OrganisationCertificate:
        return self.ecos.organisation()

    def template(self, name: str) -> bytes:
        return (self.vectors / "duis" / "requests" / name).read_bytes()

    def signed(self, name: str, change=None) -> bytes:
        """The template ``name`` (changed by ``change``) signed with the supplier's xmlSign
        key, as the DCC's signing tool signs."""
        data = self.template(name)
        if change is not None:
            data = change(data)
        return sign_document(
            data,
            signer=self.supplier_signer,
            key=XML_SIGN,
            certificate=self.supplier_certificate,
        )

    def fleet(self, behaviour: DeviceBehaviour = HEALTHY) -> FleetSimulation:
        return FleetSimulation(
            seed=623,
            tcos_certificate=(self.vectors / "smki" / "z1" / f"{TCOS}.pem").read_bytes(),
            ecos_certificate=self.ecos.der,
            default_behaviour=behaviour,
        )

    def setup(
        self,
        app: EtmadApplication,
        *,
        fleet: FleetSimulation | None,
        cos_party_store: EtmadApplication | None = None,
        tcos_party_store: EtmadApplication | None = None,
    ) -> Srv623Setup:
        """The DCC, CoS Party and TCoS Party, each signing with its own keys only."""
        dcc_signer = z1_signer(self.vectors, DCC)
        tcos_signer = z1_signer(self.vectors, TCOS)
        cos_signer = SoftwareSigner()
        # The CoS Party's two keys, copied out of the generating builder into its own signer.
        for handle in ("ecos", "cos-xml-sign"):
            cos_signer.add_key(handle, self.builder.private_key_der(handle))
        keys = Srv623Keys(
            schema=self.schema,
            trust=self.trust,
            mpan_check_digit=False,
            cos_party_role_code=int(COS_PARTY_ROLE, 16),
            dcc=SigningKey(signer=dcc_signer, key=DCC, certificate=self.dcc_certificate),
            cos_party_xml_sign=SigningKey(
                signer=cos_signer, key="cos-xml-sign", certificate=self.cos_xml_sign.certificate()
            ),
            ecos=SigningKey(signer=cos_signer, key="ecos", certificate=self.ecos_certificate),
            tcos=SigningKey(signer=tcos_signer, key=TCOS, certificate=self.tcos_certificate),
        )
        transport = None if fleet is None else SimulatedDeviceTransport(fleet)
        return build_srv623_setup(
            app,
            keys,
            transport=transport,
            cos_party_store=cos_party_store,
            tcos_party_store=tcos_party_store,
        )

    # --- the inventory ----------------------------------------------------------------------

    def inventory(
        self,
        app: EtmadApplication,
        *,
        migrated: bool,
        smets: SmetsGeneration = SmetsGeneration.SMETS2_PLUS,
        fleet: FleetSimulation | None = None,
        adt: int | None = 10_000,
        since: datetime | None = None,
    ) -> None:
        """The target Device: a TCoS Device, or (``migrated``) one whose credentials were
        replaced with the ECoS Party's; the CoS Party register knowing both certificates;
        Registration Data and Party Details naming the templates' supplier; the supplier's ADT
        file allowing ``adt`` SRV 6.23s a day (None: it never submitted one)."""
        since = since or AT - timedelta(days=60)
        app.register_device_model(
            model=MODEL, device_type=DeviceType.ESME, smets=smets, firmware_rank=1, at=since
        )
        tcos_id = self.tcos_certificate.certificate_id
        ecos_id = self.ecos_certificate.certificate_id
        app.register_device(
            device_id=TARGET,
            device_type=DeviceType.ESME,
            model=MODEL,
            mpxn=parse_mpxn(IMPORT_MPXN, mpan_check_digit=False),
            cos_party=CosParty.TCOS,
            cos_certificate=tcos_id,
            at=since,
        )
        uow = UnitOfWork(app)
        register = CosPartyRegister()
        for certificate, party in ((tcos_id, CosParty.TCOS), (ecos_id, CosParty.ECOS)):
            event = register.record_certificate(
                certificate=certificate, party=party, at=since, recorded_by="test"
            )
            folded = uow.record(COS_PARTY_REGISTER_ID, CosPartyRegister.create, event)
            assert folded is not None
            register = folded
        uow.commit()
        if migrated:
            app.record_credentials_replaced(
                device_id=TARGET,
                at=since + timedelta(days=1),
                party=CosParty.ECOS,
                certificate=ecos_id,
            )
        app.record_supplier_change(
            SupplierChange(since, MPID, parse_mpxn(IMPORT_MPXN, mpan_check_digit=False))
        )
        assert app.party_details is not None
        app.party_details.record_mpid(ORIGINATOR, MPID)
        # the User ID the templates' replacement certificates carry: the same Party's
        app.party_details.record_mpid(CERTIFICATES_USER, MPID)
        if adt is not None:
            entry = AdtEntry(srv=SRV_6_23, time_period_minutes=1440, adt=adt, warning=0)
            load_adt_file(
                app, user_id=str(ORIGINATOR), sequence_number=1, entries=(entry,), at=since
            )
        if fleet is not None:
            fleet.add_device(TARGET, MODEL, credential=self.ecos.der if migrated else None)


def certificate_id(pem: bytes) -> CertificateId:
    return parse_certificate(pem).certificate_id
