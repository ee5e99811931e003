"""Where a rollout step's time goes: env step (physics, observations, rewards, resets) and policy.

    python benchmarks/profile_rollout.py --simulator mjwarp --num_envs 4096 --steps 20   # GPU machine
    python benchmarks/profile_rollout.py --simulator mujoco --num_envs 16 --steps 10     # CPU

Builds the tracker experiment's env and an untrained actor of its size (zero actions: episodes end
by tracking error and reset as in training), warms up, then times
``--steps`` control steps with the torch profiler. Prints wall milliseconds per step for the
physics call alone and for the whole env step, the number of torch ops per env step, and the
profiler's top ops by self CPU time (and CUDA time on a GPU). The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--simulator", default="mujoco", choices=["mujoco", "mjwarp"])
    p.add_argument("--num_envs", type=int, default=16)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--top", type=int, default=25)
    args = p.parse_args()
    from hydra import compose, initialize_config_dir
    from torch.profiler import ProfilerActivity, profile

    from protomotions.agents.common.mlp import build_mlp
    from protomotions.builders import build_env, build_simulator, build_terrain

    device = "cuda" if args.simulator == "mjwarp" else "cpu"
    with initialize_config_dir(config_dir=str(REPO / "protomotions" / "config"), version_base="1.3"):
        cfg = compose("base", overrides=["+exp=full_body_tracker/mlp", "+robot=smpl", f"+simulator={args.simulator}",
                                         f"num_envs={args.num_envs}"])
    terrain = build_terrain(cfg)
    sim = build_simulator(cfg, terrain, device=device)
    env = build_env(cfg, sim, terrain)
    keys = list(cfg.agent.config.model.config.actor_obs_keys)
    actor = build_mlp(sum(env.obs_spec[k] for k in keys), list(cfg.agent.config.model.config.actor_units),
                      env.action_dim, "relu").to(device)

    def policy(obs):
        # the actor's cost with zero actions: an untrained actor's output would only make the humanoid fall
        return 0.0 * actor(torch.cat([obs[k] for k in keys], -1))

    obs = env.reset()
    with torch.no_grad():
        for _ in range(5):
            obs = env.step(policy(obs))[0]
        _sync(device)
        # physics alone: the simulator's step with fixed targets
        targets = sim.get_state().dof_pos.clone()
        t0 = time.perf_counter()
        for _ in range(args.steps):
            sim.step(targets)
        _sync(device)
        physics_ms = 1000 * (time.perf_counter() - t0) / args.steps
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
        with profile(activities=activities) as prof:
            t0 = time.perf_counter()
            for _ in range(args.steps):
                obs = env.step(policy(obs))[0]
            _sync(device)
            step_ms = 1000 * (time.perf_counter() - t0) / args.steps
    events = prof.key_averages()
    ops = sum(e.count for e in events if e.key.startswith("aten::")) / args.steps
    sort = "self_cuda_time_total" if device == "cuda" else "self_cpu_time_total"
    print(events.table(sort_by=sort, row_limit=args.top))
    print(f"physics {physics_ms:.2f} ms/step, env+policy {step_ms:.2f} ms/step (profiled), {ops:.0f} aten ops/step")
    print(json.dumps({"simulator": args.simulator, "num_envs": args.num_envs, "physics_ms_per_step": round(physics_ms, 3),
                      "env_policy_ms_per_step": round(step_ms, 3), "aten_ops_per_step": round(ops),
                      "device": torch.cuda.get_device_name() if device == "cuda" else "cpu"}))
    env.close()


if __name__ == "__main__":
    main()
