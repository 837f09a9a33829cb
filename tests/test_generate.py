"""The synthetic-province generator: contract, determinism, truth. Plain pytest, no Spark."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import hashlib
import io
import json
import unicodedata
from collections import Counter
from pathlib import Path

import pytest

from gridrisk.config import all_schemas
from gridrisk.ids import check_char, normalise_id
from synth.generate import _variants, generate, load_noise_defaults
from synth.generate.config import RULES
from synth.generate.hazmat import DAY_CATALOG
from synth.generate.noise import ID_DAMAGES
from synth.generate.output import Delivery
from synth.generate.vocab import GIVEN_FEMALE, GIVEN_MALE, HOMOPHONES, SURNAMES, TRADITIONAL

PERSONS = 2_000
DAYS = 2
START = "20261101"
SCHEMAS = {s.dataset: s for s in all_schemas()}
PERSON_DATASETS = {  # dataset → column holding the person's ID
    "persons": "公民身份号码", "housing_units": "产权人证件号码", "residence_registrations": "公民身份号码",
    "driving_licences": "证件号码", "transport_workers": "身份证号", "mental_health_registry": "身份证号",
    "drug_registry": "公民身份号码",
}


@pytest.fixture(scope="module")
def province(tmp_path_factory):
    root = tmp_path_factory.mktemp("province")
    summary = generate(root / "inbox", root / "truth", PERSONS, seed=7, days=DAYS, progress=False)
    return root, summary


@pytest.fixture(scope="module")
def clean_province(tmp_path_factory):
    root = tmp_path_factory.mktemp("clean")
    generate(root / "inbox", root / "truth", PERSONS, seed=7, noise={"scale": 0}, progress=False)
    return root


def _files(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _decode(path: Path, encoding: str) -> str:
    data = path.read_bytes()
    if path.name.endswith(".gz"):
        data = gzip.decompress(data)
    if encoding == "utf-8-sig":
        assert data.startswith(b"\xef\xbb\xbf"), f"{path.name}: no BOM"
    return data.decode(encoding)


def _rows(path: Path, encoding: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(_decode(path, encoding), newline="")))


def _dataset_files(inbox: Path, dataset: str, day: str = START) -> list[Path]:
    s = SCHEMAS[dataset]
    return sorted((inbox / s.delivery / day).glob(f"{s.file_prefix}_{day}*"))


def test_same_seed_gives_byte_identical_files(province, tmp_path):
    root, _ = province
    generate(tmp_path / "inbox", tmp_path / "truth", PERSONS, seed=7, days=DAYS, progress=False)
    assert _files(tmp_path) == _files(root)


def test_every_dataset_is_delivered_every_day_with_its_manifest_last(province):
    root, summary = province
    inbox = root / "inbox"
    for dataset in SCHEMAS:
        for day in ("20261101", "20261102"):
            files = _dataset_files(inbox, dataset, day)
            assert files, f"{dataset} {day}: no file"
            manifest = files[0].parent / "manifest.json"
            assert manifest.stat().st_mtime_ns >= max(f.stat().st_mtime_ns for f in files)
    assert set(summary["rows"]) == set(SCHEMAS)


def test_manifests_match_files(province):
    inbox = province[0] / "inbox"
    manifests = sorted(inbox.rglob("manifest.json"))
    assert len(manifests) == (len(SCHEMAS) - 3) * DAYS  # the four reference tables share one
    for m in manifests:
        body = json.loads(m.read_text(encoding="utf-8"))
        assert body["date"] in ("2026-11-01", "2026-11-02")
        on_disk = {p.name for p in m.parent.iterdir()} - {"manifest.json"}
        assert {f["name"] for f in body["files"]} == on_disk
        if body["dataset"] != "reference":
            assert body["kind"] == SCHEMAS[body["dataset"]].kind
        for f in body["files"]:
            path = m.parent / f["name"]
            assert hashlib.sha256(path.read_bytes()).hexdigest() == f["sha256"], path
            if path.suffix == ".geojson":
                rows = len(json.loads(path.read_text(encoding="utf-8"))["features"])
            elif path.suffix == ".jsonl":
                rows = sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
            else:
                dataset = body["dataset"] if body["dataset"] != "reference" else f["name"].rsplit("_", 1)[0]
                rows = len(_rows(path, SCHEMAS[dataset].encoding))
            assert rows == f["rows"], path


def test_files_decode_and_headers_follow_the_schemas(province):
    inbox = province[0] / "inbox"
    for dataset, s in SCHEMAS.items():
        sources = s.source_names
        for path in _dataset_files(inbox, dataset):
            if s.format == "geojson":
                features = json.loads(path.read_text(encoding="utf-8"))["features"]
                for feat in features[:50]:
                    assert set(sources) <= set(feat["properties"]) | {"geometry"}, path
            elif s.format == "jsonl":
                for line in path.read_text(encoding="utf-8").splitlines():
                    assert list(json.loads(line)) == sources
            else:
                text = _decode(path, s.encoding)
                assert text.split("\n", 1)[0].lstrip("\ufeff") == ",".join(sources), path


def test_parts_roll_at_chunk_boundaries(tmp_path):
    d = Delivery(tmp_path, "x_20261101", "csv", header="a", max_rows=3)
    for i in range(4):
        d.write(f"{i}\n{i}\n", 2)
    files = d.close()
    assert [f.name for f in files] == [f"x_20261101_part0{i}.csv" for i in (1, 2, 3, 4)]
    assert [f.rows for f in files] == [2, 2, 2, 2]
    single = Delivery(tmp_path / "one", "y_20261101", "csv", header="a")
    single.write("1\n", 1)
    assert [f.name for f in single.close()] == ["y_20261101.csv"]


def test_clean_ids_in_persons_have_valid_check_characters(province):
    rows = _rows(_dataset_files(province[0] / "inbox", "persons")[0], "gbk")
    ids = [r["公民身份号码"] for r in rows]
    clean = [i for i in ids if len(i) == 18 and i[:17].isdigit() and i[17] in "0123456789X"]
    assert len(clean) > 0.9 * len(ids)
    bad = [i for i in clean if check_char(i[:17]) != i[17]]
    statuses = Counter(normalise_id(i).status for i in bad)
    assert set(statuses) <= {"bad_check", "bad_date", "truncated"}  # typos (also in the date), Excel's 000
    assert len(bad) < 0.02 * len(ids)


def test_person_ids_are_unique_and_match_birth_date_and_sex(clean_province):
    rows = _rows(_dataset_files(clean_province / "inbox", "persons")[0], "gbk")
    ids = [r["公民身份号码"] for r in rows]
    assert len(set(ids)) == len(ids)
    for r in rows:
        i = r["公民身份号码"]
        assert check_char(i[:17]) == i[17]
        assert i[6:14] == r["出生日期"].replace("/", "")
        assert (int(i[16]) % 2 == 1) == (r["性别"] == "男")


def test_noise_rate_zero_gives_no_damaged_ids(clean_province):
    inbox = clean_province / "inbox"
    for dataset, column in PERSON_DATASETS.items():
        for path in _dataset_files(inbox, dataset):
            for r in _rows(path, SCHEMAS[dataset].encoding):
                # A genuine ID may end 000 with a right check (1 in 1,100): it reads as
                # suspect_000, unchanged — not damage, but indistinguishable from it by itself.
                n = normalise_id(r[column])
                assert n.status in ("valid", "suspect_000") and r[column] == n.value, (path, r[column])
    with open(clean_province / "truth" / START / "person_records.csv", encoding="utf-8") as f:
        assert {r["id_damage"] for r in csv.DictReader(f)} == {"none"}


def test_damage_shows_up_at_default_rates(province):
    with open(province[0] / "truth" / START / "person_records.csv", encoding="utf-8") as f:
        damage = Counter(r["id_damage"] for r in csv.DictReader(f))
    assert damage["none"] > 0.9 * sum(damage.values())
    assert set(damage) == set(ID_DAMAGES)


def test_truth_has_every_rule(province):
    for day in ("20261101", "20261102"):
        with open(province[0] / "truth" / day / "flags.csv", encoding="utf-8") as f:
            rules = {r["rule_id"] for r in csv.DictReader(f)}
        assert rules == set(RULES), set(RULES) - rules


def test_near_misses_do_not_fire(province):
    """Rules no other planted case can trigger fire exactly as often as they were planted — but a
    fatigue block planted across midnight fires on the next date: the first date lacks those, the
    second has the first date's in place of its own (on the second date only the rules of the
    day scenarios are counted: rentals, fire units and crews have moved on by a day)."""
    root = province[0]
    planted = json.loads((root / "truth" / "manifest.json").read_text(encoding="utf-8"))["planted_per_date"]
    fatigue = planted["hazmat.fatigue"]
    across = _variants((fatigue["positives"], fatigue["near_misses"]), DAY_CATALOG["hazmat.fatigue"]).count("midnight_over")
    assert across >= 1
    for day in ("20261101", "20261102"):
        with open(root / "truth" / day / "flags.csv", encoding="utf-8") as f:
            counts = Counter(r["rule_id"] for r in csv.DictReader(f))
        for rule in RULES:
            if (rule in DAY_CATALOG or day == START and rule.startswith(("rental.", "fire.", "hazmat."))
                    and rule != "hazmat.crew_at_risk"):
                expected = planted[rule]["positives"] - (across if rule == "hazmat.fatigue" and day == START else 0)
                assert counts[rule] == expected, (day, rule)


def _driving_blocks(inbox: Path, rest_s: int) -> dict[str, list[tuple[dt.datetime, dt.datetime]]]:
    """Per plate, the first and last moving report of every block of driving between rests (a
    stop of ≥ ``rest_s``, first to last zero-speed report) over both delivered days."""
    reports: dict[str, dict[dt.datetime, float]] = {}
    for day in ("20261101", "20261102"):
        for path in _dataset_files(inbox, "gps_points", day):
            for r in _rows(path, "utf-8"):
                try:
                    ts = dt.datetime.strptime(r["定位时间"], "%y%m%d%H%M%S")
                    reports.setdefault(r["车牌号"], {})[ts] = float(r["速度"])
                except ValueError:  # a damaged row (noise)
                    continue
    blocks: dict[str, list[tuple[dt.datetime, dt.datetime]]] = {}
    for plate, by_ts in reports.items():
        points = sorted(by_ts.items())
        first = last = stop = None
        for ts, speed in points + [(dt.datetime.max, -1.0)]:  # a sentinel closes the last block
            if speed > 0:
                if stop is not None and first is not None and (stop[1] - stop[0]).total_seconds() >= rest_s:
                    blocks.setdefault(plate, []).append((first, last))
                    first = None
                stop = None
                first, last = first or ts, ts
            elif speed == 0:
                stop = (stop[0], ts) if stop else (ts, ts)
            elif first is not None:
                blocks.setdefault(plate, []).append((first, last))
    return blocks


def test_a_fatigue_block_across_midnight_fires_on_the_next_date_only(province):
    """The midnight fatigue cases drive one block across midnight, half of it each side: the
    positive (the limit + 1 min) fires on the second date only — the first date's run sees half
    of it — and the near miss (the limit − 1 min) on neither."""
    from synth.generate.thresholds import params

    root = province[0]
    th = params("hazmat.fatigue")
    limit = dt.timedelta(hours=float(th["continuous_more_than_h"]))
    midnight = dt.datetime(2026, 11, 2)
    flagged = {}
    for day in ("20261101", "20261102"):
        with open(root / "truth" / day / "flags.csv", encoding="utf-8") as f:
            flagged[day] = {r["subject_key"] for r in csv.DictReader(f) if r["rule_id"] == "hazmat.fatigue"}
    across = {plate: last - first for plate, bs in _driving_blocks(root / "inbox", int(th["rest_stop_at_least_s"])).items()
              for first, last in bs if first < midnight <= last}
    over = {p for p, span in across.items() if limit < span <= limit + dt.timedelta(minutes=1)}
    under = {p for p, span in across.items() if limit - dt.timedelta(minutes=1) - dt.timedelta(seconds=10) <= span < limit}
    assert over and under, across
    assert over <= flagged["20261102"] and not over & flagged["20261101"]
    assert not under & (flagged["20261101"] | flagged["20261102"])
    assert all(span < limit - dt.timedelta(minutes=30) for p, span in across.items() if p not in over | under)


def test_truth_person_records_point_at_rows_in_the_files(province):
    inbox, truth = province[0] / "inbox", province[0] / "truth"
    keys: dict[str, set[str]] = {}
    for dataset in PERSON_DATASETS:
        s = SCHEMAS[dataset]
        source = s.column(s.business_key[0]).source
        keys[dataset] = {r[source] for p in _dataset_files(inbox, dataset) for r in _rows(p, s.encoding)}
    keys["waybills"] = {json.loads(line)["waybillNo"] for p in _dataset_files(inbox, "waybills")
                        for line in p.read_text(encoding="utf-8").splitlines()}
    with open(truth / START / "person_records.csv", encoding="utf-8") as f:
        records = list(csv.DictReader(f))
    assert {r["dataset"] for r in records} == set(keys)
    for r in records:
        assert r["record_key"] in keys[r["dataset"]], r
        assert check_char(r["true_id_no"][:17]) == r["true_id_no"][17]


def test_flag_subjects_exist(province):
    inbox, truth = province[0] / "inbox", province[0] / "truth"
    units = {r["标准地址编码"] for r in _rows(_dataset_files(inbox, "housing_units")[0], "utf-8")}
    plates = {r["车牌号"] for r in _rows(_dataset_files(inbox, "hazmat_vehicles")[0], "utf-8")}
    fire_units = {r["单位编号"] for r in _rows(_dataset_files(inbox, "fire_units")[0], "utf-8")}
    with open(truth / START / "flags.csv", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            key = r["subject_key"]
            if r["subject_type"] == "address":
                assert key in units
            elif r["subject_type"] == "building":
                assert len(key) == 16 and any(u.startswith(key) for u in units)
            elif r["subject_type"] == "person":
                assert len(key) == 18 and check_char(key[:17]) == key[17]
            elif r["subject_type"] == "vehicle":
                assert key in plates
            elif r["subject_type"] == "device":
                assert key.split("/")[0] in fire_units
            else:
                assert r["subject_type"] == "unit" and key in fire_units


def test_grids_tile_communities_and_addresses_fall_in_their_grid(province):
    from shapely.geometry import Point, shape
    from shapely.ops import unary_union

    ref = province[0] / "inbox" / "reference" / START
    features = json.loads(next(ref.glob("grids_*")).read_text(encoding="utf-8"))["features"]
    grids = {f["properties"]["grid_code"]: f for f in features if f["properties"]["level"] == "grid"}
    communities = {f["properties"]["grid_code"][:12]: shape(f["geometry"]) for f in features
                   if f["properties"]["level"] == "community"}
    by_comm: dict[str, list] = {}
    for code, f in grids.items():
        assert len(code) == 15 and code.isdigit()
        by_comm.setdefault(f["properties"]["parent_code"][:12], []).append(shape(f["geometry"]))
    for comm, polys in list(by_comm.items())[:300]:
        area = sum(p.area for p in polys)
        assert abs(unary_union(polys).area - area) < 1e-12  # no overlaps
        assert abs(area - communities[comm].area) < 1e-12  # no gaps
    rows = _rows(next(ref.glob("addresses_*")), "utf-8")
    for r in rows[:3000]:
        assert len(r["标准地址编码"]) == 20 and r["标准地址编码"][:12] == r["网格编码"][:12]
        assert shape(grids[r["网格编码"]]["geometry"]).contains(Point(float(r["经度"]), float(r["纬度"])))
        assert 116.3 <= float(r["经度"]) <= 121.9 and 30.7 <= float(r["纬度"]) <= 35.2


def test_events_belong_to_their_day(province):
    """GPS reports of the day, or of the day before's last hour (delivered up to an hour late);
    waybills planned to depart on the day — on the first date also the day before's still open in
    its last hour (trips running past midnight into the first date)."""
    inbox = province[0] / "inbox"
    late = Counter()
    for day, iso, before in (("20261101", "2026-11-01", "2026-10-31"), ("20261102", "2026-11-02", "2026-11-01")):
        for r in _rows(_dataset_files(inbox, "gps_points", day)[0], "utf-8"):
            stamp = r["定位时间"]
            if not stamp.startswith(day[2:]):
                assert stamp[:6] == before.replace("-", "")[2:] and stamp[6:8] == "23", stamp
                late[day] += 1
        for line in _dataset_files(inbox, "waybills", day)[0].read_text(encoding="utf-8").splitlines():
            w = json.loads(line)
            assert w["planDepartTime"].startswith(iso) or (
                day == "20261101" and w["planDepartTime"].startswith(before) and w["planArriveTime"] >= f"{before}T23"), w
        for r in _rows(_dataset_files(inbox, "fire_events", day)[0], "utf-8"):
            assert r["发生时间"] < f"{iso} 99" and (not r["恢复时间"] or r["恢复时间"] >= iso)
    assert late["20261102"] > 0  # some of the first day's last hour reached the platform after midnight


def test_multi_day_snapshots_evolve(province):
    inbox = province[0] / "inbox"
    first = _dataset_files(inbox, "persons", "20261101")[0].read_bytes()
    second = _dataset_files(inbox, "persons", "20261102")[0].read_bytes()
    assert first != second


def test_noise_knobs_and_vocabulary():
    knobs = load_noise_defaults()
    assert {"scale", "id_typo", "duplicate_rows", "oversampling.driver.mental"} <= set(knobs)
    assert all(f"oversampling.{r}" in knobs for r in RULES)
    with pytest.raises(ValueError, match="unknown noise key"):
        generate(Path("/nonexistent"), Path("/nonexistent"), PERSONS, noise={"no_such_knob": 1}, progress=False)
    text = "".join(s for s, _ in SURNAMES) + GIVEN_MALE + GIVEN_FEMALE + "".join(TRADITIONAL.values())
    text += "".join(HOMOPHONES.values())
    text.encode("gbk")  # four departments write GBK
    assert unicodedata.normalize("NFKC", "３２０") == "320"


def _conf_copy(tmp_path: Path, edit: dict[str, tuple[str, str]]) -> Path:
    """A copy of conf/ and schemas/ as a GRIDRISK_HOME, with text replaced: file → (old, new)."""
    import shutil

    from gridrisk.config import repo_root

    home = tmp_path / "home"
    for folder in ("conf", "schemas"):
        shutil.copytree(repo_root() / folder, home / folder)
    for name, (old, new) in edit.items():
        path = home / "conf" / "rules" / name
        text = path.read_text(encoding="utf-8")
        assert text.count(old) == 1, (name, old)
        path.write_text(text.replace(old, new), encoding="utf-8")
    return home


def test_truth_and_planted_boundaries_follow_thresholds_changed_in_conf_rules(province, tmp_path, monkeypatch):
    """No threshold is copied into the generator: change one in YAML and the truth and the
    boundary cases move with it (a declared rule and a pending fire threshold)."""
    home = _conf_copy(tmp_path, {
        "persons.yaml": ("mental_min_risk_level: 3", "mental_min_risk_level: 4"),
        "fire.yaml": ("params: {more_than_days: 365}", "params: {more_than_days: 400}"),
    })
    monkeypatch.setenv("GRIDRISK_HOME", str(home))
    generate(tmp_path / "inbox", tmp_path / "truth", PERSONS, seed=7, progress=False)
    planted = json.loads((tmp_path / "truth" / "manifest.json").read_text(encoding="utf-8"))["planted_per_date"]
    with open(tmp_path / "truth" / START / "flags.csv", encoding="utf-8") as f:
        flags = list(csv.DictReader(f))
    mental = [r for r in flags if r["rule_id"] == "driver.mental"]
    assert mental and all("risk ≥ 4" in r["detail"] for r in mental)
    # risk3 now plants risk 4 (a positive) and risk2 plants 3 (a near miss): the same cases fire
    # as with the default threshold, where the risk-3 patients fire and the risk-2 ones do not.
    with open(province[0] / "truth" / START / "flags.csv", encoding="utf-8") as f:
        default = [r for r in csv.DictReader(f) if r["rule_id"] == "driver.mental"]
    assert all("risk ≥ 3" in r["detail"] for r in default)
    assert len(mental) == len(default) >= planted["driver.mental"]["positives"]
    # Inspections: positives more than 400 days ago, near misses exactly 400, none of 366–399 flagged.
    units = {r["单位编号"]: r["最近年度检测日期"] for r in _rows(_dataset_files(tmp_path / "inbox", "fire_units")[0], "utf-8")}
    day = dt.date(2026, 11, 1)
    ages = {u: (day - dt.date.fromisoformat(d)).days for u, d in units.items()}
    overdue = {r["subject_key"] for r in flags if r["rule_id"] == "fire.inspection_overdue"}
    assert len(overdue) == planted["fire.inspection_overdue"]["positives"]
    assert overdue == {u for u, a in ages.items() if a > 400}
    assert sum(a == 400 for a in ages.values()) == planted["fire.inspection_overdue"]["near_misses"]


def test_bad_fire_and_hazmat_params_are_reported_all_at_once(tmp_path, monkeypatch):
    """The truth reads the rules' own params: a bad one stops it with every problem listed."""
    from gridrisk.config import ConfigError
    from synth.generate import thresholds

    home = _conf_copy(tmp_path, {
        "hazmat.yaml": ("params: {stop_longer_than_s: 600, within_m: 200}", "params: {stop_longer_than_s: 600, within_metres: 200}"),
        "fire.yaml": ("params: {at_least: 3, within_h: 24}", "params: {at_least: three, within_h: 24}"),
    })
    monkeypatch.setenv("GRIDRISK_HOME", str(home))
    with pytest.raises(ConfigError) as err:
        thresholds.params("fire.false_alarms")
    problems = err.value.problems
    assert "hazmat.yaml rules[6] (hazmat.sensitive_stop): parameter within_m is missing" in problems
    assert "hazmat.yaml rules[6] (hazmat.sensitive_stop): unknown parameter within_metres for kind hazmat_sensitive_stop" in problems
    assert "fire.yaml rules[4] (fire.false_alarms): parameter at_least must be int, got 'three'" in problems


def test_the_truth_needs_its_rules_declared(tmp_path, monkeypatch):
    from synth.generate import thresholds

    home = _conf_copy(tmp_path, {"persons.yaml": ("  - id: driver.mental\n    version: 1\n",
                                                  "  - id: driver.mental\n    version: 1\n    enabled: false\n")})
    monkeypatch.setenv("GRIDRISK_HOME", str(home))
    with pytest.raises(KeyError, match="driver.mental"):
        thresholds.params("driver.mental")


def test_sizes_can_be_overridden_and_are_recorded_in_the_truth(province, tmp_path):
    from synth.generate.config import settings

    with pytest.raises(ValueError) as err:
        settings(sizes={"no_such_size": 1, "hazmat_vehicles_per_million": -5})
    assert "unknown size 'no_such_size'" in str(err.value)
    assert "size 'hazmat_vehicles_per_million' must be a positive number, got -5" in str(err.value)

    summary = generate(tmp_path / "inbox", tmp_path / "truth", PERSONS, seed=7, progress=False,
                       sizes={"hazmat_vehicles_per_million": 50_000})  # 100 vehicles at 2,000 persons
    vehicles = [r for r in _rows(_dataset_files(tmp_path / "inbox", "hazmat_vehicles")[0], "utf-8") if r["车辆类型"] != "挂车"]
    assert len(vehicles) == 100
    default = province[1]["rows"]["hazmat_vehicles"]["2026-11-01"]
    assert summary["rows"]["hazmat_vehicles"]["2026-11-01"] > default
    assert summary["rows"]["gps_points"]["2026-11-01"] > province[1]["rows"]["gps_points"]["2026-11-01"]
    manifest = json.loads((tmp_path / "truth" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["sizes"] == {"hazmat_vehicles_per_million": 50_000}
    assert "sizes" not in json.loads((province[0] / "truth" / "manifest.json").read_text(encoding="utf-8"))
