"""Procedural terrain: a grid of tiles, one terrain type per column, difficulty rising with level.

Layout (world metres, x is the first grid index)::

    x = border + level · map_length            (num_levels rows, difficulty d = level / num_levels)
    y = border + column · map_width            (num_terrains columns, one terrain type each)

Every tile is a function of its local coordinates relative to the tile centre, evaluated at the
grid samples, so tiles meet at height 0 on their edges (up to rough noise) and the border is flat.
Heights are rounded to multiples of ``vertical_scale``.

Column types are allotted by largest remainder with at least one column for every type whose
proportion is positive: the reference (col / num_cols) gives 0 discrete columns for the default
proportions, which silently drops a terrain type.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from protomotions.terrain.base import Terrain, flat_terrain

TERRAIN_TYPES = ("smooth_slope", "rough_slope", "stairs_up", "stairs_down", "discrete", "stepping_stones", "poles", "flat")


@dataclass
class TerrainConfig:
    terrain_type: str = "complex"  # "flat" | "complex"
    map_length: float = 20.0  # tile size along x (levels), metres
    map_width: float = 20.0  # tile size along y (terrain columns), metres
    num_levels: int = 7
    num_terrains: int = 7
    # flat margin around the tiles, metres; MuJoCo step cost does not grow with the grid (measured,
    # benchmarks/bench_terrain.py), so keep the reference 40 m that humanoids cannot walk off
    border_size: float = 40.0
    horizontal_scale: float = 0.1
    vertical_scale: float = 0.005
    # one weight per TERRAIN_TYPES entry
    proportions: list[float] = field(default_factory=lambda: [0.2, 0.1, 0.1, 0.1, 0.05, 0.0, 0.0, 0.45])
    # spawn points are kept only where every slope within spawn_clearance is below this (rise / run)
    slope_threshold: float = 0.9
    seed: int = 0
    platform_size: float = 3.0  # flat square in every tile centre, metres
    flat_margin: float = 4.0  # flat tiles spawn only this far inside their edges, metres
    spawn_spacing: float = 1.0  # grid spacing of spawn points on flat tiles, metres
    spawn_clearance: float = 1.0  # radius (square) that must be walkable around a spawn point, metres
    rough_amplitude: float = 0.1  # rough slopes: uniform noise in ±this, metres
    rough_step: float = 0.025  # noise values are multiples of this, metres
    rough_cell: float = 0.2  # spacing of the coarse noise grid, metres
    # "linear": the coarse noise is interpolated between its grid points (a bumpy surface, as the
    # reference's random_uniform_terrain); "hold": each value fills its cell (0.2 m blocks with steps of
    # up to 2·amplitude, the layout of runs made before 2026-11-25, kept to reproduce their numbers)
    rough_interpolation: str = "linear"
    stair_width: float = 0.31
    discrete_num_rects: int = 20
    discrete_size: tuple[float, float] = (1.0, 2.0)  # side range of discrete obstacles, metres
    flat_size: float = 20.0  # terrain_type "flat": nominal size handed to flat_terrain

    def __post_init__(self) -> None:
        # Hydra hands over ListConfig; plain floats keep numpy and equality checks simple
        self.proportions = [float(p) for p in self.proportions]
        self.discrete_size = (float(self.discrete_size[0]), float(self.discrete_size[1]))
        if self.rough_interpolation not in ("linear", "hold"):
            raise ValueError(f"terrain.rough_interpolation={self.rough_interpolation!r}: use 'linear' or 'hold'")
        if self.terrain_type not in ("flat", "complex"):
            raise ValueError(f"terrain.terrain_type={self.terrain_type!r}: use 'flat' or 'complex'")
        if len(self.proportions) != len(TERRAIN_TYPES):
            raise ValueError(f"terrain.proportions has {len(self.proportions)} entries: give one per type {TERRAIN_TYPES}")
        if any(p < 0 for p in self.proportions) or sum(self.proportions) <= 0:
            raise ValueError(f"terrain.proportions={list(self.proportions)}: weights must be >= 0 with a positive sum")
        for key in ("map_length", "map_width"):
            cells = getattr(self, key) / self.horizontal_scale
            if abs(cells - round(cells)) > 1e-6:
                raise ValueError(f"terrain.{key}={getattr(self, key)} is not a multiple of horizontal_scale={self.horizontal_scale}")


def build_terrain(config: TerrainConfig) -> Terrain:
    """Flat plane or the complex tile map described by ``config``."""
    if config.terrain_type == "flat":
        return flat_terrain(config.flat_size)
    return _build_complex(config)


def column_types(config: TerrainConfig) -> list[str]:
    """Terrain type of each column (num_terrains,): every positive proportion gets >= 1 column."""
    p = np.asarray(config.proportions, dtype=np.float64)
    p = p / p.sum()
    active = np.flatnonzero(p > 0)
    n = config.num_terrains
    if n < len(active):
        names = [TERRAIN_TYPES[i] for i in active]
        raise ValueError(f"terrain.num_terrains={n} cannot hold the {len(active)} types with positive proportions {names}: "
                         f"raise num_terrains or zero some proportions")
    counts = np.zeros(len(p), dtype=int)
    counts[active] = 1
    # the remaining columns go by largest remainder of the ideal share, ties to the earlier type
    want = p * n - counts
    for _ in range(n - len(active)):
        k = int(np.argmax(np.where(p > 0, want, -np.inf)))
        counts[k] += 1
        want[k] -= 1
    return [TERRAIN_TYPES[i] for i, c in enumerate(counts) for _ in range(c)]


def tile_at(xy: torch.Tensor, config: TerrainConfig) -> tuple[list[str], torch.Tensor]:
    """Terrain type name and difficulty level (-1 on the flat border) of the tile under each point.

    xy (N, 2) world metres → (N names, "border" off the tiles; levels (N,) long). The layout is
    ``_build_complex``'s: levels along x, columns (types) along y, after ``border_size``.
    """
    if config.terrain_type == "flat":
        return ["flat"] * len(xy), torch.full((len(xy),), -1, dtype=torch.long)
    local = xy.detach().cpu().double() - config.border_size
    level = torch.floor(local[:, 0] / config.map_length).long()
    col = torch.floor(local[:, 1] / config.map_width).long()
    on = (level >= 0) & (level < config.num_levels) & (col >= 0) & (col < config.num_terrains)
    types = column_types(config)
    names = [types[c] if o else "border" for c, o in zip(col.tolist(), on.tolist())]
    return names, torch.where(on, level, torch.full_like(level, -1))


def difficulty(level: int, config: TerrainConfig) -> float:
    return level / config.num_levels


def _build_complex(cfg: TerrainConfig) -> Terrain:
    hs = cfg.horizontal_scale
    tx, ty = round(cfg.map_length / hs), round(cfg.map_width / hs)  # samples per tile
    border = round(cfg.border_size / hs)
    heights = np.zeros((2 * border + cfg.num_levels * tx + 1, 2 * border + cfg.num_terrains * ty + 1), dtype=np.float64)
    # local sample coordinates relative to a tile centre, (tx, 1) and (1, ty)
    lx = (np.arange(tx) * hs - 0.5 * cfg.map_length)[:, None]
    ly = (np.arange(ty) * hs - 0.5 * cfg.map_width)[None, :]
    rng = np.random.default_rng(cfg.seed)
    types = column_types(cfg)
    spawn, spawn_tile = [], []
    for col, kind in enumerate(types):
        rank = types[:col].count(kind)  # index of this column among columns of the same type
        for level in range(cfg.num_levels):
            d = difficulty(level, cfg)
            tile = _tile(kind, d, lx, ly, cfg, rng, sign=1.0 if (rank + level) % 2 else -1.0)
            x0, y0 = border + level * tx, border + col * ty
            heights[x0:x0 + tx, y0:y0 + ty] = tile
            centre = np.array([(x0 + tx // 2) * hs, (y0 + ty // 2) * hs])
            spawn.append(_flat_tile_spawns(centre, cfg) if kind == "flat" else centre[None])
            spawn_tile.append(np.full(len(spawn[-1]), len(spawn_tile)))
    heights = np.round(heights / cfg.vertical_scale) * cfg.vertical_scale
    spawn_xy = np.concatenate(spawn).astype(np.float32)
    tile_of = np.concatenate(spawn_tile)
    keep = _walkable(heights, spawn_xy, cfg)
    spawn_xy, tile_of = spawn_xy[keep], tile_of[keep]
    if len(spawn_xy) == 0:
        raise ValueError("terrain: no walkable spawn point; give some 'flat' proportion or lower spawn_clearance")
    # every tile with a walkable point is equally likely, whatever its number of points
    weights = 1.0 / np.bincount(tile_of)[tile_of]
    return Terrain(heights=heights.astype(np.float32), horizontal_scale=hs, spawn_xy=spawn_xy, is_flat=False,
                   spawn_weights=weights.astype(np.float32))


def _tile(kind: str, d: float, lx: np.ndarray, ly: np.ndarray, cfg: TerrainConfig, rng: np.random.Generator,
          sign: float) -> np.ndarray:
    """Heights (tx, ty) of one tile; ``sign`` picks pyramid up (+1) or down (-1) for slopes."""
    half = 0.5 * min(cfg.map_length, cfg.map_width)
    half_p = 0.5 * cfg.platform_size
    r = np.maximum(np.abs(lx), np.abs(ly))  # Chebyshev distance from the centre: square rings
    platform = r <= half_p
    if kind == "flat":
        return np.zeros_like(r)
    if kind in ("smooth_slope", "rough_slope"):
        # constant gradient 0.4 d from the edge to the platform, which stays level
        h = sign * 0.4 * d * (half - np.maximum(r, half_p))
        if kind == "rough_slope":
            h = h + np.where(platform, 0.0, _rough_noise(h.shape, cfg, rng))
        return h
    if kind in ("stairs_up", "stairs_down"):
        step = 0.05 + 0.175 * d
        step = np.round(step / cfg.vertical_scale) * cfg.vertical_scale
        # ring index counted inward from the tile edge; the platform takes the innermost ring's height
        n_rings = np.floor((half - half_p) / cfg.stair_width)
        ring = np.minimum(np.floor((half - r) / cfg.stair_width), n_rings)
        return (1.0 if kind == "stairs_up" else -1.0) * step * ring
    if kind == "discrete":
        return _discrete(0.025 + 0.15 * d, lx, ly, cfg, rng) * ~platform
    if kind == "stepping_stones":
        return _stepping_stones(d, lx, ly, cfg, rng)
    if kind == "poles":
        return _poles(d, lx, ly, cfg, rng) * ~platform
    raise ValueError(f"terrain type {kind!r} unknown: use one of {TERRAIN_TYPES}")


def _rough_noise(shape: tuple[int, int], cfg: TerrainConfig, rng: np.random.Generator) -> np.ndarray:
    """Uniform noise in ±rough_amplitude on a rough_cell grid, spread to the samples of one tile."""
    hs = cfg.horizontal_scale
    if cfg.rough_interpolation == "hold":  # the earlier layout, draw for draw
        k = max(1, round(cfg.rough_cell / hs))
        coarse = rng.uniform(-cfg.rough_amplitude, cfg.rough_amplitude, size=(-(-shape[0] // k), -(-shape[1] // k)))
        return np.repeat(np.repeat(coarse, k, axis=0), k, axis=1)[: shape[0], : shape[1]]
    levels = np.arange(-cfg.rough_amplitude, cfg.rough_amplitude + 0.5 * cfg.rough_step, cfg.rough_step)
    # coarse points at 0, cell, 2·cell, ... up to past the tile's last sample
    n_coarse = [int(np.ceil((n - 1) * hs / cfg.rough_cell - 1e-9)) + 1 for n in shape]
    coarse = rng.choice(levels, size=n_coarse)
    u = [np.arange(n) * hs / cfg.rough_cell for n in shape]  # sample positions in coarse cells
    i0 = [np.minimum(np.floor(v + 1e-9).astype(int), c - 2) for v, c in zip(u, n_coarse)]
    fx, fy = (u[0] - i0[0])[:, None], (u[1] - i0[1])[None, :]
    a, b = i0[0][:, None], i0[1][None, :]
    return ((1 - fx) * (1 - fy) * coarse[a, b] + fx * (1 - fy) * coarse[a + 1, b]
            + (1 - fx) * fy * coarse[a, b + 1] + fx * fy * coarse[a + 1, b + 1])


def _discrete(height: float, lx, ly, cfg, rng) -> np.ndarray:
    """Random axis-aligned blocks of height ±height or ±height/2 (the later block wins on overlap)."""
    n = cfg.discrete_num_rects
    half = 0.5 * np.array([cfg.map_length, cfg.map_width])
    size = rng.uniform(*cfg.discrete_size, size=(n, 2))
    lo = rng.uniform(-half, half - size, size=(n, 2))
    hi = lo + size
    value = rng.choice([-height, -0.5 * height, 0.5 * height, height], size=n)
    x, y = lx[None], ly[None]  # broadcast against (n, 1, 1)
    inside = (x >= lo[:, 0, None, None]) & (x < hi[:, 0, None, None]) & (y >= lo[:, 1, None, None]) & (y < hi[:, 1, None, None])
    # last block covering a sample: argmax over the reversed block axis
    last = n - 1 - np.argmax(inside[::-1], axis=0)
    return np.where(inside.any(axis=0), value[last], 0.0)


def _stepping_stones(d: float, lx, ly, cfg, rng) -> np.ndarray:
    """Square stones of random height (<= 0) over a 1 m deep pit; stones shrink and gaps widen with d."""
    stone = 1.5 * (1.05 - d)
    gap = 0.05 + 0.15 * d
    pitch = stone + gap
    ix = np.floor((lx + 0.5 * cfg.map_length) / pitch)
    iy = np.floor((ly + 0.5 * cfg.map_width) / pitch)
    on_stone = ((lx + 0.5 * cfg.map_length - ix * pitch) < stone) & ((ly + 0.5 * cfg.map_width - iy * pitch) < stone)
    nx, ny = int(ix.max()) + 1, int(iy.max()) + 1
    top = rng.uniform(-0.05 - 0.1 * d, 0.0, size=(nx, ny))
    h = np.where(on_stone, top[ix.astype(int), iy.astype(int)], -1.0)
    r = np.maximum(np.abs(lx), np.abs(ly))
    return np.where(r <= 0.5 * cfg.platform_size, 0.0, h)


def _poles(d: float, lx, ly, cfg, rng) -> np.ndarray:
    """Thin 2 m posts (0.2 m square) on flat ground, more of them with difficulty."""
    n = int(20 + 80 * d)
    side = 0.2
    half = 0.5 * np.array([cfg.map_length, cfg.map_width])
    lo = rng.uniform(-half, half - side, size=(n, 2))
    x, y = lx[None], ly[None]
    inside = ((x >= lo[:, 0, None, None]) & (x < lo[:, 0, None, None] + side)
              & (y >= lo[:, 1, None, None]) & (y < lo[:, 1, None, None] + side))
    return 2.0 * inside.any(axis=0)


def _flat_tile_spawns(centre: np.ndarray, cfg: TerrainConfig) -> np.ndarray:
    """Grid of points (K, 2) over a flat tile minus ``flat_margin`` on every side."""
    ax = []
    for size in (cfg.map_length, cfg.map_width):
        half = 0.5 * size - cfg.flat_margin
        n = int(np.floor(2 * half / cfg.spawn_spacing)) + 1 if half >= 0 else 0
        ax.append(np.linspace(-half, half, n) if n > 1 else np.zeros(n))
    gx, gy = np.meshgrid(*ax, indexing="ij")
    return centre + np.stack([gx.ravel(), gy.ravel()], axis=-1)


def _walkable(heights: np.ndarray, xy: np.ndarray, cfg: TerrainConfig) -> np.ndarray:
    """Mask (K,): every sample-to-sample slope within spawn_clearance of the point is <= slope_threshold."""
    hs = cfg.horizontal_scale
    rad = int(np.ceil(cfg.spawn_clearance / hs))
    gx = np.abs(np.diff(heights, axis=0)) / hs
    gy = np.abs(np.diff(heights, axis=1)) / hs
    # worst slope touching each sample, (num_x, num_y)
    worst = np.zeros_like(heights)
    worst[:-1] = np.maximum(worst[:-1], gx)
    worst[1:] = np.maximum(worst[1:], gx)
    worst[:, :-1] = np.maximum(worst[:, :-1], gy)
    worst[:, 1:] = np.maximum(worst[:, 1:], gy)
    centre = np.round(xy / hs).astype(int)
    offs = np.arange(-rad, rad + 1)
    ii = np.clip(centre[:, 0, None, None] + offs[None, :, None], 0, heights.shape[0] - 1)
    jj = np.clip(centre[:, 1, None, None] + offs[None, None, :], 0, heights.shape[1] - 1)
    return worst[ii, jj].reshape(len(xy), -1).max(axis=1) <= cfg.slope_threshold
