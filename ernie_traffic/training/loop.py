"""The training loop: episodes of the traffic environment feeding a learner, with checkpoints,
metrics, resume and the final evaluation against classical controllers.

Resume reproduces an uninterrupted run exactly: a checkpoint (written at episode boundaries)
holds the learner's full state — networks, optimizers, replay buffer, its random generator —
together with torch/numpy/Python RNG states, and every episode's SUMO seed is a function of the
run seed and the episode index.

With ``rollout_workers`` N > 1 (off-policy learners only) training runs in rounds of N episodes
played by worker processes (:mod:`ernie_traffic.training.rollouts`); how ε, learning, validation,
patience and checkpoints fall in a round is docs/training.md's "Rollout workers".
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ernie_traffic.algorithms import DiscreteLearner, build_discrete_learner, get_algorithm
from ernie_traffic.controllers.classical import classical_controller
from ernie_traffic.controllers.learned import controller_from_record, policy_record, save_policy
from ernie_traffic.envs.traffic import TrafficSignalEnv
from ernie_traffic.errors import UserInputError, first_line
from ernie_traffic.evaluation import evaluate, evaluation_seeds, validation_seeds
from ernie_traffic.models.networks import MultiAgentSpec
from ernie_traffic.runs import RunDirectory
from ernie_traffic.training.calibration import with_network_radius
from ernie_traffic.training.config import TrainConfig
from ernie_traffic.training.episodes import EpisodeLosses, run_training_episode
from ernie_traffic.training.rollouts import RolloutPool, explore_episode
from ernie_traffic.utils.config_files import save_config
from ernie_traffic.utils.processes import sigterm_as_interrupt
from ernie_traffic.utils.progress import EpisodeCallback


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
    for field, wanted in (("network", config.env.network), ("algo", config.algo)):
        if (saved := checkpoint[field]) != wanted:
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
    if config.rollout_workers > 1 and get_algorithm(config.algo).explorer is None:
        raise UserInputError(
            f"rollout_workers {config.rollout_workers} (--rollout-workers): {config.algo} learns on-policy, "
            "from episodes of its current policy; rollout workers act with a snapshot taken at each "
            "round's start and serve off-policy learners (qcombo) only: use 1"
        )
    run = RunDirectory(run_dir or config.out_dir / config.run_name())
    run.begin(resume)
    checkpoint = load_training_checkpoint(run) if resume else None
    if checkpoint is not None:
        _check_resumable(config, checkpoint, run)
    # after the cheap checks: a new run simulates an episode for it
    config = with_network_radius(config, run.config if resume else None)
    save_config(config, run.config)

    start = checkpoint["episode"] if checkpoint else 0
    env = TrafficSignalEnv(config.training_env(start))
    try:
        obs, _ = env.reset(seed=config.training_seed(start))
        spec = spec_from_env(env)
        learner = build_discrete_learner(
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
        if config.rollout_workers == 1:
            best = _train_sequentially(config, run, env, obs, spec, learner, start, best, on_episode)
        else:
            env.close()  # the workers play the episodes
            best = _train_in_rounds(config, run, spec, learner, start, env.n_decisions, best, on_episode)
    finally:
        env.close()

    policy = best["policy"] if best is not None else _policy(config, learner)
    save_policy(run, policy)
    evaluation = None
    if config.eval_episodes:
        evaluation = final_evaluation(config, controller_from_record(policy, name=config.algo), run)
        run.save_evaluation(evaluation)
    return TrainResult(run.path, run.read_metrics(), evaluation)


def _train_sequentially(
    config: TrainConfig,
    run: RunDirectory,
    env: TrafficSignalEnv,
    obs: dict,
    spec: MultiAgentSpec,
    learner: DiscreteLearner,
    start: int,
    best: dict[str, Any] | None,
    on_episode: EpisodeCallback | None,
) -> dict[str, Any] | None:
    """Episodes ``start``… in this process, the learner acting in each; ``env`` is reset for
    episode ``start`` with ``obs`` its observations. Returns the best validated policy's record."""
    try:
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
            delay = validation_delay(config, policy) if config.validation_episodes else None
            best = _log_episode(run, record, policy, delay, time.perf_counter() - began, best)
            stopping = _patience_spent(config, best, episode)
            if (episode + 1) % config.checkpoint_every == 0 or episode + 1 == config.episodes or stopping:
                run.save_checkpoint(_checkpoint(config, learner, policy, episode + 1, best))
            if on_episode is not None:
                on_episode(record)
            if stopping:
                break
    finally:
        env.close()
    return best


def _train_in_rounds(
    config: TrainConfig,
    run: RunDirectory,
    spec: MultiAgentSpec,
    learner: DiscreteLearner,
    start: int,
    steps_per_episode: int,
    best: dict[str, Any] | None,
    on_episode: EpisodeCallback | None,
) -> dict[str, Any] | None:
    """Episodes ``start``… in rounds played by ``config.rollout_workers`` worker processes (see
    the module docstring). Returns the best validated policy's record."""
    workers = config.rollout_workers

    def play_round(pool: RolloutPool, first: int) -> tuple[range, list[int]]:
        episodes = range(first, min(first + workers, config.episodes))
        policy_state = learner.policy_net.state_dict()  # pickled at submission: a snapshot
        # an off-policy learner counts the steps it has observed; its ε schedule follows them
        first_step = learner.steps
        jobs = [
            pool.submit(
                explore_episode,
                config.algo,
                spec,
                config.algo_config,
                policy_state,
                first_step + k * steps_per_episode,
                config.exploration_seed(episode),
                config.training_env(episode),
                config.training_seed(episode),
                config.reward_scale,
            )
            for k, episode in enumerate(episodes)
        ]
        return episodes, jobs

    with sigterm_as_interrupt(), RolloutPool(workers) as pool:
        episodes, jobs = play_round(pool, start)
        began = time.perf_counter()
        while episodes:
            records, policies = [], []
            for episode, job in zip(episodes, jobs, strict=True):
                rollout = pool.result(job)
                losses = EpisodeLosses(learner)
                for transition in rollout.transitions():
                    losses.observe(transition)
                domain = config.domain_levels(episode)
                records.append(
                    {
                        "episode": episode,
                        **rollout.record,
                        **losses.end_episode(),
                        **{f"domain/{name}": level for name, level in domain.items()},
                    }
                )
                policies.append(_policy(config, learner))
            # validations first: the workers take them before the next round's episodes
            validations = [
                pool.submit(validation_delay, config, p) for p in policies if config.validation_episodes
            ]
            next_episodes, next_jobs = play_round(pool, episodes.stop)
            delays = [pool.result(job) for job in validations] or [None] * len(policies)
            wall_s = (time.perf_counter() - began) / len(episodes)  # the round's, shared by its episodes
            for record, policy, delay in zip(records, policies, delays, strict=True):
                best = _log_episode(run, record, policy, delay, wall_s, best)
            stopping = _patience_spent(config, best, episodes[-1])
            checkpoint_due = any((e + 1) % config.checkpoint_every == 0 for e in episodes)
            if checkpoint_due or episodes.stop == config.episodes or stopping:
                run.save_checkpoint(_checkpoint(config, learner, policies[-1], episodes.stop, best))
            if on_episode is not None:
                for record in records:
                    on_episode(record)
            if stopping:
                break  # the next round's episodes, already running, are abandoned
            episodes, jobs, began = next_episodes, next_jobs, time.perf_counter()
    return best


def _log_episode(
    run: RunDirectory,
    record: dict[str, Any],
    policy: dict[str, Any],
    delay: float | None,
    wall_s: float,
    best: dict[str, Any] | None,
) -> dict[str, Any] | None:
    """Append an episode's record, with the validation ``delay`` of its policy (None: not
    validated) and its wall time, to the run's metrics; returns the best validated policy so far."""
    if delay is not None:
        record["validation_delay"] = delay
        if best is None or delay < best["validation_delay"]:
            best = {"episode": record["episode"], "validation_delay": delay, "policy": policy}
    record["wall_s"] = wall_s
    run.append_metrics(record)
    return best


def _policy(config: TrainConfig, learner: DiscreteLearner) -> dict[str, Any]:
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
    seeds = validation_seeds(config.validation_episodes)
    return evaluate(controller, config.env, seeds)["mean"]["mean_delay"]


def _patience_spent(config: TrainConfig, best: dict[str, Any] | None, episode: int) -> bool:
    """True when ``config.patience`` validations in a row found no better policy than ``best``."""
    return config.patience is not None and best is not None and episode - best["episode"] >= config.patience


def _checkpoint(
    config: TrainConfig,
    learner: DiscreteLearner,
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
