"""Masked sparse targets: a few bodies at a few future times, the rest hidden.

For each of K keyframes and J conditionable bodies (``smpl.CONDITIONABLE_BODY_NAMES``), two
channels: translation (target − current body position, target − current root; 6 values) and
rotation (target relative to the current body rotation, target in the heading frame; tan-norm,
12 values), each followed by its visibility bit. Hidden values are zeroed. Each keyframe
ends with its time-to-target (s) and its own visibility bit:
K · (J · (6 + 1 + 12 + 1) + 2) values, all in the current heading frame.
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

TRANSLATION_FEATURES = 6
ROTATION_FEATURES = 12
PER_BODY = TRANSLATION_FEATURES + 1 + ROTATION_FEATURES + 1


def masked_target_size(num_keyframes: int, num_bodies: int) -> int:
    return num_keyframes * (num_bodies * PER_BODY + 2)


def masked_target_obs_h(
    cur_body_pos: torch.Tensor,
    cur_body_rot: torch.Tensor,
    key_pos: torch.Tensor,
    key_rot: torch.Tensor,
    trans_mask: torch.Tensor,
    rot_mask: torch.Tensor,
    key_visible: torch.Tensor,
    time_to_target: torch.Tensor,
) -> torch.Tensor:
    """(N, K · (J · 20 + 2)).

    cur_body_pos (N, J, 3), cur_body_rot (N, J, 4): the conditionable bodies now (index 0 = root).
    key_pos (N, K, J, 3), key_rot (N, K, J, 4): targets, world frame.
    trans_mask, rot_mask (N, K, J) bool; key_visible (N, K) bool; time_to_target (N, K) s.
    A channel counts as visible only if its keyframe is visible too.
    """
    n, k, j = key_pos.shape[:3]
    inv_heading = heading_quat_inverse(cur_body_rot[:, 0])[:, None, None, :].expand(n, k, j, 4)
    cur_pos = cur_body_pos[:, None]
    cur_rot = cur_body_rot[:, None].expand(n, k, j, 4)
    root = cur_body_pos[:, None, None, 0]
    trans = torch.cat([quat_rotate(inv_heading, key_pos - cur_pos), quat_rotate(inv_heading, key_pos - root)], -1)
    rot = torch.cat(
        [quat_to_tan_norm(quat_mul(quat_conjugate(cur_rot), key_rot)), quat_to_tan_norm(quat_mul(inv_heading, key_rot))], -1
    )
    t_vis = (trans_mask & key_visible[..., None]).unsqueeze(-1).float()
    r_vis = (rot_mask & key_visible[..., None]).unsqueeze(-1).float()
    per_body = torch.cat([trans * t_vis, t_vis, rot * r_vis, r_vis], -1).reshape(n, k, j * PER_BODY)
    vis = key_visible.float()
    per_key = torch.cat([per_body, (time_to_target * vis)[..., None], vis[..., None]], -1)
    return per_key.reshape(n, -1)
