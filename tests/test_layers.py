"""The package's layers as CI checks them: one way down (import-linter's contract, run by
`make lint` as well), no import cycle anywhere, and no project import inside a function."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import grimp
import networkx as nx

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("scenario", "model", "engine", "studies", "faces")


def _graph() -> nx.DiGraph:
    g = grimp.build_graph("simcontainer", exclude_type_checking_imports=True)
    out = nx.DiGraph()
    for m in g.modules:
        out.add_node(m)
        for d in g.find_modules_directly_imported_by(m):
            out.add_edge(m, d)
    return out


def test_no_module_level_import_cycle():
    cycles = list(nx.simple_cycles(_graph()))
    assert cycles == [], [" -> ".join(c) for c in cycles[:5]]


def test_every_import_goes_down_the_layers():
    rank = {name: k for k, name in enumerate(LAYERS)}
    bad = []
    for a, b in _graph().edges:
        la, lb = (m.split(".")[1] if m.count(".") else "" for m in (a, b))
        if la in rank and lb in rank and rank[lb] > rank[la]:
            bad.append(f"{a} imports {b}")
    assert bad == []


def test_no_project_import_inside_a_function():
    bad = []
    for path in sorted((ROOT / "simcontainer").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for sub in ast.walk(node):
                    if isinstance(sub, ast.ImportFrom) and (sub.module or "").startswith("simcontainer") \
                            or isinstance(sub, ast.Import) and any(a.name.startswith("simcontainer") for a in sub.names):
                        bad.append(f"{path.relative_to(ROOT)}:{sub.lineno}")
    assert bad == []


def test_the_import_linter_contract_holds():
    exe = Path(sys.executable).with_name("lint-imports")
    out = subprocess.run([str(exe)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout[-2000:]
    assert "0 broken" in out.stdout
