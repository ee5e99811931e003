import math

import torch

from protomotions.envs.base_env import BaseEnv, BaseEnvConfig
from protomotions.envs.obs import SELF_OBS_SIZE, self_obs_h
from protomotions.robot import smpl
from protomotions.simulator.base import SimulatorConfig
from protomotions.simulator.mujoco.simulator import MujocoSimulator
from protomotions.terrain import TerrainConfig, build_terrain
from protomotions.utils.rotations import quat_mul, quat_rotate, yaw_quat


def make_env(n=4, terrain_type="flat", **cfg):
    terrain = build_terrain(TerrainConfig(terrain_type=terrain_type, num_levels=2, num_terrains=6, border_size=2.0))
    sim = MujocoSimulator(SimulatorConfig(num_envs=n, num_threads=2), terrain)
    return BaseEnv(BaseEnvConfig(use_terrain_obs=terrain_type != "flat", **cfg), sim, terrain, seed=0)


def test_observation_sizes_flat_and_complex():
    env = make_env(terrain_type="flat")
    obs = env.reset()
    assert SELF_OBS_SIZE == 358
    assert {k: v.shape for k, v in obs.items()} == {"self_obs": (4, 358), "prev_actions": (4, 69)}
    env = make_env(terrain_type="complex")
    obs = env.reset()
    assert obs["terrain"].shape == (4, 256) and env.obs_spec["terrain"] == 256
    # spawned standing on the ground: the heightmap under the root reads about the root height
    assert (obs["self_obs"][:, 0] - smpl.default_root_height()).abs().max() < 0.1


def test_self_obs_is_invariant_to_position_and_heading():
    env = make_env(n=1)
    env.reset()
    for _ in range(5):
        env.step(0.3 * torch.randn(1, 69, generator=torch.Generator().manual_seed(1)))
    s = env.state
    base = self_obs_h(s.body_pos, s.body_rot, s.body_vel, s.body_ang_vel, torch.zeros(1))
    yaw = yaw_quat(torch.tensor([1.2]))
    shift = torch.tensor([3.0, -2.0, 0.0])
    moved = self_obs_h(
        quat_rotate(yaw[:, None].expand(1, 24, 4), s.body_pos) + shift,
        quat_mul(yaw[:, None].expand(1, 24, 4), s.body_rot),
        quat_rotate(yaw[:, None].expand(1, 24, 4), s.body_vel),
        quat_rotate(yaw[:, None].expand(1, 24, 4), s.body_ang_vel),
        torch.zeros(1),
    )
    assert torch.allclose(base, moved, atol=1e-4)


def test_random_actions_fall_and_terminate_then_reset_subset():
    env = make_env(n=4)
    env.reset()
    g = torch.Generator().manual_seed(0)
    terminated_any = torch.zeros(4, dtype=torch.bool)
    for _ in range(120):
        _, reward, terminated, truncated, _extras = env.step(2.0 * torch.randn(4, 69, generator=g))
        assert reward.shape == (4,) and terminated.dtype == torch.bool
        terminated_any |= terminated
        done = terminated | truncated
        if done.any():
            keep = (~done).nonzero().flatten()
            before = env.state.body_pos[keep].clone()
            env.reset(done.nonzero().flatten())
            assert torch.equal(env.state.body_pos[keep], before)
            assert (env.progress[done] == 0).all()
    assert terminated_any.any(), "strong random actions should make someone fall within 4 s"


def test_partial_reset_observations_equal_a_full_recompute():
    """reset(ids) refreshes only the reset envs' robot observations; the result must match observations()."""
    env = make_env(n=4, terrain_type="complex")
    env.reset()
    g = torch.Generator().manual_seed(3)
    for _ in range(5):
        step_obs = env.step(0.5 * torch.randn(4, 69, generator=g))[0]
    held = {k: v.clone() for k, v in step_obs.items()}
    obs = env.reset(torch.tensor([2, 0]))
    full = env.observations()
    assert obs.keys() == full.keys()
    for key in full:
        assert torch.allclose(obs[key], full[key], atol=1e-6), key
    assert not torch.allclose(obs["self_obs"][0], held["self_obs"][0])  # the reset envs did change
    assert torch.equal(obs["self_obs"][1], held["self_obs"][1])
    for key, value in held.items():  # out of place: the step's tensors are left as they were
        assert torch.equal(step_obs[key], value), key


def test_standing_still_with_zero_actions_does_not_terminate():
    env = make_env(n=2, max_episode_length=60)
    env.reset()
    for step in range(60):
        _, _, terminated, truncated, _ = env.step(torch.zeros(2, 69))
        assert not terminated.any()
    assert truncated.all()  # time-out at max_episode_length, flagged as truncation


def test_action_scaling_is_tanh_times_pi():
    env = make_env(n=1)
    a = torch.tensor([[-100.0, 0.0, 100.0] + [0.0] * 66])
    pd = env.action_to_pd_targets(a)
    assert torch.allclose(pd[0, :3], torch.tensor([-math.pi, 0.0, math.pi]))


def test_diverged_physics_terminates_with_finite_outputs():
    env = make_env(n=2, terrain_type="complex")
    env.reset()
    sim = env.simulator
    step = sim.step

    def diverging_step(pd_targets):  # MuJoCo (CPU) resets NaN worlds itself; MuJoCo Warp does not
        step(pd_targets)
        sim._qpos[1] = float("nan")
        sim._xpos[1] = float("nan")
        sim._state = None  # step() built the state already: rebuild it from the poked buffers

    sim.step = diverging_step
    obs, reward, terminated, _, extras = env.step(torch.zeros(2, 69))
    assert terminated.tolist() == [False, True]
    assert extras["counts/diverged_worlds"].tolist() == [False, True]  # the runner logs the epoch's total
    assert all(torch.isfinite(v).all() for v in obs.values()) and torch.isfinite(reward).all()
    sim.step = step
    env.reset(torch.tensor([1]))
    assert torch.isfinite(env.state.body_pos).all()
