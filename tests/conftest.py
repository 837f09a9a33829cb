"""Shared fixtures: one SparkSession for the whole run (reset after each test), a fresh lake per test.

Test tiers (setup.cfg, Makefile):

- plain ``pytest`` / ``make test-fast`` — no JVM, no Airflow: config, rules, catalog, IDs, the
  task store, the generator; seconds;
- ``-m spark`` — everything that needs the Spark session (marked automatically: a test that
  asks for the ``spark`` fixture is a ``spark`` test);
- ``-m airflow`` — DAG parsing and ``dag.test()`` runs;
- ``make test`` (and CI) — all of it, slow end-to-end runs included.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# An xdist worker (``make test``) runs under execnet with a bare ``__main__``: no spec, no file.
# pyspark.sql.connect (imported by great_expectations) takes that for its own doctest runner and
# calls sys.exit(0) when Spark Connect's optional packages are missing. A file name tells it
# otherwise; the import then fails with ImportError, which great_expectations expects.
_main = sys.modules["__main__"]
if getattr(_main, "__spec__", None) is None and not hasattr(_main, "__file__"):
    _main.__file__ = "<pytest-xdist worker>"

os.environ.setdefault("PYSPARK_PYTHON", os.environ.get("PYSPARK_PYTHON", "python3"))
# A developer's shell may have attached to a running engine (scripts/engine.sh): tests run their
# stages in this process, on their own lakes and keys (tests/test_cluster.py starts its own engine).
os.environ.pop("GRIDRISK_ENGINE_URL", None)


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory):
    """One local SparkSession with Delta for the whole test run: UI off, few partitions."""

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
    session.conf.set("gridrisk.test.baseline", "1")
    baseline = dict(session.conf.getAll)
    session.__dict__["_gridrisk_baseline_conf"] = baseline
    yield session
    session.stop()


@pytest.fixture(autouse=True)
def _reset_spark_after_test(request: pytest.FixtureRequest):
    """After a Spark test: drop cached data and temp views, and restore the session's runtime
    configuration, so no test sees what an earlier one left behind."""
    yield
    if "spark" not in request.fixturenames:
        return
    session = request.getfixturevalue("spark")
    baseline: dict[str, str] = session.__dict__.get("_gridrisk_baseline_conf", {})
    session.catalog.clearCache()
    for view in session.catalog.listTables():
        if view.isTemporary:
            session.catalog.dropTempView(view.name)
    for key, value in dict(session.conf.getAll).items():
        if key not in baseline:
            session.conf.unset(key)
        elif value != baseline[key]:
            session.conf.set(key, baseline[key])


#: The longest files (minutes each, measured with --durations), run first: under ``make test``'s
#: two workers a long file picked up last would leave one worker idle while it finishes
#: (``--no-loadscope-reorder`` keeps this order; docs/benchmarks.md, "CI time").
LONGEST_FIRST = ("test_dags.py", "test_cluster.py", "test_hourly.py", "test_person_rules.py", "test_kill_rerun.py",
                 "test_person_master.py", "test_stage_gates.py", "test_hazmat_fire_pipeline.py", "test_accuracy.py",
                 "test_cli.py", "test_report.py", "test_vehicle_tracks.py")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Longest files first; a test that uses the Spark session is a ``spark`` test; one in
    test_dags.py an ``airflow`` test."""
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: a file keeps its order
    for item in items:
        names = getattr(item, "fixturenames", ())
        if "spark" in names:
            item.add_marker(pytest.mark.spark)
        if item.nodeid.startswith("tests/test_dags.py"):
            item.add_marker(pytest.mark.airflow)


@pytest.fixture
def profile(tmp_path: Path):
    """A local profile whose lake, inbox and task store live in this test's temp dir."""
    from gridrisk.config import load_profile

    return load_profile("local", env={}, workdir=str(tmp_path))
