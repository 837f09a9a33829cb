"""The lake's catalog: every table once, every stage with what it reads and writes.

This is the one source of truth for the pipeline's graph. The Airflow DAG's tasks and edges
(``dags/gridrisk_daily.py``), the pipeline's input gates (:mod:`jobs.pipeline`), where a rule
kind's inputs live (:mod:`jobs.gold.risk_flags`) and which departments entity resolution may
read (``conf/linkage.yaml``) are all derived from it, and :func:`check` fails — naming the
table — when any of them names a table that is not here.

It is plain literals and dataclasses: importing it reads no file and pulls in nothing heavy, so
the DAG file can build its graph from it at parse time (``tests/test_dags.py`` keeps that true).

Example:
    >>> CATALOG.table("silver.person_profile").written_by
    'link'
    >>> CATALOG.stage("silver").bronze_inputs
    ('housing_units', 'residence_registrations', 'addresses')
    >>> [s.name for s in CATALOG.downstream_of("bronze.addresses")]
    ['silver', 'link', 'vehicle_tracks', 'fire_state', 'publish']
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

LAYERS = ("bronze", "silver", "gold", "ops")
#: ``written_by`` of a table every stage writes its own rows of (the run log).
EVERY_STAGE = "*"
#: What each stage did per day: jobs/runlog.py.
RUN_LOG = "ops.run_log"
#: How the run log's reason of a rule evaluated on only some of its inputs (one registry of two)
#: begins: the run summary and the report pick such rules out by it.
PARTIAL_RULE = "partial: "

#: Department extracts, then the four reference tables the grid office delivers together.
#: One entry per ``schemas/<name>.yaml`` (a test keeps the two equal).
BRONZE_DATASETS: tuple[str, ...] = (
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
#: The grid office's reference deliveries: no personal data.
REFERENCE_DATASETS = ("grids", "addresses", "sensitive_places", "roads")


#: The two registries the person rules read, each its own department's delivery: name → dataset.
REGISTRY_DATASETS = {"mental": "mental_health_registry", "drugs": "drug_registry"}


def registry_table(name: str) -> str:
    """The silver table of one registry (``mental``, ``drugs``): one per department, so a late
    drug registry leaves only its own table out and skips only the rules that read it.

    Example:
        >>> registry_table("drugs")
        'person_registry_drugs'
    """
    if name not in REGISTRY_DATASETS:
        raise KeyError(f"no registry {name!r}; registries: {', '.join(REGISTRY_DATASETS)}")
    return f"person_registry_{name}"


@dataclass(frozen=True)
class Table:
    """One Delta table: ``<lake>/<layer>/<name>``, partitioned by ``partition_by``."""

    layer: str
    name: str
    partition_by: tuple[str, ...]
    written_by: str
    description: str
    #: Holds raw ID numbers, names or registry details: readable by the restricted jobs only.
    restricted: bool = False

    @property
    def ref(self) -> str:
        return f"{self.layer}.{self.name}"


@dataclass(frozen=True)
class Stage:
    """One step of the daily run: the tables it reads and writes and the job that does it.

    ``gate``: the stage runs only when every bronze table it reads loaded and passed quality for
    the day (``all``); runs when its ``required`` inputs did, with whatever else arrived
    (``each`` — what it writes from a missing input is left out, so only the rules that read it
    are skipped); or runs and lets each consumer decide (``none`` — the rules stage skips just
    the rules whose inputs are missing).
    """

    name: str
    job: str
    reads: tuple[str, ...]
    writes: tuple[str, ...]
    description: str
    gate: str = "all"
    task_id: str = ""
    #: With ``gate="each"``: the bronze inputs without which the stage cannot run at all.
    required: tuple[str, ...] = ()
    #: Stages this one must follow although no lake table links them (the task store).
    after: tuple[str, ...] = ()

    @property
    def bronze_inputs(self) -> tuple[str, ...]:
        return tuple(ref.split(".", 1)[1] for ref in self.reads if ref.startswith("bronze."))

    @property
    def delivery_inputs(self) -> tuple[str, ...]:
        """The departments' deliveries it reads (bronze tables one ingest task writes; the ingest
        and quality logs, which every ingest writes, are not among them)."""
        return tuple(n for n in self.bronze_inputs if not n.startswith("_"))

    @property
    def airflow_task_id(self) -> str:
        return self.task_id or self.name


def _bronze(*names: str) -> tuple[str, ...]:
    return tuple(f"bronze.{n}" for n in names)


#: The person-bearing departments entity resolution links (``conf/linkage.yaml`` sources must
#: be among them), plus the address reference that places a person in a grid.
LINK_DATASETS = ("persons", "residence_registrations", "housing_units", "driving_licences", "transport_workers",
                 "mental_health_registry", "drug_registry", "waybills")


@dataclass(frozen=True)
class Catalog:
    tables: tuple[Table, ...]
    stages: tuple[Stage, ...]
    _by_ref: dict[str, Table] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_ref", {t.ref: t for t in self.tables})

    def table(self, ref: str) -> Table:
        """``"silver.person_profile"`` → its :class:`Table`; an unknown table is a :class:`KeyError` naming it."""
        try:
            return self._by_ref[ref]
        except KeyError:
            raise KeyError(f"{ref} is not in the lake catalog (gridrisk/catalog.py)") from None

    def find(self, name: str, layers: Iterable[str] = ("silver", "gold", "bronze")) -> Table:
        """A table by bare name, searching ``layers`` in order (rule kinds name inputs bare)."""
        for layer in layers:
            if f"{layer}.{name}" in self._by_ref:
                return self._by_ref[f"{layer}.{name}"]
        raise KeyError(f"{name} is not in the lake catalog (gridrisk/catalog.py)")

    def stage(self, name: str) -> Stage:
        for s in self.stages:
            if s.name == name:
                return s
        raise KeyError(f"no stage {name!r}; stages: {', '.join(self.stage_names)}")

    @property
    def stage_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.stages)

    def writer_of(self, ref: str) -> Stage:
        return self.stage(self.table(ref).written_by)

    def upstream_of(self, stage: str) -> list[Stage]:
        """The stages that write something ``stage`` reads (ingest excluded: it is per dataset)."""
        spec = self.stage(stage)
        writers = {self._by_ref[ref].written_by for ref in spec.reads if ref in self._by_ref} | set(spec.after)
        return [s for s in self.stages if s.name in writers and s.name != "ingest" and s.name != stage]

    def downstream_of(self, ref: str) -> list[Stage]:
        return [s for s in self.stages if ref in s.reads]

    def problems(self) -> list[str]:
        """Everything inconsistent in the catalog itself, all at once."""
        out: list[str] = []
        seen: set[str] = set()
        for t in self.tables:
            if t.ref in seen:
                out.append(f"{t.ref} is declared twice")
            seen.add(t.ref)
            if t.layer not in LAYERS:
                out.append(f"{t.ref}: layer must be one of {', '.join(LAYERS)}")
            if t.written_by not in self.stage_names and t.written_by != EVERY_STAGE:
                out.append(f"{t.ref}: written by unknown stage {t.written_by!r}")
        for s in self.stages:
            for ref in s.reads + s.writes:
                if ref not in self._by_ref:
                    out.append(f"stage {s.name}: {ref} is not in the catalog")
            for ref in s.writes:
                if ref in self._by_ref and self._by_ref[ref].written_by != s.name:
                    out.append(f"stage {s.name} writes {ref}, which the catalog says {self._by_ref[ref].written_by} writes")
            if s.gate not in ("all", "each", "none"):
                out.append(f"stage {s.name}: gate must be all, each or none")
            if not set(s.required) <= set(s.bronze_inputs):
                out.append(f"stage {s.name}: required inputs must be among its bronze inputs")
        order = {s.name: i for i, s in enumerate(self.stages)}
        for s in self.stages:
            for up in self.upstream_of(s.name):
                if order[up.name] > order[s.name]:
                    out.append(f"stage {s.name} reads what {up.name} writes but comes before it")
        return out


_TABLES: tuple[Table, ...] = (
    # Department deliveries carry raw IDs, names and registry details; the grid office's
    # reference tables (places, grids, roads) do not.
    *(Table("bronze", n, ("ds",), "ingest", f"the {n} delivery as landed, typed", restricted=n not in REFERENCE_DATASETS)
      for n in BRONZE_DATASETS),
    Table("bronze", "_quarantine", ("dataset", "ds"), "ingest", "rows that failed typing or a row-level expectation, with the reason",
          restricted=True),
    Table("bronze", "_ingest_log", ("dataset", "ds"), "ingest", "one row per delivery: read, accepted, quarantined, status"),
    Table("bronze", "_ingest_parts", ("dataset", "ds"), "ingest",
          "one row per landed file of a dataset delivered in hourly parts: checksum, counts, batch, quality verdict"),
    Table("bronze", "_quality_log", ("dataset", "ds"), "ingest", "one row per suite run: verdict, failed expectations",
          restricted=True),
    Table("silver", "housing_occupancy", ("ds",), "silver", "current occupants of rented units, ages and family ties"),
    Table("silver", "rented_units", ("ds",), "silver", "rented units with rooms, occupants and their building"),
    Table("silver", "person_records", ("ds",), "link", "every person-bearing record → its person key and link method"),
    Table("silver", "person_master", ("ds",), "link", "one row per person key: masked name, birth date, address"),
    Table("silver", "person_licences", ("ds",), "link", "driving licences by person key"),
    Table("silver", "person_qualifications", ("ds",), "link", "transport qualifications by person key"),
    *(Table("silver", registry_table(name), ("ds",), "link",
            f"{dataset} entries by person key (no diagnosis), in the shape both registries share", restricted=True)
      for name, dataset in REGISTRY_DATASETS.items()),
    Table("silver", "person_profile", ("ds",), "link", "birth date, home address and grid per person key"),
    # Hazmat vehicles (jobs/silver/vehicle_tracks.py): plates are vehicle registrations, not people;
    # the waybills' certificate numbers are registry details.
    Table("silver", "vehicle_points", ("ds",), "vehicle_tracks",
          "good GPS reports of the day's delivery, one per (plate, time), with grid, nearest road and class, sensitive place"),
    Table("silver", "gps_rejects", ("ds",), "vehicle_tracks", "GPS reports rejected with the reason, file and row"),
    Table("silver", "waybill_crew", ("ds",), "vehicle_tracks",
          "waybills of the day and the day before (latest state) with their crew's person keys and certificate numbers",
          restricted=True),
    Table("silver", "vehicle_periods", ("ds",), "vehicle_tracks",
          "driving and resting periods overlapping the day (a trip across midnight whole) with their waybill and crew"),
    # Fire-networked units (jobs/silver/fire_state.py): units and devices, no personal data.
    Table("silver", "fire_event_history", ("ds",), "fire_state",
          "fire events still open or ended within the history window, latest state, carried across days"),
    Table("silver", "fire_event_rejects", ("ds",), "fire_state", "fire events of the day's delivery rejected with the reason"),
    Table("silver", "fire_open_conditions", ("ds",), "fire_state",
          "(unit, device, condition) open at the end of the day: since when, hours open, the oldest event"),
    Table("silver", "fire_false_alarms", ("ds",), "fire_state", "devices with confirmed false fire alarms, most within 24 h"),
    Table("silver", "fire_unit_state", ("ds",), "fire_state",
          "every registered fire unit with its grid, last inspection, network status and open conditions"),
    Table("gold", "risk_flags", ("rule_id",), "rules", "one row per rule × subject, MERGEd daily, time-travel by ds"),
    Table("gold", "risk_summary", ("ds",), "rules", "open/new/resolved flags per rule × city × district"),
    # Operations: every stage writes its own rows (jobs/runlog.py); the rules stage reads it to tell
    # an input that is empty today from one whose stage was skipped.
    Table("ops", "run_log", ("ds", "step"), EVERY_STAGE,
          "per day, step and item (table, rule): loaded / late / written / skipped / left out, why, rows, version"),
)

_STAGES: tuple[Stage, ...] = (
    Stage("ingest", "jobs.bronze.ingest", (), _bronze(*BRONZE_DATASETS, "_quarantine", "_ingest_log", "_ingest_parts", "_quality_log"),
          "land each delivery in bronze and gate it with its quality suite (one task per dataset)", gate="none"),
    Stage("silver", "jobs.silver.housing_occupancy", _bronze("housing_units", "residence_registrations", "addresses"),
          ("silver.housing_occupancy", "silver.rented_units"), "housing occupancy and rented units"),
    Stage("link", "jobs.silver.link_persons", _bronze(*LINK_DATASETS, "addresses"),
          ("silver.person_records", "silver.person_master", "silver.person_licences", "silver.person_qualifications",
           *(f"silver.{registry_table(n)}" for n in REGISTRY_DATASETS), "silver.person_profile"),
          "entity resolution, then the person facts keyed by its person keys", task_id="link_persons",
          # persons anchors identities and addresses places them; any other department may be late
          # or broken: its records are not linked today and the facts (and rules) it feeds skip.
          gate="each", required=("persons", "addresses")),
    # A late or broken GPS, waybill or vehicle-register delivery skips this stage, and with it only
    # the hazmat rules (their inputs are missing today); the crew's person keys come from link.
    Stage("vehicle_tracks", "jobs.silver.vehicle_tracks",
          (*_bronze("gps_points", "hazmat_vehicles", "waybills", "grids", "roads", "sensitive_places", "addresses"),
           "silver.person_records"),
          ("silver.vehicle_points", "silver.gps_rejects", "silver.waybill_crew", "silver.vehicle_periods"),
          "hazmat GPS reports checked and placed (grid, road, sensitive place), cut into periods, waybills with their crew"),
    # A late fire_events or fire_units delivery skips this stage and so only the fire rules.
    Stage("fire_state", "jobs.silver.fire_state", _bronze("fire_events", "fire_units", "addresses"),
          ("silver.fire_event_history", "silver.fire_event_rejects", "silver.fire_open_conditions",
           "silver.fire_false_alarms", "silver.fire_unit_state"),
          "fire events carried across days: open conditions, false alarms, unit state"),
    Stage("rules", "jobs.gold.risk_flags",
          ("silver.housing_occupancy", "silver.rented_units", "silver.person_records", "silver.person_licences",
           "silver.person_qualifications", *(f"silver.{registry_table(n)}" for n in REGISTRY_DATASETS),
           "silver.person_profile",
           "silver.vehicle_points", "silver.waybill_crew", "silver.fire_event_history", "silver.fire_open_conditions",
           "silver.fire_unit_state"),
          ("gold.risk_flags", "gold.risk_summary"),
          "the risk rules → gold flags (a rule whose own input is missing is skipped) and the daily summary", gate="none"),
    Stage("publish", "jobs.gold.publish_tasks", ("gold.risk_flags", "bronze.addresses", "bronze.grids"), (),
          "file one inspection task per open flag in the task store (with the address text), and the grid "
          "polygons the centres' map page draws", gate="none"),
    Stage("report", "gridrisk.report", ("gold.risk_flags", "gold.risk_summary", "bronze._ingest_log", "bronze._quality_log",
                                        "bronze.grids"), (),
          "the analysts' report of the day (one offline HTML page + workbook) in the reports location; it reads the "
          "case-handling figures from the task store, so it follows publish", gate="none", after=("publish",)),
)

CATALOG = Catalog(_TABLES, _STAGES)

#: The stages of a daily run, in order.
STAGES: tuple[str, ...] = CATALOG.stage_names


def ingest_task_id(dataset: str) -> str:
    return f"ingest_{dataset}"
