"""The simulation worker: a separate Python process, bounded in memory, that the app can kill.

No Streamlit here. :func:`launch` starts ``python -m simcontainer.faces.ui.worker`` (a plain
subprocess, not multiprocessing: a spawned multiprocessing child re-imports the server's main
script, which for Streamlit is the app itself). The child limits its own address space
(``RLIMIT_AS``), reads the scenario's TOML on stdin, writes ``progress F`` lines on stdout while it
runs, and pickles the result to a file it then names with a ``done`` line (``error MESSAGE`` if it
fails). The parent reads those lines on a thread, so polling never blocks.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import queue
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import simcontainer as sc
from simcontainer.scenario.profiles import models_dir


def payload(res: Any) -> dict[str, Any]:
    return {"summary": res.summary, "instances": res.instances, "timeseries": res.timeseries,
            "events": res.events, "wall_s": res.wall_s}


def compute(toml_text: str, progress: Any = None) -> dict[str, Any]:
    scenario = sc.loads_scenario(toml_text, base_dir=models_dir() / "scenarios", source="what-if")
    return payload(sc.simulate(scenario, progress=progress))


class Handle:
    """A running worker: its messages, its end, its result."""

    def __init__(self, proc: subprocess.Popen, out_path: Path) -> None:
        self.proc = proc
        self.out_path = out_path
        self.messages: queue.Queue[tuple[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            kind, _, rest = line.strip().partition(" ")
            if kind == "progress":
                self.messages.put(("progress", float(rest)))
            elif kind in ("done", "error"):
                self.messages.put((kind, rest))
        self.messages.put(("exit", None))

    def next(self, timeout: float) -> tuple[str | None, Any]:
        """The next message (``progress``, ``done``, ``error``, ``exit``), or ``(None, None)``."""
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            return None, None

    def result(self) -> dict[str, Any]:
        with open(self.out_path, "rb") as fh:
            return pickle.load(fh)

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    @property
    def exitcode(self) -> int | None:
        return self.proc.poll()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        self.out_path.unlink(missing_ok=True)


def launch(toml_text: str, memory_mib: int) -> Handle:
    """Start a worker on the scenario ``toml_text`` with an address-space limit of ``memory_mib``."""
    root = str(Path(__file__).resolve().parents[2])      # where the simcontainer package is
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([root, *filter(None, [os.environ.get("PYTHONPATH")])]))
    fd, name = tempfile.mkstemp(prefix="simcontainer-run-", suffix=".pickle")
    os.close(fd)
    proc = subprocess.Popen([sys.executable, "-m", "simcontainer.faces.ui.worker", str(int(memory_mib)), name],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, env=env, start_new_session=True)
    assert proc.stdin is not None
    proc.stdin.write(toml_text)
    proc.stdin.close()
    return Handle(proc, Path(name))


def _main(argv: list[str]) -> int:
    memory_mib, out_path = int(argv[0]), argv[1]
    limit = memory_mib * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    print("progress 0", flush=True)
    last = [0.0]

    def progress(fraction: float) -> None:
        now = time.monotonic()
        if now - last[0] > 0.2:
            last[0] = now
            print(f"progress {fraction:.4f}", flush=True)

    try:
        result = compute(sys.stdin.read(), progress)
        with open(out_path, "wb") as fh:
            pickle.dump(result, fh, protocol=pickle.HIGHEST_PROTOCOL)
    except MemoryError:
        print(f"error the run needed more than {memory_mib} MiB of memory", flush=True)
        return 1
    except Exception as exc:   # reported to the page, never raised in the server
        print(f"error {type(exc).__name__}: {' '.join(str(exc).split())}", flush=True)
        return 1
    print("done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
