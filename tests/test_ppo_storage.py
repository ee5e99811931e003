"""Rollout storage: time-major layout, extra fields, overflow error, minibatch coverage."""

import pytest
import torch

from protomotions.agents.ppo.storage import RolloutStorage, Transition

T, N, A = 3, 4, 2


def transition(t: int, extras=None) -> Transition:
    obs = {"self_obs": torch.full((N, 5), float(t)), "task": torch.full((N, 1), -float(t))}
    return Transition(
        obs=obs,
        actions=torch.full((N, A), float(t)),
        log_probs=torch.full((N,), float(t)),
        values=torch.arange(N, dtype=torch.float32) + 10 * t,
        next_values=torch.zeros(N),
        rewards=torch.ones(N),
        terminated=torch.zeros(N, dtype=torch.bool),
        truncated=torch.zeros(N, dtype=torch.bool),
        extras=extras if extras is not None else {"expert_actions": torch.full((N, A), 100.0 + t)},
    )


def make_storage() -> RolloutStorage:
    return RolloutStorage(T, N, {"self_obs": 5, "task": 1}, A, "cpu", extra_fields={"expert_actions": (A,)})


def test_buffers_are_time_major_and_hold_extra_fields():
    s = make_storage()
    for t in range(T):
        s.add(transition(t))
    assert s.obs["self_obs"].shape == (T, N, 5) and s.actions.shape == (T, N, A)
    assert s.extras["expert_actions"].shape == (T, N, A)
    assert s.obs["task"][2, 0, 0].item() == -2.0 and s.values[1, 3].item() == 13.0
    assert s.is_full()


def test_overflow_error_names_the_fix():
    s = make_storage()
    for t in range(T):
        s.add(transition(t))
    with pytest.raises(OverflowError, match="agent.update"):
        s.add(transition(0))


def test_shape_and_key_errors():
    s = make_storage()
    bad = transition(0)
    bad.values = torch.zeros(N, 1)  # (N, 1) instead of (N,): no silent broadcasting
    with pytest.raises(ValueError, match="'values' has shape"):
        s.add(bad)
    with pytest.raises(KeyError, match="extra_storage_fields"):
        s.add(transition(0, extras={}))


def test_minibatches_cover_every_sample_once_per_epoch():
    s = make_storage()
    for t in range(T):
        s.add(transition(t))
    with pytest.raises(RuntimeError, match="compute_returns"):
        next(s.minibatches(4, 1))
    s.set_returns(torch.zeros(T, N), torch.zeros(T, N))
    batches = list(s.minibatches(batch_size=4, num_epochs=2))
    assert len(batches) == 2 * (T * N // 4)
    first_epoch = torch.cat([b.old_values for b in batches[:3]])
    assert sorted(first_epoch.tolist()) == sorted(s.values.flatten().tolist())
    b = batches[0]
    assert b.obs["self_obs"].shape == (4, 5) and b.extras["expert_actions"].shape == (4, A)
    # rows stay aligned across fields: value 10·t + n belongs to step t
    t_of_row = torch.div(b.old_values, 10, rounding_mode="floor")
    torch.testing.assert_close(b.actions[:, 0], t_of_row)
    torch.testing.assert_close(b.extras["expert_actions"][:, 0], 100.0 + t_of_row)
    with pytest.raises(ValueError, match="batch_size"):
        next(s.minibatches(T * N + 1, 1))
    s.clear()
    assert s.step == 0 and not s.is_full()
