"""The IsaacLab backend's pure parts, without IsaacLab: config translation, order maps, quaternion
order, heightfield mesh and the missing-package error. Nothing here starts Isaac Sim."""

import importlib.util
import random
import subprocess
import sys
from pathlib import Path

import mujoco
import numpy as np
import pytest
import torch
import yaml

from protomotions.robot import smpl
from protomotions.simulator.base import ResetState, SimulatorConfig
from protomotions.simulator.isaaclab import IsaacLabNotInstalledError, convert, not_installed_message
from protomotions.simulator.isaaclab.simulator import IsaacLabSimulator
from protomotions.simulator.mujoco.simulator import MujocoSimulator
from protomotions.utils.rotations import quat_from_axis_angle, quat_mul, yaw_quat

ISAACLAB_YAML = (
    Path(__file__).resolve().parents[1] / "protomotions" / "config" / "simulator" / "isaaclab.yaml"
)
ISAACLAB_ABSENT = importlib.util.find_spec("isaaclab") is None


def isaaclab_config(**kw) -> SimulatorConfig:
    return SimulatorConfig(**{**yaml.safe_load(ISAACLAB_YAML.read_text())["config"], **kw})


def shuffled(names, seed):
    names = list(names)
    random.Random(seed).shuffle(names)
    return names


# --- config translation ------------------------------------------------------------------------
def test_actuator_groups_reproduce_pd_gains_per_dof():
    kp, kd = smpl.pd_gains_per_dof()
    gains = convert.gains_for_joints(smpl.DOF_NAMES)  # raises unless each DoF matches exactly one group
    for name, p, d in zip(smpl.DOF_NAMES, kp, kd):
        assert gains[name] == (p, d, smpl.EFFORT_LIMIT), name
    assert set(convert.actuator_groups()) == set(smpl.PD_GAINS)


def test_actuator_regex_rejects_foreign_names():
    with pytest.raises(ValueError, match="Pelvis"):
        convert.gains_for_joints(["Pelvis_x"])


def test_rates_give_30hz_control():
    cfg = isaaclab_config()
    rates = convert.sim_rates(cfg)
    assert rates.physics_dt == pytest.approx(1 / 120) and rates.decimation == 4
    assert rates.control_hz == pytest.approx(30.0)
    with pytest.raises(ValueError, match="30 Hz"):
        convert.sim_rates(SimulatorConfig(control_dt=1 / 60, physics_dt=1 / 120, decimation=2))


# --- order maps ----------------------------------------------------------------------------------
def test_bfs_order_is_a_breadth_first_permutation():
    order = convert.bfs_order()
    assert sorted(order) == sorted(smpl.BODY_NAMES) and order != list(smpl.BODY_NAMES)
    assert order[:4] == ["Pelvis", "L_Hip", "R_Hip", "Torso"]
    depth = {n: 0 for n in smpl.BODY_NAMES}
    for i, p in enumerate(smpl.PARENT_INDICES):
        depth[smpl.BODY_NAMES[i]] = depth[smpl.BODY_NAMES[p]] + 1 if p >= 0 else 0
    assert [depth[n] for n in order] == sorted(depth[n] for n in order)


def test_order_maps_round_trip_a_permutation():
    sim_bodies, sim_dofs = convert.bfs_order(), shuffled(smpl.DOF_NAMES, 1)
    layout = convert.Layout.from_names(sim_bodies, sim_dofs, shuffled(smpl.BODY_NAMES, 2))
    x = torch.randn(3, smpl.NUM_BODIES, 5)
    assert torch.equal(x[:, layout.body_to_sim][:, layout.body_to_ours], x)
    assert [smpl.BODY_NAMES[i] for i in layout.body_to_sim] == sim_bodies
    y = torch.randn(3, smpl.NUM_DOFS)
    assert torch.equal(convert.targets_to_sim(layout, y)[:, layout.dof_to_ours], y)
    assert [smpl.DOF_NAMES[i] for i in layout.dof_to_sim] == sim_dofs


def test_order_map_names_what_is_missing():
    merged = [n for n in smpl.DOF_NAMES if not n.startswith("L_Hip")] + ["L_Hip:0", "L_Hip:1", "L_Hip:2"]
    with pytest.raises(ValueError, match="L_Hip_x"):
        convert.Layout.from_names(smpl.BODY_NAMES, merged)


# --- quaternion order against MuJoCo ----------------------------------------------------------
@pytest.fixture(scope="module")
def mujoco_state():
    n = 2
    g = torch.Generator().manual_seed(0)
    axis = torch.nn.functional.normalize(torch.randn(n, 3, generator=g), dim=-1)
    reset = ResetState(
        root_pos=torch.tensor([[0.0, 0.0, 1.2], [1.0, -1.0, 1.2]]),
        root_rot=quat_mul(
            yaw_quat(torch.tensor([0.7, -2.0])), quat_from_axis_angle(axis, torch.tensor([0.2, 0.1]))
        ),
        root_vel=torch.randn(n, 3, generator=g),
        root_ang_vel=torch.randn(n, 3, generator=g),
        dof_pos=0.3 * torch.randn(n, smpl.NUM_DOFS, generator=g),
        dof_vel=torch.randn(n, smpl.NUM_DOFS, generator=g),
    )
    sim = MujocoSimulator(SimulatorConfig(num_envs=n, num_threads=1))
    sim.reset_envs(torch.arange(n), reset)
    for _ in range(3):  # fall onto the ground: nonzero velocities and contact forces
        sim.step(reset.dof_pos)
    state = sim.get_state().clone()
    ids = [mujoco.mj_name2id(sim.model, mujoco.mjtObj.mjOBJ_BODY, b) for b in smpl.BODY_NAMES]
    xquat_wxyz = torch.tensor(np.stack([d.xquat[ids] for d in sim.datas]), dtype=torch.float32)
    sim.close()
    return state, xquat_wxyz


def test_isaaclab2_layout_matches_mujoco_wxyz_and_round_trips(mujoco_state):
    state, xquat_wxyz = mujoco_state
    sim_bodies = convert.bfs_order()
    layout = convert.Layout.from_names(
        sim_bodies, shuffled(smpl.DOF_NAMES, 3), shuffled(smpl.BODY_NAMES, 4), "wxyz"
    )
    sim = convert.state_to_sim(layout, state)
    # IsaacLab 2.x quaternions are wxyz like MuJoCo's own: compare body by body, by name
    for b, name in enumerate(smpl.BODY_NAMES):
        j = sim_bodies.index(name)
        torch.testing.assert_close(sim["body_link_quat_w"][:, j], xquat_wxyz[:, b], atol=1e-6, rtol=0)
    torch.testing.assert_close(sim["root_link_pose_w"][:, 3:7], xquat_wxyz[:, 0], atol=1e-6, rtol=0)
    assert sim["body_link_quat_w"][0, 0, 0] == state.body_rot[0, 0, 3]  # w first
    back = convert.state_from_sim(layout, sim)
    for k, v in state.__dict__.items():
        assert torch.equal(getattr(back, k), v), k
    assert state.contact_forces.abs().sum() > 0 and state.body_vel.abs().sum() > 0  # the test sees real data


def test_isaaclab3_layout_keeps_xyzw(mujoco_state):
    state, _ = mujoco_state
    layout = convert.Layout.from_names(convert.bfs_order(), smpl.DOF_NAMES, quat_order="xyzw")
    sim = convert.state_to_sim(layout, state)
    assert torch.equal(sim["body_link_quat_w"][:, layout.body_to_ours], state.body_rot)
    assert torch.equal(convert.state_from_sim(layout, sim).root_rot, state.root_rot)


def test_quat_order_by_version_and_reset_conversion():
    assert convert.quat_order_for_version("2.3.0") == "wxyz"
    assert convert.quat_order_for_version("3.0.0") == "xyzw"
    layout = convert.Layout.from_names(convert.bfs_order(), smpl.DOF_NAMES[::-1], quat_order="wxyz")
    rs = ResetState(
        torch.zeros(1, 3),
        torch.tensor([[0.1, 0.2, 0.3, 0.9]]),
        torch.ones(1, 3),
        2 * torch.ones(1, 3),
        torch.arange(69.0)[None],
        -torch.arange(69.0)[None],
    )
    pose, vel, jp, jv = convert.reset_to_sim(layout, rs)
    assert pose[0, 3:].tolist() == pytest.approx([0.9, 0.1, 0.2, 0.3])
    assert vel[0].tolist() == [1, 1, 1, 2, 2, 2]
    assert jp[0].tolist() == list(range(68, -1, -1)) and torch.equal(jv, -jp)


# --- heightfield → mesh -----------------------------------------------------------------------
def test_heightfield_mesh_vertices_and_triangles():
    heights = np.random.default_rng(0).uniform(-0.2, 0.5, size=(5, 7)).astype(np.float32)
    s = 0.1
    v, f = convert.heightfield_to_mesh(heights, s)
    assert v.shape == (35, 3) and f.shape == (2 * 4 * 6, 3)
    assert np.array_equal(v[:, 2].reshape(5, 7), heights)
    i, j = np.divmod(np.arange(35), 7)
    assert np.allclose(v[:, 0], i * s) and np.allclose(v[:, 1], j * s)
    a, b, c = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
    normal = np.cross(b - a, c - a)
    assert (normal[:, 2] > 0).all()  # every triangle faces up
    assert 0.5 * normal[:, 2].sum() == pytest.approx(0.4 * 0.6)  # they tile the grid's footprint exactly
    assert len({tuple(sorted(t)) for t in f.tolist()}) == len(f)


def test_heightfield_mesh_rejects_degenerate_grid():
    with pytest.raises(ValueError, match="nx, ny >= 2"):
        convert.heightfield_to_mesh(np.zeros((1, 4)), 0.1)


# --- missing IsaacLab -------------------------------------------------------------------------
@pytest.mark.skipif(not ISAACLAB_ABSENT, reason="IsaacLab is installed here")
def test_selecting_isaaclab_without_it_raises_one_clear_error():
    with pytest.raises(IsaacLabNotInstalledError) as info:
        IsaacLabSimulator(isaaclab_config(num_envs=1))
    err = info.value
    assert isinstance(err, ImportError)
    msg = str(err)
    for needle in (
        "isaaclab",
        "Isaac Sim",
        "pip install",
        "pypi.nvidia.com",
        "Python 3.11",
        "Python 3.12",
        "+simulator=mujoco",
    ):
        assert needle in msg, needle


def test_message_names_only_what_is_missing():
    msg = not_installed_message(["isaacsim"])
    assert "'isaacsim'" in msg and "'isaaclab' Python package" not in msg and "+simulator=mujoco" in msg


def test_importing_the_backend_does_not_import_isaaclab():
    code = (
        "import sys, protomotions.simulator.isaaclab.simulator, protomotions.simulator.isaaclab.convert\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('isaaclab', 'isaacsim', 'omni', 'carb', 'pxr', 'warp')]\n"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
