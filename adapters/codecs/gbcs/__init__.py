"""GBCS codec: CS02b Update Security Credentials (modes 6 and 7 and what the RTDS vectors
need), the General Signing Grouping Header, Signed Pre-Commands and Commands (``docs/gbcs.md``).

What the migration and SRV 6.23 code call::

    payload = transcos_by_transcos(counter=..., replacement=der, certification_path=[oca],
                                   apply_time_based_cpv_checks=CpvChecks.DISAPPLY)
    payload = supplier_by_transcos(counter=..., digital_signing=der, key_agreement=der, ...)
    signed = build_signed_pre_command(payload, originator=cos_party, recipient=device,
                                      signer=signer, key="tcos-ds")
    wire = signed.encode()                        # header ‖ payload ‖ 0x40 ‖ r‖s
    verify_signature(wire, public_key_der)        # True / False
    response = decode_message(response_bytes)     # GeneralSigningMessage (or Command)
    outcome = response.content()                  # UpdateSecurityCredentialsResponse, ...

Every decoder raises ``InvalidGbcs`` (code ``INVALID_GBCS``) for bad input, and nothing else.
"""

from adapters.codecs.gbcs.ber import LengthForm
from adapters.codecs.gbcs.cos import (
    SUPPLIER_DIGITAL_SIGNING_CELL,
    SUPPLIER_KEY_AGREEMENT_CELL,
    SUPPLIER_TOP_UP_KEY_AGREEMENT_CELL,
    TRANSCOS_CELL,
    supplier_by_transcos,
    transcos_by_transcos,
)
from adapters.codecs.gbcs.credentials import (
    decode_alert,
    decode_response,
    decode_update_security_credentials,
    encode_alert,
    encode_payload,
    encode_response,
    encode_update_security_credentials,
)
from adapters.codecs.gbcs.errors import InvalidGbcs
from adapters.codecs.gbcs.header import (
    CraFlag,
    DecodedHeader,
    DlmsDateTime,
    GeneralSigningHeader,
    decode_header,
    encode_header,
)
from adapters.codecs.gbcs.message import (
    Command,
    GeneralSigningMessage,
    decode_command,
    decode_content,
    decode_general_signing,
    decode_message,
)
from adapters.codecs.gbcs.payload import (
    UPDATE_SECURITY_CREDENTIALS_ALERT_CODE,
    AuthorisingRemotePartyControl,
    CpvChecks,
    CredentialsReplacementMode,
    ExecutionOutcome,
    Payload,
    RemotePartySeqNumberChange,
    ReplacementOutcome,
    SeqNumberUsage,
    SpecialistSeqNumber,
    StatusCode,
    TrustAnchorReplacement,
    UpdateSecurityCredentials,
    UpdateSecurityCredentialsAlert,
    UpdateSecurityCredentialsResponse,
    mode_of_message_code,
)
from adapters.codecs.gbcs.signing import (
    build_signed_pre_command,
    pre_command_header,
    sign_pre_command,
    verify_signature,
)
from adapters.codecs.gbcs.view import decode_view, message_view

__all__ = [
    "SUPPLIER_DIGITAL_SIGNING_CELL",
    "SUPPLIER_KEY_AGREEMENT_CELL",
    "SUPPLIER_TOP_UP_KEY_AGREEMENT_CELL",
    "TRANSCOS_CELL",
    "UPDATE_SECURITY_CREDENTIALS_ALERT_CODE",
    "AuthorisingRemotePartyControl",
    "Command",
    "CpvChecks",
    "CraFlag",
    "CredentialsReplacementMode",
    "DecodedHeader",
    "DlmsDateTime",
    "ExecutionOutcome",
    "GeneralSigningHeader",
    "GeneralSigningMessage",
    "InvalidGbcs",
    "LengthForm",
    "Payload",
    "RemotePartySeqNumberChange",
    "ReplacementOutcome",
    "SeqNumberUsage",
    "SpecialistSeqNumber",
    "StatusCode",
    "TrustAnchorReplacement",
    "UpdateSecurityCredentials",
    "UpdateSecurityCredentialsAlert",
    "UpdateSecurityCredentialsResponse",
    "build_signed_pre_command",
    "decode_alert",
    "decode_command",
    "decode_content",
    "decode_general_signing",
    "decode_header",
    "decode_message",
    "decode_response",
    "decode_update_security_credentials",
    "decode_view",
    "encode_alert",
    "encode_header",
    "encode_payload",
    "encode_response",
    "encode_update_security_credentials",
    "message_view",
    "mode_of_message_code",
    "pre_command_header",
    "sign_pre_command",
    "supplier_by_transcos",
    "transcos_by_transcos",
    "verify_signature",
]
