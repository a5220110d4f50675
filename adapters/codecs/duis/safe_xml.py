"""Reading untrusted XML: refuse what is hostile before any processing, then parse hardened.

In order, for every document that reaches etmad from outside:

1. more than ``MAX_DOCUMENT_BYTES`` (1 MiB) → ``HOSTILE_XML`` (nothing is decoded);
2. not UTF-8 (bytes that do not decode, a byte-order mark of UTF-16/32, or an XML declaration
   naming another encoding) → ``INVALID_XML``;
3. any ``<!DOCTYPE`` or ``<!ENTITY`` anywhere in the text (even in a comment) → ``HOSTILE_XML``:
   DUIS has no DTD, so internal subsets (billion laughs), external entities and DTD fetches are
   refused outright rather than neutralised;
4. parsed by lxml with ``resolve_entities=False, no_network=True, load_dtd=False,
   huge_tree=False`` (so even a declaration that slipped past step 3 would not be loaded, fetched
   or expanded); nesting deeper than ``MAX_DEPTH`` elements → ``HOSTILE_XML``, as soon as the
   parser reaches it; not well formed → ``INVALID_XML`` with the parser's line and column.
"""

from __future__ import annotations

import codecs
import re
from typing import Final

from lxml import etree

from adapters.codecs.duis.errors import HostileXml, InvalidXml

MAX_DOCUMENT_BYTES: Final = 1024 * 1024
"""The largest DUIS document read: 1 MiB. An SRV 6.23 request is about 5 KiB."""

MAX_DEPTH: Final = 32
"""The deepest element nesting read (a DUIS SRV 6.23 request nests 5 deep)."""

_CHUNK: Final = 64 * 1024
_DECLARED_ENCODING: Final = re.compile(
    r"<\?xml\s[^>]*?\bencoding\s*=\s*[\"']([^\"']*)[\"']", re.ASCII
)
_FORBIDDEN: Final = ("<!DOCTYPE", "<!ENTITY")
_OTHER_BOMS: Final = (
    codecs.BOM_UTF32_LE,
    codecs.BOM_UTF32_BE,
    codecs.BOM_UTF16_LE,
    codecs.BOM_UTF16_BE,
)


def hardened_parser() -> etree.XMLParser:
    """An lxml parser that loads, fetches and expands nothing."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=False,
    )


def _refuse_before_parsing(data: bytes) -> None:
    if len(data) > MAX_DOCUMENT_BYTES:
        raise HostileXml(
            f"document is {len(data)} bytes; the limit is {MAX_DOCUMENT_BYTES} bytes (1 MiB)"
        )
    if data.startswith(_OTHER_BOMS):
        raise InvalidXml(
            "document is not UTF-8 (it starts with a UTF-16 or UTF-32 byte-order mark)"
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise InvalidXml(f"document is not UTF-8: invalid byte at offset {e.start}") from None
    declared = _DECLARED_ENCODING.match(text)
    if declared and declared.group(1).replace("_", "-").upper() not in {"UTF-8", "UTF8"}:
        raise InvalidXml(
            f"document declares encoding {declared.group(1)!r}; DUIS documents are UTF-8"
        )
    upper = text.upper()  # XML keywords are upper case; refuse any spelling all the same
    for marker in _FORBIDDEN:
        if marker in upper:
            raise HostileXml(
                f"document contains {marker}: DTDs and entity declarations are refused "
                "(DUIS uses neither)"
            )


def parse_xml(data: bytes | str) -> etree._Element:
    """The root element of ``data``, read under the limits above; raises a typed error else."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    if not isinstance(data, bytes):
        raise InvalidXml(f"a document is bytes or text, not {type(data).__name__}")
    _refuse_before_parsing(data)
    parser = etree.XMLPullParser(
        events=("start", "end"),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
    )
    depth = 0
    try:
        for offset in range(0, max(len(data), 1), _CHUNK):
            parser.feed(data[offset : offset + _CHUNK])
            for event, _element in parser.read_events():
                depth += 1 if event == "start" else -1
                if depth > MAX_DEPTH:
                    raise HostileXml(f"elements nest more than {MAX_DEPTH} deep")
        root = parser.close()
    except etree.XMLSyntaxError as e:
        raise InvalidXml(f"not well-formed XML: {e.msg or e}") from None
    # Belt and braces: the scan above already refused any DOCTYPE or ENTITY declaration.
    info = root.getroottree().docinfo
    doctype: str = getattr(info, "doctype", "")  # lxml's type hints lack DocInfo.doctype
    if doctype or info.internalDTD is not None or info.externalDTD is not None:
        raise HostileXml("document has a document type declaration")
    if any(True for _ in root.iter(etree.Entity)):
        raise HostileXml("document has entity references")
    return root
