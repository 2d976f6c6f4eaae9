"""The Docker Engine API, served from a simulated host.

``simcontainer serve`` (:mod:`simcontainer.faces.serve.command`) answers the ``docker`` CLI and
docker-py over a unix socket or loopback TCP (:mod:`simcontainer.faces.serve.server`); a
:class:`~simcontainer.faces.serve.sim.SimHost` owns the simulation and its clock; the only module that
touches the simulated daemon is :mod:`simcontainer.faces.serve.host`; a session is written back as a
scenario by :mod:`simcontainer.faces.serve.record`.
"""

from simcontainer.faces.serve.record import session_scenario, session_toml
from simcontainer.faces.serve.server import Server
from simcontainer.faces.serve.sim import SimHost

__all__ = ["Server", "SimHost", "session_scenario", "session_toml"]
