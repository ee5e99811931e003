import torch

from protomotions.agents.checkpoint import load_checkpoint, save_checkpoint
from protomotions.agents.transport import pack, unpack


def test_pack_unpack_round_trip_with_small_parts(tmp_path):
    state = {
        "model": {"a.weight": torch.randn(300, 300), "b.bias": torch.randn(7)},
        "optimizer": {"state": {0: {"exp_avg": torch.randn(300, 300)}}, "param_groups": [{"lr": 1e-4, "params": [0]}]},
        "normalizer": {"mean": torch.randn(5, dtype=torch.float64)},
        "epoch": 12, "global_step": 4096, "best_score": 0.5, "config": {"agent": {"x": [1, 2]}},
    }
    save_checkpoint(state, tmp_path / "last.ckpt")
    files = pack(tmp_path / "last.ckpt", tmp_path / "parts", max_mb=0.5)
    assert len([f for f in files if f.name.startswith("part")]) >= 2
    assert all(f.stat().st_size < 0.5 * 2**20 for f in files)
    back = load_checkpoint(unpack(tmp_path / "parts", tmp_path / "joined.ckpt"))
    assert torch.equal(back["model"]["a.weight"], state["model"]["a.weight"])
    assert torch.equal(back["optimizer"]["state"][0]["exp_avg"], state["optimizer"]["state"][0]["exp_avg"])
    assert back["optimizer"]["param_groups"] == state["optimizer"]["param_groups"]
    assert (back["epoch"], back["global_step"], back["config"]) == (12, 4096, state["config"])


def test_drop_optimizer(tmp_path):
    save_checkpoint({"model": {"w": torch.ones(3)}, "optimizer": {"state": {}}, "epoch": 1}, tmp_path / "c.ckpt")
    pack(tmp_path / "c.ckpt", tmp_path / "p", drop_optimizer=True)
    back = load_checkpoint(unpack(tmp_path / "p", tmp_path / "d.ckpt"))
    assert "optimizer" not in back and torch.equal(back["model"]["w"], torch.ones(3))
