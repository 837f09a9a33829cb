"""Risk rules as data: the rule model and its validation (:mod:`gridrisk.rules.model`), the
rule-kind contract (:mod:`gridrisk.rules.kind`) and the kinds (:mod:`gridrisk.rules.kinds`).

Example:
    >>> rules = load_rules()
    >>> r = rules["rental.overcrowded"]
    >>> r.params_for_city("3201")["max_area_per_occupant_m2"]
    10.0
    >>> r.subject_type
    'address'
"""

from gridrisk.rules.model import (
    COMPOUND_FACTS,
    COMPOUND_MODES,
    LEVEL_CODE_LENGTH,
    LEVELS,
    SEVERITIES,
    Compound,
    Route,
    Routing,
    Rule,
    escalated,
    fingerprint,
    load_compounds,
    load_routing,
    load_rules,
    parse_rule,
    template_fields,
)

__all__ = [
    "COMPOUND_FACTS", "COMPOUND_MODES", "LEVEL_CODE_LENGTH", "LEVELS", "SEVERITIES", "Compound", "Route", "Routing",
    "Rule", "escalated", "fingerprint", "load_compounds", "load_routing", "load_rules", "parse_rule", "template_fields",
]
