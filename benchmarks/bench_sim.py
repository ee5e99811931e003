"""Throughput of the base env (physics + observations + resets) against raw physics.

    python benchmarks/bench_sim.py --simulator mujoco --num_envs 64 --steps 300

Runs the base humanoid env with random actions, then (mujoco only) a raw loop of ``mj_step``
on the same model, the same number of MjData, the same chunks and the same threads (the
simulator's own dispatch), *replaying the env's run*: the same PD targets every step and the
same resets (same states), so both loops do the same physics and raw_ratio measures only the
framework's overhead (observations, state tensors, reset bookkeeping). Last line, exactly:
``env_steps_per_s=<number> raw_ratio=<number>`` (raw_ratio = env throughput / raw throughput;
"nan" where there is no raw loop).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

# this checkout's package, whichever one pip last installed in editable mode (a CI clone re-points it)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from protomotions.builders import simulator_class
from protomotions.envs.base_env import BaseEnv, BaseEnvConfig
from protomotions.simulator.base import SimulatorConfig
from protomotions.terrain import TerrainConfig, build_terrain


class Recorder:
    """What the env did each timed step: PD targets (N, 69) and the reset (ids, qpos, qvel)."""

    def __init__(self) -> None:
        self.initial: list = []
        self.ctrl: list = []
        self.resets: list = []


def bench_env(args) -> tuple[float, BaseEnv, Recorder | None]:
    terrain = build_terrain(TerrainConfig(terrain_type=args.terrain))
    sim_cfg = SimulatorConfig(num_envs=args.num_envs, device=args.device, num_threads=args.threads)
    sim = simulator_class(args.simulator)(sim_cfg, terrain)
    env = BaseEnv(BaseEnvConfig(use_terrain_obs=args.terrain != "flat"), sim, terrain, seed=0)
    g = torch.Generator(device=env.device).manual_seed(0)

    def run(steps: int, record: Recorder | None = None) -> None:
        for _ in range(steps):
            actions = args.action_std * torch.randn(env.num_envs, env.action_dim, device=env.device, generator=g)
            _, _, terminated, truncated, _ = env.step(actions)
            done = terminated | truncated
            ids = done.nonzero().flatten()
            env.reset(ids)  # the runner's pattern
            if record is not None:
                record.ctrl.append(env.action_to_pd_targets(actions).double().cpu().numpy())
                record.resets.append(ids.cpu().numpy())

    env.reset()
    run(args.warmup)
    record = Recorder() if args.simulator == "mujoco" else None
    if record is not None:
        record.initial = [(d.qpos.copy(), d.qvel.copy()) for d in env.simulator.datas]
    if env.device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    run(args.steps, record)
    if env.device.type == "cuda":
        torch.cuda.synchronize()
    return args.steps * args.num_envs / (time.perf_counter() - start), env, record


def bench_raw_mujoco(args, env: BaseEnv, record: Recorder) -> float:
    """mj_step only on fresh MjData, replaying the env's targets and resets through the simulator's own
    chunk dispatch (same threads, same chunks, same hand-off), so only the framework's work differs."""
    import mujoco

    from protomotions.robot import smpl

    sim = env.simulator
    model, datas = sim.model, [mujoco.MjData(sim.model) for _ in range(args.num_envs)]
    for d, (qpos, qvel) in zip(datas, record.initial):
        d.qpos[:], d.qvel[:] = qpos, qvel
    standing = np.zeros(model.nq)
    standing[2], standing[3] = smpl.default_root_height() + env.config.spawn_height_offset, 1.0
    ctrl = np.zeros((args.num_envs, model.nu))
    decimation = sim.config.decimation

    def chunk(lo: int, hi: int) -> None:
        for i in range(lo, hi):
            datas[i].ctrl[:] = ctrl[i]
            mujoco.mj_step(model, datas[i], decimation)

    start = time.perf_counter()
    for targets, reset_ids in zip(record.ctrl, record.resets):
        ctrl[:] = targets
        sim._run_chunks(chunk)
        for i in reset_ids:  # the same envs restart standing in the rest pose, as BaseEnv's reset does (flat ground)
            mujoco.mj_resetData(model, datas[i])
            datas[i].qpos[:] = standing
    return args.steps * args.num_envs / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--simulator", default="mujoco", choices=["mujoco", "mjwarp"])
    p.add_argument("--num_envs", type=int, default=64)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0 = one per core)")
    p.add_argument("--terrain", default="flat", choices=["flat", "complex"])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--action_std", type=float, default=0.5)
    p.add_argument("--json", default=None, help="also write the results to this JSON file")
    p.add_argument("--torch_threads", type=int, default=1,
                   help="torch intra-op threads (1: the MuJoCo workers own the cores; 0: torch's default)")
    args = p.parse_args()
    if args.torch_threads > 0:
        torch.set_num_threads(args.torch_threads)
    if args.simulator == "mujoco":
        args.device = "cpu"

    env_rate, env, record = bench_env(args)
    raw_rate = bench_raw_mujoco(args, env, record) if record is not None else float("nan")
    threads = getattr(env.simulator, "num_threads", 0)
    env.close()
    result = {
        "simulator": args.simulator, "num_envs": args.num_envs, "steps": args.steps, "terrain": args.terrain,
        "threads": threads, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(), "env_steps_per_s": env_rate, "raw_env_steps_per_s": raw_rate,
        "raw_ratio": env_rate / raw_rate, "per_core": env_rate / max(threads, 1),
        "device": args.device if args.device == "cpu" else torch.cuda.get_device_name(),
        "cpu": platform.processor() or platform.machine(), "date": time.strftime("%Y-%m-%d"),
        "command": "python " + " ".join(sys.argv),
    }
    print(json.dumps(result))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    print(f"env_steps_per_s={env_rate:.1f} raw_ratio={env_rate / raw_rate:.3f}")


if __name__ == "__main__":
    main()
