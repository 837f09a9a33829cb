"""silver ``person_records`` (every person-bearing record, linked to a person key) and silver
``person_master`` (one row per person).

    gridrisk run --date 2026-11-01 --stages link
    gridrisk link --date 2026-11-01 --explain driving_licences:DL0001234

How a record gets its person key (docs/linkage.md):

* **exact** — its ID is valid or a repaired legacy 15-digit one: ``person_key`` is the keyed
  hash (HMAC) of the normalised ID (:func:`gridrisk.privacy.person_key`). It depends only on the
  ID and the secret, so it is the same in every run, on every date, in every job. An ID ending
  ``000`` whose check character is right (``suspect_000``: an Excel truncation 1 time in 11)
  links exactly only when the persons register holds that ID with the same name and birth
  date; otherwise it is linked probabilistically.
* **probabilistic** — the ID is unusable (typo, Excel truncation, missing): Splink (Spark
  backend, settings from ``conf/linkage.yaml``) compares the record with the **anchors** — one
  identity per exact person key, with the persons register's name, birth date, sex, phone and
  address where the register has that person — and the record takes the best anchor's key when
  its match weight reaches the threshold and no other anchor comes close.
* **unlinked** — neither: the record gets its own key, ``u`` + a keyed hash of
  (dataset, record key, role), stable too, and never equal to a person key.

Raw IDs and names never leave bronze: silver carries person keys, masked names, pinyin keys,
birth dates, sex, a keyed hash of the phone and the address code. The persons register's
business key *is* the ID, so its ``record_key`` here is a keyed hash of the ID as written.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gridrisk import lake
from gridrisk.config import ConfigError, Profile, conf_dir, read_yaml
from gridrisk.privacy import pseudonym_key

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

RECORDS_TABLE = "person_records"
MASTER_TABLE = "person_master"
LINK_METHODS = ("exact", "probabilistic", "unlinked")
# The comparison columns, on both sides of a Splink pair.
LINK_COLUMNS = ("name_norm", "name_pinyin", "surname_pinyin", "birth_date", "sex", "phone", "address_code",
                "id_digits", "id15", "id14", "id_tail12", "id_area_seq", "id_area")
# Never a blocking rule on its own, whatever the conf says: a surname is shared by millions.
ALWAYS_TOO_COMMON = ("surname_pinyin", "sex", "birth_date", "id_area")
# What a register row and a record with the same suspect ID may be asked to agree on.
CONFIRM_COLUMNS = ("name_norm", "name_pinyin", "birth_date", "sex", "phone")
SOURCE_FIELDS = ("role", "record_key", "id", "name", "birth_date", "sex", "phone", "address_code")


# --- configuration --------------------------------------------------------------------------

@dataclass(frozen=True)
class Source:
    """One role of one bronze dataset; each field is a Spark SQL expression (None = absent)."""

    dataset: str
    role: str
    record_key: str
    id: str
    name: str | None = None
    birth_date: str | None = None
    sex: str | None = None
    phone: str | None = None
    address_code: str | None = None
    record_key_is_id: bool = False
    anchor_priority: int = 99


@dataclass(frozen=True)
class SuspectRule:
    """IDs that may not be what they seem (``suspect_000``): exact only when the register agrees."""

    statuses: tuple[str, ...]
    register: str  # the dataset that confirms (the persons register)
    agree: tuple[str, ...]  # standardised columns that must be equal and present on both sides


@dataclass(frozen=True)
class LinkageConfig:
    sources: tuple[Source, ...]
    exact_statuses: tuple[str, ...]
    blocking_rules: tuple[tuple[str, ...], ...]
    comparisons: tuple[dict[str, Any], ...]
    prior: float | None  # None = 1 / number of anchors
    match_weight: float
    ambiguity_margin: float
    too_common: tuple[str, ...] = field(default=())
    suspect: "SuspectRule | None" = None

    @property
    def datasets(self) -> list[str]:
        return sorted({s.dataset for s in self.sources})


def load_linkage_config(path: Path | None = None) -> LinkageConfig:
    """Read and validate ``conf/linkage.yaml``; every problem is reported at once."""
    path = path or conf_dir() / "linkage.yaml"
    raw = read_yaml(path) or {}
    problems: list[str] = []
    sources = []
    for i, s in enumerate(raw.get("sources") or []):
        missing = [k for k in ("dataset", "role", "record_key", "id") if not s.get(k)]
        unknown = sorted(set(s) - set(Source.__dataclass_fields__))
        if missing:
            problems.append(f"sources[{i}]: missing {', '.join(missing)}")
        if unknown:
            problems.append(f"sources[{i}]: unknown keys {', '.join(unknown)}")
        if not missing and not unknown:
            sources.append(Source(**s))
    if not sources:
        problems.append("sources: at least one source is needed")
    too_common = tuple(sorted(set(ALWAYS_TOO_COMMON) | set(raw.get("too_common_to_block_alone") or ())))
    rules = []
    for i, rule in enumerate(raw.get("blocking_rules") or []):
        cols = tuple(rule) if isinstance(rule, list) else (rule,)
        bad = [c for c in cols if c not in LINK_COLUMNS]
        if bad:
            problems.append(f"blocking_rules[{i}]: unknown columns {', '.join(bad)} (known: {', '.join(LINK_COLUMNS)})")
        if len(cols) == 1 and cols[0] in too_common:
            problems.append(f"blocking_rules[{i}]: {cols[0]} alone is too common to block on (it would compare "
                            "everyone who shares it)")
        rules.append(cols)
    if not rules:
        problems.append("blocking_rules: at least one rule is needed")
    comparisons = tuple(raw.get("comparisons") or ())
    for i, comp in enumerate(comparisons):
        levels = comp.get("levels") or []
        if not comp.get("name") or not levels:
            problems.append(f"comparisons[{i}]: needs a name and levels")
        for j, level in enumerate(levels):
            where = f"comparisons[{i}] ({comp.get('name')}) level {j}"
            if not level.get("else") and not level.get("sql"):
                problems.append(f"{where}: needs sql (or else: true)")
            if not level.get("is_null"):
                for p in ("m", "u"):
                    v = level.get(p)
                    if not isinstance(v, (int, float)) or not 0 < v <= 1:
                        problems.append(f"{where}: {p} must be a probability in (0, 1], got {v!r}")
        if levels and not levels[-1].get("else"):
            problems.append(f"comparisons[{i}] ({comp.get('name')}): the last level must be else: true")
    prior_raw = raw.get("probability_two_random_records_match", "auto")
    prior = None if prior_raw == "auto" else prior_raw
    if prior is not None and not (isinstance(prior, (int, float)) and 0 < prior < 1):
        problems.append(f"probability_two_random_records_match: 'auto' or a probability, got {prior_raw!r}")
    suspect = None
    raw_suspect = raw.get("suspect_ids")
    if raw_suspect is not None:
        statuses = tuple(raw_suspect.get("statuses") or ())
        agree = tuple(raw_suspect.get("agree") or ())
        register = raw_suspect.get("register")
        from gridrisk.ids import STATUSES

        if not statuses or set(statuses) - set(STATUSES):
            problems.append(f"suspect_ids.statuses: ID statuses from {', '.join(STATUSES)}, got {list(statuses)}")
        if set(statuses) & set(raw.get("exact_statuses") or ("valid", "repaired_15")):
            problems.append("suspect_ids.statuses: a status cannot be both exact and suspect")
        if register not in {src.dataset for src in sources}:
            problems.append(f"suspect_ids.register: {register!r} is not a dataset of sources")
        bad = [c for c in agree if c not in CONFIRM_COLUMNS]
        if not agree or bad:
            problems.append(f"suspect_ids.agree: columns from {', '.join(CONFIRM_COLUMNS)}, got {list(agree)}")
        suspect = SuspectRule(statuses, str(register), agree)
    thresholds = raw.get("thresholds") or {}
    for key in ("match_weight", "ambiguity_margin"):
        if not isinstance(thresholds.get(key), (int, float)):
            problems.append(f"thresholds.{key}: a number is needed")
    if problems:
        raise ConfigError(str(path), problems)
    return LinkageConfig(
        sources=tuple(sources),
        exact_statuses=tuple(raw.get("exact_statuses") or ("valid", "repaired_15")),
        blocking_rules=tuple(rules),
        comparisons=comparisons,
        prior=prior,
        match_weight=float(thresholds["match_weight"]),
        ambiguity_margin=float(thresholds["ambiguity_margin"]),
        too_common=too_common,
        suspect=suspect,
    )


# --- transforms -----------------------------------------------------------------------------

def extract_records(bronze: "dict[str, DataFrame]", conf: LinkageConfig) -> "DataFrame":
    """Every configured role of every bronze table → one common shape (raw values, bronze only).

    A verbatim repeated row (or a re-sent one) counts once: the first delivered row of each
    (dataset, record_key, role) wins. A row without ID and name still gets a (unlinked) row.
    """
    from functools import reduce

    from pyspark.sql import Window
    from pyspark.sql import functions as F

    parts = []
    for s in conf.sources:
        if s.dataset not in bronze:
            continue
        def expr(value: str | None, cast: str = "string") -> Any:
            return F.expr(value).cast(cast) if value else F.lit(None).cast(cast)

        parts.append(bronze[s.dataset].select(
            F.lit(s.dataset).alias("dataset"),
            expr(s.role).alias("role"),
            expr(s.record_key).alias("record_key_raw"),
            F.lit(s.record_key_is_id).alias("record_key_is_id"),
            expr(s.id).alias("id_raw"),
            expr(s.name).alias("name_raw"),
            expr(s.birth_date, "date").alias("birth_date_given"),
            expr(s.sex).alias("sex_given"),
            expr(s.phone).alias("phone_raw"),
            expr(s.address_code).alias("address_code"),
            F.lit(s.anchor_priority).alias("anchor_priority"),
            F.coalesce(F.col("_source_file"), F.lit("")).alias("_source_file"),
            F.coalesce(F.col("_row_number"), F.lit(0)).alias("_row_number"),
        ))
    if not parts:
        raise ValueError("no bronze table of any configured source was given")
    records = reduce(lambda a, b: a.unionByName(b), parts)
    # Where the business key is the ID as written, two people can share a damaged one
    # (Excel's 3.20115E+17): name and birth date tell their rows apart.
    same_person_row = F.when(F.col("record_key_is_id"), F.concat_ws(
        "|", F.coalesce("name_raw", F.lit("")), F.coalesce(F.col("birth_date_given").cast("string"), F.lit(""))
    )).otherwise(F.lit(""))
    first = Window.partitionBy("dataset", "record_key_raw", "role", "_row_of").orderBy("_source_file", "_row_number")
    return (
        records.where(F.col("record_key_raw").isNotNull())
        .withColumn("_row_of", same_person_row)
        .withColumn("_rank", F.row_number().over(first))
        .where("_rank = 1")
        .drop("_rank")
    )


def extract_names(bronze: "dict[str, DataFrame]", conf: LinkageConfig) -> "DataFrame":
    """``name_raw`` of every configured source that has a name, as written (repeats included).

    The names' keys (:func:`jobs.silver.person_standardise.name_keys`) need only the distinct
    names: read from bronze directly, without :func:`extract_records`'s de-duplication (a
    shuffle of every record with all its columns), the set is the same or larger.
    """
    from functools import reduce

    from pyspark.sql import functions as F

    parts = [bronze[s.dataset].select(F.expr(s.name).cast("string").alias("name_raw"))
             for s in conf.sources if s.name and s.dataset in bronze]
    if not parts:
        return next(iter(bronze.values())).select(F.lit(None).cast("string").alias("name_raw")).limit(0)
    return reduce(lambda a, b: a.unionByName(b), parts)


def standardise_records(records: "DataFrame", key: bytes, names: "DataFrame | None" = None) -> "DataFrame":
    """Repair IDs, normalise names and phones, and derive the comparison columns.

    Native Spark expressions throughout (:mod:`gridrisk.columns`), except names: OpenCC and
    pinyin run once per distinct name (``names``, from :func:`name_keys`), joined back here.
    ``birth_date``/``sex`` are facts (given by the dataset or established by the ID);
    ``cmp_birth_date``/``cmp_sex`` add what a damaged ID's digits say as written — evidence for
    the comparison, never a fact.
    """
    from pyspark.sql import functions as F

    from gridrisk import columns as C
    from jobs.silver.person_standardise import name_keys, with_phone

    names = names if names is not None else name_keys(records)
    record_key = F.when(F.col("record_key_is_id"), C.keyed_hash("record_key_raw", key, "record")) \
        .otherwise(F.col("record_key_raw"))
    trusted = F.col("_id.status").isin("valid", "repaired_15")
    # A usable ID's own date and sex; for a damaged one the dataset's column is safer.
    birth = F.when(trusted, F.col("_id.birth_date")).otherwise(F.coalesce("birth_date_given", "_id.birth_date"))
    sex = F.when(trusted, F.col("_id.sex")).otherwise(F.coalesce("sex_given", "_id.sex"))
    phone = F.col("_phone")
    return (
        records.transform(lambda df: C.with_id_reading(df, "id_raw", "_id"))
        .transform(lambda df: C.with_person_key(df, F.col("_id.id18"), key, "_exact_key"))
        .transform(lambda df: with_phone(df, "phone_raw", "_phone"))
        .join(names, "name_raw", "left")
        .select(
            "dataset", "role",
            record_key.alias("record_key"),
            F.col("_id.id18").alias("id_norm"),
            F.col("_id.status").alias("id_status"),
            F.col("_id.digits").alias("id_digits"),
            F.col("_id.area").alias("id_area"),
            F.col("_exact_key").alias("exact_key"),
            "name_norm",
            C.mask_name("name_norm").alias("name_masked"),
            "name_pinyin",
            F.split("name_pinyin", " ").getItem(0).alias("surname_pinyin"),
            birth.alias("birth_date"),
            sex.alias("sex"),
            F.coalesce(birth, F.col("_id.written_birth_date")).alias("cmp_birth_date"),
            F.coalesce(sex, F.col("_id.written_sex")).alias("cmp_sex"),
            phone.alias("phone"),
            C.keyed_hash(phone, key, "phone").alias("phone_hash"),
            "address_code",
            "anchor_priority",
            # Unique per record within a run, and stable across runs (it keys unlinked records).
            F.concat_ws("|", "dataset", record_key, "role",
                        F.when(F.col("_row_of") != "", C.keyed_hash("_row_of", key, "row"))).alias("record_uid"),
        )
    )


def confirmed_suspects(std: "DataFrame", conf: LinkageConfig) -> "DataFrame | None":
    """``record_uid`` of every record whose suspect ID (``suspect_000``) the register confirms.

    A department's record is confirmed when a register row carries the same ID and agrees on
    ``suspect_ids.agree`` (name and birth date). A register row is never confirmed by itself: it
    is linked probabilistically, to the anchor its own confirmed records form when the ID is
    genuine, to the true person's when it is truncated. None when no suspect rule is configured.
    """
    from pyspark.sql import functions as F

    rule = conf.suspect
    if rule is None:
        return None
    suspect = F.col("id_status").isin(*rule.statuses)
    register = std.where(suspect & (F.col("dataset") == rule.register)).select(
        F.col("exact_key").alias("_reg_key"), *[F.col(c).alias(f"_reg_{c}") for c in rule.agree])
    claims = std.where(suspect & (F.col("dataset") != rule.register)).select("record_uid", "exact_key", *rule.agree)
    agree = F.col("exact_key") == F.col("_reg_key")
    for c in rule.agree:
        agree = agree & (F.col(c) == F.col(f"_reg_{c}"))  # null never agrees
    return claims.join(register, agree).select("record_uid").distinct().withColumn("_confirmed", F.lit(True))


def with_exact(std: "DataFrame", conf: LinkageConfig, confirmed: "DataFrame | None") -> "DataFrame":
    """Add ``exact``: an exact ID status, or a suspect ID in ``confirmed``."""
    from pyspark.sql import functions as F

    exact_status = F.col("id_status").isin(*conf.exact_statuses)
    if confirmed is None:
        return std.withColumn("exact", exact_status)
    return (std.join(F.broadcast(confirmed), "record_uid", "left")
            .withColumn("exact", exact_status | F.coalesce("_confirmed", F.lit(False))).drop("_confirmed"))


def mark_exact(std: "DataFrame", conf: LinkageConfig) -> "DataFrame":
    """:func:`with_exact` of :func:`confirmed_suspects` (lazily; :func:`link` materialises them)."""
    return with_exact(std, conf, confirmed_suspects(std, conf))


def anchors(std: "DataFrame", conf: LinkageConfig) -> "DataFrame":
    """One identity per exact person key; attributes from the highest-priority source holding them
    (the persons register first), so a person whose register row is damaged is still an anchor."""
    from pyspark.sql import functions as F

    exact = std.where(F.col("exact"))

    def first_non_null(col: str) -> Any:
        return F.min_by(F.col(col), F.when(F.col(col).isNotNull(), F.col("anchor_priority")))

    return exact.groupBy(F.col("exact_key").alias("person_key")).agg(
        F.first("id_norm").alias("id_digits"),
        *[first_non_null(c).alias(c) for c in ("name_norm", "name_masked", "name_pinyin", "surname_pinyin",
                                                "birth_date", "sex", "phone", "address_code")],
    )


def _link_view(df: "DataFrame", unique_id: Any) -> "DataFrame":
    from pyspark.sql import functions as F

    return df.select(
        unique_id.alias("unique_id"),
        "name_norm", "name_pinyin", "surname_pinyin",
        F.date_format("birth_date", "yyyy-MM-dd").alias("birth_date"),
        "sex", "phone", "address_code", "id_digits",
        F.substring("id_digits", 1, 15).alias("id15"),
        F.substring("id_digits", 1, 14).alias("id14"),
        F.substring("id_digits", 7, 12).alias("id_tail12"),
        F.concat(F.substring("id_digits", 1, 6), F.substring("id_digits", 15, 4)).alias("id_area_seq"),
        F.coalesce(F.col("id_area"), F.substring("id_digits", 1, 6)).alias("id_area")
        if "id_area" in df.columns else F.substring("id_digits", 1, 6).alias("id_area"),
    )


def candidates_view(std: "DataFrame") -> "DataFrame":
    """The records to link probabilistically, as Splink compares them: a damaged ID's digits as
    written count as evidence of birth date and sex (``cmp_*``)."""
    from pyspark.sql import functions as F

    return _link_view(std.where(~F.col("exact")).drop("birth_date", "sex")
                      .withColumnRenamed("cmp_birth_date", "birth_date").withColumnRenamed("cmp_sex", "sex"), record_uid())


def record_uid() -> Any:
    from pyspark.sql import functions as F

    return F.col("record_uid")


def splink_settings(conf: LinkageConfig, prior: float) -> Any:
    """The Splink model: comparisons and blocking rules from ``conf/linkage.yaml``, m/u fixed."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    comparisons: list[Any] = []
    for comp in conf.comparisons:
        levels: list[Any] = []
        for level in comp["levels"]:
            creator: Any
            if level.get("else"):
                creator = cll.ElseLevel()
            else:
                creator = cll.CustomLevel(level["sql"], label_for_charts=level["label"], base_dialect_str="spark")
            if level.get("is_null"):
                creator = creator.configure(is_null_level=True, label_for_charts=level["label"])
            else:
                creator = creator.configure(m_probability=float(level["m"]), u_probability=float(level["u"]),
                                            label_for_charts=level["label"])
                if level.get("tf_column"):
                    # u becomes the frequency of the value itself: 王伟 is weaker evidence than 欧阳修
                    creator = creator.configure(tf_adjustment_column=level["tf_column"], tf_adjustment_weight=1.0,
                                                tf_minimum_u_value=float(level.get("tf_minimum_u", 1e-9)))
            levels.append(creator)
        comparisons.append(cl.CustomComparison(levels, output_column_name=comp["name"]))
    return SettingsCreator(
        link_type="link_only",
        unique_id_column_name="unique_id",
        comparisons=comparisons,
        blocking_rules_to_generate_predictions=[block_on(*rule) for rule in conf.blocking_rules],
        probability_two_random_records_match=prior,
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=True,
        additional_columns_to_retain=[],
    )


def tf_columns(conf: LinkageConfig) -> list[str]:
    """Columns whose comparison levels use Splink's term-frequency adjustment."""
    return sorted({lv["tf_column"] for comp in conf.comparisons for lv in comp["levels"] if lv.get("tf_column")})


def term_frequencies(views: "list[DataFrame]", column: str, only: "DataFrame | None" = None) -> "DataFrame":
    """Splink's term-frequency table of ``column`` over all ``views`` (its SQL, in Spark):
    ``tf_<column>`` = rows with the value / rows with any value.

    ``only``: the values that can occur in a scored pair (the records to link carry them); the
    table then has those rows only — same frequencies, since the total still counts every row.
    A term-frequency adjustment applies at a level where both sides hold the same value, so a
    value no record to link has is never looked up.
    """
    from functools import reduce

    from pyspark.sql import functions as F

    values = reduce(lambda a, b: a.unionByName(b), [v.select(column) for v in views]).where(F.col(column).isNotNull())
    total = values.agg(F.count("*").alias("_total"))
    if only is not None:
        values = values.join(F.broadcast(only.select(column).where(F.col(column).isNotNull()).distinct()), column,
                             "left_semi")
    return (values.groupBy(column).agg(F.count("*").alias("_n")).crossJoin(F.broadcast(total))
            .select(column, (F.col("_n").cast("double") / F.col("_total")).alias(f"tf_{column}")))


def reachable_anchors(anchor_view: "DataFrame", candidate_view: "DataFrame", conf: LinkageConfig) -> "DataFrame":
    """The anchors that meet at least one candidate under at least one blocking rule.

    Splink only scores blocked pairs, so the others can never be a candidate's best or runner-up:
    leaving them out changes no prediction, and Splink's work follows the records to link, not
    the number of anchors. (Term frequencies are computed over all anchors beforehand.)
    """
    from functools import reduce

    from pyspark.sql import functions as F

    parts = []
    for rule in conf.blocking_rules:
        keys = candidate_view.select(*rule).where(reduce(lambda a, b: a & b, [F.col(c).isNotNull() for c in rule])).distinct()
        parts.append(anchor_view.join(F.broadcast(keys), list(rule), "left_semi"))
    return reduce(lambda a, b: a.unionByName(b), parts).dropDuplicates(["unique_id"])


def predict_links(spark: "SparkSession", anchor_view: "DataFrame", candidate_view: "DataFrame",
                  conf: LinkageConfig, prior: float, tf_tables: "dict[str, DataFrame] | None" = None) -> "DataFrame":
    """Splink pairwise predictions (candidate × anchor) above a floor of 0 bits of evidence.

    ``tf_tables`` (column → term-frequency table) replace the ones Splink would compute from the
    two inputs, so a pruned anchor table (:func:`reachable_anchors`) keeps every weight.
    """
    from splink import Linker
    from splink.backends.spark import SparkAPI

    # No jar UDFs (Jaro-Winkler…): every level is plain Spark SQL, so the session needs no extra
    # jar and Splink's registration is skipped. persist breaks lineage without a checkpoint dir.
    api = SparkAPI(spark_session=spark, break_lineage_method="persist", register_udfs_automatically=False)
    linker = Linker([api.register(anchor_view), api.register(candidate_view)],
                    splink_settings(conf, prior), log_level="WARNING")
    for column, table in (tf_tables or {}).items():
        linker.table_management.register_term_frequency_lookup(api.register(table), column)
    floor = min(conf.match_weight, 0.0) - conf.ambiguity_margin
    predictions = linker.inference.predict(threshold_match_weight=floor)
    return predictions.as_spark_dataframe()


def choose_links(pairs: "DataFrame", conf: LinkageConfig, comparison_names: list[str]) -> "DataFrame":
    """Per candidate: the best anchor, if it clears the threshold and no other anchor comes close.

    Returns, per candidate with any pair: unique_id, anchor_id (the best), match_weight,
    explanation (JSON: comparison → bits), runner_up_weight and ``linked``.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    # Which side is the anchor: anchors' ids are person keys (start with "p"), candidates' hold "|".
    left_is_candidate = F.col("unique_id_l").contains("|")
    cand = F.when(left_is_candidate, F.col("unique_id_l")).otherwise(F.col("unique_id_r"))
    anchor = F.when(left_is_candidate, F.col("unique_id_r")).otherwise(F.col("unique_id_l"))
    # Bits per comparison, plus Splink's term-frequency adjustments (mw_tf_adj_<column>).
    tf_cols = [c for c in pairs.columns if c.startswith("mw_tf_adj_")]
    explained = F.to_json(F.struct(
        *[F.round(F.col(f"mw_{name}").cast("double"), 4).alias(name) for name in comparison_names],
        *[F.round(F.col(c).cast("double"), 4).alias(c[len("mw_"):]) for c in tf_cols],
    ))
    scored = pairs.select(cand.alias("unique_id"), anchor.alias("anchor_id"),
                          F.col("match_weight").cast("double").alias("match_weight"), explained.alias("explanation"))
    best = Window.partitionBy("unique_id").orderBy(F.col("match_weight").desc(), F.col("anchor_id"))
    ranked = scored.withColumn("_rank", F.row_number().over(best)).where("_rank <= 2")
    runner_up = ranked.where("_rank = 2").select("unique_id", F.col("match_weight").alias("runner_up_weight"))
    return (
        ranked.where("_rank = 1").drop("_rank")
        .join(runner_up, "unique_id", "left")
        .withColumn("linked", (F.col("match_weight") >= conf.match_weight)
                    & (F.col("runner_up_weight").isNull()
                       | (F.col("match_weight") - F.col("runner_up_weight") >= conf.ambiguity_margin)))
    )


def person_records(std: "DataFrame", links: "DataFrame | None", conf: LinkageConfig, ds: str,
                   key: bytes) -> "DataFrame":
    """silver ``person_records``: one row per record with its person key and how it got it.

    ``std`` is marked by :func:`with_exact` (its ``exact`` column says who links exactly).
    """
    from pyspark.sql import functions as F

    from gridrisk.columns import keyed_hash

    exact = F.col("exact")
    df = std.withColumn("unique_id", record_uid())
    if links is not None:
        df = df.join(links.select("unique_id", F.when(F.col("linked"), F.col("anchor_id")).alias("anchor_id"),
                                  "match_weight", "explanation"), "unique_id", "left")
    else:
        df = (df.withColumn("anchor_id", F.lit(None).cast("string")).withColumn("match_weight", F.lit(None).cast("double"))
              .withColumn("explanation", F.lit(None).cast("string")))
    method = F.when(exact, "exact").when(F.col("anchor_id").isNotNull(), "probabilistic").otherwise("unlinked")
    unlinked_key = F.concat(F.lit("u"), F.substring(keyed_hash("unique_id", key, "unlinked"), 1, 19))
    return df.select(
        F.lit(ds).cast("date").alias("ds"),
        "dataset", "record_key", "role",
        F.when(exact, F.col("exact_key")).when(F.col("anchor_id").isNotNull(), F.col("anchor_id"))
        .otherwise(unlinked_key).alias("person_key"),
        method.alias("link_method"),
        F.when(exact, F.lit(None).cast("double")).otherwise(F.col("match_weight")).alias("match_weight"),
        F.when(exact, F.lit(None).cast("string")).otherwise(F.col("explanation")).alias("match_explanation"),
        "id_status", "name_masked", "name_pinyin", "birth_date", "sex", "phone_hash", "address_code",
    )


def person_master(records: "DataFrame", conf: LinkageConfig, ds: str) -> "DataFrame":
    """silver ``person_master``: one row per person key, attributes from the best source, counts per dataset.

    ``address_code`` is where the person lives by the best source that says so (the persons
    register first, then residence registrations, then an owner-occupied unit): it routes the
    person rules' flags to a grid. Between two records of one source the smaller record key
    wins, so the answer never depends on the order the rows arrive in (partitioning, caching).
    """
    from pyspark.sql import functions as F

    priority = {s.dataset: s.anchor_priority for s in conf.sources}
    prio = F.coalesce(*[F.when(F.col("dataset") == d, F.lit(p)) for d, p in priority.items()], F.lit(99))
    df = records.withColumn("_rank", F.struct(prio.alias("p"), F.col("dataset"), F.col("record_key"), F.col("role")))

    def best(col: str) -> Any:
        return F.min_by(F.col(col), F.when(F.col(col).isNotNull(), F.col("_rank"))).alias(col)

    return df.groupBy("person_key").agg(
        F.lit(ds).cast("date").alias("ds"),
        best("name_masked"), best("birth_date"), best("sex"), best("address_code"),
        F.count("*").alias("records"),
        *[F.sum(F.when(F.col("dataset") == d, 1).otherwise(0)).cast("int").alias(f"n_{d}") for d in conf.datasets],
        F.max(F.when(F.col("link_method") == "unlinked", True).otherwise(False)).alias("is_unlinked"),
    ).select("ds", "person_key", "name_masked", "birth_date", "sex", "address_code", "records", *[f"n_{d}" for d in conf.datasets],
             "is_unlinked")


def link(spark: "SparkSession", bronze: "dict[str, DataFrame]", conf: LinkageConfig, ds: str,
         key: bytes, held: "list[DataFrame] | None" = None) -> "tuple[DataFrame, dict[str, Any]]":
    """Extract, standardise, link exactly, then probabilistically; returns person_records.

    Not a pure transform: Splink materialises (persists) its intermediate tables, and the prior
    "auto" needs the number of anchors. The frames persisted here are appended to ``held`` so
    the caller can release them once the result is written. ``stats["seconds"]`` gives the wall
    time of each step (each ends in the action that materialises it).
    """
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    from gridrisk.spark import cut_lineage
    from jobs.silver.person_standardise import name_keys

    held = held if held is not None else []
    seconds: dict[str, float] = {}
    clock = time.monotonic()

    def lap(step: str) -> None:
        nonlocal clock
        now = time.monotonic()
        seconds[step] = round(now - clock, 2)
        clock = now

    def keep(df: "DataFrame") -> "DataFrame":
        held.append(df.persist(StorageLevel.MEMORY_AND_DISK))
        return df

    def cut(df: "DataFrame") -> "DataFrame":
        held.append(cut_lineage(df))
        return held[-1]

    records = extract_records(bronze, conf)
    names = keep(name_keys(extract_names(bronze, conf)))
    # Cut, not only persisted: every later query (Splink runs dozens) would otherwise
    # re-analyse the whole extraction and standardisation plan under it.
    base = cut(standardise_records(records, key, names))
    confirmed = confirmed_suspects(base, conf)
    if confirmed is not None:
        confirmed = cut(confirmed)
    std = with_exact(base, conf, confirmed)
    lap("standardise")
    # The records to link: what a record with a usable ID never needs (it is exact)
    candidate_view = keep(candidates_view(std))
    n_candidates = candidate_view.count()
    # One identity per exact key (one shuffle of the exact records), kept: it gives the number
    # of anchors (the prior), the term frequencies and the anchors a blocking rule can reach.
    anchor_view = keep(_link_view(anchors(std, conf).withColumn("id_area", F.lit(None).cast("string")),
                                  F.col("person_key")))
    n_anchors = anchor_view.count()
    stats: dict[str, Any] = {"anchors": n_anchors, "candidates": n_candidates,
                             "suspect_ids_confirmed": 0 if confirmed is None else confirmed.count(), "seconds": seconds}
    lap("anchors")
    links = None
    if n_anchors and n_candidates:
        prior = conf.prior or 1.0 / n_anchors
        tf_tables = {c: keep(term_frequencies([anchor_view, candidate_view], c, only=candidate_view))
                     for c in tf_columns(conf)}
        reachable = keep(reachable_anchors(anchor_view, candidate_view, conf))
        stats["anchors_reachable"] = reachable.count()
        lap("reachable")
        pairs = predict_links(spark, reachable, candidate_view, conf, prior, tf_tables)
        names_ = [c["name"] for c in conf.comparisons]
        links = cut(choose_links(pairs, conf, names_))  # over Splink's plan: person_records joins it
        stats["candidates_with_a_pair"] = links.count()
        stats["prior"] = prior
        lap("splink")
    return person_records(std, links, conf, ds, key), stats


def read_bronze(spark: "SparkSession", profile: Profile, conf: LinkageConfig, ds: str,
                available: frozenset[str] | None = None) -> "dict[str, DataFrame]":
    """The day's partition of every source department (only those in ``available`` when given)."""
    out = {}
    for dataset in conf.datasets:
        if available is not None and dataset not in available:
            continue
        if lake.table_exists(spark, profile.table_path("bronze", dataset)):
            out[dataset] = lake.read_partition(spark, profile, "bronze", dataset, ds)
    return out


def run(spark: "SparkSession", profile: Profile, ds: str, conf: LinkageConfig | None = None,
        available: frozenset[str] | None = None) -> dict[str, Any]:
    """Link every person-bearing record of ``ds`` (of the departments in ``available``, when
    given: a late or failed delivery is left out today); write both silver tables; counts per
    link method.

    person_records is computed once (and cut from its lineage: :func:`gridrisk.spark.cut_lineage`)
    and feeds its own write, person_master and the counts: nothing is read back from the lake.
    """
    from pyspark.sql import functions as F

    from gridrisk.spark import cut_lineage, release

    conf = conf or load_linkage_config()
    key = pseudonym_key(profile.name)
    held: list[DataFrame] = []
    try:
        records, stats = link(spark, read_bronze(spark, profile, conf, ds, available), conf, ds, key, held)
        records = cut_lineage(records)  # its write, person_master and the counts: three queries over it
        held.append(records)
        seconds = stats["seconds"]
        t = time.monotonic()
        written = lake.replace_partition(records, profile.table_path("silver", RECORDS_TABLE), {"ds": ds})
        seconds["write_records"] = round(time.monotonic() - t, 2)
        t = time.monotonic()
        master = lake.replace_partition(person_master(records, conf, ds), profile.table_path("silver", MASTER_TABLE),
                                        {"ds": ds})
        counts = {m: 0 for m in LINK_METHODS}
        counts.update({r["link_method"]: r["n"]
                       for r in records.groupBy("link_method").agg(F.count("*").alias("n")).collect()})
        seconds["write_master"] = round(time.monotonic() - t, 2)
    finally:
        for df in held:  # written (or failed): the next stages read silver, not these
            release(df)
    return {"tables": {RECORDS_TABLE: written.get("numOutputRows", 0), MASTER_TABLE: master.get("numOutputRows", 0)},
            "link_method": counts, **stats}


# --- explain --------------------------------------------------------------------------------

def level_weight(level: dict[str, Any]) -> float:
    """A level's match weight in bits, log2(m / u); 0 for the null level."""
    import math

    return 0.0 if level.get("is_null") else math.log2(float(level["m"]) / float(level["u"]))


def level_for_weight(comp: dict[str, Any], weight: float) -> str:
    """The level of ``comp`` whose weight Splink reported (weights are fixed in the conf, so the
    weight names the level; Splink 5's predictions carry ``mw_<comparison>``, not the level)."""
    best = min(comp["levels"], key=lambda lv: abs(level_weight(lv) - weight))
    return str(best["label"])


def format_explanation(row: dict[str, Any], conf: LinkageConfig) -> str:
    """Human-readable reason of one person_records row (see :func:`explain`)."""

    head = f"{row['dataset']}:{row['record_key']} ({row['role']}) → {row['person_key']}"
    if row["link_method"] == "exact":
        status = "valid ID" if row["id_status"] == "valid" else f"ID {row['id_status']}"
        if conf.suspect and row["id_status"] in conf.suspect.statuses:
            status += (f", confirmed by {conf.suspect.register} (same ID, "
                       f"{' and '.join(c.replace('_', ' ') for c in conf.suspect.agree)})")
        return f"{head}\nexact: {status}"
    lines = [head, f"{row['link_method']}: ID {row['id_status']}"]
    if row.get("match_explanation"):
        detail = json.loads(row["match_explanation"])
        total = 0.0
        for comp in conf.comparisons:
            got = detail.get(comp["name"])
            if got is None:
                continue
            weight = float(got)
            lines.append(f"  {comp['name']:<12} {level_for_weight(comp, weight):<42} {weight:+7.2f} bits")
            total += weight
        for name, got in detail.items():
            if name.startswith("tf_adj_") and got:
                label = f"how common this {name[len('tf_adj_'):]} is"
                lines.append(f"  {'':<12} {label:<42} {float(got):+7.2f} bits")
                total += float(got)
        if row.get("match_weight") is not None:
            lines.append(f"  {'prior':<12} {'1 in the number of anchors':<42} {row['match_weight'] - total:+7.2f} bits")
    if row.get("match_weight") is not None:
        verdict = "linked" if row["link_method"] == "probabilistic" else "below the threshold or ambiguous"
        lines.append(f"  match weight {row['match_weight']:.2f} (threshold {conf.match_weight}, "
                     f"margin {conf.ambiguity_margin}): {verdict}")
    else:
        lines.append("  no candidate anchor met any blocking rule")
    return "\n".join(lines)


def explain(spark: "SparkSession", profile: Profile, ds: str, dataset: str, record_key: str,
            conf: LinkageConfig | None = None) -> str:
    """Why a record has its person key: ``exact: valid ID`` or the comparisons, levels and weight.

    For the persons register the record key is the ID as delivered (hashed here before lookup).
    """
    from pyspark.sql import functions as F

    from gridrisk.privacy import keyed_hash

    conf = conf or load_linkage_config()
    keys = [record_key]
    if any(s.dataset == dataset and s.record_key_is_id for s in conf.sources):
        keys.append(keyed_hash(record_key, pseudonym_key(profile.name), "record") or "")
    rows = (lake.read_partition(spark, profile, "silver", RECORDS_TABLE, ds)
            .where((F.col("dataset") == dataset) & F.col("record_key").isin(*keys)).collect())
    if not rows:
        return f"{dataset}:{record_key}: no such record in silver {RECORDS_TABLE} on {ds}"
    return "\n\n".join(format_explanation(r.asDict(), conf) for r in rows)

