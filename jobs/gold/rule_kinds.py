"""Spark rendering of rule kinds: one small class per kind, declared rules are data.

Every kind's ``evaluate(inputs, rule, ds)`` returns the *hits* of one rule on one date with the
columns of :data:`HIT_COLUMNS`:

- ``subject_type``/``subject_key`` — what the flag is about (an address, a person key, a plate);
- ``address_code``, ``grid_code``, ``lon``, ``lat`` — where it is, for routing and maps;
- ``severity`` — the rule's, or raised by the kind;
- ``facts`` — ``map<string,string>`` quoted by the explanation templates;
- ``evidence`` — JSON text of the (masked) rows that made it fire.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from gridrisk.rules import Rule

HIT_COLUMNS = ("subject_type", "subject_key", "address_code", "grid_code", "lon", "lat", "severity", "facts", "evidence")


def city_param(rule: Rule, name: str, city_col: str = "city_code") -> Column:
    """A parameter as a column: the default, or the city's override (CASE on the 4-digit prefix)."""
    expr = F.lit(rule.params[name])
    for city, overrides in sorted(rule.city_overrides.items()):
        if name in overrides:
            expr = F.when(F.col(city_col) == city, F.lit(overrides[name])).otherwise(expr)
    return expr


def render_template(template: str, facts: Column) -> Column:
    """``"住{occupants}人"`` + facts map → a string column (no Python UDF)."""
    import string

    parts: list[Column] = []
    for literal, name, _, _ in string.Formatter().parse(template):
        if literal:
            parts.append(F.lit(literal))
        if name:
            # A value may carry a line break from its source (an employer name quoted over two
            # lines): explanations are one line, read on a phone.
            parts.append(F.regexp_replace(F.coalesce(facts.getItem(name), F.lit("?")), r"\s*[\r\n]+\s*", " "))
    return F.concat(*parts) if parts else F.lit("")


def _fmt(col: Column, digits: int = 1) -> Column:
    return F.format_number(col, digits).cast("string")


class RuleKind:
    """One kind of rule. Besides ``evaluate``, a kind tells the incremental run (jobs.gold.incremental)
    which column of each input names the subject a row belongs to, and which of its row-level
    tests depend on the day itself (a licence expires, a drug record turns 3 years old): a subject
    needs re-evaluating when its rows changed or when one of those tests flips between two days."""

    name: ClassVar[str]
    inputs: ClassVar[tuple[str, ...]]
    #: input table → the column naming the subject of each of its rows.
    subject_columns: ClassVar[dict[str, str]]

    def evaluate(self, inputs: dict[str, DataFrame], rule: Rule, ds: str) -> DataFrame:
        raise NotImplementedError

    def day_tests(self, rule: Rule) -> dict[str, list[Callable[[Column], Column]]]:
        """input table → row tests that take the day as a column (none: the inputs say it all)."""
        return {}


class OvercrowdedRental(RuleKind):
    """群租: ≥ N unrelated adults and too little area per occupant; or too many non-family in a
    room; or a kitchen/bathroom/balcony/basement let for living; or let by bed."""

    name = "overcrowded_rental"
    inputs = ("housing_occupancy",)
    subject_columns = {"housing_occupancy": "address_code"}

    def evaluate(self, inputs: dict[str, DataFrame], rule: Rule, ds: str) -> DataFrame:
        occ = inputs["housing_occupancy"]
        p = rule.params
        forbidden = F.col("room_type").isin(*p["forbidden_room_types"])
        rooms = (
            occ.groupBy("address_code", "room_no")
            .agg(F.sum(F.when(~F.col("is_family"), 1).otherwise(0)).alias("non_family"))
            .groupBy("address_code")
            .agg(F.max(F.struct("non_family", "room_no")).alias("fullest"))
        )
        evidence_row = F.struct(
            F.col("person_key"), F.col("name_masked"), F.col("age"), F.col("relation_to_tenant"),
            F.col("room_no"), F.col("room_type"), F.col("move_in_date").cast("string").alias("move_in_date"),
        )
        units = (
            occ.groupBy("address_code")
            .agg(
                F.first("grid_code").alias("grid_code"),
                F.first("lon").alias("lon"),
                F.first("lat").alias("lat"),
                F.first("city_code").alias("city_code"),
                F.first("building_area_m2").alias("area_m2"),
                F.first("is_self_contained").alias("self_contained"),
                F.first("letting_mode").alias("letting_mode"),
                F.count("*").alias("occupants"),
                F.sum(F.when(F.col("is_adult") & ~F.col("is_family"), 1).otherwise(0)).alias("unrelated_adults"),
                F.array_sort(F.collect_set(F.when(forbidden, F.col("room_type")))).alias("forbidden_rooms"),
                F.array_sort(F.collect_list(evidence_row)).alias("occupant_rows"),
            )
            .join(rooms, "address_code")
        )
        limit = F.when(F.col("self_contained") == F.lit(False), city_param(rule, "max_area_per_occupant_m2_not_self_contained")) \
            .otherwise(city_param(rule, "max_area_per_occupant_m2"))
        per_occ = F.col("area_m2") / F.col("occupants")
        max_per_room = city_param(rule, "max_non_family_per_room")
        crowded = (F.col("unrelated_adults") >= city_param(rule, "min_unrelated_adults")) & (per_occ < limit)
        room_full = F.col("fullest.non_family") > max_per_room
        bad_room = F.size("forbidden_rooms") > 0
        by_bed = F.col("letting_mode").isin(*p["bed_letting_modes"])
        reasons = F.concat_ws(
            "；",
            F.when(crowded, F.concat(F.lit("人均建筑面积"), _fmt(per_occ), F.lit("平方米，低于"), _fmt(limit), F.lit("平方米"))),
            F.when(room_full, F.concat(F.coalesce(F.col("fullest.room_no"), F.lit("?")), F.lit("房间住非家庭成员"),
                                       F.col("fullest.non_family").cast("string"), F.lit("人"))),
            F.when(bad_room, F.concat(F.array_join("forbidden_rooms", "、"), F.lit("用于居住"))),
            F.when(by_bed, F.lit("按床位出租")),
        )
        facts = F.create_map(
            F.lit("occupants"), F.col("occupants").cast("string"),
            F.lit("unrelated_adults"), F.col("unrelated_adults").cast("string"),
            F.lit("area_m2"), _fmt(F.col("area_m2")),
            F.lit("area_per_occupant_m2"), _fmt(per_occ),
            F.lit("reasons"), reasons,
            F.lit("min_unrelated_adults"), city_param(rule, "min_unrelated_adults").cast("string"),
            F.lit("limit_m2"), _fmt(limit),
            F.lit("max_per_room"), max_per_room.cast("string"),
        )
        return units.where(F.coalesce(crowded, F.lit(False)) | room_full | bad_room | F.coalesce(by_bed, F.lit(False))).select(
            F.lit("address").alias("subject_type"),
            F.col("address_code").alias("subject_key"),
            "address_code",
            "grid_code",
            "lon",
            "lat",
            F.lit(rule.severity).alias("severity"),
            facts.alias("facts"),
            F.to_json(F.struct(F.col("occupant_rows").alias("occupants"))).alias("evidence"),
        )


class ConcentratedRental(RuleKind):
    """集中出租: one building with ≥ N rooms let or ≥ M occupants in its let units."""

    name = "concentrated_rental"
    inputs = ("rented_units",)
    subject_columns = {"rented_units": "building_key"}

    def evaluate(self, inputs: dict[str, DataFrame], rule: Rule, ds: str) -> DataFrame:
        units = inputs["rented_units"]
        first = F.min(F.struct("address_code", "grid_code", "lon", "lat"))
        buildings = units.groupBy("building_key").agg(
            first.alias("first_unit"),
            F.first("city_code").alias("city_code"),
            F.sum("room_count").alias("rooms_let"),
            F.sum("occupants").alias("occupants"),
            F.count("*").alias("units"),
            F.array_sort(F.collect_list(F.struct("address_code", "room_count", "occupants", "letting_mode"))).alias("unit_rows"),
        )
        min_rooms, min_occ = city_param(rule, "min_rooms_let"), city_param(rule, "min_occupants")
        facts = F.create_map(
            F.lit("rooms_let"), F.col("rooms_let").cast("string"),
            F.lit("occupants"), F.col("occupants").cast("string"),
            F.lit("units"), F.col("units").cast("string"),
            F.lit("min_rooms_let"), min_rooms.cast("string"),
            F.lit("min_occupants"), min_occ.cast("string"),
        )
        hit = (F.coalesce(F.col("rooms_let"), F.lit(0)) >= min_rooms) | (F.col("occupants") >= min_occ)
        return buildings.where(hit).select(
            F.lit("building").alias("subject_type"),
            F.col("building_key").alias("subject_key"),
            F.col("first_unit.address_code").alias("address_code"),
            F.col("first_unit.grid_code").alias("grid_code"),
            F.col("first_unit.lon").alias("lon"),
            F.col("first_unit.lat").alias("lat"),
            F.lit(rule.severity).alias("severity"),
            facts.alias("facts"),
            F.to_json(F.struct(F.col("unit_rows").alias("units"))).alias("evidence"),
        )


# --- person kinds -------------------------------------------------------------------------------

LICENCES, QUALIFICATIONS, REGISTRY, PROFILE = "person_licences", "person_qualifications", "person_registry", "person_profile"
REGISTRY_LABELS = {"mental": "严重精神障碍患者登记（卫健）", "drugs": "涉毒人员登记（公安禁毒）"}


def _day(ds: str) -> Column:
    return F.lit(ds).cast("date")


def registry_condition(rule: Rule, day: Column) -> Column:
    """A registry row that is a cancellation condition on ``day`` (never null)."""
    from functools import reduce
    from operator import or_

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


def person_hits(df: DataFrame, profile: DataFrame, severity: Column, facts: Column, evidence: dict[str, Column]) -> DataFrame:
    """Person subjects located by their home grid (person_profile), in the shape of HIT_COLUMNS."""
    place = profile.select("person_key", "name_masked", "address_code", "grid_code", "lon", "lat")
    person = F.struct(F.col("person_key"), F.col("name_masked"))
    return df.join(place, "person_key", "left").select(
        F.lit("person").alias("subject_type"),
        F.col("person_key").alias("subject_key"),
        "address_code", "grid_code", "lon", "lat",
        severity.alias("severity"),
        facts.alias("facts"),
        F.to_json(F.struct(*[c.alias(k) for k, c in evidence.items()], person.alias("person"))).alias("evidence"),
    )


def keyed_rows(df: DataFrame) -> DataFrame:
    return df.where(F.col("person_key").isNotNull())


class PersonKind(RuleKind):
    inputs: ClassVar[tuple[str, ...]]

    @property
    def subject_columns(self) -> dict[str, str]:  # type: ignore[override]
        return {name: "person_key" for name in self.inputs}


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


class LicenceCondition(PersonKind):
    """A valid licence and a cancellation condition (held more than N days when N is set):
    driver.mental, driver.drugs, data.licence_not_cancelled."""

    name = "licence_condition"
    inputs = (LICENCES, REGISTRY, PROFILE)

    def day_tests(self, rule: Rule) -> dict[str, list[Callable[[Column], Column]]]:
        return {LICENCES: [lambda d: licence_valid(rule, d)],
                REGISTRY: [lambda d: registry_condition(rule, d) & condition_held(rule, d)]}

    def evaluate(self, inputs: dict[str, DataFrame], rule: Rule, ds: str) -> DataFrame:
        day = _day(ds)
        licences = (
            keyed_rows(inputs[LICENCES]).where(licence_valid(rule, day))
            .groupBy("person_key").agg(
                F.array_join(F.array_sort(F.collect_set("licence_classes")), "、").alias("licence_classes"),
                F.max("valid_until").alias("licence_valid_until"),
                F.array_sort(F.collect_list(F.struct("file_no", "licence_classes", "status",
                                                     F.col("valid_until").cast("string").alias("valid_until")))).alias("licence_rows"),
            )
        )
        conditions = registry_summary(keyed_rows(inputs[REGISTRY]).where(registry_condition(rule, day) & condition_held(rule, day)))
        hits = licences.join(conditions, "person_key")
        held = rule.params.get("held_more_than_days")
        facts = F.create_map(
            F.lit("registries"), F.col("registries"),
            F.lit("conditions"), F.col("conditions"),
            F.lit("since"), F.coalesce(F.col("since").cast("string"), F.lit("日期不明")),
            F.lit("licence_classes"), F.col("licence_classes"),
            F.lit("licence_valid_until"), F.col("licence_valid_until").cast("string"),
            F.lit("held_more_than_days"), F.lit("" if held is None else str(held)),
        )
        return person_hits(hits, inputs[PROFILE], F.lit(rule.severity), facts,
                           {"licences": F.col("licence_rows"), "registry": F.col("registry_rows")})


class WorkerCondition(PersonKind):
    """An active transport qualification and a cancellation condition; for the types in
    ``any_drug_record_cert_types`` any drug record at all; critical for ``critical_cert_types``."""

    name = "worker_condition"
    inputs = (QUALIFICATIONS, REGISTRY, PROFILE)

    def day_tests(self, rule: Rule) -> dict[str, list[Callable[[Column], Column]]]:
        return {QUALIFICATIONS: [lambda d: qualification_active(rule, d)], REGISTRY: [lambda d: registry_condition(rule, d)]}

    def evaluate(self, inputs: dict[str, DataFrame], rule: Rule, ds: str) -> DataFrame:
        p, day = rule.params, _day(ds)
        registry = keyed_rows(inputs[REGISTRY])
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
            F.first("registries", ignorenulls=True).alias("registries"),
            F.first("conditions", ignorenulls=True).alias("conditions"),
            F.first("since", ignorenulls=True).alias("since"),
            F.first("registry_rows", ignorenulls=True).alias("registry_rows"),
            F.first("drug_record", ignorenulls=True).alias("drug_record"),
            F.first("drug_rows", ignorenulls=True).alias("drug_rows"),
        )
        conditions_text = F.coalesce(F.col("conditions"), F.concat(F.lit("有涉毒记录的人员（"), F.col("drug_record"), F.lit("）")))
        facts = F.create_map(
            F.lit("registries"), F.coalesce(F.col("registries"), F.lit(REGISTRY_LABELS["drugs"])),
            F.lit("conditions"), conditions_text,
            F.lit("since"), F.coalesce(F.col("since").cast("string"), F.lit("日期不明")),
            F.lit("licence_classes"), F.lit(""),
            F.lit("licence_valid_until"), F.lit(""),
            F.lit("cert_types"), F.col("cert_types"),
            F.lit("employers"), F.col("employers"),
        )
        severity = F.when(F.col("critical"), F.lit("critical")).otherwise(F.lit(rule.severity))
        return person_hits(hits, inputs[PROFILE], severity, facts,
                           {"qualifications": F.col("qual_rows"),
                            "registry": F.coalesce(F.col("registry_rows"), F.col("drug_rows"))})


def age_over(rule: Rule, day: Column) -> Column:
    return F.coalesce(F.floor(F.months_between(day, F.col("birth_date")) / 12) > F.lit(int(rule.params["max_age"])), F.lit(False))


class QualificationInconsistent(PersonKind):
    """An active qualification although a licence of the holder is cancelled, or the holder is
    older than ``max_age`` (completed years on the day: 60 passes, 61 fires)."""

    name = "qualification_inconsistent"
    inputs = (QUALIFICATIONS, LICENCES, PROFILE)

    def day_tests(self, rule: Rule) -> dict[str, list[Callable[[Column], Column]]]:
        return {QUALIFICATIONS: [lambda d: qualification_active(rule, d)], PROFILE: [lambda d: age_over(rule, d)]}

    def evaluate(self, inputs: dict[str, DataFrame], rule: Rule, ds: str) -> DataFrame:
        p, day = rule.params, _day(ds)
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
        facts = F.create_map(
            F.lit("cert_types"), F.col("cert_types"),
            F.lit("employers"), F.col("employers"),
            F.lit("reasons"), reasons,
            F.lit("birth_year"), F.coalesce(F.year("birth_date").cast("string"), F.lit("?")),
            F.lit("max_age"), F.lit(str(p["max_age"])),
        )
        return person_hits(df.where(has_cancelled | too_old), inputs[PROFILE], F.lit(rule.severity), facts,
                           {"qualifications": F.col("qual_rows"), "licences": F.col("licence_rows")})


KIND_CLASSES: dict[str, Callable[[], RuleKind]] = {
    cls.name: cls for cls in (OvercrowdedRental, ConcentratedRental, LicenceCondition, WorkerCondition,
                              QualificationInconsistent)}


def evaluate_rule(inputs: dict[str, DataFrame], rule: Rule, ds: str) -> DataFrame:
    """Hits of ``rule`` on ``ds`` with its explanations rendered."""
    hits = KIND_CLASSES[rule.kind]().evaluate(inputs, rule, ds)
    return hits.select(
        *HIT_COLUMNS,
        render_template(rule.explanation, F.col("facts")).alias("explanation"),
        render_template(rule.analyst_explanation, F.col("facts")).alias("analyst_explanation"),
    )

