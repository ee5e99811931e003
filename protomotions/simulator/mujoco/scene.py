"""Builds the MuJoCo model of one env: the humanoid plus the shared ground or heightfield."""

from __future__ import annotations

import os

import mujoco
import numpy as np

GROUND_RGBA = (0.55, 0.6, 0.55, 1.0)


def build_model(mjcf_path: str | os.PathLike, terrain=None, physics_dt: float = 1.0 / 240.0) -> mujoco.MjModel:
    spec = mujoco.MjSpec.from_file(str(mjcf_path))
    spec.option.timestep = physics_dt
    add_ground(spec, terrain)
    return spec.compile()


def add_ground(spec: mujoco.MjSpec, terrain=None) -> None:
    """A plane for flat terrain, else a heightfield covering the terrain grid."""
    tex = spec.add_texture(name="grid", type=mujoco.mjtTexture.mjTEXTURE_2D, builtin=mujoco.mjtBuiltin.mjBUILTIN_CHECKER,
                           rgb1=[0.45, 0.5, 0.45], rgb2=[0.6, 0.65, 0.6], width=256, height=256)
    del tex
    mat = spec.add_material(name="ground")
    mat.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = "grid"
    mat.texrepeat = [1.0, 1.0]
    mat.texuniform = True
    world = spec.worldbody
    if terrain is None or terrain.is_flat:
        world.add_geom(name="ground", type=mujoco.mjtGeom.mjGEOM_PLANE, size=[0, 0, 0.05], material="ground",
                       condim=3, friction=[1.0, 0.005, 0.0001])
        return
    heights = np.asarray(terrain.heights, dtype=np.float64)
    lo, hi = float(heights.min()), float(heights.max())
    elevation = max(hi - lo, 1e-3)
    nx, ny = heights.shape
    half_x = 0.5 * (nx - 1) * terrain.horizontal_scale
    half_y = 0.5 * (ny - 1) * terrain.horizontal_scale
    # MuJoCo hfields are row-major with rows along y and columns along x
    hfield = spec.add_hfield(name="terrain", nrow=ny, ncol=nx, size=[half_x, half_y, elevation, 1.0])
    hfield.userdata = ((heights.T - lo) / elevation).ravel().tolist()
    world.add_geom(name="ground", type=mujoco.mjtGeom.mjGEOM_HFIELD, hfieldname="terrain", pos=[half_x, half_y, lo],
                   material="ground", condim=3, friction=[1.0, 0.005, 0.0001])
