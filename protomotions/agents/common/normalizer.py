"""Running mean/std observation normalisation.

Statistics are merged with the parallel (Chan et al.) form of Welford's algorithm in float64,
so merging a batch of any size is exact, and merging per-rank batches is the same as merging
their union. During a rollout each observation batch is only *accumulated* on the device
(no host sync, no collective); ``commit`` folds the pending moments into the running
statistics once per epoch, all-reducing them across ranks first when a Fabric is given, so
every rank ends with identical statistics.

The statistics live in module buffers, so ``state_dict`` checkpoints them; the pending
accumulators are non-persistent. In ``eval()`` mode ``accumulate`` and ``commit`` do nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from torch import nn


def merge_moments(
    count_a: torch.Tensor,
    mean_a: torch.Tensor,
    m2_a: torch.Tensor,
    count_b: torch.Tensor,
    mean_b: torch.Tensor,
    m2_b: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Merge two sets of moments (count scalar, mean (D,), M2 = sum of squared deviations (D,)).

    Works with a zero count on either side (no host branch: the division is guarded).
    """
    count = count_a + count_b
    safe = count.clamp(min=1.0)
    delta = mean_b - mean_a
    mean = mean_a + delta * (count_b / safe)  # weighted mean
    m2 = m2_a + m2_b + delta.square() * (count_a * count_b / safe)  # Chan's parallel M2
    return count, mean, m2


class RunningMeanStd(nn.Module):
    """Normalises ``(..., size)`` tensors to zero mean, unit std, clamped to ±clamp.

    Buffers: ``mean`` (size,), ``var`` (size,), ``count`` () — all float64, persistent.
    """

    def __init__(self, size: int, clamp: float = 5.0, epsilon: float = 1e-5) -> None:
        super().__init__()
        if size <= 0:
            raise ValueError(f"RunningMeanStd size must be positive, got {size}")
        self.size = size
        self.clamp = clamp
        self.epsilon = epsilon
        self.register_buffer("mean", torch.zeros(size, dtype=torch.float64))
        self.register_buffer("var", torch.ones(size, dtype=torch.float64))
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))
        # moments of batches seen since the last commit (not checkpointed)
        self.register_buffer("_pending_count", torch.zeros((), dtype=torch.float64), persistent=False)
        self.register_buffer("_pending_mean", torch.zeros(size, dtype=torch.float64), persistent=False)
        self.register_buffer("_pending_m2", torch.zeros(size, dtype=torch.float64), persistent=False)

    @torch.no_grad()
    def accumulate(self, x: torch.Tensor) -> None:
        """Add a batch ``(..., size)`` to the pending moments (device only, no sync)."""
        if not self.training:
            return
        if x.shape[-1] != self.size:
            raise ValueError(f"RunningMeanStd expected last dim {self.size}, got shape {tuple(x.shape)}")
        flat = x.reshape(-1, self.size).to(torch.float64)
        n = torch.tensor(float(flat.shape[0]), dtype=torch.float64, device=flat.device)
        batch_mean = flat.mean(dim=0)
        batch_m2 = (flat - batch_mean).square().sum(dim=0)
        self._pending_count, self._pending_mean, self._pending_m2 = merge_moments(
            self._pending_count, self._pending_mean, self._pending_m2, n, batch_mean, batch_m2
        )

    @torch.no_grad()
    def commit(self, fabric=None) -> None:
        """Fold pending moments into the running statistics; all-reduce them across ranks first.

        Across ranks: sums of n, n·mean and (M2 + n·mean²) are additive, so one all-reduce of
        a packed vector gives the moments of the union of every rank's batches.
        """
        if not self.training:
            return
        n, mean, m2 = self._pending_count, self._pending_mean, self._pending_m2
        if fabric is not None and fabric.world_size > 1:
            packed = torch.cat([n.reshape(1), n * mean, m2 + n * mean.square()])
            packed = fabric.all_reduce(packed, reduce_op="sum")
            n = packed[0]
            sum_x = packed[1 : 1 + self.size]
            sum_sq_dev_plus = packed[1 + self.size :]
            mean = sum_x / n.clamp(min=1.0)
            m2 = (sum_sq_dev_plus - n * mean.square()).clamp(min=0.0)
        m2_running = self.var * self.count
        count, new_mean, new_m2 = merge_moments(self.count, self.mean, m2_running, n, mean, m2)
        self.mean.copy_(new_mean)
        # population variance; keep the prior (1.0) until something has been seen
        self.var.copy_(torch.where(count > 0, new_m2 / count.clamp(min=1.0), self.var))
        self.count.copy_(count)
        self._pending_count.zero_()
        self._pending_mean.zero_()
        self._pending_m2.zero_()

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """``(..., size)`` → ``(..., size)`` in x's dtype, clamped to ±clamp."""
        std = torch.sqrt(self.var + self.epsilon)
        y = (x - self.mean.to(x.dtype)) / std.to(x.dtype)
        return y.clamp(-self.clamp, self.clamp)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.normalize(x)


class DictNormalizer(nn.Module):
    """One :class:`RunningMeanStd` per observation group.

    Groups not listed in ``obs_spec`` pass through unchanged; this keeps e.g. masks or
    one-hot groups raw when a caller leaves them out.
    """

    def __init__(self, obs_spec: Mapping[str, int], clamp: float = 5.0, enabled: bool = True) -> None:
        super().__init__()
        self.enabled = enabled
        self.stats = nn.ModuleDict({name: RunningMeanStd(size, clamp) for name, size in obs_spec.items()})

    def accumulate(self, obs: Mapping[str, torch.Tensor]) -> None:
        if self.enabled:
            for name, rms in self.stats.items():
                rms.accumulate(obs[name])

    def commit(self, fabric=None) -> None:
        if self.enabled:
            for rms in self.stats.values():
                rms.commit(fabric)

    def forward(self, obs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if not self.enabled:
            return dict(obs)
        return {name: (self.stats[name](x) if name in self.stats else x) for name, x in obs.items()}

    def groups(self) -> Iterable[str]:
        return self.stats.keys()
