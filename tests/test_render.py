"""Offscreen frames: the camera keeps the character in view wherever the ground lies."""

import numpy as np
import pytest

from protomotions.robot import smpl
from protomotions.simulator.mujoco import render
from protomotions.simulator.mujoco.render import FrameRenderer
from protomotions.terrain.base import Terrain


def standing_qpos(x: float, y: float, ground: float) -> np.ndarray:
    qpos = np.zeros(7 + smpl.NUM_DOFS)
    qpos[:3] = [x, y, ground + smpl.default_root_height()]
    qpos[3] = 1.0
    return qpos


def character_rows(frame: np.ndarray) -> np.ndarray:
    """Image rows holding the humanoid's red or blue limbs (the ground is grey, the sky black)."""
    r, g, b = (frame[..., k].astype(int) for k in range(3))
    limbs = ((r - g > 60) & (r - b > 60)) | ((b - r > 60) & (b - g > 30))
    return np.nonzero(limbs.any(axis=1))[0]


@pytest.mark.parametrize("ground", [0.0, -2.0, 2.5])
def test_character_stays_in_frame_over_low_and_high_ground(ground):
    heights = np.full((161, 161), ground, np.float32)
    heights[::7, ::5] += 0.05  # not a flat plane: the heightfield path of the render model
    terrain = Terrain(heights=heights, horizontal_scale=0.1, spawn_xy=np.zeros((1, 2), np.float32))
    renderer = FrameRenderer(terrain, width=160, height=120)
    try:
        frame = renderer.render(standing_qpos(8.0, 8.0, ground))
    except render.mujoco.FatalError as e:  # no headless GL here (MUJOCO_GL=egl or osmesa); mujoco comes in
        # through protomotions, which picks the headless GL before mujoco loads
        pytest.skip(f"no offscreen OpenGL: {e}")
    finally:
        renderer.close()
    rows = character_rows(frame)
    assert rows.size > 10, "the humanoid is not in the frame"
    # the body spans the middle of the image, not its bottom edge
    assert rows.min() < 60 < rows.max() and rows.max() < 119
