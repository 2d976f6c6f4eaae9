"""Mutation test over the example scenarios (issue 10): keys deleted, wrong types, non-finite and
huge numbers, lists where names belong, control characters, bad traces. Every mutant either runs
or exits 2 with ``path: problem`` lines, and ``check`` agrees with ``run``.

The examples are first made small (60 s, at most 20 per burst) so that a mutant that runs runs
quickly; mutants made huge are the size guard's to refuse (the machine is told to have 416 MiB
available, which leaves room for ~20k requests). ``SIMCONTAINER_MUTANTS`` sets how many mutants
(default 400, about 20 s; ``SIMCONTAINER_MUTANTS=3000`` for a thorough run). The totals are
printed at the end of the module (``pytest -s``) and written to ``tests/artifacts/mutation.json``.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import io
import json
import math
import os
import time
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import simcontainer as sc
from simcontainer.engine import guard
from simcontainer.faces.cli import main
from simcontainer.studies.sweep_design import parse_sweep

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "models" / "scenarios").glob("*.toml"))
N_MUTANTS = int(os.environ.get("SIMCONTAINER_MUTANTS", "400"))
TOTALS: Counter[str] = Counter()
SLOWEST: list[tuple[float, str]] = []

BAD_TRACES = {
    "negative.csv": b"time_s\n1\n-1\n",
    "nan.csv": b"time_s,lifetime_s\n1,nan\n",
    "inf.csv": b"time_s\ninf\n",
    "text.csv": b"time_s\nsoon\n",
    "no-time.csv": b"lifetime_s\n3\n",
    "empty.csv": b"",
    "header-only.csv": b"time_s,lifetime_s\n",
    "ragged.csv": b"time_s,lifetime_s\n1,2,3\n",
    "latin1.csv": b"time_s,workload\n1,caf\xe9\n",
}
GOOD_TRACES = {"good.csv": b"time_s,lifetime_s\n0.5,3\n1.5,\n",
               "good-bom.csv": b"\xef\xbb\xbftime_s\n2\n"}

WRONG_VALUES: list[Any] = [
    "600", "", "runc", True, False, 0, -1, 2.5, -0.5, ["runc"], [], {"x": 1}, {},
    math.nan, math.inf, -math.inf, 1e308, -1e308, 1e-320, 1e15, 1e16, 10**18, 2**63, 2**70,
    "web\x07", "\x1b[31m",
]


# Real optional keys of every table (issue 23): where check and run disagreed once. Each is a
# valid key with a plausible value; together with the other mutations they reach the seams.
WORKLOAD_KEYS: dict[str, list[Any]] = {
    "restart": ["always", "on-failure:3", "unless-stopped", "no"],
    "time_to_failure": [{"kind": "fixed", "s": 5.0}, {"kind": "exponential", "mean_s": 10.0},
                        {"kind": "lognormal", "median_s": 5.0, "p95_s": 20.0}],
    "crash_exit_code": [0, 137],
    "stop_grace_s": [0.0, 5.0], "sigterm": ["ignore", "default"], "shutdown_s": [2.0],
    "usage": [{"interval_s": 5.0, "cv": 0.2}, {"working_set_mib": 4096.0, "leak_mib_per_h": 1000.0}],
    "mem_limit_mib": [64.0, 300.0], "mem_request_mib": [32.0],
    "warm": [{"pool": 2}, {"start": "snapshot"}, {"keep_alive_s": 30.0, "refill": "none"}],
    "pull_error_rate": [0.5], "auto_remove": [True], "oom_score_adj": [-1000, 1000], "cpu_limit": [0.5],
    "control_plane": ["kubelet", "dockerd", "firecracker", "direct", "libvirt", "custom"],
    "priority": [100], "max_instances": [3], "requests_per_s": [10.0],
}
TOP_KEYS: dict[str, list[Any]] = {
    "faults": [[{"kind": "host_panic", "at_s": 10.0}], [{"kind": "daemon_restart", "every_s": 5.0}],
               [{"kind": "kernel", "at_s": 5.0}], [{"kind": "guest_panic", "every_s": 20.0, "host": 1}]],
    "control_planes": [[{"name": "custom", "base": "dockerd", "workers": 2}], [{"name": "custom"}],
                       [{"name": "custom", "base": "loop"}, {"name": "loop", "base": "custom"}],
                       [{"name": "custom", "base": "custom"}], [{"name": "custom", "kind": "kubelet"}]],
    "registry": [{"rate_limit_per_s": 1.0}, {"lazy": "estargz"}, {"mirror": {}}, {"p2p": True},
                 {"egress_mb_s": 10.0}],
    "runtimes": [[{"name": "custom-rt", "kind": "container", "control_plane": "nowhere"}],
                 [{"name": "custom-rt", "kind": "container", "control_plane": "custom"}]],
}
TABLE_KEYS: dict[str, dict[str, list[Any]]] = {
    "daemon": {"admission": ["none", "reject", "backfill"], "preemption": [True], "retry": ["backoff"],
               "placement": ["spread", "best-fit", "image-locality"], "live_restore": [True]},
    "host": {"swap_mib": [1024.0], "swap_slowdown": [2.0], "ksm": [True], "memory_overcommit": [1.5],
             "reserved_mib": [1024.0], "count": [3], "cpu_overcommit": [2.0], "memory_admission": ["request"]},
}


def add_optional(draw: st.DrawFn, data: dict[str, Any]) -> str | None:
    """Add one real optional key to a workload, the top level, the daemon or the host."""
    where = draw(st.sampled_from(["workload", "workload", "top", "table"]))
    workloads = [w for w in data.get("workloads", []) if isinstance(w, dict)] \
        if isinstance(data.get("workloads"), list) else []
    if where == "workload" and workloads:
        w = draw(st.sampled_from(workloads))
        key = draw(st.sampled_from(sorted(WORKLOAD_KEYS)))
        w[key] = copy.deepcopy(draw(st.sampled_from(WORKLOAD_KEYS[key])))
        return f"workload {w.get('name')}.{key} = {w[key]!r}"
    if where == "top":
        key = draw(st.sampled_from(sorted(TOP_KEYS)))
        data[key] = copy.deepcopy(draw(st.sampled_from(TOP_KEYS[key])))
        return f"{key} = {data[key]!r}"
    table = draw(st.sampled_from(sorted(TABLE_KEYS)))
    if not isinstance(data.get(table, {}), dict):
        return None
    key = draw(st.sampled_from(sorted(TABLE_KEYS[table])))
    data.setdefault(table, {})[key] = copy.deepcopy(draw(st.sampled_from(TABLE_KEYS[table][key])))
    return f"{table}.{key} = {data[table][key]!r}"


def small(data: dict[str, Any]) -> dict[str, Any]:
    """The example, made quick to run: 60 s, at most 20 per burst, at most 0.5 arrivals/s."""
    data = json.loads(json.dumps(data))
    data["duration_s"] = min(float(data.get("duration_s", 60.0)), 60.0)
    for w in data.get("workloads", []):
        a = w.get("arrival", {})
        if "count" in a:
            a["count"] = min(a["count"], 20)
        if "rate_per_s" in a:
            a["rate_per_s"] = min(a["rate_per_s"], 0.5)
    return data


def absolute_traces(data: dict[str, Any], folder: Path) -> dict[str, Any]:
    """Trace paths made absolute: the mutants are written elsewhere, and a trace not found would
    turn every mutant of that example into the same error (warm-paths, service-mix)."""
    for w in data.get("workloads", []):
        a = w.get("arrival", {})
        if a.get("kind") in ("trace", "azure") and not Path(a["path"]).is_absolute():
            a["path"] = str((folder / a["path"]).resolve())
    return data


BASES = {p.stem: absolute_traces(small(tomllib.loads(p.read_text(encoding="utf-8"))), p.parent)
         for p in EXAMPLES}
# check says ok, run exits 2: warm paths beside the memory model (usage, mem_limit_mib, host.ksm),
# which the one-lifecycle branch lets run; counted, not failed, until then
KNOWN_RUN_ONLY = "warm paths run only with a plain docker run lifecycle"
# check refuses an instance larger than a whole host (guard.check_scenario); a run runs it and
# rejects every request (a sweep over host sizes keeps such points)
CHECK_ONLY = "allowed: instances that fit one empty host"


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in the data: keys of tables, items of lists, and everything below."""
    out = []
    if isinstance(node, dict):
        for k, v in node.items():
            out.append(prefix + (k,))
            out += paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.append(prefix + (i,))
            out += paths(v, prefix + (i,))
    return out


def parent_of(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path[:-1]:
        data = data[part]
    return data


def _leaf(data: Any, path: tuple[Any, ...]) -> Any:
    return parent_of(data, path)[path[-1]]


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


@st.composite
def mutants(draw: st.DrawFn) -> tuple[str, dict[str, Any], list[str], list[str]]:
    """An example scenario with one to three mutations; simplest first (Hypothesis shrinks to the
    first choices): scaling a number by 2, then other scalings, deletions, wrong values."""
    name = draw(st.sampled_from(sorted(BASES)))
    data = json.loads(json.dumps(BASES[name]))
    done: list[str] = []
    ops: list[str] = []
    for _ in range(draw(st.sampled_from([1, 1, 1, 2, 3]))):
        places = paths(data)
        op = draw(st.sampled_from(["scale", "delete", "wrong", "scale", "list-for-name", "bad-trace",
                                   "wrong", "scale", "prepull-string", "add-key", "add-optional",
                                   "add-optional", "add-optional"]))
        numbers = [p for p in places if _is_number(_leaf(data, p))]
        texts = [p for p in places if isinstance(_leaf(data, p), str)]
        tables = [p for p in places if isinstance(_leaf(data, p), dict)]
        n_done = len(done)
        if op == "scale" and numbers:
            path = draw(st.sampled_from(numbers))
            parent, key = parent_of(data, path), path[-1]
            factor = draw(st.sampled_from([2, 0.5, 10, 0, -1, 1e-9, 1e3, 1e9, 1e300]))
            v = parent[key]
            parent[key] = v * factor if isinstance(v, float) else int(v * min(factor, 1e15))
            done.append(f"scale {'.'.join(map(str, path))} x{factor}")
        elif op == "list-for-name" and texts:
            path = draw(st.sampled_from(texts))
            parent_of(data, path)[path[-1]] = [_leaf(data, path)]
            done.append(f"list {'.'.join(map(str, path))}")
        elif op == "bad-trace" and isinstance(data.get("workloads"), list) \
                and any(isinstance(w, dict) for w in data["workloads"]):
            w = draw(st.sampled_from([w for w in data["workloads"] if isinstance(w, dict)]))
            w["arrival"] = {"kind": "trace",
                            "path": draw(st.sampled_from(sorted(GOOD_TRACES) + sorted(BAD_TRACES)))}
            done.append(f"trace {w['arrival']['path']}")
        elif op == "prepull-string" and isinstance(data.get("daemon"), dict):
            data["daemon"]["prepull"] = "python:3.12-slim"
            done.append("prepull string")
        elif op == "add-optional":
            what = add_optional(draw, data)
            if what:
                done.append(f"add {what}")
        elif op == "add-key" and tables:
            path = draw(st.sampled_from(tables))
            key = draw(st.sampled_from(["bogus", "nme", "count"]))
            _leaf(data, path)[key] = copy.deepcopy(draw(st.sampled_from(WRONG_VALUES)))
            done.append(f"add {key} under {'.'.join(map(str, path))}")
        elif places:
            path = draw(st.sampled_from(places))
            parent, key = parent_of(data, path), path[-1]
            if op == "delete":
                del parent[key]
                done.append(f"del {'.'.join(map(str, path))}")
            else:
                parent[key] = copy.deepcopy(draw(st.sampled_from(WRONG_VALUES)))
                done.append(f"{'.'.join(map(str, path))} = {parent[key]!r}")
        if len(done) > n_done:
            ops.append(op)
    return name, data, done, ops


def cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exc:           # argparse's usage errors: exit 2 with "usage: ..."
            code = exc.code if isinstance(exc.code, int) else 2
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("mutants")
    for name, content in (BAD_TRACES | GOOD_TRACES).items():
        (d / name).write_bytes(content)
    return d


@pytest.fixture(scope="module", autouse=True)
def small_machine() -> Any:
    """The guard sees a machine with 416 MiB available: a run may hold ~20k requests."""
    mp = pytest.MonkeyPatch()
    mp.setattr(guard, "available_mib", lambda: 416.0)
    yield
    mp.undo()
    report = {"mutants": TOTALS["mutants"], **dict(TOTALS),
              "slowest_s": [(round(t, 2), what) for t, what in sorted(SLOWEST, reverse=True)[:5]]}
    print("\nmutation totals:", json.dumps(report, indent=1))
    artifacts = ROOT / "tests" / "artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "mutation.json").write_text(json.dumps(report, indent=1), encoding="utf-8")


def _writable(data: Any) -> bool:
    try:
        tomli_w.dumps(data)
    except (TypeError, ValueError):
        return False
    return True


@settings(max_examples=N_MUTANTS, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(mutants())
def test_every_mutant_runs_or_exits_2_and_check_agrees_with_run(folder, mutant):
    name, data, done, ops = mutant
    TOTALS["mutants"] += 1
    for op in set(ops):
        TOTALS[f"class {op}"] += 1
    if not _writable(data):
        TOTALS["not expressible in TOML"] += 1
        return
    path = folder / "mutant.toml"
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    t0 = time.perf_counter()
    check_code, check_out, check_err = cli("check", str(path))
    run_code, run_out, run_err = cli("run", str(path), "--json", "--no-progress")
    SLOWEST.append((time.perf_counter() - t0, f"{name}: {'; '.join(done)}"))
    what = f"{name}: {'; '.join(done)}"
    assert check_code in (0, 2) and run_code in (0, 2), what
    if check_code == 0 and run_code == 2 and KNOWN_RUN_ONLY in run_err:
        TOTALS["known: warm beside the memory model (one-lifecycle branch)"] += 1
        return
    if check_code == 2 and run_code == 0 and all(CHECK_ONLY in ln for ln in check_err.splitlines()[1:]):
        TOTALS["check only: an instance larger than a host (run rejects every request)"] += 1
        return
    assert check_code == run_code, f"{what}: check {check_code} but run {run_code}\n{check_err}\n{run_err}"
    if run_code == 2:
        TOTALS["clean errors (exit 2)"] += 1
        if "too large to run here" in run_err:
            TOTALS["refused by the size guard"] += 1
        assert run_out == "" and check_out == "", what
        assert "Traceback" not in run_err and run_err.startswith("error: "), what
        assert check_err == run_err, f"{what}: check and run disagree\n{check_err}\n{run_err}"
        for line in run_err.splitlines()[1:]:
            assert line.startswith("  - ") and ": " in line[4:], f"{what}: {line!r}"
    else:
        TOTALS["ran"] += 1
        summary = json.loads(run_out, parse_constant=lambda c: pytest.fail(f"{what}: {c} in the JSON"))
        assert summary["scenario"] == data["name"]


def test_the_mutants_cover_both_outcomes(folder):
    """Both outcomes happened, nothing else did. Under xdist the property test may have run on
    another worker (its totals are per process; xdist_group did not keep them together with the
    pinned pytest-xdist), so the mutants are then run here too: the same derandomized set."""
    if TOTALS["mutants"] < min(50, N_MUTANTS):
        test_every_mutant_runs_or_exits_2_and_check_agrees_with_run(folder=folder)
    assert TOTALS["ran"] > 0 and TOTALS["clean errors (exit 2)"] > 0


# ---- sweeps (issue 23): huge integers, dates, ranges and optional keys in sweep files --------

SWEEP_PATHS = ["host.ram_mib", "host.count", "host.swap_mib", "daemon.admission", "daemon.api_workers",
               "workloads.api-runc.mem_mib", "workloads.api-runc.restart", "workloads.api-runc.usage",
               "workloads.churn-runc.arrival.rate_per_s", "workloads.api-runc.control_plane",
               "host.ram_mb", "workloads.nosuch.mem_mib", "seed", "faults", "registry.lazy"]
SWEEP_VALUES: list[Any] = [*WRONG_VALUES, 10**400, -(10**30), datetime.date(1979, 5, 27),
                           datetime.time(7, 32), [datetime.date(2000, 1, 1)], {"low": 1, "high": 10**400},
                           {"low": 1.0, "high": 2.0, "num": 10**8}, {"low": 1, "high": 8, "num": 10**12},
                           {"low": 0, "high": 1, "log": True}, {"low": 2, "high": 1}, ["kubelet", "firecracker"],
                           [{"interval_s": 5.0}], [[{"kind": "host_panic", "at_s": 1.0}]]]
VALID_AXES: dict[str, list[Any]] = {
    "host.ram_mib": [[32768, 65536], {"low": 16384, "high": 65536, "num": 3}],
    "host.count": [[1, 2], {"low": 1, "high": 3, "num": 3}],
    "host.swap_mib": [[0.0, 2048.0]],
    "daemon.admission": [["queue", "backfill", "none"]],
    "workloads.api-runc.restart": [["no", "always", "on-failure:2"]],
    "workloads.api-runc.control_plane": [["dockerd", "kubelet"], ["direct"]],
    "workloads.api-runc.usage": [[{"interval_s": 30.0, "cv": 0.1}]],
    "workloads.churn-runc.arrival.rate_per_s": [{"low": 0.05, "high": 0.2, "num": 2}],
}
SWEEP_BASE = tomllib.loads((ROOT / "models" / "sweeps" / "example.toml").read_text(encoding="utf-8"))
SWEEP_BASE["base"] = str(ROOT / "models" / "scenarios" / "default.toml")


@st.composite
def sweep_mutants(draw: st.DrawFn) -> dict[str, Any]:
    data = copy.deepcopy(SWEEP_BASE)
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(["valid", "valid", "axis", "top"]))
        if where == "valid":
            path = draw(st.sampled_from(sorted(VALID_AXES)))
            data["axes"][path] = copy.deepcopy(draw(st.sampled_from(VALID_AXES[path])))
        elif where == "axis":
            data["axes"][draw(st.sampled_from(SWEEP_PATHS))] = copy.deepcopy(draw(st.sampled_from(SWEEP_VALUES)))
        else:
            key = draw(st.sampled_from(["replications", "mode", "samples", "seed", "replicatons"]))
            data[key] = copy.deepcopy(draw(st.sampled_from([*SWEEP_VALUES, "lhs", "random", 3])))
    return data


@settings(max_examples=max(50, N_MUTANTS // 4), deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(sweep_mutants())
def test_every_sweep_mutant_is_valid_or_a_clean_error(data):
    """A sweep mutant either validates (within the sweep guard) or raises ScenarioError whose every
    line names a field: no traceback, no gigabytes built before the guard."""
    TOTALS["sweep mutants"] += 1
    try:
        spec = parse_sweep(data, source="sweep")
    except sc.ScenarioError as exc:
        TOTALS["sweep mutants: clean errors"] += 1
        text = str(exc)
        for line in text.splitlines()[1:]:
            assert line.startswith("  - ") and ": " in line[4:], line
        return
    TOTALS["sweep mutants: valid"] += 1
    assert spec.n_runs <= guard.MAX_SWEEP_RUNS


# ---- compare / density strings (issue 23): RUNTIME[@PLANE] lists, each a run or a clean error ----

ENTRY_PARTS = ["runc", "crun", "gvisor", "kata", "firecracker", "qemu-kvm", "cloud-hypervisor", "rnuc",
               "", " ", "runc@", "@kubelet", "runc@@kubelet", "\x1b[31m", "é" * 3, "x" * 300]
PLANES = ["", "@dockerd", "@kubelet", "@libvirt", "@firecracker", "@direct", "@podman", "@Kubelet"]
TINY = {"name": "tiny", "duration_s": 30.0, "host": "server-64g",
        "daemon": {"prepull": ["python:3.12-slim", "firecracker-rootfs", "ubuntu-24.04-cloud"]},
        "workloads": [{"name": "w", "runtime": "runc", "image": "python:3.12-slim", "mem_mib": 64,
                       "arrival": {"kind": "burst", "count": 1}}]}


@settings(max_examples=max(30, N_MUTANTS // 8), deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(ENTRY_PARTS), st.sampled_from(PLANES)), min_size=1, max_size=4))
def test_every_runtime_list_runs_or_exits_2_in_compare_and_density(folder, entries):
    path = folder / "tiny.toml"
    path.write_text(tomli_w.dumps(TINY), encoding="utf-8")
    arg = ",".join(rt + plane for rt, plane in entries)
    TOTALS["runtime lists"] += 1
    codes = []
    for cmd in ("compare", "density"):
        code, out, err = cli(cmd, str(path), "--runtimes", arg, "--json", *(["--no-progress"] if cmd == "compare" else []))
        assert code in (0, 2), (cmd, arg, err)
        assert "Traceback" not in err, (cmd, arg)
        if code == 2:
            TOTALS[f"runtime lists: {cmd} refused"] += 1
            assert err.startswith(("error: ", "usage: ")), (cmd, arg, err)
        else:
            json.loads(out)
        codes.append(code)
    assert codes[0] == codes[1], f"compare and density take the same RUNTIME@PLANE lists: {arg!r} {codes}"
