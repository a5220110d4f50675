"""The GBCS General Signing Grouping Header: who sends what to whom, under which counter.

Layout (GBCS; every field checked against the RTDS 4.5.0 CS02b vectors)::

    DF                      general-signing tag
    09 <CRA flag> <counter> transaction-id: 1 octet CRA flag, 8 octets originator counter
    08 <8 octets>           originator system title (an EUI-64)
    08 <8 octets>           recipient system title (an EUI-64)
    00 | 0C <12 octets>     date-time, absent or a DLMS date-time
    <length> <other info>   message code (2 octets) [supplementary remote party ID (8)
                            [supplementary remote party counter (8) [supplementary originator
                            counter (8) | key agreement certificate (DER)]]]
    <length>                content length: the payload follows

The header ends with the content length. ``encode_header`` writes lengths in the fewest octets.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Final

import attrs

from adapters.codecs.gbcs.ber import encode_length, read_length, single_element
from adapters.codecs.gbcs.errors import InvalidGbcs
from domain.identifiers import EUI64

GENERAL_SIGNING_TAG: Final = 0xDF
TRANSACTION_ID_LENGTH: Final = 9
SYSTEM_TITLE_LENGTH: Final = 8
DATE_TIME_LENGTH: Final = 12
COUNTER_LENGTH: Final = 8
MESSAGE_CODE_LENGTH: Final = 2
MAX_COUNTER: Final = (1 << 63) - 1  # GBCS counters are 0..2^63-1 (DOMAIN.md 6)
_UNSPECIFIED_DEVIATION: Final = -0x8000
_UNSPECIFIED_YEAR: Final = 0xFFFF
_UNSPECIFIED_OCTET: Final = 0xFF
_MAX_MINUTES_DEVIATION: Final = 720
_SEQUENCE: Final = 0x30


class CraFlag(enum.IntEnum):
    """The first octet of the transaction-id: what kind of message this is."""

    COMMAND = 1
    RESPONSE = 2
    ALERT = 3


_CRA_FLAGS: Final = frozenset(flag.value for flag in CraFlag)


def _octet(_instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if not isinstance(value, int) or not 0 <= value <= _UNSPECIFIED_OCTET:
        raise InvalidGbcs(f"must be an octet 0..255, not {value!r}", field=attribute.name)


def check_counter(value: int, *, field: str) -> int:
    """``value`` if it is a GBCS counter or sequence number (0..2^63-1), else ``InvalidGbcs``."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNTER:
        raise InvalidGbcs(f"must be a counter 0..2^63-1, not {value!r}", field=field)
    return value


def check_ka_certificate(data: bytes, *, offset: int) -> bytes:
    """``data`` if it is one DER SEQUENCE longer than a counter (so never read as one)."""
    field = "supplementary_ka_certificate"
    top = single_element(data, field=field, offset=offset)
    if data[top.offset] != _SEQUENCE or len(data) <= COUNTER_LENGTH:
        raise InvalidGbcs(
            "a certificate is a SEQUENCE of more than 8 octets", offset=offset, field=field
        )
    return data


def _required_counter(_instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    check_counter(value, field=attribute.name)


def _counter(_instance: object, attribute: attrs.Attribute[int | None], value: int | None) -> None:
    if value is not None:
        check_counter(value, field=attribute.name)


@attrs.frozen(kw_only=True)
class DlmsDateTime:
    """A DLMS date-time (12 octets) as the header carries it; 0xFF / 0xFFFF / -0x8000 mean
    'not specified' and are kept as they are."""

    year: int = attrs.field()
    month: int = attrs.field(validator=_octet)
    day: int = attrs.field(validator=_octet)
    day_of_week: int = attrs.field(validator=_octet)
    hour: int = attrs.field(validator=_octet)
    minute: int = attrs.field(validator=_octet)
    second: int = attrs.field(validator=_octet)
    hundredths: int = attrs.field(validator=_octet)
    deviation: int = attrs.field()  # minutes (signed); -0x8000: not specified
    clock_status: int = attrs.field(validator=_octet)

    @year.validator
    def _check_year(self, _attribute: object, value: int) -> None:
        if not isinstance(value, int) or not 0 <= value <= _UNSPECIFIED_YEAR:
            raise InvalidGbcs(f"must be 0..65535, not {value!r}", field="year")

    @deviation.validator
    def _check_deviation(self, _attribute: object, value: int) -> None:
        if not isinstance(value, int) or not -0x8000 <= value <= 0x7FFF:  # noqa: PLR2004
            raise InvalidGbcs(f"must be a signed 16-bit number, not {value!r}", field="deviation")

    def encode(self) -> bytes:
        return (
            self.year.to_bytes(2, "big")
            + bytes(
                [
                    self.month,
                    self.day,
                    self.day_of_week,
                    self.hour,
                    self.minute,
                    self.second,
                    self.hundredths,
                ]
            )
            + self.deviation.to_bytes(2, "big", signed=True)
            + bytes([self.clock_status])
        )

    @classmethod
    def decode(cls, data: bytes) -> DlmsDateTime:
        if len(data) != DATE_TIME_LENGTH:
            raise InvalidGbcs(f"a DLMS date-time has 12 octets, not {len(data)}", field="date_time")
        return cls(
            year=int.from_bytes(data[0:2], "big"),
            month=data[2],
            day=data[3],
            day_of_week=data[4],
            hour=data[5],
            minute=data[6],
            second=data[7],
            hundredths=data[8],
            deviation=int.from_bytes(data[9:11], "big", signed=True),
            clock_status=data[11],
        )

    @classmethod
    def from_datetime(cls, moment: datetime) -> DlmsDateTime:
        """The UTC date-time of ``moment`` (timezone-aware), deviation 0, clock status 0."""
        if moment.tzinfo is None:
            raise InvalidGbcs("a date-time must carry its UTC offset", field="date_time")
        utc = moment.astimezone(UTC)
        return cls(
            year=utc.year,
            month=utc.month,
            day=utc.day,
            day_of_week=utc.isoweekday(),
            hour=utc.hour,
            minute=utc.minute,
            second=utc.second,
            hundredths=utc.microsecond // 10_000,
            deviation=0,
            clock_status=0,
        )

    def to_datetime(self) -> datetime | None:
        """The moment, when year, month, day, hour, minute and second are all specified.

        Naive when the deviation is not specified (local time of unknown offset). DLMS counts
        the deviation from local time to UTC, so a deviation of -60 is UTC+01:00."""
        parts = (self.month, self.day, self.hour, self.minute, self.second)
        if self.year == _UNSPECIFIED_YEAR or _UNSPECIFIED_OCTET in parts:
            return None
        zone: tzinfo | None = None
        if self.deviation != _UNSPECIFIED_DEVIATION:
            if abs(self.deviation) > _MAX_MINUTES_DEVIATION:
                return None
            zone = timezone(timedelta(minutes=-self.deviation))
        hundredths = 0 if self.hundredths == _UNSPECIFIED_OCTET else self.hundredths
        try:
            return datetime(
                self.year,
                self.month,
                self.day,
                self.hour,
                self.minute,
                self.second,
                hundredths * 10_000,
                tzinfo=zone,
            )
        except ValueError:
            return None


@attrs.frozen(kw_only=True)
class GeneralSigningHeader:
    """The General Signing Grouping Header, without its content length (see ``encode_header``).

    The supplementary fields of other-information are optional in order: a remote party
    counter needs a remote party ID; an originator counter or a key agreement certificate
    needs a remote party counter; never both of the last two.
    """

    cra_flag: CraFlag = attrs.field(converter=CraFlag)
    originator_counter: int = attrs.field(validator=_required_counter)
    originator: EUI64
    recipient: EUI64
    message_code: int
    date_time: DlmsDateTime | None = None
    supplementary_remote_party_id: EUI64 | None = None
    supplementary_remote_party_counter: int | None = attrs.field(default=None, validator=_counter)
    supplementary_originator_counter: int | None = attrs.field(default=None, validator=_counter)
    supplementary_ka_certificate: bytes | None = None

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.message_code, int) or not 0 <= self.message_code <= 0xFFFF:  # noqa: PLR2004
            raise InvalidGbcs(f"must be 0..0xFFFF, not {self.message_code!r}", field="message_code")
        if self.supplementary_remote_party_counter is not None and (
            self.supplementary_remote_party_id is None
        ):
            raise InvalidGbcs(
                "a supplementary remote party counter needs a supplementary remote party ID",
                field="other_information",
            )
        has_originator_counter = self.supplementary_originator_counter is not None
        has_ka_certificate = self.supplementary_ka_certificate is not None
        if (has_originator_counter or has_ka_certificate) and (
            self.supplementary_remote_party_counter is None
        ):
            raise InvalidGbcs(
                "a supplementary originator counter or key agreement certificate needs a "
                "supplementary remote party counter",
                field="other_information",
            )
        if has_originator_counter and has_ka_certificate:
            raise InvalidGbcs(
                "other-information holds a supplementary originator counter or a key "
                "agreement certificate, not both",
                field="other_information",
            )
        if self.supplementary_ka_certificate is not None:
            check_ka_certificate(self.supplementary_ka_certificate, offset=0)

    def other_information(self) -> bytes:
        out = self.message_code.to_bytes(MESSAGE_CODE_LENGTH, "big")
        if self.supplementary_remote_party_id is not None:
            out += self.supplementary_remote_party_id.value.to_bytes(SYSTEM_TITLE_LENGTH, "big")
        if self.supplementary_remote_party_counter is not None:
            out += self.supplementary_remote_party_counter.to_bytes(COUNTER_LENGTH, "big")
        if self.supplementary_originator_counter is not None:
            out += self.supplementary_originator_counter.to_bytes(COUNTER_LENGTH, "big")
        if self.supplementary_ka_certificate is not None:
            out += self.supplementary_ka_certificate
        return out


def encode_header(header: GeneralSigningHeader, content_length: int) -> bytes:
    """The Grouping Header bytes, from the 0xDF tag to the content length."""
    date_time = b"" if header.date_time is None else header.date_time.encode()
    other = header.other_information()
    return (
        bytes([GENERAL_SIGNING_TAG, TRANSACTION_ID_LENGTH, header.cra_flag])
        + header.originator_counter.to_bytes(COUNTER_LENGTH, "big")
        + bytes([SYSTEM_TITLE_LENGTH])
        + header.originator.value.to_bytes(SYSTEM_TITLE_LENGTH, "big")
        + bytes([SYSTEM_TITLE_LENGTH])
        + header.recipient.value.to_bytes(SYSTEM_TITLE_LENGTH, "big")
        + bytes([len(date_time)])
        + date_time
        + encode_length(len(other))
        + other
        + encode_length(content_length)
    )


@attrs.frozen
class DecodedHeader:
    """A header read from bytes: the value, the content length, and where the content starts."""

    header: GeneralSigningHeader
    content_length: int
    content_offset: int


def _take(data: bytes, offset: int, count: int, field: str) -> bytes:
    if offset + count > len(data):
        raise InvalidGbcs(
            f"{count} octets expected, {max(0, len(data) - offset)} left",
            offset=offset,
            field=field,
        )
    return data[offset : offset + count]


def _octet_at(data: bytes, offset: int, field: str) -> int:
    if offset < len(data):
        return data[offset]
    return _take(data, offset, 1, field)[0]  # raises: no octet left


def _fixed_length(data: bytes, offset: int, expected: int, field: str) -> int:
    found = _octet_at(data, offset, field)
    if found != expected:
        raise InvalidGbcs(f"length must be {expected}, found {found}", offset=offset, field=field)
    return offset + 1


def decode_header(data: bytes, offset: int = 0) -> DecodedHeader:
    """Read a Grouping Header at ``offset``. The content length is checked against ``data``."""
    tag = _octet_at(data, offset, "general_signing_tag")
    if tag != GENERAL_SIGNING_TAG:
        raise InvalidGbcs(
            f"expected the General Signing tag 0xDF, found 0x{tag:02X}",
            offset=offset,
            field="general_signing_tag",
        )
    at = _fixed_length(data, offset + 1, TRANSACTION_ID_LENGTH, "transaction_id")
    cra = _octet_at(data, at, "cra_flag")
    if cra not in _CRA_FLAGS:
        raise InvalidGbcs(
            f"CRA flag must be 1 (command), 2 (response) or 3 (alert), found {cra}",
            offset=at,
            field="cra_flag",
        )
    counter = int.from_bytes(_take(data, at + 1, COUNTER_LENGTH, "originator_counter"), "big")
    if counter > MAX_COUNTER:
        raise InvalidGbcs(
            f"counter {counter} is above 2^63-1", offset=at + 1, field="originator_counter"
        )
    at = _fixed_length(data, at + 1 + COUNTER_LENGTH, SYSTEM_TITLE_LENGTH, "originator")
    originator = EUI64(int.from_bytes(_take(data, at, SYSTEM_TITLE_LENGTH, "originator"), "big"))
    at = _fixed_length(data, at + SYSTEM_TITLE_LENGTH, SYSTEM_TITLE_LENGTH, "recipient")
    recipient = EUI64(int.from_bytes(_take(data, at, SYSTEM_TITLE_LENGTH, "recipient"), "big"))
    at += SYSTEM_TITLE_LENGTH
    date_time_length = _octet_at(data, at, "date_time")
    if date_time_length not in {0, DATE_TIME_LENGTH}:
        raise InvalidGbcs(
            f"date-time length must be 0 or 12, found {date_time_length}",
            offset=at,
            field="date_time",
        )
    date_time = (
        DlmsDateTime.decode(_take(data, at + 1, DATE_TIME_LENGTH, "date_time"))
        if date_time_length
        else None
    )
    at += 1 + date_time_length
    other_length, at = read_length(data, at, len(data), field="other_information")
    other = _take(data, at, other_length, "other_information")
    supplementary = _other_information(other, at)
    at += other_length
    content_length, content_offset = read_length(data, at, len(data), field="content_length")
    if content_offset + content_length > len(data):
        raise InvalidGbcs(
            f"content length {content_length}, but {len(data) - content_offset} bytes follow",
            offset=at,
            field="content_length",
        )
    header = GeneralSigningHeader(
        cra_flag=CraFlag(cra),
        originator_counter=counter,
        originator=originator,
        recipient=recipient,
        date_time=date_time,
        message_code=int.from_bytes(other[:MESSAGE_CODE_LENGTH], "big"),
        supplementary_remote_party_id=supplementary.remote_party_id,
        supplementary_remote_party_counter=supplementary.remote_party_counter,
        supplementary_originator_counter=supplementary.originator_counter,
        supplementary_ka_certificate=supplementary.ka_certificate,
    )
    return DecodedHeader(header, content_length, content_offset)


@attrs.frozen
class _Supplementary:
    remote_party_id: EUI64 | None = None
    remote_party_counter: int | None = None
    originator_counter: int | None = None
    ka_certificate: bytes | None = None


def _other_information(other: bytes, offset: int) -> _Supplementary:
    """The supplementary fields after the message code (``offset``: where ``other`` starts)."""
    size = len(other)
    id_end = MESSAGE_CODE_LENGTH + SYSTEM_TITLE_LENGTH
    counter_end = id_end + COUNTER_LENGTH
    if (
        size < MESSAGE_CODE_LENGTH
        or size in range(MESSAGE_CODE_LENGTH + 1, id_end)
        or (size in range(id_end + 1, counter_end))
    ):
        raise InvalidGbcs(
            f"other-information of {size} octets: expected 2 (message code), 10, 18, 26 or "
            "18 plus a certificate",
            offset=offset,
            field="other_information",
        )
    if size < id_end:
        return _Supplementary()
    party = EUI64(int.from_bytes(other[MESSAGE_CODE_LENGTH:id_end], "big"))
    if size < counter_end:
        return _Supplementary(party)
    counter = check_counter(
        int.from_bytes(other[id_end:counter_end], "big"),
        field="supplementary_remote_party_counter",
    )
    rest = other[counter_end:]
    if not rest:
        return _Supplementary(party, counter)
    if len(rest) == COUNTER_LENGTH:
        originator = check_counter(
            int.from_bytes(rest, "big"), field="supplementary_originator_counter"
        )
        return _Supplementary(party, counter, originator)
    return _Supplementary(
        party, counter, None, check_ka_certificate(rest, offset=offset + counter_end)
    )
