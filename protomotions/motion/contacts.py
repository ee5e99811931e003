"""Foot geometry of our humanoid, analytically: lowest points, penetration, slip and contact labels.

The feet are the collision geoms of ``L_Ankle``/``R_Ankle`` (boxes) and ``L_Toe``/``R_Toe`` (capsules)
from :func:`protomotions.robot.smpl.build_segments`. A box's lowest point is one of its 8 corners; a
capsule's is one of its 2 segment ends minus the radius (z is linear along the segment), so the
minimum over a few body-fixed points is exact. Shapes: T frames, F = 4 foot bodies.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch

from protomotions.robot import smpl
from protomotions.utils import rotations as rot

FOOT_BODIES = ("L_Ankle", "L_Toe", "R_Ankle", "R_Toe")
FOOT_BODY_IDS = tuple(smpl.BODY_NAMES.index(n) for n in FOOT_BODIES)
CONTACT_HEIGHT_M = 0.03  # lowest point of a foot geom within 3 cm of the floor ...
CONTACT_SPEED_MPS = 0.4  # ... and its horizontal slip below this → labelled "in contact"
INFO_CONTACT_HEIGHT_M = 0.02  # for metrics: height only, so the speed threshold cannot hide skating


def _foot_points() -> tuple[np.ndarray, np.ndarray]:
    """(F, 8, 3) body-frame candidate lowest points (capsules pad with repeats), (F,) radius."""
    seg = {s.name: s for s in smpl.build_segments()}
    pts, radii = [], []
    for name in FOOT_BODIES:
        g = seg[name].geom
        if g[0] == "box":
            c, h = np.array(g[1]), np.array(g[2])
            p = np.array([c + h * np.array(s) for s in itertools.product((-1, 1), repeat=3)])
            radii.append(0.0)
        elif g[0] == "capsule":
            p = np.array([g[1][:3], g[1][3:]] * 4)
            radii.append(g[2])
        else:
            raise ValueError(f"foot body {name} has geom {g[0]!r}; contacts.py handles box and capsule")
        pts.append(p)
    return np.stack(pts), np.array(radii)


FOOT_POINTS, FOOT_RADII = _foot_points()


def foot_point_heights(body_pos: torch.Tensor, body_rot: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(T,24,3), (T,24,4) → world points (T,F,8,3) (lowered by the radius) of every foot candidate."""
    ids = list(FOOT_BODY_IDS)
    pts = torch.as_tensor(FOOT_POINTS, dtype=body_pos.dtype)
    pos, q = body_pos[:, ids, None, :], body_rot[:, ids, None, :]
    world = pos + rot.quat_rotate(q.expand(-1, -1, pts.shape[1], -1), pts.expand(body_pos.shape[0], -1, -1, -1))
    world = world.clone()
    world[..., 2] -= torch.as_tensor(FOOT_RADII, dtype=body_pos.dtype)[None, :, None]
    return world, pts


def foot_lowest(body_pos: torch.Tensor, body_rot: torch.Tensor) -> torch.Tensor:
    """(T, F) height (m) of each foot body's lowest geom point; negative = below the floor."""
    world, _ = foot_point_heights(body_pos, body_rot)
    return world[..., 2].min(-1).values


def foot_step(body_pos: torch.Tensor, body_rot: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Heights (T, F) of the lowest point and its horizontal displacement (T, F, 2) from frame t to t+1
    (the same body-fixed point; the last frame repeats the previous step)."""
    world, _ = foot_point_heights(body_pos, body_rot)
    idx = world[..., 2].argmin(-1)  # (T, F)
    step = torch.zeros(*idx.shape, 2, dtype=body_pos.dtype)
    if world.shape[0] > 1:
        d = (world[1:] - world[:-1])[..., :2]  # (T-1, F, 8, 2)
        step[:-1] = torch.gather(d, 2, idx[:-1, :, None, None].expand(-1, -1, 1, 2)).squeeze(2)
        step[-1] = step[-2]
    return world[..., 2].min(-1).values, step


def foot_slip_speed(body_pos: torch.Tensor, body_rot: torch.Tensor, fps: float) -> torch.Tensor:
    """(T, F) horizontal speed (m/s) of the material point that is lowest at each frame."""
    world, _ = foot_point_heights(body_pos, body_rot)
    idx = world[..., 2].argmin(-1)  # (T, F)
    if world.shape[0] < 2:
        return torch.zeros(idx.shape, dtype=body_pos.dtype)
    nxt = torch.cat([world[1:], world[-1:]], 0)
    prv = torch.cat([world[:1], world[:-1]], 0)
    # central difference of the same body-fixed point (one-sided at the ends)
    span = torch.full((world.shape[0], 1), 2.0, dtype=body_pos.dtype)
    span[0] = span[-1] = 1.0
    vel = (nxt - prv)[..., :2] * fps / span[..., None, None]
    return torch.gather(vel.norm(dim=-1), -1, idx[..., None]).squeeze(-1)


def contact_labels(body_pos: torch.Tensor, body_rot: torch.Tensor, fps: float) -> torch.Tensor:
    """(T, 24) float 0/1: foot bodies near the floor and (almost) not sliding; other bodies 0."""
    low = foot_lowest(body_pos, body_rot)
    slip = foot_slip_speed(body_pos, body_rot, fps)
    feet = (low < CONTACT_HEIGHT_M) & (slip < CONTACT_SPEED_MPS)
    out = torch.zeros(body_pos.shape[0], smpl.NUM_BODIES, dtype=body_pos.dtype)
    out[:, list(FOOT_BODY_IDS)] = feet.to(body_pos.dtype)
    return out


def foot_metrics(body_pos: torch.Tensor, body_rot: torch.Tensor, fps: float) -> dict[str, float]:
    """max_penetration_m (≥ 0) and foot_skate_mps (mean slip while a foot is within 2 cm of the floor)."""
    low = foot_lowest(body_pos, body_rot)
    slip = foot_slip_speed(body_pos, body_rot, fps)
    on = low < INFO_CONTACT_HEIGHT_M
    return {
        "max_penetration_m": float((-low).clamp_min(0).max()),
        "foot_skate_mps": float(slip[on].mean()) if bool(on.any()) else 0.0,
    }
