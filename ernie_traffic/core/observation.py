"""ERNIE on observations (eq. 2–4) and its continuous-action counterpart."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from torch import Tensor, nn

from ernie_traffic.core.adversarial import Model, adversarial_value
from ernie_traffic.core.ball import Ball
from ernie_traffic.core.config import RegularizerConfig


class ObservationRegularizer:
    """λ · mean_o max_{‖δ‖≤ε} D(f(o+δ), f(o)), added to any learner's loss.

    Example::

        reg = ObservationRegularizer(RegularizerConfig(epsilon=0.05, mode="stackelberg"))
        loss = task_loss + reg(policy, obs)
        loss.backward()
    """

    def __init__(self, cfg: RegularizerConfig | None = None) -> None:
        self.cfg = cfg or RegularizerConfig()
        self.last_value: float = 0.0

    def __call__(
        self,
        model: Model,
        obs: Tensor,
        feature_scale: Tensor | None = None,
        perturb_mask: Tensor | None = None,
        *,
        params: Iterable[Tensor] | None = None,
        batch_dims: int = 1,
        clean: Tensor | None = None,
    ) -> Tensor:
        """The weighted regularizer loss (scalar tensor).

        ``obs``: [B, ...]; each of the first ``batch_dims`` indices gets its own ε-ball (use 2 for
        [B, agents, F] to perturb each agent's observation separately). ``feature_scale`` (broadcast
        to ``obs``) expresses ε per feature; ``perturb_mask`` (bool, broadcast) is False on features
        that must not move. ``params`` is needed only when ``model`` is not an ``nn.Module`` and the
        mode is stackelberg-fd. ``clean`` is ``model(obs)`` if the caller already has it (with its
        graph): one forward pass fewer. Sets ``last_value`` to the unweighted mean R.
        """
        cfg = self.cfg
        ball = Ball.around(obs, cfg.epsilon, cfg.norm, feature_scale, perturb_mask, batch_dims)
        value = adversarial_value(model, obs, ball, cfg, params, clean)
        self.last_value = float(value.detach())
        return cfg.weight * value


class ContinuousActionRegularizer:
    """ERNIE-A for continuous actions: λ · mean max_{‖a'−a‖₂≤ε} D(Q(s, a'), Q(s, a)), by the same PGD.

    Example::

        reg = ContinuousActionRegularizer(RegularizerConfig(kind="continuous_action", epsilon=0.1))
        loss = critic_loss + reg(critic, state, joint_actions)
    """

    def __init__(self, cfg: RegularizerConfig | None = None) -> None:
        self.cfg = cfg or RegularizerConfig(kind="continuous_action")
        self.last_value: float = 0.0

    def __call__(
        self,
        q_fn: Callable[[Tensor, Tensor], Tensor],
        state: Tensor,
        actions: Tensor,
        action_scale: Tensor | None = None,
        action_mask: Tensor | None = None,
        *,
        params: Iterable[Tensor] | None = None,
    ) -> Tensor:
        """The weighted regularizer loss; ``actions`` [B, ...] float, one ball per sample."""
        cfg = self.cfg
        ball = Ball.around(actions, cfg.epsilon, cfg.norm, action_scale, action_mask)

        def q_of_actions(joint_actions: Tensor) -> Tensor:
            return q_fn(state, joint_actions)

        if params is None and isinstance(q_fn, nn.Module):
            params = q_fn.parameters()
        value = adversarial_value(q_of_actions, actions, ball, cfg, params)
        self.last_value = float(value.detach())
        return cfg.weight * value
