import math

import torch

from protomotions.utils import rotations as R


def rand_quat(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return R.quat_normalize(torch.randn(n, 4, generator=g, dtype=torch.float64))


def test_quat_mul_matches_matrix_product():
    a, b = rand_quat(64, 1), rand_quat(64, 2)
    lhs = R.quat_to_matrix(R.quat_mul(a, b))
    rhs = R.quat_to_matrix(a) @ R.quat_to_matrix(b)
    assert torch.allclose(lhs, rhs, atol=1e-10)


def test_rotate_known_values():
    q = R.quat_from_axis_angle(torch.tensor([0.0, 0.0, 1.0]), torch.tensor(math.pi / 2))
    assert torch.allclose(q, torch.tensor([0.0, 0.0, math.sin(math.pi / 4), math.cos(math.pi / 4)]))
    v = R.quat_rotate(q, torch.tensor([1.0, 0.0, 0.0]))
    assert torch.allclose(v, torch.tensor([0.0, 1.0, 0.0]), atol=1e-6)
    assert torch.allclose(R.quat_rotate_inverse(q, v), torch.tensor([1.0, 0.0, 0.0]), atol=1e-6)


def test_matrix_round_trip_including_180_degrees():
    q = rand_quat(256, 3)
    q = torch.cat([q, R.quat_from_axis_angle(torch.eye(3, dtype=torch.float64), torch.full((3,), math.pi, dtype=torch.float64))])
    back = R.matrix_to_quat(R.quat_to_matrix(q))
    # q and -q are the same rotation
    err = torch.minimum((back - q).abs().amax(-1), (back + q).abs().amax(-1))
    assert err.max() < 1e-9


def test_euler_xyz_round_trip_and_order():
    g = torch.Generator().manual_seed(4)
    angles = (torch.rand(500, 3, generator=g, dtype=torch.float64) * 2 - 1) * torch.tensor([math.pi, 1.5, math.pi], dtype=torch.float64)
    back = R.quat_to_euler_xyz(R.euler_xyz_to_quat(angles))
    assert torch.allclose(back, angles, atol=1e-8)
    # order: Rx(a) Ry(b) Rz(c), intrinsic
    a, b, c = 0.3, -0.4, 0.5
    rx = R.quat_from_axis_angle(torch.tensor([1.0, 0, 0]), torch.tensor(a))
    ry = R.quat_from_axis_angle(torch.tensor([0, 1.0, 0]), torch.tensor(b))
    rz = R.quat_from_axis_angle(torch.tensor([0, 0, 1.0]), torch.tensor(c))
    expect = R.quat_mul(R.quat_mul(rx, ry), rz)
    assert torch.allclose(R.euler_xyz_to_quat(torch.tensor([a, b, c])), expect, atol=1e-7)


def test_gimbal_lock_gives_same_rotation():
    angles = torch.tensor([[0.7, math.pi / 2, 0.2], [-0.3, -math.pi / 2, 0.9]], dtype=torch.float64)
    q = R.euler_xyz_to_quat(angles)
    q2 = R.euler_xyz_to_quat(R.quat_to_euler_xyz(q))
    assert R.quat_angle_between(q, q2).max() < 1e-5


def test_heading_ignores_pitch_and_roll():
    yaw = torch.tensor([0.0, 1.0, -2.5, 3.0])
    tilt = R.quat_from_axis_angle(torch.tensor([[0.0, 1.0, 0.0]]).expand(4, 3), torch.full((4,), 0.4))
    q = R.quat_mul(R.yaw_quat(yaw), tilt)
    assert torch.allclose(R.heading_angle(q), yaw, atol=1e-6)
    local = R.quat_mul(R.heading_quat_inverse(q), q)
    assert torch.allclose(R.heading_angle(local), torch.zeros(4), atol=1e-6)


def test_slerp_endpoints_and_midpoint():
    q0 = R.yaw_quat(torch.tensor([0.0]))
    q1 = R.yaw_quat(torch.tensor([1.0]))
    assert torch.allclose(R.quat_slerp(q0, q1, torch.tensor([0.0])), q0, atol=1e-6)
    assert torch.allclose(R.quat_slerp(q0, q1, torch.tensor([1.0])), q1, atol=1e-6)
    assert torch.allclose(R.heading_angle(R.quat_slerp(q0, q1, torch.tensor([0.5]))), torch.tensor([0.5]), atol=1e-6)


def test_exp_map_round_trip_and_tan_norm_identity():
    v = torch.tensor([[0.1, -0.2, 0.3], [0.0, 0.0, 0.0], [2.0, 0.5, -1.0]], dtype=torch.float64)
    assert torch.allclose(R.quat_to_exp_map(R.quat_from_exp_map(v)), v, atol=1e-9)
    tn = R.quat_to_tan_norm(R.quat_identity((1,)))
    assert torch.allclose(tn, torch.tensor([[1.0, 0, 0, 0, 0, 1.0]]))


def test_wxyz_conversion_round_trip():
    q = rand_quat(8)
    assert torch.equal(R.wxyz_to_xyzw(R.xyzw_to_wxyz(q)), q)
    assert torch.equal(R.xyzw_to_wxyz(q)[:, 0], q[:, 3])
