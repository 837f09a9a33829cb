"""The rule-kind contract: one class per kind owns everything about it.

A kind declares, as class attributes, its parameters (with types), the facts its explanations
may quote, the evidence keys it produces, its subject type and its inputs (lake tables, with how
many earlier days of an event table it needs). Validation of a declared rule reads only these
declarations, so ``conf/rules`` is checked without Spark.

A kind's Spark code is one method, :meth:`RuleKind.hits`, that returns a :class:`Hits`: a
DataFrame plus the columns that make a hit — subject, place, severity, and the facts and evidence
as ``name → Column`` maps. The final :meth:`RuleKind.evaluate` assembles those into the one hit
shape every kind shares (:data:`HIT_COLUMNS`) and checks that the facts and evidence keys are
exactly the declared ones, so a kind cannot quote a fact it did not declare or leak evidence a
rule's ``task_evidence`` has not been validated against.

Example:
    >>> from gridrisk.rules.kinds import KINDS
    >>> KINDS["licence_condition"].subject_type
    'person'
    >>> KINDS["licence_condition"].evidence
    ('licences', 'registry', 'person')
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, final

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

    from gridrisk.rules import Rule

ParamType = type | tuple[type, ...]

#: The columns of every kind's hits (before the explanations are rendered).
HIT_COLUMNS = ("subject_type", "subject_key", "address_code", "grid_code", "lon", "lat", "severity", "facts", "evidence")
#: Subject types a kind may produce (compound rules name them too).
SUBJECT_TYPES = ("address", "building", "person", "vehicle", "unit")
#: Subject types about a person: their rules must say which evidence a task may carry.
PERSON_SUBJECTS = ("person",)


class KindError(RuntimeError):
    """A kind's Spark code does not match its declarations (a programming error, not bad data)."""


@dataclass(frozen=True)
class Input:
    """One input of a kind: a lake table (by name; its layer comes from the catalog) and how many
    days before the logical date it needs (an event table whose episodes cross midnight)."""

    table: str
    lookback_days: int = 0
    subject_column: str = ""
    #: Inputs of one rule that share a group are alternatives: the rule runs when at least one of
    #: them is there for the day — *partially* when not all are (its new hits are filed, none of
    #: its flags is resolved: what the missing one would have said is not known). An input
    #: without a group is needed: the rule is skipped without it.
    group: str = ""


def absent_inputs(specs: Iterable[Input], missing: Collection[str]) -> tuple[list[str], list[str]]:
    """Of one rule's inputs ``specs``, the ``missing`` ones that skip it and those it runs without
    (the others of their group are there: :attr:`Input.group`).

    Example:
        >>> specs = (Input("licences"), Input("mental", group="registry"), Input("drugs", group="registry"))
        >>> absent_inputs(specs, {"drugs"})
        ([], ['drugs'])
        >>> absent_inputs(specs, {"mental", "drugs"})
        (['drugs', 'mental'], [])
    """
    specs = tuple(specs)
    gone = [i for i in specs if i.table in missing]
    blocking = sorted(i.table for i in gone
                      if not i.group or all(j.table in missing for j in specs if j.group == i.group))
    return blocking, sorted(i.table for i in gone if i.table not in blocking)


@dataclass(frozen=True)
class Window:
    """What one evaluation covers: a logical date, or one hour of it (hourly runs)."""

    ds: str
    hour: int | None = None

    def day(self) -> "Column":
        from pyspark.sql import functions as F

        return F.lit(self.ds).cast("date")

    @property
    def start(self) -> dt.datetime:
        day = dt.datetime.fromisoformat(self.ds)
        return day if self.hour is None else day.replace(hour=self.hour)

    @property
    def end(self) -> dt.datetime:
        return self.start + (dt.timedelta(days=1) if self.hour is None else dt.timedelta(hours=1))


@dataclass
class Hits:
    """What :meth:`RuleKind.hits` returns: ``frame`` and the columns (over it) of each hit."""

    frame: "DataFrame"
    subject_key: "Column"
    severity: "Column"
    facts: Mapping[str, "Column"]
    evidence: Mapping[str, "Column"]
    address_code: "Column | None" = None
    grid_code: "Column | None" = None
    lon: "Column | None" = None
    lat: "Column | None" = None
    extra: dict[str, Any] = field(default_factory=dict)


class RuleKind:
    """Base of every rule kind. Subclasses set the class attributes and implement :meth:`hits`."""

    name: ClassVar[str]
    subject_type: ClassVar[str]
    inputs: ClassVar[tuple[Input, ...]]
    params: ClassVar[dict[str, ParamType]]
    facts: ClassVar[tuple[str, ...]]
    evidence: ClassVar[tuple[str, ...]]
    #: May run per hour of the day (event inputs only).
    hourly: ClassVar[bool] = False
    #: May be evaluated incrementally (:mod:`jobs.gold.incremental`): its answer for a subject
    #: depends only on that subject's rows of each input's ``ds`` partition and on its
    #: :meth:`day_tests`. Not so for the kinds over event history, look-back windows or the
    #: day's waybills (hazmat, fire): a plate flagged yesterday with no report today has
    #: unchanged rows yet must resolve. They are recomputed in full every day — their inputs
    #: are mostly new each day anyway.
    incremental: ClassVar[bool] = True
    #: Facts and evidence keys that carry registry details (a diagnosis' grounds, drug-control
    #: measures): analysts may see them, a task never (gridrisk.disclosure).
    sensitive_facts: ClassVar[tuple[str, ...]] = ()
    sensitive_evidence: ClassVar[tuple[str, ...]] = ()

    # --- declarations -----------------------------------------------------------------------

    @classmethod
    def inputs_for(cls, rule: "Rule") -> tuple[Input, ...]:
        """The inputs one rule of the kind reads: all the kind's by default; a kind whose rules
        read some of them by their parameters (the person kinds: only the registries a rule's
        ``conditions`` name) narrows it, so a missing input skips only the rules that read it."""
        return cls.inputs

    @classmethod
    def input_names(cls, rule: "Rule | None" = None) -> tuple[str, ...]:
        """The tables the kind may read (``rule``: that rule reads)."""
        return tuple(i.table for i in cls._specs(rule))

    @classmethod
    def subject_columns(cls, rule: "Rule | None" = None) -> dict[str, str]:
        """input table → the column naming the subject of each of its rows (incremental runs)."""
        return {i.table: i.subject_column for i in cls._specs(rule) if i.subject_column}

    @classmethod
    def _specs(cls, rule: "Rule | None") -> tuple[Input, ...]:
        """Every input of the kind, or those of one rule (:meth:`inputs_for`)."""
        return cls.inputs if rule is None else cls.inputs_for(rule)

    @classmethod
    def check(cls, params: dict[str, Any]) -> list[str]:
        """Cross-parameter problems of one rule's parameters (none by default)."""
        return []

    @classmethod
    def declaration_problems(cls) -> list[str]:
        """What is wrong with the kind's own declarations (checked once, at load)."""
        out = []
        where = f"kind {getattr(cls, 'name', cls.__name__)}"
        for attr in ("name", "subject_type", "inputs", "params", "facts", "evidence"):
            if not hasattr(cls, attr):
                out.append(f"{where}: declares no {attr}")
        if out:
            return out
        if cls.subject_type not in SUBJECT_TYPES:
            out.append(f"{where}: subject_type {cls.subject_type!r} is not one of {', '.join(SUBJECT_TYPES)}")
        if len(set(cls.facts)) != len(cls.facts) or len(set(cls.evidence)) != len(cls.evidence):
            out.append(f"{where}: facts and evidence keys must be unique")
        if not set(cls.sensitive_facts) <= set(cls.facts) or not set(cls.sensitive_evidence) <= set(cls.evidence):
            out.append(f"{where}: sensitive facts and evidence must be among its facts and evidence")
        if cls.hourly and not any(i.lookback_days or i.subject_column for i in cls.inputs):
            out.append(f"{where}: an hourly kind needs an event input")
        return out

    def day_tests(self, rule: "Rule") -> dict[str, list[Callable[["Column"], "Column"]]]:
        """input table → row tests that take the day as a column (none: the inputs say it all).

        A subject needs re-evaluating in an incremental run when one of these flips between two
        days; they must be the same functions :meth:`hits` uses."""
        return {}

    # --- Spark ------------------------------------------------------------------------------

    def hits(self, inputs: "dict[str, DataFrame]", rule: "Rule", window: Window) -> Hits:
        raise NotImplementedError

    @final
    def evaluate(self, inputs: "dict[str, DataFrame]", rule: "Rule", window: Window) -> "DataFrame":
        """The hits of ``rule`` in :data:`HIT_COLUMNS`, facts and evidence checked against the
        declarations."""
        from pyspark.sql import functions as F

        h = self.hits(inputs, rule, window)
        for what, got, declared in (("facts", h.facts, self.facts), ("evidence", h.evidence, self.evidence)):
            if set(got) != set(declared):
                extra, missing = sorted(set(got) - set(declared)), sorted(set(declared) - set(got))
                raise KindError(f"kind {self.name}: {what} keys differ from its declaration "
                                f"(undeclared: {', '.join(extra) or '-'}; not produced: {', '.join(missing) or '-'})")
        facts = F.create_map(*[part for k in self.facts for part in (F.lit(k), h.facts[k].cast("string"))])
        evidence = F.to_json(F.struct(*[h.evidence[k].alias(k) for k in self.evidence]))

        def place(col: "Column | None", name: str, typ: str) -> "Column":
            return (col if col is not None else F.lit(None)).cast(typ).alias(name)

        return h.frame.select(
            F.lit(self.subject_type).alias("subject_type"),
            h.subject_key.cast("string").alias("subject_key"),
            place(h.address_code, "address_code", "string"),
            place(h.grid_code, "grid_code", "string"),
            place(h.lon, "lon", "double"),
            place(h.lat, "lat", "double"),
            h.severity.alias("severity"),
            facts.alias("facts"),
            evidence.alias("evidence"),
        )
