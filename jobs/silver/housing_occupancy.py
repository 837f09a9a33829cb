"""silver ``housing_occupancy`` (who lives in each rented unit on the logical date) and
silver ``rented_units`` (every rented unit with its room and occupant counts).

    gridrisk run --date 2026-11-01 --stages silver

One row per (rented unit, occupant) with move_in ≤ ds < move_out, joined to the unit's area,
room count and self-containment and to its grid (through the standard-address reference).
Duplicate rows and re-sent registrations collapse to one occupant: first by registration
number, then by person (the keyed hash of the repaired ID, or the name where the ID is unusable)
within the unit. Names are masked and IDs replaced by the person key: nothing raw leaves bronze.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gridrisk import lake
from gridrisk.config import Profile
from gridrisk.privacy import pseudonym_key

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

TABLE = "housing_occupancy"
UNITS_TABLE = "rented_units"
FAMILY_RELATIONS = ("配偶", "子女", "父母", "其他亲属")
RENTED = "出租"


def current_units(units: "DataFrame") -> "DataFrame":
    """One row per rented unit (the most recently updated row wins)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    latest = Window.partitionBy("address_code").orderBy(F.col("updated_date").desc_nulls_last(), F.col("_row_number").desc())
    return (
        units.where(F.col("use_type") == RENTED)
        .withColumn("_rank", F.row_number().over(latest))
        .where("_rank = 1")
        .select("address_code", "building_area_m2", "room_count", "is_self_contained", "use_type", "letting_mode")
    )


def located_units(units: "DataFrame", addresses: "DataFrame") -> "DataFrame":
    """Rented units with their grid and position from the standard-address reference."""
    grid = addresses.select("address_code", "grid_code", "lon", "lat").dropDuplicates(["address_code"])
    return current_units(units).join(grid, "address_code", "left")


def unit_keys(ds: str) -> list["Column"]:
    """ds, the address and the keys derived from it (building = first 16 digits, city = 4)."""
    from pyspark.sql import functions as F

    return [F.lit(ds).cast("date").alias("ds"), F.col("address_code"),
            F.substring("address_code", 1, 16).alias("building_key"),
            F.substring("address_code", 1, 4).alias("city_code")]


def current_registrations(registrations: "DataFrame", ds: str, key: bytes) -> "DataFrame":
    """Registrations in force on ``ds``, one per person and unit, with person keys."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from gridrisk.columns import age_on, mask_name, with_id_reading, with_person_key

    day = F.lit(ds).cast("date")
    by_reg = Window.partitionBy("registration_no").orderBy(F.col("_source_file"), F.col("_row_number"))
    regs = (
        registrations.where((F.col("move_in_date") <= day) & (F.col("move_out_date").isNull() | (F.col("move_out_date") > day)))
        .withColumn("_rank", F.row_number().over(by_reg))
        .where("_rank = 1")
        .transform(lambda df: with_id_reading(df, "id_no", "_id"))
        .transform(lambda df: with_person_key(df, F.col("_id.id18"), key, "person_key"))
        .withColumn("_who", F.coalesce(F.col("person_key"), F.concat(F.lit("name:"), F.trim("name"))))
    )
    by_person = Window.partitionBy("address_code", "_who").orderBy("move_in_date", "registration_no")
    return (
        regs.withColumn("_rank", F.row_number().over(by_person))
        .where("_rank = 1")
        .select(
            "address_code",
            "registration_no",
            "person_key",
            F.col("_id.status").alias("id_status"),
            mask_name("name").alias("name_masked"),
            age_on(F.col("_id.birth_date"), ds).alias("age"),
            "relation_to_tenant",
            F.col("relation_to_tenant").isin(*FAMILY_RELATIONS).alias("is_family"),
            "room_no",
            "room_type",
            "move_in_date",
        )
    )


def transform(units: "DataFrame", registrations: "DataFrame", addresses: "DataFrame", ds: str, key: bytes,
              adult_age: int = 18) -> "DataFrame":
    """Current occupants of rented units on ``ds``. Pure: no reads, writes or actions."""
    from pyspark.sql import functions as F

    occupants = current_registrations(registrations, ds, key)
    return (
        located_units(units, addresses)
        .join(occupants, "address_code")
        .select(
            *unit_keys(ds),
            F.substring("address_code", 1, 6).alias("district_code"),
            "grid_code",
            "lon",
            "lat",
            "building_area_m2",
            "room_count",
            "is_self_contained",
            "letting_mode",
            "registration_no",
            "person_key",
            "id_status",
            "name_masked",
            "age",
            # An occupant whose age cannot be read from the ID counts as an adult (conservative).
            F.coalesce(F.col("age") >= adult_age, F.lit(True)).alias("is_adult"),
            "relation_to_tenant",
            "is_family",
            "room_no",
            "room_type",
            "move_in_date",
        )
    )


def rented_units(units: "DataFrame", occupancy: "DataFrame", addresses: "DataFrame", ds: str) -> "DataFrame":
    """silver ``rented_units``: every rented unit on ``ds`` (occupied or not) with its occupant count."""
    from pyspark.sql import functions as F

    counts = occupancy.groupBy("address_code").agg(F.count("*").alias("occupants"))
    return (
        located_units(units, addresses)
        .join(counts, "address_code", "left")
        .select(
            *unit_keys(ds),
            "grid_code", "lon", "lat", "building_area_m2", "room_count", "letting_mode",
            F.coalesce("occupants", F.lit(0)).alias("occupants"),
        )
    )


def run(spark: "SparkSession", profile: Profile, ds: str) -> dict[str, Any]:
    units = lake.read_partition(spark, profile, "bronze", "housing_units", ds)
    regs = lake.read_partition(spark, profile, "bronze", "residence_registrations", ds)
    addresses = lake.read_partition(spark, profile, "bronze", "addresses", ds)
    out = transform(units, regs, addresses, ds, pseudonym_key(profile.name))
    metrics = lake.replace_partition(out, profile.table_path("silver", TABLE), {"ds": ds})
    occupancy = lake.read_partition(spark, profile, "silver", TABLE, ds)
    unit_metrics = lake.replace_partition(rented_units(units, occupancy, addresses, ds),
                                          profile.table_path("silver", UNITS_TABLE), {"ds": ds})
    return {"tables": {TABLE: metrics.get("numOutputRows", 0), UNITS_TABLE: unit_metrics.get("numOutputRows", 0)}}

