"""Typed PPO configuration. YAML keys under ``agent.config`` are exactly these field names.

Build with ``PPOAgentConfig(**cfg.agent.config)``: an unknown top-level key raises a
``TypeError`` naming it; nested mappings (``model.config``, ``model.config.optimizer``) are
converted in ``__post_init__`` with an error that names the path and the valid keys.
The nesting ``model.config.optimizer.lr`` matches the override path in the user guide.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from protomotions.agents.common.mlp import ACTIVATIONS


def to_plain(value: Any) -> Any:
    """OmegaConf containers / tuples → plain dicts and lists (checkpoint- and asdict-safe)."""
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf

        if isinstance(value, (DictConfig, ListConfig)):
            return OmegaConf.to_container(value, resolve=True)
    except ImportError:  # pragma: no cover - omegaconf is a dependency
        pass
    if isinstance(value, Mapping):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    return value


def build_nested(cls, value: Any, path: str):
    """``cls(**value)`` for a mapping (pass instances through) with a path-naming error."""
    if isinstance(value, cls):
        return value
    if not isinstance(value, Mapping) and not hasattr(value, "keys"):
        raise TypeError(f"{path} must be a mapping of {cls.__name__} fields, got {type(value).__name__}")
    values = to_plain(value)
    valid = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - valid)
    if unknown:
        raise TypeError(f"unknown key(s) {unknown} in '{path}'; valid keys: {sorted(valid)}")
    return cls(**values)


@dataclass
class OptimizerConfig:
    """Adam over every trainable parameter of the actor-critic."""

    lr: float = 2e-5
    """Learning rate (ProtoMotions MaskedMimic SMPL runs use 2e-5)."""
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    """Adam β1, β2."""
    eps: float = 1e-8
    """Adam ε."""
    weight_decay: float = 0.0
    """L2 weight decay."""

    def __post_init__(self) -> None:
        self.betas = [float(b) for b in to_plain(self.betas)]
        if self.lr <= 0:
            raise ValueError(f"agent.config.model.config.optimizer.lr must be > 0, got {self.lr}")


@dataclass
class ActorCriticConfig:
    """Gaussian MLP actor with state-independent log-std, and an MLP critic."""

    actor_obs_keys: list[str]
    """Observation groups the actor reads, concatenated in this order (e.g. [self_obs, steering])."""
    critic_obs_keys: list[str]
    """Observation groups the critic reads (may include privileged groups)."""
    actor_units: list[int] = field(default_factory=lambda: [1024, 512])
    """Hidden layer widths of the actor."""
    critic_units: list[int] = field(default_factory=lambda: [1024, 512])
    """Hidden layer widths of the critic."""
    activation: str = "relu"
    """Hidden activation, one of common.mlp.ACTIVATIONS."""
    init_log_std: float = -2.9
    """Initial log standard deviation of every action dimension."""
    learnable_log_std: bool = False
    """True: log-std is a trained parameter; False: a fixed buffer."""
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    """Optimiser settings."""

    def __post_init__(self) -> None:
        self.actor_obs_keys = list(to_plain(self.actor_obs_keys))
        self.critic_obs_keys = list(to_plain(self.critic_obs_keys))
        self.actor_units = [int(u) for u in to_plain(self.actor_units)]
        self.critic_units = [int(u) for u in to_plain(self.critic_units)]
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"agent.config.model.config.activation='{self.activation}'; "
                f"choose one of {sorted(ACTIVATIONS)}"
            )
        self.optimizer = build_nested(OptimizerConfig, self.optimizer, "agent.config.model.config.optimizer")


@dataclass
class ModelConfig:
    """Holds the network settings under ``model.config`` (the user guide's override path)."""

    config: ActorCriticConfig

    def __post_init__(self) -> None:
        self.config = build_nested(ActorCriticConfig, self.config, "agent.config.model.config")


@dataclass
class PPOAgentConfig:
    """PPO hyperparameters. Sizes derived from them are logged by the runner at startup."""

    model: ModelConfig
    """Network and optimiser settings (``model.config``)."""
    num_steps: int = 32
    """Rollout length per env per epoch."""
    batch_size: int = 1024
    """Minibatch size in samples (of num_steps · num_envs per rank)."""
    num_mini_epochs: int = 6
    """Passes over the rollout per epoch."""
    gamma: float = 0.99
    """Discount γ."""
    gae_lambda: float = 0.95
    """GAE λ."""
    clip_ratio: float = 0.2
    """PPO ratio clip ε."""
    clip_value_loss: bool = True
    """Clip the value prediction to old_value ± value_clip."""
    value_clip: float = 0.2
    """Value clip range."""
    value_loss_coef: float = 1.0
    """Weight of the value loss."""
    entropy_coef: float = 0.0
    """Weight of the entropy bonus (subtracted from the loss)."""
    bounds_loss_coef: float = 0.0
    """Weight of the penalty on action means outside ±bounds_soft_limit (0 disables)."""
    bounds_soft_limit: float = 1.0
    """Soft limit for the bounds loss."""
    max_grad_norm: float = 50.0
    """Gradient-norm clip (inf disables clipping; the norm is still logged)."""
    normalize_advantages: bool = True
    """Standardise advantages per minibatch."""
    normalize_obs: bool = True
    """Running mean/std normalisation of every observation group."""
    obs_clamp: float = 5.0
    """Clamp of normalised observations."""
    lr_schedule: str = "fixed"
    """"fixed", or "adaptive": after each epoch the learning rate is divided by 1.5 when the
    epoch's approx_kl exceeds 2·kl_target and multiplied by 1.5 when it is below kl_target / 2
    (within lr_bounds). With a fixed, small action std (log-std −2.9) a fixed rate easily moves the
    policy too far per epoch: half of the samples clipped, learning stalls."""
    kl_target: float = 0.008
    """approx_kl per epoch that the adaptive schedule aims at."""
    lr_bounds: list[float] = field(default_factory=lambda: [1e-6, 1e-3])
    """Lowest and highest learning rate of the adaptive schedule."""

    def __post_init__(self) -> None:
        self.model = build_nested(ModelConfig, self.model, "agent.config.model")
        self.lr_bounds = [float(b) for b in to_plain(self.lr_bounds)]
        if self.lr_schedule not in ("fixed", "adaptive"):
            raise ValueError(f"agent.config.lr_schedule='{self.lr_schedule}'; choose 'fixed' or 'adaptive'")
        if self.kl_target <= 0 or len(self.lr_bounds) != 2 or not 0 < self.lr_bounds[0] <= self.lr_bounds[1]:
            raise ValueError(f"agent.config.kl_target={self.kl_target} must be > 0 and lr_bounds={self.lr_bounds} "
                             "must be [low, high] with 0 < low <= high")
        for key in ("num_steps", "batch_size", "num_mini_epochs"):
            if int(getattr(self, key)) <= 0:
                raise ValueError(f"agent.config.{key} must be a positive integer, got {getattr(self, key)}")
        if not 0.0 <= self.gamma <= 1.0 or not 0.0 <= self.gae_lambda <= 1.0:
            raise ValueError(
                f"agent.config.gamma={self.gamma} and gae_lambda={self.gae_lambda} must be in [0, 1]"
            )

    def to_dict(self) -> dict:
        """Plain nested dict (for checkpoints and config.yaml)."""
        return to_plain(asdict(self))
