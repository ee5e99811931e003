"""The shipped clips meet the quality targets and rebuild from the raw CMU files."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from protomotions.motion import retarget
from protomotions.motion.build_dataset import QUALITY_TARGETS, WALK_CLIP, load_source
from protomotions.motion.info import clip_info
from protomotions.motion.motion_file import load_motion, load_motion_list

REPO = Path(__file__).resolve().parents[1]
MOTIONS = REPO / "data" / "motions"
DATA = REPO.parent / "shared" / "data"


def _meets_targets(info: dict) -> None:
    assert info["max_penetration_m"] <= QUALITY_TARGETS["max_penetration_m"] == 0.02
    assert info["foot_skate_mps"] <= QUALITY_TARGETS["foot_skate_mps"]
    # a human root does not accelerate horizontally by more than ~3 g; spikes above that were a
    # foot-pinning artefact that made run clips untrackable
    assert info["max_root_accel_mps2"] <= QUALITY_TARGETS["max_root_accel_mps2"]
    assert info["joint_limit_violations"] == 0


def test_walk_clip_meets_targets_via_cli():
    out = subprocess.run([sys.executable, "-m", "protomotions.motion.info", str(MOTIONS / "smpl_humanoid_walk.npy")],
                         capture_output=True, text=True, check=True).stdout.strip().splitlines()
    assert len(out) == 1
    info = json.loads(out[0])
    assert info["fps"] == 30.0 and info["duration_s"] >= 3.0
    _meets_targets(info)
    clip = load_motion(MOTIONS / "smpl_humanoid_walk.npy")
    root = clip["root_pos"]
    assert root[-1, 0] - root[0, 0] > 3.0  # walks forward along +x, nearly straight
    assert abs(root[-1, 1] - root[0, 1]) < 0.3


def test_every_listed_clip_meets_targets_and_data_is_small():
    entries = load_motion_list(MOTIONS / "locomotion.yaml")
    assert len(entries) >= 10 and all(e[1] > 0 for e in entries)
    assert {lab for e in entries for lab in e[2]["labels"]} >= {"walk", "run", "turn", "stop"}
    for path, _, _ in entries:
        _meets_targets(clip_info(load_motion(path)))
    assert sum(p.stat().st_size for p in MOTIONS.iterdir()) < 8e6  # 31 clips: 5.4 MB
    assert "NSF EIA-0196217" in (MOTIONS / "DATA_LICENSE.md").read_text()


@pytest.mark.skipif(not (DATA / "cmu_asfamc").is_dir(), reason=f"raw CMU data not found under {DATA}")
def test_walk_clip_rebuilds_from_raw():
    src, mapping, _ = load_source(DATA, WALK_CLIP)
    clip = retarget.retarget(src, mapping, extra_cycles=1)
    shipped = load_motion(MOTIONS / "smpl_humanoid_walk.npy")
    np.testing.assert_allclose(clip["dof_pos"], shipped["dof_pos"], atol=1e-5)
    np.testing.assert_allclose(np.diff(clip["root_pos"], axis=0), np.diff(shipped["root_pos"], axis=0), atol=1e-5)


def test_slowed_and_held_variants_are_what_their_names_say():
    base, slow = load_motion(MOTIONS / "cmu_16_21.npy"), load_motion(MOTIONS / "cmu_16_21_slow50.npy")
    t_base, t_slow = (len(c["root_pos"]) - 1 for c in (base, slow))
    assert abs(t_slow - 2 * t_base) <= 2  # half speed: twice as long ...
    def speed(clip):
        return np.linalg.norm(clip["root_pos"][-1, :2] - clip["root_pos"][0, :2]) / ((len(clip["root_pos"]) - 1) / 30.0)
    assert speed(slow) == pytest.approx(0.5 * speed(base), rel=0.03)  # ... at half the speed, same path
    np.testing.assert_allclose(slow["dof_pos"][::2][: len(base["dof_pos"]) - 1], base["dof_pos"][:-1], atol=1e-4)
    stand, stop = load_motion(MOTIONS / "cmu_16_34_stand.npy"), load_motion(MOTIONS / "cmu_16_34.npy")
    n = len(stop["root_pos"])
    assert len(stand["root_pos"]) == n + 60  # + 2 s at 30 fps
    np.testing.assert_allclose(stand["dof_pos"][:n], stop["dof_pos"], atol=1e-6)
    still = stand["dof_pos"][n:]
    assert np.abs(still - still[0]).max() == 0.0 and np.abs(stand["body_vel"][n + 1:]).max() < 1e-4
