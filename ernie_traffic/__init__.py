"""ernie-traffic: robust traffic-signal control with adversarially regularized MARL."""

__version__ = "0.1.0"
