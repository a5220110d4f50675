"""Reading DUIS requests: hardened parse, schema validation, then the SRV 6.23 values."""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Final

from lxml import etree

from adapters.codecs.duis.errors import InvalidRequest
from adapters.codecs.duis.model import (
    SRV_6_23,
    CosUpdateRequest,
    ReplacementCertificates,
    RequestHeader,
    RequestId,
    UpdateSecurityCredentialsCoS,
)
from adapters.codecs.duis.safe_xml import parse_xml
from adapters.codecs.duis.schema import DuisSchema
from domain.errors import InvalidIdentifier

SR_NS: Final = "http://www.dccinterface.co.uk/ServiceUserGateway"

_DATE_TIME: Final = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})?", re.ASCII
)
_BOOLEANS: Final = {"true": True, "1": True, "false": False, "0": False}
_WHITESPACE: Final = re.compile(r"\s+")


def _sr(name: str) -> str:
    return f"{{{SR_NS}}}{name}"


def parse_document(data: bytes | str, schema: DuisSchema) -> etree._Element:
    """The root of a DUIS document read safely and valid against ``schema``; raises else."""
    root = parse_xml(data)
    schema.validate(root)
    return root


def _child(parent: etree._Element, name: str) -> etree._Element | None:
    return parent.find(_sr(name))


def _required(parent: etree._Element, name: str) -> etree._Element:
    found = _child(parent, name)
    if found is None:
        raise InvalidRequest(f"{etree.QName(parent).localname} has no {name}")
    return found


def _text(element: etree._Element) -> str:
    return (element.text or "").strip()


def _integer(element: etree._Element) -> int:
    try:
        return int(_text(element), 10)
    except ValueError:
        raise InvalidRequest(
            f"{etree.QName(element).localname} {_text(element)!r} is not a whole number"
        ) from None


def _boolean(element: etree._Element) -> bool:
    try:
        return _BOOLEANS[_text(element)]
    except KeyError:
        raise InvalidRequest(
            f"{etree.QName(element).localname} {_text(element)!r} is not a boolean"
        ) from None


def _der(element: etree._Element) -> bytes:
    try:
        return base64.b64decode(_WHITESPACE.sub("", element.text or ""), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest(f"{etree.QName(element).localname} is not base64") from None


def parse_date_time(text: str) -> datetime:
    """An ``xs:dateTime`` with a time zone, as an aware datetime (fractions beyond µs dropped)."""
    found = _DATE_TIME.fullmatch(text.strip())
    if found is None:
        raise InvalidRequest(f"{text!r} is not a date-time (YYYY-MM-DDThh:mm:ss[.f]Z)")
    year, month, day, hour, minute, second, fraction, zone = found.groups()
    if zone is None:
        raise InvalidRequest(f"date-time {text!r} has no time zone; DUIS times carry one (Z)")
    if zone == "Z":
        tz = UTC
    else:
        sign = -1 if zone[0] == "-" else 1
        tz = timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    try:
        value = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second),
            int((fraction or "0")[:6].ljust(6, "0")),
            tzinfo=tz,
        )
    except ValueError as e:
        raise InvalidRequest(f"date-time {text!r} is out of range: {e}") from None
    return value.astimezone(UTC)


def _request_id(element: etree._Element) -> RequestId:
    try:
        return RequestId.parse(_text(element))
    except InvalidIdentifier as e:
        raise InvalidRequest(e.message) from None


def read_header(root: etree._Element) -> RequestHeader:
    """The header of a DUIS ``sr:Request``."""
    if root.tag != _sr("Request"):
        raise InvalidRequest(f"not a DUIS request: the root element is {root.tag}")
    header = _required(root, "Header")
    first = _child(header, "FirstInSequence")
    preceding = _child(header, "PrecedingServiceRequestID")
    return RequestHeader(
        request_id=_request_id(_required(header, "RequestID")),
        command_variant=_integer(_required(header, "CommandVariant")),
        service_reference=_text(_required(header, "ServiceReference")),
        service_reference_variant=_text(_required(header, "ServiceReferenceVariant")),
        first_in_sequence=None if first is None else _boolean(first),
        preceding_request_id=None if preceding is None else _request_id(preceding),
    )


def read_cos_update_request(root: etree._Element) -> CosUpdateRequest:
    """The SRV 6.23 values of a (schema-valid) DUIS request; ``INVALID_REQUEST`` otherwise."""
    header = read_header(root)
    if header.service_reference != SRV_6_23 or header.service_reference_variant != SRV_6_23:
        raise InvalidRequest(
            f"not an SRV 6.23 request: service reference {header.service_reference}, "
            f"variant {header.service_reference_variant}"
        )
    body = _required(_required(root, "Body"), "UpdateSecurityCredentialsCoS")
    execution = _child(body, "ExecutionDateTime")
    top_up_floor = _child(body, "SupplierPrepaymentTopUpFloorSeqNumber")
    replacement = _required(body, "SupplierReplacementCertificates")
    key_agreement = _child(replacement, "KeyAgreementCertificate")
    top_up = _child(replacement, "KeyAgreementTopUpCertificate")
    path = _required(body, "CertificationPathCertificates")
    return CosUpdateRequest(
        schema_version=(root.get("schemaVersion") or "").strip(),
        header=header,
        body=UpdateSecurityCredentialsCoS(
            execution_date_time=None if execution is None else parse_date_time(_text(execution)),
            supplier_floor_seq_number=_integer(_required(body, "SupplierFloorSeqNumber")),
            supplier_prepayment_top_up_floor_seq_number=(
                None if top_up_floor is None else _integer(top_up_floor)
            ),
            replacement_certificates=ReplacementCertificates(
                digital_signing=_der(_required(replacement, "DigitalSigningCertificate")),
                key_agreement=None if key_agreement is None else _der(key_agreement),
                key_agreement_top_up=None if top_up is None else _der(top_up),
            ),
            certification_path_certificates=tuple(
                _der(certificate) for certificate in path.iterchildren(_sr("Certificate"))
            ),
            apply_time_based_cpv_checks=_boolean(_required(body, "ApplyTimeBasedCPVChecks")),
            import_mpxn=_text(_required(body, "ImportMPxN")),
        ),
    )


def parse_cos_update_request(data: bytes | str, schema: DuisSchema) -> CosUpdateRequest:
    """Read an SRV 6.23 request: refuse hostile XML, validate against the schema, read values.

    The signature is not checked here: see :func:`adapters.codecs.duis.verify_signature`.
    """
    return read_cos_update_request(parse_document(data, schema))
