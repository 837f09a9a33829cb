"""What jobs/gold/publish_tasks.py gives the service: the address text of each task and the grid
polygons for the map page, from the grid office's reference tables in bronze (real Spark, Delta)."""

from __future__ import annotations

import datetime as dt
import json

from gridrisk import lake
from gridrisk.config import load_profile
from gridrisk.taskstore import open_store
from jobs.gold import publish_tasks

DS = "2026-11-02"
GRID = "320115001001003"
POLYGON = json.dumps({"type": "Polygon", "coordinates": [[[118.8, 31.9], [118.81, 31.9], [118.81, 31.91], [118.8, 31.9]]]})


def test_tasks_get_the_address_text_and_the_store_gets_the_grid_polygons(spark, tmp_path):
    profile = load_profile("local", env={}, workdir=str(tmp_path))
    day = dt.date.fromisoformat(DS)
    addresses = spark.createDataFrame(
        [("32011500100100000001", "江宁区东山街道竹山路1号", 118.8, 31.9, GRID, "住宅", day)],
        "address_code string, address_text string, lon double, lat double, grid_code string, "
        "address_type string, ds date")
    lake.replace_partition(addresses, profile.table_path("bronze", "addresses"), {"ds": DS})
    grids = spark.createDataFrame([(GRID, "竹山一网格", "grid", GRID[:12], POLYGON, day)],
                                  "grid_code string, grid_name string, level string, parent_code string, "
                                  "geometry_json string, ds date")
    lake.replace_partition(grids, profile.table_path("bronze", "grids"), {"ds": DS})
    flags = spark.createDataFrame([("f1", "32011500100100000001"), ("f2", "32011500100199999999")],
                                  "flag_id string, address_code string")
    texts = {r["flag_id"]: r["address_text"]
             for r in publish_tasks.with_address_text(spark, profile, DS, flags).collect()}
    assert texts == {"f1": "江宁区东山街道竹山路1号", "f2": None}
    store = open_store(profile.task_store)
    publish_tasks.publish_grids(spark, profile, DS, store)
    assert [(g["grid_code"], g["name"], json.loads(g["geometry_json"])["type"])
            for g in store.grids("320115")] == [(GRID, "竹山一网格", "Polygon")]
    # Without the reference tables the column is there and null.
    bare = load_profile("local", env={}, workdir=str(tmp_path / "bare"))
    assert [r["address_text"] for r in publish_tasks.with_address_text(spark, bare, DS, flags).collect()] == [None, None]
