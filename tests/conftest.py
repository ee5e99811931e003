import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent
TRAIN = [sys.executable, str(REPO / "protomotions" / "train_agent.py")]
TINY_NET = ["agent.config.model.config.optimizer.lr=1e-3"]


@pytest.fixture(autouse=True, scope="session")
def _single_thread_torch():
    # tiny tensors: torch's intra-op threads only add contention on the 2-core CI machine
    torch.set_num_threads(1)


def run_train(*overrides: str, cwd: Path = REPO, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([*TRAIN, *overrides], cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=timeout)


@pytest.fixture(scope="session")
def tiny_expert(tmp_path_factory) -> Path:
    """A small masked-mimic expert trained here: tracker (PPO) → distillation (DAgger) → exported package."""
    root = tmp_path_factory.mktemp("expert")
    tracker = root / "tracker"
    r = run_train(
        "+exp=full_body_tracker/mlp", "+robot=smpl", "+simulator=mujoco", "experiment_name=tiny_tracker",
        f"save_dir={tracker}", "num_envs=8", "training_max_steps=512", "motion_file=data/motions/smpl_humanoid_walk.npy",
        "terrain=flat", "env.config.use_terrain_obs=false",
        "agent.config.model.config.actor_obs_keys=[self_obs,mimic_target_poses]",
        "agent.config.model.config.critic_obs_keys=[self_obs,mimic_target_poses]",
        "agent.config.model.config.actor_units=[64,64]", "agent.config.model.config.critic_units=[64,64]",
        "runner.eval_metrics_every=0",
    )
    assert r.returncode == 0, r.stderr[-3000:]
    distilled = root / "distilled"
    r = run_train(
        "+exp=masked_mimic/expert", "+robot=smpl", "+simulator=mujoco", "experiment_name=tiny_mm",
        f"save_dir={distilled}", "num_envs=8", "training_max_steps=512", "motion_file=data/motions/smpl_humanoid_walk.npy",
        f"agent.config.expert_model_path={tracker}", "terrain=flat", "env.config.use_terrain_obs=false",
        "env.config.reference_ground_radius=0.3",  # the task envs' default keyframe ground (checked on load)
        "agent.config.model.config.prior_obs_keys=[self_obs,masked_mimic_targets,history]",
        "agent.config.model.config.encoder_obs_keys=[self_obs,mimic_target_poses]",
        "agent.config.model.config.decoder_obs_keys=[self_obs]",
        "agent.config.model.config.prior_units=[64,64]", "agent.config.model.config.encoder_units=[64,64]",
        "agent.config.model.config.decoder_units=[64,64]", "agent.config.eval_metrics_every=0",
    )
    assert r.returncode == 0, r.stderr[-3000:]
    from protomotions.agents.masked_mimic.expert import export_expert

    package = root / "package"
    export_expert(distilled, package)
    return package
