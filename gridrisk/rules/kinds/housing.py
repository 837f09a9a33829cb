"""Housing kinds: overcrowded (群租) and concentrated (集中出租) rentals, on silver housing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gridrisk.rules.kinds._spark import F

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

from gridrisk.rules.kind import Hits, Input, RuleKind, Window
from gridrisk.rules.kinds.common import city_param, fmt, with_evidence
from gridrisk.rules.model import Rule


class OvercrowdedRental(RuleKind):
    """群租: ≥ N unrelated adults and too little area per occupant; or too many non-family in a
    room; or a kitchen/bathroom/balcony/basement let for living; or let by bed."""

    name = "overcrowded_rental"
    subject_type = "address"
    inputs = (Input("housing_occupancy", subject_column="address_code"),)
    params = {
        "min_unrelated_adults": int,
        "max_area_per_occupant_m2": (int, float),
        "max_area_per_occupant_m2_not_self_contained": (int, float),
        "max_non_family_per_room": int,
        "forbidden_room_types": list,
        "bed_letting_modes": list,
        "adult_age": int,
    }
    facts = ("occupants", "unrelated_adults", "area_m2", "area_per_occupant_m2", "reasons",
             "min_unrelated_adults", "limit_m2", "max_per_room")
    evidence = ("occupants",)

    def hits(self, inputs: dict[str, DataFrame], rule: Rule, window: Window) -> Hits:
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
        numbers = (
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
                F.coalesce(F.max(forbidden), F.lit(False)).alias("has_forbidden_room"),
            )
            .join(rooms, "address_code")
        )
        limit = F.when(F.col("self_contained") == F.lit(False), city_param(rule, "max_area_per_occupant_m2_not_self_contained")) \
            .otherwise(city_param(rule, "max_area_per_occupant_m2"))
        per_occ = F.col("area_m2") / F.col("occupants")
        max_per_room = city_param(rule, "max_non_family_per_room")
        crowded = (F.col("unrelated_adults") >= city_param(rule, "min_unrelated_adults")) & (per_occ < limit)
        room_full = F.col("fullest.non_family") > max_per_room
        bad_room = F.col("has_forbidden_room")
        by_bed = F.col("letting_mode").isin(*p["bed_letting_modes"])
        reasons = F.concat_ws(
            "；",
            F.when(crowded, F.concat(F.lit("人均建筑面积"), fmt(per_occ), F.lit("平方米，低于"), fmt(limit), F.lit("平方米"))),
            F.when(room_full, F.concat(F.coalesce(F.col("fullest.room_no"), F.lit("?")), F.lit("房间住非家庭成员"),
                                       F.col("fullest.non_family").cast("string"), F.lit("人"))),
            F.when(bad_room, F.concat(F.array_join("forbidden_rooms", "、"), F.lit("用于居住"))),
            F.when(by_bed, F.lit("按床位出租")),
        )
        fired = F.coalesce(crowded, F.lit(False)) | room_full | bad_room | F.coalesce(by_bed, F.lit(False))
        units = with_evidence(numbers.where(fired), occ, "address_code", [
            F.array_sort(F.collect_set(F.when(forbidden, F.col("room_type")))).alias("forbidden_rooms"),
            F.array_sort(F.collect_list(evidence_row)).alias("occupant_rows"),
        ])
        return Hits(
            frame=units,
            subject_key=F.col("address_code"),
            address_code=F.col("address_code"), grid_code=F.col("grid_code"), lon=F.col("lon"), lat=F.col("lat"),
            severity=F.lit(rule.severity),
            facts={
                "occupants": F.col("occupants"),
                "unrelated_adults": F.col("unrelated_adults"),
                "area_m2": fmt(F.col("area_m2")),
                "area_per_occupant_m2": fmt(per_occ),
                "reasons": reasons,
                "min_unrelated_adults": city_param(rule, "min_unrelated_adults"),
                "limit_m2": fmt(limit),
                "max_per_room": max_per_room,
            },
            evidence={"occupants": F.col("occupant_rows")},
        )


class ConcentratedRental(RuleKind):
    """集中出租: one building with ≥ N rooms let or ≥ M occupants in its let units."""

    name = "concentrated_rental"
    subject_type = "building"
    inputs = (Input("rented_units", subject_column="building_key"),)
    params = {"min_rooms_let": int, "min_occupants": int}
    facts = ("rooms_let", "occupants", "units", "min_rooms_let", "min_occupants")
    evidence = ("units",)

    def hits(self, inputs: dict[str, DataFrame], rule: Rule, window: Window) -> Hits:
        units = inputs["rented_units"]
        first = F.min(F.struct("address_code", "grid_code", "lon", "lat"))
        buildings = units.groupBy("building_key").agg(
            first.alias("first_unit"),
            F.first("city_code").alias("city_code"),
            F.sum("room_count").alias("rooms_let"),
            F.sum("occupants").alias("occupants"),
            F.count("*").alias("units"),
        )
        min_rooms, min_occ = city_param(rule, "min_rooms_let"), city_param(rule, "min_occupants")
        fired = (F.coalesce(F.col("rooms_let"), F.lit(0)) >= min_rooms) | (F.col("occupants") >= min_occ)
        unit_rows = F.array_sort(F.collect_list(F.struct("address_code", "room_count", "occupants", "letting_mode")))
        return Hits(
            frame=with_evidence(buildings.where(fired), units, "building_key", [unit_rows.alias("unit_rows")]),
            subject_key=F.col("building_key"),
            address_code=F.col("first_unit.address_code"), grid_code=F.col("first_unit.grid_code"),
            lon=F.col("first_unit.lon"), lat=F.col("first_unit.lat"),
            severity=F.lit(rule.severity),
            facts={"rooms_let": F.col("rooms_let"), "occupants": F.col("occupants"), "units": F.col("units"),
                   "min_rooms_let": min_rooms, "min_occupants": min_occ},
            evidence={"units": F.col("unit_rows")},
        )
