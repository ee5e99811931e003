"""Tracking-target observations: where each body should be, relative to where it is.

All features are rotated into the current root's heading frame (REFERENCE_FACTS §2b):
per body and target frame, target − current position (3), target position relative to the
current root (3), target rotation relative to the current body rotation (tan-norm 6), target
rotation in the heading frame (6), target linear (3) and angular (3) velocity; then one time
offset per frame. 24 bodies × 24 + 1 = 577 values per future frame.
"""

from __future__ import annotations

import torch

from protomotions.utils.rotations import (
    heading_quat_inverse,
    quat_conjugate,
    quat_mul,
    quat_rotate,
    quat_to_tan_norm,
)

FEATURES_PER_BODY = 24


def mimic_target_size(num_bodies: int, num_future_steps: int) -> int:
    return num_future_steps * (num_bodies * FEATURES_PER_BODY + 1)


def mimic_target_obs_h(
    cur_body_pos: torch.Tensor,
    cur_body_rot: torch.Tensor,
    tgt_body_pos: torch.Tensor,
    tgt_body_rot: torch.Tensor,
    tgt_body_vel: torch.Tensor,
    tgt_body_ang_vel: torch.Tensor,
    time_offsets: torch.Tensor,
) -> torch.Tensor:
    """(N, K · (B · 24 + 1)).

    cur_body_pos (N, B, 3), cur_body_rot (N, B, 4) xyzw: current state, world frame.
    tgt_* (N, K, B, ·): K future target frames, world frame. time_offsets (N, K) seconds ahead.
    """
    n, k, b = tgt_body_pos.shape[:3]
    inv_heading = heading_quat_inverse(cur_body_rot[:, 0])[:, None, None, :].expand(n, k, b, 4)
    cur_pos = cur_body_pos[:, None]
    cur_rot = cur_body_rot[:, None].expand(n, k, b, 4)
    root = cur_body_pos[:, None, None, 0]
    feats = torch.cat(
        [
            quat_rotate(inv_heading, tgt_body_pos - cur_pos),
            quat_rotate(inv_heading, tgt_body_pos - root),
            quat_to_tan_norm(quat_mul(quat_conjugate(cur_rot), tgt_body_rot)),
            quat_to_tan_norm(quat_mul(inv_heading, tgt_body_rot)),
            quat_rotate(inv_heading, tgt_body_vel),
            quat_rotate(inv_heading, tgt_body_ang_vel),
        ],
        dim=-1,
    )  # (N, K, B, 24)
    return torch.cat([feats.reshape(n, k, b * FEATURES_PER_BODY), time_offsets[..., None]], dim=-1).reshape(n, -1)
