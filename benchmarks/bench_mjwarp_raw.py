"""Throughput of the ``mjwarp`` backend through the Simulator interface (no env, no policy).

One env-step = one control step (``decimation`` physics steps) of one humanoid, then
``get_state()``; PD targets are random each step (standing pose + N(0, 0.3 rad)), so the
humanoids fall and thrash with all contacts, self-collision included. Timing ends with a device
synchronisation. The first construction includes warp's kernel compilation unless its cache
(``WARP_CACHE_PATH``) is warm. ``--parity`` also records one control step against the CPU
``mujoco`` backend from quiet states (the cases of ``tests/test_mjwarp.py``).

    python benchmarks/bench_mjwarp_raw.py --num-envs 4096 --out benchmarks/results/mjwarp_<date>.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import sys
import time
from pathlib import Path

import torch

# this checkout's package, whichever one pip last installed in editable mode (a CI clone re-points it)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from protomotions.robot import smpl
from protomotions.simulator.base import ResetState, SimulatorConfig
from protomotions.utils.rotations import quat_normalize

HIP_ABDUCTION = 0.15  # rad, feet apart (see tests/test_mjwarp.py)


def standing_state(n: int, device, gen: torch.Generator, scale: float, z: float | None = None) -> ResetState:
    z = smpl.default_root_height() if z is None else z
    rot = quat_normalize(torch.tensor([0.0, 0.0, 0.0, 1.0]) + 0.05 * scale * torch.randn(n, 4, generator=gen))
    dof_pos = 0.1 * scale * torch.randn(n, smpl.NUM_DOFS, generator=gen)
    dof_pos[:, smpl.DOF_NAMES.index("L_Hip_x")] += HIP_ABDUCTION
    dof_pos[:, smpl.DOF_NAMES.index("R_Hip_x")] -= HIP_ABDUCTION
    state = ResetState(
        root_pos=torch.tensor([0.0, 0.0, z]) + 0.02 * torch.randn(n, 3, generator=gen),
        root_rot=rot,
        root_vel=0.3 * scale * torch.randn(n, 3, generator=gen),
        root_ang_vel=0.3 * scale * torch.randn(n, 3, generator=gen),
        dof_pos=dof_pos,
        dof_vel=0.5 * scale * torch.randn(n, smpl.NUM_DOFS, generator=gen),
    )
    return state.to(device)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def used_gib(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    free, total = torch.cuda.mem_get_info(device)
    return (total - free) / 2**30


def bench_size(num_envs: int, device: str, steps: int, warmup: int, reset_frac: float, seed: int) -> dict:
    from protomotions.simulator.mjwarp.simulator import MjwarpSimulator

    gen = torch.Generator().manual_seed(seed)
    mem0 = used_gib(torch.device(device))
    t0 = time.perf_counter()
    sim = MjwarpSimulator(SimulatorConfig(num_envs=num_envs, device=device))
    sync(sim.device)
    build_s = time.perf_counter() - t0
    ids = torch.arange(num_envs, device=sim.device)
    sim.reset_envs(ids, standing_state(num_envs, sim.device, gen, scale=0.2))
    base = sim.get_state().dof_pos.clone()
    dev_gen = torch.Generator(device=sim.device).manual_seed(seed)
    n_reset = round(reset_frac * num_envs)
    reset_state = standing_state(max(n_reset, 1), sim.device, gen, scale=0.2)

    def one_step() -> None:
        noise = torch.randn(num_envs, smpl.NUM_DOFS, device=sim.device, generator=dev_gen)
        sim.step(base + 0.3 * noise)
        state = sim.get_state()
        if n_reset:  # a fresh subset each step, as episodes end in an env
            sim.reset_envs(
                torch.randint(0, num_envs, (n_reset,), device=sim.device, generator=dev_gen), reset_state
            )
        del state

    t1 = time.perf_counter()
    one_step()
    sync(sim.device)
    first_step_s = time.perf_counter() - t1
    for _ in range(warmup):
        one_step()
    sync(sim.device)
    t2 = time.perf_counter()
    for _ in range(steps):
        one_step()
    sync(sim.device)
    elapsed = time.perf_counter() - t2
    out = {
        "num_envs": num_envs,
        "reset_fraction_per_step": reset_frac,
        "build_s": round(build_s, 2),
        "warmup_compile_s": round(sim.warmup_s, 2),
        "first_step_s": round(first_step_s, 3),
        "timed_steps": steps,
        "elapsed_s": round(elapsed, 3),
        "env_steps_per_s": round(num_envs * steps / elapsed, 1),
        "physics_steps_per_s": round(num_envs * steps * sim.config.decimation / elapsed, 1),
        "ms_per_control_step": round(1e3 * elapsed / steps, 3),
        "gpu_memory_used_gib": None if mem0 is None else round(used_gib(sim.device) - mem0, 2),
        "nconmax": sim.nconmax,
        "njmax": sim.njmax,
        "capacity_after": sim.capacity_report(),
        "finite": bool(torch.isfinite(sim.get_state().body_pos).all()),
    }
    sim.close()
    torch.cuda.empty_cache() if torch.cuda.is_available() else None
    return out


def parity(device: str, num_envs: int = 16, seed: int = 3) -> dict:
    """Max abs difference per state field after one control step vs the CPU backend."""
    from protomotions.simulator.mjwarp.simulator import MjwarpSimulator
    from protomotions.simulator.mujoco.simulator import MujocoSimulator

    result = {}
    for case, z in (("standing", None), ("airborne", 3.0)):
        gen = torch.Generator().manual_seed(seed)
        state = standing_state(num_envs, "cpu", gen, scale=0.2, z=z)
        targets = state.dof_pos + 0.05 * torch.randn(num_envs, smpl.NUM_DOFS, generator=gen)
        sim = MjwarpSimulator(SimulatorConfig(num_envs=num_envs, device=device))
        ref = MujocoSimulator(SimulatorConfig(num_envs=num_envs, num_threads=1))
        for s in (sim, ref):
            s.reset_envs(torch.arange(num_envs), state)
        sim.step(targets.to(sim.device))
        ref.step(targets)
        a, b = sim.get_state(), ref.get_state()
        result[case] = {k: float((getattr(a, k).cpu() - getattr(b, k)).abs().max()) for k in vars(a)}
        result[case]["max_total_contact_force_N"] = float(b.contact_forces.norm(dim=-1).sum(-1).max())
    return result


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for dist in ("torch", "warp-lang", "mujoco-warp", "mujoco"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = None
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--num-envs", type=int, nargs="+", default=[4096], help="one run per size, in order")
    p.add_argument("--device", default="cuda")
    p.add_argument("--steps", type=int, default=200, help="timed control steps per size")
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument(
        "--reset-frac", type=float, nargs="+", default=[0.0], help="fraction of envs reset per step"
    )
    p.add_argument("--parity", action="store_true", help="also compare one control step with the CPU backend")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="JSON file to write")
    args = p.parse_args()

    device = torch.device(args.device)
    record = {
        "benchmark": "mjwarp backend: step(random PD targets) + get_state(), 30 Hz control, 1/240 s x 8 physics",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "date_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "device": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor() or "cpu",
        "versions": versions(),
        "runs": [],
    }
    for n in args.num_envs:
        for frac in args.reset_frac:
            run = bench_size(n, args.device, args.steps, args.warmup, frac, args.seed)
            print(json.dumps(run), flush=True)
            record["runs"].append(run)
    if args.parity:
        record["parity_vs_mujoco_cpu"] = parity(args.device)
        print(json.dumps(record["parity_vs_mujoco_cpu"]), flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(record, indent=2) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
