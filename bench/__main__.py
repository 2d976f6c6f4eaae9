"""The benchmark runner: ``make bench`` / ``python -m bench [NAME ...] [--n N,N,...] [--quick]``.

Discovers every ``bench/bench_*.py`` module that has a ``run() -> dict``, runs the ones named
(all by default), prints a table of their figures and of the targets of issue 7, and writes
``bench/results.json`` (merged with earlier results, so that running one benchmark keeps the
others' last figures).

* ``--n 1000,10000,...`` sets the N list of ``scaling`` (also ``BENCH_SCALING_N``); the default
  run stops at 100k so that ``make bench`` takes a few minutes; add 1000000 for the 1M case.
* ``--quick`` makes everything smaller (a smoke test of the runner).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results.json"


def names() -> list[str]:
    """Short names of every bench/bench_*.py (found without importing them)."""
    return [i.name.removeprefix("bench_") for i in sorted(pkgutil.iter_modules([str(HERE)]), key=lambda i: i.name)
            if i.name.startswith("bench_")]


def describe(name: str) -> str:
    try:
        mod = importlib.import_module(f"bench.bench_{name}")
    except Exception as exc:
        return f"import error: {exc}"
    if not callable(getattr(mod, "run", None)):
        return "(no run() -- not a benchmark)"
    return (mod.__doc__ or "").strip().splitlines()[0]


def run_isolated(name: str) -> dict[str, Any]:
    """Run one benchmark's ``run()`` in a fresh interpreter.

    Each benchmark gets a clean process: no modules, threads, heap or garbage another one left
    behind (the app benchmark imports Streamlit and starts threads; a sweep's worker processes
    re-import the parent's main module), so one measurement never carries another's cost.
    """
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        code = ("import json, sys\n"
                f"from bench.bench_{name} import run\n"
                "res = run()\n"
                "json.dump(res if isinstance(res, dict) else {'value': res}, open(sys.argv[1], 'w'), default=str)\n")
        proc = subprocess.run([sys.executable, "-c", code, str(out)], cwd=HERE.parent, env=os.environ.copy())
        if proc.returncode != 0 or not out.exists():
            return {"error": f"the benchmark process exited with status {proc.returncode}"}
        return json.loads(out.read_text())


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 1e5 else f"{v:,.0f}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v)


def _flat(d: Any, prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    if isinstance(d, dict):
        for k, v in d.items():
            if k in ("targets", "rows"):
                continue
            out += _flat(v, f"{prefix}{k}.")
    elif isinstance(d, list):
        if all(not isinstance(x, dict | list) for x in d):
            out.append((prefix.rstrip("."), ", ".join(_fmt(x) for x in d)))
        else:
            for i, v in enumerate(d):
                out += _flat(v, f"{prefix}{i}.")
    else:
        out.append((prefix.rstrip("."), d))
    return out


def print_result(name: str, res: dict[str, Any]) -> None:
    print(f"\n== {name} " + "=" * max(0, 70 - len(name)))
    rows = res.get("rows")
    if isinstance(rows, list) and rows and all(isinstance(r, dict) for r in rows):
        cols: list[str] = []
        for r in rows:
            cols += [c for c in r if c not in cols]
        widths = {c: max(len(c), *(len(_fmt(r.get(c, ""))) for r in rows)) for c in cols}
        print("  " + "  ".join(c.rjust(widths[c]) for c in cols))
        for r in rows:
            print("  " + "  ".join(_fmt(r.get(c, "")).rjust(widths[c]) for c in cols))
    for k, v in _flat(res):
        print(f"  {k:<40} {_fmt(v)}")


def print_targets(results: dict[str, Any]) -> None:
    targets = [(name, t) for name, res in results.items() if isinstance(res, dict)
               for t in res.get("targets", []) if isinstance(t, dict)]
    if not targets:
        return
    print("\n== targets (issue 7) " + "=" * 50)
    w = max(len(t.get("target", "")) for _, t in targets)
    for _, t in targets:
        mark = "MET " if t.get("met") else "MISS"
        unit = t.get("unit", "")
        print(f"  [{mark}] {t.get('target', ''):<{w}}  {_fmt(t.get('value'))}{unit} "
              f"{t.get('op', '<=')} {_fmt(t.get('limit'))}{unit}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    ap.add_argument("--n", help="N list for scaling, e.g. 1000,10000,100000,1000000")
    ap.add_argument("--quick", action="store_true", help="small sizes: a smoke test of the runner")
    ap.add_argument("--out", default=str(RESULTS), help="where to write the JSON results")
    ap.add_argument("--list", action="store_true", help="list the benchmarks found and exit")
    args = ap.parse_args(argv)

    if args.n:
        os.environ["BENCH_SCALING_N"] = args.n
    if args.quick:
        os.environ.setdefault("BENCH_SCALING_N", "1000,10000")
        os.environ.setdefault("BENCH_LIFECYCLE_N", "10000")
        os.environ.setdefault("BENCH_BURST_N", "1000,10000")
        os.environ.setdefault("BENCH_REPEAT", "1")
        os.environ.setdefault("BENCH_QUICK", "1")
    else:
        os.environ.setdefault("BENCH_SCALING_N", "1000,10000,100000")

    found = names()
    if args.list:
        for name in found:
            print(f"{name:<12} {describe(name)}")
        return 0
    chosen = args.names or found
    unknown = [n for n in chosen if n not in found]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)} (found: {', '.join(found)})", file=sys.stderr)
        return 2

    out_path = Path(args.out)
    try:
        saved = json.loads(out_path.read_text()) if out_path.exists() else {}
    except (OSError, ValueError):
        saved = {}
    saved.setdefault("benchmarks", {})
    results: dict[str, Any] = {}
    for name in chosen:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        res = run_isolated(name)
        res["bench_wall_s"] = round(time.perf_counter() - t0, 2)
        results[name] = res
        print_result(name, res)
        saved["benchmarks"][name] = res
    print_targets({n: saved["benchmarks"][n] for n in saved["benchmarks"]})
    saved["machine"] = {"python": platform.python_version(), "platform": platform.platform(),
                        "cpus": os.cpu_count(), "load_avg": list(os.getloadavg()),
                        "written_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
    out_path.write_text(json.dumps(saved, indent=2, default=str) + "\n")
    print(f"\nwrote {out_path}")
    return 1 if any("error" in r for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
