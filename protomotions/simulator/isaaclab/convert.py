"""Everything that translates between the framework and IsaacLab, as pure torch/numpy.

This is the only module that knows IsaacLab's layout: its body and joint order (whatever the
articulation reports; USD articulations list bodies breadth-first, not in our depth-first SMPL
order), its quaternion order (wxyz up to IsaacLab 2.x, xyzw from 3.0) and the names of its state
tensors. Nothing here imports IsaacLab, so all of it is tested without it.

Shapes: N envs, B = 24 bodies, D = 69 DoFs; "sim" tensors are in IsaacLab order, the others in
:mod:`protomotions.robot.smpl` order with xyzw quaternions.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from protomotions.robot import smpl
from protomotions.simulator.base import ResetState, RobotState, SimulatorConfig
from protomotions.utils.rotations import wxyz_to_xyzw, xyzw_to_wxyz

QuatOrder = Literal["wxyz", "xyzw"]

# Rates of ProtoMotions' IsaacLab backend (REFERENCE_FACTS §4, DESIGN "Rates"): 120 Hz × 4 = 30 Hz.
PHYSICS_DT = 1.0 / 120.0
DECIMATION = 4
CONTROL_HZ = 30.0
VELOCITY_LIMIT = 100.0  # rad/s, REFERENCE_FACTS §4


# --- rates -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Rates:
    physics_dt: float  # SimulationCfg.dt
    decimation: int  # physics steps per control step; also SimulationCfg.render_interval

    @property
    def control_hz(self) -> float:
        return 1.0 / (self.physics_dt * self.decimation)


def sim_rates(config: SimulatorConfig) -> Rates:
    """The IsaacLab rates of ``config``; every backend must control at 30 Hz."""
    rates = Rates(config.physics_dt, config.decimation)
    if abs(rates.control_hz - CONTROL_HZ) > 1e-6:
        raise ValueError(
            f"simulator 'isaaclab': physics_dt={config.physics_dt:.6f} s × decimation={config.decimation} gives "
            f"{rates.control_hz:.3f} Hz control, but every backend runs at {CONTROL_HZ:g} Hz; "
            f"use physics_dt={PHYSICS_DT:.10f} and decimation={DECIMATION} (protomotions/config/simulator/isaaclab.yaml)"
        )
    return rates


# --- actuators ---------------------------------------------------------------------------------
def actuator_groups() -> dict[str, dict]:
    """Keyword arguments of one ``ImplicitActuatorCfg`` per joint group of :data:`smpl.PD_GAINS`.

    ``joint_names_expr`` holds one regex that IsaacLab full-matches against joint names, e.g.
    ``(?:[LR]_)?Knee_[xyz]`` for ``L_Knee_x`` … ``R_Knee_z``. Armature is our robot's, so both
    backends integrate the same joint inertia.
    """
    groups = {}
    for group, (kp, kd) in smpl.PD_GAINS.items():
        groups[group] = {
            "joint_names_expr": [rf"(?:[LR]_)?{group}_[xyz]"],
            "stiffness": kp,
            "damping": kd,
            "effort_limit_sim": smpl.EFFORT_LIMIT,
            "velocity_limit_sim": VELOCITY_LIMIT,
            "armature": smpl.ARMATURE,
        }
    return groups


def gains_for_joints(joint_names: list[str] | tuple[str, ...]) -> dict[str, tuple[float, float, float]]:
    """(stiffness, damping, effort) that :func:`actuator_groups` gives each joint, as IsaacLab resolves it.

    Raises ValueError if a joint matches no group or several (IsaacLab would reject both).
    """
    groups = actuator_groups()
    out = {}
    for name in joint_names:
        hits = [g for g, kw in groups.items() if any(re.fullmatch(e, name) for e in kw["joint_names_expr"])]
        if len(hits) != 1:
            raise ValueError(
                f"joint '{name}' matches actuator groups {hits}; expected exactly one of {sorted(groups)}"
            )
        kw = groups[hits[0]]
        out[name] = (kw["stiffness"], kw["damping"], kw["effort_limit_sim"])
    return out


# --- order maps --------------------------------------------------------------------------------
def bfs_order(
    names: tuple[str, ...] = smpl.BODY_NAMES, parents: tuple[int, ...] = smpl.PARENT_INDICES
) -> list[str]:
    """Breadth-first body order of a tree, children in declaration order (how USD articulations list links)."""
    children: dict[int, list[int]] = {i: [] for i in range(len(names))}
    for i, p in enumerate(parents):
        if p >= 0:
            children[p].append(i)
    order, queue = [], deque(i for i, p in enumerate(parents) if p < 0)
    while queue:
        i = queue.popleft()
        order.append(names[i])
        queue.extend(children[i])
    return order


def index_map(src_names, dst_names, what: str) -> torch.Tensor:
    """``idx`` (len(dst),) with ``x_src[..., idx, ...]`` in ``dst`` order; every dst name must be in src."""
    src = list(src_names)
    missing = [n for n in dst_names if n not in src]
    if missing or len(set(src)) != len(src):
        raise ValueError(
            f"IsaacLab {what} names do not match ours: missing {missing}, IsaacLab has {src}. "
            "The MJCF→USD conversion renamed or merged them (e.g. three hinges turned into one D6 joint); "
            "see protomotions/simulator/isaaclab/README.md, 'Known risks'"
        )
    return torch.tensor([src.index(n) for n in dst_names], dtype=torch.long)


@dataclass
class Layout:
    """How IsaacLab's tensors map onto ours. ``*_to_ours`` gathers sim → ours, ``*_to_sim`` ours → sim."""

    body_to_ours: torch.Tensor  # (B,)
    body_to_sim: torch.Tensor  # (B,)
    dof_to_ours: torch.Tensor  # (D,)
    dof_to_sim: torch.Tensor  # (D,)
    contact_to_ours: torch.Tensor  # (B,) into the contact sensor's body list
    contact_to_sim: torch.Tensor  # (B,)
    quat_order: QuatOrder

    @classmethod
    def from_names(
        cls, sim_body_names, sim_joint_names, sim_contact_body_names=None, quat_order: QuatOrder = "wxyz"
    ) -> Layout:
        if quat_order not in ("wxyz", "xyzw"):
            raise ValueError(f"quat_order must be 'wxyz' or 'xyzw', got {quat_order!r}")
        contact_names = list(sim_contact_body_names if sim_contact_body_names is not None else sim_body_names)
        if len(list(sim_body_names)) != smpl.NUM_BODIES or len(list(sim_joint_names)) != smpl.NUM_DOFS:
            raise ValueError(
                f"IsaacLab articulation has {len(list(sim_body_names))} bodies and {len(list(sim_joint_names))} joints; "
                f"expected {smpl.NUM_BODIES} and {smpl.NUM_DOFS} (see README 'Known risks')"
            )
        return cls(
            body_to_ours=index_map(sim_body_names, smpl.BODY_NAMES, "body"),
            body_to_sim=index_map(smpl.BODY_NAMES, sim_body_names, "body"),
            dof_to_ours=index_map(sim_joint_names, smpl.DOF_NAMES, "joint"),
            dof_to_sim=index_map(smpl.DOF_NAMES, sim_joint_names, "joint"),
            contact_to_ours=index_map(contact_names, smpl.BODY_NAMES, "contact-sensor body"),
            contact_to_sim=index_map(smpl.BODY_NAMES, contact_names, "contact-sensor body"),
            quat_order=quat_order,
        )

    def to(self, device) -> Layout:
        t = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in self.__dict__.items()}
        return Layout(**t)


# --- quaternions -------------------------------------------------------------------------------
def quat_order_for_version(version: str) -> QuatOrder:
    """IsaacLab's quaternion order: wxyz up to 2.x, xyzw from 3.0 (its 3.0 migration guide)."""
    m = re.match(r"\s*(\d+)", version)
    if m is None:
        raise ValueError(f"cannot read the IsaacLab version {version!r}; expected e.g. '2.3.0' or '3.0.0'")
    return "xyzw" if int(m.group(1)) >= 3 else "wxyz"


def quat_to_sim(q_xyzw: torch.Tensor, order: QuatOrder) -> torch.Tensor:
    """(..., 4) xyzw → IsaacLab's order."""
    return xyzw_to_wxyz(q_xyzw) if order == "wxyz" else q_xyzw


def quat_from_sim(q: torch.Tensor, order: QuatOrder) -> torch.Tensor:
    """(..., 4) IsaacLab's order → xyzw."""
    return wxyz_to_xyzw(q) if order == "wxyz" else q


# --- state -------------------------------------------------------------------------------------
def state_from_sim(layout: Layout, sim: dict[str, torch.Tensor]) -> RobotState:
    """IsaacLab tensors → :class:`RobotState`.

    ``sim`` keys (IsaacLab's data names, all world frame, link origins):
    root_link_pose_w (N, 7) pos + quat, root_link_vel_w (N, 6) lin + ang, joint_pos / joint_vel (N, D),
    body_link_pos_w (N, B, 3), body_link_quat_w (N, B, 4), body_link_lin_vel_w / body_link_ang_vel_w (N, B, 3),
    net_forces_w (N, B_contact, 3).
    """
    L, q = layout, layout.quat_order
    pose, vel = sim["root_link_pose_w"], sim["root_link_vel_w"]
    return RobotState(
        root_pos=pose[:, 0:3],
        root_rot=quat_from_sim(pose[:, 3:7], q),
        root_vel=vel[:, 0:3],
        root_ang_vel=vel[:, 3:6],
        dof_pos=sim["joint_pos"][:, L.dof_to_ours],
        dof_vel=sim["joint_vel"][:, L.dof_to_ours],
        body_pos=sim["body_link_pos_w"][:, L.body_to_ours],
        body_rot=quat_from_sim(sim["body_link_quat_w"][:, L.body_to_ours], q),
        body_vel=sim["body_link_lin_vel_w"][:, L.body_to_ours],
        body_ang_vel=sim["body_link_ang_vel_w"][:, L.body_to_ours],
        contact_forces=sim["net_forces_w"][:, L.contact_to_ours],
    )


def state_to_sim(layout: Layout, state: RobotState) -> dict[str, torch.Tensor]:
    """Inverse of :func:`state_from_sim` (used to check the round trip)."""
    L, q = layout, layout.quat_order
    return {
        "root_link_pose_w": torch.cat([state.root_pos, quat_to_sim(state.root_rot, q)], dim=-1),
        "root_link_vel_w": torch.cat([state.root_vel, state.root_ang_vel], dim=-1),
        "joint_pos": state.dof_pos[:, L.dof_to_sim],
        "joint_vel": state.dof_vel[:, L.dof_to_sim],
        "body_link_pos_w": state.body_pos[:, L.body_to_sim],
        "body_link_quat_w": quat_to_sim(state.body_rot, q)[:, L.body_to_sim],
        "body_link_lin_vel_w": state.body_vel[:, L.body_to_sim],
        "body_link_ang_vel_w": state.body_ang_vel[:, L.body_to_sim],
        "net_forces_w": state.contact_forces[:, L.contact_to_sim],
    }


def reset_to_sim(
    layout: Layout, state: ResetState
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """:class:`ResetState` (M rows) → (root pose (M, 7), root velocity (M, 6), joint_pos (M, D), joint_vel (M, D)).

    Both our root velocities and IsaacLab's ``write_root_link_velocity_to_sim`` are world-frame
    velocities of the pelvis origin, so only the quaternion and the DoF order change.
    """
    pose = torch.cat([state.root_pos, quat_to_sim(state.root_rot, layout.quat_order)], dim=-1)
    vel = torch.cat([state.root_vel, state.root_ang_vel], dim=-1)
    return pose, vel, state.dof_pos[:, layout.dof_to_sim], state.dof_vel[:, layout.dof_to_sim]


def targets_to_sim(layout: Layout, pd_targets: torch.Tensor) -> torch.Tensor:
    """PD targets (N, D) in our order → IsaacLab's joint order."""
    return pd_targets[:, layout.dof_to_sim]


# --- terrain -----------------------------------------------------------------------------------
def heightfield_to_mesh(heights: np.ndarray, horizontal_scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Triangulate a height grid: vertices (nx·ny, 3) float32, faces (2·(nx−1)·(ny−1), 3) int32.

    Vertex ``i·ny + j`` is sample ``heights[i, j]`` at world ``(i·s, j·s)``, the layout of
    :class:`protomotions.terrain.Terrain`. Each cell is split along its (i, j)–(i+1, j+1) diagonal and
    both triangles wind counter-clockwise seen from above, so their normals point up (+z) and the
    physics engine treats the upper side as the outside.
    """
    h = np.asarray(heights, dtype=np.float32)
    if h.ndim != 2 or min(h.shape) < 2:
        raise ValueError(f"heightfield must be a (nx, ny) grid with nx, ny >= 2, got shape {h.shape}")
    nx, ny = h.shape
    ii, jj = np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")
    vertices = (
        np.stack([ii * horizontal_scale, jj * horizontal_scale, h], axis=-1).reshape(-1, 3).astype(np.float32)
    )
    v00 = (ii[:-1, :-1] * ny + jj[:-1, :-1]).ravel()
    v10, v01, v11 = v00 + ny, v00 + 1, v00 + ny + 1
    # (x, y) of v00, v10, v11 go counter-clockwise; so do v00, v11, v01
    faces = np.concatenate([np.stack([v00, v10, v11], -1), np.stack([v00, v11, v01], -1)]).astype(np.int32)
    return vertices, faces
