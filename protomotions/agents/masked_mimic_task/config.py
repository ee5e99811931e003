"""Configuration of the masked-mimic task agent; YAML keys under ``agent.config`` are these fields.

Override paths of the user guide: ``agent.config.expert_model_path``, ``agent.config.batch_size``,
``agent.config.num_mini_epochs``, ``agent.config.eval_metrics_every``,
``agent.config.model.config.optimizer.lr``, ``agent.config.vae.noise_type``,
``agent.config.vae.latent_dim``, ``agent.config.vae.kld_schedule``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from protomotions.agents.masked_mimic.config import VAEConfig
from protomotions.agents.ppo.config import OptimizerConfig, build_nested, to_plain

POLICY_SPACES = ("latent", "action")


@dataclass
class StudentNetworkConfig:
    encoder_obs_keys: list[str] = field(default_factory=lambda: ["self_obs", "terrain", "steering"])
    critic_obs_keys: list[str] = field(default_factory=lambda: ["self_obs", "terrain", "steering"])
    decoder_obs_keys: list[str] = field(default_factory=lambda: ["self_obs", "terrain"])
    """Only used to build an empty decoder before loading a checkpoint; normally the expert's decoder is copied."""
    encoder_units: list[int] = field(default_factory=lambda: [512, 512])
    critic_units: list[int] = field(default_factory=lambda: [512, 512])
    decoder_units: list[int] = field(default_factory=lambda: [1024, 512])
    activation: str = "relu"
    optimizer: OptimizerConfig = field(default_factory=lambda: OptimizerConfig(lr=5e-5))
    prior_residual: bool = False
    """The encoder outputs a residual on the expert's prior N(μ_p, σ²_p) of the goal-engineered targets
    (μ = μ_p + Δμ, log σ² = log σ²_p + Δ) instead of the latent itself, and starts at Δ ≈ 0: the untrained
    student then acts as the expert does, and PPO corrects it. False (the v1 agents): the encoder alone."""

    def __post_init__(self) -> None:
        for key in ("encoder_obs_keys", "critic_obs_keys", "decoder_obs_keys", "encoder_units", "critic_units",
                    "decoder_units"):
            setattr(self, key, list(to_plain(getattr(self, key))))
        self.optimizer = build_nested(OptimizerConfig, self.optimizer, "agent.config.model.config.optimizer")


@dataclass
class StudentModelSection:
    config: StudentNetworkConfig = field(default_factory=StudentNetworkConfig)

    def __post_init__(self) -> None:
        self.config = build_nested(StudentNetworkConfig, self.config, "agent.config.model.config")


@dataclass
class MaskedMimicTaskAgentConfig:
    expert_model_path: str = "data/pretrained_models/masked_mimic/smpl"
    """Directory of the frozen masked-mimic expert package (or its last.ckpt)."""
    model: StudentModelSection = field(default_factory=StudentModelSection)
    vae: VAEConfig = field(default_factory=lambda: VAEConfig(kld_schedule={
        "enabled": True, "start_epoch": 0, "end_epoch": 1000, "start_value": 1.0e-3, "end_value": 1.0e-2}))
    num_steps: int = 32
    batch_size: int = 1024
    num_mini_epochs: int = 6
    eval_metrics_every: int = 500
    eval_num_episodes: int = 0
    """Episodes per evaluation (0: the env's default)."""
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_ratio: float = 0.2
    value_loss_coef: float = 1.0
    clip_value_loss: bool = True
    value_clip: float = 0.2
    entropy_coef: float = 0.0
    bounds_loss_coef: float = 0.0
    bounds_soft_limit: float = 1.0
    normalize_advantages: bool = True
    max_grad_norm: float = 50.0
    normalize_obs: bool = True
    obs_clamp: float = 5.0
    ppo_coef: float = 1.0
    """Weight of the PPO (actor) loss on the latent policy."""
    bc_coef: float = 1.0
    """Weight of ‖decoder(state, z) − expert action‖² on the states the student visits."""
    task_reward_weight: float = 1.0
    motion_quality_weight: float = 0.5
    """Reward for agreeing with the expert: w · exp(−scale · mean‖a − a_expert‖²), logged as rewards/motion_quality."""
    motion_quality_scale: float = 2.0
    exploration_std_scale: float = 1.0
    """The latent policy samples (and PPO scores) z ~ N(μ, (k·σ)²) with k = this; the KL to the prior uses σ.
    The expert's decoder barely reacts to latent noise of the prior's σ (tools/latent_authority.py), so
    k > 1 widens the search without pushing the student's own σ away from the prior's."""

    policy_space: str = "latent"
    """What PPO's policy distribution is over. "latent": z ~ N(μ, (kσ)²) and the decoder is trained by BC
    alone (the v1/v2 agents). "action": a ~ N(D(s, z), exp(action_log_std)²) with the latent noise ε of
    the rollout held fixed, so that PPO's gradient reaches the encoder through the decoder and the decoder
    itself, while BC and the KL keep both near the expert."""
    action_log_std: float = -2.9
    """Log standard deviation of the action noise with policy_space="action" (fixed; the tracker's value)."""

    def __post_init__(self) -> None:
        if self.policy_space not in POLICY_SPACES:
            raise ValueError(f"agent.config.policy_space={self.policy_space!r}: use one of {POLICY_SPACES}")
        if not self.exploration_std_scale > 0.0:
            raise ValueError(f"agent.config.exploration_std_scale={self.exploration_std_scale}: must be > 0")
        self.model = build_nested(StudentModelSection, self.model, "agent.config.model")
        self.vae = build_nested(VAEConfig, self.vae, "agent.config.vae")

    def to_dict(self) -> dict:
        return to_plain(asdict(self))
