"""A non-learning agent that drives any env with Gaussian random actions (smoke runs, benchmarks)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch


@dataclass
class RandomPolicyConfig:
    action_std: float = 0.5
    log_every_steps: int = 30


class RandomPolicyAgent:
    config_class = RandomPolicyConfig

    def __init__(self, config: RandomPolicyConfig, fabric, env, save_dir: str | Path, training_max_steps: int) -> None:
        self.config = config
        self.fabric = fabric
        self.env = env
        self.save_dir = Path(save_dir)
        self.num_steps = max(1, int(training_max_steps) // env.num_envs)

    @classmethod
    def from_run_config(cls, cfg, fabric, env) -> RandomPolicyAgent:
        from protomotions.builders import dataclass_from_config

        config = dataclass_from_config(RandomPolicyConfig, cfg.agent.config, "agent.config")
        return cls(config, fabric, env, cfg.save_dir, cfg.training_max_steps)

    def fit(self) -> dict[str, float]:
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        env, cfg = self.env, self.config
        env.reset()
        episode_lengths: list[torch.Tensor] = []
        start = time.perf_counter()
        with Progress(TextColumn("[bold]random policy"), BarColumn(), TextColumn("{task.completed}/{task.total} steps"),
                      TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), disable=not self.fabric.is_global_zero) as bar:
            task = bar.add_task("run", total=self.num_steps, rate="")
            for step in range(1, self.num_steps + 1):
                actions = cfg.action_std * torch.randn(env.num_envs, env.action_dim, device=env.device)
                _, _, terminated, truncated, extras = env.step(actions)
                done = terminated | truncated
                if done.any():
                    episode_lengths.append(extras["episode_length"][done].float())
                    env.reset(done.nonzero().flatten())
                if step % cfg.log_every_steps == 0 or step == self.num_steps:
                    rate = step * env.num_envs / (time.perf_counter() - start)
                    metrics = {"charts/env_steps_per_second": rate}
                    if episode_lengths:
                        metrics["charts/episode_length"] = torch.cat(episode_lengths).mean().item()
                        episode_lengths.clear()
                    self.fabric.log_dict(metrics, step=step * env.num_envs)
                    bar.update(task, completed=step, rate=f"{rate:,.0f} env-steps/s")
        elapsed = time.perf_counter() - start
        return {"env_steps": self.num_steps * env.num_envs, "seconds": elapsed}
