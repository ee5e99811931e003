"""A source (mocap) skeleton plus motion, in metres and Z-up, shared by the BVH and ASF/AMC parsers.

Conventions of :class:`SourceMotion` (J joints, T frames):
    names (J,) joint names; parents (J,) parent index, -1 for the root (index 0)
    offsets (J, 3) m: each joint's rest position relative to its parent, in the parent's frame.
        In the rest pose every global rotation is identity, so offsets are also world directions.
    local_rot (T, J, 4) xyzw parent ← joint; root_pos (T, 3) m world; fps frames per second.

CMU data is Y-up with the subject facing +Z and its left towards +X. Our world is Z-up, facing +x,
left +y, so a source vector (x, y, z) becomes (z, x, y): a cyclic axis permutation, i.e. a proper
rotation, so quaternions convert by permuting their vector part the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from protomotions.utils import rotations as rot

INCH_M = 0.0254


def yup_to_zup(v: np.ndarray) -> np.ndarray:
    """(..., 3) Y-up (facing +Z) vectors → Z-up (facing +x)."""
    return np.stack([v[..., 2], v[..., 0], v[..., 1]], axis=-1)


def zup_to_yup(v: np.ndarray) -> np.ndarray:
    return np.stack([v[..., 1], v[..., 2], v[..., 0]], axis=-1)


def quat_yup_to_zup(q: np.ndarray) -> np.ndarray:
    """(..., 4) xyzw rotations expressed in Y-up axes → the same rotations in Z-up axes."""
    return np.concatenate([yup_to_zup(q[..., :3]), q[..., 3:]], axis=-1)


def quat_zup_to_yup(q: np.ndarray) -> np.ndarray:
    return np.concatenate([zup_to_yup(q[..., :3]), q[..., 3:]], axis=-1)


_AXES = {"x": 0, "y": 1, "z": 2}


def euler_to_quat(angles_deg: np.ndarray, axes: str) -> np.ndarray:
    """(..., k) degrees about ``axes`` (e.g. "zyx") → xyzw of R = R_axes[0] · R_axes[1] · …

    This is the *intrinsic* reading (the first listed axis is outermost), which is how BVH channels
    compose. For fixed-axis orders (ASF/AMC) pass the axes reversed.
    """
    a = torch.as_tensor(np.deg2rad(angles_deg), dtype=torch.float64)
    q = rot.quat_identity(a.shape[:-1], dtype=torch.float64)
    eye = torch.eye(3, dtype=torch.float64)
    for k, ax in enumerate(axes.lower()):
        qa = rot.quat_from_axis_angle(eye[_AXES[ax]].expand(*a.shape[:-1], 3), a[..., k])
        q = rot.quat_mul(q, qa)
    return q.numpy()


@dataclass
class SourceMotion:
    names: list[str]
    parents: list[int]
    offsets: np.ndarray
    local_rot: np.ndarray
    root_pos: np.ndarray
    fps: float
    source: str = ""
    meta: dict = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return self.local_rot.shape[0]

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f"joint {name!r} not in skeleton of {self.source or 'source motion'}; "
                           f"joints are {self.names}") from None

    def to_zup(self) -> SourceMotion:
        """Y-up CMU axes → our Z-up axes (see module docstring)."""
        return SourceMotion(self.names, self.parents, yup_to_zup(self.offsets), quat_yup_to_zup(self.local_rot),
                            yup_to_zup(self.root_pos), self.fps, self.source, dict(self.meta))

    def slice(self, start: int, stop: int | None = None) -> SourceMotion:
        return SourceMotion(self.names, self.parents, self.offsets, self.local_rot[start:stop],
                            self.root_pos[start:stop], self.fps, self.source, dict(self.meta))

    def fk(self, local_rot: np.ndarray | None = None, root_pos: np.ndarray | None = None):
        """Global joint positions (T, J, 3) and rotations (T, J, 4); rest pose if local_rot is 'rest'."""
        lr = torch.as_tensor(self.local_rot if local_rot is None else local_rot, dtype=torch.float64)
        rp = torch.as_tensor(self.root_pos if root_pos is None else root_pos, dtype=torch.float64)
        off = torch.as_tensor(self.offsets, dtype=torch.float64)
        pos, quats = [], []
        for j, p in enumerate(self.parents):
            if p < 0:
                pos.append(rp + rot.quat_rotate(lr[:, j], off[j].expand_as(rp)))
                quats.append(lr[:, j])
            else:
                pos.append(pos[p] + rot.quat_rotate(quats[p], off[j].expand_as(rp)))
                quats.append(rot.quat_mul(quats[p], lr[:, j]))
        return torch.stack(pos, 1).numpy(), torch.stack(quats, 1).numpy()

    def rest_positions(self) -> np.ndarray:
        """(J, 3) joint positions in the rest pose with the root at the origin."""
        pos = np.zeros((len(self.names), 3))
        for j, p in enumerate(self.parents):
            pos[j] = self.offsets[j] + (pos[p] if p >= 0 else 0.0)
        return pos

    def resample(self, fps: float) -> SourceMotion:
        """Resample to ``fps`` (slerp local rotations, lerp root) over the same time span."""
        if abs(fps - self.fps) < 1e-9:
            return self
        duration = (self.num_frames - 1) / self.fps
        n = int(np.floor(duration * fps + 1e-9)) + 1
        f = np.arange(n) * (self.fps / fps)
        i0 = np.minimum(np.floor(f).astype(np.int64), self.num_frames - 1)
        i1 = np.minimum(i0 + 1, self.num_frames - 1)
        a = torch.as_tensor(f - i0, dtype=torch.float64)
        lr = torch.as_tensor(self.local_rot, dtype=torch.float64)
        q = rot.quat_slerp(lr[i0], lr[i1], a[:, None].expand(n, lr.shape[1]))
        root = self.root_pos[i0] + (f - i0)[:, None] * (self.root_pos[i1] - self.root_pos[i0])
        return SourceMotion(self.names, self.parents, self.offsets, q.numpy(), root, fps, self.source, dict(self.meta))
