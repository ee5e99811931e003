"""Motion files: save/load, the restricted unpickler, SkeletonMotion import, yaml lists."""

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from protomotions.motion import motion_file as mf
from protomotions.robot import smpl
from protomotions.utils import rotations as rot

REPO = Path(__file__).resolve().parents[1]
WALK = REPO / "data" / "motions" / "smpl_humanoid_walk.npy"


def test_round_trip(tmp_path):
    clip = mf.load_motion(WALK)
    out = tmp_path / "copy.npy"
    mf.save_motion(out, clip)
    again = mf.load_motion(out)
    for k in mf.ARRAY_KEYS:
        assert again[k].dtype == np.float32
        np.testing.assert_array_equal(again[k], clip[k])
    assert again["fps"] == 30.0 and again["name"] == "smpl_humanoid_walk" and "mocap.cs.cmu.edu" in again["license"]


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_restricted_loader_refuses_code(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.npy"
    np.save(evil, np.array({"fps": 30.0, "x": _RunsCode(marker)}, dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match=r"not a motion file: .*evil\.npy: .*not allowed"):
        mf.load_motion(evil)
    assert not marker.exists()


def test_truncated_and_wrong_files(tmp_path):
    raw = WALK.read_bytes()
    cut = tmp_path / "cut.npy"
    cut.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match=r"not a motion file: .*cut\.npy"):
        mf.load_motion(cut)
    plain = tmp_path / "plain.npy"
    np.save(plain, np.zeros((3, 4), np.float32))
    with pytest.raises(ValueError, match=r"not a motion file: .*plain\.npy: holds a plain float32"):
        mf.load_motion(plain)
    partial = tmp_path / "partial.npy"
    np.save(partial, {"fps": 30.0, "root_pos": np.zeros((4, 3))}, allow_pickle=True)
    with pytest.raises(ValueError, match=r"missing keys"):
        mf.load_motion(partial)


def test_missing_file_message(tmp_path):
    missing = tmp_path / "nope.npy"
    with pytest.raises(FileNotFoundError) as e:
        mf.load_motion(missing)
    assert str(e.value) == f"Motion file not found: {missing}"


def _skeleton_motion(clip: dict) -> dict:
    """A ProtoMotions-v2 SkeletonMotion-shaped dict (REFERENCE_FACTS §5) built from one of our clips."""
    def wrap(a):
        return {"arr": np.asarray(a, np.float32), "context": {"dtype": "float32"}}

    return {
        "rotation": wrap(clip["body_rot"]), "root_translation": wrap(clip["root_pos"]),
        "global_velocity": wrap(clip["body_vel"]), "global_angular_velocity": wrap(clip["body_ang_vel"]),
        "skeleton_tree": {"node_names": list(smpl.BODY_NAMES), "parent_indices": wrap(smpl.PARENT_INDICES),
                          "local_translation": wrap(np.zeros((24, 3)))},
        "is_local": False, "fps": np.float32(clip["fps"]), "__name__": "SkeletonMotion",
    }


def test_skeleton_motion_import(tmp_path):
    clip = mf.load_motion(WALK)
    path = tmp_path / "v2.npy"
    np.save(path, _skeleton_motion(clip), allow_pickle=True)
    got = mf.load_motion(path)
    # hinge angles recovered from global rotations give back the same pose
    ang = rot.quat_angle_between(torch.as_tensor(got["body_rot"]), torch.as_tensor(clip["body_rot"]))
    assert float(ang.max()) < 2e-3
    np.testing.assert_allclose(got["body_pos"], clip["body_pos"], atol=2e-3)
    d = rot.wrap_to_pi(torch.as_tensor(got["dof_pos"] - clip["dof_pos"]))
    assert float(d.abs().max()) < 5e-3


def test_yaml_list_with_weights(tmp_path):
    sub = tmp_path / "clips"
    sub.mkdir()
    mf.save_motion(sub / "a.npy", mf.load_motion(WALK))
    y = tmp_path / "list.yaml"
    y.write_text(f"motions:\n  - {{file: clips/a.npy, weight: 2.5}}\n  - {{file: {WALK}, weight: 0.5, labels: [walk]}}\n")
    entries = mf.load_motion_list(y)
    assert [e[0] for e in entries] == [sub / "a.npy", WALK] and [e[1] for e in entries] == [2.5, 0.5]
    y.write_text("motions:\n  - {file: clips/missing.npy}\n")
    with pytest.raises(FileNotFoundError, match="Motion file not found: .*missing.npy"):
        mf.load_motion_list(y)
