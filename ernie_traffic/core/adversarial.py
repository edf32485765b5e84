"""R = mean over balls of max_{u in ball} D(f(x + δ(u)), f(x)), with the gradient each mode asks for."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import torch
from torch import Tensor, nn

from ernie_traffic.core.ball import Ball
from ernie_traffic.core.config import DivergenceName, RegularizerConfig
from ernie_traffic.core.divergence import divergence_with_gradient, get_divergence
from ernie_traffic.core.pgd import Ascent, Score, ScoreGradient, ascend
from ernie_traffic.core.stackelberg import leader_follower_gradient
from ernie_traffic.errors import UserInputError

Model = Callable[[Tensor], Tensor]


def resolve_params(model: Model, params: Iterable[Tensor] | None) -> list[Tensor]:
    """The trainable tensors of ``model``: ``params`` if given, else an ``nn.Module``'s parameters."""
    if params is not None:
        return [p for p in params if p.requires_grad]
    if isinstance(model, nn.Module):
        return [p for p in model.parameters() if p.requires_grad]
    raise UserInputError("model is a plain callable: pass params=<its trainable tensors> (stackelberg-fd)")


def divergence_score(
    model: Model, inputs: Tensor, ball: Ball, divergence: DivergenceName, reference: Tensor, p: float = 2.0
) -> tuple[Score, ScoreGradient | None]:
    """u ↦ D(model(inputs + δ(u)), reference) per ball, and the same with its gradient in u written out
    (:func:`ascend`'s fast path) where the model offers ``forward_with_input_vjp`` (the traffic
    networks) and the divergence its gradient (squared ℓ2); None where either does not."""
    measure = get_divergence(divergence, p)

    def score(u: Tensor) -> Tensor:
        return measure(model(inputs + ball.to_input(u)), reference, ball.batch_dims)

    measure_with_gradient = divergence_with_gradient(divergence)
    forward_with_input_vjp = getattr(model, "forward_with_input_vjp", None)
    if measure_with_gradient is None or forward_with_input_vjp is None:
        return score, None

    def score_and_gradient(u: Tensor) -> tuple[Tensor, Tensor]:
        outputs, vjp = forward_with_input_vjp(inputs + ball.to_input(u))
        values, output_gradient = measure_with_gradient(outputs, reference, ball.batch_dims)
        return values, ball.to_input(vjp(output_gradient))

    return score, score_and_gradient


def adversarial_value(
    model: Model,
    inputs: Tensor,
    ball: Ball,
    cfg: RegularizerConfig,
    params: Iterable[Tensor] | None = None,
    clean: Tensor | None = None,
) -> Tensor:
    """Scalar mean R whose backward gives the gradient of ``cfg.mode``.

    ``clean`` is ``model(inputs)`` when the caller has already computed it (with its graph, as the
    learner's own loss does): passing it saves that forward pass and its backward.

    plain: δ_K detached, so only the leader term ∂R/∂θ. stackelberg: autograd through the K unrolled
    steps (create_graph), adding the leader–follower term. stackelberg-fd: the same total gradient, its
    leader–follower part computed now by finite differences and attached through a zero-valued surrogate.
    gaussian: δ random, no ascent.
    """
    if clean is None:
        clean = model(inputs)
    score, _ = divergence_score(model, inputs, ball, cfg.divergence, clean, cfg.p)
    if cfg.mode == "gaussian":
        return score(ball.gaussian(inputs)).mean()
    start = ball.random_start(inputs, cfg.init_scale)
    step_size = cfg.resolved_step_size()
    if cfg.mode == "stackelberg":
        # autograd's own double backward, not the written-out gradient: differentiating that again
        # rounds differently, and a run's weights drift apart from the recorded Stackelberg runs'
        unrolled = ascend(score, ball, start, cfg.steps, step_size, create_graph=True)
        return score(unrolled.u).mean()
    # The follower's ascent only needs ∇_u, so it runs against a detached clean output.
    follower, follower_gradient = divergence_score(model, inputs, ball, cfg.divergence, clean.detach(), cfg.p)
    ascent = ascend(follower, ball, start, cfg.steps, step_size, gradient=follower_gradient)
    # Under no_grad (logging) only the value is wanted, and it is the same for every adversarial mode.
    if cfg.mode == "plain" or not torch.is_grad_enabled():
        return score(ascent.u).mean()
    return _with_finite_difference_stackelberg(score, ball, ascent, resolve_params(model, params), cfg)


def _with_finite_difference_stackelberg(
    score: Callable[[Tensor], Tensor],
    ball: Ball,
    ascent: Ascent,
    params: Sequence[Tensor],
    cfg: RegularizerConfig,
) -> Tensor:
    last = ascent.u.detach().requires_grad_(True)
    value = score(last).mean()
    (grad_at_last,) = torch.autograd.grad(value, last, retain_graph=True)
    follower_terms = leader_follower_gradient(
        score, ball, ascent, grad_at_last, params, cfg.resolved_step_size(), cfg.fd_step
    )
    # Zero in value, ⟨θ, term⟩ in gradient: backward() adds the leader–follower term to each θ.grad.
    surrogate = sum((p * term).sum() for p, term in zip(params, follower_terms, strict=True))
    return value + (surrogate - surrogate.detach())
