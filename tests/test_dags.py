"""The Airflow DAGs: they parse, have the intended shape, stay light, and run a generated day.

Airflow reads ``AIRFLOW_HOME`` and its settings once, when it is first imported, and creates
files there. So nothing here imports airflow at module level: the ``airflow_home`` fixture
points it at a temp dir first, and the parse-weight check runs in a subprocess of its own.
The rest of the suite never imports airflow.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gridrisk.catalog import BRONZE_DATASETS, CATALOG, LINK_DATASETS

REPO = Path(__file__).resolve().parents[1]
DAGS = REPO / "dags"
DAG_ID = "gridrisk_daily"
HEAVY_MODULES = ("pyspark", "great_expectations")


def airflow_env(home: Path) -> dict[str, str]:
    """The settings a throwaway Airflow needs: its own home, SQLite DB, our DAGs, no examples."""
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
    }




@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory: pytest.TempPathFactory):
    """Point this process's Airflow at a temp home; must run before airflow is first imported."""
    home = tmp_path_factory.mktemp("airflow")
    if "airflow" in sys.modules:
        from airflow.configuration import AIRFLOW_HOME

        pytest.fail(f"airflow was imported before tests/test_dags.py could set AIRFLOW_HOME (it uses {AIRFLOW_HOME})")
    env = airflow_env(home)
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield home
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def parse_dags() -> Any:
    """The DAGs folder parsed the way the DAG processor does it (sibling modules importable)."""
    from airflow.dag_processing.dagbag import BundleDagBag

    return BundleDagBag(dag_folder=DAGS, bundle_path=DAGS, bundle_name="dags-folder")


@pytest.fixture(scope="session")
def dagbag(airflow_home: Path) -> Any:
    return parse_dags()


@pytest.fixture
def dag(dagbag: Any) -> Any:
    return dagbag.dags[DAG_ID]


# --------------------------------------------------------------------------- integrity


def test_the_dags_folder_parses_without_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert dagbag.dag_ids == [DAG_ID]


def test_one_ingest_task_per_dataset_then_silver_rules_publish(dag):
    ingest_ids = {f"ingest_{name}" for name in BRONZE_DATASETS}
    assert set(dag.task_ids) == ingest_ids | {"silver", "link_persons", "vehicle_tracks", "fire_state", "rules", "publish",
                                              "report"}
    assert set(dag.task_group_dict["ingest"].children) == ingest_ids
    for task_id in ingest_ids:
        assert dag.get_task(task_id).upstream_task_ids == set()


def test_silver_waits_only_for_the_ingest_of_its_inputs(dag):
    expected = {"ingest_housing_units", "ingest_residence_registrations", "ingest_addresses"}
    assert dag.get_task("silver").upstream_task_ids == expected
    assert dag.get_task("rules").upstream_task_ids == {"silver", "link_persons", "vehicle_tracks", "fire_state"}
    # rules runs when both sides are done, whatever happened to one of them: a failed side only
    # skips its own rules (they report it), it does not hold up the other slice.
    assert dag.get_task("rules").trigger_rule == "all_done"
    assert dag.get_task("publish").upstream_task_ids == {"rules", "ingest_addresses", "ingest_grids"}
    assert dag.get_task("publish").downstream_task_ids == {"report"}
    assert dag.get_task("report").upstream_task_ids == {"rules", "publish", "ingest_grids"}
    # A broken persons delivery must not hold up the housing slice.
    assert "silver" not in dag.get_task("ingest_persons").downstream_task_ids


def test_the_hazmat_and_fire_stages_wait_for_their_own_deliveries_only(dag):
    # Late GPS holds up the vehicle tracks (and so the hazmat rules), never the fire slice.
    assert dag.get_task("vehicle_tracks").upstream_task_ids == {
        "link_persons", *(f"ingest_{n}" for n in ("gps_points", "hazmat_vehicles", "waybills", "grids", "roads",
                                                  "sensitive_places", "addresses"))}
    assert dag.get_task("fire_state").upstream_task_ids == {"ingest_fire_events", "ingest_fire_units", "ingest_addresses"}
    assert dag.get_task("ingest_gps_points").downstream_task_ids == {"vehicle_tracks"}
    assert dag.get_task("ingest_fire_events").downstream_task_ids == {"fire_state"}
    assert dag.get_task("vehicle_tracks").downstream_task_ids == dag.get_task("fire_state").downstream_task_ids == {"rules"}


def test_entity_resolution_waits_for_every_person_bearing_department_and_the_addresses(dag):
    # The addresses reference places a person in a grid: linking before it landed would read
    # yesterday's (or none) and a re-run would give a different table.
    expected = {f"ingest_{name}" for name in (*LINK_DATASETS, "addresses")}
    assert dag.get_task("link_persons").upstream_task_ids == expected
    # the crew of a hazmat waybill is matched on the person keys entity resolution gave it
    assert dag.get_task("link_persons").downstream_task_ids == {"rules", "vehicle_tracks"}


def test_every_edge_of_the_dag_comes_from_the_catalog(dag):
    for stage in CATALOG.stages:
        if stage.name == "ingest":
            continue
        wanted = {f"ingest_{n}" for n in stage.delivery_inputs} | {s.airflow_task_id for s in CATALOG.upstream_of(stage.name)}
        assert dag.get_task(stage.airflow_task_id).upstream_task_ids == wanted, stage.name


def test_a_failed_task_alerts(dag):
    from gridrisk import alerts

    for t in dag.tasks:
        callbacks = t.on_failure_callback if isinstance(t.on_failure_callback, list) else [t.on_failure_callback]
        assert alerts.on_task_failure in callbacks, t.task_id


def test_every_task_retries_twice_with_exponential_backoff(dag):
    for t in dag.tasks:
        assert t.retries == 2, t.task_id
        assert t.retry_exponential_backoff > 1, t.task_id  # in Airflow 3.3 a multiplier, not a flag
        assert t.retry_delay == timedelta(minutes=10), t.task_id
        assert t.execution_timeout is not None, t.task_id


def test_daily_data_interval_schedule_serialised_runs_and_params(dag):
    from airflow.sdk import CronDataIntervalTimetable

    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    assert dag.start_date == datetime(2026, 11, 1, tzinfo=UTC)
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert {"gridrisk", "daily"} <= set(dag.tags)
    assert "backfill create" in dag.doc_md
    # Resolved when the task runs (GRIDRISK_PROFILE of the worker), never at parse time.
    assert dag.params["profile"] is None and dag.params["inbox"] is None


def test_ingest_task_fails_with_the_loaders_status_and_message_unless_loaded(dag, monkeypatch):
    import jobs.pipeline

    calls: list[dict[str, Any]] = []

    def fake_ingest(**kwargs: Any) -> dict[str, Any]:
        calls.append(kwargs)
        status = "loaded" if kwargs["datasets"] == ["grids"] else "not_ready"
        return {"stage": "ingest", "ds": kwargs["ds"], "results": [
            {"dataset": kwargs["datasets"][0], "status": status, "message": "no manifest.json yet", "rows_read": 0}
        ]}

    class FakeTaskInstance:
        def __init__(self) -> None:
            self.pushed: dict[str, Any] = {}

        def xcom_push(self, key: str, value: Any) -> None:
            self.pushed[key] = value

    monkeypatch.setattr(jobs.pipeline, "ingest", fake_ingest)
    context = {"logical_date": datetime(2026, 11, 1, tzinfo=UTC), "ds": "2026-11-01",
               "params": {"profile": "", "inbox": None}, "ti": FakeTaskInstance()}

    assert dag.get_task("ingest_grids").python_callable("grids", **context)["status"] == "loaded"
    with pytest.raises(RuntimeError, match="persons for 2026-11-01: not_ready: no manifest.json yet"):
        dag.get_task("ingest_persons").python_callable("persons", **context)
    assert context["ti"].pushed["ingest_result"]["status"] == "not_ready"
    assert calls[0]["ds"] == "2026-11-01" and calls[0]["datasets"] == ["grids"]
    assert calls[0]["profile"].name == "local"  # resolved when the task runs


def test_importing_the_dags_pulls_in_neither_pyspark_nor_great_expectations(tmp_path):
    probe = f"""
import json, sys
from pathlib import Path
from airflow.dag_processing.dagbag import BundleDagBag
dags = Path({str(DAGS)!r})
bag = BundleDagBag(dag_folder=dags, bundle_path=dags, bundle_name="dags-folder")
print(json.dumps({{"dags": bag.dag_ids, "errors": bag.import_errors,
                  "heavy": [m for m in {HEAVY_MODULES!r} if m in sys.modules]}}))
"""
    env = {**os.environ, **airflow_env(tmp_path)}
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["errors"] == {}
    assert DAG_ID in report["dags"]  # beside gridrisk_hourly (tests/test_hourly_dag.py)
    assert report["heavy"] == []


# --------------------------------------------------------------------------- end to end


@pytest.mark.slow
def test_dag_test_runs_a_generated_day_and_publishes_inspection_tasks(spark, airflow_home, tmp_path, monkeypatch):
    """A tiny province through every task with ``dag.test()``, in this process.

    ``spark`` is requested so the shared session exists first: the tasks run in-process and
    ``gridrisk.spark.get_spark`` reuses the active session instead of starting another.
    """
    from gridrisk.taskstore import open_store
    from synth.generate import generate

    generate(inbox=tmp_path / "inbox", truth=tmp_path / "truth", persons=1000, seed=7,
             start_date=date(2026, 11, 1), days=1, progress=False)
    dsn = f"sqlite:///{tmp_path}/tasks.sqlite"
    for key, value in {"GRIDRISK_PROFILE": "local", "GRIDRISK_LAKE": str(tmp_path / "lake"),
                       "GRIDRISK_INBOX": str(tmp_path / "inbox"), "GRIDRISK_TASK_STORE": dsn,
                       "GRIDRISK_WORKDIR": str(tmp_path)}.items():
        monkeypatch.setenv(key, value)

    from airflow.utils.db import initdb

    initdb()  # a fresh SQLite metadata DB in airflow_home, created from the models (no migrations)
    dag = parse_dags().dags[DAG_ID]  # a fresh copy: the retries are changed below
    for t in dag.tasks:
        t.retries = 0  # fail fast: a retry would wait ten minutes for a delivery that is not coming
    run = dag.test(logical_date=datetime(2026, 11, 1, tzinfo=UTC))

    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert run.state == "success", states
    assert open_store(dsn).list_tasks("32"), "the run succeeded but published no inspection task"
