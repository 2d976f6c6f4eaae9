"""The app server's sockets: Nagle's algorithm off on the listening socket and its connections
(simcontainer.faces.ui.serving), as Streamlit's own binding leaves it on."""

from __future__ import annotations

import socket
import sys

import pytest

from simcontainer.faces.ui import serving

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="accepted sockets inherit TCP_NODELAY on Linux")


def nodelay(sock: socket.socket) -> bool:
    return bool(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))


def test_listening_socket_and_open_connections_get_tcp_nodelay(monkeypatch):
    monkeypatch.setattr(serving, "_done", False)
    with socket.socket(family=socket.AF_INET) as listener:      # as Streamlit binds it: protocol 0
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        early = socket.create_connection(listener.getsockname())
        served, _ = listener.accept()                       # a connection open before the call
        assert not nodelay(listener) and not nodelay(served)
        assert serving.tcp_nodelay() >= 3                   # the listener and both ends of the connection
        assert nodelay(listener) and nodelay(served)
        late = socket.create_connection(listener.getsockname())
        accepted, _ = listener.accept()                     # one accepted after: inherits it
        assert nodelay(accepted)
        assert serving.tcp_nodelay() == 0                   # once per process
        for s in (early, served, late, accepted):
            s.close()
    # every descriptor it duplicated is closed again: the fds this process holds did not grow
    monkeypatch.setattr(serving, "_done", False)
    before = len(serving._fds())
    serving.tcp_nodelay()
    assert len(serving._fds()) == before
