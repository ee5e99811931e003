"""Observation kernels: pure batched functions of the simulator state.

Everything is expressed in the root's *heading frame*: origin at the root, rotated by the
inverse of the root's yaw, so observations are invariant to where the character stands and
which way it faces (REFERENCE_FACTS §2a).
"""

from __future__ import annotations

import torch

from protomotions.robot import smpl
from protomotions.utils.rotations import quat_to_tan_norm

NUM_BODIES = smpl.NUM_BODIES
SELF_OBS_SIZE = 1 + 3 * (NUM_BODIES - 1) + 6 * NUM_BODIES + 3 * NUM_BODIES + 3 * NUM_BODIES  # 358


def self_obs_h(
    body_pos_w: torch.Tensor,
    body_rot_w: torch.Tensor,
    body_vel_w: torch.Tensor,
    body_ang_vel_w: torch.Tensor,
    ground_height: torch.Tensor,
) -> torch.Tensor:
    """Humanoid self-observation (num_envs, 358).

    Args:
        body_pos_w, body_vel_w, body_ang_vel_w: (N, 24, 3) world frame; body 0 is the root.
        body_rot_w: (N, 24, 4) xyzw world rotations.
        ground_height: (N,) terrain height under the root.

    Layout: root height above ground (1) | non-root body positions relative to the root (23×3) |
    body rotations as tan-norm (24×6) | body linear velocities (24×3) | angular velocities (24×3),
    all rotated into the heading frame.
    """
    n = body_pos_w.shape[0]
    root_pos = body_pos_w[:, 0]
    axes = quat_to_tan_norm(body_rot_w)  # (N, B, 6) world frame
    # the inverse heading is a pure yaw, so every term is a world vector whose xy turns by -heading:
    # same maths as quat_rotate, written straight into the output (few ops: they dominate on CPU)
    yaw = torch.atan2(axes[:, 0, 1], axes[:, 0, 0])[:, None]  # heading_angle of the root
    c, s = torch.cos(yaw), torch.sin(yaw)
    vecs = torch.cat([body_pos_w[:, 1:] - root_pos[:, None, :], axes.view(n, -1, 3), body_vel_w, body_ang_vel_w], dim=1)
    vx, vy, vz = vecs.unbind(-1)
    out = torch.empty(n, 1 + vecs.numel() // n, device=vecs.device, dtype=vecs.dtype)
    torch.sub(root_pos[:, 2:3], ground_height.unsqueeze(-1), out=out[:, :1])
    local_x, local_y, local_z = out[:, 1:].view(n, -1, 3).unbind(-1)
    torch.mul(c, vx, out=local_x).addcmul_(s, vy)
    torch.mul(c, vy, out=local_y).addcmul_(s, vx, value=-1.0)
    local_z.copy_(vz)
    return out


def has_fallen(
    contact_forces_w: torch.Tensor,
    body_height: torch.Tensor,
    fall_body_mask: torch.Tensor,
    termination_heights: torch.Tensor,
    contact_threshold: float = 0.1,
) -> torch.Tensor:
    """(N,) bool: a body that may not touch the ground does, while some such body is low.

    contact_forces_w (N, B, 3); body_height (N, B) above the terrain; fall_body_mask (B,) True
    for bodies whose contact counts (not feet); termination_heights (B,).
    """
    touching = (contact_forces_w.norm(dim=-1) > contact_threshold) & fall_body_mask
    low = (body_height < termination_heights) & fall_body_mask
    return touching.any(dim=-1) & low.any(dim=-1)
