"""Signed Pre-Commands: sign through the ``Signer`` port, verify with a public key.

A Signed Pre-Command is Grouping Header ‖ payload ‖ 0x40 ‖ r‖s (64 octets). The signature is
ECDSA P-256 / SHA-256 over the Grouping Header *without its leading 0xDF tag*, then the payload
(DOMAIN.md 6; checked against the RTDS 4.5.0 CS02b vectors). ECDSA signatures are randomised:
two signatures of the same bytes differ, and both verify.
"""

from __future__ import annotations

import functools

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import load_der_public_key

from adapters.codecs.gbcs.errors import InvalidGbcs
from adapters.codecs.gbcs.header import CraFlag, DlmsDateTime, GeneralSigningHeader
from adapters.codecs.gbcs.message import (
    SIGNATURE_LENGTH,
    Command,
    GeneralSigningMessage,
    decode_general_signing,
    decode_message,
)
from adapters.codecs.gbcs.payload import UpdateSecurityCredentials
from application.credentials import SignatureEncoding, Signer
from domain.identifiers import EUI64

_HALF = SIGNATURE_LENGTH // 2


def pre_command_header(
    payload: UpdateSecurityCredentials,
    *,
    originator: EUI64,
    recipient: EUI64,
    date_time: DlmsDateTime | None = None,
) -> GeneralSigningHeader:
    """The Grouping Header of a CS02b command: CRA flag 1, the mode's message code, and the
    payload's authorising sequence number as originator counter (as every RTDS vector has)."""
    return GeneralSigningHeader(
        cra_flag=CraFlag.COMMAND,
        originator_counter=payload.control.seq_number,
        originator=originator,
        recipient=recipient,
        message_code=payload.message_code,
        date_time=date_time,
    )


def sign_pre_command(
    pre_command: bytes | GeneralSigningMessage, *, signer: Signer, key: str
) -> GeneralSigningMessage:
    """Sign a Pre-Command (header ‖ payload, as the DCC returns it or as built here) with the
    key named ``key``: the Signed Pre-Command. A signature already present is replaced."""
    message = (
        pre_command
        if isinstance(pre_command, GeneralSigningMessage)
        else decode_general_signing(pre_command)
    )
    if message.header.cra_flag is not CraFlag.COMMAND:
        raise InvalidGbcs(
            f"only a command is signed as a Pre-Command, this is a {message.header.cra_flag.name}",
            field="cra_flag",
        )
    signature = signer.sign(key, message.signed_data, encoding=SignatureEncoding.RAW)
    if len(signature) != SIGNATURE_LENGTH:
        raise InvalidGbcs(
            f"the signer returned {len(signature)} octets; GBCS carries 64 (r‖s)",
            field="signature",
        )
    return GeneralSigningMessage(
        header=message.header,
        header_bytes=message.header_bytes,
        payload=message.payload,
        signature=bytes(signature),
    )


def build_signed_pre_command(
    payload: UpdateSecurityCredentials,
    *,
    originator: EUI64,
    recipient: EUI64,
    signer: Signer,
    key: str,
    date_time: DlmsDateTime | None = None,
) -> GeneralSigningMessage:
    """Header (``pre_command_header``) ‖ DER payload ‖ 0x40 ‖ signature by ``key``.

    ``.encode()`` gives the bytes to send; ``.signature`` the 64 octets r‖s."""
    header = pre_command_header(
        payload, originator=originator, recipient=recipient, date_time=date_time
    )
    return sign_pre_command(GeneralSigningMessage.build(header, payload), signer=signer, key=key)


def _public_key(key: bytes | ec.EllipticCurvePublicKey) -> ec.EllipticCurvePublicKey:
    if isinstance(key, ec.EllipticCurvePublicKey):
        return _p256(key)
    try:
        der = bytes(key)
    except (ValueError, TypeError) as e:
        raise InvalidGbcs(f"not a DER SubjectPublicKeyInfo ({e})", field="public_key") from None
    return _loaded_public_key(der)


@functools.lru_cache(maxsize=256)
def _loaded_public_key(der: bytes) -> ec.EllipticCurvePublicKey:
    """The key of a DER SubjectPublicKeyInfo, remembered: a fleet's Devices hold the same few
    credentials (loading is not verifying: every signature is still verified)."""
    try:
        loaded = load_der_public_key(der)
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        raise InvalidGbcs(f"not a DER SubjectPublicKeyInfo ({e})", field="public_key") from None
    return _p256(loaded)


def _p256(key: object) -> ec.EllipticCurvePublicKey:
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise InvalidGbcs("GBCS keys are ECDSA P-256 (DOMAIN.md 6)", field="public_key")
    return key


def verify_signature(
    message: bytes | GeneralSigningMessage | Command, public_key: bytes | ec.EllipticCurvePublicKey
) -> bool:
    """Whether the message's signature verifies with ``public_key`` (DER SubjectPublicKeyInfo,
    as ``Signer.public_key`` and ``Certificate.public_key`` give it, or a ``cryptography``
    key). False for an unsigned message. Bytes may be a Command or a General Signing message.
    """
    key = _public_key(public_key)
    found = decode_message(message) if isinstance(message, bytes) else message
    signed = found.message if isinstance(found, Command) else found
    if signed.signature is None or len(signed.signature) != SIGNATURE_LENGTH:
        return False
    r = int.from_bytes(signed.signature[:_HALF], "big")
    s = int.from_bytes(signed.signature[_HALF:], "big")
    try:
        key.verify(encode_dss_signature(r, s), signed.signed_data, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True
