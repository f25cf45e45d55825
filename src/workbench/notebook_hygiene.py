"""Committed notebooks carry no outputs, execution counts or widget state.

``python -m workbench.notebook_hygiene notebooks/`` lists offenders and exits 1;
``--fix`` strips them in place. The test suite runs the check.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

__all__ = ["problems", "strip"]


def problems(path: Path) -> list[str]:
    """What a committed notebook should not carry."""
    nb = nbformat.read(str(path), as_version=4)
    found = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if cell.get("outputs"):
            found.append(f"{path.name}: cell {index} has outputs")
        if cell.get("execution_count") is not None:
            found.append(f"{path.name}: cell {index} has an execution count")
    if "widgets" in nb.metadata:
        found.append(f"{path.name}: notebook metadata holds widget state")
    return found


def strip(path: Path) -> None:
    """Remove outputs, execution counts and widget state in place."""
    nb = nbformat.read(str(path), as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nb.metadata.pop("widgets", None)
    nbformat.write(nb, str(path))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--fix", action="store_true")
    args = parser.parse_args(argv)
    notebooks = sorted(args.folder.rglob("*.ipynb"))
    notebooks = [p for p in notebooks if ".ipynb_checkpoints" not in p.parts]
    offenders = [msg for path in notebooks for msg in problems(path)]
    if args.fix:
        for path in notebooks:
            strip(path)
        return 0
    for message in offenders:
        print(message)
    return 1 if offenders else 0


if __name__ == "__main__":
    sys.exit(main())
