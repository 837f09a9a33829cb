"""What leaves the restricted layers for a receiving unit: one policy, checked twice.

``conf/disclosure.yaml`` lists the terms a task's text may never contain (drug-control measures,
diagnoses, the mental-health registry's words). Rule kinds mark the facts and evidence keys that
carry registry details (``sensitive_facts`` / ``sensitive_evidence``). Rules are checked when they
load (:func:`rule_problems`: their title and task explanation, the facts it quotes, their
``task_evidence``); every task is checked again when it is filed (:func:`task_problems`), so
nothing a kind produces at run time can slip through either.

Example:
    >>> task_problems("请核实后依法办理驾驶证注销。", {"licences": [{"status": "正常"}]})
    []
    >>> task_problems("持证人为社区戒毒人员", {})
    ["text contains '社区戒毒'"]
"""

from __future__ import annotations

import json
from functools import cache
from typing import TYPE_CHECKING, Any

from gridrisk.config import ConfigError, conf_dir, read_yaml

if TYPE_CHECKING:
    from gridrisk.rules.kind import RuleKind
    from gridrisk.rules.model import Rule


class DisclosureError(RuntimeError):
    """A task would tell its receiving unit something only analysts may see."""


@cache
def forbidden_terms() -> tuple[str, ...]:
    path = conf_dir() / "disclosure.yaml"
    raw = read_yaml(path) or {}
    terms = raw.get("task_forbidden_terms")
    if not isinstance(terms, list) or not terms or not all(isinstance(t, str) and t for t in terms):
        raise ConfigError(str(path), ["task_forbidden_terms must be a non-empty list of words"])
    return tuple(terms)


def text_problems(text: str) -> list[str]:
    return [f"text contains {term!r}" for term in forbidden_terms() if term in text]


def task_problems(text: str, evidence: dict[str, Any]) -> list[str]:
    """Why a task's text and evidence may not go to its receiving unit (empty: it may)."""
    return text_problems(text + " " + json.dumps(evidence, ensure_ascii=False))


def rule_problems(rule: "Rule", kind: "type[RuleKind]") -> list[str]:
    """What in a rule's declaration would disclose registry details to the receiving unit."""
    from gridrisk.rules.model import template_fields

    out = [f"title: {p}" for p in text_problems(rule.title)]
    literal = "".join(part for part in _literal_parts(rule.explanation))
    out += [f"explanation: {p}" for p in text_problems(literal)]
    quoted = sorted(set(template_fields(rule.explanation)) & set(kind.sensitive_facts))
    if quoted:
        out.append(f"explanation quotes {', '.join(quoted)}, which only analysts may see (use analyst_explanation)")
    carried = sorted(set(rule.task_evidence) & set(kind.sensitive_evidence))
    if carried:
        out.append(f"task_evidence carries {', '.join(carried)}, which only analysts may see")
    return out


def _literal_parts(template: str) -> list[str]:
    import string

    return [literal for literal, _, _, _ in string.Formatter().parse(template)]
