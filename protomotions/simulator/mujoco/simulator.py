"""MuJoCo (CPU) backend: one MjData per env, stepped by a thread pool with the GIL released.

Envs never see each other: each owns a full copy of the scene (robot + shared terrain), so
all of them can stand at the same place and there is no inter-env collision cost. ``mj_step``
releases the GIL, so ``num_threads`` threads (the caller and ``num_threads - 1`` pool workers)
run physics in parallel; each then refreshes the kinematics of its envs (positions, com
velocities, contact forces: no collision or solver work), copies them into shared arrays and
derives its envs' rows of the framework state from them in one batched numpy pass. This is
the only module that knows MuJoCo's wxyz quaternions, its free-joint velocity frames and its
com-based body velocities.
"""

from __future__ import annotations

import itertools
import os
from concurrent.futures import ThreadPoolExecutor, wait

import mujoco
import numpy as np
import torch

from protomotions.robot import smpl
from protomotions.robot.mjcf import ASSET_PATH
from protomotions.simulator.base import ResetState, RobotState, Simulator, SimulatorConfig
from protomotions.simulator.mujoco.scene import build_model
from protomotions.utils.rotations import quat_rotate_inverse

_XYZW = np.array([1, 2, 3, 0])  # a wxyz quaternion's components in xyzw order
_ROOT_XYZW = 3 + _XYZW  # the same within qpos (free joint: xyz, then the wxyz quaternion)


def _cross_np(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """np.cross of (..., 3) arrays, same products in the same order, without its axis bookkeeping."""
    a0, a1, a2 = a[..., 0], a[..., 1], a[..., 2]
    b0, b1, b2 = b[..., 0], b[..., 1], b[..., 2]
    return np.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=-1)


def _quat_rotate_np(q_wxyz: np.ndarray, v: np.ndarray) -> np.ndarray:
    w, qv = q_wxyz[..., :1], q_wxyz[..., 1:]
    t = 2.0 * _cross_np(qv, v)
    return v + w * t + _cross_np(qv, t)


def _kinematics(m: mujoco.MjModel, d: mujoco.MjData) -> None:
    # positions, com-based velocities and contact forces of the *final* state; cheap next to
    # mj_step because it skips collision detection and the constraint solver
    mujoco.mj_kinematics(m, d)
    mujoco.mj_comPos(m, d)
    mujoco.mj_comVel(m, d)
    mujoco.mj_rnePostConstraint(m, d)


class MujocoSimulator(Simulator):
    def __init__(self, config: SimulatorConfig, terrain=None, mjcf_path: str | os.PathLike = ASSET_PATH) -> None:
        super().__init__(config, terrain)
        self.model = build_model(mjcf_path, terrain, physics_dt=config.physics_dt)
        m = self.model
        if m.nu != smpl.NUM_DOFS or m.nq != 7 + smpl.NUM_DOFS:
            raise ValueError(f"{mjcf_path}: expected a free root and {smpl.NUM_DOFS} hinge actuators, got nq={m.nq} nu={m.nu}")
        body_ids = [mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, n) for n in smpl.BODY_NAMES]
        if body_ids != list(range(1, smpl.NUM_BODIES + 1)):
            raise ValueError(f"{mjcf_path}: bodies must follow the world body in SMPL order {smpl.BODY_NAMES}")
        self._bodies = slice(1, smpl.NUM_BODIES + 1)  # a slice, not fancy indexing: copies stay cheap
        n = config.num_envs
        self.datas = [mujoco.MjData(m) for _ in range(n)]
        self.num_threads = config.num_threads or min(os.cpu_count() or 1, n)
        # the calling thread steps the first chunk itself: one worker fewer to wake and wait for
        self._pool = ThreadPoolExecutor(self.num_threads - 1) if self.num_threads > 1 else None
        bounds = np.linspace(0, n, self.num_threads + 1).astype(int)
        self._chunks = [(int(a), int(b)) for a, b in itertools.pairwise(bounds) if b > a]

        nb = smpl.NUM_BODIES
        self._ctrl = np.zeros((n, m.nu))
        self._qpos = np.zeros((n, m.nq))
        self._qvel = np.zeros((n, m.nv))
        self._xpos = np.zeros((n, nb, 3))
        self._xquat = np.zeros((n, nb, 4))
        self._cvel = np.zeros((n, nb, 6))
        self._com = np.zeros((n, 3))
        self._cfrc_ext = np.zeros((n, nb, 6))
        self._state: RobotState | None = None
        self._state_buf: np.ndarray | None = None  # the float32 buffer self._state's tensors view
        self._stale_rows: np.ndarray | None = None  # envs reset since; None: every row (when _state is None)
        # RobotState field -> (start, end) in per-env float32 units of the state buffer, and shape
        self._state_layout: dict[str, tuple[int, int, tuple[int, ...]]] = {}
        width = 0
        for name, shape in [
            ("root_pos", (3,)), ("root_rot", (4,)), ("root_vel", (3,)), ("root_ang_vel", (3,)),
            ("dof_pos", (smpl.NUM_DOFS,)), ("dof_vel", (smpl.NUM_DOFS,)), ("body_pos", (nb, 3)),
            ("body_rot", (nb, 4)), ("body_vel", (nb, 3)), ("body_ang_vel", (nb, 3)), ("contact_forces", (nb, 3)),
        ]:
            size = int(np.prod(shape))
            self._state_layout[name] = (width, width + size, shape)
            width += size
        self._state_width = width
        # what the state is derived from: per shared array, its source view in each env's MjData
        # (MjData never moves its arrays)
        b = self._bodies
        self._gathered = (self._qpos, self._qvel, self._xpos, self._xquat, self._cvel, self._com, self._cfrc_ext)
        self._sources = tuple(zip(*[(d.qpos, d.qvel, d.xpos[b], d.xquat[b], d.cvel[b], d.subtree_com[1], d.cfrc_ext[b])
                                    for d in self.datas]))
        for d in self.datas:
            _kinematics(m, d)
        self._gather(0, n)

    # --- physics ---------------------------------------------------------------------------
    def _gather(self, lo: int, hi: int) -> None:
        """Copy envs lo..hi-1's state sources into the shared arrays (after _kinematics)."""
        for out, views in zip(self._gathered, self._sources):
            np.stack(views[lo:hi], out=out[lo:hi])  # one call per array, not one copy per env and array

    def _gather_rows(self, ids: np.ndarray) -> None:
        """_gather for scattered envs ``ids`` (a reset's)."""
        for out, views in zip(self._gathered, self._sources):
            out[ids] = np.stack([views[i] for i in ids])

    def _step_chunk(self, lo: int, hi: int, nstep: int, state_buf: np.ndarray) -> None:
        m = self.model
        for i in range(lo, hi):
            d = self.datas[i]
            d.ctrl[:] = self._ctrl[i]
            mujoco.mj_step(m, d, nstep)
            _kinematics(m, d)
        self._gather(lo, hi)
        # this chunk's rows of the state, while other workers may still be stepping theirs
        self._fill_state(state_buf, slice(lo, hi))

    def _run_chunks(self, fn, *args) -> None:
        """``fn(lo, hi, *args)`` for every chunk: the pool's workers take the others, this thread the first."""
        if self._pool is None:
            for lo, hi in self._chunks:
                fn(lo, hi, *args)
            return
        futures = [self._pool.submit(fn, lo, hi, *args) for lo, hi in self._chunks[1:]]
        try:
            fn(*self._chunks[0], *args)
        finally:
            wait(futures)
        for f in futures:
            f.result()  # re-raises a worker's exception

    def step(self, pd_targets: torch.Tensor) -> None:
        assert pd_targets.shape == (self.num_envs, smpl.NUM_DOFS), pd_targets.shape
        self._ctrl[:] = pd_targets.detach().to("cpu", torch.float64).numpy()
        buf = self._new_state_buffer()
        self._run_chunks(self._step_chunk, self.config.decimation, buf)
        self._set_state(buf)

    def reset_envs(self, env_ids: torch.Tensor, state: ResetState) -> None:
        ids = env_ids.detach().cpu().numpy().astype(int)
        if len(ids) == 0:
            return
        # one host copy of the whole reset state, then full qpos/qvel rows: few calls per env
        packed = torch.cat([state.root_pos, state.root_rot, state.root_vel, state.dof_pos, state.dof_vel], dim=-1)
        packed = packed.detach().to("cpu", torch.float64)
        root_rot = packed[:, 3:7]
        # MuJoCo's free joint takes the angular velocity in the root's local frame
        ang_local = quat_rotate_inverse(root_rot, state.root_ang_vel.detach().to("cpu", torch.float64)).numpy()
        packed = packed.numpy()
        nd = smpl.NUM_DOFS
        qpos = np.empty((len(ids), self.model.nq))
        qpos[:, 0:3] = packed[:, 0:3]
        qpos[:, 3] = packed[:, 6]  # xyzw → wxyz
        qpos[:, 4:7] = packed[:, 3:6]
        qpos[:, 7:] = packed[:, 10:10 + nd]
        qvel = np.empty((len(ids), self.model.nv))
        qvel[:, 0:3] = packed[:, 7:10]
        qvel[:, 3:6] = ang_local
        qvel[:, 6:] = packed[:, 10 + nd:]
        for k, i in enumerate(ids):  # a reset touches few envs; mj_resetData keeps solver state clean
            d = self.datas[i]
            mujoco.mj_resetData(self.model, d)
            d.qpos[:] = qpos[k]
            d.qvel[:] = qvel[k]
            d.ctrl[:] = qpos[k, 7:]
            _kinematics(self.model, d)
        self._gather_rows(ids)
        # get_state rebuilds only the reset envs' rows: most resets touch a few envs
        if self._state is not None:
            self._stale_rows = ids
        elif self._stale_rows is not None:
            self._stale_rows = np.union1d(self._stale_rows, ids)
        self._state = None

    # --- state -----------------------------------------------------------------------------
    def get_state(self) -> RobotState:
        if self._state is None:
            buf = self._new_state_buffer()
            if self._stale_rows is None or self._state_buf is None:
                self._fill_state(buf, slice(None))
            else:  # the previous state with the reset envs' rows replaced
                buf[:] = self._state_buf
                self._fill_state(buf, self._stale_rows)
            self._set_state(buf)
        return self._state

    def _set_state(self, buf: np.ndarray) -> None:
        self._state_buf, self._stale_rows = buf, None
        # one host-to-device copy of the whole buffer (none on the CPU), then views of it
        flat, n = torch.from_numpy(buf).to(self.device), self.num_envs
        self._state = RobotState(**{name: flat[lo * n:hi * n].view(n, *shape)
                                    for name, (lo, hi, shape) in self._state_layout.items()})

    def _new_state_buffer(self) -> np.ndarray:
        # fresh every time, because callers may keep the previous state's tensors
        return np.empty(self.num_envs * self._state_width, np.float32)

    def _state_views(self, buf: np.ndarray) -> dict[str, np.ndarray]:
        """Each RobotState field's (num_envs, ...) block of the float32 ``buf``."""
        n = self.num_envs
        return {name: buf[lo * n:hi * n].reshape(n, *shape) for name, (lo, hi, shape) in self._state_layout.items()}

    def _fill_state(self, buf: np.ndarray, rows: slice | np.ndarray) -> None:
        """Cast rows ``rows`` (a slice, or env indices) of every RobotState field into ``buf``."""
        f = self._state_views(buf)
        qpos, qvel, xpos, cvel = self._qpos[rows], self._qvel[rows], self._xpos[rows], self._cvel[rows]
        f["root_pos"][rows] = qpos[:, 0:3]
        f["root_rot"][rows] = qpos[:, _ROOT_XYZW]  # wxyz → xyzw
        f["root_vel"][rows] = qvel[:, 0:3]
        f["root_ang_vel"][rows] = _quat_rotate_np(qpos[:, 3:7], qvel[:, 3:6])
        f["dof_pos"][rows] = qpos[:, 7:]
        f["dof_vel"][rows] = qvel[:, 6:]
        f["body_pos"][rows] = xpos
        f["body_rot"][rows] = self._xquat[rows][..., _XYZW]
        # cvel's linear part is the velocity of the body-fixed point at the tree's centre of mass
        f["body_vel"][rows] = cvel[..., 3:] + _cross_np(cvel[..., :3], xpos - self._com[rows, None, :])
        f["body_ang_vel"][rows] = cvel[..., :3]
        f["contact_forces"][rows] = self._cfrc_ext[rows, :, 3:]

    # --- rendering -------------------------------------------------------------------------
    def render(self, env_id: int = 0, width: int = 640, height: int = 480, markers=None, distance: float = 4.0):
        from protomotions.simulator.mujoco.render import render_frame

        return render_frame(self, env_id, width, height, markers=markers, distance=distance)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

