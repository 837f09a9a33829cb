"""GB 11643 ID numbers: check character, normalisation, legacy widening, damage statuses."""

from __future__ import annotations

import datetime as dt

import pytest

from gridrisk import ids


@pytest.mark.parametrize("first17, check", [
    ("11010519491231002", "X"),  # the standard's own example
    ("44052418800101001", "4"),
    ("32011519900101123", "4"),  # 173 mod 11 = 8 → "4"
])
def test_check_character(first17, check):
    assert ids.check_char(first17) == check


def test_check_character_needs_17_digits():
    with pytest.raises(ValueError, match="expected 17 digits"):
        ids.check_char("1234")


@pytest.mark.parametrize("raw, value, status", [
    ("11010519491231002X", "11010519491231002X", "valid"),
    ("11010519491231002x", "11010519491231002X", "valid"),  # lower-case x
    (" 110105 19491231002X ", "11010519491231002X", "valid"),  # spaces
    ("１１０１０５１９４９１２３１００２Ｘ", "11010519491231002X", "valid"),  # full-width (NFKC)
    ("110105491231002", "11010519491231002X", "repaired_15"),  # legacy 15 → 18
    ("110105491331002", None, "bad_date"),  # legacy with month 13
    ("110105194912310021", None, "bad_check"),  # one typo in the check character
    ("110105194912310000", None, "truncated"),  # Excel kept 15 significant digits, then 000
    ("1.10105E+17", None, "truncated"),  # Excel scientific notation
    ("11010519491231", None, "truncated"),  # too short
    ("110105199913451234", None, "bad_date"),
    ("11010519491231ABCD", None, "malformed"),
    ("", None, "missing"),
    (None, None, "missing"),
])
def test_normalise_id(raw, value, status):
    got = ids.normalise_id(raw)
    assert (got.value, got.status) == (value, status)
    assert got.original == raw


def test_make_id_is_consistent_with_birth_date_sex_and_check():
    made = ids.make_id("320115", dt.date(1990, 1, 2), 123)
    assert ids.normalise_id(made).status == "valid"
    assert ids.birth_date(made) == dt.date(1990, 1, 2) and ids.sex(made) == "M"
    assert ids.sex(ids.make_id("320115", dt.date(1990, 1, 2), 124)) == "F"
    assert ids.widen_15("320115900102123") == ids.make_id("320115", dt.date(1990, 1, 2), 123)
