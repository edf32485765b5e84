"""Stress cells of a learned controller: malicious agents, observation attacks, Lipschitz constants."""

from __future__ import annotations

import numpy as np
import torch
from stress_helpers import tiny_sweep

from ernie_traffic.envs.traffic import TrafficSignalEnv
from ernie_traffic.stress import Family, StressPlan, Sweep, expand_cells, run_sweep
from ernie_traffic.stress.cells import StressedLearnedController, build_controller, env_config_for
from ernie_traffic.stress.report import write_report


def test_malicious_agents_take_lowest_q_actions_at_the_configured_rate(untrained_run, tmp_path):
    plan = StressPlan(
        seeds=[3],
        horizon=1800,
        families=[Family(name="malicious", perturbation="malicious_agents", levels=[1.0])],
    )
    (cell,) = [c for c in expand_cells(Sweep(network="grid2x2", controllers=[str(untrained_run)], plan=plan))
               if c["family"] == "malicious"]  # fmt: skip
    assert cell["adversary"] == "min_q"
    controller = StressedLearnedController(
        build_controller(cell["controller"], "grid2x2", tmp_path), min_q_adversary=True
    )
    env = TrafficSignalEnv(env_config_for(cell, tmp_path))
    chosen: list[tuple[str, np.ndarray, int]] = []
    try:
        observations, _ = env.reset(seed=cell["seed"])
        controller.reset(env)
        adversary = env.adversary

        def recording(agent, obs, actions):
            action = adversary(agent, obs, actions)
            chosen.append((agent, obs[agent].copy(), action))
            return action

        env.set_adversary(recording)
        steps = replaced = 0
        while env.agents:
            observations, _, _, _, infos = env.step(controller.act(observations))
            steps += 1
            replaced += any(info["action_replaced"] for info in infos.values())
        mask = np.asarray(env.action_mask)
    finally:
        env.close()

    fraction = 0.2  # malicious_agents at level 1.0
    assert steps == 360
    assert abs(replaced / steps - fraction) <= 3 * np.sqrt(fraction * (1 - fraction) / steps)
    assert len(chosen) == replaced
    for agent, obs, action in chosen:
        valid = mask[controller.inner.spec.agents.index(agent)]
        with torch.no_grad():
            q = controller.modules[agent](torch.as_tensor(obs)[None])[0].numpy()[: len(valid)]
        assert valid[action] and q[action] == q[valid].min()


def test_learned_controller_sweep_reports_attack_and_lipschitz(untrained_run, tmp_path):
    plan = StressPlan(
        seeds=[0],
        horizon=300,
        # An untrained network's Q-value gaps dwarf its Lipschitz constant (~0.08): only a wide ball
        # flips its actions.
        families=[Family(name="attack", perturbation="observation_attack", levels=[3.0], nominal=0)],
    )
    sweep = tiny_sweep(controllers=["fixed-time", str(untrained_run)], plan=plan)
    records = {(r["controller"], r["family"]): r for r in run_sweep(sweep, tmp_path, workers=2)}
    assert ("fixed-time", "attack") not in records  # a gradient attack needs a learned policy
    assert all(r["status"] == "ok" for r in records.values())
    baseline = records[(str(untrained_run), "baseline")]["metrics"]
    attacked = records[(str(untrained_run), "attack")]["metrics"]
    assert attacked["mean_delay"] != baseline["mean_delay"]  # the attack changed decisions
    lipschitz = baseline["lipschitz"]
    assert lipschitz > 0
    assert "lipschitz" not in records[("fixed-time", "baseline")]["metrics"]
    html_path, _ = write_report(tmp_path)
    assert f"{lipschitz:.4f} ± 0.0000" in html_path.read_text()
