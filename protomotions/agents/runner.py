"""The on-policy training loop on Lightning Fabric. It owns timing, logging, evaluation and checkpoints.

Loop order, once per epoch:
    1. rollout        num_steps × (act → env.step → record_step → reset finished envs)
    2. returns        bootstrap values + GAE (agent.compute_returns)
    3. update         num_mini_epochs × minibatches (agent.update; commits normaliser stats)
    4. diagnostics    episode/reward statistics summed over ranks (one collective, one host sync)
    5. log            every epoch, rank 0, to Fabric's loggers (TensorBoard, optional wandb)
    6. checkpoint     last.ckpt every manual_save_every epochs and at the end (rank 0)
    7. evaluate       every eval_metrics_every epochs via agent.evaluate(env); a higher ``score``
                      than the best so far writes score_based.ckpt (and refreshes last.ckpt)

What the runner needs:
    env:   num_envs, reset(env_ids=None) -> obs dict, step(actions) -> (next_obs, rewards,
           terminated, truncated, extras) as in protomotions/envs/README_INTERFACE.md;
           extras "rewards/<term>" (num_envs,) tensors are logged as epoch means, "counts/<name>"
           (num_envs,) bool tensors as epoch totals ("charts/<name>").
    agent: num_steps, act, record_step, compute_returns, update, evaluate(env) -> dict,
           train_mode, state_dict, load_state_dict, config (with to_dict()); optionally
           shape_rewards(obs, actions, rewards, extras) -> (rewards, extras) for agent-side reward terms.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from protomotions import PROCESS_START
from protomotions.agents.checkpoint import (
    BEST_CHECKPOINT,
    LAST_CHECKPOINT,
    is_better,
    load_checkpoint,
    make_checkpoint,
    save_checkpoint,
)
from protomotions.agents.ppo.config import build_nested, to_plain


@dataclass
class RunnerConfig:
    """Run-level settings. ``runner:`` in the agent YAML plus the top-level keys named below."""

    save_dir: str
    """Run directory results/{experiment_name} (top-level ``save_dir``)."""
    training_max_steps: int = 10_000_000
    """Total env steps over all ranks (top-level ``training_max_steps``)."""
    max_epochs: int | None = None
    """None: training_max_steps // world_size // num_envs // num_steps."""
    manual_save_every: int = 10
    """Write last.ckpt every this many epochs (and at the end)."""
    eval_metrics_every: int = 500
    """Run agent.evaluate(env) every this many epochs (0 disables)."""
    checkpoint: str | None = None
    """A .ckpt to load (top-level ``checkpoint``); None resumes from save_dir/last.ckpt if present."""
    progress_bar: bool = True
    """Show a rich progress bar on rank 0."""
    max_wall_seconds: float | None = None
    """Stop (and save last.ckpt) after the epoch that crosses this wall-clock budget, counted from the start
    of the process (``protomotions.PROCESS_START``: set-up and kernel compiles included); a later run resumes."""


class EpisodeStats:
    """Per-epoch reward and episode statistics accumulated on the device (no syncs per step)."""

    def __init__(self, num_envs: int, device: torch.device) -> None:
        self.device = device
        self.episode_return = torch.zeros(num_envs, device=device)
        self.episode_length = torch.zeros(num_envs, device=device)
        self.term_sums: dict[str, torch.Tensor] = {}
        self._reset_epoch()

    def _reset_epoch(self) -> None:
        def zero() -> torch.Tensor:
            return torch.zeros((), device=self.device)

        self.reward_sum, self.finished_return, self.finished_length, self.finished = (
            zero(),
            zero(),
            zero(),
            zero(),
        )
        self.samples = 0
        self.term_sums = {k: zero() for k in self.term_sums}

    def reset_episodes(self) -> None:
        self.episode_return.zero_()
        self.episode_length.zero_()

    def step(self, rewards: torch.Tensor, done: torch.Tensor, extras: Mapping[str, Any]) -> None:
        """rewards (N,), done (N,) bool, extras with "rewards/<term>" (N,) tensors."""
        self.episode_return += rewards
        self.episode_length += 1
        done_f = done.float()
        self.finished_return += (self.episode_return * done_f).sum()
        self.finished_length += (self.episode_length * done_f).sum()
        self.finished += done_f.sum()
        self.episode_return *= 1.0 - done_f
        self.episode_length *= 1.0 - done_f
        self.reward_sum += rewards.sum()
        self.samples += rewards.numel()
        for key, value in extras.items():
            if key.startswith(("rewards/", "counts/")) and isinstance(value, torch.Tensor):
                self.term_sums[key] = (
                    self.term_sums.get(key, torch.zeros((), device=self.device)) + value.float().sum()
                )

    def summarize(self, fabric) -> dict[str, float]:
        """Sum over ranks (one all-reduce) and read back once; resets the epoch sums."""
        terms = sorted(self.term_sums)
        packed = torch.stack(
            [
                self.reward_sum,
                self.finished_return,
                self.finished_length,
                self.finished,
                torch.tensor(float(self.samples), device=self.device),
            ]
            + [self.term_sums[k] for k in terms]
        )
        if fabric.world_size > 1:
            packed = fabric.all_reduce(packed, reduce_op="sum")
        reward_sum, ret, length, finished, samples, *term_values = packed.tolist()
        out = {"charts/mean_reward": reward_sum / max(samples, 1.0), "charts/episodes_finished": finished}
        if finished > 0:
            out["charts/episode_return"] = ret / finished
            out["charts/episode_length"] = length / finished
        for key, value in zip(terms, term_values):
            if key.startswith("counts/"):  # events per epoch, e.g. counts/diverged_worlds -> charts/diverged_worlds
                out["charts/" + key.removeprefix("counts/")] = value
            else:
                out[key] = value / max(samples, 1.0)
        self._reset_epoch()
        return out


class Runner:
    """``Runner(fabric, env, agent, config).fit()`` trains until ``max_epochs``.

    ``run_config``: the run's full configuration as a mapping; written to save_dir/config.yaml
    (if absent) and into every checkpoint under "config". Defaults to agent + runner configs.
    """

    def __init__(
        self, fabric, env, agent, config: RunnerConfig, run_config: Mapping[str, Any] | None = None
    ) -> None:
        self.fabric = fabric
        self.env = env
        self.agent = agent
        self.config = config
        self.save_dir = Path(config.save_dir)
        self.run_config = (
            to_plain(run_config)
            if run_config is not None
            else {"agent": agent.config.to_dict(), "runner": asdict(config)}
        )
        self.steps_per_epoch = agent.num_steps * env.num_envs * fabric.world_size
        self.max_epochs = (
            config.max_epochs
            if config.max_epochs is not None
            else (int(config.training_max_steps) // fabric.world_size // env.num_envs // agent.num_steps)
        )
        if self.max_epochs <= 0:
            raise ValueError(
                f"training_max_steps={config.training_max_steps} gives max_epochs={self.max_epochs} "
                f"(= training_max_steps // ngpu({fabric.world_size}) // num_envs({env.num_envs}) // "
                f"num_steps({agent.num_steps})); raise training_max_steps or set runner.max_epochs"
            )
        self.epoch = 0
        self.global_step = 0
        self.best_score = -math.inf
        self._last_saved_epoch = -1
        self._obs: dict[str, torch.Tensor] | None = None
        self.stats = EpisodeStats(env.num_envs, fabric.device)

    @classmethod
    def from_run_config(cls, cfg, fabric, env, agent) -> Runner:
        """Top-level ``save_dir``, ``training_max_steps``, ``checkpoint`` + the ``runner:`` section."""
        section = to_plain(cfg.get("runner") or {})
        # agents may carry their own evaluation cadence (the user guide's agent.config.eval_metrics_every)
        agent_every = getattr(agent.config, "eval_metrics_every", None)
        if agent_every is not None:
            section["eval_metrics_every"] = int(agent_every)
        top = {
            "save_dir": str(cfg.save_dir),
            "training_max_steps": int(cfg.training_max_steps),
            "checkpoint": cfg.get("checkpoint"),
        }
        config = build_nested(RunnerConfig, {**top, **section}, "runner")
        return cls(fabric, env, agent, config, run_config=to_plain(cfg))

    # ----------------------------------------------------------------- checkpoints
    def checkpoint_state(self) -> dict[str, Any]:
        return make_checkpoint(
            self.agent.state_dict(), self.epoch, self.global_step, self.best_score, self.run_config
        )

    def save(self, name: str) -> None:
        if self.fabric.is_global_zero:
            save_checkpoint(self.checkpoint_state(), self.save_dir / name)
        if name == LAST_CHECKPOINT:
            self._last_saved_epoch = self.epoch

    def restore(self) -> Path | None:
        """Load ``config.checkpoint`` if set, else ``save_dir/last.ckpt`` if it exists."""
        path = Path(self.config.checkpoint) if self.config.checkpoint else self.save_dir / LAST_CHECKPOINT
        if not self.config.checkpoint and not path.is_file():
            return None
        state = load_checkpoint(path, map_location=self.fabric.device)
        self.agent.load_state_dict(state)
        self.epoch = int(state["epoch"])
        self.global_step = int(state["global_step"])
        self.best_score = float(state["best_score"])
        self._last_saved_epoch = self.epoch
        return path

    def _write_run_config(self) -> None:
        path = self.save_dir / "config.yaml"
        if self.fabric.is_global_zero and not path.exists():
            import yaml

            self.save_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(yaml.safe_dump(self.run_config, sort_keys=False))

    # ----------------------------------------------------------------- loop
    def fit(self) -> dict[str, float]:
        """Train until ``max_epochs``; returns the metrics logged at the last epoch."""
        restored = self.restore()
        self._write_run_config()
        agent, cfg = self.agent, self.agent.config
        samples = agent.num_steps * self.env.num_envs
        batch_size = getattr(agent, "effective_batch_size", getattr(cfg, "batch_size", samples))
        minibatches = samples // batch_size * getattr(cfg, "num_mini_epochs", 1)
        self.fabric.print(
            f"[runner] world_size={self.fabric.world_size} num_envs/rank={self.env.num_envs} "
            f"num_steps={agent.num_steps} samples/epoch/rank={samples} batch_size={batch_size} "
            f"minibatches/epoch={minibatches} "
            f"max_epochs={self.max_epochs} start_epoch={self.epoch}"
            + (f" (restored {restored})" if restored else "")
        )
        agent.train_mode()
        self._obs = self.env.reset()
        self.stats.reset_episodes()
        metrics: dict[str, float] = {}
        with self._progress() as (progress, task):
            while self.epoch < self.max_epochs:
                metrics = self.run_epoch()
                if self.config.max_wall_seconds and time.monotonic() - PROCESS_START > self.config.max_wall_seconds:
                    self.fabric.print(f"[runner] wall-clock budget {self.config.max_wall_seconds:.0f} s reached at "
                                      f"epoch {self.epoch}; saving {LAST_CHECKPOINT} (re-run to resume)")
                    break
                if progress is None and (self.epoch % 10 == 0 or self.epoch <= 5):  # logs without a terminal (GPU jobs, CI)
                    self.fabric.print(self._summary_line(metrics))
                if progress is not None:
                    progress.update(
                        task,
                        completed=self.epoch,
                        sps=f"{metrics['charts/steps_per_second']:,.0f}",
                        reward=f"{metrics['charts/mean_reward']:.3f}",
                        ep_len=f"{metrics.get('charts/episode_length', float('nan')):.0f}",
                    )
        if self.epoch > 0 and self._last_saved_epoch != self.epoch:
            self.save(LAST_CHECKPOINT)
        return metrics

    def _summary_line(self, metrics: dict[str, float]) -> str:
        keys = ("charts/steps_per_second", "charts/mean_reward", "charts/episode_length", "eval/success_rate",
                "eval/mpjpe_mm", "model/bc_loss")
        shown = " ".join(f"{k.split('/')[-1]}={metrics[k]:.4g}" for k in keys if k in metrics)
        return f"[runner] epoch {self.epoch}/{self.max_epochs} step {self.global_step} {shown}"

    def run_epoch(self) -> dict[str, float]:
        start = time.perf_counter()
        self._rollout()  # 1
        rollout_end = time.perf_counter()
        self.agent.compute_returns()  # 2
        metrics = self.agent.update()  # 3
        update_end = time.perf_counter()
        self.epoch += 1
        self.global_step += self.steps_per_epoch
        metrics.update(self.stats.summarize(self.fabric))  # 4
        metrics.update(
            {
                "charts/steps_per_second": self.steps_per_epoch / (update_end - start),
                "charts/rollout_seconds": rollout_end - start,
                "charts/update_seconds": update_end - rollout_end,
                "charts/epoch": float(self.epoch),
            }
        )
        total = metrics.get("losses/total_loss", 0.0)
        if not math.isfinite(total):
            raise FloatingPointError(
                f"non-finite total loss ({total}) at epoch {self.epoch}: "
                "check env rewards/observations for NaN "
                "or lower agent.config.model.config.optimizer.lr"
            )
        self.fabric.log_dict(metrics, step=self.global_step)  # 5
        if self.epoch % self.config.manual_save_every == 0:  # 6
            self.save(LAST_CHECKPOINT)
        every = self.config.eval_metrics_every
        if every and self.epoch % every == 0:  # 7
            metrics.update(self.evaluate())
        return metrics

    @torch.no_grad()
    def _rollout(self) -> None:
        env, agent, obs = self.env, self.agent, self._obs
        shape_rewards = getattr(agent, "shape_rewards", None)
        for _ in range(agent.num_steps):
            actions, log_prob, value = agent.act(obs)
            next_obs, rewards, terminated, truncated, extras = env.step(actions)
            if shape_rewards is not None:  # agent-side reward terms (e.g. agreement with an expert)
                rewards, extras = shape_rewards(obs, actions, rewards, extras)
            agent.record_step(obs, actions, log_prob, value, rewards, terminated, truncated, next_obs, extras)
            done = terminated | truncated
            self.stats.step(rewards, done, extras)
            # env.reset takes env ids, so this nonzero() is the one unavoidable sync per step
            done_ids = done.nonzero(as_tuple=False).flatten()
            obs = env.reset(done_ids) if done_ids.numel() > 0 else next_obs
        self._obs = obs

    def evaluate(self) -> dict[str, float]:
        """Run the agent's eval hook; log eval/*; keep the best score. Resets the env afterwards."""
        results = dict(self.agent.evaluate(self.env))
        if not results:
            return {}
        score = results.pop("score", results.get("eval/score"))
        metrics = {(k if k.startswith("eval/") else f"eval/{k}"): float(v) for k, v in results.items()}
        if score is not None:
            metrics["eval/score"] = float(score)
        if self.fabric.world_size > 1:
            keys = sorted(metrics)
            reduced = self.fabric.all_reduce(
                torch.tensor([metrics[k] for k in keys], device=self.fabric.device, dtype=torch.float64),
                reduce_op="mean",
            )
            metrics = dict(zip(keys, reduced.tolist()))
        self.fabric.log_dict(metrics, step=self.global_step)
        if "eval/score" in metrics and is_better(metrics["eval/score"], self.best_score):
            self.best_score = metrics["eval/score"]
            self.save(BEST_CHECKPOINT)
            if self._last_saved_epoch == self.epoch:
                self.save(LAST_CHECKPOINT)  # so a resume from this epoch knows the new best score
        self.agent.train_mode()
        self._obs = self.env.reset()
        self.stats.reset_episodes()
        return metrics

    def _progress(self):
        """Context manager yielding (progress, task_id), or (None, None) when disabled."""
        from contextlib import contextmanager

        @contextmanager
        def manager():
            if not (self.config.progress_bar and self.fabric.is_global_zero):
                yield None, None
                return
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            columns = (
                TextColumn("[bold]epoch"),
                MofNCompleteColumn(),
                BarColumn(),
                TextColumn("{task.fields[sps]} steps/s"),
                TextColumn("reward {task.fields[reward]}"),
                TextColumn("ep len {task.fields[ep_len]}"),
                TextColumn("ETA"),
                TimeRemainingColumn(),
            )
            with Progress(*columns) as progress:
                task = progress.add_task(
                    "train", total=self.max_epochs, completed=self.epoch, sps="-", reward="-", ep_len="-"
                )
                yield progress, task

        return manager()
