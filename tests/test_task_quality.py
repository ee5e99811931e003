import math

import mujoco
import numpy as np
import pytest
import torch

from protomotions.envs.markers import add_markers
from protomotions.envs.path_follower.metrics import PathMetrics
from protomotions.envs.quality import (
    FOOT_IDS,
    QualityMetrics,
    reference_quality,
    rest_origin_heights,
    third_difference,
)
from protomotions.envs.steering.metrics import SteeringMetrics, steering_errors
from protomotions.robot import smpl

DT = 1.0 / 30.0


def test_steering_errors_values():
    d = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    v = torch.tensor([[1.0, 1.0], [-2.0, 0.0], [0.0, 0.5]])
    speed_err, dir_err = steering_errors(v, d, torch.tensor([1.5, 1.0, 0.5]))
    assert torch.allclose(speed_err, torch.tensor([0.5, 3.0, 0.0]))
    assert torch.allclose(dir_err, torch.tensor([45.0, 180.0, 0.0]), atol=1e-4)


def test_steering_metrics_ignore_the_first_second_after_a_change_and_slow_commands():
    m = SteeringMetrics(3, "cpu", ignore_steps=30)
    d = torch.tensor([[1.0, 0.0]] * 3)
    speed = torch.tensor([1.0, 1.0, 0.3])
    alive = torch.ones(3, dtype=torch.bool)
    # env 0: 90° off for the first 30 steps of the command, then perfect; env 1: always perfect;
    # env 2: slow command (direction not counted), moving sideways
    for age in range(1, 61):
        bad = age <= 30
        v = torch.tensor([[0.0, 1.0] if bad else [1.0, 0.0], [1.0, 0.0], [0.3, 0.3]])
        m.update(v, d, speed, torch.full((3,), age), alive)
    out = m.episode(torch.tensor([False, True, False]))
    assert torch.allclose(out["speed_error_mps"], torch.tensor([0.0, 0.0, 0.0]), atol=1e-6)
    assert torch.allclose(out["direction_error_deg"], torch.zeros(3), atol=1e-4)
    assert out["success"].tolist() == [True, False, True]  # env 1 fell
    m.reset()
    for age in range(31, 41):  # counted steps, 30° off at the commanded speed along d
        v = torch.tensor([[math.cos(math.pi / 6), math.sin(math.pi / 6)]] * 3) * 2.0
        m.update(v, d, torch.full((3,), math.sqrt(3)), torch.full((3,), age), alive)
    out = m.episode(torch.zeros(3, dtype=torch.bool))
    assert torch.allclose(out["direction_error_deg"], torch.full((3,), 30.0), atol=1e-3)
    assert not out["success"].any()


def test_path_metrics_success_needs_every_step_within_bound():
    m = PathMetrics(2, "cpu", max_error=0.5)
    for err in ([0.1, 0.1], [0.2, 0.6], [0.3, 0.1]):
        m.update(torch.tensor(err), torch.ones(2, dtype=torch.bool))
    m.update(torch.tensor([5.0, 5.0]), torch.zeros(2, dtype=torch.bool))  # after a fall: not counted
    out = m.episode(torch.zeros(2, dtype=torch.bool))
    assert torch.allclose(out["mean_error_m"], torch.tensor([0.2, 0.8 / 3]))
    assert torch.allclose(out["max_error_m"], torch.tensor([0.3, 0.6]))
    assert out["success"].tolist() == [True, False]


def test_rest_heights_of_the_foot_origins():
    h = rest_origin_heights()
    assert len(h) == 4 and h[0] == pytest.approx(h[2]) and h[1] == pytest.approx(h[3])
    assert 0.0 < h[1] < h[0] < 0.15  # toe origin below the ankle origin, both near the ground


def test_foot_skate_counts_only_feet_in_contact():
    q = QualityMetrics(2, 3, DT, "cpu", contact_force=1.0, contact_height=0.03)
    rest = q.rest_heights
    pos = torch.zeros(2, 4, 3)
    pos[..., 2] = rest + torch.tensor([0.0, 0.0, 0.2, 0.2])  # feet 0, 1 on the ground, 2, 3 lifted
    vel = torch.zeros(2, 4, 3)
    vel[:, :, 0] = torch.tensor([0.1, 0.3, 5.0, 5.0])  # lifted feet swing fast: not skating
    forces = torch.zeros(2, 4, 3)
    forces[1, 2, 2] = 50.0  # env 1: foot 2 pressed (e.g. on a step) although high above its rest height
    for _ in range(5):
        q.update(pos, vel, forces, torch.zeros(2, 4), torch.zeros(2, 3), torch.ones(2, dtype=torch.bool))
    skate = q.episode_values()["foot_skate_mps"]
    assert skate[0] == pytest.approx(0.2) and skate[1] == pytest.approx((0.1 + 0.3 + 5.0) / 3)


def test_reference_foot_skate_of_a_real_clip_follows_its_foot_velocities():
    """The clips' own skate (the quality target's yardstick): small for mocap, 0 when the feet's horizontal
    velocities are zeroed, doubled when they are doubled (the contacts, from heights alone, stay the same)."""
    from protomotions.motion.motion_lib import MotionLib
    from tests.conftest import REPO

    lib = MotionLib(REPO / "data" / "motions" / "cmu_02_01.npy")
    base = reference_quality(lib)
    assert base["clips"] == 1 and 0.01 < base["foot_skate_mps"] < 0.3 and base["joint_jerk"] > 0
    lib.flat["body_vel"][:, FOOT_IDS, :2] *= 2.0
    assert reference_quality(lib)["foot_skate_mps"] == pytest.approx(2.0 * base["foot_skate_mps"], rel=1e-4)
    lib.flat["body_vel"][:, FOOT_IDS, :2] = 0.0
    assert reference_quality(lib)["foot_skate_mps"] == 0.0


def test_joint_jerk_of_a_cubic_and_a_constant():
    q = QualityMetrics(2, 2, DT, "cpu")
    alive = torch.ones(2, dtype=torch.bool)
    for i in range(10):
        t = i * DT
        dof = torch.tensor([[t**3, -2 * t**3], [0.5, 0.5]])  # d³/dt³ = 6 and −12
        q.update(torch.zeros(2, 4, 3), torch.zeros(2, 4, 3), torch.zeros(2, 4, 3), torch.zeros(2, 4), dof, alive)
    jerk = q.episode_values()["joint_jerk"]
    assert jerk[0] == pytest.approx(9.0, rel=1e-3) and jerk[1] == 0.0
    assert q.jerk_count[0] == 7  # the first 3 steps lack a full stencil
    assert torch.allclose(third_difference(torch.arange(4.0)[None, :, None] ** 3), torch.tensor([[6.0]]))


def test_add_markers_appends_user_geoms():
    model = mujoco.MjModel.from_xml_string("<mujoco><worldbody/></mujoco>")
    scene = mujoco.MjvScene(model, maxgeom=3)
    markers = [
        {"type": "arrow", "from": [0, 0, 1], "to": [1, 0, 1], "width": 0.03, "rgba": [0, 1, 1, 1]},
        {"type": "arrow", "from": [0, 0, 1], "to": [0, 0, 1], "width": 0.03},  # zero length: skipped
        {"type": "sphere", "pos": [1, 2, 3], "size": 0.05, "rgba": [1, 0, 0, 1]},
        {"type": "capsule", "from": [0, 0, 0], "to": [0, 1, 0], "width": 0.02},
        {"type": "capsule", "from": [0, 0, 0], "to": [0, 2, 0], "width": 0.02},  # scene full
    ]
    assert add_markers(scene, markers) == 3 and scene.ngeom == 3
    assert scene.geoms[0].type == mujoco.mjtGeom.mjGEOM_ARROW
    assert np.allclose(scene.geoms[1].pos, [1, 2, 3]) and np.allclose(scene.geoms[1].rgba, [1, 0, 0, 1])
    with pytest.raises(ValueError, match="marker type"):
        add_markers(mujoco.MjvScene(model, maxgeom=2), [{"type": "cone"}])


def test_foot_body_order_matches_smpl():
    from protomotions.envs.quality import FOOT_IDS

    assert [smpl.BODY_NAMES[i] for i in FOOT_IDS] == list(smpl.FOOT_BODY_NAMES)


def test_task_default_counts_contact_by_force_only():
    """A simulated foot swinging low (within 3 cm of its rest height, no force) is not skating; a foot
    that presses the ground and slides is, at any height."""
    from protomotions.envs.steering.keyframe_task import KeyframeTaskConfig

    cfg = KeyframeTaskConfig()
    q = QualityMetrics(1, 3, DT, "cpu", cfg.contact_force, cfg.contact_height)
    pos = torch.zeros(1, 4, 3)
    pos[..., 2] = q.rest_heights + torch.tensor([0.01, 0.01, 0.01, 0.3])
    vel = torch.zeros(1, 4, 3)
    vel[0, :, 0] = torch.tensor([3.0, 3.0, 0.2, 0.4])
    forces = torch.zeros(1, 4, 3)
    forces[0, 2:, 2] = 100.0  # feet 2 and 3 press; 0 and 1 swing low
    q.update(pos, vel, forces, torch.zeros(1, 4), torch.zeros(1, 3), torch.ones(1, dtype=torch.bool))
    assert q.episode_values()["foot_skate_mps"].item() == pytest.approx(0.3)
