"""Plumbing for the engines that run scans and aggregations: DuckDB in process, or Spark.

Connect, read, write, close — nothing else. The audit's scans and the feature build
are Ibis expressions; this module makes the connection they run on and moves tables in
and out of it (:mod:`workbench.canonical` opens them as canonical tables).

``duckdb`` (the default)
    An in-memory DuckDB database in this process. Nothing to set up.
``spark``
    A PySpark session wrapped by ``ibis.pyspark.connect``: a local one (``local[2]``)
    for trying it on one machine, or a cluster's (``spark://host:7077``, ``yarn``,
    ``k8s://…``, ``sc://host:15002`` for Spark Connect). pyspark is an optional extra
    (``pip install '.[spark]'`` or ``make install-dev``) and needs Java 17 or newer.

Spark settings, lowest to highest precedence:

1. ``spark-defaults.conf`` of ``$SPARK_CONF_DIR`` (read by Spark itself);
2. the workbench's defaults (:data:`SPARK_DEFAULTS`, plus :data:`LOCAL_SPARK_DEFAULTS`
   for a ``local[...]`` master: 2 threads, 2 GB driver, 8 shuffle partitions, no UI);
3. ``WORKBENCH_SPARK_CONF``: a ``spark-defaults.conf``-style file, or ``key=value``
   pairs separated by ``;`` or new lines;
4. ``WORKBENCH_SPARK_PACKAGES``: Maven coordinates, comma-separated (``spark.jars.packages``);
5. the ``conf`` and ``packages`` arguments of :func:`connect`;
6. the master: the ``master`` argument, else ``spark.master`` in ``conf``, else
   ``WORKBENCH_SPARK_MASTER``, else ``spark.master`` from 3, else ``local[2]``.

Examples
--------
>>> from workbench import engines
>>> con = engines.connect("spark", master="local[2]")           # doctest: +SKIP
>>> features = build_features("data/raw", parse_as_of("2026-06-30"), con=con)  # doctest: +SKIP
>>> engines.close(con)                                           # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import ibis
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from workbench.schema import TABLES

if TYPE_CHECKING:
    from ibis.backends import BaseBackend

__all__ = [
    "ENGINES",
    "ENV_MASTER",
    "ENV_CONF",
    "ENV_PACKAGES",
    "DEFAULT_MASTER",
    "SPARK_DEFAULTS",
    "LOCAL_SPARK_DEFAULTS",
    "INSTALL_HINT",
    "EngineError",
    "connect",
    "close",
    "engine_session",
    "engine_of",
    "spark_conf",
    "read_spark_conf",
    "is_uri",
    "read_parquet_tables",
    "write_parquet",
    "local_folder",
    "table_path",
]

log = logging.getLogger(__name__)

#: The engines :func:`connect` knows.
ENGINES = ("duckdb", "spark")
ENV_MASTER = "WORKBENCH_SPARK_MASTER"
ENV_CONF = "WORKBENCH_SPARK_CONF"
ENV_PACKAGES = "WORKBENCH_SPARK_PACKAGES"
DEFAULT_MASTER = "local[2]"
INSTALL_HINT = "pip install '.[spark]' (or `make install-dev`)"

#: Settings of every Spark session the workbench starts.
SPARK_DEFAULTS: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",  # canonical timestamps are UTC
    "spark.sql.execution.arrow.pyspark.enabled": "true",  # bulk transfer to/from pandas
    # time-zone-aware Parquet timestamps (the default INT96 reads back as naive elsewhere)
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.ui.showConsoleProgress": "false",  # no progress bars in notebooks and logs
}
#: Added for a ``local[...]`` master: a small footprint on a shared machine.
LOCAL_SPARK_DEFAULTS: dict[str, str] = {
    "spark.driver.memory": "2g",
    "spark.sql.shuffle.partitions": "8",
    "spark.ui.enabled": "false",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
}
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_OWNED = "_workbench_owns_session"  # attribute on a connection whose session we started


class EngineError(RuntimeError):
    """An engine cannot be started: unknown name, missing pyspark or Java, bad settings."""


# --------------------------------------------------------------------------- settings


def read_spark_conf(text: str | Path) -> dict[str, str]:
    """Spark settings from a ``spark-defaults.conf``-style file or inline pairs.

    A file holds one ``key value`` (or ``key=value``) per line, ``#`` starts a comment.
    Inline text holds ``key=value`` pairs separated by ``;`` or new lines.

    Raises
    ------
    EngineError
        A line is not ``key value`` / ``key=value`` or a key does not start with ``spark.``.

    Examples
    --------
    >>> read_spark_conf("spark.driver.memory=4g; spark.sql.shuffle.partitions=64")
    {'spark.driver.memory': '4g', 'spark.sql.shuffle.partitions': '64'}
    """
    source = str(text)
    is_file = "\n" not in source and "=" not in source and Path(source).expanduser().is_file()
    if is_file:
        where = str(Path(source).expanduser())
        lines = Path(where).read_text(encoding="utf-8").splitlines()
    else:
        where = f"${ENV_CONF} / conf"
        lines = re.split(r"[;\n]", source)
    out: dict[str, str] = {}
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = re.match(r"^([^\s=]+)\s*(?:=|\s)\s*(.*)$", line)
        if not match or not match.group(2).strip():
            raise EngineError(
                f"{where}: {line!r} is not a Spark setting; expected `key=value` "
                "(or `key value` in a spark-defaults.conf file)"
            )
        key, value = match.group(1), match.group(2).strip()
        if not key.startswith("spark."):
            raise EngineError(f"{where}: {key!r} is not a Spark setting (keys start with 'spark.')")
        out[key] = value
    return out


def spark_conf(
    master: str | None = None,
    conf: Mapping[str, Any] | None = None,
    packages: Sequence[str] | None = None,
    *,
    app_name: str = "workbench",
    environ: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The settings of the Spark session :func:`connect` would start (see the module
    docstring for the precedence). ``spark.master`` and ``spark.app.name`` included.

    Examples
    --------
    >>> conf = spark_conf(conf={"spark.driver.memory": "3g"}, environ={})
    >>> conf["spark.master"], conf["spark.driver.memory"], conf["spark.ui.enabled"]
    ('local[2]', '3g', 'false')
    >>> spark_conf("spark://head:7077", environ={}).get("spark.driver.memory") is None
    True
    """
    env = os.environ if environ is None else environ
    from_env = read_spark_conf(env[ENV_CONF]) if env.get(ENV_CONF, "").strip() else {}
    given = {str(k): str(v) for k, v in (conf or {}).items()}
    chosen = (
        master
        or given.get("spark.master")
        or env.get(ENV_MASTER, "").strip()
        or from_env.get("spark.master")
        or DEFAULT_MASTER
    )
    settings = dict(SPARK_DEFAULTS)
    if chosen.startswith("local"):
        settings.update(LOCAL_SPARK_DEFAULTS)
    settings.update(from_env)
    env_packages = _packages(env.get(ENV_PACKAGES, ""))
    if env_packages:
        settings["spark.jars.packages"] = env_packages
    settings.update(given)
    if packages:
        settings["spark.jars.packages"] = _packages(packages)
    settings["spark.master"] = chosen
    settings.setdefault("spark.app.name", app_name)
    return settings


def _packages(packages: str | Sequence[str]) -> str:
    items = packages.split(",") if isinstance(packages, str) else list(packages)
    return ",".join(p.strip() for p in items if p and p.strip())


# --------------------------------------------------------------------------- connections


def connect(
    engine: str = "duckdb",
    *,
    master: str | None = None,
    conf: Mapping[str, Any] | None = None,
    packages: Sequence[str] | None = None,
    app_name: str = "workbench",
    session: Any = None,
    database: str | Path | None = None,
    memory_limit: str | None = None,
) -> BaseBackend:
    """An Ibis connection on ``engine`` for the audit scans and the feature build.

    Parameters
    ----------
    engine : {"duckdb", "spark"}
        ``duckdb``: a new in-memory DuckDB database. ``spark``: a Spark session (started
        with :func:`spark_conf`'s settings, or ``session``) wrapped by Ibis.
    master : str, optional
        Spark master URL (``local[2]``, ``spark://host:7077``, ``yarn``, ``k8s://…``,
        ``sc://host:15002``); default ``$WORKBENCH_SPARK_MASTER`` or ``local[2]``.
    conf : mapping, optional
        Extra Spark settings (``{"spark.driver.memory": "8g"}``).
    packages : sequence of str, optional
        Maven coordinates for ``spark.jars.packages`` (e.g. ``org.apache.hadoop:hadoop-aws:3.4.1``
        to read ``s3a://`` paths).
    app_name : str
        The Spark application name.
    session : pyspark.sql.SparkSession, optional
        An existing session to use as it is (e.g. the ``spark`` of a Databricks or
        cluster notebook); :func:`close` then leaves it running.
    database : str or Path, optional
        DuckDB only: a database file instead of memory, so that tables an audit keeps
        between its steps live on disk and memory stays bounded (its folder also holds
        DuckDB's spill files).
    memory_limit : str, optional
        DuckDB only: ``SET memory_limit`` (``"2GB"``); beyond it DuckDB spills to disk.

    Returns
    -------
    ibis BaseBackend
        Close it with :func:`close` (stops a Spark session this call started).

    Raises
    ------
    EngineError
        Unknown engine; pyspark not installed; no Java; the session cannot start.
    """
    name = str(engine).strip().lower()
    if name == "duckdb":
        if master or conf or packages or session is not None:
            log.info("engine duckdb: Spark settings (master, conf, packages) are ignored")
        con = ibis.duckdb.connect() if database is None else ibis.duckdb.connect(str(database))
        con.raw_sql("SET enable_progress_bar = false")
        if database is not None:
            spill = Path(database).with_suffix(".tmp")
            con.raw_sql(f"SET temp_directory = '{spill.as_posix()}'")
        if memory_limit:
            con.raw_sql(f"SET memory_limit = '{memory_limit}'")
        return con
    if name != "spark":
        raise EngineError(f"engine: expected one of {', '.join(ENGINES)}, got {engine!r}")
    if session is not None:
        return _wrap(session, owned=False)
    settings = spark_conf(master, conf, packages, app_name=app_name)
    return _wrap(*_start_spark(settings))


def _import_pyspark() -> Any:
    try:
        import ibis.backends.pyspark  # noqa: F401
        import pyspark.sql  # noqa: F401
    except ImportError as exc:
        raise EngineError(
            f"engine spark: pyspark is not installed ({exc.name or exc}); install the Spark "
            f"extra with {INSTALL_HINT}, or use engine duckdb"
        ) from exc
    from pyspark.sql import SparkSession

    return SparkSession


def _java_problem(environ: Mapping[str, str] | None = None) -> str | None:
    """Why Spark cannot find Java (None when it can)."""
    env = os.environ if environ is None else environ
    home = env.get("JAVA_HOME", "").strip()
    if home:
        if (Path(home) / "bin" / "java").exists():
            return None
        return f"JAVA_HOME={home} has no bin/java"
    if shutil.which("java", path=env.get("PATH")):
        return None
    return "no `java` on PATH and JAVA_HOME is not set"


def _start_spark(settings: dict[str, str]) -> tuple[Any, bool]:
    spark_session = _import_pyspark()
    master = settings["spark.master"]
    remote = master.startswith("sc://")
    if not remote:
        problem = _java_problem()
        if problem:
            raise EngineError(
                f"engine spark: Java is needed for a Spark session ({problem}); install "
                "Java 17 or newer (e.g. `apt-get install openjdk-17-jre-headless`) and set "
                "JAVA_HOME, or use engine duckdb"
            )
    active = spark_session.getActiveSession()
    builder = spark_session.builder
    if remote:
        builder = builder.remote(master)
    for key, value in settings.items():
        if not (remote and key == "spark.master"):
            builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as exc:  # pyspark raises its own runtime errors (gateway, conf)
        raise EngineError(
            f"engine spark: the session on {master} could not start: {exc}. Check Java "
            f"(JAVA_HOME), the master URL and ${ENV_CONF}; pyspark comes from {INSTALL_HINT}"
        ) from exc
    if active is not None:
        log.info("engine spark: using the Spark session already running in this process")
    else:
        _quiet(session)
    log.info("engine spark: master %s (%s)", master, _describe(settings))
    return session, active is None


def _quiet(session: Any) -> None:
    """Only errors from Spark's own logger (its warnings flood notebooks and cron logs)."""
    try:
        session.sparkContext.setLogLevel("ERROR")
    except Exception:  # Spark Connect sessions have no SparkContext
        log.debug("engine spark: log level not set (no SparkContext)")


def _describe(settings: Mapping[str, str]) -> str:
    keys = ("spark.driver.memory", "spark.sql.shuffle.partitions", "spark.jars.packages")
    return ", ".join(f"{k.removeprefix('spark.')}={settings[k]}" for k in keys if k in settings)


def _wrap(session: Any, owned: bool) -> BaseBackend:
    _import_pyspark()
    con = ibis.pyspark.connect(session)
    setattr(con, _OWNED, owned)
    return con


def engine_of(con: BaseBackend) -> str:
    """The engine name of a connection: ``duckdb``, ``spark`` or the Ibis backend's name.

    Examples
    --------
    >>> engine_of(connect("duckdb"))
    'duckdb'
    """
    return "spark" if con.name == "pyspark" else con.name


def close(con: BaseBackend | None) -> None:
    """Release a connection: stop the Spark session :func:`connect` started (a session
    passed in as ``session`` keeps running), disconnect DuckDB."""
    if con is None:
        return
    if engine_of(con) == "spark":
        if getattr(con, _OWNED, False):
            con.disconnect()  # stops the session
            setattr(con, _OWNED, False)
            log.info("engine spark: session stopped")
        return
    con.disconnect()


@contextmanager
def engine_session(engine: str = "duckdb", **kwargs: Any) -> Iterator[BaseBackend]:
    """:func:`connect` for a ``with`` block; :func:`close` at its end, even on errors.

    Examples
    --------
    >>> with engine_session("duckdb") as con:
    ...     int(con.execute(ibis.literal(1) + 1))
    2
    """
    con = connect(engine, **kwargs)
    try:
        yield con
    finally:
        close(con)


# --------------------------------------------------------------------------- tables in and out


def is_uri(location: str | Path) -> bool:
    """True for ``scheme://…`` locations (``s3a://``, ``abfss://``, ``hdfs://``, ``file://``).

    Examples
    --------
    >>> is_uri("s3a://lake/raw"), is_uri("/data/raw"), is_uri("data/raw")
    (True, False, False)
    """
    return isinstance(location, str) and bool(_URI.match(location))


def local_folder(location: str | Path) -> Path | None:
    """The local folder of a path or ``file://`` URI; None for other URIs."""
    text = str(location)
    if text.startswith("file://"):
        return Path(unquote(text.removeprefix("file://")))
    return None if is_uri(text) else Path(text).expanduser().resolve()


def table_path(location: str | Path, table: str) -> str:
    folder = local_folder(location)
    if folder is None:
        return f"{str(location).rstrip('/')}/{table}.parquet"
    return str(folder / f"{table}.parquet")


def read_parquet_tables(
    location: str | Path,
    con: BaseBackend,
    tables: Sequence[str] | None = None,
) -> dict[str, ibis.Table]:
    """Register ``<location>/<table>.parquet`` of each canonical table with the engine.

    ``location`` is a local folder or any URI the engine can read (``s3a://``,
    ``abfss://``, ``gs://``, ``hdfs://`` on Spark with the matching packages). A table may
    be one Parquet file or a folder of part files (what Spark writes). Nothing is read
    into this process: the result holds lazy Ibis tables with the file's own columns.

    Parameters
    ----------
    location : str or Path
        The folder or URI holding the tables.
    con : ibis backend
        The engine (:func:`connect`).
    tables : sequence of str, optional
        Canonical table names (default: every canonical table).

    Returns
    -------
    dict of str to ibis.Table
        The tables found (absent optional tables are simply missing).

    Raises
    ------
    EngineError
        A local folder does not exist, or a table that exists cannot be read.
    """
    names = list(tables) if tables is not None else list(TABLES)
    folder = local_folder(location)
    if folder is not None and not folder.is_dir():
        raise EngineError(f"{location}: no such folder of <table>.parquet files")
    found: dict[str, ibis.Table] = {}
    for name in names:
        path = table_path(location, name)
        if folder is not None and not Path(path).exists():
            continue
        try:
            found[name] = con.read_parquet(path)
        except Exception as exc:  # engines raise their own types (Spark AnalysisException)
            text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            missing = ("PATH_NOT_FOUND", "does not exist", "No files found")
            if folder is None and any(m.lower() in text.lower() for m in missing):
                continue
            raise EngineError(
                f"{path}: cannot be read as Parquet by {engine_of(con)} ({text})"
            ) from exc
    log.info("engine %s: %s holds %s", engine_of(con), location, ", ".join(found) or "no table")
    return found


def write_parquet(
    data: pd.DataFrame | ibis.Table,
    target: str | Path,
    con: BaseBackend | None = None,
    *,
    overwrite: bool = True,
) -> str:
    """Write a frame or an engine table as Parquet, by the engine when it is Spark.

    On Spark the engine writes ``target`` as a folder of part files (any URI it can
    write: ``s3a://…``). A pandas frame (the per-customer table that came back to the
    driver) is written to a local target by pyarrow as the same folder layout, without a
    round trip through the JVM; to a remote URI it is handed to the session as an Arrow
    table. Without a connection, or on DuckDB, the result is one local Parquet file.

    Parameters
    ----------
    data : pandas.DataFrame or ibis.Table
        What to write (an Ibis table must live on ``con``).
    target : str or Path
        File (local) or folder/URI (Spark).
    con : ibis backend, optional
        The engine; default: pandas for a frame.
    overwrite : bool, default True
        Replace an existing ``target``; with False an existing target is an error.

    Returns
    -------
    str
        The path or URI written.
    """
    if not overwrite and not is_uri(target) and Path(target).exists():
        raise FileExistsError(f"{target} exists; pass overwrite=True to replace it")
    engine = engine_of(con) if con is not None else "pandas"
    if engine == "spark" and isinstance(data, pd.DataFrame):
        _frame_to_spark_parquet(data, target, con, overwrite=overwrite)
    elif engine == "spark" and con is not None:
        con.to_parquet(data, str(target), mode="overwrite" if overwrite else "errorifexists")
    elif isinstance(data, pd.DataFrame):
        path = Path(target).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        data.to_parquet(path, index=False)
    else:
        if con is None:
            raise EngineError("write_parquet: an Ibis table needs the connection it lives on")
        path = Path(target).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        con.to_parquet(data, str(path))
    log.info("engine %s: wrote %s", engine, target)
    return str(target)


def _frame_to_spark_parquet(
    frame: pd.DataFrame, target: str | Path, con: BaseBackend, *, overwrite: bool
) -> None:
    """A pandas frame as a Spark-style folder of Parquet parts.

    ``ibis.memtable`` would go through ``createDataFrame(pandas)``, whose Arrow path
    rejects pandas' Arrow-backed string columns and falls back to pickling row by row:
    at a million customers that exhausts a 2 GB driver heap. A local folder is written by
    pyarrow directly; a remote URI gets an Arrow table, which Spark 4 takes as is.
    """
    arrow = pa.Table.from_pandas(frame, preserve_index=False)
    folder = local_folder(target)
    if folder is not None:
        if folder.exists():
            if folder.is_dir():
                shutil.rmtree(folder)
            else:
                folder.unlink()
        folder.mkdir(parents=True)
        pq.write_table(arrow, folder / "part-00000.parquet")
        (folder / "_SUCCESS").touch()
        return
    session = con._session  # the SparkSession behind Ibis' pyspark backend
    mode = "overwrite" if overwrite else "errorifexists"
    session.createDataFrame(arrow.combine_chunks()).write.mode(mode).parquet(str(target))
