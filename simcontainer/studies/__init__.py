"""The studies layer: questions answered by running the engine -- comparisons, density and OOM
risk, hosts needed, warm strategies, restart timelines, blast radius, fidelity, sweeps, optimize,
sensitivity, cluster rollouts. Never imported by a mechanism."""
