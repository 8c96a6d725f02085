"""The researcher notebooks (``notebooks/*.ipynb``) run end to end and are committed without outputs.

Every notebook in the folder is picked up by the glob, so a new one is executed by ``make test``
without touching this file. Execution uses nbclient with the kernel of the running interpreter:
the first cell that raises fails the test with that cell's traceback.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest

pytestmark = pytest.mark.slow  # notebooks run end to end in a kernel

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
CELL_TIMEOUT_S = 300


def _ids(path: Path) -> str:
    return path.name


def test_the_researcher_notebooks_are_there():
    names = {p.name for p in NOTEBOOKS}
    assert {"01_county_data.ipynb", "02_model_evaluation.ipynb"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids)
def test_notebook_is_committed_without_outputs(path: Path):
    nb = nbformat.read(path, as_version=4)
    dirty = [
        i
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count") is not None)
    ]
    assert not dirty, (
        f"{path.name}: code cells {dirty} carry outputs or execution counts; clear them before committing "
        "(in Jupyter: Edit > Clear Outputs of All Cells, then save; or "
        f"jupyter nbconvert --clear-output --inplace {path.relative_to(ROOT)})"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids)
def test_notebook_runs_end_to_end(path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    from nbclient import NotebookClient

    # the kernel is this interpreter (jupyter_client runs a "python" kernelspec with sys.executable);
    # prefer the environment's kernelspec over one a user may have installed elsewhere
    monkeypatch.setenv("JUPYTER_PREFER_ENV_PATH", "1")
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the notebooks' temporary folders go where pytest cleans up
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    before = sorted(p.name for p in NOTEBOOK_DIR.iterdir())
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},  # run where a researcher opens it
    )
    client.execute()  # raises CellExecutionError at the first failing cell
    after = sorted(p.name for p in NOTEBOOK_DIR.iterdir())
    assert after == before, f"{path.name} wrote into notebooks/: {sorted(set(after) - set(before))}"
