"""PPO agent: act, record steps, compute returns, update. It never touches files or loggers.

Subclass hooks (override in another agent, e.g. tracker, distillation, PPO + BC):
    build_model() -> nn.Module                       network with forward(obs) -> PolicyOutput
    extra_storage_fields() -> {name: per-env shape}  extra rollout buffers, filled by
                                                     record_step(..., name=tensor) or step_extras()
    step_extras(obs, next_obs, env_extras) -> {name: (N, *shape)}  called inside record_step
    ppo_losses(batch, out) -> {name: scalar}         the PPO terms; return {} for pure BC
    extra_losses(batch, out) -> {name: scalar}       added to the total loss (already weighted)
    extra_metrics() -> {name: float}                 logged once per update (e.g. a schedule)
A loss or metric name containing '/' is logged as is (e.g. "model/bc_loss"); a bare name is
logged under "losses/". Hooks called from ``__init__`` run before subclass state set after
``super().__init__``: set what they need first.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from protomotions.agents.common.normalizer import DictNormalizer
from protomotions.agents.ppo.config import PPOAgentConfig, to_plain
from protomotions.agents.ppo.gae import compute_gae
from protomotions.agents.ppo.model import ActorCritic, PolicyOutput
from protomotions.agents.ppo.storage import RolloutBatch, RolloutStorage, Transition

LOG_2PI = math.log(2.0 * math.pi)


def gaussian_log_prob(actions: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """``(B, A)`` ×3 → ``(B,)``: log N(a; μ, σ²) summed over action dims."""
    z = (actions - mean) * torch.exp(-log_std)
    return (-0.5 * z.square() - log_std - 0.5 * LOG_2PI).sum(dim=-1)


def gaussian_entropy(log_std: torch.Tensor) -> torch.Tensor:
    """``(B, A)`` → ``(B,)``: H = Σ (½ log 2πe + log σ)."""
    return (0.5 + 0.5 * LOG_2PI + log_std).sum(dim=-1)


def explained_variance(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 − Var[target − predicted] / Var[target]; NaN when the target is constant."""
    var_target = target.var(correction=0)
    residual = (target - predicted).var(correction=0)
    return torch.where(var_target > 0, 1.0 - residual / var_target, torch.full_like(var_target, float("nan")))


class PPOAgent:
    """Clipped-surrogate PPO with a Gaussian policy.

    Args:
        config: ``PPOAgentConfig`` or a mapping of its fields (e.g. ``cfg.agent.config``).
        obs_spec: observation group name → width (``env.obs_spec``).
        action_dim: ``env.action_dim``.
        num_envs: envs on this rank (``env.num_envs``); sizes the rollout storage.
        fabric: a launched ``lightning.fabric.Fabric``; model and optimiser go through
            ``fabric.setup`` so DDP all-reduces gradients across ranks.
    """

    config_class = PPOAgentConfig

    def __init__(
        self,
        config: PPOAgentConfig | Mapping,
        obs_spec: Mapping[str, int],
        action_dim: int,
        num_envs: int,
        fabric,
    ) -> None:
        if not isinstance(config, self.config_class):
            config = self.config_class(**to_plain(config))
        self.config = config
        self.fabric = fabric
        self.device = fabric.device
        self.obs_spec = {k: int(v) for k, v in obs_spec.items()}
        self.action_dim = int(action_dim)
        self.num_envs = int(num_envs)
        self.num_steps = config.num_steps

        self.normalizer = DictNormalizer(self.obs_spec, config.obs_clamp, enabled=config.normalize_obs).to(
            self.device
        )
        module = self.build_model()
        opt_cfg = config.model.config.optimizer
        optimizer = torch.optim.Adam(
            [p for p in module.parameters() if p.requires_grad],
            lr=opt_cfg.lr,
            betas=tuple(opt_cfg.betas),
            eps=opt_cfg.eps,
            weight_decay=opt_cfg.weight_decay,
        )
        # self.module: the plain network, used for rollouts (no DDP collectives per step);
        # self.model: the Fabric/DDP wrapper, used in update() so gradients are all-reduced.
        self.module = module
        self.optimizer_raw = optimizer
        self.model, self.optimizer = fabric.setup(module, optimizer)
        self.storage = RolloutStorage(
            self.num_steps,
            self.num_envs,
            self.obs_spec,
            self.action_dim,
            self.device,
            self.extra_storage_fields(),
        )

    @classmethod
    def from_run_config(cls, cfg, fabric, env) -> PPOAgent:
        """Build from the composed Hydra config (``cfg.agent.config``) and an env."""
        return cls(
            cls.config_class(**to_plain(cfg.agent.config)), env.obs_spec, env.action_dim, env.num_envs, fabric
        )

    # ----------------------------------------------------------------- hooks
    def build_model(self) -> nn.Module:
        return ActorCritic(self.obs_spec, self.action_dim, self.config.model.config).to(self.device)

    def extra_storage_fields(self) -> dict[str, tuple[int, ...]]:
        return {}

    def step_extras(
        self,
        obs: Mapping[str, torch.Tensor],
        next_obs: Mapping[str, torch.Tensor],
        env_extras: Mapping[str, Any],
    ) -> dict[str, torch.Tensor]:
        return {}

    def extra_losses(self, batch: RolloutBatch, out: PolicyOutput) -> dict[str, torch.Tensor]:
        return {}

    def extra_metrics(self) -> dict[str, float]:
        return {}

    # ----------------------------------------------------------------- modes
    @property
    def effective_batch_size(self) -> int:
        """``batch_size``, capped at the samples of one rollout (few envs, e.g. the guide's 4 envs)."""
        samples = self.num_steps * self.num_envs
        if self.config.batch_size > samples and not getattr(self, "_warned_batch", False):
            self.fabric.print(f"[ppo] batch_size={self.config.batch_size} > num_steps·num_envs={samples}: "
                              f"using minibatches of {samples}")
            self._warned_batch = True
        return min(self.config.batch_size, samples)

    def train_mode(self) -> None:
        self.model.train()
        self.normalizer.train()

    def eval_mode(self) -> None:
        """Freeze the normaliser and switch modules to eval (deterministic evaluation)."""
        self.model.eval()
        self.normalizer.eval()

    # ----------------------------------------------------------------- acting
    def normalize(self, obs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return self.normalizer(obs)

    @torch.no_grad()
    def act(self, obs: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Sample actions. Returns ``actions (N, A)``, ``log_prob (N,)``, ``value (N,)``."""
        out = self.module(self.normalize(obs))
        actions = out.mean + torch.exp(out.log_std) * torch.randn_like(out.mean)
        return actions, gaussian_log_prob(actions, out.mean, out.log_std), out.value

    @torch.no_grad()
    def act_deterministic(self, obs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Mean action ``(N, A)`` (evaluation)."""
        return self.module(self.normalize(obs)).mean

    @torch.no_grad()
    def compute_values(self, obs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """``(N,)`` V(s) of a raw obs dict."""
        normalized = self.normalize(obs)
        value_fn = getattr(self.module, "value", None)
        return value_fn(normalized) if callable(value_fn) else self.module(normalized).value

    @torch.no_grad()
    def record_step(
        self,
        obs,
        actions,
        log_prob,
        value,
        rewards,
        terminated,
        truncated,
        next_obs,
        env_extras: Mapping[str, Any] | None = None,
        **extra_fields: torch.Tensor,
    ) -> None:
        """Store one step. ``next_obs`` is the pre-reset observation returned by ``env.step``.

        Also accumulates ``obs`` into the normaliser's pending moments (committed in update()).
        """
        missing = [k for k in self.obs_spec if k not in obs]
        if missing:
            raise KeyError(f"record_step: obs lacks group(s) {missing} of obs_spec; got {sorted(obs)}")
        obs_used = {k: obs[k] for k in self.obs_spec}  # groups outside obs_spec are not stored
        self.normalizer.accumulate(obs_used)
        fields = dict(self.step_extras(obs, next_obs, env_extras or {}))
        fields.update(extra_fields)
        self.storage.add(
            Transition(
                obs=obs_used,
                actions=actions,
                log_probs=log_prob,
                values=value,
                next_values=self.compute_values(next_obs),
                rewards=rewards.float(),
                terminated=terminated.bool(),
                truncated=truncated.bool(),
                extras=fields,
            )
        )

    @torch.no_grad()
    def compute_returns(self) -> None:
        s = self.storage
        advantages, returns = compute_gae(
            s.rewards,
            s.values,
            s.next_values,
            s.terminated,
            s.truncated,
            self.config.gamma,
            self.config.gae_lambda,
        )
        s.set_returns(advantages, returns)

    # ----------------------------------------------------------------- update
    def ppo_losses(self, batch: RolloutBatch, out: PolicyOutput) -> dict[str, torch.Tensor]:
        cfg = self.config
        log_prob = gaussian_log_prob(batch.actions, out.mean, out.log_std)
        log_ratio = log_prob - batch.old_log_probs
        ratio = torch.exp(log_ratio)
        adv = batch.advantages
        if cfg.normalize_advantages and adv.numel() > 1:
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        # L_clip = −E[min(ρ·A, clip(ρ, 1−ε, 1+ε)·A)]
        surrogate = torch.min(
            ratio * adv, torch.clamp(ratio, 1.0 - cfg.clip_ratio, 1.0 + cfg.clip_ratio) * adv
        )
        losses = {"actor_loss": -surrogate.mean()}
        value_error = (out.value - batch.returns).square()
        if cfg.clip_value_loss:
            clipped = batch.old_values + (out.value - batch.old_values).clamp(-cfg.value_clip, cfg.value_clip)
            value_error = torch.max(value_error, (clipped - batch.returns).square())
        losses["value_loss"] = cfg.value_loss_coef * 0.5 * value_error.mean()
        entropy = gaussian_entropy(out.log_std).mean()
        if cfg.entropy_coef:
            losses["entropy_loss"] = -cfg.entropy_coef * entropy
        if cfg.bounds_loss_coef:
            limit = cfg.bounds_soft_limit
            excess = (out.mean - limit).clamp(min=0).square() + (out.mean + limit).clamp(max=0).square()
            losses["bounds_loss"] = cfg.bounds_loss_coef * excess.sum(dim=-1).mean()
        with torch.no_grad():
            self._diag["approx_kl"] += ((ratio - 1.0) - log_ratio).mean()  # k3 estimator of KL(old‖new)
            self._diag["clip_fraction"] += ((ratio - 1.0).abs() > cfg.clip_ratio).float().mean()
            self._diag["entropy"] += entropy
        return losses

    def compute_losses(self, batch: RolloutBatch) -> dict[str, torch.Tensor]:
        out = self.model(self.normalize(batch.obs))
        losses = self.ppo_losses(batch, out)
        for name, value in self.extra_losses(batch, out).items():
            if name in losses:
                raise KeyError(f"extra_losses returned '{name}', which a PPO loss already uses; rename it")
            losses[name] = value
        return losses

    def update(self) -> dict[str, float]:
        """Epochs × minibatches of gradient steps on the stored rollout; clears the storage.

        Returns floats: ``losses/*`` (mean over minibatches), ``losses/approx_kl``,
        ``losses/clip_fraction``, ``losses/explained_variance``, ``losses/entropy``,
        ``losses/grad_norm``, ``charts/learning_rate`` and subclass metrics. One host sync.
        """
        cfg = self.config
        self.train_mode()
        zero = torch.zeros((), device=self.device)
        self._diag = {
            "approx_kl": zero.clone(),
            "clip_fraction": zero.clone(),
            "entropy": zero.clone(),
            "grad_norm": zero.clone(),
        }
        sums: dict[str, torch.Tensor] = {}
        num_updates = 0
        for batch in self.storage.minibatches(self.effective_batch_size, cfg.num_mini_epochs):
            losses = self.compute_losses(batch)
            if not losses:
                raise RuntimeError(
                    f"{type(self).__name__}: ppo_losses() and extra_losses() returned no loss terms"
                )
            total = torch.stack(list(losses.values())).sum()
            self.optimizer.zero_grad(set_to_none=True)
            self.fabric.backward(total)
            grad_norm = self.fabric.clip_gradients(
                self.model, self.optimizer, max_norm=cfg.max_grad_norm, error_if_nonfinite=False
            )
            self.optimizer.step()
            self._diag["grad_norm"] += grad_norm.detach().to(self.device)
            for name, value in {**losses, "total_loss": total}.items():
                sums[name] = sums.get(name, zero) + value.detach()
            num_updates += 1
        s = self.storage
        ev = explained_variance(s.values.flatten(), s.returns.flatten())
        names = list(sums) + list(self._diag)
        packed = torch.stack([sums[n] for n in sums] + [self._diag[n] for n in self._diag]) / num_updates
        values = packed.tolist() + [ev.item()]  # the update's only host sync
        metrics = {(n if "/" in n else f"losses/{n}"): v for n, v in zip(names, values[:-1])}
        metrics["losses/explained_variance"] = values[-1]
        metrics["charts/learning_rate"] = self.optimizer_raw.param_groups[0]["lr"]
        if self._adaptive_lr and "losses/approx_kl" in metrics:
            self._adapt_learning_rate(metrics["losses/approx_kl"])
        metrics.update(self.extra_metrics())
        self.storage.clear()
        # the next rollout acts with statistics that include this rollout's observations
        self.normalizer.commit(self.fabric)
        return metrics

    def _adapt_learning_rate(self, approx_kl: float) -> None:
        """The KL-adaptive schedule of ``lr_schedule="adaptive"``; every rank steps with the same rate."""
        cfg = self.config
        if self.fabric.world_size > 1:
            approx_kl = float(self.fabric.all_reduce(torch.tensor(approx_kl, device=self.device), reduce_op="mean"))
        lr = self.learning_rate
        if approx_kl > 2.0 * cfg.kl_target:
            lr /= 1.5
        elif approx_kl < 0.5 * cfg.kl_target:
            lr *= 1.5
        self.learning_rate = min(max(lr, cfg.lr_bounds[0]), cfg.lr_bounds[1])

    @property
    def _adaptive_lr(self) -> bool:
        # agents with their own config class (the MaskedMimic distillation) have no schedule: fixed rate
        return getattr(self.config, "lr_schedule", "fixed") == "adaptive"

    @property
    def learning_rate(self) -> float:
        return float(self.optimizer_raw.param_groups[0]["lr"])

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        for group in self.optimizer_raw.param_groups:
            group["lr"] = value

    # ----------------------------------------------------------------- evaluation
    def evaluate(self, env) -> dict[str, float]:
        """Eval hook: ``env.evaluate(act_fn)`` with the deterministic policy, or {} if the env has none.

        Returns ``eval/*`` floats and optionally ``score`` (higher is better).
        """
        evaluate = getattr(env, "evaluate", None)
        if not callable(evaluate):
            return {}
        self.eval_mode()
        try:
            return dict(evaluate(self.act_deterministic))
        finally:
            self.train_mode()

    # ----------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        """Tensors and plain containers only (``torch.load(weights_only=True)`` safe)."""
        return {
            "model": self.module.state_dict(),
            "optimizer": self.optimizer_raw.state_dict(),
            "normalizer": self.normalizer.state_dict(),
            "learning_rate": self.learning_rate,  # kept apart: transported checkpoints drop the optimizer
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        missing = [k for k in ("model", "normalizer") if k not in state]
        if missing:
            raise KeyError(
                f"checkpoint lacks {missing}; it was not written by a PPOAgent (keys: {sorted(state)})"
            )
        self.module.load_state_dict(state["model"])
        if "optimizer" in state:  # transported checkpoints may travel without Adam's moments
            self.optimizer_raw.load_state_dict(state["optimizer"])
        else:
            self.fabric.print("[ppo] checkpoint has no optimizer state: Adam starts fresh")
        if self._adaptive_lr and "learning_rate" in state:
            self.learning_rate = float(state["learning_rate"])  # where the schedule had got to
        self.normalizer.load_state_dict(state["normalizer"])
