"""The rule thresholds the truth uses, read from ``conf/rules/*.yaml`` — never a second copy.

Rules the pipeline declares (``rules:`` entries) come through :func:`gridrisk.rules.load_rules`,
so the truth moves with a threshold changed in YAML. The code lists of the generator's state
(:mod:`.tables`) are matched to the declared strings (``正常``, ``社区戒毒``, ``厨房`` …) here.

The fire and hazmat truth (:mod:`.fire`, :mod:`.hazmat`) reads the params of the rules of
``conf/rules/fire.yaml`` and ``hazmat.yaml`` the same way, e.g.
``params("fire.inspection_overdue")["more_than_days"]``.

Example:
    >>> cond = condition("driver.mental")
    >>> cond.mental_min_risk_level
    3
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from gridrisk.config import conf_dir
from gridrisk.rules import Rule, load_rules

from .output import NODATE, day_number, from_day_number, years_before
from .tables import CERT_STATUS, CERT_TYPES, DRUG_STATUS, LETTINGS, LICENCE_STATUS, ROOM_TYPES


@cache
def _rules(folder: Path) -> dict[str, Rule]:
    return load_rules(folder)


def rule(rule_id: str) -> Rule:
    """The declared rule ``rule_id`` (``conf/rules``); a clear error if the truth needs an undeclared one."""
    rules = _rules(conf_dir() / "rules")
    if rule_id not in rules:
        raise KeyError(f"the generator's truth needs rule {rule_id!r}, which conf/rules does not declare (or disables)")
    return rules[rule_id]


def params(rule_id: str, city: str | None = None) -> dict[str, Any]:
    """A rule's parameters, with the overrides of ``city`` (4-digit division prefix) if given."""
    r = rule(rule_id)
    return r.params_for_city(city) if city else dict(r.params)


def city_overrides(rule_id: str) -> dict[str, dict[str, Any]]:
    return rule(rule_id).city_overrides


def clock_seconds(hh_mm: str) -> int:
    """``"22:00"`` → seconds after midnight."""
    hours, minutes = hh_mm.split(":")
    return int(hours) * 3600 + int(minutes) * 60


def codes(names: list[str], table: tuple[str, ...], what: str) -> tuple[int, ...]:
    """Declared strings → the generator's integer codes (an unknown string is a config error)."""
    unknown = [n for n in names if n not in table]
    if unknown:
        raise ValueError(f"{what}: {unknown} not among the generator's values {table}")
    return tuple(table.index(n) for n in names)


@dataclass(frozen=True)
class Condition:
    """When a registry entry is a licence-cancellation condition (params of the person kinds)."""

    conditions: tuple[str, ...]
    mental_min_risk_level: int
    mental_incident_history: bool
    drug_control: tuple[int, ...]
    drug_recent_years: int

    def mental(self, risk: np.ndarray, incident: np.ndarray) -> np.ndarray:
        hit = np.asarray(risk) >= self.mental_min_risk_level
        return hit | np.asarray(incident, dtype=bool) if self.mental_incident_history else hit

    def drugs(self, status, last_use, release, day: int) -> np.ndarray:
        """A control status, or last use / release from compulsory rehab within the recent years."""
        cutoff = day_number(years_before(from_day_number(day), self.drug_recent_years))
        status, last_use, release = np.asarray(status), np.asarray(last_use), np.asarray(release)
        return (np.isin(status, self.drug_control) | ((last_use != NODATE) & (last_use > cutoff))
                | ((release != NODATE) & (release > cutoff)))


def condition(rule_id: str) -> Condition:
    return _condition(rule_id, conf_dir() / "rules")


@cache
def _condition(rule_id: str, folder: Path) -> Condition:  # called per crew member: built once
    p = params(rule_id)
    return Condition(tuple(p["conditions"]), int(p["mental_min_risk_level"]), bool(p["mental_incident_history"]),
                     codes(p["drug_control_statuses"], DRUG_STATUS, f"{rule_id}.drug_control_statuses"),
                     int(p["drug_recent_years"]))


#: The person rules of the truth and their kinds' meaning of "a registry hit".
CONDITION_RULES = ("driver.mental", "driver.drugs", "data.licence_not_cancelled", "worker.at_risk")


def any_condition(kind: str, *args) -> np.ndarray:
    """``kind`` (mental / drugs) under any person rule's reading: ambient people for whom this is
    true never hold a 正常 licence or an active qualification, so ambient data fires no rule."""
    out = None
    for rule_id in CONDITION_RULES:
        c = condition(rule_id)
        hit = c.mental(*args) if kind == "mental" else c.drugs(*args)
        out = hit if out is None else out | hit
    assert out is not None
    return out


def licence_codes(names: list[str], what: str) -> tuple[int, ...]:
    return codes(names, LICENCE_STATUS, what)


def cert_status_codes(names: list[str], what: str) -> tuple[int, ...]:
    return codes(names, CERT_STATUS, what)


def cert_type_codes(names: list[str], what: str) -> tuple[int, ...]:
    return codes(names, CERT_TYPES, what)


def room_type_codes(names: list[str], what: str) -> tuple[int, ...]:
    return codes(names, ROOM_TYPES, what)


def letting_codes(names: list[str], what: str) -> tuple[int, ...]:
    return codes(names, LETTINGS, what)
