"""Sweeps on a real Dask cluster: a `dask scheduler` and `dask worker` processes on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest
from conftest import sweep_base_toml

from simcontainer.faces.cli import main
from simcontainer.studies.sweep import load_sweep, run_sweep

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[1]
DASK = str(Path(sys.executable).with_name("dask"))

BASE_TOML = sweep_base_toml("sweep-cluster", seed=5)


@dataclass
class Cluster:
    address: str
    scheduler: subprocess.Popen
    workers: list[subprocess.Popen] = field(default_factory=list)
    folder: Path = Path()

    def add_worker(self) -> subprocess.Popen:
        # --no-nanny: the process we start is the worker itself, so killing it kills the worker
        # (a nanny would quietly restart it).
        log = open(self.folder / f"worker{len(self.workers)}.log", "w")  # noqa: SIM115
        p = subprocess.Popen([DASK, "worker", self.address, "--nthreads", "1", "--no-nanny",
                              "--no-dashboard", "--host", "127.0.0.1", "--memory-limit", "0"],
                             stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=_env())
        self.workers.append(p)
        return p

    def wait_for_workers(self, n: int, timeout: float = 60.0) -> None:
        from distributed import Client

        with Client(self.address, timeout="30s", set_as_default=False) as client:
            client.wait_for_workers(n, timeout=timeout)

    def stop(self) -> None:
        # Workers first, while their scheduler still answers: a worker told to close together with
        # its scheduler waits for it in vain, and the teardown used to sit out the 10 s timeout.
        for group in (self.workers, [self.scheduler]):
            for p in group:
                if p.poll() is None:
                    p.terminate()
            for p in group:
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


def _env() -> dict[str, str]:
    env = dict(os.environ)
    # The workers unpickle scenarios and import simcontainer: make this checkout importable.
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def start_cluster(folder: Path, workers: int) -> Cluster:
    info = folder / "scheduler.json"
    log = open(folder / "scheduler.log", "w")  # noqa: SIM115
    # --port 0: a free port picked by the OS; the scheduler file says which.
    sched = subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                              "--scheduler-file", str(info)],
                             stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=_env())
    deadline = time.monotonic() + 60
    while not info.exists() or not info.read_text().strip():
        if sched.poll() is not None or time.monotonic() > deadline:
            sched.kill()
            raise RuntimeError(f"dask scheduler did not start: {(folder / 'scheduler.log').read_text()}")
        time.sleep(0.1)
    time.sleep(0.1)  # the file is written in one go, but give the writer a beat
    cluster = Cluster(json.loads(info.read_text())["address"], sched, folder=folder)
    for _ in range(workers):
        cluster.add_worker()
    try:
        cluster.wait_for_workers(workers)
    except Exception:
        cluster.stop()
        raise
    return cluster


@pytest.fixture
def sweep_files(tmp_path: Path) -> Path:
    (tmp_path / "base.toml").write_text(BASE_TOML)
    (tmp_path / "grid.toml").write_text("""
base = "base.toml"
replications = 3
[axes]
"host.ram_mib" = [2048, 4096]
"workloads.api.runtime" = ["runc", "crun", "gvisor"]
""")
    return tmp_path


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    folder = tmp_path_factory.mktemp("cluster")
    c = start_cluster(folder, workers=2)
    try:
        yield c
    finally:
        c.stop()


def test_dask_cluster_gives_the_same_runs_as_the_local_pool(sweep_files, cluster, capsys) -> None:
    path = sweep_files / "grid.toml"
    local = run_sweep(load_sweep(path), out=sweep_files / "local", workers=2)
    assert main(["sweep", str(path), "--scheduler", cluster.address, "--out", str(sweep_files / "dask"),
                 "--no-progress"]) == 0
    assert "18 computed" in capsys.readouterr().out
    a = pd.read_parquet(sweep_files / "local" / "runs.parquet").sort_values(["point", "replication"])
    b = pd.read_parquet(sweep_files / "dask" / "runs.parquet").sort_values(["point", "replication"])
    assert len(b) == 18
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))
    pd.testing.assert_frame_equal(pd.read_parquet(sweep_files / "local" / "summary.parquet"),
                                  pd.read_parquet(sweep_files / "dask" / "summary.parquet"))
    assert len(local.runs) == 18
    # rerun on the cluster: everything found in the store, nothing sent
    again = run_sweep(load_sweep(path), out=sweep_files / "dask", scheduler=cluster.address)
    assert again.computed == 0 and again.reused == 18


def test_killing_a_worker_mid_sweep_loses_no_run(sweep_files, cluster) -> None:
    (sweep_files / "many.toml").write_text("""
base = "base.toml"
replications = 4
[axes]
"workloads.api.arrival.rate_per_s" = { low = 0.3, high = 1.5, num = 10 }
""")
    spec = load_sweep(sweep_files / "many.toml")
    # A third worker to kill, so that the cluster keeps its two for whatever runs next.
    victim = cluster.add_worker()
    cluster.wait_for_workers(3)
    seen: list[int] = []

    def progress(done: int, total: int) -> None:
        seen.append(done)
        if 0 < done < total and victim.poll() is None:
            victim.send_signal(signal.SIGKILL)
            victim.wait()

    res = run_sweep(spec, out=sweep_files / "out", scheduler=cluster.address, batch_size=1,
                    progress=progress)
    assert victim.returncode == -signal.SIGKILL
    assert seen[-1] == 40 and any(0 < d < 40 for d in seen[:-1])
    runs = pd.read_parquet(sweep_files / "out" / "runs.parquet")
    assert len(runs) == 40 and not runs.duplicated(["point", "replication"]).any()
    assert not runs.duplicated("key").any()
    reference = run_sweep(spec, workers=1)
    pd.testing.assert_frame_equal(runs, reference.runs)
    assert res.computed == 40
