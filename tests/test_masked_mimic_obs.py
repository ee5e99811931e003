import pytest
import torch

from protomotions.envs.history import ObsHistory
from protomotions.envs.masked_mimic.masks import ConditioningMasks, MaskConfig
from protomotions.envs.masked_mimic.obs import PER_BODY, masked_target_obs_h, masked_target_size
from protomotions.utils.rotations import quat_identity, yaw_quat


def test_masked_targets_zero_hidden_values_and_size():
    n, k, j = 2, 3, 6
    cur_pos = torch.zeros(n, j, 3)
    cur_rot = quat_identity((n, j))
    key_pos = torch.ones(n, k, j, 3)
    key_rot = yaw_quat(torch.full((n, k, j), 0.5))
    trans = torch.zeros(n, k, j, dtype=torch.bool)
    trans[:, :, 0] = True  # pelvis translation only
    rot = torch.zeros_like(trans)
    vis = torch.tensor([[True, False, True], [True, True, True]])
    t = torch.tensor([[0.1, 0.2, 0.3]]).expand(n, k)
    out = masked_target_obs_h(cur_pos, cur_rot, key_pos, key_rot, trans, rot, vis, t)
    assert out.shape == (n, masked_target_size(k, j))
    per_key = out.reshape(n, k, -1)
    bodies = per_key[..., : j * PER_BODY].reshape(n, k, j, PER_BODY)
    # env 0, keyframe 0: pelvis translation visible: target − current = (1, 1, 1), mask bit 1
    assert torch.allclose(bodies[0, 0, 0, :3], torch.ones(3))
    assert bodies[0, 0, 0, 6] == 1
    # rotation hidden → zeros and mask 0; other bodies all zero
    assert (bodies[0, 0, 0, 7:] == 0).all() and (bodies[0, 0, 1:] == 0).all()
    # env 0, keyframe 1 hidden: everything zero, including its time and visibility bit
    assert (per_key[0, 1] == 0).all()
    assert torch.allclose(per_key[0, 2, -2:], torch.tensor([0.3, 1.0]))


def test_masked_targets_are_in_the_heading_frame():
    cur_pos = torch.zeros(1, 6, 3)
    cur_rot = yaw_quat(torch.full((1, 6), 1.5707963))  # facing +y
    key_pos = torch.zeros(1, 1, 6, 3)
    key_pos[..., 1] = 2.0  # 2 m along +y = straight ahead
    ones = torch.ones(1, 1, 6, dtype=torch.bool)
    out = masked_target_obs_h(cur_pos, cur_rot, key_pos, cur_rot[:, None], ones, ones, torch.ones(1, 1, dtype=torch.bool),
                              torch.ones(1, 1))
    assert torch.allclose(out[0, :3], torch.tensor([2.0, 0.0, 0.0]), atol=1e-5)


def test_random_masks_draw_valid_patterns_and_fixed_modes():
    g = torch.Generator().manual_seed(0)
    masks = ConditioningMasks(MaskConfig(), 512, 5, "cpu", g)
    masks.resample(torch.arange(512))
    visible_bodies = (masks.trans | masks.rot).sum(-1)
    assert visible_bodies.min() >= 1 and visible_bodies.max() == 6
    assert masks.keyframes.any(-1).all()
    assert (masks.steps_left >= 15).all() and (masks.steps_left <= 90).all()
    fixed = ConditioningMasks(MaskConfig(conditioning="vr"), 2, 5, "cpu", g)
    # bodies: Pelvis, L_Ankle, R_Ankle, L_Hand, R_Hand, Head
    assert fixed.trans[0].tolist() == [False, False, False, True, True, True]
    assert fixed.rot[0].tolist() == [False, False, False, False, False, True]


def test_fixed_mode_share_of_random_draws():
    g = torch.Generator().manual_seed(1)
    n = 4000
    pelvis_only = torch.tensor([True, False, False, False, False, False])

    def exact_pelvis_share(config):
        masks = ConditioningMasks(config, n, 5, "cpu", g)
        masks.resample(torch.arange(n))
        exact = (masks.trans == pelvis_only).all(-1) & (masks.rot == pelvis_only).all(-1) & masks.keyframes.all(-1)
        return exact.float().mean().item()

    # the tasks' conditioning is almost never drawn at random ...
    assert exact_pelvis_share(MaskConfig()) < 0.01
    # ... and 30 % fixed modes over 5 modes make it ~6 % of draws
    assert 0.045 < exact_pelvis_share(MaskConfig(fixed_mode_prob=0.3)) < 0.075
    only = ConditioningMasks(MaskConfig(fixed_mode_prob=1.0, fixed_modes=("head",)), 8, 5, "cpu", g)
    only.resample(torch.arange(8))
    assert only.trans[:, -1].all() and only.trans[:, :-1].sum() == 0 and only.keyframes.all()
    with pytest.raises(ValueError, match="fixed_modes"):
        MaskConfig(fixed_modes=("elbow",))


def test_history_reads_strided_past_and_fills_on_reset():
    h = ObsHistory(num_envs=2, size=1, length=2, stride=2, device="cpu")
    h.fill(torch.arange(2), torch.zeros(2, 1))
    for t in range(1, 6):
        h.push(torch.full((2, 1), float(t)))
    # now t = 5: entries at t−2 = 3 and t−4 = 1
    assert h.read().tolist() == [[3.0, 1.0], [3.0, 1.0]]
    h.fill(torch.tensor([1]), torch.full((1, 1), 9.0))
    assert h.read().tolist() == [[3.0, 1.0], [9.0, 9.0]]
