"""Offscreen frames of one env of a MuJoCo-backed simulation, with task markers.

Rendering a large heightfield costs seconds per frame in software GL, so frames come from a
separate *render model*: the same humanoid over a cropped patch of the terrain around the
character (re-cropped when it walks away). The physics model is never touched. Headless GL:
``MUJOCO_GL`` defaults to ``egl`` (set in ``protomotions/__init__.py`` before MuJoCo loads); ``osmesa``
(``apt-get install libosmesa6``) also works.
"""

from __future__ import annotations

import mujoco
import numpy as np
import torch

from protomotions.robot.mjcf import ASSET_PATH
from protomotions.simulator.mujoco.scene import build_model
from protomotions.terrain.base import Terrain

PATCH_HALF_SIZE_M = 8.0
RECROP_DISTANCE_M = 4.0


class FrameRenderer:
    """Renders qpos snapshots (MuJoCo layout) of our humanoid over a terrain patch."""

    def __init__(self, terrain: Terrain | None, width: int = 640, height: int = 480) -> None:
        self.terrain, self.width, self.height = terrain, width, height
        self._patch_center: np.ndarray | None = None
        self._renderer: mujoco.Renderer | None = None
        self.camera = mujoco.MjvCamera()
        self.camera.type = mujoco.mjtCamera.mjCAMERA_FREE
        self.camera.azimuth, self.camera.elevation, self.camera.distance = 135.0, -15.0, 4.0

    def _build(self, center_xy: np.ndarray) -> None:
        patch, shift = self._crop(center_xy)
        model = build_model(ASSET_PATH, patch)
        model.vis.global_.offwidth = max(model.vis.global_.offwidth, self.width)
        model.vis.global_.offheight = max(model.vis.global_.offheight, self.height)
        model.vis.headlight.ambient[:] = 0.45
        model.vis.headlight.diffuse[:] = 0.5
        model.geom_pos[mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, "ground")][:2] += shift
        if self._renderer is not None:
            self._renderer.close()
        self.model, self.data = model, mujoco.MjData(model)
        self._renderer = mujoco.Renderer(model, height=self.height, width=self.width)
        self._patch_center = center_xy.copy()

    def _crop(self, center_xy: np.ndarray) -> tuple[Terrain | None, np.ndarray]:
        t = self.terrain
        if t is None or t.is_flat:
            return None, np.zeros(2)
        hs = t.horizontal_scale
        nx, ny = t.heights.shape
        half = int(PATCH_HALF_SIZE_M / hs)
        i0 = int(np.clip(round(center_xy[0] / hs) - half, 0, max(nx - 2 * half - 1, 0)))
        j0 = int(np.clip(round(center_xy[1] / hs) - half, 0, max(ny - 2 * half - 1, 0)))
        heights = t.heights[i0 : i0 + 2 * half + 1, j0 : j0 + 2 * half + 1]
        return Terrain(heights=heights, horizontal_scale=hs, spawn_xy=np.zeros((1, 2), np.float32)), np.array([i0 * hs, j0 * hs])

    def render(self, qpos: np.ndarray, markers: list[dict] | None = None) -> np.ndarray:
        """RGB frame (H, W, 3) uint8 of the humanoid at ``qpos`` (root pos, wxyz quat, 69 hinges)."""
        root_xy = np.asarray(qpos[:2], dtype=np.float64)
        if self._patch_center is None or np.linalg.norm(root_xy - self._patch_center) > RECROP_DISTANCE_M:
            self._build(root_xy)
        self.data.qpos[:] = qpos
        mujoco.mj_kinematics(self.model, self.data)
        # just below the pelvis, but not into the ground when the character lies on it; relative to the
        # ground under it, since complex terrain goes below z = 0 (a fixed floor aimed above such characters)
        self.camera.lookat[:] = [qpos[0], qpos[1], max(float(qpos[2]) - 0.2, self._ground_height(root_xy) + 0.5)]
        self._renderer.update_scene(self.data, camera=self.camera)
        if markers:
            from protomotions.envs.markers import add_markers

            add_markers(self._renderer.scene, markers)
        return self._renderer.render().copy()

    def _ground_height(self, xy: np.ndarray) -> float:
        if self.terrain is None:
            return 0.0
        return float(self.terrain.height_at(torch.as_tensor(xy, dtype=torch.float32)[None])[0])

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None


def render_frame(sim, env_id: int, width: int, height: int, markers=None, distance: float = 4.0) -> np.ndarray:
    """One frame of env ``env_id`` of a :class:`MujocoSimulator` (its renderer is cached on the simulator)."""
    renderer = getattr(sim, "_frame_renderer", None)
    if renderer is None or (renderer.width, renderer.height) != (width, height):
        renderer = FrameRenderer(sim.terrain, width, height)
        sim._frame_renderer = renderer
    renderer.camera.distance = distance
    return renderer.render(sim.datas[env_id].qpos, markers)
