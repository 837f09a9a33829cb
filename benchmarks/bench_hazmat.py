"""Hazmat at vehicle scale: silver vehicle_tracks, the hazmat rules, and one hour's run.

    /work/main/.venv/bin/python benchmarks/bench_hazmat.py --vehicles 230            # ~1 min of data
    /work/main/.venv/bin/python benchmarks/bench_hazmat.py --vehicles 2300           # the province's 10 %
    /work/main/.venv/bin/python benchmarks/bench_hazmat.py --vehicles 23000 --workdir /big/disk

Generates a province of ``--persons`` people whose fleet is ``--vehicles`` hazmat vehicles (the
generator's ``hazmat_vehicles_per_million`` scaled to it), GPS and waybills also in hourly parts,
for two days. Day one: the bronze inputs of vehicle_tracks are ingested and the stage run, so
day two's tracks read the tail of day one as the daily run does. Day two, timed: first its
hourly runs (below), then the daily steps:

* ``hourly run, hour 11`` — the first hourly run of day two (lands and places the parts 00 … 11,
  tracks of the day so far, the hourly rules over the settled reports, merge, publish), then
  ``hour 12`` — the steady state, timed stage by stage: one new part landed and placed, periods
  and rules over the day so far — and ``hour 12 again`` (an Airflow retry: nothing new).
  ``--lean-hourly`` runs hour 11 as ingest and tracks only and skips the retry: hour 12 meets
  the same state (its rules evaluate the whole day so far either way) for half the cost, which
  is what makes an hourly figure at 23,000 vehicles fit in a sitting; ``--skip-hourly`` has none;
* ``ingest of the track inputs`` — GPS, waybills and the references they are placed on, landed
  in bronze without the quality gate (rows/s here: the day's GPS rows per second);
* ``vehicle_tracks`` — the daily silver stage (check, place, de-duplicate, periods, waybills);
* ``hazmat rules`` — every hazmat rule evaluated and its hits counted (no merge);

with rows/s (GPS rows of the day's delivery per second) and the peak resident memory of this
process and its children (the Spark JVM), sampled every 0.2 s. The load average is printed beside
every figure: the machine is shared, so compare figures taken at similar loads only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # _measure

TRACK_INPUTS = ("gps_points", "waybills", "hazmat_vehicles", "grids", "addresses", "sensitive_places", "roads")


class PeakMemory:
    """Peak RSS of this process plus its children, sampled in a thread."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _rss() -> int:
        from _measure import tree_rss_mb

        return int(tree_rss_mb() * 2**20)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            time.sleep(0.2)

    def reset(self) -> None:
        self.peak = self._rss()

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vehicles", type=int, default=230)
    parser.add_argument("--persons", type=int, default=2_000, help="people of the province (the fleet is --vehicles)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--date", default="2026-11-01")
    parser.add_argument("--workdir", default="/tmp/gridrisk-bench-hazmat")
    parser.add_argument("--json", help="write the figures here as JSON")
    hourly = parser.add_mutually_exclusive_group()
    hourly.add_argument("--skip-hourly", action="store_true",
                        help="time only the daily steps of day two (at 23,000 vehicles the hourly runs add ~1.5 h)")
    hourly.add_argument("--lean-hourly", action="store_true",
                        help="the first hourly run lands and places parts 00-11 without rules or publish, and hour 12 "
                             "is not re-run: hour 12 is the same steady state, for about half the hourly cost")
    args = parser.parse_args()

    from _measure import sizing_env

    from gridrisk.config import load_profile
    from synth.generate import generate

    work = Path(args.workdir)
    day1 = args.date
    day2 = (dt.date.fromisoformat(day1) + dt.timedelta(days=1)).isoformat()
    figures: dict[str, Any] = {"vehicles": args.vehicles, "persons": args.persons}
    if not (work / "inbox" / "gps_points").exists():
        t0 = time.monotonic()
        generate(inbox=work / "inbox", truth=work / "truth", persons=args.persons, seed=args.seed,
                           start_date=dt.date.fromisoformat(day1), days=2, progress=False, hourly=True,
                           sizes={"hazmat_vehicles_per_million": args.vehicles * 1_000_000 / args.persons})
        figures["generated"] = {"seconds": round(time.monotonic() - t0), "load": round(os.getloadavg()[0], 1)}
        print(f"generated in {time.monotonic() - t0:.0f} s ({load()})", flush=True)
    gps_rows = json.loads((work / "inbox" / "gps_points" / dt.date.fromisoformat(day2).strftime("%Y%m%d")
                           / "manifest.json").read_text())["files"]
    rows = sum(f["rows"] for f in gps_rows)
    figures["gps_rows_day2"] = rows
    print(f"GPS rows of {day2}: {rows:,} ({rows / args.vehicles:,.0f} per vehicle)", flush=True)

    profile = load_profile("local", env=sizing_env(), workdir=str(work)).with_inbox(str(work / "inbox"))
    from gridrisk.rules import load_rules
    from gridrisk.rules.kinds import evaluate_rule
    from jobs import pipeline
    from jobs.gold import risk_flags
    from jobs.silver import vehicle_tracks

    spark = pipeline.spark_for(profile)
    sizing = {k: spark.sparkContext.getConf().get(k, "default") for k in ("spark.driver.memory", "spark.sql.shuffle.partitions")}
    figures["spark"] = sizing
    print(f"spark: {sizing}", flush=True)

    def timed(label: str, fn: Any, *a: Any, rows: int = rows, **kw: Any) -> Any:
        mem.reset()
        t0 = time.monotonic()
        out = fn(*a, **kw)
        seconds = time.monotonic() - t0
        figures[label] = {"seconds": round(seconds, 1), "rows_per_s": round(rows / seconds), "peak_rss_gb":
                          round(mem.peak / 2**30, 2), "load": round(os.getloadavg()[0], 1)}
        print(f"{label}: {seconds:.1f} s, {rows / seconds:,.0f} GPS rows/s, peak RSS {mem.peak / 2**30:.2f} GB "
              f"({load()})", flush=True)
        save()
        return out

    def save() -> None:  # after every figure: a long run cut short keeps what it measured
        if args.json:
            Path(args.json).write_text(json.dumps(figures, indent=1) + "\n")

    with PeakMemory() as mem:
        day1_rows = sum(f["rows"] for f in json.loads((work / "inbox" / "gps_points" / day1.replace("-", "")
                                                       / "manifest.json").read_text())["files"])
        timed("day one: ingest of the track inputs (no quality)", pipeline.ingest, day1, profile,
              datasets=list(TRACK_INPUTS), quality=False, rows=day1_rows)
        timed("day one: vehicle_tracks (no tail before it)", vehicle_tracks.run, spark, profile, day1, rows=day1_rows)
        # Day two hour by hour first, as the hourly DAG meets it (the daily run comes after
        # midnight). The first hourly run of the day lands and places every part so far (here
        # 00 … 11); each later one only its new part: hour 12, timed stage by stage, is the steady
        # state; a re-run (an Airflow retry) finds nothing new.
        if not args.skip_hourly:
            so_far = sum(f["rows"] for f in gps_rows[:12])
            figures["gps_rows_hours_00_11"] = so_far
            first = timed("hourly run, hour 11 (first of the day: parts 00-11)"
                          + (": ingest, vehicle_tracks" if args.lean_hourly else ""), pipeline.run_hour, day2, 11,
                          profile, stages=["ingest", "vehicle_tracks"] if args.lean_hourly else None, quality=False,
                          rows=so_far)
            hour_12 = gps_rows[12]["rows"]
            figures["gps_rows_hour_12"] = hour_12
            then: dict[str, Any] = {}
            t0 = time.monotonic()
            for stage in ("ingest", "vehicle_tracks", "rules", "publish"):
                then.update(timed(f"hourly run, hour 12 (one new part): {stage}", pipeline.run_hour, day2, 12, profile,
                                  stages=[stage], quality=False, rows=hour_12))
            seconds = time.monotonic() - t0
            figures["hourly run, hour 12 (one new part)"] = {"seconds": round(seconds, 1), "load": round(os.getloadavg()[0], 1)}
            print(f"hourly run, hour 12 (one new part): {seconds:.1f} s in all ({load()})", flush=True)
            runs = [("11", first), ("12", then)]
            if not args.lean_hourly:
                runs.append(("12 again", timed("hourly run, hour 12 again (nothing new)", pipeline.run_hour, day2, 12,
                                               profile, quality=False, rows=hour_12)))
            figures["hourly_placed"] = {h: o["vehicle_tracks"]["gps_points"].get("incremental", "the day so far")
                                        for h, o in runs}
            print(f"placed: {figures['hourly_placed']}", flush=True)

        landed = timed("ingest of the track inputs (no quality)", pipeline.ingest, day2, profile,
                       datasets=list(TRACK_INPUTS), quality=False)
        figures["ingest_rows_day2"] = {r["dataset"]: r.get("rows_read") for r in landed["results"]}
        timed("vehicle_tracks", vehicle_tracks.run, spark, profile, day2)
        hazmat = [r for r in load_rules().values() if r.id.startswith("hazmat.")]

        def rules() -> dict[str, int]:
            inputs, ready, _ = risk_flags.load_inputs(spark, profile, hazmat, day2)
            return {r.id: evaluate_rule(inputs, r, day2).count() for r in ready}

        hits = timed("hazmat rules", rules)
        figures["hits"] = hits
        print("hits: " + ", ".join(f"{k} {v}" for k, v in sorted(hits.items())), flush=True)
    save()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
