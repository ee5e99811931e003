"""Heightmap observation: terrain heights on a small grid that turns with the root's heading.

Point (a, b) of the grid, a and b in linspace(-extent, extent, n), lies at
``root_xy + R(yaw) · (a, b)``: a runs along the heading, b to its left. Points are flattened with
a as the outer index, so observation k = a_index · n + b_index. Value = root z − terrain height,
which is positive for ground below the root.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import torch

from protomotions.terrain.base import Terrain
from protomotions.utils.rotations import heading_angle


def heightmap_offsets(num_per_side: int = 16, extent: float = 1.0, device=None, dtype=torch.float32) -> torch.Tensor:
    """Heading-frame xy offsets (num_per_side², 2), outer index along the heading."""
    axis = torch.linspace(-extent, extent, num_per_side, device=device, dtype=dtype)
    a, b = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack([a.reshape(-1), b.reshape(-1)], dim=-1)


def ground_height_under(terrain: Terrain, xy: torch.Tensor) -> torch.Tensor:
    """Terrain height (...) under world points ``xy`` (..., 2); xyz input uses its first two columns."""
    return terrain.height_at(xy[..., :2])


def mean_ground_height(terrain: Terrain, xy: torch.Tensor, radius: float, num_per_side: int = 7) -> torch.Tensor:
    """Mean terrain height (...) over a num_per_side² grid spanning ±``radius`` around ``xy`` (..., 2).

    Over stairs and rough ground this is a ramp instead of the steps and bumps right under the
    point; on a plane it equals the height at the point. ``radius`` 0 is the height at the point.
    """
    if radius <= 0 or terrain.is_flat:
        return terrain.height_at(xy[..., :2])
    averaged = _averaged_terrain(terrain, num_per_side, float(radius))
    if averaged is not None:
        return averaged.height_at(xy[..., :2])
    off = _mean_ground_offsets(num_per_side, float(radius), xy.device, xy.dtype)
    return terrain.height_at(xy[..., None, :2] + off).mean(-1)


@functools.lru_cache(maxsize=16)
def _mean_ground_offsets(num_per_side: int, radius: float, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    # built once per setting: mean_ground_height runs every control step (mimic targets, task keyframes)
    return heightmap_offsets(num_per_side, radius, device=device, dtype=dtype)


def _averaged_terrain(terrain: Terrain, num_per_side: int, radius: float) -> Terrain | None:
    """The terrain with every sample replaced by the mean over mean_ground_height's grid around it, or None
    when that grid's points are not whole cells apart (then the caller samples them one by one).

    Bilinear interpolation is linear in the heights, so for a grid of whole-cell shifts the mean of
    the interpolated heights equals the interpolation of the averaged heights: one lookup per point
    instead of num_per_side² (on 16,384 envs these lookups were the env's largest tensors). Off the
    grid's edge the shifted samples read the edge value, as Terrain.height_at clamps them.
    """
    hs = terrain.horizontal_scale
    if num_per_side < 2:
        return None
    reach, stride = radius / hs, 2 * radius / (num_per_side - 1) / hs
    if abs(reach - round(reach)) > 1e-6 or abs(stride - round(stride)) > 1e-6:
        return None
    cache = terrain.__dict__.setdefault("_averaged_cache", {})
    key = (num_per_side, radius)
    if key not in cache:
        reach, stride = round(reach), round(stride)
        heights = np.pad(terrain.heights.astype(np.float64), reach, mode="edge")
        nx, ny = terrain.heights.shape
        rows = sum(heights[a * stride: a * stride + nx] for a in range(num_per_side))
        mean = sum(rows[:, b * stride: b * stride + ny] for b in range(num_per_side)) / num_per_side**2
        cache[key] = dataclasses.replace(terrain, heights=mean.astype(np.float32))
    return cache[key]


class HeightmapSampler:
    """Batched heightmap observation for many roots sharing one terrain."""

    def __init__(self, terrain: Terrain, num_per_side: int = 16, extent: float = 1.0) -> None:
        self.terrain = terrain
        self.num_per_side = num_per_side
        self.extent = extent
        self._offsets = heightmap_offsets(num_per_side, extent)

    @property
    def num_points(self) -> int:
        return self.num_per_side**2

    def points(self, root_pos: torch.Tensor, root_rot: torch.Tensor) -> torch.Tensor:
        """World xy of the samples (N, P, 2) for roots ``root_pos`` (N, 3) and xyzw ``root_rot`` (N, 4)."""
        off = self._offsets.to(device=root_pos.device, dtype=root_pos.dtype)
        yaw = heading_angle(root_rot)
        c, s = torch.cos(yaw)[:, None], torch.sin(yaw)[:, None]
        x = c * off[:, 0] - s * off[:, 1]
        y = s * off[:, 0] + c * off[:, 1]
        return torch.stack([x, y], dim=-1) + root_pos[:, None, :2]

    def __call__(self, root_pos: torch.Tensor, root_rot: torch.Tensor) -> torch.Tensor:
        """Observation (N, P): root z minus the terrain height at each sample point."""
        return root_pos[:, 2:3] - self.terrain.height_at(self.points(root_pos, root_rot))
