"""Running mean/std against numpy, clamping, eval freezing, checkpointing and the DDP merge."""

import numpy as np
import pytest
import torch

from protomotions.agents.common.normalizer import DictNormalizer, RunningMeanStd


def batches(seed=0):
    rng = np.random.default_rng(seed)
    # uneven sizes and a shifted, scaled distribution
    return [rng.normal(loc=[3.0, -1.0, 0.0], scale=[2.0, 0.5, 10.0], size=(n, 3)) for n in (1, 7, 64, 3, 200)]


def test_matches_numpy_over_several_commits():
    rms = RunningMeanStd(3)
    data = batches()
    for i, batch in enumerate(data):
        rms.accumulate(torch.tensor(batch, dtype=torch.float32))
        if i % 2 == 1:
            rms.commit()
    rms.commit()
    everything = np.concatenate(data).astype(np.float32).astype(np.float64)
    np.testing.assert_allclose(rms.mean.numpy(), everything.mean(0), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(rms.var.numpy(), everything.var(0), rtol=1e-10)
    assert rms.count.item() == len(everything)
    x = torch.tensor(everything[:5], dtype=torch.float32)
    expected = (everything[:5] - everything.mean(0)) / np.sqrt(everything.var(0) + rms.epsilon)
    np.testing.assert_allclose(rms(x).numpy(), expected, rtol=1e-5, atol=1e-5)


def test_accumulate_does_not_change_statistics_until_commit():
    rms = RunningMeanStd(3)
    rms.accumulate(torch.full((4, 3), 7.0))
    assert torch.all(rms.mean == 0) and torch.all(rms.var == 1)
    rms.commit()
    assert torch.allclose(rms.mean, torch.full((3,), 7.0, dtype=torch.float64))


def test_clamps_to_plus_minus_five():
    rms = RunningMeanStd(1)
    rms.accumulate(torch.randn(1000, 1))
    rms.commit()
    out = rms(torch.tensor([[1e6], [-1e6]]))
    assert out.tolist() == [[5.0], [-5.0]]


def test_eval_mode_freezes_statistics():
    rms = RunningMeanStd(3)
    rms.eval()
    rms.accumulate(torch.full((4, 3), 7.0))
    rms.commit()
    assert rms.count.item() == 0 and torch.all(rms.mean == 0)


def test_state_dict_round_trip_keeps_statistics():
    norm = DictNormalizer({"a": 3, "b": 2})
    norm.accumulate({"a": torch.randn(10, 3) + 2, "b": torch.randn(10, 2)})
    norm.commit()
    other = DictNormalizer({"a": 3, "b": 2})
    other.load_state_dict(norm.state_dict())
    x = {"a": torch.randn(4, 3), "b": torch.randn(4, 2)}
    for key in x:
        torch.testing.assert_close(other(x)[key], norm(x)[key])
    assert set(norm.state_dict()) == {f"stats.{g}.{b}" for g in "ab" for b in ("mean", "var", "count")}


class CaptureFabric:
    """Stands in for a 2-rank Fabric: all_reduce adds the other rank's packed moments."""

    world_size = 2

    def __init__(self, other_packed=None):
        self.other_packed = other_packed
        self.seen = None

    def all_reduce(self, tensor, reduce_op="sum"):
        assert reduce_op == "sum"
        self.seen = tensor.clone()
        return tensor if self.other_packed is None else tensor + self.other_packed


def test_distributed_commit_equals_statistics_of_the_union():
    data_rank0, data_rank1 = batches(0), batches(1)[:3]
    rank0, rank1 = RunningMeanStd(3), RunningMeanStd(3)
    for b in data_rank0:
        rank0.accumulate(torch.tensor(b))
    for b in data_rank1:
        rank1.accumulate(torch.tensor(b))
    capture = CaptureFabric()
    rank1.commit(capture)  # records what rank 1 contributes to the all-reduce
    rank0.commit(CaptureFabric(other_packed=capture.seen))
    union = np.concatenate(data_rank0 + data_rank1)
    np.testing.assert_allclose(rank0.mean.numpy(), union.mean(0), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(rank0.var.numpy(), union.var(0), rtol=1e-8)
    assert rank0.count.item() == len(union)


def test_wrong_width_is_reported():
    with pytest.raises(ValueError, match="expected last dim 3"):
        RunningMeanStd(3).accumulate(torch.zeros(2, 4))
