"""gold ``risk_flags``: one row per (rule, subject), kept current with Delta MERGE.

    gridrisk run --date 2026-11-01 --stages rules [--full]

For the logical date ``ds`` every enabled rule whose inputs exist is evaluated, and:

- a flag that fires and is new is inserted (``first_seen`` = ``opened_on`` = ``last_seen`` = ds);
- a flag that still fires gets ``last_seen`` = ds and fresh evidence; a resolved one re-opens
  (``opened_on`` = ds: a new episode, hence a new task);
- a flag of an evaluated rule that no longer fires is marked ``resolved`` (``resolved_on`` = ds);
- a flag a grid centre reported as a false positive stays ``suppressed`` for the window in
  conf/sla.yaml instead of re-opening.

Compound rules (``compound:`` in conf/rules) then raise the severity of a flag whose subject
meets another flag — a person rule hit on an occupant of a group rental (``lives_in``), a fire
unit in a grid with one (``same_grid``), a hazmat vehicle whose waybill crew includes a flagged
person (``crew_of``): ``rule_severity`` keeps the rule's own, ``severity`` the escalated one that
picks route and priority, ``escalated_by`` and ``escalation_note`` say why.

**Incremental runs** (:mod:`jobs.gold.incremental`): when the table's last run was for the day
before with the same rule configuration, each rule re-evaluates only the subjects whose inputs
changed or whose day-dependent tests flip, and keeps yesterday's flags for the rest; the result
equals a full recompute. ``--full`` (or any broken premise) recomputes everything.

Nothing is ever duplicated: ``flag_id`` is a hash of (rule id, subject key). Re-running a date
gives the same table; running an older date after a newer one changes nothing (``last_seen``
guards every update). Delta time travel answers "which flags were open on date D".
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from gridrisk import lake
from gridrisk.catalog import PARTIAL_RULE
from gridrisk.config import Profile
from gridrisk.rules import LEVEL_CODE_LENGTH, Compound, Routing, Rule, load_routing, load_rules

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

TABLE = "risk_flags"
FLAG_SCHEMA = (
    "flag_id string, rule_id string, rule_version int, rule_kind string, subject_type string, subject_key string, "
    "severity string, priority int, address_code string, grid_code string, lon double, lat double, "
    "receiving_level string, receiving_unit string, department string, title string, "
    "explanation string, analyst_explanation string, evidence string, "
    "status string, first_seen date, opened_on date, last_seen date, resolved_on date, "
    "rule_severity string, escalated_by string, escalation_note string"
)
#: The columns of a rule's hits after rendering (gridrisk.rules.kinds.evaluate_rule).
HIT_SHAPE = ("subject_type", "subject_key", "address_code", "grid_code", "lon", "lat", "severity", "facts", "evidence",
             "explanation", "analyst_explanation")


def flag_id(rule_id: "Column", subject_key: "Column") -> "Column":
    from pyspark.sql import functions as F

    return F.substring(F.sha2(F.concat_ws("|", rule_id, subject_key), 256), 1, 20)


def route_columns(routing: Routing, rules: Iterable[Rule]) -> dict[str, "Column"]:
    """receiving level/unit, department and priority as CASE expressions over rule_id × severity."""
    from pyspark.sql import functions as F

    level = dept = F.lit(None).cast("string")
    for rule in rules:
        for sev in ("low", "medium", "high", "critical"):
            route = routing.route(rule.id, sev)
            hit = (F.col("rule_id") == rule.id) & (F.col("severity") == sev)
            level = F.when(hit, F.lit(route.level)).otherwise(level)
            dept = F.when(hit, F.lit(route.department)).otherwise(dept)
    length = F.lit(None).cast("int")
    for name, n in LEVEL_CODE_LENGTH.items():
        length = F.when(level == name, F.lit(n)).otherwise(length)
    prio = F.lit(None).cast("int")
    for sev, p in routing.priority_of_severity.items():
        prio = F.when(F.col("severity") == sev, F.lit(p)).otherwise(prio)
    # The receiving unit is the grid code cut to the level's division-code length.
    unit = F.expr("substring(grid_code, 1, _unit_length)")
    return {"receiving_level": level, "department": dept, "priority": prio, "_unit_length": length, "receiving_unit": unit}


def transform(hits: dict[str, "DataFrame"], rules: list[Rule], routing: Routing, ds: str,
              suppressed: "DataFrame | None" = None, compounds: "list[Compound] | None" = None,
              links: "Mapping[str, DataFrame | None] | None" = None) -> "DataFrame":
    """Today's flags (one per rule × subject) in the shape of the gold table. Pure.

    ``hits``: rule id → that rule's hits (:func:`gridrisk.rules.kinds.evaluate_rule` shape);
    ``links``: compound mode → its link frame (``source_key``, ``target_key``): current occupants
    (address → person) for ``lives_in``, the day's waybill crew (person → plate) for ``crew_of``.
    """
    from functools import reduce

    from pyspark.sql import functions as F

    parts = [hits[rule.id].select(
        F.lit(rule.id).alias("rule_id"), F.lit(rule.version).alias("rule_version"), F.lit(rule.kind).alias("rule_kind"),
        F.lit(rule.title).alias("title"), *HIT_SHAPE) for rule in rules]
    flags = reduce(lambda a, b: a.unionByName(b), parts).withColumnRenamed("severity", "rule_severity")
    flags = escalate(flags, compounds or [], links or {})
    routes = route_columns(routing, rules)
    day = F.lit(ds).cast("date")
    flags = flags.withColumn("flag_id", flag_id(F.col("rule_id"), F.col("subject_key")))
    status = F.lit("open")
    if suppressed is not None:
        flags = flags.join(suppressed.select("flag_id", F.lit(True).alias("_suppressed")), "flag_id", "left")
        status = F.when(F.col("_suppressed"), F.lit("suppressed")).otherwise(status)
    return flags.withColumn("_unit_length", routes["_unit_length"]).select(
        "flag_id", "rule_id", "rule_version", "rule_kind", "subject_type", "subject_key", "severity",
        routes["priority"].alias("priority"), "address_code", "grid_code", "lon", "lat",
        routes["receiving_level"].alias("receiving_level"), routes["receiving_unit"].alias("receiving_unit"),
        routes["department"].alias("department"), "title", "explanation", "analyst_explanation", "evidence",
        status.alias("status"), day.alias("first_seen"), day.alias("opened_on"), day.alias("last_seen"),
        F.lit(None).cast("date").alias("resolved_on"), "rule_severity", "escalated_by", "escalation_note",
    )


#: Compound modes that meet through a link between two subjects: mode → (the subject type of its
#: source flags, whether the source's subject key is an address the note may quote). The link
#: frame of the mode maps ``source_key`` (a source flag's subject) → ``target_key`` (the subject
#: whose flag is escalated): occupants (address → person) for ``lives_in``, the day's waybill crew
#: (person → plate) for ``crew_of``. ``same_grid`` needs no link: it meets on the grid code.
LINKED_MODES: dict[str, tuple[str, bool]] = {"lives_in": ("address", True), "crew_of": ("person", False)}


def escalate(flags: "DataFrame", compounds: "list[Compound]", links: "Mapping[str, DataFrame | None]") -> "DataFrame":
    """Apply the compound rules in order: a flag takes the first that applies to it.

    ``links``: mode → its link frame (``source_key``, ``target_key``), see :data:`LINKED_MODES`;
    a linked mode without its frame today (no occupancy, no waybills) escalates nothing.
    Adds ``severity`` (escalated or the rule's), ``escalated_by`` and ``escalation_note``.
    """
    from pyspark.sql import functions as F

    from gridrisk.rules import SEVERITIES, escalated
    from gridrisk.rules.kinds.common import render_template

    flags = (flags.withColumn("escalated_by", F.lit(None).cast("string"))
             .withColumn("escalation_note", F.lit(None).cast("string"))
             .withColumn("_escalate", F.lit(None).cast("int")))
    for c in compounds:
        sources = flags.where(F.col("rule_id").isin(*c.source_rules))
        if c.mode in LINKED_MODES:
            source_type, quotes_address = LINKED_MODES[c.mode]
            link = links.get(c.mode)
            if link is None:
                continue
            address = F.col("subject_key") if quotes_address else F.lit(None).cast("string")
            meets = (sources.where(F.col("subject_type") == source_type)
                     .select(F.col("subject_key").alias("source_key"), address.alias("source_address"),
                             F.col("rule_id").alias("source_rule"))
                     .join(link.select("source_key", "target_key"), "source_key")
                     .groupBy(F.col("target_key").alias("_key"))
                     .agg(F.min(F.struct("source_address", "source_rule")).alias("_m"))
                     .select("_key", F.col("_m.source_address").alias("_address"), F.lit(None).cast("string").alias("_grid"),
                             F.col("_m.source_rule").alias("_source")))
            key_col = F.col("subject_key")
        else:
            meets = (sources.where(F.col("grid_code").isNotNull()).groupBy(F.col("grid_code").alias("_key"))
                     .agg(F.min("rule_id").alias("_source"))
                     .select("_key", F.lit(None).cast("string").alias("_address"), F.col("_key").alias("_grid"), "_source"))
            key_col = F.col("grid_code")
        applies = F.col("subject_type").isin(*c.subject_types) & ~F.col("rule_id").isin(*c.source_rules) & F.col("escalated_by").isNull()
        # Decide first: the updates below change escalated_by, which `applies` reads.
        flags = flags.join(meets, key_col == F.col("_key"), "left").withColumn("_hit", applies & F.col("_key").isNotNull())
        hit = F.col("_hit")
        facts = F.create_map(F.lit("address_code"), F.coalesce("_address", "address_code"),
                             F.lit("grid_code"), F.coalesce("_grid", "grid_code"), F.lit("source_rule"), F.col("_source"))
        flags = (flags.withColumn("escalated_by", F.when(hit, F.lit(c.id)).otherwise(F.col("escalated_by")))
                 .withColumn("escalation_note", F.when(hit, render_template(c.note, facts)).otherwise(F.col("escalation_note")))
                 .withColumn("_escalate", F.when(hit, F.lit(c.escalate_levels)).otherwise(F.col("_escalate")))
                 .drop("_key", "_address", "_grid", "_source", "_hit"))
    severity = F.col("rule_severity")
    for sev in SEVERITIES:
        for n in range(1, len(SEVERITIES)):
            severity = F.when((F.col("rule_severity") == sev) & (F.col("_escalate") == n), F.lit(escalated(sev, n))).otherwise(severity)
    return flags.withColumn("severity", severity).drop("_escalate")


def add_missing_columns(spark: "SparkSession", path: str) -> None:
    """A table written by an older version gains the columns added since (null for old rows)."""
    have = {f.name for f in spark.read.format("delta").load(path).schema.fields}
    wanted = [f for f in spark.createDataFrame([], FLAG_SCHEMA).schema.fields if f.name not in have]
    if wanted:
        cols = ", ".join(f"{f.name} {f.dataType.simpleString()}" for f in wanted)
        spark.sql(f"ALTER TABLE delta.`{path}` ADD COLUMNS ({cols})")


def merge(spark: "SparkSession", path: str, today: "DataFrame", ds: str, evaluated_rules: list[str],
          tag: str = "") -> dict[str, int]:
    """Upsert today's flags; resolve the flags of ``evaluated_rules`` (the rules evaluated on all
    their inputs) that stopped firing."""
    from gridrisk.spark import cut_lineage, release, session_conf

    if not lake.table_exists(spark, path):
        spark.createDataFrame([], FLAG_SCHEMA).write.format("delta").partitionBy("rule_id").save(path)
    else:
        add_missing_columns(spark, path)
    day = f"DATE'{ds}'"
    rules_in = ", ".join(lake.sql_literal(r) for r in evaluated_rules) or "NULL"
    refresh: "dict[str, str | Column]" = {c: f"s.{c}" for c in (
        "rule_version", "rule_kind", "subject_type", "severity", "priority", "address_code", "grid_code", "lon", "lat",
        "receiving_level", "receiving_unit", "department", "title", "explanation", "analyst_explanation", "evidence",
        "rule_severity", "escalated_by", "escalation_note")}
    refresh.update({
        "status": "s.status",
        "last_seen": day,
        "opened_on": f"CASE WHEN t.status = 'resolved' THEN {day} ELSE t.opened_on END",
        "resolved_on": "NULL",
    })
    # Every rule's plan runs once, here, not once per pass of the MERGE: Delta scans a merge
    # source at least twice (find the touched files, then rewrite them), and a source that reads
    # only Delta tables counts as deterministic, so Delta does not materialise it itself. On the
    # tests' hand-made facts the unmaterialised source made the MERGE most of the stage's time.
    # The source is materialised here, so Delta makes no second copy of it.
    with session_conf(spark, {**EVALUATION_CONF, "spark.databricks.delta.merge.materializeSource": "none"}):
        source = cut_lineage(today)
        try:
            # The logical date goes into the commit, so "as of date D" can find its version later.
            return lake.merge(
                spark, path, source, "t.flag_id = s.flag_id AND t.rule_id = s.rule_id",
                user_metadata=f"ds={ds}" + (f" {tag}" if tag else ""),
                matched_condition=f"t.last_seen <= {day}", matched_set=refresh,
                not_matched_by_source_condition=(f"t.status IN ('open', 'suppressed') AND t.rule_id IN ({rules_in}) "
                                                 f"AND t.last_seen <= {day}"),
                not_matched_by_source_set={"status": "'resolved'", "resolved_on": day},
            )
        finally:
            release(source)


def flags_as_of(spark: "SparkSession", profile: Profile, as_of: str) -> "DataFrame":
    """The flags table as the last run for a logical date on or before ``as_of`` left it
    (Delta time travel to :func:`gridrisk.lake.version_for_ds`)."""
    path = profile.table_path("gold", TABLE)
    if not lake.table_exists(spark, path):
        raise LookupError(f"no flags yet: {path} does not exist")
    return lake.read(spark, profile, "gold", TABLE, version_as_of=lake.version_for_ds(spark, path, as_of))


def load_inputs(spark: "SparkSession", profile: Profile, rules: list[Rule], ds: str,
                reasons: dict[str, str] | None = None,
                partial: dict[str, str] | None = None) -> tuple[dict[str, "DataFrame"], list[Rule], list[str]]:
    """The inputs of every rule on ``ds``; a rule whose own input is missing is skipped, not
    resolved (``reasons``, when given, gets why: rule id → the missing inputs). A rule that has
    one of a group of alternative inputs (both registries) runs on what came; ``partial`` gets
    those: rule id → what it ran without (:func:`partial_note`).

    Each rule reads the inputs its kind says it reads (:meth:`gridrisk.rules.kind.RuleKind.inputs_for`),
    each from the layer the catalog gives it; an event input with a look-back
    (:class:`gridrisk.rules.kind.Input`) reads that many earlier days too. Which inputs have
    rows on ``ds`` is found by one Spark job for all of them (:func:`_partitions`)."""
    from gridrisk.rules.kind import absent_inputs
    from gridrisk.rules.kinds import KINDS

    wanted: dict[str, int] = {}
    for rule in rules:
        for spec in KINDS[rule.kind].inputs_for(rule):
            wanted[spec.table] = max(wanted.get(spec.table, 0), spec.lookback_days)
    found = _partitions(spark, profile, wanted, ds, allow_empty=True)
    inputs = {name: df for name, df in found.items() if df is not None}
    missing = {name for name, df in found.items() if df is None}
    ready, skipped = [], []
    for rule in rules:
        blocking, without = absent_inputs(KINDS[rule.kind].inputs_for(rule), missing)
        if blocking:
            skipped.append(rule.id)
            if reasons is not None:
                reasons[rule.id] = f"no {', '.join(blocking)} for {ds} ({MISSING_WHY})"
        else:
            ready.append(rule)
            if without and partial is not None:
                partial[rule.id] = partial_note(without, ds)
    return inputs, ready, skipped


#: Why a rule input is not there (the stage that writes it was skipped or left it out).
MISSING_WHY = "its departments' delivery is missing, late or failed quality"


def partial_note(without: Iterable[str], ds: str) -> str:
    """What a rule that ran without some of its alternative inputs says in the run summary.

    Example:
        >>> print(partial_note(["person_registry_drugs"], "2026-11-01"))
        partial: ran without person_registry_drugs for 2026-11-01 (its departments' delivery is missing, late or failed quality) — new hits filed, none of its flags resolved
    """
    return f"{PARTIAL_RULE}ran without {', '.join(without)} for {ds} ({MISSING_WHY}) — new hits filed, none of its flags resolved"


def input_table(name: str) -> tuple[str, str]:
    """(layer, name) of a rule input, from the catalog (an input missing there is an error naming it)."""
    from gridrisk.catalog import CATALOG

    table = CATALOG.find(name, layers=("silver", "gold"))
    return table.layer, table.name


def _partition(spark: "SparkSession", profile: Profile, name: str, ds: str, lookback_days: int = 0,
               allow_empty: bool = False) -> "DataFrame | None":
    """The ``ds`` partition of a rule input (with ``lookback_days`` earlier days), or None when
    the day is missing (:func:`_partitions` for one input)."""
    return _partitions(spark, profile, {name: lookback_days}, ds, allow_empty)[name]


def _partitions(spark: "SparkSession", profile: Profile, wanted: Mapping[str, int], ds: str,
                allow_empty: bool = False) -> "dict[str, DataFrame | None]":
    """The ``ds`` partition of each rule input in ``wanted`` (name → look-back days: that many
    earlier days too), None for one whose day is missing. An empty partition is missing unless
    ``allow_empty`` and the run log says the stage that writes the table wrote it for the day
    (:func:`jobs.runlog.written`): then it is an input with nothing in it — no fault open at the
    day's end, no waybill, an empty registry delivery — and the rules that read it resolve. A
    table its stage skipped or left out (a late or failed department) has no ``written`` entry,
    so its rules are skipped, not resolved.

    One Spark job finds which of the days have rows (a union of row-less scans: Parquet footers
    only), not one ``isEmpty()`` job per input."""
    import datetime as dt
    from functools import reduce

    from pyspark.sql import functions as F

    from jobs import runlog

    days: dict[str, DataFrame] = {}
    tables: dict[str, tuple[str, str]] = {}
    for name in wanted:
        layer, table = input_table(name)
        if lake.table_exists(spark, profile.table_path(layer, table)):
            tables[name] = (layer, table)
            days[name] = lake.read_partition(spark, profile, layer, table, ds)
    present: set[str] = set()
    if days:
        probe = reduce(lambda a, b: a.unionByName(b), [df.select(F.lit(n).alias("_input")) for n, df in days.items()])
        present = {r["_input"] for r in probe.distinct().collect()}
    out: dict[str, DataFrame | None] = {}
    for name, lookback_days in wanted.items():
        if name not in days or (name not in present and not (allow_empty and runlog.written(spark, profile, ds, ".".join(tables[name])))):
            out[name] = None  # for a look-back input: yesterday's tail alone is not today's input
        elif lookback_days:
            layer, table = tables[name]
            first = (dt.date.fromisoformat(ds) - dt.timedelta(days=lookback_days)).isoformat()
            out[name] = lake.read(spark, profile, layer, table).where(
                F.col("ds").between(F.lit(first).cast("date"), F.lit(ds).cast("date")))
        else:
            out[name] = days[name]
    return out


def last_run(spark: "SparkSession", path: str) -> dict[str, str]:
    """``{"ds": …, "rules": …, "evaluated": …}`` of the run whose state the table holds now: the
    latest commit's, or — after an operator's ``RESTORE`` — the restored version's. An hourly
    hazmat run's commit (``hour=`` in its metadata, :mod:`jobs.hourly`) is not a run of the
    rules: it touched only hourly rules, which are never incremental, so it is passed over."""
    rows = {r["version"]: r for r in lake.history(spark, path)
            if " hour=" not in f" {r['userMetadata'] or ''}"}
    row = rows[max(rows)] if rows else None
    while row is not None and row["operation"] == "RESTORE":
        target = (row["operationParameters"] or {}).get("version")
        row = rows.get(int(target)) if target is not None and str(target).isdigit() else None
    text = (row["userMetadata"] if row else None) or ""
    return dict(part.split("=", 1) for part in text.split() if "=" in part)


def carried_flags(spark: "SparkSession", path: str, rule: Rule, prev_ds: str) -> "DataFrame":
    """Yesterday's firing flags of ``rule`` in the shape of a rule's hits."""
    from pyspark.sql import functions as F

    return (spark.read.format("delta").load(path)
            .where((F.col("rule_id") == rule.id) & F.col("status").isin("open", "suppressed")
                   & (F.col("last_seen") == F.lit(prev_ds).cast("date")))
            .select(*[F.col("rule_severity").alias("severity") if c == "severity"
                      else F.create_map().cast("map<string,string>").alias("facts") if c == "facts" else F.col(c)
                      for c in HIT_SHAPE]))


def occupants(spark: "SparkSession", profile: Profile, ds: str,
              inputs: "Mapping[str, DataFrame] | None" = None) -> "DataFrame | None":
    """(address_code, person_key) of every current occupant of a rented unit, the person key as
    entity resolution linked the registration (falling back to the exact key of its ID).
    ``inputs``: the rule inputs already read for ``ds`` (not read again)."""
    from pyspark.sql import functions as F

    occ = (inputs or {}).get("housing_occupancy")
    if occ is None:
        occ = _partition(spark, profile, "housing_occupancy", ds)
    if occ is None:
        return None
    records_path = profile.table_path("silver", "person_records")
    if lake.table_exists(spark, records_path):
        links = (lake.read_partition(spark, profile, "silver", "person_records", ds)
                 .where(F.col("dataset") == "residence_registrations")
                 .select(F.col("record_key").alias("registration_no"), F.col("person_key").alias("_linked"))
                 .dropDuplicates(["registration_no"]))
        occ = occ.join(links, "registration_no", "left").withColumn("person_key", F.coalesce("_linked", "person_key"))
    return occ.where(F.col("person_key").isNotNull()).select("address_code", "person_key").distinct()


def crews(spark: "SparkSession", profile: Profile, ds: str,
          inputs: "Mapping[str, DataFrame] | None" = None) -> "DataFrame | None":
    """(person_key, plate_no) of the driver and escort of every non-cancelled waybill whose plan
    window overlaps ``ds`` — the people entity resolution linked the crew's IDs to."""
    import datetime as dt

    from pyspark.sql import functions as F

    crew = (inputs or {}).get("waybill_crew")
    if crew is None:
        crew = _partition(spark, profile, "waybill_crew", ds)
    if crew is None:
        return None
    start = F.lit(ds).cast("timestamp")
    end = F.lit((dt.date.fromisoformat(ds) + dt.timedelta(days=1)).isoformat()).cast("timestamp")
    wb = crew.where((F.col("status") != "cancelled") & (F.col("plan_depart_ts") < end) & (F.col("plan_arrive_ts") >= start))
    return (wb.select(F.col("driver_person_key").alias("person_key"), "plate_no")
            .unionByName(wb.select(F.col("escort_person_key").alias("person_key"), "plate_no"))
            .where(F.col("person_key").isNotNull()).distinct())


def compound_links(spark: "SparkSession", profile: Profile, ds: str, compounds: "list[Compound]",
                   inputs: "Mapping[str, DataFrame] | None" = None) -> "dict[str, DataFrame | None]":
    """The link frame of every linked mode the compounds use (``source_key``, ``target_key``)."""
    from pyspark.sql import functions as F

    out: dict[str, DataFrame | None] = {}
    modes = {c.mode for c in compounds}
    if "lives_in" in modes:
        occ = occupants(spark, profile, ds, inputs)
        out["lives_in"] = None if occ is None else occ.select(F.col("address_code").alias("source_key"),
                                                              F.col("person_key").alias("target_key"))
    if "crew_of" in modes:
        crew = crews(spark, profile, ds, inputs)
        out["crew_of"] = None if crew is None else crew.select(F.col("person_key").alias("source_key"),
                                                               F.col("plate_no").alias("target_key"))
    return out


def run(spark: "SparkSession", profile: Profile, ds: str, full: bool | None = None,
        only: "Collection[str] | None" = None) -> dict[str, Any]:
    """Evaluate the rules for ``ds`` and MERGE their flags into gold (module docstring).

    ``full``: True recomputes every rule; False chains on yesterday's run where it can
    (incremental); None (default) takes the profile's ``rules_incremental`` (off by default).

    ``only``: evaluate just these rule ids (the others' flags stay as they are; a benchmark or
    an operator re-running one rule) — compounds still apply to what is evaluated."""
    import datetime as dt
    from functools import reduce

    from pyspark.sql import functions as F

    from gridrisk.rules import fingerprint, load_compounds
    from gridrisk.rules.kinds import KINDS, evaluate_rule
    from gridrisk.rules.kinds.hazmat import share_tracks
    from jobs.gold import incremental

    all_rules = load_rules()
    rules, routing = list(all_rules.values()), load_routing()
    if only is not None:
        unknown = sorted(set(only) - set(all_rules))
        if unknown:
            raise ValueError(f"unknown rule id(s) {', '.join(unknown)}; known: {', '.join(sorted(all_rules))}")
        rules = [r for r in rules if r.id in set(only)]
    compounds = load_compounds(rules=all_rules)
    reasons: dict[str, str] = {}
    # A rule that ran on only some of its registries cannot tell a flag that stopped firing from
    # one the missing registry would still hold up: it files what fires and resolves nothing, and
    # is not a base for tomorrow's incremental run (it is not "evaluated" in the commit).
    partial: dict[str, str] = {}
    inputs, ready, skipped = load_inputs(spark, profile, rules, ds, reasons, partial)
    if not ready:
        return {"evaluated": [], "skipped": skipped, "skip_reasons": reasons, "partial_rules": partial, "metrics": {}}
    path = profile.table_path("gold", TABLE)
    config = fingerprint(rules, routing, compounds)
    prev_ds = (dt.date.fromisoformat(ds) - dt.timedelta(days=1)).isoformat()
    previous = last_run(spark, path)
    if full is None:
        full = not profile.rules_incremental
    chain = not full and previous.get("ds") == prev_ds and previous.get("rules") == config
    evaluated_before = set(previous.get("evaluated", "").split(","))
    hits: dict[str, DataFrame] = {}
    modes: dict[str, str] = {}
    cached: list[DataFrame] = []
    prev_inputs: dict[str, DataFrame | None] = {}
    changes = incremental.Changes(inputs, prev_inputs)  # type: ignore[arg-type]
    lookback = {i.table for r in ready for i in KINDS[r.kind].inputs_for(r) if i.lookback_days}  # not just ds
    candidates = [r for r in ready if chain and KINDS[r.kind].incremental and r.id in evaluated_before and r.id not in partial]
    prev_inputs.update(_partitions(spark, profile, {n: 0 for r in candidates for n in KINDS[r.kind].input_names(r)}, prev_ds))
    chained = [r for r in candidates if all(prev_inputs[n] is not None for n in KINDS[r.kind].input_names(r))]
    for rule in chained:
        changes.register(KINDS[rule.kind](), rule, prev_ds, ds)
    with share_tracks(inputs, ready):  # released once the hits are kept apart from it
        for rule in ready:
            if rule in chained:
                modes[rule.id] = "incremental"  # its count is added after the merge
                hits[rule.id], keys = incremental.evaluate(rule, changes, carried_flags(spark, path, rule, prev_ds), prev_ds, ds)
                cached.append(keys.select(F.lit(rule.id).alias("rule_id"), "subject_key"))
            else:
                hits[rule.id] = evaluate_rule(inputs, rule, ds)
                modes[rule.id] = (partial[rule.id] if rule.id in partial
                                  else "full" if KINDS[rule.kind].incremental or not chain else "full (event kind: recomputed every day)")
        done = evaluate_once(hits)
    evaluated = [r.id for r in ready]
    complete = [r for r in evaluated if r not in partial]
    today = transform(done, ready, routing, ds, suppressed_flags(spark, profile, ds), compounds,
                      compound_links(spark, profile, ds, compounds, {n: df for n, df in inputs.items() if n not in lookback}))
    metrics = merge(spark, path, today, ds, complete, tag=f"rules={config} evaluated={','.join(complete)}")
    if cached:  # one job counts what every incremental rule re-evaluated
        rows = reduce(lambda a, b: a.unionByName(b), cached).groupBy("rule_id").count().collect()
        counts = {r["rule_id"]: r["count"] for r in rows}
        modes.update({r: f"incremental: {counts.get(r, 0)} subjects re-evaluated" for r, m in modes.items() if m == "incremental"})
    changes.release()
    return {"evaluated": evaluated, "skipped": skipped, "skip_reasons": reasons, "partial_rules": partial, "mode": modes,
            "metrics": metrics}


#: Spark settings while the rules are evaluated (:func:`evaluate_once`) and their flags built and
#: MERGEd (:func:`merge`), daily and hourly alike. Delta's data skipping plans one
#: file-statistics query per distinct table scan, and a run scans ~50: ~2 s of a small day's
#: ~30 s stage. It prunes nothing here: the rules read day partitions (pruned without
#: statistics) or whole reference tables, and the MERGE matches on the flag id across the
#: ``rule_id`` partitions it names (docs/benchmarks.md, session 13).
#:
#: A join on (plate, time) of two sides already clustered by plate (the kept track input,
#: :func:`gridrisk.rules.kinds.hazmat.share_tracks`, and what a kind derived from it) is done
#: where they lie, without shuffling both by (plate, time) and then again by plate for the
#: episodes' windows (``requireAllClusterKeysForCoPartition``).
EVALUATION_CONF = {"spark.databricks.delta.stats.skipping": "false",
                   "spark.sql.requireAllClusterKeysForCoPartition": "false"}


def evaluate_once(hits: "dict[str, DataFrame]") -> "dict[str, DataFrame]":
    """Every rule's hits computed in one Spark job and kept (a local checkpoint), each rule's then
    a filter of that one frame.

    :func:`escalate` meets the day's flags with themselves once per compound (3 today), and the
    MERGE reads its source more than once: over the rules' own plans that is several copies of
    every rule's joins to analyse, optimise and (without exchange reuse) run again. Over the
    checkpoint each copy is a scan of a few rows. The checkpoint keeps the partitions of every
    rule's last stage (~50 on a small day); read as one, the rules' filters of it run one task
    each, not 50 (1,207 tasks to build the day's flags on the 1k day, then 38)."""
    from functools import reduce

    from pyspark.sql import functions as F

    from gridrisk.spark import cut_lineage, session_conf

    if not hits:
        return hits
    union = reduce(lambda a, b: a.unionByName(b),
                   [df.select(F.lit(rule_id).alias("_rule"), *HIT_SHAPE) for rule_id, df in hits.items()])
    with session_conf(union.sparkSession, EVALUATION_CONF):
        done = cut_lineage(union)  # a few rows: left to the context cleaner
    done = done.coalesce(1)  # after the checkpoint: the rules' own stages keep their parallelism
    return {rule_id: done.where(F.col("_rule") == rule_id).drop("_rule") for rule_id in hits}


def suppressed_flags(spark: "SparkSession", profile: Profile, ds: str) -> "DataFrame | None":
    """Flags a grid centre reported as false positives, still inside the suppression window."""
    import datetime as dt

    from gridrisk.taskstore import open_store

    at = dt.datetime.combine(dt.date.fromisoformat(ds), dt.time(23, 59, 59))
    ids = sorted(open_store(profile.task_store).suppressed_flags(at))
    if not ids:
        return None
    return spark.createDataFrame([(i,) for i in ids], "flag_id string")

