"""The one place a SparkSession is built.

Delta Lake's extension and catalog are always on; the Delta jars come from Maven Central
through Spark's Ivy resolver on first use and are cached (``~/.ivy2.5.2``). The first run
says so, with the download size, so a slow first start is not a mystery.

Jobs never build sessions: ``main()`` entry points call :func:`get_spark` and pass the
session into ``run(spark, …)``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from gridrisk.config import Profile, load_profile

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

SUPPORTED_JAVA = (17, 21)
DELTA_DOWNLOAD_MB = 87  # measured: 33 jars, delta-spark + kernel + hadoop client + parquet


class EnvironmentProblem(RuntimeError):
    """Something outside the project is missing; the message names the fix."""


def java_major_version() -> int | None:
    """Major version of the ``java`` Spark will start (``JAVA_HOME`` first), or None."""
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not java or not Path(java).exists():
        return None
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30).stderr
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not m:
        return None
    major = int(m.group(1))
    return int(m.group(2)) if major == 1 and m.group(2) else major


def check_java() -> int:
    """Raise a one-line :class:`EnvironmentProblem` unless Java 17 or 21 is available."""
    major = java_major_version()
    if major is None:
        raise EnvironmentProblem(
            "Java not found: Spark needs Java 17 — install it (apt-get install openjdk-17-jre-headless) "
            "or set JAVA_HOME to a JDK 17 folder."
        )
    if major not in SUPPORTED_JAVA:
        raise EnvironmentProblem(
            f"Java {major} found but Spark 4 needs Java 17 or 21 — set JAVA_HOME to a JDK 17 "
            "(e.g. export JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64)."
        )
    return major


def delta_package() -> str:
    """The Maven coordinate of the Delta jar that matches the installed pip packages."""
    from importlib.metadata import version

    import pyspark

    spark_mm = ".".join(pyspark.__version__.split(".")[:2])
    return f"io.delta:delta-spark_{spark_mm}_2.13:{version('delta-spark')}"


def ivy_dir() -> Path:
    return Path(os.environ.get("GRIDRISK_IVY_DIR", Path.home() / ".ivy2.5.2"))


def delta_jars_cached(package: str | None = None) -> bool:
    group, artifact, ver = (package or delta_package()).split(":")
    return (ivy_dir() / "jars" / f"{group}_{artifact}-{ver}.jar").exists()


def use_pipeline_clock(tz: str) -> None:
    """Make Python see timestamps in the pipeline's zone too (all sources are GMT+8).

    PySpark turns timestamps into naive datetimes in the *Python process's* zone; without
    this a driver on a UTC machine would show 08:30 as 00:30.
    """
    import time

    if os.environ.get("TZ") != tz:
        os.environ["TZ"] = tz
        time.tzset()


def get_spark(profile: Profile | None = None, app_name: str | None = None) -> "SparkSession":
    """Build (or return the running) SparkSession for ``profile``.

    Example:
        >>> spark = get_spark(load_profile("local"))  # doctest: +SKIP
    """
    profile = profile or load_profile()
    check_java()
    use_pipeline_clock(profile.spark_conf.get("spark.sql.session.timeZone", "Asia/Shanghai"))
    # Python workers must run the interpreter that has the project installed (the venv).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    package = delta_package()
    if not delta_jars_cached(package):
        print(
            f"gridrisk: first run — downloading the Delta Lake jars ({package}, ~{DELTA_DOWNLOAD_MB} MB) "
            f"from Maven Central into {ivy_dir()}; later runs use the cache.",
            file=sys.stderr,
            flush=True,
        )
    builder = (
        SparkSession.builder.master(profile.spark_master)
        .appName(app_name or profile.app_name)
        .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
        .config("spark.jars.packages", package)
        .config("spark.jars.ivy", str(ivy_dir()))
    )
    for key, value in profile.spark_conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(os.environ.get("GRIDRISK_SPARK_LOG_LEVEL", "ERROR"))
    return spark
