"""Terrain as a regular height grid shared by every env.

Sample ``heights[i, j]`` (metres) sits at world ``(x, y) = (i · horizontal_scale, j · horizontal_scale)``;
x is the first index. Backends turn the grid into their own heightfield; envs query heights with
:meth:`Terrain.height_at`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class Terrain:
    heights: np.ndarray  # (num_x, num_y) float32, metres
    horizontal_scale: float  # metres between samples
    spawn_xy: np.ndarray  # (num_spawn, 2) world xy of flat spots to spawn on
    is_flat: bool = False
    # (num_spawn,) relative sampling weights; None = uniform over points. The generator gives every
    # tile the same total weight, so a flat tile's dense grid of points does not crowd out the
    # single walkable point of a slope or stairs tile.
    spawn_weights: np.ndarray | None = None

    def sample_spawn_xy(self, num: int, generator: torch.Generator) -> torch.Tensor:
        """``num`` spawn points (num, 2) drawn by ``spawn_weights`` on the generator's device."""
        dev = generator.device
        cache = getattr(self, "_spawn_cache", None)
        if cache is None or cache[0].device != dev:
            xy = torch.as_tensor(self.spawn_xy, dtype=torch.float32, device=dev)
            w = None if self.spawn_weights is None else torch.as_tensor(self.spawn_weights, dtype=torch.float32, device=dev)
            cache = (xy, w)
            object.__setattr__(self, "_spawn_cache", cache)
        xy, w = cache
        if w is None:
            pick = torch.randint(len(xy), (num,), device=dev, generator=generator)
        else:
            pick = torch.multinomial(w, num, replacement=True, generator=generator)
        return xy[pick]

    @property
    def size_xy(self) -> tuple[float, float]:
        nx, ny = self.heights.shape
        return (nx - 1) * self.horizontal_scale, (ny - 1) * self.horizontal_scale

    def height_at(self, xy: torch.Tensor) -> torch.Tensor:
        """Bilinear terrain height at world points ``xy`` (..., 2) → (...); clamped at the border."""
        if self.is_flat:
            return torch.zeros(xy.shape[:-1], device=xy.device, dtype=xy.dtype)
        grid = self._heights_tensor(xy.device, xy.dtype)
        xy = torch.nan_to_num(xy, nan=0.0)  # a diverged body must not index outside the grid
        nx, ny = grid.shape
        u = (xy[..., 0] / self.horizontal_scale).clamp(0, nx - 1)
        v = (xy[..., 1] / self.horizontal_scale).clamp(0, ny - 1)
        # the last cell owns the far edge, so the far border reads exactly heights[-1]
        i0 = u.floor().long().clamp(max=nx - 2)
        j0 = v.floor().long().clamp(max=ny - 2)
        fu, fv = u - i0, v - j0
        h00 = grid[i0, j0]
        h10 = grid[i0 + 1, j0]
        h01 = grid[i0, j0 + 1]
        h11 = grid[i0 + 1, j0 + 1]
        return (h00 * (1 - fu) + h10 * fu) * (1 - fv) + (h01 * (1 - fu) + h11 * fu) * fv

    def _heights_tensor(self, device, dtype) -> torch.Tensor:
        cache = getattr(self, "_grid_cache", None)
        if cache is None or cache.device != torch.device(device) or cache.dtype != dtype:
            cache = torch.as_tensor(self.heights, device=device, dtype=dtype)
            object.__setattr__(self, "_grid_cache", cache)
        return cache


def flat_terrain(size_m: float = 20.0) -> Terrain:
    """Infinite flat ground (a plane in the backends); spawns around the origin."""
    return Terrain(
        heights=np.zeros((2, 2), dtype=np.float32),
        horizontal_scale=size_m,
        spawn_xy=np.zeros((1, 2), dtype=np.float32),
        is_flat=True,
    )
