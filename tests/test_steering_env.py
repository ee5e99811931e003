import math

import pytest
import torch
from hydra import compose, initialize_config_module

from protomotions.builders import ConfigError, dataclass_from_config
from protomotions.envs.masked_mimic.obs import PER_BODY, masked_target_obs_h
from protomotions.envs.steering import (
    SteeringEnv,
    SteeringEnvConfig,
    keyframe_speed,
    steering_keyframes,
    steering_reward,
)
from protomotions.envs.steering.commands import SteeringCommands
from protomotions.envs.steering.keyframe_task import fill_conditionable
from protomotions.simulator.base import SimulatorConfig
from protomotions.simulator.mujoco.simulator import MujocoSimulator
from protomotions.terrain import TerrainConfig, build_terrain
from protomotions.utils.rotations import heading_angle, yaw_quat

DT = 1.0 / 30.0


def commands(n=64, seed=0, **cfg):
    return SteeringCommands(SteeringEnvConfig(**cfg), n, "cpu", torch.Generator().manual_seed(seed))


def make_env(n=3, terrain_type="flat", **cfg):
    terrain = build_terrain(TerrainConfig(terrain_type=terrain_type, num_levels=2, num_terrains=6, border_size=2.0))
    sim = MujocoSimulator(SimulatorConfig(num_envs=n, num_threads=2), terrain)
    return SteeringEnv(SteeringEnvConfig(use_terrain_obs=terrain_type != "flat", **cfg), sim, terrain, seed=0)


# --- command schedule ------------------------------------------------------------------------
def test_commands_change_exactly_when_the_counter_runs_out_and_per_env():
    c = commands(n=4)
    c.reset(torch.arange(4))
    c.steps_left[:] = torch.tensor([1, 2, 3, 100])
    angle0, speed0 = c.angle.clone(), c.speed.clone()
    changed_at = torch.full((4,), -1)
    for t in range(1, 4):
        changed = c.step()
        changed_at[changed & (changed_at < 0)] = t
        # unchanged envs keep their command bit-for-bit
        assert torch.equal(c.angle[~changed & (changed_at < 0)], angle0[~changed & (changed_at < 0)])
    assert changed_at.tolist() == [1, 2, 3, -1]
    assert c.age[3] == 3 and c.age[2] == 0  # age counts steps since the command was drawn
    assert (c.steps_left[:3] >= 50).all() and (c.steps_left[:3] <= 150).all()
    assert c.speed[3] == speed0[3]


def test_reset_redraws_only_the_reset_envs_and_restarts_their_counters():
    c = commands(n=6)
    c.reset(torch.arange(6))
    for _ in range(20):
        c.step()
    before = (c.angle.clone(), c.steps_left.clone(), c.age.clone())
    ids = torch.tensor([1, 4])
    c.reset(ids)
    keep = torch.tensor([0, 2, 3, 5])
    assert torch.equal(c.angle[keep], before[0][keep]) and torch.equal(c.steps_left[keep], before[1][keep])
    assert (c.age[ids] == 0).all() and (c.age[keep] == 20).all()
    assert ((c.steps_left[ids] >= 50) & (c.steps_left[ids] <= 150)).all()
    assert not torch.equal(c.angle[ids], before[0][ids])


def test_random_heading_coin_is_per_env_and_turns_are_bounded():
    n = 4000
    c = commands(n=n, random_heading_prob=0.5, max_turn=0.3)
    c.reset(torch.arange(n))
    old = c.angle.clone()
    c.steps_left[:] = 1
    c.step()
    turn = torch.atan2(torch.sin(c.angle - old), torch.cos(c.angle - old)).abs()
    big = (turn > 0.3 + 1e-5).float().mean().item()
    # with one coin per batch this would be 0 or ~0.9; per env: 0.5 · P(|U(±π)| jump > 0.3) ≈ 0.45
    assert 0.38 < big < 0.52
    c2 = commands(n=500, random_heading_prob=0.0, max_turn=0.3)
    c2.reset(torch.arange(500))
    old = c2.angle.clone()
    c2.steps_left[:] = 1
    c2.step()
    assert torch.atan2(torch.sin(c2.angle - old), torch.cos(c2.angle - old)).abs().max() <= 0.3 + 1e-5


def test_speeds_within_bounds_and_stops_happen():
    c = commands(n=2000, max_speed=4.0, stop_prob=0.2)
    c.reset(torch.arange(2000))
    c.steps_left[:] = 1
    c.step()
    assert (c.speed >= 0).all() and (c.speed <= 4.0).all()
    assert 0.15 < (c.speed == 0).float().mean() < 0.25


# --- reward and goal engineering ----------------------------------------------------------------
def test_reward_values_for_known_velocities():
    d = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 0.0]])
    s = torch.tensor([1.5, 1.0, 1.0, 0.0])
    v = torch.tensor([[1.5, 0.0], [1.0, 0.0], [-1.0, 0.0], [0.0, 0.0]])
    r = steering_reward(v, d, s)
    assert r[0] == pytest.approx(1.0)
    # perpendicular: v·d = 0 → (1 − 0)² + 0.1·1² = 1.1
    assert r[1] == pytest.approx(math.exp(-0.25 * 1.1), rel=1e-6)
    assert r[2] == 0.0  # opposite
    assert r[3] == pytest.approx(1.0)  # standing still on a stop command
    # a sharper kernel: 0.5 m/s too slow costs exp(−2·0.25) instead of exp(−0.25·0.25)
    slow = steering_reward(torch.tensor([[1.0, 0.0]]), d[:1], torch.tensor([1.5]), scale=2.0)
    assert slow.item() == pytest.approx(math.exp(-0.5), rel=1e-6)


def test_keyframes_lie_along_the_command_at_speed_times_offset():
    root = torch.tensor([[1.0, 2.0, 0.9]])
    d = torch.tensor([[0.6, 0.8]])
    offsets = torch.tensor([2, 6, 12, 20, 30]).float() * DT
    pos, rot = steering_keyframes(root, d, torch.tensor([1.5]), offsets, lambda xy: 0.1 * xy[..., 0], 0.95)
    assert pos.shape == (1, 5, 1, 3) and rot.shape == (1, 5, 1, 4)
    expected_xy = root[:, None, :2] + d[:, None] * 1.5 * offsets[None, :, None]
    assert torch.allclose(pos[:, :, 0, :2], expected_xy, atol=1e-6)
    assert torch.allclose(pos[0, :, 0, 2], 0.1 * expected_xy[0, :, 0] + 0.95, atol=1e-6)
    assert torch.allclose(heading_angle(rot[0, :, 0]), torch.full((5,), math.atan2(0.8, 0.6)), atol=1e-5)


def test_keyframes_turn_towards_the_command_on_an_arc_at_the_turn_rate():
    offsets = torch.tensor([2, 6, 12, 20, 30]).float() * DT
    root = torch.tensor([[0.0, 0.0, 0.95]])
    left = torch.tensor([[0.0, 1.0]])  # the command points 90° left of the pelvis heading (+x)

    def flat(xy):
        return 0 * xy[..., 0]

    pos, rot = steering_keyframes(root, left, torch.tensor([1.2]), offsets, flat, 0.95, torch.zeros(1), 1.5)
    assert torch.allclose(heading_angle(rot[0, :, 0]), (1.5 * offsets).clamp(max=math.pi / 2), atol=1e-5)
    xy = pos[0, :, 0, :2]
    assert xy[0, 0] > 5 * xy[0, 1] > 0  # it starts off forwards, not sideways
    steps = torch.cat([xy[:1], xy[1:] - xy[:-1]]).norm(dim=-1)
    chords = torch.cat([offsets[:1], offsets[1:] - offsets[:-1]]) * 1.2
    assert (steps <= chords + 1e-4).all() and (steps >= 0.97 * chords).all()  # the arc keeps the speed
    # a command along the heading, or turn_rate 0, gives the straight keyframes
    ahead = torch.tensor([[1.0, 0.0]])
    straight, _ = steering_keyframes(root, ahead, torch.tensor([1.2]), offsets, flat, 0.95)
    arc, _ = steering_keyframes(root, ahead, torch.tensor([1.2]), offsets, flat, 0.95, torch.zeros(1), 1.5)
    assert torch.allclose(arc, straight, atol=1e-5)
    unturned, _ = steering_keyframes(root, left, torch.tensor([1.2]), offsets, flat, 0.95, torch.zeros(1), 0.0)
    assert torch.allclose(unturned[0, :, 0, 1], 1.2 * offsets, atol=1e-6)
    with pytest.raises(ValueError, match="keyframe_turn_rate"):
        SteeringEnvConfig(keyframe_turn_rate=-1.0)


def test_keyframe_speed_leads_a_lagging_character_and_holds_back_a_fast_one():
    d = torch.tensor([[1.0, 0.0]]).expand(5, 2)
    speed = torch.tensor([1.0, 1.0, 1.0, 0.0, 2.0])
    vel = torch.tensor([[0.6, 0.3], [1.5, 0.0], [3.5, 0.0], [0.4, 0.0], [-0.5, 0.0]])  # sideways speed is ignored
    led = keyframe_speed(vel, d, speed, gain=1.0, max_boost=1.0)
    # 0.4 m/s behind -> 1.4; 0.5 ahead -> 0.5; far ahead -> 0 (never backwards); a stop while drifting -> 0;
    # walking backwards at 0.5 m/s on a 2 m/s command -> 2 + 2.5, capped at s* + 1
    assert torch.allclose(led, torch.tensor([1.4, 0.5, 0.0, 0.0, 3.0]))
    assert torch.equal(keyframe_speed(vel, d, speed, gain=0.0, max_boost=1.0), speed)
    with pytest.raises(ValueError, match="keyframe_speed_gain"):
        SteeringEnvConfig(keyframe_speed_gain=-0.5)


def test_env_keyframes_run_at_the_corrected_speed():
    offsets = torch.tensor([2, 6, 12, 20, 30]).float() * DT
    reach = {}
    for gain in (0.0, 1.0):
        env = make_env(n=2, keyframe_speed_gain=gain, keyframe_turn_rate=0.0, motion_init_prob=0.0)
        env.reset()  # the rest pose: standing still
        env.commands.speed[:] = torch.tensor([0.5, 1.5])
        pos, _ = env.pelvis_keyframes()
        reach[gain] = (pos[:, -1, 0, :2] - env.state.root_pos[:, :2]).norm(dim=-1) / offsets[-1]
        env.close()
    assert torch.allclose(reach[0.0], torch.tensor([0.5, 1.5]), atol=1e-3)
    assert torch.allclose(reach[1.0], torch.tensor([1.0, 2.5]), atol=2e-2)  # v ≈ 0: s* + (s* − 0), capped at s* + 1


def test_expert_obs_reads_speed_times_tau_for_a_character_facing_the_command():
    yaw = 0.7
    d = torch.tensor([[math.cos(yaw), math.sin(yaw)]])
    offsets = torch.tensor([2, 6, 12, 20, 30]).float() * DT
    root = torch.tensor([[3.0, -1.0, 0.95]])
    pelvis_pos, pelvis_rot = steering_keyframes(root, d, torch.tensor([1.2]), offsets, lambda xy: xy[..., 0] * 0, 0.95)
    key_pos, key_rot = fill_conditionable(pelvis_pos, pelvis_rot)
    cur_pos = torch.zeros(1, 6, 3)
    cur_pos[:, 0] = root
    cur_rot = yaw_quat(torch.full((1, 6), yaw))
    mask = torch.zeros(1, 5, 6, dtype=torch.bool)
    mask[..., 0] = True
    obs = masked_target_obs_h(cur_pos, cur_rot, key_pos, key_rot, mask, mask, torch.ones(1, 5, dtype=torch.bool),
                              offsets[None]).reshape(1, 5, 6 * PER_BODY + 2)
    pelvis = obs[0, :, :PER_BODY]
    assert torch.allclose(pelvis[:, 0], 1.2 * offsets, atol=1e-5) and pelvis[:, 1].abs().max() < 1e-5
    assert pelvis[:, 2].abs().max() < 1e-5  # same height
    assert (obs[0, :, PER_BODY:6 * PER_BODY] == 0).all()  # hidden bodies are zeros
    assert torch.allclose(obs[0, :, -2], offsets)


# --- the env on MuJoCo --------------------------------------------------------------------------
@pytest.mark.parametrize("terrain_type", ["flat", "complex"])
def test_env_smoke_shapes_and_no_nans(terrain_type):
    env = make_env(n=3, terrain_type=terrain_type)
    obs = env.reset()
    sizes = {"self_obs": 358, "prev_actions": 69, "steering": 3, "masked_mimic_targets": 5 * (6 * 20 + 2),
             "history": 3 * 358}
    if terrain_type != "flat":
        sizes["terrain"] = 256
    assert env.obs_spec == sizes
    g = torch.Generator().manual_seed(0)
    for _ in range(30):
        obs, reward, terminated, truncated, extras = env.step(0.5 * torch.randn(3, 69, generator=g))
        assert {k: v.shape[1] for k, v in obs.items()} == sizes
        assert all(torch.isfinite(v).all() for v in obs.values()) and torch.isfinite(reward).all()
        assert torch.equal(extras["rewards/steering_reward"], reward)
        done = (terminated | truncated).nonzero().flatten()
        if done.numel():
            obs = env.reset(done)
            assert (env.commands.age[done] == 0).all()
    # steering obs: the command in the heading frame has unit length, then the speed
    assert torch.allclose(obs["steering"][:, :2].norm(dim=-1), torch.ones(3), atol=1e-5)
    assert torch.equal(obs["steering"][:, 2], env.commands.speed)
    m = env.markers()
    assert m[0]["type"] == "arrow" and m[0]["rgba"][:3] == [0.0, 1.0, 1.0]


def test_reward_uses_the_command_the_action_was_taken_under():
    env = make_env(n=2)
    env.reset()
    env.commands.steps_left[:] = 1
    before = env.commands.direction_w.clone()
    env.step(torch.zeros(2, 69))
    assert torch.allclose(env.acted_direction, before)
    assert (env.commands.age == 0).all() and (env.acted_age == 1).all()


def test_evaluate_returns_the_keys_and_restores_the_rng():
    env = make_env(n=2)
    state = env.generator.get_state()
    res = env.evaluate(lambda obs: torch.zeros(2, 69), num_episodes=3, episode_length=12)
    assert set(res) == {"eval/success_rate", "eval/speed_error_mps", "eval/direction_error_deg", "eval/fall_rate",
                        "eval/foot_skate_mps", "eval/joint_jerk", "score"}
    assert res["score"] == res["eval/success_rate"] and all(math.isfinite(v) for v in res.values())
    assert torch.equal(env.generator.get_state(), state)
    assert res == env.evaluate(lambda obs: torch.zeros(2, 69), num_episodes=3, episode_length=12)  # deterministic


def test_config_yaml_has_every_field_and_typos_fail():
    with initialize_config_module("protomotions.config", version_base="1.3"):
        cfg = compose("base", overrides=["+env=steering"])
    assert cfg.env._target_ == "protomotions.envs.steering.env.SteeringEnv"
    built = dataclass_from_config(SteeringEnvConfig, cfg.env.config, "env.config")
    assert built == SteeringEnvConfig()
    from dataclasses import fields

    assert set(cfg.env.config) == {f.name for f in fields(SteeringEnvConfig)}
    with pytest.raises(TypeError):
        SteeringEnvConfig(**{**cfg.env.config, "max_sped": 3.0})
    with pytest.raises(ConfigError):
        dataclass_from_config(SteeringEnvConfig, {"max_sped": 3.0}, "env.config")
    with pytest.raises(ValueError, match="conditioning"):
        SteeringEnvConfig(conditioning="full")


def test_motion_resets_start_from_clip_frames_at_the_spawn_heading():
    from protomotions.motion.motion_lib import MotionLib
    from protomotions.utils.rotations import quat_angle_between, wrap_to_pi

    lib = MotionLib("data/motions/smpl_humanoid_walk.npy")
    terrain = build_terrain(TerrainConfig(terrain_type="flat", num_levels=2, num_terrains=6, border_size=2.0))
    sim = MujocoSimulator(SimulatorConfig(num_envs=4, num_threads=2), terrain)
    env = SteeringEnv(SteeringEnvConfig(use_terrain_obs=False, motion_init_prob=1.0), sim, terrain, seed=0,
                      motion_lib=lib)
    ids = torch.arange(4)
    saved = env.generator.get_state()
    rest = env.default_reset_state(ids)
    env.generator.set_state(saved)
    state = env.reset_state(ids)  # draws the same spawn and heading first
    # spawn point and heading are the rest state's; the pose and the root height are a clip frame's
    assert torch.equal(state.root_pos[:, :2], rest.root_pos[:, :2])
    dyaw = wrap_to_pi(heading_angle(state.root_rot) - heading_angle(rest.root_rot))
    assert dyaw.abs().max() < 1e-4
    frames = lib.get_state(torch.zeros(200, dtype=torch.long), torch.linspace(0, float(lib.motion_lengths[0]), 200))
    nearest = (state.dof_pos[:, None] - frames.dof_pos[None]).abs().amax(-1).min(-1).values
    assert (nearest < 0.15).all() and (state.dof_pos.abs().amax(-1) > 0.1).all()
    assert ((state.root_pos[:, 2] > 0.8) & (state.root_pos[:, 2] < 1.1)).all()
    # the root turns only about the vertical (its tilt stays the clip's) and keeps the clip's speed
    tilt = quat_angle_between(state.root_rot, yaw_quat(heading_angle(state.root_rot)))
    assert (tilt < 0.35).all()
    assert (state.root_vel[:, :2].norm(dim=-1) > 0.5).all()  # the walk moves at ~1.2 m/s
    env.reset(ids)
    assert (env.state.dof_pos.abs().amax(-1) > 0.1).all()  # the simulator starts from a clip pose
    # without a motion file: the rest pose, as before
    plain = make_env(n=2)
    assert torch.equal(plain.reset_state(torch.arange(2)).dof_pos, torch.zeros(2, 69))


def test_keyframe_pelvis_heights_stand_on_the_averaged_ground():
    from protomotions.terrain import mean_ground_height

    for radius in (0.0, 0.3):
        env = make_env(n=64, terrain_type="complex", reference_ground_radius=radius)
        env.reset()
        pos, _ = env.pelvis_keyframes()
        ground = mean_ground_height(env.terrain, pos[..., :2], radius)
        assert torch.allclose(pos[..., 2] - ground, torch.full_like(ground, env.config.nominal_pelvis_height), atol=1e-5)
        if radius > 0:  # some keyframes lie over uneven ground, where the two differ
            assert (ground - env.terrain.height_at(pos[..., :2])).abs().max() > 0.01
        env.close()
