"""The PGD maximiser: beats random perturbations, stays in its ball, respects scales and masks,
matches closed forms on linear maps."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from ernie_traffic.core import (
    ContinuousActionRegularizer,
    ObservationRegularizer,
    RegularizerConfig,
    empirical_lipschitz,
    observation_attack,
)
from ernie_traffic.core.ball import Ball
from ernie_traffic.core.divergence import kl, squared_l2
from ernie_traffic.core.pgd import ascend
from ernie_traffic.errors import UserInputError

RANDOM_PERTURBATIONS = 1000


class _FlatMLP(nn.Module):
    def __init__(self, features: int, seed: int) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.body = nn.Sequential(nn.Linear(features, 16), nn.Tanh(), nn.Linear(16, 3)).double()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.flatten(1))


def problems(norm: str, max_epsilon: float = 0.5):
    return st.fixed_dictionaries(
        {
            "batch": st.integers(1, 4),
            "shape": st.lists(st.integers(1, 4), min_size=1, max_size=2),
            "norm": st.just(norm),
            "epsilon": st.floats(0.01, max_epsilon),
            "seed": st.integers(0, 10_000),
            "scaled": st.booleans(),
            "masked": st.booleans(),
        }
    )


def _setup(problem):
    torch.manual_seed(problem["seed"])
    shape = (problem["batch"], *problem["shape"])
    features = int(torch.tensor(problem["shape"]).prod())
    obs = torch.randn(shape, dtype=torch.float64)  # float32 rounding is ~1e-4 of the damage at ε ≈ 0.01
    scale = torch.rand(problem["shape"], dtype=torch.float64) + 0.5 if problem["scaled"] else None
    mask = torch.rand(problem["shape"]) > 0.3 if problem["masked"] else None
    if mask is not None:
        mask.view(-1)[0] = True  # at least one free feature
    model = _FlatMLP(features, problem["seed"])
    ball = Ball.around(obs, problem["epsilon"], problem["norm"], scale, mask)
    return model, obs, scale, mask, ball


def _check_attack(problem, random_points: torch.Tensor, **attack_options) -> None:
    """The attack stays in the ball, leaves frozen features alone and is at least as damaging as the
    most damaging of ``random_points`` (feature-scaled, [count, *obs.shape]), up to 0.1%: near-equal top
    singular values of the local Jacobian make the ascent converge slowly between them (measured gap
    up to 1.4e-4 of the damage), while 1,000 samples of a 2–3 dimensional sphere get that close."""
    model, obs, scale, mask, ball = _setup(problem)
    attacked = observation_attack(
        model,
        obs,
        problem["epsilon"],
        problem["norm"],
        feature_scale=scale,
        perturb_mask=mask,
        **attack_options,
    )
    u = (attacked - obs) / ball.scale
    assert (ball.size(u) <= problem["epsilon"] * (1 + 1e-5)).all()
    if mask is not None:
        assert torch.equal(attacked[..., ~mask], obs[..., ~mask])
    with torch.no_grad():
        clean = model(obs)
        attack_damage = squared_l2(model(attacked), clean, 1)
        candidates = obs + random_points * ball.scale
        outputs = model(candidates.flatten(0, 1)).reshape(len(random_points), problem["batch"], -1)
        random_damage = (outputs - clean).square().sum(-1).amax(0)
    assert (attack_damage >= random_damage * (1 - 1e-3)).all()


@settings(max_examples=25, deadline=None, derandomize=True)
@given(problems("l2"))
def test_l2_attack_beats_random_perturbations_and_stays_in_the_ball(problem):
    _, obs, _, _, ball = _setup(problem)
    # Half uniform in the ball, half on its sphere (where random damage is largest).
    half = RANDOM_PERTURBATIONS // 2
    points = torch.cat([ball.sample_in_ball(obs, half), ball.sample_in_ball(obs, half, on_boundary=True)])
    _check_attack(problem, points, steps=50)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(problems("linf", max_epsilon=0.25))
def test_linf_attack_beats_random_perturbations_and_stays_in_the_ball(problem):
    """Uniform random points in the cube. Maximising over the cube's vertices is combinatorial: signed
    PGD ends at a local-maximum vertex, and in 2–4 dimensions a sample of random *vertices* can beat
    it (measured: 3 of 75 problems with 8 restarts), so vertices are not part of this check. And
    ε ≤ 0.25: at ε = 0.5 the tanh network's damage can peak inside the cube, where fixed-length signed
    steps cannot settle (random interior points then win by up to 10%)."""
    _, obs, _, _, ball = _setup(problem)
    points = ball.sample_in_ball(obs, RANDOM_PERTURBATIONS)
    _check_attack(problem, points, steps=20, restarts=16)


@settings(max_examples=30, deadline=None)
@given(st.one_of(problems("l2"), problems("linf")), st.integers(1, 6))
def test_every_ascent_iterate_stays_in_the_ball(problem, steps):
    model, obs, _, _, ball = _setup(problem)
    clean = model(obs).detach()

    def score(u):
        return squared_l2(model(obs + ball.to_input(u)), clean, 1)

    step_size = 3.0 * problem["epsilon"]  # large on purpose: the projection must catch every step
    result = ascend(score, ball, ball.random_start(obs, 0.5), steps, step_size)
    for u in [*result.points, result.u]:
        assert (ball.size(u) <= problem["epsilon"] * (1 + 1e-5)).all()
        assert torch.equal(u * (1 - ball.mask), torch.zeros_like(u))


def _linear(weight: torch.Tensor) -> nn.Module:
    layer = nn.Linear(weight.shape[1], weight.shape[0], bias=False).double()
    with torch.no_grad():
        layer.weight.copy_(weight)
    return layer


def _matrix_with_singular_values(values, rows: int, cols: int) -> torch.Tensor:
    torch.manual_seed(3)
    left, _ = torch.linalg.qr(torch.randn(rows, rows, dtype=torch.float64))
    right, _ = torch.linalg.qr(torch.randn(cols, cols, dtype=torch.float64))
    sigma = torch.zeros(rows, cols, dtype=torch.float64)
    sigma[range(len(values)), range(len(values))] = torch.tensor(values, dtype=torch.float64)
    return left @ sigma @ right.T


def test_linear_policy_l2_closed_form():
    """max_{‖δ‖₂≤ε} ‖Wδ‖² = (ε·σ_max(W))²; the Lipschitz estimate is σ_max(W)."""
    weight = _matrix_with_singular_values([3.0, 1.0, 0.5], 3, 6)
    policy = _linear(weight)
    obs = torch.randn(8, 6, dtype=torch.float64)
    epsilon = 0.2
    cfg = RegularizerConfig(epsilon=epsilon, steps=30, step_size=epsilon, norm="l2", divergence="l2")
    reg = ObservationRegularizer(cfg)
    reg(policy, obs)
    assert reg.last_value == pytest.approx((epsilon * 3.0) ** 2, rel=1e-6)
    estimate = empirical_lipschitz(policy, obs, epsilon=epsilon, steps=30, step_size=epsilon)
    assert estimate.mean == pytest.approx(3.0, rel=1e-6)
    assert estimate.max == pytest.approx(3.0, rel=1e-6)


def test_linear_policy_linf_closed_form():
    """A single output w·o: max_{‖δ‖∞≤ε} (w·δ)² = (ε‖w‖₁)², reached at δ = ε·sign(w)."""
    weight = torch.tensor([[0.5, -2.0, 1.0, 0.25]], dtype=torch.float64)
    obs = torch.randn(5, 4, dtype=torch.float64)
    reg = ObservationRegularizer(RegularizerConfig(epsilon=0.1, steps=2, norm="linf", divergence="l2"))
    reg(_linear(weight), obs)
    assert reg.last_value == pytest.approx((0.1 * 3.75) ** 2, rel=1e-9)


def test_feature_scale_and_mask_shape_the_ball():
    """With f(o) = Σo and an ℓ∞ ball, R = (ε·Σ scale over free features)²."""
    obs = torch.randn(4, 3, dtype=torch.float64)
    scale = torch.tensor([1.0, 10.0, 100.0], dtype=torch.float64)
    mask = torch.tensor([True, True, False])
    reg = ObservationRegularizer(RegularizerConfig(epsilon=0.1, steps=2, norm="linf"))
    reg(lambda o: o.sum(-1, keepdim=True), obs, feature_scale=scale, perturb_mask=mask)
    assert reg.last_value == pytest.approx((0.1 * 11.0) ** 2, rel=1e-9)
    reg(lambda o: o[:, 2:], obs, perturb_mask=mask)  # depends on the frozen feature only
    assert reg.last_value == 0.0


def test_per_agent_balls():
    """batch_dims=2 gives each [agent] row its own ball: R per row is (ε·σ)² for a row-wise linear map."""
    weight = _matrix_with_singular_values([2.0, 1.0], 2, 5)
    obs = torch.randn(3, 4, 5, dtype=torch.float64)
    reg = ObservationRegularizer(RegularizerConfig(epsilon=0.1, steps=30, step_size=0.1))
    reg(_linear(weight), obs, batch_dims=2)
    assert reg.last_value == pytest.approx((0.1 * 2.0) ** 2, rel=1e-6)


def test_continuous_action_regularizer_on_a_linear_critic():
    """Q(s, a) = w·a: max_{‖a'−a‖₂≤ε} (Q(s,a') − Q(s,a))² = (ε‖w‖₂)²."""
    w = torch.tensor([1.0, -2.0, 2.0], dtype=torch.float64)
    state = torch.randn(6, 2, dtype=torch.float64)
    actions = torch.randn(6, 3, dtype=torch.float64)
    cfg = RegularizerConfig(kind="continuous_action", epsilon=0.2, steps=10, step_size=0.2)
    reg = ContinuousActionRegularizer(cfg)
    reg(lambda s, a: a @ w + s.sum(-1), state, actions)
    assert reg.last_value == pytest.approx((0.2 * 3.0) ** 2, rel=1e-6)


def test_divergences_are_zero_at_no_perturbation_and_positive_otherwise():
    logits = torch.randn(4, 5)
    for divergence in ("kl", "symmetric_kl", "l2", "lp"):
        reg = ObservationRegularizer(RegularizerConfig(divergence=divergence, p=3.0, epsilon=0.5))
        reg(lambda o: o * 0 + logits, torch.randn(4, 5))
        assert reg.last_value == 0.0
        reg(lambda o: o, torch.randn(4, 5))
        assert reg.last_value > 0


def test_gaussian_baseline_has_the_ball_scale():
    obs = torch.zeros(4000, 10)
    ball = Ball.around(obs, 0.3, "l2")
    assert ball.size(ball.gaussian(obs)).square().mean().sqrt() == pytest.approx(0.3, rel=0.05)


def test_bad_shapes_are_user_errors():
    obs = torch.randn(4, 3)
    reg = ObservationRegularizer()
    with pytest.raises(UserInputError, match="feature_scale"):
        reg(lambda o: o, obs, feature_scale=torch.ones(5))
    with pytest.raises(UserInputError, match="inputs of shape"):
        reg(lambda o: o, torch.randn(4))


def test_kl_attack_on_policy_logits_beats_random_perturbations():
    torch.manual_seed(5)
    policy = nn.Sequential(nn.Linear(6, 32), nn.Tanh(), nn.Linear(32, 4)).double()
    obs = torch.randn(16, 6, dtype=torch.float64)
    attacked = observation_attack(policy, obs, epsilon=0.1, norm="l2", steps=30, divergence="kl")
    ball = Ball.around(obs, 0.1, "l2")
    with torch.no_grad():
        clean = policy(obs)
        attack_kl = kl(policy(attacked), clean, 1)
        points = ball.sample_in_ball(obs, RANDOM_PERTURBATIONS, on_boundary=True)
        random_kl = kl(policy(obs + points), clean.expand(RANDOM_PERTURBATIONS, -1, -1), 2).amax(0)
    assert (attack_kl >= random_kl * (1 - 1e-3)).all()


def test_continuous_action_stackelberg_fd_matches_exact_for_a_module_critic():
    class Critic(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(0)
            self.body = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 1))

        def forward(self, state, actions):
            return self.body(torch.cat([state, actions], dim=1))

    critic = Critic().double()
    state, actions = torch.randn(8, 2, dtype=torch.float64), torch.randn(8, 3, dtype=torch.float64)
    grads = {}
    for mode in ("stackelberg", "stackelberg-fd"):
        reg = ContinuousActionRegularizer(RegularizerConfig(kind="continuous_action", epsilon=0.2, mode=mode))
        critic.zero_grad()
        torch.manual_seed(1)
        reg(critic, state, actions).backward()  # fd finds the parameters of the nn.Module critic itself
        grads[mode] = torch.cat([p.grad.flatten() for p in critic.parameters()])
    error = (grads["stackelberg-fd"] - grads["stackelberg"]).norm() / grads["stackelberg"].norm()
    assert error < 2e-4


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_restarts_in_one_batch_equal_restarts_one_after_another(norm):
    """The attack runs its antithetic restarts as one stacked ascent; restart by restart, from the same
    starts and keeping the first of equal bests, gives the same perturbation and damage."""
    model, obs, _, mask, _ = _setup(
        {"batch": 5, "shape": [6], "norm": norm, "epsilon": 0.2, "seed": 3, "scaled": False, "masked": True}
    )
    torch.manual_seed(11)
    attacked = observation_attack(model, obs, 0.2, norm, perturb_mask=mask, steps=6, restarts=4)

    torch.manual_seed(11)
    ball = Ball.around(obs, 0.2, norm, perturb_mask=mask)
    with torch.no_grad():
        clean = model(obs)

    def damage(u):
        return squared_l2(model(obs + ball.to_input(u)), clean, 1)

    step = 0.2 if norm == "l2" else 2.5 * 0.2 / 6
    best_u, best_score = None, None
    for restart in range(4):
        if restart % 2 == 0:
            start = ball.random_start(obs, 1.0)
        result = ascend(damage, ball, start if restart % 2 == 0 else -start, 6, step, keep_best=True)
        if best_score is None:
            best_u, best_score = result.best_u, result.best_score
            continue
        better = result.best_score > best_score
        best_score = torch.where(better, result.best_score, best_score)
        best_u = torch.where(better[:, None], result.best_u, best_u)
    torch.testing.assert_close(attacked, obs + ball.to_input(best_u), rtol=0, atol=1e-12)
