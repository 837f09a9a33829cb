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
from gridrisk.lake_compare import compare_lakes
from gridrisk.quality.checks import quality_references

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


REPORT_ID = "gridrisk_report"
STAGE_TASKS = {s.airflow_task_id for s in CATALOG.stages if s.name not in ("ingest", "report")}


def test_the_dags_folder_parses_without_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert {DAG_ID, REPORT_ID} <= set(dagbag.dag_ids)


def test_parsing_the_dags_takes_under_a_second(dagbag):
    # Airflow's own figure for each file (the import of Airflow itself is not the DAG's cost).
    parse_times = {Path(stat.file).name: stat.duration.total_seconds() for stat in dagbag.dagbag_stats}
    for name in ("gridrisk_daily.py", "gridrisk_report.py"):
        assert parse_times[name] < 1.0, parse_times


def test_one_sensor_and_one_ingest_per_delivery_then_the_stages_and_the_summary(dag):
    ingest_ids = {f"ingest_{name}" for name in BRONZE_DATASETS}
    wait_ids = {f"wait_{name}" for name in BRONZE_DATASETS}
    assert set(dag.task_ids) == ingest_ids | wait_ids | STAGE_TASKS | {"run_summary"}
    assert set(dag.task_group_dict["ingest"].children) == ingest_ids | wait_ids
    for name in BRONZE_DATASETS:
        assert dag.get_task(f"wait_{name}").upstream_task_ids == set()
        assert dag.get_task(f"ingest_{name}").upstream_task_ids == {f"wait_{name}"} | {
            f"ingest_{r}" for r in quality_references(name)}
        assert dag.get_task(f"ingest_{name}").trigger_rule == "all_done"
    # the edges the suites ask for are there (a check against a reference not yet loaded would be skipped)
    assert dag.get_task("ingest_fire_events").upstream_task_ids == {"wait_fire_events", "ingest_fire_units"}
    assert dag.get_task("run_summary").upstream_task_ids == ingest_ids | STAGE_TASKS
    assert dag.get_task("run_summary").trigger_rule == "all_done"


def test_sensors_defer_and_spark_tasks_share_the_spark_pool(dag):
    from gridrisk_common import SPARK_POOL, DeliverySensor

    for t in dag.tasks:
        if t.task_id.startswith("wait_"):
            assert isinstance(t, DeliverySensor) and t.deferrable, t.task_id
            assert t.pool != SPARK_POOL, t.task_id  # waiting holds no Spark slot
        else:
            assert t.pool == SPARK_POOL, t.task_id


def test_stages_run_on_whatever_arrived_and_decide_per_table_and_rule(dag):
    # A late or broken delivery must not hold up a stage: the stage reads the ingest log and
    # skips only what needs the missing input (trigger rule all_done on every stage).
    for task_id in STAGE_TASKS:
        assert dag.get_task(task_id).trigger_rule == "all_done", task_id
    # waybills feed entity resolution (crews), but their failure must not stop it
    assert "link_persons" in dag.get_task("ingest_waybills").downstream_task_ids


def test_silver_waits_only_for_the_ingest_of_its_inputs(dag):
    expected = {"ingest_housing_units", "ingest_residence_registrations", "ingest_addresses"}
    assert dag.get_task("silver").upstream_task_ids == expected
    assert dag.get_task("rules").upstream_task_ids == {"silver", "link_persons", "vehicle_tracks", "fire_state"}
    assert dag.get_task("publish").upstream_task_ids == {"rules", "ingest_addresses", "ingest_grids"}
    assert dag.get_task("publish").downstream_task_ids == {"run_summary"}
    # A broken persons delivery must not hold up the housing slice.
    assert "silver" not in dag.get_task("ingest_persons").downstream_task_ids


def test_the_hazmat_and_fire_stages_wait_for_their_own_deliveries_only(dag):
    assert dag.get_task("vehicle_tracks").upstream_task_ids == {
        "link_persons", *(f"ingest_{n}" for n in ("gps_points", "hazmat_vehicles", "waybills", "grids", "roads",
                                                  "sensitive_places", "addresses"))}
    assert dag.get_task("fire_state").upstream_task_ids == {"ingest_fire_events", "ingest_fire_units", "ingest_addresses"}
    assert dag.get_task("ingest_gps_points").downstream_task_ids == {"vehicle_tracks", "run_summary"}
    assert dag.get_task("ingest_fire_events").downstream_task_ids == {"fire_state", "run_summary"}
    assert dag.get_task("vehicle_tracks").downstream_task_ids == {"rules", "run_summary"}


def test_entity_resolution_follows_every_person_bearing_department_and_the_addresses(dag):
    expected = {f"ingest_{name}" for name in (*LINK_DATASETS, "addresses")}
    assert dag.get_task("link_persons").upstream_task_ids == expected
    assert dag.get_task("link_persons").downstream_task_ids == {"rules", "vehicle_tracks", "run_summary"}


def test_every_edge_of_the_dag_comes_from_the_catalog(dag):
    for stage in CATALOG.stages:
        if stage.name in ("ingest", "report"):
            continue
        wanted = {f"ingest_{n}" for n in stage.delivery_inputs} | {
            s.airflow_task_id for s in CATALOG.upstream_of(stage.name) if s.name != "report"}
        assert dag.get_task(stage.airflow_task_id).upstream_task_ids == wanted, stage.name


def test_every_lake_table_is_an_asset_produced_by_the_task_that_writes_it(dag):
    from gridrisk_common import lake_asset

    producers: dict[str, set[str]] = {}
    for t in dag.tasks:
        for asset in t.outlets:
            producers.setdefault(asset.name, set()).add(t.task_id)
    for table in CATALOG.tables:
        if table.name.startswith("_"):
            continue  # the ingest and quality logs: every ingest writes its own rows
        writer = ("run_summary" if table.ref == "ops.run_log" else f"ingest_{table.name}" if table.layer == "bronze"
                  else CATALOG.stage(table.written_by).airflow_task_id)
        assert producers.get(table.ref) == {writer}, table.ref
        assert lake_asset(table.ref).uri == f"x-gridrisk://lake/{table.layer}/{table.name}"
    assert producers["taskstore.tasks"] == {"publish"}


def test_the_report_dag_is_scheduled_on_the_gold_tables_and_tasks_it_reads(dagbag):
    report = dagbag.dags[REPORT_ID]
    from airflow.sdk.definitions.asset import AssetAll

    condition = report.timetable.asset_condition
    assert isinstance(condition, AssetAll)  # all three: the flags, the summary and the day's tasks
    names = {asset.name for asset in condition.objects}
    assert names == {"gold.risk_flags", "gold.risk_summary", "taskstore.tasks"}
    assert report.task_ids == ["build_report"]


def test_the_report_builds_the_day_of_the_newest_triggering_event():
    from types import SimpleNamespace

    from gridrisk_report import report_day

    events = {"gold.risk_flags": [SimpleNamespace(extra={"ds": "2026-11-01"}), SimpleNamespace(extra={"ds": "2026-11-03"})],
              "gold.risk_summary": [SimpleNamespace(extra={"ds": "2026-11-02"})]}
    assert report_day({"triggering_asset_events": events}) == "2026-11-03"
    assert report_day({"triggering_asset_events": {}, "logical_date": datetime(2026, 11, 5, tzinfo=UTC),
                       "ds": "2026-11-05"}) == "2026-11-05"
    with pytest.raises(ValueError, match="no asset event"):
        report_day({"triggering_asset_events": {}, "logical_date": None})


def test_a_failed_task_alerts(dag):
    from gridrisk import alerts

    for t in dag.tasks:
        callbacks = t.on_failure_callback if isinstance(t.on_failure_callback, list) else [t.on_failure_callback]
        if t.task_id == "run_summary":
            assert alerts.on_task_failure not in callbacks  # it sends the day's own alert
        else:
            assert alerts.on_task_failure in callbacks, t.task_id


def test_spark_tasks_retry_twice_with_exponential_backoff(dag):
    for t in dag.tasks:
        assert t.execution_timeout is not None, t.task_id
        if t.task_id.startswith("wait_"):
            assert t.retries == 0, t.task_id  # waiting is the sensor's job, not a retry's
            continue
        assert t.retries == 2, t.task_id
        assert t.retry_exponential_backoff > 1, t.task_id  # in Airflow 3.3 a multiplier, not a flag
        assert t.retry_delay == timedelta(minutes=10), t.task_id


def test_daily_data_interval_schedule_serialised_runs_and_params(dag):
    from airflow.sdk import CronDataIntervalTimetable

    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    assert dag.start_date == datetime(2026, 11, 1, tzinfo=UTC)
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert {"gridrisk", "daily"} <= set(dag.tags)
    assert "backfill create" in dag.doc_md
    # Resolved when the task runs (GRIDRISK_PROFILE of the worker), never at parse time.
    for name in ("profile", "inbox", "cutoff", "poke_seconds", "run_deadline_minutes"):
        assert dag.params[name] is None, name


class FakeTaskInstance:
    def __init__(self, task_id: str, arrival: dict[str, Any] | None = None) -> None:
        self.task_id = task_id
        self.log_url = f"http://airflow/log/{task_id}"
        self.arrival = arrival
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value

    def xcom_pull(self, task_ids: str) -> Any:
        return self.arrival


def _context(task_id: str, arrival: dict[str, Any] | None = None, **params: Any) -> dict[str, Any]:
    return {"logical_date": datetime(2026, 11, 1, tzinfo=UTC), "ds": "2026-11-01", "run_id": "manual__x",
            "params": {"profile": "", "inbox": None, **params}, "ti": FakeTaskInstance(task_id, arrival)}


def test_ingest_task_skips_a_late_delivery_and_refuses_a_rejected_one_without_retrying(dag, monkeypatch):
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    import jobs.pipeline
    from gridrisk import alerts

    statuses = {"grids": "loaded", "waybills": "late", "persons": "rejected", "roads": "quality_failed", "gps_points": "failed"}
    calls: list[dict[str, Any]] = []
    sent: list[dict[str, Any]] = []

    def fake_run_stage(stage: str, **kwargs: Any) -> dict[str, Any]:
        calls.append({"stage": stage, **kwargs})
        name = kwargs["datasets"][0]
        return {"stage": "ingest", "ds": kwargs["ds"], "logged": [], "results": [
            {"dataset": name, "status": statuses[name], "message": "why", "rows_read": 0}]}

    monkeypatch.setattr(jobs.pipeline, "run_stage", fake_run_stage)
    monkeypatch.setattr(alerts, "send", lambda payload, **kw: sent.append(payload) or True)

    def call(name: str, arrival: dict[str, Any] | None = None) -> Any:
        return dag.get_task(f"ingest_{name}").python_callable(name, **_context(f"ingest_{name}", arrival))

    assert call("grids", {"status": "arrived"})["status"] == "loaded"
    assert calls[0]["stage"] == "ingest" and calls[0]["late"] == [] and calls[0]["run_id"] == "manual__x"
    assert calls[0]["profile"].name == "local"  # resolved when the task runs
    with pytest.raises(AirflowSkipException, match="waybills for 2026-11-01: late"):
        call("waybills", {"status": "late", "cutoff": "2026-11-02T04:00:00+00:00"})
    assert calls[1]["late"] == ["waybills"] and calls[1]["cutoff"] == "2026-11-02T04:00:00+00:00"
    assert sent[-1]["kind"] == "delivery_late" and "waybills" in sent[-1]["reason"] and sent[-1]["ds"] == "2026-11-01"
    for name in ("persons", "roads"):
        with pytest.raises(AirflowFailException, match=f"{name} for 2026-11-01"):
            call(name, {"status": "arrived"})
    with pytest.raises(RuntimeError, match="gps_points for 2026-11-01: failed") as exc:
        call("gps_points", {"status": "arrived"})
    assert not isinstance(exc.value, AirflowFailException)  # an unexpected failure is retried


def test_a_stage_whose_inputs_are_missing_ends_skipped_and_says_why(dag, monkeypatch):
    from airflow.sdk.exceptions import AirflowSkipException

    import jobs.pipeline

    outs = {"silver": {"stage": "silver", "skipped": ["housing_units: late — no delivery"], "tables": {}},
            "rules": {"stage": "rules", "evaluated": [], "skipped": ["rental.overcrowded"],
                      "skip_reasons": {"rental.overcrowded": "no housing_occupancy"}, "tables": {}},
            "fire_state": {"stage": "fire_state", "tables": {"fire_unit_state": 3}, "logged": []}}
    monkeypatch.setattr(jobs.pipeline, "run_stage", lambda stage, **kw: outs[stage])
    with pytest.raises(AirflowSkipException, match="silver skipped for 2026-11-01: housing_units: late"):
        dag.get_task("silver").python_callable("silver", **_context("silver"))
    with pytest.raises(AirflowSkipException, match="rental.overcrowded: no housing_occupancy"):
        dag.get_task("rules").python_callable("rules", **_context("rules"))
    assert dag.get_task("fire_state").python_callable("fire_state", **_context("fire_state"))["tables"] == {"fire_unit_state": 3}


def test_the_run_summary_alerts_on_a_partial_day_and_a_missed_deadline_and_fails_a_refused_one(dag, monkeypatch):
    from types import SimpleNamespace

    from airflow.sdk.exceptions import AirflowFailException

    import jobs.pipeline
    from gridrisk import alerts

    sent: list[dict[str, Any]] = []
    monkeypatch.setattr(alerts, "send", lambda payload, **kw: sent.append(payload) or True)
    accounts = iter([{"outcome": "partial", "reason": "late: gps_points", "late": ["gps_points"], "failed": []},
                     {"outcome": "partial", "reason": "failed: waybills", "late": [], "failed": ["waybills"]}])
    monkeypatch.setattr(jobs.pipeline, "summarise", lambda ds, profile, run_id=None: next(accounts))

    class Events(dict):
        def __missing__(self, key: Any) -> Any:
            self[key] = SimpleNamespace(extra={})
            return self[key]

    began = datetime.now(UTC) - timedelta(minutes=90)
    context = _context("run_summary", {"status": "arrived", "since": began.isoformat()}, run_deadline_minutes=60)
    context.update({"dag_run": SimpleNamespace(start_date=datetime(2026, 11, 1, tzinfo=UTC)), "outlet_events": Events(),
                    "dag": dag})
    out = dag.get_task("run_summary").python_callable(**context)
    assert out["deadline_missed"] is True  # 90 min since the first sensor began, 60 allowed
    assert [a["kind"] for a in sent] == ["run_partial", "deadline_missed"]
    assert "taken 90 min" in sent[1]["reason"]  # measured from the sensors, not the run's start date
    assert context["ti"].pushed["run_summary"]["outcome"] == "partial"

    context["ti"].arrival = {"status": "arrived", "since": datetime.now(UTC).isoformat()}
    with pytest.raises(AirflowFailException, match="failed: waybills"):
        dag.get_task("run_summary").python_callable(**context)
    assert sent[-1]["kind"] == "run_failed"
    assert context["ti"].pushed["run_summary"]["failed"] == ["waybills"]  # the XCom is there all the same


def test_the_sensor_returns_at_once_defers_while_waiting_and_reports_late_after_the_cutoff(dag, tmp_path, monkeypatch):
    import asyncio

    from airflow.sdk.exceptions import TaskDeferred

    from gridrisk.arrival_trigger import ManifestTrigger
    from gridrisk.delivery import write_delivery

    sensor = dag.get_task("wait_grids")
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()

    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(_context("wait_grids", inbox=str(tmp_path), cutoff=later, poke_seconds=1))
    trigger = deferred.value.trigger
    assert isinstance(trigger, ManifestTrigger) and trigger.manifest.endswith("/20261101/manifest.json")
    assert trigger.cutoff == later and trigger.poke_seconds == 1

    late = sensor.execute(_context("wait_grids", inbox=str(tmp_path), cutoff=past))
    assert late["status"] == "late" and late["cutoff"] == past

    async def first_event(t: ManifestTrigger) -> dict[str, Any]:
        async for event in t.run():
            return event.payload
        raise AssertionError("no event")

    assert asyncio.run(first_event(ManifestTrigger(trigger.manifest, past, 1)))["status"] == "late"
    monkeypatch.setenv("GRIDRISK_HOME", str(REPO))
    folder = Path(trigger.manifest).parent
    write_delivery(tmp_path, folder.parent.name, "2026-11-01", "snapshot", {"x.csv": (b"a\n", 0)})
    assert asyncio.run(first_event(ManifestTrigger(trigger.manifest, later, 1)))["status"] == "arrived"
    assert sensor.execute(_context("wait_grids", inbox=str(tmp_path), cutoff=past))["status"] == "arrived"
    assert sensor.execute_complete(_context("wait_grids"), {"status": "late", "manifest": "m", "cutoff": past})["status"] == "late"


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
    assert {DAG_ID, REPORT_ID} <= set(report["dags"])  # beside gridrisk_hourly (tests/test_hourly_dag.py)
    assert report["heavy"] == []


# --------------------------------------------------------------------------- end to end


HAZMAT_RULES = ("hazmat.no_waybill", "hazmat.crew_unqualified", "hazmat.crew_at_risk", "hazmat.fatigue", "hazmat.speeding",
                "hazmat.night_ban", "hazmat.sensitive_stop", "hazmat.route_deviation")


def _xcom(run: Any, task_id: str, key: str = "return_value") -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.scalars(XComModel.get_many(run_id=run.run_id, dag_ids=DAG_ID, task_ids=task_id, key=key)).first()
        return None if row is None else XComModel.deserialize_value(row)


def _duplicate_rows(folder: Path) -> None:
    """Every data row of a CSV delivery twice (header once), with a manifest that agrees: the
    delivery is well-formed but fails its one-row-per-key expectation."""
    from gridrisk.delivery import ManifestFile, write_manifest

    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    files = []
    for entry in manifest["files"]:
        path = folder / entry["name"]
        header, _, body = path.read_bytes().partition(b"\n")
        body = body if body.endswith(b"\n") else body + b"\n"
        path.write_bytes(header + b"\n" + body + body)  # whole records twice (some span lines)
        files.append(ManifestFile.of(path, 2 * int(entry["rows"])))
    write_manifest(folder, manifest["dataset"], manifest["date"], manifest["kind"], files)


def _empty(folder: Path) -> None:
    """The delivery declares zero rows: its files are empty, its manifest says rows 0."""
    from gridrisk.delivery import ManifestFile, write_manifest

    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    for entry in manifest["files"]:
        (folder / entry["name"]).write_bytes(b"")
    write_manifest(folder, manifest["dataset"], manifest["date"], manifest["kind"],
                   [ManifestFile.of(folder / e["name"], 0) for e in manifest["files"]])


@pytest.fixture
def webhook():
    """A real HTTP endpoint on 127.0.0.1 that keeps what is POSTed to it."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    got: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hook", got
    server.shutdown()


@pytest.mark.slow
def test_a_partial_day_waits_for_a_late_delivery_goes_on_without_a_missing_one_and_skips_only_their_rules(
        spark, airflow_home, tmp_path, monkeypatch, webhook):
    """One generated day through the DAG with ``dag.test()`` (in this process), four departments
    out of step:

    - the drug registry is not there when its sensor starts and arrives while it waits (deferred,
      the trigger polling): it is waited for, loaded, and the drug rules run;
    - GPS never arrives: at the cut-off its ingest is ``late`` (skipped, alerted), the vehicle
      tracks are skipped and with them only the hazmat rules — the run goes on;
    - the transport department's file fails quality (every row twice): its ingest fails without a
      retry, entity resolution runs on the others, and only the rules that read qualifications
      are skipped — driver.mental and the other licence rules run;
    - the waybills declare zero rows: a valid, empty delivery (the person rules do not skip).

    The run summary (XCom and the run log) says all of it; the webhook hears of the late
    delivery, the failed ingest, the failed run and the missed deadline; the report DAG is due
    because the gold tables and the tasks it reads are new.

    ``spark`` is requested so the shared session exists first: the tasks reuse it.
    """
    from gridrisk import arrival
    from jobs import runlog
    from synth.generate import generate

    inbox = tmp_path / "inbox"
    generate(inbox=inbox, truth=tmp_path / "truth", persons=1000, seed=7, start_date=date(2026, 11, 1), days=1,
             progress=False)
    day = "20261101"
    drugs = inbox / "drug_registry" / day / "manifest.json"
    held = drugs.with_name("manifest.held")
    drugs.rename(held)
    (inbox / "gps_points" / day / "manifest.json").unlink()
    _duplicate_rows(inbox / "transport_workers" / day)
    _empty(inbox / "waybills" / day)

    real_arrived = arrival.arrived
    polls: list[str] = []

    def arrived(uri: str) -> bool:
        if uri == str(drugs):
            polls.append(uri)
            if len(polls) == 2:  # the trigger's first look, after the sensor deferred
                held.rename(drugs)
        return real_arrived(uri)

    monkeypatch.setattr(arrival, "arrived", arrived)
    url, alerts_got = webhook
    dsn = f"sqlite:///{tmp_path}/tasks.sqlite"
    for key, value in {"GRIDRISK_PROFILE": "local", "GRIDRISK_LAKE": str(tmp_path / "lake"), "GRIDRISK_INBOX": str(inbox),
                       "GRIDRISK_TASK_STORE": dsn, "GRIDRISK_WORKDIR": str(tmp_path), "GRIDRISK_ALERT_WEBHOOK": url}.items():
        monkeypatch.setenv(key, value)

    from airflow.models.asset import AssetDagRunQueue, AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    dag = _metadata_db_and_dag()
    # Cut-offs of a day long gone, as a live day would have them: GPS's has passed, the others'
    # are an hour away (dag.test runs the sensors one after the other, in no fixed order).
    common = sys.modules["gridrisk_common"]
    now = datetime.now(UTC)
    monkeypatch.setattr(common, "cutoff_for", lambda dataset, ds, params: now + (
        timedelta(minutes=-1) if dataset == "gps_points" else timedelta(hours=1)))
    # Only the person slice plays a part here: the other departments' ingests are marked done,
    # not run (dag.test runs every task in turn), so their stages skip themselves as for a
    # delivery that never came (nothing ingested) — only the person rules can run.
    unused = ("ingest_(fire_units|fire_events|hazmat_enterprises|hazmat_vehicles|roads|sensitive_places|grids"
              "|housing_units|residence_registrations)")
    run = dag.test(logical_date=datetime(2026, 11, 1, tzinfo=UTC), run_conf={"poke_seconds": 1, "run_deadline_minutes": 1},
                   mark_success_pattern=unused)

    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    # waited for
    assert len(polls) >= 2 and _xcom(run, "wait_drug_registry")["status"] == "arrived"
    assert states["ingest_drug_registry"] == "success"
    # never arrived: late, skipped, and only what needs it skipped
    assert _xcom(run, "wait_gps_points")["status"] == "late"
    assert states["ingest_gps_points"] == "skipped"
    assert states["vehicle_tracks"] == "skipped"
    # failed quality: the task fails, the run goes on
    assert states["ingest_transport_workers"] == "failed"
    assert _xcom(run, "ingest_transport_workers", "ingest_result")["status"] == "quality_failed"
    assert _xcom(run, "ingest_waybills")["rows_accepted"] == 0  # zero rows: loaded, empty
    for task_id in ("link_persons", "rules", "publish"):
        assert states[task_id] == "success", (task_id, states)
    assert states["fire_state"] == states["silver"] == "skipped"
    rules = _xcom(run, "rules")
    assert {"driver.mental", "driver.drugs", "data.licence_not_cancelled"} <= set(rules["evaluated"])
    assert {"worker.at_risk", "data.qualification_active", "rental.overcrowded", *HAZMAT_RULES} <= set(rules["skipped"])
    assert "person_qualifications" in rules["skip_reasons"]["worker.at_risk"]
    assert "vehicle_periods" in rules["skip_reasons"]["hazmat.fatigue"] or \
        "vehicle_points" in rules["skip_reasons"]["hazmat.fatigue"]
    assert _xcom(run, "publish")["stage"] == "publish"  # ran: the person rules' flags, if any, are filed

    # the day's account: XCom, run log, run state
    summary = _xcom(run, "run_summary", "run_summary")
    assert (summary["outcome"], summary["late"], summary["failed"]) == ("partial", ["gps_points"], ["transport_workers"])
    assert "worker.at_risk" in summary["skipped_rules"] and "driver.mental" not in summary["skipped_rules"]
    assert states["run_summary"] == "failed" and run.state == "failed"
    profile_rows = runlog.read(spark, _profile(tmp_path, inbox), "2026-11-01")
    by_item = {(r["step"], r["item"]): r for r in profile_rows}
    assert by_item[("ingest.gps_points", "bronze.gps_points")]["outcome"] == "late"
    assert by_item[("ingest.transport_workers", "bronze.transport_workers")]["outcome"] == "quality_failed"
    assert by_item[("link", "silver.person_qualifications")]["outcome"] == "left_out"
    assert "transport_workers" in by_item[("link", "silver.person_qualifications")]["reason"]
    assert by_item[("link", "silver.person_licences")]["outcome"] == "written"
    assert by_item[("vehicle_tracks", "silver.waybill_crew")]["outcome"] == "skipped"
    assert "gps_points" in by_item[("vehicle_tracks", "silver.waybill_crew")]["reason"]
    assert by_item[("rules", "rule:driver.mental")]["outcome"] == "evaluated"
    assert by_item[("rules", "gold.risk_flags")]["outcome"] == "written"
    assert by_item[("run", "2026-11-01")]["outcome"] == "partial"

    # alerts: which task, which date, why
    kinds = {(a["kind"], a["task_id"]) for a in alerts_got}
    assert ("delivery_late", "ingest_gps_points") in kinds
    assert ("task_failed", "ingest_transport_workers") in kinds
    assert ("run_failed", None) in kinds and ("deadline_missed", None) in kinds
    assert all(a["ds"] == "2026-11-01" for a in alerts_got)
    assert all(a["link"] for a in alerts_got if a["kind"] in ("task_failed", "delivery_late", "run_failed"))

    # assets: the tables written got events carrying the day; the late one none; the report is due
    with create_session() as session:
        events = {(name, json.dumps(extra, sort_keys=True)) for name, extra in session.execute(
            select(AssetModel.name, AssetEvent.extra).join(AssetEvent, AssetEvent.asset_id == AssetModel.id))}
        names = {name for name, _ in events}
        queued = set(session.scalars(select(AssetModel.name).join(AssetDagRunQueue, AssetDagRunQueue.asset_id == AssetModel.id)
                                     .where(AssetDagRunQueue.target_dag_id == REPORT_ID)))
    assert {"bronze.persons", "silver.person_licences", "gold.risk_flags", "gold.risk_summary", "taskstore.tasks"} <= names
    assert "silver.person_qualifications" in names  # an event, but its extra says left_out
    assert any(n == "silver.person_qualifications" and '"outcome": "left_out"' in e for n, e in events)
    assert "bronze.gps_points" not in names and "silver.vehicle_points" not in names
    assert any(n == "gold.risk_flags" and '"ds": "2026-11-01"' in e for n, e in events)
    assert queued == {"gold.risk_flags", "gold.risk_summary", "taskstore.tasks"}


def _metadata_db_and_dag() -> Any:
    """A fresh metadata DB (SQLite in airflow_home, created from the models: no migrations) with
    the DAGs synced and the report DAG live (asset events queue its runs); returns a fresh copy
    of the daily DAG whose tasks fail at once (no retries)."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import sync_bag_to_db
    from airflow.models.dag import DagModel
    from airflow.utils.db import resetdb
    from airflow.utils.session import create_session
    from sqlalchemy import update

    resetdb()  # created from the models; another test's runs, XComs and asset events are not this one's
    DagBundlesManager().sync_bundles_to_db()
    sync_bag_to_db(parse_dags(), "dags-folder", None)
    with create_session() as session:
        session.execute(update(DagModel).where(DagModel.dag_id == REPORT_ID).values(is_paused=False))
    dag = parse_dags().dags[DAG_ID]
    for t in dag.tasks:
        t.retries = 0
    return dag


#: The departments of the backfill test: the housing and fire slices and the grid office's
#: references — stages that carry state from day to day (fire events open across days, the
#: rental rules' incremental run, flags MERGEd with ``last_seen``), without entity resolution,
#: whose cost per day would put the test far over its budget (tests/test_stage_gates.py and
#: the ``dag.test()`` day above cover the person slice).
BACKFILL_SLICE = ("addresses", "grids", "housing_units", "residence_registrations", "fire_units", "fire_events")
BACKFILL_DAYS = ("2026-11-01", "2026-11-02")
@pytest.mark.slow
def test_a_backfill_leaves_the_lake_as_sequential_gridrisk_runs_of_the_same_days(spark, airflow_home, tmp_path,
                                                                                   monkeypatch):
    """Generated days through ``gridrisk_daily`` in date order, then the same days one by
    one with ``jobs.pipeline.run_daily`` (what ``gridrisk run --date D`` calls) into a second lake
    and task store: every lake table and the tasks compare equal, row for row, bar run stamps.

    The DAG side runs each date with ``dag.test(logical_date=D)``, in this process, on the
    session's Spark — not ``airflow backfill create`` under a scheduler: that needs a
    scheduler, a triggerer, an API server and a worker process per task (each importing the
    pipeline and attaching to a Spark engine), several minutes per day on two cores before any
    data is touched. What a backfill adds to this — creating one run per date and running them
    one at a time in date order (``--max-active-runs 1``) — is Airflow's; what the DAG's tasks
    do with a date is the same in both, and is what this compares.

    Only :data:`BACKFILL_SLICE` is ingested on both sides (the DAG marks the other departments'
    sensors and ingests done; ``run_daily`` is given the same datasets). The report stage is left
    out of the comparison: in Airflow it is the ``gridrisk_report`` DAG's, triggered by the gold
    assets, which ``dag.test()`` does not run.

    Two days (:data:`BACKFILL_DAYS`): the second chains on the first (incremental rules, fire
    events open across midnight, flags carried with ``last_seen``), which is what date order
    decides; a third day added 4–5 minutes of CI and no new case.
    """
    from gridrisk.config import load_profile
    from jobs import pipeline
    from synth.generate import generate

    inbox = tmp_path / "inbox"
    generate(inbox=inbox, truth=tmp_path / "truth", persons=1000, seed=5, start_date=date(2026, 11, 1),
             days=len(BACKFILL_DAYS), progress=False)
    # One pseudonymisation key for both sides, as one deployment has: without it each workdir
    # generates its own and every person key (occupants, evidence) differs.
    monkeypatch.setenv("GRIDRISK_PSEUDONYM_KEY", "backfill-test-key")
    # Incremental rules on both sides: a day's rules chain on the day before's run only when that
    # ran first, so the modes below show the date order held.
    monkeypatch.setenv("GRIDRISK_RULES_INCREMENTAL", "true")

    # gridrisk run, one day after the other
    sequential = load_profile("local", env={"GRIDRISK_RULES_INCREMENTAL": "true"},
                              workdir=str(tmp_path / "sequential")).with_inbox(str(inbox))
    for ds in BACKFILL_DAYS:
        out = pipeline.run_daily(ds, sequential, stages=[s for s in CATALOG.stage_names if s != "report"],
                                 datasets=list(BACKFILL_SLICE))
        assert {r["status"] for r in out["ingest"]["results"]} == {"loaded"}, out["ingest"]["results"]
        assert "skipped" not in out["fire_state"] and "skipped" not in out["silver"]
        assert {"rental.overcrowded", "fire.fault_open"} <= set(out["rules"]["evaluated"])

    # the DAG, one run per date in date order
    for key in ("GRIDRISK_LAKE", "GRIDRISK_TASK_STORE", "GRIDRISK_REPORTS", "GRIDRISK_ALERT_WEBHOOK", "GRIDRISK_ENGINE_URL"):
        monkeypatch.delenv(key, raising=False)
    for key, value in {"GRIDRISK_PROFILE": "local", "GRIDRISK_WORKDIR": str(tmp_path / "backfill"),
                       "GRIDRISK_INBOX": str(inbox)}.items():
        monkeypatch.setenv(key, value)
    dag = _metadata_db_and_dag()
    others = "|".join(d for d in BRONZE_DATASETS if d not in BACKFILL_SLICE)
    modes = []
    for ds in BACKFILL_DAYS:
        day = datetime.fromisoformat(ds).replace(tzinfo=UTC)
        # the cut-offs of an old day are long past: nothing waits (docs/airflow.md, "Backfill a week")
        run = dag.test(logical_date=day, run_conf={"cutoff": (day + timedelta(days=1)).isoformat(), "poke_seconds": 1},
                       mark_success_pattern=f"(wait|ingest)_({others})")
        states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
        assert run.state == "success", states
        assert {states[f"ingest_{d}"] for d in BACKFILL_SLICE} == {"success"}
        assert states["fire_state"] == states["silver"] == states["rules"] == "success"
        modes.append(_xcom(run, "rules")["mode"])
    assert modes[1]["rental.overcrowded"].startswith("incremental")  # day 2 built on day 1: date order held

    dag_lake, run_lake = tmp_path / "backfill" / "lake", tmp_path / "sequential" / "lake"
    result = compare_lakes(dag_lake, run_lake, task_stores=(dag_lake / "_tasks" / "tasks.sqlite",
                                                            run_lake / "_tasks" / "tasks.sqlite"))
    compared = {t.ref: t for t in result.tables}
    assert {"bronze.fire_events", "silver.fire_event_history", "gold.risk_flags", "ops.run_log",
            "taskstore.tasks"} <= set(compared)
    assert compared["taskstore.tasks"].a  # tasks were filed, so equal stores say something
    assert result.equal, "differs between the backfill and the sequential runs:\n" + "\n".join(
        t.describe() for t in result.tables if not t.equal)
    flags = spark.read.format("delta").load(str(dag_lake / "gold" / "risk_flags"))
    assert not flags.where("first_seen = DATE'2026-11-01' AND last_seen = DATE'2026-11-02'").isEmpty()  # carried across days


def _profile(tmp_path: Path, inbox: Path) -> Any:
    from gridrisk.config import load_profile

    return load_profile("local").with_inbox(str(inbox))
