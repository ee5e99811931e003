"""Quality numbers of a motion clip as ONE JSON line: ``python -m protomotions.motion.info FILE``.

Keys: fps, frames, duration_s ((frames−1)/fps), max_penetration_m (deepest foot-geom point below
z = 0, analytic boxes/capsules of our MJCF, see contacts.py), foot_skate_mps (mean horizontal speed
of a foot body's lowest point over the frames where the clip's contact labels say it is on the floor:
within 3 cm and slipping < 0.4 m/s), foot_skate_height_only_mps (the same over every frame where
the foot is within 1 cm of the floor, whatever its speed: stricter, includes heel strikes),
joint_limit_violations (count of dof samples outside the MJCF joint ranges), max_root_accel_mps2
(largest horizontal root acceleration, second differences at the clip's fps: spikes here are
targets that no physics tracker can follow).
For a ``.yaml`` list, one line per clip.
"""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import torch

from protomotions.motion import contacts
from protomotions.motion.motion_file import load_motion, load_motion_list
from protomotions.robot import smpl


def clip_info(clip: dict) -> dict:
    fps = float(clip["fps"])
    bp = torch.as_tensor(clip["body_pos"], dtype=torch.float64)
    br = torch.as_tensor(clip["body_rot"], dtype=torch.float64)
    low = contacts.foot_lowest(bp, br)
    slip = contacts.foot_slip_speed(bp, br, fps)
    labelled = torch.as_tensor(clip["contacts"][:, list(contacts.FOOT_BODY_IDS)] > 0.5)
    near = low < 0.01
    limit = math.radians(smpl.JOINT_RANGE_DEG) + 1e-6
    T = int(bp.shape[0])
    return {
        "fps": fps,
        "frames": T,
        "duration_s": round((T - 1) / fps, 4),
        "max_penetration_m": round(float((-low).clamp_min(0).max()), 5),
        "foot_skate_mps": round(float(slip[labelled].mean()) if bool(labelled.any()) else 0.0, 4),
        "foot_skate_height_only_mps": round(float(slip[near].mean()) if bool(near.any()) else 0.0, 4),
        "joint_limit_violations": int((np.abs(clip["dof_pos"]) > limit).sum()),
        "max_root_accel_mps2": round(max_root_accel(clip), 2),
    }


def max_root_accel(clip: dict) -> float:
    xy = np.asarray(clip["root_pos"], dtype=np.float64)[:, :2]
    if len(xy) < 3:
        return 0.0
    return float(np.linalg.norm(np.diff(xy, n=2, axis=0), axis=1).max() * float(clip["fps"]) ** 2)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m protomotions.motion.info FILE(.npy|.yaml)", file=sys.stderr)
        return 2
    for path, _, _ in load_motion_list(argv[0]):
        info = clip_info(load_motion(path))
        if len(load_motion_list(argv[0])) > 1:
            info = {"file": str(path), **info}
        print(json.dumps(info))
    return 0


if __name__ == "__main__":
    sys.exit(main())
