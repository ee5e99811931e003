"""The frozen full-body tracker that labels actions while a MaskedMimic model is distilled.

A tracker run's checkpoint holds its critic too: half the bytes, which a GPU call that carries both the
teacher and the student's resume point cannot spare. ``export`` writes the actor and the observation
normaliser alone, which :func:`load_tracker` reads like a full checkpoint:

    python -m protomotions.agents.masked_mimic.teacher export results/tracker_feet /tmp/teacher
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from protomotions.agents.checkpoint import load_checkpoint, save_checkpoint
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
            # an actor-only export leaves the (unused) critic at its initial weights
            missing, unexpected = self.policy.load_state_dict(state["model"], strict=not state.get("actor_only"))
            missing = [k for k in missing if not k.startswith("critic")]
            if missing or unexpected:
                raise RuntimeError(f"weights missing {missing}, unexpected {unexpected}")
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


def export_actor(src: str | Path, dst_dir: str | Path) -> Path:
    """Write ``dst_dir``/last.ckpt with the tracker's actor, normaliser and config only (no critic, no
    optimiser), and its run's config.yaml beside it. Returns the checkpoint path."""
    ckpt = resolve_checkpoint(src)
    state = load_checkpoint(ckpt)
    if "model" not in state or "normalizer" not in state:
        raise ValueError(f"Error: {ckpt} is not a PPO tracker checkpoint (no 'model' / 'normalizer')")
    slim = {
        "model": {k: v for k, v in state["model"].items() if not k.startswith("critic")},
        "normalizer": state["normalizer"],
        "config": state["config"],
        "epoch": state.get("epoch", 0),
        "global_step": state.get("global_step", 0),
        "actor_only": True,
    }
    out = save_checkpoint(slim, Path(dst_dir) / "last.ckpt")
    if (ckpt.parent / "config.yaml").is_file():
        shutil.copy(ckpt.parent / "config.yaml", Path(dst_dir) / "config.yaml")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Export a tracker's actor for distillation (no critic).")
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export", help="SRC (run dir or .ckpt) → DST_DIR/last.ckpt + config.yaml")
    e.add_argument("src")
    e.add_argument("dst_dir")
    args = p.parse_args(argv)
    try:
        out = export_actor(args.src, args.dst_dir)
    except (FileNotFoundError, ValueError) as err:
        print(err, file=sys.stderr)
        return 2
    print(f"{out} ({out.stat().st_size / 2**20:.1f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
