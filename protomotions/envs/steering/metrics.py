"""Steering evaluation metrics (DESIGN.md "Evaluation definitions"), accumulated per env.

Per step: speed error |v·d − s*| (m/s) and direction error angle(v, d) (degrees, only while
s* ≥ ``direction_min_speed``), both ignored while the command is at most ``ignore_steps`` old
(the first second after a change or a reset). An episode's errors are the means over its
counted steps (0 when none); it succeeds if it never fell and both means are within bounds.
v = 0 has direction error 0 (atan2(0, 0)); the speed error already punishes standing still.
"""

from __future__ import annotations

import torch


def steering_errors(vel_xy: torch.Tensor, direction: torch.Tensor, speed: torch.Tensor):
    """Speed error |v·d − s*| (N,) m/s and direction error angle(v, d) (N,) degrees.
    vel_xy, direction (N, 2) world; speed (N,)."""
    along = (vel_xy * direction).sum(-1)
    cross = vel_xy[:, 0] * direction[:, 1] - vel_xy[:, 1] * direction[:, 0]
    return (along - speed).abs(), torch.rad2deg(torch.atan2(cross.abs(), along))


class SteeringMetrics:
    def __init__(self, num_envs: int, device, ignore_steps: int, direction_min_speed: float = 0.5,
                 max_speed_error: float = 0.3, max_direction_error_deg: float = 20.0) -> None:
        self.ignore_steps, self.direction_min_speed = ignore_steps, direction_min_speed
        self.max_speed_error, self.max_direction_error_deg = max_speed_error, max_direction_error_deg
        self.sums = torch.zeros(4, num_envs, device=device)  # speed sum, speed count, dir sum, dir count

    def reset(self) -> None:
        self.sums.zero_()

    def update(self, vel_xy: torch.Tensor, direction: torch.Tensor, speed: torch.Tensor, age: torch.Tensor,
               alive: torch.Tensor) -> None:
        """age (N,): steps the command has been acted on, this one included; alive (N,) bool."""
        speed_err, dir_err = steering_errors(vel_xy, direction, speed)
        counted = (alive & (age > self.ignore_steps)).float()
        dir_counted = counted * (speed >= self.direction_min_speed).float()
        self.sums += torch.stack([speed_err * counted, counted, dir_err * dir_counted, dir_counted])

    def episode(self, fell: torch.Tensor) -> dict[str, torch.Tensor]:
        speed_err = self.sums[0] / self.sums[1].clamp(min=1.0)
        dir_err = self.sums[2] / self.sums[3].clamp(min=1.0)
        success = ~fell & (speed_err <= self.max_speed_error) & (dir_err <= self.max_direction_error_deg)
        return {"speed_error_mps": speed_err, "direction_error_deg": dir_err, "success": success}
