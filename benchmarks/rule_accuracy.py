"""Precision and recall per rule against the generator's truth, at the default noise rates.

    .venv/bin/python benchmarks/rule_accuracy.py --persons 20000 [--rules rental.overcrowded]
    .venv/bin/python benchmarks/rule_accuracy.py --persons 20000 --noise id_missing=0.05 --noise id_typo=0.05

Generates the province (if its inbox is empty), runs the daily pipeline for the first date on
the local profile, and prints precision/recall per rule with every miss and false positive and
its reason, then the same table in Markdown (for docs/benchmarks.md) and the total wall time.
"""

from __future__ import annotations

import argparse
import sys
import time


def main() -> int:
    from _province import prepare, province_args

    parser = argparse.ArgumentParser()
    province_args(parser, 20_000)
    parser.add_argument("--rules", help="comma-separated rule ids (default: every rule that ran)")
    parser.add_argument("--noise", action="append", default=[], metavar="KEY=VALUE",
                        help="override a rate of conf/generator.yaml (a separate province is generated)")
    args = parser.parse_args()
    noise = {k: float(v) for k, v in (item.split("=", 1) for item in args.noise)}
    started = time.monotonic()

    work = prepare(args.persons, args.seed, args.date, args.workdir, noise=noise)
    from gridrisk.config import load_profile
    from gridrisk.spark import get_spark
    from jobs import pipeline
    from synth.accuracy import format_report, measure, to_markdown

    profile = load_profile()
    spark = get_spark(profile)
    t0 = time.monotonic()
    pipeline.run_daily(args.date, profile)
    print(f"pipeline for {args.date}: {time.monotonic() - t0:.0f} s")
    from gridrisk.rules import load_rules

    rules = args.rules.split(",") if args.rules else sorted(load_rules())
    t1 = time.monotonic()
    results = measure(spark, profile, work / "truth", args.date, rules)
    print(f"measured against the truth: {time.monotonic() - t1:.0f} s\n")
    print(format_report(results))
    print()
    label = f"{args.persons:,}" + (" (" + ", ".join(args.noise) + ")" if args.noise else "")
    print(to_markdown(results, (f"persons (seed {args.seed})", label)))
    print(f"\ntotal elapsed: {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
