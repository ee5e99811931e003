"""MotionLib queries: exact frames, interpolation, sampling, failure weighting."""

from pathlib import Path

import numpy as np
import pytest
import torch

from protomotions.motion.motion_lib import MotionLib
from protomotions.utils import rotations as rot

REPO = Path(__file__).resolve().parents[1]

MOTIONS = Path(__file__).resolve().parents[1] / "data" / "motions"


@pytest.fixture(scope="module")
def lib():
    return MotionLib(MOTIONS / "locomotion.yaml", device="cpu")


def test_missing_file_message(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        MotionLib(tmp_path / "none.yaml")
    assert str(e.value) == f"Motion file not found: {tmp_path / 'none.yaml'}"


def test_frame_times_return_frames(lib):
    from protomotions.motion.motion_file import load_motion

    ids = torch.tensor([0, 3, 3, lib.num_motions - 1])
    frames = torch.tensor([0, 5, 17, 2])
    s = lib.get_state(ids, frames.float() / 30.0)
    for n, (i, f) in enumerate(zip(ids.tolist(), frames.tolist())):
        clip = load_motion(lib.motion_files[i])
        np.testing.assert_allclose(s.body_pos[n].numpy(), clip["body_pos"][f], atol=1e-5)
        np.testing.assert_allclose(s.body_vel[n].numpy(), clip["body_vel"][f], atol=1e-4)
        d = rot.wrap_to_pi(s.dof_pos[n] - torch.as_tensor(clip["dof_pos"][f]))
        assert float(d.abs().max()) < 1e-5
        assert float(rot.quat_angle_between(s.body_rot[n], torch.as_tensor(clip["body_rot"][f])).max()) < 1e-3
        np.testing.assert_array_equal(s.contacts[n].numpy(), clip["contacts"][f])
        np.testing.assert_allclose(s.root_pos[n].numpy(), clip["root_pos"][f], atol=1e-5)


def test_midpoint_interpolation_and_clamping(lib):
    ids = torch.tensor([1, 1, 1])
    s0, s1 = lib.get_state(ids[:1], torch.tensor([10 / 30])), lib.get_state(ids[:1], torch.tensor([11 / 30]))
    mid = lib.get_state(ids[:1], torch.tensor([10.5 / 30]))
    torch.testing.assert_close(mid.body_pos, 0.5 * (s0.body_pos + s1.body_pos), atol=1e-5, rtol=0)
    expect = rot.quat_slerp(s0.body_rot, s1.body_rot, torch.full((1, 24), 0.5))
    assert float(rot.quat_angle_between(mid.body_rot, expect).max()) < 1e-3
    end = lib.get_state(ids, torch.tensor([-1.0, 1e6, float(lib.motion_lengths[1])]))
    torch.testing.assert_close(end.body_pos[1], end.body_pos[2])
    assert end.root_pos.shape == (3, 3) and end.dof_pos.shape == (3, 69) and end.contacts.shape == (3, 24)


def test_sampling_follows_weights_and_failures(tmp_path):
    walk = MOTIONS / "smpl_humanoid_walk.npy"
    run = MOTIONS / "cmu_16_35.npy"
    y = tmp_path / "two.yaml"
    y.write_text(f"motions:\n  - {{file: {walk}, weight: 3.0}}\n  - {{file: {run}, weight: 1.0}}\n")
    lib = MotionLib(y)
    g = torch.Generator().manual_seed(0)
    ids = lib.sample_motions(8000, generator=g)
    assert abs(float((ids == 0).float().mean()) - 0.75) < 0.03
    t = lib.sample_times(ids, truncate_time=0.5, generator=g)
    assert (t >= 0).all() and (t <= lib.motion_lengths[ids] - 0.5 + 1e-6).all()
    before = lib.sampling_weights.clone()
    lib.update_sampling_weights(torch.tensor([1] * 50 + [0] * 50), torch.tensor([False] * 50 + [True] * 50))
    after = lib.sampling_weights
    assert after[1] > before[1] and after[0] < before[0]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_gpu_queries():
    lib = MotionLib(MOTIONS / "smpl_humanoid_walk.npy", device="cuda")
    s = lib.get_state(lib.sample_motions(64), torch.rand(64, device="cuda"))
    assert s.body_pos.is_cuda


def test_rank_subsets_are_disjoint_and_cover_the_list():
    listing = REPO / "data" / "motions" / "locomotion.yaml"
    full = MotionLib(listing)
    shares = [MotionLib(listing, subset=(r, 2)) for r in range(2)]
    names = [set(s.motion_names) for s in shares]
    assert not names[0] & names[1] and names[0] | names[1] == set(full.motion_names)
    assert abs(shares[0].num_motions - shares[1].num_motions) <= 1
    # fewer clips than ranks: every rank keeps the whole (single-clip) list
    single = MotionLib(REPO / "data" / "motions" / "smpl_humanoid_walk.npy", subset=(1, 2))
    assert single.num_motions == 1
    with pytest.raises(ValueError, match="rank 2 outside world_size 2"):
        MotionLib(listing, subset=(2, 2))
