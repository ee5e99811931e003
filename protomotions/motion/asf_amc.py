"""Minimal Acclaim ASF (skeleton) + AMC (motion) reader/writer, as used by the CMU mocap database.

ASF facts we rely on: ``:units length L`` means one file unit = 1/L inch; angles in degrees unless
``angle rad``. Each bone has a ``direction`` (unit, world rest frame), ``length``, an ``axis`` a b c
ORDER giving its local frame C, and ``dof`` (subset of rx ry rz, in the order the AMC lists values).
The rotation of a bone in its parent is L = C · M · C⁻¹, where M applies the dofs about fixed axes
in the listed order (rx ry rz → M = Rz·Ry·Rx). A bone starts where its parent ends.

We model each bone as a joint at the bone's start, so a joint's offset is its parent bone's
``length · direction`` (0 for the root's children) and the result is a
:class:`~protomotions.motion.skeleton.SourceMotion` in the file's (Y-up) axes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from protomotions.motion.skeleton import INCH_M, SourceMotion, euler_to_quat
from protomotions.utils import rotations as rot

AMC_FPS = 120.0  # CMU AMC files carry no rate; the database is 120 fps


@dataclass
class AsfBone:
    name: str
    direction: np.ndarray
    length: float
    axis_deg: np.ndarray
    axis_order: str
    dofs: list[str]


@dataclass
class AsfSkeleton:
    bones: dict[str, AsfBone]  # includes "root" (length 0)
    parents: dict[str, str]
    order: list[str]  # DFS order, root first
    unit_m: float  # metres per file length unit
    angle_deg: bool
    root_dofs: list[str]


def read_asf(path: str | Path) -> AsfSkeleton:
    path = Path(path)
    sections: dict[str, list[str]] = {}
    current = None
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith(":"):
            key, _, rest = line[1:].partition(" ")
            current = key
            sections.setdefault(key, [])
            if rest.strip():
                sections[key].append(rest.strip())
        elif current is not None:
            sections[current].append(line)
    for need in ("units", "root", "bonedata", "hierarchy"):
        if need not in sections:
            raise ValueError(f"not an ASF file: {path}: missing ':{need}' section")
    units = dict(ln.split()[:2] for ln in sections["units"])
    unit_m = INCH_M / float(units.get("length", 1.0))
    angle_deg = units.get("angle", "deg").startswith("deg")
    root = {ln.split()[0]: ln.split()[1:] for ln in sections["root"]}
    root_dofs = [d.lower() for d in root.get("order", ["TX", "TY", "TZ", "RX", "RY", "RZ"])]
    root_axis = root.get("axis", ["XYZ"])[0]
    bones = {"root": AsfBone("root", np.zeros(3), 0.0, np.array([float(v) for v in root.get("orientation", [0, 0, 0])]),
                             root_axis, [d for d in root_dofs if d.startswith("r")])}
    bone: dict = {}
    for ln in sections["bonedata"]:
        parts = ln.split()
        if parts[0] == "begin":
            bone = {}
        elif parts[0] == "end":
            b = AsfBone(bone["name"], np.array(bone["direction"], float), float(bone["length"]),
                        np.array(bone["axis"][:3], float), bone["axis"][3], bone.get("dof", []))
            bones[b.name] = b
        elif parts[0] in ("name", "direction", "length", "axis", "dof"):
            bone[parts[0]] = parts[1] if parts[0] in ("name", "length") else parts[1:]
    parents: dict[str, str] = {}
    for ln in sections["hierarchy"]:
        parts = ln.split()
        if parts[0] in ("begin", "end"):
            continue
        for child in parts[1:]:
            parents[child] = parts[0]
    order: list[str] = []

    def visit(name: str) -> None:
        order.append(name)
        for child in [c for c, p in parents.items() if p == name]:
            visit(child)

    visit("root")
    missing = [b for b in order if b not in bones]
    if missing:
        raise ValueError(f"not an ASF file: {path}: hierarchy names bones without bonedata: {missing}")
    return AsfSkeleton(bones, parents, order, unit_m, angle_deg, root_dofs)


def read_amc(path: str | Path) -> list[dict[str, np.ndarray]]:
    """Raw per-frame values: a list (frames) of {bone: values in dof order}."""
    frames: list[dict[str, np.ndarray]] = []
    for raw in Path(path).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ":")):
            continue
        parts = line.split()
        if parts[0].isdigit() and len(parts) == 1:
            frames.append({})
        elif frames:
            frames[-1][parts[0]] = np.array([float(v) for v in parts[1:]])
        else:
            raise ValueError(f"not an AMC file: {path}: values before the first frame number: {line!r}")
    if not frames:
        raise ValueError(f"not an AMC file: {path}: no frames")
    return frames


def write_amc(path: str | Path, frames: list[dict[str, np.ndarray]]) -> None:
    out = [":FULLY-SPECIFIED", ":DEGREES"]
    for i, fr in enumerate(frames, 1):
        out.append(str(i))
        out += [name + " " + " ".join(f"{v:.6g}" for v in vals) for name, vals in fr.items()]
    Path(path).write_text("\n".join(out) + "\n")


def to_source_motion(skel: AsfSkeleton, frames: list[dict[str, np.ndarray]], fps: float = AMC_FPS,
                     source: str = "") -> SourceMotion:
    """Combine skeleton + raw frames into a SourceMotion (file axes, metres)."""
    names = skel.order
    index = {n: i for i, n in enumerate(names)}
    parents = [index[skel.parents[n]] if n != "root" else -1 for n in names]
    offsets = np.zeros((len(names), 3))
    for j, n in enumerate(names):
        if n != "root":
            pb = skel.bones[skel.parents[n]]
            offsets[j] = pb.direction * pb.length * skel.unit_m
    T = len(frames)
    local_rot = np.zeros((T, len(names), 4))
    local_rot[..., 3] = 1.0
    root_pos = np.zeros((T, 3))
    scale = 1.0 if skel.angle_deg else 180.0 / np.pi
    for j, n in enumerate(names):
        bone = skel.bones[n]
        if n == "root":
            vals = np.stack([fr["root"] for fr in frames])
            for k, d in enumerate(skel.root_dofs):
                if d.startswith("t"):
                    root_pos[:, "xyz".index(d[1])] = vals[:, k] * skel.unit_m
            rdofs = [(k, d) for k, d in enumerate(skel.root_dofs) if d.startswith("r")]
        else:
            if not bone.dofs:
                continue
            vals = np.stack([fr.get(n, np.zeros(len(bone.dofs))) for fr in frames])
            rdofs = list(enumerate(bone.dofs))
        angles = vals[:, [k for k, _ in rdofs]] * scale
        # fixed-axis application in the listed order = intrinsic product in reverse order
        m = euler_to_quat(angles[:, ::-1], "".join(d[1] for _, d in rdofs)[::-1])
        c = euler_to_quat(bone.axis_deg[::-1][None], bone.axis_order.lower()[::-1])
        c_t = torch.as_tensor(c, dtype=torch.float64).expand(T, 4)
        local = rot.quat_mul(rot.quat_mul(c_t, torch.as_tensor(m)), rot.quat_conjugate(c_t))
        local_rot[:, j] = local.numpy()
    return SourceMotion(names, parents, offsets, local_rot, root_pos, fps, source)


def read_asf_amc(asf_path: str | Path, amc_path: str | Path, fps: float = AMC_FPS) -> SourceMotion:
    return to_source_motion(read_asf(asf_path), read_amc(amc_path), fps, str(amc_path))
