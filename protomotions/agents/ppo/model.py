"""Actor-critic network used by :class:`~protomotions.agents.ppo.agent.PPOAgent`.

Any replacement model (returned by an agent's ``build_model`` hook) must follow the same
contract: ``forward(obs) -> PolicyOutput`` on an already-normalised obs dict. The update goes
through ``forward`` so that DDP's gradient all-reduce hooks fire.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import torch
from torch import nn

from protomotions.agents.common.mlp import FlatObsInput, build_mlp
from protomotions.agents.ppo.config import ActorCriticConfig


class PolicyOutput(NamedTuple):
    mean: torch.Tensor  # (B, action_dim) Gaussian mean
    log_std: torch.Tensor  # (B, action_dim) Gaussian log standard deviation
    value: torch.Tensor  # (B,) V(s)


class ActorCritic(nn.Module):
    def __init__(self, obs_spec: Mapping[str, int], action_dim: int, config: ActorCriticConfig) -> None:
        super().__init__()
        self.action_dim = action_dim
        self.actor_input = FlatObsInput(config.actor_obs_keys, obs_spec)
        self.critic_input = FlatObsInput(config.critic_obs_keys, obs_spec)
        self.actor = build_mlp(self.actor_input.size, config.actor_units, action_dim, config.activation)
        self.critic = build_mlp(self.critic_input.size, config.critic_units, 1, config.activation)
        init = torch.full((action_dim,), float(config.init_log_std))
        if config.learnable_log_std:
            self.log_std = nn.Parameter(init)
        else:
            self.register_buffer("log_std", init)
        # small final actor layer: the initial policy is ≈ the mean action 0 (Andrychowicz et al. 2021)
        with torch.no_grad():
            self.actor[-2].weight.mul_(0.01)
            self.actor[-2].bias.zero_()

    def forward(self, obs: Mapping[str, torch.Tensor]) -> PolicyOutput:
        mean = self.actor(self.actor_input(obs))
        value = self.critic(self.critic_input(obs)).squeeze(-1)
        return PolicyOutput(mean, self.log_std.expand_as(mean), value)

    def value(self, obs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """``(B,)`` critic only (rollout bootstrap; not used inside the DDP update)."""
        return self.critic(self.critic_input(obs)).squeeze(-1)

    def action_mean(self, obs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """``(B, action_dim)`` actor mean only (deterministic evaluation)."""
        return self.actor(self.actor_input(obs))
