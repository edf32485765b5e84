"""Multi-agent particle environments (``mpe2``) with continuous actions, as PettingZoo parallel envs.

Thin wrappers only: :func:`make_particle_env` builds a task by name, :class:`ObservationNoise`
adds seeded Gaussian noise to every observation (the evaluation perturbation of the paper's
figures 3 and 4).
"""

from ernie_traffic.envs.particle.noise import ObservationNoise
from ernie_traffic.envs.particle.tasks import PARTICLE_TASKS, ParticleEnvConfig, make_particle_env

__all__ = ["PARTICLE_TASKS", "ObservationNoise", "ParticleEnvConfig", "make_particle_env"]
