"""Path-following evaluation metrics (DESIGN.md "Evaluation definitions"), accumulated per env.

Error = horizontal distance between the pelvis and the path point at the current time, every
step while alive. Per episode: mean and max error; success = never fell AND max error ≤ bound.
"""

from __future__ import annotations

import torch


class PathMetrics:
    def __init__(self, num_envs: int, device, max_error: float = 0.5) -> None:
        self.max_error = max_error
        self.err_sum = torch.zeros(num_envs, device=device)
        self.count = torch.zeros(num_envs, device=device)
        self.err_max = torch.zeros(num_envs, device=device)

    def reset(self) -> None:
        for t in (self.err_sum, self.count, self.err_max):
            t.zero_()

    def update(self, error: torch.Tensor, alive: torch.Tensor) -> None:
        """error (N,) m; alive (N,) bool."""
        live = alive.float()
        self.err_sum += error * live
        self.count += live
        self.err_max = torch.maximum(self.err_max, error * live)

    def episode(self, fell: torch.Tensor) -> dict[str, torch.Tensor]:
        success = ~fell & (self.err_max <= self.max_error)
        return {"mean_error_m": self.err_sum / self.count.clamp(min=1.0), "max_error_m": self.err_max.clone(),
                "success": success}
