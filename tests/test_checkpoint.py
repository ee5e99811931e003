"""Atomic checkpoints: weights_only round trip, crash mid-write, rejected payloads."""

import math

import pytest
import torch
from lightning.fabric import Fabric

from protomotions.agents import checkpoint as ckpt
from protomotions.agents.ppo.agent import PPOAgent
from protomotions.agents.ppo.config import PPOAgentConfig

OBS_SPEC = {"self_obs": 4}


@pytest.fixture(autouse=True)
def single_torch_thread():
    """Tiny networks run ~20x faster on one intra-op thread when the 2 cores are shared."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def make_agent(seed: int) -> PPOAgent:
    torch.manual_seed(seed)
    fabric = Fabric(accelerator="cpu", devices=1)
    fabric.launch()
    cfg = PPOAgentConfig(
        num_steps=2,
        batch_size=8,
        num_mini_epochs=1,
        model={
            "config": {
                "actor_obs_keys": ["self_obs"],
                "critic_obs_keys": ["self_obs"],
                "actor_units": [8],
                "critic_units": [8],
                "learnable_log_std": True,
                "optimizer": {"lr": 1e-3},
            }
        },
    )
    return PPOAgent(cfg, OBS_SPEC, action_dim=2, num_envs=4, fabric=fabric)


def trained_agent(seed: int = 0) -> PPOAgent:
    """One real update, so the optimiser has Adam state and the normaliser has statistics."""
    agent = make_agent(seed)
    for _ in range(2):
        obs = {"self_obs": torch.randn(4, 4) * 3 + 1}
        actions, log_prob, value = agent.act(obs)
        agent.record_step(
            obs,
            actions,
            log_prob,
            value,
            torch.ones(4),
            torch.zeros(4, dtype=torch.bool),
            torch.zeros(4, dtype=torch.bool),
            obs,
        )
    agent.compute_returns()
    agent.update()
    return agent


def checkpoint_of(agent: PPOAgent, epoch: int = 7) -> dict:
    return ckpt.make_checkpoint(
        agent.state_dict(),
        epoch=epoch,
        global_step=epoch * 8,
        best_score=-math.inf,
        config={"agent": agent.config.to_dict()},
    )


def test_round_trip_with_weights_only(tmp_path):
    agent = trained_agent()
    path = ckpt.save_checkpoint(checkpoint_of(agent), tmp_path / ckpt.LAST_CHECKPOINT)
    state = torch.load(path, weights_only=True)
    assert set(state) == {"model", "optimizer", "normalizer", "learning_rate", "epoch", "global_step", "best_score",
                          "config"}
    assert state["epoch"] == 7 and state["global_step"] == 56 and state["best_score"] == -math.inf
    assert state["config"]["agent"]["model"]["config"]["actor_units"] == [8]
    fresh = make_agent(seed=123)
    fresh.load_state_dict(state)
    for key, value in agent.module.state_dict().items():
        torch.testing.assert_close(fresh.module.state_dict()[key], value)
    torch.testing.assert_close(
        fresh.normalizer.stats["self_obs"].mean, agent.normalizer.stats["self_obs"].mean
    )
    assert (
        fresh.optimizer_raw.state_dict()["state"][0]["step"]
        == agent.optimizer_raw.state_dict()["state"][0]["step"]
    )


def test_crash_mid_write_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    target = tmp_path / ckpt.LAST_CHECKPOINT
    ckpt.save_checkpoint(checkpoint_of(trained_agent(), epoch=10), target)
    real_save = torch.save

    def crashing_save(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 half a zip archive")  # part of the temp file is on disk
        f.flush()
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(torch, "save", crashing_save)
    with pytest.raises(OSError, match="simulated"):
        ckpt.save_checkpoint(checkpoint_of(trained_agent(1), epoch=20), target)
    monkeypatch.setattr(torch, "save", real_save)

    assert torch.load(target, weights_only=True)["epoch"] == 10  # the old file is intact
    assert sorted(p.name for p in tmp_path.glob("*.ckpt")) == [ckpt.LAST_CHECKPOINT]
    assert list(tmp_path.iterdir()) == [target]  # the partial temp file was removed


def test_killed_writer_leaves_only_a_hidden_temp_file(tmp_path, monkeypatch):
    """A SIGKILL cannot run cleanup: the leftover must not look like a checkpoint."""
    target = tmp_path / ckpt.LAST_CHECKPOINT
    ckpt.save_checkpoint({"epoch": 1}, target)
    monkeypatch.setattr(torch, "save", lambda obj, f, *a, **k: (_ for _ in ()).throw(SystemExit("killed")))
    monkeypatch.setattr(type(ckpt.temp_path_for(target)), "unlink", lambda self, missing_ok=False: None)
    with pytest.raises(SystemExit):
        ckpt.save_checkpoint({"epoch": 2}, target)
    leftovers = [p.name for p in tmp_path.iterdir() if p != target]
    assert leftovers and all(name.startswith(".") and not name.endswith(".ckpt") for name in leftovers)
    assert [p.name for p in tmp_path.glob("*.ckpt")] == [ckpt.LAST_CHECKPOINT]
    assert torch.load(target, weights_only=True)["epoch"] == 1


def test_non_tensor_payload_is_rejected_with_its_path(tmp_path):
    class Opaque:
        pass

    with pytest.raises(TypeError, match=r"\['config'\]\['thing'\].*weights_only"):
        ckpt.save_checkpoint({"config": {"thing": Opaque()}}, tmp_path / "x.ckpt")
    assert not list(tmp_path.iterdir())


def test_reserved_keys_and_missing_file():
    with pytest.raises(KeyError, match="epoch"):
        ckpt.make_checkpoint({"epoch": 1}, 1, 1, 0.0, {})
    with pytest.raises(FileNotFoundError, match="checkpoint=PATH"):
        ckpt.load_checkpoint("/nonexistent/last.ckpt")
    assert (
        ckpt.is_better(0.5, -math.inf) and not ckpt.is_better(0.5, 0.5) and not ckpt.is_better(math.nan, 0.0)
    )
