"""Observation kernels: pure batched functions of the simulator state.

Everything is expressed in the root's *heading frame*: origin at the root, rotated by the
inverse of the root's yaw, so observations are invariant to where the character stands and
which way it faces (REFERENCE_FACTS §2a).
"""

from __future__ import annotations

import torch

from protomotions.robot import smpl
from protomotions.utils.rotations import heading_quat_inverse, quat_mul, quat_rotate, quat_to_tan_norm

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
    n, b = body_pos_w.shape[:2]
    root_pos = body_pos_w[:, 0]
    inv_heading = heading_quat_inverse(body_rot_w[:, 0])  # (N, 4)
    inv_heading_b = inv_heading[:, None, :].expand(n, b, 4)

    root_height = (root_pos[:, 2] - ground_height).unsqueeze(-1)
    local_pos = quat_rotate(inv_heading_b[:, 1:], body_pos_w[:, 1:] - root_pos[:, None, :])
    local_rot = quat_to_tan_norm(quat_mul(inv_heading_b, body_rot_w))
    local_vel = quat_rotate(inv_heading_b, body_vel_w)
    local_ang_vel = quat_rotate(inv_heading_b, body_ang_vel_w)
    return torch.cat(
        [
            root_height,
            local_pos.reshape(n, -1),
            local_rot.reshape(n, -1),
            local_vel.reshape(n, -1),
            local_ang_vel.reshape(n, -1),
        ],
        dim=-1,
    )


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
