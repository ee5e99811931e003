"""Retarget a CMU mocap :class:`SourceMotion` (Z-up, metres) onto our SMPL-topology humanoid.

Method (per frame, batched over frames):
1. resample the source to 30 fps (slerp local rotations, lerp root);
2. source FK → global joint rotations S_j;
3. rest-pose alignment: for each of our bodies b mapped to source joint j, a constant A_b rotates our
   rest bone direction (b → its first child) onto the source's rest bone direction (j → the joint
   mapped to that child). Our global rotation is G_b = S_j · A_b, so when the source stands in its
   rest pose (CMU: legs splayed 20°) ours does too, and any source pose moves our bones the same way.
   Bodies without a usable direction (pelvis, toes, head, hands, zero-length source bones) use A = I;
4. local rotations G_parent⁻¹ G_b → hinge angles (x→y→z, small-angle branch), clamped to the joint
   ranges; root translation = source root × (our leg length / source leg length);
5. ground: per frame, the lowest foot-geom point is put on z = 0 whenever a foot is near the floor;
   flight phases (runs) interpolate that correction, then it is smoothed without ever penetrating.
   The horizontal root path is the source's, scaled, and never adjusted to pin stance feet: per-frame
   pinning removed little skate but put 40-145 m/s² spikes into the root's acceleration, which the
   physics tracker cannot follow (a run's reference dropped from 3.8 to 0.5 m/s in two frames);
6. FK (our kinematics) → body positions/rotations, finite-difference velocities, contact labels.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from protomotions.motion import contacts
from protomotions.motion.skeleton import SourceMotion
from protomotions.robot import kinematics, smpl
from protomotions.utils import rotations as rot

TARGET_FPS = 30.0
JOINT_LIMIT_RAD = math.radians(smpl.JOINT_RANGE_DEG)

# our body → source joint. Source joints sit where a segment starts; our body b's rotation drives the
# segment b → child, so each entry maps segments that play the same role.
CMU_BVH_MAP = {
    "Pelvis": "Hips", "L_Hip": "LeftUpLeg", "L_Knee": "LeftLeg", "L_Ankle": "LeftFoot", "L_Toe": "LeftToeBase",
    "R_Hip": "RightUpLeg", "R_Knee": "RightLeg", "R_Ankle": "RightFoot", "R_Toe": "RightToeBase",
    "Torso": "LowerBack", "Spine": "Spine", "Chest": "Spine1", "Neck": "Neck1", "Head": "Head",
    "L_Thorax": "LeftShoulder", "L_Shoulder": "LeftArm", "L_Elbow": "LeftForeArm", "L_Wrist": "LeftHand",
    "L_Hand": "LeftFingerBase", "R_Thorax": "RightShoulder", "R_Shoulder": "RightArm",
    "R_Elbow": "RightForeArm", "R_Wrist": "RightHand", "R_Hand": "RightFingerBase",
}
# ASF: radius+wrist bones are the forearm (the "wrist" bone only twists), the hand bone starts at the
# real wrist joint; thorax carries the clavicles, upperneck is the neck proper.
CMU_ASF_MAP = {
    "Pelvis": "root", "L_Hip": "lfemur", "L_Knee": "ltibia", "L_Ankle": "lfoot", "L_Toe": "ltoes",
    "R_Hip": "rfemur", "R_Knee": "rtibia", "R_Ankle": "rfoot", "R_Toe": "rtoes",
    "Torso": "lowerback", "Spine": "upperback", "Chest": "thorax", "Neck": "upperneck", "Head": "head",
    "L_Thorax": "lclavicle", "L_Shoulder": "lhumerus", "L_Elbow": "lradius", "L_Wrist": "lhand",
    "L_Hand": "lfingers", "R_Thorax": "rclavicle", "R_Shoulder": "rhumerus", "R_Elbow": "rradius",
    "R_Wrist": "rhand", "R_Hand": "rfingers",
}
_NO_ALIGN = {"Pelvis", "L_Toe", "R_Toe", "Head", "L_Hand", "R_Hand"}


def _first_child(b: int) -> int | None:
    kids = [c for c, p in enumerate(smpl.PARENT_INDICES) if p == b]
    return kids[0] if kids else None


def _min_rotation(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Smallest rotation (xyzw) taking direction u onto direction v (not antiparallel)."""
    u, v = u / np.linalg.norm(u), v / np.linalg.norm(v)
    q = np.concatenate([np.cross(u, v), [1.0 + float(u @ v)]])
    return q / np.linalg.norm(q)


def rest_alignment(src: SourceMotion, mapping: dict[str, str]) -> np.ndarray:
    """(24, 4) constant A_b per body (see module docstring, step 3)."""
    src_rest = src.rest_positions()
    ours = kinematics.body_offsets(torch.float64).numpy()
    out = np.tile([0.0, 0.0, 0.0, 1.0], (smpl.NUM_BODIES, 1))
    for b, name in enumerate(smpl.BODY_NAMES):
        c = _first_child(b)
        if name in _NO_ALIGN or c is None:
            continue
        d_src = src_rest[src.index(mapping[smpl.BODY_NAMES[c]])] - src_rest[src.index(mapping[name])]
        if np.linalg.norm(d_src) > 1e-6:
            out[b] = _min_rotation(ours[c], d_src)
    return out


def leg_length(src: SourceMotion, mapping: dict[str, str]) -> float:
    p = src.rest_positions()
    hip, knee, ankle = (p[src.index(mapping[n])] for n in ("L_Hip", "L_Knee", "L_Ankle"))
    return float(np.linalg.norm(knee - hip) + np.linalg.norm(ankle - knee))


def our_leg_length() -> float:
    off = kinematics.body_offsets(torch.float64).numpy()
    return float(np.linalg.norm(off[smpl.BODY_NAMES.index("L_Knee")]) + np.linalg.norm(off[smpl.BODY_NAMES.index("L_Ankle")]))


def retarget_pose(src: SourceMotion, mapping: dict[str, str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Source (already at the target fps) → root_pos (T,3), root_rot (T,4), dof_pos (T,69), float64."""
    _, src_rot = src.fk()
    ids = [src.index(mapping[n]) for n in smpl.BODY_NAMES]
    S = torch.as_tensor(src_rot[:, ids], dtype=torch.float64)  # (T, 24, 4)
    A = torch.as_tensor(rest_alignment(src, mapping), dtype=torch.float64)
    G = rot.quat_normalize(rot.quat_mul(S, A.expand_as(S)))
    dof = kinematics.local_rot_to_dof(kinematics.global_to_local_rot(G)).clamp(-JOINT_LIMIT_RAD, JOINT_LIMIT_RAD)
    scale = our_leg_length() / leg_length(src, mapping)
    root_pos = torch.as_tensor(src.root_pos, dtype=torch.float64) * scale
    return root_pos, G[:, 0], dof


def ground_correction(root_pos: torch.Tensor, root_rot: torch.Tensor, dof: torch.Tensor,
                      near_floor_m: float = 0.05, smooth_frames: float = 1.5) -> torch.Tensor:
    """Per-frame vertical shift of the root so the lowest foot point touches z = 0 (see docstring)."""
    body_pos, body_rot = kinematics.forward_kinematics(root_pos, root_rot, dof)
    low = contacts.foot_lowest(body_pos, body_rot).min(-1).values.numpy()  # (T,)
    floor = np.percentile(low, 10)  # the ground level the source stood on, roughly
    support = low < floor + near_floor_m  # frames with a foot on (or near) the floor
    t = np.arange(len(low))
    corr = np.interp(t, t[support], -low[support]) if support.any() else np.full(len(low), -floor)
    if smooth_frames > 0 and len(corr) > 3:
        k = np.arange(-4, 5)
        w = np.exp(-0.5 * (k / smooth_frames) ** 2)
        padded = np.pad(corr, 4, mode="edge")
        corr = np.convolve(padded, w / w.sum(), mode="valid")
    corr = np.maximum(corr, -low)  # smoothing must never push a foot under the floor
    out = root_pos.clone()
    out[:, 2] += torch.as_tensor(corr, dtype=root_pos.dtype)
    return out


def extend_cyclic(root_pos: torch.Tensor, root_rot: torch.Tensor, dof: torch.Tensor, fps: float,
                  min_cycle_s: float = 0.8, max_cycle_s: float = 1.6):
    """Lengthen a steady gait by one cycle: find frames i and i+L (L one gait cycle) whose poses match
    best, then replay frames i.. after frame i+L−1, moved/yawed so frame i lands where i+L was.
    Returns (root_pos, root_rot, dof, info) with T+L frames; info has the seam pose error (rad)."""
    T = dof.shape[0]
    feat = torch.cat([dof, root_pos[:, 2:3] * 4.0], -1)  # root height weighted like ~a quarter radian / cm
    best = (float("inf"), 0, 0)
    for L in range(int(min_cycle_s * fps), min(int(max_cycle_s * fps), T - 2) + 1):
        err = (rot.wrap_to_pi(feat[L:] - feat[:-L])).norm(dim=-1)  # (T-L,)
        err[: T // 8] = float("inf")  # keep away from the clip's start-up frames
        i = int(err.argmin())
        if float(err[i]) < best[0]:
            best = (float(err[i]), i, L)
    err, i, L = best
    dyaw = rot.heading_angle(root_rot[i + L]) - rot.heading_angle(root_rot[i])
    qz = rot.yaw_quat(dyaw).expand(T - i, 4)
    tail_pos = rot.quat_rotate(qz, root_pos[i:] - root_pos[i]) + root_pos[i + L]
    tail_pos[:, 2] = root_pos[i:, 2]
    tail_rot = rot.quat_mul(qz, root_rot[i:])
    out = (torch.cat([root_pos[: i + L], tail_pos]), torch.cat([root_rot[: i + L], tail_rot]),
           torch.cat([dof[: i + L], dof[i:]]))
    return (*out, {"seam_frame": i + L, "cycle_frames": L, "seam_pose_error": err})


def mirror_pose(root_pos: torch.Tensor, root_rot: torch.Tensor, dof: torch.Tensor):
    """Reflect through the x-z plane (left ↔ right). Rx(a)Ry(b)Rz(c) ↦ Rx(−a)Ry(b)Rz(−c) on the
    swapped body, root y ↦ −y and quaternion (x, y, z, w) ↦ (−x, y, −z, w). Applying it twice is identity."""
    pos = root_pos * torch.tensor([1.0, -1.0, 1.0], dtype=root_pos.dtype)
    q = root_rot * torch.tensor([-1.0, 1.0, -1.0, 1.0], dtype=root_rot.dtype)
    ang = dof.reshape(*dof.shape[:-1], smpl.NUM_JOINTS, 3)
    swap = [smpl.MIRROR_BODY_INDICES[b] - 1 for b in range(1, smpl.NUM_BODIES)]
    ang = ang[..., swap, :] * torch.tensor([-1.0, 1.0, -1.0], dtype=dof.dtype)
    return pos, q, ang.reshape(dof.shape)


def build_clip(root_pos: torch.Tensor, root_rot: torch.Tensor, dof: torch.Tensor, fps: float,
               meta: dict[str, str] | None = None) -> dict:
    """Everything a motion file stores (see motion_file.py), float32, from a root + hinge trajectory."""
    root_rot = rot.quat_normalize(root_rot)
    # keep the quaternion sign continuous so finite differences and slerp take the short way
    dots = (root_rot[1:] * root_rot[:-1]).sum(-1)
    flips = torch.cumprod(torch.where(dots < 0, -1.0, 1.0).to(root_rot.dtype), 0)
    root_rot = torch.cat([root_rot[:1], root_rot[1:] * flips[:, None]])
    body_pos, body_rot = kinematics.forward_kinematics(root_pos, root_rot, dof)
    dof_unwrapped = torch.as_tensor(np.unwrap(dof.numpy(), axis=0))
    clip = {
        "fps": float(fps),
        "root_pos": root_pos, "root_rot": root_rot, "dof_pos": dof,
        "dof_vel": kinematics.linear_velocity(dof_unwrapped, fps),
        "body_pos": body_pos, "body_rot": body_rot,
        "body_vel": kinematics.linear_velocity(body_pos, fps),
        "body_ang_vel": kinematics.body_angular_velocity(body_rot, fps),
        "contacts": contacts.contact_labels(body_pos, body_rot, fps),
    }
    clip = {k: (v.numpy().astype(np.float32) if torch.is_tensor(v) else v) for k, v in clip.items()}
    clip.update({k: str(v) for k, v in (meta or {}).items()})
    return clip


def retarget(src: SourceMotion, mapping: dict[str, str], fps: float = TARGET_FPS,
             meta: dict[str, str] | None = None, mirror: bool = False, extra_cycles: int = 0,
             time_scale: float = 1.0, hold_s: float = 0.0) -> dict:
    """Z-up source motion → motion-file dict for our humanoid (optionally its left/right mirror,
    optionally lengthened by ``extra_cycles`` gait cycles with :func:`extend_cyclic`).

    time_scale < 1 plays the capture slower (0.5: half speed, twice as long): the data has no slow
    walks, and the task agents command 0-2 m/s. hold_s > 0 appends the last pose held still for that
    long (a standing stretch after a stop)."""
    if time_scale <= 0.0 or hold_s < 0.0:
        raise ValueError(f"retarget: time_scale={time_scale} must be > 0 and hold_s={hold_s} >= 0")
    root_pos, root_rot, dof = retarget_pose(src.resample(fps / time_scale), mapping)
    meta = dict(meta or {})
    for _ in range(extra_cycles):
        root_pos, root_rot, dof, info = extend_cyclic(root_pos, root_rot, dof, fps)
        meta["source"] = meta.get("source", "") + (f"; +1 gait cycle ({info['cycle_frames']} frames) stitched at "
                                                   f"frame {info['seam_frame']}, seam pose error "
                                                   f"{info['seam_pose_error']:.3f} rad")
    root_pos = ground_correction(root_pos, root_rot, dof)
    hold = round(hold_s * fps)
    if hold:
        root_pos, root_rot, dof = (torch.cat([x, x[-1:].expand(hold, *x.shape[1:])]) for x in (root_pos, root_rot, dof))
    if mirror:
        root_pos, root_rot, dof = mirror_pose(root_pos, root_rot, dof)
    return build_clip(root_pos, root_rot, dof, fps, meta)
