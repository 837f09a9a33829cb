"""Person kinds: a licence or transport qualification meets the mental-health or drug registry.

Subjects are person keys (entity resolution's keyed hashes); the inputs are the silver person
facts (``jobs/silver/person_facts.py``), located by the person's home grid (``person_profile``).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import reduce
from operator import or_
from typing import TYPE_CHECKING, Any

from gridrisk.rules.kinds._spark import F

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

from gridrisk.catalog import registry_table
from gridrisk.rules.kind import Hits, Input, ParamType, RuleKind, Window
from gridrisk.rules.model import Rule

LICENCES, QUALIFICATIONS, PROFILE = "person_licences", "person_qualifications", "person_profile"
REGISTRY_LABELS = {"mental": "严重精神障碍患者登记（卫健）", "drugs": "涉毒人员登记（公安禁毒）"}
REGISTRIES = tuple(REGISTRY_LABELS)
#: registry → its silver table (jobs/silver/person_facts.py), one per department: a late or
#: failed drug registry skips the rules that read it, not driver.mental.
REGISTRY_TABLES = {name: registry_table(name) for name in REGISTRIES}
#: Alternatives of one another (:attr:`gridrisk.rules.kind.Input.group`): a rule reading both
#: registries runs on the one that came, partially, when the other is missing.
REGISTRY_GROUP = "registry"

#: Parameters shared by the person kinds: when a registry entry is a "cancellation condition".
CONDITION_PARAMS: dict[str, ParamType] = {
    "conditions": list,                  # which registries count: mental, drugs
    "mental_min_risk_level": int,        # 危险性评估等级 ≥ this …
    "mental_incident_history": bool,     # … or 肇事肇祸史 有 (when true)
    "drug_control_statuses": list,       # 管控状态 that is a condition by itself
    "drug_recent_years": int,            # or last use / release from compulsory rehab within this many years
}
PERSON_FACTS = ("registries", "conditions", "since", "licence_classes", "licence_valid_until")


def _person_input(table: str) -> Input:
    return Input(table, subject_column="person_key")


def registries_read(rule: Rule) -> tuple[str, ...]:
    """The registries ``rule`` reads: those its ``conditions`` name, and the drug registry when
    any drug record at all counts for some qualification types (``any_drug_record_cert_types``).

    Example:
        >>> from gridrisk.rules import load_rules
        >>> rules = load_rules()
        >>> registries_read(rules["driver.mental"]), registries_read(rules["worker.at_risk"])
        (('mental',), ('mental', 'drugs'))
    """
    names = set(rule.params.get("conditions") or ())
    if rule.params.get("any_drug_record_cert_types"):
        names.add("drugs")
    return tuple(n for n in REGISTRIES if n in names)


def registry_inputs(rule: Rule | None = None, subject_column: str = "person_key") -> tuple[Input, ...]:
    """The registry tables ``rule`` reads (None: every registry), as alternatives of one group."""
    names = REGISTRIES if rule is None else registries_read(rule)
    return tuple(Input(REGISTRY_TABLES[n], subject_column=subject_column, group=REGISTRY_GROUP) for n in names)


def registry_rows(inputs: dict[str, DataFrame], rule: Rule) -> DataFrame:
    """The keyed rows of the registries ``rule`` reads that are there today, in one frame (the
    tables share one shape; on a partial day, only the registry that came)."""
    frames = [inputs[i.table] for i in registry_inputs(rule) if i.table in inputs]
    if not frames:
        raise KeyError(f"rule {rule.id}: none of its registries ({', '.join(registries_read(rule))}) is among its inputs")
    return keyed_rows(reduce(lambda a, b: a.unionByName(b), frames))


def check_conditions(params: dict[str, Any]) -> list[str]:
    bad = [c for c in params.get("conditions") or [] if c not in REGISTRIES]
    problems = [f"conditions: unknown registry {c!r} (known: {', '.join(REGISTRIES)})" for c in bad]
    if "conditions" in params and not params["conditions"]:
        problems.append("conditions: name at least one registry")
    return problems


def registry_condition(rule: Rule, day: Column) -> Column:
    """A registry row that is a cancellation condition on ``day`` (never null)."""
    p = rule.params
    parts = []
    if "mental" in p["conditions"]:
        mental = F.col("risk_level") >= F.lit(p["mental_min_risk_level"])
        if p["mental_incident_history"]:
            mental = mental | F.coalesce(F.col("has_incident_history"), F.lit(False))
        parts.append((F.col("registry") == "mental") & F.coalesce(mental, F.lit(False)))
    if "drugs" in p["conditions"]:
        cutoff = F.add_months(day, -12 * int(p["drug_recent_years"]))  # same day N years back (29 Feb → 28 Feb)
        drugs = (F.col("control_status").isin(*p["drug_control_statuses"])
                 | F.coalesce(F.col("last_use_date") > cutoff, F.lit(False))
                 | F.coalesce(F.col("rehab_release_date") > cutoff, F.lit(False)))
        parts.append((F.col("registry") == "drugs") & F.coalesce(drugs, F.lit(False)))
    return reduce(or_, parts)


def condition_since() -> Column:
    """When a registry condition became known: last follow-up (mental), decision date (drugs)."""
    return F.when(F.col("registry") == "mental", F.col("last_followup_date")).otherwise(F.col("decision_date"))


def condition_held(rule: Rule, day: Column) -> Column:
    """The condition has held for more than ``held_more_than_days`` days (always true when null)."""
    days = rule.params.get("held_more_than_days")
    if days is None:
        return F.lit(True)
    return F.coalesce(F.datediff(day, condition_since()) > F.lit(int(days)), F.lit(False))


def condition_detail() -> Column:
    """One registry row in words, for analysts (never the diagnosis: it is not in silver)."""
    mental = F.concat_ws("", F.lit("严重精神障碍在册患者：危险性评估"), F.col("risk_level").cast("string"), F.lit("级"),
                         F.when(F.col("has_incident_history"), F.lit("、有肇事肇祸史")),
                         F.when(F.col("last_followup_date").isNotNull(),
                                F.concat(F.lit("，最近随访"), F.col("last_followup_date").cast("string"))))
    drugs = F.concat_ws("", F.lit("涉毒人员："), F.coalesce(F.col("control_status"), F.lit("状态不明")),
                        F.when(F.col("last_use_date").isNotNull(), F.concat(F.lit("，最近吸毒"), F.col("last_use_date").cast("string"))),
                        F.when(F.col("rehab_release_date").isNotNull(),
                               F.concat(F.lit("，解除强制隔离戒毒"), F.col("rehab_release_date").cast("string"))),
                        F.when(F.col("decision_date").isNotNull(), F.concat(F.lit("，决定日期"), F.col("decision_date").cast("string"))))
    return F.when(F.col("registry") == "mental", mental).otherwise(drugs)


def _label() -> Column:
    expr = F.lit(None).cast("string")
    for name, label in REGISTRY_LABELS.items():
        expr = F.when(F.col("registry") == name, F.lit(label)).otherwise(expr)
    return expr


def registry_summary(rows: DataFrame) -> DataFrame:
    """Per person key: the registries, the conditions in words, since when, and the evidence rows."""
    evidence = F.struct(F.col("registry"), _label().alias("source"), F.col("risk_level"), F.col("has_incident_history"),
                        F.col("management_status"), F.col("control_status"), F.col("last_use_date").cast("string").alias("last_use_date"),
                        F.col("rehab_release_date").cast("string").alias("rehab_release_date"),
                        condition_since().cast("string").alias("since"))
    return rows.groupBy("person_key").agg(
        F.array_join(F.array_sort(F.collect_set(_label())), "、").alias("registries"),
        F.array_join(F.array_sort(F.collect_set(condition_detail())), "；").alias("conditions"),
        F.min(condition_since()).alias("since"),
        F.array_sort(F.collect_list(evidence)).alias("registry_rows"),
    )


def keyed_rows(df: DataFrame) -> DataFrame:
    return df.where(F.col("person_key").isNotNull())


def qualification_summary() -> list[Column]:
    """Per person: the qualification types and employers in words, and the evidence rows."""
    return [
        F.array_join(F.array_sort(F.collect_set("cert_type")), "、").alias("cert_types"),
        F.array_join(F.array_sort(F.collect_set(F.coalesce("employer", F.lit("所属企业不明")))), "、").alias("employers"),
        F.array_sort(F.collect_list(F.struct("cert_no", "cert_type", "employer", "plate_no", "status",
                                             F.col("valid_until").cast("string").alias("valid_until")))).alias("qual_rows"),
    ]


def licence_valid(rule: Rule, day: Column) -> Column:
    return F.col("status").isin(*rule.params["licence_statuses"]) & F.coalesce(F.col("valid_until") >= day, F.lit(False))


def qualification_active(rule: Rule, day: Column) -> Column:
    return F.col("status").isin(*rule.params["qualification_statuses"]) & F.coalesce(F.col("valid_until") >= day, F.lit(False))


def age_over(rule: Rule, day: Column) -> Column:
    return F.coalesce(F.floor(F.months_between(day, F.col("birth_date")) / 12) > F.lit(int(rule.params["max_age"])), F.lit(False))


class PersonKind(RuleKind):
    """A kind whose subject is a person key, placed at the person's home (``person_profile``)."""

    subject_type = "person"

    def person_hits(self, df: DataFrame, profile: DataFrame, severity: Column, facts: dict[str, Column],
                    evidence: dict[str, Column]) -> Hits:
        place = profile.select("person_key", "name_masked", "address_code", "grid_code", "lon", "lat")
        return Hits(
            frame=df.join(place, "person_key", "left"),
            subject_key=F.col("person_key"),
            address_code=F.col("address_code"), grid_code=F.col("grid_code"), lon=F.col("lon"), lat=F.col("lat"),
            severity=severity,
            facts=facts,
            evidence={**evidence, "person": F.struct(F.col("person_key"), F.col("name_masked"))},
        )


class ConditionKind(PersonKind):
    """A person kind that tests the registries for a cancellation condition (CONDITION_PARAMS).

    A rule reads only the registries it names (:func:`registries_read`); one that names both
    runs on the one that came when the other is missing (partially: :class:`Input` ``group``)."""

    # the registries and conditions in words, and the registry rows: for analysts only
    sensitive_facts = ("registries", "conditions")
    sensitive_evidence = ("registry",)

    @classmethod
    def check(cls, params: dict[str, Any]) -> list[str]:
        return check_conditions(params)

    @classmethod
    def inputs_for(cls, rule: Rule) -> tuple[Input, ...]:
        registries = {i.table for i in registry_inputs(rule)}
        return tuple(i for i in cls.inputs if not i.group or i.table in registries)


class LicenceCondition(ConditionKind):
    """A valid licence and a cancellation condition (held more than N days when N is set):
    driver.mental, driver.drugs, data.licence_not_cancelled."""

    name = "licence_condition"
    inputs = (_person_input(LICENCES), *registry_inputs(), _person_input(PROFILE))
    params = {"licence_statuses": list, "held_more_than_days": (int, type(None)), **CONDITION_PARAMS}
    facts = PERSON_FACTS + ("held_more_than_days",)
    evidence = ("licences", "registry", "person")

    def day_tests(self, rule: Rule) -> dict[str, list[Callable[[Column], Column]]]:
        return {LICENCES: [lambda d: licence_valid(rule, d)],
                **{i.table: [lambda d: registry_condition(rule, d) & condition_held(rule, d)] for i in registry_inputs(rule)}}

    def hits(self, inputs: dict[str, DataFrame], rule: Rule, window: Window) -> Hits:
        day = window.day()
        conditions = registry_summary(registry_rows(inputs, rule).where(registry_condition(rule, day) & condition_held(rule, day)))
        # only the licences of people with a condition (a few hundred of every valid licence)
        licences = (
            keyed_rows(inputs[LICENCES]).where(licence_valid(rule, day))
            .join(F.broadcast(conditions.select("person_key")), "person_key", "left_semi")
            .groupBy("person_key").agg(
                F.array_join(F.array_sort(F.collect_set("licence_classes")), "、").alias("licence_classes"),
                F.max("valid_until").alias("licence_valid_until"),
                F.array_sort(F.collect_list(F.struct("file_no", "licence_classes", "status",
                                                     F.col("valid_until").cast("string").alias("valid_until")))).alias("licence_rows"),
            )
        )
        held = rule.params.get("held_more_than_days")
        facts = {
            "registries": F.col("registries"),
            "conditions": F.col("conditions"),
            "since": F.coalesce(F.col("since").cast("string"), F.lit("日期不明")),
            "licence_classes": F.col("licence_classes"),
            "licence_valid_until": F.col("licence_valid_until"),
            "held_more_than_days": F.lit("" if held is None else str(held)),
        }
        return self.person_hits(licences.join(conditions, "person_key"), inputs[PROFILE], F.lit(rule.severity), facts,
                                {"licences": F.col("licence_rows"), "registry": F.col("registry_rows")})


class WorkerCondition(ConditionKind):
    """An active transport qualification and a cancellation condition; for the types in
    ``any_drug_record_cert_types`` any drug record at all; critical for ``critical_cert_types``."""

    name = "worker_condition"
    inputs = (_person_input(QUALIFICATIONS), *registry_inputs(), _person_input(PROFILE))
    params = {"qualification_statuses": list, "any_drug_record_cert_types": list, "critical_cert_types": list,
              **CONDITION_PARAMS}
    facts = PERSON_FACTS + ("cert_types", "employers")
    evidence = ("qualifications", "registry", "person")

    def day_tests(self, rule: Rule) -> dict[str, list[Callable[[Column], Column]]]:
        return {QUALIFICATIONS: [lambda d: qualification_active(rule, d)],
                **{i.table: [lambda d: registry_condition(rule, d)] for i in registry_inputs(rule)}}

    def hits(self, inputs: dict[str, DataFrame], rule: Rule, window: Window) -> Hits:
        p, day = rule.params, window.day()
        registry = registry_rows(inputs, rule)
        conditions = registry_summary(registry.where(registry_condition(rule, day)))
        drug_records = registry_summary(registry.where(F.col("registry") == "drugs")).select(
            "person_key", F.col("conditions").alias("drug_record"), F.col("registry_rows").alias("drug_rows"))
        quals = (
            keyed_rows(inputs[QUALIFICATIONS]).where(qualification_active(rule, day))
            .join(conditions, "person_key", "left")
            .join(drug_records, "person_key", "left")
        )
        by_record = F.col("cert_type").isin(*p["any_drug_record_cert_types"]) & F.col("drug_record").isNotNull()
        fired = quals.where(F.col("conditions").isNotNull() | by_record)
        hits = fired.groupBy("person_key").agg(
            *qualification_summary(),
            F.max(F.col("cert_type").isin(*p["critical_cert_types"])).alias("critical"),
            *[F.first(c, ignorenulls=True).alias(c) for c in
              ("registries", "conditions", "since", "registry_rows", "drug_record", "drug_rows")],
        )
        facts = {
            "registries": F.coalesce(F.col("registries"), F.lit(REGISTRY_LABELS["drugs"])),
            "conditions": F.coalesce(F.col("conditions"), F.concat(F.lit("有涉毒记录的人员（"), F.col("drug_record"), F.lit("）"))),
            "since": F.coalesce(F.col("since").cast("string"), F.lit("日期不明")),
            "licence_classes": F.lit(""),
            "licence_valid_until": F.lit(""),
            "cert_types": F.col("cert_types"),
            "employers": F.col("employers"),
        }
        severity = F.when(F.col("critical"), F.lit("critical")).otherwise(F.lit(rule.severity))
        return self.person_hits(hits, inputs[PROFILE], severity, facts,
                                {"qualifications": F.col("qual_rows"),
                                 "registry": F.coalesce(F.col("registry_rows"), F.col("drug_rows"))})


class QualificationInconsistent(PersonKind):
    """An active qualification although a licence of the holder is cancelled, or the holder is
    older than ``max_age`` (completed years on the day: 60 passes, 61 fires)."""

    name = "qualification_inconsistent"
    inputs = (_person_input(QUALIFICATIONS), _person_input(LICENCES), _person_input(PROFILE))
    params = {"qualification_statuses": list, "cancelled_licence_statuses": list, "max_age": int}
    facts = ("cert_types", "employers", "reasons", "birth_year", "max_age")
    evidence = ("qualifications", "licences", "person")

    def day_tests(self, rule: Rule) -> dict[str, list[Callable[[Column], Column]]]:
        return {QUALIFICATIONS: [lambda d: qualification_active(rule, d)], PROFILE: [lambda d: age_over(rule, d)]}

    def hits(self, inputs: dict[str, DataFrame], rule: Rule, window: Window) -> Hits:
        p, day = rule.params, window.day()
        quals = (keyed_rows(inputs[QUALIFICATIONS]).where(qualification_active(rule, day))
                 .groupBy("person_key").agg(*qualification_summary()))
        cancelled = (keyed_rows(inputs[LICENCES]).where(F.col("status").isin(*p["cancelled_licence_statuses"]))
                     .groupBy("person_key").agg(F.array_sort(F.collect_list(F.struct(
                         "file_no", "status", F.col("status_changed_date").cast("string").alias("status_changed_date")))).alias("licence_rows")))
        ages = keyed_rows(inputs[PROFILE]).select("person_key", "birth_date", age_over(rule, day).alias("too_old"))
        df = quals.join(cancelled, "person_key", "left").join(ages, "person_key", "left")
        too_old = F.coalesce(F.col("too_old"), F.lit(False))
        has_cancelled = F.col("licence_rows").isNotNull()
        reasons = F.concat_ws("；", F.when(has_cancelled, F.lit("持证人驾驶证已注销")),
                              F.when(too_old, F.lit(f"持证人已超过{int(p['max_age'])}周岁")))
        facts = {
            "cert_types": F.col("cert_types"),
            "employers": F.col("employers"),
            "reasons": reasons,
            "birth_year": F.coalesce(F.year("birth_date").cast("string"), F.lit("?")),
            "max_age": F.lit(str(p["max_age"])),
        }
        return self.person_hits(df.where(has_cancelled | too_old), inputs[PROFILE], F.lit(rule.severity), facts,
                                {"qualifications": F.col("qual_rows"), "licences": F.col("licence_rows")})
