"""Evaluate a saved task-agent checkpoint: rebuild its run from config.yaml, act deterministically."""

from __future__ import annotations

from pathlib import Path

import torch
from omegaconf import OmegaConf

from protomotions.agents.checkpoint import load_checkpoint
from protomotions.envs.steering.keyframe_task import KeyframeTaskConfig

CONFIG_DIR = Path(__file__).resolve().parent / "config"


def run_config_for(ckpt: Path):
    """config.yaml beside the checkpoint (or one level up)."""
    for folder in (ckpt.parent, ckpt.parent.parent):
        if (folder / "config.yaml").is_file():
            return OmegaConf.load(folder / "config.yaml")
    raise FileNotFoundError(f"Error: no config.yaml beside {ckpt} or in its parent folder")


def one_torch_thread_beside_cpu_physics(simulator) -> None:
    """For rollout-only runs (evaluations) on a CPU backend with a thread pool: one torch thread.

    The env's tensors are small, and torch's OpenMP threads fall asleep while the physics pool
    steps, so every parallel op after physics pays their wake-up (on 2 cores, evaluate_expert over
    36 clips took 7.6 s with torch's 2 threads, 5.8 s with 1). Training keeps torch's threads for
    its PPO update, which needs them (tracker, 64 envs: 390 vs 560 env-steps/s with 1 thread).
    """
    if simulator.device.type == "cpu" and getattr(simulator, "num_threads", 1) > 1:
        torch.set_num_threads(1)


def evaluate_task_checkpoint(ckpt: Path, num_episodes: int, num_envs: int = 0, seed: int | None = None, terrain: str = "complex",
                             simulator: str = "mujoco", device: str | None = None, expert_only: bool = False) -> dict:
    """Deterministic task evaluation of a training checkpoint. ``expert_only``: the frozen expert of
    that run acting alone on the task's goal-engineered keyframes (the baseline the agent starts from);
    the returned ``agent`` then acts with the expert too (for videos)."""
    from lightning.fabric import Fabric

    from protomotions.agents.masked_mimic_task.agent import MaskedMimicTaskAgent
    from protomotions.builders import build_env, build_simulator, build_terrain

    cfg = run_config_for(ckpt)
    OmegaConf.set_struct(cfg, False)
    terrain_cfg = OmegaConf.load(CONFIG_DIR / "terrain" / f"{terrain}.yaml")
    cfg.terrain = terrain_cfg.terrain
    cfg.env.config.use_terrain_obs = bool(cfg.env.config.get("use_terrain_obs", True))
    cfg.num_envs = num_envs or min(num_episodes, 64)
    if seed is not None:  # the episodes' commands and spawns come from the env's eval_seed
        cfg.seed = seed
        cfg.env.config.eval_seed = seed
    cfg.simulator.name = simulator
    cfg.agent.config.vae.noise_type = "zeros"  # deterministic evaluation
    cfg.agent.config.eval_num_episodes = num_episodes
    # the metrics are this code's definitions, not the trained run's: older runs stored a height test for contact
    cfg.env.config.contact_force = KeyframeTaskConfig.contact_force
    cfg.env.config.contact_height = KeyframeTaskConfig.contact_height
    device = device or ("cuda" if simulator == "mjwarp" and torch.cuda.is_available() else "cpu")
    torch.manual_seed(int(cfg.env.config.eval_seed))
    fabric = Fabric(accelerator="cuda" if device.startswith("cuda") else "cpu", devices=1)
    terrain_obj = build_terrain(cfg)
    sim = build_simulator(cfg, terrain_obj, device=device)
    one_torch_thread_beside_cpu_physics(sim)
    env = build_env(cfg, sim, terrain_obj)
    agent = MaskedMimicTaskAgent.from_run_config(cfg, fabric, env)
    if expert_only:
        agent = ExpertActor(agent.expert)
        metrics = dict(env.evaluate(agent.act_deterministic, num_episodes=num_episodes))
    else:
        agent.load_state_dict(load_checkpoint(ckpt, map_location=device))
        metrics = agent.evaluate(env)
    return {"metrics": metrics, "env": env, "agent": agent, "config": cfg}


class ExpertActor:
    """The frozen expert behind the agent interface that ``record_video`` uses (prior mean, no noise)."""

    def __init__(self, expert) -> None:
        self.expert = expert

    @torch.no_grad()
    def act_deterministic(self, obs):
        return self.expert.act(obs)


def print_table(title: str, metrics: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in metrics.items():
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    Console().print(table)


@torch.no_grad()
def record_video(env, agent, path: str | Path, steps: int = 300, width: int = 640, height: int = 480) -> int:
    """One episode of env 0 with task markers, rendered headless to an MP4 at the control rate."""
    import imageio.v2 as imageio

    obs = env.reset()
    frames = 0
    fps = round(1.0 / env.dt)
    with imageio.get_writer(str(path), fps=fps, codec="libx264", quality=7, macro_block_size=8) as writer:
        for _ in range(steps):
            markers = env.markers(0) if hasattr(env, "markers") else None
            writer.append_data(env.simulator.render(0, width, height, markers=markers))
            frames += 1
            obs, _, terminated, truncated, _ = env.step(agent.act_deterministic(obs))
            done = terminated | truncated
            if bool(done[0]):
                break
            if done.any():
                obs = env.reset(done.nonzero().flatten())
    return frames
