"""The JSON view of a decoded GBCS message: what ``etmad gbcs decode`` prints (``docs/gbcs.md``).

Counters and sequence numbers (up to 2^63-1) are decimal strings, so that JSON readers holding
numbers as doubles keep them exact; bytes are upper-case hex; EUI-64s are hyphenated pairs;
enumerations are their names. Certificates show their DER and, when readable, a summary.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, Final

import attrs

from adapters.codecs.gbcs.header import CraFlag, DlmsDateTime, GeneralSigningHeader
from adapters.codecs.gbcs.message import (
    MAC_LENGTH,
    SECURITY_HEADER_LENGTH,
    Command,
    GeneralSigningMessage,
    decode_message,
)
from adapters.codecs.gbcs.payload import (
    UPDATE_SECURITY_CREDENTIALS_ALERT_CODE,
    ExecutionOutcome,
    Payload,
    UpdateSecurityCredentials,
    UpdateSecurityCredentialsAlert,
    UpdateSecurityCredentialsResponse,
    mode_of_message_code,
)
from adapters.crypto.smki import parse_certificate
from domain.errors import DomainError
from domain.identifiers import EUI64

VIEW_VERSION: Final = 1
_COUNTERS: Final = frozenset(
    {
        "originator_counter",
        "seq_number",
        "floor_seq_number",
        "new_remote_party_floor_seq_number",
        "supplementary_remote_party_counter",
        "supplementary_originator_counter",
    }
)
_CERTIFICATES: Final = frozenset(
    {"certificate", "certification_path", "supplementary_ka_certificate"}
)
_PAYLOAD_TYPES: Final = {
    UpdateSecurityCredentials: "UpdateSecurityCredentials",
    UpdateSecurityCredentialsResponse: "UpdateSecurityCredentialsResponse",
    UpdateSecurityCredentialsAlert: "UpdateSecurityCredentialsAlert",
}


def message_name(header: GeneralSigningHeader) -> str | None:
    """What the message code names, for the messages this codec reads."""
    if header.message_code == UPDATE_SECURITY_CREDENTIALS_ALERT_CODE:
        return "CS02b Update Security Credentials alert"
    mode = mode_of_message_code(header.message_code)
    return None if mode is None else f"CS02b Update Security Credentials ({mode.name})"


def certificate_view(der: bytes) -> dict[str, Any]:
    """A certificate's DER and, when it reads as X.509, who it is and when it is valid."""
    view: dict[str, Any] = {"der": der.hex().upper(), "length": len(der)}
    try:
        certificate = parse_certificate(der)
    except DomainError as e:
        view["unreadable"] = e.message
        return view
    view |= {
        "serial": str(certificate.certificate_id.serial),
        "issuer": certificate.certificate_id.issuer,
        "subject": certificate.subject,
        "not_before": certificate.not_before.isoformat(),
        "not_after": certificate.not_after.isoformat(),
        "subject_key_id": None
        if certificate.subject_key_id is None
        else certificate.subject_key_id.hex().upper(),
    }
    return view


def _scalar(value: Any, name: str) -> Any:  # noqa: ANN401 — any scalar of a decoded value
    if isinstance(value, bool):
        return value
    if isinstance(value, enum.Enum):
        return value.value if isinstance(value, str) else value.name
    if isinstance(value, int):
        return str(value) if name in _COUNTERS else value
    if isinstance(value, bytes):
        return value.hex().upper()
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _value(value: Any, name: str = "") -> Any:  # noqa: ANN401, PLR0911 — any decoded value
    if value is None:
        return None
    if isinstance(value, EUI64):
        return str(value)
    if name in _CERTIFICATES:
        if isinstance(value, tuple):
            return [certificate_view(der) for der in value]
        return certificate_view(value)
    if isinstance(value, DlmsDateTime):
        moment = value.to_datetime()
        fields = {f.name: getattr(value, f.name) for f in attrs.fields(DlmsDateTime)}
        return fields | {"iso": None if moment is None else moment.isoformat()}
    if isinstance(value, tuple | list):
        return [_value(item, name) for item in value]
    if attrs.has(type(value)):
        return {f.name: _value(getattr(value, f.name), f.name) for f in attrs.fields(type(value))}
    return _scalar(value, name)


def payload_view(content: Payload) -> dict[str, Any]:
    view: dict[str, Any] = {"type": _PAYLOAD_TYPES[type(content)]}
    view |= _value(content)
    outcome = getattr(content, "execution_outcome", None)
    if isinstance(outcome, ExecutionOutcome):
        view["execution_outcome"]["succeeded"] = outcome.succeeded
    return view


def _kind(message: GeneralSigningMessage) -> str:
    if message.header.cra_flag is CraFlag.COMMAND:
        return "pre_command" if message.signature is None else "signed_pre_command"
    return message.header.cra_flag.name.lower()


def _signed_view(message: GeneralSigningMessage, start: int) -> dict[str, Any]:
    header = _value(message.header)
    header |= {
        "message_code": f"0x{message.header.message_code:04X}",
        "message": message_name(message.header),
        "content_length": len(message.payload),
        "length": len(message.header_bytes),
        "hex": message.header_bytes.hex().upper(),
    }
    content = message.content()
    payload: dict[str, Any] = {"type": None} if content is None else payload_view(content)
    payload |= {"offset": start + len(message.header_bytes), "length": len(message.payload)}
    if content is None:
        payload["hex"] = message.payload.hex().upper()
    signature: dict[str, Any] | None = None
    if message.signature is not None:
        half = len(message.signature) // 2
        signature = {
            "length": len(message.signature),
            "r": message.signature[:half].hex().upper(),
            "s": message.signature[half:].hex().upper(),
        }
    return {
        "header": header,
        "payload": payload,
        "signature": signature,
        "signed_bytes": {"offset": start + 1, "length": len(message.signed_data)},
    }


def message_view(message: GeneralSigningMessage | Command) -> dict[str, Any]:
    """The JSON view of a decoded message (see ``docs/gbcs.md`` for its shape)."""
    if isinstance(message, Command):
        mac_header = message.mac_header
        return {
            "view_version": VIEW_VERSION,
            "kind": "command",
            "length": len(message.encode()),
            "mac_header": {
                "security_control": f"0x{message.security_control:02X}",
                "invocation_counter": message.invocation_counter,
                "ciphered_length": SECURITY_HEADER_LENGTH
                + len(message.message.encode())
                + MAC_LENGTH,
                "length": len(mac_header),
                "hex": mac_header.hex().upper(),
            },
            **_signed_view(message.message, len(mac_header)),
            "mac": {"length": MAC_LENGTH, "hex": message.mac.hex().upper()},
        }
    return {
        "view_version": VIEW_VERSION,
        "kind": _kind(message),
        "length": len(message.encode()),
        **_signed_view(message, 0),
    }


def decode_view(data: bytes) -> dict[str, Any]:
    """Decode ``data`` (a Command or a General Signing message) into its JSON view."""
    return message_view(decode_message(data))
