"""Entity-resolution accuracy against the generator's truth (person_records.csv).

    .venv/bin/python benchmarks/linkage_accuracy.py --persons 20000

Generates the province (if its inbox is empty), ingests the person-bearing datasets into bronze
(if not yet there), runs ``jobs.silver.person_master`` and prints:

* pairwise precision and recall over all cross-department links (two records of different
  datasets with the same true ID form a true link; the same person key a predicted one), beside
  two baselines: joining on the ID as written, and joining on the repaired ID only (exact links);
* per ID-damage kind: how many records got the right person key, a wrong one, or none;
* the linkage step's wall time and peak resident memory (driver JVM + Python, sampled);
* the candidate comparisons each blocking rule generates (before de-duplication across rules).
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from typing import Any

PERSON_DATASETS = ("persons", "residence_registrations", "housing_units", "driving_licences", "transport_workers",
                   "mental_health_registry", "drug_registry", "waybills")


class PeakRss:
    """Samples the resident memory of this process tree (Python + the local Spark JVM)."""

    def __init__(self, every: float = 0.2) -> None:
        import psutil

        self.proc = psutil.Process()
        self.every = every
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        import psutil

        while not self._stop.is_set():
            total = 0
            try:
                procs = [self.proc, *self.proc.children(recursive=True)]
                for p in procs:
                    try:
                        total += p.memory_info().rss
                    except psutil.Error:
                        pass
            except psutil.Error:
                pass
            self.peak = max(self.peak, total)
            self._stop.wait(self.every)

    def __enter__(self) -> "PeakRss":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()


def pair_counts(groups: "Any", by: list[str]) -> int:
    """Cross-dataset pairs within groups: (n² − Σ_dataset n_d²) / 2 per group."""
    per_ds = groups.groupby([*by, "dataset"]).size().rename("n").reset_index()
    per_ds["n2"] = per_ds["n"] ** 2
    g = per_ds.groupby(by).agg(n=("n", "sum"), n2=("n2", "sum"))
    return int(((g["n"] ** 2 - g["n2"]) // 2).sum())


def scores(df: "Any", pred: str) -> tuple[float, float, int, int, int]:
    true_pairs = pair_counts(df, ["true_id_no"])
    pred_pairs = pair_counts(df, [pred])
    tp = pair_counts(df, ["true_id_no", pred])
    return (tp / pred_pairs if pred_pairs else 1.0, tp / true_pairs if true_pairs else 1.0, tp, pred_pairs, true_pairs)


def main() -> int:
    from _province import prepare, province_args

    parser = argparse.ArgumentParser()
    province_args(parser, 20_000, "/tmp/er-bench")
    args = parser.parse_args()

    work = prepare(args.persons, args.seed, args.date, args.workdir, progress=False)
    import pandas as pd

    from gridrisk import lake
    from gridrisk.config import load_profile
    from gridrisk.privacy import keyed_hash, person_key, pseudonym_key
    from gridrisk.spark import get_spark
    from jobs.bronze import ingest
    from jobs.silver import person_master as pm

    profile = load_profile()
    spark = get_spark(profile)
    key = pseudonym_key(profile.name)
    for dataset in PERSON_DATASETS:
        path = profile.table_path("bronze", dataset)
        if not lake.table_exists(spark, path) or lake.read_partition(spark, profile, "bronze", dataset, args.date).isEmpty():
            t = time.monotonic()
            result = ingest.run(spark, profile, dataset, args.date)
            print(f"ingest {dataset}: {result.status} {result.rows_accepted} rows, {time.monotonic() - t:.0f} s")

    conf = pm.load_linkage_config()
    with PeakRss() as mem:
        t0 = time.monotonic()
        result = pm.run(spark, profile, args.date, conf)
        seconds = time.monotonic() - t0
    print(f"\nperson_master for {args.date} at {args.persons:,} persons: {seconds:.0f} s, "
          f"peak RSS {mem.peak / 2**30:.2f} GiB (driver JVM + Python, sampled)")
    print(f"  {result}")
    print(f"  steps (s): {result.get('seconds')}; anchors {result.get('anchors'):,}, reachable by a blocking rule "
          f"{result.get('anchors_reachable') or 0:,}, records to link {result.get('candidates'):,}")

    got = lake.read_partition(spark, profile, "silver", pm.RECORDS_TABLE, args.date) \
        .select("dataset", "record_key", "role", "person_key", "link_method", "id_status").toPandas()
    truth = pd.read_csv(work / "truth" / args.date.replace("-", "") / "person_records.csv", dtype=str,
                        keep_default_na=False)
    is_id_key = truth["dataset"].isin([s.dataset for s in conf.sources if s.record_key_is_id])
    truth.loc[is_id_key, "record_key"] = truth.loc[is_id_key, "record_key"].map(lambda v: keyed_hash(v, key, "record"))
    # A business key that is not unique (persons rows sharing a damaged ID such as 3.20115E+17)
    # cannot be matched row to row between the truth and silver: leave those out, and say so.
    keys = ["dataset", "record_key", "role"]
    shared = truth[truth.duplicated(keys, keep=False)][keys].drop_duplicates()
    if len(shared):
        n_truth = len(truth)
        truth = truth.merge(shared, on=keys, how="left", indicator=True)
        truth = truth[truth["_merge"] == "left_only"].drop(columns="_merge")
        got = got.merge(shared, on=keys, how="left", indicator=True)
        got = got[got["_merge"] == "left_only"].drop(columns="_merge")
        print(f"  {n_truth - len(truth)} truth records share their business key with another record "
              f"({len(shared)} keys): left out of the scoring")
    df = truth.merge(got, on=["dataset", "record_key", "role"], how="left", indicator=True)
    missing = df[df["_merge"] == "left_only"]
    if len(missing):
        print(f"  {len(missing)} truth records have no person_records row, e.g.\n"
              f"{missing.head(5)[['dataset', 'record_key', 'role', 'id_damage']].to_string()}")
    extra = len(got) - int((df["_merge"] == "both").sum())
    print(f"  truth records {len(truth):,}; person_records rows {len(got):,} ({extra:,} not in the truth)")
    df["person_key"] = df["person_key"].fillna(df["dataset"] + "|" + df["record_key"] + "|" + df["role"])
    df["exact_only"] = df["person_key"].where(df["link_method"] == "exact", "single|" + df.index.astype(str))

    raw = {}
    for dataset in PERSON_DATASETS:
        raw[dataset] = lake.read_partition(spark, profile, "bronze", dataset, args.date)
    ext = pm.extract_records(raw, conf).select("dataset", "record_key_raw", "role", "id_raw").toPandas()
    ext_is_id = ext["dataset"].isin([s.dataset for s in conf.sources if s.record_key_is_id])
    ext["record_key"] = ext["record_key_raw"]
    ext.loc[ext_is_id, "record_key"] = ext.loc[ext_is_id, "record_key_raw"].map(lambda v: keyed_hash(v, key, "record"))
    df = df.merge(ext[["dataset", "record_key", "role", "id_raw"]], on=["dataset", "record_key", "role"], how="left")
    raw_id = df["id_raw"].fillna("").str.strip()
    df["raw_join"] = raw_id.where(raw_id != "", "single|" + df.index.astype(str))

    print("\npairwise, cross-department links        precision    recall         TP   predicted       true")
    for label, col in (("ID as written (naive join)", "raw_join"), ("repaired ID only (exact)", "exact_only"),
                       ("exact + probabilistic (person_key)", "person_key")):
        p, r, tp, pp, tt = scores(df, col)
        print(f"  {label:<36} {p:>10.5f} {r:>9.5f} {tp:>10,} {pp:>11,} {tt:>10,}")

    df["true_key"] = df["true_id_no"].map(lambda v: person_key(v, key))
    df["outcome"] = "wrong person"
    df.loc[df["person_key"] == df["true_key"], "outcome"] = "right person"
    df.loc[df["link_method"] == "unlinked", "outcome"] = "unlinked"
    # No exact record of this person anywhere: there is no anchor to link to (harmless when the
    # record is the person's only one).
    anchored = set(df.loc[df["link_method"] == "exact", "person_key"])
    df.loc[(df["outcome"] == "unlinked") & ~df["true_key"].isin(anchored), "outcome"] = "unlinked, no anchor"
    table = df.groupby(["id_damage", "outcome"]).size().unstack(fill_value=0)
    table["recall"] = table.get("right person", 0) / table.sum(axis=1)
    print("\nrecords by ID damage (person key = the key of the true ID)")
    print(table.to_string())
    damaged = df[df["id_damage"].isin(["typo", "truncated", "missing"])]
    # issue 16: an Excel 000 whose check character is right must never take a key nobody has
    cut_ok = df[(df["id_damage"] == "truncated") & (df["id_status"] == "suspect_000")]
    print(f"\nExcel 000 with a right check character: {len(cut_ok)} records, "
          f"{(cut_ok['link_method'] == 'exact').sum()} linked exactly, "
          f"{(cut_ok['outcome'] == 'right person').sum()} to the right person")
    print(f"\nrecall of records whose ID is unusable (typo, truncated, missing): "
          f"{(damaged['outcome'] == 'right person').mean():.4f} of {len(damaged):,}; "
          f"wrong person: {(damaged['outcome'] == 'wrong person').sum()}")
    by_ds = damaged.groupby(["dataset", "outcome"]).size().unstack(fill_value=0)
    print(by_ds.to_string())

    print("\ncandidate comparisons per blocking rule (anchor × record pairs, before de-duplication)")
    std = pm.mark_exact(pm.standardise_records(pm.extract_records(raw, conf), key), conf)
    from pyspark.sql import functions as F

    anchors = pm._link_view(pm.anchors(std, conf).withColumn("id_area", F.lit(None).cast("string")), F.col("person_key"))
    cands = pm.candidates_view(std)
    anchors.cache()
    cands.cache()
    for rule in conf.blocking_rules:
        cond = [F.col(f"a.{c}") == F.col(f"c.{c}") for c in rule]
        n = anchors.alias("a").join(cands.alias("c"), cond).count()
        print(f"  {' + '.join(rule):<32} {n:>12,}")
    print(f"  anchors {anchors.count():,}, records to link probabilistically {cands.count():,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
