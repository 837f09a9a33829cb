"""Spatial joins for GPS points: shapely 2 inside Arrow UDFs against H3 cells as join keys.

    /work/main/.venv/bin/python benchmarks/bench_spatial.py --points 200000

Builds a synthetic reference in the shape the generator writes (a lattice of communities each
tiled 3 × 3 by grid rectangles, straight roads of the four classes, sensitive places as
points) and GPS points of which half lie on roads, then asks each approach the three questions
of silver ``vehicle_tracks`` for every point — its grid, its nearest road (≤ 300 m) with the
class, the sensitive place within 200 m — and prints points per second, the load average
beside it, and whether both approaches gave the same answers.

* ``shapely``: :func:`gridrisk.spatial.annotate_points` — ``mapInArrow``, STR-trees per worker.
* ``h3``: cells (resolution 10, ≈ 66 m edge) as equi-join keys. Grid: the cells lying wholly
  inside one grid map straight to it; a point in a boundary cell is refined by point-in-polygon.
  Places: each place's disk of cells (k = 4 rings ≥ 200 m) joined on the point's cell, exact
  haversine on the candidates. Roads: cells along each road widened by k = 5 rings (≥ 300 m),
  joined on the point's cell, exact distance to each candidate road, the nearest kept.

Sedona is not measured: Maven Central has Sedona's Spark 4 build only for Spark 4.0
(``sedona-spark-shaded-4.0_2.13:1.8.0``); this project runs Spark 4.2, and Sedona hooks into
Catalyst internals that change between minor versions. See docs/hazmat.md.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _measure import sizing_env  # noqa: E402

H3_RES = 10
PLACE_RINGS = 4   # ring spacing at res 10 ≈ 1.73 × 66 m; 4 rings cover > 200 m
ROAD_RINGS = 5    # > 300 m
MAX_ROAD_M = 300.0
WITHIN_M = 200.0


def polygon_json(x0: float, y0: float, x1: float, y1: float) -> str:
    return json.dumps({"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]})


def build_reference(communities: int, roads: int, places: int, seed: int) -> Any:
    """A lattice like the generator's: 0.02° × 0.018° communities, 3 × 3 grids each; straight
    roads 10–40 km long in random directions; places anywhere."""
    from gridrisk.spatial import Reference

    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(communities)))
    lon0, lat0 = 118.0, 31.5
    grids = []
    for c in range(communities):
        cx, cy = lon0 + (c % side) * 0.02, lat0 + (c // side) * 0.018
        for r in range(3):
            for k in range(3):
                code = f"32{c:07d}{r * 3 + k + 1:03d}000"[:15]
                grids.append((code, polygon_json(cx + k * 0.02 / 3, cy + 0.018 - (r + 1) * 0.006,
                                                 cx + (k + 1) * 0.02 / 3, cy + 0.018 - r * 0.006)))
    span_x, span_y = side * 0.02, side * 0.018
    classes = ["高速", "国道", "省道", "城市道路"]
    road_rows = []
    for i in range(roads):
        a = (lon0 + rng.uniform(0, span_x), lat0 + rng.uniform(0, span_y))
        angle, length = rng.uniform(0, np.pi), rng.uniform(0.1, 0.4)
        b = (a[0] + length * np.cos(angle), a[1] + length * np.sin(angle))
        road_rows.append((f"R{i:05d}", f"路{i}", classes[i % 4],
                          json.dumps({"type": "LineString", "coordinates": [list(a), list(b)]})))
    place_rows = [(f"P{i:05d}", f"地点{i}", "学校", lon0 + rng.uniform(0, span_x), lat0 + rng.uniform(0, span_y), 100.0)
                  for i in range(places)]
    return Reference.of(grids, road_rows, place_rows), (lon0, lat0, span_x, span_y)


def build_points(ref: Any, box: tuple[float, float, float, float], n: int, seed: int) -> Any:
    """Half uniform over the lattice, half on a random road (the ones that matter)."""
    import shapely

    rng = np.random.default_rng(seed + 1)
    lon0, lat0, sx, sy = box
    half = n // 2
    lon = lon0 + rng.uniform(0, sx, n)
    lat = lat0 + rng.uniform(0, sy, n)
    lines = [shapely.from_geojson(r[3]) for r in ref.roads]
    which = rng.integers(0, len(lines), half)
    frac = rng.uniform(0, 1, half)
    on = shapely.line_interpolate_point(np.array(lines, dtype=object)[which], frac, normalized=True)
    lon[:half], lat[:half] = shapely.get_x(on), shapely.get_y(on)
    return pd.DataFrame({"point_id": np.arange(n, dtype="int64"), "lon": lon, "lat": lat})


def h3_tables(ref: Any) -> tuple[list[tuple[int, str]], list[tuple[int, int]], list[tuple[int, int]]]:
    """(interior cell → grid), (cell → place index), (cell → road index) from the reference."""
    import h3
    import shapely

    interior: list[tuple[int, str]] = []
    for code, gj in ref.grids:
        ring = json.loads(gj)["coordinates"][0]
        shape = h3.LatLngPoly([(y, x) for x, y in ring])
        interior += [(h3.str_to_int(c), code) for c in h3.h3shape_to_cells_experimental(shape, H3_RES, contain="full")]
    place_cells = []
    for i, p in enumerate(ref.places):
        centre = h3.latlng_to_cell(p[4], p[3], H3_RES)
        place_cells += [(h3.str_to_int(c), i) for c in h3.grid_disk(centre, PLACE_RINGS)]
    road_cells = []
    step = h3.average_hexagon_edge_length(H3_RES, unit="m") / 111_000.0
    for i, r in enumerate(ref.roads):
        line = shapely.from_geojson(r[3])
        n = max(2, int(line.length / step) + 1)
        pts = shapely.line_interpolate_point(line, np.linspace(0, 1, n), normalized=True)
        cells = {h3.latlng_to_cell(y, x, H3_RES) for x, y in zip(shapely.get_x(pts), shapely.get_y(pts), strict=True)}
        wide: set[str] = set()
        for c in cells:
            wide.update(h3.grid_disk(c, ROAD_RINGS))
        road_cells += [(h3.str_to_int(c), i) for c in wide]
    return interior, place_cells, road_cells


_ROADS: dict[str, Any] = {}


def projected_roads(ref: Any) -> Any:
    """The whole roads in the local projection (the index holds 100 m pieces), once per worker."""
    from gridrisk.spatial import _shape

    if ref.fingerprint not in _ROADS:
        _ROADS[ref.fingerprint] = np.array([_shape(r[3], projected=True) for r in ref.roads], dtype=object)
    return _ROADS[ref.fingerprint]


def run_h3(spark: Any, points: Any, ref: Any) -> Any:
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from gridrisk.spatial import haversine_m, index_for, project

    started = time.monotonic()
    interior, place_cells, road_cells = h3_tables(ref)
    prep = time.monotonic() - started
    grid_cells = spark.createDataFrame(interior, "cell long, grid_code string")
    pcells = spark.createDataFrame(place_cells, "cell long, place_i int")
    rcells = spark.createDataFrame(road_cells, "cell long, road_i int")

    @F.pandas_udf("long")
    def cell_of(lon: pd.Series, lat: pd.Series) -> pd.Series:
        import h3

        return pd.Series([h3.str_to_int(h3.latlng_to_cell(y, x, H3_RES)) for x, y in zip(lon, lat, strict=True)])

    @F.pandas_udf("string")
    def refine_grid(lon: pd.Series, lat: pd.Series) -> pd.Series:
        return pd.Series(index_for(ref).grid_of(lon.to_numpy(), lat.to_numpy()))

    @F.pandas_udf("double")
    def road_distance(lon: pd.Series, lat: pd.Series, road_i: pd.Series) -> pd.Series:
        import shapely

        x, y = project(lon.to_numpy(), lat.to_numpy())
        geoms = projected_roads(ref).take(road_i.to_numpy())
        return pd.Series(shapely.distance(shapely.points(x, y), geoms))

    place_xy = spark.createDataFrame([(i, float(p[3]), float(p[4])) for i, p in enumerate(ref.places)],
                                     "place_i int, plon double, plat double")

    pts = points.withColumn("cell", cell_of("lon", "lat")).cache()
    grid = (pts.join(F.broadcast(grid_cells), "cell", "left")
            .withColumn("grid_code", F.coalesce("grid_code", refine_grid("lon", "lat"))).select("point_id", "grid_code"))

    @F.pandas_udf("double")
    def exact_m(lon: pd.Series, lat: pd.Series, plon: pd.Series, plat: pd.Series) -> pd.Series:
        return pd.Series(haversine_m(lon.to_numpy(), lat.to_numpy(), plon.to_numpy(), plat.to_numpy()))

    nearest_place = Window.partitionBy("point_id").orderBy("place_distance_m", "place_i")
    place = (pts.join(F.broadcast(pcells), "cell").join(F.broadcast(place_xy), "place_i")
             .withColumn("place_distance_m", exact_m("lon", "lat", "plon", "plat"))
             .where(F.col("place_distance_m") <= WITHIN_M)
             .withColumn("_r", F.row_number().over(nearest_place)).where("_r = 1")
             .select("point_id", "place_i", "place_distance_m"))
    nearest_road = Window.partitionBy("point_id").orderBy("road_distance_m", "road_i")
    road = (pts.join(F.broadcast(rcells), "cell")
            .withColumn("road_distance_m", road_distance("lon", "lat", "road_i"))
            .where(F.col("road_distance_m") <= MAX_ROAD_M)
            .withColumn("_r", F.row_number().over(nearest_road)).where("_r = 1")
            .select("point_id", "road_i", "road_distance_m"))
    out = grid.join(road, "point_id", "left").join(place, "point_id", "left")
    return out, prep


def time_it(action: Any) -> float:
    started = time.monotonic()
    action()
    return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=200_000)
    parser.add_argument("--communities", type=int, default=1_600, help="× 9 grids")
    parser.add_argument("--roads", type=int, default=30, help="the generator's density: ~75 roads over Jiangsu")
    parser.add_argument("--places", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--partitions", type=int, default=4)
    args = parser.parse_args()

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from dataclasses import replace

    from pyspark.sql import functions as F

    from gridrisk.config import load_profile
    from gridrisk.spark import get_spark
    from gridrisk.spatial import annotate_points

    profile = load_profile("local", env=sizing_env(), workdir="/tmp/gridrisk-bench-spatial")
    conf = dict(profile.spark_conf, **{"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": str(args.partitions)})
    spark = get_spark(replace(profile, spark_master="local[2]", spark_conf=conf))

    ref, box = build_reference(args.communities, args.roads, args.places, args.seed)
    pdf = build_points(ref, box, args.points, args.seed)
    points = spark.createDataFrame(pdf).repartition(args.partitions).cache()
    points.count()
    print(f"{args.points:,} points · {len(ref.grids):,} grids · {len(ref.roads)} roads · {len(ref.places):,} places")

    def noop(df: Any) -> None:
        df.write.format("noop").mode("overwrite").save()

    shapely_df = annotate_points(points, ref, MAX_ROAD_M, WITHIN_M)
    noop(shapely_df)  # warm-up: worker start and index build once
    t_shapely = time_it(lambda: noop(shapely_df))
    load = os.getloadavg()
    print(f"shapely/mapInArrow : {args.points / t_shapely:>10,.0f} points/s  ({t_shapely:.1f} s)  "
          f"load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")

    h3_df, prep = run_h3(spark, points, ref)
    noop(h3_df)
    t_h3 = time_it(lambda: noop(h3_df))
    load = os.getloadavg()
    print(f"h3 cells as keys   : {args.points / t_h3:>10,.0f} points/s  ({t_h3:.1f} s, + {prep:.1f} s building "
          f"cell tables on the driver)  load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")

    a = shapely_df.select("point_id", "grid_code", "road_id", "place_id")
    road_ids = spark.createDataFrame([(i, r[0]) for i, r in enumerate(ref.roads)], "road_i int, road_id string")
    place_ids = spark.createDataFrame([(i, p[0]) for i, p in enumerate(ref.places)], "place_i int, place_id string")
    b = (h3_df.join(F.broadcast(road_ids), "road_i", "left").join(F.broadcast(place_ids), "place_i", "left")
         .select("point_id", F.col("grid_code").alias("g2"), F.col("road_id").alias("r2"), F.col("place_id").alias("p2")))
    diff = a.join(b, "point_id").where(~F.col("grid_code").eqNullSafe(F.col("g2")) | ~F.col("road_id").eqNullSafe(F.col("r2"))
                                       | ~F.col("place_id").eqNullSafe(F.col("p2"))).count()
    print(f"points answered differently by the two approaches: {diff}")
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
