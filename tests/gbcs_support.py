"""The RTDS 4.5.0 GBCS vectors and the test PKI, read in place (DOMAIN.md 6), for the GBCS tests.

Never copied into the repository: ``$ETMAD_DCC_VECTORS`` if set, else ``../shared/vectors/dcc``
beside the project root. A test that needs them skips, saying where it looked.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from adapters.codecs.gbcs import (
    Command,
    GeneralSigningMessage,
    decode_alert,
    decode_command,
    decode_general_signing,
    decode_header,
    decode_message,
    decode_response,
    decode_update_security_credentials,
    decode_view,
)
from adapters.crypto.smki import certificate_from_pem_or_der, parse_certificate
from tests.smki_material import require_material

ROOT = Path(__file__).resolve().parents[1]

SUPPLIER_BY_TRANSCOS_COMMAND = "CS02bSupplierByTransCoS_6.23_IMMEDIATE_SUCCESS_COMMAND_GBCS.HEX"
SUPPLIER_BY_TRANSCOS_RESPONSE = "CS02bSupplierByTransCoS_6.23_IMMEDIATE_SUCCESS_RESPONSE_GBCS.HEX"
TRANSCOS_BY_TRANSCOS_COMMAND = "CS02bTransCoSByTransCoS_NA_SUCCESS_COMMAND_GBCS.HEX"
TRANSCOS_BY_TRANSCOS_RESPONSE = "CS02bTransCoSByTransCoS_NA_SUCCESS_RESPONSE_GBCS.HEX"
SUPPLIER_BY_SUPPLIER_PRECOMMAND = (
    "CS02bSupplierBySupplier_6.15.1_IMMEDIATE_SUCCESS_PRECOMMAND_GBCS.HEX"
)
SUPPLIER_BY_SUPPLIER_COMMAND = "CS02bSupplierBySupplier_6.15.1_IMMEDIATE_SUCCESS_COMMAND_GBCS.HEX"
SUPPLIER_BY_SUPPLIER_RESPONSE = "CS02bSupplierBySupplier_6.15.1_IMMEDIATE_SUCCESS_RESPONSE_GBCS.HEX"
VECTOR_NAMES = (
    SUPPLIER_BY_SUPPLIER_COMMAND,
    SUPPLIER_BY_SUPPLIER_PRECOMMAND,
    SUPPLIER_BY_SUPPLIER_RESPONSE,
    SUPPLIER_BY_TRANSCOS_COMMAND,
    SUPPLIER_BY_TRANSCOS_RESPONSE,
    TRANSCOS_BY_TRANSCOS_COMMAND,
    TRANSCOS_BY_TRANSCOS_RESPONSE,
)

#: The test transitionalCoS party that signs the RTDS CS02b vectors, and the 6.15.1 supplier.
TRANSCOS_PARTY = "90b3d51f30000004"
SUPPLIER_PARTY = "90b3d51f30010000"


def dcc_vectors() -> Path:
    """The DCC test material folder, or skip the test with the reason."""
    return require_material("gbcs", "smki")


def vector_path(name: str) -> Path:
    return dcc_vectors() / "gbcs" / name


def vector(name: str) -> bytes:
    """The bytes of an RTDS hex vector."""
    return bytes.fromhex(vector_path(name).read_text(encoding="ascii").strip())


def keystore(name: str) -> Path:
    return dcc_vectors() / "smki" / "keystore" / name


def certificate_der(path: Path) -> bytes:
    """The DER of a PEM certificate file."""
    return certificate_from_pem_or_der(path.read_bytes())


def public_key_der(path: Path) -> bytes:
    """The DER SubjectPublicKeyInfo of a PEM certificate file (the SMKI parser's reading)."""
    return parse_certificate(path.read_bytes()).public_key


def oca_der() -> bytes:
    return certificate_der(dcc_vectors() / "smki" / "z1" / "Z1-OCA.pem")


def keystore_json_certificate(entity: str, usage: str, name: str) -> bytes:
    """The DER of the certificate named ``name`` in ``smki/keystore.json``."""
    entries = json.loads((dcc_vectors() / "smki" / "keystore.json").read_text(encoding="utf-8"))
    for entry in entries[entity][usage].values():
        if entry["name"] == name:
            return certificate_from_pem_or_der(entry["certificate"])
    raise LookupError(f"no {name} for {entity} {usage} in keystore.json")


def _content(message: GeneralSigningMessage | Command) -> object:
    return (message.message if isinstance(message, Command) else message).content()


#: Every way in from bytes; each must decode or raise InvalidGbcs, whatever the bytes.
DECODERS: dict[str, Callable[[bytes], Any]] = {
    "message": lambda data: decode_message(data).encode(),
    "content": lambda data: _content(decode_message(data)),
    "view": decode_view,
    "command": decode_command,
    "general_signing": decode_general_signing,
    "header": decode_header,
    "update_security_credentials": decode_update_security_credentials,
    "response": decode_response,
    "alert": decode_alert,
}
