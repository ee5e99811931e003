"""tools/clip_speed_oscillation.py: the speed error a clip has against its own windowed mean velocity."""

import importlib.util

import pytest
import torch

from tests.conftest import REPO


def load_tool():
    spec = importlib.util.spec_from_file_location("clip_speed_oscillation", REPO / "tools" / "clip_speed_oscillation.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_walk_surges_within_its_stride_and_a_constant_velocity_does_not():
    from protomotions.motion.motion_lib import MotionLib

    tool = load_tool()
    lib = MotionLib(REPO / "data" / "motions" / "cmu_02_01.npy")
    errors, speeds = tool.window_errors(lib, dt=1 / 30, window=30)
    assert len(errors) == len(speeds) > 0
    assert 0.5 < float(speeds.mean()) < 2.0  # a walk
    assert 0.01 < float(errors.mean()) < 0.3  # the pelvis surges and slows within each stride
    lib.flat["body_vel"][:, 0, :2] = torch.tensor([0.8, -0.6])  # the same velocity at every frame
    errors, speeds = tool.window_errors(lib, dt=1 / 30, window=30)
    assert float(errors.abs().max()) < 1e-5 and speeds.tolist() == pytest.approx([1.0] * len(speeds), abs=1e-5)
