"""Every teaching notebook runs top to bottom, quickly, and is committed without outputs."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
BUDGET_S = 30.0          # the lesson promise; the kernel start is not counted
EXPECTED = ["01-containers-vs-vms-density", "02-anatomy-of-a-startup", "03-images-layers-cow",
            "04-planning-with-a-sweep", "05-size-a-fleet-for-an-slo"]


def test_the_four_lessons_exist():
    assert [p.stem for p in NOTEBOOKS] == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_committed_clean(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: clear the outputs"
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "import simcontainer" in code or "from simcontainer" in code, "lessons use the library"
    assert "print(f" in code, "conclusions are computed (f-strings), not typed in"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    with client.setup_kernel():
        start = time.perf_counter()
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)     # raises CellExecutionError on a failing cell
        elapsed = time.perf_counter() - start
    images = sum(1 for c in nb.cells if c.cell_type == "code" for o in c.outputs
                 if o.get("output_type") == "display_data" and "image/png" in o.get("data", {}))
    assert images >= 1, f"{path.name}: shows no plot"
    assert elapsed < BUDGET_S, f"{path.name}: took {elapsed:.1f} s (budget {BUDGET_S:g} s)"
