"""A short history of self-observations, sampled every ``stride`` steps."""

from __future__ import annotations

import torch


class ObsHistory:
    """Ring buffer of the last ``length · stride + 1`` observations (N, size); read as (N, length · size)."""

    def __init__(self, num_envs: int, size: int, length: int, stride: int, device) -> None:
        self.length, self.stride = length, stride
        self.buffer = torch.zeros(num_envs, length * stride + 1, size, device=device)
        self.head = 0  # index of the newest entry

    def fill(self, env_ids: torch.Tensor, obs: torch.Tensor) -> None:
        """After a reset the past is the present: every slot of ``env_ids`` holds ``obs`` (M, size)."""
        self.buffer[env_ids] = obs[:, None, :]

    def push(self, obs: torch.Tensor) -> None:
        self.head = (self.head + 1) % self.buffer.shape[1]
        self.buffer[:, self.head] = obs

    def read(self) -> torch.Tensor:
        """Entries at t − stride, t − 2·stride, ... (most recent first), flattened; the newest push is t."""
        n = self.buffer.shape[1]
        idx = [(self.head - k * self.stride) % n for k in range(1, self.length + 1)]
        return self.buffer[:, idx].reshape(self.buffer.shape[0], -1)
