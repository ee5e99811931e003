import math
from dataclasses import fields

import pytest
import torch
from hydra import compose, initialize_config_module

from protomotions.builders import dataclass_from_config
from protomotions.envs.path_follower import (
    PathFollowerEnv,
    PathFollowerEnvConfig,
    PathGenerator,
    path_following_reward,
    path_keyframes,
)
from protomotions.simulator.base import SimulatorConfig
from protomotions.simulator.mujoco.simulator import MujocoSimulator
from protomotions.terrain import TerrainConfig, build_terrain
from protomotions.utils.rotations import heading_angle


def paths(n=50, seed=0, **cfg):
    gen = PathGenerator(PathFollowerEnvConfig(**cfg), n, "cpu", torch.Generator().manual_seed(seed))
    start = torch.randn(n, 2, generator=torch.Generator().manual_seed(seed + 1))
    gen.generate(torch.arange(n), start, torch.full((n,), 0.9))
    return gen, start


def make_env(n=3, terrain_type="flat", **cfg):
    terrain = build_terrain(TerrainConfig(terrain_type=terrain_type, num_levels=2, num_terrains=6, border_size=2.0))
    sim = MujocoSimulator(SimulatorConfig(num_envs=n, num_threads=2), terrain)
    return PathFollowerEnv(PathFollowerEnvConfig(use_terrain_obs=terrain_type != "flat", **cfg), sim, terrain, seed=0)


def wrap(a):
    return torch.atan2(torch.sin(a), torch.cos(a))


# --- path generator -----------------------------------------------------------------------------
def test_vertices_start_at_the_pelvis_and_are_spaced_by_speed_times_vertex_dt():
    gen, start = paths()
    assert gen.verts.shape == (50, 101, 3)
    assert torch.equal(gen.verts[:, 0, :2], start)
    step = gen.verts[:, 1:, :2] - gen.verts[:, :-1, :2]
    assert torch.allclose(step.norm(dim=-1), gen.speed * 0.1, atol=1e-5)
    # the step direction is (cos θ, sin θ), not (cos θ, −sin θ)
    moving = gen.speed > 0.05  # float32 vertices a few metres out: tiny steps have imprecise angles
    assert wrap(torch.atan2(step[..., 1], step[..., 0]) - gen.heading)[moving].abs().max() < 1e-3


def test_speeds_and_heading_changes_are_bounded_except_sharp_turns():
    gen, _ = paths(n=200, sharp_turn_prob=0.05, max_speed=1.8, start_speed_max=1.0, max_speed_change=0.2)
    assert (gen.speed >= 0).all() and (gen.speed <= 1.8).all() and (gen.speed[:, 0] <= 1.0).all()
    assert ((gen.speed[:, 1:] - gen.speed[:, :-1]).abs() <= 0.2 + 1e-5).all()
    turn = wrap(gen.heading[:, 1:] - gen.heading[:, :-1]).abs()
    sharp = gen.sharp[:, 1:]
    assert (turn[~sharp] <= 0.2 + 1e-5).all()
    assert sharp.any() and (turn[sharp] > 0.2).float().mean() > 0.8
    assert 0.03 < sharp.float().mean() < 0.07
    assert gen.heading[:, 0].min() < -2.5 and gen.heading[:, 0].max() > 2.5  # initial heading U(±π)
    assert torch.allclose(gen.verts[..., 2], torch.full_like(gen.verts[..., 2], 0.95))  # not height-conditioned


def test_interpolation_hits_vertices_and_the_lookup_spans_exactly_10s():
    gen, _ = paths(n=4)
    times = torch.arange(101).float()[None].expand(4, -1) * 0.1
    pts, yaw = gen.sample(times)
    assert torch.allclose(pts, gen.verts, atol=1e-5)
    mid, _ = gen.sample(torch.full((4, 1), 0.35))
    assert torch.allclose(mid[:, 0], 0.5 * (gen.verts[:, 3] + gen.verts[:, 4]), atol=1e-5)
    late, _ = gen.sample(torch.full((4, 1), 12.0))
    assert torch.allclose(late[:, 0], gen.verts[:, -1])
    assert torch.allclose(yaw[:, 3], gen.heading[:, 3])


def test_height_conditioned_walk_starts_from_the_pelvis_height_within_bounds():
    gen, _ = paths(n=30, height_conditioned=True, min_height=0.6, max_height=1.0, max_height_change=0.03)
    z = gen.verts[..., 2]
    assert torch.allclose(z[:, 0], torch.full((30,), 0.9))
    assert (z >= 0.6 - 1e-6).all() and (z <= 1.0 + 1e-6).all()
    assert ((z[:, 1:] - z[:, :-1]).abs() <= 0.03 + 1e-6).all() and z.std() > 0


# --- reward and goal engineering ----------------------------------------------------------------
def test_reward_values():
    xy = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    target = torch.tensor([[0.0, 0.0], [0.0, 0.5]])
    r = path_following_reward(xy, target)
    assert r[0] == 1.0 and r[1] == pytest.approx(math.exp(-2 * 1.25))
    rh = path_following_reward(xy, target, torch.tensor([0.9, 0.9]), torch.tensor([0.9, 0.7]), 10.0)
    assert rh[1] == pytest.approx(math.exp(-2 * 1.25) * math.exp(-10 * 0.04), rel=1e-5)
    sharp = path_following_reward(xy, target, distance_scale=8.0)
    assert sharp[1] == pytest.approx(math.exp(-8 * 1.25), rel=1e-5)


def test_path_keyframes_follow_the_path_and_its_tangent():
    gen, _ = paths(n=2)
    offsets = torch.tensor([2, 6, 12, 20, 30]).float() / 30
    pts, yaw = gen.sample(1.0 + offsets[None].expand(2, -1))
    pos, rot = path_keyframes(pts, yaw, lambda xy: 0.2 + 0 * xy[..., 0])
    assert pos.shape == (2, 5, 1, 3) and rot.shape == (2, 5, 1, 4)
    assert torch.allclose(pos[:, :, 0, :2], pts[..., :2]) and torch.allclose(pos[..., 0, 2], torch.full((2, 5), 1.15))
    assert torch.allclose(heading_angle(rot[:, :, 0]), wrap(yaw), atol=1e-5)


# --- the env on MuJoCo --------------------------------------------------------------------------
@pytest.mark.parametrize("terrain_type", ["flat", "complex"])
def test_env_smoke_shapes_and_no_nans(terrain_type):
    env = make_env(n=3, terrain_type=terrain_type)
    obs = env.reset()
    assert torch.allclose(env.paths.verts[:, 0, :2], env.state.root_pos[:, :2])
    # at t = 0 the first observed point is the pelvis itself
    assert obs["path"].shape == (3, 20) and obs["path"][:, :2].abs().max() < 1e-5
    g = torch.Generator().manual_seed(0)
    for _ in range(30):
        obs, reward, terminated, truncated, extras = env.step(0.5 * torch.randn(3, 69, generator=g))
        assert obs["masked_mimic_targets"].shape == (3, 610) and obs["history"].shape == (3, 1074)
        assert all(torch.isfinite(v).all() for v in obs.values()) and torch.isfinite(reward).all()
        assert torch.equal(extras["rewards/path_following_reward"], reward)
        done = (terminated | truncated).nonzero().flatten()
        if done.numel():
            env.reset(done)
            assert (env.progress[done] == 0).all()
    assert (obs["terrain"].shape == (3, 256)) if terrain_type != "flat" else "terrain" not in obs
    markers = env.markers()
    assert markers[-1]["type"] == "sphere" and all(m["type"] in ("capsule", "sphere") for m in markers)


def test_height_conditioned_obs_size_and_termination_distance():
    env = make_env(n=2, height_conditioned=True, fail_distance=0.5, fail_grace_steps=2)
    assert env.obs_spec["path"] == 30
    env.reset()
    env.paths.verts[:, :, :2] += torch.tensor([1.0, 0.0])  # move the path 1 m away
    terminated = [env.step(torch.zeros(2, 69))[2] for _ in range(3)]
    assert not terminated[0].any() and not terminated[1].any() and terminated[2].all()


def test_evaluate_returns_the_keys_and_ignores_path_termination():
    env = make_env(n=2, fail_distance=0.01, fail_grace_steps=0)
    res = env.evaluate(lambda obs: torch.zeros(2, 69), num_episodes=3, episode_length=12)
    assert set(res) == {"eval/success_rate", "eval/mean_error_m", "eval/max_error_m", "eval/fall_rate",
                        "eval/foot_skate_mps", "eval/joint_jerk", "score"}
    assert res["eval/fall_rate"] == 0.0  # standing still: path termination is off, no falls
    assert res["eval/max_error_m"] >= res["eval/mean_error_m"] > 0


def test_config_yaml_has_every_field():
    with initialize_config_module("protomotions.config", version_base="1.3"):
        cfg = compose("base", overrides=["+env=path_follower"])
    assert set(cfg.env.config) == {f.name for f in fields(PathFollowerEnvConfig)}
    assert dataclass_from_config(PathFollowerEnvConfig, cfg.env.config, "env.config") == PathFollowerEnvConfig()
    with pytest.raises(ValueError, match="start_speed_max"):
        PathFollowerEnvConfig(start_speed_max=3.0, max_speed=2.0)


def test_pure_pursuit_keyframes_reach_the_path_point_one_second_ahead():
    env = make_env(n=2, keyframe_turn_rate=1.5)
    env.reset()
    root = env.state.root_pos
    heading = heading_angle(env.state.root_rot)
    ahead = torch.stack([torch.cos(heading), torch.sin(heading)], -1)
    t = torch.arange(env.paths.num_verts).float() * env.config.vertex_dt  # a straight 1 m/s path along the heading
    env.paths.verts[:, :, :2] = root[:, None, :2] + ahead[:, None] * t[None, :, None]
    env.paths.heading[:] = heading[:, None]
    pos, rot = env.pelvis_keyframes()
    horizon = float(env.keyframe_offsets[-1])
    assert torch.allclose(pos[:, -1, 0, :2], root[:, :2] + ahead * horizon, atol=1e-3)
    assert torch.allclose(heading_angle(rot[:, -1, 0]), heading, atol=1e-4)
    # behind the pelvis, the keyframes first walk on, turning: the nearest one is still ahead
    env.paths.verts[:, :, :2] = root[:, None, :2] - ahead[:, None] * t[None, :, None]
    pos, _ = env.pelvis_keyframes()
    assert ((pos[:, 0, 0, :2] - root[:, :2]) * ahead).sum(-1).min() > 0


def test_pure_pursuit_keeps_the_paths_pelvis_height_and_rejects_negative_rates():
    env = make_env(n=2, keyframe_turn_rate=1.5, height_conditioned=True)
    env.reset()
    env.paths.verts[:, :, 2] = 0.7
    pos, _ = env.pelvis_keyframes()
    assert torch.allclose(pos[..., 0, 2] - env.ground_height(pos[..., 0, :2]), torch.full((2, 5), 0.7), atol=1e-5)
    with pytest.raises(ValueError, match="keyframe_turn_rate"):
        PathFollowerEnvConfig(keyframe_turn_rate=-0.5)
