"""BER tag-length-value framing: lengths, a bounds-checked walk, and the two length forms.

The walk is one iterative pass (``frame``; ``walk`` also lists the elements): the codec frames
every payload and certificate it reads, so the pass allocates nothing per element.

GBCS carries DER payloads in commands, but the RTDS Device responses write every length of 128
or more in two octets (``30 82 00 CA`` where DER has ``30 81 CA``). ``LengthForm`` names both,
so that a decoded response re-encodes to the bytes it came from.
"""

from __future__ import annotations

import enum
from typing import Final

import attrs

from adapters.codecs.gbcs.errors import InvalidGbcs

MAX_DEPTH: Final = 32  # deeper nesting than any GBCS payload (a certificate is about 8 deep)
MAX_LENGTH_OCTETS: Final = 4
_SHORT_FORM_LIMIT: Final = 0x80
_HIGH_TAG: Final = 0x1F
_CONSTRUCTED: Final = 0x20


class LengthForm(enum.StrEnum):
    """How the lengths of a BER encoding are written."""

    DER = "der"  # the fewest octets: 0x00-0x7F, 0x81 xx, 0x82 xx xx, ...
    TWO_OCTET = "two_octet"  # 128 and more always as 0x82 xx xx (RTDS Device responses)


def encode_length(length: int, form: LengthForm = LengthForm.DER) -> bytes:
    """The length octets of ``length`` in ``form``."""
    if length < 0:
        raise InvalidGbcs(f"a length cannot be negative ({length})")
    if length < _SHORT_FORM_LIMIT:
        return bytes([length])
    octets = (length.bit_length() + 7) // 8
    if form is LengthForm.TWO_OCTET:
        octets = max(octets, 2)
    if octets > MAX_LENGTH_OCTETS:
        raise InvalidGbcs(f"a length of {length} needs more than {MAX_LENGTH_OCTETS} octets")
    return bytes([0x80 | octets]) + length.to_bytes(octets, "big")


def read_length(data: bytes, offset: int, end: int, *, field: str) -> tuple[int, int]:
    """Read the length octets at ``offset``: the length and the offset after them."""
    if offset >= end:
        raise InvalidGbcs("a length was expected; the bytes end here", offset=offset, field=field)
    first = data[offset]
    if first < _SHORT_FORM_LIMIT:
        return first, offset + 1
    octets = first & 0x7F
    if octets == 0:
        raise InvalidGbcs("indefinite length (0x80) is not allowed", offset=offset, field=field)
    if octets > MAX_LENGTH_OCTETS:
        raise InvalidGbcs(
            f"length of {octets} octets (0x{first:02X}); at most {MAX_LENGTH_OCTETS} are read",
            offset=offset,
            field=field,
        )
    if offset + 1 + octets > end:
        raise InvalidGbcs(
            f"{octets} length octets announced, {end - offset - 1} left", offset=offset, field=field
        )
    return int.from_bytes(data[offset + 1 : offset + 1 + octets], "big"), offset + 1 + octets


@attrs.frozen
class Tlv:
    """Where one BER element sits: its tag, offset, header length and content length."""

    tag: int
    offset: int
    header_length: int
    length: int

    @property
    def content_offset(self) -> int:
        return self.offset + self.header_length

    @property
    def end(self) -> int:
        return self.content_offset + self.length

    @property
    def constructed(self) -> bool:
        return bool(self.tag & _CONSTRUCTED)


def read_tlv(data: bytes, offset: int, end: int, *, field: str) -> Tlv:
    """Read the tag and length at ``offset``; the content must end by ``end``."""
    if offset >= end:
        raise InvalidGbcs("an element was expected; the bytes end here", offset=offset, field=field)
    tag = data[offset]
    if tag & _HIGH_TAG == _HIGH_TAG:
        raise InvalidGbcs(
            f"tag 0x{tag:02X} uses the high-tag-number form, which GBCS payloads never use",
            offset=offset,
            field=field,
        )
    length, content = read_length(data, offset + 1, end, field=field)
    if content + length > end:
        raise InvalidGbcs(
            f"element of tag 0x{tag:02X} announces {length} content bytes, {end - content} left",
            offset=offset,
            field=field,
        )
    return Tlv(tag=tag, offset=offset, header_length=content - offset, length=length)


def walk(data: bytes, *, field: str, offset: int = 0, end: int | None = None) -> list[Tlv]:
    """Check that ``data[offset:end]`` is a sequence of well-formed BER elements, nested ones
    included, and return every element (outer ones first). Raises ``InvalidGbcs``."""
    found: list[Tlv] = []
    _scan(data, offset, len(data) if end is None else end, field, found)
    return found


@attrs.frozen
class Framing:
    """What one pass over well-formed BER found: the first top-level element's tag and end
    (tag -1 when there is none), the form every length is written in (DER before two-octet
    when both fit; None when they mix forms), and the deepest nesting of constructed
    elements (0 for primitives only)."""

    first_tag: int
    first_end: int
    length_form: LengthForm | None
    depth: int


def frame(data: bytes, *, field: str, offset: int = 0, end: int | None = None) -> Framing:
    """Check ``data[offset:end]`` as ``walk`` does (same refusals, in the same order), without
    building an element per node."""
    return _scan(data, offset, len(data) if end is None else end, field, None)


def _scan(data: bytes, offset: int, end: int, field: str, found: list[Tlv] | None) -> Framing:
    """One depth-first pass (outer elements first, as the nesting reads): every element's tag
    and length checked against the element holding it. Lengths under 128 in one octet, the
    common case, are read inline; any other header goes through ``read_tlv``, which reads the
    long form or raises the refusal."""
    first_tag, first_end = -1, offset
    der = two_octet = True
    depth = 0
    limit = end
    outer: list[int] = []  # the limits of the elements the pass is inside, innermost last
    at = offset
    while True:
        if at >= limit:
            if not outer:
                break
            limit = outer.pop()
            continue
        tag = data[at]
        if (
            tag & _HIGH_TAG != _HIGH_TAG
            and at + 1 < limit
            and data[at + 1] < _SHORT_FORM_LIMIT
            and at + 2 + data[at + 1] <= limit
        ):
            content, stop = at + 2, at + 2 + data[at + 1]
        else:
            tlv = read_tlv(data, at, limit, field=field)
            content, stop = tlv.content_offset, tlv.end
            octets = content - at - 2  # length octets after the 0x8n octet
            minimal = (tlv.length.bit_length() + 7) // 8
            long_enough = tlv.length >= _SHORT_FORM_LIMIT
            der = der and long_enough and octets == minimal
            two_octet = two_octet and long_enough and octets == max(minimal, 2)
        if found is not None:
            found.append(Tlv(tag=tag, offset=at, header_length=content - at, length=stop - content))
        if not outer and first_tag < 0:
            first_tag, first_end = tag, stop
        if tag & _CONSTRUCTED:
            if len(outer) >= MAX_DEPTH:
                raise InvalidGbcs(
                    f"nested deeper than {MAX_DEPTH} levels", offset=content, field=field
                )
            outer.append(limit)
            depth = max(depth, len(outer))
            limit = stop
            at = content
        else:
            at = stop
    form = LengthForm.DER if der else LengthForm.TWO_OCTET if two_octet else None
    return Framing(first_tag=first_tag, first_end=first_end, length_form=form, depth=depth)


def single_element(data: bytes, *, field: str, offset: int = 0) -> Tlv:
    """Check that ``data`` is exactly one well-formed BER element and return it."""
    framing = frame(data, field=field)
    if framing.first_tag < 0:
        raise InvalidGbcs("empty", offset=offset, field=field)
    if framing.first_end != len(data):
        raise InvalidGbcs(
            f"{len(data) - framing.first_end} bytes after the end of the element",
            offset=offset + framing.first_end,
            field=field,
        )
    return read_tlv(data, 0, len(data), field=field)


def length_form(data: bytes, *, field: str) -> LengthForm | None:
    """The form every length of ``data`` is written in, or None when they mix forms."""
    return frame(data, field=field).length_form


def relength(data: bytes, form: LengthForm, *, field: str) -> bytes:
    """``data`` with every length (nested ones included) rewritten in ``form``."""
    walk(data, field=field)  # well-formed before rewriting
    return _relength(data, 0, len(data), form)


def _relength(data: bytes, offset: int, end: int, form: LengthForm) -> bytes:
    out = bytearray()
    while offset < end:
        tlv = read_tlv(data, offset, end, field="")
        if tlv.constructed:
            content = _relength(data, tlv.content_offset, tlv.end, form)
        else:
            content = data[tlv.content_offset : tlv.end]
        out += bytes([tlv.tag]) + encode_length(len(content), form) + content
        offset = tlv.end
    return bytes(out)
