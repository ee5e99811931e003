"""Typed configuration of the MaskedMimic agents. YAML keys under ``agent.config`` are these fields.

The nesting follows the user guide's override paths: ``agent.config.model.config.optimizer.lr``,
``agent.config.vae.noise_type``, ``agent.config.vae.latent_dim``, ``agent.config.vae.kld_schedule``,
``agent.config.batch_size``, ``agent.config.num_mini_epochs``, ``agent.config.eval_metrics_every``,
``agent.config.expert_model_path``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from protomotions.agents.masked_mimic.model import NOISE_TYPES
from protomotions.agents.ppo.config import OptimizerConfig, build_nested, to_plain


@dataclass
class KLDSchedule:
    """kld_coeff ramps linearly from start_value to end_value between start_epoch and end_epoch."""

    enabled: bool = True
    """False: a constant end_value."""
    start_epoch: int = 0
    end_epoch: int = 2000
    start_value: float = 1.0e-4
    end_value: float = 1.0e-2

    def coeff(self, epoch: int) -> float:
        if not self.enabled:
            return self.end_value
        span = max(self.end_epoch - self.start_epoch, 1)
        t = min(max((epoch - self.start_epoch) / span, 0.0), 1.0)
        return self.start_value + t * (self.end_value - self.start_value)


@dataclass
class VAEConfig:
    noise_type: str = "normal"
    """Latent noise while acting: "normal" in training, "zeros" in evaluation."""
    latent_dim: int = 64
    kld_schedule: KLDSchedule = field(default_factory=KLDSchedule)

    def __post_init__(self) -> None:
        if self.noise_type not in NOISE_TYPES:
            raise ValueError(f"agent.config.vae.noise_type={self.noise_type!r}: use one of {NOISE_TYPES}")
        self.kld_schedule = build_nested(KLDSchedule, self.kld_schedule, "agent.config.vae.kld_schedule")


@dataclass
class NetworkConfig:
    """``agent.config.model.config``: network widths, input groups and the optimiser."""

    prior_obs_keys: list[str] = field(default_factory=lambda: ["self_obs", "masked_mimic_targets", "history"])
    encoder_obs_keys: list[str] = field(default_factory=lambda: ["self_obs", "mimic_target_poses"])
    decoder_obs_keys: list[str] = field(default_factory=lambda: ["self_obs"])
    prior_units: list[int] = field(default_factory=lambda: [512, 512])
    encoder_units: list[int] = field(default_factory=lambda: [512, 512])
    decoder_units: list[int] = field(default_factory=lambda: [1024, 512])
    activation: str = "relu"
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)

    def __post_init__(self) -> None:
        for key in ("prior_obs_keys", "encoder_obs_keys", "decoder_obs_keys", "prior_units", "encoder_units", "decoder_units"):
            setattr(self, key, list(to_plain(getattr(self, key))))
        self.optimizer = build_nested(OptimizerConfig, self.optimizer, "agent.config.model.config.optimizer")


@dataclass
class ModelSection:
    config: NetworkConfig = field(default_factory=NetworkConfig)

    def __post_init__(self) -> None:
        self.config = build_nested(NetworkConfig, self.config, "agent.config.model.config")


@dataclass
class MaskedMimicAgentConfig:
    """Online distillation (DAgger) of a tracker into a MaskedMimic model."""

    expert_model_path: str = ""
    """Run directory (or .ckpt) of the frozen teacher: a full-body tracker."""
    model: ModelSection = field(default_factory=ModelSection)
    vae: VAEConfig = field(default_factory=VAEConfig)
    num_steps: int = 32
    batch_size: int = 8192
    num_mini_epochs: int = 6
    max_grad_norm: float = 50.0
    normalize_obs: bool = True
    obs_clamp: float = 5.0
    eval_metrics_every: int = 200
    eval_conditioning: str = "full"
    """Conditioning mode of the evaluation that picks score_based.ckpt (full, pelvis, head, vr)."""

    def __post_init__(self) -> None:
        self.model = build_nested(ModelSection, self.model, "agent.config.model")
        self.vae = build_nested(VAEConfig, self.vae, "agent.config.vae")

    def to_dict(self) -> dict:
        return to_plain(asdict(self))
