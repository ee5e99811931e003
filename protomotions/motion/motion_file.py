"""Motion files: our ``.npy`` clip format, ProtoMotions-v2 SkeletonMotion import, ``.yaml`` lists.

Our format: ``np.save(path, clip_dict)`` of a plain dict (T frames at ``fps``; world Z-up, metres,
radians, quaternions xyzw, bodies in ``smpl.BODY_NAMES`` order, DoFs in ``smpl.DOF_NAMES`` order):

==============  ===========  =====================================================================
key             shape        meaning
==============  ===========  =====================================================================
fps             float        frames per second (30 for shipped clips)
root_pos        (T, 3)       pelvis origin, world, m (== body_pos[:, 0])
root_rot        (T, 4)       pelvis rotation world ← pelvis, xyzw (== body_rot[:, 0]), sign-continuous
dof_pos         (T, 69)      hinge angles, rad, in (−π, π] (x→y→z per joint, see robot/kinematics.py)
dof_vel         (T, 69)      rad/s, central differences of the unwrapped angles
body_pos        (T, 24, 3)   body origins, world, m (our FK of root + dofs)
body_rot        (T, 24, 4)   body rotations world ← body, xyzw
body_vel        (T, 24, 3)   body-origin linear velocity, world, m/s
body_ang_vel    (T, 24, 3)   angular velocity, world frame, rad/s
contacts        (T, 24)      1.0 where a foot body touches the floor (height+slip thresholds), else 0
name, source,   str          clip name; source file(s) and processing; comma-separated labels;
labels, license              licence / acknowledgement note. Other string keys are kept as metadata.
==============  ===========  =====================================================================

Arrays are float32. Reading NEVER uses ``allow_pickle=True``: the pickle inside the ``.npy`` goes
through :class:`RestrictedUnpickler`, which only rebuilds numpy arrays/dtypes/scalars and builtin
containers, so a crafted file cannot run code. Anything else → ``ValueError("not a motion file: …")``.

A ``.yaml`` motion list is ``motions: [{file: relative/or/absolute.npy, weight: 1.0, labels: [...]}]``;
paths are relative to the yaml file.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch
import yaml

from protomotions.robot import kinematics, smpl
from protomotions.utils import rotations as rot

ARRAY_KEYS = ("root_pos", "root_rot", "dof_pos", "dof_vel", "body_pos", "body_rot", "body_vel",
              "body_ang_vel", "contacts")
_SHAPES = {"root_pos": (3,), "root_rot": (4,), "dof_pos": (69,), "dof_vel": (69,), "body_pos": (24, 3),
           "body_rot": (24, 4), "body_vel": (24, 3), "body_ang_vel": (24, 3), "contacts": (24,)}

_ALLOWED_GLOBALS = {
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("builtins", "dict"), ("builtins", "list"), ("builtins", "tuple"), ("builtins", "set"),
    ("builtins", "frozenset"), ("builtins", "bytearray"), ("collections", "OrderedDict"),
}


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that can only rebuild numpy arrays and builtin containers (no code execution)."""

    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        # numpy pickles dtypes of arrays as e.g. numpy.dtypes.Float32DType in numpy ≥ 2
        if module == "numpy.dtypes" and name.endswith("DType"):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"global '{module}.{name}' is not allowed in a motion file")


def load_npy_dict(path: str | Path) -> dict:
    """Read an ``np.save``-d dict safely (see module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Motion file not found: {path}")
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, _, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                raise ValueError(f"unsupported .npy format version {version}")
            if dtype != np.dtype(object):
                raise ValueError(f"holds a plain {dtype} array of shape {shape}, not a pickled dict")
            obj = RestrictedUnpickler(f).load()
    except ValueError as e:
        raise ValueError(f"not a motion file: {path}: {e}") from None
    except Exception as e:  # noqa: BLE001 -- truncated/corrupt/forbidden pickles raise many types
        raise ValueError(f"not a motion file: {path}: {type(e).__name__}: {e}") from None
    if isinstance(obj, np.ndarray) and obj.dtype == object and obj.shape == ():
        obj = obj.item()
    if not isinstance(obj, dict):
        raise ValueError(f"not a motion file: {path}: top-level object is {type(obj).__name__}, expected dict")  # noqa: TRY004
    return obj


def save_motion(path: str | Path, clip: dict) -> None:
    validate(clip, path)
    out = {k: (np.ascontiguousarray(v, dtype=np.float32) if k in ARRAY_KEYS else v) for k, v in clip.items()}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    np.save(path, out, allow_pickle=True)  # writing our own dict; reading never unpickles freely


def validate(clip: dict, path: str | Path = "<memory>") -> dict:
    missing = [k for k in ("fps",) + ARRAY_KEYS if k not in clip]
    if missing:
        raise ValueError(f"not a motion file: {path}: missing keys {missing}")
    T = np.shape(clip["root_pos"])[0]
    for k, shape in _SHAPES.items():
        if tuple(np.shape(clip[k])) != (T,) + shape:
            raise ValueError(f"not a motion file: {path}: key {k!r} has shape {np.shape(clip[k])}, "
                             f"expected {(T,) + shape}")
    return clip


def _unwrap_poselib(v):
    """SkeletonMotion stores each tensor as {'arr': ndarray, 'context': {'dtype': ...}}."""
    if isinstance(v, dict) and "arr" in v:
        return np.asarray(v["arr"])
    return v


def from_skeleton_motion(d: dict, path: str | Path = "<memory>") -> dict:
    """ProtoMotions-v2 SkeletonMotion dict (global xyzw rotations) → our clip dict (same fps)."""
    from protomotions.motion.retarget import build_clip  # local import: retarget imports this module's users

    try:
        tree = d["skeleton_tree"]
        names = list(tree["node_names"])
        grot = _unwrap_poselib(d["rotation"]).astype(np.float64)
        root = _unwrap_poselib(d["root_translation"]).astype(np.float64)
        fps = float(np.asarray(d["fps"]))
    except (KeyError, TypeError) as e:
        raise ValueError(f"not a motion file: {path}: SkeletonMotion key missing: {e}") from None
    if d.get("is_local", False):
        raise ValueError(f"not a motion file: {path}: is_local=True SkeletonMotion; expected global rotations")
    missing = [n for n in smpl.BODY_NAMES if n not in names]
    if missing:
        raise ValueError(f"not a motion file: {path}: skeleton lacks SMPL bodies {missing}")
    order = [names.index(n) for n in smpl.BODY_NAMES]
    g = rot.quat_normalize(torch.as_tensor(grot[:, order]))
    dof = kinematics.local_rot_to_dof(kinematics.global_to_local_rot(g))
    # positions come from OUR offsets: the other skeleton's bone lengths are not ours
    meta = {"name": Path(str(path)).stem, "source": f"ProtoMotions-v2 SkeletonMotion {path}"}
    return build_clip(torch.as_tensor(root), g[:, 0], dof, fps, meta)


def load_motion(path: str | Path) -> dict:
    """One clip file (ours or SkeletonMotion) → validated clip dict with float32 arrays."""
    d = load_npy_dict(path)
    if "skeleton_tree" in d and "rotation" in d:
        d = from_skeleton_motion(d, path)
    return validate(d, path)


def load_motion_list(path: str | Path) -> list[tuple[Path, float, dict]]:
    """``.npy`` → [(path, 1.0, {})]; ``.yaml`` → [(resolved path, weight, entry)] (see docstring)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Motion file not found: {path}")
    if path.suffix.lower() not in (".yaml", ".yml"):
        return [(path, 1.0, {})]
    cfg = yaml.safe_load(path.read_text()) or {}
    entries = cfg.get("motions") if isinstance(cfg, dict) else None
    if not entries:
        raise ValueError(f"not a motion file: {path}: a motion yaml needs 'motions: [{{file: ..., weight: ...}}]'")
    out = []
    for e in entries:
        if "file" not in e:
            raise ValueError(f"not a motion file: {path}: entry {e} has no 'file'")
        f = Path(e["file"])
        f = f if f.is_absolute() else path.parent / f
        if not f.is_file():
            raise FileNotFoundError(f"Motion file not found: {f}")
        w = float(e.get("weight", 1.0))
        if w < 0:
            raise ValueError(f"not a motion file: {path}: negative weight {w} for {f}")
        out.append((f, w, e))
    return out
