"""BVH and ASF/AMC parsers on small excerpts of the real CMU files (shared/ beside the repo)."""

from pathlib import Path

import numpy as np
import pytest
import torch

from protomotions.motion.asf_amc import read_amc, read_asf, read_asf_amc, to_source_motion, write_amc
from protomotions.motion.bvh import read_bvh, write_bvh
from protomotions.utils import rotations as rot

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
BVH = DATA / "cmu_bvh" / "16_21.bvh"
ASF, AMC = DATA / "cmu_asfamc" / "02.asf", DATA / "cmu_asfamc" / "02_01.amc"
needs_data = pytest.mark.skipif(not BVH.is_file() or not AMC.is_file(),
                                reason=f"raw CMU data not found under {DATA} (CI checks shared/ out beside the repo)")


def _angle(a, b):
    return rot.quat_angle_between(torch.as_tensor(a), torch.as_tensor(b)).max().item()


@needs_data
def test_bvh_reference_frame_and_layout():
    m = read_bvh(BVH)
    assert len(m.names) == 31 and m.fps == 120.0 and m.num_frames == 313
    # frame 0 is cgspeed's reference pose: LeftUpLeg Zrotation −21°, everything else at the hips 0
    q = m.local_rot[0, m.index("LeftUpLeg")]
    expected = rot.quat_from_axis_angle(torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64), torch.tensor(np.radians(-21.0)))
    assert _angle(q, expected) < 1e-9
    dropped = read_bvh(BVH, drop_first_frame=True)
    assert dropped.num_frames == 312
    np.testing.assert_allclose(dropped.local_rot[0], m.local_rot[1])


@needs_data
def test_bvh_round_trip_on_excerpt(tmp_path):
    m = read_bvh(BVH, drop_first_frame=True).slice(0, 24)
    out = tmp_path / "excerpt.bvh"
    write_bvh(out, m)
    m2 = read_bvh(out)
    assert m2.names == m.names and m2.parents == m.parents and m2.num_frames == 24
    np.testing.assert_allclose(m2.offsets, m.offsets, atol=1e-6)
    np.testing.assert_allclose(m2.root_pos, m.root_pos, atol=1e-6)
    assert _angle(m2.local_rot, m.local_rot) < 1e-6
    assert abs(m2.fps - 120.0) < 1e-3


@needs_data
def test_zup_conversion_puts_subject_upright_walking_forward():
    m = read_bvh(BVH, drop_first_frame=True).to_zup()
    pos, _ = m.fk()
    hips, head = pos[:, m.index("Hips")], pos[:, m.index("Head")]
    assert 0.85 < hips[0, 2] < 1.1 and (head[:, 2] > hips[:, 2] + 0.3).all()
    assert (pos[:, m.index("LeftUpLeg"), 1] > pos[:, m.index("RightUpLeg"), 1]).all()  # left is +y
    assert hips[-1, 0] - hips[0, 0] > 2.0  # subject 16 walks along source +Z → our +x


@needs_data
def test_asf_amc_round_trip_on_excerpt(tmp_path):
    skel = read_asf(ASF)
    assert skel.order[0] == "root" and len(skel.order) == 31
    assert abs(skel.unit_m - 0.0254 / 0.45) < 1e-12
    frames = read_amc(AMC)
    assert len(frames) == 343
    out = tmp_path / "excerpt.amc"
    write_amc(out, frames[:12])
    again = read_amc(out)
    assert len(again) == 12
    for a, b in zip(frames[:12], again):
        assert a.keys() == b.keys()
        for k in a:
            np.testing.assert_allclose(a[k], b[k], rtol=1e-5, atol=1e-9)
    m1, m2 = to_source_motion(skel, frames[:12]), to_source_motion(skel, again)
    assert _angle(m1.local_rot, m2.local_rot) < 1e-5


@needs_data
def test_asf_amc_geometry():
    m = read_asf_amc(ASF, AMC).to_zup().slice(0, 30)
    pos, _ = m.fk()
    # bone lengths survive FK: femur length 7.59371 units
    femur = np.linalg.norm(pos[:, m.index("ltibia")] - pos[:, m.index("lfemur")], axis=-1)
    np.testing.assert_allclose(femur, 7.59371 * 0.0254 / 0.45, rtol=1e-5)  # direction is unit to 6 digits
    assert (pos[:, m.index("head"), 2] > pos[:, m.index("root"), 2] + 0.3).all()
    feet = pos[:, [m.index("lfoot"), m.index("rfoot")], 2].min(-1)
    assert (feet < 0.25).all()
    assert (pos[:, m.index("lfemur"), 1] > pos[:, m.index("rfemur"), 1]).all()


def test_bvh_rejects_other_text(tmp_path):
    p = tmp_path / "bad.bvh"
    p.write_text("hello")
    with pytest.raises(ValueError, match="not a BVH file"):
        read_bvh(p)
