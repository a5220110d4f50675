"""Identifiers and small value objects: what each accepts, what it refuses, how it renders."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from domain.errors import InvalidIdentifier
from domain.identifiers import (
    EUI64,
    MPAN,
    MPRN,
    CertificateId,
    DeviceModelKey,
    mpan_check_digit,
    parse_mpxn,
)

HEX_DIGITS = "0123456789abcdefABCDEF"
EUI64_FORMS = re.compile(r"[0-9A-Fa-f]{2}(-[0-9A-Fa-f]{2}){7}|[0-9A-Fa-f]{16}")
WEIGHTS = (3, 5, 7, 13, 17, 19, 23, 29, 31, 37, 41, 43)

u64 = st.integers(min_value=0, max_value=2**64 - 1)
ascii_digits = st.text(alphabet="0123456789", min_size=1, max_size=20)


def refused(code: str, fn: Any, *args: Any, **kwargs: Any) -> InvalidIdentifier:
    with pytest.raises(InvalidIdentifier) as caught:
        fn(*args, **kwargs)
    assert caught.value.code == code, caught.value
    return caught.value


def hyphenated(value: int) -> str:
    raw = f"{value:016X}"
    return "-".join(raw[i : i + 2] for i in range(0, 16, 2))


# --- EUI-64 ---------------------------------------------------------------------------------


def test_eui64_known_forms():
    expected = EUI64(0x00DB1234567890A0)
    assert EUI64.parse("00-DB-12-34-56-78-90-A0") == expected
    assert EUI64.parse("00-db-12-34-56-78-90-a0") == expected
    assert EUI64.parse("00db1234567890a0") == expected
    assert EUI64.parse("00DB1234567890A0") == expected
    assert str(expected) == "00-DB-12-34-56-78-90-A0"
    assert expected.to_json() == "00-DB-12-34-56-78-90-A0"
    assert EUI64.from_json("00db1234567890a0") == expected


@given(u64)
def test_eui64_both_forms_in_either_case_read_the_same_value(value: int):
    canonical = hyphenated(value)
    plain = f"{value:016x}"
    forms = {canonical, canonical.lower(), plain, plain.upper()}
    parsed = {EUI64.parse(text) for text in forms}
    assert parsed == {EUI64(value)}
    assert str(EUI64(value)) == canonical
    assert EUI64.parse(str(EUI64(value))) == EUI64(value)
    assert EUI64.from_json(EUI64(value).to_json()) == EUI64(value)


def _replace_char(text: str, position: int, char: str) -> str:
    return text[:position] + char + text[position + 1 :]


def _near_miss_eui64() -> st.SearchStrategy[str]:
    """Texts that look like an EUI-64 but are not one of its two forms."""
    pair = st.text(alphabet=HEX_DIGITS, min_size=2, max_size=2)
    wrong_groups = st.integers(min_value=1, max_value=12).filter(lambda n: n != 8)
    return st.one_of(
        # wrong number of hyphenated groups
        wrong_groups.flatmap(lambda n: st.lists(pair, min_size=n, max_size=n)).map("-".join),
        # colons, dots or spaces instead of hyphens
        st.tuples(
            st.lists(pair, min_size=8, max_size=8), st.sampled_from([":", ".", " ", "_"])
        ).map(lambda t: t[1].join(t[0])),
        # 15 or 17 (or any other count of) plain hex digits
        st.text(alphabet=HEX_DIGITS, min_size=0, max_size=24).filter(lambda s: len(s) != 16),
        # a valid form with surrounding white space
        st.tuples(u64, st.sampled_from([" ", "\t", "\n", "\r\n"]), st.booleans()).map(
            lambda t: (t[1] + hyphenated(t[0])) if t[2] else (f"{t[0]:016x}" + t[1])
        ),
        # a non-hex character in a valid shape
        st.tuples(u64, st.integers(0, 15), st.sampled_from("gGzZ-+ xX\u0660\uff10")).map(
            lambda t: _replace_char(f"{t[0]:016x}", t[1], t[2])
        ),
        # groups of 1 or 3 digits
        st.lists(st.text(alphabet=HEX_DIGITS, min_size=1, max_size=3), min_size=8, max_size=8)
        .filter(lambda g: any(len(x) != 2 for x in g))
        .map("-".join),
    )


@given(st.one_of(st.text(), _near_miss_eui64()))
def test_eui64_refuses_every_other_text(text: str):
    assume(not EUI64_FORMS.fullmatch(text))
    refused("INVALID_EUI64", EUI64.parse, text)


@pytest.mark.parametrize(
    "text",
    [
        "00-DB-12-34-56-78-90",
        "00-DB-12-34-56-78-90-A0-01",
        "00:DB:12:34:56:78:90:A0",
        "00db1234567890a",
        "00db1234567890a00",
        "00db1234567890ag",
        " 00db1234567890a0",
        "00-DB-12-34-56-78-90-A0 ",
        "00-DB1234567890A0",
        "0x00db1234567890a0",
        "",
        "\uff10" * 16,  # full-width digits are not hex digits
    ],
)
def test_eui64_refuses_known_bad_forms(text: str):
    refused("INVALID_EUI64", EUI64.parse, text)


@pytest.mark.parametrize("value", [None, 0x00DB1234567890A0, b"00db1234567890a0", 1.5, ["00"]])
def test_eui64_refuses_non_text(value: object):
    refused("INVALID_EUI64", EUI64.parse, value)


@pytest.mark.parametrize("value", [-1, 2**64, 2**70])
def test_eui64_value_out_of_range(value: int):
    refused("INVALID_EUI64", EUI64, value)


# --- MPAN, MPRN and MPxN ----------------------------------------------------------------------


def check_digit(first_twelve: str) -> int:
    return sum(int(d) * w for d, w in zip(first_twelve, WEIGHTS, strict=True)) % 11 % 10


def test_mpan_known_answers():
    assert MPAN.parse("1200023305967") == MPAN("1200023305967")
    assert MPAN.parse("1200023305967").has_valid_check_digit
    # The DCC's own test MPAN fails the check digit: refused strictly, accepted relaxed.
    error = refused("INVALID_MPAN", MPAN.parse, "1312345678333")
    assert "check digit" in error.message
    relaxed = MPAN.parse("1312345678333", check_digit=False)
    assert str(relaxed) == "1312345678333"
    assert not relaxed.has_valid_check_digit
    assert mpan_check_digit("120002330596") == 7


@given(st.text(alphabet="0123456789", min_size=12, max_size=12))
def test_mpan_check_digit_property(first_twelve: str):
    good = check_digit(first_twelve)
    assert mpan_check_digit(first_twelve) == good
    for last in range(10):
        text = f"{first_twelve}{last}"
        if last == good:
            assert MPAN.parse(text) == MPAN(text)
            assert MPAN.parse(text).to_json() == text
        else:
            refused("INVALID_MPAN", MPAN.parse, text)
        assert MPAN.parse(text, check_digit=False) == MPAN(text)
        assert parse_mpxn(text, mpan_check_digit=False) == MPAN(text)


@given(
    st.one_of(
        st.text(alphabet="0123456789", max_size=30).filter(lambda s: len(s) != 13),
        st.text(min_size=13, max_size=13).filter(lambda s: not s.isascii() or not s.isdigit()),
        st.text(),
    )
)
def test_mpan_refuses_what_is_not_thirteen_digits(text: str):
    assume(not re.fullmatch(r"[0-9]{13}", text))
    refused("INVALID_MPAN", MPAN.parse, text)
    refused("INVALID_MPAN", MPAN.parse, text, check_digit=False)


@pytest.mark.parametrize("value", [None, 1200023305967, b"1200023305967"])
def test_mpan_and_mprn_refuse_non_text(value: object):
    refused("INVALID_MPAN", MPAN.parse, value)
    refused("INVALID_MPRN", MPRN.parse, value)
    refused("INVALID_MPXN", parse_mpxn, value)


@given(st.text(alphabet="0123456789", min_size=6, max_size=10))
def test_mprn_accepts_six_to_ten_digits(text: str):
    assert MPRN.parse(text) == MPRN(text)
    assert str(MPRN.parse(text)) == text
    assert parse_mpxn(text) == MPRN(text)
    assert MPRN.from_json(MPRN(text).to_json()) == MPRN(text)


@given(st.one_of(ascii_digits.filter(lambda s: not 6 <= len(s) <= 10), st.text()))
def test_mprn_refuses_everything_else(text: str):
    assume(not re.fullmatch(r"[0-9]{6,10}", text))
    refused("INVALID_MPRN", MPRN.parse, text)


def test_parse_mpxn_dispatches_on_length():
    assert parse_mpxn("1200023305967") == MPAN("1200023305967")
    assert parse_mpxn("123456") == MPRN("123456")
    assert parse_mpxn("1234567890") == MPRN("1234567890")
    refused("INVALID_MPAN", parse_mpxn, "1312345678333")
    assert parse_mpxn("1312345678333", mpan_check_digit=False) == MPAN("1312345678333")


@given(st.one_of(ascii_digits, st.text()))
def test_parse_mpxn_refuses_what_is_neither(text: str):
    assume(not re.fullmatch(r"[0-9]{6,10}|[0-9]{13}", text))
    refused("INVALID_MPXN", parse_mpxn, text)
    refused("INVALID_MPXN", parse_mpxn, text, mpan_check_digit=False)


@pytest.mark.parametrize("text", ["12345", "12345678901", "123456789012", "12345678901234", ""])
def test_parse_mpxn_refuses_lengths_between_and_beyond(text: str):
    refused("INVALID_MPXN", parse_mpxn, text)


# --- Device Model keys ----------------------------------------------------------------------

model_text = st.text(min_size=1, max_size=64).filter(
    lambda s: (
        s == s.strip()
        and bool(s.strip())
        and not any(unicodedata.category(c).startswith("C") for c in s)
    )
)
control_char = st.characters(categories=["Cc", "Cf"])


def key_fields(value: str, position: int) -> list[str]:
    fields = ["ACME", "Meter-9", "HW1", "FW2.0"]
    fields[position] = value
    return fields


@given(model_text, model_text, model_text, model_text)
def test_device_model_key_accepts_clean_text_and_round_trips(a: str, b: str, c: str, d: str):
    key = DeviceModelKey(a, b, c, d)
    assert DeviceModelKey.from_json(key.to_json()) == key
    assert key.family == (a, b, c)
    assert key.to_json() == {
        "manufacturer": a,
        "model": b,
        "hardware_version": c,
        "firmware_version": d,
    }


@given(
    st.integers(0, 3),
    st.one_of(
        st.just(""),
        st.text(alphabet=" \t\n\u00a0\u3000", min_size=1, max_size=5),
        st.tuples(model_text, st.sampled_from([" ", "\t", "\u00a0"]), st.booleans()).map(
            lambda t: t[1] + t[0] if t[2] else t[0] + t[1]
        ),
        st.tuples(model_text, control_char, st.integers(0, 64)).map(
            lambda t: (t[0][: t[2]] + t[1] + t[0][t[2] :])[:64]
        ),
        st.text(alphabet="abcXYZ09", min_size=65, max_size=100),
    ),
)
def test_device_model_key_refuses_bad_fields(position: int, bad: str):
    refused("INVALID_DEVICE_MODEL", DeviceModelKey, *key_fields(bad, position))


@pytest.mark.parametrize("position", range(4))
@pytest.mark.parametrize("bad", [None, 7, b"ACME", ["ACME"]])
def test_device_model_key_refuses_non_text(position: int, bad: object):
    fields: list[Any] = key_fields("x", position)
    fields[position] = bad
    refused("INVALID_DEVICE_MODEL", DeviceModelKey, *fields)


def test_device_model_key_length_limit_is_sixty_four():
    assert DeviceModelKey("a" * 64, "b", "c", "d").manufacturer == "a" * 64
    refused("INVALID_DEVICE_MODEL", DeviceModelKey, "a" * 65, "b", "c", "d")


GOOD_KEY = {"manufacturer": "ACME", "model": "M", "hardware_version": "1", "firmware_version": "2"}


@pytest.mark.parametrize(
    "data",
    [
        None,
        "ACME/M/1/2",
        ["ACME", "M", "1", "2"],
        {k: v for k, v in GOOD_KEY.items() if k != "firmware_version"},
        {**GOOD_KEY, "extra": "x"},
        {**GOOD_KEY, "firmware_version": None},
        {**GOOD_KEY, "model": 5},
        {},
    ],
)
def test_device_model_key_from_json_needs_exactly_the_four_keys(data: object):
    refused("INVALID_DEVICE_MODEL", DeviceModelKey.from_json, data)


def test_device_model_key_from_json_reads_the_four_keys():
    assert DeviceModelKey.from_json(GOOD_KEY) == DeviceModelKey("ACME", "M", "1", "2")


# --- Certificate IDs ------------------------------------------------------------------------

serials = st.integers(min_value=0, max_value=2**160 - 1)
issuers = st.text(min_size=1).filter(lambda s: bool(s.strip()))


@given(serials, issuers)
def test_certificate_id_reads_decimal_int_and_hex(serial: int, issuer: str):
    expected = CertificateId(serial, issuer)
    for form in (str(serial), serial, hex(serial), f"0X{serial:X}", f" {serial} "):
        assert CertificateId.from_json({"serial": form, "issuer": issuer}) == expected
    assert expected.to_json() == {"serial": str(serial), "issuer": issuer}
    assert CertificateId.from_json(expected.to_json()) == expected


@given(st.text(), issuers)
def test_certificate_id_refuses_serial_text_that_is_not_a_number(text: str, issuer: str):
    stripped = text.strip()
    if re.fullmatch(r"[0-9]+", stripped):
        expected = int(stripped)
    elif re.fullmatch(r"0[xX][0-9A-Fa-f]+", stripped):
        expected = int(stripped, 16)
    else:
        refused(
            "INVALID_CERTIFICATE_ID", CertificateId.from_json, {"serial": text, "issuer": issuer}
        )
        return
    assume(expected < 2**160)
    assert CertificateId.from_json({"serial": text, "issuer": issuer}).serial == expected


@pytest.mark.parametrize(
    "data",
    [
        {"serial": True, "issuer": "CA"},
        {"serial": False, "issuer": "CA"},
        {"serial": "abc", "issuer": "CA"},
        {"serial": "0x", "issuer": "CA"},
        {"serial": "0xZZ", "issuer": "CA"},
        {"serial": "", "issuer": "CA"},
        {"serial": "1_000", "issuer": "CA"},
        {"serial": "+5", "issuer": "CA"},
        {"serial": "\u0661\u0662", "issuer": "CA"},  # Arabic-Indic digits
        {"serial": -1, "issuer": "CA"},
        {"serial": "-1", "issuer": "CA"},
        {"serial": 2**160, "issuer": "CA"},
        {"serial": "1" * 5000, "issuer": "CA"},  # beyond int()'s digit limit
        {"serial": 1.0, "issuer": "CA"},
        {"serial": None, "issuer": "CA"},
        {"serial": [1], "issuer": "CA"},
        {"serial": 1, "issuer": ""},
        {"serial": 1, "issuer": "   "},
        {"serial": 1, "issuer": 5},
        {"serial": 1},
        {"issuer": "CA"},
        {"serial": 1, "issuer": "CA", "extra": 1},
        "1@CA",
        None,
        [1, "CA"],
    ],
)
def test_certificate_id_refuses_bools_and_garbage(data: object):
    refused("INVALID_CERTIFICATE_ID", CertificateId.from_json, data)


def test_certificate_id_text_form():
    assert str(CertificateId(255, "CA1")) == "255@CA1"
    assert CertificateId.from_json({"serial": "0xff", "issuer": "CA1"}) == CertificateId(255, "CA1")
