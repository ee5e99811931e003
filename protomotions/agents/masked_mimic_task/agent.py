"""The masked-mimic task agent: PPO on a latent policy + behavioural cloning of a frozen expert.

Each step the student encodes (state, task observation) into a latent z ~ N(μ_s, σ_s²) ("normal"
noise in training, the mean for "zeros"), and its decoder (a copy of the expert's) turns z into
PD actions. The frozen expert acts on the masked-mimic goals that the env derives from the task
command (goal engineering), which gives, on every visited state:
- the expert's action → behavioural cloning of the decoder output, and a motion-quality reward
  exp(−scale · mean‖a − a_expert‖²) added to the task reward (``rewards/motion_quality``);
- the expert's prior N(μ_p, σ_p²) → KL(student ‖ prior) weighted by ``kld_coeff(epoch)``.
Loss = ppo_coef · PPO + value + bc_coef · BC + kld_coeff · KL. PPO's policy is the latent Gaussian
(``policy_space: latent``) or a fixed-σ Gaussian around the decoded action, given the rollout's
latent noise (``policy_space: action``). The agent never knows the task.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

import torch

from protomotions.agents.masked_mimic.expert import ENV_LAYOUT_KEYS, load_expert
from protomotions.agents.masked_mimic.kl_schedule import KLScheduled
from protomotions.agents.masked_mimic.model import gaussian_kl, make_noise
from protomotions.agents.masked_mimic_task.config import MaskedMimicTaskAgentConfig
from protomotions.agents.masked_mimic_task.model import TaskStudent
from protomotions.agents.ppo.agent import PPOAgent, gaussian_log_prob
from protomotions.agents.ppo.config import to_plain
from protomotions.agents.ppo.model import PolicyOutput
from protomotions.agents.ppo.storage import RolloutBatch


def expert_requirements(env, latent_dim: int) -> dict:
    """What the current run offers the expert (checked by ``load_expert``)."""
    cfg = env.config
    return {
        "latent_dim": latent_dim,
        "robot": {"num_bodies": env.simulator.num_bodies, "num_dofs": env.action_dim},
        "env": {k: getattr(cfg, k, None) for k in ENV_LAYOUT_KEYS},
        "obs_spec": dict(env.obs_spec),
    }


class MaskedMimicTaskAgent(KLScheduled, PPOAgent):
    config_class = MaskedMimicTaskAgentConfig

    def __init__(self, config, obs_spec, action_dim, num_envs, fabric, expert) -> None:
        self.expert = expert  # build_model copies its decoder
        super().__init__(config, obs_spec, action_dim, num_envs, fabric)
        self.updates_done = 0
        self._step_cache: dict[str, torch.Tensor] = {}

    @classmethod
    def from_run_config(cls, cfg, fabric, env) -> MaskedMimicTaskAgent:
        config = cls.config_class(**to_plain(cfg.agent.config))
        expert = load_expert(config.expert_model_path, expert_requirements(env, config.vae.latent_dim), fabric.device)
        return cls(config, env.obs_spec, env.action_dim, env.num_envs, fabric, expert)

    # ----------------------------------------------------------------- hooks
    def build_model(self) -> torch.nn.Module:
        cfg = self.config
        return TaskStudent(self.obs_spec, self.action_dim, cfg.model.config, cfg.vae.latent_dim, self.expert).to(self.device)

    def extra_storage_fields(self) -> dict[str, tuple[int, ...]]:
        latent = (self.config.vae.latent_dim,)
        return {"latents": latent, "latent_noise": latent, "expert_actions": (self.action_dim,)}

    @property
    def acts_in_action_space(self) -> bool:
        return self.config.policy_space == "action"

    def _action_distribution(self, mean: torch.Tensor, value: torch.Tensor) -> PolicyOutput:
        return PolicyOutput(mean, torch.full_like(mean, self.config.action_log_std), value)

    # ----------------------------------------------------------------- acting
    def _student(self, obs, prior: tuple[torch.Tensor, torch.Tensor]):
        """The latent policy; ``prior`` (the expert's, of the goal-engineered targets) is used by a residual student."""
        return self.module(self.normalize(obs), prior=prior if self.module.prior_residual else None)

    def _exploring(self, out):
        """The distribution that rollouts sample from and PPO scores: σ widened by ``exploration_std_scale``."""
        return out._replace(log_std=out.log_std + math.log(self.config.exploration_std_scale))

    @torch.no_grad()
    def act(self, obs: Mapping[str, torch.Tensor]):
        expert_obs = self.expert.normalize(obs)  # the decoders' inputs, normalised once per step
        prior = self.expert.prior(expert_obs, normalized=True)  # the residual student's base and the expert's action
        out = self._exploring(self._student(obs, prior))
        noise = make_noise(self.config.vae.noise_type, tuple(out.mean.shape), self.device)
        z = out.mean if noise is None else out.mean + out.log_std.exp() * noise
        actions = self.module.decode(expert_obs, z)
        self._step_cache = {"latents": z, "latent_noise": torch.zeros_like(z) if noise is None else noise,
                            "expert_actions": self.expert.decode(expert_obs, prior[0], normalized=True)}
        if self.acts_in_action_space:
            policy = self._action_distribution(actions, out.value)
            actions = actions + policy.log_std.exp() * torch.randn_like(actions)
            return actions, gaussian_log_prob(actions, policy.mean, policy.log_std), out.value
        return actions, gaussian_log_prob(z, out.mean, out.log_std), out.value

    @torch.no_grad()
    def act_deterministic(self, obs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        expert_obs = self.expert.normalize(obs)
        return self.module.decode(expert_obs, self._student(obs, self.expert.prior(expert_obs, normalized=True)).mean)

    @torch.no_grad()
    def shape_rewards(self, obs, actions, rewards, extras):
        """Adds the motion-quality reward (agreement with the expert on this state)."""
        agreement = (actions - self._step_cache["expert_actions"]).square().mean(-1)
        quality = torch.exp(-self.config.motion_quality_scale * agreement)
        extras = dict(extras)
        extras["rewards/motion_quality"] = quality
        cfg = self.config
        return cfg.task_reward_weight * rewards + cfg.motion_quality_weight * quality, extras

    @torch.no_grad()
    def record_step(self, *args, **kwargs) -> None:
        super().record_step(*args, **kwargs, **self._step_cache)

    # ----------------------------------------------------------------- learning
    def compute_losses(self, batch: RolloutBatch) -> dict[str, torch.Tensor]:
        cfg = self.config
        expert_obs = self.expert.normalize(batch.obs)
        mu_p, logvar_p = self.expert.prior(expert_obs, normalized=True)
        prior = (mu_p, logvar_p) if self.module.prior_residual else None
        if self.acts_in_action_space:  # the rollout's latent noise is held fixed: a reparameterised policy
            out, student_actions, sampled_actions = self.model(
                self.normalize(batch.obs), expert_obs, prior=prior,
                latent_noise=batch.extras["latent_noise"], noise_scale=cfg.exploration_std_scale)
            losses = self.ppo_losses(batch, self._action_distribution(sampled_actions, out.value))
        else:
            out, student_actions = self.model(self.normalize(batch.obs), expert_obs, prior=prior)
            losses = self.ppo_losses(dataclasses.replace(batch, actions=batch.extras["latents"]), self._exploring(out))
        losses["actor_loss"] = cfg.ppo_coef * losses["actor_loss"]
        bc = (student_actions - batch.extras["expert_actions"]).square().mean()
        kld = gaussian_kl(out.mean, 2.0 * out.log_std, mu_p, logvar_p).mean()
        losses["model/bc_loss"] = cfg.bc_coef * bc
        losses["model/vae_kld_loss"] = self.kld_coeff * kld
        return losses

    def evaluate(self, env) -> dict[str, float]:
        """The env's task evaluation with the deterministic student, plus agreement with the expert."""
        evaluate = getattr(env, "evaluate", None)
        if not callable(evaluate):
            return {}
        sq_sum, count = [], []

        def act_fn(obs):
            actions = self.act_deterministic(obs)
            sq_sum.append((actions - self.expert.act(obs)).square().mean(-1).sum())
            count.append(actions.shape[0])
            return actions

        self.eval_mode()
        try:
            kwargs = {"num_episodes": self.config.eval_num_episodes} if self.config.eval_num_episodes else {}
            metrics = dict(evaluate(act_fn, **kwargs))
        finally:
            self.train_mode()
        metrics["eval/action_mse_to_expert"] = float(torch.stack(sq_sum).sum()) / max(sum(count), 1)
        return metrics
