"""Runner tests on a tiny batched torch env: learning, logging, checkpoints, resume, 2-process DDP."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import torch

from protomotions.agents.checkpoint import BEST_CHECKPOINT, LAST_CHECKPOINT, load_checkpoint
from protomotions.agents.ppo.agent import PPOAgent
from protomotions.agents.ppo.config import PPOAgentConfig
from protomotions.agents.runner import Runner, RunnerConfig


@pytest.fixture(autouse=True)
def single_torch_thread():
    """Tiny networks run ~20x faster on one intra-op thread when the 2 cores are shared."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


class PointMassEnv:
    """Batched 1-D point mass that must reach a per-episode target.

    Action (N, 1) in [-1, 1] (clamped) moves the mass by ``0.2 · a`` per step.
    Reward exp(−2·d²), d = target − pos. Terminated when |pos| > 3 (left the arena, no
    bootstrap); truncated after ``max_episode_length`` steps (bootstrapped).
    obs: {"state": (N, 2) = [target − pos, pos]}.
    """

    def __init__(self, num_envs: int = 64, max_episode_length: int = 40, seed: int = 0) -> None:
        self.num_envs = num_envs
        self.device = torch.device("cpu")
        self.obs_spec = {"state": 2}
        self.action_dim = 1
        self.dt = 0.1
        self.max_episode_length = max_episode_length
        self.generator = torch.Generator().manual_seed(seed)
        self.pos = torch.zeros(num_envs)
        self.target = torch.zeros(num_envs)
        self.progress = torch.zeros(num_envs, dtype=torch.long)
        self.reset()

    def _uniform(self, n: int, low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(n, generator=self.generator)

    def observations(self) -> dict[str, torch.Tensor]:
        return {"state": torch.stack([self.target - self.pos, self.pos], dim=-1)}

    def reset(self, env_ids: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        ids = torch.arange(self.num_envs) if env_ids is None else env_ids
        self.pos[ids] = self._uniform(len(ids), -2.0, 2.0)
        self.target[ids] = self._uniform(len(ids), -2.0, 2.0)
        self.progress[ids] = 0
        return self.observations()

    def step(self, actions: torch.Tensor):
        assert actions.shape == (self.num_envs, 1)
        a = actions.squeeze(-1).clamp(-1.0, 1.0)
        self.pos = self.pos + 0.2 * a
        self.progress += 1
        distance_reward = torch.exp(-2.0 * (self.target - self.pos).square())
        effort = -0.01 * a.square()
        terminated = self.pos.abs() > 3.0
        truncated = (self.progress >= self.max_episode_length) & ~terminated
        extras = {
            "rewards/distance": distance_reward,
            "rewards/effort": effort,
            "episode_length": self.progress.clone(),
        }
        return self.observations(), distance_reward + effort, terminated, truncated, extras

    def evaluate(self, act_fn) -> dict[str, float]:
        """One deterministic episode of every env; score = mean distance reward."""
        obs = self.reset()
        total = torch.zeros(self.num_envs)
        for _ in range(self.max_episode_length):
            obs, _reward, _, _, extras = self.step(act_fn(obs))
            total += extras["rewards/distance"]
        mean = (total / self.max_episode_length).mean().item()
        return {"eval/mean_distance_reward": mean, "score": mean}


def tiny_agent_config(**overrides) -> PPOAgentConfig:
    values = {
        "num_steps": 16,
        "batch_size": 256,
        "num_mini_epochs": 4,
        "gamma": 0.95,
        "gae_lambda": 0.95,
        "entropy_coef": 0.0,
        "model": {
            "config": {
                "actor_obs_keys": ["state"],
                "critic_obs_keys": ["state"],
                "actor_units": [32, 32],
                "critic_units": [32, 32],
                "activation": "elu",
                "init_log_std": -0.7,
                "learnable_log_std": True,
                "optimizer": {"lr": 3e-3},
            }
        },
    }
    values.update(overrides)
    return PPOAgentConfig(**values)


def make_fabric(save_dir: Path, **kwargs):
    from protomotions.agents.fabric_setup import build_fabric

    fabric = build_fabric({"ngpu": 1, "nodes": 1, "save_dir": str(save_dir)}, **kwargs)
    fabric.launch()
    return fabric


def make_run(save_dir: Path, max_epochs: int, seed: int = 0, **runner_kwargs):
    torch.manual_seed(seed)
    fabric = make_fabric(save_dir)
    env = PointMassEnv(num_envs=64, seed=seed)
    agent = PPOAgent(tiny_agent_config(), env.obs_spec, env.action_dim, env.num_envs, fabric)
    config = RunnerConfig(save_dir=str(save_dir), max_epochs=max_epochs, progress_bar=False, **runner_kwargs)
    return Runner(fabric, env, agent, config), env, agent


def test_ppo_raises_mean_reward_and_logs(tmp_path):
    runner, env, agent = make_run(tmp_path, max_epochs=24, eval_metrics_every=12)
    before = env.evaluate(agent.act_deterministic)["score"]
    history = []
    runner.restore()
    runner._obs = env.reset()
    for _ in range(runner.max_epochs):
        history.append(runner.run_epoch())
    after = env.evaluate(agent.act_deterministic)["score"]
    first = sum(m["charts/mean_reward"] for m in history[:3]) / 3
    last = sum(m["charts/mean_reward"] for m in history[-3:]) / 3
    print(f"deterministic score {before:.3f} -> {after:.3f}; rollout mean reward {first:.3f} -> {last:.3f}")
    assert after > before + 0.2
    assert last > first + 0.15
    for key in (
        "losses/actor_loss",
        "losses/value_loss",
        "losses/approx_kl",
        "losses/clip_fraction",
        "losses/explained_variance",
        "losses/entropy",
        "losses/grad_norm",
        "charts/steps_per_second",
        "rewards/distance",
        "rewards/effort",
    ):
        assert key in history[-1], key
    # episode statistics appear in epochs where some episode ended
    assert any("charts/episode_length" in m and "charts/episode_return" in m for m in history)
    # the critic learns: explained variance is noisy per epoch (small return variance once the
    # policy is good), so compare averages
    ev = [m["losses/explained_variance"] for m in history]
    assert sum(ev[-8:]) / 8 > 0.4 and sum(ev[-8:]) / 8 > sum(ev[:4]) / 4 + 0.2, ev
    # evaluation ran at epochs 12 and 24 and wrote score_based.ckpt with its score
    assert "eval/score" in history[11] and "eval/mean_distance_reward" in history[23]
    best = load_checkpoint(tmp_path / BEST_CHECKPOINT)
    assert best["best_score"] == pytest.approx(max(history[11]["eval/score"], history[23]["eval/score"]))
    assert (tmp_path / LAST_CHECKPOINT).is_file()


def test_fit_writes_run_directory_and_tensorboard(tmp_path):
    runner, _, _ = make_run(tmp_path, max_epochs=3, manual_save_every=2, eval_metrics_every=0)
    runner.fit()
    assert (tmp_path / "config.yaml").is_file()
    state = load_checkpoint(tmp_path / LAST_CHECKPOINT)
    assert state["epoch"] == 3 and state["global_step"] == 3 * 16 * 64
    assert not (tmp_path / BEST_CHECKPOINT).exists()  # no eval, no score
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    event_dirs = list((tmp_path / "lightning_logs").glob("version_*"))
    assert len(event_dirs) == 1
    acc = EventAccumulator(str(event_dirs[0]))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    for tag in (
        "losses/approx_kl",
        "losses/clip_fraction",
        "losses/explained_variance",
        "charts/steps_per_second",
        "charts/episode_length",
        "rewards/distance",
    ):
        assert tag in tags, tag
    steps = [e.step for e in acc.Scalars("losses/approx_kl")]
    assert steps == [1024, 2048, 3072]


def test_wall_clock_budget_counts_from_process_start_and_saves(tmp_path, capsys):
    # the process (imports, env set-up: a GPU kernel compile on a fresh machine) has already used this
    # budget, so the run stops after its first epoch, saves, and says how to go on
    runner, _, _ = make_run(tmp_path, max_epochs=50, manual_save_every=10, eval_metrics_every=0, max_wall_seconds=1e-3)
    runner.fit()
    assert load_checkpoint(tmp_path / LAST_CHECKPOINT)["epoch"] == 1
    assert "wall-clock budget" in capsys.readouterr().out


def test_resume_continues_epoch_and_step_count(tmp_path):
    runner, _, agent = make_run(tmp_path, max_epochs=3, manual_save_every=2, eval_metrics_every=0)
    runner.fit()
    saved = {k: v.clone() for k, v in agent.module.state_dict().items()}

    resumed, _, agent2 = make_run(tmp_path, max_epochs=5, seed=1, manual_save_every=2, eval_metrics_every=0)
    assert resumed.restore() == tmp_path / LAST_CHECKPOINT
    assert (resumed.epoch, resumed.global_step) == (3, 3 * 1024)
    for key, value in agent2.module.state_dict().items():
        torch.testing.assert_close(value, saved[key])
    resumed.fit()
    assert (resumed.epoch, resumed.global_step) == (5, 5 * 1024)
    state = load_checkpoint(tmp_path / LAST_CHECKPOINT)
    assert (state["epoch"], state["global_step"]) == (5, 5 * 1024)


def test_explicit_checkpoint_path_is_loaded(tmp_path):
    first, _, _ = make_run(tmp_path / "a", max_epochs=2, eval_metrics_every=0)
    first.fit()
    other, _, _ = make_run(
        tmp_path / "b", max_epochs=4, eval_metrics_every=0, checkpoint=str(tmp_path / "a" / LAST_CHECKPOINT)
    )
    other.fit()
    assert other.epoch == 4 and load_checkpoint(tmp_path / "b" / LAST_CHECKPOINT)["epoch"] == 4
    with pytest.raises(FileNotFoundError, match="checkpoint=PATH"):
        make_run(tmp_path / "c", max_epochs=1, checkpoint=str(tmp_path / "missing.ckpt"))[0].fit()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world_size: int, port: int, out_dir: str) -> None:
    os.environ.update(
        {
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
            "WORLD_SIZE": str(world_size),
            "RANK": str(rank),
            "LOCAL_RANK": str(rank),
            "NODE_RANK": "0",
        }
    )
    torch.set_num_threads(1)
    from protomotions.agents.fabric_setup import build_fabric

    # = Fabric(accelerator="cpu", devices=2, strategy=DDPStrategy(gloo), loggers=[TensorBoard]);
    # LOCAL_RANK in the environment tells Fabric the processes already exist, so launch() spawns none
    fabric = build_fabric({"ngpu": world_size, "nodes": 1, "save_dir": out_dir})
    assert fabric.world_size == world_size and fabric.strategy.__class__.__name__ == "DDPStrategy"
    fabric.launch()
    torch.manual_seed(100 + rank)  # different init on purpose: DDP must broadcast rank 0's weights
    env = PointMassEnv(num_envs=32, seed=rank)  # each rank its own envs
    agent = PPOAgent(
        tiny_agent_config(batch_size=128, num_steps=8), env.obs_spec, env.action_dim, env.num_envs, fabric
    )
    config = RunnerConfig(save_dir=out_dir, max_epochs=3, progress_bar=False, eval_metrics_every=2)
    runner = Runner(fabric, env, agent, config)
    runner.fit()
    state = {
        "model": agent.module.state_dict(),
        "normalizer": agent.normalizer.state_dict(),
        "global_step": runner.global_step,
    }
    torch.save(state, Path(out_dir) / f"rank{rank}.pt")


def test_two_process_ddp_ends_with_identical_weights(tmp_path):
    import torch.multiprocessing as mp

    mp.spawn(_ddp_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    rank0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert rank0["global_step"] == rank1["global_step"] == 3 * 8 * 32 * 2
    for part in ("model", "normalizer"):
        for key, value in rank0[part].items():
            torch.testing.assert_close(value, rank1[part][key], rtol=0, atol=0, msg=f"{part}.{key} differs")
    # the normaliser saw both ranks' observations: 3 epochs × 8 steps × 32 envs × 2 ranks
    assert rank0["normalizer"]["stats.state.count"].item() == 3 * 8 * 32 * 2
    assert (tmp_path / LAST_CHECKPOINT).is_file() and (tmp_path / BEST_CHECKPOINT).is_file()
    # rank 0 alone writes TensorBoard events
    assert len(list((tmp_path / "lightning_logs").glob("version_*/events.out.tfevents.*"))) == 1


def test_build_from_hydra_style_config(tmp_path):
    from omegaconf import OmegaConf

    cfg = OmegaConf.merge(
        {
            "experiment_name": "tiny",
            "save_dir": str(tmp_path),
            "training_max_steps": 5 * 16 * 64 + 7,
            "checkpoint": None,
            "ngpu": 1,
            "nodes": 1,
        },
        OmegaConf.load("protomotions/config/agent/ppo.yaml"),
        {
            "agent": {
                "config": {
                    "num_steps": 16,
                    "batch_size": 256,
                    "model": {
                        "config": {
                            "actor_obs_keys": ["state"],
                            "critic_obs_keys": ["state"],
                            "actor_units": [8],
                            "critic_units": [8],
                        }
                    },
                }
            },
            "runner": {"progress_bar": False, "eval_metrics_every": 0},
        },
    )
    fabric = make_fabric(tmp_path)
    env = PointMassEnv(num_envs=64)
    agent = PPOAgent.from_run_config(cfg, fabric, env)
    runner = Runner.from_run_config(cfg, fabric, env, agent)
    assert runner.max_epochs == 5  # training_max_steps // ngpu // num_envs // num_steps
    assert runner.run_config["agent"]["config"]["num_steps"] == 16
    cfg.runner.eval_every = 3
    with pytest.raises(TypeError, match=r"eval_every.*'runner'"):
        Runner.from_run_config(cfg, fabric, env, agent)


def test_wandb_option_is_lazy_and_explains_missing_package(tmp_path):
    import importlib.util

    from protomotions.agents.fabric_setup import build_wandb_logger

    if importlib.util.find_spec("wandb") is not None:
        pytest.skip("wandb is installed")
    with pytest.raises(ModuleNotFoundError, match=r"protomotions\[wandb\]"):
        build_wandb_logger({"project": "x", "mode": "offline"}, str(tmp_path))


def test_ddp_ranks_get_their_own_env_seed_and_motion_share():
    """train_agent builds each rank's env with build_env(rank, world_size): a distinct seed, disjoint clips."""
    from hydra import compose, initialize_config_dir

    from protomotions.builders import build_env, build_simulator, build_terrain

    with initialize_config_dir(config_dir=str(Path("protomotions/config").resolve()), version_base="1.3"):
        cfg = compose("base", overrides=["+exp=full_body_tracker/mlp", "+robot=smpl", "+simulator=mujoco",
                                         "num_envs=2", "terrain=flat"])
    terrain = build_terrain(cfg)
    envs = [build_env(cfg, build_simulator(cfg, terrain, device="cpu"), terrain, rank=r, world_size=2) for r in range(2)]
    try:
        names = [set(e.motion_lib.motion_names) for e in envs]
        assert names[0] and names[1] and not names[0] & names[1]
        assert envs[0].generator.initial_seed() != envs[1].generator.initial_seed()
    finally:
        for e in envs:
            e.close()


def test_mimic_env_current_and_future_references_come_from_one_query():
    """current_reference / future_targets (one batched motion query, cached per step) equal separate queries."""
    from hydra import compose, initialize_config_dir

    from protomotions.builders import build_env, build_simulator, build_terrain

    with initialize_config_dir(config_dir=str(Path("protomotions/config").resolve()), version_base="1.3"):
        cfg = compose("base", overrides=["+exp=full_body_tracker/mlp", "+robot=smpl", "+simulator=mujoco", "num_envs=3"])
    terrain = build_terrain(cfg)
    env = build_env(cfg, build_simulator(cfg, terrain, device="cpu"), terrain)
    try:
        env.reset()
        for _ in range(4):
            env.step(torch.zeros(3, 69))
        current, (pos, _rot, _vel, ang_vel) = env.current_reference(), env.future_targets()
        alone = env.reference(env.motion_ids, env.motion_times, env.motion_offset)
        for name in ("root_pos", "root_rot", "body_pos", "body_rot", "dof_pos"):
            torch.testing.assert_close(getattr(current, name), getattr(alone, name))
        k = env.future_time_offsets.numel()
        later = env.reference(env.motion_ids.repeat_interleave(k),
                              (env.motion_times[:, None] + env.future_time_offsets[None]).reshape(-1),
                              env.motion_offset.repeat_interleave(k, dim=0))
        torch.testing.assert_close(pos, later.body_pos.reshape(3, k, 24, 3))
        torch.testing.assert_close(ang_vel, later.body_ang_vel.reshape(3, k, 24, 3))
        assert env.current_reference() is current  # cached until the next physics step or reset
        env.step(torch.zeros(3, 69))
        assert env.current_reference() is not current
    finally:
        env.close()


def test_epoch_stats_average_reward_terms_and_total_event_counts():
    from types import SimpleNamespace

    from protomotions.agents.runner import EpisodeStats

    stats = EpisodeStats(4, torch.device("cpu"))
    for flags in ([False, True, False, False], [False, True, True, False]):
        extras = {"rewards/task": torch.tensor([1.0, 0.0, 0.5, 0.5]), "counts/diverged_worlds": torch.tensor(flags)}
        stats.step(torch.ones(4), torch.zeros(4, dtype=torch.bool), extras)
    out = stats.summarize(SimpleNamespace(world_size=1))
    assert out["rewards/task"] == pytest.approx(0.5) and out["charts/diverged_worlds"] == 3.0
    assert "counts/diverged_worlds" not in out
