"""Multi-drone hover control on pybullet physics (PyFlyt's ``MAQuadXHoverEnvV2``), as a PettingZoo env.

Optional: PyFlyt pins numpy < 2, so it lives in the ``drones`` extra and its own virtual environment.
:class:`DroneEnvConfig` imports without PyFlyt (run configs validate anywhere); :func:`make_drone_env`
needs it and says how to install it when it is missing.
"""

from ernie_traffic.envs.drones.flights import Flight, fly
from ernie_traffic.envs.drones.hover import DroneEnvConfig, DroneHoverEnv, make_drone_env

__all__ = ["DroneEnvConfig", "DroneHoverEnv", "Flight", "fly", "make_drone_env"]
