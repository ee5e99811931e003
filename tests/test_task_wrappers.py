"""The user guide's three ways to run a task agent, end to end on CPU with a tiny expert trained here."""

import contextlib
import glob
import json
import subprocess
import sys

import pytest

from protomotions.cli import train_command, train_parser
from tests.conftest import REPO

TAGS = {"model/bc_loss", "model/vae_kld_loss", "model/kld_coeff", "rewards/motion_quality"}


def scalar_tags(run_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(glob.glob(str(run_dir / "lightning_logs" / "*"))[0])
    acc.Reload()
    return set(acc.Tags()["scalars"])


def task_env(*overrides: str):
    """(cfg, env) of a composed run on the embedded MuJoCo default, built as train_agent.py does."""
    from hydra import compose, initialize_config_dir

    from protomotions.builders import build_env, build_simulator, build_terrain

    with initialize_config_dir(config_dir=str(REPO / "protomotions" / "config"), version_base="1.3"):
        cfg = compose("base", overrides=["+robot=smpl", "+simulator=mujoco", *overrides])
    terrain = build_terrain(cfg)
    return cfg, build_env(cfg, build_simulator(cfg, terrain, device="cpu"), terrain)


@contextlib.contextmanager
def shipped_expert_agent(*overrides: str):
    """A steering task agent on the shipped expert (8 CPU envs) and its env, built as train_agent.py does."""
    from lightning.fabric import Fabric

    from protomotions.agents.masked_mimic_task.agent import MaskedMimicTaskAgent

    cfg, env = task_env("+exp=masked_mimic/steering_training", "num_envs=8",
                        f"agent.config.expert_model_path={REPO / 'data/pretrained_models/masked_mimic/smpl'}", *overrides)
    try:
        fabric = Fabric(accelerator="cpu", devices=1)
        fabric.launch()
        yield cfg, env, MaskedMimicTaskAgent.from_run_config(cfg, fabric, env)
    finally:
        env.close()


def test_wrapper_builds_the_direct_command():
    args = train_parser("steering", "steering_training").parse_args(
        ["--experiment_name", "e", "--num_envs", "8", "--training_max_steps", "99", "--headless", "agent.config.batch_size=64"])
    cmd = train_command(args, "steering_training")
    assert cmd[2:] == ["+exp=masked_mimic/steering_training", "+robot=smpl", "+simulator=mujoco", "experiment_name=e",
                       "training_max_steps=99", "num_envs=8", "headless=true",
                       "motion_file=data/motions/smpl_humanoid_walk.npy",
                       "agent.config.expert_model_path=data/pretrained_models/masked_mimic/smpl",
                       "agent.config.batch_size=64"]


@pytest.mark.parametrize("task,reward_tag", [("steering", "rewards/steering_reward"),
                                              ("path_follower", "rewards/path_following_reward")])
def test_wrapper_trains_resumes_and_evaluates(task, reward_tag, tiny_expert, tmp_path):
    name = f"wrap_{task}"
    save_dir = tmp_path / name
    common = [sys.executable, f"train_masked_mimic_{task}.py", "--experiment_name", name, "--num_envs", "4",
              "--training_max_steps", "256", "--headless", "--expert_model_path", str(tiny_expert),
              f"save_dir={save_dir}", "agent.config.eval_metrics_every=2", "env.config.eval_num_episodes=2",
              "env.config.max_episode_length=40"]
    r = subprocess.run(common, cwd=REPO, capture_output=True, text=True, check=False, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (save_dir / "last.ckpt").is_file() and (save_dir / "config.yaml").is_file()
    assert TAGS | {reward_tag, "eval/success_rate"} <= scalar_tags(save_dir)
    # resume: same experiment, more steps → continues from the saved epoch
    r = subprocess.run(common[:7] + ["512"] + common[8:], cwd=REPO, capture_output=True, text=True, check=False, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Resuming" in r.stdout and "start_epoch=2" in r.stdout
    # evaluation script on that checkpoint
    r = subprocess.run([sys.executable, f"run_masked_mimic_{task}.py", "--checkpoint", str(save_dir / "last.ckpt"),
                        "--num_episodes", "2", "--terrain", "flat", "--seed", "7"], cwd=REPO, capture_output=True,
                       text=True, timeout=600, check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    payload = json.loads((save_dir / "metrics.json").read_text())
    assert payload["seed"] == 7
    metrics = payload["metrics"]
    assert {"eval/success_rate", "eval/fall_rate", "eval/action_mse_to_expert"} <= set(metrics)
    assert payload["policy"] == "agent"
    # the baseline: the run's frozen expert alone on the same targets
    baseline = tmp_path / "expert_only.json"
    r = subprocess.run([sys.executable, f"run_masked_mimic_{task}.py", "--checkpoint", str(save_dir / "last.ckpt"),
                        "--num_episodes", "2", "--terrain", "flat", "--expert_only", "--metrics", str(baseline)],
                       cwd=REPO, capture_output=True, text=True, check=False, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    payload = json.loads(baseline.read_text())
    assert payload["policy"] == "expert alone" and "eval/success_rate" in payload["metrics"]
    assert "eval/action_mse_to_expert" not in payload["metrics"]


def test_missing_expert_and_motion_file_errors(tmp_path):
    r = subprocess.run([sys.executable, "train_masked_mimic_steering.py", "--expert_model_path", str(tmp_path / "nope")],
                       cwd=REPO, capture_output=True, text=True, check=False)
    assert r.returncode != 0 and f"Error: Expert model path not found: {tmp_path / 'nope'}" in r.stderr
    r = subprocess.run([sys.executable, "train_masked_mimic_path_follower.py", "--expert_model_path", str(tmp_path),
                        "--motion_file", "data/motions/none.npy"], cwd=REPO, capture_output=True, text=True, check=False)
    assert r.returncode != 0 and "Error: Motion file not found: data/motions/none.npy" in r.stderr


def test_direct_command_reports_missing_expert(tmp_path):
    from tests.conftest import run_train

    r = run_train("+exp=masked_mimic/steering_training", "+robot=smpl", "+simulator=mujoco",
                  "experiment_name=x", f"save_dir={tmp_path}", f"agent.config.expert_model_path={tmp_path / 'none'}")
    assert r.returncode == 2 and "Error: Expert model path not found" in r.stderr


@pytest.mark.parametrize("exp", ["steering_training", "path_follower_training"])
def test_shipped_expert_matches_the_task_envs(exp):
    """The committed expert package loads (sizes, robot, keyframes, obs spec) into both task envs, and its
    prior + decoder give finite PD targets for their observations."""
    import torch

    from protomotions.agents.masked_mimic.expert import load_expert
    from protomotions.agents.masked_mimic_task.agent import expert_requirements

    package = REPO / "data" / "pretrained_models" / "masked_mimic" / "smpl"
    assert (package / "MODEL_CARD.md").is_file() and (package / "last.ckpt").stat().st_size < 15e6
    _, env = task_env(f"+exp=masked_mimic/{exp}", "num_envs=2")
    try:
        expert = load_expert(package, expert_requirements(env, 64), "cpu")
        obs = env.reset()
        with torch.no_grad():
            actions = expert.act(obs)
        assert actions.shape == (2, 69) and torch.isfinite(actions).all()
    finally:
        env.close()


@pytest.mark.parametrize("task", ["steering", "path_follower"])
def test_shipped_task_agents_load_and_evaluate(task, monkeypatch):
    """The committed agents (trained on the GPU) evaluate on the embedded MuJoCo default as the card says."""
    from protomotions.evaluation import evaluate_task_checkpoint

    monkeypatch.chdir(REPO)  # the run config names the expert and motion file relative to the repository
    package = REPO / "data" / "pretrained_models" / f"masked_mimic_{task}"
    ckpt = package / "last.ckpt"
    assert (package / "MODEL_CARD.md").is_file() and ckpt.stat().st_size < 15e6
    result = evaluate_task_checkpoint(ckpt, num_episodes=2, terrain="flat")
    try:
        metrics = result["metrics"]
        assert 0.0 <= metrics["eval/success_rate"] <= 1.0 and 0.0 <= metrics["eval/fall_rate"] <= 1.0
        assert metrics["eval/action_mse_to_expert"] < 0.01  # the student stays close to its expert
    finally:
        result["env"].close()


def test_residual_student_starts_as_its_expert():
    """With prior_residual the untrained student decodes (almost) the expert's own action; without, it does not."""
    import torch

    from protomotions.agents.masked_mimic.expert import load_expert
    from protomotions.agents.masked_mimic_task.agent import expert_requirements
    from protomotions.agents.masked_mimic_task.config import StudentNetworkConfig
    from protomotions.agents.masked_mimic_task.model import TaskStudent

    _, env = task_env("+exp=masked_mimic/steering_training", "num_envs=3")
    try:
        expert = load_expert(REPO / "data" / "pretrained_models" / "masked_mimic" / "smpl",
                             expert_requirements(env, 64), "cpu")
        obs = env.reset()
        torch.manual_seed(0)
        gaps = {}
        with torch.no_grad():
            expert_actions = expert.act(obs)
            prior = expert.prior(obs)
            assert torch.allclose(expert.decode(obs, prior[0]), expert_actions)  # what the agent caches per step
            for residual in (True, False):
                student = TaskStudent(env.obs_spec, env.action_dim, StudentNetworkConfig(prior_residual=residual), 64,
                                      expert)
                out = student(obs, prior=prior)
                gaps[residual] = (student.decode(expert.normalize(obs), out.mean) - expert_actions).abs().max().item()
            assert (out.mean - prior[0]).abs().max() > 0.1  # the last one, the plain student, ignores the prior
        assert gaps[True] < 0.05 < gaps[False]
        with pytest.raises(ValueError, match="needs the expert's prior"):
            TaskStudent(env.obs_spec, env.action_dim, StudentNetworkConfig(prior_residual=True), 64, expert)(obs)
    finally:
        env.close()


@pytest.mark.parametrize("scale", [1.0, 3.0])
def test_exploration_std_scale_widens_the_sampled_latents(scale):
    """Rollouts draw z ~ N(μ, (k·σ)²) and report that log-probability; the student's own σ is unchanged."""
    import math

    import torch

    from protomotions.agents.ppo.agent import gaussian_log_prob

    with shipped_expert_agent(f"agent.config.exploration_std_scale={scale}", "agent.config.policy_space=latent") as (
            _, env, agent):
        obs = env.reset()
        torch.manual_seed(0)
        _, log_prob, _ = agent.act(obs)
        z = agent._step_cache["latents"]
        with torch.no_grad():
            out = agent._student(obs, agent.expert.prior(obs))
        torch.testing.assert_close(log_prob, gaussian_log_prob(z, out.mean, out.log_std + math.log(scale)))
        spread = ((z - out.mean) / out.log_std.exp()).std().item()  # 8 × 64 draws of k·ε
        assert 0.85 * scale < spread < 1.15 * scale
    with pytest.raises(ValueError, match="exploration_std_scale"):
        type(agent.config)(exploration_std_scale=0.0)


def test_action_space_policy_is_reparameterised_on_the_rollout_noise():
    """policy_space=action: the update recomputes the rollout's log-probabilities exactly (ratio 1 before any
    step), given the stored latent noise, and PPO's gradient reaches the decoder, which latent-space PPO cannot."""
    import torch

    from protomotions.agents.ppo.agent import gaussian_log_prob

    with shipped_expert_agent("agent.config.policy_space=action", "agent.config.exploration_std_scale=2.0") as (
            cfg, env, agent):
        obs = env.reset()
        torch.manual_seed(0)
        actions, log_prob, _ = agent.act(obs)
        noise = agent._step_cache["latent_noise"]
        assert noise.abs().sum() > 0  # "normal" latent noise in training
        prior = agent.expert.prior(obs)
        _, mean_actions, sampled_actions = agent.model(agent.normalize(obs), agent.expert.normalize(obs), prior=prior,
                                                         latent_noise=noise, noise_scale=2.0)
        log_std = torch.full_like(actions, cfg.agent.config.action_log_std)
        torch.testing.assert_close(gaussian_log_prob(actions, sampled_actions, log_std), log_prob, rtol=1e-5, atol=1e-3)
        spread = ((actions - sampled_actions) / log_std.exp()).std().item()
        assert 0.9 < spread < 1.1
        # The surrogate -(ratio · A) with A = 1: its gradient must reach the decoder.
        (-(gaussian_log_prob(actions, sampled_actions, log_std) - log_prob).exp().sum()).backward()
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in agent.module.decoder.parameters())
        assert not torch.equal(mean_actions, sampled_actions)
    with pytest.raises(ValueError, match="policy_space"):
        type(agent.config)(policy_space="joint")
