"""Kinematic, headless preview of a motion clip: ``python -m protomotions.motion.render FILE out.mp4``.

Poses our MJCF humanoid frame by frame (``mj_kinematics``, no physics) over a checker floor with a
camera that follows the pelvis from the humanoid's left-front, and writes an mp4 with imageio.

Headless GL: ``protomotions`` defaults ``MUJOCO_GL`` to ``egl`` (Mesa's software EGL on a CPU machine:
``apt-get install libegl1 libegl-mesa0``); ``MUJOCO_GL=osmesa`` needs ``libosmesa6`` and renders
~4-6 frames/s at 320×240 on the 2-core CPU box.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import mujoco
import numpy as np

from protomotions.motion.motion_file import load_motion
from protomotions.robot.mjcf import ASSET_PATH

_SCENE_ASSETS = """
  <asset>
    <texture name="grid" type="2d" builtin="checker" rgb1=".55 .58 .62" rgb2=".40 .43 .47" width="512" height="512"/>
    <material name="grid" texture="grid" texrepeat="40 40" reflectance="0.05"/>
  </asset>
  <visual><global offwidth="1280" offheight="960"/><headlight ambient=".45 .45 .45" diffuse=".5 .5 .5"/></visual>
"""
_FLOOR = '<geom name="floor" type="plane" size="40 40 0.1" material="grid" contype="0" conaffinity="0"/>'


def scene_model() -> mujoco.MjModel:
    """Our humanoid plus a visual floor (the asset itself has none: simulators add terrain)."""
    xml = Path(ASSET_PATH).read_text()
    xml = xml.replace("<worldbody>", _SCENE_ASSETS + "  <worldbody>\n    " + _FLOOR, 1)
    return mujoco.MjModel.from_xml_string(xml)


def render_frames(clip: dict, width: int = 480, height: int = 360, every: int = 1,
                  azimuth: float = 135.0, distance: float = 3.2):
    """Yields RGB frames (H, W, 3) uint8 of the clip, one per ``every`` frames."""
    model = scene_model()
    data = mujoco.MjData(model)
    cam = mujoco.MjvCamera()
    cam.type = mujoco.mjtCamera.mjCAMERA_FREE
    cam.distance, cam.azimuth, cam.elevation = distance, azimuth, -12.0
    renderer = mujoco.Renderer(model, height=height, width=width)
    try:
        root_pos, root_rot, dof = clip["root_pos"], clip["root_rot"], clip["dof_pos"]
        for t in range(0, len(root_pos), every):
            data.qpos[:3] = root_pos[t]
            data.qpos[3:7] = np.roll(root_rot[t], 1)  # xyzw → MuJoCo wxyz
            data.qpos[7:] = dof[t]
            mujoco.mj_kinematics(model, data)
            cam.lookat[:] = [root_pos[t][0], root_pos[t][1], 0.8]  # follow the pelvis, fixed height
            renderer.update_scene(data, camera=cam)
            yield renderer.render().copy()
    finally:
        renderer.close()


def render_clip(motion_path: str | Path, out_path: str | Path, width: int = 480, height: int = 360) -> int:
    import imageio.v2 as imageio

    clip = load_motion(motion_path)
    fps = float(clip["fps"])
    n = 0
    with imageio.get_writer(str(out_path), fps=fps, codec="libx264", quality=6, macro_block_size=8) as w:
        for frame in render_frames(clip, width, height):
            w.append_data(frame)
            n += 1
    return n


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("motion_file")
    p.add_argument("out_mp4")
    p.add_argument("--width", type=int, default=480)
    p.add_argument("--height", type=int, default=360)
    a = p.parse_args(argv)
    n = render_clip(a.motion_file, a.out_mp4, a.width, a.height)
    print(f"wrote {a.out_mp4}: {n} frames")
    return 0


if __name__ == "__main__":
    sys.exit(main())
