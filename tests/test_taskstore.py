"""The inspection-task queue, on real databases: SQLite in tmp_path and a real PostgreSQL.

The PostgreSQL cases need ``GRIDRISK_TEST_PG_DSN``; start a throwaway server with
``eval "$(bash .ci/postgres.sh start)"`` (and ``bash .ci/postgres.sh stop`` afterwards).
Without it they are skipped, except under ``CI=true`` where they fail.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest

from gridrisk.taskstore import (
    IllegalTransition,
    InvalidTask,
    RawIdRefused,
    Task,
    TaskNotFound,
    TaskStore,
    UpsertResult,
    open_store,
    sqlstore,
)
from gridrisk.taskstore.model import TZ, contains_id_number
from gridrisk.taskstore.render import format_task_detail, format_task_table
from gridrisk.taskstore.sla import (
    DEFAULT_SLA_PATH,
    SlaPolicy,
    WorkingCalendar,
    load_sla,
    parse_duration,
    sla_from_dict,
)
from gridrisk.texttable import display_width

PG_ENV = "GRIDRISK_TEST_PG_DSN"
HOW_TO_START_PG = 'start one with: eval "$(bash .ci/postgres.sh start)"'

# The figures of conf/sla.yaml, fixed here so that tuning the config never breaks a test.
TEST_SLA = sla_from_dict({
    "working_hours": [["09:00", "12:00"], ["13:30", "17:30"]],
    "priorities": {1: {"sign": "1h", "handle": "1d", "close": "2d"},
                   2: {"sign": "2h", "handle": "2d", "close": "3d"},
                   3: {"sign": "4h", "handle": "3d", "close": "5d"},
                   4: {"sign": "1d", "handle": "5d", "close": "10d"}},
    "false_positive_suppress_days": 90,
})


def at(day: int, hh: int, mm: int = 0, ss: int = 0, month: int = 10, year: int = 2026) -> dt.datetime:
    return dt.datetime(year, month, day, hh, mm, ss, tzinfo=TZ)


GRID = "320115001001003"  # Jiangning district 320115 → street 001 → community 001 → grid 003


def make_task(n: int = 1, *, unit: str = GRID, level: str = "grid", grid: str = GRID,
              department: str = "网格", priority: int = 3, flag: str | None = None,
              filed_at: dt.datetime | None = None, **fields: object) -> Task:
    values: dict[str, object] = {
        "task_id": f"task-{n:04d}", "flag_id": flag or f"flag-{n:04d}", "rule_id": "group_rental",
        "rule_version": "1", "severity": "medium", "priority": priority,
        "subject_key": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "address_code": f"{GRID}A{n:03d}", "grid_code": grid, "receiving_level": level,
        "receiving_unit": unit, "department": department, "title": "群租房核查",
        "explanation": f"出租屋{n}号住6人，人均4平方米，请上门核查",
        "evidence": {"occupants": 6, "area_m2": 24.0, "names": ["张*三", "李*"]},
        "filed_at": filed_at or at(8, 9), "lon": 118.84, "lat": 31.95,
    }
    values.update(fields)
    return Task(**values)  # type: ignore[arg-type]


# -- backends ---------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def pg_dsn() -> str:
    dsn = os.environ.get(PG_ENV)
    if not dsn:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{PG_ENV} is not set under CI=true: the PostgreSQL cases must run in CI; "
                        f"{HOW_TO_START_PG}")
        pytest.skip(f"PostgreSQL cases need {PG_ENV}; {HOW_TO_START_PG}")
    return dsn


@pytest.fixture(params=["sqlite", "postgresql"])
def open_backend(request: pytest.FixtureRequest, tmp_path: object) -> Iterator[Callable[..., TaskStore]]:
    """Opens (again) the same clean store: a new SQLite file, or a new PostgreSQL schema."""
    if request.param == "sqlite":
        dsn, schema = f"sqlite:///{tmp_path}/nested/dir/tasks.sqlite", "gridrisk"
    else:
        dsn, schema = request.getfixturevalue("pg_dsn"), f"t_{uuid.uuid4().hex[:12]}"

    def opener(sla: SlaPolicy = TEST_SLA) -> TaskStore:
        return open_store(dsn, sla=sla, pg_schema=schema)

    yield opener
    if request.param == "postgresql":
        import psycopg

        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


#: The actors of these tests: (id, unit, role). Transitions need a registered actor.
ACTORS = [("tester", "32", "admin"), ("checker", "32", "admin"), ("中心坐席", "320115", "dispatcher"),
          ("坐席", "320115", "dispatcher"), ("坐席核查", "320115", "dispatcher"),
          ("金庭镇分中心", "320115", "admin"), ("网格长金梦辞", "320115001001003", "grid_worker"),
          ("网格员", "320115001001003", "grid_worker"), ("东山街道", "320115", "admin"),
          *((f"网格员{w}", "320115001001003", "grid_worker") for w in range(8))]


def register_actors(store: TaskStore) -> TaskStore:
    for actor_id, unit, role in ACTORS:
        store.add_actor(actor_id, actor_id, unit, role)  # type: ignore[attr-defined]
    return store


@pytest.fixture
def store(open_backend: Callable[..., TaskStore]) -> TaskStore:
    return register_actors(open_backend())


def walk(store: TaskStore, task_id: str, *steps: tuple[str, dt.datetime]) -> None:
    for to_status, when in steps:
        extra = {"note": "现场核实", "result": "confirmed"} if to_status == "handled" else {}
        if to_status in ("returned", "deferred"):
            extra = {"note": "原因"}
        # The person who handled a task may not verify it: a second admin checks.
        store.transition(task_id, to_status, "checker" if to_status == "verified" else "tester",
                         when, **extra)


# -- idempotent upsert ------------------------------------------------------------------------

def test_same_task_twice_is_one_task_and_its_status_never_moves_back(store: TaskStore) -> None:
    task = make_task(1)
    assert store.upsert_tasks([task], at=at(8, 9)) == UpsertResult(created=1)
    assert store.upsert_tasks([task], at=at(8, 10)) == UpsertResult(unchanged=1)
    walk(store, task.task_id, ("dispatched", at(8, 9, 5)), ("signed", at(8, 9, 30)))

    # The pipeline re-runs the next day: same id, later filing time → nothing moves.
    again = replace(task, filed_at=at(9, 9))
    assert store.upsert_tasks([again, again], at=at(9, 9)) == UpsertResult(unchanged=2)
    kept = store.get(task.task_id)
    assert kept is not None
    assert (kept.status, kept.filed_at, kept.updated_at) == ("signed", at(8, 9), at(8, 9, 30))
    assert [e.to_status for e in store.events(task.task_id)] == ["filed", "dispatched", "signed"]
    assert len(store.list_tasks("320115")) == 1


def test_changed_evidence_updates_an_open_task_but_not_a_closed_one(store: TaskStore) -> None:
    first, second = make_task(1), make_task(2)
    store.upsert_tasks([first, second], at=at(8, 9))
    walk(store, second.task_id, ("closed", at(8, 9, 1)))
    worse = {"occupants": 9, "area_m2": 24.0}
    result = store.upsert_tasks([replace(first, evidence=worse, priority=2),
                                 replace(second, evidence=worse)], at=at(9, 8, 30))
    assert result == UpsertResult(updated=1, unchanged=1)
    updated = store.get(first.task_id)
    assert updated is not None
    assert (updated.evidence, updated.priority, updated.status) == (worse, 2, "filed")
    # Priority 2 closes within 3 working days of the original filing (Oct 8 09:00); Saturday
    # Oct 10 is a make-up working day.
    assert (updated.deadline, updated.updated_at) == (at(10, 17, 30), at(9, 8, 30))
    closed = store.get(second.task_id)
    assert closed is not None and closed.evidence == second.evidence


# -- who sees what ----------------------------------------------------------------------------

def test_a_unit_sees_its_own_subtree_and_nothing_of_other_districts(store: TaskStore) -> None:
    grid = make_task(1)
    community = make_task(2, unit="320115001001", level="community", priority=2)
    street = make_task(3, unit="320115001", level="street")
    district = make_task(4, unit="320115", level="district", department="公安交管", priority=1)
    neighbour_grid = make_task(5, unit="320115001002001", grid="320115001002001")
    wuzhong = make_task(6, unit="320506001002001", grid="320506001002001")
    store.upsert_tasks([grid, community, street, district, neighbour_grid, wuzhong])

    def ids(unit: str, **kw: object) -> list[str]:
        return [t.task_id for t in store.list_tasks(unit, **kw)]  # type: ignore[arg-type]

    # Most urgent first: priority, then deadline, then id.
    assert ids("320115") == ["task-0004", "task-0002", "task-0001", "task-0003", "task-0005"]
    assert ids("3201") == ids("320115")
    assert ids("320115001") == ["task-0002", "task-0001", "task-0003", "task-0005"]
    assert ids("320115001001") == ["task-0002", "task-0001"]
    assert ids(GRID) == ["task-0001"]
    assert ids("320506") == ["task-0006"]
    assert ids("320116") == []
    assert ids("320115", department="公安交管") == ["task-0004"]
    assert ids("320115", limit=2, offset=1) == ["task-0002", "task-0001"]
    walk(store, "task-0001", ("dispatched", at(8, 10)))
    assert ids("320115", status={"dispatched"}) == ["task-0001"]
    assert ids("320115", status="filed") == ["task-0004", "task-0002", "task-0003", "task-0005"]
    with pytest.raises(ValueError, match="division code"):
        store.list_tasks("3201150")
    with pytest.raises(ValueError, match="unknown status"):
        store.list_tasks("320115", status={"done"})


# -- lifecycle --------------------------------------------------------------------------------

def test_full_lifecycle_is_recorded_event_by_event_to_the_second(store: TaskStore) -> None:
    # The timeline of the Wuzhong wall repair (seed), moved to 2026 working days.
    task = make_task(1, filed_at=at(2, 14, 40, 23, month=11))
    store.upsert_tasks([task])
    tid = task.task_id
    store.transition(tid, "dispatched", "中心坐席", at(2, 14, 40, 46, month=11))
    store.transition(tid, "signed", "金庭镇分中心", dt.datetime(2026, 11, 2, 14, 41, 1, 654321, tzinfo=TZ))
    handled = store.transition(tid, "handled", "网格长金梦辞", at(4, 15, 57, 40, month=11),
                               note="湖岸围墙已修复", result="rectified",
                               photo_url="https://grid.example/photos/wall-after.jpg")
    store.transition(tid, "verified", "坐席核查", at(4, 16, 10, 38, month=11))
    closed = store.transition(tid, "closed", "中心坐席", at(4, 16, 12, 21, month=11))

    assert handled.seq == 4 and handled.result == "rectified"
    assert closed.seq == 6
    events = store.events(tid)
    assert [(e.seq, e.from_status, e.to_status, e.actor, e.at) for e in events] == [
        (1, None, "filed", "system", at(2, 14, 40, 23, month=11)),
        (2, "filed", "dispatched", "中心坐席", at(2, 14, 40, 46, month=11)),
        (3, "dispatched", "signed", "金庭镇分中心", at(2, 14, 41, 1, month=11)),
        (4, "signed", "handled", "网格长金梦辞", at(4, 15, 57, 40, month=11)),
        (5, "handled", "verified", "坐席核查", at(4, 16, 10, 38, month=11)),
        (6, "verified", "closed", "中心坐席", at(4, 16, 12, 21, month=11)),
    ]
    assert (events[3].note, events[3].photo_url) == ("湖岸围墙已修复",
                                                      "https://grid.example/photos/wall-after.jpg")
    final = store.get(tid)
    assert final is not None
    assert (final.status, final.updated_at) == ("closed", at(4, 16, 12, 21, month=11))


def test_illegal_transitions_say_task_status_and_what_is_allowed(store: TaskStore) -> None:
    store.upsert_tasks([make_task(1)])
    tid = "task-0001"
    with pytest.raises(IllegalTransition) as err:
        store.transition(tid, "signed", "网格员", at(8, 10))
    assert str(err.value) == ("task task-0001 is filed (立案): cannot go to signed; "
                              "allowed next: dispatched, closed")
    assert err.value.allowed == ("dispatched", "closed")
    walk(store, tid, ("dispatched", at(8, 10)), ("signed", at(8, 10, 5)))
    with pytest.raises(IllegalTransition, match="needs a result, one of confirmed, rectified, false_positive"):
        store.transition(tid, "handled", "网格员", at(8, 11), note="看过了")
    with pytest.raises(IllegalTransition, match="needs a result"):
        store.transition(tid, "handled", "网格员", at(8, 11), note="看过了", result="fixed")
    with pytest.raises(IllegalTransition, match="going to handled needs a note"):
        store.transition(tid, "handled", "网格员", at(8, 11), result="confirmed")
    with pytest.raises(IllegalTransition, match="going to returned needs a note"):
        store.transition(tid, "returned", "网格员", at(8, 11))
    with pytest.raises(IllegalTransition, match="only when going to handled"):
        store.transition(tid, "deferred", "网格员", at(8, 11), note="等房东", result="confirmed")
    with pytest.raises(IllegalTransition, match=r"before its previous event \(2026-10-08T10:05:00"):
        store.transition(tid, "handled", "网格员", at(8, 10), note="看过了", result="confirmed")
    with pytest.raises(TaskNotFound, match="no task with id 'nope'"):
        store.transition("nope", "dispatched", "坐席", at(8, 11))
    with pytest.raises(ValueError, match="needs an actor"):
        store.transition(tid, "handled", " ", at(8, 11), note="看过了", result="confirmed")
    walk(store, tid, ("handled", at(8, 11)), ("verified", at(8, 12)), ("closed", at(8, 13, 30)))
    with pytest.raises(IllegalTransition, match=r"is closed \(结案\): cannot go to signed; "
                                                r"allowed next: none \(the case is closed\)"):
        store.transition(tid, "signed", "网格员", at(8, 14))
    # Refused transitions left no trace.
    assert [e.to_status for e in store.events(tid)] == [
        "filed", "dispatched", "signed", "handled", "verified", "closed"]


def test_a_returned_task_goes_back_to_the_dispatcher_and_is_dispatched_again(store: TaskStore) -> None:
    store.upsert_tasks([make_task(1)])
    tid = "task-0001"
    walk(store, tid, ("dispatched", at(8, 9, 1)))
    store.transition(tid, "returned", "东山街道", at(8, 9, 30), note="不在本街道辖区")
    task = store.get(tid)
    assert task is not None and task.status == "returned"
    with pytest.raises(IllegalTransition, match="allowed next: dispatched, closed"):
        store.transition(tid, "signed", "网格员", at(8, 9, 40))
    walk(store, tid, ("dispatched", at(8, 9, 45)), ("signed", at(8, 10)))
    store.transition(tid, "returned", "网格员", at(8, 10, 15), note="门牌对应另一网格")
    walk(store, tid, ("dispatched", at(8, 10, 20)), ("signed", at(8, 10, 30)))
    events = store.events(tid)
    assert [(e.from_status, e.to_status) for e in events[1:]] == [
        ("filed", "dispatched"), ("dispatched", "returned"), ("returned", "dispatched"),
        ("dispatched", "signed"), ("signed", "returned"), ("returned", "dispatched"),
        ("dispatched", "signed")]
    assert events[2].note == "不在本街道辖区"


def test_a_deferred_task_resumes_to_signed(store: TaskStore) -> None:
    store.upsert_tasks([make_task(1)])
    tid = "task-0001"
    walk(store, tid, ("dispatched", at(8, 9, 1)), ("signed", at(8, 9, 2)))
    store.transition(tid, "deferred", "网格员", at(8, 11), note="房东出国，等其返回")
    with pytest.raises(IllegalTransition, match="allowed next: signed"):
        store.transition(tid, "handled", "网格员", at(9, 11), note="x", result="confirmed")
    walk(store, tid, ("signed", at(12, 9)), ("handled", at(12, 10)))
    store.transition(tid, "deferred", "网格员", at(12, 11), note="整改需要两周")  # from handled
    walk(store, tid, ("signed", at(26, 9)), ("handled", at(26, 10)), ("verified", at(26, 11)),
         ("closed", at(26, 14)))
    assert [e.to_status for e in store.events(tid)] == [
        "filed", "dispatched", "signed", "deferred", "signed", "handled", "deferred", "signed",
        "handled", "verified", "closed"]


def test_concurrent_sign_for_the_same_task_only_one_wins(
        store: TaskStore, monkeypatch: pytest.MonkeyPatch) -> None:
    # Hold each transaction open a moment after it has read the status, so that without the
    # row lock every thread would read "dispatched" and try to sign.
    real_check = sqlstore.check_action

    def slow_check(*args: object, **kwargs: object) -> object:
        time.sleep(0.05)
        return real_check(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(sqlstore, "check_action", slow_check)
    tasks = [make_task(n) for n in range(1, 5)]
    store.upsert_tasks(tasks)
    for t in tasks:
        store.transition(t.task_id, "dispatched", "坐席", at(8, 9, 1))
    workers = 6
    outcomes: dict[str, list[str]] = {t.task_id: [] for t in tasks}
    lock = threading.Lock()

    def sign(task_id: str, worker: int, barrier: threading.Barrier) -> None:
        barrier.wait()
        try:
            store.transition(task_id, "signed", f"网格员{worker}", at(8, 9, 2))
            outcome = "won"
        except IllegalTransition:
            outcome = "refused"
        except Exception as err:  # noqa: BLE001 — anything else (deadlock, duplicate key) fails the test
            outcome = f"error: {err!r}"
        with lock:
            outcomes[task_id].append(outcome)

    for t in tasks:
        barrier = threading.Barrier(workers)
        threads = [threading.Thread(target=sign, args=(t.task_id, w, barrier)) for w in range(workers)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=60)
    for t in tasks:
        assert sorted(outcomes[t.task_id]) == ["refused"] * (workers - 1) + ["won"], outcomes
        signed = [e for e in store.events(t.task_id) if e.to_status == "signed"]
        assert len(signed) == 1 and signed[0].seq == 3


# -- flags that stop firing, and what the grid reports back -------------------------------------

def test_resolved_flags_close_unsigned_tasks_as_system(store: TaskStore) -> None:
    store.upsert_tasks([make_task(n) for n in range(1, 6)])
    walk(store, "task-0002", ("dispatched", at(8, 9, 5)))
    walk(store, "task-0003", ("dispatched", at(8, 9, 5)), ("returned", at(8, 9, 6)))
    walk(store, "task-0004", ("dispatched", at(8, 9, 5)), ("signed", at(8, 9, 7)))
    resolved = ["flag-0001", "flag-0002", "flag-0003", "flag-0004", "flag-never-seen"]

    closed = store.close_resolved(resolved, at(9, 2))
    assert [(e.task_id, e.from_status, e.actor, e.at) for e in closed] == [
        ("task-0001", "filed", "system", at(9, 2)),
        ("task-0002", "dispatched", "system", at(9, 2)),
        ("task-0003", "returned", "system", at(9, 2)),
    ]
    assert all("系统自动结案" in (e.note or "") for e in closed)
    status = {t.task_id: t.status for t in store.list_tasks("320115")}
    assert status == {"task-0001": "closed", "task-0002": "closed", "task-0003": "closed",
                      "task-0004": "signed", "task-0005": "filed"}
    assert store.close_resolved(resolved, at(10, 2)) == []  # a re-run changes nothing


def test_false_positive_suppresses_its_flag_for_the_window_and_rectified_resolves(
        store: TaskStore) -> None:
    store.upsert_tasks([make_task(1), make_task(2), make_task(3)])
    for tid in ("task-0001", "task-0002", "task-0003"):
        walk(store, tid, ("dispatched", at(8, 9, 5)), ("signed", at(8, 9, 10)))
    handled_at = at(8, 10, 0, 0)
    store.transition("task-0001", "handled", "网格员", handled_at, note="实为一家六口", result="false_positive")
    store.transition("task-0002", "handled", "网格员", handled_at, note="已清退两人", result="rectified")

    # The window counts logical dates: no pipeline date published, so the handling's own date.
    assert store.suppressed_flags(handled_at - dt.timedelta(days=1)) == set()
    assert store.suppressed_flags(handled_at) == {"flag-0001"}
    assert store.suppressed_flags(handled_at + dt.timedelta(days=89, hours=13)) == {"flag-0001"}
    assert store.suppressed_flags(handled_at + dt.timedelta(days=90)) == set()
    outcomes = store.flag_outcomes()
    assert {f: (o.result, o.task_id, o.handled_at) for f, o in outcomes.items()} == {
        "flag-0001": ("false_positive", "task-0001", handled_at),
        "flag-0002": ("rectified", "task-0002", handled_at),
    }
    assert outcomes["flag-0002"].rule_id == "group_rental"


def test_the_suppression_window_comes_from_the_sla_config(open_backend: Callable[..., TaskStore]) -> None:
    store = register_actors(open_backend(sla=replace(TEST_SLA, false_positive_suppress_days=7)))
    store.upsert_tasks([make_task(1)])
    walk(store, "task-0001", ("dispatched", at(8, 9, 5)), ("signed", at(8, 9, 10)))
    store.transition("task-0001", "handled", "网格员", at(8, 10), note="误报", result="false_positive")
    assert store.suppressed_flags(at(14, 23)) == {"flag-0001"}
    assert store.suppressed_flags(at(15, 10)) == set()


# -- figures ----------------------------------------------------------------------------------

def test_stats_on_a_hand_made_history(store: TaskStore) -> None:
    on_time = make_task(1, deadline=at(9, 17))
    late = make_task(2, deadline=at(8, 12))
    resolved = make_task(3)
    next_month = make_task(4, filed_at=at(2, 9, month=11))
    elsewhere = make_task(5, unit="320506001002001", grid="320506001002001")
    store.upsert_tasks([on_time, late, resolved, next_month, elsewhere])
    walk(store, "task-0001", ("dispatched", at(8, 9, 1)), ("signed", at(8, 9, 3)),
         ("handled", at(8, 15)), ("verified", at(9, 9)), ("closed", at(9, 10)))
    walk(store, "task-0002", ("dispatched", at(8, 9, 3)), ("signed", at(8, 9, 7)),
         ("handled", at(8, 16)), ("verified", at(9, 9, 30)), ("closed", at(9, 11)))
    walk(store, "task-0003", ("dispatched", at(8, 9, 2)))
    store.close_resolved(["flag-0003"], at(8, 20))
    walk(store, "task-0005", ("dispatched", at(8, 9, 1)), ("closed", at(8, 9, 2)))
    walk(store, "task-0004", ("dispatched", at(2, 9, 5, month=11)))

    stats = store.stats("320115", at(1, 0), at(1, 0, month=11))
    assert (stats.filed, stats.closed, stats.closed_on_time, stats.closed_by_system) == (3, 3, 2, 1)
    assert stats.on_time_closure_rate == pytest.approx(2 / 3)
    assert stats.median_seconds_per_step == {
        "filed->dispatched": 120.0,  # 60, 180, 120
        "dispatched->signed": 180.0,  # 120, 240
        "dispatched->closed": 39480.0,  # 09:02 → 20:00, by the system
        "signed->handled": 23100.0,  # 5 h 57 m, 6 h 53 m
        "handled->verified": 63900.0,  # 18 h, 17 h 30 m
        "verified->closed": 4500.0,  # 1 h, 1 h 30 m
    }
    # A narrower window counts only what happened in it; events before it still give durations.
    day_two = store.stats("320115", at(9, 0), at(10, 0))
    assert (day_two.filed, day_two.closed, day_two.closed_on_time) == (0, 2, 1)
    assert set(day_two.median_seconds_per_step) == {"handled->verified", "verified->closed"}
    empty = store.stats("320116", at(1, 0), at(1, 0, month=11))
    assert (empty.filed, empty.closed, empty.on_time_closure_rate) == (0, 0, None)


def test_open311_view_of_a_task(store: TaskStore) -> None:
    store.upsert_tasks([make_task(1, priority=1)])
    walk(store, "task-0001", ("dispatched", at(8, 9, 1)), ("signed", at(8, 9, 2)))
    store.transition("task-0001", "handled", "网格员", at(8, 11, 0, 5), note="已劝离三人",
                     result="rectified", photo_url="https://grid.example/p/1.jpg")
    task = store.get("task-0001")
    assert task is not None
    view = store.to_open311(task)
    extended = view.pop("extended_attributes")
    assert (extended["lifecycle_status"], extended["priority"], extended["receiving_unit"]) == (
        task.status, 1, GRID)
    assert extended["map_url"].startswith("https://www.openstreetmap.org/?mlat=31.950000")
    assert view.pop("jurisdiction_id") == "js.gridrisk"
    assert view == {
        "service_request_id": "task-0001",
        "status": "open",
        "status_notes": "处置 handled: 已劝离三人",
        "service_name": "群租房核查",
        "service_code": "group_rental",
        "description": "出租屋1号住6人，人均4平方米，请上门核查",
        "agency_responsible": f"网格 {GRID}",
        "service_notice": None,
        "requested_datetime": "2026-10-08T09:00:00+08:00",
        "updated_datetime": "2026-10-08T11:00:05+08:00",
        "expected_datetime": "2026-10-09T17:30:00+08:00",  # priority 1: 2 working days
        "address": None,
        "address_id": f"{GRID}A001",
        "zipcode": None,
        "lat": 31.95,
        "long": 118.84,
        "media_url": "https://grid.example/p/1.jpg",
    }
    walk(store, "task-0001", ("verified", at(8, 14)), ("closed", at(8, 15)))
    closed = store.get("task-0001")
    assert closed is not None
    assert store.to_open311(closed)["status"] == "closed"


# -- privacy ----------------------------------------------------------------------------------

def test_a_raw_id_number_is_refused_before_anything_is_written(store: TaskStore) -> None:
    clean = make_task(1)
    leaky = make_task(2, evidence={"landlord": "32011519900307123X"})
    with pytest.raises(RawIdRefused, match=r"task 'task-0002': evidence contain\(s\) an 18-digit"):
        store.upsert_tasks([clean, leaky])
    assert store.get("task-0001") is None  # the whole batch was refused
    full_width = make_task(3, explanation="房东３２０１１５１９９００３０７１２３Ｘ未登记")
    with pytest.raises(RawIdRefused, match="explanation"):
        store.upsert_tasks([full_width])
    unhashed = make_task(4, subject_key="320115199003071236")  # the key was never pseudonymised
    with pytest.raises(RawIdRefused, match="subject_key"):
        store.upsert_tasks([unhashed])
    store.upsert_tasks([clean])
    walk(store, "task-0001", ("dispatched", at(8, 9, 1)), ("signed", at(8, 9, 2)))
    with pytest.raises(RawIdRefused, match="note"):
        store.transition("task-0001", "handled", "网格员", at(8, 10), result="confirmed",
                         note="租客身份证320115199003071236")
    assert [e.to_status for e in store.events("task-0001")] == ["filed", "dispatched", "signed"]


def test_the_id_guard_lets_keys_codes_and_long_numbers_through() -> None:
    assert contains_id_number("ID 32011519900307123x") is True
    assert contains_id_number(["a", {"k": ("...9320115199003071236",)}]) is True  # glued to digits
    assert contains_id_number("户主320115199003071236X1已搬走") is True  # glued on both sides
    # Hex subject keys, 15-digit grid codes, a waybill number without a birth date in it.
    assert contains_id_number({
        "subject": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "grid": GRID, "waybill": "32010000000099999999", "area": 24.5, "n": 6,
    }) is False
    # 20-digit standard address codes of a generated 1 M-person province whose second stretch
    # reads as an ID born in 2100 (each refused a whole publish before), and one
    # whose first stretch has a past birth date: codes, in fields, evidence lists and text.
    codes = ["32098112100100160101", "32100312000100250201", "32031212100100340102", "32011520010101000101"]
    assert contains_id_number({"address_code": codes[0], "units": codes[1:], "explanation": f"地址{codes[3]}住6人"}) is False
    assert contains_id_number("320115200101010001") is True  # the same stretch alone is an ID (born 2001-01-01)
    assert contains_id_number("320115209901010001") is False  # born in 2099: not a resident's ID


def test_a_bad_task_lists_every_problem_at_once() -> None:
    with pytest.raises(InvalidTask) as err:
        make_task(1, severity="urgent", priority=0, receiving_level="grid", unit="320115",
                  explanation="两行\n说明", evidence={"when": dt.date(2026, 10, 8)})
    assert len(err.value.problems) == 5
    assert "receiving_unit '320115' must be a 15-digit grid code" in str(err.value)


# -- SLA in working time ----------------------------------------------------------------------

def test_working_time_skips_the_national_day_holiday() -> None:
    cal = WorkingCalendar()
    # Eve of National Day: one working hour left on Sep 30, then Oct 1–7 are holidays.
    assert cal.add(at(30, 16, 30, month=9), 7 * 3600) == at(8, 16, 30)
    assert cal.add(at(30, 17, 0, month=9), 3600) == at(8, 9, 30)  # "sign within 1 working hour"
    assert cal.add(at(30, 17, 30, month=9), 1) == at(8, 9, 0, 1)
    filed_in_holiday = at(3, 10)
    assert cal.add(filed_in_holiday, 3600) == at(8, 10)
    # Saturday Oct 10 is a make-up working day; Sunday Oct 11 is not.
    assert cal.add(at(9, 17), 3600) == at(10, 9, 30)
    assert cal.add(at(10, 17), 3600) == at(12, 9, 30)
    # The lunch break does not count.
    assert cal.add(at(8, 11, 30), 3600) == at(8, 14)
    assert cal.add(at(8, 12, 30), 3600) == at(8, 14, 30)


def test_deadlines_per_priority_over_the_holiday(open_backend: Callable[..., TaskStore]) -> None:
    d = TEST_SLA.deadlines(at(30, 16, 30, month=9), 1)
    assert (d.sign_by, d.handle_by, d.close_by) == (at(30, 17, 30, month=9), at(8, 16, 30), at(9, 16, 30))
    assert TEST_SLA.deadline(at(30, 16, 30, month=9), 3) == at(13, 16, 30)  # 5 working days
    store = open_backend()
    store.upsert_tasks([make_task(1, priority=1, filed_at=at(30, 16, 30, month=9))])
    task = store.get("task-0001")
    assert task is not None and task.deadline == at(9, 16, 30)


def test_a_year_the_calendar_does_not_know_falls_back_to_weekdays() -> None:
    cal = WorkingCalendar()
    assert cal.add(dt.datetime(2027, 1, 8, 17, tzinfo=TZ), 3600) == dt.datetime(2027, 1, 11, 9, 30, tzinfo=TZ)


def test_the_shipped_sla_config_loads() -> None:
    sla = load_sla(DEFAULT_SLA_PATH)
    assert sorted(sla.limits) == [1, 2, 3, 4]
    assert sla.limits[1]["sign"] == 3600
    assert sla.calendar.seconds_per_day == 7 * 3600
    assert sla.false_positive_suppress_days == 90


def test_a_bad_sla_config_lists_every_problem() -> None:
    with pytest.raises(ValueError) as err:
        sla_from_dict({"working_hours": [["12:00", "09:00"]],
                       "priorities": {1: {"sign": "1 hour", "handle": "1d", "close": "2d"},
                                      2: {"sign": "2h", "handle": "1h", "close": "3d"}, 7: {}},
                       "false_positive_suppress_days": -1})
    message = str(err.value)
    for expected in ("working_hours[0]", "priorities.1.sign", "priorities.2: sign ≤ handle ≤ close",
                     "priorities.3: missing", "priorities.4: missing", "unknown priorities 7",
                     "false_positive_suppress_days"):
        assert expected in message
    assert parse_duration("1d4h30m", 7 * 3600) == 7 * 3600 + 4 * 3600 + 1800


# -- opening, reopening, rendering ------------------------------------------------------------

def test_reopening_keeps_data_and_applies_the_schema_once(open_backend: Callable[..., TaskStore]) -> None:
    open_backend().upsert_tasks([make_task(1)])
    again = open_backend()
    assert [t.task_id for t in again.list_tasks("320115")] == ["task-0001"]
    assert again.resolve_id("task-00") == "task-0001"


def test_short_ids_resolve(store: TaskStore) -> None:
    store.upsert_tasks([make_task(1), make_task(2), make_task(12)])
    assert store.resolve_id("task-0001") == "task-0001"
    assert store.resolve_id("task-0012") == "task-0012"
    with pytest.raises(ValueError, match="ambiguous: task-0001, task-0002$"):
        store.resolve_id("task-000")
    with pytest.raises(ValueError, match="ambiguous: task-0001, task-0002, task-0012$"):
        store.resolve_id("task-")
    with pytest.raises(TaskNotFound):
        store.resolve_id("task-9")
    with pytest.raises(TaskNotFound):
        store.resolve_id("task_%")  # LIKE wildcards in a prefix are taken literally


def test_sqlite_store_makes_its_directories_and_uses_wal(tmp_path: object) -> None:
    path = f"{tmp_path}/a/b/tasks.sqlite"
    store = open_store(f"sqlite:///{path}", sla=TEST_SLA)
    store.upsert_tasks([make_task(1)])
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert [r[0] for r in conn.execute("SELECT version FROM schema_version")] == [1, 2, 3]


def test_unknown_dsns_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown task store DSN scheme 'mysql'"):
        open_store("mysql://u@h/db")
    with pytest.raises(ValueError, match="a file"):
        open_store("sqlite:///:memory:")


def test_the_postgres_description_hides_the_password(pg_dsn: str) -> None:
    store = open_store(pg_dsn, sla=TEST_SLA, pg_schema="gridrisk_repr_check")
    try:
        assert "gridrisk_test@" in repr(store)
        from psycopg.conninfo import conninfo_to_dict

        password = conninfo_to_dict(pg_dsn).get("password")
        assert not password or str(password) not in repr(store)
    finally:
        import psycopg

        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute("DROP SCHEMA IF EXISTS gridrisk_repr_check CASCADE")


def test_table_and_detail_read_well(store: TaskStore) -> None:
    store.upsert_tasks([make_task(1), make_task(2, explanation="危化品车辆苏A12345在实验小学门口200米内停车15分钟，请核查运输情况、押运人员资质并登记")])
    walk(store, "task-0001", ("dispatched", at(8, 9, 1)), ("signed", at(8, 9, 2)))
    table = format_task_table(store.list_tasks("320115"), width=120)
    lines = table.splitlines()
    assert lines[0].split() == ["id", "rule", "address", "explanation", "priority", "deadline", "status"]
    assert "task-0001" in lines[2] and "签收 signed" in lines[2] and "2026-10-13 17:30" in lines[2]
    second = next(i for i, line in enumerate(lines) if line.startswith("task-0002"))
    assert "P3" in lines[second] and "立案 filed" in lines[second]
    # The long explanation is wrapped to the width, in display cells (a Chinese character is
    # two), never cut: its continuation lines hold the rest, down to its last clause.
    assert "…" not in table and max(display_width(line) for line in lines) <= 120
    rest = "".join(line.strip() for line in lines[second + 1:])
    assert lines[second].split()[3] + rest == "危化品车辆苏A12345在实验小学门口200米内停车15分钟，请核查运输情况、押运人员资质并登记"
    task = store.get("task-0001")
    assert task is not None
    detail = format_task_detail(task, store.events(task.task_id))
    assert "next" in detail and "handled, returned, deferred" in detail
    assert '"occupants": 6' in detail
    assert "2026-10-08 09:02:00" in detail and "dispatched → signed" in detail


def test_a_store_of_the_first_schema_is_migrated_and_keeps_its_tasks(tmp_path: object) -> None:
    """A store written before the service (schema 1, no alembic) opens, upgrades and keeps data."""
    from gridrisk.taskstore import schema
    from gridrisk.taskstore.postgres import PostgresDialect
    from gridrisk.taskstore.sqlite import SqliteDialect

    old_row = ("task-0001", "flag-0001", "group_rental", "1", "medium", 3, "k" * 64, None, GRID,
               "grid", GRID, "网格", "群租房核查", "出租屋", "{}", "2026-10-08T09:00:00+08:00", None, None,
               "2026-10-15T09:00:00+08:00", "signed", "2026-10-08T10:00:00+08:00")
    for backend in ("sqlite", "postgresql"):
        if backend == "sqlite":
            dsn, pg_schema = f"sqlite:///{tmp_path}/old.sqlite", "gridrisk"
            conn: object = sqlite3.connect(f"{tmp_path}/old.sqlite", isolation_level=None)
            types = SqliteDialect.ddl_types()
            run = conn.execute  # type: ignore[attr-defined]
            mark = "?"
        else:
            if not os.environ.get(PG_ENV):
                continue
            import psycopg

            dsn, pg_schema = os.environ[PG_ENV], f"old_{uuid.uuid4().hex[:10]}"
            conn = psycopg.connect(dsn, autocommit=True)
            run = conn.execute  # type: ignore[attr-defined]
            run(f"CREATE SCHEMA {pg_schema}")
            run(f"SET search_path = {pg_schema}")
            types = PostgresDialect.ddl_types()
            mark = "%s"
        for stmt in schema.render(schema.VERSION_TABLE, **types) + schema.render(schema.MIGRATIONS[0], **types):
            run(stmt)
        run(f"INSERT INTO schema_version VALUES (1, {mark})", ("2026-10-01T00:00:00+08:00",))
        run(f"INSERT INTO tasks VALUES ({', '.join([mark] * len(old_row))})", old_row)
        run(f"INSERT INTO task_events (task_id, seq, to_status, actor, at) VALUES ({mark}, 1, 'filed', "
            f"'system', {mark})", ("task-0001", "2026-10-08T09:00:00+08:00"))
        try:
            store = register_actors(open_store(dsn, sla=TEST_SLA, pg_schema=pg_schema))
            task = store.get("task-0001")
            assert task is not None and (task.status, task.version, task.source) == ("signed", 1, "rules")
            event = store.transition("task-0001", "handled", "网格员", at(8, 11), note="已核实", result="confirmed")
            assert (event.seq, event.action) == (2, "handle")
            if backend == "postgresql":
                assert run(f"SELECT version_num FROM {pg_schema}.alembic_version").fetchone() == (
                    f"{len(schema.MIGRATIONS):04d}",)
            else:
                assert [r[0] for r in run("SELECT version FROM schema_version")] == list(
                    range(1, len(schema.MIGRATIONS) + 1))
        finally:
            if backend == "postgresql":
                run(f"DROP SCHEMA {pg_schema} CASCADE")
            conn.close()  # type: ignore[attr-defined]
    if not os.environ.get(PG_ENV) and os.environ.get("CI") == "true":
        pytest.fail(f"{PG_ENV} is not set under CI=true")
