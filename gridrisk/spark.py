"""The one place a SparkSession is built.

Delta Lake's extension and catalog are always on; the Delta jars come from Maven Central
through Spark's Ivy resolver on first use and are cached (``~/.ivy2.5.2``). The first run
says so, with the download size, so a slow first start is not a mystery. It then records the
resolved jar files (``<ivy>/gridrisk-<package>.jars``), and later sessions load exactly those
with ``spark.jars``: no resolution, no Ivy report on the terminal, no network.

The JVM's own logging (Spark, Delta, Hadoop, Ivy's log4j messages) goes to a log file at its
true level, not to the terminal: ``<lake>/_logs/spark.log`` for a lake on local disk, else
``$GRIDRISK_LOG_DIR`` (default ``./logs``). ``GRIDRISK_SPARK_LOG_LEVEL`` sets the file's level
(default ``WARN``) and ``GRIDRISK_SPARK_CONSOLE_LEVEL`` what still reaches stderr (default
``OFF``: a failed job reaches the user as the Python exception). A profile that sets
``-Dlog4j2.configurationFile`` in ``spark.driver.extraJavaOptions`` keeps its own.

Jobs never build sessions: ``main()`` entry points call :func:`get_spark` and pass the
session into ``run(spark, …)``. The long-running engine (:mod:`gridrisk.engine`) runs each
request in a session of its own (:func:`use_session`): one JVM, separate SQL settings and views.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING

from gridrisk.config import Profile, load_profile

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

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


def _jar_list_file(package: str) -> Path:
    return ivy_dir() / f"gridrisk-{package.replace(':', '_')}.jars"


def staged_jars(package: str) -> list[str] | None:
    """The jar files an earlier Ivy resolution of ``package`` fetched, if all are still there."""
    listing = _jar_list_file(package)
    if not listing.exists():
        return None
    jars = [line.strip() for line in listing.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not jars or not all(Path(j).is_file() for j in jars):
        return None
    return jars


def stage_jars(spark: "SparkSession", package: str) -> list[str]:
    """Record the jar files Spark resolved for ``package`` (from ``spark.jars``, which
    spark-submit fills with the resolved files), so later sessions skip the resolution."""
    jars = []
    for uri in spark.sparkContext.getConf().get("spark.jars", "").split(","):
        path = uri.strip()
        for prefix in ("file://", "file:"):
            if path.startswith(prefix):
                path = path[len(prefix):]
                break
        if path.endswith(".jar") and Path(path).is_file() and Path(path).resolve().is_relative_to(ivy_dir().resolve()):
            jars.append(str(Path(path)))
    if jars:
        listing = _jar_list_file(package)
        tmp = listing.with_name(f".{listing.name}.{os.getpid()}")
        tmp.write_text("\n".join(sorted(jars)) + "\n", encoding="utf-8")
        tmp.replace(listing)  # atomic: a concurrent first run never reads half a list
    return jars


def log_dir(profile: Profile) -> Path:
    """Where the JVM's log goes: beside the lake when it is on local disk, else ``$GRIDRISK_LOG_DIR``."""
    if "://" not in profile.lake or profile.lake.startswith("file://"):
        return Path(profile.lake.removeprefix("file://")) / "_logs"
    return Path(os.environ.get("GRIDRISK_LOG_DIR") or "logs").resolve()


LOG4J2 = """\
# Written by gridrisk.spark for each session: the JVM's log goes to a file at its true level.
status = warn
rootLogger.level = {file_level}
rootLogger.appenderRef.file.ref = file
rootLogger.appenderRef.console.ref = console
appender.file.type = RollingFile
appender.file.name = file
appender.file.fileName = {log_file}
appender.file.filePattern = {log_file}.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = %d{{yyyy-MM-dd HH:mm:ss.SSS}} %-5p [%t] %c: %m%n%ex
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 20MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 5
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %-5p %c{{1}}: %m%n%ex
appender.console.filter.threshold.type = ThresholdFilter
appender.console.filter.threshold.level = {console_level}
# As Spark's own defaults: these are noisy at any level below ERROR.
logger.jetty.name = org.sparkproject.jetty
logger.jetty.level = error
logger.parquet.name = org.apache.parquet
logger.parquet.level = error
logger.parquet2.name = parquet
logger.parquet2.level = error
logger.hive.name = org.apache.hadoop.hive.metastore.RetryingHMSHandler
logger.hive.level = fatal
"""

_LEVELS = ("OFF", "FATAL", "ERROR", "WARN", "INFO", "DEBUG", "TRACE", "ALL")


def _level(var: str, default: str) -> str:
    value = os.environ.get(var, default).upper()
    if value not in _LEVELS:
        raise EnvironmentProblem(f"{var}={value!r} is not a log level; use one of {', '.join(_LEVELS)}")
    return value


def log4j2_config(profile: Profile) -> Path:
    """Write the session's log4j2 configuration (see the module doc) and return its path."""
    folder = log_dir(profile)
    folder.mkdir(parents=True, exist_ok=True)
    text = LOG4J2.format(file_level=_level("GRIDRISK_SPARK_LOG_LEVEL", "WARN"),
                         console_level=_level("GRIDRISK_SPARK_CONSOLE_LEVEL", "OFF"),
                         log_file=folder / "spark.log")
    path = folder / "log4j2.properties"
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    return path


def driver_java_options(profile: Profile) -> str:
    """The profile's ``spark.driver.extraJavaOptions`` plus our log configuration (unless it has its own)."""
    own = profile.spark_conf.get("spark.driver.extraJavaOptions", "")
    if "log4j2.configurationFile" in own or "log4j.configurationFile" in own:
        return own
    return f"{own} -Dlog4j2.configurationFile=file:{log4j2_config(profile)}".strip()


def use_pipeline_clock(tz: str) -> None:
    """Make Python see timestamps in the pipeline's zone too (all sources are GMT+8).

    PySpark turns timestamps into naive datetimes in the *Python process's* zone; without
    this a driver on a UTC machine would show 08:30 as 00:30.
    """
    import time

    if os.environ.get("TZ") != tz:
        os.environ["TZ"] = tz
        time.tzset()


_SESSION: ContextVar["SparkSession | None"] = ContextVar("gridrisk_session", default=None)


@contextmanager
def use_session(session: "SparkSession") -> Iterator["SparkSession"]:
    """Within the block (this thread or task), :func:`get_spark` returns ``session``.

    PySpark's own "active session" is one per process; the engine serves several requests at
    once, each in its own ``spark.newSession()`` (shared JVM and executors, its own SQL settings,
    temp views and Delta commit metadata), and this is how the stage code finds it.
    """
    token = _SESSION.set(session)
    try:
        yield session
    finally:
        _SESSION.reset(token)


def get_spark(profile: Profile | None = None, app_name: str | None = None) -> "SparkSession":
    """Build (or return the running) SparkSession for ``profile``.

    Example:
        >>> spark = get_spark(load_profile("local"))  # doctest: +SKIP
    """
    chosen = _SESSION.get()
    if chosen is not None:
        return chosen
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
    jars = staged_jars(package)
    if jars is None and not delta_jars_cached(package):
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
    )
    for key, value in profile.spark_conf.items():
        builder = builder.config(key, value)
    builder = builder.config("spark.driver.extraJavaOptions", driver_java_options(profile))
    own_jars = [j for j in profile.spark_conf.get("spark.jars", "").split(",") if j.strip()]
    if jars is not None:
        builder = builder.config("spark.jars", ",".join(own_jars + jars))
    else:
        builder = builder.config("spark.jars.packages", package).config("spark.jars.ivy", str(ivy_dir()))
    spark = builder.getOrCreate()
    if jars is None:
        stage_jars(spark, package)
    return spark


@contextmanager
def session_conf(spark: "SparkSession", settings: "dict[str, str]") -> Iterator[None]:
    """Runtime SQL settings for the block only: each key goes back to its value before (or to
    unset) afterwards, whatever the block raised."""
    before = {key: spark.conf.get(key, None) for key in settings}
    for key, value in settings.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, was in before.items():
            if was is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, was)


def cut_lineage(df: "DataFrame") -> "DataFrame":
    """``df`` computed now and kept (memory, spilling to disk), as a frame whose plan is a single
    leaf; :func:`release` drops it.

    A persisted frame keeps its whole logical plan: every query built on it is analysed again over
    that plan — Spark's ``DeduplicateRelations`` walks and hashes all of it for each
    ``select``/``join``/``withColumn`` — and its plan string is rendered for each job. Over entity
    resolution's plan (extraction, standardisation, Splink's pipeline) that analysis was most of
    the stage's driver time on a small day (docs/benchmarks.md, session 12). A frame reused by
    several later queries is therefore cut here. Local checkpoints live in the executors' block
    managers: an executor lost on a cluster fails the job (Airflow retries the task), where a
    persisted frame would be recomputed.
    """
    return df.localCheckpoint(eager=True)


def release(df: "DataFrame") -> None:
    """Drop what :func:`cut_lineage` or ``persist`` kept of ``df`` (no-op for a plain frame)."""
    plan = df._jdf.queryExecution().logical()
    if plan.nodeName() == "LogicalRDD":  # a local checkpoint: its blocks are its RDD's
        plan.rdd().unpersist(False)
    else:
        df.unpersist()
