"""Engines: where the heavy steps run (DuckDB by default, PySpark for data beyond one machine).

Every heavy step of the kit (usage features, MRR movements, cohort retention, the survival
table, Kaplan-Meier counts, validation) is an Ibis expression, so it runs inside the engine
that holds the data and only a small aggregate comes back to pandas. This module connects
the engines and opens a data source on one of them:

* ``"duckdb"`` (default): an embedded, in-process DuckDB;
* ``"pyspark"``: a local Spark session (``local[2]`` unless ``CSRESEARCH_SPARK_MASTER`` or
  ``master=`` says otherwise). There is ONE Spark session per process: starting Spark costs
  seconds, so :func:`spark_session` creates it once and every later call reuses it. Needs
  the optional extra (``pip install 'csresearch[spark]'``) and Java 17;
* any Ibis connection URL (``postgres://...``, ``snowflake://...``, ``duckdb:///x.db``) or
  ``env:VARIABLE`` naming an environment variable that holds one, so that credentials stay
  out of parameters and logs.

Example
-------
>>> src = open_on("data/demo", engine="duckdb")  # doctest: +SKIP
>>> src_spark = open_on("data/demo", engine="pyspark")  # doctest: +SKIP
>>> from csresearch.features.usage import usage_features
>>> usage_features(src_spark, "2025-12-31").shape  # doctest: +SKIP
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir

from csresearch.data.embedded import duckdb_connect
from csresearch.data.mapping import load_mapping
from csresearch.data.schema import CONTRACT
from csresearch.data.sources import FILE_SUFFIXES, DataSource, open_source, resolve_env
from csresearch.errors import ConfigError
from csresearch.redaction import redact

ENGINES = ("duckdb", "pyspark")

#: Spark settings for one machine: no web UI, few shuffle partitions (the default 200 makes
#: every small aggregation pay for 200 tasks), UTC so timestamps read as they are stored.
SPARK_DEFAULTS: dict[str, str] = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "2",
    "spark.sql.session.timeZone": "UTC",
    "spark.driver.memory": "2g",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}

_SPARK: Any = None

#: log4j2 settings for the Spark JVM: errors only, so that Spark's start-up banner and
#: warnings do not mix with the command line's notes on stderr
LOG4J2 = """rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n
logger.repl.name = org.apache.spark.repl.Main
logger.repl.level = error
"""


def _quiet_java_options() -> str:
    """``-Dlog4j2.configurationFile=...`` naming :data:`LOG4J2` written to a temporary file."""
    import tempfile

    f = Path(tempfile.gettempdir()) / "csresearch-log4j2.properties"
    if not f.exists() or f.read_text() != LOG4J2:
        tmp = f.with_name(f"{f.name}.{os.getpid()}")
        tmp.write_text(LOG4J2)
        tmp.replace(f)
    return f"-Dlog4j2.configurationFile=file:{f}"


def java_version() -> str | None:
    """The first line of ``java -version`` (e.g. ``openjdk version "17.0.15"``), or None."""
    java = shutil.which("java")
    if java is None and os.environ.get("JAVA_HOME"):
        cand = Path(os.environ["JAVA_HOME"]) / "bin" / "java"
        java = str(cand) if cand.exists() else None
    if java is None:
        return None
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = (out.stderr or out.stdout).strip().splitlines()
    return lines[0] if lines else None


def spark_unavailable_reason() -> str | None:
    """Why Spark cannot run here (no pyspark, no Java), or None when it can."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed: pip install 'csresearch[spark]' (make test does when java is found)"
    if java_version() is None:
        return "no Java runtime found (PySpark needs Java 17): install openjdk-17-jre-headless"
    return None


def _patch_pyspark_compiler() -> None:
    """Teach Ibis' PySpark compiler the operations the kit uses that it lacks.

    ibis 12 compiles ``ibis.timestamp(y, m, d, h, mi, s)`` and the ``bit_or`` aggregate for
    DuckDB but not for PySpark; Spark has ``make_timestamp`` with the same arguments and
    ``bit_or`` (usage features need both).
    """
    from ibis.backends.sql.compilers.pyspark import PySparkCompiler

    if getattr(PySparkCompiler, "_csresearch_patched", False):
        return

    def visit_TimestampFromYMDHMS(self, op, *, year, month, day, hours, minutes, seconds, **_):
        return self.f.make_timestamp(year, month, day, hours, minutes, seconds)

    def visit_BitOr(self, op, *, arg, where, **_):
        return self.agg.bit_or(arg, where=where)

    PySparkCompiler.visit_TimestampFromYMDHMS = visit_TimestampFromYMDHMS
    PySparkCompiler.visit_BitOr = visit_BitOr
    PySparkCompiler._csresearch_patched = True


def spark_session(master: str | None = None, conf: Mapping[str, str] | None = None):
    """The process' one Spark session, created on first use and reused afterwards.

    Parameters
    ----------
    master
        Spark master; default ``$CSRESEARCH_SPARK_MASTER`` or ``local[2]``.
    conf
        Extra settings over :data:`SPARK_DEFAULTS` (e.g. ``{"spark.driver.memory": "6g"}``;
        also ``$CSRESEARCH_SPARK_MEMORY``). They apply only when the session is created.

    Raises
    ------
    ConfigError
        When pyspark or Java is missing (the message says how to install them).

    Example
    -------
    >>> spark = spark_session()  # doctest: +SKIP
    >>> spark is spark_session()  # doctest: +SKIP
    True
    """
    global _SPARK
    if _SPARK is not None and _SPARK.sparkContext._jsc is not None:
        return _SPARK
    reason = spark_unavailable_reason()
    if reason:
        raise ConfigError(f"cannot start Spark: {reason}")
    from pyspark.sql import SparkSession

    settings = dict(SPARK_DEFAULTS)
    if os.environ.get("CSRESEARCH_SPARK_MEMORY"):
        settings["spark.driver.memory"] = os.environ["CSRESEARCH_SPARK_MEMORY"]
    settings.update(conf or {})
    settings.setdefault("spark.driver.extraJavaOptions", _quiet_java_options())
    builder = SparkSession.builder.master(
        master or os.environ.get("CSRESEARCH_SPARK_MASTER", "local[2]")
    ).appName("csresearch")
    for key, value in settings.items():
        builder = builder.config(key, value)
    _SPARK = builder.getOrCreate()
    _SPARK.sparkContext.setLogLevel("ERROR")
    return _SPARK


def stop_spark() -> None:
    """Stop the shared Spark session (the next :func:`spark_session` starts a new one)."""
    global _SPARK
    if _SPARK is not None:
        _SPARK.stop()
        _SPARK = None


def connect(engine: str = "duckdb", **kwargs: Any):
    """An Ibis backend: ``"duckdb"``, ``"pyspark"`` (the shared session), a URL or ``env:VAR``.

    ``kwargs`` go to :func:`ibis.duckdb.connect` or :func:`spark_session`.

    Example
    -------
    >>> con = connect("duckdb")
    >>> int(con.sql("select 1 + 1 as x").execute()["x"].iloc[0])
    2
    """
    if engine == "duckdb":
        return duckdb_connect(**kwargs)
    if engine in ("pyspark", "spark"):
        _patch_pyspark_compiler()
        return ibis.pyspark.connect(spark_session(**kwargs))
    url = resolve_env(engine, "engine")
    if "://" not in url:
        raise ConfigError(
            f"unknown engine {engine!r}: use one of {', '.join(ENGINES)}, an Ibis URL "
            "(postgres://..., duckdb:///file.db) or env:VARIABLE holding one"
        )
    if url.startswith("pyspark://"):
        _patch_pyspark_compiler()
    return ibis.connect(url, **kwargs)


def as_float(x: ir.Value) -> ir.FloatingValue:
    """``x`` as DOUBLE in SQL every engine accepts; a boolean as 1.0/0.0, NULL kept.

    PostgreSQL has no cast from boolean to a number other than ``integer``, so a boolean
    goes through ``CASE`` (DuckDB and Spark give the same values).

    Example
    -------
    >>> t = ibis.memtable({"b": [True, False, None]})
    >>> as_float(t.b).name("x").to_pandas().tolist()
    [1.0, 0.0, nan]
    """
    if x.type().is_boolean():
        return ibis.cases((x, 1.0), (~x, 0.0), else_=ibis.null("float64"))
    return x.cast("float64")


def engine_name(con: Any) -> str:
    """The backend's name (``duckdb``, ``pyspark``, ``postgres``, ...)."""
    return getattr(con, "name", type(con).__module__.split(".")[-1])


ENGINE_HELP = "engine that runs the analyses: duckdb (default) or pyspark (Spark local; needs Java 17 and csresearch[spark])"


def check_engine(engine: str, runnable: bool = True) -> str:
    """``engine`` when it is one of :data:`ENGINES` (``"spark"`` reads as ``"pyspark"``) and,
    with ``runnable``, can run here.

    Raises
    ------
    ConfigError
        For an unknown engine (the message lists the choices), or for ``pyspark`` without
        pyspark or Java (the message says what to install).

    Example
    -------
    >>> check_engine("duckdb")
    'duckdb'
    """
    name = "pyspark" if engine == "spark" else engine
    if name not in ENGINES:
        raise ConfigError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    if name == "pyspark" and runnable:
        reason = spark_unavailable_reason()
        if reason:
            raise ConfigError(f"engine 'pyspark' cannot run here: {reason}")
    return name


def open_on(
    location: str | Path,
    engine: str = "duckdb",
    mapping: str | Path | Mapping | None = None,
    validate: bool = True,
) -> DataSource:
    """Open a data source on an engine: a folder of Parquet/CSV files read by DuckDB or Spark.

    With ``engine="duckdb"`` this is :func:`csresearch.data.sources.open_source` (which also takes
    ``.duckdb`` files and URLs). With ``engine="pyspark"`` each ``<table>.parquet`` (a file or
    a folder of part files) or ``<table>.csv`` is registered in the shared Spark session; the
    table and column mapping work as for :func:`~csresearch.data.sources.open_source`. A URL or
    ``env:VAR`` as ``location`` is opened through :func:`ibis.connect`, whatever ``engine``.

    Example
    -------
    >>> src = open_on("data/demo", engine="pyspark")  # doctest: +SKIP
    >>> src.con.name  # doctest: +SKIP
    'pyspark'
    """
    loc = str(location)
    engine = check_engine(engine, runnable=False)  # Spark's absence: said by connect()
    if engine == "duckdb" or loc.startswith("env:") or "://" in loc:
        return open_source(location, mapping=mapping, validate=validate)
    path = Path(loc)
    if not path.is_dir():
        raise ConfigError(
            f"open_on(engine='pyspark') needs a folder of <table>.parquet or <table>.csv files; "
            f"{redact(loc)} is not one (a .duckdb file can only be read by DuckDB)"
        )
    m = load_mapping(mapping)
    con = connect("pyspark")
    raw, files = {}, []
    for name in CONTRACT:
        stem = m["tables"].get(name, name)
        for suffix in FILE_SUFFIXES:
            f = path / f"{stem}{suffix}"
            if f.exists():
                if suffix == ".parquet":
                    t = con.read_parquet(str(f), table_name=f"src_{name}")
                else:
                    # strings in, contract types applied by DataSource.table (as on DuckDB)
                    t = con.read_csv(str(f), table_name=f"src_{name}", inferSchema=False)
                ren = {o: th for o, th in m["columns"].get(name, {}).items() if th in t.columns}
                raw[name] = t.rename(ren) if ren else t
                files.append(f)
                break
    src = DataSource(con, raw, f"{loc} (pyspark)", files)
    if validate:
        src.validate().raise_if_failed()
    return src
