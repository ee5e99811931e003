"""Batched forward kinematics of the SMPL-topology humanoid, and hinge-angle ↔ rotation helpers.

Shapes (N = any number of leading batch dims, usually num_envs or frames):
    root_pos (N, 3) m, world Z-up;  root_rot (N, 4) xyzw, world ← pelvis
    dof_pos (N, 69) rad, body-major then x, y, z hinges (``smpl.DOF_NAMES``)
    local_rot (N, 23, 4) xyzw, parent ← child, one per non-root body (``BODY_NAMES[1:]``)
    body_pos (N, 24, 3) m world;  body_rot (N, 24, 4) xyzw world ← body

A joint is three hinges about the child's local x, then y, then z, so its local rotation is
Rx(a)·Ry(b)·Rz(c) (:func:`protomotions.utils.rotations.euler_xyz_to_quat`). This reproduces MuJoCo's
``mj_kinematics`` for ``smpl_humanoid.xml`` (tests/test_kinematics.py checks to 1e-5 m).
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch

from protomotions.robot import smpl
from protomotions.utils import rotations as rot


@lru_cache(maxsize=4)
def _offsets_cpu(stature_m: float) -> torch.Tensor:
    # the generated MJCF writes offsets with 4 decimals (mjcf._fmt); round the same way so our FK
    # equals the simulated model to float precision instead of to 1e-4 m
    offsets = [[round(v, 4) for v in s.offset] for s in smpl.build_segments(stature_m)]
    return torch.tensor(offsets, dtype=torch.float64)


def body_offsets(dtype=torch.float32, device=None, stature_m: float = smpl.STATURE_M) -> torch.Tensor:
    """(24, 3) rest offset of each body from its parent, in the parent frame (root row is 0)."""
    return _offsets_cpu(stature_m).to(device=device, dtype=dtype)


def dof_to_local_rot(dof_pos: torch.Tensor) -> torch.Tensor:
    """(..., 69) hinge angles → (..., 23, 4) local rotations."""
    angles = dof_pos.reshape(*dof_pos.shape[:-1], smpl.NUM_JOINTS, 3)
    return rot.euler_xyz_to_quat(angles)


def local_rot_to_dof(local_rot: torch.Tensor) -> torch.Tensor:
    """(..., 23, 4) local rotations → (..., 69) hinge angles in (-π, π].

    Every rotation has two x→y→z solutions, (a, b, c) and (a+π, π−b, c+π). ``quat_to_euler_xyz``
    always returns |b| ≤ π/2, which turns a 110° knee bend into (180°, 70°, 180°); we keep the
    solution with the smaller angles so large flexions stay a single hinge (what a PD wants).
    """
    e1 = rot.quat_to_euler_xyz(local_rot)
    b2 = torch.where(e1[..., 1] >= 0, math.pi - e1[..., 1], -math.pi - e1[..., 1])
    e2 = torch.stack([rot.wrap_to_pi(e1[..., 0] + math.pi), b2, rot.wrap_to_pi(e1[..., 2] + math.pi)], -1)
    use2 = (e2.square().sum(-1) < e1.square().sum(-1) - 1e-9).unsqueeze(-1)
    angles = torch.where(use2, e2, e1)
    return angles.reshape(*angles.shape[:-2], smpl.NUM_DOFS)


def forward_kinematics_local(
    root_pos: torch.Tensor, root_rot: torch.Tensor, local_rot: torch.Tensor, offsets: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(N,3), (N,4), (N,23,4) → body_pos (N,24,3), body_rot (N,24,4). Loops over bodies, not envs."""
    if offsets is None:
        offsets = body_offsets(root_pos.dtype, root_pos.device)
    pos = [root_pos]
    quats = [root_rot]
    for b in range(1, smpl.NUM_BODIES):
        p = smpl.PARENT_INDICES[b]
        pos.append(pos[p] + rot.quat_rotate(quats[p], offsets[b].expand_as(root_pos)))
        quats.append(rot.quat_mul(quats[p], local_rot[..., b - 1, :]))
    return torch.stack(pos, dim=-2), torch.stack(quats, dim=-2)


def forward_kinematics(
    root_pos: torch.Tensor, root_rot: torch.Tensor, dof_pos: torch.Tensor, offsets: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(N,3), (N,4) xyzw, (N,69) → body_pos (N,24,3), body_rot (N,24,4) xyzw."""
    return forward_kinematics_local(root_pos, root_rot, dof_to_local_rot(dof_pos), offsets)


def global_to_local_rot(body_rot: torch.Tensor) -> torch.Tensor:
    """(..., 24, 4) global rotations → (..., 23, 4) local (parent⁻¹ · child) rotations."""
    parents = torch.tensor(smpl.PARENT_INDICES[1:], device=body_rot.device)
    return rot.quat_normalize(rot.quat_mul(rot.quat_conjugate(body_rot[..., parents, :]), body_rot[..., 1:, :]))


def body_angular_velocity(body_rot: torch.Tensor, fps: float) -> torch.Tensor:
    """(T, ..., 4) global rotations → (T, ..., 3) world angular velocity (rad/s), central differences."""
    if body_rot.shape[0] < 2:
        return torch.zeros(*body_rot.shape[:-1], 3, dtype=body_rot.dtype, device=body_rot.device)
    # ω from q(t+1)·q(t)⁻¹ over one frame, then averaged onto frames like np.gradient
    d = rot.quat_to_exp_map(rot.quat_mul(body_rot[1:], rot.quat_conjugate(body_rot[:-1]))) * fps
    out = torch.empty(*body_rot.shape[:-1], 3, dtype=body_rot.dtype, device=body_rot.device)
    out[0], out[-1] = d[0], d[-1]
    out[1:-1] = 0.5 * (d[1:] + d[:-1])
    return out


def linear_velocity(x: torch.Tensor, fps: float) -> torch.Tensor:
    """(T, ...) positions or angles → (T, ...) per-second derivative, central differences."""
    if x.shape[0] < 2:
        return torch.zeros_like(x)
    return torch.gradient(x, spacing=1.0 / fps, dim=0)[0]
