"""silver person facts: the licences, qualifications and registry entries of each person key.

    gridrisk run --date 2026-11-01 --stages link

Runs after entity resolution (:mod:`jobs.silver.person_master`): every department record is
joined to the person key silver ``person_records`` gave it, on (dataset, record key), so the
person rules join departments on one key even where an ID was missing or mistyped.

- ``person_licences`` — one row per driving licence (档案编号): class, status, validity;
- ``person_qualifications`` — one row per transport qualification: type, employer, status, validity;
- ``person_registry_mental`` and ``person_registry_drugs`` — one row per entry of the
  mental-health (resp. drug) registry, with only what the rules read: risk level, incident
  history, follow-up date (mental); control status and the use, release and decision dates
  (drugs). Both have one shape (a ``registry`` column and every registry's columns, the other's
  null), so a rule reading both unions them. One table per department: a late or failed drug
  registry leaves its table out and skips only the rules that read it, not driver.mental.
  **The diagnosis never leaves bronze.** These tables are restricted: they say who is registered,
  so only the rules job and auditors read them;
- ``person_profile`` — one row per person key: birth date, where the person lives and its grid,
  from ``person_master`` and the standard-address reference (routing of the person flags).

No raw ID or name is written: person keys and masked names only. Duplicate rows in a delivery
collapse to one per business key. Every table is a ``ds`` partition, replaced on a re-run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gridrisk import lake
from gridrisk.catalog import REGISTRY_DATASETS, registry_table
from gridrisk.config import Profile

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

LICENCES, QUALIFICATIONS, PROFILE = "person_licences", "person_qualifications", "person_profile"
MENTAL_REGISTRY, DRUG_REGISTRY = registry_table("mental"), registry_table("drugs")
TABLES = (LICENCES, QUALIFICATIONS, MENTAL_REGISTRY, DRUG_REGISTRY, PROFILE)


@dataclass(frozen=True)
class FactSource:
    """One department table → one silver fact table: its business key and the columns kept."""

    dataset: str
    key: str
    columns: tuple[str, ...]


SOURCES = {
    LICENCES: FactSource("driving_licences", "file_no",
                         ("licence_classes", "status", "first_issue_date", "valid_until", "status_changed_date")),
    QUALIFICATIONS: FactSource("transport_workers", "cert_no",
                               ("cert_type", "employer", "plate_no", "status", "issue_date", "valid_until")),
}
MENTAL = FactSource(REGISTRY_DATASETS["mental"], "patient_no",
                    ("risk_level", "has_incident_history", "last_followup_date", "management_status"))
DRUGS = FactSource(REGISTRY_DATASETS["drugs"], "person_no",
                   ("control_status", "last_use_date", "rehab_release_date", "decision_date"))
#: registry table → (the ``registry`` value of its rows, its department).
REGISTRIES = {MENTAL_REGISTRY: ("mental", MENTAL), DRUG_REGISTRY: ("drugs", DRUGS)}
#: Every column of the registry tables, in order; a registry fills its own and leaves the others null.
REGISTRY_COLUMNS = (
    ("risk_level", "int"), ("has_incident_history", "boolean"), ("last_followup_date", "date"),
    ("management_status", "string"), ("control_status", "string"), ("last_use_date", "date"),
    ("rehab_release_date", "date"), ("decision_date", "date"),
)
#: Inputs of this job: bronze department tables (and silver person_records/person_master).
#: The bronze tables the facts read (each must be an input of the link stage in gridrisk/catalog.py).
DATASETS = ("driving_licences", "transport_workers", "mental_health_registry", "drug_registry", "addresses")


def keyed(records: "DataFrame", bronze: "DataFrame", source: FactSource, ds: str) -> "DataFrame":
    """One row per business key of ``bronze`` with its person key and masked name."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    first = Window.partitionBy(source.key).orderBy(F.col("_source_file"), F.col("_row_number"))
    rows = bronze.withColumn("_rank", F.row_number().over(first)).where("_rank = 1")
    keys = (records.where(F.col("dataset") == source.dataset)
            .select(F.col("record_key").alias(source.key), "person_key", "link_method", "name_masked")
            .dropDuplicates([source.key]))
    return rows.join(keys, source.key, "left").select(
        F.lit(ds).cast("date").alias("ds"), "person_key", "link_method", "name_masked", source.key, *source.columns)


def registry(records: "DataFrame", bronze: "DataFrame", table: str, ds: str) -> "DataFrame":
    """One registry in the shape every registry table shares: (person_key, registry, record_key,
    every registry's columns — the other registry's null)."""
    from pyspark.sql import functions as F

    name, source = REGISTRIES[table]
    return keyed(records, bronze, source, ds).select(
        "ds", "person_key", "link_method", "name_masked", F.lit(name).alias("registry"),
        F.col(source.key).alias("record_key"),
        *[(F.col(c) if c in source.columns else F.lit(None)).cast(t).alias(c) for c, t in REGISTRY_COLUMNS],
    )


def profile_table(master: "DataFrame", addresses: "DataFrame | None", ds: str) -> "DataFrame":
    """One row per person key: birth date, home address and its grid, city and district codes."""
    from pyspark.sql import functions as F

    df = master.select("person_key", "name_masked", "birth_date", "address_code")
    if addresses is not None:
        grid = addresses.select("address_code", "grid_code", "lon", "lat").dropDuplicates(["address_code"])
        df = df.join(grid, "address_code", "left")
    else:
        df = df.select("*", *[F.lit(None).cast(t).alias(c) for c, t in (("grid_code", "string"), ("lon", "double"),
                                                                         ("lat", "double"))])
    place = F.coalesce("grid_code", "address_code")
    return df.select(
        F.lit(ds).cast("date").alias("ds"), "person_key", "name_masked", "birth_date", "address_code", "grid_code", "lon",
        "lat", F.substring(place, 1, 4).alias("city_code"), F.substring(place, 1, 6).alias("district_code"))


def transform(records: "DataFrame", master: "DataFrame", bronze: "dict[str, DataFrame]", ds: str) -> "dict[str, DataFrame]":
    """The fact tables of ``ds`` (a table whose department did not deliver is left out). Pure."""
    out: dict[str, DataFrame] = {}
    for table, source in SOURCES.items():
        if source.dataset in bronze:
            out[table] = keyed(records, bronze[source.dataset], source, ds)
    for table, (_, source) in REGISTRIES.items():
        if source.dataset in bronze:
            out[table] = registry(records, bronze[source.dataset], table, ds)
    out[PROFILE] = profile_table(master, bronze.get("addresses"), ds)
    return out


#: fact table → the departments it is built from; it is written only when all of them are fit.
TABLE_SOURCES = {LICENCES: ("driving_licences",), QUALIFICATIONS: ("transport_workers",),
                 MENTAL_REGISTRY: (MENTAL.dataset,), DRUG_REGISTRY: (DRUGS.dataset,), PROFILE: ("addresses",)}


def run(spark: "SparkSession", profile: Profile, ds: str, available: frozenset[str] | None = None) -> dict[str, Any]:
    """Write the fact tables of ``ds``. ``available``: the departments fit for use today (None:
    all); a table with a missing source gets no partition for the day, so the rules that read it
    are skipped instead of resolving every flag (a registry that did not arrive is not a clean
    registry)."""
    from jobs.silver.person_master import MASTER_TABLE, RECORDS_TABLE

    records = lake.read_partition(spark, profile, "silver", RECORDS_TABLE, ds)
    master = lake.read_partition(spark, profile, "silver", MASTER_TABLE, ds)
    bronze: dict[str, DataFrame] = {}
    for dataset in DATASETS:
        if available is not None and dataset not in available:
            continue
        if not lake.table_exists(spark, profile.table_path("bronze", dataset)):
            continue
        # The day's own partition, never an older one: the link stage is gated on every input
        # (addresses included) having loaded for ds, so a re-run reads exactly the same rows.
        bronze[dataset] = lake.read_partition(spark, profile, "bronze", dataset, ds)
    written = {}
    left_out = {t: [d for d in sources if d not in bronze] for t, sources in TABLE_SOURCES.items()}
    left_out = {t: missing for t, missing in left_out.items() if missing}
    for table, df in transform(records, master, bronze, ds).items():
        if table in left_out:
            continue
        written[table] = lake.replace_partition(df, profile.table_path("silver", table), {"ds": ds}).get("numOutputRows", 0)
    return {"tables": written, "left_out": left_out}

