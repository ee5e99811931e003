"""protomotions: physically simulated SMPL-topology humanoids on MuJoCo."""

import os

# Headless rendering must be chosen before anything imports mujoco. EGL renders offscreen on GPU
# drivers and on Mesa's software EGL alike; set MUJOCO_GL=osmesa to use OSMesa instead.
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])
