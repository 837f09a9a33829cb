"""The library's pure rules as native Spark column expressions: ID reading (:mod:`gridrisk.ids`),
the keyed hash and masking (:mod:`gridrisk.privacy`), ages.

Built from the same constants as the Python rules (weights, check characters, the full-width
table, the patterns), with no Python UDF and no lambda: Spark evaluates them in the JVM, in
generated code. The two that reuse intermediate values (the ID reading, the person key) add
their column to a DataFrame in stages (:func:`staged`). ``tests/test_id_standardise.py`` runs
every damaged ID form through both renderings and asserts they agree; silver housing, quality
and entity resolution all read IDs through :func:`with_id_reading`.

Example (a DataFrame ``df``)::

    df = with_id_reading(df, "id_no", "id")            # struct of gridrisk.ids.IdReading's fields
    df = with_person_key(df, F.col("id.id18"), key, "person_key")  # == gridrisk.privacy.person_key
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from gridrisk import ids, privacy

#: :class:`gridrisk.ids.IdReading` as a Spark struct (same field names and order).
ID_READING = T.StructType([
    T.StructField("status", T.StringType()),
    T.StructField("id18", T.StringType()),
    T.StructField("digits", T.StringType()),
    T.StructField("area", T.StringType()),
    T.StructField("birth_date", T.DateType()),
    T.StructField("sex", T.StringType()),
    T.StructField("written_birth_date", T.DateType()),
    T.StructField("written_sex", T.StringType()),
])
assert tuple(ID_READING.fieldNames()) == ids.IdReading._fields  # one shape, two renderings

_BASE32 = "abcdefghijklmnopqrstuvwxyz234567"  # RFC 4648 base32, lower case as person keys show it


def _c(col: str | Column) -> Column:
    return F.col(col) if isinstance(col, str) else col


def clean_id(raw: str | Column) -> Column:
    """:func:`gridrisk.ids.clean`: full-width → ASCII, spaces and quotes removed, upper case."""
    return F.upper(F.regexp_replace(F.translate(F.coalesce(_c(raw), F.lit("")), ids.FULLWIDTH, ids.HALFWIDTH),
                                    ids.STRIP_PATTERN, ""))


def _digit(digits: Column, position: int) -> Column:
    """The value of the ASCII digit at ``position`` (1-based) of a column known to hold digits there."""
    return F.ascii(F.substring(digits, position, 1)) - 48


def check_char(first17: Column) -> Column:
    """:func:`gridrisk.ids.check_char` of a column of 17 ASCII digits."""
    total: Column = F.lit(0)
    for i, weight in enumerate(ids.WEIGHTS):
        total = total + _digit(first17, i + 1) * weight
    return F.substring(F.lit(ids.CHECK_CHARS), (total % 11) + 1, 1)


def date_of(yyyymmdd: Column) -> Column:
    """:func:`gridrisk.ids.date_of`: the real date 1900–2100 that 8 digits name, else null."""
    year = F.substring(yyyymmdd, 1, 4).try_cast("int")
    return F.when(yyyymmdd.rlike("^[0-9]{8}$") & year.between(ids.MIN_YEAR, ids.MAX_YEAR),
                  F.try_to_date(yyyymmdd, "yyyyMMdd"))


def _parity(digit: Column) -> Column:
    return F.when(digit.try_cast("int") % 2 == 1, F.lit("M")).otherwise(F.lit("F"))


def staged(df: DataFrame, out: str, steps: list[tuple[str, Callable[[Callable[[str], Column]], Column]]]) -> DataFrame:
    """``df`` with column ``out`` computed in ``steps``: each ``(name, body)`` adds a helper
    column, ``body(v)`` builds it from the earlier ones (``v(name)``), and the last one is ``out``.

    Why not one expression: a value used in several places of an expression is copied into each
    (Spark inlines columns), and the copies multiply with each nesting; binding it with a lambda
    (``transform`` over a one-element array) keeps one copy but leaves generated code — Spark
    interprets lambdas row by row (4× slower on a million IDs). A helper column of its own that is
    not cheap and is read twice stays a column of its own (``CollapseProject``), so each value is
    computed once, in generated code."""
    names = {name: f"_{out}__{name}" for name, _ in steps[:-1]}

    def v(name: str) -> Column:
        return F.col(names[name])

    for name, body in steps[:-1]:
        df = df.withColumn(names[name], body(v))
    return df.withColumn(out, steps[-1][1](v)).drop(*names.values())


def with_id_reading(df: DataFrame, raw: str | Column, out: str, fields: Mapping[str, str] | None = None) -> DataFrame:
    """``df`` + ``out``: :func:`gridrisk.ids.read_id` of ``raw`` natively, a struct with
    :data:`ID_READING`'s fields (``fields``: only these, field → the name it gets). The digits of
    a 15- or 18-character ID are read once: their first 17 (a legacy ID widened with ``19``),
    their check character and their date."""
    wanted = dict(fields) if fields is not None else {name: name for name in ID_READING.fieldNames()}
    unknown = set(wanted) - set(ID_READING.fieldNames())
    if unknown:
        raise ValueError(f"an ID reading has no field {', '.join(sorted(unknown))}")

    def length(v: Callable[[str], Column]) -> Column:
        t = v("t")
        return F.when(t.rlike(ids.ID15_PATTERN), F.lit(15)).when(t.rlike(ids.ID18_PATTERN), F.lit(18))

    def first17(v: Callable[[str], Column]) -> Column:  # legacy 15: 19 inserted before the year
        t, n = v("t"), v("length")
        return F.when(n == 15, F.concat(F.substring(t, 1, 6), F.lit("19"), F.substring(t, 7, 9))).when(
            n == 18, F.substring(t, 1, 17))

    return staged(df, out, [
        ("t", lambda v: clean_id(raw)),
        ("length", length),
        ("first17", first17),
        ("date", lambda v: date_of(F.substring(v("first17"), 7, 8))),
        ("check", lambda v: check_char(v("first17"))),
        (out, lambda v: F.struct(*[column.alias(wanted[name]) for name, column in _reading(v).items() if name in wanted])),
    ])


def _reading(v: Callable[[str], Column]) -> dict[str, Column]:
    t, n, date, check = v("t"), v("length"), v("date"), v("check")
    is15, is18 = n == 15, n == 18
    scientific = t.contains("E+") | t.contains(".")
    zeros = t.endswith("000")
    check_ok = check == F.substring(t, 18, 1)
    widened = F.concat(v("first17"), check)
    status = (
        F.when(t == "", F.lit("missing"))
        .when(scientific, F.lit("truncated"))
        .when(is15, F.when(date.isNull(), F.lit("bad_date")).otherwise(F.lit("repaired_15")))
        .when(is18, F.when(date.isNull(), F.lit("bad_date"))
              .when(zeros, F.when(check_ok, F.lit("suspect_000")).otherwise(F.lit("truncated")))
              .when(~check_ok, F.lit("bad_check"))
              .otherwise(F.lit("valid")))
        .when(t.rlike(ids.SHORT_PATTERN), F.lit("truncated"))
        .otherwise(F.lit("malformed"))
    )
    repaired = is15 & date.isNotNull()
    excel18 = is18 & date.isNotNull() & zeros
    well_formed18 = is18 & date.isNotNull() & check_ok  # valid or suspect_000
    intact_sex18 = well_formed18 & ~zeros
    sci_area = F.when(t.rlike(ids.EXCEL_SCIENTIFIC), F.substring(F.concat(
        F.regexp_extract(t, ids.EXCEL_SCIENTIFIC, 1), F.regexp_extract(t, ids.EXCEL_SCIENTIFIC, 2), F.lit("00000")), 1, 6))
    return {
        "status": status,
        # (a scientific-notation string never has the shape of a 15- or 18-character ID)
        "id18": F.when(repaired, widened).when(well_formed18, t),
        "digits": F.when(repaired, widened).when(is18, t),
        "area": F.when(scientific, sci_area).when(repaired | excel18 | intact_sex18, F.substring(t, 1, 6)),
        "birth_date": F.when(repaired | excel18 | well_formed18, date),
        "sex": F.when(repaired, _parity(F.substring(t, 15, 1))).when(intact_sex18, _parity(F.substring(t, 17, 1))),
        "written_birth_date": F.when(repaired | is18, date),
        "written_sex": F.when(repaired, _parity(F.substring(t, 15, 1)))
        .when(is18 & (date.isNull() | ~zeros), _parity(F.substring(t, 17, 1))),
    }


# --- the keyed hash -------------------------------------------------------------------------------

def _hmac_hex(message: Column, key: bytes) -> Column:
    """:func:`gridrisk.privacy.hmac_sha256` (hex) natively: SHA-256 over the padded key (RFC 2104)."""
    block = key if len(key) <= 64 else hashlib.sha256(key).digest()
    block = block.ljust(64, b"\0")
    ipad = F.unhex(F.lit(bytes(b ^ 0x36 for b in block).hex()))
    opad = F.unhex(F.lit(bytes(b ^ 0x5C for b in block).hex()))
    inner = F.unhex(F.sha2(F.concat(ipad, F.encode(message, "UTF-8")), 256))
    return F.sha2(F.concat(opad, inner), 256)


def with_person_key(df: DataFrame, id18: str | Column, key: bytes, out: str) -> DataFrame:
    """``df`` + ``out``: :func:`gridrisk.privacy.person_key` of ``id18`` natively (null when the
    ID is null): ``p`` + base32 of the first 95 bits of the keyed hash.

    The first 24 hex characters of the hash are read as two 48-bit whole numbers (one ``conv``
    each) and every 5 bits are cut out with shifts and masks: a ``conv`` per character, through
    a string of bits, took 23 s on 2 M records."""
    half = 48

    def number(v: Callable[[str], Column], i: int) -> Column:
        return F.conv(F.substring(v("digest"), 1 + 12 * i, 12), 16, 10).cast("long")

    def five_bits(v: Callable[[str], Column], start: int) -> Column:
        """Bits ``start`` … ``start + 4`` of the 96 (0 = the most significant) as 0–31."""
        high, low = v("high"), v("low")
        end = start + 5
        if end <= half:
            return F.shiftright(high, half - end).bitwiseAND(31)
        if start >= half:
            return F.shiftright(low, 2 * half - end).bitwiseAND(31)
        from_low = end - half  # the character spans both halves
        return F.shiftleft(high.bitwiseAND((1 << (half - start)) - 1), from_low).bitwiseOR(
            F.shiftright(low, half - from_low))

    def base32(v: Callable[[str], Column]) -> Column:
        return F.when(v("digest").isNotNull(), F.concat(F.lit("p"), *[
            F.substring(F.lit(_BASE32), five_bits(v, 5 * i) + 1, 1) for i in range(privacy.PERSON_KEY_LENGTH - 1)]))

    return staged(df, out, [("digest", lambda v: _hmac_hex(_c(id18), key)), ("high", lambda v: number(v, 0)),
                            ("low", lambda v: number(v, 1)), (out, base32)])


def keyed_hash(value: str | Column, key: bytes, domain: str) -> Column:
    """:func:`gridrisk.privacy.keyed_hash` natively (null for null)."""
    return F.substring(_hmac_hex(F.concat(F.lit(f"{domain}:"), _c(value)), key), 1, privacy.TOKEN_LENGTH)


def mask_name(name: str | Column) -> Column:
    """:func:`gridrisk.privacy.mask_name` natively: 张*丰, 李*."""
    n = _c(name)
    n_chars = F.length(n)
    return (F.when(n.isNull() | (n_chars == 0), n)
            .when(n_chars <= 2, F.concat(F.substring(n, 1, 1), F.lit("*")))
            .otherwise(F.concat(F.substring(n, 1, 1), F.repeat(F.lit("*"), n_chars - 2), F.substring(n, -1, 1))))


def age_on(birth: str | Column, ds: str) -> Column:
    """Whole years of age on the logical date."""
    return F.floor(F.months_between(F.lit(ds).cast("date"), _c(birth)) / 12).try_cast("int")
