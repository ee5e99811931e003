"""``python -m protomotions.agents.evaluate_expert``: one JSON line for a tracker run or an expert package."""

import json
import subprocess
import sys

from protomotions.terrain import TERRAIN_TYPES
from tests.conftest import REPO


def _evaluate(*args: str) -> dict:
    r = subprocess.run([sys.executable, "-m", "protomotions.agents.evaluate_expert", *args], cwd=REPO,
                       capture_output=True, text=True, check=False, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    assert len(lines) == 1
    return json.loads(lines[0])


def test_tracker_and_expert_reports_with_per_clip_rows(tiny_expert):
    walk = "data/motions/smpl_humanoid_walk.npy"
    tracker = _evaluate("--expert", str(tiny_expert.parent / "tracker"), "--num_envs", "1", "--motion_file", walk,
                        "--per_clip")
    assert tracker["kind"] == "tracker" and tracker["clips"] == 1
    (row,) = tracker["per_clip"]
    assert row["clip"] == "smpl_humanoid_walk" and row["success"] == (tracker["success_rate"] == 1.0)
    assert abs(row["mpjpe_mm"] - tracker["mpjpe_mm"]) < 0.1 and row["mpjpe_mm"] > 0
    assert tracker["failures"]["count"] == round((1 - tracker["success_rate"]) * tracker["clips"])
    expert = _evaluate("--expert", str(tiny_expert), "--conditioning", "pelvis", "--num_envs", "1",
                       "--motion_file", walk)
    assert expert["kind"] == "expert" and expert["conditioning"] == "pelvis" and "per_clip" not in expert
    assert 0.0 <= expert["success_rate"] <= 1.0 and expert["mpjpe_mm"] > 0


def test_missing_expert_path_is_reported(tmp_path):
    r = subprocess.run([sys.executable, "-m", "protomotions.agents.evaluate_expert", "--expert", str(tmp_path / "x")],
                       cwd=REPO, capture_output=True, text=True, check=False, timeout=600)
    assert r.returncode == 2 and f"Error: Expert model path not found: {tmp_path / 'x'}" in r.stderr


def test_repeats_average_new_placements_and_the_seed_picks_them(tiny_expert):
    args = ("--expert", str(tiny_expert.parent / "tracker"), "--num_envs", "1", "--terrain", "complex",
            "--motion_file", "data/motions/smpl_humanoid_walk.npy", "--max_clips", "1")
    three = _evaluate(*args, "--repeats", "3", "--seed", "5", "--per_clip", "--by_tile")
    per = three["success_rate_per_repeat"]
    assert three["repeats"] == 3 and len(per) == 3 and three["seed"] == 5
    assert abs(three["success_rate"] - sum(per) / 3) < 1e-9
    assert abs(three["per_clip"][0]["success"] - sum(per) / 3) < 1e-9  # one clip: its success fraction
    tiles = three["by_start_tile"]  # the three placements, by the tile type each started on
    assert sum(t["clips"] for t in tiles.values()) == 3 and set(tiles) <= {*TERRAIN_TYPES, "border"}
    assert abs(sum(t["success"] * t["clips"] for t in tiles.values()) - sum(per)) < 1e-9
    # the same seed gives the same placements: the first repeat is the single evaluation
    one = _evaluate(*args, "--seed", "5")
    assert one["success_rate"] == per[0] and one["repeats"] == 1


def test_evaluations_beside_the_cpu_thread_pool_use_one_torch_thread():
    import torch

    from protomotions.evaluation import one_torch_thread_beside_cpu_physics
    from protomotions.simulator.base import SimulatorConfig
    from protomotions.simulator.mujoco.simulator import MujocoSimulator
    from protomotions.terrain import flat_terrain

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        one_torch_thread_beside_cpu_physics(MujocoSimulator(SimulatorConfig(num_envs=2, num_threads=1), flat_terrain()))
        assert torch.get_num_threads() == 2  # no pool: nothing competes with torch's threads
        one_torch_thread_beside_cpu_physics(MujocoSimulator(SimulatorConfig(num_envs=2, num_threads=2), flat_terrain()))
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_failure_parts_summarise_the_failed_clips_only():
    from protomotions.agents.evaluate_expert import failure_parts

    nan = float("nan")
    runs = [{"fail_root_xy_m": [0.30, nan, 0.05], "fail_pose_m": [0.10, nan, 0.24]},
            {"fail_root_xy_m": [nan, 0.20, nan], "fail_pose_m": [nan, 0.12, nan]}]
    assert failure_parts(runs) == {"count": 3, "root_xy_m_median": 0.2, "pose_m_median": 0.12, "root_dominant": 2}
    assert failure_parts([{"fail_root_xy_m": [nan], "fail_pose_m": [nan]}]) == {"count": 0}
