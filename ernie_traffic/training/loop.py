"""The training loop: episodes of the traffic environment feeding a learner, with checkpoints,
metrics, resume and the final evaluation against classical controllers.

Resume reproduces an uninterrupted run exactly: a checkpoint (written at episode boundaries)
holds the learner's full state — networks, optimizers, replay buffer, its random generator —
together with torch/numpy/Python RNG states, and every episode's SUMO seed is a function of the
run seed and the episode index.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ernie_traffic.algorithms import Learner, Transition, build_learner, get_algorithm
from ernie_traffic.controllers.classical import classical_controller
from ernie_traffic.controllers.learned import controller_from_record, policy_record, save_policy
from ernie_traffic.envs.traffic import TrafficSignalEnv
from ernie_traffic.errors import UserInputError, first_line
from ernie_traffic.evaluation import evaluate, evaluation_seeds, validation_seeds
from ernie_traffic.models.networks import MultiAgentSpec, pad_observations
from ernie_traffic.runs import RunDirectory
from ernie_traffic.training.config import TrainConfig
from ernie_traffic.utils.config_files import save_config

EpisodeCallback = Callable[[dict[str, Any]], None]


@dataclass
class TrainResult:
    run_dir: Path
    metrics: list[dict[str, Any]]
    evaluation: dict[str, Any] | None


def spec_from_env(env: TrafficSignalEnv) -> MultiAgentSpec:
    """Shapes of the learner's networks, read from a reset environment."""
    agents = tuple(env.possible_agents)
    return MultiAgentSpec(
        agents=agents,
        obs_dims=tuple(int(env.observation_space(a).shape[0]) for a in agents),
        n_actions=tuple(int(env.action_space(a).n) for a in agents),
        state_dim=int(np.asarray(env.state()).shape[0]),
        sensor_start=tuple(env.layouts[a].detector_slice.start for a in agents),
    )


def _tensors(env: TrafficSignalEnv, spec: MultiAgentSpec, obs: dict) -> tuple[torch.Tensor, ...]:
    state = torch.as_tensor(np.asarray(env.state()), dtype=torch.float32)
    mask = torch.as_tensor(np.asarray(env.action_mask), dtype=torch.bool)
    return pad_observations(spec, obs), state, mask


def run_training_episode(
    env: TrafficSignalEnv, learner: Learner, spec: MultiAgentSpec, obs: dict, reward_scale: float
) -> dict:
    """One exploring episode from the reset observations ``obs``; returns its training record."""
    obs_t, state, mask = _tensors(env, spec, obs)
    losses: dict[str, list[float]] = defaultdict(list)
    team_return, steps, done = 0.0, 0, False
    while not done:
        actions = learner.act(obs_t, mask, explore=True)
        step_actions = {agent: int(actions[i]) for i, agent in enumerate(spec.agents)}
        next_obs, rewards, terminations, truncations, _ = env.step(step_actions)
        done = not env.agents or any(terminations.values()) or any(truncations.values())
        # the env may omit the observations of agents that are done; keep their last ones
        next_obs_t, next_state, next_mask = _tensors(env, spec, {**obs, **next_obs})
        reward = torch.tensor([float(rewards.get(agent, 0.0)) for agent in spec.agents])
        terminal = float(any(terminations.values()))
        transition = Transition(
            obs_t, state, mask, actions, reward * reward_scale, next_obs_t, next_state, next_mask, terminal
        )
        for name, value in learner.observe(transition).items():
            losses[name].append(value)
        obs = {**obs, **next_obs}
        obs_t, state, mask = next_obs_t, next_state, next_mask
        team_return += float(reward.sum())
        steps += 1
    for name, value in learner.end_episode().items():
        losses[name].append(value)
    record = {"return": team_return, "steps": steps, **env.episode_metrics()}
    record.update({f"loss/{name}": sum(v) / len(v) for name, v in losses.items() if name != "regularizer"})
    record["regularizer"] = (
        sum(losses["regularizer"]) / len(losses["regularizer"]) if losses["regularizer"] else 0.0
    )
    return record


def _rng_states() -> dict[str, Any]:
    numpy_state = np.random.get_state(legacy=False)
    # a list of ints, not a numpy array: run files hold tensors and plain data only
    numpy_state["state"]["key"] = numpy_state["state"]["key"].tolist()
    return {"torch": torch.get_rng_state(), "numpy": numpy_state, "python": random.getstate()}


def _restore_rng(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    np.random.set_state(states["numpy"])
    random.setstate(states["python"])


CHECKPOINT_KEYS = ("episode", "network", "algo", "reg", "learner", "policy", "rng")


def load_training_checkpoint(run: RunDirectory) -> dict[str, Any]:
    """The checkpoint a ``--resume`` continues from; one that is not a training checkpoint is refused."""
    checkpoint = run.load_checkpoint(required=CHECKPOINT_KEYS)
    if not isinstance(checkpoint["episode"], int) or checkpoint["episode"] < 0:
        raise UserInputError(f"{run.checkpoint}: episode {checkpoint['episode']!r} is not an episode count")
    return checkpoint


def _check_resumable(config: TrainConfig, checkpoint: dict[str, Any], run: RunDirectory) -> None:
    for field in ("network", "algo"):
        saved = checkpoint[field]
        wanted = config.env.network if field == "network" else config.algo
        if saved != wanted:
            raise UserInputError(
                f"{run.checkpoint}: checkpoint is from {field} {saved!r}, this run asks for {wanted!r}"
            )


def train(
    config: TrainConfig,
    run_dir: str | Path | None = None,
    resume: bool = False,
    on_episode: EpisodeCallback | None = None,
) -> TrainResult:
    """Train ``config`` in ``run_dir`` (default ``out_dir/run_name``), then evaluate it."""
    run = RunDirectory(run_dir or config.out_dir / config.run_name())
    if not resume and run.checkpoint.exists():
        raise UserInputError(
            f"{run.path}: already holds a run; pass --resume to continue it or choose --name"
        )
    checkpoint = load_training_checkpoint(run) if resume else None
    if checkpoint is not None:
        _check_resumable(config, checkpoint, run)
    save_config(config, run.config)

    start = checkpoint["episode"] if checkpoint else 0
    env = TrafficSignalEnv(config.training_env(start))
    try:
        obs, _ = env.reset(seed=config.training_seed(start))
        spec = spec_from_env(env)
        learner = build_learner(
            config.algo, spec, config.algo_config, config.reg, config.regularizer, seed=config.seed
        )
        if checkpoint is not None:
            try:
                learner.load_state_dict(checkpoint["learner"])
            except (KeyError, RuntimeError, ValueError, TypeError) as exc:  # another shape or version
                raise UserInputError(
                    f"{run.checkpoint}: checkpoint does not fit this run's {config.algo} networks: "
                    f"{first_line(exc)}"
                ) from exc
            try:
                _restore_rng(checkpoint["rng"])
            except (KeyError, RuntimeError, ValueError, TypeError) as exc:
                raise UserInputError(f"{run.checkpoint}: random-number states of another structure") from exc
            run.keep_metrics_before(start)
        best = checkpoint.get("best") if checkpoint else None
        for episode in range(start, config.episodes):
            if episode > start:
                episode_env = config.training_env(episode)
                if episode_env != env.config:  # domain randomization: this episode's perturbations
                    env.close()
                    env = TrafficSignalEnv(episode_env)
                obs, _ = env.reset(seed=config.training_seed(episode))
            began = time.perf_counter()
            record = {
                "episode": episode,
                **run_training_episode(env, learner, spec, obs, config.reward_scale),
                **{f"domain/{name}": level for name, level in config.domain_levels(episode).items()},
            }
            policy = _policy(config, learner)  # validated and checkpointed: one copy of the weights
            if config.validation_episodes:
                delay = record["validation_delay"] = validation_delay(config, policy)
                if best is None or delay < best["validation_delay"]:
                    best = {"episode": episode, "validation_delay": delay, "policy": policy}
            record["wall_s"] = time.perf_counter() - began
            run.append_metrics(record)
            stopping = _patience_spent(config, best, episode)
            if (episode + 1) % config.checkpoint_every == 0 or episode + 1 == config.episodes or stopping:
                run.save_checkpoint(_checkpoint(config, learner, policy, episode + 1, best))
            if on_episode is not None:
                on_episode(record)
            if stopping:
                break
    finally:
        env.close()

    policy = best["policy"] if best is not None else _policy(config, learner)
    save_policy(run, policy)
    evaluation = None
    if config.eval_episodes:
        evaluation = final_evaluation(config, controller_from_record(policy, name=config.algo), run)
        run.save_evaluation(evaluation)
    return TrainResult(run.path, run.read_metrics(), evaluation)


def _policy(config: TrainConfig, learner: Learner) -> dict[str, Any]:
    outputs = get_algorithm(config.algo).outputs
    return policy_record(
        config.algo,
        config.env.network,
        outputs,
        learner.policy_net,
        config.algo_config.hidden,
        sensing=config.env.sensing(),
    )


def validation_delay(config: TrainConfig, policy: dict[str, Any]) -> float:
    """Mean delay of ``policy`` acting greedily on the run's validation seeds."""
    controller = controller_from_record(policy, name=config.algo)
    return evaluate(controller, config.env, validation_seeds(config.validation_episodes))["mean"][
        "mean_delay"
    ]


def _patience_spent(config: TrainConfig, best: dict[str, Any] | None, episode: int) -> bool:
    """True when ``config.patience`` validations in a row found no better policy than ``best``."""
    return config.patience is not None and best is not None and episode - best["episode"] >= config.patience


def _checkpoint(
    config: TrainConfig,
    learner: Learner,
    policy: dict[str, Any],
    episodes_done: int,
    best: dict[str, Any] | None,
) -> dict[str, Any]:
    return {
        "episode": episodes_done,
        "best": best,
        "network": config.env.network,
        "algo": config.algo,
        "reg": config.reg,
        "learner": learner.state_dict(),
        "policy": policy,
        "rng": _rng_states(),
    }


def final_evaluation(config: TrainConfig, learned: Any, run: RunDirectory) -> dict[str, Any]:
    """The learner and each baseline on the same evaluation seeds of the training network."""
    seeds = evaluation_seeds(config.eval_episodes)
    env_config = config.env
    results = {"learned": evaluate(learned, env_config, seeds)}
    for name in config.baselines:
        baseline = classical_controller(name, env_config.network, env_config.route_files, run.path)
        results[name] = evaluate(baseline, env_config, seeds)
    return results
