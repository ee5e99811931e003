"""Preallocated, time-major rollout storage and the minibatch iterator.

Every buffer is ``(num_steps, num_envs, ...)``. Subclassed agents register extra named fields
(e.g. ``expert_actions``) with their per-env shape; they are stored and batched like the rest.
Minibatches are drawn from the flattened ``num_steps · num_envs`` samples.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import torch


@dataclass
class Transition:
    """One env step for all envs. Shapes: ``(num_envs, ...)``."""

    obs: dict[str, torch.Tensor]  # observation acted on, name → (N, size)
    actions: torch.Tensor  # (N, action_dim)
    log_probs: torch.Tensor  # (N,) log π_old(a|s)
    values: torch.Tensor  # (N,) V(s)
    next_values: torch.Tensor  # (N,) V(s') of the pre-reset next observation
    rewards: torch.Tensor  # (N,)
    terminated: torch.Tensor  # (N,) bool
    truncated: torch.Tensor  # (N,) bool
    extras: dict[str, torch.Tensor] = field(default_factory=dict)  # name → (N, *shape)


@dataclass
class RolloutBatch:
    """A minibatch of flattened samples. Shapes: ``(B, ...)``."""

    obs: dict[str, torch.Tensor]
    actions: torch.Tensor  # (B, action_dim)
    old_log_probs: torch.Tensor  # (B,)
    old_values: torch.Tensor  # (B,)
    advantages: torch.Tensor  # (B,)
    returns: torch.Tensor  # (B,)
    extras: dict[str, torch.Tensor]  # name → (B, *shape)


class RolloutStorage:
    """Fixed-size buffer for one rollout of ``num_steps`` steps of ``num_envs`` envs."""

    def __init__(
        self,
        num_steps: int,
        num_envs: int,
        obs_spec: Mapping[str, int],
        action_dim: int,
        device: torch.device | str,
        extra_fields: Mapping[str, tuple[int, ...]] | None = None,
    ) -> None:
        self.num_steps = num_steps
        self.num_envs = num_envs
        self.device = torch.device(device)
        self.action_dim = action_dim
        tn = (num_steps, num_envs)

        def zeros(*shape: int, dtype=torch.float32) -> torch.Tensor:
            return torch.zeros(*tn, *shape, dtype=dtype, device=self.device)

        self.obs = {name: zeros(int(size)) for name, size in obs_spec.items()}
        self.actions = zeros(action_dim)
        self.log_probs = zeros()
        self.values = zeros()
        self.next_values = zeros()
        self.rewards = zeros()
        self.terminated = zeros(dtype=torch.bool)
        self.truncated = zeros(dtype=torch.bool)
        self.advantages = zeros()
        self.returns = zeros()
        self.extras = {name: zeros(*shape) for name, shape in (extra_fields or {}).items()}
        self.step = 0
        self.returns_ready = False

    @property
    def num_samples(self) -> int:
        return self.num_steps * self.num_envs

    def is_full(self) -> bool:
        return self.step == self.num_steps

    def clear(self) -> None:
        self.step = 0
        self.returns_ready = False

    def add(self, transition: Transition) -> None:
        if self.step >= self.num_steps:
            raise OverflowError(
                f"RolloutStorage is full ({self.num_steps} steps = agent.config.num_steps). "
                "Call agent.update() (which clears it) after each rollout before recording more steps, "
                "or raise agent.config.num_steps."
            )
        t = self.step
        self._check_keys("obs", transition.obs, self.obs)
        self._check_keys("extras", transition.extras, self.extras)
        for name, buf in self.obs.items():
            self._write(f"obs['{name}']", buf, t, transition.obs[name])
        for name, buf in self.extras.items():
            self._write(f"extras['{name}']", buf, t, transition.extras[name])
        self._write("actions", self.actions, t, transition.actions)
        self._write("log_probs", self.log_probs, t, transition.log_probs)
        self._write("values", self.values, t, transition.values)
        self._write("next_values", self.next_values, t, transition.next_values)
        self._write("rewards", self.rewards, t, transition.rewards)
        self._write("terminated", self.terminated, t, transition.terminated)
        self._write("truncated", self.truncated, t, transition.truncated)
        self.step += 1

    @staticmethod
    def _check_keys(
        what: str, given: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor]
    ) -> None:
        if set(given) != set(expected):
            raise KeyError(
                f"Transition.{what} keys {sorted(given)} do not match the storage's {sorted(expected)}; "
                "register extra fields through the agent's extra_storage_fields() hook"
            )

    @staticmethod
    def _write(name: str, buf: torch.Tensor, t: int, value: torch.Tensor) -> None:
        # shape is host metadata: this check costs no device sync
        if value.shape != buf.shape[1:]:
            raise ValueError(
                f"RolloutStorage: '{name}' has shape {tuple(value.shape)}, expected {tuple(buf.shape[1:])}"
            )
        buf[t].copy_(value.detach())

    def set_returns(self, advantages: torch.Tensor, returns: torch.Tensor) -> None:
        """Store ``[T, N]`` advantages and returns computed after the rollout."""
        self.advantages.copy_(advantages)
        self.returns.copy_(returns)
        self.returns_ready = True

    def minibatches(
        self, batch_size: int, num_epochs: int, generator: torch.Generator | None = None
    ) -> Iterator[RolloutBatch]:
        """Yield ``num_epochs × (num_samples // batch_size)`` minibatches of ``batch_size`` samples.

        Each epoch draws a fresh permutation; the remainder of ``num_samples / batch_size`` is
        left out of that epoch (a different remainder every epoch).
        """
        if not self.is_full():
            raise RuntimeError(
                f"RolloutStorage holds {self.step}/{self.num_steps} steps; finish the rollout first"
            )
        if not self.returns_ready:
            raise RuntimeError(
                "advantages/returns are not computed; call agent.compute_returns() before update()"
            )
        if not 0 < batch_size <= self.num_samples:
            raise ValueError(
                f"agent.config.batch_size={batch_size} must be in "
                f"[1, num_steps·num_envs = {self.num_samples}]; "
                "lower batch_size or raise num_envs / num_steps"
            )
        flat = self._flattened()
        num_batches = self.num_samples // batch_size
        for _ in range(num_epochs):
            perm = torch.randperm(self.num_samples, device=self.device, generator=generator)
            for i in range(num_batches):
                idx = perm[i * batch_size : (i + 1) * batch_size]
                yield RolloutBatch(
                    obs={k: v[idx] for k, v in flat["obs"].items()},
                    actions=flat["actions"][idx],
                    old_log_probs=flat["log_probs"][idx],
                    old_values=flat["values"][idx],
                    advantages=flat["advantages"][idx],
                    returns=flat["returns"][idx],
                    extras={k: v[idx] for k, v in flat["extras"].items()},
                )

    def _flattened(self) -> dict:
        """Views ``(T·N, ...)`` of every buffer (``b_`` prefix in CleanRL terms)."""

        def flat(x: torch.Tensor) -> torch.Tensor:
            return x.reshape(self.num_samples, *x.shape[2:])

        return {
            "obs": {k: flat(v) for k, v in self.obs.items()},
            "actions": flat(self.actions),
            "log_probs": flat(self.log_probs),
            "values": flat(self.values),
            "advantages": flat(self.advantages),
            "returns": flat(self.returns),
            "extras": {k: flat(v) for k, v in self.extras.items()},
        }
