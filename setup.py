"""gridrisk: Airflow-scheduled PySpark jobs that land departments' extracts in a Delta lake,
gate them with Great Expectations, resolve people and addresses, run risk rules and push
inspection tasks to grid centres.

Exact versions live in constraints.txt; the ranges here only say what the code needs. The
install is split so that each user takes only what their part imports:

* core (no extra) — configuration, rules, the task store (SQLite and PostgreSQL): what a
  task-store or API user needs, without Spark, Airflow or Splink;
* ``spark`` — the jobs: Spark, Delta, Great Expectations, Splink and the name/ID standardisers;
* ``airflow`` — the DAGs (the tasks they run need ``spark`` too: ``all`` has both);
* ``synth`` — the third-party libraries of the development package ``gridrisk-synth``
  (``synth/``: the generator and the accuracy oracle), read from ``synth/pyproject.toml``;
* ``service`` — the grid centres' task service (``gridrisk serve``: FastAPI, uvicorn, alembic),
  on the core alone, no Spark;
* ``geo`` — the hazmat tracks' spatial joins (shapely; h3 for the benchmark that measured it);
* ``cli`` — what the ``gridrisk`` command's read-only answers need without a JVM (delta-rs, wcwidth);
* ``report`` — the analysts' report (``gridrisk report``: delta-rs, Vega-Lite, openpyxl), no JVM;
* ``dev`` — tests, linters and the benchmark helpers;
* ``all`` — every extra above except ``dev``.

Development (``make venv``): ``pip install -c constraints.txt -e '.[all,dev]' -e ./synth``.
"""

import tomllib
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).resolve().parent


def synth_requirements() -> list[str]:
    """The generator's third-party dependencies, declared once in synth/pyproject.toml."""
    with open(HERE / "synth" / "pyproject.toml", "rb") as fh:
        deps = tomllib.load(fh)["project"]["dependencies"]
    return [d for d in deps if not d.startswith("gridrisk")]


EXTRAS = {
    "spark": [
        "pyspark>=4.2,<4.3",
        "delta-spark>=4.4,<4.5",
        "pandas>=2.2,<3",  # pandas UDFs in jobs/silver; pyspark 4.2 warns on pandas 3
        "pyarrow>=15",  # pandas UDFs and gridrisk/storage.py (inbox on local disk or object storage)
        "great-expectations>=1.20,<2",  # plain, not [spark]: that extra caps pyspark below 4.2
        "splink>=5,<6",
        "pypinyin>=0.50",
        "opencc-python-reimplemented>=0.1.7",
    ],
    "airflow": [
        "apache-airflow>=3.1,<3.4",  # no apache-spark provider: it pulls pyspark-client
    ],
    "synth": synth_requirements(),
    # The grid centres' task service (gridrisk serve): no pyspark needed for it.
    "service": ["fastapi>=0.115", "uvicorn>=0.30", "alembic>=1.13", "sqlalchemy>=2", "httpx>=0.27"],
    # gridrisk report: the lake read without a JVM, Vega-Lite charts inlined, the workbook.
    "report": ["deltalake>=1.0,<2", "altair>=5.4", "vl-convert-python>=1.7", "openpyxl>=3.1", "Jinja2>=3.1"],
    # the gridrisk command: read-only answers without a JVM; tables measured in display width.
    "cli": ["deltalake>=1.0,<2", "wcwidth>=0.2"],
    # Spatial joins of GPS points (gridrisk/spatial.py, jobs/silver/vehicle_tracks.py); H3 is the
    # alternative benchmarks/bench_spatial.py measures against shapely (docs/hazmat.md).
    "geo": [
        "shapely>=2",
        "h3>=4.4,<5",
    ],
    # benchmarks/bench_reference_duckdb.py: the rules' single-node reference (DuckDB over the
    # silver Parquet files, listed from the Delta log by deltalake).
    "bench": ["duckdb>=1.1", "deltalake>=1.0,<2"],
    "dev": [
        "pytest>=8",
        "pytest-xdist>=3.6",  # make test: two workers, whole files each (a Spark test leaves a core idle)
        "ruff>=0.6",
        "mypy>=1.10",
        "shapely>=2",  # tests/test_generate.py checks the grid geometry
        "psutil>=5.9",  # benchmarks: peak memory of the Python + JVM process tree
        "playwright>=1.45",  # browser tests (with Debian's chromium-headless-shell)
        "openapi-spec-validator>=0.7",
    ],
}
EXTRAS["all"] = sorted({req for name, reqs in EXTRAS.items() if name != "dev" for req in reqs})

setup(
    name="gridrisk",
    version="0.1.0",
    description="Big-data risk screening for grid-based social governance",
    python_requires=">=3.11,<3.12",
    packages=find_packages(include=["gridrisk", "gridrisk.*", "jobs", "jobs.*", "cli", "cli.*"]),
    # Data Docs' front-end files, vendored for offline use (gridrisk/quality/gx_report.py)
    package_data={"gridrisk.quality": ["static/vendor/*", "static/vendor/**/*"]},
    install_requires=[
        "pyyaml>=6",
        "tabulate>=0.9",
        "chinese-calendar>=1.9",  # SLA working days (gridrisk/taskstore/sla.py)
        "psycopg[binary]>=3.1",  # the PostgreSQL task store
    ],
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["gridrisk=cli.main:main"]},
)
