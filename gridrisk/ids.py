"""Resident ID numbers (GB 11643-1999): normalisation, repair, and what a damaged ID still tells.

Pure Python and dependency free: the generator, ingest, quality, silver housing and entity
resolution share this one definition. :mod:`gridrisk.columns` renders the same rules as native
Spark column expressions from the same constants, and ``tests/test_ids.py`` asserts that both
agree on every damaged form.

**What a damaged ID tells.** An ID is area (positions 1–6), birth date ``YYYYMMDD`` (7–14),
sequence (15–17, odd = male) and an ISO 7064 MOD 11-2 check character (18). The check detects
every single-digit error but does not locate it, so a fact is read from a damaged ID only from
positions the kind of damage is known to spare:

======================  ===========================  ===========  =====  ====  ======
form                    example                      status       birth  sex   area
======================  ===========================  ===========  =====  ====  ======
clean, x, full-width    ``320115199001011234``       valid        yes    yes   yes
legacy 15 digits        ``320115900101123``          repaired_15  yes    yes   yes
Excel ``…000``          ``320115199001011000``       truncated    yes    no    yes
Excel ``…000``, check   ``320115199001024000``       suspect_000  yes    no    yes
right by chance
Excel ``3.20115E+17``   ``3.20115E+17``              truncated    no     no    yes
typo (check fails)      ``320115199001011534``       bad_check    no     no    no
date not a date         ``320115199013011234``       bad_date     no     no    no
digits missing          ``32011519900101123``        truncated    no     no    no
======================  ===========================  ===========  =====  ====  ======

* Excel stores a number in 15 significant digits: ``…000`` keeps positions 1–15 (area and
  birth date) and destroys the sequence's last two digits (the sex digit) and the check.
* ``3.20115E+17`` keeps six significant digits, the area. Excel rounds at the 7th digit, which
  is the century's ``1`` or ``2``, so the rounding never reaches the area.
* A typo may sit in any of the 17 digits: the date segment holds it 8 times in 17, and a
  changed date digit usually still makes a real date (1990-01-01 → 1990-02-01). A failed check
  therefore establishes no birth date, sex or area. The digits *as written* remain evidence for
  entity resolution (``written_birth_date``, ``written_sex``, ``digits``), compared with the
  levels of ``conf/linkage.yaml`` — never a fact for ages.
* A string with digits missing has lost them at an unknown position, so every later position
  has shifted: nothing is read from it.
* An ``…000`` ID whose check character happens to be right (1 in 11 truncations; 1 in 1,100
  genuine IDs end so) cannot be told from a genuine one by itself: ``suspect_000`` carries the
  ID, but entity resolution links it exactly only when the persons register confirms it.

Example:
    >>> check_char("11010519491231002")
    'X'
    >>> normalise_id(" 11010519491231002x ")
    NormalisedId(value='11010519491231002X', original=' 11010519491231002x ', status='valid')
    >>> normalise_id("110105491231002").value
    '11010519491231002X'
    >>> r = read_id("320115199001011000")
    >>> r.status, r.area, r.birth_date, r.sex
    ('truncated', '320115', datetime.date(1990, 1, 1), None)
"""

from __future__ import annotations

import datetime as _dt
import re
from typing import NamedTuple

WEIGHTS: tuple[int, ...] = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"

#: Reasons an ID can be in; ``valid`` and ``repaired_15`` are usable for exact linking.
STATUSES = (
    "valid",  # 18 characters, birth date real, check character right
    "repaired_15",  # legacy 15-digit ID, widened to 18
    "suspect_000",  # check right, but ends 000 like an Excel truncation: confirm before trusting
    "bad_check",  # 18 characters but the check character disagrees (typo)
    "bad_date",  # the birth date segment is not a real date
    "truncated",  # Excel turned it into a number (trailing 000, 3.2E+17) or digits are missing
    "malformed",  # anything else that is not an ID
    "missing",  # empty
)
#: Statuses whose ``value`` is a well-formed ID (a person key can be made from it).
WELL_FORMED = ("valid", "repaired_15", "suspect_000")

#: Full-width forms (U+FF01–U+FF5E) and the ideographic space, as NFKC maps them. An explicit
#: table rather than NFKC, so Spark's ``translate`` applies exactly the same mapping.
FULLWIDTH = "".join(chr(c) for c in range(0xFF01, 0xFF5F)) + "\u3000"
HALFWIDTH = "".join(chr(c) for c in range(0x21, 0x7F)) + " "
#: Removed anywhere in an ID: spaces of any kind, quotes and backticks Excel users type to keep
#: a number as text. A regular expression both Python's ``re`` and Java's regex read alike.
STRIP_PATTERN = "[ \\t\\n\\r\\f\\x0b\\u00a0\\u2000-\\u200b\\u202f\\u205f\\ufeff'\"`]"
#: Excel's General format for an 18-digit number: one digit, a point, up to five more, E+17.
EXCEL_SCIENTIFIC = r"^([1-9])\.([0-9]{1,16})E\+17$"
#: The shapes below, in ASCII digits only (Python's ``\d`` would also take other scripts' digits).
ID18_PATTERN = "^[0-9]{17}[0-9X]$"
ID15_PATTERN = "^[0-9]{15}$"
SHORT_PATTERN = "^[0-9]{10,17}$"  # digits missing (an 18-digit ID cut short)
MIN_YEAR, MAX_YEAR = 1900, 2100

_TO_HALF = str.maketrans(FULLWIDTH, HALFWIDTH)
_STRIP = re.compile(STRIP_PATTERN)
_SCIENTIFIC = re.compile(EXCEL_SCIENTIFIC)
_DIGITS17 = re.compile(ID18_PATTERN)
_DIGITS15 = re.compile(ID15_PATTERN)
_SHORT = re.compile(SHORT_PATTERN)
_ASCII_DIGITS = re.compile(r"^[0-9]+$")


class NormalisedId(NamedTuple):
    value: str | None
    original: str | None
    status: str


class IdReading(NamedTuple):
    """Everything an ID as written tells (see the module's table)."""

    status: str  # one of STATUSES
    id18: str | None  # the well-formed 18-character ID (valid, repaired_15, suspect_000)
    digits: str | None  # the 18 characters as written when the first 17 are digits
    area: str | None  # 6-digit area code, where the damage spares it
    birth_date: _dt.date | None  # where the damage spares the date segment: a fact (ages)
    sex: str | None  # M/F where the sequence digit is known intact
    written_birth_date: _dt.date | None  # the date segment as written, if a real date: evidence only
    written_sex: str | None  # the sequence digit's parity as written: evidence only


def check_char(first17: str) -> str:
    """Return the GB 11643 check character for the first 17 digits."""
    if len(first17) != 17 or not _ASCII_DIGITS.match(first17):
        raise ValueError(f"expected 17 digits, got {first17!r}")
    total = sum(int(d) * w for d, w in zip(first17, WEIGHTS))
    return CHECK_CHARS[total % 11]


def date_of(yyyymmdd: str) -> _dt.date | None:
    """The date ``YYYYMMDD`` names, if it is a real one between 1900 and 2100."""
    if len(yyyymmdd) != 8 or not _ASCII_DIGITS.match(yyyymmdd):
        return None
    year = int(yyyymmdd[:4])
    if not MIN_YEAR <= year <= MAX_YEAR:
        return None
    try:
        return _dt.date(year, int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    except ValueError:
        return None


def clean(raw: str | None) -> str:
    """Full-width forms become ASCII, spaces and quotes go, x becomes X."""
    if raw is None:
        return ""
    return _STRIP.sub("", str(raw).translate(_TO_HALF)).upper()


def widen_15(id15: str) -> str:
    """Legacy 15-digit ID → 18 digits: insert ``19`` before the year, append the check."""
    first17 = id15[:6] + "19" + id15[6:]
    return first17 + check_char(first17)


def _parity(digit: str) -> str:
    return "M" if int(digit) % 2 == 1 else "F"


def read_id(raw: str | None) -> IdReading:
    """Repair one ID as written and say what it still tells (the module's table)."""
    text = clean(raw)
    if not text:
        return IdReading("missing", None, None, None, None, None, None, None)
    if "E+" in text or "." in text:  # Excel showed the number in scientific notation
        sci = _SCIENTIFIC.match(text)
        area = (sci.group(1) + sci.group(2) + "00000")[:6] if sci else None
        return IdReading("truncated", None, None, area, None, None, None, None)
    if _DIGITS15.match(text):
        born = date_of("19" + text[6:12])
        if born is None:
            return IdReading("bad_date", None, None, None, None, None, None, None)
        id18 = widen_15(text)
        sex = _parity(id18[16])
        return IdReading("repaired_15", id18, id18, id18[:6], born, sex, born, sex)
    if _DIGITS17.match(text):
        written = date_of(text[6:14])
        if written is None:
            return IdReading("bad_date", None, text, None, None, None, None, _parity(text[16]))
        if text.endswith("000"):
            # Excel's 15 significant digits: area and date survive, the sex digit does not.
            status = "suspect_000" if check_char(text[:17]) == text[17] else "truncated"
            return IdReading(status, text if status == "suspect_000" else None, text, text[:6], written, None,
                             written, None)
        sex = _parity(text[16])
        if check_char(text[:17]) != text[17]:
            return IdReading("bad_check", None, text, None, None, None, written, sex)
        return IdReading("valid", text, text, text[:6], written, sex, written, sex)
    if _SHORT.match(text):
        return IdReading("truncated", None, None, None, None, None, None, None)
    return IdReading("malformed", None, None, None, None, None, None, None)


def normalise_id(raw: str | None) -> NormalisedId:
    """Normalise one ID number and say what state it is in (see ``STATUSES``)."""
    reading = read_id(raw)
    return NormalisedId(reading.id18, None if raw is None else str(raw), reading.status)


def birth_date(id18: str) -> _dt.date:
    """Birth date encoded in an 18-digit ID."""
    return _dt.date(int(id18[6:10]), int(id18[10:12]), int(id18[12:14]))


def sex(id18: str) -> str:
    """``M`` or ``F`` from the sequence digit (odd = male)."""
    return _parity(id18[16])


def make_id(area_code: str, born: _dt.date, sequence: int) -> str:
    """Build a valid 18-digit ID; ``sequence`` 0–999 (odd for men)."""
    first17 = f"{area_code}{born:%Y%m%d}{sequence:03d}"
    return first17 + check_char(first17)
