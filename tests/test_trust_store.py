"""The trust store: what it holds, how it finds issuers, and how it loads folders, the DCC
keystore.json and our revocation list without ever failing on a file's content."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from adapters.crypto.pki_builder import IssuedCertificate, PkiBuilder
from adapters.crypto.software_signer import SoftwareSigner
from adapters.crypto.trust_store import (
    InvalidRevocationList,
    TrustStore,
    revocation_list_from_json,
    revocation_list_to_json,
)
from domain.identifiers import EUI64, CertificateId
from domain.smki import (
    Certificate,
    DeviceCertificate,
    InvalidCertificate,
    KeyUsage,
    OrganisationCertificate,
    RemotePartyRole,
)
from tests.smki_material import Z1_ISSUER, smki

PARTY = EUI64.parse("90-B3-D5-1F-30-01-00-00")


@pytest.fixture
def pki() -> PkiBuilder:
    return PkiBuilder()


@pytest.fixture
def oca(pki: PkiBuilder) -> IssuedCertificate:
    return pki.ca(pki.root())


# --- Holding and finding ------------------------------------------------------------------


def test_find_returns_a_partys_certificates_for_a_role_and_usage_newest_first(pki, oca):
    start = datetime(2020, 1, 1, tzinfo=UTC)
    older, newer, other_usage, other_role = (
        pki.organisation_certificate(oca, entity_id=PARTY, not_before=start).organisation(),
        pki.organisation_certificate(
            oca, entity_id=PARTY, not_before=start + timedelta(days=1)
        ).organisation(),
        pki.organisation_certificate(
            oca, entity_id=PARTY, key_usage=KeyUsage.KEY_AGREEMENT
        ).organisation(),
        pki.organisation_certificate(
            oca, entity_id=PARTY, role=RemotePartyRole.XML_SIGN
        ).organisation(),
    )
    store = TrustStore(certificates=[older, newer, other_usage, other_role])
    found = store.find(PARTY, RemotePartyRole.SUPPLIER, KeyUsage.DIGITAL_SIGNATURE)
    assert list(found) == [newer, older]
    assert store.find(PARTY, RemotePartyRole.XML_SIGN, KeyUsage.DIGITAL_SIGNATURE) == [other_role]
    assert store.find(EUI64(1), RemotePartyRole.SUPPLIER, KeyUsage.DIGITAL_SIGNATURE) == []


def test_look_ups_by_certificate_id_accept_the_issuer_as_other_tools_write_it(pki, oca):
    leaf = pki.organisation_certificate(oca).organisation()
    store = TrustStore(certificates=[leaf])
    written = CertificateId(leaf.certificate_id.serial, "CN=Z1, OU=07")
    assert store.organisation_certificate(written) == leaf
    assert store.certificate(written) == leaf.certificate
    assert store.organisation_certificate(CertificateId(1, Z1_ISSUER)) is None


def test_issuer_of_follows_the_authority_key_identifier(pki):
    first = pki.ca(pki.root(name="ZA"))
    second = pki.ca(pki.root(name="ZB"))  # the same subject, CN=Z1,OU=07, another key
    store = TrustStore(anchors=[first.certificate(), second.certificate()])
    leaf = pki.organisation_certificate(second).certificate()
    assert store.issuer_of(leaf) == second.certificate()
    assert store.issuer_of(first.certificate()) is None  # its root is not held


def test_one_certificate_id_names_one_certificate(pki, oca):
    leaf = pki.organisation_certificate(oca)
    store = TrustStore(certificates=[leaf.organisation()])
    store.add(leaf.organisation())  # the same certificate again: fine
    with pytest.raises(InvalidCertificate, match="already held"):
        store.add(pki.tampered(leaf).organisation())


def test_a_revoked_id_is_revoked_however_its_issuer_is_written():
    store = TrustStore(revoked=[CertificateId(7, "cn = Z1 , ou=07")])
    assert store.is_revoked(CertificateId(7, Z1_ISSUER))
    assert store.revoked() == {CertificateId(7, Z1_ISSUER)}


# --- Folders ------------------------------------------------------------------------------


def _private_pem() -> bytes:
    return ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def test_a_folder_loads_cas_as_anchors_and_skips_what_is_not_a_certificate(
    pki: PkiBuilder, tmp_path: Path
):
    root = pki.root()
    oca = pki.ca(root)
    device_ca = pki.ca(root, name="E357", role=None)
    organisation = pki.organisation_certificate(oca)
    device = pki.device_certificate(device_ca)
    plain = pki.organisation_certificate(oca, role="137")
    (tmp_path / "sub").mkdir()
    (tmp_path / "Z1-OCA.pem").write_bytes(oca.pem)
    (tmp_path / "bundle.pem").write_bytes(root.pem + device_ca.pem)
    (tmp_path / "sub" / "party-ds.pem").write_bytes(organisation.pem)
    (tmp_path / "device.der").write_bytes(device.der)
    (tmp_path / "pre-1.4.1.crt").write_bytes(plain.pem)
    (tmp_path / "party-ds.key").write_bytes(_private_pem())
    (tmp_path / "party-ds.der.key").write_bytes(b"\x30\x03\x02\x01\x00")
    public = ec.generate_private_key(ec.SECP256R1()).public_key()
    (tmp_path / "bare-ka.pem").write_bytes(
        public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    (tmp_path / "broken.pem").write_text(
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    )
    (tmp_path / "README").write_text("not a certificate")
    (tmp_path / "empty.der").write_bytes(b"")

    store = TrustStore()
    notes = store.load_folder(tmp_path)

    assert {a.subject for a in store.trust_anchors()} == {"CN=ZA,OU=00", Z1_ISSUER, "CN=E357"}
    assert isinstance(
        store.organisation_certificate(organisation.certificate().certificate_id),
        OrganisationCertificate,
    )
    assert isinstance(
        store.device_certificate(device.certificate().certificate_id), DeviceCertificate
    )
    held = store.certificate(plain.certificate().certificate_id)
    assert isinstance(held, Certificate)
    assert store.organisation_certificate(plain.certificate().certificate_id) is None
    by_file = {Path(n.source).name: n.message for n in notes}
    assert set(by_file) == {
        "pre-1.4.1.crt",
        "party-ds.key",
        "party-ds.der.key",
        "bare-ka.pem",
        "broken.pem",
        "README",
        "empty.der",
    }
    assert "INVALID_REMOTE_PARTY_ROLE" in by_file["pre-1.4.1.crt"]
    assert "PUBLIC KEY" in by_file["bare-ka.pem"]
    assert "PRIVATE KEY" in by_file["party-ds.key"]
    assert store.notes == tuple(notes)


def test_a_missing_folder_is_a_note_not_a_crash(tmp_path):
    store = TrustStore()
    (note,) = store.load_folder(tmp_path / "absent")
    assert "not a folder" in note.message


def test_the_dcc_folders_load_with_notes_for_keys_only():
    store = TrustStore()
    notes = store.load_folder(smki() / "z1") + store.load_folder(smki() / "keystore")
    unexpected = [
        str(n)
        for n in notes
        if not n.source.endswith((".key", ".key.pem", "fffffffffffffffe-ka.pem", "pre-1.4.1.pem"))
    ]
    assert unexpected == []
    assert [a.subject for a in store.trust_anchors()] == [Z1_ISSUER]
    assert len(store.organisation_certificates()) == 20  # 28 files, 8 of them copies of another


# --- keystore.json ------------------------------------------------------------------------


def test_the_dcc_keystore_json_loads_certificates_and_keys_by_name():
    signer = SoftwareSigner()
    store = TrustStore()
    notes = store.load_keystore_json(smki() / "keystore.json", signer=signer)
    assert notes == []
    assert len(store.organisation_certificates()) == 33
    assert len(signer.keys()) == 33
    (tcos,) = [
        c
        for c in store.find(
            EUI64.parse("90-B3-D5-1F-30-00-00-04"),
            RemotePartyRole.TRANSITIONAL_COS,
            KeyUsage.DIGITAL_SIGNATURE,
        )
        if c.certificate_id.serial == 80934474337773775048443398092716228710
    ]
    assert signer.public_key("Z1-transitionalCoS-ds") == tcos.certificate.public_key


def test_a_keystore_entry_that_disagrees_with_its_certificate_is_skipped(pki, oca, tmp_path):
    issued = pki.organisation_certificate(oca, entity_id=PARTY, serial=42)
    document = {
        "90b3d51f30010000": {
            "digitalSignature": {
                "42": {"certificate": issued.pem.decode(), "name": "ok", "role": 2},
                "43": {"certificate": issued.pem.decode(), "name": "bad serial", "role": 2},
            },
            "keyAgreement": {
                "42": {"certificate": issued.pem.decode(), "name": "bad usage", "role": 2},
            },
        },
        "90b3d51f30010001": {
            "digitalSignature": {
                "42": {"certificate": issued.pem.decode(), "name": "bad EUI", "role": 3},
                "44": {"name": "no certificate"},
                "45": {"certificate": "junk", "name": "junk"},
            },
        },
    }
    path = tmp_path / "keystore.json"
    path.write_text(json.dumps(document))
    store = TrustStore()
    notes = store.load_keystore_json(path)
    assert len(store.organisation_certificates()) == 1
    assert len(notes) == 5
    text = "\n".join(map(str, notes))
    assert "serial 43 vs 42" in text
    assert "key usage keyAgreement vs digitalSignature" in text
    assert "role 3 vs 2" in text
    assert "no certificate" in text


@pytest.mark.parametrize("content", ["[]", "not json", '{"x": 1}'])
def test_an_unreadable_keystore_json_is_a_note(tmp_path, content):
    path = tmp_path / "keystore.json"
    path.write_text(content)
    store = TrustStore()
    assert store.load_keystore_json(path) != [] or content == '{"x": 1}'
    assert store.organisation_certificates() == ()


# --- Revocation lists ---------------------------------------------------------------------


def test_a_revocation_list_round_trips_and_loads(tmp_path):
    ids = [CertificateId(0x2A, "CN=Z1, OU=07"), CertificateId(7, "CN=ZA,OU=00")]
    document = revocation_list_to_json(ids)
    assert document == {
        "format": "etmad-revocation-list",
        "version": 1,
        "revoked": [
            {"serial": "7", "issuer": "CN=ZA,OU=00"},
            {"serial": "42", "issuer": Z1_ISSUER},
        ],
    }
    assert sorted(revocation_list_from_json(document)) == sorted(
        [CertificateId(42, Z1_ISSUER), CertificateId(7, "CN=ZA,OU=00")]
    )
    path = tmp_path / "revoked.json"
    path.write_text(json.dumps(document))
    store = TrustStore()
    assert store.load_revocation_list(path) == 2
    assert store.is_revoked(CertificateId(42, Z1_ISSUER))


@pytest.mark.parametrize(
    "document",
    [
        [],
        {"format": "etmad-revocation-list", "version": 2, "revoked": []},
        {"format": "etmad-revocation-list", "version": True, "revoked": []},
        {"format": "etmad-revocation-list", "version": 1.0, "revoked": []},
        {"format": "other", "version": 1, "revoked": []},
        {"format": "etmad-revocation-list", "version": 1, "revoked": {}},
        {"format": "etmad-revocation-list", "version": 1, "revoked": [], "extra": 1},
        {"format": "etmad-revocation-list", "version": 1, "revoked": [{"serial": "x"}]},
        {
            "format": "etmad-revocation-list",
            "version": 1,
            "revoked": [{"serial": "-1", "issuer": Z1_ISSUER}],
        },
        {
            "format": "etmad-revocation-list",
            "version": 1,
            "revoked": [{"serial": "1", "issuer": "CN"}],
        },
    ],
)
def test_a_malformed_revocation_list_is_refused_whole(tmp_path, document):
    path = tmp_path / "revoked.json"
    path.write_text(json.dumps(document))
    store = TrustStore()
    with pytest.raises(InvalidRevocationList) as raised:
        store.load_revocation_list(path)
    assert raised.value.code == "INVALID_REVOCATION_LIST"
    assert store.revoked() == frozenset()


def test_an_unreadable_revocation_list_is_refused(tmp_path):
    with pytest.raises(InvalidRevocationList):
        TrustStore().load_revocation_list(tmp_path / "absent.json")
