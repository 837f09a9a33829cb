"""GB 11643 ID numbers: the check character, and what every damaged form still tells.

No JVM here: tests/test_id_standardise.py runs the same table through the Spark rendering
(gridrisk.columns) and asserts that both agree."""

from __future__ import annotations

import datetime as dt

import pytest

from gridrisk import ids

GOOD = ids.make_id("320115", dt.date(1990, 1, 1), 123)  # 320115199001011234, male
WITH_X = "11010519491231002X"  # the standard's own example, female (sequence 002)
FULLWIDTH = str.maketrans("0123456789Xx", "０１２３４５６７８９Ｘｘ")
D = dt.date


def _excel_000_with_right_check() -> str:
    """An Excel …000 whose check character happens to be right (1 in 11 truncations)."""
    return next(s for s in (f"320115{D(1990, 1, 1) + dt.timedelta(days=n):%Y%m%d}{x}000"
                            for n in range(400) for x in range(10)) if ids.check_char(s[:17]) == "0")


SUSPECT = _excel_000_with_right_check()

# name → (as written, status, repaired ID, birth date, sex, area, written birth date, written sex)
TABLE = {
    "clean": (GOOD, "valid", GOOD, D(1990, 1, 1), "M", "320115", D(1990, 1, 1), "M"),
    "lower-case x": (WITH_X.lower(), "valid", WITH_X, D(1949, 12, 31), "F", "110105", D(1949, 12, 31), "F"),
    "full-width": (GOOD.translate(FULLWIDTH), "valid", GOOD, D(1990, 1, 1), "M", "320115", D(1990, 1, 1), "M"),
    "full-width lower x": (WITH_X.lower().translate(FULLWIDTH), "valid", WITH_X, D(1949, 12, 31), "F", "110105",
                           D(1949, 12, 31), "F"),
    "spaces, quote, NBSP": (" '320115 1990\u00a00101\u30001234 ", "valid", GOOD, D(1990, 1, 1), "M", "320115",
                            D(1990, 1, 1), "M"),
    "legacy 15 digits": (GOOD[:6] + GOOD[8:17], "repaired_15", GOOD, D(1990, 1, 1), "M", "320115",
                         D(1990, 1, 1), "M"),
    "legacy 15, month 13": ("320115901301123", "bad_date", None, None, None, None, None, None),
    "Excel 000": (GOOD[:15] + "000", "truncated", None, D(1990, 1, 1), None, "320115", D(1990, 1, 1), None),
    "Excel 000, check right": (SUSPECT, "suspect_000", SUSPECT, ids.date_of(SUSPECT[6:14]), None, "320115",
                               ids.date_of(SUSPECT[6:14]), None),
    "Excel E+17": ("3.20115E+17", "truncated", None, None, None, "320115", None, None),
    "Excel E+17, area ends 00": ("3.201E+17", "truncated", None, None, None, "320100", None, None),
    "Excel E+17, more digits": ("3.20115199E+17", "truncated", None, None, None, "320115", None, None),
    "Excel, other exponent": ("3.2E+16", "truncated", None, None, None, None, None, None),
    "typo in the sequence": (GOOD[:15] + "9" + GOOD[16:], "bad_check", None, None, None, None, D(1990, 1, 1), "M"),
    "typo in the sex digit": (GOOD[:16] + "4" + GOOD[17:], "bad_check", None, None, None, None, D(1990, 1, 1), "F"),
    "typo in the date, still a date": (GOOD[:11] + "2" + GOOD[12:], "bad_check", None, None, None, None,
                                       D(1990, 2, 1), "M"),
    "typo in the date, no date": (GOOD[:10] + "3" + GOOD[11:], "bad_date", None, None, None, None, None, "M"),
    "typo in the century": (GOOD[:6] + "8" + GOOD[7:], "bad_date", None, None, None, None, None, "M"),
    "typo in the area": ("3" + "3" + GOOD[2:], "bad_check", None, None, None, None, D(1990, 1, 1), "M"),
    "check character missing": (GOOD[:17], "truncated", None, None, None, None, None, None),
    "a digit missing": (GOOD[:3] + GOOD[4:], "truncated", None, None, None, None, None, None),
    "cut to 12 digits": (GOOD[:12], "truncated", None, None, None, None, None, None),
    "letters": ("32011519900101ABCD", "malformed", None, None, None, None, None, None),
    "17 digits and X": (GOOD[:16] + "X", "malformed", None, None, None, None, None, None),
    "19 digits": (GOOD + "1", "malformed", None, None, None, None, None, None),
    "other script's digits": ("٣٢٠١١٥١٩٩٠٠١٠١١٢٣٤", "malformed", None, None, None, None, None, None),
    "empty": ("", "missing", None, None, None, None, None, None),
    "blank": (" \u3000 ", "missing", None, None, None, None, None, None),
    "null": (None, "missing", None, None, None, None, None, None),
}


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


@pytest.mark.parametrize("form", list(TABLE))
def test_what_each_damaged_form_tells(form):
    raw, *expected = TABLE[form]
    r = ids.read_id(raw)
    assert (r.status, r.id18, r.birth_date, r.sex, r.area, r.written_birth_date, r.written_sex) == tuple(expected)


@pytest.mark.parametrize("form", list(TABLE))
def test_normalise_id_is_the_reading_status_and_repaired_id(form):
    raw, status, id18, *_ = TABLE[form]
    assert ids.normalise_id(raw) == ids.NormalisedId(id18, raw, status)


def test_a_failed_check_establishes_no_birth_date_but_keeps_the_digits_as_evidence():
    typo = ids.read_id(GOOD[:11] + "2" + GOOD[12:])  # 1990-01-01 written as 1990-02-01
    assert typo.birth_date is None and typo.written_birth_date == D(1990, 2, 1)
    assert typo.digits == GOOD[:11] + "2" + GOOD[12:]


def test_an_id_ending_000_with_the_right_check_is_suspect_not_valid():
    assert ids.read_id(SUSPECT).status == "suspect_000" and "suspect_000" in ids.WELL_FORMED
    assert ids.read_id(SUSPECT).sex is None  # the sex digit may be Excel's zero


def test_make_id_is_consistent_with_birth_date_sex_and_check():
    made = ids.make_id("320115", dt.date(1990, 1, 2), 123)
    assert ids.normalise_id(made).status == "valid"
    assert ids.birth_date(made) == dt.date(1990, 1, 2) and ids.sex(made) == "M"
    assert ids.sex(ids.make_id("320115", dt.date(1990, 1, 2), 124)) == "F"
    assert ids.widen_15("320115900102123") == ids.make_id("320115", dt.date(1990, 1, 2), 123)


def test_every_status_is_declared():
    assert {row[1] for row in TABLE.values()} == set(ids.STATUSES)
