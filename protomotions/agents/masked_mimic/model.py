"""The MaskedMimic network: a prior over masked goals, a privileged encoder, and a decoder.

    prior    p(z | state, masked sparse targets, history)      → μ_p, log σ²_p
    encoder  q(z | state, full future targets) = μ_p + residual → μ_e (residual), log σ²_e
    decoder  π(a | state, z)                                     → action mean (pre-tanh, 69)

Training (posterior): z = μ_p + μ_e + σ_e·ε. Inference (prior only): z = μ_p + σ_p·ε with ε = 0
for "zeros" noise. KL(q ‖ p) for diagonal Gaussians with q's mean μ_p + μ_e (REFERENCE_FACTS §2a):
    KL = ½ Σ (log σ²_p − log σ²_e + (σ²_e + μ_e²) / σ²_p − 1).
Inputs arrive already normalised (the agent owns the normaliser).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import torch
from torch import nn

from protomotions.agents.common.mlp import FlatObsInput, build_mlp

NOISE_TYPES = ("normal", "zeros")


class LatentOutput(NamedTuple):
    mu_prior: torch.Tensor      # (B, latent)
    logvar_prior: torch.Tensor  # (B, latent)
    mu_residual: torch.Tensor   # (B, latent), zeros when the encoder is not run
    logvar_post: torch.Tensor   # (B, latent)


class GaussianHead(nn.Module):
    """Trunk → (μ, log σ²), log σ² clamped to a sane range."""

    def __init__(self, input_size: int, units: list[int], latent_dim: int, activation: str) -> None:
        super().__init__()
        self.trunk = build_mlp(input_size, units, None, activation)
        self.mu = nn.Linear(units[-1], latent_dim)
        self.logvar = nn.Linear(units[-1], latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.trunk(x)
        return self.mu(h), self.logvar(h).clamp(-10.0, 4.0)


def gaussian_kl(mu_q, logvar_q, mu_p, logvar_p) -> torch.Tensor:
    """(B,) KL(N(μ_q, σ_q²) ‖ N(μ_p, σ_p²)) for diagonal Gaussians."""
    return 0.5 * (logvar_p - logvar_q + (logvar_q.exp() + (mu_q - mu_p).square()) * torch.exp(-logvar_p) - 1.0).sum(-1)


def kl_posterior_prior(lat: LatentOutput) -> torch.Tensor:
    """(B,) KL(q ‖ p) where q = N(μ_p + μ_e, σ²_e), p = N(μ_p, σ²_p)."""
    mu_q = lat.mu_prior + lat.mu_residual
    return gaussian_kl(mu_q, lat.logvar_post, lat.mu_prior, lat.logvar_prior)


class MaskedMimicModel(nn.Module):
    """``config``: :class:`protomotions.agents.masked_mimic.config.NetworkConfig` (widths, input groups)."""

    def __init__(self, obs_spec: Mapping[str, int], action_dim: int, config, latent_dim: int = 64) -> None:
        super().__init__()
        self.config = config
        self.latent_dim = latent_dim
        self.prior_input = FlatObsInput(config.prior_obs_keys, obs_spec)
        self.encoder_input = FlatObsInput(config.encoder_obs_keys, obs_spec)
        self.decoder_input = FlatObsInput(config.decoder_obs_keys, obs_spec)
        self.prior = GaussianHead(self.prior_input.size, config.prior_units, latent_dim, config.activation)
        self.encoder = GaussianHead(self.encoder_input.size, config.encoder_units, latent_dim, config.activation)
        self.decoder = build_mlp(self.decoder_input.size + latent_dim, config.decoder_units, action_dim, config.activation)
        with torch.no_grad():  # start close to the prior and to small actions
            self.encoder.mu.weight.mul_(0.01)
            self.encoder.mu.bias.zero_()

    def latents(self, obs: Mapping[str, torch.Tensor], use_encoder: bool) -> LatentOutput:
        mu_p, lv_p = self.prior(self.prior_input(obs))
        if use_encoder:
            mu_e, lv_e = self.encoder(self.encoder_input(obs))
        else:
            mu_e, lv_e = torch.zeros_like(mu_p), lv_p
        return LatentOutput(mu_p, lv_p, mu_e, lv_e)

    @staticmethod
    def sample(lat: LatentOutput, noise: torch.Tensor | None) -> torch.Tensor:
        """z = μ_p + μ_e + σ·ε (σ of the posterior, or of the prior when there is no encoder)."""
        z = lat.mu_prior + lat.mu_residual
        if noise is not None:
            z = z + torch.exp(0.5 * lat.logvar_post) * noise
        return z

    def decode(self, obs: Mapping[str, torch.Tensor], z: torch.Tensor) -> torch.Tensor:
        return self.decoder(torch.cat([self.decoder_input(obs), z], dim=-1))

    def forward(self, obs: Mapping[str, torch.Tensor], use_encoder: bool = True,
                noise: torch.Tensor | None = None) -> tuple[torch.Tensor, LatentOutput]:
        """(action mean (B, A), latents). ``noise`` (B, latent) or None for the mean latent."""
        lat = self.latents(obs, use_encoder)
        return self.decode(obs, self.sample(lat, noise)), lat


def make_noise(noise_type: str, shape: tuple[int, int], device, generator: torch.Generator | None = None) -> torch.Tensor | None:
    if noise_type == "zeros":
        return None
    if noise_type == "normal":
        return torch.randn(*shape, device=device, generator=generator)
    raise ValueError(f"vae.noise_type={noise_type!r}: use one of {NOISE_TYPES}")
