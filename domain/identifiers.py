"""Identifiers and small value objects of the ETMAD, validated where they are made.

Every value object here has a canonical text or JSON form (``to_json``) and a strict reader
(``from_json`` / ``parse``); the event mapper and the command interface use nothing else.
"""

from __future__ import annotations

import enum
import functools
import re
import unicodedata
from typing import Any, Final, Self

import attrs

from domain.errors import InvalidIdentifier

_HEX = "0123456789ABCDEF"
_EUI64_HYPHENATED: Final = re.compile(r"[0-9A-Fa-f]{2}(?:-[0-9A-Fa-f]{2}){7}")
_EUI64_PLAIN: Final = re.compile(r"[0-9A-Fa-f]{16}")
_DIGITS: Final = re.compile(r"[0-9]+")
_SERIAL_HEX: Final = re.compile(r"0[xX][0-9A-Fa-f]+")

# The MPAN core check digit: weights on the first twelve digits, sum mod 11 mod 10.
MPAN_CHECK_WEIGHTS: Final = (3, 5, 7, 13, 17, 19, 23, 29, 31, 37, 41, 43)
MPRN_MIN_DIGITS: Final = 6
MPRN_MAX_DIGITS: Final = 10
MODEL_FIELD_MAX_LENGTH: Final = 64


@functools.lru_cache(maxsize=1 << 18)
def _eui64_text(value: int) -> str:
    """The canonical text of an EUI-64 (remembered: ids are formatted many times a day)."""
    raw = f"{value:016X}"
    return "-".join(raw[i : i + 2] for i in range(0, 16, 2))


@attrs.frozen(order=True)
class EUI64:
    """A Device or party identifier: 8 octets, written ``00-DB-12-34-56-78-90-A0`` in DUIS.

    Accepts exactly two forms, case-insensitively: eight hyphen-separated hex pairs, or sixteen
    hex digits. Renders canonically as upper-case hyphenated pairs.
    """

    value: int

    @classmethod
    def parse(cls, text: str) -> Self:
        if not isinstance(text, str):
            raise InvalidIdentifier(
                f"an EUI-64 must be text, not {type(text).__name__}", code="INVALID_EUI64"
            )
        if _EUI64_HYPHENATED.fullmatch(text) or _EUI64_PLAIN.fullmatch(text):
            return cls(int(text.replace("-", ""), 16))
        raise InvalidIdentifier(
            f"{text!r} is not an EUI-64: expected 8 hex pairs joined by '-' "
            "(00-DB-12-34-56-78-90-A0) or 16 hex digits (00db1234567890a0)",
            code="INVALID_EUI64",
        )

    def __attrs_post_init__(self) -> None:
        if not 0 <= self.value < 1 << 64:
            raise InvalidIdentifier(
                f"EUI-64 value out of range: {self.value}", code="INVALID_EUI64"
            )

    def __str__(self) -> str:
        return _eui64_text(self.value)

    def to_json(self) -> str:
        return str(self)

    @classmethod
    def from_json(cls, data: Any) -> Self:  # noqa: ANN401 — reads untrusted JSON
        return cls.parse(data)


def mpan_check_digit(first_twelve: str) -> int:
    """The standard MPAN core check digit of the first twelve digits."""
    return sum(int(d) * w for d, w in zip(first_twelve, MPAN_CHECK_WEIGHTS, strict=True)) % 11 % 10


@attrs.frozen(order=True)
class MPAN:
    """An electricity Meter Point Administration Number core: 13 digits, the last a check digit.

    The check digit is verified unless ``check_digit=False`` is passed to :meth:`parse`; the
    setting ``mpan_check_digit = relaxed`` does that at the edge, because the DCC's own test
    MPANs (such as ``1312345678333``) fail the check.
    """

    digits: str

    def __attrs_post_init__(self) -> None:
        if len(self.digits) != 13 or not _DIGITS.fullmatch(self.digits):  # noqa: PLR2004
            raise InvalidIdentifier(
                f"{self.digits!r} is not an MPAN: expected 13 digits", code="INVALID_MPAN"
            )

    @classmethod
    def parse(cls, text: str, *, check_digit: bool = True) -> Self:
        if not isinstance(text, str):
            raise InvalidIdentifier("an MPAN must be text", code="INVALID_MPAN")
        mpan = cls(text)
        if check_digit and not mpan.has_valid_check_digit:
            raise InvalidIdentifier(
                f"MPAN {text} fails its check digit (expected {mpan_check_digit(text[:12])}, "
                f"found {text[12]}); set mpan_check_digit=relaxed to accept test MPANs",
                code="INVALID_MPAN",
            )
        return mpan

    @property
    def has_valid_check_digit(self) -> bool:
        return mpan_check_digit(self.digits[:12]) == int(self.digits[12])

    def __str__(self) -> str:
        return self.digits

    def to_json(self) -> str:
        return self.digits

    @classmethod
    def from_json(cls, data: Any) -> Self:  # noqa: ANN401 — reads stored JSON
        # Stored MPANs were validated (under the settings of their day) when first accepted.
        return cls(data)


@attrs.frozen(order=True)
class MPRN:
    """A gas Meter Point Reference Number: 6 to 10 digits (no check digit is applied)."""

    digits: str

    def __attrs_post_init__(self) -> None:
        if not (
            _DIGITS.fullmatch(self.digits)
            and MPRN_MIN_DIGITS <= len(self.digits) <= MPRN_MAX_DIGITS
        ):
            raise InvalidIdentifier(
                f"{self.digits!r} is not an MPRN: expected 6 to 10 digits", code="INVALID_MPRN"
            )

    @classmethod
    def parse(cls, text: str) -> Self:
        if not isinstance(text, str):
            raise InvalidIdentifier("an MPRN must be text", code="INVALID_MPRN")
        return cls(text)

    def __str__(self) -> str:
        return self.digits

    def to_json(self) -> str:
        return self.digits

    @classmethod
    def from_json(cls, data: Any) -> Self:  # noqa: ANN401 — reads stored JSON
        return cls(data)


MPxN = MPAN | MPRN


def parse_mpxn(text: str, *, mpan_check_digit: bool = True) -> MPxN:
    """Read an MPxN: 13 digits is an MPAN, 6 to 10 digits an MPRN."""
    if isinstance(text, str) and _DIGITS.fullmatch(text):
        if len(text) == 13:  # noqa: PLR2004
            return MPAN.parse(text, check_digit=mpan_check_digit)
        if MPRN_MIN_DIGITS <= len(text) <= MPRN_MAX_DIGITS:
            return MPRN.parse(text)
    raise InvalidIdentifier(
        f"{text!r} is not an MPxN: expected an MPAN (13 digits) or an MPRN (6 to 10 digits)",
        code="INVALID_MPXN",
    )


def mpxn_from_json(data: Any) -> MPxN:  # noqa: ANN401 — reads stored JSON
    """Read a stored MPxN (already validated when first accepted)."""
    text = str(data)
    return MPAN(text) if len(text) == 13 else MPRN(text)  # noqa: PLR2004


def _model_field(name: str) -> Any:  # noqa: ANN401 — an attrs field definition
    def check(_instance: object, _attribute: object, value: object) -> None:
        if not isinstance(value, str) or not value.strip() or value != value.strip():
            raise InvalidIdentifier(
                f"Device Model {name} must be non-empty text without surrounding spaces",
                code="INVALID_DEVICE_MODEL",
            )
        if len(value) > MODEL_FIELD_MAX_LENGTH or (
            # a printable string has no character of category C (isprintable is the fast test)
            not value.isprintable()
            and any(unicodedata.category(ch).startswith("C") for ch in value)
        ):
            raise InvalidIdentifier(
                f"Device Model {name} {value!r} is too long or has control characters",
                code="INVALID_DEVICE_MODEL",
            )

    return attrs.field(validator=check)


@attrs.frozen(order=True)
class DeviceModelKey:
    """A Device Model: manufacturer, model, hardware version and firmware version.

    A firmware upgrade moves a Device to another Device Model (DCC response para 19).
    """

    manufacturer: str = _model_field("manufacturer")
    model: str = _model_field("model")
    hardware_version: str = _model_field("hardware_version")
    firmware_version: str = _model_field("firmware_version")

    @property
    def family(self) -> tuple[str, str, str]:
        """Manufacturer, model and hardware version: the siblings of ETMAD 6.2 share these."""
        return (self.manufacturer, self.model, self.hardware_version)

    def is_sibling_of(self, other: DeviceModelKey) -> bool:
        return self.family == other.family

    def __str__(self) -> str:
        return f"{self.manufacturer}/{self.model}/{self.hardware_version}/{self.firmware_version}"

    def to_json(self) -> dict[str, str]:
        return {
            "manufacturer": self.manufacturer,
            "model": self.model,
            "hardware_version": self.hardware_version,
            "firmware_version": self.firmware_version,
        }

    @classmethod
    def from_json(cls, data: Any) -> Self:  # noqa: ANN401 — reads untrusted JSON
        if not isinstance(data, dict) or set(data) != {
            "manufacturer",
            "model",
            "hardware_version",
            "firmware_version",
        }:
            raise InvalidIdentifier(
                "a Device Model is an object with exactly manufacturer, model, "
                "hardware_version and firmware_version",
                code="INVALID_DEVICE_MODEL",
            )
        return cls(
            data["manufacturer"], data["model"], data["hardware_version"], data["firmware_version"]
        )


@attrs.frozen(order=True)
class CertificateId:
    """An SMKI Certificate ID: the certificate's serial number and its issuer."""

    serial: int
    issuer: str

    def __attrs_post_init__(self) -> None:
        if self.serial < 0 or self.serial >= 1 << 160:
            raise InvalidIdentifier(
                f"certificate serial out of range: {self.serial}", code="INVALID_CERTIFICATE_ID"
            )
        if not self.issuer.strip():
            raise InvalidIdentifier(
                "certificate issuer must be non-empty", code="INVALID_CERTIFICATE_ID"
            )

    def __str__(self) -> str:
        return f"{self.serial}@{self.issuer}"

    def to_json(self) -> dict[str, str]:
        return {"serial": str(self.serial), "issuer": self.issuer}

    @classmethod
    def from_json(cls, data: Any) -> Self:  # noqa: ANN401 — reads untrusted JSON
        if not isinstance(data, dict) or set(data) != {"serial", "issuer"}:
            raise InvalidIdentifier(
                "a Certificate ID is an object with serial and issuer",
                code="INVALID_CERTIFICATE_ID",
            )
        serial, issuer = data["serial"], data["issuer"]
        if isinstance(serial, bool) or not isinstance(issuer, str):
            raise InvalidIdentifier(
                "certificate serial must be a number, issuer text", code="INVALID_CERTIFICATE_ID"
            )
        if isinstance(serial, str):
            text = serial.strip()
            # ASCII digits only: int() alone would also take '1_000', '+5' and non-ASCII digits.
            try:
                if _SERIAL_HEX.fullmatch(text):
                    serial = int(text, 16)
                elif _DIGITS.fullmatch(text):
                    serial = int(text, 10)
                else:
                    raise ValueError(text)  # noqa: TRY301 — one refusal for every bad form
            except ValueError:
                raise InvalidIdentifier(
                    f"certificate serial {serial!r} is not a decimal or 0x-hex number",
                    code="INVALID_CERTIFICATE_ID",
                ) from None
        if not isinstance(serial, int):
            raise InvalidIdentifier(
                "certificate serial must be a number", code="INVALID_CERTIFICATE_ID"
            )
        return cls(serial, issuer)


class DeviceType(enum.StrEnum):
    """DUIS DeviceType values of the Devices the ETMAD covers."""

    ESME = "ESME"
    GSME = "GSME"
    CHF = "CHF"
    GPF = "GPF"
    PPMID = "PPMID"
    HCALCS = "HCALCS"
    IHD = "IHD"
    CAD = "CAD"

    @property
    def connects_to_comms_hub(self) -> bool:
        """Whether a Device of this type is linked to a Communications Hub by comms_hub_id."""
        return self in {DeviceType.ESME, DeviceType.GSME, DeviceType.GPF}


class SmetsGeneration(enum.StrEnum):
    SMETS1 = "SMETS1"
    SMETS2_PLUS = "SMETS2+"


class CosParty(enum.StrEnum):
    """Which party a Device's CoS credential pertains to (ETMAD section 2)."""

    TCOS = "TCoS"
    ECOS = "ECoS"
