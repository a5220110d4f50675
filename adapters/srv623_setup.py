"""The SRV 6.23 set-up: the DCC, the CoS Party and the TCoS Party built from one set-up file
(format ``etmad-srv623/1``, ``docs/formats.md`` "SRV 6.23 set-up").

Each role's key is a key file read into its own ``SoftwareSigner``, holding only that key, or a
``pkcs11:`` URI naming a key in an HSM token (``Pkcs11Signer``; ``docs/operations.md``, "Keys in
an HSM (PKCS#11)"): the DCC its XML
signing (countersigning) key; the CoS Party its ECoS Party key (Signed Pre-Commands) and its
CoS Party XML Signing Key (CoS Authorisation Responses); the TCoS Party its TCoS key. They share
the trust store the file names (SMKI certificate folders), the DUIS XML Schema, and — in this
embedded form — the application's store, each recording only its own aggregates; the DCC's
clause 13 sending system is outside: the Command is handed over as an artefact
(``HANDED_OVER``) and the Device's response recorded with ``RecordSrv623Response``.

The file is JSON; paths are relative to the file::

    {
      "format": "etmad-srv623/1",
      "duis_schema": "../shared/vectors/dcc/duis/schema",
      "trust_store": ["../shared/vectors/dcc/smki/z1", "keys/certificates"],
      "mpan_check_digit": false,
      "cos_party_role_code": "8A",
      "dcc": {"key": "keys/dcc.key", "certificate": "keys/dcc.pem"},
      "cos_party": {
        "xml_sign": {"key": "keys/cos-xml.key", "certificate": "keys/cos-xml.pem"},
        "ecos": {"key": "keys/ecos.key", "certificate": "keys/ecos.pem"}
      },
      "tcos_party": {
        "key": "pkcs11:module=/usr/lib/p11.so;token=tcos;pin-env=TCOS_PIN;label=tcos",
        "certificate": "keys/tcos.pem"
      },
      "production": false
    }

A production set-up (``"production": true``, or ``ETMAD_PRODUCTION=1`` in the environment, which
the file cannot turn off) refuses a software key for the CoS Party's two keys and the TCoS
Party's: their signing must happen in a FIPS 140-2 Level 3 module (DOMAIN.md 1; ETMAD 3.2(c),
amending G2.44(a)). The DCC's countersigning key may be either.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import attrs

from adapters.bootstrap import ConfigurationError
from adapters.codecs.duis import DuisSchema, load_schema
from adapters.crypto.pkcs11_signer import SCHEME as PKCS11_SCHEME
from adapters.crypto.signer_uri import FILE_SCHEME, is_hardware, signer_from_uri
from adapters.crypto.smki import parse_certificate, parse_organisation_certificate
from adapters.crypto.software_signer import SoftwareSigner
from adapters.crypto.trust_store import TrustStore
from adapters.srv623_artefacts import (
    CosPartyResponseWriter,
    DccAuthorisationResponseReader,
    DccCountersigner,
    GbcsCommandOutcomeReader,
    GbcsPreCommandReader,
    GbcsPreCommandSigner,
    PartyCountersignedReader,
)
from adapters.srv623_reader import DuisSignedRequestReader
from application.cos_party import CosPartyService
from application.credentials import Signer, UnknownKey
from application.dsp_lookup import ApplicationDspLookup
from application.migration_ports import DeviceTransport
from application.service import EtmadApplication
from application.srv623_chain import Srv623Dcc, Srv623Parties, Srv623Setup
from application.tcos_party import TcosPartyService
from domain import clauses
from domain.errors import DomainError
from domain.identifiers import EUI64
from domain.smki import Certificate, InvalidCertificate, OrganisationCertificate

FORMAT: Final = "etmad-srv623/1"
ENV: Final = "ETMAD_SRV623_CONFIG"
PRODUCTION_ENV: Final = "ETMAD_PRODUCTION"
#: G2.44(a) as amended by ETMAD 3.2(c): CoS Party and TCoS Party signing in a FIPS 140-2 Level 3
#: (or successor) module (DOMAIN.md 1). To move to ``domain/clauses.py`` as ``ETMAD_3_2_C``.
FIPS_MODULE_CLAUSE: Final = clauses.ETMAD_3_2_C
#: The roles whose signing the clause puts in a FIPS 140-2 Level 3 module.
HSM_ROLES: Final = ("cos_party.xml_sign", "cos_party.ecos", "tcos_party")
_ROLE_CODE: Final = re.compile(r"[0-9A-Fa-f]{2}")


class Srv623SetupError(ConfigurationError):
    """The SRV 6.23 set-up file is missing, unreadable or wrong; the message says where."""

    code = "SRV623_SETUP_INVALID"


class Srv623RequestUnreadable(DomainError):  # noqa: N818 — reads as the fact it reports
    """The request file ``ProcessSrv623`` names cannot be read (the set-up is not at fault)."""

    code = "SRV623_REQUEST_UNREADABLE"


@attrs.frozen(kw_only=True)
class SigningKey:
    """One role's key: the signer holding it (only it: each service its own keys), the key's
    handle there, and its certificate."""

    signer: Signer
    key: str
    certificate: Certificate | OrganisationCertificate


@attrs.frozen(kw_only=True)
class Srv623Keys:
    """Everything the set-up file gives, read and checked."""

    schema: DuisSchema
    trust: TrustStore
    mpan_check_digit: bool
    cos_party_role_code: int
    dcc: SigningKey
    cos_party_xml_sign: SigningKey
    ecos: SigningKey
    tcos: SigningKey


class RequestFiles:
    """``RequestSource``: inline XML (text starting with ``<``) or a path to a file."""

    def __init__(self, base: Path | None = None) -> None:
        self._base = base or Path()

    def read_request(self, request_xml: str) -> bytes:
        if request_xml.lstrip().startswith("<"):
            return request_xml.encode("utf-8")
        path = self._base / request_xml
        try:
            return path.read_bytes()
        except OSError as e:
            raise Srv623RequestUnreadable(
                f"cannot read the request file {path}: {e.strerror}"
            ) from None


def build_srv623_setup(
    app: EtmadApplication,
    keys: Srv623Keys,
    *,
    transport: DeviceTransport | None = None,
    requests: RequestFiles | None = None,
    cos_party_store: EtmadApplication | None = None,
    tcos_party_store: EtmadApplication | None = None,
) -> Srv623Setup:
    """The three services, each signing with its own keys only. ``app`` is the DCC's store
    (and the DSP's data the parties may consult, ``DspLookup``); each party records in its own
    store when one is given, else in ``app`` (the embedded form, decision 63)."""
    for pair in (keys.dcc, keys.cos_party_xml_sign, keys.ecos, keys.tcos):
        keys.trust.add(pair.certificate)
    reader = DuisSignedRequestReader(
        schema=keys.schema, authority=keys.trust, mpan_check_digit=keys.mpan_check_digit
    )
    countersigned = PartyCountersignedReader(authority=keys.trust, request_reader=reader)
    lookup = ApplicationDspLookup(app)
    cos_party = CosPartyService(
        cos_party_store or app,
        countersigned_reader=countersigned,
        pre_command_signer=GbcsPreCommandSigner(
            signer=keys.ecos.signer,
            key=keys.ecos.key,
            originator=_entity_id(keys.ecos, "cos_party.ecos"),
            schema=keys.schema,
        ),
        response_writer=CosPartyResponseWriter(
            signer=keys.cos_party_xml_sign.signer,
            key=keys.cos_party_xml_sign.key,
            certificate=keys.cos_party_xml_sign.certificate,
            authority=keys.trust,
        ),
        smets1=lookup.smets1,
    )
    tcos_party = TcosPartyService(
        tcos_party_store or app,
        countersigned_reader=countersigned,
        pre_command_signer=GbcsPreCommandSigner(
            signer=keys.tcos.signer,
            key=keys.tcos.key,
            originator=_entity_id(keys.tcos, "tcos_party"),
            schema=keys.schema,
        ),
        lookup=lookup,
    )
    dcc = Srv623Dcc(
        reader=reader,
        countersigner=DccCountersigner(
            signer=keys.dcc.signer, key=keys.dcc.key, certificate=keys.dcc.certificate
        ),
        response_reader=DccAuthorisationResponseReader(authority=keys.trust),
        pre_command_reader=GbcsPreCommandReader(authority=keys.trust),
        transport=transport,
        outcome_reader=GbcsCommandOutcomeReader(),
        cos_party_role_code=keys.cos_party_role_code,
    )
    return Srv623Setup(
        dcc=dcc,
        parties=Srv623Parties(cos_party=cos_party, tcos_party=tcos_party),
        requests=requests or RequestFiles(),
    )


def _entity_id(pair: SigningKey, where: str) -> EUI64:
    if isinstance(pair.certificate, OrganisationCertificate):
        return pair.certificate.entity_id
    raise Srv623SetupError(
        f"{where}: the certificate is not an SMKI Organisation Certificate, so it names no "
        "Entity Identifier for the Pre-Command's originator"
    )


# --- the file ---------------------------------------------------------------------------------


#: The roles whose key a ``--signer ROLE=KEY`` option may choose, as the set-up file names them.
SIGNER_ROLES: Final = ("dcc", "cos_party.xml_sign", "cos_party.ecos", "tcos_party")


def parse_signer_options(options: Sequence[str]) -> dict[str, str]:
    """``ROLE=KEY`` options (``--signer``) as a mapping; KEY as in the set-up file's ``"key"``
    (a ``pkcs11:`` URI, ``file:PATH`` or a path)."""
    chosen: dict[str, str] = {}
    for option in options:
        role, sep, key = option.partition("=")
        if not sep or not key.strip():
            raise Srv623SetupError(f"--signer {option!r}: expected ROLE=KEY")
        if role not in SIGNER_ROLES:
            raise Srv623SetupError(
                f"--signer {option!r}: the role is one of {', '.join(SIGNER_ROLES)}"
            )
        if role in chosen:
            raise Srv623SetupError(f"--signer: {role} is given twice")
        chosen[role] = key.strip()
    return chosen


def load_srv623_setup(
    path: str | None, app: EtmadApplication, *, signers: Mapping[str, str] | None = None
) -> Srv623Setup:
    """The set-up of the file ``path`` (None: ``$ETMAD_SRV623_CONFIG``) for ``app``;
    ``signers`` chooses a role's key instead of the file's (``--signer ROLE=KEY``)."""
    chosen = path or os.environ.get(ENV)
    if not chosen:
        raise Srv623SetupError(
            f"no SRV 6.23 set-up file: give --config FILE or set {ENV} (docs/formats.md, "
            '"SRV 6.23 set-up")'
        )
    return build_srv623_setup(app, read_srv623_keys(Path(chosen), signers=signers))


def read_srv623_keys(path: Path, *, signers: Mapping[str, str] | None = None) -> Srv623Keys:
    """Read and check the set-up file at ``path``."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise Srv623SetupError(f"cannot read {path}: {e.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise Srv623SetupError(f"{path} is not a JSON document: {e}") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise Srv623SetupError(f'{path}: "format" must be "{FORMAT}"')
    base = path.parent
    schema_folder = base / _text(document, "duis_schema", path)
    try:
        schema = load_schema(schema_folder)
    except Exception as e:  # noqa: BLE001 — any failure to compile is a set-up error
        raise Srv623SetupError(
            f"{path}: cannot load the DUIS schema {schema_folder}: {e}"
        ) from None
    trust = TrustStore()
    folders = document.get("trust_store")
    if not isinstance(folders, list) or not all(isinstance(f, str) for f in folders):
        raise Srv623SetupError(f'{path}: "trust_store" must be a list of folders')
    for folder in folders:
        if not (base / folder).is_dir():
            raise Srv623SetupError(f"{path}: trust store folder {base / folder} does not exist")
        trust.load_folder(base / folder)
    role = _text(document, "cos_party_role_code", path)
    if not _ROLE_CODE.fullmatch(role):
        raise Srv623SetupError(
            f'{path}: "cos_party_role_code" must be two hex digits, not {role!r}'
        )
    role_code = int(role, 16)
    check_digit = document.get("mpan_check_digit", True)
    if not isinstance(check_digit, bool):
        raise Srv623SetupError(f'{path}: "mpan_check_digit" must be true or false')
    production = _production(document, path)
    cos_party = _section(document, "cos_party", path)
    sections = {
        "dcc": _section(document, "dcc", path),
        "cos_party.xml_sign": _section(cos_party, "xml_sign", path),
        "cos_party.ecos": _section(cos_party, "ecos", path),
        "tcos_party": _section(document, "tcos_party", path),
    }
    pairs = _pairs(
        _with_signers(sections, signers or {}), production=production, base=base, path=path
    )
    return Srv623Keys(
        schema=schema,
        trust=trust,
        mpan_check_digit=check_digit,
        cos_party_role_code=role_code,
        dcc=pairs["dcc"],
        cos_party_xml_sign=pairs["cos_party.xml_sign"],
        ecos=pairs["cos_party.ecos"],
        tcos=pairs["tcos_party"],
    )


def _with_signers(
    sections: dict[str, Mapping[str, Any]], signers: Mapping[str, str]
) -> dict[str, Mapping[str, Any]]:
    """The roles' sections with the keys ``--signer ROLE=KEY`` chose instead of the file's."""
    for role, key in signers.items():
        if role not in sections:
            raise Srv623SetupError(f"--signer: unknown role {role!r}")
        sections[role] = {**sections[role], "key": key}
    return sections


def _pairs(
    sections: Mapping[str, Mapping[str, Any]], *, production: bool, base: Path, path: Path
) -> dict[str, SigningKey]:
    """Each role's key and certificate; in production the CoS and TCoS Party roles' keys in
    an HSM (refused before any key file is read, and checked again on the signer)."""
    if production:
        for where in HSM_ROLES:
            if not _text(sections[where], "key", path).startswith(PKCS11_SCHEME):
                _refuse_software_key(where, path)
    pairs = {where: _pair(section, where, base, path) for where, section in sections.items()}
    if production:
        for where in HSM_ROLES:
            if not is_hardware(pairs[where].signer):
                _refuse_software_key(where, path)
    return pairs


def _production(document: Mapping[str, Any], path: Path) -> bool:
    """Whether this is a production set-up: ``"production": true`` in the file, or
    ``ETMAD_PRODUCTION`` set to 1/true/yes (the file cannot turn it off)."""
    in_file = document.get("production", False)
    if not isinstance(in_file, bool):
        raise Srv623SetupError(f'{path}: "production" must be true or false')
    setting = os.environ.get(PRODUCTION_ENV, "").strip().lower()
    if setting not in {"", "0", "false", "no", "1", "true", "yes"}:
        raise Srv623SetupError(
            f"{PRODUCTION_ENV} must be 1, true or yes (production) or 0, false or no, "
            f"not {setting!r}"
        )
    return in_file or setting in {"1", "true", "yes"}


def _refuse_software_key(where: str, path: Path) -> None:
    raise Srv623SetupError(
        f"{path}: {where}: a production set-up refuses a software signing key for the "
        f"{_ROLE_NAMES[where]}: its signing must happen in a FIPS 140-2 Level 3 cryptographic "
        f"module (DOMAIN.md 1; {FIPS_MODULE_CLAUSE}); give its key as a "
        f"{PKCS11_SCHEME}module=…;token=…;pin-env=…;label=… URI",
        clause=FIPS_MODULE_CLAUSE,
    )


_ROLE_NAMES: Final = {
    "cos_party.xml_sign": "CoS Party (CoS Party XML Signing Key)",
    "cos_party.ecos": "CoS Party (ECoS Party key)",
    "tcos_party": "TCoS Party",
}


def _text(document: Mapping[str, Any], name: str, path: Path) -> str:
    value = document.get(name)
    if not isinstance(value, str) or not value:
        raise Srv623SetupError(f'{path}: "{name}" must be a non-empty text')
    return value


def _section(document: Mapping[str, Any], name: str, path: Path) -> Mapping[str, Any]:
    value = document.get(name)
    if not isinstance(value, dict):
        raise Srv623SetupError(f'{path}: "{name}" must be an object')
    return value


def _pair(section: Mapping[str, Any], where: str, base: Path, path: Path) -> SigningKey:
    key_text = _text(section, "key", path)
    certificate_file = base / _text(section, "certificate", path)
    if key_text.startswith((PKCS11_SCHEME, FILE_SCHEME)):
        return _held_pair(key_text, certificate_file, where, base, path)
    key_file = base / key_text
    try:
        key = key_file.read_bytes()
        data = certificate_file.read_bytes()
    except OSError as e:
        raise Srv623SetupError(f"{path}: {where}: cannot read {e.filename}: {e.strerror}") from None
    certificate = _certificate(data, certificate_file, where, path)
    signer = SoftwareSigner()
    try:
        public_key = signer.add_key(where, key)
    except DomainError as e:
        raise Srv623SetupError(f"{path}: {where}: {key_file}: {e.message}") from None
    if public_key != _certificate_of(certificate).public_key:
        raise Srv623SetupError(
            f"{path}: {where}: the key {key_file} is not the key certified by {certificate_file}"
        )
    return SigningKey(signer=signer, key=where, certificate=certificate)


def _held_pair(
    key_text: str, certificate_file: Path, where: str, base: Path, path: Path
) -> SigningKey:
    """A role's key named by a ``pkcs11:`` or ``file:`` URI: the signer holding it."""
    try:
        data = certificate_file.read_bytes()
    except OSError as e:
        raise Srv623SetupError(f"{path}: {where}: cannot read {e.filename}: {e.strerror}") from None
    certificate = _certificate(data, certificate_file, where, path)
    try:
        signer, key = signer_from_uri(key_text, base=base)
        public_key = signer.public_key(key)
    except UnknownKey as e:
        raise Srv623SetupError(f"{path}: {where}: {e}") from None
    except DomainError as e:
        raise Srv623SetupError(f"{path}: {where}: {e.message} [{e.code}]") from None
    if public_key != _certificate_of(certificate).public_key:
        raise Srv623SetupError(
            f"{path}: {where}: the key {key!r} is not the key certified by {certificate_file}"
        )
    return SigningKey(signer=signer, key=key, certificate=certificate)


def _certificate(
    data: bytes, certificate_file: Path, where: str, path: Path
) -> Certificate | OrganisationCertificate:
    try:
        try:
            return parse_organisation_certificate(data)
        except InvalidCertificate:
            return parse_certificate(data)
    except InvalidCertificate as e:
        raise Srv623SetupError(f"{path}: {where}: {certificate_file}: {e.message}") from None


def _certificate_of(certificate: Certificate | OrganisationCertificate) -> Certificate:
    if isinstance(certificate, OrganisationCertificate):
        return certificate.certificate
    return certificate
