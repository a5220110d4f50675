"""The typed refusal of the GBCS codec (``docs/gbcs.md``).

Every decoder of this package raises ``InvalidGbcs`` and nothing else for bad input: random
bytes never escape as ``IndexError`` or an ``asn1crypto`` exception. The message names the
offset (counted from the start of the bytes given to the decoder) or the ASN.1 field.
"""

from __future__ import annotations

from domain.errors import DomainError


class InvalidGbcs(DomainError, ValueError):  # noqa: N818 — reads as the fact it reports
    """Bytes that are not the GBCS message the decoder reads, or a value GBCS cannot carry."""

    code = "INVALID_GBCS"

    def __init__(
        self, message: str, *, offset: int | None = None, field: str | None = None
    ) -> None:
        where = []
        if field is not None:
            where.append(field)
        if offset is not None:
            where.append(f"offset {offset}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)
        self.offset = offset
        self.field = field
