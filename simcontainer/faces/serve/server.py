"""The HTTP side: Docker Engine API routes over a unix socket or loopback TCP.

HTTP/1.1 with keep-alive (the docker CLI and docker-py reuse connections), JSON in and out,
chunked streams for ``events``, ``logs`` and a pull's progress. Paths may carry an API version
prefix (``/v1.45/containers/json``); versions are negotiated as dockerd does it: ``_ping``
answers with an ``API-Version`` header, a client newer than the server falls back to it, and a
prefix outside [MinAPIVersion, ApiVersion] gets a 400 (moby ``api/server/middleware/version.go``).

A malformed path, body or parameter gets a 400 with Docker's ``{"message": ...}``; an unknown
endpoint a 404 naming what is supported; an unexpected error a 500. The server never dies on a
request.
"""

from __future__ import annotations

import json
import os
import re
import select
import socket
import socketserver
import stat
import struct
import sys
import threading
import traceback
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from simcontainer.faces.serve import views
from simcontainer.faces.serve.record import session_toml
from simcontainer.faces.serve.sim import ApiError, SimHost

MAX_BODY = 1 << 20
_VERSION = re.compile(r"^/v(\d+)\.(\d+)(/.*)$")
ENDPOINTS = (
    "GET /_ping", "GET /version", "GET /info", "GET /system/df", "GET /events",
    "GET /containers/json", "POST /containers/create", "GET /containers/{id}/json",
    "POST /containers/{id}/start|stop|kill|restart|pause|unpause|wait",
    "DELETE /containers/{id}", "POST /containers/{id}/attach", "GET /containers/{id}/logs", "GET /containers/{id}/stats",
    "GET /images/json", "POST /images/create", "GET /images/{name}/json", "DELETE /images/{name}",
    "POST /images/{name}/tag", "GET /networks", "GET /networks/{id}",
    "GET /simcontainer/session (the session as a scenario)",
)


def _version(s: str) -> tuple[int, int]:
    a, b = s.split(".")
    return int(a), int(b)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = f"Docker/{views.ENGINE_VERSION} (linux)"
    sim: SimHost

    # ---- plumbing -------------------------------------------------------------------------

    def log_message(self, format: str, *args: Any) -> None:    # noqa: A002 - the base's name
        if getattr(self.server, "verbose", False):
            sys.stderr.write(f"serve: {format % args}\n")

    def address_string(self) -> str:
        return str(self.client_address[0]) if self.client_address else "unix"

    def do_GET(self) -> None:
        self._handle("GET")

    def do_HEAD(self) -> None:
        self._handle("HEAD")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def _handle(self, method: str) -> None:
        self.sim = self.server.sim      # type: ignore[attr-defined]
        self._raw_body = b""
        try:
            self._raw_body = self._read_body()
            route = self._route(method)
            route()
        except ApiError as e:
            self._error(e.status, e.message)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as e:   # the server never dies on a request
            if getattr(self.server, "verbose", False):
                traceback.print_exc()
            self._error(500, f"internal error: {type(e).__name__}: {e}")

    def _error(self, status: int, message: str) -> None:
        try:
            self._json(status, {"message": message})
        except OSError:
            self.close_connection = True

    def _send(self, status: int, body: bytes, ctype: str = "application/json",
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Api-Version", views.API_VERSION)
        self.send_header("Ostype", "linux")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if status in (204, 304):
            self.end_headers()
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, data: Any) -> None:
        self._send(status, (json.dumps(data) + "\n").encode())

    def _status(self, status: int) -> None:
        self._send(status, b"")

    def _stream(self, chunks: Iterable[bytes], ctype: str = "application/json") -> None:
        """A chunked response: each chunk sent as it comes (a pull's progress, events)."""
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Api-Version", views.API_VERSION)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for data in chunks:
                if data:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                    self.wfile.flush()
        except ApiError as e:          # after the headers: Docker sends the error as a message
            msg = json.dumps({"errorDetail": {"message": e.message}, "error": e.message}).encode() + b"\n"
            self.wfile.write(b"%x\r\n%s\r\n" % (len(msg), msg))
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _client_gone(self) -> bool:
        """Whether the client closed its end (a stream with nothing to send notices it here)."""
        try:
            r, _, _ = select.select([self.connection], [], [], 0)
            return bool(r) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    def _read_body(self) -> bytes:
        """The whole request body, read before routing so that the connection stays in step
        whatever the answer (a body left unread would be taken for the next request)."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            raw = b""
            while True:
                line = self.rfile.readline(66)
                try:
                    n = int(line.split(b";")[0].strip() or b"x", 16)
                except ValueError:
                    self.close_connection = True
                    raise ApiError(400, "malformed chunked body") from None
                if n == 0:
                    self.rfile.readline(66)
                    return raw
                if n < 0 or len(raw) + n > MAX_BODY:
                    self.close_connection = True
                    raise ApiError(400, f"request body over {MAX_BODY} bytes")
                raw += self.rfile.read(n)
                self.rfile.readline(66)
        try:
            n = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.close_connection = True
            raise ApiError(400, "Content-Length: a whole number of bytes is required") from None
        if n < 0 or n > MAX_BODY:
            self.close_connection = True
            raise ApiError(400, f"request body of {n} bytes (allowed: 0..{MAX_BODY})")
        return self.rfile.read(n) if n else b""

    def _body(self) -> dict[str, Any]:
        raw = self._raw_body
        if not raw.strip():
            return {}
        try:
            data = json.loads(raw)
        except ValueError as e:
            raise ApiError(400, f"malformed JSON body: {e}") from None
        if not isinstance(data, dict):
            raise ApiError(400, "the request body must be a JSON object")
        return data

    # ---- parameters -----------------------------------------------------------------------

    def _q(self, name: str, default: str | None = None) -> str | None:
        v = self.query.get(name)
        return v[-1] if v else default

    def _bool(self, name: str, default: bool = False) -> bool:
        v = self._q(name)
        if v is None or v == "":
            return default
        if v.lower() in ("1", "true", "yes"):
            return True
        if v.lower() in ("0", "false", "no"):
            return False
        raise ApiError(400, f"{name}: a boolean (1/0/true/false) is required, got {v[:40]!r}")

    def _num(self, name: str, lo: float, hi: float) -> float | None:
        v = self._q(name)
        if v is None or v == "":
            return None
        try:
            x = float(v)
        except ValueError:
            raise ApiError(400, f"{name}: a number is required, got {v[:40]!r}") from None
        if not lo <= x <= hi:
            raise ApiError(400, f"{name}: {v[:40]} is out of range (allowed: {lo:g}..{hi:g})")
        return x

    # ---- routing --------------------------------------------------------------------------

    def _route(self, method: str) -> Callable[[], None]:
        try:
            parts = urlsplit(self.path)
            path = unquote(parts.path, errors="strict")
            self.query = parse_qs(parts.query, keep_blank_values=True, errors="strict")
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, f"malformed request path {self.path[:80]!r}") from None
        if "\x00" in path or not path.startswith("/"):
            raise ApiError(400, f"malformed request path {self.path[:80]!r}")
        m = _VERSION.match(path)
        if m:
            v = (int(m[1]), int(m[2]))
            if v > _version(views.API_VERSION):
                raise ApiError(400, f"client version {m[1]}.{m[2]} is too new. Maximum supported API "
                                    f"version is {views.API_VERSION}")
            if v < _version(views.MIN_API_VERSION):
                raise ApiError(400, f"client version {m[1]}.{m[2]} is too old. Minimum supported API "
                                    f"version is {views.MIN_API_VERSION}, please upgrade your client")
            path = m[3]
        path = path.rstrip("/") or "/"
        allowed: list[str] = []
        for pattern, methods in _ROUTES:
            mm = pattern.match(path)
            if mm:
                fn = methods.get(method) or (methods.get("GET") if method == "HEAD" and path == "/_ping" else None)
                if fn is None:
                    allowed += methods
                    continue
                args = mm.groups()
                return lambda: fn(self, *args)
        if allowed and not path.endswith("/prune"):
            raise ApiError(405, f"{method} is not allowed on {path[:80]} (allowed: {', '.join(allowed)})")
        raise ApiError(404, f"page not found: {method} {path[:80]} (this simulated engine serves: "
                            f"{'; '.join(ENDPOINTS)})")

    # ---- system ---------------------------------------------------------------------------

    def ping(self) -> None:
        self._send(200, b"OK", "text/plain; charset=utf-8",
                   {"Docker-Experimental": "false", "Cache-Control": "no-cache, no-store, must-revalidate",
                    "Pragma": "no-cache", "Builder-Version": "1"})

    def version(self) -> None:
        self._json(200, views.version())

    def info(self) -> None:
        with self.sim.lock:
            self._json(200, views.info(self.sim))

    def df(self) -> None:
        with self.sim.lock:
            self._json(200, views.df(self.sim))

    def session(self) -> None:
        with self.sim.lock:
            self._send(200, session_toml(self.sim).encode(), "application/toml")

    def events(self) -> None:
        sim = self.sim
        since = views.docker_time(self._q("since"), "since")
        until = views.docker_time(self._q("until"), "until")
        f = views.event_filters(self._q("filters"))
        if until is not None and sim.clock == "step":
            # a step clock moves only with calls: this one's operation is "until then"
            sim.advance_to(min(until, sim.now + sim.step_limit_s))

        def chunks() -> Iterable[bytes]:
            k = 0
            while True:
                with sim.changed:
                    new, k = sim.events[k:], len(sim.events)
                    now = sim.now
                for e in new:
                    t = e["sim_t"]
                    if (since is None or t >= since) and (until is None or t <= until) and views.event_ok(e, f):
                        yield (json.dumps(views.public_event(e)) + "\n").encode()
                if until is not None and now >= until or sim.closed or self._client_gone():
                    return
                with sim.changed:
                    if len(sim.events) == k:
                        sim.changed.wait(0.1)

        self._stream(chunks())

    # ---- containers -----------------------------------------------------------------------

    def containers(self) -> None:
        limit = self._num("limit", -1, 1e9)
        with self.sim.lock:
            self._json(200, views.list_containers(self.sim, self._bool("all"), self._q("filters"),
                                                  int(limit) if limit is not None else -1))

    def create(self) -> None:
        name = self._q("name")
        if name is not None and (name == "" or not re.fullmatch(r"/?[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}", name)):
            raise ApiError(400, f"Invalid container name ({name[:80]}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
        body = self._body()
        c = self.sim.create(body, name.lstrip("/") if name else None)
        self._json(201, {"Id": c.id, "Warnings": c.warnings})

    def container(self, ref: str) -> None:
        with self.sim.lock:
            c = self.sim.find(ref)
            self._json(200, views.inspect(self.sim, c))

    def container_op(self, ref: str, op: str) -> None:
        sim = self.sim
        self._body()
        if op == "start":
            self._status(sim.start(ref))
        elif op in ("stop", "restart"):
            t = self._num("t", -1, 1e9)
            grace = None if t is None or t < 0 else t
            self._status(sim.stop(ref, grace) if op == "stop" else sim.restart(ref, grace))
        elif op == "kill":
            signal = self._q("signal") or "KILL"
            if not re.fullmatch(r"[A-Za-z0-9+]{1,16}", signal):
                raise ApiError(400, f"signal: {signal[:40]!r} is not a signal name or number")
            self._status(sim.kill(ref, signal.upper().removeprefix("SIG")))
        elif op in ("pause", "unpause"):
            self._status(sim.pause(ref, op))
        elif op == "wait":
            cond = self._q("condition") or "not-running"
            if cond not in ("not-running", "next-exit", "removed"):
                raise ApiError(400, f"condition: {cond[:40]!r} (allowed: not-running, next-exit, removed)")
            with sim.lock:
                sim.find(ref)             # a 404 before the headers
            # dockerd sends the headers at once and the body when the condition holds: the
            # docker CLI's `run` waits for them before it sends the start (moby
            # api/server/router/container/container_routes.go, postContainersWait)
            self._stream(self._wait_body(ref, cond))

    def _wait_body(self, ref: str, cond: str) -> Iterable[bytes]:
        yield b" "     # a JSON body may start with white space: the headers go out now
        try:
            answer = self.sim.wait(ref, cond, self._client_gone)
        except ApiError as e:
            answer = {"StatusCode": -1, "Error": {"Message": e.message}}
        yield json.dumps(answer).encode() + b"\n"

    def container_delete(self, ref: str) -> None:
        self._status(self.sim.remove(ref, self._bool("force")))

    def logs(self, ref: str) -> None:
        """A stand-in: the container runs no process, so its log is the lifecycle it went
        through (one line per event, with what it waited for), framed as Docker multiplexes."""
        sim = self.sim
        stamps, follow = self._bool("timestamps"), self._bool("follow")
        if not (self._bool("stdout") or self._bool("stderr")):
            raise ApiError(400, "you must choose at least one stream (stdout=1 or stderr=1)")
        tail = self._q("tail") or "all"
        if tail != "all" and not tail.isdigit():
            raise ApiError(400, f"tail: a number of lines or 'all' is required, got {tail[:40]!r}")
        with sim.lock:
            c = sim.find(ref)
            k0 = max(0, len(c.log) - int(tail)) if tail != "all" else 0

        def frames() -> Iterable[bytes]:
            k = k0
            while True:
                with sim.changed:
                    lines, k = c.log[k:], len(c.log)
                    up = sim.status(c).state in ("requested", "waiting", "pulling", "created", "starting",
                                                 "running", "paused", "stopping")
                for t, text in lines:
                    line = (f"{views.rfc3339(t)} " if stamps else "") + f"[simcontainer t={t:.3f}s] {text}\n"
                    data = line.encode()
                    yield struct.pack(">BxxxL", 1, len(data)) + data
                if not follow or not up or sim.closed or self._client_gone():
                    return
                with sim.changed:
                    sim.changed.wait(0.1)

        self._stream(frames(), "application/vnd.docker.multiplexed-stream")

    def attach(self, ref: str) -> None:
        """``docker run`` without ``-d`` attaches before the start: the connection is taken over
        (101) and carries the container's output -- here its lifecycle lines -- until it exits
        (Ctrl-C in the CLI sends the container a signal, as with dockerd)."""
        sim = self.sim
        with sim.lock:
            c = sim.find(ref)
            exits = sim.exits(c)
        self.send_response(101)
        self.send_header("Content-Type", "application/vnd.docker.multiplexed-stream")
        self.send_header("Connection", "Upgrade")
        self.send_header("Upgrade", "tcp")
        self.end_headers()
        self.close_connection = True
        k = 0
        while True:
            with sim.changed:
                lines, k = c.log[k:], len(c.log)
                done = sim.exits(c) > exits or not sim.status(c).exists
            for t, text in lines:
                data = f"[simcontainer t={t:.3f}s] {text}\n".encode()
                self.wfile.write(struct.pack(">BxxxL", 1, len(data)) + data)
            self.wfile.flush()
            # (no _client_gone here: a client without stdin half-closes its side at once)
            if done or sim.closed:
                return
            with sim.changed:
                sim.changed.wait(0.1)

    def stats(self, ref: str) -> None:
        """One sample (``stream=false``, ``docker stats --no-stream``) or a sample per wall
        second until the client leaves (a step clock's samples change only as calls move it)."""
        sim = self.sim
        stream = self._bool("stream", True) and not self._bool("one-shot")
        with sim.lock:
            c = sim.find(ref)
            first = views.stats(sim, c)
        if not stream:
            self._json(200, first)
            return

        def samples() -> Iterable[bytes]:
            sample = first
            while True:
                yield json.dumps(sample).encode() + b"\n"
                for _ in range(10):
                    if sim.closed or self._client_gone():
                        return
                    with sim.changed:
                        sim.changed.wait(0.1)
                with sim.lock:
                    if not sim.status(c).exists:
                        return
                    sample = views.stats(sim, c)

        self._stream(samples())

    # ---- images ---------------------------------------------------------------------------

    def images(self) -> None:
        with self.sim.lock:
            self._json(200, views.list_images(self.sim, self._q("filters")))

    def pull(self) -> None:
        ref = self._q("fromImage")
        if not ref:
            raise ApiError(400, "fromImage: an image name is required (import from a file: not simulated)")
        progress = self.sim.pull(ref, self._q("tag"))      # a missing image: 404 before the stream
        self._stream(json.dumps(m).encode() + b"\n" for m in progress)

    def image(self, ref: str) -> None:
        with self.sim.lock:
            name = self.sim.image_name(ref)
            if name is None or name not in self.sim.local_images():
                raise ApiError(404, f"No such image: {ref}")
            self._json(200, views.image_inspect(self.sim, name))

    def image_delete(self, ref: str) -> None:
        self._json(200, self.sim.remove_image(ref, self._bool("force")))

    def image_tag(self, ref: str) -> None:
        repo, tag = self._q("repo") or "", self._q("tag")
        if repo and not re.fullmatch(r"[a-z0-9][a-z0-9._/-]{0,127}(:[A-Za-z0-9_.-]{1,128})?", repo):
            raise ApiError(400, f"repo: invalid reference format: {repo[:80]!r}")
        if ":" in repo and not tag:
            repo, tag = repo.rsplit(":", 1)
        self.sim.tag(ref, repo, tag)
        self._status_created()

    def _status_created(self) -> None:
        self._send(201, b"")

    # ---- networks -------------------------------------------------------------------------

    def networks(self) -> None:
        with self.sim.lock:
            self._json(200, views.networks(self.sim))

    def network(self, ref: str) -> None:
        with self.sim.lock:
            self._json(200, views.find_network(self.sim, ref))


_ID = r"([^/]+)"
_ROUTES: list[tuple[re.Pattern[str], dict[str, Callable[..., None]]]] = [
    (re.compile(r"^/_ping$"), {"GET": Handler.ping}),
    (re.compile(r"^/version$"), {"GET": Handler.version}),
    (re.compile(r"^/info$"), {"GET": Handler.info}),
    (re.compile(r"^/system/df$"), {"GET": Handler.df}),
    (re.compile(r"^/events$"), {"GET": Handler.events}),
    (re.compile(r"^/simcontainer/session$"), {"GET": Handler.session}),
    (re.compile(r"^/containers/json$"), {"GET": Handler.containers}),
    (re.compile(r"^/containers/create$"), {"POST": Handler.create}),
    (re.compile(rf"^/containers/{_ID}/json$"), {"GET": Handler.container}),
    (re.compile(rf"^/containers/{_ID}/(start|stop|kill|restart|pause|unpause|wait)$"),
     {"POST": Handler.container_op}),
    (re.compile(rf"^/containers/{_ID}/logs$"), {"GET": Handler.logs}),
    (re.compile(rf"^/containers/{_ID}/stats$"), {"GET": Handler.stats}),
    (re.compile(rf"^/containers/{_ID}/attach$"), {"POST": Handler.attach}),
    (re.compile(rf"^/containers/{_ID}$"), {"DELETE": Handler.container_delete}),
    (re.compile(r"^/images/json$"), {"GET": Handler.images}),
    (re.compile(r"^/images/create$"), {"POST": Handler.pull}),
    (re.compile(r"^/images/(.+)/json$"), {"GET": Handler.image}),
    (re.compile(r"^/images/(.+)/tag$"), {"POST": Handler.image_tag}),
    (re.compile(r"^/images/(.+)$"), {"DELETE": Handler.image_delete}),
    (re.compile(r"^/networks$"), {"GET": Handler.networks}),
    (re.compile(rf"^/networks/{_ID}$"), {"GET": Handler.network}),
]


def _quiet_error(server: socketserver.BaseServer, request: Any, client_address: Any) -> None:
    """A client that went away mid-request is no error worth a traceback."""
    exc = sys.exc_info()[1]
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return
    if getattr(server, "verbose", False):
        traceback.print_exc()


class UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """An HTTP server on a unix socket, created with mode 0600 (only its owner may connect)."""

    handle_error = _quiet_error

    daemon_threads = True
    block_on_close = False
    request_queue_size = 128        # many clients connect at once (socketserver's default: 5)

    def server_bind(self) -> None:
        path = self.server_address
        if os.path.exists(path):
            if not stat.S_ISSOCK(os.stat(path).st_mode):
                raise OSError(f"{path} exists and is not a socket: not replacing it")
            probe = socket.socket(socket.AF_UNIX)
            try:
                probe.connect(path)
                raise OSError(f"{path}: another server is listening there")
            except ConnectionRefusedError:
                os.unlink(path)           # a stale socket from a server that is gone
            finally:
                probe.close()
        super().server_bind()
        os.chmod(path, 0o600)         # before listen(): nobody can have connected yet

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, _ = self.socket.accept()
        return conn, ("unix", 0)


class LoopbackHTTPServer(ThreadingHTTPServer):
    handle_error = _quiet_error
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128


class Server:
    """The Engine API server for one :class:`SimHost` (``start`` in a thread, or ``serve``)."""

    def __init__(self, sim: SimHost, *, socket_path: str | None = None, port: int | None = None,
                 host: str = "127.0.0.1", verbose: bool = False) -> None:
        if (socket_path is None) == (port is None):
            raise ValueError("give exactly one of socket_path and port")
        self.sim = sim
        self.socket_path = socket_path
        if socket_path is not None:
            self.httpd: socketserver.BaseServer = UnixHTTPServer(socket_path, Handler)
            self.url = f"unix://{socket_path}"
        else:
            self.httpd = LoopbackHTTPServer((host, port), Handler)
            self.url = f"tcp://{host}:{self.httpd.server_address[1]}"     # type: ignore[attr-defined]
        self.httpd.sim = sim                # type: ignore[attr-defined]
        self.httpd.verbose = verbose        # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    def start(self) -> Server:
        self.sim.start_clock()
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="simcontainer-serve", daemon=True)
        self._thread.start()
        return self

    def serve(self) -> None:
        self.sim.start_clock()
        self.httpd.serve_forever(poll_interval=0.2)

    def close(self) -> None:
        self.sim.close()
        self.httpd.shutdown() if self._thread is not None else None
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.socket_path is not None and os.path.exists(self.socket_path):
            os.unlink(self.socket_path)

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["ENDPOINTS", "Handler", "Server"]
