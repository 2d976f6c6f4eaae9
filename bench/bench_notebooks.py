"""notebooks: how long each teaching notebook takes to run (moved from tests/test_notebooks.py).

Each notebook runs top to bottom in a fresh Jupyter kernel (nbclient), timed from the first cell
to the last (the kernel's start is not counted). The lessons promise under 30 s each; the test
suite checks that they run and show a plot, this measures how fast.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from bench._common import ROOT, target

BUDGET_S = 30.0


def run(repeat: int | None = None) -> dict[str, Any]:
    import nbclient  # noqa: PLC0415 - heavy (Jupyter), only for this benchmark
    import nbformat  # noqa: PLC0415 - heavy

    os.environ.setdefault("MPLBACKEND", "Agg")
    rows = []
    for path in sorted((Path(ROOT) / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                         resources={"metadata": {"path": str(path.parent)}})
        with client.setup_kernel():
            t0 = time.perf_counter()
            for index, cell in enumerate(nb.cells):
                client.execute_cell(cell, index)
            rows.append({"notebook": path.stem, "wall_s": round(time.perf_counter() - t0, 2)})
    return {"rows": rows,
            "targets": [target(f"notebook {r['notebook']}", r["wall_s"], BUDGET_S, unit=" s") for r in rows]}


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
