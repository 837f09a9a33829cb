"""Shared fixtures: one SparkSession for the whole run, a fresh lake per test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("PYSPARK_PYTHON", os.environ.get("PYSPARK_PYTHON", "python3"))


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory):
    """One local SparkSession with Delta for the whole test run: UI off, few partitions."""
    import sys

    os.environ["PYSPARK_PYTHON"] = sys.executable
    from gridrisk.config import load_profile
    from gridrisk.spark import get_spark

    warehouse = tmp_path_factory.mktemp("warehouse")
    profile = load_profile("local", env={}, workdir=str(warehouse))
    conf = dict(profile.spark_conf)
    conf.update({
        "spark.master": "local[2]",
        "spark.sql.shuffle.partitions": "2",
        "spark.default.parallelism": "2",
        "spark.ui.enabled": "false",
        "spark.sql.warehouse.dir": str(warehouse),
        "spark.databricks.delta.snapshotPartitions": "2",
        # One JVM runs the whole suite (Splink, Delta MERGEs, the Airflow run): 2g ran out of
        # heap building a broadcast late in a CI run.
        "spark.driver.memory": "4g",
    })
    from dataclasses import replace

    session = get_spark(replace(profile, spark_master="local[2]", spark_conf=conf))
    yield session
    session.stop()


@pytest.fixture
def profile(tmp_path: Path):
    """A local profile whose lake, inbox and task store live in this test's temp dir."""
    from gridrisk.config import load_profile

    return load_profile("local", env={}, workdir=str(tmp_path))
