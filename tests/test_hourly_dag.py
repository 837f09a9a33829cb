"""The hourly Airflow DAG (dags/gridrisk_hourly.py): it parses beside the daily DAG without
pulling in pyspark or Great Expectations, runs hourly one run at a time, takes its edges from the
catalog, and maps a run's data interval to the Beijing day and hour of the deliveries.

Airflow is only imported in a subprocess here (it reads AIRFLOW_HOME once, on first import;
tests/test_dags.py explains), which prints what the checks need as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DAGS = REPO / "dags"

PROBE = """
import json, sys
from datetime import datetime, timezone
from pathlib import Path
from airflow.dag_processing.dagbag import BundleDagBag
dags = Path({dags!r})
bag = BundleDagBag(dag_folder=dags, bundle_path=dags, bundle_name="dags-folder")
heavy = [m for m in ("pyspark", "great_expectations") if m in sys.modules]
dag = bag.dags["gridrisk_hourly"]
module = next(m for n, m in list(sys.modules.items()) if n.endswith("gridrisk_hourly"))
args = module._hour_args({{"data_interval_start": datetime(2026, 11, 1, 18, 0, tzinfo=timezone.utc),
                          "params": {{"profile": None, "inbox": "/tmp/inbox"}}}})
print(json.dumps({{
    "dags": sorted(bag.dag_ids), "errors": bag.import_errors, "heavy": heavy,
    "tasks": sorted(dag.task_ids),
    "edges": sorted([u, d] for u in dag.task_ids for d in dag.get_task(u).downstream_task_ids),
    "max_active_runs": dag.max_active_runs, "timetable": type(dag.timetable).__name__,
    "summary": dag.timetable.expression, "tz": str(dag.timetable.timezone), "retries": dag.default_args["retries"],
    "trigger": {{t: dag.get_task(t).trigger_rule for t in dag.task_ids}},
    "alerts": all(dag.get_task(t).on_failure_callback for t in dag.task_ids),
    "stages": list(module.HOURLY_STAGES), "args": {{"ds": args["ds"], "hour": args["hour"],
                                                  "inbox": args["profile"].inbox}},
}}, default=str))
"""


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> dict:
    home = tmp_path_factory.mktemp("airflow")
    env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db"}
    out = subprocess.run([sys.executable, "-c", PROBE.format(dags=str(DAGS))], env=env, capture_output=True,
                         text=True, timeout=300, cwd=str(REPO))
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_both_dags_parse_and_neither_pulls_in_spark_or_great_expectations(probe):
    assert probe["errors"] == {}
    assert {"gridrisk_daily", "gridrisk_hourly"} <= set(probe["dags"])
    assert probe["heavy"] == []


def test_two_ingests_then_tracks_rules_publish_with_edges_from_the_catalog(probe):
    from gridrisk.catalog import CATALOG

    assert probe["tasks"] == ["ingest_gps_points", "ingest_waybills", "publish", "rules", "vehicle_tracks"]
    assert probe["edges"] == [["ingest_gps_points", "vehicle_tracks"], ["ingest_waybills", "vehicle_tracks"],
                              ["rules", "publish"], ["vehicle_tracks", "rules"]]
    # the catalog says so: vehicle_tracks reads both deliveries; rules reads its tables; publish the flags
    assert {"gps_points", "waybills"} <= set(CATALOG.stage("vehicle_tracks").delivery_inputs)
    assert "vehicle_tracks" in [s.name for s in CATALOG.upstream_of("rules")]
    assert "rules" in [s.name for s in CATALOG.upstream_of("publish")]
    assert probe["trigger"]["rules"] == "all_done" and probe["trigger"]["publish"] == "all_success"


def test_hourly_serialised_retried_alerting_and_the_same_stages_as_the_pipeline(probe):
    from jobs.hourly import HOURLY_STAGES

    assert probe["timetable"] == "CronDataIntervalTimetable" and probe["summary"] == "0 * * * *"
    assert probe["tz"] == "Asia/Shanghai"
    assert probe["max_active_runs"] == 1 and probe["retries"] == 3 and probe["alerts"]
    assert ["ingest", *probe["stages"]] == list(HOURLY_STAGES)


def test_a_runs_data_interval_is_a_beijing_day_and_hour(probe):
    # 18:00 UTC on 1 November is 02:00 on 2 November in Beijing: the part of hour 02 of that day
    assert probe["args"] == {"ds": "2026-11-02", "hour": 2, "inbox": "/tmp/inbox"}
