"""Task markers (command arrows, path polylines) drawn as MuJoCo user geoms.

Task envs return markers from ``env.markers(env_id)`` as plain dicts (world frame, metres):

- ``{"type": "arrow" | "capsule" | "line", "from": [x, y, z], "to": [x, y, z], "width": w, "rgba": [r, g, b, a]}``
- ``{"type": "sphere", "pos": [x, y, z], "size": radius, "rgba": [r, g, b, a]}``

A renderer calls :func:`add_markers` after ``mujoco.mjv_updateScene`` and before
``mujoco.mjr_render``, with the *world* positions shifted by the rendered env's offset if the
scene places envs apart (our MuJoCo backend simulates each env in its own model, so no offset).
"""

from __future__ import annotations

import mujoco
import numpy as np

_CONNECTORS = {
    "arrow": mujoco.mjtGeom.mjGEOM_ARROW,
    "capsule": mujoco.mjtGeom.mjGEOM_CAPSULE,
    "line": mujoco.mjtGeom.mjGEOM_LINE,
}
_IDENTITY = np.eye(3).flatten()
_MIN_LENGTH = 1e-6  # a zero-length connector has no direction; skip it


def add_markers(scene: mujoco.MjvScene, markers: list[dict], offset=(0.0, 0.0, 0.0)) -> int:
    """Append ``markers`` to ``scene`` as user geoms; returns how many were added.

    Stops quietly when the scene is full (``scene.maxgeom``) so a long path never crashes a render.
    ``offset`` (3,) is added to every position.
    """
    shift = np.asarray(offset, dtype=np.float64)
    added = 0
    for m in markers:
        if scene.ngeom >= scene.maxgeom:
            break
        kind = m.get("type")
        rgba = np.asarray(m.get("rgba", (1.0, 1.0, 1.0, 1.0)), dtype=np.float32)
        geom = scene.geoms[scene.ngeom]
        if kind == "sphere":
            r = float(m.get("size", 0.05))
            pos = np.asarray(m["pos"], dtype=np.float64) + shift
            mujoco.mjv_initGeom(geom, mujoco.mjtGeom.mjGEOM_SPHERE, np.array([r, r, r]), pos, _IDENTITY, rgba)
        elif kind in _CONNECTORS:
            start = np.asarray(m["from"], dtype=np.float64) + shift
            end = np.asarray(m["to"], dtype=np.float64) + shift
            if np.linalg.norm(end - start) < _MIN_LENGTH:
                continue
            mujoco.mjv_initGeom(geom, _CONNECTORS[kind], np.zeros(3), np.zeros(3), _IDENTITY, rgba)
            mujoco.mjv_connector(geom, _CONNECTORS[kind], float(m.get("width", 0.02)), start, end)
        else:
            raise ValueError(f"marker type {kind!r}: use one of {sorted(_CONNECTORS) + ['sphere']}")
        geom.category = mujoco.mjtCatBit.mjCAT_DECOR
        scene.ngeom += 1
        added += 1
    return added
