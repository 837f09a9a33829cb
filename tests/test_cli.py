"""The ``gridrisk`` command as people meet it: bad arguments refused in one line with exit status 2,
failed work with 1, no traceback unless ``--debug``, read-only answers without a JVM, progress
as it happens, tables that line up in Chinese, hints that can be pasted.

Most cases call ``cli.main.main([...])`` in-process on a small lake written here with delta-rs
(no JVM); the comparison with the Spark code paths builds its lake with Spark.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from cli import main as cli
from gridrisk.config import Profile

D1, D2 = "2026-11-01", "2026-11-02"
GRID_A = "320115101001003"  # 江宁区 320115
GRID_B = "320116001001001"  # 六合区 320116
LONG_WHY = ("出租屋建筑面积 18 m²，登记居住 9 人（人均 2.0 m²），低于 5 m² 的标准；"
            "其中 4 人的居住登记在同一天办理，且房东登记为自住，与出租方式不符")


@pytest.fixture
def lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Profile:
    """A local profile in tmp_path whose lake holds two days of flags, a summary, a day's
    quality logs, linked person records and the district names, all written with delta-rs."""
    from gridrisk.config import load_profile

    monkeypatch.setenv("GRIDRISK_WORKDIR", str(tmp_path))
    monkeypatch.delenv("GRIDRISK_LAKE", raising=False)
    monkeypatch.delenv("GRIDRISK_INBOX", raising=False)
    monkeypatch.delenv("GRIDRISK_TASK_STORE", raising=False)
    monkeypatch.delenv("GRIDRISK_PROFILE", raising=False)
    prof = load_profile("local")
    write_fixture_lake(prof)
    return prof


# --------------------------------------------------------------------------- the fixture lake (shared with Spark)


def flag_rows(day: str) -> list[dict]:
    """risk_flags as the run of ``day`` leaves them: 2 flags on D1; on D2 one resolved, one new."""
    d1, d2 = dt.date.fromisoformat(D1), dt.date.fromisoformat(D2)

    def flag(fid, rule, grid, severity, priority, status, first, last, why, escalated=None):
        return {"flag_id": fid, "rule_id": rule, "rule_version": 1, "subject_key": f"s-{fid}", "severity": severity,
                "priority": priority, "grid_code": grid, "status": status, "first_seen": first, "opened_on": first,
                "last_seen": last, "resolved_on": last if status == "resolved" else None,
                "explanation": why, "analyst_explanation": why + "（分析员版本）", "rule_severity": "medium",
                "escalated_by": escalated}

    if day == D1:
        return [flag("f1aaaaaaaaaaaaaaaaaa", "rental.overcrowded", GRID_A, "high", 2, "open", d1, d1, LONG_WHY, "driver.drugs"),
                flag("f2bbbbbbbbbbbbbbbbbb", "rental.overcrowded", GRID_B, "medium", 3, "open", d1, d1, "人均 4 m²")]
    return [flag("f1aaaaaaaaaaaaaaaaaa", "rental.overcrowded", GRID_A, "high", 2, "resolved", d1, d2, LONG_WHY),
            flag("f2bbbbbbbbbbbbbbbbbb", "rental.overcrowded", GRID_B, "medium", 3, "open", d1, d2, "人均 4 m²"),
            flag("f3cccccccccccccccccc", "fire.offline", GRID_A, "low", 4, "open", d2, d2, "联网设备离线 3 天")]


FLAG_TYPES = {"flag_id": pa.string(), "rule_id": pa.string(), "rule_version": pa.int32(), "subject_key": pa.string(),
              "severity": pa.string(), "priority": pa.int32(), "grid_code": pa.string(), "status": pa.string(),
              "first_seen": pa.date32(), "opened_on": pa.date32(), "last_seen": pa.date32(),
              "resolved_on": pa.date32(), "explanation": pa.string(), "analyst_explanation": pa.string(),
              "rule_severity": pa.string(), "escalated_by": pa.string()}
SUMMARY_ROWS = [
    {"rule_id": "rental.overcrowded", "city_code": "3201", "district_code": "320115", "open": 1, "new": 1,
     "resolved": 0, "suppressed": 0, "open_high": 1, "subjects": 1},
    {"rule_id": "rental.overcrowded", "city_code": "3201", "district_code": "320116", "open": 1, "new": 1,
     "resolved": 0, "suppressed": 0, "open_high": 0, "subjects": 1},
]
INGEST_ROWS = [{"dataset": "fire_units", "status": "loaded", "rows_read": 10},
               {"dataset": "waybills", "status": "rejected", "rows_read": 0}]
QUALITY_ROWS = [{"dataset": "fire_units", "success": False, "bad_share": 0.3,
                 "failed_expectations": ["fire_units.unit_id_unique"],
                 "expectations": json.dumps([{"name": "fire_units.unit_id_unique", "success": False,
                                              "unexpected_values": ["U1", "U2"]}])}]
QUARANTINE_ROWS = [{"dataset": "fire_units", "reason_code": code, "raw_text": "U1,…"}
                   for code in ("unit_id_unique", "unit_id_unique", "bad_date")]
RECORD_ROWS = [
    {"dataset": "driving_licences", "record_key": "DL0001", "role": "holder", "person_key": "p" + "1" * 19,
     "link_method": "exact", "id_status": "valid", "match_explanation": None, "match_weight": None},
    {"dataset": "driving_licences", "record_key": "DL0002", "role": "holder", "person_key": "u" + "2" * 19,
     "link_method": "unlinked", "id_status": "missing", "match_explanation": None, "match_weight": None},
]


def write_fixture_lake(prof: Profile) -> None:
    from deltalake import CommitProperties, write_deltalake

    def table(rows: list[dict], types: dict[str, pa.DataType], ds: str | None = None) -> pa.Table:
        cols = {k: pa.array([r.get(k) for r in rows], t) for k, t in types.items()}
        if ds is not None:
            cols["ds"] = pa.array([dt.date.fromisoformat(ds)] * len(rows), pa.date32())
        return pa.table(cols)

    def put(layer: str, name: str, data: pa.Table, partition_by: list[str], tag: str | None = None) -> None:
        write_deltalake(prof.table_path(layer, name), data, mode="append", partition_by=partition_by,
                        commit_properties=CommitProperties(custom_metadata={"userMetadata": tag}) if tag else None)

    for day in (D1, D2):  # every run rewrites the table (a MERGE in Spark); each commit tagged ds=<day>
        write_deltalake(prof.table_path("gold", "risk_flags"), table(flag_rows(day), FLAG_TYPES), mode="overwrite",
                        partition_by=["rule_id"],
                        commit_properties=CommitProperties(custom_metadata={"userMetadata": f"ds={day} rules=t"}))
    ints = {k: pa.int64() for k in ("open", "new", "resolved", "suppressed", "open_high", "subjects")}
    put("gold", "risk_summary", table(SUMMARY_ROWS, {"rule_id": pa.string(), "city_code": pa.string(),
                                                     "district_code": pa.string(), **ints}, D1), ["ds"])
    put("bronze", "_ingest_log", table(INGEST_ROWS, {"dataset": pa.string(), "status": pa.string(),
                                                     "rows_read": pa.int64()}, D1), ["dataset", "ds"])
    put("bronze", "_quality_log", table(QUALITY_ROWS, {"dataset": pa.string(), "success": pa.bool_(),
                                                       "bad_share": pa.float64(),
                                                       "failed_expectations": pa.list_(pa.string()),
                                                       "expectations": pa.string()}, D1),
        ["dataset", "ds"])
    put("bronze", "_quarantine", table(QUARANTINE_ROWS, {"dataset": pa.string(), "reason_code": pa.string(),
                                                         "raw_text": pa.string()}, D1), ["dataset", "ds"])
    put("silver", "person_records", table(RECORD_ROWS, {k: pa.string() for k in RECORD_ROWS[0] if k != "match_weight"}
                                          | {"match_weight": pa.float64()}, D1), ["ds"])
    grids = [{"grid_code": "320115000000000", "grid_name": "江宁区", "level": "district"},
             {"grid_code": "320116000000000", "grid_name": "六合区", "level": "district"}]
    put("bronze", "grids", table(grids, {k: pa.string() for k in grids[0]}, D1), ["ds"])


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    rc = cli.main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


def one_line_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


# --------------------------------------------------------------------------- bad arguments: one line, rc 2


@pytest.mark.parametrize("argv, expected", [
    (["flags", "--as-of", "yesterday"], "argument --as-of: 'yesterday' is not a date: use YYYY-MM-DD"),
    (["flags", "--as-of", "20261101"], "argument --as-of: '20261101' is not a date"),
    (["summary", "--date", "2026-13-01"], "argument --date: '2026-13-01' is not a date"),
    (["run", "--date", "tomorrow"], "argument --date: 'tomorrow' is not a date"),
    (["quality", "--date", "2026/11/01"], "argument --date: '2026/11/01' is not a date"),
    (["link", "--date", "x", "--explain", "driving_licences:DL1"], "argument --date: 'x' is not a date"),
    (["flags", "--as-of", D1, "--unit", "abc"], "argument --unit: 'abc' is not a division or grid code"),
    (["summary", "--date", D1, "--unit", "3201150"], "argument --unit: '3201150' is not a division or grid code"),
    (["flags", "--as-of", D1, "--status", "bogus"], "argument --status: invalid choice: 'bogus'"),
    (["flags", "--as-of", D1, "--rule", "no.such.rule"], "argument --rule: unknown rule 'no.such.rule'; rules are: "),
    (["flags", "--as-of", D1, "--limit", "0"], "argument --limit: 0 is out of range: must be at least 1"),
    (["ingest", "--date", D1, "--dataset", "nope"], "argument --dataset: unknown dataset 'nope'; datasets are: "),
    (["run", "--date", D1, "--stages", "ingest,bogus"], "argument --stages: unknown stage 'bogus'; stages are: "),
    (["generate", "--persons", "5"], "argument --persons: 5 is out of range: must be between 1,000 and 10,000,000"),
    (["generate", "--noise", "bogus=1"], "argument --noise: unknown knob 'bogus'; knobs are: "),
    (["generate", "--noise", "id_typo"], "argument --noise: 'id_typo' is not KEY=VALUE"),
    (["link", "--date", D1, "--explain", "DL0001"], "argument --explain: 'DL0001' is not DATASET:RECORD_KEY"),
    (["flags"], "the following arguments are required: --as-of"),
    (["bogus"], "argument COMMAND: invalid choice: 'bogus'"),
])
def test_bad_arguments_are_refused_in_one_line_with_status_2(argv, expected, capsys):
    rc, out, err = run(argv, capsys)
    assert rc == 2
    line = one_line_error(err)
    assert expected in line, line
    assert line.startswith("gridrisk") and line.endswith("--help)")
    assert out == ""


def test_a_six_digit_city_code_means_the_city(lake, capsys):
    rc, out, _ = run(["summary", "--date", D1, "--unit", "320100"], capsys)
    assert rc == 0 and "320115" in out and "320116" in out


def test_an_unknown_dataset_to_explain_is_a_bad_argument(lake, capsys):
    rc, _, err = run(["link", "--date", D1, "--explain", "no_such:DL0001"], capsys)
    assert rc == 2
    assert "'no_such' is not a linked dataset; linked datasets are: " in one_line_error(err)


def test_a_bad_generator_rate_is_refused_before_generating(tmp_path, capsys):
    rc, _, err = run(["generate", "--inbox", str(tmp_path / "in"), "--noise", "id_typo=7"], capsys)
    assert rc == 2 and "noise rate id_typo must be within [0, 1], got 7.0" in one_line_error(err)
    assert not (tmp_path / "in").exists()


def test_version_and_help(capsys):
    rc, out, _ = run(["--version"], capsys)
    assert rc == 0 and out.startswith("gridrisk ") and "pyspark" in out and "deltalake" in out
    rc, out, _ = run(["flags", "--help"], capsys)
    assert rc == 0 and "--as-of AS_OF" in out and "--debug" in out


def test_every_option_has_help_text():
    """Every option of every command (the ``tasks`` group is its owner's) says what it is for."""
    import argparse

    def parsers(p: argparse.ArgumentParser, path: str):
        yield path, p
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    yield from parsers(child, f"{path} {name}")

    missing = [f"{path} {'/'.join(a.option_strings) or a.dest}"
               for path, p in parsers(cli.build_parser(), "gridrisk") if not path.startswith("gridrisk tasks")
               for a in p._actions
               if not isinstance(a, argparse._SubParsersAction) and a.help in (None, "")]
    assert missing == []


# --------------------------------------------------------------------------- failed work: rc 1, no traceback


def test_run_with_a_missing_inbox_fails_at_once_without_starting_spark(tmp_path, monkeypatch, capsys):
    from jobs import pipeline

    monkeypatch.setenv("GRIDRISK_WORKDIR", str(tmp_path))
    monkeypatch.setattr(pipeline, "spark_for", lambda _: pytest.fail("Spark started for a missing inbox"))
    rc, _, err = run(["run", "--date", D1, "--inbox", str(tmp_path / "nowhere")], capsys)
    assert rc == 1
    assert f"inbox {tmp_path / 'nowhere'} does not exist" in one_line_error(err)
    rc, _, err = run(["ingest", "--date", D1, "--inbox", str(tmp_path / "nowhere")], capsys)
    assert rc == 1 and "does not exist" in one_line_error(err)


def test_run_with_nothing_delivered_for_the_date_fails_at_once(tmp_path, monkeypatch, capsys):
    from gridrisk.delivery import write_delivery
    from jobs import pipeline

    monkeypatch.setenv("GRIDRISK_WORKDIR", str(tmp_path))
    monkeypatch.setattr(pipeline, "spark_for", lambda _: pytest.fail("Spark started with nothing to ingest"))
    write_delivery(tmp_path / "inbox", "fire_units", D2, "snapshot", {"fire_units_20261102.csv": (b"h\n", 0)})
    rc, _, err = run(["run", "--date", D1, "--inbox", str(tmp_path / "inbox")], capsys)
    assert rc == 1 and f"nothing delivered for {D1} in" in one_line_error(err)


def test_a_bad_task_store_address_stops_the_run_before_any_work(tmp_path, monkeypatch, capsys):
    from gridrisk.delivery import write_delivery
    from jobs import pipeline

    monkeypatch.setenv("GRIDRISK_WORKDIR", str(tmp_path))
    monkeypatch.setenv("GRIDRISK_TASK_STORE", "/path/without/scheme")
    monkeypatch.setattr(pipeline, "spark_for", lambda _: pytest.fail("Spark started with a bad configuration"))
    write_delivery(tmp_path / "inbox", "fire_units", D1, "snapshot", {"fire_units_20261101.csv": (b"h\n", 0)})
    rc, _, err = run(["run", "--date", D1], capsys)
    assert rc == 2 and "Traceback" not in err
    assert "unknown task store DSN scheme '/path/without/scheme'" in err


def test_flags_before_any_run_is_a_failure_not_a_traceback(lake, capsys):
    rc, out, err = run(["flags", "--as-of", "2026-10-01"], capsys)
    assert rc == 1 and out == ""
    line = one_line_error(err)
    assert "no pipeline run for a date on or before 2026-10-01" in line and "first run is for 2026-11-01" in line


def test_flags_with_no_flags_table_says_what_to_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GRIDRISK_WORKDIR", str(tmp_path))
    rc, _, err = run(["flags", "--as-of", D1], capsys)
    assert rc == 1 and "no risk flags yet: run the rules stage first" in one_line_error(err)


def test_summary_of_a_date_without_data_fails(lake, capsys):
    rc, out, err = run(["summary", "--date", "2026-10-01"], capsys)
    assert rc == 1 and out == ""
    assert "no risk summary for 2026-10-01: the rules stage has not run for that date; summaries exist for 2026-11-01" \
        in one_line_error(err)


def test_quality_of_a_date_without_data_fails_and_names_the_dates_there_are(lake, capsys):
    rc, _, err = run(["quality", "--date", "2026-10-01"], capsys)
    assert rc == 1 and "nothing ingested for 2026-10-01; ingested dates: 2026-11-01" in one_line_error(err)


def test_explaining_an_unknown_record_fails(lake, capsys):
    rc, out, err = run(["link", "--date", D1, "--explain", "driving_licences:DL9999"], capsys)
    assert rc == 1 and out == ""
    assert "driving_licences:DL9999: no such record in silver person_records on 2026-11-01" in one_line_error(err)
    rc, _, err = run(["link", "--date", "2026-10-01", "--explain", "driving_licences:DL0001"], capsys)
    assert rc == 1 and "entity resolution has not run for 2026-10-01; it ran for 2026-11-01" in one_line_error(err)


def test_an_unexpected_error_is_one_line_and_debug_shows_the_traceback(lake, monkeypatch, capsys):
    from cli import analyst

    def boom(*_a, **_k):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(analyst, "risk_summary", boom)
    rc, _, err = run(["summary", "--date", D1], capsys)
    assert rc == 1 and "Traceback" not in err
    assert err.splitlines() == ["gridrisk: internal error (RuntimeError: disk on fire)",
                                "(run it again with --debug for the traceback)"]
    for argv in (["--debug", "summary", "--date", D1], ["summary", "--date", D1, "--debug"]):
        rc, _, err = run(argv, capsys)
        assert rc == 1 and "Traceback (most recent call last)" in err and "RuntimeError: disk on fire" in err


def test_a_spark_failure_is_told_by_its_cause_not_its_first_line():
    class PythonException(Exception):
        pass

    PythonException.__module__ = "pyspark.errors.exceptions.captured"
    exc = PythonException("An exception was thrown from the Python worker:\nTraceback (most recent call last):\n"
                          '  File "worker.py", line 1, in main\n'
                          "TypeError: parse_file() takes from 3 to 4 positional arguments but 5 were given\n")
    assert cli._failure(exc) == (
        1, "Spark failed: TypeError: parse_file() takes from 3 to 4 positional arguments but 5 were given", True)


# --------------------------------------------------------------------------- the read-only answers


def test_flags_as_of_each_date_are_that_days_flags(lake, capsys):
    rc, out, _ = run(["flags", "--as-of", D1], capsys)
    assert rc == 0 and "f1aaaaaaaa" in out and "f2bbbbbbbb" in out and "f3cccccccc" not in out
    assert "flags as of 2026-11-01: rental.overcrowded 2" in out
    assert "high (↑ from medium)" in out  # an escalated flag shows the rule's own severity
    rc, out, _ = run(["flags", "--as-of", "2026-11-09", "--status", "resolved"], capsys)
    assert rc == 0 and "f1aaaaaaaa" in out and "f2bbbbbbbb" not in out
    rc, out, _ = run(["flags", "--as-of", D2, "--unit", "320116"], capsys)
    assert "f2bbbbbbbb" in out and "f3cccccccc" not in out and "rental.overcrowded 1" in out
    rc, out, _ = run(["flags", "--as-of", D2, "--limit", "1"], capsys)
    assert "f2bbbbbbbb" in out and "f3cccccccc" not in out
    assert "fire.offline 1, rental.overcrowded 1 (first 1 shown; --limit for more)" in out


def after_cell(line: str, cell: int) -> str:
    """What ``line`` shows from terminal cell ``cell`` on."""
    from gridrisk.texttable import display_width

    for i in range(len(line) + 1):
        if display_width(line[:i]) >= cell:
            return line[i:]
    return ""


def test_explanations_wrap_to_the_terminal_instead_of_being_cut(lake, monkeypatch, capsys):
    from gridrisk.texttable import display_width

    monkeypatch.setenv("COLUMNS", "140")
    rc, out, _ = run(["flags", "--as-of", D1, "--analyst"], capsys)
    assert rc == 0
    header, dashes, *body = out.split("\n\nflags as of")[0].splitlines()
    start = len(dashes) - len(dashes.split("  ")[-1])  # where the explanation column starts
    assert header[start:].startswith("explanation")
    assert all(display_width(line) <= 140 for line in body)
    text = "".join(after_cell(line, start).strip() for line in body).replace(" ", "")
    assert (LONG_WHY + "（分析员版本）").replace(" ", "") in text  # all of it, nothing cut
    assert len(body) > 2  # the long one took several lines


def test_chinese_columns_line_up(lake, capsys):
    from gridrisk.texttable import display_width

    rc, out, _ = run(["summary", "--date", D1], capsys)
    assert rc == 0 and "江宁区" in out and "六合区" in out  # the districts are named
    header, dashes, *body = out.splitlines()
    # The last column is right-aligned: every row ends at the same terminal cell, Chinese or not.
    assert {display_width(line) for line in [header, dashes, *body]} == {len(dashes)}


def test_summary_of_a_street_is_its_district(lake, capsys):
    rc, out, _ = run(["summary", "--date", D1, "--unit", "320115101"], capsys)  # a street: its district's row
    assert "320115" in out and "320116" not in out


def test_quality_reads_the_logs(lake, capsys):
    rc, out, _ = run(["quality", "--date", D1], capsys)
    assert rc == 1  # a suite failed
    assert "fire_units" in out and "unit_id_unique: 2" in out and "bad_date: 1" in out and "FAIL (30.0% bad)" in out
    assert "U1,…" not in out  # the quarantine's raw text is never read


def test_explain_a_record_without_a_jvm(lake, capsys):
    rc, out, _ = run(["link", "--date", D1, "--explain", "driving_licences:DL0001"], capsys)
    assert rc == 0 and out.startswith("driving_licences:DL0001 (holder) → p1111") and "exact: valid ID" in out
    rc, out, _ = run(["link", "--date", D1, "--explain", "driving_licences:DL0002"], capsys)
    assert rc == 0 and "unlinked: ID missing" in out and "no candidate anchor met any blocking rule" in out


def test_read_only_commands_do_not_import_pyspark(lake, tmp_path):
    """In a fresh interpreter, each answer comes without pyspark (or a JVM) being loaded."""
    script = (
        "import json, sys, time\n"
        "from cli.main import main\n"
        "out = {}\n"
        "for argv in json.loads(sys.argv[1]):\n"
        "    t = time.monotonic(); rc = main(argv)\n"
        "    out[' '.join(argv)] = [rc, round(time.monotonic() - t, 2)]\n"
        "out['pyspark'] = sorted(m for m in sys.modules if m.startswith(('pyspark', 'py4j', 'great_expectations')))\n"
        "print('RESULT' + json.dumps(out))\n"
    )
    argvs = [["quality", "--date", D1], ["flags", "--as-of", D2, "--analyst"], ["summary", "--date", D1],
             ["link", "--date", D1, "--explain", "driving_licences:DL0001"]]
    env = {**os.environ, "GRIDRISK_WORKDIR": str(tmp_path), "PYTHONPATH": str(Path(cli.__file__).parents[1])}
    for var in ("GRIDRISK_LAKE", "GRIDRISK_PROFILE", "GRIDRISK_TASK_STORE"):
        env.pop(var, None)
    proc = subprocess.run([sys.executable, "-c", script, json.dumps(argvs)], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=120)
    result = json.loads(proc.stdout.split("RESULT", 1)[1])
    assert result.pop("pyspark") == [], proc.stderr
    assert {k: v[0] for k, v in result.items()} == {"quality --date 2026-11-01": 1, "flags --as-of 2026-11-02 --analyst": 0,
                                                    "summary --date 2026-11-01": 0,
                                                    "link --date 2026-11-01 --explain driving_licences:DL0001": 0}
    print({k: v[1] for k, v in result.items()})  # seconds per answer, for the record (no timing assert)


# --------------------------------------------------------------------------- progress and hints


def test_ingest_tells_each_dataset_as_it_starts_and_ends_without_changing_its_result(tmp_path, monkeypatch):
    """pipeline.ingest's on_dataset callback (run with a stand-in for the bronze job: no JVM)."""
    from jobs import pipeline
    from jobs.bronze import ingest as bronze

    class Result:
        def __init__(self, name):
            self.name = name

        def as_dict(self):
            return {"dataset": self.name, "status": "not_ready", "rows_read": 0, "rows_accepted": 0,
                    "rows_quarantined": 0, "message": "no manifest", "seconds": 0.1}

    monkeypatch.setattr(pipeline, "spark_for", lambda _: None)
    monkeypatch.setattr(bronze, "run", lambda spark, profile, name, ds, **_: Result(name))
    monkeypatch.setattr(bronze, "write_logs", lambda spark, profile, results: None)  # the run's one log commit
    events = []
    from gridrisk.config import load_profile

    prof = load_profile("local", env={}, workdir=str(tmp_path))
    names = ["fire_units", "fire_events", "waybills"]
    quiet = pipeline.ingest(D1, prof, datasets=names)
    told = pipeline.ingest(D1, prof, datasets=names, on_dataset=events.append)
    assert told == quiet  # the callback is for people, not part of the result
    assert sorted(e.dataset for e in events if e.result is None) == sorted(names)
    ends = [e for e in events if e.result is not None]
    assert sorted(e.done for e in ends) == [1, 2, 3] and {e.total for e in events} == {3}
    assert all(e.result["status"] == "not_ready" for e in ends)


def test_progress_lines_go_to_stderr(capsys):
    from jobs.pipeline import DatasetProgress

    p = cli.Progress()
    p.stage_started("ingest")
    p.dataset(DatasetProgress("persons", None, 1, 0, 17))
    p.dataset(DatasetProgress("persons", {"status": "loaded", "rows_accepted": 2000, "rows_quarantined": 3,
                                          "seconds": 4.2}, 1, 1, 17))
    p.stage_done("ingest", {"results": []})
    p.stage_done("silver", {"skipped": ["persons: quality failed"]})
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert lines[0] == "[ingest] started"
    assert lines[1] == "[ingest] persons: reading (1/17 started)"
    assert lines[2] == "[ingest] persons: 2,000 rows accepted, 3 quarantined in 4.2 s (1/17 done)"
    assert lines[3].startswith("[ingest] done in ")
    assert lines[4].endswith("skipped: persons: quality failed")


def test_the_demo_hints_can_be_pasted_and_name_a_task_that_was_printed(tmp_path, monkeypatch, capsys):
    from gridrisk.config import load_profile
    from gridrisk.taskstore import open_store
    from gridrisk.taskstore.model import Task

    prof = load_profile("local", env={}, workdir=str(tmp_path))
    store = open_store(prof.task_store)
    filed = dt.datetime(2026, 11, 1, 9, 0)

    def task(n: int, grid: str) -> Task:
        return Task(task_id=f"{n:02d}" + "9" * 30, flag_id=f"f{n}", rule_id="rental.overcrowded", rule_version="1",
                    severity="medium", priority=3, subject_key=f"k{n}", address_code=grid + "0001",
                    grid_code=grid, receiving_level="grid", receiving_unit=grid, department="网格", title="群租房核查",
                    explanation="出租屋住6人，人均4平方米", evidence={}, filed_at=filed)

    store.upsert_tasks([task(n, GRID_A) for n in range(20)] + [task(n, GRID_B) for n in range(20, 23)])
    venv_script = tmp_path / ".venv" / "bin" / "gridrisk"
    venv_script.parent.mkdir(parents=True)
    venv_script.write_text("#!/bin/sh\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [".venv/bin/gridrisk", "demo"])
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # gridrisk is not on PATH
    cli.show_busiest_district(prof, D1)
    out = capsys.readouterr().out
    assert "=== inspection tasks of district 320115 (first 15 of 20) ===" in out
    assert ".venv/bin/gridrisk tasks list --unit 320115" in out
    assert "show one task with:          .venv/bin/gridrisk tasks show " in out
    task_ref = out.split("tasks show ")[1].split()[0]
    table = out.split("===")[2].split("list any unit")[0]
    assert any(line.split()[0] == task_ref for line in table.splitlines()[2:] if line.strip())


# --------------------------------------------------------------------------- the same numbers as the Spark code


def test_read_only_answers_match_the_spark_code_paths(spark, profile, monkeypatch):
    """On a lake Spark wrote (MERGE-tagged flags, summary, quality logs, person records), the
    JVM-free readers give what the Spark functions give."""
    from cli import analyst
    from gridrisk import lake
    from jobs.gold.risk_flags import FLAG_SCHEMA, flags_as_of, merge
    from jobs.quality import validate
    from jobs.silver.person_master import explain, format_explanation, load_linkage_config

    full = [f.split()[0] for f in FLAG_SCHEMA.split(", ")]
    path = profile.table_path("gold", "risk_flags")
    for day in (D1, D2):
        rows = [{c: r.get(c) for c in full} for r in flag_rows(day)]
        merge(spark, path, spark.createDataFrame(rows, FLAG_SCHEMA), day, ["rental.overcrowded", "fire.offline"],
              tag="rules=t")
    for day in (D1, D2, "2026-11-05"):
        for statuses in (["open"], ["resolved", "open"]):
            want = flags_as_of(spark, profile, day).where(f"status in ({','.join(repr(s) for s in statuses)})")
            mine = analyst.flags_as_of(profile, day, statuses=statuses, limit=100)
            assert [r["flag_id"] for r in mine.rows] == \
                [r["flag_id"] for r in want.orderBy("priority", "rule_id", "subject_key").collect()]
            assert mine.counts == {r["rule_id"]: r["count"] for r in want.groupBy("rule_id").count().collect()}

    day1 = dt.date.fromisoformat(D1)
    summary = spark.createDataFrame([{**r, "ds": day1} for r in SUMMARY_ROWS],
                                    "rule_id string, city_code string, district_code string, open bigint, new bigint, "
                                    "resolved bigint, suppressed bigint, open_high bigint, subjects bigint, ds date")
    lake.replace_partition(summary, profile.table_path("gold", "risk_summary"), {"ds": D1})
    want_summary = sorted((r["rule_id"], r["district_code"], r["open"], r["open_high"]) for r in
                          lake.read_partition(spark, profile, "gold", "risk_summary", D1).collect())
    assert sorted((r["rule_id"], r["district_code"], r["open"], r["open_high"])
                  for r in analyst.risk_summary(profile, D1)) == want_summary

    from jobs.bronze.ingest import LOG_SCHEMA as INGEST_SCHEMA

    ingest_rows = [{"dataset": r["dataset"], "ds": day1, "status": r["status"], "rows_read": r["rows_read"]}
                   for r in INGEST_ROWS]
    for r in ingest_rows:
        lake.replace_partition(spark.createDataFrame([r], INGEST_SCHEMA), profile.table_path("bronze", "_ingest_log"),
                               {"dataset": r["dataset"], "ds": D1})
    lake.replace_partition(spark.createDataFrame([{**QUALITY_ROWS[0], "ds": day1, "rows_checked": 10}], validate.LOG_SCHEMA),
                           profile.table_path("bronze", "_quality_log"), {"dataset": "fire_units", "ds": D1})
    lake.replace_partition(spark.createDataFrame([{**r, "ds": day1, "source_file": "f.csv", "row_number": i}
                                                  for i, r in enumerate(QUARANTINE_ROWS)], validate.QUARANTINE_COLUMNS),
                           profile.table_path("bronze", "_quarantine"), {"dataset": "fire_units", "ds": D1})
    assert analyst.quality(profile, D1) == validate.summary(spark, profile, D1)

    records = spark.createDataFrame([{**r, "ds": day1} for r in RECORD_ROWS],
                                    "dataset string, record_key string, role string, person_key string, "
                                    "link_method string, id_status string, match_explanation string, "
                                    "match_weight double, ds date")
    lake.replace_partition(records, profile.table_path("silver", "person_records"), {"ds": D1})
    conf = load_linkage_config()
    for key in ("DL0001", "DL0002"):
        mine = "\n\n".join(format_explanation(r, conf) for r in
                           analyst.linked_records(profile, D1, "driving_licences", [key]))
        assert mine == explain(spark, profile, D1, "driving_licences", key)



# --------------------------------------------------------------------------- a Spark-backed command, as people see it


@pytest.mark.slow
def test_a_spark_command_shows_progress_and_no_jvm_chatter(tmp_path):
    """``gridrisk ingest`` in a fresh process: progress per dataset on stderr, no Ivy resolution
    report and no Spark log lines (they are in lake/_logs/spark.log); an empty events delivery
    (rows: 0) loads as 0 rows."""
    from gridrisk.delivery import write_delivery
    from gridrisk.spark import delta_package, staged_jars

    header = "事件编号,单位编号,设备编号,事件类型,发生时间,确认结果,恢复时间\n".encode()
    write_delivery(tmp_path / "inbox", "fire_events", D1, "events", {"fire_events_20261101.csv": (header, 0)})
    env = {**os.environ, "GRIDRISK_WORKDIR": str(tmp_path), "PYTHONPATH": str(Path(cli.__file__).parents[1])}
    for var in ("GRIDRISK_LAKE", "GRIDRISK_PROFILE", "GRIDRISK_TASK_STORE", "GRIDRISK_INBOX",
                "PYSPARK_PYTHON"):  # conftest sets PYSPARK_PYTHON=python3 for the test session: not for people
        env.pop(var, None)
    argv = [sys.executable, "-m", "cli", "ingest", "--date", D1, "--dataset", "fire_events"]

    def ingest() -> subprocess.CompletedProcess[str]:  # from the checkout, as people run it (and Spark's workers import it)
        return subprocess.run(argv, capture_output=True, text=True, env=env, cwd=Path(cli.__file__).parents[1],
                              timeout=1200)

    if staged_jars(delta_package()) is None:
        ingest()  # the first run on this machine resolves the Delta jars (and says so); the next does not
    proc = ingest()
    assert proc.returncode == 0, proc.stderr
    chatter = [line for line in proc.stderr.splitlines()
               if any(s in line for s in (":: resolving", "Ivy Default Cache", "found io.delta", "artifacts copied",
                                          " WARN ", "INFO ", "log4j", "setLogLevel"))]
    assert chatter == []
    assert "[ingest] fire_events: reading (1/1 started)" in proc.stderr
    assert "[ingest] fire_events: 0 rows accepted in " in proc.stderr
    assert "fire_events" in proc.stdout and "loaded" in proc.stdout
    assert (tmp_path / "lake" / "_logs" / "spark.log").exists()


def test_the_demo_runs_the_day_as_gridrisk_run_with_every_default(tmp_path, monkeypatch):
    """The demo's run is ``gridrisk run --date D``: every option of ``run`` has its default (the
    demo once built the arguments by hand and missed ``--hour``, so ``make demo`` failed)."""
    seen = []
    monkeypatch.setattr(cli, "cmd_generate", lambda args: 0)
    monkeypatch.setattr(cli, "cmd_run", lambda args: seen.append(args) or 0)
    monkeypatch.setattr(cli, "show_busiest_district", lambda *a, **k: None)
    monkeypatch.setenv("GRIDRISK_WORKDIR", str(tmp_path))
    assert cli.main(["demo", "--persons", "1000", "--date", "2026-11-03"]) == 0
    [run] = seen
    assert (run.date, run.hour, run.full, run.stages, run.strict, run.json, run.inbox) == (
        "2026-11-03", None, None, None, False, False, None)
