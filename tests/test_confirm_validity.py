"""SMKI Confirm Validity: a certificate is valid at a time when it chains to a trust anchor and
every certificate on the way is in date, not revoked, properly signed and allowed to do what it
does (DOMAIN.md 6; RFC 5280 6.1). Time is always given, never read from the clock."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import attrs
import pytest

from adapters.crypto.pki_builder import IssuedCertificate, PkiBuilder, tamper_signature
from adapters.crypto.smki import parse_certificate, parse_organisation_certificate
from adapters.crypto.trust_store import TrustStore
from adapters.crypto.validity import confirm_validity
from domain.identifiers import EUI64, CertificateId
from domain.smki import KeyUsage, RemotePartyRole, ValidityCode
from tests.smki_material import DCC_TIME, Z1_ISSUER, smki

T0 = datetime(2024, 6, 1, 12, tzinfo=UTC)
BEFORE = datetime(2020, 1, 1, tzinfo=UTC)
AFTER = datetime(2030, 1, 1, tzinfo=UTC)
#: The test transitionalCoS party that signs the RTDS CS02b vectors, and its signing usage.
TCOS_SIGNING = (
    EUI64.parse("90-B3-D5-1F-30-00-00-04"),
    RemotePartyRole.TRANSITIONAL_COS,
    KeyUsage.DIGITAL_SIGNATURE,
)


@pytest.fixture
def pki() -> PkiBuilder:
    return PkiBuilder()


@pytest.fixture
def oca(pki: PkiBuilder) -> IssuedCertificate:
    return pki.ca(pki.root())


@pytest.fixture
def store(oca: IssuedCertificate) -> TrustStore:
    return TrustStore(anchors=[oca.certificate()])


def _leaf(pki: PkiBuilder, issuer: IssuedCertificate, **kwargs: object) -> IssuedCertificate:
    return pki.organisation_certificate(
        issuer,
        not_before=BEFORE,
        not_after=AFTER,
        **kwargs,  # type: ignore[arg-type]
    )


# --- Valid --------------------------------------------------------------------------------


def test_an_organisation_certificate_issued_by_the_anchor_is_valid_with_its_path(pki, oca, store):
    leaf = _leaf(pki, oca).organisation()
    validity = confirm_validity(leaf, T0, store)
    assert validity.valid
    assert validity.code is ValidityCode.VALID
    assert validity.path == (leaf.certificate_id, oca.certificate().certificate_id)
    assert validity.failed is None
    assert validity.at == T0


def test_a_path_through_an_intermediate_to_a_root_anchor_is_valid(pki):
    root = pki.root()
    oca = pki.ca(root)
    store = TrustStore(anchors=[root.certificate()])
    store.add_intermediate(oca.certificate())
    validity = confirm_validity(_leaf(pki, oca).certificate(), T0, store)
    assert validity.code is ValidityCode.VALID
    assert len(validity.path) == 3


def test_a_device_certificate_chains_like_any_other(pki):
    device_ca = pki.ca(pki.root(), name="E357", role=None)
    store = TrustStore(anchors=[device_ca.certificate()])
    device = pki.device_certificate(device_ca, key_usage=KeyUsage.KEY_AGREEMENT).device()
    assert confirm_validity(device, T0, store).valid


def test_a_trust_anchor_is_valid_by_itself_in_its_period(oca, store):
    assert confirm_validity(oca.certificate(), T0, store).valid


def test_both_ends_of_the_validity_period_are_inside_it(pki, oca, store):
    leaf = _leaf(pki, oca).organisation()
    assert confirm_validity(leaf, BEFORE, store).valid
    assert confirm_validity(leaf, AFTER, store).valid
    assert not confirm_validity(leaf, AFTER + timedelta(seconds=1), store).valid
    assert not confirm_validity(leaf, BEFORE - timedelta(seconds=1), store).valid


# --- Time ---------------------------------------------------------------------------------


def test_after_its_not_after_a_certificate_has_expired(pki, oca, store):
    leaf = _leaf(pki, oca).organisation()
    validity = confirm_validity(leaf, AFTER + timedelta(days=1), store)
    assert validity.code is ValidityCode.EXPIRED
    assert validity.failed == leaf.certificate_id
    assert "expired" in validity.detail


def test_before_its_not_before_a_certificate_is_not_yet_valid(pki, oca, store):
    leaf = _leaf(pki, oca).organisation()
    validity = confirm_validity(leaf, BEFORE - timedelta(days=1), store)
    assert validity.code is ValidityCode.NOT_YET_VALID
    assert validity.failed == leaf.certificate_id


def test_an_expired_anchor_fails_the_path(pki):
    oca = pki.ca(pki.root(), not_before=BEFORE, not_after=T0)
    store = TrustStore(anchors=[oca.certificate()])
    leaf = pki.organisation_certificate(oca).organisation()  # valid 2015..2040 itself
    validity = confirm_validity(leaf, T0 + timedelta(days=1), store)
    assert validity.code is ValidityCode.EXPIRED
    assert validity.failed == oca.certificate().certificate_id


def test_an_intermediate_not_yet_valid_fails_the_path(pki):
    root = pki.root()
    oca = pki.ca(root, not_before=T0)
    store = TrustStore(anchors=[root.certificate()])
    store.add_intermediate(oca.certificate())
    validity = confirm_validity(_leaf(pki, oca).certificate(), T0 - timedelta(days=1), store)
    assert validity.code is ValidityCode.NOT_YET_VALID
    assert validity.failed == oca.certificate().certificate_id


def test_a_naive_time_is_a_programming_error(pki, oca, store):
    with pytest.raises(ValueError, match="timezone"):
        confirm_validity(_leaf(pki, oca).certificate(), datetime(2024, 1, 1), store)  # noqa: DTZ001


# --- Trust --------------------------------------------------------------------------------


def test_without_its_issuer_a_certificate_is_untrusted(pki, oca):
    leaf = _leaf(pki, oca).organisation()
    validity = confirm_validity(leaf, T0, TrustStore())
    assert validity.code is ValidityCode.UNTRUSTED_ISSUER
    assert validity.path == (leaf.certificate_id,)
    assert validity.failed == leaf.certificate_id


def test_an_issuer_of_the_same_name_with_another_key_is_not_the_issuer(pki, store):
    impostor = pki.ca(pki.root(name="ZX"))  # also CN=Z1,OU=07
    leaf = _leaf(pki, impostor).organisation()
    assert leaf.certificate_id.issuer == Z1_ISSUER
    assert confirm_validity(leaf, T0, store).code is ValidityCode.UNTRUSTED_ISSUER


def test_a_self_signed_end_entity_is_untrusted(pki, store):
    root = pki.root(name="SELF")
    validity = confirm_validity(root.certificate(), T0, store)
    assert validity.code is ValidityCode.UNTRUSTED_ISSUER


def test_an_intermediate_is_not_trusted_by_itself(pki):
    oca = pki.ca(pki.root())
    store = TrustStore()
    store.add_intermediate(oca.certificate())
    validity = confirm_validity(_leaf(pki, oca).certificate(), T0, store)
    assert validity.code is ValidityCode.UNTRUSTED_ISSUER
    assert validity.failed == oca.certificate().certificate_id


# --- Revocation ---------------------------------------------------------------------------


def test_a_revoked_certificate_is_refused(pki, oca, store):
    leaf = _leaf(pki, oca).organisation()
    store.revoke(leaf.certificate_id)
    validity = confirm_validity(leaf, T0, store)
    assert validity.code is ValidityCode.REVOKED
    assert validity.failed == leaf.certificate_id


def test_revocation_matches_the_issuer_however_it_was_written(pki, oca, store):
    leaf = _leaf(pki, oca).organisation()
    store.revoke(CertificateId(leaf.certificate_id.serial, "cn = Z1, ou = 07"))
    assert confirm_validity(leaf, T0, store).code is ValidityCode.REVOKED


def test_a_revoked_anchor_fails_every_path_through_it(pki, oca, store):
    store.revoke(oca.certificate().certificate_id)
    validity = confirm_validity(_leaf(pki, oca).organisation(), T0, store)
    assert validity.code is ValidityCode.REVOKED
    assert validity.failed == oca.certificate().certificate_id


# --- Signatures ---------------------------------------------------------------------------


def test_a_tampered_signature_is_a_bad_signature(pki, oca, store):
    leaf = pki.tampered(_leaf(pki, oca)).organisation()
    validity = confirm_validity(leaf, T0, store)
    assert validity.code is ValidityCode.BAD_SIGNATURE
    assert validity.failed == leaf.certificate_id


def test_an_altered_certificate_is_a_bad_signature(pki, oca, store):
    leaf = _leaf(pki, oca).certificate()
    altered = attrs.evolve(leaf, tbs=leaf.tbs.replace(b"\x0c\x0202", b"\x0c\x0203"))
    assert altered.tbs != leaf.tbs
    assert confirm_validity(altered, T0, store).code is ValidityCode.BAD_SIGNATURE


@pytest.mark.parametrize(
    "change",
    [
        {"signature": b"not DER"},
        {"signature": b""},
        {"signature_algorithm": "1.2.840.113549.1.1.11"},  # sha256WithRSAEncryption
    ],
)
def test_garbage_in_the_signature_is_a_decision_not_an_exception(pki, oca, store, change):
    leaf = attrs.evolve(_leaf(pki, oca).certificate(), **change)
    assert confirm_validity(leaf, T0, store).code is ValidityCode.BAD_SIGNATURE


def test_an_unreadable_issuer_key_is_a_decision_not_an_exception(pki, oca):
    anchor = attrs.evolve(oca.certificate(), public_key=b"\x30\x00")
    store = TrustStore(anchors=[anchor])
    validity = confirm_validity(_leaf(pki, oca).certificate(), T0, store)
    assert validity.code is ValidityCode.BAD_SIGNATURE


# --- Basic constraints and key usage ------------------------------------------------------


def test_an_issuer_that_is_not_a_ca_breaks_basic_constraints(pki):
    not_ca = pki.ca(None, ca=False)
    store = TrustStore(anchors=[not_ca.certificate()])
    validity = confirm_validity(_leaf(pki, not_ca).certificate(), T0, store)
    assert validity.code is ValidityCode.BASIC_CONSTRAINTS
    assert validity.failed == not_ca.certificate().certificate_id


def test_an_issuer_without_basic_constraints_is_not_a_ca(pki):
    silent = pki.ca(None, ca=None)
    store = TrustStore(anchors=[silent.certificate()])
    validity = confirm_validity(_leaf(pki, silent).certificate(), T0, store)
    assert validity.code is ValidityCode.BASIC_CONSTRAINTS


def test_an_end_entity_that_claims_to_be_a_ca_breaks_basic_constraints(pki, oca, store):
    leaf = _leaf(pki, oca, ca=True).organisation()
    validity = confirm_validity(leaf, T0, store)
    assert validity.code is ValidityCode.BASIC_CONSTRAINTS
    assert validity.failed == leaf.certificate_id


def test_an_oca_with_path_length_zero_may_not_issue_a_ca(pki):
    oca = pki.ca(pki.root(), path_length=0)
    sub_ca = pki.ca(oca, name="SUB")
    store = TrustStore(anchors=[oca.certificate()])
    store.add_intermediate(sub_ca.certificate())
    validity = confirm_validity(_leaf(pki, sub_ca).certificate(), T0, store)
    assert validity.code is ValidityCode.BASIC_CONSTRAINTS
    assert validity.failed == oca.certificate().certificate_id
    assert "pathLenConstraint" in validity.detail


def test_path_length_one_allows_one_ca_below(pki):
    oca = pki.ca(pki.root(), path_length=1)
    sub_ca = pki.ca(oca, name="SUB")
    store = TrustStore(anchors=[oca.certificate()])
    store.add_intermediate(sub_ca.certificate())
    assert confirm_validity(_leaf(pki, sub_ca).certificate(), T0, store).valid


def test_an_issuer_without_key_cert_sign_breaks_key_usage(pki):
    no_signing = pki.ca(None, key_usages={"cRLSign"})
    store = TrustStore(anchors=[no_signing.certificate()])
    validity = confirm_validity(_leaf(pki, no_signing).certificate(), T0, store)
    assert validity.code is ValidityCode.KEY_USAGE
    assert validity.failed == no_signing.certificate().certificate_id


def test_an_end_entity_asserting_key_cert_sign_breaks_key_usage(pki, oca, store):
    leaf = _leaf(pki, oca, key_usages={"digitalSignature", "keyCertSign"}).certificate()
    assert confirm_validity(leaf, T0, store).code is ValidityCode.KEY_USAGE


def test_an_organisation_certificate_must_carry_exactly_its_key_usage(pki, oca, store):
    leaf = _leaf(pki, oca).organisation()
    mislabelled = attrs.evolve(leaf, key_usage=KeyUsage.KEY_AGREEMENT)
    validity = confirm_validity(mislabelled, T0, store)
    assert validity.code is ValidityCode.KEY_USAGE


def test_every_validity_code_is_reached_by_a_test():
    reached = {
        ValidityCode.VALID,
        ValidityCode.EXPIRED,
        ValidityCode.NOT_YET_VALID,
        ValidityCode.UNTRUSTED_ISSUER,
        ValidityCode.REVOKED,
        ValidityCode.BAD_SIGNATURE,
        ValidityCode.KEY_USAGE,
        ValidityCode.BASIC_CONSTRAINTS,
    }
    assert reached == set(ValidityCode)


# --- Acceptance on the DCC test SMKI ------------------------------------------------------

#: The Organisation Certificates of the DCC material that are not valid at DCC_TIME, and why.
DCC_INVALID = {
    # valid 2025-09-01..2035-09-01 (DCC README)
    "Z1-accessControlBroker-dSPXmlSign": ValidityCode.NOT_YET_VALID,
    # keystore.json's load controller certificates begin 2023-11-16, after DCC_TIME
    "Z1-loadController-ds": ValidityCode.NOT_YET_VALID,
    "Z1-loadController-ka": ValidityCode.NOT_YET_VALID,
    # issued by CN=OB,OU=07 and CN=Z99,OU=07, which the material does not include
    "otherUser-ds": ValidityCode.UNTRUSTED_ISSUER,
    "otherUser-ka": ValidityCode.UNTRUSTED_ISSUER,
    "mdr-ds": ValidityCode.UNTRUSTED_ISSUER,
    "mdr-ka": ValidityCode.UNTRUSTED_ISSUER,
    # self-signed, yet naming CN=Z1,OU=07 as issuer (and no authorityKeyIdentifier): the Z1
    # OCA's key does not verify them
    "xml-sign-00DB123456780004-ds": ValidityCode.BAD_SIGNATURE,
    "xml-sign-90B3D51F30010000-ds": ValidityCode.BAD_SIGNATURE,
    "xml-sign-90B3D51F30020000-ds": ValidityCode.BAD_SIGNATURE,
    "dsp-xml-sign-90B3D51F30000002-ds": ValidityCode.BAD_SIGNATURE,
    "90b3d51f30010008-ds": ValidityCode.BAD_SIGNATURE,
    "90b3d51f30010008-ka": ValidityCode.BAD_SIGNATURE,
}


@pytest.fixture(scope="module")
def dcc_store() -> TrustStore:
    """Z1-OCA as the trust anchor, with every certificate of the material."""
    store = TrustStore()
    store.load_folder(smki() / "z1")
    store.load_folder(smki() / "keystore")
    store.load_keystore_json(smki() / "keystore.json")
    return store


def _names(store: TrustStore) -> dict[CertificateId, str]:
    """Each Organisation Certificate's name: its keystore.json name, else its file stem."""
    names: dict[CertificateId, str] = {}
    for folder in ("keystore", "z1"):
        for path in sorted((smki() / folder).glob("*.pem")):
            try:
                names[parse_certificate(path.read_bytes()).certificate_id] = path.stem
            except ValueError:
                continue
    document = json.loads((smki() / "keystore.json").read_text(encoding="utf-8"))
    for by_usage in document.values():
        for by_serial in by_usage.values():
            for entry in by_serial.values():
                certificate_id = parse_certificate(entry["certificate"]).certificate_id
                names[certificate_id] = entry["name"]
    return {c.certificate_id: names[c.certificate_id] for c in store.organisation_certificates()}


def test_the_z1_oca_is_the_trust_anchor_of_the_dcc_material(dcc_store):
    (anchor,) = dcc_store.trust_anchors()
    assert anchor.subject == Z1_ISSUER
    assert anchor.certificate_id.issuer == "CN=ZA,OU=00"  # the root, not in the material


def test_every_dcc_organisation_certificate_chaining_to_z1_is_valid_at_the_dcc_time(dcc_store):
    names = _names(dcc_store)
    outcomes = {
        names[c.certificate_id]: confirm_validity(c, DCC_TIME, dcc_store)
        for c in dcc_store.organisation_certificates()
    }
    unexpected = {
        name: (validity.code, validity.detail)
        for name, validity in outcomes.items()
        if validity.code is not DCC_INVALID.get(name, ValidityCode.VALID)
    }
    assert unexpected == {}
    assert set(DCC_INVALID) <= set(outcomes)
    assert sum(v.valid for v in outcomes.values()) == 23
    for validity in outcomes.values():
        if validity.valid:
            assert validity.path[-1].issuer == "CN=ZA,OU=00"


def test_the_transitional_cos_signing_certificate_of_the_rtds_vectors(dcc_store):
    tcos = parse_organisation_certificate(
        (smki() / "keystore" / "90b3d51f30000004-ds.pem").read_bytes()
    )
    assert confirm_validity(tcos, DCC_TIME, dcc_store).valid
    after = datetime(2025, 11, 3, tzinfo=UTC)  # expired 2025-11-02T23:59:59Z
    assert confirm_validity(tcos, after, dcc_store).code is ValidityCode.EXPIRED


def test_a_dcc_certificate_whose_anchor_is_not_configured_is_untrusted():
    store = TrustStore()
    store.load_folder(smki() / "keystore")  # no Z1-OCA here
    tcos = store.find(*TCOS_SIGNING)[0]
    assert confirm_validity(tcos, DCC_TIME, store).code is ValidityCode.UNTRUSTED_ISSUER


def test_a_revoked_dcc_certificate_is_refused(dcc_store):
    tcos = dcc_store.find(*TCOS_SIGNING)
    store = TrustStore(anchors=dcc_store.trust_anchors(), certificates=tcos)
    store.revoke(tcos[0].certificate_id)
    assert confirm_validity(tcos[0], DCC_TIME, store).code is ValidityCode.REVOKED
    assert confirm_validity(tcos[1], DCC_TIME, store).valid


def test_a_dcc_certificate_with_a_tampered_signature_is_refused(dcc_store):
    der = (smki() / "keystore" / "90b3d51f30000004-ds.pem").read_bytes()
    tampered = parse_organisation_certificate(tamper_signature(parse_certificate(der).der))
    validity = confirm_validity(tampered, DCC_TIME, dcc_store)
    assert validity.code is ValidityCode.BAD_SIGNATURE


def test_the_dsp_xml_signing_certificate_becomes_valid_in_september_2025(dcc_store):
    path = smki() / "z1" / "Z1-accessControlBroker-dSPXmlSign.pem"
    certificate = parse_organisation_certificate(path.read_bytes())
    assert confirm_validity(certificate, DCC_TIME, dcc_store).code is ValidityCode.NOT_YET_VALID
    assert confirm_validity(certificate, datetime(2026, 1, 1, tzinfo=UTC), dcc_store).valid


def test_dcc_device_certificates_are_untrusted_without_their_device_ca(dcc_store):
    device = dcc_store.device_certificate(
        parse_certificate(
            (smki() / "keystore" / "00db123456789001-ds.pem").read_bytes()
        ).certificate_id
    )
    assert device is not None
    validity = confirm_validity(device, DCC_TIME, dcc_store)
    assert validity.code is ValidityCode.UNTRUSTED_ISSUER  # issuer CN=E357 is not included
