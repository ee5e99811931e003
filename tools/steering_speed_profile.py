"""Where a steering policy's speed error comes from: signed and absolute error by commanded speed.

    python tools/steering_speed_profile.py --checkpoint data/pretrained_models/masked_mimic_steering/last.ckpt \
        [--expert_only] [--terrain flat] [--num_episodes 64]

Runs the steering evaluation (deterministic, as run_masked_mimic_steering.py does) and bins every
counted step (alive, past the 1-s grace after a command change) by the commanded speed s*. Prints,
per bin, the mean of v·d − s* (negative: slower than asked), the mean |v·d − s*| and the share of steps.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import torch

# this checkout's package, whichever one pip last installed in editable mode (a CI clone re-points it)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from protomotions.envs.steering.env import SteeringEnv
from protomotions.evaluation import evaluate_task_checkpoint

BIN_EDGES = [0.0, 0.25, 0.75, 1.25, 1.75, 2.01]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, required=True)
    p.add_argument("--num_episodes", type=int, default=64)
    p.add_argument("--terrain", default="flat", choices=["flat", "complex"])
    p.add_argument("--expert_only", action="store_true")
    args = p.parse_args()

    samples: list[torch.Tensor] = []  # (k, 2): commanded speed, signed error
    record = SteeringEnv._eval_record

    def recording(env, alive):
        record(env, alive)
        grace = round(env.config.eval_ignore_after_change_s / env.dt)
        along = (env.state.root_vel[:, :2] * env.acted_direction).sum(-1)
        counted = alive & (env.acted_age > grace)
        samples.append(torch.stack([env.acted_speed, along - env.acted_speed], -1)[counted].cpu())

    # the evaluation loop lives in the env: wrap its per-step record hook rather than copying the loop
    SteeringEnv._eval_record = recording
    try:
        result = evaluate_task_checkpoint(args.checkpoint, args.num_episodes, terrain=args.terrain,
                                          expert_only=args.expert_only)
    finally:
        SteeringEnv._eval_record = record
    result["env"].close()
    data = torch.cat(samples)
    print(f"{'commanded speed':>16} {'share':>7} {'v·d − s*':>9} {'|v·d − s*|':>11}")
    for lo, hi in itertools.pairwise(BIN_EDGES):
        rows = data[(data[:, 0] >= lo) & (data[:, 0] < hi)]
        if len(rows):
            print(f"{lo:7.2f}-{hi:4.2f} m/s {len(rows) / len(data):7.1%} {rows[:, 1].mean():9.2f} {rows[:, 1].abs().mean():11.2f}")
    print(f"success_rate={result['metrics']['eval/success_rate']:.3f} speed_error_mps={result['metrics']['eval/speed_error_mps']:.3f}")


if __name__ == "__main__":
    main()
