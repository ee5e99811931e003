"""Student of a masked-mimic task agent: task encoder → latent → decoder (initialised from the expert).

    encoder  q(z | state, task observation) = N(μ_s, σ²_s)      the PPO policy, over the latent
    decoder  a = D(state, z)                                     copied from the frozen expert
    critic   V(state, task observation)

The expert's decoder turns its prior latents into natural motion; starting from a copy, the
student only has to learn *which* latent the task needs, and behavioural cloning keeps the
decoder close to the expert's actions. With ``prior_residual`` the encoder's output is an offset
on the expert's prior of the goal-engineered targets (μ_s = μ_p + Δμ, log σ²_s = log σ²_p + Δ),
initialised near zero, so that training starts from the expert's own behaviour.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from protomotions.agents.common.mlp import FlatObsInput, build_mlp
from protomotions.agents.masked_mimic.model import GaussianHead
from protomotions.agents.ppo.model import PolicyOutput


class TaskStudent(nn.Module):
    def __init__(self, obs_spec: Mapping[str, int], action_dim: int, config, latent_dim: int, expert=None) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.encoder_input = FlatObsInput(config.encoder_obs_keys, obs_spec)
        self.critic_input = FlatObsInput(config.critic_obs_keys, obs_spec)
        self.encoder = GaussianHead(self.encoder_input.size, config.encoder_units, latent_dim, config.activation)
        self.critic = build_mlp(self.critic_input.size, config.critic_units, 1, config.activation)
        if expert is not None:
            expert_decoder = expert.model
            self.decoder_input = FlatObsInput(expert_decoder.decoder_input.keys, obs_spec)
            self.decoder = _copy_module(expert_decoder.decoder)
        else:  # only for building an empty model before loading a checkpoint
            self.decoder_input = FlatObsInput(config.decoder_obs_keys, obs_spec)
            self.decoder = build_mlp(self.decoder_input.size + latent_dim, config.decoder_units, action_dim, config.activation)
        self.prior_residual = bool(config.prior_residual)
        with torch.no_grad():
            if self.prior_residual:  # Δ ≈ 0: the untrained student is the expert
                for head in (self.encoder.mu, self.encoder.logvar):
                    head.weight.mul_(0.01)
                    head.bias.zero_()
            else:  # start near the prior's scale: small means, unit-ish spread
                self.encoder.mu.weight.mul_(0.1)

    def forward(self, obs: Mapping[str, torch.Tensor], decoder_obs: Mapping[str, torch.Tensor] | None = None,
                prior: tuple[torch.Tensor, torch.Tensor] | None = None, latent_noise: torch.Tensor | None = None,
                noise_scale: float = 1.0):
        """The latent policy: PolicyOutput(mean (B, latent), log_std (B, latent), value (B,)).

        With ``decoder_obs`` (normalised for the decoder), also the decoded action of the mean
        latent (B, A), so that every trained parameter is used inside one forward (DDP); with
        ``latent_noise`` ε (B, latent) as well, a third output: the action decoded from the sampled
        latent μ + noise_scale·σ·ε. ``prior`` = the expert's (μ_p, log σ²_p), required with ``prior_residual``.
        """
        mu, logvar = self.encoder(self.encoder_input(obs))
        if self.prior_residual:
            if prior is None:
                raise ValueError("TaskStudent with prior_residual needs the expert's prior (μ_p, log σ²_p)")
            mu, logvar = prior[0] + mu, (prior[1] + logvar).clamp(-10.0, 4.0)
        value = self.critic(self.critic_input(obs)).squeeze(-1)
        out = PolicyOutput(mu, 0.5 * logvar, value)
        if decoder_obs is None:
            return out
        if latent_noise is None:
            return out, self.decode(decoder_obs, mu)
        sampled = mu + noise_scale * out.log_std.exp() * latent_noise
        both = self.decode({k: torch.cat([v, v]) for k, v in decoder_obs.items()}, torch.cat([mu, sampled]))
        return out, *both.chunk(2)

    def value(self, obs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return self.critic(self.critic_input(obs)).squeeze(-1)

    def decode(self, obs: Mapping[str, torch.Tensor], z: torch.Tensor) -> torch.Tensor:
        return self.decoder(torch.cat([self.decoder_input(obs), z], dim=-1))


def _copy_module(module: nn.Module) -> nn.Module:
    import copy

    clone = copy.deepcopy(module)
    clone.requires_grad_(True)
    return clone
