"""QCOMBO and COMA updates on synthetic transitions: regularizers reach the optimizer, state
round-trips, heterogeneous action counts are respected."""

from __future__ import annotations

import copy

import pytest
import torch

from ernie_traffic.algorithms.base import Transition
from ernie_traffic.algorithms.coma import COMA, COMAConfig
from ernie_traffic.algorithms.qcombo import QCOMBO, QCOMBOConfig
from ernie_traffic.algorithms.regularization import RegularizerSettings
from ernie_traffic.errors import UserInputError
from ernie_traffic.models.networks import MultiAgentSpec

# three intersections, one with fewer phases and a shorter observation (like cologne3)
SPEC = MultiAgentSpec(("a", "b", "c"), (6, 6, 4), (4, 4, 2), state_dim=9)
QCOMBO_CONFIG = QCOMBOConfig(hidden=[32, 32], batch_size=16, learning_starts=0)
COMA_CONFIG = COMAConfig(hidden=[32, 32], rollout_steps=8, minibatch_size=4, critic_epochs=1)


def transitions(count: int, seed: int = 0) -> list[Transition]:
    g = torch.Generator().manual_seed(seed)
    mask = SPEC.action_mask()
    out = []
    for _ in range(count):
        actions = torch.stack([torch.randint(n, (), generator=g) for n in SPEC.n_actions])
        out.append(
            Transition(
                obs=torch.rand(3, 6, generator=g) * (torch.arange(6) < torch.tensor(SPEC.obs_dims)[:, None]),
                state=torch.rand(9, generator=g),
                mask=mask,
                actions=actions,
                rewards=-torch.rand(3, generator=g),
                next_obs=torch.rand(3, 6, generator=g),
                next_state=torch.rand(9, generator=g),
                next_mask=mask,
                terminal=0.0,
            )
        )
    return out


def qcombo_with(reg: str, mode: str = "stackelberg") -> QCOMBO:
    learner = QCOMBO(
        SPEC, QCOMBO_CONFIG, reg=reg, reg_settings=RegularizerSettings(mode=mode, epsilon=0.2), seed=3
    )
    for t in transitions(32):
        learner.replay.add(t)
    return learner


def gradients_of_update(learner: QCOMBO) -> torch.Tensor:
    batch = learner.replay.sample(16, torch.Generator().manual_seed(7))
    torch.manual_seed(11)  # same random start of the attack in every variant
    learner.update(batch)
    # update() leaves the gradients the optimizer stepped with in .grad
    return torch.cat([p.grad.flatten() for p in learner.policy_net.parameters()])


def test_stackelberg_regularizer_changes_the_gradients_the_optimizer_uses():
    none = gradients_of_update(qcombo_with("none"))
    plain = gradients_of_update(qcombo_with("ernie", "plain"))
    stackelberg = gradients_of_update(qcombo_with("ernie", "stackelberg"))
    assert not torch.allclose(none, plain)
    assert not torch.allclose(plain, stackelberg, atol=1e-7)


@pytest.mark.parametrize("reg", ["ernie", "ernie-a", "gaussian"])
def test_qcombo_regularizers_report_a_positive_value(reg):
    learner = qcombo_with(reg)
    stats = learner.update(learner.replay.sample(16, learner.generator))
    assert stats["regularizer"] > 0
    assert set(stats) >= {"local_td", "global_td", "consistency", "total"}


def test_qcombo_never_picks_an_action_an_intersection_does_not_have():
    learner = QCOMBO(SPEC, QCOMBO_CONFIG, seed=0)
    obs, mask = torch.rand(3, 6), SPEC.action_mask()
    for _ in range(50):
        actions = learner.act(obs, mask, explore=True)
        assert actions[2] < 2 and (actions < 4).all()


def test_qcombo_target_networks_move_only_by_polyak_averaging():
    learner = qcombo_with("none")
    before = copy.deepcopy(learner.policy_target.state_dict())
    online_before = copy.deepcopy(learner.policy_net.state_dict())
    learner.update(learner.replay.sample(16, learner.generator))
    tau = QCOMBO_CONFIG.target_tau
    for name, old in before.items():
        if old.is_floating_point():
            expected = (1 - tau) * old + tau * learner.policy_net.state_dict()[name]
            assert torch.allclose(learner.policy_target.state_dict()[name], expected, atol=1e-6)
    assert any(not torch.equal(online_before[k], v) for k, v in learner.policy_net.state_dict().items())


@pytest.mark.parametrize("learner_class, config", [(QCOMBO, QCOMBO_CONFIG), (COMA, COMA_CONFIG)])
def test_state_dict_round_trip_continues_identically(learner_class, config):
    data = transitions(24)
    ramp = RegularizerSettings(epsilon_ramp=40)  # the ramp's position must round-trip too
    first = learner_class(SPEC, config, reg="ernie", reg_settings=ramp, seed=1)
    for t in data[:12]:
        first.observe(t)
    second = learner_class(SPEC, config, reg="ernie", reg_settings=ramp, seed=99)
    second.load_state_dict(copy.deepcopy(first.state_dict()))
    torch_state = torch.get_rng_state()
    for t in data[12:]:
        first.observe(t)
    torch.set_rng_state(torch_state)
    for t in data[12:]:
        second.observe(t)
    for p, q in zip(first.policy_net.parameters(), second.policy_net.parameters(), strict=True):
        assert torch.equal(p, q)


def test_epsilon_ramp_grows_the_attack_from_zero_to_the_full_ball():
    def regularizer_values(ramp: int) -> list[float]:
        settings = RegularizerSettings(epsilon_ramp=ramp)
        learner = QCOMBO(SPEC, QCOMBO_CONFIG, reg="ernie", reg_settings=settings, seed=3)
        values = []
        for t in transitions(20):
            torch.manual_seed(11)  # same random start of the attack in both learners
            values.append(learner.observe(t).get("regularizer"))
        return values

    full, ramped = regularizer_values(0), regularizer_values(4)
    assert ramped[0] < 0.2 * full[0]  # a quarter of ε: about a sixteenth of the squared change
    assert ramped[1] < ramped[2] < ramped[3]
    assert ramped[4:] != full[4:]  # the networks differ after the ramped updates...
    assert ramped[4] > 0.5 * full[4]  # ...but the ball is full again


@pytest.mark.parametrize("reg", ["none", "ernie", "ernie-a"])
def test_coma_updates_actor_and_critic(reg):
    learner = COMA(SPEC, COMA_CONFIG, reg=reg, seed=0)
    actor_before = [p.clone() for p in learner.policy_net.parameters()]
    stats = {}
    for t in transitions(8):
        stats = learner.observe(t) or stats
    assert {"critic", "actor", "entropy"} <= set(stats)
    assert (stats.get("regularizer", 0.0) > 0) == (reg != "none")
    assert any(
        not torch.equal(a, b) for a, b in zip(actor_before, learner.policy_net.parameters(), strict=True)
    )


@pytest.mark.parametrize(("target_kl", "steps"), [(None, 5), (1e-9, 1), (1e3, 5)])
def test_coma_actor_steps_end_once_the_policy_drifts_past_target_kl(target_kl, steps):
    config = COMA_CONFIG.model_copy(update={"actor_epochs": 5, "target_kl": target_kl})
    learner = COMA(SPEC, config, seed=0)
    stats = {}
    for t in transitions(8):
        stats = learner.observe(t) or stats
    # the first step starts at the collecting policy (no drift); every later one has moved away
    assert stats["actor_steps"] == steps
    assert stats["policy_drift"] > 0


def test_linf_stackelberg_is_a_one_line_user_error():
    with pytest.raises(UserInputError, match="regularizer"):
        QCOMBO(
            SPEC,
            QCOMBO_CONFIG,
            reg="ernie",
            reg_settings=RegularizerSettings(norm="linf", mode="stackelberg"),
        )
