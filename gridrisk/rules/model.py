"""Risk rules as data: declared in ``conf/rules/*.yaml``, loaded and validated without Spark.

A rule names a *kind* (:mod:`gridrisk.rules.kinds`, one class per kind); the kind declares its
parameters (with types), the facts its explanations may quote, its evidence keys and its
subject type, and validation reads only those declarations. Every problem in every rule file
is reported at once.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gridrisk.config import ConfigError, conf_dir, read_yaml
from gridrisk.rules.kind import PERSON_SUBJECTS

if TYPE_CHECKING:
    from gridrisk.rules.kind import RuleKind

SEVERITIES = ("low", "medium", "high", "critical")
LEVELS = ("grid", "community", "street", "district")
LEVEL_CODE_LENGTH = {"grid": 15, "community": 12, "street": 9, "district": 6}


@dataclass(frozen=True)
class Rule:
    id: str
    version: int
    kind: str
    title: str
    owner: str
    severity: str
    params: dict[str, Any]
    explanation: str
    analyst_explanation: str
    basis: str = ""
    city_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    enabled: bool = True
    #: The evidence keys a task may carry to its receiving unit (none unless listed: deny by
    #: default). The rest stays in gold for analysts — e.g. a traffic police task never carries a
    #: mental-health registry entry.
    task_evidence: tuple[str, ...] = ()
    subject_type: str = ""

    def params_for_city(self, city_code: str) -> dict[str, Any]:
        return {**self.params, **self.city_overrides.get(city_code, {})}


@dataclass(frozen=True)
class Route:
    level: str
    department: str


@dataclass(frozen=True)
class Routing:
    priority_of_severity: dict[str, int]
    routes: dict[str, dict[str, Route]]

    def route(self, rule_id: str, severity: str) -> Route:
        table = self.routes[rule_id]
        return table.get(severity) or table["default"]


_ID = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")


def template_fields(template: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(template) if name]


def _check_param(name: str, value: Any, expected: type | tuple[type, ...]) -> str | None:
    wants_bool = expected is bool or (isinstance(expected, tuple) and bool in expected)
    if (isinstance(value, bool) and not wants_bool) or not isinstance(value, expected):
        want = expected.__name__ if isinstance(expected, type) else " or ".join(t.__name__ for t in expected)
        return f"parameter {name} must be {want}, got {value!r}"
    return None


def default_kinds() -> "Mapping[str, type[RuleKind]]":
    from gridrisk.rules.kinds import KINDS

    return KINDS


def parse_rule(raw: Any, where: str, problems: list[str], kinds: "Mapping[str, type[RuleKind]] | None" = None) -> Rule | None:
    if not isinstance(raw, dict):
        problems.append(f"{where}: a rule must be a mapping")
        return None
    start = len(problems)
    for key in ("id", "version", "kind", "title", "owner", "severity", "params", "explanation", "analyst_explanation"):
        if key not in raw:
            problems.append(f"{where}: missing {key}")
    if len(problems) > start:
        return None
    where = f"{where} ({raw['id']})"
    if not isinstance(raw["id"], str) or not _ID.match(raw["id"]):
        problems.append(f"{where}: id must look like area.name (lower case, dotted)")
    if not isinstance(raw["version"], int) or raw["version"] < 1:
        problems.append(f"{where}: version must be a positive integer")
    if raw["severity"] not in SEVERITIES:
        problems.append(f"{where}: severity must be one of {', '.join(SEVERITIES)}")
    kinds = kinds if kinds is not None else default_kinds()
    kind = kinds.get(raw["kind"])
    if kind is None:
        problems.append(f"{where}: unknown kind {raw['kind']!r}; known kinds: {', '.join(sorted(kinds))}")
        return None
    params = raw["params"] or {}
    for name in sorted(set(kind.params) - set(params)):
        problems.append(f"{where}: parameter {name} is missing")
    for name in sorted(set(params) - set(kind.params)):
        problems.append(f"{where}: unknown parameter {name} for kind {raw['kind']}")
    overrides = raw.get("city_overrides") or {}
    for city, values in overrides.items():
        if not re.fullmatch(r"\d{4}", str(city)):
            problems.append(f"{where}: city_overrides key {city!r} must be a 4-digit city code")
        for name in sorted(set(values or {}) - set(kind.params)):
            problems.append(f"{where}: city {city} overrides unknown parameter {name}")
    for name, expected in kind.params.items():
        for label, source in [("", params)] + [(f"city {c}: ", v or {}) for c, v in overrides.items()]:
            if name in source:
                msg = _check_param(name, source[name], expected)
                if msg:
                    problems.append(f"{where}: {label}{msg}")
    problems.extend(f"{where}: {msg}" for msg in kind.check(params))
    task_evidence = raw.get("task_evidence")
    if task_evidence is None:
        if kind.subject_type in PERSON_SUBJECTS:
            problems.append(f"{where}: task_evidence is required for a rule about a person "
                            f"(the evidence keys its task may carry; known: {', '.join(kind.evidence)})")
        task_evidence = []
    elif not isinstance(task_evidence, list) or not all(isinstance(k, str) for k in task_evidence):
        problems.append(f"{where}: task_evidence must be a list of evidence keys")
        task_evidence = []
    else:
        unknown_keys = sorted(set(task_evidence) - set(kind.evidence))
        if unknown_keys:
            problems.append(f"{where}: task_evidence names unknown evidence key(s) {', '.join(unknown_keys)}; "
                            f"kind {raw['kind']} produces {', '.join(kind.evidence)}")
    for key in ("explanation", "analyst_explanation"):
        try:
            unknown = sorted(set(template_fields(raw[key])) - set(kind.facts))
        except ValueError as exc:
            problems.append(f"{where}: {key} is not a valid template: {exc}")
            continue
        if unknown:
            problems.append(f"{where}: {key} uses unknown fact(s) {', '.join(unknown)}; known: {', '.join(kind.facts)}")
    if not problems[start:]:
        from gridrisk.disclosure import rule_problems

        draft = Rule(id=raw["id"], version=raw["version"], kind=raw["kind"], title=str(raw["title"]), owner=raw["owner"],
                     severity=raw["severity"], params={}, explanation=str(raw["explanation"]),
                     analyst_explanation=str(raw["analyst_explanation"]), task_evidence=tuple(task_evidence))
        problems.extend(f"{where}: {p} (conf/disclosure.yaml)" for p in rule_problems(draft, kind))
    if "\n" in str(raw["explanation"]):
        problems.append(f"{where}: explanation must be one line (a grid worker reads it on a phone)")
    if len(problems) > start:
        return None
    return Rule(
        id=raw["id"], version=raw["version"], kind=raw["kind"], title=raw["title"], owner=raw["owner"],
        severity=raw["severity"], params=dict(params), explanation=raw["explanation"],
        analyst_explanation=raw["analyst_explanation"], basis=raw.get("basis", ""),
        city_overrides={str(k): dict(v or {}) for k, v in overrides.items()}, enabled=bool(raw.get("enabled", True)),
        task_evidence=tuple(task_evidence), subject_type=kind.subject_type,
    )


def load_rules(folder: Path | None = None, routing: "Routing | None" = None,
               kinds: "Mapping[str, type[RuleKind]] | None" = None) -> dict[str, Rule]:
    """Every enabled rule in ``conf/rules/*.yaml``; raises one :class:`ConfigError` listing all problems."""
    folder = folder or conf_dir() / "rules"
    kinds = kinds if kinds is not None else default_kinds()
    problems: list[str] = [p for cls in kinds.values() for p in cls.declaration_problems()]
    rules: dict[str, Rule] = {}
    for path in sorted(folder.glob("*.yaml")):
        doc = read_yaml(path) or {}
        for i, raw in enumerate(doc.get("rules") or []):
            rule = parse_rule(raw, f"{path.name} rules[{i}]", problems, kinds)
            if rule is None:
                continue
            if rule.id in rules:
                problems.append(f"{path.name}: rule {rule.id} is declared twice")
            rules[rule.id] = rule
    routing = routing or load_routing()
    for rule in rules.values():
        if rule.id not in routing.routes:
            problems.append(f"rule {rule.id} has no route in routing.yaml")
    if problems:
        raise ConfigError(str(folder), problems)
    return {k: v for k, v in rules.items() if v.enabled}


def load_routing(path: Path | None = None) -> Routing:
    path = path or conf_dir() / "routing.yaml"
    raw = read_yaml(path) or {}
    problems: list[str] = []
    prio = raw.get("priority_of_severity") or {}
    for sev in SEVERITIES:
        if not isinstance(prio.get(sev), int):
            problems.append(f"priority_of_severity.{sev} must be an integer")
    routes: dict[str, dict[str, Route]] = {}
    for rule_id, table in (raw.get("routes") or {}).items():
        if "default" not in (table or {}):
            problems.append(f"routes.{rule_id}: needs a default route")
        routes[rule_id] = {}
        for sev, route in (table or {}).items():
            if sev != "default" and sev not in SEVERITIES:
                problems.append(f"routes.{rule_id}.{sev}: not a severity")
            if not isinstance(route, dict) or route.get("level") not in LEVELS or not route.get("department"):
                problems.append(f"routes.{rule_id}.{sev}: needs level ({'/'.join(LEVELS)}) and department")
                continue
            routes[rule_id][sev] = Route(route["level"], str(route["department"]))
    if problems:
        raise ConfigError(str(path), problems)
    return Routing(prio, routes)


# --- compound rules: raise the priority of a flag that meets another ---------------------------

COMPOUND_MODES = ("lives_in", "same_grid", "crew_of")
COMPOUND_FACTS = ("address_code", "grid_code", "source_rule")


@dataclass(frozen=True)
class Compound:
    """"Big things, network-wide linkage": a flag whose subject meets a flag of ``source_rules``
    is escalated ``escalate_levels`` severity levels (and so routed and prioritised higher).

    - ``lives_in`` — a person flag whose subject is a current occupant of a flagged address;
    - ``same_grid`` — a flag of ``subject_types`` inside a grid that has a flag of the source rules;
    - ``crew_of`` — a vehicle flag whose plate runs a waybill of the day with a flagged person
      (a person flag of the source rules) as driver or escort.
    """

    id: str
    version: int
    title: str
    mode: str
    subject_types: tuple[str, ...]
    source_rules: tuple[str, ...]
    escalate_levels: int
    note: str


def escalated(severity: str, levels: int) -> str:
    """``medium`` escalated one level is ``high``; nothing goes above ``critical``."""
    return SEVERITIES[min(len(SEVERITIES) - 1, SEVERITIES.index(severity) + levels)]


def load_compounds(folder: Path | None = None, rules: dict[str, Rule] | None = None) -> list[Compound]:
    """Every ``compound:`` entry in ``conf/rules/*.yaml``, validated against the declared rules."""
    folder = folder or conf_dir() / "rules"
    known = rules if rules is not None else load_rules(folder)
    problems: list[str] = []
    out: list[Compound] = []
    for path in sorted(folder.glob("*.yaml")):
        for i, raw in enumerate((read_yaml(path) or {}).get("compound") or []):
            where = f"{path.name} compound[{i}]"
            missing = [k for k in ("id", "version", "title", "mode", "subject_types", "source_rules", "note") if k not in raw]
            if missing:
                problems.append(f"{where}: missing {', '.join(missing)}")
                continue
            where = f"{where} ({raw['id']})"
            if raw["mode"] not in COMPOUND_MODES:
                problems.append(f"{where}: mode must be one of {', '.join(COMPOUND_MODES)}")
            unknown = [r for r in raw["source_rules"] or [] if r not in known]
            if unknown or not raw["source_rules"]:
                problems.append(f"{where}: source_rules must name declared rules; unknown: {', '.join(unknown) or '(none given)'}")
            produced = sorted({r.subject_type for r in known.values()})
            strange = [t for t in raw["subject_types"] or [] if t not in produced]
            if strange or not raw["subject_types"]:
                problems.append(f"{where}: subject_types must name subjects a declared rule produces "
                                f"({', '.join(produced)}); unknown: {', '.join(strange) or '(none given)'}")
            levels = raw.get("escalate_levels", 1)
            if not isinstance(levels, int) or isinstance(levels, bool) or levels < 1:
                problems.append(f"{where}: escalate_levels must be a positive integer")
            fields = set(template_fields(str(raw["note"]))) - set(COMPOUND_FACTS)
            if fields:
                problems.append(f"{where}: note uses unknown fact(s) {', '.join(sorted(fields))}; known: {', '.join(COMPOUND_FACTS)}")
            out.append(Compound(str(raw["id"]), int(raw["version"]), str(raw["title"]), str(raw["mode"]),
                                tuple(raw["subject_types"] or ()), tuple(raw["source_rules"] or ()), int(levels) if isinstance(levels, int) else 1,
                                str(raw["note"])))
    if problems:
        raise ConfigError(str(folder), problems)
    return out


def fingerprint(*parts: Any) -> str:
    """A short stable hash of rule configuration (rules, routing, compounds): a run whose
    configuration differs from the previous run's must recompute everything."""
    import hashlib

    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]
