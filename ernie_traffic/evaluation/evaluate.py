"""The one evaluation path for learned and classical controllers.

Training's final comparison, stress tests, export parity and deployment parity all call
:func:`evaluate`, so every controller is measured by the same episodes and the same metrics.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ernie_traffic.envs.traffic import TrafficEnvConfig, TrafficSignalEnv

if TYPE_CHECKING:  # controllers import the training run directories, which import this module
    from ernie_traffic.controllers.base import Controller

EVALUATION_SEED_BASE = 1_000_000_000  # training episodes never use seeds this large
# Validation (choosing a run's best policy, choosing settings) never sees the reported seeds.
VALIDATION_SEED_BASE = 500_000_000


def evaluation_seeds(episodes: int) -> list[int]:
    """The SUMO seeds of ``episodes`` evaluation episodes, the same for every controller."""
    return [EVALUATION_SEED_BASE + i for i in range(episodes)]


def validation_seeds(episodes: int) -> list[int]:
    """The SUMO seeds of ``episodes`` validation episodes: disjoint from training and evaluation."""
    return [VALIDATION_SEED_BASE + i for i in range(episodes)]


def run_episode(controller: Controller, env_config: TrafficEnvConfig, seed: int) -> dict[str, float]:
    """One full episode under ``controller``: the env's episode metrics plus the team ``return``."""
    extra = [*env_config.additional_files, *controller.additional_files]
    config = env_config.model_copy(update={"control": controller.control, "additional_files": extra})
    env = TrafficSignalEnv(config)
    try:
        observations, _ = env.reset(seed=seed)
        controller.reset(env)
        team_return, done = 0.0, False
        while not done:
            observations, rewards, terminations, truncations, _ = env.step(controller.act(observations))
            team_return += sum(rewards.values())
            done = not env.agents or any(terminations.values()) or any(truncations.values())
        return {**env.episode_metrics(), "return": team_return}
    finally:
        env.close()


def evaluate(controller: Controller, env_config: TrafficEnvConfig, seeds: Sequence[int]) -> dict[str, Any]:
    """Run one episode per seed; returns ``{"controller", "seeds", "episodes", "mean"}`` where
    ``mean`` averages each metric over the episodes."""
    episodes = [run_episode(controller, env_config, seed) for seed in seeds]
    names = episodes[0].keys() if episodes else ()
    mean = {name: sum(e[name] for e in episodes) / len(episodes) for name in names}
    return {"controller": controller.name, "seeds": list(seeds), "episodes": episodes, "mean": mean}


def evaluate_controllers(
    controllers: Sequence[str], env_config: TrafficEnvConfig, seeds: Sequence[int], work_dir: str | Path = "."
) -> dict[str, dict[str, Any]]:
    """:func:`evaluate` each controller argument (a classical name, a run directory or a bundle, as
    :func:`~ernie_traffic.controllers.resolve.resolve_controller` takes them), by controller name."""
    from ernie_traffic.controllers.resolve import resolve_controller

    results = {}
    for argument in controllers:
        controller = resolve_controller(argument, env_config.network, env_config.route_files, work_dir)
        results[controller.name] = evaluate(controller, env_config, seeds)
    return results
