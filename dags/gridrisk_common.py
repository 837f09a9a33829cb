"""Constants the gridrisk DAGs are built from: plain literals, nothing read at parse time.

The dataset list mirrors ``schemas/*.yaml``; ``tests/test_dags.py`` fails when the two drift
apart (add a schema → add its name here, and the DAG grows an ``ingest_<name>`` task).
This module is not a DAG file (``.airflowignore`` keeps the DAG processor from parsing it).
"""

from __future__ import annotations

# Department extracts, then the four reference tables delivered together in ``reference/``.
DATASETS: tuple[str, ...] = (
    "persons",
    "housing_units",
    "residence_registrations",
    "driving_licences",
    "transport_workers",
    "mental_health_registry",
    "drug_registry",
    "fire_units",
    "fire_events",
    "hazmat_enterprises",
    "hazmat_vehicles",
    "waybills",
    "gps_points",
    "grids",
    "addresses",
    "sensitive_places",
    "roads",
)

# The bronze tables each downstream stage reads. A stage waits for the ingest of these
# datasets only, so one department's broken delivery does not hold up an unrelated slice.
# rules runs after silver and link; its rules read silver only (jobs/gold/risk_flags.INPUT_LAYER).
# A rule reading a bronze table directly must list that dataset under "rules", or it may run
# before the table of the day has landed.
STAGE_INPUTS: dict[str, tuple[str, ...]] = {
    "silver": ("housing_units", "residence_registrations", "addresses", "grids"),
    # entity resolution reads every person-bearing department (jobs/pipeline.LINK_INPUTS)
    "link": ("persons", "residence_registrations", "housing_units", "driving_licences", "transport_workers",
             "mental_health_registry", "drug_registry", "waybills"),
    "rules": (),
}

# Every task starts its own Spark driver (a JVM with several GB of heap on the local profile);
# this caps how many run at once within one DAG run.
MAX_PARALLEL_SPARK_TASKS = 4


def ingest_task_id(dataset: str) -> str:
    return f"ingest_{dataset}"
