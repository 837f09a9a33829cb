"""The ID, hash and phone rules rendered natively in Spark (gridrisk.columns and
jobs.silver.person_standardise) agree with the Python rules on every damaged form — so silver
housing, quality and entity resolution read the same birth date from the same ID."""

from __future__ import annotations

import datetime as dt

import pytest
from test_ids import TABLE

from gridrisk import ids, privacy

D = dt.date


def test_spark_reads_every_damaged_form_as_python_does(spark):
    from gridrisk import columns

    forms = list(TABLE)
    df = spark.createDataFrame([(f, TABLE[f][0]) for f in forms], "form string, raw string")
    read = columns.with_id_reading(df, "raw", "id")
    assert read.columns == ["form", "raw", "id"]  # the helper columns are gone
    got = {r.form: tuple(r.id) for r in read.collect()}
    got_type = read.schema["id"].dataType
    assert [(f.name, f.dataType) for f in got_type.fields] == [(f.name, f.dataType) for f in columns.ID_READING.fields]
    for form in forms:
        assert got[form] == tuple(ids.read_id(TABLE[form][0])), form


def test_spark_and_python_agree_on_generated_damage(spark):
    """Every ID damage the generator makes, on many IDs (random areas, dates, sequences)."""
    import numpy as np

    from gridrisk import columns
    from synth.generate.noise import damage_ids

    rng = np.random.default_rng(7)
    clean = [ids.make_id(f"{rng.integers(110000, 660000)}", D(1930, 1, 1) + dt.timedelta(days=int(rng.integers(0, 30000))),
                         int(rng.integers(0, 1000))) for _ in range(3000)]
    noise = {"id_legacy15": 0.15, "id_fullwidth": 0.15, "id_truncated": 0.3, "id_typo": 0.15, "id_missing": 0.05,
             "id_lowercase_x": 0.5}
    written, damage = damage_ids(clean, rng, noise)
    assert {"legacy15", "fullwidth", "lowercase_x", "truncated", "typo", "missing", "none"} <= set(damage)
    df = spark.createDataFrame([(i, w) for i, w in enumerate(written)], "i int, raw string")
    read = columns.with_person_key(columns.with_id_reading(df, "raw", "id"), "id.id18", b"k", "key").collect()
    got = {r.i: tuple(r.id) for r in read}
    assert all(got[i] == tuple(ids.read_id(w)) for i, w in enumerate(written))
    # the person key of every repaired ID, bit for bit (every base32 position, many hashes)
    keys = {r.i: r.key for r in read}
    assert all(keys[i] == (privacy.person_key(got[i][1], b"k") if got[i][1] else None) for i in keys)
    # and what survives is right: a repaired ID is the true one, an established birth date the true
    # one. Except for a typo in a genuine ID ending 000 (1 in 1,100 IDs): that looks exactly like an
    # Excel truncation, and its date segment is taken — ~700 times rarer than a real truncation.
    for i, w in enumerate(written):
        if clean[i].endswith("000") and damage[i] == "typo":
            continue
        r = ids.read_id(w)
        assert r.id18 in (None, clean[i]) or r.status == "suspect_000"
        assert r.birth_date in (None, ids.birth_date(clean[i]))
        assert r.sex in (None, ids.sex(clean[i]))
        assert r.area in (None, clean[i][:6])


@pytest.mark.parametrize("value", ["32011519900101123X", "", "张三", "p" * 200])
def test_spark_keyed_hashes_equal_the_python_ones(spark, value):
    from gridrisk import columns

    for key in (b"k", b"a-much-longer-secret-" * 5):  # > 64 bytes: hashed first, as HMAC says
        row = columns.with_person_key(spark.createDataFrame([(value,)], "v string"), "v", key, "p").select(
            "p", columns.keyed_hash("v", key, "record").alias("h"), columns.mask_name("v").alias("m")).first()
        assert row.p == privacy.person_key(value, key)
        assert row.h == privacy.keyed_hash(value, key, "record")
        assert row.m == privacy.mask_name(value)


def test_spark_keyed_hashes_of_null_are_null(spark):
    from gridrisk import columns

    row = columns.with_person_key(spark.createDataFrame([(None,)], "v string"), "v", b"k", "p").select(
        "p", columns.keyed_hash("v", b"k", "phone").alias("h")).first()
    assert (row.p, row.h) == (None, None)


@pytest.mark.parametrize("raw", ["+86 138 1234 5678", "138-1234-5678", "0086 13812345678", "８６１３８１２３４５６７８",
                                 "13812345678", "025-8888-1234", "1234", "", None])
def test_spark_normalises_phones_as_python_does(spark, raw):
    from jobs.silver.person_standardise import normalise_phone, with_phone

    got = with_phone(spark.createDataFrame([(raw,)], "v string"), "v", "p").first().p
    assert got == normalise_phone(raw)


def test_housing_and_entity_resolution_read_the_same_birth_date(spark):
    """The issue's example: one ID, one birth date, whichever silver job reads it."""
    from pyspark.sql import functions as F

    from jobs.silver import person_master as pm
    from jobs.silver.standardise import with_normalised_id

    forms = [v[0] for v in TABLE.values()]
    df = spark.createDataFrame([(f"r{i}", raw) for i, raw in enumerate(forms)], "record_key_raw string, id_raw string")
    records = df.select(F.lit("driving_licences").alias("dataset"), F.lit("holder").alias("role"), "record_key_raw",
                        F.lit(False).alias("record_key_is_id"), "id_raw", F.lit(None).cast("string").alias("name_raw"),
                        F.lit(None).cast("date").alias("birth_date_given"), F.lit(None).cast("string").alias("sex_given"),
                        F.lit(None).cast("string").alias("phone_raw"), F.lit(None).cast("string").alias("address_code"),
                        F.lit(4).alias("anchor_priority"), F.lit("").alias("_row_of"))
    er = {r.record_key: r.birth_date for r in pm.standardise_records(records, b"k").collect()}
    housing = {r.record_key_raw: r.b for r in
               with_normalised_id(df, "id_raw", "n").select("record_key_raw", F.col("n.id_birth_date").alias("b")).collect()}
    assert er == housing
    assert er == {f"r{i}": ids.read_id(raw).birth_date for i, raw in enumerate(forms)}
    assert er[f"r{list(TABLE).index('typo in the date, still a date')}"] is None  # not 1990-02-01
