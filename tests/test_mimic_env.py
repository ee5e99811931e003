"""MimicEnv on complex terrain: where the reference clips stand and where the humanoid spawns."""

import pytest
import torch

from protomotions.envs.mimic.env import MimicEnv, MimicEnvConfig
from protomotions.motion.motion_lib import MotionLib
from protomotions.simulator.base import ResetState, SimulatorConfig
from protomotions.simulator.mujoco.simulator import MujocoSimulator
from protomotions.terrain import TerrainConfig, build_terrain, mean_ground_height
from tests.conftest import REPO


def make_env(n: int, **cfg) -> MimicEnv:
    # rough slopes and stairs only, so that spawns land on uneven ground
    terrain = build_terrain(TerrainConfig(num_levels=3, num_terrains=3, border_size=2.0,
                                          proportions=[0, 0.4, 0.3, 0.3, 0, 0, 0, 0]))
    sim = MujocoSimulator(SimulatorConfig(num_envs=n, num_threads=2), terrain)
    lib = MotionLib(REPO / "data/motions/smpl_humanoid_walk.npy", device="cpu")
    return MimicEnv(MimicEnvConfig(use_terrain_obs=True, **cfg), sim, terrain, seed=3, motion_lib=lib)


def test_averaged_reference_ground_and_spawn_above_every_body():
    env = make_env(16, reference_ground_radius=0.3)
    env.reset()
    ref = env.current_reference()
    # targets are lifted by the averaged ground under the target root
    ground = mean_ground_height(env.terrain, ref.root_pos[:, :2], 0.3)
    clip = env.motion_lib.get_state(env.motion_ids, env.motion_times)
    assert torch.allclose(ref.root_pos[:, 2] - clip.root_pos[:, 2], ground, atol=1e-5)
    # spawn points lie on level ground (slope-checked within 1 m), where the averaged lift is exact:
    # no body origin starts under the terrain
    s = env.state
    clearance = s.body_pos[..., 2] - env.terrain.height_at(s.body_pos[..., :2])
    assert clearance.min() > 0.0
    env.close()


def test_feet_targets_follow_the_ground_under_themselves():
    env = make_env(8, reference_ground_radius=0.3, reference_foot_ground=(0.15, 0.6))
    env.reset()
    n = env.num_envs
    times = torch.rand(n) * env.motion_lib.motion_lengths[env.motion_ids]
    clip = env.motion_lib.get_state(env.motion_ids, times)
    ref = env.reference(env.motion_ids, times, env.motion_offset)
    lift = ref.body_pos[..., 2] - clip.body_pos[..., 2]
    world_xy = clip.body_pos[..., :2] + env.motion_offset[:, None, :2]
    root_ground = mean_ground_height(env.terrain, clip.root_pos[:, :2] + env.motion_offset[:, :2], 0.3)
    low, high = clip.body_pos[..., 2] < 0.15, clip.body_pos[..., 2] > 0.6
    assert low.any() and high.any()
    # feet: the ground under each foot; upper body: the root's averaged ground; xy never moves
    assert torch.allclose(lift[low], env.terrain.height_at(world_xy)[low], atol=1e-5)
    assert torch.allclose(lift[high], root_ground[:, None].expand_as(lift)[high], atol=1e-5)
    assert (lift[low] - root_ground[:, None].expand_as(lift)[low]).abs().max() > 0.01  # uneven ground was met
    assert torch.allclose(ref.body_pos[..., :2], world_xy, atol=1e-5)
    assert torch.allclose(ref.root_pos, ref.body_pos[:, 0], atol=1e-5)
    env.close()


def test_tracking_error_parts_tell_drift_from_pose():
    env = make_env(4)
    env.reset()
    s, ref = env.state, env.current_reference()
    offset_before = s.root_pos[:, :2] - ref.root_pos[:, :2]
    _, pose_before = env.tracking_error_parts()
    # the same pose 0.3 m further along x: only the drift changes (no physics step, so nothing else moves)
    shift = torch.tensor([0.3, 0.0, 0.0])
    env.simulator.reset_envs(torch.arange(4), ResetState(s.root_pos + shift, s.root_rot, s.root_vel, s.root_ang_vel,
                                                         s.dof_pos, s.dof_vel))
    root_xy, pose = env.tracking_error_parts()
    assert torch.allclose(root_xy, (offset_before + shift[:2]).norm(dim=-1), atol=1e-4)
    assert torch.allclose(pose, pose_before, atol=1e-4)
    # triangle inequality, body by body: the mean body error is at most the root's 3-D distance plus the pose part
    mean_err = env.tracking_errors().mean(-1)
    root_3d = (env.state.root_pos - ref.root_pos).norm(dim=-1)
    assert torch.all(mean_err <= root_3d + pose + 1e-5)
    env.close()


def test_root_xy_reward_term_and_unknown_terms():
    env = make_env(4, reward_weights={"root_xy": 1.0}, reward_scales={"root_xy": 10.0})
    env.reset()
    s = env.state
    shift = torch.tensor([0.2, -0.1, 0.0])
    env.simulator.reset_envs(torch.arange(4), ResetState(s.root_pos + shift, s.root_rot, s.root_vel, s.root_ang_vel,
                                                         s.dof_pos, s.dof_vel))
    root_xy, _ = env.tracking_error_parts()
    reward, terms = env.compute_reward()
    assert set(terms) == {"root_xy", "body_pos_error_m"}
    assert torch.allclose(reward, torch.exp(-10.0 * root_xy.square()), atol=1e-5)
    env.close()
    with pytest.raises(ValueError, match=r"unknown terms \['root_z'\]"):
        make_env(1, reward_weights={"root_z": 1.0})
