"""Hazmat vehicle kinds, on silver ``vehicle_points`` (the day and the day before) and
``waybill_crew`` (``jobs/silver/vehicle_tracks.py``).

Subject = the vehicle (plate). A rule fires for a plate when one of its *episodes* — a maximal
run of consecutive reports for which the kind's condition holds (:mod:`gridrisk.rules.kinds.tracks`)
— crosses the threshold and overlaps the evaluated window (the day, or one hour of it). The flag
quotes the worst episode (the longest) in its explanation — plate, road, times, numbers — and
carries every episode, the reports of the worst one and a GeoJSON LineString of each stretch as
evidence. It is placed in the grid of the worst episode's first report (for a sensitive stop: the
grid of the place, which the stop lies within the rule's distance of).

Only reports that passed the silver checks reach these kinds: a flag is never built on a
corrupt point.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar

from gridrisk.rules.kind import Hits, Input, RuleKind, Window
from gridrisk.rules.kinds._spark import F
from gridrisk.rules.kinds.persons import check_conditions, registry_condition, registry_inputs, registry_rows, registry_summary
from gridrisk.rules.kinds.tracks import (
    covered_by_waybill,
    distance_to_corridor_m,
    driving_stints,
    episodes,
    in_night,
    one_per_time,
)
from gridrisk.rules.model import Rule

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pyspark.sql import Column, DataFrame

POINTS, CREW = "vehicle_points", "waybill_crew"
EPISODE_FACTS = ("plate", "road", "start", "end", "span", "episodes")
EPISODE_EVIDENCE = ("episodes", "track", "track_geojson")


def _ts(col: "Column | str") -> "Column":
    return F.date_format(col, "yyyy-MM-dd HH:mm:ss")


def _span_text(seconds: "Column") -> "Column":
    """``1 h 05 min 30 s`` style, from seconds."""
    s = seconds.cast("long")
    h, m, sec = F.floor(s / 3600), F.floor((s % 3600) / 60), s % 60
    return F.concat_ws(" ", F.when(h > 0, F.concat(h.cast("string"), F.lit(" h"))),
                       F.when((h > 0) | (m > 0), F.concat(F.lpad(m.cast("string"), 2, "0"), F.lit(" min"))),
                       F.concat(F.lpad(sec.cast("string"), 2, "0"), F.lit(" s")))


#: The report columns the track kinds read (the evidence fields and the sensitive place's).
TRACK_COLUMNS = ("plate_no", "gps_ts", "lon", "lat", "speed_kmh", "road_name", "road_class", "grid_code",
                 "place_id", "place_category", "place_distance_m", "place_grid_code")
#: The key under which :func:`share_tracks` puts the track input it keeps for a run.
SHARED_TRACKS = "_shared_tracks"


def track_input(window: Window, inputs: "dict[str, DataFrame]") -> "DataFrame":
    """The reports of the day and the day before, one per (plate, time): the run's kept copy when
    the stage made one (:func:`share_tracks`), else made here."""
    shared = inputs.get(SHARED_TRACKS)
    return shared if shared is not None else tracks_of(inputs[POINTS])


def tracks_of(points: "DataFrame") -> "DataFrame":
    """Silver ``vehicle_points`` of the day and the day before as the track kinds read them."""
    return one_per_time(points).select(*TRACK_COLUMNS)


@contextmanager
def share_tracks(inputs: "dict[str, DataFrame]", rules: "list[Rule]") -> "Iterator[None]":
    """Inside the block, the track input is kept once for the run's track rules (in ``inputs``);
    leave it once the rules' hits are computed (``evaluate_once``), and it is released.

    Every track kind reads the same two days of reports, de-duplicates them and orders each
    plate's reports in time (its window functions). Done once — clustered by plate, sorted by
    plate and time, kept (memory, then disk) — the kinds' windows and per-plate aggregates find
    their input already distributed and ordered, so none of them scans, de-duplicates, shuffles
    or sorts the reports again. A run with fewer than two track rules keeps nothing."""
    from pyspark import StorageLevel

    if sum(r.kind in TRACK_KIND_NAMES for r in rules) < 2 or POINTS not in inputs:
        yield
        return
    points = inputs[POINTS]
    # a number of partitions, not the default: adaptive execution then keeps it as planned
    partitions = int(points.sparkSession.conf.get("spark.sql.shuffle.partitions") or 200)
    kept = (tracks_of(points).repartition(partitions, "plate_no").sortWithinPartitions("plate_no", "gps_ts")
            .persist(StorageLevel.MEMORY_AND_DISK))
    inputs[SHARED_TRACKS] = kept
    try:
        yield
    finally:
        inputs.pop(SHARED_TRACKS, None)
        kept.unpersist()


def overlaps(window: Window) -> "Column":
    start = F.lit(window.start.isoformat(sep=" ")).cast("timestamp")
    end = F.lit(window.end.isoformat(sep=" ")).cast("timestamp")
    return (F.col("end_ts") >= start) & (F.col("start_ts") < end)


class TrackEpisodeKind(RuleKind):
    """Base of the kinds that fire on runs of consecutive reports (see the module docstring)."""

    subject_type = "vehicle"
    inputs: ClassVar[tuple[Input, ...]] = (Input(POINTS, lookback_days=1, subject_column="plate_no"),)
    evidence = EPISODE_EVIDENCE
    hourly = True
    incremental = False
    #: facts beyond EPISODE_FACTS, filled by :meth:`more_facts`
    extra_facts: ClassVar[tuple[str, ...]] = ()

    def condition(self, points: "DataFrame", rule: Rule, inputs: "dict[str, DataFrame]") -> tuple["DataFrame", "Column", "Column | None"]:
        """(points with any helper columns, the per-report condition, the run key or None)."""
        raise NotImplementedError

    def long_enough(self, span_s: "Column", rule: Rule) -> "Column":
        raise NotImplementedError

    def more_facts(self, rule: Rule) -> dict[str, "Column"]:
        return {}

    def aggregates(self) -> dict[str, "Column"]:
        """Extra per-episode aggregates (over the episode's reports) the facts may quote."""
        return {}

    def placed_in(self, first: "Column") -> "Column":
        """The grid a flag goes to: that of the worst episode's first report (``first``)."""
        return first["grid_code"]

    def hits(self, inputs: "dict[str, DataFrame]", rule: Rule, window: Window) -> Hits:
        points, condition, key = self.condition(track_input(window, inputs), rule, inputs)
        eps = episodes(points, condition, key, self.aggregates())
        eps = eps.where(self.long_enough(F.col("span_s"), rule) & overlaps(window))
        summary = F.struct(_ts("start_ts").alias("start"), _ts("end_ts").alias("end"), F.col("span_s"), F.col("points"),
                           F.col("max_speed_kmh"), F.col("run_key").alias("key"), F.col("track_geojson"))
        per_plate = eps.groupBy("plate_no").agg(
            F.max(F.struct(F.col("span_s"), F.col("start_ts"), F.struct(*[F.col(c) for c in eps.columns
                                                                          if c != "plate_no"]).alias("e"))).alias("worst"),
            F.array_sort(F.collect_list(summary)).alias("all_episodes"),
            F.count("*").alias("n_episodes"))
        w = per_plate.select("plate_no", "all_episodes", "n_episodes", "worst.e.*")
        first = F.col("track")[0]
        facts = {
            "plate": F.col("plate_no"),
            "road": F.coalesce(first["road_name"], F.lit("道路外")),
            "start": _ts("start_ts"),
            "end": _ts("end_ts"),
            "span": _span_text(F.col("span_s")),
            "episodes": F.col("n_episodes"),
            **self.more_facts(rule),
        }
        return Hits(frame=w, subject_key=F.col("plate_no"), severity=F.lit(rule.severity),
                    grid_code=self.placed_in(first), lon=first["lon"], lat=first["lat"], facts=facts,
                    evidence={"episodes": F.col("all_episodes"),
                              "track": F.transform("track", lambda p: p.withField("gps_ts", _ts(p["gps_ts"]))),
                              "track_geojson": F.col("track_geojson")})


class HazmatSpeeding(TrackEpisodeKind):
    """Consecutive reports above the limit of their road's class (expressway / other), spanning at
    least ``at_least_s`` seconds from the first to the last."""

    name = "hazmat_speeding"
    params = {"expressway_classes": list, "expressway_limit_kmh": (int, float), "other_limit_kmh": (int, float),
              "at_least_s": int}
    facts = (*EPISODE_FACTS, "max_speed", "limit")

    def condition(self, points: "DataFrame", rule: Rule, inputs: "dict[str, DataFrame]") -> tuple["DataFrame", "Column", "Column | None"]:
        p = rule.params
        limit = F.when(F.col("road_class").isin(*p["expressway_classes"]), F.lit(float(p["expressway_limit_kmh"]))) \
            .otherwise(F.lit(float(p["other_limit_kmh"])))
        pts = points.withColumn("_limit", limit)
        return pts, F.col("speed_kmh") > F.col("_limit"), F.col("_limit")

    def long_enough(self, span_s: "Column", rule: Rule) -> "Column":
        return span_s >= F.lit(int(rule.params["at_least_s"]))

    def more_facts(self, rule: Rule) -> dict[str, "Column"]:
        return {"max_speed": F.format_number("max_speed_kmh", 1), "limit": F.col("run_key")}


class HazmatNightBan(TrackEpisodeKind):
    """Any report on a road of ``road_classes`` between ``from`` and ``until`` (local time; the
    night wraps midnight, ``until`` exclusive)."""

    name = "hazmat_night_ban"
    params = {"road_classes": list, "from": str, "until": str}
    facts = (*EPISODE_FACTS, "from", "until")

    def condition(self, points: "DataFrame", rule: Rule, inputs: "dict[str, DataFrame]") -> tuple["DataFrame", "Column", "Column | None"]:
        p = rule.params
        return points, F.col("road_class").isin(*p["road_classes"]) & in_night(F.col("gps_ts"), p["from"], p["until"]), None

    def long_enough(self, span_s: "Column", rule: Rule) -> "Column":
        return F.lit(True)

    def more_facts(self, rule: Rule) -> dict[str, "Column"]:
        return {"from": F.lit(rule.params["from"]), "until": F.lit(rule.params["until"])}

    @classmethod
    def check(cls, params: dict[str, Any]) -> list[str]:
        import re

        return [f"{k}: must be HH:MM" for k in ("from", "until") if not re.fullmatch(r"[0-2]\d:[0-5]\d", str(params.get(k)))]


class HazmatSensitiveStop(TrackEpisodeKind):
    """Stopped (speed 0) within ``within_m`` of one sensitive place's point for more than
    ``stop_longer_than_s`` seconds, first to last report. Silver places a report near a place
    only within its own ``place_within_m`` (200 m), which must not be below ``within_m``."""

    name = "hazmat_sensitive_stop"
    params = {"stop_longer_than_s": int, "within_m": (int, float)}
    facts = (*EPISODE_FACTS, "place_id", "place_category", "distance_m")

    def aggregates(self) -> dict[str, "Column"]:
        return {"min_distance_m": F.min("place_distance_m"), "place_category": F.first("place_category"),
                "place_grid_code": F.first("place_grid_code", ignorenulls=True)}

    def placed_in(self, first: "Column") -> "Column":
        """The grid of the place (domain.md §5: the grid of that place), else the stop's."""
        return F.coalesce(F.col("place_grid_code"), first["grid_code"])

    def condition(self, points: "DataFrame", rule: Rule, inputs: "dict[str, DataFrame]") -> tuple["DataFrame", "Column", "Column | None"]:
        near = F.col("place_distance_m") <= F.lit(float(rule.params["within_m"]))
        return points, (F.col("speed_kmh") <= 0) & near, F.col("place_id")

    def long_enough(self, span_s: "Column", rule: Rule) -> "Column":
        return span_s > F.lit(int(rule.params["stop_longer_than_s"]))

    def more_facts(self, rule: Rule) -> dict[str, "Column"]:
        return {"place_id": F.col("run_key"), "place_category": F.col("place_category"),
                "distance_m": F.format_number("min_distance_m", 0)}


class HazmatNoWaybill(TrackEpisodeKind):
    """Consecutive reports faster than ``moving_above_kmh`` outside every plan window of a
    non-cancelled waybill of the plate, spanning more than ``longer_than_s`` seconds."""

    name = "hazmat_no_waybill"
    inputs = (Input(POINTS, lookback_days=1, subject_column="plate_no"), Input(CREW, subject_column="plate_no"))
    params = {"moving_above_kmh": (int, float), "longer_than_s": int}
    facts = (*EPISODE_FACTS, "max_speed")

    def condition(self, points: "DataFrame", rule: Rule, inputs: "dict[str, DataFrame]") -> tuple["DataFrame", "Column", "Column | None"]:
        pts = covered_by_waybill(points, inputs[CREW])
        return pts, (F.col("speed_kmh") > F.lit(float(rule.params["moving_above_kmh"]))) & ~F.col("_covered"), None

    def long_enough(self, span_s: "Column", rule: Rule) -> "Column":
        return span_s > F.lit(int(rule.params["longer_than_s"]))

    def more_facts(self, rule: Rule) -> dict[str, "Column"]:
        return {"max_speed": F.format_number("max_speed_kmh", 1)}


class HazmatRouteDeviation(TrackEpisodeKind):
    """A report inside a non-cancelled waybill's plan window further than ``more_than_km`` from the
    straight segment between the waybill's load and unload sites."""

    name = "hazmat_route_deviation"
    inputs = (Input(POINTS, lookback_days=1, subject_column="plate_no"), Input(CREW, subject_column="plate_no"))
    params = {"more_than_km": (int, float)}
    facts = (*EPISODE_FACTS, "waybill_no", "max_km", "more_than_km")

    def aggregates(self) -> dict[str, "Column"]:
        return {"max_off_m": F.max("_off_m")}

    def condition(self, points: "DataFrame", rule: Rule, inputs: "dict[str, DataFrame]") -> tuple["DataFrame", "Column", "Column | None"]:
        wb = inputs[CREW].where((F.col("status") != "cancelled") & F.col("load_lon").isNotNull() & F.col("unload_lon").isNotNull())
        wb = wb.select(F.col("plate_no").alias("_wplate"), "waybill_no", "plan_depart_ts", "plan_arrive_ts",
                       "load_lon", "load_lat", "unload_lon", "unload_lat").dropDuplicates(["waybill_no"])
        inside = (F.col("plate_no") == F.col("_wplate")) & F.col("gps_ts").between(F.col("plan_depart_ts"), F.col("plan_arrive_ts"))
        off = distance_to_corridor_m(F.col("lon"), F.col("lat"), F.col("load_lon"), F.col("load_lat"),
                                     F.col("unload_lon"), F.col("unload_lat"))
        # Only the reports inside a window are measured, and only their position travels: a
        # report inside two windows (back-to-back waybills) is judged against the nearer
        # corridor, by its (plate, time) — one report each after one_per_time. The rest get no
        # distance (null, never NaN — Spark orders NaN above every number). Grouping every
        # report by all its columns instead took 44 % of the hazmat rules' time (benchmarks.md).
        # The waybills are broadcast (a day's are thousands) and the join back is on (plate,
        # time) of two sides clustered by plate, so the reports stay where they are
        # (share_tracks, risk_flags.EVALUATION_CONF).
        near = (points.select("plate_no", "gps_ts", "lon", "lat").join(F.broadcast(wb), inside)
                .withColumn("_off_m", F.nanvl(off, F.lit(None).cast("double")))
                .groupBy("plate_no", "gps_ts").agg(F.min_by(F.struct("waybill_no", "_off_m"), "_off_m").alias("_w"))
                .select("plate_no", "gps_ts", F.col("_w.waybill_no").alias("_waybill"), F.col("_w._off_m").alias("_off_m")))
        judged = points.join(near, ["plate_no", "gps_ts"], "left")
        return judged, F.col("_off_m") > F.lit(float(rule.params["more_than_km"]) * 1000.0), F.col("_waybill")

    def long_enough(self, span_s: "Column", rule: Rule) -> "Column":
        return F.lit(True)

    def more_facts(self, rule: Rule) -> dict[str, "Column"]:
        return {"waybill_no": F.col("run_key"), "max_km": F.format_number(F.col("max_off_m") / 1000.0, 2),
                "more_than_km": F.lit(f"{float(rule.params['more_than_km']):g}")}


class HazmatFatigue(RuleKind):
    """Continuous driving: between rests (stopped ≥ ``rest_stop_at_least_s``, first to last
    report) the moving reports span more than ``continuous_more_than_h`` hours; or moving time
    on the day (the sum of the intervals between consecutive moving reports) above
    ``daily_more_than_h`` hours."""

    name = "hazmat_fatigue"
    subject_type = "vehicle"
    inputs = (Input(POINTS, lookback_days=1, subject_column="plate_no"),)
    params = {"rest_stop_at_least_s": int, "continuous_more_than_h": (int, float), "daily_more_than_h": (int, float)}
    facts = ("plate", "road", "start", "end", "span", "kind", "daily_moving", "limit")
    evidence = EPISODE_EVIDENCE
    hourly = True
    incremental = False

    def hits(self, inputs: "dict[str, DataFrame]", rule: Rule, window: Window) -> Hits:
        from pyspark.sql import Window as W

        p = rule.params
        points = track_input(window, inputs)
        stints = driving_stints(points, int(p["rest_stop_at_least_s"])).where(overlaps(window))
        too_long = stints.where(F.col("span_s") > F.lit(float(p["continuous_more_than_h"]) * 3600))
        # the day's moving time up to the end of the window (an hourly run sees the day so far)
        day_start = F.lit(window.ds).cast("timestamp")
        day_end = F.lit(window.end.isoformat(sep=" ")).cast("timestamp")
        by_time = W.partitionBy("plate_no").orderBy("gps_ts")
        pairs = (points.withColumn("_next_ts", F.lead("gps_ts").over(by_time))
                 .withColumn("_next_moving", F.lead(F.col("speed_kmh") > 0).over(by_time))
                 .where((F.col("speed_kmh") > 0) & F.coalesce("_next_moving", F.lit(False))
                        & (F.col("gps_ts") >= day_start) & (F.col("gps_ts") < day_end)))
        daily = pairs.groupBy("plate_no").agg(
            F.sum(F.unix_timestamp("_next_ts") - F.unix_timestamp("gps_ts")).alias("moving_s"),
            F.min("gps_ts").alias("day_first_ts"), F.max("_next_ts").alias("day_last_ts"),
            F.max_by(F.struct("lon", "lat", "road_name", "grid_code"), "gps_ts").alias("day_last"))  # as a track row less time, speed, class
        worst = too_long.groupBy("plate_no").agg(F.max(F.struct("span_s", "start_ts", "end_ts", "track", "track_geojson")).alias("w"),
                                                 F.collect_list(F.struct(_ts("start_ts").alias("start"), _ts("end_ts").alias("end"),
                                                                         F.col("span_s"), F.col("track_geojson"))).alias("all_stints"))
        over_day = daily.where(F.col("moving_s") > F.lit(float(p["daily_more_than_h"]) * 3600)).select("plate_no", "moving_s")
        frame = worst.join(over_day, "plate_no", "full").join(
            daily.select("plate_no", F.col("moving_s").alias("day_moving_s"), "day_first_ts", "day_last_ts", "day_last"),
            "plate_no", "left")
        continuous = F.col("w").isNotNull()
        # where: the first report of the worst stint, else the last moving report of the day
        first = F.when(F.col("w").isNotNull(), F.col("w.track")[0].dropFields("gps_ts", "speed_kmh", "road_class")) \
            .otherwise(F.col("day_last"))
        limit = F.when(continuous, F.lit(f"{float(p['continuous_more_than_h']):g} h")).otherwise(
            F.lit(f"{float(p['daily_more_than_h']):g} h"))
        return Hits(
            frame=frame, subject_key=F.col("plate_no"), severity=F.lit(rule.severity),
            grid_code=first["grid_code"], lon=first["lon"], lat=first["lat"],
            facts={"plate": F.col("plate_no"), "road": F.coalesce(first["road_name"], F.lit("道路外")),
                   "start": _ts(F.coalesce("w.start_ts", "day_first_ts")), "end": _ts(F.coalesce("w.end_ts", "day_last_ts")),
                   "span": _span_text(F.coalesce("w.span_s", "day_moving_s")),
                   "kind": F.when(continuous, F.lit("连续驾驶")).otherwise(F.lit("当日累计驾驶")),
                   "daily_moving": _span_text(F.coalesce("day_moving_s", F.lit(0))), "limit": limit},
            evidence={"episodes": F.coalesce(F.col("all_stints"), F.array()),
                      "track": F.coalesce(F.transform("w.track", lambda q: q.withField("gps_ts", _ts(q["gps_ts"]))), F.array()),
                      "track_geojson": F.col("w.track_geojson")})


def _day_waybills(crew: "DataFrame", window: Window) -> "DataFrame":
    """The non-cancelled waybills planned to depart on the day (or in the hour)."""
    start = F.lit(window.start.isoformat(sep=" ")).cast("timestamp")
    end = F.lit(window.end.isoformat(sep=" ")).cast("timestamp")
    return (crew.where((F.col("ds") == window.day()) & (F.col("status") != "cancelled")
                       & (F.col("plan_depart_ts") >= start) & (F.col("plan_depart_ts") < end))
            .dropDuplicates(["waybill_no"]))


def _crew_hits(rows: "DataFrame", rule: Rule, severity: "Column", facts_extra: dict[str, "Column"]) -> Hits:
    """One flag per plate from waybill rows carrying ``_reasons`` (array of text)."""
    waybill = F.struct(F.col("waybill_no"), _ts("plan_depart_ts").alias("plan_depart"), _ts("plan_arrive_ts").alias("plan_arrive"),
                       F.col("goods_name"), F.col("driver_person_key"), F.col("escort_person_key"),
                       F.array_join("_reasons", "；").alias("reasons"))
    per_plate = rows.groupBy("plate_no").agg(
        F.min(F.struct("plan_depart_ts", "waybill_no", "load_address_code", "load_grid_code", "load_lon", "load_lat")).alias("first"),
        F.array_sort(F.collect_list(waybill)).alias("waybills"),
        F.array_join(F.array_sort(F.array_distinct(F.flatten(F.collect_list("_reasons")))), "；").alias("reasons"),
        *[v.alias(k) for k, v in facts_extra.items()])
    return Hits(frame=per_plate, subject_key=F.col("plate_no"), severity=severity,
                address_code=F.col("first.load_address_code"), grid_code=F.col("first.load_grid_code"),
                lon=F.col("first.load_lon"), lat=F.col("first.load_lat"),
                facts={"plate": F.col("plate_no"), "waybill_no": F.col("first.waybill_no"),
                       "depart": _ts("first.plan_depart_ts"), "waybills": F.size("waybills"), "reasons": F.col("reasons"),
                       **{k: F.col(k) for k in facts_extra}},
                evidence={"waybills": F.col("waybills")})


class HazmatCrewUnqualified(RuleKind):
    """A waybill planned on the day whose driver lacks an active qualification of
    ``driver_cert_types``, whose escort lacks one of ``escort_cert_types``, or without an escort.

    Crew are matched by the person keys entity resolution gave the waybill's ID numbers; a crew
    member whose ID linked to nobody is a data problem (``waybill_crew.crew_problem``), not a hit."""

    name = "hazmat_crew_unqualified"
    subject_type = "vehicle"
    inputs = (Input(CREW, subject_column="plate_no"), Input("person_qualifications"))
    params = {"driver_cert_types": list, "escort_cert_types": list, "qualification_statuses": list}
    facts = ("plate", "waybill_no", "depart", "waybills", "reasons")
    evidence = ("waybills",)
    # The crew's person keys come from the day's entity resolution (the daily link stage):
    # an hourly run would judge today's waybills on no crew at all. Daily only.
    hourly = False
    incremental = False

    def hits(self, inputs: "dict[str, DataFrame]", rule: Rule, window: Window) -> Hits:
        p, day = rule.params, window.day()
        quals = inputs["person_qualifications"].where(
            F.col("status").isin(*p["qualification_statuses"]) & F.coalesce(F.col("valid_until") >= day, F.lit(False)))

        def holders(types: list[str], role: str) -> "DataFrame":
            return (quals.where(F.col("cert_type").isin(*types)).select(F.col("person_key").alias(f"{role}_person_key"))
                    .distinct().withColumn(f"_{role}_ok", F.lit(True)))

        wb = (_day_waybills(inputs[CREW], window)
              .join(holders(p["driver_cert_types"], "driver"), "driver_person_key", "left")
              .join(holders(p["escort_cert_types"], "escort"), "escort_person_key", "left"))
        reasons = F.filter(F.array(
            F.when(F.col("driver_person_key").isNotNull() & F.col("_driver_ok").isNull(),
                   F.lit("驾驶员无有效" + "/".join(p["driver_cert_types"]) + "从业资格")),
            F.when(~F.col("has_escort"), F.lit("无押运人员")),
            F.when(F.col("has_escort") & F.col("escort_person_key").isNotNull() & F.col("_escort_ok").isNull(),
                   F.lit("押运人员无有效" + "/".join(p["escort_cert_types"]) + "从业资格"))), lambda x: x.isNotNull())
        rows = wb.withColumn("_reasons", reasons).where(F.size("_reasons") > 0)
        return _crew_hits(rows, rule, F.lit(rule.severity), {})


class HazmatCrewAtRisk(RuleKind):
    """A waybill planned on the day whose driver or escort is a registry hit (the cancellation
    conditions of the person rules: mental-health risk ≥ N or incident history, drug control or
    recent use) — cross-domain, critical. The registry details stay with analysts."""

    name = "hazmat_crew_at_risk"
    subject_type = "vehicle"
    # The registries a rule's conditions name; on a day one of them is missing it runs on the
    # other, partially (gridrisk.rules.kind.Input.group).
    inputs = (Input(CREW, subject_column="plate_no"), *registry_inputs(subject_column=""))
    params = {"conditions": list, "mental_min_risk_level": int, "mental_incident_history": bool,
              "drug_control_statuses": list, "drug_recent_years": int}
    facts = ("plate", "waybill_no", "depart", "waybills", "reasons", "registries")
    evidence = ("waybills", "registry")
    sensitive_facts = ("registries",)
    sensitive_evidence = ("registry",)
    # The crew's person keys come from the day's entity resolution (the daily link stage):
    # an hourly run would judge today's waybills on no crew at all. Daily only.
    hourly = False
    incremental = False

    @classmethod
    def check(cls, params: dict[str, Any]) -> list[str]:
        return check_conditions(params)

    @classmethod
    def inputs_for(cls, rule: Rule) -> tuple[Input, ...]:
        return (cls.inputs[0], *registry_inputs(rule, subject_column=""))

    def hits(self, inputs: "dict[str, DataFrame]", rule: Rule, window: Window) -> Hits:
        registry = registry_rows(inputs, rule)
        hit = registry_summary(registry.where(registry_condition(rule, window.day())))
        wb = _day_waybills(inputs[CREW], window)
        joined = None
        for role, label in (("driver", "驾驶员"), ("escort", "押运人员")):
            part = wb.join(hit.withColumnRenamed("person_key", f"{role}_person_key"), f"{role}_person_key").withColumn(
                "_role", F.lit(label))
            joined = part if joined is None else joined.unionByName(part)
        assert joined is not None
        rows = joined.withColumn("_reasons", F.array(F.concat(F.col("_role"), F.lit("存在跨部门风险比对命中"))))
        hits = _crew_hits(rows, rule, F.lit("critical"), {
            "registries": F.array_join(F.array_sort(F.collect_set("registries")), "、"),
            "registry_rows": F.flatten(F.collect_list("registry_rows"))})
        facts = {k: v for k, v in hits.facts.items() if k != "registry_rows"}
        return Hits(frame=hits.frame, subject_key=hits.subject_key, severity=hits.severity, address_code=hits.address_code,
                    grid_code=hits.grid_code, lon=hits.lon, lat=hits.lat, facts=facts,
                    evidence={"waybills": F.col("waybills"), "registry": F.col("registry_rows")})


#: The hazmat kinds, for gridrisk.rules.kinds.KIND_CLASSES.
HAZMAT_KINDS: tuple[type[RuleKind], ...] = (HazmatNoWaybill, HazmatCrewUnqualified, HazmatCrewAtRisk, HazmatFatigue,
                                            HazmatSpeeding, HazmatNightBan, HazmatSensitiveStop, HazmatRouteDeviation)
#: The kinds that read the reports through :func:`track_input` (:func:`share_tracks`).
TRACK_KIND_NAMES = frozenset(cls.name for cls in HAZMAT_KINDS if issubclass(cls, (TrackEpisodeKind, HazmatFatigue)))
