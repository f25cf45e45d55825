"""The package's structure: imports only go down the layers, in no circle, to public names.

How it is checked: every module under ``src/workbench`` is parsed with :mod:`ast` (never
imported), and each ``import workbench…`` / ``from workbench… import …`` in it — at module
level, under ``if TYPE_CHECKING:`` and inside functions alike — becomes an edge of the
import graph between modules. On that graph:

(a) no circle, function-level imports included (an import moved into a function to dodge
    a circle still closes it);
(b) every import goes to the importer's own layer or a lower one (:data:`LAYERS`); a stage
    package imports another stage package only where :data:`STAGE_DEPENDENCIES` says so;
(c) no module imports another module's private (``_name``) symbol, neither by
    ``from m import _name`` nor as ``m._name``;
(d) domain code never imports ``workbench.stage`` (the runner's side of a stage);
(e) imports inside functions are listed in :data:`FUNCTION_LEVEL_IMPORTS` with the reason
    they are there: a new one fails until it moves to the top of its module or is listed.

Known violations that other work removes are listed with the change that removes them;
each has a strict ``xfail`` test that turns red once the violation is gone, so the entry
is deleted then. See ``docs/architecture.md``.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
ROOT = "workbench"

#: Stage packages in pipeline order (the order of the stage notebooks; the later stages
#: have no notebook yet).
STAGE_ORDER = (
    "simulate",  # the demo data generator: writes the canonical tables the others read
    "overview",
    "audit",
    "features",
    "segmentation",
    "churn",
    "clv",
    "recommend",
    "experiments",
    "uplift",
    "targeting",
    "monitoring",
)

#: The layers, bottom first (S14 rule 3 and docs/architecture.md). A module may import
#: modules of its own layer and of lower layers, never of a higher one. The unit is the
#: top-level module or package under ``workbench`` (``workbench`` itself is its __init__).
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("contract", (ROOT, "schema", "settings", "frames")),
    ("plumbing", ("loading", "engines")),
    ("canonical", ("canonical",)),
    ("catalog", ("catalog",)),
    ("services", ("tracking", "plots", "reports", "notebook_html", "compare", "display")),
    ("stages", STAGE_ORDER),
    ("applications", ("registry", "registry_figures", "customer360")),
    ("runner", ("stage", "pipeline", "cli", "widgets", "notebook_hygiene")),
)

#: The lower stage packages each stage package may import (its code, not its outputs:
#: outputs are read through the catalog). The imports that hold today: churn builds its
#: model inputs with the feature code; segmentation clusters the features; experiments builds
#: segments as of the first assignment with the feature code (issue 16). The branches
#: of the next stages bring: uplift reuses churn's model columns and the experiment
#: inputs and builds the features as of an experiment's first assignment; monitoring
#: re-scores churn on the features. Every dependency points to an earlier stage in
#: :data:`STAGE_ORDER` (checked below).
STAGE_DEPENDENCIES: dict[str, frozenset[str]] = {
    "segmentation": frozenset({"features"}),
    "churn": frozenset({"features"}),
    "experiments": frozenset({"features"}),
    "uplift": frozenset({"features", "churn", "experiments"}),
    "monitoring": frozenset({"features", "churn"}),
}

#: Imports inside functions, per module: the imported modules and why they are not at the
#: top. An entry for an import that is gone fails too (delete it then). (The lazy imports of
#: churn, features, customer360, registry and widgets went with the refactors of issue 14.)
FUNCTION_LEVEL_IMPORTS: dict[str, tuple[frozenset[str], str]] = {
    "workbench.cli": (
        frozenset(
            {
                "workbench.audit",
                "workbench.loading",
                "workbench.pipeline",
                "workbench.registry",
                "workbench.schema",
                "workbench.settings",
                "workbench.simulate",
                "workbench.stage",
            }
        ),
        "kept: `workbench --help` stays instant (pandas, MLflow, PyMC load only in a command)",
    ),
}

#: Known imports of another module's private name: (importer, "module._name") -> the change
#: that removes it. None since issue 14 (loading.SYNONYMS and churn.registry.mlflow_module
#: are public now).
KNOWN_PRIVATE_IMPORTS: dict[tuple[str, str], str] = {}

#: Known imports against the layers or of a stage package not in STAGE_DEPENDENCIES:
#: (importer, imported module) -> the change that removes it. None today.
KNOWN_LAYER_VIOLATIONS: dict[tuple[str, str], str] = {}

#: Known circles, as the sorted tuple of their modules -> the change that removes it.
KNOWN_CIRCLES: dict[tuple[str, ...], str] = {}


# --------------------------------------------------------------------------- the graph


@dataclass(frozen=True)
class Import:
    """One import of a workbench module: who, what, which names, where, whether in a function."""

    importer: str
    module: str
    names: tuple[str, ...]
    line: int
    in_function: bool


def _unit(module: str) -> str:
    """The top-level module or package a module belongs to (``workbench`` for the root)."""
    return module.split(".")[1] if "." in module else ROOT


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


class _Collector(ast.NodeVisitor):
    """Workbench imports of one module, and attribute uses of private names on modules."""

    def __init__(self, importer: str, modules: Mapping[str, Path]) -> None:
        self.importer = importer
        self.modules = modules
        self.imports: list[Import] = []
        self.private_uses: list[tuple[str, int]] = []
        self.aliases: dict[str, str] = {}  # local name -> workbench module it is bound to
        self.depth = 0

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_AsyncFunctionDef = visit_FunctionDef

    def _add(self, module: str, names: tuple[str, ...], line: int) -> None:
        self.imports.append(Import(self.importer, module, names, line, self.depth > 0))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name == ROOT or alias.name.startswith(ROOT + "."):
                self._add(alias.name, (), node.lineno)
                if alias.asname:
                    self.aliases[alias.asname] = alias.name
                else:
                    self.aliases[ROOT] = ROOT

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = self._absolute(node)
        if module != ROOT and not module.startswith(ROOT + "."):
            return
        symbols = []
        for alias in node.names:
            submodule = f"{module}.{alias.name}"
            if submodule in self.modules:  # `from workbench import catalog`: a module
                self._add(submodule, (), node.lineno)
                self.aliases[alias.asname or alias.name] = submodule
            else:
                symbols.append(alias.name)
        if symbols:
            self._add(module, tuple(symbols), node.lineno)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        owner = self._module_of(node.value)
        name = f"{owner}.{node.attr}"
        if owner is not None and _is_private(node.attr) and name not in self.modules:
            self.private_uses.append((name, node.lineno))
        self.generic_visit(node)

    def _absolute(self, node: ast.ImportFrom) -> str:
        if not node.level:
            return node.module or ""
        is_package = self.modules[self.importer].name == "__init__.py"
        base = (self.importer if is_package else self.importer.rpartition(".")[0]).split(".")
        base = base[: len(base) - (node.level - 1)]
        return ".".join(base + ([node.module] if node.module else []))

    def _module_of(self, node: ast.expr) -> str | None:
        if isinstance(node, ast.Name):
            return self.aliases.get(node.id)
        if isinstance(node, ast.Attribute):
            owner = self._module_of(node.value)
            if owner is not None and f"{owner}.{node.attr}" in self.modules:
                return f"{owner}.{node.attr}"
        return None


class Tree:
    """The workbench modules under a source folder, their imports and the rules' findings."""

    def __init__(self, src: Path) -> None:
        self.src = src
        self.modules: dict[str, Path] = {}
        for path in sorted((src / ROOT).rglob("*.py")):
            parts = list(path.relative_to(src).with_suffix("").parts)
            self.modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
        self.collectors = {}
        for module, path in self.modules.items():
            collector = _Collector(module, self.modules)
            collector.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
            self.collectors[module] = collector
        self.imports = [imp for c in self.collectors.values() for imp in c.imports]

    def where(self, module: str, line: int) -> str:
        return f"{self.modules[module].relative_to(self.src)}:{line}"

    def graph(self) -> dict[str, set[str]]:
        graph: dict[str, set[str]] = {module: set() for module in self.modules}
        for imp in self.imports:
            if imp.module != imp.importer and imp.module in graph:
                graph[imp.importer].add(imp.module)
        return graph

    def circles(self) -> list[tuple[str, ...]]:
        """Strongly connected components of more than one module (Tarjan), each sorted."""
        graph = self.graph()
        index: dict[str, int] = {}
        low: dict[str, int] = {}
        stack: list[str] = []
        on_stack: set[str] = set()
        found: list[tuple[str, ...]] = []

        def visit(node: str) -> None:
            index[node] = low[node] = len(index)
            stack.append(node)
            on_stack.add(node)
            for succ in sorted(graph[node]):
                if succ not in index:
                    visit(succ)
                    low[node] = min(low[node], low[succ])
                elif succ in on_stack:
                    low[node] = min(low[node], index[succ])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(tuple(sorted(component)))

        for node in sorted(graph):
            if node not in index:
                visit(node)
        return found

    def unplaced(self) -> list[str]:
        placed = {unit for _, units in LAYERS for unit in units}
        return sorted({_unit(m) for m in self.modules} - placed)

    def layer_violations(self) -> dict[tuple[str, str], str]:
        """(importer, imported module) -> message, for imports up the layers or to a stage
        package that :data:`STAGE_DEPENDENCIES` does not allow."""
        ranks = {unit: rank for rank, (_, units) in enumerate(LAYERS) for unit in units}
        names = [name for name, _ in LAYERS]
        found = {}
        for imp in self.imports:
            source, target = _unit(imp.importer), _unit(imp.module)
            if source == target or source not in ranks or target not in ranks:
                continue  # an unplaced unit is reported by test_every_module_belongs_to_one_layer
            if ranks[target] > ranks[source]:
                found[(imp.importer, imp.module)] = (
                    f"{self.where(imp.importer, imp.line)}: {imp.importer} "
                    f"({names[ranks[source]]}) imports {imp.module} "
                    f"({names[ranks[target]]}, a higher layer)"
                )
            elif (
                source in STAGE_ORDER
                and target in STAGE_ORDER
                and target not in STAGE_DEPENDENCIES.get(source, frozenset())
            ):
                found[(imp.importer, imp.module)] = (
                    f"{self.where(imp.importer, imp.line)}: stage package {source} imports "
                    f"stage package {target}, which STAGE_DEPENDENCIES does not allow"
                )
        return found

    def private_imports(self) -> dict[tuple[str, str], str]:
        """(importer, "module._name") -> message, for every use of another module's
        private name; also a private module imported from outside its package."""
        found = {}
        for module, collector in self.collectors.items():
            for imp in collector.imports:
                for name in imp.names:
                    if _is_private(name):
                        found[(module, f"{imp.module}.{name}")] = (
                            f"{self.where(module, imp.line)}: from {imp.module} import {name}"
                        )
                package = imp.module.rpartition(".")[0]
                inside = module == package or module.startswith(package + ".")
                if any(_is_private(part) for part in imp.module.split(".")) and not inside:
                    found[(module, imp.module)] = (
                        f"{self.where(module, imp.line)}: imports the private module "
                        f"{imp.module} from outside its package"
                    )
            for name, line in collector.private_uses:
                found[(module, name)] = f"{self.where(module, line)}: uses {name}"
        return found

    def runner_imports(self) -> list[str]:
        """Where code below the runner layer imports ``workbench.stage``."""
        runner = dict(LAYERS)["runner"]
        return sorted(
            f"{self.where(imp.importer, imp.line)}: {imp.importer}"
            for imp in self.imports
            if imp.module == "workbench.stage" and _unit(imp.importer) not in runner
        )

    def function_level(self) -> dict[str, set[str]]:
        """Module -> the workbench modules it imports inside functions."""
        found: dict[str, set[str]] = {}
        for imp in self.imports:
            if imp.in_function:
                found.setdefault(imp.importer, set()).add(imp.module)
        return found


@cache
def _tree() -> Tree:
    return Tree(SRC)


# --------------------------------------------------------------------------- the checker


def _write(root: Path, files: Mapping[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_the_checks_find_planted_violations(tmp_path):
    """Each rule fires on a tiny hand-made package holding one violation of it."""
    tree = Tree(
        _write(
            tmp_path,
            {
                "workbench/__init__.py": "",
                "workbench/stage.py": "",
                "workbench/loading.py": "_SYNONYMS = {}\nPUBLIC = 1\n",
                "workbench/schema.py": "from workbench.stage import Stage\n",
                "workbench/audit/__init__.py": (
                    "import workbench.loading as ld\n"
                    "from workbench.loading import PUBLIC, _SYNONYMS\n"
                    "from . import _checks\n"
                    "x = ld._SYNONYMS\n"
                ),
                "workbench/audit/_checks.py": "",
                "workbench/churn/__init__.py": "from workbench.features import f\n",
                "workbench/features/__init__.py": (
                    "from workbench.audit import _checks\n"
                    "def f():\n    from workbench import churn\n"
                ),
            },
        )
    )
    assert tree.unplaced() == []
    assert tree.circles() == [("workbench.churn", "workbench.features")]
    assert sorted(tree.layer_violations()) == [
        ("workbench.features", "workbench.audit._checks"),  # features may not import audit
        ("workbench.features", "workbench.churn"),  # nor a later stage
        ("workbench.schema", "workbench.stage"),  # contract -> runner
    ]
    assert sorted(tree.private_imports()) == [
        ("workbench.audit", "workbench.loading._SYNONYMS"),  # as ld._SYNONYMS and imported
        ("workbench.features", "workbench.audit._checks"),  # private module, other package
    ]
    assert tree.runner_imports() == ["workbench/schema.py:1: workbench.schema"]
    assert tree.function_level() == {"workbench.features": {"workbench.churn"}}


def test_the_walk_sees_the_package():
    """The collector finds what is really there (guards every test below)."""
    tree = _tree()
    assert {"workbench", "workbench.schema", "workbench.stage", "workbench.churn"} <= set(
        tree.modules
    )
    edges = {(i.importer, i.module) for i in tree.imports}
    assert ("workbench.stage", "workbench.catalog") in edges  # `from workbench import catalog`
    assert ("workbench.catalog", "workbench.schema") in edges  # `from workbench.schema import …`
    assert "workbench.cli" in tree.function_level()


# --------------------------------------------------------------------------- the tables


def test_every_module_belongs_to_one_layer():
    units = [unit for _, members in LAYERS for unit in members]
    assert len(units) == len(set(units)), "a unit is listed in two layers"
    unplaced = _tree().unplaced()
    assert not unplaced, (
        f"add {', '.join(unplaced)} to LAYERS in tests/test_architecture.py "
        "(and to docs/architecture.md)"
    )


def test_stage_dependencies_point_to_earlier_stages():
    order = {stage: rank for rank, stage in enumerate(STAGE_ORDER)}
    for stage, needs in STAGE_DEPENDENCIES.items():
        assert stage in order, f"STAGE_DEPENDENCIES: {stage} is not in STAGE_ORDER"
        for need in needs:
            assert order.get(need, len(order)) < order[stage], (
                f"STAGE_DEPENDENCIES: {stage} may only depend on an earlier stage, got {need}"
            )


# --------------------------------------------------------------------------- the rules


def test_no_import_circle():
    tree = _tree()
    graph = tree.graph()
    in_function = {(i.importer, i.module) for i in tree.imports if i.in_function}
    messages = []
    for circle in tree.circles():
        if circle in KNOWN_CIRCLES:
            continue
        edges = sorted(
            f"{a} -> {b}{' (inside a function)' if (a, b) in in_function else ''}"
            for a in circle
            for b in graph[a]
            if b in circle
        )
        messages.append(f"circle of {len(circle)} modules: " + "; ".join(edges))
    assert not messages, "\n".join(messages)


def test_imports_only_go_down_the_layers():
    found = _tree().layer_violations()
    new = [message for key, message in sorted(found.items()) if key not in KNOWN_LAYER_VIOLATIONS]
    assert not new, "\n".join(new)


def test_no_module_imports_another_modules_private_name():
    found = _tree().private_imports()
    new = [message for key, message in sorted(found.items()) if key not in KNOWN_PRIVATE_IMPORTS]
    assert not new, "make the name public in the module that owns it:\n" + "\n".join(new)


def test_domain_code_never_imports_the_stage_runner():
    offenders = _tree().runner_imports()
    assert not offenders, (
        "workbench.stage is the runner's side of a stage; take what you need from "
        "workbench.schema / workbench.catalog instead:\n" + "\n".join(offenders)
    )


def test_function_level_imports_are_the_listed_ones():
    found = _tree().function_level()
    problems = []
    for module, imported in sorted(found.items()):
        allowed = FUNCTION_LEVEL_IMPORTS.get(module, (frozenset(), ""))[0]
        problems.extend(
            f"{module} imports {target} inside a function: move it to the top of the module "
            "(a circle is a layering problem to fix, not to dodge)"
            for target in sorted(imported - allowed)
        )
    for module, (allowed, _reason) in sorted(FUNCTION_LEVEL_IMPORTS.items()):
        problems.extend(
            f"FUNCTION_LEVEL_IMPORTS lists {module} -> {target}, which is gone: delete it"
            for target in sorted(allowed - found.get(module, set()))
        )
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------- known cases


def _known_cases() -> list[Any]:
    cases = [("private import", k, r) for k, r in KNOWN_PRIVATE_IMPORTS.items()]
    cases += [("layer violation", k, r) for k, r in KNOWN_LAYER_VIOLATIONS.items()]
    cases += [("circle", k, r) for k, r in KNOWN_CIRCLES.items()]
    return [
        pytest.param(kind, key, marks=pytest.mark.xfail(strict=True, reason=reason))
        for kind, key, reason in cases
    ]


@pytest.mark.parametrize(("kind", "key"), _known_cases())
def test_a_known_case_is_gone(kind, key):
    """Strict xfail per listed case: it turns red when the case is gone (delete the entry)."""
    tree = _tree()
    found = {
        "private import": tree.private_imports,
        "layer violation": tree.layer_violations,
        "circle": lambda: dict.fromkeys(tree.circles(), ""),
    }[kind]()
    assert key not in found
