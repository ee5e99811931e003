"""MaskedMimic distillation: online behavioural cloning (DAgger) of a frozen tracker.

The student acts through its posterior (prior mean + encoder residual, latent noise held per
episode), the tracker labels every visited state with its mean action, and the loss is
    L = ‖a_student − a_tracker‖² (mean over action dims) + kld_coeff(epoch) · KL(q ‖ p).
No RL term: rewards are only logged. Evaluation acts through the prior alone with zero noise
under a fixed conditioning (``eval_conditioning``). The PPO machinery (storage, normaliser,
Fabric update, runner, checkpoints) is reused; only acting and the loss differ.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from protomotions.agents.masked_mimic.config import MaskedMimicAgentConfig
from protomotions.agents.masked_mimic.kl_schedule import KLScheduled
from protomotions.agents.masked_mimic.model import MaskedMimicModel, kl_posterior_prior, make_noise
from protomotions.agents.masked_mimic.teacher import load_tracker
from protomotions.agents.ppo.agent import PPOAgent
from protomotions.agents.ppo.storage import RolloutBatch


class MaskedMimicAgent(KLScheduled, PPOAgent):
    config_class = MaskedMimicAgentConfig

    def __init__(self, config, obs_spec, action_dim, num_envs, fabric) -> None:
        super().__init__(config, obs_spec, action_dim, num_envs, fabric)
        cfg: MaskedMimicAgentConfig = self.config
        self.teacher = load_tracker(cfg.expert_model_path, self.obs_spec, self.action_dim, self.device)
        self.latent_noise = torch.zeros(num_envs, cfg.vae.latent_dim, device=self.device)
        self._resample_noise(torch.arange(num_envs, device=self.device))
        self.updates_done = 0

    # ----------------------------------------------------------------- hooks
    def build_model(self) -> torch.nn.Module:
        cfg = self.config
        return MaskedMimicModel(self.obs_spec, self.action_dim, cfg.model.config, cfg.vae.latent_dim).to(self.device)

    def extra_storage_fields(self) -> dict[str, tuple[int, ...]]:
        return {"expert_actions": (self.action_dim,), "latent_noise": (self.config.vae.latent_dim,)}

    def _resample_noise(self, env_ids: torch.Tensor) -> None:
        noise = make_noise(self.config.vae.noise_type, (env_ids.numel(), self.config.vae.latent_dim), self.device)
        self.latent_noise[env_ids] = 0.0 if noise is None else noise

    # ----------------------------------------------------------------- acting
    @torch.no_grad()
    def act(self, obs: Mapping[str, torch.Tensor]):
        actions, _ = self.module(self.normalize(obs), use_encoder=True, noise=self.latent_noise)
        zeros = torch.zeros(actions.shape[0], device=self.device)
        return actions, zeros, zeros

    @torch.no_grad()
    def act_deterministic(self, obs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Inference: prior only, zero latent noise."""
        actions, _ = self.module(self.normalize(obs), use_encoder=False, noise=None)
        return actions

    @torch.no_grad()
    def compute_values(self, obs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return torch.zeros(next(iter(obs.values())).shape[0], device=self.device)

    @torch.no_grad()
    def record_step(self, obs, actions, log_prob, value, rewards, terminated, truncated, next_obs,
                    env_extras=None, **extra_fields) -> None:
        super().record_step(obs, actions, log_prob, value, rewards, terminated, truncated, next_obs, env_extras,
                            expert_actions=self.teacher(obs), latent_noise=self.latent_noise.clone(), **extra_fields)
        self._resample_noise((terminated | truncated).nonzero().flatten())  # held for the episode

    @torch.no_grad()
    def compute_returns(self) -> None:
        zeros = torch.zeros_like(self.storage.rewards)
        self.storage.set_returns(zeros, zeros)  # supervised: no advantages

    # ----------------------------------------------------------------- learning
    def compute_losses(self, batch: RolloutBatch) -> dict[str, torch.Tensor]:
        actions, lat = self.model(self.normalize(batch.obs), use_encoder=True, noise=batch.extras["latent_noise"])
        bc = (actions - batch.extras["expert_actions"]).square().mean()
        kld = kl_posterior_prior(lat).mean()
        return {"model/bc_loss": bc, "model/vae_kld_loss": self.kld_coeff * kld}

    def evaluate(self, env) -> dict[str, float]:
        evaluate = getattr(env, "evaluate", None)
        if not callable(evaluate):
            return {}
        self.eval_mode()
        try:
            return evaluate(self.act_deterministic, conditioning=self.config.eval_conditioning)
        finally:
            self.train_mode()
