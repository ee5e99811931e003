"""Terrain grids, their procedural generator and the heightmap observation."""

from protomotions.terrain.base import Terrain, flat_terrain
from protomotions.terrain.generator import TERRAIN_TYPES, TerrainConfig, build_terrain, column_types, tile_at
from protomotions.terrain.heightmap import (
    HeightmapSampler,
    ground_height_under,
    heightmap_offsets,
    mean_ground_height,
)

__all__ = [
    "TERRAIN_TYPES",
    "HeightmapSampler",
    "Terrain",
    "TerrainConfig",
    "build_terrain",
    "column_types",
    "flat_terrain",
    "ground_height_under",
    "heightmap_offsets",
    "mean_ground_height",
    "tile_at",
]
