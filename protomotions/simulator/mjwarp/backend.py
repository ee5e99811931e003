"""The one place that imports warp and mujoco_warp, with an error that says what to do."""

from __future__ import annotations

import importlib

# versions this backend was written and tested against (pip install 'protomotions[gpu]')
TESTED = {"warp": "1.19.0", "mujoco_warp": "4.0.0"}
_PIP_NAMES = {"warp": "warp-lang", "mujoco_warp": "mujoco-warp"}


def import_backend():
    """``(warp, mujoco_warp)``, or ImportError naming the missing package and the remedy."""
    mods = []
    for name in ("warp", "mujoco_warp"):
        try:
            mods.append(importlib.import_module(name))
        except ImportError as e:
            raise ImportError(
                f"the 'mjwarp' simulator needs the Python package '{name}' (pip: {_PIP_NAMES[name]}, tested "
                f"{TESTED[name]}), which cannot be imported: {e}. Install the GPU extra: "
                f"pip install 'protomotions[gpu]' (needs an NVIDIA GPU), or use the CPU backend: +simulator=mujoco"
            ) from e
    return tuple(mods)
