"""Cost of the terrain in MuJoCo: compile time and single-thread env-steps/s (best of --repeats), plane vs heightfields.

    python benchmarks/bench_terrain.py [--steps 2000]

One humanoid (the committed SMPL asset) is dropped 5 cm above the ground at a spot and stepped
with PD targets at the rest pose plus noise, so it stands, then falls and lies in contact: the
realistic mix of airborne and contact-rich steps. Reported per terrain: generation time, model
compile time, grid size and mj_step rate on a flat spawn spot and on a stairs tile.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import mujoco
import numpy as np
import torch

# this checkout's package, whichever one pip last installed in editable mode (a CI clone re-points it)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from protomotions.robot.mjcf import ASSET_PATH
from protomotions.simulator.mujoco.scene import build_model
from protomotions.terrain import TerrainConfig, build_terrain, column_types


def steps_per_s(model: mujoco.MjModel, xy: np.ndarray, ground: float, steps: int, seed: int = 0) -> float:
    d = mujoco.MjData(model)
    mujoco.mj_forward(model, d)
    d.qpos[0:2] = xy
    # lift the root so the lowest geom sits 5 cm above the ground
    mujoco.mj_forward(model, d)
    lowest = float(np.min(d.geom_xpos[1:, 2] - model.geom_rbound[1:]))
    d.qpos[2] += ground + 0.05 - lowest
    rng = np.random.default_rng(seed)
    mujoco.mj_forward(model, d)
    t0 = time.perf_counter()
    for _ in range(steps):
        d.ctrl[:] = rng.normal(0.0, 0.3, model.nu)
        mujoco.mj_step(model, d)
    return steps / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=5, help="best of this many runs, to see past other load")
    args = ap.parse_args()
    torch.set_num_threads(1)
    cases = {
        "plane": TerrainConfig(terrain_type="flat"),
        "complex default (border 40 m)": TerrainConfig(),
        "complex border 10 m": TerrainConfig(border_size=10.0),
        "complex 3 levels, border 10 m": TerrainConfig(num_levels=3, border_size=10.0),
    }
    print(f"{'terrain':34s} {'grid':>11s} {'gen s':>6s} {'compile s':>9s} {'flat steps/s':>12s} {'stairs steps/s':>14s}")
    for name, cfg in cases.items():
        t0 = time.perf_counter()
        terrain = build_terrain(cfg)
        gen = time.perf_counter() - t0
        t0 = time.perf_counter()
        model = build_model(ASSET_PATH, terrain)
        comp = time.perf_counter() - t0
        xy = terrain.spawn_xy[len(terrain.spawn_xy) // 2].astype(np.float64)
        ground = float(terrain.height_at(torch.as_tensor(xy)))
        flat_rate = max(steps_per_s(model, xy, ground, args.steps) for _ in range(args.repeats))
        stairs = "-"
        if not terrain.is_flat:
            col = column_types(cfg).index("stairs_up")
            # on the third ring from the edge of the hardest level's stairs tile
            level = cfg.num_levels - 1
            sxy = np.array([cfg.border_size + (level + 0.5) * cfg.map_length,
                            cfg.border_size + col * cfg.map_width + 2.5 * cfg.stair_width + 0.1])
            sg = float(terrain.height_at(torch.as_tensor(sxy)))
            stairs = f"{max(steps_per_s(model, sxy, sg, args.steps) for _ in range(args.repeats)):14.0f}"
        grid = "x".join(map(str, terrain.heights.shape)) if not terrain.is_flat else "plane"
        print(f"{name:34s} {grid:>11s} {gen:6.2f} {comp:9.2f} {flat_rate:12.0f} {stairs:>14s}")


if __name__ == "__main__":
    main()
