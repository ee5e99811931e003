import mujoco
import numpy as np
import torch

from protomotions.robot import mjcf, smpl
from protomotions.simulator.base import ResetState, SimulatorConfig
from protomotions.simulator.mujoco.simulator import MujocoSimulator


def test_committed_asset_matches_generator():
    assert mjcf.ASSET_PATH.read_text() == mjcf.generate_mjcf(), "run `python -m protomotions.robot.mjcf`"


def test_model_topology_gains_and_names():
    m = mujoco.MjModel.from_xml_path(str(mjcf.ASSET_PATH))
    assert (m.nq, m.nv, m.nu) == (76, 75, 69)
    names = [m.body(i).name for i in range(1, m.nbody)]
    assert tuple(names) == smpl.BODY_NAMES
    parents = [int(m.body_parentid[i]) - 1 for i in range(1, m.nbody)]
    assert tuple(parents) == smpl.PARENT_INDICES
    # hinges x, y, z in order, named like DOF_NAMES, actuated in that order
    assert tuple(m.joint(j).name for j in range(1, m.njnt)) == smpl.DOF_NAMES
    assert [tuple(m.jnt_axis[j]) for j in range(1, 4)] == [(1, 0, 0), (0, 1, 0), (0, 0, 1)]
    kp, kd = smpl.pd_gains_per_dof()
    assert np.allclose(m.actuator_gainprm[:, 0], kp)
    assert np.allclose(m.actuator_biasprm[:, 1], -np.array(kp))
    assert np.allclose(m.dof_damping[6:], kd)
    assert np.allclose(m.dof_armature[6:], smpl.ARMATURE)
    assert 55 < m.body_mass.sum() < 85  # an adult


def test_stature_and_default_root_height():
    m = mujoco.MjModel.from_xml_path(str(mjcf.ASSET_PATH))
    d = mujoco.MjData(m)
    d.qpos[2] = smpl.default_root_height()
    mujoco.mj_kinematics(m, d)
    head = m.geom("Head")
    head_top = d.geom_xpos[head.id][2] + m.geom_size[head.id][0]
    assert abs(head_top - smpl.STATURE_M) < 0.05
    # the soles rest on z = 0
    foot = m.geom("L_Ankle")
    sole = d.geom_xpos[foot.id][2] - m.geom_size[foot.id][2]
    assert abs(sole) < 1e-3  # the MJCF is written with 4 decimals


def test_mirror_indices_swap_sides():
    for i, j in enumerate(smpl.MIRROR_BODY_INDICES):
        a, b = smpl.BODY_NAMES[i], smpl.BODY_NAMES[j]
        assert a.replace("L_", "R_") == b or a.replace("R_", "L_") == b or a == b
        assert smpl.MIRROR_BODY_INDICES[j] == i


def test_stands_upright_for_five_seconds():
    sim = MujocoSimulator(SimulatorConfig(num_envs=1, num_threads=1))
    h = smpl.default_root_height()
    state = ResetState(
        root_pos=torch.tensor([[0.0, 0.0, h + 0.01]]), root_rot=torch.tensor([[0.0, 0.0, 0.0, 1.0]]),
        root_vel=torch.zeros(1, 3), root_ang_vel=torch.zeros(1, 3), dof_pos=torch.zeros(1, 69), dof_vel=torch.zeros(1, 69),
    )
    sim.reset_envs(torch.tensor([0]), state)
    for _ in range(5 * 30):
        sim.step(torch.zeros(1, 69))
    s = sim.get_state()
    head = smpl.BODY_NAMES.index("Head")
    assert s.root_pos[0, 2] > h - 0.05
    assert s.body_pos[0, head, 2] > 1.45
    assert s.root_pos[0, :2].norm() < 0.1
