"""``conf/generator.yaml``: loading, overrides and validation (all problems reported at once)."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gridrisk.config import conf_dir, read_yaml

from .fire import CATALOG as FIRE_CATALOG
from .hazmat import CREW_CATALOG, DAY_CATALOG
from .population import CATALOG as PERSON_CATALOG


def config_path() -> Path:
    """``conf/generator.yaml`` of the checkout (``GRIDRISK_HOME`` moves it, as for every conf file)."""
    return conf_dir() / "generator.yaml"

#: The planted cases of every rule the generator writes truth for: rule → (positive variants,
#: near-miss variants). One list, owned by the modules that plant them.
CATALOG: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {**PERSON_CATALOG, **FIRE_CATALOG, **CREW_CATALOG, **DAY_CATALOG}
#: The rule ids of domain.md §4 that the generator plants and writes truth for.
RULES = tuple(CATALOG)


def load_config(path: Path | None = None) -> dict[str, Any]:
    return read_yaml(path or config_path())


def load_noise_defaults(path: Path | None = None) -> dict[str, float]:
    """The overridable knobs as one flat dict: noise rates, then ``oversampling.<rule>``."""
    conf = load_config(path)
    flat: dict[str, float] = {k: float(v) for k, v in conf["noise"].items()}
    for rule, factor in conf["oversampling"].items():
        flat[f"oversampling.{rule}"] = float(factor)
    return flat


@dataclass(frozen=True)
class Settings:
    """Everything a run needs: the raw config plus the effective (scaled) noise rates."""

    conf: dict[str, Any]
    knobs: dict[str, float]  # flat, after overrides, before scaling (recorded in the truth)
    noise: dict[str, float]  # effective rates (scale applied)
    oversampling: dict[str, float]
    sizes: dict[str, float] = field(default_factory=dict)  # overridden entries of conf `sizes` (recorded in the truth)

    def planted(self, rule: str, persons: int, positives: int, near_misses: int) -> tuple[int, int]:
        """(planted positives, planted near misses) of ``rule`` for one date."""
        planting = self.conf["planting"]
        least = int(planting["min_per_variant"])
        expected = self.conf["base_per_million"][rule] * persons / 1e6 * self.oversampling[rule]
        n_pos = max(positives * least, int(math.floor(expected + 0.5)))
        n_nm = max(near_misses * least, int(math.floor(n_pos * planting["near_miss_per_positive"] + 0.5)))
        return n_pos, n_nm


def settings(overrides: dict | None = None, path: Path | None = None, sizes: dict | None = None) -> Settings:
    """Merge ``overrides`` (flat keys as in :func:`load_noise_defaults`) and ``sizes`` (scalar
    entries of the ``sizes`` section, e.g. ``{"hazmat_vehicles_per_million": 115000}``) and
    validate; every problem is reported at once."""
    conf = copy.deepcopy(load_config(path))
    knobs = load_noise_defaults(path)
    errors: list[str] = []
    for key, value in (sizes or {}).items():
        current = conf["sizes"].get(key)
        if not isinstance(current, int | float) or isinstance(current, bool):
            known = sorted(k for k, v in conf["sizes"].items() if isinstance(v, int | float))
            errors.append(f"unknown size {key!r} (known: {', '.join(known)})")
        elif isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            errors.append(f"size {key!r} must be a positive number, got {value!r}")
        else:
            conf["sizes"][key] = value
    for key, value in (overrides or {}).items():
        if key not in knobs:
            errors.append(f"unknown noise key {key!r} (known: {', '.join(sorted(knobs))})")
            continue
        try:
            knobs[key] = float(value)
        except (TypeError, ValueError):
            errors.append(f"noise key {key!r}: {value!r} is not a number")
    for key, value in knobs.items():
        if key.startswith("oversampling."):
            if value < 0:
                errors.append(f"{key} must be ≥ 0, got {value}")
        elif key != "scale" and not 0.0 <= value <= 1.0:
            errors.append(f"noise rate {key} must be within [0, 1], got {value}")
    if knobs.get("scale", 1.0) < 0:
        errors.append("noise scale must be ≥ 0")
    missing = [r for r in RULES if f"oversampling.{r}" not in knobs or r not in conf["base_per_million"]]
    errors += [f"conf/generator.yaml has no oversampling/base_per_million entry for {r}" for r in missing]
    if errors:
        raise ValueError("invalid generator settings:\n- " + "\n- ".join(errors))
    scale = knobs["scale"]
    noise = {k: min(1.0, v * scale) for k, v in knobs.items() if not k.startswith("oversampling.") and k != "scale"}
    oversampling = {k.split(".", 1)[1]: v for k, v in knobs.items() if k.startswith("oversampling.")}
    return Settings(conf=conf, knobs=knobs, noise=noise, oversampling=oversampling, sizes=dict(sizes or {}))
