"""``simcontainer serve``: the Docker Engine API on a simulated host.

Wired into the CLI by ``add_parser(subparsers)`` and ``main(args)``.
"""

from __future__ import annotations

import argparse
import ipaddress
import math
import signal
import sys
from pathlib import Path
from types import FrameType

from simcontainer.faces.serve.record import session_toml
from simcontainer.faces.serve.server import Server
from simcontainer.faces.serve.sim import STEP_LIMIT_S, SimHost
from simcontainer.scenario.errors import ScenarioError
from simcontainer.scenario.loading import load_scenario
from simcontainer.scenario.outputs import write_atomic
from simcontainer.scenario.profiles import models_dir

EXIT_OK, EXIT_BAD_INPUT = 0, 2
DESCRIPTION = """\
Serve the Docker Engine API from a simulated host: point the docker CLI or docker-py at it
(`docker -H unix://PATH run -d nginx`, `docker ps`, `docker stop`, `docker events`, ...) and the
scenario's host answers, with the simulation's states and timestamps. Containers run no
processes: an image's layers are pulled, the container is created and started, and it runs
until stopped, all in simulated time.

Clocks: --clock step (default) advances the simulation at each call until its operation
completes, so a script runs at simulator speed and reads its timings from the answers;
--clock real --speed X lets simulated time follow wall time x X.

Safe by default: the unix socket is created with mode 0600; TCP listens on 127.0.0.1 unless
--host names another address. --record FILE writes the session as a scenario that
`simcontainer run FILE` replays.
"""


def _positive(value: str) -> float:
    try:
        x = float(value)
    except ValueError:
        x = math.nan
    if not (math.isfinite(x) and x > 0):
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive number")
    return x


def _non_negative(value: str) -> float:
    try:
        x = float(value)
    except ValueError:
        x = math.nan
    if not (math.isfinite(x) and x >= 0):
        raise argparse.ArgumentTypeError(f"{value!r} is not a number >= 0")
    return x


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port (allowed: 0-65535; 0 picks a free one)")
    return port


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser("serve", help="serve the Docker Engine API from a simulated host",
                              description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("scenario", nargs="?", default=None,
                   help="scenario TOML whose host and workloads run in the background "
                        "(default: models/scenarios/default.toml)")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--socket", metavar="PATH", help="listen on a unix socket (created with mode 0600)")
    where.add_argument("--port", type=_port, metavar="N", help="listen on TCP port N (loopback unless --host)")
    p.add_argument("--host", default="127.0.0.1", metavar="ADDR",
                   help="TCP address to listen on (default 127.0.0.1; another address exposes the server)")
    p.add_argument("--clock", choices=("step", "real"), default="step",
                   help="step: each call advances the simulation until it completes (default); "
                        "real: simulated time follows wall time x --speed")
    p.add_argument("--speed", type=_positive, default=1.0, metavar="X",
                   help="real clock: simulated seconds per wall second (default 1)")
    p.add_argument("--seed", type=int, default=None, help="override the scenario's seed")
    p.add_argument("--start-at", type=_non_negative, default=0.0, metavar="S",
                   help="simulate the scenario's first S seconds before serving (a host already busy)")
    p.add_argument("--step-limit", type=_positive, default=STEP_LIMIT_S, metavar="S",
                   help=f"step clock: a call advances the simulation at most S seconds (default {STEP_LIMIT_S:g})")
    p.add_argument("--record", metavar="FILE", default=None,
                   help="on exit, write the session as a scenario TOML that `simcontainer run` replays")
    p.add_argument("--verbose", action="store_true", help="log every request to stderr")
    p.set_defaults(func=main)


def _bad(msg: str) -> int:
    print(f"simcontainer serve: {msg}", file=sys.stderr)
    return EXIT_BAD_INPUT


def main(args: argparse.Namespace) -> int:
    if args.clock == "step" and args.speed != 1.0:
        return _bad(f"--speed {args.speed:g}: only with --clock real (allowed: --clock real --speed X)")
    try:
        ipaddress.ip_address(args.host)
    except ValueError:
        return _bad(f"--host {args.host!r}: not an IP address (allowed: e.g. 127.0.0.1, ::1, 0.0.0.0)")
    path = args.scenario or str(models_dir() / "scenarios" / "default.toml")
    try:
        scenario = load_scenario(path)
    except ScenarioError as e:
        return _bad(str(e))
    if args.record is not None and not Path(args.record).resolve().parent.is_dir():
        return _bad(f"--record {args.record!r}: its folder does not exist")
    if args.socket is not None and not Path(args.socket).resolve().parent.is_dir():
        return _bad(f"--socket {args.socket!r}: its folder does not exist")
    sim = SimHost(scenario, clock=args.clock, speed=args.speed, seed=args.seed, step_limit_s=args.step_limit)
    sim.advance_to(args.start_at)
    try:
        server = Server(sim, socket_path=args.socket, port=args.port, host=args.host, verbose=args.verbose)
    except OSError as e:
        return _bad(f"cannot listen: {e}")
    print(f"simcontainer serve: {scenario.name} on {server.url} (clock {args.clock}"
          f"{f' x{args.speed:g}' if args.clock == 'real' else ''}, t = {sim.now:g} s); "
          f"try: docker -H {server.url} ps -a", file=sys.stderr)

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        if args.record is not None:
            text = session_toml(sim)
            write_atomic(args.record, text)
            print(f"simcontainer serve: session written to {args.record} ({sim.calls} calls)", file=sys.stderr)
    return EXIT_OK


__all__ = ["add_parser", "main"]
