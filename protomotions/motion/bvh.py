"""Minimal BVH reader/writer (the CMU "cgspeed" flavour and any file with the same grammar).

``read_bvh(path)`` → :class:`~protomotions.motion.skeleton.SourceMotion` in the file's own axes
(call ``.to_zup()`` for CMU's Y-up files). Rotation channels compose intrinsically in the order
listed (``Zrotation Yrotation Xrotation`` → R = Rz·Ry·Rx), in degrees. ``End Site`` blocks are
skipped. Lengths are multiplied by ``scale`` (default: CMU cgspeed unit ≈ 0.056444 m).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from protomotions.motion.skeleton import SourceMotion, euler_to_quat
from protomotions.utils import rotations as rot

CGSPEED_UNIT_M = 0.056444  # cgspeed BVH length unit (README of shared/data/cmu_bvh)


def _tokens(text: str):
    for line_no, line in enumerate(text.splitlines(), 1):
        for tok in line.split():
            yield line_no, tok


def read_bvh(path: str | Path, scale: float = CGSPEED_UNIT_M, drop_first_frame: bool = False) -> SourceMotion:
    """Parse ``path``. ``drop_first_frame`` removes the cgspeed reference pose (frame 0)."""
    path = Path(path)
    text = path.read_text()
    head, sep, motion = text.partition("MOTION")
    if not sep or not head.lstrip().startswith("HIERARCHY"):
        raise ValueError(f"not a BVH file: {path}: expected 'HIERARCHY' ... 'MOTION' sections")
    names, parents, offsets, channels = [], [], [], []
    stack: list[int] = []
    toks = list(_tokens(head))
    i, in_end_site, pending = 1, 0, None
    while i < len(toks):
        line_no, tok = toks[i]
        if tok in ("ROOT", "JOINT"):
            pending = toks[i + 1][1]
            i += 2
        elif tok == "End":  # "End Site { OFFSET ... }" carries no channels
            in_end_site = 1
            i += 2
        elif tok == "{":
            if in_end_site:
                in_end_site += 1
            else:
                names.append(pending)
                parents.append(stack[-1] if stack else -1)
                offsets.append([0.0, 0.0, 0.0])
                channels.append([])
                stack.append(len(names) - 1)
            i += 1
        elif tok == "}":
            if in_end_site:
                in_end_site = 0 if in_end_site == 2 else in_end_site - 1
            else:
                stack.pop()
            i += 1
        elif tok == "OFFSET":
            vals = [float(t) for _, t in toks[i + 1:i + 4]]
            if not in_end_site:
                offsets[-1 if not stack else stack[-1]] = vals
            i += 4
        elif tok == "CHANNELS":
            n = int(toks[i + 1][1])
            channels[stack[-1]] = [t for _, t in toks[i + 2:i + 2 + n]]
            i += 2 + n
        else:
            raise ValueError(f"not a BVH file: {path}: unexpected token {tok!r} on line {line_no}")
    lines = [ln for ln in motion.splitlines() if ln.strip()]
    n_frames = int(lines[0].split(":")[1])
    frame_time = float(lines[1].split(":")[1])
    data = np.array([[float(v) for v in ln.split()] for ln in lines[2:2 + n_frames]], dtype=np.float64)
    n_ch = sum(len(c) for c in channels)
    if data.shape != (n_frames, n_ch):
        raise ValueError(f"not a BVH file: {path}: expected {n_frames} frames × {n_ch} channels, got {data.shape}")
    if drop_first_frame:
        data = data[1:]
    local_rot = np.zeros((len(data), len(names), 4))
    root_pos = np.zeros((len(data), 3))
    col = 0
    for j, chans in enumerate(channels):
        rot_axes = "".join(c[0].lower() for c in chans if c.endswith("rotation"))
        rot_cols = [col + k for k, c in enumerate(chans) if c.endswith("rotation")]
        for k, c in enumerate(chans):
            if c.endswith("position") and j == 0:
                root_pos[:, "XYZ".index(c[0])] = data[:, col + k] * scale
        local_rot[:, j] = euler_to_quat(data[:, rot_cols], rot_axes) if rot_cols else [0, 0, 0, 1]
        col += len(chans)
    if not any(c.endswith("position") for c in channels[0]):
        root_pos[:] = np.asarray(offsets[0]) * scale
    offs = np.asarray(offsets, dtype=np.float64) * scale
    offs[0] = 0.0  # the root offset is absorbed by the position channels
    fps = round(1.0 / frame_time, 2)  # "Frame Time: .0083333" → 120.0, not 120.0005
    return SourceMotion(names, parents, offs, local_rot, root_pos, fps, str(path),
                        {"channels": channels})


def _quat_to_zyx_deg(q: np.ndarray) -> np.ndarray:
    """xyzw → intrinsic (z, y, x) degrees with R = Rz(z)·Ry(y)·Rx(x)."""
    m = rot.quat_to_matrix(torch.as_tensor(q, dtype=torch.float64)).numpy()
    y = np.arcsin(np.clip(-m[..., 2, 0], -1, 1))
    z = np.arctan2(m[..., 1, 0], m[..., 0, 0])
    x = np.arctan2(m[..., 2, 1], m[..., 2, 2])
    return np.rad2deg(np.stack([z, y, x], -1))


def write_bvh(path: str | Path, motion: SourceMotion, scale: float = CGSPEED_UNIT_M) -> None:
    """Write ``motion`` (file axes, metres) with CMU's channel layout (root XYZ position + ZYX rotation)."""
    children: dict[int, list[int]] = {j: [] for j in range(len(motion.names))}
    for j, p in enumerate(motion.parents):
        if p >= 0:
            children[p].append(j)
    out = ["HIERARCHY"]

    def emit(j: int, depth: int) -> None:
        pad = "\t" * depth
        out.append(f"{pad}{'ROOT' if j == 0 else 'JOINT'} {motion.names[j]}")
        out.append(f"{pad}{{")
        off = motion.offsets[j] / scale
        out.append(f"{pad}\tOFFSET {off[0]:.6f} {off[1]:.6f} {off[2]:.6f}")
        chans = "6 Xposition Yposition Zposition " if j == 0 else "3 "
        out.append(f"{pad}\tCHANNELS {chans}Zrotation Yrotation Xrotation")
        for c in children[j]:
            emit(c, depth + 1)
        out.append(f"{pad}}}")

    emit(0, 0)
    eul = _quat_to_zyx_deg(motion.local_rot).reshape(motion.num_frames, -1)
    frames = np.concatenate([motion.root_pos / scale, eul], axis=1)
    out += ["MOTION", f"Frames: {motion.num_frames}", f"Frame Time: {1.0 / motion.fps:.7f}"]
    out += [" ".join(f"{v:.6f}" for v in row) for row in frames]
    Path(path).write_text("\n".join(out) + "\n")
