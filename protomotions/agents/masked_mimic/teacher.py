"""The frozen full-body tracker that labels actions while a MaskedMimic model is distilled."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from protomotions.agents.checkpoint import load_checkpoint
from protomotions.agents.common.normalizer import DictNormalizer
from protomotions.agents.ppo.config import PPOAgentConfig, to_plain
from protomotions.agents.ppo.model import ActorCritic


def resolve_checkpoint(path: str | Path) -> Path:
    """A run directory → its score_based.ckpt (else last.ckpt); a file → itself."""
    p = Path(path)
    if p.is_dir():
        for name in ("score_based.ckpt", "last.ckpt"):
            if (p / name).is_file():
                return p / name
        raise FileNotFoundError(f"Error: no score_based.ckpt or last.ckpt in {p}")
    if not p.is_file():
        raise FileNotFoundError(f"Error: Expert model path not found: {path}")
    return p


def saved_obs_spec(state: Mapping) -> dict[str, int]:
    """Observation widths a PPO checkpoint was trained on, read off its normaliser statistics."""
    return {k.split(".")[1]: int(v.shape[0]) for k, v in state["normalizer"].items() if k.endswith(".mean")}


class TrackerTeacher(nn.Module):
    """Deterministic tracker policy: raw obs dict → action mean (N, 69), normalising with its own stats."""

    def __init__(self, state: Mapping, obs_spec: Mapping[str, int], action_dim: int) -> None:
        super().__init__()
        agent_cfg = PPOAgentConfig(**to_plain(state["config"]["agent"]["config"]))
        net = agent_cfg.model.config
        spec = saved_obs_spec(state)
        used = sorted(set(net.actor_obs_keys) | set(net.critic_obs_keys))
        differing = [f"{k}: expert {spec.get(k)} vs env {obs_spec.get(k)}" for k in used if spec.get(k) != obs_spec.get(k)]
        if differing:
            raise AssertionError("Configuration mismatch between expert and current model: observation layout differs "
                                 "(" + "; ".join(differing) + ")")
        self.keys = list(net.actor_obs_keys)
        self.policy = ActorCritic(spec, action_dim, net)
        self.normalizer = DictNormalizer(spec, agent_cfg.obs_clamp, enabled=agent_cfg.normalize_obs)
        try:
            self.policy.load_state_dict(state["model"])
            self.normalizer.load_state_dict(state["normalizer"])
        except RuntimeError as e:
            raise AssertionError(f"Configuration mismatch between expert and current model: {e}") from e
        self.requires_grad_(False)
        self.eval()

    @torch.no_grad()
    def forward(self, obs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return self.policy.action_mean(self.normalizer({k: obs[k] for k in self.keys}))


def load_tracker(path: str | Path, obs_spec: Mapping[str, int], action_dim: int, device) -> TrackerTeacher:
    state = load_checkpoint(resolve_checkpoint(path), map_location="cpu")
    return TrackerTeacher(state, obs_spec, action_dim).to(device)
