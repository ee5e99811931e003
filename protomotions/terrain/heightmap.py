"""Heightmap observation: terrain heights on a small grid that turns with the root's heading.

Point (a, b) of the grid, a and b in linspace(-extent, extent, n), lies at
``root_xy + R(yaw) · (a, b)``: a runs along the heading, b to its left. Points are flattened with
a as the outer index, so observation k = a_index · n + b_index. Value = root z − terrain height,
which is positive for ground below the root.
"""

from __future__ import annotations

import functools

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
    if radius <= 0:
        return terrain.height_at(xy[..., :2])
    off = _mean_ground_offsets(num_per_side, float(radius), xy.device, xy.dtype)
    return terrain.height_at(xy[..., None, :2] + off).mean(-1)


@functools.lru_cache(maxsize=16)
def _mean_ground_offsets(num_per_side: int, radius: float, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    # built once per setting: mean_ground_height runs every control step (mimic targets, task keyframes)
    return heightmap_offsets(num_per_side, radius, device=device, dtype=dtype)


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
