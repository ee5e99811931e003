"""MuJoCo (CPU) backend: one MjData per env, stepped by a thread pool with the GIL released.

Envs never see each other: each owns a full copy of the scene (robot + shared terrain), so
all of them can stand at the same place and there is no inter-env collision cost. ``mj_step``
releases the GIL, so ``num_threads`` workers run physics in parallel; each worker then
refreshes the kinematics of its envs (positions, com velocities, contact forces: no collision
or solver work) and copies them into shared arrays, from which one batched numpy/torch pass
derives the framework state. This is the only module that knows MuJoCo's wxyz quaternions,
its free-joint velocity frames and its com-based body velocities.
"""

from __future__ import annotations

import itertools
import os
from concurrent.futures import ThreadPoolExecutor

import mujoco
import numpy as np
import torch

from protomotions.robot import smpl
from protomotions.robot.mjcf import ASSET_PATH
from protomotions.simulator.base import ResetState, RobotState, Simulator, SimulatorConfig
from protomotions.simulator.mujoco.scene import build_model
from protomotions.utils.rotations import quat_rotate_inverse, wxyz_to_xyzw, xyzw_to_wxyz


def _quat_rotate_np(q_wxyz: np.ndarray, v: np.ndarray) -> np.ndarray:
    w, qv = q_wxyz[..., :1], q_wxyz[..., 1:]
    t = 2.0 * np.cross(qv, v)
    return v + w * t + np.cross(qv, t)


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
        self._pool = ThreadPoolExecutor(self.num_threads) if self.num_threads > 1 else None
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
        for i in range(n):
            self._refresh(i)

    # --- physics ---------------------------------------------------------------------------
    def _refresh(self, i: int) -> None:
        m, d = self.model, self.datas[i]
        # positions, com-based velocities and contact forces of the *final* state; cheap next to
        # mj_step because it skips collision detection and the constraint solver
        mujoco.mj_kinematics(m, d)
        mujoco.mj_comPos(m, d)
        mujoco.mj_comVel(m, d)
        mujoco.mj_rnePostConstraint(m, d)
        b = self._bodies
        self._qpos[i] = d.qpos
        self._qvel[i] = d.qvel
        self._xpos[i] = d.xpos[b]
        self._xquat[i] = d.xquat[b]
        self._cvel[i] = d.cvel[b]
        self._com[i] = d.subtree_com[1]
        self._cfrc_ext[i] = d.cfrc_ext[b]

    def _step_chunk(self, lo: int, hi: int, nstep: int) -> None:
        m = self.model
        for i in range(lo, hi):
            d = self.datas[i]
            d.ctrl[:] = self._ctrl[i]
            mujoco.mj_step(m, d, nstep)
            self._refresh(i)

    def _run_chunks(self, fn, *args) -> None:
        if self._pool is None:
            for lo, hi in self._chunks:
                fn(lo, hi, *args)
        else:
            for f in [self._pool.submit(fn, lo, hi, *args) for lo, hi in self._chunks]:
                f.result()

    def step(self, pd_targets: torch.Tensor) -> None:
        assert pd_targets.shape == (self.num_envs, smpl.NUM_DOFS), pd_targets.shape
        self._ctrl[:] = pd_targets.detach().to("cpu", torch.float64).numpy()
        self._run_chunks(self._step_chunk, self.config.decimation)
        self._state = None

    def reset_envs(self, env_ids: torch.Tensor, state: ResetState) -> None:
        ids = env_ids.detach().cpu().numpy().astype(int)
        if len(ids) == 0:
            return
        root_rot_wxyz = xyzw_to_wxyz(state.root_rot.detach().cpu().double()).numpy()
        root_pos = state.root_pos.detach().cpu().double().numpy()
        root_vel = state.root_vel.detach().cpu().double().numpy()
        # MuJoCo's free joint takes the angular velocity in the root's local frame
        ang_local = quat_rotate_inverse(state.root_rot.detach().cpu().double(), state.root_ang_vel.detach().cpu().double()).numpy()
        dof_pos = state.dof_pos.detach().cpu().double().numpy()
        dof_vel = state.dof_vel.detach().cpu().double().numpy()
        for k, i in enumerate(ids):  # a reset touches few envs; mj_resetData keeps solver state clean
            d = self.datas[i]
            mujoco.mj_resetData(self.model, d)
            d.qpos[0:3] = root_pos[k]
            d.qpos[3:7] = root_rot_wxyz[k]
            d.qpos[7:] = dof_pos[k]
            d.qvel[0:3] = root_vel[k]
            d.qvel[3:6] = ang_local[k]
            d.qvel[6:] = dof_vel[k]
            d.ctrl[:] = dof_pos[k]
            self._refresh(i)
        self._state = None

    # --- state -----------------------------------------------------------------------------
    def get_state(self) -> RobotState:
        if self._state is None:
            self._state = self._build_state()
        return self._state

    def _build_state(self) -> RobotState:
        xquat = self._xquat
        omega = self._cvel[..., :3]
        # cvel's linear part is the velocity of the body-fixed point at the tree's centre of mass
        body_vel = self._cvel[..., 3:] + np.cross(omega, self._xpos - self._com[:, None, :])
        root_quat = self._qpos[:, 3:7]
        root_ang_vel = _quat_rotate_np(root_quat, self._qvel[:, 3:6])
        t = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).to(self.device)
        return RobotState(
            root_pos=t(self._qpos[:, 0:3]),
            root_rot=wxyz_to_xyzw(t(root_quat)),
            root_vel=t(self._qvel[:, 0:3]),
            root_ang_vel=t(root_ang_vel),
            dof_pos=t(self._qpos[:, 7:]),
            dof_vel=t(self._qvel[:, 6:]),
            body_pos=t(self._xpos),
            body_rot=wxyz_to_xyzw(t(xquat)),
            body_vel=t(body_vel),
            body_ang_vel=t(omega),
            contact_forces=t(self._cfrc_ext[..., 3:]),
        )

    # --- rendering -------------------------------------------------------------------------
    def render(self, env_id: int = 0, width: int = 640, height: int = 480, markers=None, distance: float = 4.0):
        from protomotions.simulator.mujoco.render import render_frame

        return render_frame(self, env_id, width, height, markers=markers, distance=distance)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

