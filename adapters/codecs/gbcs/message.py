"""GBCS message framing: a General Signing message (a Pre-Command, a Signed Pre-Command, a
response or an alert) and a Command (the same inside the DCC's MAC header and MAC).

A General Signing message is Grouping Header ‖ payload, then, when signed, the signature
length (0x40) and 64 octets r‖s. The signature is ECDSA P-256 / SHA-256 over the Grouping
Header without its leading 0xDF tag, followed by the payload (``signed_data``).

A Command is::

    DD 00 00 00 00 00 00    general-ciphering tag; transaction-id, originator and recipient
                            system titles, date-time and other-information all empty; no
                            key-info (GBCS takes them from the Grouping Header)
    <length>                ciphered-service length: security header ‖ message ‖ MAC
    <1 octet> <4 octets>    security header: security control (0x11 in the RTDS vectors) and
                            invocation counter
    <General Signing message>
    <12 octets>             the MAC the DCC applies
"""

from __future__ import annotations

from typing import Final

import attrs

from adapters.codecs.gbcs.ber import encode_length, read_length
from adapters.codecs.gbcs.credentials import (
    decode_alert,
    decode_response,
    decode_update_security_credentials,
    encode_payload,
)
from adapters.codecs.gbcs.errors import InvalidGbcs
from adapters.codecs.gbcs.header import (
    GENERAL_SIGNING_TAG,
    CraFlag,
    GeneralSigningHeader,
    decode_header,
    encode_header,
)
from adapters.codecs.gbcs.payload import (
    UPDATE_SECURITY_CREDENTIALS_ALERT_CODE,
    CredentialsReplacementMode,
    Payload,
    mode_of_message_code,
)

SIGNATURE_LENGTH: Final = 64
MAC_LENGTH: Final = 12
GENERAL_CIPHERING_TAG: Final = 0xDD
CIPHERING_PREAMBLE: Final = bytes([GENERAL_CIPHERING_TAG, 0, 0, 0, 0, 0, 0])
SECURITY_HEADER_LENGTH: Final = 5
MAX_INVOCATION_COUNTER: Final = 0xFFFFFFFF


def _signature(_instance: object, _attribute: object, value: bytes | None) -> None:
    if value is not None and len(value) not in {0, SIGNATURE_LENGTH}:
        raise InvalidGbcs(
            f"a GBCS signature is 64 octets (r‖s) or empty, not {len(value)}", field="signature"
        )


@attrs.frozen(kw_only=True)
class GeneralSigningMessage:
    """A General Signing message as sent: the header (value and bytes), the payload bytes and
    the signature. ``signature`` is None when the message ends after the payload (a
    Pre-Command as the DCC returns it for signing), ``b""`` for a signature length of 0.

    Build one with ``GeneralSigningMessage.build``; a decoded one keeps the header bytes it
    was read from, so that ``signed_data`` is exactly what was signed."""

    header: GeneralSigningHeader
    header_bytes: bytes
    payload: bytes
    signature: bytes | None = attrs.field(default=None, validator=_signature)

    @classmethod
    def build(
        cls,
        header: GeneralSigningHeader,
        payload: bytes | Payload,
        signature: bytes | None = None,
    ) -> GeneralSigningMessage:
        body = payload if isinstance(payload, bytes) else encode_payload(payload)
        return cls(
            header=header,
            header_bytes=encode_header(header, len(body)),
            payload=body,
            signature=signature,
        )

    @property
    def signed_data(self) -> bytes:
        """What the signature covers: the header without its 0xDF tag, then the payload."""
        return self.header_bytes[1:] + self.payload

    @property
    def pre_command(self) -> bytes:
        """Header ‖ payload: the message without its signature."""
        return self.header_bytes + self.payload

    def encode(self) -> bytes:
        if self.signature is None:
            return self.pre_command
        return self.pre_command + encode_length(len(self.signature)) + self.signature

    def content(self) -> Payload | None:
        """The payload decoded, for the CS02b messages this codec reads; None for others."""
        return decode_content(self.header, self.payload)


@attrs.frozen(kw_only=True)
class Command:
    """A GBCS Command: the MAC header, the Signed Pre-Command part, and the MAC."""

    security_control: int
    invocation_counter: int
    message: GeneralSigningMessage
    mac: bytes

    def __attrs_post_init__(self) -> None:
        if not 0 <= self.security_control <= 0xFF:  # noqa: PLR2004
            raise InvalidGbcs("must be one octet", field="security_control")
        if not 0 <= self.invocation_counter <= MAX_INVOCATION_COUNTER:
            raise InvalidGbcs("must be four octets", field="invocation_counter")
        if len(self.mac) != MAC_LENGTH:
            raise InvalidGbcs(f"a MAC is 12 octets, not {len(self.mac)}", field="mac")

    @property
    def mac_header(self) -> bytes:
        """General-ciphering preamble, ciphered-service length and security header."""
        inner = SECURITY_HEADER_LENGTH + len(self.message.encode()) + MAC_LENGTH
        return (
            CIPHERING_PREAMBLE
            + encode_length(inner)
            + bytes([self.security_control])
            + self.invocation_counter.to_bytes(4, "big")
        )

    def encode(self) -> bytes:
        return self.mac_header + self.message.encode() + self.mac


def decode_general_signing(
    data: bytes, *, offset: int = 0, end: int | None = None
) -> GeneralSigningMessage:
    """Read a General Signing message filling ``data[offset:end]`` exactly."""
    if not isinstance(data, bytes):
        raise InvalidGbcs(f"expected bytes, not {type(data).__name__}")
    stop = len(data) if end is None else end
    window = data[:stop]
    decoded = decode_header(window, offset)
    payload_end = decoded.content_offset + decoded.content_length
    payload = window[decoded.content_offset : payload_end]
    signature: bytes | None = None
    if payload_end < stop:
        length, at = read_length(window, payload_end, stop, field="signature_length")
        if length not in {0, SIGNATURE_LENGTH}:
            raise InvalidGbcs(
                f"signature length must be 64 (0x40) or 0, found {length}",
                offset=payload_end,
                field="signature_length",
            )
        if at + length != stop:
            raise InvalidGbcs(
                f"{length} signature octets announced, {stop - at} follow",
                offset=payload_end,
                field="signature",
            )
        signature = window[at:stop]
    return GeneralSigningMessage(
        header=decoded.header,
        header_bytes=window[offset : decoded.content_offset],
        payload=payload,
        signature=signature,
    )


def decode_command(data: bytes) -> Command:
    """Read a Command: MAC header ‖ General Signing message ‖ 12-octet MAC."""
    if not isinstance(data, bytes):
        raise InvalidGbcs(f"expected bytes, not {type(data).__name__}")
    for i, expected in enumerate(CIPHERING_PREAMBLE):
        if i >= len(data):
            raise InvalidGbcs("the MAC header ends early", offset=i, field="mac_header")
        if data[i] != expected:
            raise InvalidGbcs(
                f"expected 0x{expected:02X}, found 0x{data[i]:02X} (GBCS leaves the general-"
                "ciphering fields empty and has no key-info)",
                offset=i,
                field="mac_header",
            )
    length, at = read_length(data, len(CIPHERING_PREAMBLE), len(data), field="ciphered_length")
    if at + length != len(data):
        raise InvalidGbcs(
            f"ciphered-service length {length}, but {len(data) - at} bytes follow",
            offset=len(CIPHERING_PREAMBLE),
            field="ciphered_length",
        )
    if length < SECURITY_HEADER_LENGTH + MAC_LENGTH + 1:
        raise InvalidGbcs(
            f"ciphered-service length {length} leaves no room for a message",
            offset=len(CIPHERING_PREAMBLE),
            field="ciphered_length",
        )
    message_start = at + SECURITY_HEADER_LENGTH
    return Command(
        security_control=data[at],
        invocation_counter=int.from_bytes(data[at + 1 : message_start], "big"),
        message=decode_general_signing(data, offset=message_start, end=len(data) - MAC_LENGTH),
        mac=data[len(data) - MAC_LENGTH :],
    )


def decode_message(data: bytes) -> GeneralSigningMessage | Command:
    """Read a Command (starts 0xDD) or a General Signing message (starts 0xDF)."""
    if not isinstance(data, bytes) or not data:
        raise InvalidGbcs("no bytes to decode")
    if data[0] == GENERAL_CIPHERING_TAG:
        return decode_command(data)
    if data[0] == GENERAL_SIGNING_TAG:
        return decode_general_signing(data)
    raise InvalidGbcs(
        f"a GBCS message starts 0xDD (a Command) or 0xDF (General Signing), not 0x{data[0]:02X}",
        offset=0,
    )


def decode_content(header: GeneralSigningHeader, payload: bytes) -> Payload | None:
    """Decode ``payload`` by the header's message code and CRA flag: CS02b commands (0x0102 to
    0x0109), their responses, and the CS02b alert (0x00CB). None for other messages."""
    if header.message_code == UPDATE_SECURITY_CREDENTIALS_ALERT_CODE:
        return decode_alert(payload) if header.cra_flag is CraFlag.ALERT else None
    mode = mode_of_message_code(header.message_code)
    if mode is None:
        return None
    if header.cra_flag is CraFlag.COMMAND:
        command = decode_update_security_credentials(payload)
        _check_mode(header.message_code, command.mode)
        return command
    if header.cra_flag is CraFlag.RESPONSE:
        response = decode_response(payload)
        if response.execution_outcome is not None:
            _check_mode(header.message_code, response.execution_outcome.mode)
        return response
    return None


def _check_mode(message_code: int, found: CredentialsReplacementMode) -> None:
    expected = mode_of_message_code(message_code)
    if found is not expected:
        raise InvalidGbcs(
            f"message code 0x{message_code:04X} is mode {expected}, the payload says mode "
            f"{found.value} ({found.name})",
            field="credentialsReplacementMode",
        )
