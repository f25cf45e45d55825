"""The ``workbench`` command.

Heavy libraries are imported inside the commands so ``workbench --help`` stays instant.
Exit codes are those of :class:`workbench.pipeline.ExitCode`.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from workbench.settings import Settings

__all__ = ["main", "cli"]

log = logging.getLogger("workbench")


def _settings(
    data_root: str | None,
    reports_dir: str | None,
    tracking_uri: str | None,
    project: str | None = None,
    source: Path | None = None,
) -> Settings:
    from workbench.settings import get_settings

    return get_settings(
        data_dir=data_root,
        reports_dir=reports_dir,
        tracking_uri=tracking_uri,
        project=project,
        source=source,
    )


def _setup_logging(verbose: bool) -> None:
    from workbench.stage import setup_logging

    setup_logging(logging.DEBUG if verbose else logging.INFO)
    if not verbose:  # MLflow's and Alembic's set-up chatter is noise in a terminal or cron log
        import os

        os.environ.setdefault("MLFLOW_CONFIGURE_LOGGING", "false")
        for name in ("mlflow", "alembic"):
            logging.getLogger(name).setLevel(logging.WARNING)


_settings_options = [
    click.option(
        "--data-root",
        type=click.Path(file_okay=False),
        default=None,
        help="Data tree for interim/processed outputs (default: $WORKBENCH_DATA_DIR, the parent "
        "of --data when it is a folder named 'raw', else <project>/data).",
    ),
    click.option(
        "--reports-dir",
        type=click.Path(file_okay=False),
        default=None,
        help="Reports folder (default: $WORKBENCH_REPORTS_DIR or <project>/reports).",
    ),
    click.option(
        "--tracking-uri",
        default=None,
        help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or sqlite:///<project>/mlruns/mlflow.db).",
    ),
    click.option(
        "--project",
        default=None,
        help="Project that scopes MLflow experiments and registered models (default: "
        "$WORKBENCH_PROJECT, else derived from the data source: its folder name and a hash "
        "of its path).",
    ),
]


_F = TypeVar("_F", bound=Callable[..., Any])


def settings_options(func: _F) -> _F:
    for option in reversed(_settings_options):
        func = option(func)
    return func


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="customer-personalization-workbench")
def cli() -> None:
    """Customer Personalization Workbench: audit, features, segments, churn and A/B analysis."""


@cli.command("demo-data")
@click.option(
    "--out", type=click.Path(file_okay=False), default=None, help="Folder (default: <data>/raw)."
)
@click.option("--customers", type=click.IntRange(min=100), default=20_000, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--end", default="2026-06-30", show_default=True, help="Last day of the history.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option(
    "--if-missing",
    is_flag=True,
    help="Skip when the folder already holds demo data made with the same options.",
)
@click.option("--force", is_flag=True, help="Overwrite canonical files that are not demo data.")
def demo_data(
    out: str | None, customers: int, seed: int, end: str, quiet: bool, if_missing: bool, force: bool
) -> None:
    """Write the seeded demo tables (Parquet) and their ground truth (_truth/).

    Refuses to overwrite a folder whose tables were not written by this command
    (your own data), unless --force.
    """
    _setup_logging(False)
    import json

    from workbench.loading import find_table_files
    from workbench.simulate import write_demo_data

    target = Path(out) if out else _settings(None, None, None).raw_dir
    truth = target / "_truth" / "summary.json"
    if truth.exists():
        previous = json.loads(truth.read_text())
        same = (previous.get("customers"), previous.get("seed"), previous.get("end")) == (
            customers,
            seed,
            end,
        )
        if if_missing and same:
            click.echo(f"demo data ({customers:,} customers, seed {seed}) already in {target}")
            return
    elif find_table_files(target) and not force:
        click.echo(
            f"error: {target} holds tables that are not demo data; refusing to overwrite them "
            "(use another --out, or --force)",
            err=True,
        )
        sys.exit(2)
    summary = write_demo_data(target, customers=customers, seed=seed, end=end, progress=not quiet)
    for table, rows in summary.get("rows", summary).items():
        click.echo(f"{table:>24}: {rows:>12,}" if isinstance(rows, int) else f"{table}: {rows}")
    click.echo(f"written to {target}")


@cli.command("stages")
def stages_command() -> None:
    """List the pipeline's stages, what each needs, and their parameters with defaults."""
    from workbench.pipeline import INJECTED, discover_stages, needs_sentence

    stages = discover_stages(_settings(None, None, None).notebooks_dir)
    click.echo(
        "Every stage also takes the run context, which `workbench run` sets: "
        + ", ".join(INJECTED)
        + " (--data, --as-of, --out, --data-root, --tracking-uri)."
    )
    for stage in stages:
        notes = []
        if stage.depends_on:
            notes.append(f"depends on {', '.join(stage.depends_on)}")
        if stage.needs.tables:
            notes.append(needs_sentence(stage.needs.tables, stage.needs.unless_params))
        click.echo(
            f"\n{stage.number:02d} {stage.name}" + (f" ({'; '.join(notes)})" if notes else "")
        )
        for key, default in stage.own_parameters.items():
            note = f"  # {stage.help[key]}" if stage.help.get(key) else ""
            click.echo(f"     {key} = {default!r}{note}")


@cli.command("run")
@click.option(
    "--data", "data_dir", required=True, type=click.Path(), help="Source folder or DuckDB file."
)
@click.option(
    "--as-of", required=True, help="Cut-off date YYYY-MM-DD; features use data before it."
)
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default=None,
    help="Output folder (default: reports/<as_of>_<timestamp>/).",
)
@click.option("--stages", default=None, help="Comma-separated stage names (default: all).")
@click.option(
    "-p", "--param", "params", multiple=True, help="name=value or stage.name=value (repeatable)."
)
@click.option(
    "--keep-going",
    is_flag=True,
    hidden=True,
    help="After a failure, run the stages that do not depend on it (the default now).",
)
@click.option(
    "--fail-fast",
    is_flag=True,
    help="Stop at the first failed stage (default: run the stages that do not depend on it).",
)
@click.option(
    "--keep-last",
    type=click.IntRange(min=1),
    default=None,
    help="Keep only the N newest run folders.",
)
@click.option("--no-progress", is_flag=True, help="No progress bars (for cron logs).")
@click.option(
    "--engine",
    type=click.Choice(["duckdb", "spark"]),
    default=None,
    help="Engine of the stages that declare an `engine` parameter (audit scans, features); "
    "default duckdb. Spark settings: $WORKBENCH_SPARK_MASTER, $WORKBENCH_SPARK_CONF.",
)
@click.option("-v", "--verbose", is_flag=True)
@settings_options
def run_command(
    data_dir: str,
    as_of: str,
    out: str | None,
    stages: str | None,
    params: tuple[str, ...],
    keep_going: bool,
    fail_fast: bool,
    keep_last: int | None,
    no_progress: bool,
    engine: str | None,
    verbose: bool,
    data_root: str | None,
    reports_dir: str | None,
    tracking_uri: str | None,
    project: str | None,
) -> None:
    """Execute the stage notebooks in order and write the reports.

    A line per stage as soon as it ends: ok (with its headline numbers), n/a (not
    applicable: its inputs are absent, with what it would need), failed, or skipped (a
    stage it depends on failed). A failure skips only the stages that depend on it.

    Exit codes: 0 nothing failed (stages that were not applicable included); 1 a stage
    failed; 2 bad arguments or parameters; 3 another run holds the lock; 4 the data source
    is missing; 130/143 stopped by Ctrl-C/SIGTERM (its MLflow runs are marked KILLED).
    """
    _setup_logging(verbose)
    from workbench.pipeline import (
        ExitCode,
        LockedError,
        ParameterError,
        RunInterrupted,
        run_pipeline,
    )

    source = Path(data_dir).expanduser().resolve()
    if data_root is None and source.is_dir() and source.name == "raw":
        import os

        if not os.environ.get("WORKBENCH_DATA_DIR"):
            data_root = str(source.parent)
    names = [s.strip() for s in stages.split(",") if s.strip()] if stages else None
    try:
        settings = _settings(data_root, reports_dir, tracking_uri, project, source)
        if engine is not None:
            params = (*_engine_overrides(settings, names, engine), *params)
        result = run_pipeline(
            settings=settings,
            data_dir=source,
            as_of=as_of,
            output_dir=Path(out) if out else None,
            stage_names=names,
            overrides=params,
            keep_going=not fail_fast,
            progress=not no_progress,
            on_stage_done=lambda stage: click.echo(stage.line(settings.currency)),
        )
    except (ParameterError, ValueError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(ExitCode.USAGE)
    except LockedError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(ExitCode.LOCKED)
    except FileNotFoundError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(ExitCode.DATA)
    except RunInterrupted as exc:
        where = f"; report: {exc.result.index}" if exc.result and exc.result.index else ""
        click.echo(f"error: {exc}; its MLflow runs are marked KILLED{where}", err=True)
        sys.exit(exc.exit_code)
    click.echo(f"report: {result.index}")
    if keep_last:
        from workbench.pipeline import apply_retention

        for removed in apply_retention(settings.reports_dir, keep_last, keep=result.output_dir):
            click.echo(f"removed old run {removed.name}")
    if not result.ok:
        failed = result.failures()
        click.echo(f"error: {failed[0].error}", err=True)
    sys.exit(result.exit_code)


def _engine_overrides(settings: Settings, names: list[str] | None, engine: str) -> list[str]:
    """``--engine`` as ``-p stage.engine=...`` for the selected stages that declare it."""
    from workbench.pipeline import ParameterError, discover_stages, select_stages

    stages = select_stages(discover_stages(settings.notebooks_dir), names)
    declaring = [s.name for s in stages if "engine" in s.parameters]
    if not declaring and engine != "duckdb":
        raise ParameterError(
            f"--engine {engine}: none of the selected stages ({', '.join(s.name for s in stages)}) "
            "has an `engine` parameter; the audit and features stages do"
        )
    return [f"{name}.engine={engine}" for name in declaring]


@cli.command("backtest")
@click.option(
    "--data", "data_dir", required=True, type=click.Path(), help="Source folder or DuckDB file."
)
@click.option("--from", "start", required=True, help="First as_of date YYYY-MM-DD.")
@click.option("--to", "end", required=True, help="Last as_of date YYYY-MM-DD (included).")
@click.option(
    "--every",
    default="30d",
    show_default=True,
    help="Step between dates: days (30d) or weeks (4w).",
)
@click.option(
    "--stages",
    default=None,
    help="Comma-separated stage names (default: audit, features, segmentation, churn, clv, "
    "monitoring).",
)
@click.option(
    "-p", "--param", "params", multiple=True, help="name=value or stage.name=value (repeatable)."
)
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default=None,
    help="Backtest folder (default: reports/backtest_<from>_<to>_<timestamp>/).",
)
@click.option("--no-progress", is_flag=True, help="No progress bars (for cron logs).")
@click.option("-v", "--verbose", is_flag=True)
@settings_options
def backtest_command(
    data_dir: str,
    start: str,
    end: str,
    every: str,
    stages: str | None,
    params: tuple[str, ...],
    out: str | None,
    no_progress: bool,
    verbose: bool,
    data_root: str | None,
    reports_dir: str | None,
    tracking_uri: str | None,
    project: str | None,
) -> None:
    """Replay the pipeline as of every date from --from to --to and report metrics over time.

    Each step runs on a snapshot of the source holding only rows before its date, into its
    own folder, with the backtest's own data tree and MLflow store: the project's registry
    is never touched (no promotion). The report (backtest.html) draws churn ROC-AUC and
    lift, CLV error, segment stability and drift over the dates.

    Exit codes: 0 every step ran without a failed stage; 1 a stage failed in some step;
    2 bad arguments or parameters; 4 the data source is missing.
    """
    _setup_logging(verbose)
    from workbench.pipeline import ExitCode, LockedError, ParameterError, run_backtest

    source = Path(data_dir).expanduser().resolve()
    if not source.exists():
        click.echo(f"error: {source} does not exist", err=True)
        sys.exit(ExitCode.DATA)
    names = [s.strip() for s in stages.split(",") if s.strip()] if stages else None

    def announce(step: Any) -> None:
        statuses = ", ".join(f"{k} {v}" for k, v in step.statuses().items())
        click.echo(f"{step.as_of.date()}: {statuses}")

    try:
        settings = _settings(data_root, reports_dir, tracking_uri, project, source)
        result = run_backtest(
            settings=settings,
            data_dir=source,
            start=start,
            end=end,
            every=every,
            stage_names=names,
            overrides=params,
            output_dir=Path(out) if out else None,
            progress=not no_progress,
            on_step=announce,
        )
    except (ParameterError, ValueError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(ExitCode.USAGE)
    except LockedError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(ExitCode.LOCKED)
    click.echo(f"report: {result.report}")
    sys.exit(ExitCode.OK if result.ok else ExitCode.STAGE_FAILED)


@cli.command("validate")
@click.option(
    "--data", "data_dir", required=True, type=click.Path(), help="Source folder or DuckDB file."
)
@click.option(
    "--mapping",
    type=click.Path(dir_okay=False),
    default=None,
    help="Mapping file (default: mapping.yml in the data folder, if any).",
)
@click.option(
    "--as-of",
    default=None,
    help="Cut-off date YYYY-MM-DD; timestamps at or after it are in the future (default: today).",
)
@click.option("-v", "--verbose", is_flag=True)
def validate_command(data_dir: str, mapping: str | None, as_of: str | None, verbose: bool) -> None:
    """Run the schema and error-level checks and print the problems found.

    Exit codes: 0 no error-level rule fails; 1 at least one does (those rows would be
    quarantined by the audit); 2 the source cannot be loaded or the arguments are wrong.
    The duplicate-customer search is not run (the audit merges duplicates, it does not
    reject them).
    """
    _setup_logging(verbose)
    from datetime import UTC, datetime

    from workbench.audit import AuditError, validate_tables
    from workbench.loading import LoadError, load_tables
    from workbench.schema import parse_as_of

    try:
        cutoff = parse_as_of(as_of or datetime.now(UTC).date().isoformat())
        data = load_tables(data_dir, mapping=mapping)
    except (LoadError, ValueError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    try:
        problems = validate_tables(data, cutoff)
    except AuditError as exc:
        click.echo(f"schema problem: {exc}")
        sys.exit(1)
    rows = {name: len(frame) for name, frame in data.tables.items()}
    click.echo(
        f"validated {len(rows)} table(s) as of {cutoff.date()}: "
        + ", ".join(f"{name} {n:,}" for name, n in rows.items())
    )
    if problems.empty:
        click.echo("no error-level problems found")
        sys.exit(0)
    shown = problems.assign(column=problems["column"].fillna(""))
    with_width = shown.to_string(index=False, max_colwidth=90)
    click.echo(with_width)
    total = int(problems["failing_rows"].sum())
    click.echo(f"{len(problems)} error-level rule(s) failed on {total:,} row(s)")
    sys.exit(1)


@cli.group("registry")
def registry_group() -> None:
    """Review and promote the registered models (MLflow model registry)."""


@registry_group.command("list")
@click.option("--model", "model", default=None, help="Only this registered model.")
@click.option("--json", "as_json", is_flag=True, help="Every version's details as JSON.")
@settings_options
def registry_list(
    model: str | None,
    as_json: bool,
    data_root: str | None,
    reports_dir: str | None,
    tracking_uri: str | None,
    project: str | None,
) -> None:
    """List every registered model's versions: aliases, as_of, headline metric (holdout
    ROC-AUC or silhouette), created, training-data fingerprint, who/why of the last alias
    change. Exit code 2 for an unknown --model."""
    import json

    from workbench import registry

    settings = _settings(data_root, reports_dir, tracking_uri, project)
    client = registry.registry_client(settings=settings)
    try:
        if as_json:
            click.echo(json.dumps(registry.listing_records(client, model), indent=2, default=str))
            return
        table = registry.versions_table(client, model)
    except registry.RegistryError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    if table.empty:
        click.echo(f"no registered models in {settings.tracking_uri}")
        return
    shown = table.drop(columns=["run_id", "registered_by", "tables"]).assign(
        value=table["value"].map(lambda v: "" if v is None or v != v else f"{v:.4f}"),
        created=table["created"].map(lambda t: t.strftime("%Y-%m-%d %H:%M")),
    )
    click.echo(shown.fillna("").to_string(index=False, max_colwidth=48))


@registry_group.command("promote")
@click.argument("model")
@click.argument("version")
@click.option(
    "--alias",
    type=click.Choice(["champion", "challenger"]),
    default="champion",
    show_default=True,
    help="Alias to point at VERSION.",
)
@click.option("--reason", required=True, help="Why (recorded as a tag of the version).")
@click.option("--user", default=None, help="Who (default: $WORKBENCH_USER or the login name).")
@settings_options
def registry_promote(
    model: str,
    version: str,
    alias: str,
    reason: str,
    user: str | None,
    data_root: str | None,
    reports_dir: str | None,
    tracking_uri: str | None,
    project: str | None,
) -> None:
    """Point ALIAS (default champion) of MODEL at VERSION, recording who and why as tags.

    The same code as the registry-review notebook's promotion. Exit codes: 0 promoted (or
    already held); 2 unknown model or version (the message lists what exists), or no reason.
    """
    from workbench import registry

    client = registry.registry_client(
        settings=_settings(data_root, reports_dir, tracking_uri, project)
    )
    try:
        record = registry.promote_version(
            client, model, version, reason=reason, alias=alias, user=user
        )
    except registry.RegistryError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    click.echo(record.sentence())


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="workbench")


if __name__ == "__main__":  # pragma: no cover
    main()
