"""Training-loop throughput (env steps + PPO update) of the tracker experiment.

    python benchmarks/bench_train.py --simulator mjwarp --num_envs 4096 --epochs 20      # GPU machine
    python benchmarks/bench_train.py --simulator mujoco --num_envs 64 --epochs 5          # CPU

Runs ``+exp=full_body_tracker/mlp`` for a few epochs in a temporary directory and reports the
runner's ``charts/steps_per_second`` (rollout + GAE + update, per epoch), skipping the first epoch
(warm-up). Last line: ``train_steps_per_s=<number>``.
"""

from __future__ import annotations

import argparse
import glob
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--simulator", default="mujoco", choices=["mujoco", "mjwarp"])
    p.add_argument("--num_envs", type=int, default=64)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch_size", type=int, default=0, help="0: num_envs · 32 / 8")
    p.add_argument("--json", default=None)
    args = p.parse_args()
    steps = 32 * args.num_envs * args.epochs
    batch = args.batch_size or max(32 * args.num_envs // 8, 32)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, str(REPO / "protomotions" / "train_agent.py"), "+exp=full_body_tracker/mlp", "+robot=smpl",
               f"+simulator={args.simulator}", "experiment_name=bench_train", f"save_dir={tmp}",
               f"num_envs={args.num_envs}", f"training_max_steps={steps}", f"agent.config.batch_size={batch}",
               "runner.eval_metrics_every=0", "runner.progress_bar=false"]
        start = time.perf_counter()
        subprocess.run(cmd, cwd=REPO, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        acc = EventAccumulator(glob.glob(f"{tmp}/lightning_logs/*")[0])
        acc.Reload()
        rates = [e.value for e in acc.Scalars("charts/steps_per_second")][1:] or [float("nan")]
    result = {"simulator": args.simulator, "num_envs": args.num_envs, "epochs": args.epochs, "batch_size": batch,
              "train_steps_per_s": statistics.mean(rates), "wall_s_including_startup": wall,
              "date": time.strftime("%Y-%m-%d"), "command": "python " + " ".join(sys.argv)}
    print(json.dumps(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    print(f"train_steps_per_s={result['train_steps_per_s']:.1f}")


if __name__ == "__main__":
    main()
