"""gridrisk.spark's helpers for the stages: scoped SQL settings, cut lineage and its release, and
the rules' one-job evaluation built on them."""

from __future__ import annotations

import pytest

from gridrisk.spark import cut_lineage, release, session_conf

SKIPPING = "spark.databricks.delta.stats.skipping"
META = "spark.databricks.delta.commitInfo.userMetadata"


def test_session_conf_sets_for_the_block_and_restores_set_and_unset_keys_even_on_error(spark):
    spark.conf.set(SKIPPING, "true")
    spark.conf.unset(META)
    with session_conf(spark, {SKIPPING: "false", META: "ds=2026-11-01"}):
        assert spark.conf.get(SKIPPING) == "false"
        assert spark.conf.get(META) == "ds=2026-11-01"
    assert spark.conf.get(SKIPPING) == "true"
    assert spark.conf.get(META, None) is None  # was unset, is unset again

    with pytest.raises(RuntimeError, match="inside"):
        with session_conf(spark, {SKIPPING: "false"}):
            raise RuntimeError("inside")
    assert spark.conf.get(SKIPPING) == "true"
    spark.conf.unset(SKIPPING)


def _cached_rdds(spark) -> int:
    return len(spark.sparkContext._jsc.sc().getRDDStorageInfo())


def test_cut_lineage_keeps_the_rows_under_a_one_leaf_plan_and_release_frees_them(spark):
    from pyspark.sql import functions as F

    base = spark.range(0, 1_000).withColumn("k", F.col("id") % 7).groupBy("k").agg(F.count("*").alias("n"))
    before = _cached_rdds(spark)
    cut = cut_lineage(base)
    plan = cut._jdf.queryExecution().logical()
    assert plan.nodeName() == "LogicalRDD" and plan.children().size() == 0
    assert sorted(map(tuple, cut.collect())) == sorted(map(tuple, base.collect()))
    assert _cached_rdds(spark) == before + 1
    release(cut)
    assert _cached_rdds(spark) == before


def test_the_rules_evaluation_gives_each_rule_its_own_hits_from_one_single_partition_frame(spark):
    from jobs.gold.risk_flags import HIT_SHAPE, evaluate_once

    columns = list(HIT_SHAPE)
    schema = spark.range(1).selectExpr(*(f"CAST(NULL AS STRING) AS {c}" for c in columns)).schema

    def hits(n: int, tag: str):
        rows = [tuple(f"{tag}-{i}-{c}" for c in columns) for i in range(n)]
        return spark.createDataFrame(rows, schema).repartition(5)

    spark.conf.unset(SKIPPING)
    evaluated = evaluate_once({"rule.a": hits(3, "a"), "rule.b": hits(4, "b"), "rule.none": hits(0, "x")})
    assert spark.conf.get(SKIPPING, None) is None  # the evaluation's settings were its own
    assert set(evaluated) == {"rule.a", "rule.b", "rule.none"}
    assert evaluated["rule.a"].columns == columns
    assert sorted(r[columns[0]] for r in evaluated["rule.a"].collect()) == [f"a-{i}-{columns[0]}" for i in range(3)]
    assert evaluated["rule.b"].count() == 4 and evaluated["rule.none"].count() == 0
    # one partition for the rules' filters to read, whatever the rules' own stages had
    assert evaluated["rule.b"].rdd.getNumPartitions() == 1
