"""Forward kinematics against MuJoCo, and hinge-angle ↔ rotation consistency."""

import math

import mujoco
import numpy as np
import torch

from protomotions.robot import kinematics, smpl
from protomotions.robot.mjcf import ASSET_PATH
from protomotions.utils import rotations as rot


def _random_pose(n: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    root_pos = torch.randn(n, 3, generator=g, dtype=torch.float64)
    root_rot = rot.quat_normalize(torch.randn(n, 4, generator=g, dtype=torch.float64))
    dof = (torch.rand(n, smpl.NUM_DOFS, generator=g, dtype=torch.float64) * 2 - 1) * math.pi
    # keep the middle (y) hinge 0.05 rad away from ±90° where x→y→z angles are ill-conditioned
    y = dof[:, 1::3]
    near = (y.abs() - math.pi / 2).abs() < 0.05
    dof[:, 1::3] = torch.where(near, y * 0.9, y)
    return root_pos, root_rot, dof


def test_fk_matches_mujoco_on_random_poses():
    model = mujoco.MjModel.from_xml_path(str(ASSET_PATH))
    data = mujoco.MjData(model)
    names = [model.body(i).name for i in range(model.nbody)]
    ids = [names.index(b) for b in smpl.BODY_NAMES]
    root_pos, root_rot, dof = _random_pose(16)
    body_pos, body_rot = kinematics.forward_kinematics(root_pos, root_rot, dof)
    for i in range(16):
        data.qpos[:3] = root_pos[i].numpy()
        data.qpos[3:7] = rot.xyzw_to_wxyz(root_rot[i]).numpy()
        data.qpos[7:] = dof[i].numpy()
        mujoco.mj_kinematics(model, data)
        np.testing.assert_allclose(body_pos[i].numpy(), data.xpos[ids], atol=1e-5)
        mj_rot = rot.wxyz_to_xyzw(torch.from_numpy(data.xquat[ids].copy()))
        ang = rot.quat_angle_between(body_rot[i], mj_rot)
        assert ang.max() < 1e-5


def test_hinge_angles_round_trip_through_rotations():
    _, _, dof = _random_pose(256, seed=1)
    local = kinematics.dof_to_local_rot(dof)
    dof2 = kinematics.local_rot_to_dof(local)
    # the angles may change branch, the rotation must not
    ang = rot.quat_angle_between(local, kinematics.dof_to_local_rot(dof2))
    assert ang.max() < 1e-6
    # small angles (everyday poses) come back exactly, and a 110° knee bend stays one hinge
    small = dof * 0.4
    np.testing.assert_allclose(kinematics.local_rot_to_dof(kinematics.dof_to_local_rot(small)), small, atol=1e-6)
    knee = torch.zeros(1, smpl.NUM_DOFS, dtype=torch.float64)
    knee[0, smpl.DOF_NAMES.index("L_Knee_y")] = math.radians(110)
    np.testing.assert_allclose(kinematics.local_rot_to_dof(kinematics.dof_to_local_rot(knee)), knee, atol=1e-6)


def test_global_to_local_inverts_fk():
    root_pos, root_rot, dof = _random_pose(8, seed=2)
    _, body_rot = kinematics.forward_kinematics(root_pos, root_rot, dof)
    local = kinematics.global_to_local_rot(body_rot)
    ang = rot.quat_angle_between(local, kinematics.dof_to_local_rot(dof))
    assert ang.max() < 1e-6
