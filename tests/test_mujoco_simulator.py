import math

import torch

from protomotions.robot import smpl
from protomotions.simulator.base import ResetState, SimulatorConfig
from protomotions.simulator.mujoco.simulator import MujocoSimulator
from protomotions.utils.rotations import quat_from_axis_angle, quat_mul, yaw_quat


def random_reset_state(n, seed=0, height=None):
    g = torch.Generator().manual_seed(seed)
    h = smpl.default_root_height() + 0.3 if height is None else height
    axis = torch.nn.functional.normalize(torch.randn(n, 3, generator=g), dim=-1)
    tilt = quat_from_axis_angle(axis, 0.2 * torch.rand(n, generator=g))
    return ResetState(
        root_pos=torch.cat([torch.randn(n, 2, generator=g), torch.full((n, 1), h)], -1),
        root_rot=quat_mul(yaw_quat(torch.rand(n, generator=g) * 6 - 3), tilt),
        root_vel=torch.randn(n, 3, generator=g),
        root_ang_vel=torch.randn(n, 3, generator=g),
        dof_pos=0.3 * torch.randn(n, 69, generator=g),
        dof_vel=torch.randn(n, 69, generator=g),
    )


def make_sim(n, threads=2):
    return MujocoSimulator(SimulatorConfig(num_envs=n, num_threads=threads))


def test_state_set_get_round_trip():
    sim = make_sim(3)
    rs = random_reset_state(3)
    sim.reset_envs(torch.arange(3), rs)
    s = sim.get_state()
    assert torch.allclose(s.root_pos, rs.root_pos, atol=1e-5)
    assert torch.allclose(s.root_rot, rs.root_rot, atol=1e-5)
    assert torch.allclose(s.root_vel, rs.root_vel, atol=1e-5)
    assert torch.allclose(s.root_ang_vel, rs.root_ang_vel, atol=1e-5)
    assert torch.allclose(s.dof_pos, rs.dof_pos, atol=1e-5)
    assert torch.allclose(s.dof_vel, rs.dof_vel, atol=1e-5)
    # body 0 is the root
    assert torch.allclose(s.body_pos[:, 0], rs.root_pos, atol=1e-5)
    assert torch.allclose(s.body_rot[:, 0], rs.root_rot, atol=1e-5)
    assert torch.allclose(s.body_vel[:, 0], rs.root_vel, atol=1e-4)
    assert torch.allclose(s.body_ang_vel[:, 0], rs.root_ang_vel, atol=1e-4)
    assert s.body_pos.shape == (3, 24, 3) and s.contact_forces.shape == (3, 24, 3)


def test_body_velocities_are_origin_velocities():
    """Finite differences of body positions over one physics step match body_vel (not cvel)."""
    sim = MujocoSimulator(SimulatorConfig(num_envs=1, num_threads=1, physics_dt=1 / 240, decimation=1, control_dt=1 / 240))
    rs = random_reset_state(1, seed=3, height=3.0)  # in the air: no contacts
    sim.reset_envs(torch.arange(1), rs)
    s0 = sim.get_state().clone()
    sim.step(rs.dof_pos)
    s1 = sim.get_state()
    fd = (s1.body_pos - s0.body_pos) / (1 / 240)
    avg = 0.5 * (s0.body_vel + s1.body_vel)
    assert (fd - avg).norm(dim=-1).max() < 0.05 * avg.norm(dim=-1).max() + 0.02


def test_reset_of_a_subset_leaves_others_untouched():
    sim = make_sim(4)
    sim.reset_envs(torch.arange(4), random_reset_state(4, seed=1))
    for _ in range(3):
        sim.step(torch.zeros(4, 69))
    before = sim.get_state().clone()
    sim.reset_envs(torch.tensor([1, 3]), random_reset_state(2, seed=2))
    after = sim.get_state()
    for name in ("root_pos", "root_rot", "dof_pos", "dof_vel", "body_pos", "body_vel"):
        assert torch.equal(getattr(after, name)[[0, 2]], getattr(before, name)[[0, 2]]), name
        assert not torch.equal(getattr(after, name)[[1, 3]], getattr(before, name)[[1, 3]]), name


def test_threads_give_identical_physics():
    rs = random_reset_state(4, seed=5)
    targets = 0.2 * torch.randn(4, 69, generator=torch.Generator().manual_seed(0))
    states = []
    for threads in (1, 2):
        sim = make_sim(4, threads)
        sim.reset_envs(torch.arange(4), rs)
        for _ in range(5):
            sim.step(targets)
        states.append(sim.get_state())
        sim.close()
    assert torch.equal(states[0].body_pos, states[1].body_pos)


def test_contact_forces_carry_the_weight_when_standing():
    sim = make_sim(1, 1)
    rs = random_reset_state(1)
    rs = ResetState(torch.tensor([[0.0, 0.0, smpl.default_root_height() + 0.01]]), torch.tensor([[0.0, 0, 0, 1]]),
                    torch.zeros(1, 3), torch.zeros(1, 3), torch.zeros(1, 69), torch.zeros(1, 69))
    sim.reset_envs(torch.arange(1), rs)
    for _ in range(30):
        sim.step(torch.zeros(1, 69))
    f = sim.get_state().contact_forces[0]
    weight = float(sim.model.body_mass.sum()) * 9.81
    assert math.isclose(float(f[:, 2].sum()), weight, rel_tol=0.05)
    feet = [smpl.BODY_NAMES.index(b) for b in smpl.FOOT_BODY_NAMES]
    others = [i for i in range(24) if i not in feet]
    assert f[others].norm(dim=-1).max() < 1e-6


def test_get_state_is_a_new_object_after_each_step_and_reset():
    """Envs cache values derived from the state by identity (BaseEnv.self_observation)."""
    sim = make_sim(2)
    sim.reset_envs(torch.arange(2), random_reset_state(2))
    s0 = sim.get_state()
    assert sim.get_state() is s0
    sim.step(torch.zeros(2, smpl.NUM_DOFS))
    s1 = sim.get_state()
    assert s1 is not s0 and sim.get_state() is s1
    sim.reset_envs(torch.tensor([1]), random_reset_state(1, seed=1))
    assert sim.get_state() is not s1
