"""Hazmat rules on a lake ``bench_hazmat.py`` prepared (its ``--workdir``): the daily evaluation
(every hazmat rule in one Spark job, as the rules stage evaluates them —
:func:`jobs.gold.risk_flags.evaluate_once` — then the hits counted) and the hourly rules stage of
hour 12 of 2026-11-02, ``ROUNDS`` times in one process (the track input kept once for the
track rules where the checkout does so, ``share_tracks``); prints wall and CPU seconds, the load and
the hits per round as JSON.
Compare two checkouts side by side, one process each, alternating:

    TREE=/path/to/checkout PYTHONPATH=/path/to/checkout .venv/bin/python benchmarks/bench_hazmat_rules.py WORKDIR [ROUNDS]

``PER_RULE=1``: instead, each hazmat rule's daily hits counted on its own, one line per rule with
its wall and CPU seconds — where the stage's time goes (counting prunes what the count does not
need, e.g. the evidence, so the sum is below the one-job figure).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, os.environ.get("TREE", str(Path(__file__).resolve().parents[1])))
sys.path.insert(0, str(Path(__file__).resolve().parent))

DAY2 = "2026-11-02"


def main() -> int:
    from _measure import sizing_env, tree_cpu

    import gridrisk.rules.kinds.hazmat as hazmat_kinds
    import gridrisk.rules.kinds.tracks as tracks
    from gridrisk.config import load_profile
    from gridrisk.rules import load_rules
    from gridrisk.rules.kinds import evaluate_rule
    from jobs import pipeline
    from jobs.gold import risk_flags

    work = Path(sys.argv[1])
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    profile = load_profile("local", env=sizing_env(), workdir=str(work)).with_inbox(str(work / "inbox"))
    spark = pipeline.spark_for(profile)
    print(f"code from {Path(tracks.__file__).parents[3]}", flush=True)
    hazmat = [r for r in load_rules().values() if r.id.startswith("hazmat.")]
    # as the rules stage does: the track input kept once for every track rule (a checkout from
    # before session 19 has no share_tracks: each rule reads its own)
    share_tracks = getattr(hazmat_kinds, "share_tracks", None)
    print(f"track input shared: {share_tracks is not None}", flush=True)
    if os.environ.get("PER_RULE") == "1":
        inputs, ready, _ = risk_flags.load_inputs(spark, profile, hazmat, DAY2)
        for rule in ready:
            c0, t0 = tree_cpu(), time.monotonic()
            n = evaluate_rule(inputs, rule, DAY2).count()
            print(json.dumps({"rule": rule.id, "seconds": round(time.monotonic() - t0, 1),
                              "cpu_s": round(tree_cpu() - c0, 1), "hits": n, "load": round(os.getloadavg()[0], 1)}), flush=True)
        return 0
    for rnd in range(rounds):
        c0, t0 = tree_cpu(), time.monotonic()
        inputs, ready, _ = risk_flags.load_inputs(spark, profile, hazmat, DAY2)
        with share_tracks(inputs, ready) if share_tracks else contextlib.nullcontext():
            done = risk_flags.evaluate_once({r.id: evaluate_rule(inputs, r, DAY2) for r in ready})
        hits = {rule_id: df.count() for rule_id, df in done.items()}
        c1, t1 = tree_cpu(), time.monotonic()
        pipeline.run_hour(DAY2, 12, profile, stages=["rules"])
        c2, t2 = tree_cpu(), time.monotonic()
        print(json.dumps({"round": rnd, "daily_rules_s": round(t1 - t0, 1), "daily_cpu_s": round(c1 - c0, 1),
                          "hour12_rules_s": round(t2 - t1, 1), "hour12_cpu_s": round(c2 - c1, 1),
                          "load": round(os.getloadavg()[0], 1), "hits": hits}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
