"""Where a task agent fails on complex terrain: success and falls by terrain type and difficulty level.

    python tools/terrain_breakdown.py --checkpoint data/pretrained_models/masked_mimic_steering/last.ckpt \
        [--num_episodes 200] [--expert_only] [--json out.json]

Runs the task's evaluation (deterministic, seed 1234, as run_masked_mimic_<task>.py does), and for
every episode notes the tile it started on and, for a fall, the tile under the pelvis when it fell
(episodes walk up to ~20 m, so they often leave their first tile). Prints success and fall rate per
start tile type and per level band, and where the falls happened.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import torch

# this checkout's package, whichever one pip last installed in editable mode (a CI clone re-points it)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from protomotions.builders import dataclass_from_config
from protomotions.envs.path_follower.env import PathFollowerEnv
from protomotions.envs.steering.env import SteeringEnv
from protomotions.evaluation import evaluate_task_checkpoint
from protomotions.terrain import TerrainConfig, tile_at

LEVEL_BANDS = ((0, 2), (3, 4), (5, 6))


class EpisodeLog:
    """Per-round start xy, last alive xy, fell and success of every env (rounds of num_envs episodes)."""

    def __init__(self) -> None:
        self.start: list[torch.Tensor] = []
        self.last: list[torch.Tensor] = []
        self.fell: list[torch.Tensor] = []
        self.success: list[torch.Tensor] = []

    def wrap(self, env_class) -> dict:
        # the evaluation loop lives in the env: wrap its hooks rather than copying the loop
        saved = {name: getattr(env_class, name) for name in ("_eval_begin", "_eval_record", "_eval_episode")}
        log = self

        def begin(env):
            saved["_eval_begin"](env)
            log.start.append(env.state.root_pos[:, :2].cpu().clone())
            log.last.append(log.start[-1].clone())

        def record(env, alive):
            saved["_eval_record"](env, alive)
            # ``alive`` still includes the env that fell on this step: its pelvis is where it fell
            alive = alive.cpu()
            log.last[-1][alive] = env.state.root_pos[:, :2].cpu()[alive]

        def episode(env, fell):
            out = saved["_eval_episode"](env, fell)
            log.fell.append(fell.cpu())
            log.success.append(out["success"].cpu())
            return out

        env_class._eval_begin, env_class._eval_record, env_class._eval_episode = begin, record, episode
        return saved


def rates(mask: torch.Tensor, success: torch.Tensor, fell: torch.Tensor) -> dict:
    n = int(mask.sum())
    return {"episodes": n, "success": success[mask].float().mean().item() if n else float("nan"),
            "falls": fell[mask].float().mean().item() if n else float("nan")}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, required=True)
    p.add_argument("--num_episodes", type=int, default=200)
    p.add_argument("--expert_only", action="store_true")
    p.add_argument("--json", type=Path, default=None, help="also write the breakdown here")
    args = p.parse_args()

    log = EpisodeLog()
    saved = {cls: log.wrap(cls) for cls in (SteeringEnv, PathFollowerEnv)}
    try:
        result = evaluate_task_checkpoint(args.checkpoint, args.num_episodes, terrain="complex",
                                          expert_only=args.expert_only)
    finally:
        for cls, methods in saved.items():
            for name, fn in methods.items():
                setattr(cls, name, fn)
    result["env"].close()
    n = args.num_episodes
    start, last = torch.cat(log.start)[:n], torch.cat(log.last)[:n]
    fell, success = torch.cat(log.fell)[:n], torch.cat(log.success)[:n]
    terrain_cfg = dataclass_from_config(TerrainConfig, result["config"].terrain, "terrain")
    start_type, start_level = tile_at(start, terrain_cfg)
    fall_type, _ = tile_at(last[fell], terrain_cfg)

    by_type = {t: rates(torch.tensor([s == t for s in start_type]), success, fell) for t in sorted(set(start_type))}
    by_level = {f"{lo}-{hi}": rates((start_level >= lo) & (start_level <= hi), success, fell) for lo, hi in LEVEL_BANDS}
    fall_places = dict(Counter(fall_type).most_common())
    print(f"{'start tile':>14} {'episodes':>9} {'success':>8} {'falls':>6}")
    for name, r in [*by_type.items(), *((f"levels {k}", v) for k, v in by_level.items())]:
        print(f"{name:>14} {r['episodes']:9d} {r['success']:8.2f} {r['falls']:6.2f}")
    print("falls by the tile under the pelvis: " + ", ".join(f"{k} {v}" for k, v in fall_places.items()))
    m = result["metrics"]
    print(f"success_rate={m['eval/success_rate']:.3f} fall_rate={m['eval/fall_rate']:.3f}")
    if args.json:
        args.json.write_text(json.dumps({"checkpoint": str(args.checkpoint), "num_episodes": n,
                                         "expert_only": args.expert_only, "by_start_type": by_type,
                                         "by_start_level": by_level, "falls_by_tile": fall_places,
                                         "metrics": m}, indent=2))


if __name__ == "__main__":
    main()
