"""Compare two lakes table by table, and their task stores row by row (no JVM: delta-rs, sqlite3).

What a backfill promises (docs/airflow.md, "Backfill a week") is that it leaves the lake as
``gridrisk run --date D`` for each day in order would. This module checks it: every catalog
table present in either lake, read with delta-rs into sorted rows of strings, and the task
store's ``tasks``, ``task_events`` and ``grids`` — with the columns that say *when* or *in
which run* a row was written left out by name (:data:`RUN_STAMPS`, each with its reason), and
each lake's own path replaced by ``<lake>`` (evidence rows may name files under it).

    python -m gridrisk.lake_compare /data/backfill/lake /data/sequential/lake

prints one line per table (``equal``, ``differs`` with the first rows only one side has, or
``only in A``/``only in B``) and exits 1 when anything differs. ``--dates FROM TO`` compares only
the rows of those days (inclusive) in tables that have a ``ds`` column — for an Airflow lake whose
scheduled runs wrote other days beside a backfill. tests/test_dags.py uses the same functions for
its three-day backfill.

Example:
    >>> import tempfile
    >>> a, b = tempfile.mkdtemp(), tempfile.mkdtemp()
    >>> compare_lakes(a, b).equal
    True
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gridrisk.catalog import CATALOG

#: Columns that say when or in which run a row was written, not what it holds — left out of the
#: comparison by name. Anything else that differs is a real difference.
RUN_STAMPS: Mapping[str, str] = {
    "_ingest_ts": "bronze: the wall-clock moment the row was loaded",
    "_batch_id": "bronze: a fresh id per load (the ingest's own run)",
    "batch_id": "ops.ingest_log: the same load id",
    "seconds": "ops.run_log: how long the step took",
    "run_id": "ops.run_log: the Airflow run id (backfill__…) or the CLI's own run id",
    "logged_at": "ops.run_log: when the line was written",
    "filed_at": "task store: when the task was filed",
    "deadline": "task store: filed_at plus the SLA",
    "updated_at": "task store: when the task last changed",
    "overdue_since": "task store: derived from the deadline",
    "at": "task store events: when the event happened",
}

#: Rows that only one way of running writes, left out by table, column and value, with the reason.
RUN_ONLY_ROWS: Mapping[str, tuple[str, str, str]] = {
    "ops.run_log": ("step", "report", "`gridrisk run` builds the report itself and logs the step; in Airflow the "
                                      "report is the gridrisk_report DAG's (asset-triggered), which writes no run-log line"),
}

#: The task store tables compared (the embedded SQLite store of the local profile).
TASK_STORE_TABLES = ("tasks", "task_events", "grids")

Rows = list[tuple[str, ...]]


def lake_tables(root: str | Path, written_at: str | Path | None = None,
                dates: tuple[str, str] | None = None) -> dict[str, Rows]:
    """Every catalog table of the lake under ``root`` that exists, as sorted rows of strings
    (columns in name order, without :data:`RUN_STAMPS` and :data:`RUN_ONLY_ROWS`, the lake's path
    replaced by ``<lake>``). ``written_at``: where the lake was when it was written, for a copy.
    ``dates``: (first, last) ISO days — only those rows of a table with a ``ds`` column."""
    import pyarrow as pa
    import pyarrow.compute as pc
    from deltalake import DeltaTable

    root = Path(root)
    own_path = str(written_at or root)
    out: dict[str, Rows] = {}
    for table in CATALOG.tables:
        path = root / table.layer / table.name
        if not DeltaTable.is_deltatable(str(path)):
            continue
        arrow = DeltaTable(str(path)).to_pyarrow_table()
        if table.ref in RUN_ONLY_ROWS:
            column, value, _ = RUN_ONLY_ROWS[table.ref]
            arrow = arrow.filter(pc.fill_null(pc.not_equal(arrow[column], value), True))
        if dates is not None and "ds" in arrow.column_names:
            day = pc.cast(arrow["ds"], pa.string())
            arrow = arrow.filter(pc.and_(pc.greater_equal(day, dates[0]), pc.less_equal(day, dates[1])))
        columns = sorted(c for c in arrow.column_names if c not in RUN_STAMPS)
        data = arrow.select(columns).to_pydict()
        out[table.ref] = sorted(
            tuple(str(v).replace(own_path, "<lake>") for v in row) for row in zip(*(data[c] for c in columns), strict=True)
        ) if columns else []
    return out


def task_store_rows(db: str | Path) -> dict[str, list[tuple[object, ...]]]:
    """The :data:`TASK_STORE_TABLES` of an SQLite task store, without :data:`RUN_STAMPS`, sorted."""
    if not Path(db).exists():
        raise FileNotFoundError(f"no task store at {db}")
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        out: dict[str, list[tuple[object, ...]]] = {}
        for table in TASK_STORE_TABLES:
            cols = sorted(r[1] for r in con.execute(f"PRAGMA table_info({table})") if r[1] not in RUN_STAMPS)
            out[table] = sorted(con.execute(f"SELECT {', '.join(cols)} FROM {table}").fetchall(), key=repr)
        return out
    finally:
        con.close()


@dataclass
class TableDiff:
    """One table of the comparison: its rows on each side (``None``: not in that lake)."""

    ref: str
    a: Sequence[tuple[object, ...]] | None
    b: Sequence[tuple[object, ...]] | None

    @property
    def equal(self) -> bool:
        return self.a == self.b

    def only(self, side: str) -> list[tuple[object, ...]]:
        """Rows on ``side`` ("a" or "b") that the other side lacks (as many times as they are extra)."""
        mine, theirs = (self.a, self.b) if side == "a" else (self.b, self.a)
        return sorted((Counter(mine or []) - Counter(theirs or [])).elements(), key=repr)

    def describe(self, sample: int = 3) -> str:
        if self.a is None or self.b is None:
            present = self.b if self.a is None else self.a
            return f"{self.ref}: only in {'B' if self.a is None else 'A'} ({len(present or [])} rows)"
        if self.equal:
            return f"{self.ref}: equal ({len(self.a)} rows)"
        only_a, only_b = self.only("a"), self.only("b")
        lines = [f"{self.ref}: differs ({len(self.a)} rows in A, {len(self.b)} in B; "
                 f"{len(only_a)} only in A, {len(only_b)} only in B)"]
        if _restricted(self.ref):
            lines.append("    (restricted table: raw IDs, names or registry details — rows not shown; "
                         "use only() where unmasked reads are allowed)")
        else:
            lines += [f"    A: {row}" for row in only_a[:sample]] + [f"    B: {row}" for row in only_b[:sample]]
        return "\n".join(lines)


def _restricted(ref: str) -> bool:
    """Whether the catalog marks ``ref`` restricted (its rows must not be printed unmasked)."""
    try:
        return CATALOG.table(ref).restricted
    except KeyError:
        return False  # the task store's tables: masked subjects only


@dataclass
class Comparison:
    tables: list[TableDiff] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        return all(t.equal for t in self.tables)

    @property
    def differing(self) -> list[str]:
        return [t.ref for t in self.tables if not t.equal]


def _diffs(a: Mapping[str, Sequence[tuple[object, ...]]], b: Mapping[str, Sequence[tuple[object, ...]]],
           prefix: str = "") -> list[TableDiff]:
    return [TableDiff(prefix + ref, a.get(ref), b.get(ref)) for ref in sorted(set(a) | set(b))]


def check_days(dates: Sequence[str]) -> None:
    """Raise ValueError unless every one of ``dates`` is a ``YYYY-MM-DD`` day: a mistyped day must
    fail, not compare no rows (the filter compares the ``ds`` strings)."""
    import datetime as dt

    for day in dates:
        try:
            if len(day) != 10:
                raise ValueError
            dt.date.fromisoformat(day)
        except ValueError:
            raise ValueError(f"{day!r} is not a date: use YYYY-MM-DD, e.g. 2026-11-01") from None


def compare_lakes(a: str | Path, b: str | Path, *, task_stores: tuple[str | Path, str | Path] | None = None,
                  written_at: tuple[str | Path, str | Path] | None = None,
                  dates: tuple[str, str] | None = None) -> Comparison:
    """Every lake table of ``a`` against ``b`` and, given ``task_stores`` (two SQLite files), the
    task stores' tables (as ``taskstore.<table>``). ``written_at``: where each lake was written,
    when ``a`` and ``b`` are copies. ``dates``: only the rows of those days where a table has a
    ``ds`` column (the task stores are compared whole)."""
    at_a, at_b = written_at or (None, None)
    if dates is not None:
        check_days(dates)
    out = Comparison(_diffs(lake_tables(a, at_a, dates), lake_tables(b, at_b, dates)))
    if task_stores is not None:
        out.tables += _diffs(task_store_rows(task_stores[0]), task_store_rows(task_stores[1]), "taskstore.")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gridrisk.lake_compare", description=__doc__.split("\n\n")[0])
    parser.add_argument("lake_a", type=Path)
    parser.add_argument("lake_b", type=Path)
    parser.add_argument("--task-stores", nargs=2, type=Path, metavar=("A", "B"),
                        help="the two SQLite task stores (default: <lake>/_tasks/tasks.sqlite when both exist)")
    parser.add_argument("--written-at", nargs=2, metavar=("A", "B"),
                        help="where each lake was written, when comparing copies (paths in rows are made relative to it)")
    parser.add_argument("--dates", nargs=2, metavar=("FROM", "TO"),
                        help="compare only the rows of these days (YYYY-MM-DD, inclusive) in tables with a ds column")
    parser.add_argument("--sample", type=int, default=3, help="differing rows shown per side (default 3)")
    args = parser.parse_args(argv)
    stores = args.task_stores
    if stores is None:
        defaults = (args.lake_a / "_tasks" / "tasks.sqlite", args.lake_b / "_tasks" / "tasks.sqlite")
        stores = defaults if all(p.exists() for p in defaults) else None
    if args.dates:
        try:
            check_days(args.dates)
        except ValueError as exc:
            parser.error(f"--dates: {exc}")
    result = compare_lakes(args.lake_a, args.lake_b, task_stores=stores, written_at=args.written_at,
                           dates=tuple(args.dates) if args.dates else None)
    for table in result.tables:
        print(table.describe(args.sample))
    print("columns left out by name: " + ", ".join(sorted(RUN_STAMPS)))
    for ref, (column, value, _) in RUN_ONLY_ROWS.items():
        print(f"rows left out: {ref} where {column} = {value!r}")
    if args.dates:
        print(f"days compared: {args.dates[0]} … {args.dates[1]} (tables with a ds column)")
    print("EQUAL" if result.equal else f"DIFFERENT: {', '.join(result.differing)}")
    return 0 if result.equal else 1


if __name__ == "__main__":
    sys.exit(main())
