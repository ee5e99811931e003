"""Rotation maths on batched torch tensors.

Convention (the one used everywhere inside the framework): quaternions are **xyzw**
(scalar last), unit norm, and act on column vectors: ``v_world = quat_rotate(q_body, v_body)``.
Composition ``quat_mul(a, b)`` applies ``b`` first, then ``a`` (like matrices ``A @ B``).
Backends whose native order differs (MuJoCo: wxyz) convert in their adapter only, with
:func:`wxyz_to_xyzw` / :func:`xyzw_to_wxyz`.

Every function accepts arbitrary leading batch dimensions ``(..., 4)`` / ``(..., 3)``.
"""

from __future__ import annotations

import math

import torch

_EPS = 1e-8


def wxyz_to_xyzw(q: torch.Tensor) -> torch.Tensor:
    return torch.cat([q[..., 1:4], q[..., 0:1]], dim=-1)


def xyzw_to_wxyz(q: torch.Tensor) -> torch.Tensor:
    return torch.cat([q[..., 3:4], q[..., 0:3]], dim=-1)


def quat_identity(shape: tuple[int, ...], device=None, dtype=torch.float32) -> torch.Tensor:
    q = torch.zeros(*shape, 4, device=device, dtype=dtype)
    q[..., 3] = 1.0
    return q


def quat_normalize(q: torch.Tensor) -> torch.Tensor:
    return q / q.norm(dim=-1, keepdim=True).clamp_min(_EPS)


def quat_conjugate(q: torch.Tensor) -> torch.Tensor:
    return torch.cat([-q[..., :3], q[..., 3:4]], dim=-1)


def quat_mul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Hamilton product a ⊗ b (xyzw): rotate by b, then by a."""
    ax, ay, az, aw = a.unbind(-1)
    bx, by, bz, bw = b.unbind(-1)
    return torch.stack(
        [
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
            aw * bw - ax * bx - ay * by - az * bz,
        ],
        dim=-1,
    )


def quat_rotate(q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Rotate vectors ``v`` (..., 3) by quaternions ``q`` (..., 4)."""
    q_vec, q_w = q[..., :3], q[..., 3:4]
    t = 2.0 * torch.cross(q_vec, v, dim=-1)
    return v + q_w * t + torch.cross(q_vec, t, dim=-1)


def quat_rotate_inverse(q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return quat_rotate(quat_conjugate(q), v)


def quat_from_axis_angle(axis: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """axis (..., 3) unit, angle (...) radians."""
    half = 0.5 * angle.unsqueeze(-1)
    return torch.cat([axis * torch.sin(half), torch.cos(half)], dim=-1)


def quat_from_exp_map(exp_map: torch.Tensor) -> torch.Tensor:
    angle = exp_map.norm(dim=-1)
    axis = exp_map / angle.unsqueeze(-1).clamp_min(_EPS)
    q = quat_from_axis_angle(axis, angle)
    return torch.where((angle < 1e-6).unsqueeze(-1), quat_identity(angle.shape, exp_map.device, exp_map.dtype), q)


def quat_to_axis_angle(q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Returns (axis (..., 3), angle (...)) with angle in [0, π]."""
    q = quat_normalize(q)
    q = torch.where(q[..., 3:4] < 0, -q, q)  # shortest arc
    sin_half = q[..., :3].norm(dim=-1)
    angle = 2.0 * torch.atan2(sin_half, q[..., 3])
    axis = q[..., :3] / sin_half.unsqueeze(-1).clamp_min(_EPS)
    default_axis = torch.zeros_like(axis)
    default_axis[..., 2] = 1.0
    axis = torch.where((sin_half < 1e-7).unsqueeze(-1), default_axis, axis)
    return axis, angle


def quat_to_exp_map(q: torch.Tensor) -> torch.Tensor:
    axis, angle = quat_to_axis_angle(q)
    return axis * angle.unsqueeze(-1)


def quat_angle_between(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Rotation angle (radians, [0, π]) of a⁻¹ b."""
    dot = (a * b).sum(-1).abs().clamp(max=1.0)
    return 2.0 * torch.acos(dot)


def quat_to_matrix(q: torch.Tensor) -> torch.Tensor:
    x, y, z, w = quat_normalize(q).unbind(-1)
    return torch.stack(
        [
            1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
            2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
            2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y),
        ],
        dim=-1,
    ).reshape(*q.shape[:-1], 3, 3)


def matrix_to_quat(m: torch.Tensor) -> torch.Tensor:
    """Rotation matrices (..., 3, 3) → xyzw quaternions with w ≥ 0 (numerically robust branch)."""
    m00, m01, m02 = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    m10, m11, m12 = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
    m20, m21, m22 = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]
    # four candidate solutions, pick the one with the largest denominator
    qw = torch.sqrt((1 + m00 + m11 + m22).clamp_min(0)) * 0.5
    qx = torch.sqrt((1 + m00 - m11 - m22).clamp_min(0)) * 0.5
    qy = torch.sqrt((1 - m00 + m11 - m22).clamp_min(0)) * 0.5
    qz = torch.sqrt((1 - m00 - m11 + m22).clamp_min(0)) * 0.5
    cand_w = torch.stack([(m21 - m12), (m02 - m20), (m10 - m01), 4 * qw * qw], -1) / (4 * qw).clamp_min(_EPS).unsqueeze(-1)
    cand_x = torch.stack([4 * qx * qx, (m01 + m10), (m02 + m20), (m21 - m12)], -1) / (4 * qx).clamp_min(_EPS).unsqueeze(-1)
    cand_y = torch.stack([(m01 + m10), 4 * qy * qy, (m12 + m21), (m02 - m20)], -1) / (4 * qy).clamp_min(_EPS).unsqueeze(-1)
    cand_z = torch.stack([(m02 + m20), (m12 + m21), 4 * qz * qz, (m10 - m01)], -1) / (4 * qz).clamp_min(_EPS).unsqueeze(-1)
    cands = torch.stack([cand_w, cand_x, cand_y, cand_z], dim=-2)  # (..., 4 candidates, 4)
    best = torch.stack([qw, qx, qy, qz], -1).argmax(-1)
    q = torch.gather(cands, -2, best[..., None, None].expand(*best.shape, 1, 4)).squeeze(-2)
    q = quat_normalize(q)
    return torch.where(q[..., 3:4] < 0, -q, q)


def quat_to_tan_norm(q: torch.Tensor) -> torch.Tensor:
    """6-D rotation feature: the rotated x (tangent) and z (normal) axes of unit ``q``, concatenated.

    Written as rotation-matrix columns 0 and 2 rather than two quat_rotate calls: a third of the
    ops, which is what observation cost is made of (small tensors, per-op overhead).
    """
    x, y, z, w = q.unbind(-1)
    x2, y2, z2 = 2 * x, 2 * y, 2 * z
    xx, yy, zz = x * x2, y * y2, z * z2
    return torch.stack([1 - yy - zz, x * y2 + z * 2 * w, x * z2 - y2 * w,
                        x * z2 + y2 * w, y * z2 - x2 * w, 1 - xx - yy], dim=-1)


def heading_angle(q: torch.Tensor) -> torch.Tensor:
    """Yaw (radians) of the body's local +x axis projected on the ground plane."""
    x_axis = torch.zeros_like(q[..., :3])
    x_axis[..., 0] = 1.0
    fwd = quat_rotate(q, x_axis)
    return torch.atan2(fwd[..., 1], fwd[..., 0])


def yaw_quat(angle: torch.Tensor) -> torch.Tensor:
    """Rotation about world +z by ``angle`` (...)."""
    half = 0.5 * angle
    zeros = torch.zeros_like(angle)
    return torch.stack([zeros, zeros, torch.sin(half), torch.cos(half)], dim=-1)


def heading_quat(q: torch.Tensor) -> torch.Tensor:
    return yaw_quat(heading_angle(q))


def heading_quat_inverse(q: torch.Tensor) -> torch.Tensor:
    return yaw_quat(-heading_angle(q))


def quat_slerp(q0: torch.Tensor, q1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation; ``t`` broadcastable to (..., 1)."""
    if t.dim() == q0.dim() - 1:
        t = t.unsqueeze(-1)
    cos_half = (q0 * q1).sum(-1, keepdim=True)
    q1 = torch.where(cos_half < 0, -q1, q1)
    cos_half = cos_half.abs().clamp(max=1.0)
    half = torch.acos(cos_half)
    sin_half = torch.sqrt((1.0 - cos_half * cos_half).clamp_min(0))
    ratio_a = torch.sin((1 - t) * half) / sin_half.clamp_min(_EPS)
    ratio_b = torch.sin(t * half) / sin_half.clamp_min(_EPS)
    out = ratio_a * q0 + ratio_b * q1
    lerp = quat_normalize((1 - t) * q0 + t * q1)
    return torch.where(sin_half < 1e-4, lerp, quat_normalize(out))


# --- Euler angles for 3-hinge joints -------------------------------------------------------------
# A ball joint of the SMPL humanoid is three hinges about the body's local x, then y, then z
# (MuJoCo applies each joint in the order written, about the already-rotated axes):
#     R_local = Rx(a) · Ry(b) · Rz(c)   (intrinsic X-Y-Z Euler angles)


def euler_xyz_to_quat(angles: torch.Tensor) -> torch.Tensor:
    """Intrinsic x→y→z hinge angles (..., 3) → local rotation quaternion."""
    unit = torch.eye(3, device=angles.device, dtype=angles.dtype)
    shape = angles.shape[:-1]
    qx = quat_from_axis_angle(unit[0].expand(*shape, 3), angles[..., 0])
    qy = quat_from_axis_angle(unit[1].expand(*shape, 3), angles[..., 1])
    qz = quat_from_axis_angle(unit[2].expand(*shape, 3), angles[..., 2])
    return quat_mul(quat_mul(qx, qy), qz)


def quat_to_euler_xyz(q: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`euler_xyz_to_quat`; the middle (y) angle lies in [-π/2, π/2].

    For R = Rx(a) Ry(b) Rz(c): R[0,2] = sin b, R[1,2] = -sin a cos b, R[2,2] = cos a cos b,
    R[0,1] = -cos b sin c, R[0,0] = cos b cos c.
    """
    m = quat_to_matrix(q)
    sin_b = m[..., 0, 2].clamp(-1.0, 1.0)
    b = torch.asin(sin_b)
    a = torch.atan2(-m[..., 1, 2], m[..., 2, 2])
    c = torch.atan2(-m[..., 0, 1], m[..., 0, 0])
    # gimbal lock (|b| = π/2): put everything into a, c = 0
    locked = sin_b.abs() > 1 - 1e-6
    a_locked = torch.atan2(m[..., 2, 1], m[..., 1, 1])
    a = torch.where(locked, a_locked, a)
    c = torch.where(locked, torch.zeros_like(c), c)
    return torch.stack([a, b, c], dim=-1)


def wrap_to_pi(angle: torch.Tensor) -> torch.Tensor:
    return torch.remainder(angle + math.pi, 2 * math.pi) - math.pi
