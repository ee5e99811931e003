"""GAE against values worked out by hand, with one terminated and one truncated step."""

import pytest
import torch

from protomotions.agents.ppo.gae import compute_gae

GAMMA, LAMBDA = 0.9, 0.5  # γλ = 0.45


def test_gae_matches_hand_computation():
    # [T=3, N=2]; column 0 terminates at t=1, column 1 times out at t=1.
    rewards = torch.tensor([[1.0, 0.0], [2.0, 1.0], [3.0, 0.0]])
    values = torch.tensor([[0.5, 1.0], [1.0, 2.0], [1.5, 3.0]])
    # V(s'_t) on the pre-reset next obs; for env 1, 10.0 is V(final obs of the timed-out episode),
    # unrelated to values[2, 1] = 3.0, the first obs of the next episode.
    next_values = torch.tensor([[1.0, 2.0], [1.5, 10.0], [2.0, 4.0]])
    terminated = torch.tensor([[False, False], [True, False], [False, False]])
    truncated = torch.tensor([[False, False], [False, True], [False, False]])

    # env 0 (terminated at t=1):
    #   t=2: δ = 3 + 0.9·2.0 − 1.5 = 3.3                 A = 3.3
    #   t=1: δ = 2 + 0.9·0·1.5 − 1.0 = 1.0  (no bootstrap) A = 1.0 + 0.45·0·3.3 = 1.0
    #   t=0: δ = 1 + 0.9·1.0 − 0.5 = 1.4                 A = 1.4 + 0.45·1.0 = 1.85
    #   returns = A + V = [2.35, 2.0, 4.8]
    # env 1 (truncated at t=1):
    #   t=2: δ = 0 + 0.9·4.0 − 3.0 = 0.6                 A = 0.6
    #   t=1: δ = 1 + 0.9·10.0 − 2.0 = 8.0  (bootstrapped) A = 8.0 + 0.45·0·0.6 = 8.0
    #   t=0: δ = 0 + 0.9·2.0 − 1.0 = 0.8                 A = 0.8 + 0.45·8.0 = 4.4
    #   returns = [5.4, 10.0, 3.6]
    advantages, returns = compute_gae(rewards, values, next_values, terminated, truncated, GAMMA, LAMBDA)
    torch.testing.assert_close(advantages, torch.tensor([[1.85, 4.4], [1.0, 8.0], [3.3, 0.6]]))
    torch.testing.assert_close(returns, torch.tensor([[2.35, 5.4], [2.0, 10.0], [4.8, 3.6]]))


def test_lambda_one_without_dones_is_the_bootstrapped_discounted_return():
    # λ = 1, no dones: A_0 = r0 + γ r1 + γ² r2 + γ³ V(s'_2) − V(s_0)
    rewards = torch.tensor([[1.0], [1.0], [1.0]])
    values = torch.tensor([[0.0], [5.0], [7.0]])
    next_values = torch.tensor([[5.0], [7.0], [2.0]])
    no = torch.zeros(3, 1, dtype=torch.bool)
    advantages, _ = compute_gae(rewards, values, next_values, no, no, gamma=0.5, gae_lambda=1.0)
    # 1 + 0.5 + 0.25 + 0.125·2 − 0 = 2.0
    assert advantages[0, 0].item() == pytest.approx(2.0)


def test_timeout_differs_from_termination_only_by_the_bootstrap():
    rewards, values = torch.ones(1, 1), torch.zeros(1, 1)
    next_values = torch.full((1, 1), 4.0)
    yes, no = torch.ones(1, 1, dtype=torch.bool), torch.zeros(1, 1, dtype=torch.bool)
    adv_timeout, _ = compute_gae(rewards, values, next_values, no, yes, GAMMA, LAMBDA)
    adv_failure, _ = compute_gae(rewards, values, next_values, yes, no, GAMMA, LAMBDA)
    assert adv_timeout.item() == pytest.approx(1.0 + 0.9 * 4.0)
    assert adv_failure.item() == pytest.approx(1.0)


def test_shape_mismatch_names_the_argument():
    x = torch.zeros(3, 2)
    with pytest.raises(ValueError, match="next_values"):
        compute_gae(x, x, torch.zeros(3, 1), x.bool(), x.bool(), GAMMA, LAMBDA)
