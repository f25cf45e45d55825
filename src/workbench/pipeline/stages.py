"""The stage notebooks: discovery, what each declares, and the ``-p`` overrides.

A stage is a notebook ``notebooks/NN_name.ipynb``; its name is the file name without the
number. Its cell tagged ``parameters`` holds plain literals (the defaults, with a trailing
comment each as the ``-p`` help); its notebook metadata declares what it depends on and
what it needs::

    {"workbench": {"depends_on": ["features"],
                   "needs": {"tables": ["experiment_assignments"],
                             "unless_params": ["summary_path"]}}}
"""

from __future__ import annotations

import ast
import difflib
import io
import tokenize
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import yaml

from workbench.schema import TABLES

__all__ = [
    "INJECTED",
    "Needs",
    "ParameterError",
    "StageNotebook",
    "discover_stages",
    "parse_overrides",
    "select_stages",
]

#: The run's context: every stage declares these and ``workbench run`` sets them.
INJECTED = ("data_dir", "as_of", "output_dir", "pipeline_run_id", "tracking_uri", "data_root")


class ParameterError(ValueError):
    """A ``-p`` override that no stage declares, or one whose value has the wrong type."""


@dataclass(frozen=True)
class Needs:
    """What a stage needs from the source before a kernel is worth starting.

    Attributes
    ----------
    tables : tuple of str
        Canonical tables the stage reads; each must be present (a file, a mapping entry,
        or derivable by the loader).
    unless_params : tuple of str
        Parameters that replace those tables when set (``summary_path``).
    """

    tables: tuple[str, ...] = ()
    unless_params: tuple[str, ...] = ()


@dataclass(frozen=True)
class StageNotebook:
    """One stage: its notebook, declared parameters (name -> default), dependencies, needs."""

    number: int
    name: str
    path: Path
    parameters: dict[str, Any]
    help: dict[str, str]
    depends_on: tuple[str, ...] = ()
    needs: Needs = field(default_factory=Needs)
    code_cells: int = 0

    @property
    def own_parameters(self) -> dict[str, Any]:
        """The parameters beyond the run's context (:data:`INJECTED`)."""
        return {k: v for k, v in self.parameters.items() if k not in INJECTED}

    def describe_parameters(self) -> str:
        """The stage's own parameters with type, default and help, one per line."""
        lines = [f"parameters of stage {self.name!r} ({self.path.name}):"]
        for key, default in self.own_parameters.items():
            note = f"  # {self.help[key]}" if self.help.get(key) else ""
            lines.append(f"  {key} = {default!r} ({type(default).__name__}){note}")
        return "\n".join(lines)


# --------------------------------------------------------------------------- discovery


def discover_stages(notebooks_dir: Path) -> list[StageNotebook]:
    """Every ``NN_name.ipynb`` in ``notebooks_dir``, in number order.

    Raises
    ------
    ParameterError
        A parameters cell that is not plain literals, or ``needs`` metadata naming an
        unknown table or an undeclared parameter.
    """
    stages = []
    for path in sorted(Path(notebooks_dir).glob("[0-9][0-9]_*.ipynb")):
        number, name = path.stem.split("_", 1)
        nb = nbformat.read(str(path), as_version=4)
        params, helps = _parameters_cell(nb, path)
        meta = nb.metadata.get("workbench", {}) or {}
        code_cells = sum(1 for c in nb.cells if c.cell_type == "code" and c.source.strip())
        stages.append(
            StageNotebook(
                number=int(number),
                name=name,
                path=path,
                parameters=params,
                help=helps,
                depends_on=tuple(meta.get("depends_on", ())),
                needs=_needs(meta.get("needs") or {}, params, path),
                code_cells=code_cells + 1,  # papermill injects the parameters cell
            )
        )
    return stages


def _needs(meta: Any, params: dict[str, Any], path: Path) -> Needs:
    if not isinstance(meta, dict):
        raise ParameterError(f"{path.name}: metadata workbench.needs must be a mapping")
    tables = tuple(meta.get("tables") or ())
    unless = tuple(meta.get("unless_params") or ())
    unknown = [t for t in tables if t not in TABLES]
    if unknown:
        raise ParameterError(
            f"{path.name}: workbench.needs.tables names unknown table(s) {', '.join(unknown)}; "
            f"canonical tables: {', '.join(TABLES)}"
        )
    undeclared = [p for p in unless if p not in params]
    if undeclared:
        raise ParameterError(
            f"{path.name}: workbench.needs.unless_params names {', '.join(undeclared)}, which "
            "the parameters cell does not declare"
        )
    return Needs(tables, unless)


def _parameters_cell(
    nb: nbformat.NotebookNode, path: Path
) -> tuple[dict[str, Any], dict[str, str]]:
    """Names, literal defaults and trailing-comment help of the cell tagged ``parameters``."""
    cells = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if not cells:
        return {}, {}
    source = cells[0].source
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise ParameterError(
            f"{path.name}: the parameters cell is not valid Python: {exc}"
        ) from exc
    lines = source.splitlines()
    params: dict[str, Any] = {}
    helps: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            raise ParameterError(
                f"{path.name}: line {node.lineno} of the parameters cell is not `name = value`"
            )
        if not isinstance(target, ast.Name):
            raise ParameterError(f"{path.name}: line {node.lineno}: assign to a plain name")
        params[target.id] = _literal(ast.get_source_segment(source, value) or "", path, target.id)
        helps[target.id] = _trailing_comment(lines[(node.end_lineno or node.lineno) - 1])
    return params, helps


def _trailing_comment(line: str) -> str:
    try:
        for token in tokenize.generate_tokens(io.StringIO(line).readline):
            if token.type == tokenize.COMMENT:
                return token.string.lstrip("#").strip()
    except (tokenize.TokenError, IndentationError):
        return ""
    return ""


def _literal(text: str, path: Path, key: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError) as exc:
        raise ParameterError(
            f"{path.name}: the default of parameter {key!r} ({text}) is not a plain value; "
            "the parameters cell must hold literals only (derive values in the next cell)"
        ) from exc


def select_stages(stages: list[StageNotebook], names: Sequence[str] | None) -> list[StageNotebook]:
    """The stages named (in pipeline order), or all; unknown names are an error."""
    if not names:
        return stages
    known = {s.name: s for s in stages}
    unknown = [n for n in names if n not in known]
    if unknown:
        hints = [
            f"{n!r} (did you mean {', '.join(close)}?)"
            if (close := difflib.get_close_matches(n, list(known), n=2))
            else repr(n)
            for n in unknown
        ]
        raise ParameterError(f"unknown stage(s) {', '.join(hints)}; stages are: {', '.join(known)}")
    return [s for s in stages if s.name in set(names)]


# --------------------------------------------------------------------------- parameters


def parse_overrides(
    overrides: Sequence[str], stages: Sequence[StageNotebook]
) -> dict[str, dict[str, Any]]:
    """Turn ``-p name=value`` / ``-p stage.name=value`` into typed values per stage.

    A plain name applies to every selected stage that declares it. The value must fit
    the type of the default in the stage's parameters cell (``int``, ``float``, ``bool``,
    ``str``, ``list``, ``dict``; a ``None`` default accepts any YAML value).

    Raises
    ------
    ParameterError
        Unknown names (with the closest declared names — "did you mean k_max?" — and the
        parameters of only the stage(s) concerned), malformed pairs or values of the
        wrong type (with that stage's parameters).
    """
    result: dict[str, dict[str, Any]] = {s.name: {} for s in stages}
    by_name = {s.name: s for s in stages}
    for item in overrides:
        if "=" not in item:
            raise ParameterError(f"-p {item!r}: expected name=value (or stage.name=value)")
        key, raw = item.split("=", 1)
        key = key.strip()
        target_stage, _, param = key.rpartition(".")
        if target_stage and target_stage not in by_name:
            close = difflib.get_close_matches(target_stage, list(by_name), n=2)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise ParameterError(
                f"-p {item!r}: no selected stage {target_stage!r}{hint}; "
                f"stages: {', '.join(by_name)}"
            )
        if param in INJECTED:
            raise ParameterError(
                f"-p {item!r}: {param!r} is set by `workbench run` itself "
                f"(use --data, --as-of, --out or --tracking-uri)"
            )
        targets = [by_name[target_stage]] if target_stage else list(stages)
        declaring = [s for s in targets if param in s.parameters]
        if not declaring:
            raise ParameterError(_unknown_parameter(item, param, targets, bool(target_stage)))
        for stage in declaring:
            result[stage.name][param] = _typed(raw, stage.parameters[param], stage, param)
    return result


def _unknown_parameter(
    item: str, param: str, targets: Sequence[StageNotebook], one_stage: bool
) -> str:
    """The message for a ``-p`` name no targeted stage declares: the closest names and the
    parameters of the stage(s) that hold them, never every stage's list."""
    owners: dict[str, list[StageNotebook]] = {}
    for stage in targets:
        for name in stage.own_parameters:
            owners.setdefault(name, []).append(stage)
    squashed = {name.replace("_", "").lower(): name for name in owners}
    close = difflib.get_close_matches(param, list(owners), n=3, cutoff=0.75)
    exact = squashed.get(param.replace("_", "").replace("-", "").lower())
    if exact and exact not in close:
        close.insert(0, exact)
    where = (
        f"stage {targets[0].name!r} has no parameter"
        if one_stage
        else ("no selected stage declares parameter")
    )
    message = f"-p {item!r}: {where} {param!r}"
    if close:
        places = [
            f"{name} ({', '.join(s.name for s in owners[name])})" if not one_stage else name
            for name in close
        ]
        message += f"; did you mean {' or '.join(places)}?"
        shown = owners[close[0]][:2]  # the best match's stage(s), not every stage's list
        return message + "\n" + "\n".join(s.describe_parameters() for s in shown)
    if one_stage:
        return message + ".\n" + targets[0].describe_parameters()
    return message + "; `workbench stages` lists every stage's parameters."


def _typed(raw: str, default: Any, stage: StageNotebook, param: str) -> Any:
    expected = type(default)

    def fail() -> ParameterError:
        return ParameterError(
            f"-p {param}={raw!r}: stage {stage.name!r} expects {expected.__name__} "
            f"(default {default!r}).\n{stage.describe_parameters()}"
        )

    if default is None:
        return yaml.safe_load(raw)
    if isinstance(default, bool):
        lowered = raw.strip().lower()
        if lowered in ("true", "yes", "1", "on"):
            return True
        if lowered in ("false", "no", "0", "off"):
            return False
        raise fail()
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError:
            raise fail() from None
    if isinstance(default, float):
        try:
            return float(raw)
        except ValueError:
            raise fail() from None
    if isinstance(default, str):
        return raw
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        raise fail() from None
    if not isinstance(value, expected):
        raise fail()
    return value
