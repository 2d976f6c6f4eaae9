"""Every teaching notebook runs top to bottom and is committed without outputs (how long each
takes is measured by bench/bench_notebooks.py, not asserted here: a test never times the machine)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
# Run in the notebook's kernel after its last cell: every tick label of every Axes it left in a
# variable (a figure is drawn again to lay its ticks out).
TICK_PROBE = """
import json as _json
from matplotlib.axes import Axes as _Axes
_seen = []
for _v in list(globals().values()):
    _items = _v.flat if hasattr(_v, "flat") and not isinstance(_v, str) else _v if isinstance(_v, (list, tuple)) else [_v]
    _seen += [_a for _a in _items if isinstance(_a, _Axes) and _a not in _seen]
_labels = []
for _a in _seen:
    _a.figure.canvas.draw()
    _labels += [_t.get_text() for _t in _a.get_xticklabels(which="both") + _a.get_yticklabels(which="both")]
print(_json.dumps([_l for _l in _labels if _l]))
"""
EXPECTED = ["01-containers-vs-vms-density", "02-anatomy-of-a-startup", "03-images-layers-cow",
            "04-planning-with-a-sweep", "05-size-a-fleet-for-an-slo", "06-docker-commands-on-a-simulated-host"]


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
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)     # raises CellExecutionError on a failing cell
        probe = nbformat.v4.new_code_cell(TICK_PROBE)
        nb.cells.append(probe)
        client.execute_cell(probe, len(nb.cells) - 1)
    labels = json.loads("".join(o.get("text", "") for o in probe.outputs if o.get("name") == "stdout"))
    assert labels, f"{path.name}: no axes found to check"
    # a tick reads as a number a learner knows ("30", "0.1", "10^2"), not "3×10^1"
    mixed = [t for t in labels if "times" in t or "×" in t]
    assert not mixed, f"{path.name}: tick labels like {mixed[:3]}: set plain tick labels"
    images = sum(1 for c in nb.cells if c.cell_type == "code" for o in c.outputs
                 if o.get("output_type") == "display_data" and "image/png" in o.get("data", {}))
    assert images >= 1, f"{path.name}: shows no plot"
