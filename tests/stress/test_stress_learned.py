"""Stress cells of a learned controller: malicious agents, observation attacks, Lipschitz constants."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from stress_helpers import tiny_sweep

from ernie_traffic.controllers.resolve import resolve_controller
from ernie_traffic.envs.traffic import TrafficEnvConfig, TrafficSignalEnv
from ernie_traffic.errors import UserInputError
from ernie_traffic.stress import Family, StressPlan, Sweep, expand_cells, run_sweep, validate_sweep
from ernie_traffic.stress.adversaries import load_global_q
from ernie_traffic.stress.cells import (
    StressedLearnedController,
    env_config_for,
    with_min_q_adversary,
)
from ernie_traffic.stress.report import write_report


def malicious_episode(run, horizon, tmp_path):
    """One episode of ``run``'s controller with malicious agents at every fifth decision (level 1.0),
    driven as a stress cell drives it; returns (controller, decision steps, decisions replaced, mask,
    every adversarial choice as (agent, observation, state, requested joint action, chosen action))."""
    plan = StressPlan(
        seeds=[3],
        horizon=horizon,
        families=[Family(name="malicious", perturbation="malicious_agents", levels=[1.0])],
    )
    (cell,) = [c for c in expand_cells(Sweep(network="grid2x2", controllers=[str(run)], plan=plan))
               if c.family == "malicious"]  # fmt: skip
    assert cell.adversary == "min_q"
    controller = StressedLearnedController(resolve_controller(cell.controller, "grid2x2", work_dir=tmp_path))
    env = TrafficSignalEnv(env_config_for(cell, tmp_path))
    chosen = []
    try:
        observations, _ = env.reset(seed=cell.seed)
        with_min_q_adversary(controller, str(run)).reset(env)
        adversary = env.adversary

        def recording(agent, obs, actions):
            action = adversary(agent, obs, actions)
            chosen.append((agent, obs[agent].copy(), env.state(), dict(actions), action))
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
    return controller, steps, replaced, mask, chosen


def test_malicious_agents_minimise_the_global_q_at_the_configured_rate(qcombo_run, tmp_path):
    controller, steps, replaced, mask, chosen = malicious_episode(qcombo_run, 1800, tmp_path)
    fraction = 0.2  # malicious_agents at level 1.0
    assert steps == 360
    assert abs(replaced / steps - fraction) <= 3 * np.sqrt(fraction * (1 - fraction) / steps)
    assert len(chosen) == replaced

    global_q = load_global_q(qcombo_run)  # the run's checkpoint: ERNIE-A's global Q(s, a)
    agents = controller.agents
    differs_from_local = 0
    for agent, obs, state, actions, action in chosen:
        index = agents.index(agent)
        valid = np.flatnonzero(mask[index])
        joint = torch.tensor([[actions[a] for a in agents]] * len(valid))
        joint[:, index] = torch.as_tensor(valid)
        with torch.no_grad():
            q = global_q(torch.as_tensor(state).expand(len(valid), -1), joint).numpy()
        assert action in valid
        assert q[list(valid).index(action)] == pytest.approx(q.min(), abs=1e-6)
        local = controller.scores(agent, obs)[valid]
        differs_from_local += valid[local.argmin()] != action
    # Not the old approximation (the agent's own lowest local Q): the global Q disagrees with it.
    assert differs_from_local > 0


@pytest.mark.parametrize("run", ["untrained_run", "coma_run"])
def test_without_a_global_q_malicious_agents_take_their_lowest_score(run, request, tmp_path):
    """A bare policy.pt (lowest local Q) and a COMA run (least likely action) hold no global Q."""
    run_dir = request.getfixturevalue(run)
    assert load_global_q(run_dir) is None
    controller, _, replaced, mask, chosen = malicious_episode(run_dir, 300, tmp_path)
    assert len(chosen) == replaced > 0
    for agent, obs, _, _, action in chosen:
        valid = mask[controller.agents.index(agent)]
        scores = controller.scores(agent, obs)[: len(valid)]
        assert valid[action] and scores[action] == scores[valid].min()


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


def test_unreadable_checkpoint_is_rejected_before_a_malicious_agent_sweep(qcombo_run, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "policy.pt").write_bytes((qcombo_run / "policy.pt").read_bytes())
    checkpoint = (qcombo_run / "checkpoint.pt").read_bytes()
    (run / "checkpoint.pt").write_bytes(checkpoint[: len(checkpoint) // 2])  # a copy cut short
    malicious = Family(name="malicious", perturbation="malicious_agents", levels=[0.5])
    plan = StressPlan(seeds=[0], families=[malicious])
    with pytest.raises(UserInputError) as excinfo:
        validate_sweep(Sweep(network="grid2x2", controllers=[str(run)], plan=plan))
    (line,) = str(excinfo.value).splitlines()
    assert line.startswith(f"{run / 'checkpoint.pt'}: cannot read checkpoint")
    speed = Family(name="speed", perturbation="speed_factor", levels=[0.5])
    validate_sweep(
        Sweep(network="grid2x2", controllers=[str(run)], plan=plan.model_copy(update={"families": [speed]}))
    )


def test_batched_attack_moves_each_intersection_as_its_own_attack_would(untrained_run, tmp_path):
    """The stress cell attacks all intersections in one PGD over the shared network's rows. From the same
    random starts, each intersection's perturbation equals the attack on its own policy module alone
    (the per-intersection attack the stress test ran before), and stays in its ℓ∞ ball."""
    from ernie_traffic.core.ball import Ball
    from ernie_traffic.core.divergence import squared_l2
    from ernie_traffic.core.pgd import ascend

    epsilon, steps = 0.05, 10
    controller = StressedLearnedController(
        resolve_controller(str(untrained_run), "grid2x2", work_dir=tmp_path), attack_epsilon=epsilon
    )
    env = TrafficSignalEnv(TrafficEnvConfig(network="grid2x2", episode_seconds=300))
    try:
        observations, _ = env.reset(seed=0)
        controller.reset(env)
        for _ in range(12):  # queues build up: observations away from the empty network's zeros
            observations, *_ = env.step(controller.inner.act(observations))
    finally:
        env.close()

    torch.manual_seed(5)
    attacked = controller.attacked(observations)

    # The same starts, drawn as the batched attack draws them: one per row of the shared network.
    spec = controller.inner.spec
    padded = torch.zeros(1, spec.n_agents, spec.max_obs)
    for i, agent in enumerate(spec.agents):
        padded[0, i, : spec.obs_dims[i]] = torch.as_tensor(observations[agent])
    rows = spec.agent_rows(padded)
    torch.manual_seed(5)
    starts = Ball.around(rows, epsilon, "linf", perturb_mask=spec.perturb_mask(1)).random_start(rows, 1.0)
    for i, agent in enumerate(spec.agents):
        module, obs = controller.modules[agent], torch.as_tensor(observations[agent])[None]
        ball = Ball.around(obs, epsilon, "linf")
        with torch.no_grad():
            clean = module(obs)

        def damage(u, module=module, obs=obs, ball=ball, clean=clean):
            return squared_l2(module(obs + ball.to_input(u)), clean, 1)

        start = starts[i : i + 1, : spec.obs_dims[i]]
        first, second = (
            ascend(damage, ball, signed, steps, 2.5 * epsilon / steps, keep_best=True)
            for signed in (start, -start)
        )
        alone = first.best_u if first.best_score >= second.best_score else second.best_u
        moved = attacked[agent] - observations[agent]
        assert np.abs(moved).max() <= epsilon + 1e-6
        with torch.no_grad():
            assert float(damage(torch.as_tensor(moved)[None])) > 0
        np.testing.assert_allclose(attacked[agent], (obs + alone)[0].numpy(), rtol=0, atol=1e-6)
