"""A short PPO tracker run on one clip learns: episodes get longer and the tracking reward per episode rises."""

import glob

import pytest

from tests.conftest import run_train


def scalars(run_dir, tag):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(glob.glob(str(run_dir / "lightning_logs" / "*"))[0])
    acc.Reload()
    return [e.value for e in acc.Scalars(tag)]


@pytest.mark.slow
def test_tracker_learns_on_one_clip(tmp_path):
    r = run_train(
        "+exp=full_body_tracker/mlp", "+robot=smpl", "+simulator=mujoco", "experiment_name=learn",
        f"save_dir={tmp_path}", "num_envs=32", "training_max_steps=30720", "seed=1",
        "motion_file=data/motions/smpl_humanoid_walk.npy", "terrain=flat", "env.config.use_terrain_obs=false",
        "agent.config.model.config.actor_obs_keys=[self_obs,mimic_target_poses]",
        "agent.config.model.config.critic_obs_keys=[self_obs,mimic_target_poses]",
        "agent.config.model.config.actor_units=[256,256]", "agent.config.model.config.critic_units=[256,256]",
        "agent.config.model.config.optimizer.lr=3e-4", "agent.config.batch_size=256", "runner.eval_metrics_every=0",
    )
    assert r.returncode == 0, r.stderr[-3000:]
    lengths = scalars(tmp_path, "charts/episode_length")
    returns = scalars(tmp_path, "charts/episode_return")
    first, last = sum(lengths[:5]) / 5, sum(lengths[-5:]) / 5
    assert last > 2.0 * first, f"episode length {first:.1f} → {last:.1f}"
    assert sum(returns[-5:]) / 5 > 1.5 * sum(returns[:5]) / 5
