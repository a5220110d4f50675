"""Distinguished names in one canonical RFC 4514 form: the issuer half of every Certificate ID.

A Certificate ID is (serial, issuer) (SMKI; DOMAIN.md 6). The issuer is read from a certificate's
DER, from DUIS ``X509IssuerName`` text and from our own files, so it must be one string
whatever wrote it. The canonical form (``docs/smki.md``):

- RDNs in RFC 4514 order (the *last* RDN of the DER sequence first), joined by ``,`` with no
  spaces; the attributes of a multi-valued RDN joined by ``+`` and sorted;
- attribute types: the RFC 4514 section 3 short names in upper case (``CN L ST O OU C STREET DC
  UID``); every other type as its dotted OID (``2.5.4.45`` for x500UniqueIdentifier);
- string values: Unicode NFKC, surrounding whitespace removed and inner runs of whitespace as one
  space (RFC 4518 insignificant-space handling), **case kept**, escaped per RFC 4514 section
  2.4 (``\\`` before ``" + , ; < > \\`` and a leading ``#``; other control characters as ``\\XX``);
- values that are not strings (a BIT STRING, for instance): ``#`` and the lower-case hex of
  their DER; a ``#hex`` value that decodes to a string type is rendered as that string.

So the two issuers of the DCC material, ``OU=07`` (UTF8String or PrintableString) then
``CN=Z1`` in the DER, are both ``CN=Z1,OU=07``: what DCC's tooling writes in ``X509IssuerName``.
Case is kept (not folded as RFC 4518 would for matching) because this string is also what we
write into outgoing ``X509IssuerName`` elements; SMKI issuer names are fixed codes (``Z1``,
``07``) written by one CA, so case-sensitive matching of the canonical form is exact enough.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Final

from asn1crypto import core, x509

from domain.errors import InvalidIdentifier

#: The short names RFC 4514 section 3 defines, which the canonical form writes.
SHORT_NAMES: Final = {
    "2.5.4.3": "CN",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "2.5.4.6": "C",
    "2.5.4.9": "STREET",
    "0.9.2342.19200300.100.1.25": "DC",
    "0.9.2342.19200300.100.1.1": "UID",
}

#: Names other tools write, read case-insensitively (RFC 4514 short names and X.520 long names).
_ALIASES: Final = {
    **{short.lower(): oid for oid, short in SHORT_NAMES.items()},
    "commonname": "2.5.4.3",
    "localityname": "2.5.4.7",
    "stateorprovincename": "2.5.4.8",
    "s": "2.5.4.8",
    "organizationname": "2.5.4.10",
    "organizationalunitname": "2.5.4.11",
    "countryname": "2.5.4.6",
    "streetaddress": "2.5.4.9",
    "domaincomponent": "0.9.2342.19200300.100.1.25",
    "userid": "0.9.2342.19200300.100.1.1",
    "serialnumber": "2.5.4.5",
    "sn": "2.5.4.4",
    "surname": "2.5.4.4",
    "title": "2.5.4.12",
    "givenname": "2.5.4.42",
    "initials": "2.5.4.43",
    "generationqualifier": "2.5.4.44",
    "x500uniqueidentifier": "2.5.4.45",
    "dnqualifier": "2.5.4.46",
    "pseudonym": "2.5.4.65",
    "organizationidentifier": "2.5.4.97",
    "emailaddress": "1.2.840.113549.1.9.1",
    "email": "1.2.840.113549.1.9.1",
    "e": "1.2.840.113549.1.9.1",
}

_DESCR: Final = re.compile(r"[A-Za-z][A-Za-z0-9-]*")
_NUMERICOID: Final = re.compile(r"(?:[Oo][Ii][Dd]\.)?([0-9]+(?:\.[0-9]+)+)")
_HEX: Final = re.compile(r"[0-9A-Fa-f]+")
_ESCAPED: Final = frozenset('"+,;<>\\')
_ESCAPABLE: Final = frozenset('"+,;<>\\ #=')
_RDN_SEPARATORS: Final = frozenset(",;")
_SEPARATORS: Final = frozenset(",;+")

#: A value: text, or the DER of a value that is not a string.
Value = str | bytes
Attribute = tuple[str, Value]


def _invalid(text: str, why: str) -> InvalidIdentifier:
    return InvalidIdentifier(
        f"{text!r} is not an RFC 4514 distinguished name: {why}",
        code="INVALID_DISTINGUISHED_NAME",
    )


def canonical_dn(text: str) -> str:
    """The canonical form of an RFC 4514 DN as another tool wrote it (see the module docstring).

    Tolerates what tools write: spaces around ``,``, ``+`` and ``=``, ``;`` between RDNs,
    attribute names in any case or as long names or ``OID.``-prefixed OIDs, quoted values, hex
    escapes and ``#hex`` values. Raises ``InvalidIdentifier`` (``INVALID_DISTINGUISHED_NAME``)
    for anything else.
    """
    if not isinstance(text, str):
        raise InvalidIdentifier(
            f"a distinguished name must be text, not {type(text).__name__}",
            code="INVALID_DISTINGUISHED_NAME",
        )
    return _render(_Reader(text).rdns())


def render_name(name: x509.Name) -> str:
    """The canonical form of a DER Name as asn1crypto parsed it (RDNs reversed, RFC 4514 2.1).

    Raises whatever asn1crypto raises for a malformed name; callers wrap it.
    """
    rdns: list[list[Attribute]] = [
        [(attribute["type"].dotted, _decode(attribute["value"].dump())) for attribute in rdn]
        for rdn in reversed(list(name.chosen))
    ]
    return _render(rdns)


def _render(rdns: Iterable[Sequence[Attribute]]) -> str:
    return ",".join(
        "+".join(sorted(f"{_type_name(oid)}={_value_text(value)}" for oid, value in rdn))
        for rdn in rdns
    )


def _type_name(oid: str) -> str:
    return SHORT_NAMES.get(oid, oid)


def _value_text(value: Value) -> str:
    if isinstance(value, bytes):
        return "#" + value.hex()
    return _escape(_normalise(value))


def _normalise(value: str) -> str:
    """RFC 4518 in part: NFKC, surrounding whitespace dropped, inner runs as one space."""
    return " ".join(unicodedata.normalize("NFKC", value).split())


def _escape(value: str) -> str:
    out: list[str] = []
    for index, char in enumerate(value):
        if char in _ESCAPED or (char == "#" and index == 0):
            out.append("\\" + char)
        elif unicodedata.category(char) in {"Cc", "Cf", "Cs", "Co", "Cn"}:
            out.append("".join(f"\\{byte:02X}" for byte in char.encode("utf-8", "surrogatepass")))
        else:
            out.append(char)
    return "".join(out)


def _decode(der: bytes) -> Value:
    """A string value's text, or the DER itself for any other type."""
    try:
        parsed = core.Asn1Value.load(der, strict=True)
        if isinstance(parsed, core.AbstractString):
            text = parsed.native
            if isinstance(text, str):
                return text
    except (ValueError, TypeError, OverflowError, UnicodeError):
        pass
    return bytes(der)


def _oid_text(oid: str) -> str:
    """A dotted OID without leading zeros in its arcs (``2.5.4.03`` is ``2.5.4.3``)."""
    return ".".join(str(int(arc)) for arc in oid.split("."))


class _Reader:
    """A small RFC 4514 reader (section 3 grammar, with the tolerances ``canonical_dn`` lists)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def rdns(self) -> list[list[Attribute]]:
        if not self.text.strip():
            return []
        rdns: list[list[Attribute]] = [[]]
        while True:
            rdns[-1].append(self._attribute())
            if self.pos >= len(self.text):
                return rdns
            separator = self.text[self.pos]
            self.pos += 1
            if separator in _RDN_SEPARATORS:
                rdns.append([])

    def _skip_spaces(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] == " ":
            self.pos += 1

    def _attribute(self) -> Attribute:
        equals = self.text.find("=", self.pos)
        if equals < 0:
            raise _invalid(self.text, f"no '=' after position {self.pos}")
        name = self.text[self.pos : equals].strip()
        self.pos = equals + 1
        oid = self._type(name)
        self._skip_spaces()
        if self.text.startswith("#", self.pos):
            value: Value = self._hex_value()
        elif self.text.startswith('"', self.pos):
            value = self._quoted_value()
        else:
            value = self._string_value()
        return oid, value

    def _type(self, name: str) -> str:
        numeric = _NUMERICOID.fullmatch(name)
        if numeric:
            return _oid_text(numeric.group(1))
        if _DESCR.fullmatch(name) and name.lower() in _ALIASES:
            return _ALIASES[name.lower()]
        raise _invalid(self.text, f"unknown attribute type {name!r}")

    def _end_of_value(self) -> None:
        self._skip_spaces()
        if self.pos < len(self.text) and self.text[self.pos] not in _SEPARATORS:
            raise _invalid(self.text, f"unexpected {self.text[self.pos]!r} at {self.pos}")
        if self.pos < len(self.text) and self.pos == len(self.text) - 1:
            raise _invalid(self.text, "ends with a separator")

    def _hex_value(self) -> Value:
        self.pos += 1
        match = _HEX.match(self.text, self.pos)
        if not match or len(match.group()) % 2:
            raise _invalid(self.text, f"bad #hex value at {self.pos}")
        self.pos = match.end()
        self._end_of_value()
        return _decode(bytes.fromhex(match.group()))

    def _quoted_value(self) -> Value:
        self.pos += 1
        raw = bytearray()
        while True:
            if self.pos >= len(self.text):
                raise _invalid(self.text, "unterminated quoted value")
            char = self.text[self.pos]
            if char == '"':
                self.pos += 1
                break
            self._take(raw, char)
        self._end_of_value()
        return self._utf8(raw)

    def _string_value(self) -> Value:
        raw = bytearray()
        while self.pos < len(self.text) and self.text[self.pos] not in _SEPARATORS:
            self._take(raw, self.text[self.pos])
        self._end_of_value()
        return self._utf8(raw)

    def _take(self, raw: bytearray, char: str) -> None:
        """Append one character or escape sequence (RFC 4514 2.4) at ``pos`` to ``raw``."""
        if char != "\\":
            raw += char.encode("utf-8", "surrogatepass")
            self.pos += 1
            return
        pair = self.text[self.pos + 1 : self.pos + 3]
        if len(pair) == 2 and _HEX.fullmatch(pair):  # noqa: PLR2004 — a hex pair
            raw.append(int(pair, 16))
            self.pos += 3
        elif pair[:1] in _ESCAPABLE and pair:
            raw += pair[0].encode("utf-8")
            self.pos += 2
        else:
            raise _invalid(self.text, f"bad escape at {self.pos}")

    def _utf8(self, raw: bytearray) -> str:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise _invalid(self.text, "escapes do not form UTF-8") from None
