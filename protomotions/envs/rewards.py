"""Reward kernels shared by every task: small functions returning one value per env (num_envs,)."""

from __future__ import annotations

import torch


def exp_kernel(squared_error: torch.Tensor, scale: float) -> torch.Tensor:
    """exp(−scale · e²); ``squared_error`` already squared, (N,)."""
    return torch.exp(-scale * squared_error)


def body_pos_sq_error(pos_a: torch.Tensor, pos_b: torch.Tensor) -> torch.Tensor:
    """Mean over bodies of squared distances, (N, B, 3) × 2 → (N,)."""
    return (pos_a - pos_b).square().sum(-1).mean(-1)


def body_rot_sq_error(rot_a: torch.Tensor, rot_b: torch.Tensor) -> torch.Tensor:
    """Mean over bodies of the squared rotation angle between xyzw quaternions (N, B, 4) → (N,)."""
    dot = (rot_a * rot_b).sum(-1).abs().clamp(max=1.0)
    return (2.0 * torch.acos(dot)).square().mean(-1)
