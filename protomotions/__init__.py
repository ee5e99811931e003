"""protomotions: physically simulated SMPL-topology humanoids on MuJoCo."""

import os
import time

# When this process began, as far as the framework can tell: the wall-clock budget of a training run
# (runner.max_wall_seconds) counts from here, so start-up and the first GPU kernel compile (minutes on a
# fresh machine) are inside it and a job with a hard time limit still saves before it is killed.
PROCESS_START = time.monotonic()

# Headless rendering must be chosen before anything imports mujoco. EGL renders offscreen on GPU
# drivers and on Mesa's software EGL alike; set MUJOCO_GL=osmesa to use OSMesa instead.
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])
