"""The ``mjwarp`` backend against the CPU ``mujoco`` backend, on warp's CPU device and on CUDA.

Tests that need MuJoCo Warp are marked ``gpu`` (they need the gpu extra) and run on every
device warp offers here: ``cpu`` where warp has its CPU compiler (warp-clang), ``cuda`` where
torch and warp see a GPU; each missing piece skips with its reason.

Why the tolerances: MuJoCo Warp computes in float32, MuJoCo in float64. From quiet states
(feet or nothing touching) one control step agreed to ≤ 4e-7 m / rad and ≤ 1.4e-5 m/s on warp's
CPU device (64 worlds). POS_TOL = 1e-4 leaves 250× headroom for GPU reduction order yet is
40× below the 4 mm that one missing 1/240 s substep of a 1 m/s motion would cause; likewise
VEL_TOL = 1e-2 against the 0.04 m/s that one substep of gravity adds. Where boxes touch boxes
(feet crossing) the two engines make different contact sets (MuJoCo's box-box collider returns
up to 8 points, MuJoCo Warp's fewer), so such worlds part by millimetres to centimetres after
one step; the violent test therefore checks the median world only.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import numpy as np
import pytest
import torch

from protomotions.robot import smpl
from protomotions.simulator.base import ResetState, RobotState, SimulatorConfig
from protomotions.simulator.mujoco.simulator import MujocoSimulator
from protomotions.terrain.base import Terrain
from protomotions.utils.rotations import quat_normalize

POS_TOL = 1e-4  # m, rad, quaternion components
VEL_TOL = 1e-2  # m/s, rad/s
FORCE_REL_TOL, FORCE_ABS_TOL = 1e-2, 1.0  # of the world's total contact force, N
POSITIONS = ("root_pos", "root_rot", "dof_pos", "body_pos", "body_rot")
VELOCITIES = ("root_vel", "root_ang_vel", "dof_vel", "body_vel", "body_ang_vel")


def _device_params():
    missing = [p for p in ("warp", "mujoco_warp") if importlib.util.find_spec(p) is None]
    if missing:
        reason = f"needs {' and '.join(missing)}: pip install 'protomotions[gpu]'"
        return [pytest.param(d, marks=pytest.mark.skip(reason=reason)) for d in ("cpu", "cuda")]
    import warp as wp

    wp.config.quiet = True
    wp.init()
    no_cpu = (
        None if wp.is_cpu_available() else "warp has no CPU backend here (its warp-clang library is missing)"
    )
    no_cuda = (
        None
        if wp.is_cuda_available() and torch.cuda.is_available()
        else "no CUDA device visible to warp and torch"
    )
    return [
        pytest.param(d, marks=pytest.mark.skip(reason=r)) if r else d
        for d, r in (("cpu", no_cpu), ("cuda", no_cuda))
    ]


DEVICES = _device_params()


def make_sim(device: str, num_envs: int, terrain=None, **kw):
    from protomotions.simulator.mjwarp.simulator import MjwarpSimulator

    return MjwarpSimulator(SimulatorConfig(num_envs=num_envs, device=device), terrain, **kw)


def make_cpu(num_envs: int, terrain=None) -> MujocoSimulator:
    return MujocoSimulator(SimulatorConfig(num_envs=num_envs, num_threads=1), terrain)


HIP_ABDUCTION = 0.15  # rad: feet ~25 cm apart, so small noise never makes them touch


def random_state(n: int, gen: torch.Generator, z: float, scale: float, legs_apart: bool = True) -> ResetState:
    """Near the rest pose at height ``z``; ``scale`` 1 with legs together gives feet that may cross."""
    rot = quat_normalize(torch.tensor([0.0, 0.0, 0.0, 1.0]) + 0.05 * scale * torch.randn(n, 4, generator=gen))
    dof_pos = 0.1 * scale * torch.randn(n, smpl.NUM_DOFS, generator=gen)
    if legs_apart:  # hinge x of a hip swings its foot towards +y
        dof_pos[:, smpl.DOF_NAMES.index("L_Hip_x")] += HIP_ABDUCTION
        dof_pos[:, smpl.DOF_NAMES.index("R_Hip_x")] -= HIP_ABDUCTION
    return ResetState(
        root_pos=torch.tensor([0.0, 0.0, z]) + 0.02 * torch.randn(n, 3, generator=gen),
        root_rot=rot,
        root_vel=0.3 * scale * torch.randn(n, 3, generator=gen),
        root_ang_vel=0.3 * scale * torch.randn(n, 3, generator=gen),
        dof_pos=dof_pos,
        dof_vel=0.5 * scale * torch.randn(n, smpl.NUM_DOFS, generator=gen),
    )


def per_world_error(a: RobotState, b: RobotState, name: str) -> torch.Tensor:
    """(N,) max abs difference of field ``name``, both states on the CPU."""
    return (getattr(a, name).cpu() - getattr(b, name).cpu()).abs().flatten(1).max(dim=1).values


def assert_close_states(warp_state: RobotState, cpu_state: RobotState, worlds=slice(None)) -> None:
    for name in POSITIONS:
        err = per_world_error(warp_state, cpu_state, name)[worlds].max().item()
        assert err < POS_TOL, f"{name}: {err:.3g} > {POS_TOL}"
    for name in VELOCITIES:
        err = per_world_error(warp_state, cpu_state, name)[worlds].max().item()
        assert err < VEL_TOL, f"{name}: {err:.3g} > {VEL_TOL}"
    total = cpu_state.contact_forces.cpu().norm(dim=-1).sum(dim=-1)[worlds]
    err = per_world_error(warp_state, cpu_state, "contact_forces")[worlds]
    assert (err <= FORCE_REL_TOL * total + FORCE_ABS_TOL).all(), f"contact forces: {err} vs totals {total}"


def test_import_without_warp_names_package_and_remedy():
    code = (
        "import sys; sys.modules['warp'] = None; sys.modules['mujoco_warp'] = None\n"
        "import protomotions.simulator.mjwarp  # the package itself imports nothing heavy\n"
        "try:\n    import protomotions.simulator.mjwarp.simulator\nexcept ImportError as e:\n    print(e)\n"
        "from protomotions.builders import simulator_class, SimulatorUnavailableError\n"
        "try:\n    simulator_class('mjwarp')\nexcept SimulatorUnavailableError as e:\n    print(e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "'warp'" in out.stdout and "pip install 'protomotions[gpu]'" in out.stdout, out.stdout
    assert "+simulator=mujoco" in out.stdout, out.stdout


@pytest.mark.gpu
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", ["standing", "airborne"])
def test_one_control_step_matches_cpu_backend(device, case):
    n, gen = 16, torch.Generator().manual_seed(3)
    z = smpl.default_root_height() if case == "standing" else 3.0
    state = random_state(n, gen, z, scale=0.2)
    targets = state.dof_pos + 0.05 * torch.randn(n, smpl.NUM_DOFS, generator=gen)
    sim, ref = make_sim(device, n), make_cpu(n)
    ids = torch.arange(n)
    for s in (sim, ref):
        s.reset_envs(ids, state)
    assert_close_states(sim.get_state(), ref.get_state())  # the reset itself (kinematics)
    sim.step(targets.to(sim.device))
    ref.step(targets)
    out, expect = sim.get_state(), ref.get_state()
    assert out.root_pos.device == sim.device
    if case == "standing":
        support = expect.contact_forces[..., 2].sum(dim=-1)
        assert (support > 100.0).sum() >= n // 2, f"most feet should be carrying the body: {support}"
    assert_close_states(out, expect)


@pytest.mark.gpu
@pytest.mark.parametrize("device", DEVICES)
def test_violent_targets_median_world_matches_and_no_overflow(device):
    n, gen = 32, torch.Generator().manual_seed(4)
    state = random_state(n, gen, smpl.default_root_height(), scale=1.0, legs_apart=False)
    targets = 0.3 * torch.randn(n, smpl.NUM_DOFS, generator=gen)
    sim, ref = make_sim(device, n), make_cpu(n)
    for s in (sim, ref):
        s.reset_envs(torch.arange(n), state)
    sim.step(targets.to(sim.device))
    ref.step(targets)
    # boxes touching boxes make different contact sets in some worlds (module docstring)
    err = per_world_error(sim.get_state(), ref.get_state(), "body_pos")
    assert err.median().item() < POS_TOL, err
    for _ in range(20):  # they fall and thrash: capacity must hold
        sim.step((0.5 * torch.randn(n, smpl.NUM_DOFS, generator=gen)).to(sim.device))
    report = sim.capacity_report()
    assert report["worlds_over_capacity"] == 0, report
    assert torch.isfinite(sim.get_state().body_pos).all()


@pytest.mark.gpu
@pytest.mark.parametrize("device", DEVICES)
def test_reset_subset_leaves_other_worlds_untouched(device):
    n, gen = 6, torch.Generator().manual_seed(5)
    sim = make_sim(device, n)
    sim.reset_envs(torch.arange(n), random_state(n, gen, smpl.default_root_height(), scale=0.2))
    for _ in range(3):
        sim.step((0.1 * torch.randn(n, smpl.NUM_DOFS, generator=gen)).to(sim.device))
    before = sim.get_state().clone()
    qpos_ptr = sim._qpos.data_ptr()

    ids, keep = torch.tensor([1, 4]), torch.tensor([0, 2, 3, 5])
    new = random_state(len(ids), gen, smpl.default_root_height() + 0.01, scale=0.2)
    sim.reset_envs(ids.to(sim.device), new)
    after = sim.get_state()
    assert sim._qpos.data_ptr() == qpos_ptr == sim.data.qpos.ptr, "graph buffers must be written in place"
    for name in RobotState.__dataclass_fields__:
        assert torch.equal(getattr(after, name)[keep], getattr(before, name)[keep]), (
            f"{name} of untouched worlds changed"
        )

    # the reset worlds hold what was asked, bodies as the CPU backend derives them, no contacts
    ref = make_cpu(len(ids))
    ref.reset_envs(torch.arange(len(ids)), new)
    expect = ref.get_state()
    assert_close_states(after.index(ids.to(sim.device)), expect)
    assert torch.equal(after.contact_forces[ids], torch.zeros_like(after.contact_forces[ids]))

    # and they step like fresh worlds (solver warm start cleared)
    targets = new.dof_pos + 0.05 * torch.randn(len(ids), smpl.NUM_DOFS, generator=gen)
    full = torch.zeros(n, smpl.NUM_DOFS)
    full[ids] = targets
    sim.step(full.to(sim.device))
    ref.step(targets)
    assert_close_states(sim.get_state().index(ids.to(sim.device)), ref.get_state())


@pytest.mark.gpu
@pytest.mark.parametrize("device", DEVICES)
def test_graph_replay_matches_eager_calls(device):
    n, gen = 8, torch.Generator().manual_seed(6)
    state = random_state(n, gen, smpl.default_root_height(), scale=0.5)
    targets = [0.2 * torch.randn(n, smpl.NUM_DOFS, generator=gen) for _ in range(3)]
    graph, eager = make_sim(device, n), make_sim(device, n, use_graph=False)
    assert graph._step_graph is not None and eager._step_graph is None
    for sim in (graph, eager):
        sim.reset_envs(torch.arange(n), state)
        for t in targets:
            sim.step(t.to(sim.device))
    # a stale pointer or a missed call in the graph would show as gross differences; the
    # tolerances only absorb float atomics' summation order on the GPU
    assert_close_states(graph.get_state(), eager.get_state())


@pytest.mark.gpu
@pytest.mark.parametrize("device", [d for d in DEVICES if "cuda" in str(getattr(d, "values", [d])[0])])
def test_cuda_graph_follows_torch_stream(device):
    """Replays go on torch's current stream: work on a side stream sees finished physics."""
    n, gen = 64, torch.Generator().manual_seed(7)
    state = random_state(n, gen, smpl.default_root_height(), scale=0.2)
    targets = (0.1 * torch.randn(n, smpl.NUM_DOFS, generator=gen)).cuda()
    a, b = make_sim(device, n), make_sim(device, n)
    for sim in (a, b):
        sim.reset_envs(torch.arange(n, device="cuda"), state)
    a.step(targets)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        b.step(targets)
        pos_b = b.get_state().body_pos.clone()
    torch.cuda.current_stream().wait_stream(side)
    assert torch.allclose(a.get_state().body_pos, pos_b, atol=1e-6)


def stepped_terrain() -> Terrain:
    """6 m × 6 m: flat half, 10 cm step at x = 3 m, a little roughness."""
    rng = np.random.default_rng(0)
    heights = np.zeros((60, 60), dtype=np.float32)
    heights[30:] = 0.1
    heights += rng.uniform(0.0, 0.03, heights.shape).astype(np.float32)
    return Terrain(heights=heights, horizontal_scale=0.1, spawn_xy=np.array([[3.0, 3.0]], dtype=np.float32))


@pytest.mark.gpu
@pytest.mark.parametrize("device", DEVICES)
def test_heightfield_terrain_carries_the_humanoids(device):
    """MuJoCo Warp collides the hfield with boxes and capsules; bodies settle on both levels."""
    n, gen, terrain = 8, torch.Generator().manual_seed(8), stepped_terrain()
    xy = torch.tensor([[1.5 + 0.5 * i, 3.0] for i in range(n)])  # four below the step, four on it
    ground = terrain.height_at(xy)
    state = ResetState(
        root_pos=torch.cat([xy, (ground + smpl.default_root_height() + 0.05)[:, None]], dim=-1),
        root_rot=torch.tensor([0.0, 0.0, 0.0, 1.0]).repeat(n, 1),
        root_vel=torch.zeros(n, 3),
        root_ang_vel=torch.zeros(n, 3),
        dof_pos=torch.zeros(n, smpl.NUM_DOFS),
        dof_vel=torch.zeros(n, smpl.NUM_DOFS),
    )
    sim, ref = make_sim(device, n, terrain), make_cpu(n, terrain)
    assert sim.mj_model.nhfield == 1
    for s in (sim, ref):
        s.reset_envs(torch.arange(n), state)
    for _ in range(20):
        targets = 0.05 * torch.randn(n, smpl.NUM_DOFS, generator=gen)
        sim.step(targets.to(sim.device))
        ref.step(targets)
    out, expect = sim.get_state(), ref.get_state()
    assert sim.capacity_report()["worlds_over_capacity"] == 0
    # hfield contact points differ between the engines, so compare outcomes, not trajectories
    pelvis_err = (out.root_pos.cpu()[:, 2] - expect.root_pos[:, 2]).abs().max().item()
    assert pelvis_err < 0.05, pelvis_err
    assert (out.root_pos.cpu()[:, 2] - ground > smpl.default_root_height() - 0.15).all()
    weight = float(sim.mj_model.body_mass.sum()) * 9.81
    support = out.contact_forces[..., 2].sum(dim=-1).mean().item()
    assert 0.5 * weight < support < 1.5 * weight, (support, weight)
