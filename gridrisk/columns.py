"""The library's pure rules as native Spark column expressions: ID reading (:mod:`gridrisk.ids`),
the keyed hash and masking (:mod:`gridrisk.privacy`), ages.

Built from the same constants as the Python rules (weights, check characters, the full-width
table, the patterns), with no Python UDF: Spark evaluates them in the JVM, in generated code.
``tests/test_ids.py`` runs every damaged ID form through both and asserts they agree; silver
housing, quality and entity resolution all read IDs through :func:`read_id`.

Example (a SparkSession ``spark``)::

    df.select(read_id("id_no").alias("id"))           # struct of gridrisk.ids.IdReading's fields
    df.select(person_key(F.col("id.id18"), key))     # == gridrisk.privacy.person_key, natively
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from pyspark.sql import Column
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


def check_char(first17: Column) -> Column:
    """:func:`gridrisk.ids.check_char` of a column of 17 ASCII digits."""
    total: Column = F.lit(0)
    for i, weight in enumerate(ids.WEIGHTS):
        total = total + F.substring(first17, i + 1, 1).try_cast("int") * weight
    return F.substring(F.lit(ids.CHECK_CHARS), (total % 11) + 1, 1)


def date_of(yyyymmdd: Column) -> Column:
    """:func:`gridrisk.ids.date_of`: the real date 1900–2100 that 8 digits name, else null."""
    year = F.substring(yyyymmdd, 1, 4).try_cast("int")
    return F.when(yyyymmdd.rlike("^[0-9]{8}$") & year.between(ids.MIN_YEAR, ids.MAX_YEAR),
                  F.try_to_date(yyyymmdd, "yyyyMMdd"))


def _parity(digit: Column) -> Column:
    return F.when(digit.try_cast("int") % 2 == 1, F.lit("M")).otherwise(F.lit("F"))


def let(value: Column, body: Callable[[Column], Column]) -> Column:
    """``body(value)`` with ``value`` evaluated once: an expression referenced many times would
    otherwise be copied into every reference (the optimiser inlines columns), and the tree grows
    multiplicatively with each nesting — ``transform`` over a one-element array binds it instead."""
    return F.transform(F.array(value), body).getItem(0)


def read_id(raw: str | Column) -> Column:
    """:func:`gridrisk.ids.read_id` natively: a struct with :data:`ID_READING`'s fields."""
    return let(clean_id(raw), _read_clean)


def _read_clean(t: Column) -> Column:
    # legacy 15: 19 inserted before the year, check appended
    first17_of15 = F.concat(F.substring(t, 1, 6), F.lit("19"), F.substring(t, 7, 9))
    parts = F.struct(
        (t.contains("E+") | t.contains(".")).alias("scientific"),
        t.rlike(ids.ID15_PATTERN).alias("is15"),
        t.rlike(ids.ID18_PATTERN).alias("is18"),
        F.concat(first17_of15, check_char(first17_of15)).alias("widened"),
        date_of(F.concat(F.lit("19"), F.substring(t, 7, 6))).alias("date15"),
        date_of(F.substring(t, 7, 8)).alias("date18"),
        (check_char(F.substring(t, 1, 17)) == F.substring(t, 18, 1)).alias("check_ok"),
        t.endswith("000").alias("zeros"),
    )
    return let(parts, lambda p: _reading(t, p))


def _reading(t: Column, p: Column) -> Column:
    scientific, is15, is18, zeros, check_ok = p["scientific"], p["is15"], p["is18"], p["zeros"], p["check_ok"]
    date15, date18, widened = p["date15"], p["date18"], p["widened"]
    status = (
        F.when(t == "", F.lit("missing"))
        .when(scientific, F.lit("truncated"))
        .when(is15, F.when(date15.isNull(), F.lit("bad_date")).otherwise(F.lit("repaired_15")))
        .when(is18, F.when(date18.isNull(), F.lit("bad_date"))
              .when(zeros, F.when(check_ok, F.lit("suspect_000")).otherwise(F.lit("truncated")))
              .when(~check_ok, F.lit("bad_check"))
              .otherwise(F.lit("valid")))
        .when(t.rlike(ids.SHORT_PATTERN), F.lit("truncated"))
        .otherwise(F.lit("malformed"))
    )
    repaired = is15 & date15.isNotNull()
    excel18 = is18 & date18.isNotNull() & zeros
    well_formed18 = is18 & date18.isNotNull() & check_ok  # valid or suspect_000
    intact_sex18 = well_formed18 & ~zeros
    sci_area = F.when(t.rlike(ids.EXCEL_SCIENTIFIC), F.substring(F.concat(
        F.regexp_extract(t, ids.EXCEL_SCIENTIFIC, 1), F.regexp_extract(t, ids.EXCEL_SCIENTIFIC, 2), F.lit("00000")), 1, 6))
    return F.struct(
        status.alias("status"),
        # (a scientific-notation string never has the shape of a 15- or 18-character ID)
        F.when(repaired, widened).when(well_formed18, t).alias("id18"),
        F.when(repaired, widened).when(is18, t).alias("digits"),
        F.when(scientific, sci_area).when(repaired | excel18 | intact_sex18, F.substring(t, 1, 6)).alias("area"),
        F.when(repaired, date15).when(excel18 | well_formed18, date18).alias("birth_date"),
        F.when(repaired, _parity(F.substring(t, 15, 1))).when(intact_sex18, _parity(F.substring(t, 17, 1))).alias("sex"),
        F.when(repaired, date15).when(is18, date18).alias("written_birth_date"),
        F.when(repaired, _parity(F.substring(t, 15, 1)))
        .when(is18 & (date18.isNull() | ~zeros), _parity(F.substring(t, 17, 1))).alias("written_sex"),
    )


# --- the keyed hash -------------------------------------------------------------------------------

def _hmac_hex(message: Column, key: bytes) -> Column:
    """:func:`gridrisk.privacy.hmac_sha256` (hex) natively: SHA-256 over the padded key (RFC 2104)."""
    block = key if len(key) <= 64 else hashlib.sha256(key).digest()
    block = block.ljust(64, b"\0")
    ipad = F.unhex(F.lit(bytes(b ^ 0x36 for b in block).hex()))
    opad = F.unhex(F.lit(bytes(b ^ 0x5C for b in block).hex()))
    inner = F.unhex(F.sha2(F.concat(ipad, F.encode(message, "UTF-8")), 256))
    return F.sha2(F.concat(opad, inner), 256)


def person_key(id18: str | Column, key: bytes) -> Column:
    """:func:`gridrisk.privacy.person_key` natively (null when the ID is null)."""
    return let(_hmac_hex(_c(id18), key), _base32_key)


def _base32_key(digest: Column) -> Column:
    # base32 of the first 95 bits: 24 hex characters → 96 bits (in two 48-bit halves, which
    # conv handles) → 19 groups of 5.
    bits = F.concat(*[F.lpad(F.conv(F.substring(digest, 1 + 12 * half, 12), 16, 2), 48, "0") for half in (0, 1)])

    def chars(b: Column) -> Column:
        return F.concat(F.lit("p"), *[
            F.substring(F.lit(_BASE32), F.conv(F.substring(b, 1 + 5 * i, 5), 2, 10).try_cast("int") + 1, 1)
            for i in range(privacy.PERSON_KEY_LENGTH - 1)])

    return F.when(digest.isNotNull(), let(bits, chars))


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
