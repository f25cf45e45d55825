"""Committed notebooks carry no outputs, execution counts or widget state.

``python -m workbench.notebook_hygiene notebooks/`` logs every offender and exits 1;
``--fix`` strips them in place. ``make lint`` (and so ``.ci/run``) and the pre-commit
hook run the check; ``make format`` applies the fix. Paths may be notebooks or folders
(searched recursively, checkpoints skipped).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import nbformat

__all__ = ["problems", "strip", "notebooks_in", "main"]

log = logging.getLogger(__name__)


def problems(path: Path) -> list[str]:
    """What a committed notebook should not carry, one message each (empty: nothing)."""
    nb = nbformat.read(str(path), as_version=4)
    found = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if cell.get("outputs"):
            found.append(f"{path}: cell {index} has outputs")
        if cell.get("execution_count") is not None:
            found.append(f"{path}: cell {index} has an execution count")
    if "widgets" in nb.metadata:
        found.append(f"{path}: notebook metadata holds widget state")
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


def notebooks_in(paths: Iterable[Path]) -> list[Path]:
    """The notebooks named by ``paths``: files as given, folders searched recursively.

    Raises
    ------
    FileNotFoundError
        A path does not exist.
    """
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                p for p in sorted(path.rglob("*.ipynb")) if ".ipynb_checkpoints" not in p.parts
            )
        elif path.is_file():
            found.append(path)
        else:
            raise FileNotFoundError(f"notebook_hygiene: {path} is neither a notebook nor a folder")
    return found


def main(argv: Sequence[str] | None = None) -> int:
    """Check (or, with ``--fix``, strip) the notebooks; 0 when clean, 1 when not, 2 on bad paths."""
    logging.basicConfig(format="%(message)s", level=logging.INFO)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("paths", nargs="+", type=Path, help="notebooks or folders")
    parser.add_argument("--fix", action="store_true", help="strip the offenders in place")
    args = parser.parse_args(argv)
    try:
        notebooks = notebooks_in(args.paths)
    except FileNotFoundError as exc:
        log.error("%s", exc)
        return 2
    offenders = {path: found for path in notebooks if (found := problems(path))}
    if args.fix:
        for path in offenders:
            strip(path)
            log.info("stripped %s", path)
        return 0
    for found in offenders.values():
        for message in found:
            log.error("%s", message)
    if offenders:
        log.error(
            "%d notebook(s) carry outputs; strip them with "
            "`python -m workbench.notebook_hygiene --fix <paths>` (or `make format`)",
            len(offenders),
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
