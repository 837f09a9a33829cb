"""gridrisk.lake_compare on small Delta lakes written with delta-rs (no JVM)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from gridrisk.lake_compare import compare_lakes, main


def _persons(lake: Path, names: list[str], ingest_ts: str, append: bool = False) -> None:
    write_deltalake(str(lake / "bronze" / "persons"), mode="append" if append else "error", data=pa.table({
        "person_key": [f"p_{n}" for n in names], "name": names,
        "_ingest_ts": [ingest_ts] * len(names), "source": [str(lake / "inbox" / "persons.csv")] * len(names)}))


def _run_log(lake: Path, steps: list[str]) -> None:
    write_deltalake(str(lake / "ops" / "run_log"), pa.table({
        "ds": ["2026-11-01"] * len(steps), "step": steps, "outcome": ["done"] * len(steps),
        "run_id": [f"{lake.name}-{s}" for s in steps]}))


def _task_store(lake: Path, filed_at: str, status: str = "open") -> Path:
    db = lake / "_tasks" / "tasks.sqlite"
    db.parent.mkdir(parents=True)
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE tasks (task_id TEXT, status TEXT, filed_at TEXT)")
    con.execute("CREATE TABLE task_events (task_id TEXT, kind TEXT, at TEXT)")
    con.execute("CREATE TABLE grids (grid_id TEXT)")
    con.execute("INSERT INTO tasks VALUES ('t1', ?, ?)", (status, filed_at))
    con.execute("INSERT INTO task_events VALUES ('t1', 'filed', ?)", (filed_at,))
    con.commit()
    con.close()
    return db


@pytest.fixture()
def lakes(tmp_path: Path) -> tuple[Path, Path]:
    a, b = tmp_path / "a", tmp_path / "b"
    _persons(a, ["x", "y"], "2026-11-30T01:00:00")
    _persons(b, ["y", "x"], "2026-11-30T02:00:00")  # other load time, other row order, own path
    _run_log(a, ["silver", "run"])
    _run_log(b, ["silver", "run", "report"])  # the CLI's report line
    _task_store(a, "2026-11-30T01:00:00")
    _task_store(b, "2026-11-30T02:00:00")
    return a, b


def test_run_stamps_row_order_the_lake_path_and_the_cli_report_line_are_not_differences(lakes):
    a, b = lakes
    result = compare_lakes(a, b, task_stores=(a / "_tasks" / "tasks.sqlite", b / "_tasks" / "tasks.sqlite"))
    assert {t.ref for t in result.tables} == {"bronze.persons", "ops.run_log", "taskstore.tasks",
                                              "taskstore.task_events", "taskstore.grids"}
    assert result.equal, [t.describe() for t in result.tables]
    assert main([str(a), str(b)]) == 0


def test_a_changed_value_a_missing_table_and_a_changed_task_are_reported(lakes, capsys):
    a, b = lakes
    _persons(b, ["z"], "2026-11-30T02:00:00", append=True)  # appended: a third person only in B
    write_deltalake(str(a / "gold" / "risk_flags"), pa.table({"flag_id": ["f1"]}))
    sqlite3.connect(b / "_tasks" / "tasks.sqlite").execute("UPDATE tasks SET status = 'closed'").connection.commit()
    result = compare_lakes(a, b, task_stores=(a / "_tasks" / "tasks.sqlite", b / "_tasks" / "tasks.sqlite"))
    assert sorted(result.differing) == ["bronze.persons", "gold.risk_flags", "taskstore.tasks"]
    persons = next(t for t in result.tables if t.ref == "bronze.persons")
    assert persons.only("a") == [] and persons.only("b") == [("z", "p_z", "<lake>/inbox/persons.csv")]
    assert "only in A (1 rows)" in next(t for t in result.tables if t.ref == "gold.risk_flags").describe()
    shown = persons.describe()  # bronze.persons holds names and raw IDs: counts only, no rows
    assert "1 only in B" in shown and "p_z" not in shown and "rows not shown" in shown
    tasks = next(t for t in result.tables if t.ref == "taskstore.tasks").describe()
    assert "closed" in tasks  # not restricted: the differing rows are shown
    assert main([str(a), str(b)]) == 1
    assert "DIFFERENT: bronze.persons, gold.risk_flags, taskstore.tasks" in capsys.readouterr().out


def test_copies_compare_against_where_they_were_written(lakes, tmp_path):
    import shutil

    a, b = lakes
    copy = tmp_path / "copy_of_a"
    shutil.copytree(a, copy)
    assert not compare_lakes(copy, b).equal  # the source path in the rows is a's, not the copy's
    assert compare_lakes(copy, b, written_at=(a, b)).equal


def test_dates_leave_out_the_rows_of_other_days_and_a_mistyped_day_is_refused(lakes, capsys):
    """An Airflow lake also holds what its scheduled runs wrote for other days (an empty day's
    late deliveries in the run log): --dates compares the backfilled days only."""
    a, b = lakes
    write_deltalake(str(a / "ops" / "run_log"), mode="append", data=pa.table({
        "ds": ["2026-11-29"], "step": ["run"], "outcome": ["empty"], "run_id": ["scheduled__2026-11-30"]}))
    assert compare_lakes(a, b).differing == ["ops.run_log"]
    assert compare_lakes(a, b, dates=("2026-11-01", "2026-11-07")).equal
    only_29 = compare_lakes(a, b, dates=("2026-11-29", "2026-11-29"))
    assert only_29.differing == ["ops.run_log"]
    assert main([str(a), str(b), "--dates", "2026-11-01", "2026-11-07"]) == 0
    assert "days compared: 2026-11-01 … 2026-11-07" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main([str(a), str(b), "--dates", "2026-11-01", "2026-13-07"])
    assert "--dates" in capsys.readouterr().err
