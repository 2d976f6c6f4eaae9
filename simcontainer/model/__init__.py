"""The model layer: the mechanisms as simpy processes and resources -- hosts, images and
registries, control planes, the one instance lifecycle and its parts, memory, faults, placement,
the cluster. Imports only the scenario layer."""
