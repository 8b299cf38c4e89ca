"""Checksums and masking of identity and phone numbers (pure rules, no database)."""

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jointdesk.logging_setup import redact
from jointdesk.policy import identity


def test_resident_id_with_correct_check_digit_is_valid():
    # the GB 11643 worked example
    assert identity.is_valid_resident_id("11010519491231002X")
    assert identity.resident_id_check_char("11010519491231002") == "X"


@pytest.mark.parametrize(
    "value",
    [
        "110105194912310021",  # wrong check digit
        "11010519491331002X",  # month 13
        "11010519490230002X",  # 30 February
        "01010519491231002X",  # region cannot start with 0
        "11010519491231002",  # 17 characters
        "1101051949123100XX",
        "",
    ],
)
def test_resident_id_rejects(value):
    assert not identity.is_valid_resident_id(value)


def test_resident_id_born_in_the_future_is_invalid():
    first17 = "41010520300101001"
    value = first17 + identity.resident_id_check_char(first17)
    assert not identity.is_valid_resident_id(value, today=date(2026, 11, 26))


@given(st.integers(min_value=0, max_value=999), st.dates(date(1900, 1, 1), date(2025, 12, 31)))
def test_any_computed_check_digit_validates_and_any_other_fails(seq, born):
    first17 = f"410105{born:%Y%m%d}{seq:03d}"
    good = first17 + identity.resident_id_check_char(first17)
    assert identity.is_valid_resident_id(good)
    for other in "0123456789X":
        if other != good[-1]:
            assert not identity.is_valid_resident_id(first17 + other)


def test_credit_code_check_character():
    # a code built from a known prefix; its check char is the MOD 31 of GB 32100
    first17 = "91410100MA44XXXX0"
    code = first17 + identity.uscc_check_char(first17)
    assert identity.is_valid_uscc(code)
    assert identity.is_valid_uscc("91350100M000100Y43")  # published example
    assert not identity.is_valid_uscc("91350100M000100Y44")
    assert not identity.is_valid_uscc("91350100M000100YI3")  # I is not in the alphabet
    assert not identity.is_valid_uscc("9135010")


@pytest.mark.parametrize(
    "phone,ok",
    [
        ("13800000000", True),
        ("19912345678", True),
        ("12800000000", False),
        ("1380000000", False),
        ("138000000001", False),
        ("+8613800000000", False),
    ],
)
def test_mobile(phone, ok):
    assert identity.is_valid_mobile(phone) is ok


def test_masks():
    assert identity.mask_phone("13812345678") == "138****5678"
    assert identity.mask_id_number("11010519491231002X") == "1101**********002X"
    assert identity.mask_name("张三") == "张*"
    assert identity.mask_name("欧阳娜娜") == "欧***"
    assert identity.mask_name("郑州市某某科技有限公司", "enterprise") == "郑州*******公司"


def test_logs_never_carry_whole_numbers():
    line = redact("applicant 11010519491231002X phone 13812345678 ok")
    assert "11010519491231002X" not in line and "13812345678" not in line
    assert "138****5678" in line
