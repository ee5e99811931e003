"""Generalised advantage estimation with terminations and time-outs kept apart.

Notation (per env, time t of a rollout of length T):
    s'_t          observation returned by env.step at t, *before* any reset
    V(s'_t)       ``next_values[t]``: the critic on that pre-reset observation
    terminated_t  the episode failed at t: the future is worth 0, no bootstrap
    truncated_t   the episode hit its time limit at t: the future is worth V(s'_t)
    done_t        terminated_t or truncated_t: the advantage recursion stops at t

Because ``next_values`` is evaluated on the pre-reset observation, a time-out is bootstrapped
from the state the episode actually ended in, not from the next episode's first state.
For an env that did not finish, s'_t is also the observation the agent acts on at t+1.
"""

from __future__ import annotations

import torch


@torch.no_grad()
def compute_gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    next_values: torch.Tensor,
    terminated: torch.Tensor,
    truncated: torch.Tensor,
    gamma: float,
    gae_lambda: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Advantages and returns of one rollout.

    Args:
        rewards: ``[T, N]`` r_t.
        values: ``[T, N]`` V(s_t) of the observation acted on at t.
        next_values: ``[T, N]`` V(s'_t) of the pre-reset observation after step t.
        terminated: ``[T, N]`` bool, failure at t (no bootstrap).
        truncated: ``[T, N]`` bool, time-out at t (bootstrap with V(s'_t)).
        gamma: discount γ.
        gae_lambda: GAE λ.

    Returns:
        ``(advantages [T, N], returns [T, N])`` with returns = advantages + values.
    """
    shape = rewards.shape
    for name, tensor in (
        ("values", values),
        ("next_values", next_values),
        ("terminated", terminated),
        ("truncated", truncated),
    ):
        if tensor.shape != shape:
            raise ValueError(
                f"compute_gae: {name} has shape {tuple(tensor.shape)}, rewards has {tuple(shape)}"
            )
    not_terminated = 1.0 - terminated.float()  # 0 where the future is worth nothing
    not_done = 1.0 - (terminated | truncated).float()  # 0 where the episode ended (either way)
    advantages = torch.zeros_like(rewards)
    next_advantage = torch.zeros_like(rewards[0])  # A_T = 0 (nothing after the rollout)
    for t in reversed(range(shape[0])):
        # δ_t = r_t + γ · (1 − terminated_t) · V(s'_t) − V(s_t)
        delta = rewards[t] + gamma * not_terminated[t] * next_values[t] - values[t]
        # A_t = δ_t + γλ · (1 − done_t) · A_{t+1}
        next_advantage = delta + gamma * gae_lambda * not_done[t] * next_advantage
        advantages[t] = next_advantage
    # R_t = A_t + V(s_t)  (the λ-return the critic regresses to)
    returns = advantages + values
    return advantages, returns
