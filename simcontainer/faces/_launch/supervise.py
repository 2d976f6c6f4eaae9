"""Stopping the app's Streamlit process: the stop signals ``simcontainer app`` gets are passed on
to it, and the command waits until it has exited (its port free again)."""

from __future__ import annotations

import signal
import subprocess
import time
from typing import Any

STOP_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")
STOP_GRACE_S = 10.0   # Streamlit closes in well under a second; after this it is killed


def supervise(proc: Any, grace_s: float = STOP_GRACE_S) -> int:
    """Wait for the child ``proc``, passing each stop signal this process gets on to it; once
    stopped that way, wait up to ``grace_s`` for it to exit, then kill it. Exit status 0 when
    stopped by a signal (a requested stop), else the child's own."""
    stopped: list[int] = []

    def forward(signum: int, _frame: Any) -> None:
        stopped.append(signum)
        if proc.poll() is None:
            proc.send_signal(signum)

    previous = {}
    for name in STOP_SIGNALS:
        sig = getattr(signal, name, None)
        if sig is not None:
            try:
                previous[sig] = signal.signal(sig, forward)
            except ValueError:   # not the main thread: the child then only stops on its own
                break
    deadline: float | None = None
    try:
        while True:
            try:
                code = proc.wait(timeout=0.25)
                break
            except subprocess.TimeoutExpired:
                if stopped:
                    deadline = deadline or time.monotonic() + grace_s
                    if time.monotonic() > deadline:
                        proc.kill()
            except KeyboardInterrupt:   # no handler installed (not the main thread)
                forward(signal.SIGINT, None)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0 if stopped else code
