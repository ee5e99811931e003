"""The steering speed error that natural locomotion has on its own: a yardstick for the 0.10 m/s target.

    python tools/clip_speed_oscillation.py [--motion_file data/motions/locomotion.yaml] [--window_s 1.0]

The steering evaluation scores the pelvis' *instantaneous* horizontal velocity: |v·d − s*| every step.
A walking pelvis surges and slows within each stride, so even a character that holds the commanded speed
exactly on average has an error. This plays every clip at the control rate, cuts it into windows, takes
each window's mean velocity as the "command" (direction d, speed s), and prints the mean |v·d − s| over
the window, overall and by speed. Windows also hold the clip's own accelerations, so this overestimates
the pure stride oscillation a little.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

# this checkout's package, whichever one pip last installed in editable mode (a CI clone re-points it)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from protomotions.motion.motion_lib import MotionLib

SPEED_BANDS = ((0.05, 0.75), (0.75, 1.25), (1.25, 1.75), (1.75, 5.0))


def window_errors(lib: MotionLib, dt: float, window: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(errors, speeds) of every full window of every clip (windows slower than 0.05 m/s are skipped)."""
    errors, speeds = [], []
    for i in range(lib.num_motions):
        steps = int(float(lib.motion_lengths[i]) / dt)
        state = lib.get_state(torch.full((steps,), i, device=lib.device), torch.arange(steps, device=lib.device) * dt)
        v = state.root_vel[:, :2]
        wins = v[: steps // window * window].reshape(-1, window, 2)  # (W, window, 2)
        mean = wins.mean(1)
        speed = mean.norm(dim=-1)
        keep = speed > SPEED_BANDS[0][0]
        d = mean[keep] / speed[keep, None]
        errors.append(((wins[keep] * d[:, None]).sum(-1) - speed[keep, None]).abs().mean(-1))
        speeds.append(speed[keep])
    return torch.cat(errors), torch.cat(speeds)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--motion_file", default="data/motions/locomotion.yaml")
    p.add_argument("--window_s", type=float, default=1.0)
    p.add_argument("--dt", type=float, default=1.0 / 30.0, help="control step (s)")
    args = p.parse_args()
    errors, speeds = window_errors(MotionLib(args.motion_file), args.dt, max(2, round(args.window_s / args.dt)))
    bands = {f"{lo:.2f}-{hi:.2f} m/s": {"windows": int(m.sum()), "speed_error_mps": round(float(errors[m].mean()), 3)}
             for lo, hi in SPEED_BANDS if (m := (speeds >= lo) & (speeds < hi)).any()}
    print(json.dumps({"windows": len(errors), "speed_error_mps": round(float(errors.mean()), 3), "by_speed": bands}))


if __name__ == "__main__":
    main()
