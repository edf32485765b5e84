"""Environments: the SUMO traffic-signal environment (``traffic``) and particle wrappers."""
