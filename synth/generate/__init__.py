"""A seeded synthetic Jiangsu province: the departments' extracts plus the ground truth.

    >>> from pathlib import Path
    >>> summary = generate(Path("inbox"), Path("truth"), persons=2_000, progress=False)  # doctest: +SKIP

Writes every dataset of domain.md §2 as the departments deliver it (shared/extracts.md) under
``<inbox>/<dataset>/<YYYYMMDD>/`` with its ``manifest.json`` last, and the truth under
``<truth>/<YYYYMMDD>/{flags,person_records}.csv`` plus ``<truth>/manifest.json``. The same seed
gives byte-identical files. Memory does not grow with ``persons``: the population is made,
written and dropped one chunk at a time.

Conventions other modules rely on (details in docs/generator.md):

* **Standard address code** = 12-digit village/community code + 4-digit building number +
  4-digit unit number (floor × 100 + door, e.g. ``0502``). The first 16 digits identify the
  building: the concentrated-rental rule groups by them. Building numbers ≥ 9001 are
  non-residential sites (enterprises, schools, hospitals, shops), each with unit ``0001``.
* **Grids**: each community is one rectangle of a province-wide lattice, tiled by ``rows × cols``
  grids numbered row-major from the north-west (``001`` north-west, west→east, then
  north→south); grid code = community code + 3 digits. An address's grid is the grid its
  coordinates fall in, and the addresses reference says so.
* **Roads**: 高速 are straight segments between the chemical-park interchanges of neighbouring
  cities (``sensitive`` stops never happen on them); 国道/省道 run from each park to a customer
  community of the same city; 城市道路 cross at those communities. Non-expressway roads keep
  ≥ 400 m from every expressway.
* **Sensitive places** are points with a radius; "within 200 m" in the truth means the distance
  to the point.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from gridrisk.config import DatasetSchema, all_schemas
from gridrisk.delivery import HOURLY_DATASETS, ManifestFile, write_manifest

from .config import CATALOG, Settings, load_noise_defaults, settings
from .extracts import CHUNK_DATASETS, Formatter
from .fire import FireWorld
from .geo import Province, stream
from .hazmat import CREW_CATALOG, DAY_CATALOG, HazmatWorld, day_flags, gps_text, split_hourly, waybill_lines
from .output import DateTable, Delivery, day_number, quote, write_bytes_file
from .population import CATALOG as PERSON_CATALOG
from .population import Chunk, ChunkPlan, World
from .truth import person_flags, rental_flags
from .vocab import COMPANY_WORDS

__all__ = ["generate", "load_noise_defaults"]

EVENTS = ("fire_events", "waybills", "gps_points")
FLAGS_HEADER = "rule_id,subject_type,subject_key,detail"
RECORDS_HEADER = "dataset,record_key,role,true_id_no,id_damage"


def _variants(counts: tuple[int, int], catalog: tuple[tuple[str, ...], tuple[str, ...]]) -> list[str]:
    pos, nm = catalog
    return [pos[i % len(pos)] for i in range(counts[0])] + [nm[i % len(nm)] for i in range(counts[1])]


class _Run:
    """One call of :func:`generate`: the open deliveries and truth files."""

    def __init__(self, inbox: Path, truth: Path, st: Settings, seed: int, days: list[dt.date]) -> None:
        self.inbox, self.truth, self.st, self.seed, self.days = inbox, truth, st, seed, days
        self.schemas: dict[str, DatasetSchema] = {s.dataset: s for s in all_schemas()}
        self.deliveries: dict[tuple[str, dt.date], Delivery] = {}
        self.reference_files: dict[dt.date, list[ManifestFile]] = {d: [] for d in days}
        self.flag_files = {}
        self.record_files = {}
        self.flag_counts: dict[str, dict[str, int]] = {d.isoformat(): {} for d in days}
        for d in days:
            folder = truth / f"{d:%Y%m%d}"
            folder.mkdir(parents=True, exist_ok=True)
            self.flag_files[d] = open(folder / "flags.csv", "w", encoding="utf-8", newline="")
            self.flag_files[d].write(FLAGS_HEADER + "\n")
            self.record_files[d] = open(folder / "person_records.csv", "w", encoding="utf-8", newline="")
            self.record_files[d].write(RECORDS_HEADER + "\n")

    def delivery(self, dataset: str, day: dt.date) -> Delivery:
        key = (dataset, day)
        if key not in self.deliveries:
            s = self.schemas[dataset]
            stamp = f"{day:%Y%m%d}"
            reference = s.delivery == "reference"
            folder = self.inbox / s.delivery / stamp
            ext = {"csv": "csv", "csv.gz": "csv.gz", "jsonl": "jsonl"}[s.format]
            header = None if s.format == "jsonl" else ",".join(s.source_names)
            self.deliveries[key] = Delivery(
                folder=folder, stem=f"{s.file_prefix}_{stamp}", ext=ext, encoding=s.encoding,
                header=header, max_rows=10**12 if reference else int(self.st.conf["sizes"]["max_rows_per_part"]),
                gzip=s.format == "csv.gz", drop_newline_rate=self.st.noise["last_line_no_newline"],
                key=(self.seed, dataset, stamp))
        return self.deliveries[key]

    def flags(self, day: dt.date, flags: list) -> None:
        counts = self.flag_counts[day.isoformat()]
        lines = []
        for rule, stype, key, detail in flags:
            counts[rule] = counts.get(rule, 0) + 1
            lines.append(",".join([rule, stype, quote(key), quote(detail)]))
        if lines:
            self.flag_files[day].write("\n".join(lines) + "\n")

    def records(self, day: dt.date, records: list) -> None:
        # Dataset names, business keys, roles, IDs (damaged or not) and damage kinds never hold a
        # comma, a quote or a line break, so the fields need no quoting.
        if records:
            self.record_files[day].write("\n".join(",".join(r) for r in records) + "\n")

    def close(self) -> list[Path]:
        """Close every file, then write the manifests (last, folder by folder)."""
        for f in list(self.flag_files.values()) + list(self.record_files.values()):
            f.close()
        written: list[Path] = []
        by_folder: dict[tuple[str, dt.date], list[ManifestFile]] = {}
        for (dataset, day), d in self.deliveries.items():
            files = d.close()
            written += [d.folder / f.name for f in files]
            if self.schemas[dataset].delivery == "reference":
                self.reference_files[day] += files
            else:
                by_folder[(dataset, day)] = files
        for (dataset, day), files in sorted(by_folder.items()):
            kind = self.schemas[dataset].kind
            written.append(write_manifest(self.inbox / dataset / f"{day:%Y%m%d}", dataset, day, kind, files))
        for day, files in sorted(self.reference_files.items()):
            order = {"grids": 0, "addresses": 1, "sensitive_places": 2, "roads": 3}
            files.sort(key=lambda f: order[f.name.rsplit("_", 1)[0]])
            written.append(write_manifest(self.inbox / "reference" / f"{day:%Y%m%d}", "reference", day, "snapshot", files))
        return written


def _companies(prov: Province, rng: np.random.Generator) -> dict[int, list[str]]:
    kinds = ("客运有限公司", "货运有限公司", "物流有限公司", "危险品运输有限公司", "出行科技有限公司", "出租汽车有限公司")
    out = {}
    for c, code in enumerate(prov.city_codes):
        short = prov.city_names[code][:-1]
        words = rng.choice(len(COMPANY_WORDS), 12, replace=False)
        out[c] = [short + COMPANY_WORDS[int(w)] + kinds[j % len(kinds)] for j, w in enumerate(words)]
    return out


def generate(inbox: Path, truth: Path, persons: int, seed: int = 42, start_date: dt.date = dt.date(2026, 11, 1),
             days: int = 1, noise: dict | None = None, progress: bool = True, sizes: dict | None = None,
             hourly: bool = False) -> dict:
    """Write a synthetic province's deliveries for ``days`` dates from ``start_date``, and the truth.

    ``noise`` overrides knobs of ``conf/generator.yaml`` by their flat names (see
    :func:`load_noise_defaults`), e.g. ``{"id_typo": 0, "oversampling.driver.mental": 10}``;
    ``sizes`` overrides scalar entries of its ``sizes`` section, e.g.
    ``{"hazmat_vehicles_per_million": 115_000}`` (2,300 vehicles at 20,000 persons).
    Returns a summary: rows per dataset per date, truth flags per rule per date, the files written,
    the seconds taken and where they went (``timings``: per dataset and per phase).
    ``hourly``: GPS and waybills delivered as 24 hourly parts a day, some GPS reports an hour late
    (:func:`.hazmat.split_hourly`; the day's manifest lists the parts, so the rows are the same).
    """
    from tqdm import tqdm

    timings: dict[str, float] = defaultdict(float)

    @contextmanager
    def timed(what: str):
        t = time.perf_counter()
        yield
        timings[what] += time.perf_counter() - t

    if persons < 1000:
        raise ValueError("persons must be at least 1,000")
    if days < 1:
        raise ValueError("days must be at least 1")
    began = time.perf_counter()
    inbox, truth = Path(inbox), Path(truth)
    st = settings(noise, sizes=sizes)
    conf = st.conf
    sizes = conf["sizes"]
    dates_list = [start_date + dt.timedelta(days=i) for i in range(days)]
    d0 = day_number(start_date)
    table = DateTable()

    planted = {rule: st.planted(rule, persons, len(cat[0]), len(cat[1])) for rule, cat in CATALOG.items()}
    # Sizes.
    per_chunk = int(sizes["persons_per_chunk"])
    n_chunks = math.ceil(persons / per_chunk)
    n_enterprises = max(26, round(sizes["hazmat_enterprises_per_million"] * persons / 1e6))
    linked = n_enterprises // 2
    insp = planted["fire.inspection_overdue"]
    n_units = max(20, round(sizes["fire_units_per_million"] * persons / 1e6), sum(insp) + 10)
    crew_variants = _variants(planted["hazmat.crew_unqualified"], CREW_CATALOG["hazmat.crew_unqualified"]) + \
        _variants(planted["hazmat.crew_at_risk"], CREW_CATALOG["hazmat.crew_at_risk"])
    day_scenarios = [(rule, v) for rule, cat in DAY_CATALOG.items() for v in _variants(planted[rule], cat)]
    n_vehicles = max(round(sizes["hazmat_vehicles_per_million"] * persons / 1e6),
                     len(crew_variants) + len(day_scenarios) + 20)

    with timed("phase: geography"):
        prov = Province(seed, persons, int(sizes["persons_per_community"]), max(0, n_units - linked), n_enterprises)
        world = World(seed, prov, conf, st.noise, start_date, n_chunks, table, _companies(prov, stream(seed, "companies")))
    with timed("phase: hazmat and fire set-up"):
        hz = HazmatWorld(seed, prov, n_vehicles, d0, crew_variants)
        enterprise_units = [(e["site"], e["name"]) for e in hz.enterprises[:linked]]
        fire = FireWorld(seed, prov, n_units, d0, days, planted, enterprise_units)
        for e, unit in zip(hz.enterprises[:linked], fire.units[:linked], strict=True):
            e["fire_unit"] = unit.unit_id

    # Person-level and rental cases, spread over the chunks.
    cases = [(rule, v) for rule, cat in PERSON_CATALOG.items() for v in _variants(planted[rule], cat)]
    slots = hz.crew_slots()
    plans = []
    for k in range(n_chunks):
        n_k = min(per_chunk, persons - k * per_chunk)
        plans.append(ChunkPlan(k, n_k, cases[k::n_chunks], slots[k::n_chunks]))

    run = _Run(inbox, truth, st, seed, dates_list)
    bar = tqdm(total=n_chunks * days + 2 * days, disable=not progress, unit="step", desc="generate")
    with timed("reference (grids, roads, places)"):
        _write_reference_static(run, prov, table, dates_list)
    crew: list[dict] = []
    for plan in plans:
        with timed("phase: population"):
            chunk = Chunk(world, plan)
        for i, day in enumerate(dates_list):
            dn = d0 + i
            if i:
                with timed("phase: population"):
                    chunk.evolve(dn)
            fmt = Formatter(chunk, dn)
            for dataset in CHUNK_DATASETS:
                with timed(dataset):
                    text, n, records = getattr(fmt, dataset)()
                    run.delivery(dataset, day).write(text, n)
                with timed("truth: person_records"):
                    run.records(day, records)
            with timed("addresses"):
                text, n = fmt.addresses()
                run.delivery("addresses", day).write(text, n)
            with timed("truth: flags"):
                run.flags(day, rental_flags(chunk, dn) + person_flags(chunk, dn))
            bar.update(1)
        crew += chunk.crew_members()
        del chunk
    hz.attach_crew(crew)
    places = (np.array([p.lon for p in prov.places]), np.array([p.lat for p in prov.places]))
    with timed("phase: hazmat trajectories"):  # the evening before: trips still running at the first midnight
        hz.plan_day(d0 - 1, [])
    previous: dict[int, object] = {}
    for i, day in enumerate(dates_list):
        dn = d0 + i
        with timed("fire_units"):
            text, n = fire.units_text(dn, st.noise, table)
            run.delivery("fire_units", day).write(text, n)
        with timed("fire_events"):
            text, n = fire.events_text(dn, table)
            run.delivery("fire_events", day).write(text, n)
        with timed("truth: flags"):
            run.flags(day, fire.flags(dn))
        with timed("hazmat_enterprises"):
            text, n = hz.enterprises_text(dn, st.noise)
            run.delivery("hazmat_enterprises", day).write(text, n)
        with timed("hazmat_vehicles"):
            text, n = hz.vehicles_text(dn, table)
            run.delivery("hazmat_vehicles", day).write(text, n)
        bar.update(1)
        with timed("phase: hazmat trajectories"):
            plan_day = hz.plan_day(dn, day_scenarios, first=i == 0)
        rng = stream(seed, "noise", "hazmat-events", dn)
        lines, flags, records = [], [], []
        gps = run.delivery("gps_points", day)
        for vday in plan_day.vehicles:
            with timed("gps_points"):
                text, n = gps_text(hz, vday, table, st.noise, rng)
                if n:
                    gps.write(text, n)
            with timed("waybills"):
                ls, rs = waybill_lines(hz, vday, table, st.noise, rng)
            lines += ls
            records += rs
            with timed("truth: flags"):
                flags += day_flags(hz, vday, previous.get(vday.vehicle), dn, places)  # type: ignore[arg-type]
        with timed("waybills"):
            run.delivery("waybills", day).write(("\n".join(lines) + "\n") if lines else "", len(lines))
        gps.write("", 0)
        previous = {vday.vehicle: vday for vday in plan_day.vehicles}
        run.records(day, records)
        run.flags(day, flags)
        bar.update(1)
    bar.close()
    with timed("phase: close files, manifests"):
        written = run.close()
        _write_truth_manifest(truth, st, seed, persons, dates_list, planted, run.flag_counts)
    if hourly:
        with timed("phase: hourly parts"):
            for dataset in HOURLY_DATASETS:
                for day in dates_list:
                    written += split_hourly(inbox, dataset, day, seed)
    rows: dict[str, dict[str, int]] = {}
    for (dataset, day), d in run.deliveries.items():
        rows.setdefault(dataset, {})[day.isoformat()] = sum(f.rows for f in d.files)
    for day, files in run.reference_files.items():
        for f in files:
            if f.name.endswith(".geojson"):
                rows.setdefault(f.name.rsplit("_", 1)[0], {})[day.isoformat()] = f.rows
    return {
        "persons": persons, "seed": seed, "dates": [d.isoformat() for d in dates_list], "rows": rows,
        "truth_flags": run.flag_counts, "files": [str(p) for p in written],
        "seconds": round(time.perf_counter() - began, 2),
        "timings": {k: round(v, 3) for k, v in sorted(timings.items())},
    }


def _write_reference_static(run: _Run, prov: Province, table: DateTable, dates_list: list[dt.date]) -> None:
    """Grids, roads and sensitive places (identical every day); the special addresses first."""
    grids = json.dumps({"type": "FeatureCollection", "features": prov.grid_features()}, ensure_ascii=False,
                       separators=(",", ":")).encode("utf-8")
    n_grids = grids.count(b'"type":"Feature"')
    roads_fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"road_id": r.road_id, "name": r.name, "road_class": r.road_class},
         "geometry": r.geometry()}
        for r in prov.roads]}
    roads = json.dumps(roads_fc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    place_rows = [",".join([q.place_id, quote(q.name), q.category, f"{q.lon:.6f}", f"{q.lat:.6f}", f"{q.radius_m:.0f}"])
                  for q in prov.places]
    special = [",".join([s.code, quote(s.text), f"{s.lon:.6f}", f"{s.lat:.6f}", s.grid, s.kind]) for s in prov.special]
    for day in dates_list:
        folder = run.inbox / "reference" / f"{day:%Y%m%d}"
        stamp = f"{day:%Y%m%d}"
        run.reference_files[day].append(write_bytes_file(folder / f"grids_{stamp}.geojson", grids, n_grids))
        run.reference_files[day].append(write_bytes_file(folder / f"roads_{stamp}.geojson", roads, len(prov.roads)))
        run.delivery("sensitive_places", day).write("\n".join(place_rows) + "\n", len(place_rows))
        run.delivery("addresses", day).write("\n".join(special) + "\n", len(special))


def _write_truth_manifest(truth: Path, st: Settings, seed: int, persons: int, dates_list: list[dt.date],
                          planted: dict[str, tuple[int, int]], counts: dict) -> None:
    body = {
        "seed": seed,
        "persons": persons,
        "dates": [d.isoformat() for d in dates_list],
        "noise": {k: v for k, v in st.knobs.items() if not k.startswith("oversampling.")},
        "effective_noise": st.noise,
        "oversampling": st.oversampling,
        "base_per_million": st.conf["base_per_million"],
        "planted_per_date": {rule: {"positives": p, "near_misses": n} for rule, (p, n) in planted.items()},
        "flags": counts,
        "files": {"flags": "<YYYYMMDD>/flags.csv", "person_records": "<YYYYMMDD>/person_records.csv"},
    }
    if st.sizes:  # only when overridden, so that a default run's truth stays as it was
        body["sizes"] = st.sizes
    (truth / "manifest.json").write_text(json.dumps(body, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
