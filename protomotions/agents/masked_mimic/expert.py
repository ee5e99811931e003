"""The shipped MaskedMimic expert: export from a distillation run, load and validate for task agents.

Package layout (``data/pretrained_models/masked_mimic/smpl/``):
    last.ckpt      {"model": prior + decoder weights, "normalizer": obs statistics, "obs_spec",
                    "expert": {"latent_dim", "robot", "env"}} — readable with torch.load(weights_only=True)
    config.yaml    the resolved configuration of the run that produced it
    MODEL_CARD.md  data, command, metrics, licence

    python -m protomotions.agents.masked_mimic.expert export results/masked_mimic_expert data/pretrained_models/masked_mimic/smpl
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path

import torch
import yaml
from torch import nn

from protomotions.agents.checkpoint import load_checkpoint, save_checkpoint
from protomotions.agents.common.normalizer import DictNormalizer
from protomotions.agents.masked_mimic.config import MaskedMimicAgentConfig
from protomotions.agents.masked_mimic.model import MaskedMimicModel
from protomotions.agents.masked_mimic.teacher import resolve_checkpoint, saved_obs_spec
from protomotions.agents.ppo.config import to_plain

EXPERT_FILE = "last.ckpt"
# env settings that change what the expert's inputs mean
ENV_LAYOUT_KEYS = ("keyframe_steps", "history_length", "history_stride", "action_scale", "reference_ground_radius")


class ExpertPolicy(nn.Module):
    """Frozen prior + decoder: raw obs → latent (prior) → action mean (pre-tanh)."""

    def __init__(self, model: MaskedMimicModel, normalizer: DictNormalizer, meta: Mapping) -> None:
        super().__init__()
        self.model, self.normalizer, self.meta = model, normalizer, dict(meta)
        self.requires_grad_(False)
        self.eval()

    @property
    def latent_dim(self) -> int:
        return self.model.latent_dim

    def normalize(self, obs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return self.normalizer({k: v for k, v in obs.items() if k in self.normalizer.stats})

    @torch.no_grad()
    def prior(self, obs: Mapping[str, torch.Tensor], normalized: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """(μ_p, log σ²_p), each (N, latent_dim), from the masked goals of ``obs`` (already ``normalize``d
        when ``normalized``: callers that also decode normalise once)."""
        lat = self.model.latents(obs if normalized else self.normalize(obs), use_encoder=False)
        return lat.mu_prior, lat.logvar_prior

    @torch.no_grad()
    def decode(self, obs: Mapping[str, torch.Tensor], z: torch.Tensor, normalized: bool = False) -> torch.Tensor:
        """The action for latent ``z``; ``decode(obs, prior(obs)[0])`` equals ``act(obs)``."""
        return self.model.decode(obs if normalized else self.normalize(obs), z)

    @torch.no_grad()
    def act(self, obs: Mapping[str, torch.Tensor], noise: torch.Tensor | None = None) -> torch.Tensor:
        norm = self.normalize(obs)
        lat = self.model.latents(norm, use_encoder=False)
        return self.model.decode(norm, self.model.sample(lat, noise))


def export_expert(run: str | Path, out_dir: str | Path, keep_encoder: bool = False) -> Path:
    """Slim package from a distillation run directory (its score_based.ckpt, else last.ckpt)."""
    ckpt_path = resolve_checkpoint(run)
    state = load_checkpoint(ckpt_path)
    cfg = state["config"]
    agent_cfg = MaskedMimicAgentConfig(**to_plain(cfg["agent"]["config"]))
    model = {k: v for k, v in state["model"].items() if keep_encoder or not k.startswith(("encoder.", "encoder_input."))}
    package = {
        "model": model,
        "normalizer": state["normalizer"],
        "obs_spec": saved_obs_spec(state),
        "expert": {
            "latent_dim": agent_cfg.vae.latent_dim,
            "robot": {"num_bodies": int(cfg["robot"]["num_bodies"]), "num_dofs": int(cfg["robot"]["num_dofs"])},
            "env": {k: cfg["env"]["config"].get(k) for k in ENV_LAYOUT_KEYS},
            "network": to_plain(cfg["agent"]["config"]["model"]["config"]),
            "source_checkpoint": str(ckpt_path), "epoch": int(state["epoch"]), "global_step": int(state["global_step"]),
        },
    }
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = save_checkpoint(package, out / EXPERT_FILE)
    (out / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def expert_mismatches(meta: Mapping, obs_spec: Mapping[str, int], current: Mapping) -> list[str]:
    """Human-readable differences between the expert and the current run (empty when compatible).

    ``current``: {"latent_dim", "robot": {"num_bodies", "num_dofs"}, "env": {ENV_LAYOUT_KEYS...}, "obs_spec"}.
    """
    diffs = []
    if int(meta["latent_dim"]) != int(current["latent_dim"]):
        diffs.append(f"vae.latent_dim: expert {meta['latent_dim']} vs current {current['latent_dim']}")
    for key in ("num_bodies", "num_dofs"):
        if meta["robot"][key] != current["robot"][key]:
            diffs.append(f"robot.{key}: expert {meta['robot'][key]} vs current {current['robot'][key]}")
    for key in ENV_LAYOUT_KEYS:
        a, b = meta["env"].get(key), current["env"].get(key)
        if a is not None and b is not None and to_plain(a) != to_plain(b):
            diffs.append(f"env.config.{key}: expert {a} vs current {b}")
    net = meta["network"]
    needed = set(net["prior_obs_keys"]) | set(net["decoder_obs_keys"])
    for key in sorted(needed):
        have = current["obs_spec"].get(key)
        if have != obs_spec.get(key):
            diffs.append(f"observation '{key}': expert {obs_spec.get(key)} values vs current {have}")
    return diffs


def load_expert(path: str | Path, current: Mapping, device="cpu") -> ExpertPolicy:
    """Load ``path`` (a package directory or its .ckpt) and validate it against ``current``.

    Raises FileNotFoundError("Error: Expert model path not found: <path>"), ValueError for an
    unreadable file, AssertionError("Configuration mismatch between expert and current model ...")
    listing each differing key.
    """
    p = Path(path)
    file = p / EXPERT_FILE if p.is_dir() else p
    if not p.exists() or not file.is_file():
        raise FileNotFoundError(f"Error: Expert model path not found: {path}")
    try:
        package = torch.load(file, map_location="cpu", weights_only=True)
        meta, obs_spec = package["expert"], {k: int(v) for k, v in package["obs_spec"].items()}
        network = meta["network"]
    except Exception as e:
        raise ValueError(f"Error: expert checkpoint {file} is unreadable or not a masked-mimic expert ({e}); "
                         "re-export it with `python -m protomotions.agents.masked_mimic.expert export RUN DIR`") from e
    diffs = expert_mismatches(meta, obs_spec, current)
    if diffs:
        raise AssertionError("Configuration mismatch between expert and current model:\n  " + "\n  ".join(diffs))
    from protomotions.agents.masked_mimic.config import NetworkConfig

    model = MaskedMimicModel(obs_spec, int(meta["robot"]["num_dofs"]), NetworkConfig(**network), int(meta["latent_dim"]))
    missing, unexpected = model.load_state_dict(package["model"], strict=False)
    if unexpected or any(not k.startswith(("encoder.", "encoder_input.")) for k in missing):
        raise AssertionError(f"Configuration mismatch between expert and current model: weights missing {missing}, "
                             f"unexpected {unexpected}")
    normalizer = DictNormalizer(obs_spec)
    normalizer.load_state_dict(package["normalizer"])
    return ExpertPolicy(model, normalizer, meta).to(device)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export", help="write the slim expert package from a distillation run")
    e.add_argument("run")
    e.add_argument("out_dir")
    e.add_argument("--keep-encoder", action="store_true")
    args = p.parse_args(argv)
    path = export_expert(args.run, args.out_dir, args.keep_encoder)
    print(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MB) and {Path(args.out_dir) / 'config.yaml'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
