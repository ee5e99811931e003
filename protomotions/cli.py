"""Shared code of the top-level wrapper scripts (train_masked_mimic_*.py, run_masked_mimic_*.py)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
TRAIN_SCRIPT = REPO_ROOT / "protomotions" / "train_agent.py"
CONFIG_DIR = REPO_ROOT / "protomotions" / "config"
DEFAULT_EXPERT = "data/pretrained_models/masked_mimic/smpl"
DEFAULT_MOTION = "data/motions/smpl_humanoid_walk.npy"


# ---------------------------------------------------------------------------------------------- training
def train_parser(task: str, experiment: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=f"Train a masked-mimic {task} agent (+exp=masked_mimic/{experiment}).")
    p.add_argument("--experiment_name", default=f"masked_mimic_{experiment}")
    p.add_argument("--training_max_steps", type=int, default=10_000_000)
    p.add_argument("--num_envs", type=int, default=4)
    p.add_argument("--headless", action="store_true", help="no viewer (every run here is headless)")
    p.add_argument("--motion_file", default=DEFAULT_MOTION)
    p.add_argument("--expert_model_path", default=DEFAULT_EXPERT)
    p.add_argument("--simulator", default="mujoco", choices=["mujoco", "mjwarp", "isaaclab"])
    p.add_argument("--checkpoint", default=None, help="a .ckpt to start from (default: resume results/NAME/last.ckpt)")
    p.add_argument("overrides", nargs="*", help="extra Hydra overrides, e.g. agent.config.batch_size=2048")
    return p


def train_command(args: argparse.Namespace, experiment: str) -> list[str]:
    """The direct ``protomotions/train_agent.py`` call that the wrapper stands for."""
    cmd = [
        sys.executable, str(TRAIN_SCRIPT),
        f"+exp=masked_mimic/{experiment}", "+robot=smpl", f"+simulator={args.simulator}",
        f"experiment_name={args.experiment_name}",
        f"training_max_steps={args.training_max_steps}",
        f"num_envs={args.num_envs}",
        "headless=true",
        f"motion_file={args.motion_file}",
        f"agent.config.expert_model_path={args.expert_model_path}",
    ]
    if args.checkpoint:
        cmd.append(f"checkpoint={args.checkpoint}")
    return cmd + list(args.overrides)


def check_inputs(motion_file: str | None, expert_model_path: str | None) -> None:
    if expert_model_path and not Path(expert_model_path).exists():
        raise FileNotFoundError(f"Error: Expert model path not found: {expert_model_path}")
    if motion_file and not Path(motion_file).exists():
        raise FileNotFoundError(f"Error: Motion file not found: {motion_file}")


def train_main(task: str, experiment: str, argv: list[str] | None = None) -> int:
    args = train_parser(task, experiment).parse_args(argv)
    try:
        check_inputs(args.motion_file, args.expert_model_path)
    except FileNotFoundError as e:
        print(e, file=sys.stderr)
        return 2
    cmd = train_command(args, experiment)
    print("$ " + " ".join(cmd[1:]), flush=True)
    return subprocess.call(cmd)


# ---------------------------------------------------------------------------------------------- evaluation
def eval_parser(task: str, experiment: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=f"Evaluate a trained masked-mimic {task} agent (deterministic, noise zeros).")
    p.add_argument("--checkpoint", default=f"results/masked_mimic_{experiment}/score_based.ckpt",
                   help="a .ckpt of a training run (config.yaml is read from its folder); falls back to last.ckpt")
    p.add_argument("--num_episodes", type=int, default=200)
    p.add_argument("--num_envs", type=int, default=0, help="parallel envs (0: min(num_episodes, 64))")
    p.add_argument("--seed", type=int, default=None,
                   help="seed of the evaluation episodes (commands, paths, spawns); default: the run's "
                        "env.config.eval_seed, the seed of its training-time evaluations")
    p.add_argument("--terrain", choices=["flat", "complex"], default="complex")
    p.add_argument("--simulator", default="mujoco", choices=["mujoco", "mjwarp", "isaaclab"])
    p.add_argument("--video", default=None, help="also render one episode of env 0 to this .mp4 (headless)")
    p.add_argument("--video_steps", type=int, default=300)
    p.add_argument("--metrics", default=None, help="where to write the JSON (default: metrics.json beside the checkpoint)")
    p.add_argument("--expert_only", action="store_true",
                   help="baseline: the run's frozen expert alone on the same goal-engineered targets (no student)")
    return p


def resolve_eval_checkpoint(path: str) -> Path:
    p = Path(path)
    if p.is_dir():
        p = p / "score_based.ckpt"
    if not p.is_file() and p.name == "score_based.ckpt" and (p.parent / "last.ckpt").is_file():
        return p.parent / "last.ckpt"
    if not p.is_file():
        raise FileNotFoundError(f"Error: checkpoint not found: {path} (train first, or pass --checkpoint PATH)")
    return p


def eval_main(task: str, experiment: str, argv: list[str] | None = None) -> int:
    args = eval_parser(task, experiment).parse_args(argv)
    try:
        ckpt = resolve_eval_checkpoint(args.checkpoint)
    except FileNotFoundError as e:
        print(e, file=sys.stderr)
        return 2
    from protomotions.evaluation import evaluate_task_checkpoint, print_table, record_video

    result = evaluate_task_checkpoint(ckpt, num_episodes=args.num_episodes, num_envs=args.num_envs, seed=args.seed,
                                      terrain=args.terrain, simulator=args.simulator, expert_only=args.expert_only)
    metrics, env, agent = result["metrics"], result["env"], result["agent"]
    out = Path(args.metrics) if args.metrics else ckpt.parent / "metrics.json"
    payload = {"checkpoint": str(ckpt), "task": task, "terrain": args.terrain, "num_episodes": args.num_episodes,
               "seed": int(result["config"].env.config.eval_seed), "simulator": args.simulator,
               "policy": "expert alone" if args.expert_only else "agent", "metrics": metrics}
    out.write_text(json.dumps(payload, indent=2))
    who = ", expert alone" if args.expert_only else ""
    print_table(f"{task} evaluation ({args.num_episodes} episodes, {args.terrain} terrain{who})", metrics)
    print(f"metrics written to {out}")
    if args.video:
        frames = record_video(env, agent, args.video, steps=args.video_steps)
        print(f"video written to {args.video} ({frames} frames)")
    env.close()
    return 0
