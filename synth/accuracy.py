"""Precision and recall of the risk rules against the generator's planted ground truth, with a
reason for every miss and false positive.

The truth (``<truth>/<YYYYMMDD>/flags.csv``: rule_id, subject_type, subject_key, detail) is
written by the generator from its clean internal state; the pipeline never reads it. Person
subjects are compared through the same keyed hash the pipeline uses.

A rule the truth does not cover (one the generator plants nothing for, e.g. a rule added in
YAML alone) is reported as "no truth": its flags are counted but not judged, and it has no
precision or recall. The rules the truth covers are those of ``<truth>/manifest.json``
(``planted_per_date``).

Vehicle and fire-unit subjects (the hazmat and fire rules) are explained from the silver tables
of the ``vehicle_tracks`` and ``fire_state`` stages: the plate's accepted and rejected GPS
reports, its waybills and crew data problems; the unit's registration, open conditions and
rejected events (:func:`silver_subject_reasons`).

Reasons come from ``<truth>/<YYYYMMDD>/person_records.csv`` (which department records each true
person has, and how each record's ID was damaged) and, when the pipeline wrote it, silver
``person_records`` (how each record was linked). A missed person is explained by their records
whose ID was damaged; a person with no damaged record points at a rule or linkage defect.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from gridrisk import privacy

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from gridrisk.config import Profile


class PersonRecord(NamedTuple):
    """One person-bearing record of the truth (``person_records.csv``), less its true ID."""

    dataset: str
    record_key: str  # for ``persons``: the ID as written
    role: str
    id_damage: str  # synth.generate.noise.ID_DAMAGES


class SilverRecord(NamedTuple):
    """One row of silver ``person_records``: what the pipeline linked a record to, and how."""

    dataset: str
    record_key: str  # for ``persons``: a keyed hash of the ID as written, not comparable to the truth
    role: str
    person_key: str
    link_method: str  # exact, probabilistic, unlinked


SILVER_COLUMNS = SilverRecord._fields

DAMAGE_WORDS = {
    "legacy15": "ID in the old 15-digit form",
    "fullwidth": "ID in full-width characters",
    "lowercase_x": "ID with a lower-case x",
    "truncated": "ID truncated by Excel (000 or E+17)",
    "typo": "ID with a one-digit typo",
    "missing": "ID missing",
}
#: Damage the pipeline repairs, so the record should still link exactly.
REPAIRABLE = ("legacy15", "fullwidth", "lowercase_x")
#: Damage only probabilistic linkage (name, birth date, ID fragments) can get past.
UNUSABLE = ("truncated", "typo", "missing")
INTACT = "a rule or linkage defect, investigate"  # when every ID of the person was written intact
NOT_PERSON = "not a person subject: check the rule's inputs"
NO_TRUTH = "no truth"


@dataclass
class RuleAccuracy:
    """One rule against the truth. ``has_truth`` is False for a rule the truth does not cover:
    its flags are counted, nothing is judged, and precision and recall are None."""

    rule_id: str
    truth: int
    flagged: int
    true_positives: int
    false_positives: list[tuple[str, str]] = field(default_factory=list)  # (subject, reason)
    misses: list[tuple[str, str, str]] = field(default_factory=list)  # (subject, truth detail, reason)
    has_truth: bool = True

    @property
    def precision(self) -> float | None:
        if not self.has_truth:
            return None
        return self.true_positives / self.flagged if self.flagged else 1.0

    @property
    def recall(self) -> float | None:
        if not self.has_truth:
            return None
        return self.true_positives / self.truth if self.truth else 1.0


def _day_dir(truth_dir: Path | str, ds: str) -> Path:
    return Path(truth_dir) / dt.date.fromisoformat(ds).strftime("%Y%m%d")


def read_truth(truth_dir: Path, ds: str) -> dict[str, dict[str, tuple[str, str]]]:
    """rule_id → subject_key → (subject_type, detail)."""
    out: dict[str, dict[str, tuple[str, str]]] = {}
    with open(_day_dir(truth_dir, ds) / "flags.csv", encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            out.setdefault(row["rule_id"], {})[row["subject_key"]] = (row["subject_type"], row.get("detail", ""))
    return out


def truth_rules(truth_dir: Path | str, ds: str) -> set[str]:
    """The rules the truth covers: every rule the generator planted (``<truth>/manifest.json``),
    whether or not it fires on ``ds``. Without a manifest (hand-written truth), the rules that
    appear in the date's ``flags.csv``."""
    manifest = Path(truth_dir) / "manifest.json"
    if manifest.exists():
        return set(json.loads(manifest.read_text(encoding="utf-8"))["planted_per_date"])
    return set(read_truth(Path(truth_dir), ds))


def read_person_records(truth_dir: Path | str, ds: str) -> dict[str, list[PersonRecord]]:
    """true 18-digit ID → that person's records written on ``ds`` (``person_records.csv``)."""
    out: dict[str, list[PersonRecord]] = {}
    with open(_day_dir(truth_dir, ds) / "person_records.csv", encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            out.setdefault(row["true_id_no"], []).append(
                PersonRecord(row["dataset"], row["record_key"], row["role"], row["id_damage"] or "none"))
    return out


@dataclass
class SilverLinks:
    """Silver ``person_records`` rows, looked up by record and by person key."""

    rows: list[SilverRecord]

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, Any] | tuple[Any, ...]]) -> SilverLinks:
        out = []
        for r in rows:
            values = [r[c] for c in SILVER_COLUMNS] if isinstance(r, Mapping) else list(r)[: len(SILVER_COLUMNS)]
            out.append(SilverRecord(*(str(v) if v is not None else "" for v in values)))
        return cls(out)

    @classmethod
    def from_dataframe(cls, df: DataFrame) -> SilverLinks:
        """Collect the needed columns of a (filtered!) silver person_records DataFrame."""
        return cls.from_rows(r.asDict() for r in df.select(*SILVER_COLUMNS).collect())

    @cached_property
    def by_record(self) -> dict[tuple[str, str, str], SilverRecord]:
        return {(r.dataset, r.record_key, r.role): r for r in self.rows}

    @cached_property
    def by_person(self) -> dict[str, list[SilverRecord]]:
        out: dict[str, list[SilverRecord]] = {}
        for r in self.rows:
            out.setdefault(r.person_key, []).append(r)
        return out


def _as_silver(silver: SilverLinks | DataFrame | None) -> SilverLinks | None:
    if silver is None or isinstance(silver, SilverLinks):
        return silver
    return SilverLinks.from_dataframe(silver)


def _record_name(dataset: str, role: str, record_key: str) -> str:
    # A persons record's key is the ID itself: never print it.
    return f"{dataset} {role} record" + ("" if dataset == "persons" or not record_key else f" {record_key}")


def _damage_words(rec: PersonRecord) -> str:
    if rec.id_damage == "truncated" and rec.dataset == "persons":  # the key is the ID as written
        if "E+" in rec.record_key.upper():
            return "ID truncated (Excel E+17)"
        if rec.record_key.endswith("000"):
            return "ID truncated (Excel 000)"
    return DAMAGE_WORDS.get(rec.id_damage, f"ID damaged ({rec.id_damage})")


def _link_words(found: SilverRecord | None, true_key: str | None, damaged: bool) -> str:
    if found is None:
        return "not in silver person_records"
    right = None if true_key is None else found.person_key == true_key
    if found.link_method == "unlinked":
        return "left unlinked"
    if found.link_method == "exact":
        if right is False:
            return "linked exactly to another person's key"
        return "repaired and linked exactly" if damaged else "linked exactly"
    if found.link_method == "probabilistic":
        return {None: "linked probabilistically", True: "linked probabilistically to the right person",
                False: "linked probabilistically to the wrong person"}[right]
    return f"link method {found.link_method}"


def _silver_summary(records: Iterable[SilverRecord]) -> str:
    return ", ".join(f"{_record_name(r.dataset, r.role, r.record_key)} ({r.link_method})" for r in records)


class Explainer:
    """Reasons for misses and false positives of one date, indexes built once on first need.

    ``person_records``: :func:`read_person_records` (None: no truth to explain with);
    ``silver``: silver person_records rows (:class:`SilverLinks` or a small Spark DataFrame);
    ``key``: the pseudonymisation key, to tell a right link from a wrong one and to recognise
    the person behind a flagged person key.
    """

    def __init__(self, person_records: Mapping[str, list[PersonRecord]] | None,
                 silver: SilverLinks | DataFrame | None = None, key: bytes | None = None,
                 others: Mapping[tuple[str, str], str] | None = None) -> None:
        self.person_records = person_records
        self.silver = _as_silver(silver)
        self.key = key
        #: (subject type, subject key) → what silver holds for a vehicle or fire unit subject
        self.others = others or {}

    def _key_of(self, true_id: str) -> str | None:
        return privacy.person_key(true_id, self.key) if self.key is not None else None

    @cached_property
    def id_of_key(self) -> dict[str, str]:
        """person key → true ID, for every person in the truth (needs ``key``)."""
        if self.key is None or not self.person_records:
            return {}
        return {privacy.person_key(i, self.key): i for i in self.person_records}

    @cached_property
    def id_of_record(self) -> dict[tuple[str, str, str], str]:
        """(dataset, record_key, role) → true ID, for records other than ``persons``."""
        return {(r.dataset, r.record_key, r.role): true_id for true_id, recs in (self.person_records or {}).items()
                for r in recs if r.dataset != "persons"}

    def miss(self, subject_type: str, subject: str) -> str:
        """Why a planted subject (``subject``: as in flags.csv, a true ID for persons) was not flagged."""
        if subject_type != "person":
            return self.others.get((subject_type, subject), NOT_PERSON)
        if self.person_records is None:
            return "no person_records.csv in the truth to explain with"
        records = self.person_records.get(subject, [])
        if not records:
            return "no record of this person in person_records.csv on this date — check the generator's truth"
        true_key = self._key_of(subject)
        damaged = [r for r in records if r.id_damage != "none"]
        if not damaged:
            reason = f"all IDs intact ({', '.join(sorted({r.dataset for r in records}))}) — {INTACT}"
            if self.silver is not None and true_key is not None:
                under = self.silver.by_person.get(true_key, [])
                reason += f"; silver has under the person's key: {_silver_summary(under) or 'nothing'}"
            return reason
        parts = []
        all_right = self.silver is not None and true_key is not None
        for r in damaged:
            text = f"{_record_name(r.dataset, r.role, r.record_key)}: {_damage_words(r)}"
            if self.silver is not None and r.dataset != "persons":
                found = self.silver.by_record.get((r.dataset, r.record_key, r.role))
                text += f", {_link_words(found, true_key, True)}"
                all_right = all_right and found is not None and found.person_key == true_key
            else:
                all_right = False
            parts.append(text)
        kinds = {r.id_damage for r in damaged}
        if all_right:
            hint = "damaged IDs all linked to the right person: a rule defect, investigate"
        else:
            hints = []
            if kinds & set(UNUSABLE):
                hints.append("typo'd, truncated or missing IDs need probabilistic linkage")
            if kinds & set(REPAIRABLE):
                hints.append("15-digit, full-width or lower-case-x IDs should be repaired and linked exactly")
            hint = "; ".join(hints) or "unknown ID damage"
        return "; ".join(parts) + " — " + hint

    def false_positive(self, subject_type: str, subject_key: str) -> str:
        """Why the pipeline may have flagged ``subject_key`` (a person key for persons) that was not planted."""
        if subject_type != "person":
            return self.others.get((subject_type, subject_key), NOT_PERSON)
        parts = []
        true_id = self.id_of_key.get(subject_key)
        if true_id is not None:
            parts.append(f"key of a real person (ID {privacy.mask_id(true_id)}) not planted for this rule: "
                         "a near miss or a rule defect")
        elif subject_key.startswith("u"):
            parts.append("key of an unlinked record")
        elif self.key is not None and self.person_records is not None:
            parts.append("key of nobody in the truth: a record linked on a wrong ID")
        if self.silver is not None:
            under = self.silver.by_person.get(subject_key, [])
            parts.append(f"silver records under it: {_silver_summary(under) or 'none'}")
            owners = {r: self.id_of_record.get((r.dataset, r.record_key, r.role)) for r in under} if self.key else {}
            strangers = [r for r, owner in owners.items() if owner is not None and self._key_of(owner) != subject_key]
            if strangers:
                parts.append("another person's record(s) linked in: "
                             + ", ".join(_record_name(r.dataset, r.role, r.record_key) for r in strangers))
        return "; ".join(parts) or "person key not in the truth (no person_records.csv or key to check)"


def miss_reason(subject_type: str, subject: str, person_records: Mapping[str, list[PersonRecord]] | None,
                silver: SilverLinks | DataFrame | None = None, key: bytes | None = None) -> str:
    """Why a planted subject was missed, e.g. ``driving_licences holder record DL1: ID truncated …``.

    For many subjects build one :class:`Explainer` instead (its indexes are built once).
    """
    return Explainer(person_records, silver, key).miss(subject_type, subject)


def false_positive_reason(subject_type: str, subject_key: str, person_records: Mapping[str, list[PersonRecord]] | None,
                          silver: SilverLinks | DataFrame | None = None, key: bytes | None = None) -> str:
    """A short reason for a flag that is not in the truth (see :meth:`Explainer.false_positive`)."""
    return Explainer(person_records, silver, key).false_positive(subject_type, subject_key)


def _silver_for(spark: SparkSession, profile: Profile, ds: str, person_keys: set[str],
                record_keys: set[str]) -> SilverLinks | None:
    """The few silver person_records rows the reasons need, or None if the table is not there."""
    from pyspark.sql import functions as F

    from gridrisk import lake

    if not (person_keys or record_keys) or not lake.table_exists(spark, profile.table_path("silver", "person_records")):
        return None
    conds = [F.col(col).isin(*sorted(values)) for col, values in (("person_key", person_keys), ("record_key", record_keys))
             if values]
    cond = conds[0] if len(conds) == 1 else conds[0] | conds[1]
    return SilverLinks.from_dataframe(lake.read_partition(spark, profile, "silver", "person_records", ds).where(cond))


def _optional(spark: SparkSession, profile: Profile, table: str, ds: str) -> DataFrame | None:
    from gridrisk import lake

    if not lake.table_exists(spark, profile.table_path("silver", table)):
        return None
    return lake.read_partition(spark, profile, "silver", table, ds)


def _counted(pairs: Iterable[tuple[str, int]]) -> str:
    return ", ".join(f"{k} ×{n}" for k, n in sorted(pairs))


def vehicle_reason(plate: str, accepted: int, span: tuple[Any, Any] | None, rejected: Mapping[str, int],
                   waybills: int, crew_problems: Iterable[str]) -> str:
    """What silver holds for a hazmat vehicle that was missed or flagged in excess. Pure."""
    problems = sorted(set(crew_problems))
    parts = [f"{accepted} GPS reports accepted" + (f" ({span[0]} – {span[1]})" if span and accepted else "")]
    if rejected:
        parts.append(f"{sum(rejected.values())} rejected: {_counted(rejected.items())}")
    parts.append(f"{waybills} waybill(s) in waybill_crew")
    if problems:
        parts.append("crew data problem: " + "; ".join(problems))
    if not accepted and not waybills:
        hint = "the plate has no accepted report and no waybill: check the GPS delivery and the vehicle register"
    elif problems:
        hint = "a crew ID linked to nobody is a data problem, not a rule hit"
    else:
        hint = "inputs present: a rule or silver-track defect, or the truth's reading differs — investigate"
    return f"plate {plate}: " + "; ".join(parts) + " — " + hint


def unit_reason(subject: str, registered: bool, conditions: Iterable[tuple[str, float]], rejected: Mapping[str, int],
                last_inspection: Any = None) -> str:
    """What silver holds for a fire unit / device subject that was missed or flagged in excess. Pure."""
    if not registered:
        return f"unit {subject.split('/')[0]} not in silver fire_unit_state (not in the fire unit register on that day)"
    opened = ", ".join(f"{c} open {h:g} h at day end" for c, h in sorted(conditions)) or "no condition open at day end"
    parts = [opened, f"last inspection {last_inspection}"]
    if rejected:
        parts.append(f"events rejected: {_counted(rejected.items())}")
    return f"{subject}: " + "; ".join(parts) + " — inputs present: a rule or fire-state defect, or the truth's reading differs"


def silver_subject_reasons(spark: SparkSession, profile: Profile, ds: str, subjects: set[tuple[str, str]]
                           ) -> dict[tuple[str, str], str]:
    """(subject type, key) → what the silver hazmat and fire tables hold for that vehicle or
    fire unit/device on ``ds`` (reports accepted and rejected, waybills and crew problems; open
    conditions, rejected events, last inspection)."""
    from pyspark.sql import functions as F

    out: dict[tuple[str, str], str] = {}
    plates = sorted(k for t, k in subjects if t == "vehicle")
    if plates:
        points, rejects, crew = (_optional(spark, profile, t, ds) for t in ("vehicle_points", "gps_rejects", "waybill_crew"))
        seen = {} if points is None else {r["plate_no"]: (r["n"], (r["a"], r["z"])) for r in points.where(
            F.col("plate_no").isin(*plates)).groupBy("plate_no").agg(
            F.count("*").alias("n"), F.min("gps_ts").alias("a"), F.max("gps_ts").alias("z")).collect()}
        bad: dict[str, dict[str, int]] = {}
        if rejects is not None:
            for r in (rejects.where(F.col("plate_no").isin(*plates))
                      .groupBy("plate_no", F.split("reason", ":").getItem(0).alias("why")).count().collect()):
                bad.setdefault(r["plate_no"], {})[r["why"]] = r["count"]
        bills: dict[str, tuple[int, list[str]]] = {}
        if crew is not None:
            for r in (crew.where(F.col("plate_no").isin(*plates)).groupBy("plate_no")
                      .agg(F.countDistinct("waybill_no").alias("n"), F.collect_set("crew_problem").alias("p")).collect()):
                bills[r["plate_no"]] = (r["n"], [p for p in r["p"] if p])
        for plate in plates:
            n, span = seen.get(plate, (0, None))
            w, problems = bills.get(plate, (0, []))
            out[("vehicle", plate)] = vehicle_reason(plate, n, span, bad.get(plate, {}), w, problems)
    keys = sorted(k for t, k in subjects if t == "unit")
    if keys:
        units_of = {k: k.split("/")[0] for k in keys}
        state, conditions, rejects = (_optional(spark, profile, t, ds)
                                      for t in ("fire_unit_state", "fire_open_conditions", "fire_event_rejects"))
        ids = sorted(set(units_of.values()))
        registered = {} if state is None else {r["unit_id"]: r["last_inspection_date"] for r in state.where(
            F.col("unit_id").isin(*ids)).select("unit_id", "last_inspection_date").collect()}
        opened: dict[str, list[tuple[str, float]]] = {}
        if conditions is not None:
            for r in conditions.where(F.col("unit_id").isin(*ids)).collect():
                opened.setdefault(r["device_key"], []).append((r["condition"], float(r["open_hours_at_day_end"])))
                opened.setdefault(r["unit_id"], []).append((r["condition"], float(r["open_hours_at_day_end"])))
        bad = {}
        if rejects is not None:
            for r in rejects.where(F.col("unit_id").isin(*ids)).groupBy("unit_id", "reason").count().collect():
                bad.setdefault(r["unit_id"], {})[r["reason"]] = r["count"]
        for key in keys:
            unit = units_of[key]
            out[("unit", key)] = unit_reason(key, unit in registered, opened.get(key, []), bad.get(unit, {}),
                                             registered.get(unit))
    return out


def measure(spark: SparkSession, profile: Profile, truth_dir: Path, ds: str, rules: list[str] | None = None
            ) -> list[RuleAccuracy]:
    """Per rule: the open flags last seen on ``ds`` against the truth, each miss and false positive
    with a reason (person subjects read person_records.csv and, if written, silver person_records)."""
    from pyspark.sql import functions as F

    from gridrisk import lake

    flags = lake.read(spark, profile, "gold", "risk_flags").where(
        (F.col("status") == "open") & (F.col("last_seen") == F.lit(ds).cast("date")))
    fired: dict[str, dict[str, str]] = {}
    for r in flags.select("rule_id", "subject_type", "subject_key").collect():
        fired.setdefault(r["rule_id"], {})[r["subject_key"]] = r["subject_type"]
    return compare(truth_dir, ds, fired, rules, key=lambda: privacy.pseudonym_key(profile.name),
                   silver=lambda person_keys, record_keys: _silver_for(spark, profile, ds, person_keys, record_keys),
                   others=lambda subjects: silver_subject_reasons(spark, profile, ds, subjects))


def compare(truth_dir: Path | str, ds: str, fired: Mapping[str, Mapping[str, str]], rules: Iterable[str] | None = None,
            key: Callable[[], bytes] | None = None,
            silver: Callable[[set[str], set[str]], SilverLinks | None] | None = None,
            others: Callable[[set[tuple[str, str]]], Mapping[tuple[str, str], str]] | None = None) -> list[RuleAccuracy]:
    """Judge ``fired`` (rule → subject key → subject type) against the truth of ``ds``.

    ``rules``: the rules to report (default: every rule fired or in the truth); a rule the truth
    does not cover (:func:`truth_rules`) is reported with ``has_truth=False``. ``key`` gives the
    pseudonymisation key (asked for only when a person subject is involved); ``silver`` loads the
    silver person_records rows of the given person and record keys, for the reasons; ``others``
    describes what silver holds for the vehicle and fire-unit subjects missed or flagged in excess
    (:func:`silver_subject_reasons`).
    """
    truth = read_truth(Path(truth_dir), ds)
    covered = truth_rules(truth_dir, ds)
    pkey: bytes | None = None

    def key_bytes() -> bytes:
        nonlocal pkey
        if pkey is None:
            if key is None:
                raise ValueError("person subjects need the pseudonymisation key")
            pkey = key()
        return pkey

    # rule → [(shown subject, detail, subject_type, truth subject)], rule → [(subject, subject_type)]
    missed: dict[str, list[tuple[str, str, str, str]]] = {}
    extra: dict[str, list[tuple[str, str]]] = {}
    counts: dict[str, tuple[int, int, int]] = {}
    for rule_id in sorted(set(rules) if rules is not None else set(fired) | set(truth)):
        got = fired.get(rule_id, {})
        if rule_id not in covered:
            counts[rule_id] = (0, len(got), 0)
            continue
        expected: dict[str, tuple[str, str, str]] = {}  # shown subject → (detail, subject_type, truth subject)
        for subject, (subject_type, detail) in truth.get(rule_id, {}).items():
            shown = privacy.person_key(subject, key_bytes()) if subject_type == "person" else subject
            expected[shown] = (detail, subject_type, subject)
        counts[rule_id] = (len(expected), len(got), len(set(got) & set(expected)))
        missed[rule_id] = sorted((s, *expected[s]) for s in set(expected) - set(got))
        extra[rule_id] = sorted((s, got[s]) for s in set(got) - set(expected))

    person_keys = {s for ms in missed.values() for s, _, t, _ in ms if t == "person"}
    person_keys |= {s for fs in extra.values() for s, t in fs if t == "person"}
    people: dict[str, list[PersonRecord]] | None = None
    links = None
    if person_keys:  # only person subjects need the (large) person_records.csv and silver
        key_bytes()
        try:
            people = read_person_records(truth_dir, ds)
        except FileNotFoundError:
            pass
        damaged = {r.record_key for ms in missed.values() for _, _, t, subject in ms if t == "person"
                   for r in (people or {}).get(subject, []) if r.id_damage != "none" and r.dataset != "persons"}
        links = silver(person_keys, damaged) if silver is not None else None
    strangers = {(t, subject) for ms in missed.values() for _, _, t, subject in ms if t != "person"}
    strangers |= {(t, s) for fs in extra.values() for s, t in fs if t != "person"}
    described = others(strangers) if others is not None and strangers else {}
    why = Explainer(people, links, pkey, described)
    return [
        RuleAccuracy(
            rule_id, *counts[rule_id],
            false_positives=[(s, why.false_positive(t, s)) for s, t in extra.get(rule_id, [])],
            misses=[(s, detail, why.miss(t, subject)) for s, detail, t, subject in missed.get(rule_id, [])],
            has_truth=rule_id in covered,
        )
        for rule_id in counts
    ]


def format_report(results: list[RuleAccuracy], limit: int = 10) -> str:
    """One header line, one line per rule, then its false positives and misses (``limit`` each),
    each followed by an indented ``why:`` line."""
    lines = [f"{'rule':<28}{'truth':>7}{'flagged':>9}{'TP':>7}{'precision':>11}{'recall':>9}"]
    for r in results:
        if not r.has_truth:
            lines.append(f"{r.rule_id:<28}{'-':>7}{r.flagged:>9}{'-':>7}  {NO_TRUTH}: the generator plants no cases of this rule,"
                         " its flags are not judged")
            continue
        lines.append(f"{r.rule_id:<28}{r.truth:>7}{r.flagged:>9}{r.true_positives:>7}{r.precision:>11.4f}{r.recall:>9.4f}")
        for s, reason in r.false_positives[:limit]:
            lines += [f"    false positive: {s}", f"        why: {reason}"]
        if len(r.false_positives) > limit:
            lines.append(f"    … {len(r.false_positives) - limit} more false positives")
        for s, detail, reason in r.misses[:limit]:
            lines += [f"    missed: {s}  ({detail})", f"        why: {reason}"]
        if len(r.misses) > limit:
            lines.append(f"    … {len(r.misses) - limit} more misses")
    return "\n".join(lines)


def _ratio(x: float | None) -> str:
    if x is None:
        return NO_TRUTH
    text = f"{x:.4f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def to_markdown(results: list[RuleAccuracy], first_column: tuple[str, str] | None = None) -> str:
    """The per-rule table for docs/benchmarks.md; ``first_column`` = (header, value), e.g.
    ``("persons (seed 42)", "20,000")``, prepends a column repeated on every row."""
    head = ["rule", "truth", "flagged", "TP", "precision", "recall", "missed", "false positives"]
    align = ["---", "---:", "---:", "---:", "---:", "---:", "---:", "---:"]
    if first_column:
        head, align = [first_column[0], *head], ["---:", *align]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(align) + "|"]
    for r in results:
        judged = r.has_truth
        row = [r.rule_id, str(r.truth) if judged else "-", str(r.flagged), str(r.true_positives) if judged else "-",
               _ratio(r.precision), _ratio(r.recall), str(len(r.misses)) if judged else "-",
               str(len(r.false_positives)) if judged else "-"]
        if first_column:
            row = [first_column[1], *row]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)
