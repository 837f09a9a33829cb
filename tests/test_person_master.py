"""Entity resolution: ID repairs, name normalisation, a hand-made linkage with its clusters
written out, explain, and person keys that stay the same across runs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from gridrisk import ids, privacy
from gridrisk.config import ConfigError
from gridrisk.privacy import keyed_hash
from jobs.silver import person_master as pm
from jobs.silver.person_standardise import (
    name_pinyin,
    normalise_name,
    normalise_names,
    normalise_phone,
    pinyin_of_normalised,
    split_surname,
)

DS = "2026-11-01"
SECRET = "test-secret-not-for-production"

# --- ID repairs (gridrisk.ids underneath) -----------------------------------------------------

ID1 = "320115199001011234"  # 曾国藩, male
ID2 = "320115198505050355"  # 张伟, male
ID3 = "320506198505060372"  # another 张伟, male, another district
ID4 = "320116196003030183"  # 区秀英, female
# 欧阳修: his licence shows his ID cut by Excel to …000, and the check character happens to be right
ID5 = ids.make_id("320115", dt.date(1990, 1, 2), 401)  # ends in a digit, as Excel needs
CUT5 = ID5[:15] + "000"
# 司马光: a genuine ID that ends 000 (the check character is 0)
ID6 = "320115199001032000"


def test_the_hand_made_ids_are_what_they_claim():
    assert ids.read_id(CUT5).status == ids.read_id(ID6).status == "suspect_000"
    assert ids.read_id(ID5).status == "valid" and CUT5 != ID5
    assert ids.read_id("320115199001011534").status == "bad_check"


# --- names and phones ---------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "pinyin"), [
    ("曾国藩", "zeng guofan"), ("单田芳", "shan tianfang"), ("仇英", "qiu ying"), ("朴树", "piao shu"),
    ("解缙", "xie jin"), ("区永", "ou yong"), ("查良镛", "zha liangyong"),
])
def test_polyphonic_surnames_read_as_surnames(name, pinyin):
    assert name_pinyin(name) == pinyin


def test_compound_surnames_split_as_one():
    assert split_surname("欧阳修") == ("欧阳", "修") and name_pinyin("诸葛亮") == "zhuge liang"
    assert split_surname("欧阳") == ("欧", "阳")  # two characters: a surname and a given name


def test_traditional_names_become_simplified_and_lose_spaces_and_dots():
    assert normalise_name("張 偉") == "张伟"
    assert normalise_name("陳國強") == "陈国强"
    assert normalise_name("阿卜杜·热合曼") == "阿卜杜热合曼"
    assert normalise_name("ＬＩ　ＭＩＮＧ") == "LIMING"  # NFKC: full-width letters and space
    assert normalise_name("  ") is None and normalise_name(None) is None


def test_homophone_typos_share_the_pinyin_key():
    assert name_pinyin("张明") == name_pinyin("张铭") == "zhang ming"
    assert name_pinyin("張偉") == name_pinyin("张伟")


def test_names_normalised_together_are_what_each_gives_alone():
    # one OpenCC call for a batch (the Arrow UDF's): no phrase may run across two names
    raw = ["張 偉", None, "  ", "陳國強", "阿卜杜·热合曼", "ＬＩ　ＭＩＮＧ", "長", "孫中山", "中山", "欧阳 修", "發", "髮型",
           "曾國藩", "长孙无忌", "国", "藩"]
    together = normalise_names(raw)
    assert together == [normalise_name(v) for v in raw]
    assert together[:4] == ["张伟", None, None, "陈国强"]
    assert [pinyin_of_normalised(n) for n in together] == [name_pinyin(v) for v in raw]
    assert normalise_names([]) == [] and normalise_names([None, " "]) == [None, None]


@pytest.mark.parametrize(("raw", "phone"), [
    ("+86 138 1234 5678", "13812345678"), ("138-1234-5678", "13812345678"), ("0086 13812345678", "13812345678"),
    ("13812345678", "13812345678"), ("025-8888-1234", None), ("1234", None), (None, None),
])
def test_phones_become_11_digit_mobiles(raw, phone):
    assert normalise_phone(raw) == phone


def test_keyed_hashes_depend_on_the_domain_and_the_secret():
    assert keyed_hash("13812345678", b"k", "phone") != keyed_hash("13812345678", b"k", "record")
    assert keyed_hash("13812345678", b"k", "phone") != keyed_hash("13812345678", b"j", "phone")


# --- configuration ------------------------------------------------------------------------------

def test_the_shipped_linkage_config_is_valid_and_never_blocks_on_a_surname_alone():
    conf = pm.load_linkage_config()
    assert all(rule != ("surname_pinyin",) for rule in conf.blocking_rules)
    assert {"persons", "waybills", "housing_units", "drug_registry"} <= set(conf.datasets)


def test_a_bad_linkage_config_lists_every_problem(tmp_path: Path):
    bad = tmp_path / "linkage.yaml"
    bad.write_text(
        "sources: [{dataset: persons, role: \"'r'\"}]\n"
        "suspect_ids: {statuses: [valid, nosuch], register: nobody, agree: [shoe_size]}\n"
        "blocking_rules: [[surname_pinyin], [nosuch]]\n"
        "comparisons: [{name: x, levels: [{label: a, sql: 'a_l = a_r', m: 2, u: 0.1}]}]\n"
        "thresholds: {match_weight: 3}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        pm.load_linkage_config(bad)
    text = str(err.value)
    for expected in ("missing record_key, id", "surname_pinyin alone is too common", "unknown columns nosuch",
                     "m must be a probability", "last level must be else", "thresholds.ambiguity_margin",
                     "suspect_ids.statuses: ID statuses", "both exact and suspect", "'nobody' is not a dataset",
                     "suspect_ids.agree"):
        assert expected in text


# --- a hand-made linkage -----------------------------------------------------------------------

def _bronze(spark, profile):
    """Write tiny bronze tables (canonical columns + provenance) for one date."""
    from pyspark.sql import types as T

    from gridrisk import lake

    day = dt.date.fromisoformat(DS)
    prov = [T.StructField("_source_file", T.StringType()), T.StructField("_row_number", T.LongType()),
            T.StructField("ds", T.DateType())]

    def write(dataset, fields, rows):
        schema = T.StructType([T.StructField(f, T.DateType() if f.endswith("_date") else T.StringType())
                               for f in fields] + prov)
        data = [(*r, f"{dataset}.csv", i + 1, day) for i, r in enumerate(rows)]
        lake.replace_partition(spark.createDataFrame(data, schema), profile.table_path("bronze", dataset), {"ds": DS})

    addr1, addr2 = "32011510100100010101", "32011510100100020202"
    write("persons", ["id_no", "name", "sex", "birth_date", "phone", "address_code"], [
        (ID1, "曾国藩", "男", dt.date(1990, 1, 1), "+86 138 0000 0001", addr1),
        (ID2, "张伟", "男", dt.date(1985, 5, 5), "139-0000-0002", addr2),
        (ID3, "张伟", "男", dt.date(1985, 5, 6), None, None),
        ("320116600303018", "区秀英", "女", dt.date(1960, 3, 3), None, None),  # legacy 15 digits
        (ID5, "欧阳修", "男", dt.date(1990, 1, 2), None, None),
        (ID6, "司马光", "女", dt.date(1990, 1, 3), None, None),  # genuine …000: the register confirms it
    ])
    write("driving_licences", ["file_no", "id_no", "name"], [
        ("L1", "320115199001011534", "曾国藩"),  # typo → probabilistic, 曾国藩
        ("L2", ID2.lower(), "張偉"),  # valid, traditional name → exact
        ("L3", None, "张伟"),  # no ID, and two 张伟 in the register → unlinked (ambiguous)
        ("L4", ID3[:15] + "000", "张伟"),  # Excel 000 → probabilistic, the second 张伟
        ("L4", ID3[:15] + "000", "张伟"),  # a verbatim repeat counts once
        ("L5", CUT5, "欧阳修"),  # Excel 000 with a right check: no such person → probabilistic, 欧阳修
        ("L6", ID6, "司马光"),  # the same …000 ID in the register, same name and birth date → exact
    ])
    write("residence_registrations", ["registration_no", "id_no", "name", "address_code"], [
        ("R1", None, "曾國藩", addr1),  # no ID: same name (traditional) at the same address
    ])
    write("waybills", ["waybill_no", "driver_id_no", "escort_id_no"], [
        ("W1", "３２０１１６１９６００３０３０１８３", "320115198505050855"),  # full-width; escort typo
    ])
    write("housing_units", ["address_code", "use_type", "landlord_id_no"], [
        ("32011510100100030303", "出租", None),  # a landlord without an ID: unlinked
    ])


def _profile(root: Path):
    from gridrisk.config import load_profile

    return load_profile("local", env={}, workdir=str(root))


def _link_once(spark, root: Path):
    from gridrisk import lake

    profile = _profile(root)
    _bronze(spark, profile)
    result = pm.run(spark, profile, DS)
    rows = lake.read_partition(spark, profile, "silver", pm.RECORDS_TABLE, DS).collect()
    master = lake.read_partition(spark, profile, "silver", pm.MASTER_TABLE, DS).collect()
    return profile, result, {(r.dataset, r.record_key, r.role): r for r in rows}, master


@pytest.fixture(scope="module")
def secret():
    mp = pytest.MonkeyPatch()
    mp.setenv(privacy.KEY_ENV, SECRET)
    yield SECRET
    mp.undo()


@pytest.fixture(scope="module")
def linked(spark, tmp_path_factory, secret):
    """The hand-made set, linked once into a fresh lake."""
    return _link_once(spark, tmp_path_factory.mktemp("first"))


def pkey(id18: str) -> str:
    return privacy.person_key(id18, SECRET.encode())


def rec(dataset, key, role, method):
    if dataset == "persons":
        key = keyed_hash(key, SECRET.encode(), "record")
    return (dataset, key, role), method


def test_hand_made_records_fall_into_the_expected_clusters(linked):
    _, result, rows, _ = linked
    expected = {
        pkey(ID1): [rec("persons", ID1, "resident", "exact"), rec("driving_licences", "L1", "holder", "probabilistic"),
                    rec("residence_registrations", "R1", "occupant", "probabilistic")],
        pkey(ID2): [rec("persons", ID2, "resident", "exact"), rec("driving_licences", "L2", "holder", "exact"),
                    rec("waybills", "W1", "escort", "probabilistic")],
        pkey(ID3): [rec("persons", ID3, "resident", "exact"), rec("driving_licences", "L4", "holder", "probabilistic")],
        pkey(ID4): [rec("persons", "320116600303018", "resident", "exact"), rec("waybills", "W1", "driver", "exact")],
        pkey(ID5): [rec("persons", ID5, "resident", "exact"), rec("driving_licences", "L5", "holder", "probabilistic")],
        # the register row of a suspect ID is never its own confirmation: it joins the anchor its
        # confirmed licence forms
        pkey(ID6): [rec("persons", ID6, "resident", "probabilistic"), rec("driving_licences", "L6", "holder", "exact")],
    }
    for person, members in expected.items():
        for key, method in members:
            assert (rows[key].person_key, rows[key].link_method) == (person, method), key
    unlinked = {k for k, r in rows.items() if r.link_method == "unlinked"}
    assert unlinked == {("driving_licences", "L3", "holder"), ("housing_units", "32011510100100030303", "landlord")}
    assert len({rows[k].person_key for k in unlinked}) == 2 and all(rows[k].person_key.startswith("u") for k in unlinked)
    assert len(rows) == 16  # the repeated licence row counts once
    assert result["link_method"] == {"exact": 8, "probabilistic": 6, "unlinked": 2}
    assert result["suspect_ids_confirmed"] == 1


def test_an_excel_000_with_a_right_check_never_links_exactly_to_a_person_who_does_not_exist(linked):
    _, _, rows, master = linked
    cut = rows[("driving_licences", "L5", "holder")]
    assert (cut.link_method, cut.id_status) == ("probabilistic", "suspect_000")
    assert cut.person_key == pkey(ID5) != pkey(CUT5)
    assert pkey(CUT5) not in {m.person_key for m in master}
    assert cut.match_weight >= pm.load_linkage_config().match_weight


def test_silver_carries_no_raw_id_or_name(linked):
    _, _, rows, master = linked
    text = " ".join(str(v) for r in rows.values() for v in r.asDict().values())
    text += " ".join(str(v) for r in master for v in r.asDict().values())
    for raw in (ID1, ID2, ID3, ID4, "320116600303018", "曾国藩", "张伟", "区秀英", "13800000001"):
        assert raw not in text
    assert rows[("driving_licences", "L1", "holder")].name_masked == "曾*藩"


def test_person_master_counts_records_per_dataset(linked):
    _, _, _, master = linked
    by_key = {m.person_key: m for m in master}
    zeng = by_key[pkey(ID1)]
    assert (zeng.name_masked, zeng.birth_date, zeng.sex, zeng.records) == ("曾*藩", dt.date(1990, 1, 1), "M", 3)
    assert (zeng.n_persons, zeng.n_driving_licences, zeng.n_residence_registrations, zeng.n_waybills) == (1, 1, 1, 0)
    assert len(master) == 8  # six people and two unlinked records


def test_exact_keys_are_the_keyed_hash_of_the_id_alone(linked):
    _, _, rows, _ = linked
    assert rows[("waybills", "W1", "driver")].person_key == pkey(ID4) == privacy.person_key(ID4, SECRET.encode())


@pytest.mark.slow
def test_person_keys_are_the_same_in_two_independent_runs(spark, linked, tmp_path_factory, secret):
    _, _, first, _ = linked
    _, _, second, _ = _link_once(spark, tmp_path_factory.mktemp("second"))
    assert {k: r.person_key for k, r in first.items()} == {k: r.person_key for k, r in second.items()}
    assert {k: r.link_method for k, r in first.items()} == {k: r.link_method for k, r in second.items()}


def test_explain_gives_the_comparisons_or_the_exact_reason(spark, linked, secret):
    profile = linked[0]
    exact = pm.explain(spark, profile, DS, "driving_licences", "L2")
    assert "exact: valid ID" in exact
    prob = pm.explain(spark, profile, DS, "driving_licences", "L1")
    assert "probabilistic: ID bad_check" in prob
    assert "one character differs (typo)" in prob and "same name" in prob and "match weight" in prob
    assert "how common this name is" in prob and "prior" in prob
    ambiguous = pm.explain(spark, profile, DS, "driving_licences", "L3")
    assert "unlinked" in ambiguous
    assert "exact: ID repaired_15" in pm.explain(spark, profile, DS, "persons", "320116600303018")
    assert "no such record" in pm.explain(spark, profile, DS, "driving_licences", "nope")
    confirmed = pm.explain(spark, profile, DS, "driving_licences", "L6")
    assert "exact: ID suspect_000, confirmed by persons (same ID, name pinyin and birth date)" in confirmed


def test_term_frequencies_for_the_names_to_link_are_those_over_everyone(spark):
    # anchors 王伟 ×3, 欧阳修, 李娜; records to link 王伟, 欧阳修, 赵六 (no anchor) and one without a name
    anchors = spark.createDataFrame([("王伟",), ("王伟",), ("王伟",), ("欧阳修",), ("李娜",), (None,)], "name_norm string")
    cands = spark.createDataFrame([("王伟",), ("欧阳修",), ("赵六",), (None,)], "name_norm string")
    every = {r.name_norm: r.tf_name_norm for r in pm.term_frequencies([anchors, cands], "name_norm").collect()}
    only = {r.name_norm: r.tf_name_norm
            for r in pm.term_frequencies([anchors, cands], "name_norm", only=cands).collect()}
    assert every == {"王伟": 4 / 8, "欧阳修": 2 / 8, "李娜": 1 / 8, "赵六": 1 / 8}
    assert only == {k: v for k, v in every.items() if k != "李娜"}


def test_person_master_takes_the_same_attributes_whatever_the_order_of_the_records(spark, linked):
    """Two records of one source that disagree (a person in the register twice): the master row
    does not depend on which arrives first — a re-run or another partitioning gives the same."""
    from pyspark.sql import functions as F

    from gridrisk import lake

    profile, _, _, _ = linked
    records = lake.read_partition(spark, profile, "silver", pm.RECORDS_TABLE, DS)
    key = pkey(ID1)
    twin = records.where((F.col("person_key") == key) & (F.col("dataset") == "persons"))
    # the same person's register record again, under another record key, with another birth date
    other = twin.withColumn("record_key", F.lit("0" * 8)).withColumn("birth_date", F.lit(dt.date(1990, 1, 2)))
    more = records.unionByName(other)
    conf = pm.load_linkage_config()
    one = {r.person_key: r for r in pm.person_master(more.orderBy("record_key"), conf, DS).collect()}
    two = {r.person_key: r for r in pm.person_master(more.orderBy(F.col("record_key").desc()).repartition(3), conf, DS).collect()}
    assert one == two
    assert one[key].birth_date == dt.date(1990, 1, 2)  # the smaller record key of the register's two
