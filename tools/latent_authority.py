"""How much control the expert's latent has over its actions, on states of a task env.

A task student acts through the expert's latent space; if moving the latent by the prior's own
spread barely changes the decoded action, PPO exploring with that spread sees almost no signal.

    python tools/latent_authority.py --expert data/pretrained_models/masked_mimic/smpl [--exp steering_training]

Rolls the expert for --warmup steps from reset, then prints the action change (RMS over envs and
DoF) for latent offsets of k·σ_p, for the latent set to zero, and for another env's prior mean.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir

# this checkout's package, whichever one pip last installed in editable mode (a CI clone re-points it)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from protomotions.agents.masked_mimic.expert import load_expert
from protomotions.agents.masked_mimic_task.agent import expert_requirements
from protomotions.builders import build_env, build_simulator, build_terrain

REPO = Path(__file__).resolve().parents[1]


def rms(x: torch.Tensor) -> float:
    return x.square().mean().sqrt().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--expert", default="data/pretrained_models/masked_mimic/smpl")
    parser.add_argument("--exp", default="steering_training", help="masked_mimic experiment whose env to use")
    parser.add_argument("--num_envs", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    with initialize_config_dir(config_dir=str(REPO / "protomotions" / "config"), version_base="1.3"):
        cfg = compose("base", overrides=[f"+exp=masked_mimic/{args.exp}", "+robot=smpl", "+simulator=mujoco",
                                         f"num_envs={args.num_envs}", f"seed={args.seed}"])
    terrain = build_terrain(cfg)
    env = build_env(cfg, build_simulator(cfg, terrain, device="cpu"), terrain)
    try:
        expert = load_expert(args.expert, expert_requirements(env, 64), "cpu")
        obs = env.reset()
        with torch.no_grad():
            for _ in range(args.warmup):
                obs, *_ = env.step(expert.act(obs))
            mu, logvar = expert.prior(obs)
            sigma = (0.5 * logvar).exp()
            norm = expert.normalize(obs)
            base = expert.model.decode(norm, mu)
            print(f"prior σ: mean {sigma.mean():.3f} (min {sigma.min():.3f}, max {sigma.max():.3f}); "
                  f"|μ_p| mean {mu.abs().mean():.3f}; action RMS {rms(base):.4f}")
            for k in (1.0, 3.0, 10.0):
                moved = expert.model.decode(norm, mu + k * sigma * torch.randn_like(mu))
                print(f"latent + {k:g}·σ_p·ε      → action change RMS {rms(moved - base):.4f}")
            print(f"latent = 0              → action change RMS {rms(expert.model.decode(norm, torch.zeros_like(mu)) - base):.4f}")
            print(f"another env's μ_p       → action change RMS {rms(expert.model.decode(norm, mu.roll(1, 0)) - base):.4f}")
    finally:
        env.close()


if __name__ == "__main__":
    main()
