"""A small hand-built world of people for the person-rule tests: department rows as bronze has
them (raw IDs, names, diagnoses included, so the tests can prove none of it reaches gold), the
person keys entity resolution would give them, and the silver person facts built from those."""

from __future__ import annotations

import datetime as dt
import zlib
from dataclasses import dataclass, field
from typing import Any

from gridrisk.config import load_schema

D = dt.date.fromisoformat
DIAGNOSIS = "精神分裂症"
GRID = "320115101001003"


@dataclass
class Person:
    key: str
    born: dt.date = D("1980-05-05")
    address: str | None = "32011510100100010001"
    licences: list[tuple[str, str]] = field(default_factory=list)  # (status, valid_until)
    quals: list[tuple[str, str, str]] = field(default_factory=list)  # (cert_type, status, valid_until)
    mental: list[tuple[int, bool, str]] = field(default_factory=list)  # (risk_level, incident, last follow-up)
    drugs: list[tuple[str, str | None, str | None, str]] = field(default_factory=list)  # (status, last use, release, decision)

    @property
    def raw_id(self) -> str:
        return f"3201151980{zlib.crc32(self.key.encode()) % 10**8:08d}"

    @property
    def name(self) -> str:
        return "测试" + self.key


def _d(value: str | None) -> dt.date | None:
    return D(value) if value else None


def bronze_frames(spark: Any, people: list[Person]) -> tuple[Any, Any, dict[str, Any]]:
    """(person_records, person_master, bronze tables) for ``people``."""
    records, lic, wk, mh, dr = [], [], [], [], []
    for p in people:
        for i, (status, until) in enumerate(p.licences):
            key = f"DL-{p.key}-{i}"
            lic.append((key, p.raw_id, p.name, "C1", status, D("2010-01-01"), _d(until), D("2020-01-01"), "f.csv", len(lic) + 1))
            records.append(("driving_licences", key, p.key))
        for i, (cert_type, status, until) in enumerate(p.quals):
            key = f"QC-{p.key}-{i}"
            wk.append((key, p.raw_id, p.name, cert_type, "南京某运输有限公司", "苏A12345", D("2020-01-01"), _d(until), status, "f.csv", len(wk) + 1))
            records.append(("transport_workers", key, p.key))
        for i, (risk, incident, follow) in enumerate(p.mental):
            key = f"MH-{p.key}-{i}"
            mh.append((key, p.raw_id, p.name, DIAGNOSIS, risk, incident, _d(follow), "在册", "f.csv", len(mh) + 1))
            records.append(("mental_health_registry", key, p.key))
        for i, (status, last_use, release, decision) in enumerate(p.drugs):
            key = f"DR-{p.key}-{i}"
            dr.append((key, p.raw_id, p.name, status, _d(last_use), _d(release), _d(decision), "f.csv", len(dr) + 1))
            records.append(("drug_registry", key, p.key))
    # Bronze as ingest types it: the DDL comes from schemas/, never retyped here.
    def bronze(dataset: str, rows: list[tuple[Any, ...]]) -> Any:
        return spark.createDataFrame(rows, load_schema(dataset).ddl(lineage=True))

    bronze_tables = {
        "driving_licences": bronze("driving_licences", lic),
        "transport_workers": bronze("transport_workers", wk),
        "mental_health_registry": bronze("mental_health_registry", mh),
        "drug_registry": bronze("drug_registry", dr),
        "addresses": spark.createDataFrame(sorted({(p.address, GRID, 118.8, 31.9) for p in people if p.address}),
                                           load_schema("addresses").ddl(["address_code", "grid_code", "lon", "lat"])),
    }
    recs = spark.createDataFrame([(d, k, pk, "exact", "测*") for d, k, pk in records],
                                 "dataset string, record_key string, person_key string, link_method string, name_masked string")
    master = spark.createDataFrame([(p.key, "测*", p.born, p.address) for p in people],
                                   "person_key string, name_masked string, birth_date date, address_code string")
    return recs, master, bronze_tables


def person_inputs(spark: Any, people: list[Person], ds: str) -> dict[str, Any]:
    """The silver person facts of ``people`` on ``ds`` (through jobs.silver.person_facts)."""
    from jobs.silver import person_facts

    records, master, bronze = bronze_frames(spark, people)
    return person_facts.transform(records, master, bronze, ds)
