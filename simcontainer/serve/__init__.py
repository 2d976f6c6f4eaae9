"""The Docker Engine API, served from a simulated host.

``simcontainer serve`` (:mod:`simcontainer.serve.command`) answers the ``docker`` CLI and
docker-py over a unix socket or loopback TCP (:mod:`simcontainer.serve.server`); a
:class:`~simcontainer.serve.sim.SimHost` owns the simulation and its clock; the only module that
touches the simulated daemon is :mod:`simcontainer.serve.host`; a session is written back as a
scenario by :mod:`simcontainer.serve.record`.
"""

from simcontainer.serve.record import session_scenario, session_toml
from simcontainer.serve.server import Server
from simcontainer.serve.sim import SimHost

__all__ = ["Server", "SimHost", "session_scenario", "session_toml"]
