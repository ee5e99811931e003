"""MuJoCo Warp backend: all envs are worlds of one batched model, stepped by a CUDA graph.

The MjModel is the CPU backend's (:func:`protomotions.simulator.mujoco.scene.build_model`:
our MJCF plus a plane or heightfield), copied to the device with ``nworld = num_envs``. One
control step (``decimation`` × ``mujoco_warp.step``, then the same state refresh as the CPU
backend) is captured once as a graph and replayed on torch's current stream, so torch and warp
work stay ordered without host synchronisation. Torch sees the warp arrays through zero-copy
views; every write goes in place (``copy_``/``index_copy_``) because the graph holds raw
pointers to those buffers. This is the only module that knows MuJoCo's wxyz quaternions, its
free-joint velocity frames and its com-based body velocities on the GPU.

Capacity (``nconmax``/``njmax``): contacts live in one pool of ``nconmax × num_envs`` shared by
all worlds; constraint rows are capped per world at ``njmax``. MuJoCo on the CPU, 16 humanoids
× 1,200 physics steps of random PD targets (they fall and thrash), found at most 19 contacts /
76 rows per world on the plane (99th percentile 9 contacts) and 37 / 148 on a rough heightfield
(99th percentile 21). Each condim-3 contact of the pyramidal cone takes 4 rows, hence the
defaults below, ≈ 2.5× the worst case seen. On the H100 the steering env on complex terrain
(4,096 worlds, falls on stairs) still overflowed 384 rows per world, so heightfields get 640 rows.
:meth:`MjwarpSimulator.capacity_report` tells when
a run overflows them (contacts or rows past the limits are dropped, and the physics degrades).
"""

from __future__ import annotations

import os
import time

import mujoco
import torch

from protomotions.robot import smpl
from protomotions.robot.mjcf import ASSET_PATH
from protomotions.simulator.base import ResetState, RobotState, Simulator, SimulatorConfig
from protomotions.simulator.mjwarp.backend import import_backend
from protomotions.simulator.mujoco.scene import build_model
from protomotions.utils.rotations import quat_rotate_inverse, wxyz_to_xyzw, xyzw_to_wxyz

wp, mjw = import_backend()

# per-world capacities (see the module docstring for how they were sized)
NCONMAX_PLANE, NJMAX_PLANE = 48, 192
NCONMAX_HFIELD, NJMAX_HFIELD = 96, 640

# overflow flags that mean a capacity was too small (contacts or rows were dropped)
CAPACITY_OVERFLOWS = (
    mjw.OverflowType.NEFC
    | mjw.OverflowType.NJMAX_NNZ
    | mjw.OverflowType.BROADPHASE
    | mjw.OverflowType.NARROWPHASE
    | mjw.OverflowType.CCD
    | mjw.OverflowType.HFIELD
)
ITERATION_LIMITS = mjw.OverflowType.ITERATIONS | mjw.OverflowType.LS_ITERATIONS

# free root joint layout in qpos (7) and qvel (6); hinge DoFs follow in SMPL order
ROOT_POS_Q, ROOT_QUAT_Q, DOF_Q = slice(0, 3), slice(3, 7), slice(7, None)
ROOT_LIN_V, ROOT_ANG_V, DOF_V = slice(0, 3), slice(3, 6), slice(6, None)
# MuJoCo spatial vectors (cvel, cfrc_ext) are [rotational(3), translational(3)]
SPATIAL_ROT, SPATIAL_LIN = slice(0, 3), slice(3, 6)


def _resolve_device(name: str) -> tuple[torch.device, str]:
    """torch device and the matching warp device name for ``SimulatorConfig.device``."""
    dev = torch.device(name)
    if dev.type == "cpu":
        return dev, "cpu"  # warp's CPU kernels: slow, for tests on machines without a GPU
    if dev.type != "cuda":
        raise ValueError(
            f"simulator 'mjwarp': device '{name}' is not supported; use 'cuda', 'cuda:N' or 'cpu'"
        )
    if not (torch.cuda.is_available() and wp.is_cuda_available()):
        raise RuntimeError(
            f"simulator 'mjwarp': device '{name}' asked for, but torch or warp sees no CUDA device; "
            "use +simulator=mujoco on machines without an NVIDIA GPU"
        )
    index = dev.index if dev.index is not None else torch.cuda.current_device()
    return torch.device("cuda", index), f"cuda:{index}"


class MjwarpSimulator(Simulator):
    """Batched humanoids on MuJoCo Warp.

    Extra arguments beyond the interface: ``nconmax``/``njmax`` override the per-world
    capacities, ``use_graph=False`` runs the same calls eagerly (debugging, and the test that
    the graph replays what the eager path computes).
    """

    def __init__(
        self,
        config: SimulatorConfig,
        terrain=None,
        mjcf_path: str | os.PathLike = ASSET_PATH,
        nconmax: int | None = None,
        njmax: int | None = None,
        use_graph: bool = True,
    ) -> None:
        super().__init__(config, terrain)
        wp.init()
        self.device, self._wp_device = _resolve_device(config.device)
        self.mj_model = m = build_model(mjcf_path, terrain, physics_dt=config.physics_dt)
        if m.nu != smpl.NUM_DOFS or m.nq != 7 + smpl.NUM_DOFS:
            raise ValueError(
                f"{mjcf_path}: expected a free root and {smpl.NUM_DOFS} hinge actuators, got nq={m.nq} nu={m.nu}"
            )
        body_ids = [mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, n) for n in smpl.BODY_NAMES]
        if body_ids != list(range(body_ids[0], body_ids[0] + len(body_ids))):
            raise ValueError(f"{mjcf_path}: bodies are not in SMPL order ({body_ids})")
        self._bodies = slice(body_ids[0], body_ids[0] + len(body_ids))  # a slice keeps reads as views
        self._root_body = body_ids[0]

        hfield = m.nhfield > 0
        nconmax = nconmax or config.nconmax
        njmax = njmax or config.njmax
        self.nconmax = nconmax or (NCONMAX_HFIELD if hfield else NCONMAX_PLANE)
        self.njmax = njmax or (NJMAX_HFIELD if hfield else NJMAX_PLANE)
        with wp.ScopedDevice(self._wp_device):
            self.model = mjw.put_model(m)
            # solver iteration limits are routine (MuJoCo on the CPU only counts them): keep the
            # flags for capacity_report but not one printf per world and substep
            self.model.opt.warn_overflow = int(mjw.OverflowType.ALL & ~ITERATION_LIMITS)
            self.data = mjw.put_data(
                m, mujoco.MjData(m), nworld=self.num_envs, nconmax=self.nconmax, njmax=self.njmax
            )
            wp.synchronize_device()
        self._bind_views()

        self.use_graph = use_graph
        self.warmup_s = 0.0
        self._wp_streams: dict[int, object] = {}
        self._step_graph = self._refresh_graph = None
        if use_graph:
            t0 = time.perf_counter()
            self._warm_up(m)
            self.warmup_s = time.perf_counter() - t0  # warp's kernel compilation on a cold cache
            self._step_graph = self._capture(self._control_step)
            self._refresh_graph = self._capture(self._refresh)
        self._state: RobotState | None = None
        self._run(self._refresh, self._refresh_graph)  # bodies of the initial pose (qpos0)

    # --- warp buffers seen from torch --------------------------------------------------------
    def _bind_views(self) -> None:
        """Zero-copy torch views of the warp arrays; bound once, only ever written in place."""
        d, t = self.data, wp.to_torch
        self._qpos = t(d.qpos)  # (N, 76) root pos, root quat wxyz, 69 hinges
        self._qvel = t(d.qvel)  # (N, 75) root lin vel (world), root ang vel (root frame), 69 hinges
        self._ctrl = t(d.ctrl)  # (N, 69) position-actuator targets, DoF order
        self._qacc_warmstart = t(d.qacc_warmstart)  # (N, 75) solver warm start
        self._xpos = t(d.xpos)  # (N, nbody, 3) body origins, world
        self._xquat = t(d.xquat)  # (N, nbody, 4) wxyz
        self._cvel = t(d.cvel)  # (N, nbody, 6) [ang, lin] at the tree's subtree com, world
        self._subtree_com = t(d.subtree_com)  # (N, nbody, 3)
        self._cfrc_ext = t(d.cfrc_ext)  # (N, nbody, 6) [torque, force] external (contact) wrench, world

    # --- the captured work ------------------------------------------------------------------
    def _refresh(self, d=None) -> None:
        # positions, com-based velocities of the *final* state, as the CPU backend's _refresh;
        # no collision or solver work
        d = self.data if d is None else d
        mjw.kinematics(self.model, d)
        mjw.com_pos(self.model, d)
        mjw.com_vel(self.model, d)

    def _control_step(self, d=None) -> None:
        d = self.data if d is None else d
        for _ in range(self.config.decimation):
            mjw.step(self.model, d)
        self._refresh(d)
        # contact wrenches of the last substep's constraint forces (cfrc_ext), like mj_rnePostConstraint
        mjw.rne_postconstraint(self.model, d)

    def _warm_up(self, m: mujoco.MjModel) -> None:
        """Run the captured work once, eagerly, on a scratch one-world Data of the same sizes.

        Kernels compile and load here rather than inside the capture, and the real worlds'
        state is left as it was (a capture records but does not run).
        """
        with wp.ScopedDevice(self._wp_device):
            mjd = mujoco.MjData(m)
            mjd.qpos[2] = smpl.default_root_height()  # standing on the ground, a few contacts
            scratch = mjw.put_data(m, mjd, nworld=1, nconmax=self.nconmax, njmax=self.njmax)
            self._control_step(scratch)
            wp.synchronize_device()

    def _capture(self, fn):
        with wp.ScopedDevice(self._wp_device):
            wp.synchronize_device()  # nothing may be in flight when the capture starts
            with wp.ScopedCapture() as capture:
                fn()
        return capture.graph

    def _stream(self):
        """torch's current stream as a warp stream (None on CPU): graphs replay in torch's order."""
        if self.device.type != "cuda":
            return None
        ts = torch.cuda.current_stream(self.device)
        ws = self._wp_streams.get(ts.cuda_stream)
        if ws is None:
            ws = self._wp_streams[ts.cuda_stream] = wp.stream_from_torch(ts)
        return ws

    def _run(self, fn, graph) -> None:
        stream = self._stream()
        if graph is not None:
            wp.capture_launch(graph, stream=stream)
            return
        with wp.ScopedDevice(self._wp_device):
            if stream is None:
                fn()
            else:
                with wp.ScopedStream(stream):
                    fn()

    # --- interface ----------------------------------------------------------------------------
    def step(self, pd_targets: torch.Tensor) -> None:
        if pd_targets.shape != (self.num_envs, smpl.NUM_DOFS):
            raise ValueError(
                f"step: pd_targets has shape {tuple(pd_targets.shape)}, expected ({self.num_envs}, {smpl.NUM_DOFS})"
            )
        self._ctrl.copy_(pd_targets.detach())  # in place: the graph reads this buffer
        self._run(self._control_step, self._step_graph)
        self._state = None

    def reset_envs(self, env_ids: torch.Tensor, state: ResetState) -> None:
        if env_ids.numel() == 0:
            return
        ids = env_ids.to(self.device, torch.long)
        s = {k: v.detach().to(self.device, torch.float32) for k, v in vars(state).items()}
        rot = s["root_rot"]  # xyzw
        qpos = torch.cat([s["root_pos"], xyzw_to_wxyz(rot), s["dof_pos"]], dim=-1)
        # MuJoCo's free joint takes the angular velocity in the root's local frame
        qvel = torch.cat([s["root_vel"], quat_rotate_inverse(rot, s["root_ang_vel"]), s["dof_vel"]], dim=-1)
        self._qpos.index_copy_(0, ids, qpos)
        self._qvel.index_copy_(0, ids, qvel)
        self._ctrl.index_copy_(0, ids, s["dof_pos"])
        self._qacc_warmstart.index_fill_(0, ids, 0.0)  # as mj_resetData: no stale solver warm start
        # kinematics of every world: deterministic per world, so the others come out bit-identical
        self._run(self._refresh, self._refresh_graph)
        self._cfrc_ext.index_fill_(0, ids, 0.0)  # a reset world has no contacts until it steps
        self._state = None

    def get_state(self) -> RobotState:
        if self._state is None:
            self._state = self._build_state()
        return self._state

    def _build_state(self) -> RobotState:
        b = self._bodies
        xpos = self._xpos[:, b]  # (N, 24, 3)
        cvel = self._cvel[:, b]  # (N, 24, 6)
        ang_w = cvel[..., SPATIAL_ROT].clone()
        com_w = self._subtree_com[:, self._root_body]  # (N, 3) the tree's com, cvel's reference point
        # cvel's linear part is the velocity of the body-fixed point at the tree's com
        lin_w = cvel[..., SPATIAL_LIN] + torch.cross(ang_w, xpos - com_w[:, None, :], dim=-1)
        qpos, qvel = self._qpos, self._qvel
        return RobotState(
            root_pos=qpos[:, ROOT_POS_Q].clone(),
            root_rot=wxyz_to_xyzw(qpos[:, ROOT_QUAT_Q]),
            root_vel=qvel[:, ROOT_LIN_V].clone(),
            root_ang_vel=ang_w[:, 0].clone(),  # the pelvis' cvel rotation = R_root · qvel[3:6]
            dof_pos=qpos[:, DOF_Q].clone(),
            dof_vel=qvel[:, DOF_V].clone(),
            body_pos=xpos.clone(),
            body_rot=wxyz_to_xyzw(self._xquat[:, b]),
            body_vel=lin_w,
            body_ang_vel=ang_w,
            contact_forces=self._cfrc_ext[:, b, SPATIAL_LIN].clone(),
        )

    # --- diagnostics (host reads: keep off the hot path) ---------------------------------------
    def capacity_report(self) -> dict:
        """Contacts and rows in use now vs capacity; worlds whose overflow flags were ever raised.

        ``worlds_over_capacity`` counts worlds that lost contacts or constraint rows (raise
        ``nconmax``/``njmax``); ``worlds_flagged`` counts every flag by name, including the
        routine solver iteration limits. Flags stick until the simulator is rebuilt.
        """
        d = self.data
        overflow = d.overflow.numpy()
        flagged = {}
        for bit in range(overflow.dtype.itemsize * 8):
            hit = int(((overflow >> bit) & 1).sum())
            if hit:
                flagged[mjw.OverflowType(1 << bit).name or str(1 << bit)] = hit
        return {
            "contacts": int(d.nacon.numpy()[0]),
            "contact_capacity": int(d.naconmax),
            "max_rows_per_world": int(d.nefc.numpy().max()),
            "row_capacity_per_world": int(self.njmax),
            "worlds_over_capacity": int(((overflow & int(CAPACITY_OVERFLOWS)) != 0).sum()),
            "worlds_flagged": flagged,
        }

    # --- rendering ------------------------------------------------------------------------------
    def render(
        self, env_id: int = 0, width: int = 640, height: int = 480, markers=None, distance: float = 4.0
    ):
        """One frame of env ``env_id`` on the CPU renderer (copies that world's qpos to the host)."""
        from protomotions.simulator.mjwarp.render import render_world

        return render_world(self, env_id, width, height, markers=markers, distance=distance)

    def close(self) -> None:
        self._step_graph = self._refresh_graph = None
        self._wp_streams.clear()
