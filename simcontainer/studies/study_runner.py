"""Where a study's runs go: this process, a local process pool kept for the whole study, or Dask.

A sweep makes one pool per call, for thousands of runs; an optimize study or a sensitivity
analysis makes many small calls (a batch of trials, a few replications each), so the pool and the
Dask client are kept open between them. The unit of work is the sweep's:
:func:`simcontainer.studies.sweep.run_batch` over ``(key, scenario, seed)`` items.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any

from simcontainer.scenario.errors import ScenarioError, SimcontainerError
from simcontainer.studies.sweep import (
    BatchResult,
    Item,
    batch_size_for,
    chunk,
    run_batch,
    unguarded_main_script,
)


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C is the parent's to handle


class Runner:
    """Runs ``(key, scenario, seed)`` items with :func:`simcontainer.studies.sweep.run_batch`: in this
    process (``workers=1``), on a local process pool kept for the whole study (a sweep makes a
    pool per call; a study makes many small calls), or on a Dask cluster (``scheduler``)."""

    def __init__(self, workers: int | None = None, scheduler: Any = None) -> None:
        if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
            raise ScenarioError([f"--workers: got {workers!r} (allowed: an integer >= 1)"], source="command line")
        self.workers = workers or os.cpu_count() or 1
        self.scheduler = scheduler
        self._pool: Any = None
        self._client: Any = None
        self._own_client = False

    @property
    def slots(self) -> int:
        if self._client is not None:
            return sum(self._client.nthreads().values()) or 1
        return self.workers

    def run(self, items: Sequence[Item], on_batch: Callable[[BatchResult], None]) -> None:
        if not items:
            return
        if self.scheduler is not None:
            self._run_dask(items, on_batch)
        elif self.workers == 1:
            for b in chunk(items, batch_size_for(len(items), 1)):
                on_batch(run_batch(b))
        else:
            self._run_pool(items, on_batch)

    def _run_pool(self, items: Sequence[Item], on_batch: Callable[[BatchResult], None]) -> None:
        if self._pool is None:
            self._pool = _start_pool(self.workers)
        waiting = {self._pool.submit(run_batch, b) for b in chunk(items, batch_size_for(len(items), self.workers))}
        while waiting:
            done, waiting = wait(waiting, return_when=FIRST_COMPLETED)
            for fut in done:
                try:
                    result = fut.result()
                except Exception as exc:   # BrokenProcessPool: a worker died (killed, out of memory)
                    raise SimcontainerError(f"study: a worker process died ({type(exc).__name__}); finished "
                                            "trials are kept: rerun to continue, with fewer --workers") from None
                on_batch(result)

    def _run_dask(self, items: Sequence[Item], on_batch: Callable[[BatchResult], None]) -> None:
        from distributed import Client, as_completed  # noqa: PLC0415 - heavy

        if self._client is None:
            if isinstance(self.scheduler, Client):
                self._client = self.scheduler
            else:
                try:
                    self._client = Client(self.scheduler, timeout="15s", set_as_default=False)
                except (OSError, TimeoutError, ValueError) as exc:
                    raise ScenarioError([f"--scheduler: cannot reach {self.scheduler!r}: {exc} (allowed: the "
                                         "address of a running Dask scheduler, tcp://HOST:PORT)"],
                                        source="command line") from None
                self._own_client = True
        futures = [self._client.submit(run_batch, b, pure=False, retries=2)
                   for b in chunk(items, batch_size_for(len(items), self.slots))]
        try:
            for fut in as_completed(futures, loop=self._client.loop):
                on_batch(fut.result())
                fut.release()
        except BaseException:
            self._client.cancel(futures)
            raise

    def close(self, now: bool = False) -> None:
        if self._pool is not None:
            procs = list((getattr(self._pool, "_processes", None) or {}).values())  # no public API
            self._pool.shutdown(wait=not now, cancel_futures=True)
            if now:
                for p in procs:
                    if p.is_alive():
                        p.terminate()
            self._pool = None
        if self._client is not None and self._own_client:
            self._client.close()
        self._client = None


def _start_pool(workers: int) -> Any:
    script = unguarded_main_script()
    if script is not None:
        raise SimcontainerError(
            f"study: {script} calls the study at its top level, without `if __name__ == \"__main__\":`; "
            "worker processes import the script again and would each start it anew (allowed: put the "
            "call under that guard, or pass workers=1 to run in this process)")
    # forkserver: workers fork from a clean server that imported simcontainer once (as sweeps do)
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["simcontainer.studies.sweep"])
    return ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_ignore_sigint)


__all__ = ["Runner"]
