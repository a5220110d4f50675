"""A small DER writer and a strict DER reader, for the CS02b payloads (``credentials.py``).

The writer builds definite-length DER from the values it is given; certificates (already
encoded) go in byte for byte. ``tests/test_gbcs_fast_paths.py`` proves that what
``credentials.py`` writes with it is the bytes ``asn1crypto`` writes for the ASN.1 of
``asn1.py`` (but for one asn1crypto quirk: it rewrote a certificate header whose last octet is
0x80, such as ``30 82 00 80``, taking it for an indefinite length; DER certificates never have
such a header, and the writer carries every certificate as given).

The reader takes canonical DER only: the tags expected in order, lengths in the fewest octets,
integers non-negative in the fewest octets. Anything else raises ``NotCanonical``: not a
refusal of the bytes, but "read these the general way" (``credentials.py`` then decodes them
with ``asn1crypto``, which accepts every BER form GBCS Devices write and names the field at
fault when refusing).
"""

from __future__ import annotations

from typing import Final

from adapters.codecs.gbcs.ber import encode_length

SEQUENCE: Final = 0x30
INTEGER: Final = 0x02
BIT_STRING: Final = 0x03
OCTET_STRING: Final = 0x04
NULL: Final = 0x05
ENUMERATED: Final = 0x0A
GENERALIZED_TIME: Final = 0x18
_SHORT_FORM_LIMIT: Final = 0x80
_MAX_LENGTH_OCTETS: Final = 4
_SIGN_BIT: Final = 0x80


# ------------------------------------------------------------------------------ writing


def tlv(tag: int, content: bytes) -> bytes:
    """One element: tag, DER length, content."""
    size = len(content)
    if size < _SHORT_FORM_LIMIT:
        return bytes((tag, size)) + content
    return bytes((tag,)) + encode_length(size) + content


def sequence(*parts: bytes, tag: int = SEQUENCE) -> bytes:
    """A SEQUENCE (or SEQUENCE OF) of the encoded ``parts``, in order."""
    return tlv(tag, b"".join(parts))


def integer(value: int, *, tag: int = INTEGER) -> bytes:
    """An INTEGER (or ENUMERATED) in the fewest two's-complement octets."""
    if 0 <= value < _SIGN_BIT:
        return bytes((tag, 1, value))
    magnitude = value if value >= 0 else ~value
    return tlv(tag, value.to_bytes(magnitude.bit_length() // 8 + 1, "big", signed=True))


def octet_string(value: bytes, *, tag: int = OCTET_STRING) -> bytes:
    return tlv(tag, value)


def named_bits(bits: frozenset[int] | set[int]) -> bytes:
    """A BIT STRING of named bits (bit 0 first): DER drops trailing zero bits."""
    if not bits:
        return tlv(BIT_STRING, b"\x00")
    count = max(bits) + 1
    value = sum(1 << (count - 1 - bit) for bit in bits)
    octets = (count + 7) // 8
    unused = octets * 8 - count
    return tlv(BIT_STRING, bytes((unused,)) + (value << unused).to_bytes(octets, "big"))


def null() -> bytes:
    return bytes((NULL, 0))


def generalized_time(text: str) -> bytes:
    return tlv(GENERALIZED_TIME, text.encode("ascii"))


# ------------------------------------------------------------------------------ reading


class NotCanonical(Exception):  # noqa: N818 — reads as the fact it reports
    """The bytes are not the canonical DER the reader takes: read them the general way."""


class DerReader:
    """Reads the elements of ``data[start:end]`` in order, each checked to lie within it."""

    __slots__ = ("_at", "_data", "_end")

    def __init__(self, data: bytes, start: int = 0, end: int | None = None) -> None:
        self._data = data
        self._at = start
        self._end = len(data) if end is None else end

    def peek(self) -> int | None:
        """The tag of the next element, or None at the end."""
        return self._data[self._at] if self._at < self._end else None

    def done(self) -> None:
        """Nothing may follow the last element read."""
        if self._at != self._end:
            raise NotCanonical

    def element(self, tag: int) -> tuple[int, int]:
        """Read the next element, which must have ``tag``: where its content starts and ends."""
        data, at, end = self._data, self._at, self._end
        if at + 2 > end or data[at] != tag:
            raise NotCanonical
        first = data[at + 1]
        if first < _SHORT_FORM_LIMIT:
            content, length = at + 2, first
        else:
            octets = first & 0x7F
            content = at + 2 + octets
            if not 0 < octets <= _MAX_LENGTH_OCTETS or content > end:
                raise NotCanonical
            length = int.from_bytes(data[at + 2 : content], "big")
            if length < _SHORT_FORM_LIMIT or data[at + 2] == 0:
                raise NotCanonical
        stop = content + length
        if stop > end:
            raise NotCanonical
        self._at = stop
        return content, stop

    def nested(self, tag: int) -> DerReader:
        """A reader of the content of the next element (a SEQUENCE or a constructed field)."""
        content, stop = self.element(tag)
        return DerReader(self._data, content, stop)

    def integer(self, tag: int = INTEGER) -> int:
        """A non-negative INTEGER (or ENUMERATED) in the fewest octets."""
        content, stop = self.element(tag)
        data = self._data
        if stop == content or data[content] & _SIGN_BIT:
            raise NotCanonical
        if data[content] == 0 and stop - content > 1 and not data[content + 1] & _SIGN_BIT:
            raise NotCanonical
        return int.from_bytes(data[content:stop], "big")

    def octets(self, tag: int = OCTET_STRING) -> bytes:
        """The content of the next element: an OCTET STRING or any primitive."""
        content, stop = self.element(tag)
        return self._data[content:stop]

    def raw(self, tag: int) -> bytes:
        """The whole next element, header included (a certificate, carried as it is)."""
        start = self._at
        _, stop = self.element(tag)
        return self._data[start:stop]

    def null(self) -> None:
        content, stop = self.element(NULL)
        if stop != content:
            raise NotCanonical
