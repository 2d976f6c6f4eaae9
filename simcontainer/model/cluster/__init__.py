"""A Kubernetes cluster above the hosts: API server, scheduler, controllers, node lifecycle and
the cluster autoscaler, as model parts on one simpy environment (not a second engine).

- :mod:`simcontainer.scenario.cluster` -- the ``[cluster]`` section of a scenario;
- :mod:`.params` -- its settings resolved against models/cluster.toml (each default sourced);
- :mod:`.apiserver`, :mod:`.scheduler`, :mod:`.controllers`, :mod:`.nodes` -- the parts;
- :mod:`.sim` -- wiring the parts and running a cluster (:func:`simulate_cluster`);
- :mod:`simcontainer.studies.cluster_reports` -- studies: the rollout table, the node-failure
  timeline, validation;
- :mod:`simcontainer.faces.cli_rollout` -- ``simcontainer rollout``.
"""
