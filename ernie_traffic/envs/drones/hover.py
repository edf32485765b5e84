"""Cooperative multi-drone hover with physical perturbations: heavier drones, weaker motors, wind.

PyFlyt's ``MAQuadXHoverEnvV2`` flies N quadrotors and rewards each for being at its hover point
upright (``1 - distance - 0.1·tilt`` per physics step); a crash or leaving the flight dome costs 100.
:class:`DroneHoverEnv` adapts it to the lab's learners:

* each drone starts up to ``start_offset`` per axis away from its hover point (seeded), so a policy
  must fly there and hold it, reading its observation;
* actions are normalised to [0, 1]^k (the MADDPG actors' sigmoid range) and mapped linearly onto
  the flight mode's setpoints (:data:`FLIGHT_MODES`; default: ground velocities through PyFlyt's PID);
* observations are float32: body rates, attitude, velocity, and hover point minus position;
* rewards are PyFlyt's averaged over the physics steps of a decision;
* the episode ends for the whole team when any drone crashes or leaves the dome, so every step is a
  joint transition of all N drones (what the centralised critics are trained on);
* perturbations act on the pybullet bodies after every reset: ``mass_scale`` rescales each drone's
  base mass (``changeDynamics``), ``thrust_scale`` its motors' thrust coefficient, and
  ``wind_speed`` blows a steady horizontal wind (PyFlyt's wind-field hook, which drives the drag of
  the drone bodies) in a direction drawn per episode from the reset seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ernie_traffic.envs.particle import ObservationNoise
from ernie_traffic.errors import UserInputError

PHYSICS_HZ = 120  # PyFlyt's fixed physics rate; the agent rate must divide it
#: angular velocity (body frame), roll/pitch/yaw, linear velocity, and the hover point minus the position
OBSERVATION_SIZE = 12


@dataclass(frozen=True)
class FlightMode:
    """How the normalised actions command a drone: [0, 1] maps linearly onto ``low..high`` of the
    PyFlyt setpoints at ``setpoints`` (the others stay 0)."""

    pyflyt_mode: int
    setpoints: tuple[int, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]


FLIGHT_MODES = {
    # body rates (rad/s) and collective thrust: the policy stabilises the attitude itself
    "rates": FlightMode(0, (0, 1, 2, 3), (-np.pi, -np.pi, -np.pi, 0.0), (np.pi, np.pi, np.pi, 0.8)),
    # ground velocities vx, vy, vz (m/s) held by PyFlyt's cascaded PID; the yaw rate stays 0, since
    # heading does not matter for hovering and a spinning drone only blurs what the actions do
    "velocity": FlightMode(6, (0, 1, 3), (-1.0, -1.0, -1.0), (1.0, 1.0, 1.0)),
}


class DroneEnvConfig(BaseModel):
    """The hover task and its perturbations (all default to none)."""

    model_config = ConfigDict(extra="forbid")

    n_drones: int = Field(2, ge=1, le=8, description="Drones, started 1 m apart on a line 1 m above ground.")
    max_seconds: float = Field(2.0, gt=0, description="Simulated seconds per episode.")
    flight_mode: Literal["rates", "velocity"] = Field(
        "velocity",
        description="rates: body rates and thrust (PyFlyt mode 0); velocity: ground-velocity setpoints "
        "held by PyFlyt's PID (mode 6).",
    )
    start_offset: float = Field(
        0.5,
        ge=0.0,
        le=0.5,
        description="Each drone starts up to this far from its hover point (m, uniform per axis, seeded).",
    )
    agent_hz: int = Field(20, ge=1, le=PHYSICS_HZ, description="Decisions per simulated second.")
    observation_noise: float = Field(
        0.0, ge=0.0, description="Standard deviation of Gaussian noise added to every observation."
    )
    mass_scale: float = Field(1.0, gt=0, description="Every drone's base mass is multiplied by this.")
    thrust_scale: float = Field(
        1.0, gt=0, description="Every motor's thrust coefficient is multiplied by this."
    )
    wind_speed: float = Field(
        0.0, ge=0, description="Steady horizontal wind in m/s (direction seeded per episode)."
    )

    @field_validator("agent_hz")
    @classmethod
    def _divides_physics_rate(cls, hz: int) -> int:
        if PHYSICS_HZ % hz:
            raise ValueError(f"agent_hz must divide {PHYSICS_HZ} (PyFlyt's physics rate), got {hz}")
        return hz


class DroneHoverEnv(ParallelEnv):
    """PyFlyt's multi-quadrotor hover task with normalised actions, team episodes and perturbations."""

    metadata: ClassVar[dict[str, Any]] = {"name": "drone_hover", "render_modes": []}

    def __init__(self, config: DroneEnvConfig):
        try:
            from PyFlyt.pz_envs import MAQuadXHoverEnvV2
        except ImportError as exc:
            raise UserInputError(
                "multi-drone control needs PyFlyt, which pins numpy<2: install the extra in its own "
                "virtual environment (pip install -e '.[drones]')"
            ) from exc
        self.config = config
        self._hover_points = np.array(
            [[i - (config.n_drones - 1) / 2, 0.0, 1.0] for i in range(config.n_drones)]
        )
        self._env = MAQuadXHoverEnvV2(
            start_pos=self._hover_points,
            start_orn=np.zeros_like(self._hover_points),
            max_duration_seconds=config.max_seconds,
            agent_hz=config.agent_hz,
            angle_representation="euler",
            flight_mode=FLIGHT_MODES[config.flight_mode].pyflyt_mode,
        )
        self.possible_agents = list(self._env.possible_agents)
        self._episode_seeds = np.random.default_rng()  # until reset(seed=...) seeds it
        self.agents: list[str] = []
        self._flight_mode = FLIGHT_MODES[config.flight_mode]
        self._action_low = np.array(self._flight_mode.low, np.float32)
        self._action_range = np.array(self._flight_mode.high, np.float32) - self._action_low
        self._action_space = spaces.Box(0.0, 1.0, self._action_low.shape, np.float32)
        self._observation_space = spaces.Box(-np.inf, np.inf, (OBSERVATION_SIZE,), np.float32)

    def observation_space(self, agent: str) -> spaces.Box:
        return self._observation_space

    def action_space(self, agent: str) -> spaces.Box:
        return self._action_space

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is not None:
            self._episode_seeds = np.random.default_rng(seed)
        # PyFlyt's Aviary seeds its motor noise only from a truthy seed (`if seed:`), so seed 0 meant an
        # unseeded generator and runs that differed between processes. Every episode therefore gets a
        # positive seed of its own, drawn from the env's generator (Gymnasium's reset semantics).
        episode_seed = int(self._episode_seeds.integers(1, 2**31))
        rng = np.random.default_rng(episode_seed)
        offset = self.config.start_offset
        spawn_points = self._hover_points + rng.uniform(-offset, offset, self._hover_points.shape)
        pyflyt = self._env
        pyflyt.start_pos = spawn_points  # the aviary is built with the drones here ...
        pyflyt.begin_reset(episode_seed)
        pyflyt.start_pos = self._hover_points  # ... while reward and observation measure from here
        pyflyt.end_reset(episode_seed)
        self._perturb(rng)
        self.agents = list(pyflyt.agents)
        observations = {
            agent: pyflyt.compute_observation_by_id(i) for agent, i in pyflyt.agent_name_mapping.items()
        }
        return self._observe(observations), {agent: {} for agent in self.agents}

    def step(self, actions: dict[str, np.ndarray]):
        pyflyt_actions = {}
        for agent, action in actions.items():
            setpoint = np.zeros(4)
            commanded = self._action_low + self._action_range * np.clip(action, 0.0, 1.0)
            setpoint[list(self._flight_mode.setpoints)] = commanded
            pyflyt_actions[agent] = setpoint
        observations, rewards, terminations, truncations, infos = self._env.step(pyflyt_actions)
        if any(terminations.values()) or any(truncations.values()):
            crashed = any(terminations.values())
            terminations = dict.fromkeys(self.agents, crashed)
            truncations = dict.fromkeys(self.agents, not crashed)
            observations = {agent: self._last_observation(agent, observations) for agent in self.agents}
            rewards = {agent: rewards.get(agent, 0.0) for agent in self.agents}
            infos = {agent: infos.get(agent, {}) for agent in self.agents}
            self.agents = []
        # PyFlyt sums its reward over the physics steps of one decision; the mean keeps one scale
        # (at most 1 per decision, -100 for a crash) for every agent_hz.
        rewards = {agent: float(reward) / self._env.env_step_ratio for agent, reward in rewards.items()}
        return self._observe(observations), rewards, terminations, truncations, infos

    def close(self) -> None:
        self._env.close()

    def distances_to_hover_points(self) -> np.ndarray:
        """Every drone's true distance to its hover point in metres, ``[n_drones]``."""
        positions = np.array([self._env.aviary.state(i)[3] for i in range(len(self.possible_agents))])
        return np.linalg.norm(positions - self._hover_points, axis=-1)

    def _last_observation(self, agent: str, observations: dict[str, np.ndarray]) -> np.ndarray:
        if agent in observations:
            return observations[agent]
        return self._env.compute_observation_by_id(self._env.agent_name_mapping[agent])

    def _perturb(self, rng: np.random.Generator) -> None:
        aviary = self._env.aviary
        for drone in aviary.drones:
            if self.config.mass_scale != 1.0:
                mass = aviary.getDynamicsInfo(drone.Id, -1)[0]
                aviary.changeDynamics(drone.Id, -1, mass=mass * self.config.mass_scale)
            if self.config.thrust_scale != 1.0:
                drone.motors.thrust_coef = drone.motors.thrust_coef * self.config.thrust_scale
        if self.config.wind_speed > 0:
            heading = rng.uniform(0, 2 * np.pi)
            wind = self.config.wind_speed * np.array([np.cos(heading), np.sin(heading), 0.0])
            aviary.register_wind_field_function(lambda time, position: np.broadcast_to(wind, position.shape))

    @staticmethod
    def _observe(pyflyt_observations: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        # PyFlyt's euler observation: angular velocity 0:3, attitude 3:6, linear velocity 6:9, position
        # 9:12, motor states 12:16, previous setpoint 16:20, hover point 20:23. The offset to the hover
        # point replaces position and hover point, and motor states and previous setpoint go: with all
        # 23 numbers MADDPG needed about 400 episodes to hover, with these 12 it needs 150-200.
        return {
            agent: np.concatenate([obs[0:9], obs[20:23] - obs[9:12]]).astype(np.float32)
            for agent, obs in pyflyt_observations.items()
        }


def make_drone_env(config: DroneEnvConfig, noise_seed: int | None = None) -> ParallelEnv:
    """The hover task (noise-wrapped if ``config.observation_noise`` > 0)."""
    env: ParallelEnv = DroneHoverEnv(config)
    if config.observation_noise > 0:
        env = ObservationNoise(env, sigma=config.observation_noise, seed=noise_seed)
    return env
