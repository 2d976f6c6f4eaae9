"""The Streamlit server's sockets, tuned once per process from the app's first run.

Streamlit (1.67, on uvicorn) binds its listening socket as ``socket.socket(family)``, protocol 0;
asyncio only sets ``TCP_NODELAY`` on a connection whose protocol is ``IPPROTO_TCP``, so every
connection runs with Nagle's algorithm on. A browser fetches the app's ~150 JavaScript chunks over
six keep-alive connections, and each response after a connection's first then waits ~40 ms for
the browser's delayed ACK (measured: 44 ms per small file on an idle server, 1 ms with
``TCP_NODELAY``) -- most of a new visitor's wait for the lazily loaded widgets, tables and charts.

:func:`tcp_nodelay` sets the option on every TCP socket the process holds: the listening socket
(on Linux, accepted connections inherit it) and the connections already open.
"""

from __future__ import annotations

import os
import socket

_done = False


def _fds() -> list[int]:
    for folder in ("/proc/self/fd", "/dev/fd"):
        try:
            return [int(n) for n in os.listdir(folder) if n.isdigit()]
        except OSError:
            continue
    return []


def tcp_nodelay() -> int:
    """Turn Nagle's algorithm off on this process's TCP sockets (once); how many were set."""
    global _done
    if _done:
        return 0
    _done = True
    count = 0
    for fd in _fds():
        try:
            dup = os.dup(fd)            # a duplicate: closing it leaves the server's socket open
        except OSError:                 # closed since listed (the listing's own descriptor)
            continue
        try:
            sock = socket.socket(fileno=dup)
        except OSError:                 # not a socket
            os.close(dup)
            continue
        try:
            if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.type == socket.SOCK_STREAM:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                count += 1
        except OSError:
            pass
        finally:
            sock.close()
    return count
