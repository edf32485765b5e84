"""The training loop of the particle, mean-field and drone runs: run dir, checkpoints, resume, seeds.

The run directory is the traffic side's :class:`RunDirectory`: ``config.yaml`` (the complete
config), ``checkpoint.pt`` (learner, replay buffer, random-number states and the episode counter,
written atomically), ``metrics.jsonl`` (one line per checkpoint) and, after ``evaluate``,
``evaluation.json``. ``resume=True`` continues from the checkpoint and ends exactly where
an uninterrupted run would have ended.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ernie_traffic.algorithms import ContinuousLearner, ContinuousTransition, build_continuous_learner
from ernie_traffic.algorithms.replay import ReplayBuffer
from ernie_traffic.errors import UserInputError
from ernie_traffic.lab.config import LabRunConfig
from ernie_traffic.lab.envs import agent_dims, env_dims, make_lab_env
from ernie_traffic.runs import RunDirectory
from ernie_traffic.utils.config_files import load_config, save_config
from ernie_traffic.utils.progress import episode_progress


def replay_state(saved: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint's replay buffer state; checkpoints written before both families shared one
    buffer held per-agent lists of each field and a ``cursor``."""
    if "storage" in saved:
        return saved
    storage = {f"{name}/{i}": t for name in ("obs", "actions", "next_obs") for i, t in enumerate(saved[name])}
    storage |= {"rewards": saved["rewards"], "done": saved["done"]}
    return {"storage": storage, "size": len(saved["done"]), "position": saved["cursor"]}


def load_learner(run_dir: str | Path) -> tuple[LabRunConfig, ContinuousLearner]:
    """The config and the trained learner of a run directory (for evaluation)."""
    run = RunDirectory(run_dir)
    if not run.checkpoint.is_file():
        raise UserInputError(f"{run.path}: no {run.checkpoint.name}; train this run first")
    config = load_config(LabRunConfig, run.config)
    learner = build_continuous_learner(config.algorithm_config(), *agent_dims(config.env))
    learner.load_state_dict(run.load_checkpoint(required=("learner",))["learner"])
    return config, learner


def train(
    config: LabRunConfig | None, run_dir: str | Path, resume: bool = False, quiet: bool = False
) -> ContinuousLearner:
    """Train ``config`` into ``run_dir``, or resume the run there (its own config; pass ``None``)."""
    run = RunDirectory(run_dir)
    run.begin(resume)
    if resume:
        config = load_config(LabRunConfig, run.config)
    elif config is None:
        raise ValueError("a new run needs a config")
    save_config(config, run.config)

    torch.manual_seed(config.seed)
    random.seed(config.seed)
    rng = np.random.default_rng(config.seed)
    env = make_lab_env(config.env, noise_seed=config.seed)
    agents = list(env.possible_agents)
    learner = build_continuous_learner(config.algorithm_config(), *env_dims(env))
    buffer = ReplayBuffer(ContinuousTransition, capacity=config.buffer_size)
    start = 0
    if resume:
        state = run.load_checkpoint(required=("learner", "buffer", "numpy_rng", "torch_rng", "episode"))
        learner.load_state_dict(state["learner"])
        buffer.load_state_dict(replay_state(state["buffer"]))
        rng.bit_generator.state = state["numpy_rng"]
        torch.set_rng_state(state["torch_rng"])
        start = state["episode"]

    recent: list[float] = []
    description = f"{config.family}/{config.learner}"
    with episode_progress(description, config.episodes, start, quiet, "return {return:.1f}") as on_episode:
        for episode in range(start, config.episodes):
            explore_randomly = episode < config.warmup_episodes
            observations, _ = env.reset(seed=config.seed * 1_000_003 + episode)
            total = 0.0
            while env.agents:
                obs = [observations[a] for a in agents]
                if explore_randomly:
                    actions = [
                        rng.uniform(0, 1, env.action_space(a).shape).astype(np.float32) for a in agents
                    ]
                else:
                    actions = learner.act(obs, explore=True, rng=rng)
                observations, rewards, terminations, _, _ = env.step(dict(zip(agents, actions, strict=True)))
                next_obs = [observations[a] for a in agents]
                reward = np.array([rewards[a] for a in agents])
                buffer.add(
                    ContinuousTransition(obs, actions, reward, next_obs, float(any(terminations.values())))
                )
                total += float(np.mean(reward))
            recent.append(total)
            logs: dict[str, float] = {}
            if not explore_randomly and buffer.size >= config.algorithm["batch_size"]:
                for _ in range(config.updates_per_episode):
                    logs = learner.update(buffer.sample(config.algorithm["batch_size"], rng))
            done = episode + 1
            on_episode({"return": float(np.mean(recent[-50:]))})
            if done % config.checkpoint_every == 0 or done == config.episodes:
                run.append_metrics({"episode": done, "mean_return": float(np.mean(recent)), **logs})
                recent = []
                run.save_checkpoint(
                    {
                        "learner": learner.state_dict(),
                        "buffer": buffer.state_dict(),
                        "numpy_rng": rng.bit_generator.state,
                        "torch_rng": torch.get_rng_state(),
                        "episode": done,
                    },
                )
    env.close()
    return learner
