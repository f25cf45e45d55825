"""Notebook hygiene: committed notebooks carry no outputs, execution counts or widget state."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from workbench import notebook_hygiene

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def _notebook(path: Path, *, executed: bool) -> Path:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("1 + 1")
    nb.cells = [nbformat.v4.new_markdown_cell("# title"), cell]
    if executed:
        cell.execution_count = 3
        cell.outputs = [nbformat.v4.new_output("execute_result", {"text/plain": "2"})]
        nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {}}
    nbformat.write(nb, str(path))
    return path


def test_an_executed_notebook_is_flagged_cell_by_cell(tmp_path):
    path = _notebook(tmp_path / "run.ipynb", executed=True)
    assert notebook_hygiene.problems(path) == [
        f"{path}: cell 1 has outputs",
        f"{path}: cell 1 has an execution count",
        f"{path}: notebook metadata holds widget state",
    ]


def test_main_fails_on_an_offender_and_fix_strips_only_the_offenders(tmp_path, caplog):
    dirty = _notebook(tmp_path / "dirty.ipynb", executed=True)
    clean = _notebook(tmp_path / "clean.ipynb", executed=False)
    checkpoint = tmp_path / ".ipynb_checkpoints"
    checkpoint.mkdir()
    _notebook(checkpoint / "dirty-checkpoint.ipynb", executed=True)
    clean_before = clean.read_bytes()

    assert notebook_hygiene.main([str(tmp_path)]) == 1
    assert "1 notebook(s) carry outputs" in caplog.text
    assert "checkpoint" not in caplog.text

    assert notebook_hygiene.main([str(tmp_path), "--fix"]) == 0
    assert notebook_hygiene.problems(dirty) == []
    assert clean.read_bytes() == clean_before
    assert notebook_hygiene.main([str(dirty), str(clean)]) == 0


def test_a_missing_path_is_named_with_exit_code_2(tmp_path, caplog):
    assert notebook_hygiene.main([str(tmp_path / "nope.ipynb")]) == 2
    assert "nope.ipynb is neither a notebook nor a folder" in caplog.text
    with pytest.raises(FileNotFoundError, match="nope.ipynb"):
        notebook_hygiene.notebooks_in([tmp_path / "nope.ipynb"])


def test_the_committed_notebooks_are_clean():
    notebooks = notebook_hygiene.notebooks_in([NOTEBOOKS])
    assert len(notebooks) >= 8
    assert [m for path in notebooks for m in notebook_hygiene.problems(path)] == []
