"""Networks shared by the traffic learners.

Every agent network sees one *row* per (sample, agent): the agent's observation zero-padded to
the longest observation of the network, followed by a one-hot of the agent's index. The one-hot
is the intersection embedding (a linear layer on a one-hot is an embedding table), so one set of
weights serves every intersection, and a regularizer can perturb each agent's observation in its
own ε-ball while leaving the index untouched (``SharedAgentNet.perturb_mask``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class MultiAgentSpec:
    """Shapes of a multi-agent traffic problem: per-agent observation and action counts."""

    agents: tuple[str, ...]
    obs_dims: tuple[int, ...]
    n_actions: tuple[int, ...]
    state_dim: int
    # Per agent, where its sensor (detector) features begin; the features before are the signal's
    # own phase and timer, which a sensor fault cannot change. None: every feature is a sensor's.
    sensor_start: tuple[int, ...] | None = None

    @property
    def n_agents(self) -> int:
        return len(self.agents)

    @property
    def max_obs(self) -> int:
        return max(self.obs_dims)

    @property
    def max_actions(self) -> int:
        return max(self.n_actions)

    @property
    def row_dim(self) -> int:
        """Width of one agent-network input row: padded observation + agent one-hot."""
        return self.max_obs + self.n_agents

    def to_dict(self) -> dict:
        return {
            "agents": list(self.agents),
            "obs_dims": list(self.obs_dims),
            "n_actions": list(self.n_actions),
            "state_dim": self.state_dim,
            "sensor_start": None if self.sensor_start is None else list(self.sensor_start),
        }

    @classmethod
    def from_dict(cls, data: dict) -> MultiAgentSpec:
        sensor_start = data.get("sensor_start")
        return cls(
            tuple(data["agents"]),
            tuple(data["obs_dims"]),
            tuple(data["n_actions"]),
            int(data["state_dim"]),
            None if sensor_start is None else tuple(sensor_start),
        )

    def action_mask(self) -> torch.Tensor:
        """Bool [n_agents, max_actions]: which padded action indices are real."""
        index = torch.arange(self.max_actions)
        return index[None, :] < torch.tensor(self.n_actions)[:, None]

    def agent_rows(self, obs: torch.Tensor) -> torch.Tensor:
        """[B, N, max_obs] padded observations -> [B * N, row_dim] rows with the agent one-hot."""
        batch = obs.shape[0]
        ids = torch.eye(self.n_agents, dtype=obs.dtype, device=obs.device).expand(batch, -1, -1)
        return torch.cat([obs, ids], dim=-1).reshape(batch * self.n_agents, self.row_dim)

    def perturb_mask(self, batch: int, sensors_only: bool = False) -> torch.Tensor:
        """Bool [B * N, row_dim]: True on each row's real observation features (``sensors_only``: on
        its sensor features), False on padding and id."""
        index = torch.arange(self.max_obs)
        real = (index[None, :] < torch.tensor(self.obs_dims)[:, None]).float()
        if sensors_only and self.sensor_start is not None:
            real = real * (index[None, :] >= torch.tensor(self.sensor_start)[:, None]).float()
        mask = torch.cat([real, torch.zeros(self.n_agents, self.n_agents)], dim=1)
        return mask.repeat(batch, 1).bool()


def pad_observations(spec: MultiAgentSpec, observations: dict[str, Sequence[float]]) -> torch.Tensor:
    """Per-agent observation vectors -> float [N, max_obs], zero-padded, in ``spec.agents`` order."""
    out = torch.zeros(spec.n_agents, spec.max_obs)
    for i, agent in enumerate(spec.agents):
        vector = torch.as_tensor(observations[agent], dtype=torch.float32)
        out[i, : vector.numel()] = vector
    return out


# grad of the outputs -> grad of the inputs (see forward_with_input_vjp)
InputVJP = Callable[[torch.Tensor], torch.Tensor]


class MLP(nn.Sequential):
    """Linear layers with ReLU between them."""

    def __init__(self, in_dim: int, hidden: Sequence[int], out_dim: int | None = None) -> None:
        layers: list[nn.Module] = []
        for width in hidden:
            layers += [nn.Linear(in_dim, width), nn.ReLU()]
            in_dim = width
        if out_dim is not None:
            layers.append(nn.Linear(in_dim, out_dim))
        super().__init__(*layers)

    def forward_with_input_vjp(self, inputs: torch.Tensor) -> tuple[torch.Tensor, InputVJP]:
        """The outputs and the map g ↦ gᵀ ∂outputs/∂inputs, by the chain rule written out: per layer
        backwards, g·W for a linear layer and, for a ReLU, g where its output is positive (ReLU's own
        backward operation, ``threshold_backward``), i.e. the operations autograd's backward runs.

        The PGD attacks differentiate small networks on a few rows many times over, where autograd's
        engine costs more than the products themselves (docs/benchmarks.md, "Cost of ERNIE"). Only the
        detached ascents use it: the exact Stackelberg gradient keeps autograd's double backward, which
        rounds differently from differentiating this map, so recorded Stackelberg runs reproduce.
        """
        saved = []  # per layer: a Linear's weight, a ReLU's output
        outputs = inputs
        for layer in self:  # the layers' functions called directly: a module call costs as much as a layer
            if isinstance(layer, nn.Linear):
                outputs = F.linear(outputs, layer.weight, layer.bias)
                saved.append(layer.weight)
            else:
                outputs = torch.relu(outputs)
                saved.append(outputs.detach())

        def vjp(grad: torch.Tensor) -> torch.Tensor:
            for layer, tensor in zip(reversed(self), reversed(saved), strict=True):
                if isinstance(layer, nn.Linear):
                    grad = grad @ tensor
                else:
                    grad = torch.ops.aten.threshold_backward(grad, tensor, 0)
            return grad

        return outputs, vjp


class SharedAgentNet(nn.Module):
    """One network for all intersections: shared trunk, one output head per distinct action count.

    Input rows ``[M, spec.row_dim]`` (see :meth:`MultiAgentSpec.agent_rows`), output
    ``[M, spec.max_actions]`` where the entries past an agent's own action count hold
    ``pad_value`` (0 for Q-values, a large negative logit for policies), independent of the
    parameters so that regularizers see no difference there.

    >>> spec = MultiAgentSpec(("a", "b"), (3, 2), (2, 4), state_dim=5)
    >>> net = SharedAgentNet(spec, hidden=(8,))
    >>> net(spec.agent_rows(torch.zeros(1, 2, 3))).shape
    torch.Size([2, 4])
    """

    def __init__(self, spec: MultiAgentSpec, hidden: Sequence[int], pad_value: float = 0.0) -> None:
        super().__init__()
        self.spec = spec
        self.pad_value = pad_value
        self.trunk = MLP(spec.row_dim, hidden)
        counts = sorted(set(spec.n_actions))
        self.heads = nn.ModuleList(nn.Linear(hidden[-1], n) for n in counts)
        self.register_buffer("agent_head", torch.tensor([counts.index(n) for n in spec.n_actions]))

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        return self._heads_on(self.trunk(rows), self._head_of_row(rows))

    def forward_with_input_vjp(self, rows: torch.Tensor) -> tuple[torch.Tensor, InputVJP]:
        """The outputs and g ↦ gᵀ ∂outputs/∂rows (see :meth:`MLP.forward_with_input_vjp`)."""
        features, trunk_vjp = self.trunk.forward_with_input_vjp(rows)
        head_of_row = self._head_of_row(rows)
        outputs = self._heads_on(features, head_of_row)
        if head_of_row is None:
            weight = self.heads[0].weight
            return outputs, lambda grad: trunk_vjp(grad @ weight)

        def vjp(grad: torch.Tensor) -> torch.Tensor:
            # each row's gradient goes back through its own head only, the padding's nowhere
            through_heads = sum(
                torch.where((head_of_row == index)[:, None], grad, 0.0)[:, : head.out_features] @ head.weight
                for index, head in enumerate(self.heads)
            )
            return trunk_vjp(through_heads)

        return outputs, vjp

    def _head_of_row(self, rows: torch.Tensor) -> torch.Tensor | None:
        """Each row's output head, picked by its intersection one-hot; None when one head serves all."""
        if len(self.heads) == 1:  # every intersection has as many actions: no padding, no choice of head
            return None
        return self.agent_head[rows[:, self.spec.max_obs :].argmax(dim=-1)]

    def _heads_on(self, features: torch.Tensor, head_of_row: torch.Tensor | None) -> torch.Tensor:
        if head_of_row is None:
            return self.heads[0](features)
        out = features.new_full((features.shape[0], self.spec.max_actions), self.pad_value)
        for index, head in enumerate(self.heads):
            values = F.pad(
                head(features), (0, self.spec.max_actions - head.out_features), value=self.pad_value
            )
            out = torch.where((head_of_row == index)[:, None], values, out)
        return out

    def per_agent(self, obs: torch.Tensor) -> torch.Tensor:
        """[B, N, max_obs] -> [B, N, max_actions]."""
        return self(self.spec.agent_rows(obs)).reshape(obs.shape[0], self.spec.n_agents, -1)


class AgentPolicy(nn.Module):
    """One intersection's view of a :class:`SharedAgentNet`: its raw observation in, its action
    scores out (Q-values or logits, ``[B, n_actions]``). This is the module to export."""

    def __init__(self, net: SharedAgentNet, agent: str) -> None:
        super().__init__()
        self.net = net
        spec = net.spec
        self.index = spec.agents.index(agent)
        self.obs_dim = spec.obs_dims[self.index]
        self.n_actions = spec.n_actions[self.index]
        agent_id = torch.zeros(spec.n_agents)
        agent_id[self.index] = 1.0
        self.register_buffer("agent_id", agent_id)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        padded = F.pad(obs, (0, self.net.spec.max_obs - self.obs_dim))
        rows = torch.cat([padded, self.agent_id.expand(obs.shape[0], -1)], dim=-1)
        return self.net(rows)[:, : self.n_actions]


def joint_action_one_hot(actions: torch.Tensor, max_actions: int) -> torch.Tensor:
    """Long [B, N] -> float [B, N * max_actions]: one one-hot block per agent."""
    return F.one_hot(actions, max_actions).float().flatten(1)


class GlobalQ(nn.Module):
    """Centralized Q(s, a) with the joint action as input (one-hot per agent), so its size grows
    linearly with the number of intersections instead of exponentially."""

    def __init__(self, spec: MultiAgentSpec, hidden: Sequence[int]) -> None:
        super().__init__()
        self.max_actions = spec.max_actions
        self.body = MLP(spec.state_dim + spec.n_agents * spec.max_actions, hidden, 1)

    def forward(self, state: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        joint = joint_action_one_hot(actions, self.max_actions)
        return self.body(torch.cat([state, joint], dim=-1)).squeeze(-1)


class CentralCritic(nn.Module):
    """COMA's critic: for agent i, Q(s, (a_-i, ·)) over all of i's actions in one pass.

    Input per agent (as in Foerster et al. 2018): global state, the agent's own observation, the
    other agents' actions (one-hot, own block zeroed) and the agent's one-hot index; output
    ``[B, N, max_actions]``. The own observation is already somewhere in the state, but handing it
    over at a fixed place is what lets a small critic see how its own phase choice matters (without
    it COMA's counterfactual advantages stayed noise on grid2x2, docs/training.md).
    """

    def __init__(self, spec: MultiAgentSpec, hidden: Sequence[int]) -> None:
        super().__init__()
        self.spec = spec
        n, a = spec.n_agents, spec.max_actions
        self.body = MLP(spec.state_dim + spec.max_obs + n * a + n, hidden, a)
        # others[i] zeroes agent i's own one-hot block of the joint action
        others = 1.0 - torch.eye(n).repeat_interleave(a, dim=1)
        self.register_buffer("others", others)

    def forward(self, state: torch.Tensor, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """[B, S] state, [B, N, max_obs] observations, Long [B, N] actions -> [B, N, max_actions]."""
        batch, n = state.shape[0], self.spec.n_agents
        joint = joint_action_one_hot(actions, self.spec.max_actions)
        inputs = torch.cat(
            [
                state[:, None, :].expand(-1, n, -1),
                obs,
                joint[:, None, :] * self.others,
                torch.eye(n, device=state.device).expand(batch, -1, -1),
            ],
            dim=-1,
        )
        return self.body(inputs)

    def joint_value(self, state: torch.Tensor, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Q(s, a) as a scalar per sample: the agents' estimates of the taken joint action, averaged."""
        q = self(state, obs, actions).gather(-1, actions[..., None]).squeeze(-1)
        return q.mean(dim=-1)
