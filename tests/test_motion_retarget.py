"""Retargeting: mirroring, rest alignment, ground contact, MuJoCo cross-check of stored poses."""

from pathlib import Path

import mujoco
import numpy as np
import pytest
import torch

from protomotions.motion import contacts, retarget
from protomotions.motion.bvh import read_bvh
from protomotions.robot import kinematics, smpl
from protomotions.robot.mjcf import ASSET_PATH
from protomotions.utils import rotations as rot

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
BVH = DATA / "cmu_bvh" / "16_18.bvh"
needs_data = pytest.mark.skipif(not BVH.is_file(), reason=f"raw CMU data not found under {DATA}")


def _random(n=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, 3, generator=g, dtype=torch.float64),
            rot.quat_normalize(torch.randn(n, 4, generator=g, dtype=torch.float64)),
            (torch.rand(n, 69, generator=g, dtype=torch.float64) * 2 - 1) * 3.0)


def test_mirror_twice_is_identity():
    p, q, d = _random()
    p2, q2, d2 = retarget.mirror_pose(*retarget.mirror_pose(p, q, d))
    torch.testing.assert_close(p2, p)
    torch.testing.assert_close(q2, q)
    torch.testing.assert_close(d2, d)


def test_mirror_reflects_body_positions():
    p, q, d = _random(seed=3)
    bp, _ = kinematics.forward_kinematics(p, q, d)
    mp, _ = kinematics.forward_kinematics(*retarget.mirror_pose(p, q, d))
    reflected = bp[:, list(smpl.MIRROR_BODY_INDICES)] * torch.tensor([1.0, -1.0, 1.0], dtype=torch.float64)
    torch.testing.assert_close(mp, reflected, atol=1e-9, rtol=0)


@needs_data
def test_retarget_excerpt_is_upright_grounded_and_matches_mujoco():
    src = read_bvh(BVH, drop_first_frame=True).to_zup().slice(0, 121)  # first second
    clip = retarget.retarget(src, retarget.CMU_BVH_MAP)
    assert clip["fps"] == 30.0 and clip["root_pos"].shape == (31, 3)
    bp = torch.as_tensor(clip["body_pos"], dtype=torch.float64)
    br = torch.as_tensor(clip["body_rot"], dtype=torch.float64)
    head, pelvis = bp[:, smpl.BODY_NAMES.index("Head")], bp[:, 0]
    assert (head[:, 2] > pelvis[:, 2] + 0.4).all() and (pelvis[:, 2] > 0.8).all()
    low = contacts.foot_lowest(bp, br).min(-1).values
    assert low.min() > -0.002 and low.max() < 0.05  # a walking foot is always (nearly) on the floor
    assert np.abs(clip["dof_pos"]).max() <= np.pi + 1e-6
    down = clip["contacts"][:, list(contacts.FOOT_BODY_IDS)].sum(1) >= 1
    assert down.mean() > 0.9  # a foot is labelled down except in brief heel-strike transitions
    # stored body poses equal MuJoCo's kinematics of the stored root + dofs (float32 storage)
    model = mujoco.MjModel.from_xml_path(str(ASSET_PATH))
    data = mujoco.MjData(model)
    ids = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, n) for n in smpl.BODY_NAMES]
    for t in (0, 15, 30):
        data.qpos[:3] = clip["root_pos"][t]
        data.qpos[3:7] = np.roll(clip["root_rot"][t], 1)
        data.qpos[7:] = clip["dof_pos"][t]
        mujoco.mj_kinematics(model, data)
        np.testing.assert_allclose(clip["body_pos"][t], data.xpos[ids], atol=2e-5)


@needs_data
def test_velocities_are_finite_differences():
    src = read_bvh(BVH, drop_first_frame=True).to_zup().slice(0, 61)
    clip = retarget.retarget(src, retarget.CMU_BVH_MAP)
    fd = (clip["body_pos"][2:] - clip["body_pos"][:-2]) * 15.0
    np.testing.assert_allclose(clip["body_vel"][1:-1], fd, atol=1e-4)
    # root angular velocity: rotating frame t by ω·dt lands near frame t+1
    q0 = torch.as_tensor(clip["root_rot"][5], dtype=torch.float64)
    w = torch.as_tensor(clip["body_ang_vel"][5, 0], dtype=torch.float64)
    q1 = rot.quat_mul(rot.quat_from_exp_map(w / 30.0), q0)
    assert rot.quat_angle_between(q1, torch.as_tensor(clip["root_rot"][6], dtype=torch.float64)) < 0.02


def test_ground_correction_puts_lowest_foot_on_floor_and_keeps_flight():
    n = 7
    p, q, d = torch.zeros(n, 3, dtype=torch.float64), rot.quat_identity((n,), dtype=torch.float64), torch.zeros(n, 69, dtype=torch.float64)
    # standing frames 2 cm off in both directions, and one jump frame 30 cm up in the middle
    p[:, 2] = 1.0 + torch.tensor([0.01, -0.02, 0.02, 0.30, 0.0, -0.01, 0.02], dtype=torch.float64)
    fixed = retarget.ground_correction(p, q, d, smooth_frames=0)
    bp, br = kinematics.forward_kinematics(fixed, q, d)
    low = contacts.foot_lowest(bp, br).min(-1).values
    np.testing.assert_allclose(low[[0, 1, 2, 4, 5, 6]], 0.0, atol=1e-9)
    assert abs(float(low[3]) - 0.30) < 0.02  # the flight frame keeps its height above the floor
    np.testing.assert_allclose(fixed[[0, 1, 2, 4, 5, 6], 2], smpl.default_root_height(), atol=2e-4)
