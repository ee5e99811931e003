"""Headless frames of one MuJoCo Warp world through MuJoCo's CPU renderer.

Rendering is off the hot path: it copies one world's qpos to a host MjData, so the picture is
exactly the batched state. Uses whatever ``MUJOCO_GL`` selects (egl or osmesa when headless).
"""

from __future__ import annotations

import mujoco
import numpy as np

MARKER_RADIUS = 0.04
MARKER_RGBA = np.array([0.9, 0.2, 0.2, 0.8], dtype=np.float32)


def render_world(
    sim, env_id: int, width: int, height: int, markers=None, distance: float = 4.0
) -> np.ndarray:
    """(height, width, 3) uint8 of world ``env_id``; ``markers`` (K, 3) world points drawn as spheres."""
    cache = getattr(sim, "_render_cache", None)
    if cache is None or cache[0].width != width or cache[0].height != height:
        renderer = mujoco.Renderer(sim.mj_model, height=height, width=width)
        cache = (renderer, mujoco.MjData(sim.mj_model))
        sim._render_cache = cache
    renderer, data = cache
    data.qpos[:] = sim._qpos[env_id].detach().cpu().double().numpy()
    mujoco.mj_forward(sim.mj_model, data)
    cam = mujoco.MjvCamera()
    cam.type = mujoco.mjtCamera.mjCAMERA_FREE
    cam.lookat[:] = data.xpos[sim._root_body]
    cam.distance, cam.azimuth, cam.elevation = distance, 90.0, -15.0
    renderer.update_scene(data, camera=cam)
    if markers is not None:
        scene = renderer.scene
        for p in np.asarray(markers, dtype=np.float64).reshape(-1, 3):
            if scene.ngeom >= scene.maxgeom:
                break
            mujoco.mjv_initGeom(
                scene.geoms[scene.ngeom],
                mujoco.mjtGeom.mjGEOM_SPHERE,
                np.full(3, MARKER_RADIUS),
                p,
                np.eye(3).ravel(),
                MARKER_RGBA,
            )
            scene.ngeom += 1
    return renderer.render()
