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
            parts.append(F.coalesce(facts.getItem(name), F.lit("?")))
    return F.concat(*parts) if parts else F.lit("")


def _fmt(col: Column, digits: int = 1) -> Column:
    return F.format_number(col, digits).cast("string")


class RuleKind:
    name: ClassVar[str]
    inputs: ClassVar[tuple[str, ...]]

    def evaluate(self, inputs: dict[str, DataFrame], rule: Rule, ds: str) -> DataFrame:
        raise NotImplementedError


class OvercrowdedRental(RuleKind):
    """群租: ≥ N unrelated adults and too little area per occupant; or too many non-family in a
    room; or a kitchen/bathroom/balcony/basement let for living; or let by bed."""

    name = "overcrowded_rental"
    inputs = ("housing_occupancy",)

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


KIND_CLASSES: dict[str, Callable[[], RuleKind]] = {cls.name: cls for cls in (OvercrowdedRental, ConcentratedRental)}


def evaluate_rule(inputs: dict[str, DataFrame], rule: Rule, ds: str) -> DataFrame:
    """Hits of ``rule`` on ``ds`` with its explanations rendered."""
    hits = KIND_CLASSES[rule.kind]().evaluate(inputs, rule, ds)
    return hits.select(
        *HIT_COLUMNS,
        render_template(rule.explanation, F.col("facts")).alias("explanation"),
        render_template(rule.analyst_explanation, F.col("facts")).alias("analyst_explanation"),
    )

