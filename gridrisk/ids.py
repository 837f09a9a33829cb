"""Resident ID numbers (GB 11643-1999): normalisation, repair and the check character.

Pure Python and dependency free, so the generator, ingest (through a Spark UDF-free
column expression built from the same constants) and tests share one definition.

Example:
    >>> check_char("11010519491231002")
    'X'
    >>> normalise_id(" 11010519491231002x ")
    NormalisedId(value='11010519491231002X', original=' 11010519491231002x ', status='valid')
    >>> normalise_id("110105491231002").value
    '11010519491231002X'
"""

from __future__ import annotations

import datetime as _dt
import re
import unicodedata
from typing import NamedTuple

WEIGHTS: tuple[int, ...] = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"

#: Reasons an ID can be in; ``valid`` and ``repaired_15`` are usable for exact linking.
STATUSES = (
    "valid",  # 18 characters, birth date real, check character right
    "repaired_15",  # legacy 15-digit ID, widened to 18
    "bad_check",  # 18 characters but the check character disagrees (typo)
    "bad_date",  # the birth date segment is not a real date
    "truncated",  # Excel turned it into a number: trailing 000 or too short
    "malformed",  # anything else that is not an ID
    "missing",  # empty
)

_DIGITS17 = re.compile(r"^\d{17}[\dX]$")
_DIGITS15 = re.compile(r"^\d{15}$")


class NormalisedId(NamedTuple):
    value: str | None
    original: str | None
    status: str


def check_char(first17: str) -> str:
    """Return the GB 11643 check character for the first 17 digits."""
    if len(first17) != 17 or not first17.isdigit():
        raise ValueError(f"expected 17 digits, got {first17!r}")
    total = sum(int(d) * w for d, w in zip(first17, WEIGHTS))
    return CHECK_CHARS[total % 11]


def _real_date(yyyymmdd: str) -> bool:
    try:
        _dt.date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    except ValueError:
        return False
    return 1900 <= int(yyyymmdd[:4]) <= 2100


def clean(raw: str | None) -> str:
    """NFKC (full-width digits become ASCII), strip spaces and quotes, upper-case x."""
    if raw is None:
        return ""
    text = unicodedata.normalize("NFKC", str(raw))
    text = re.sub(r"[\s'\"`]", "", text)
    return text.upper()


def widen_15(id15: str) -> str:
    """Legacy 15-digit ID → 18 digits: insert ``19`` before the year, append the check."""
    first17 = id15[:6] + "19" + id15[6:]
    return first17 + check_char(first17)


def normalise_id(raw: str | None) -> NormalisedId:
    """Normalise one ID number and say what state it is in (see ``STATUSES``)."""
    text = clean(raw)
    original = None if raw is None else str(raw)
    if not text:
        return NormalisedId(None, original, "missing")
    # Excel shows long numbers in scientific notation or pads them with zeros.
    if "E+" in text or "." in text:
        return NormalisedId(None, original, "truncated")
    if _DIGITS15.match(text):
        if not _real_date("19" + text[6:12]):
            return NormalisedId(None, original, "bad_date")
        return NormalisedId(widen_15(text), original, "repaired_15")
    if _DIGITS17.match(text):
        if not _real_date(text[6:14]):
            return NormalisedId(None, original, "bad_date")
        if check_char(text[:17]) != text[17]:
            # An Excel-truncated 18-digit ID keeps 15 significant digits then 000.
            if text.endswith("000"):
                return NormalisedId(None, original, "truncated")
            return NormalisedId(None, original, "bad_check")
        return NormalisedId(text, original, "valid")
    if text.isdigit() and 10 <= len(text) < 18:
        return NormalisedId(None, original, "truncated")
    return NormalisedId(None, original, "malformed")


def birth_date(id18: str) -> _dt.date:
    """Birth date encoded in an 18-digit ID."""
    return _dt.date(int(id18[6:10]), int(id18[10:12]), int(id18[12:14]))


def sex(id18: str) -> str:
    """``M`` or ``F`` from the sequence digit (odd = male)."""
    return "M" if int(id18[16]) % 2 == 1 else "F"


def make_id(area_code: str, born: _dt.date, sequence: int) -> str:
    """Build a valid 18-digit ID; ``sequence`` 0–999 (odd for men)."""
    first17 = f"{area_code}{born:%Y%m%d}{sequence:03d}"
    return first17 + check_char(first17)
