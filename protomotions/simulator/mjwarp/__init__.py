"""MuJoCo Warp (GPU) backend: every env is one world of a single batched MuJoCo Warp model.

Nothing here imports warp or mujoco_warp until :class:`MjwarpSimulator` is asked for, so
``import protomotions.simulator.mjwarp`` works on machines without them; the attribute access
(or ``import protomotions.simulator.mjwarp.simulator``) raises an ``ImportError`` that names
the missing package and the remedy.
"""

from __future__ import annotations

__all__ = ["MjwarpSimulator"]


def __getattr__(name: str):
    if name == "MjwarpSimulator":
        from protomotions.simulator.mjwarp.simulator import MjwarpSimulator

        return MjwarpSimulator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
