"""Steering commands: a world-frame direction and a target speed per env, redrawn on a schedule.

Each env keeps its own countdown ``steps_left`` (drawn in [interval_min, interval_max] steps).
When it reaches 0 after a step, that env gets a new command: with probability
``random_heading_prob`` (one coin *per env*) a uniformly random heading, otherwise a bounded turn
U(±max_turn); with ``random_speed_prob`` a fresh speed U[min_speed, max_speed], otherwise the old
speed ± U(speed_delta) clipped; finally a stop (speed 0) with ``stop_prob``. A reset draws a fresh
command (uniform heading and speed) and a fresh countdown for the reset envs only, *after* the
env's counters were reset, so the schedule never reads a stale episode counter.

The step update draws randoms for every env and selects with ``torch.where``: no per-env loop,
no host sync.
"""

from __future__ import annotations

import math

import torch


class SteeringCommands:
    """angle (N,) world yaw of the command; speed (N,) m/s; steps_left (N,); age (N,) steps since
    the command was drawn. ``direction_w`` (N, 2) is the unit vector (cos angle, sin angle)."""

    def __init__(self, config, num_envs: int, device, generator: torch.Generator) -> None:
        self.config = config
        self.device, self.generator = device, generator
        self.angle = torch.zeros(num_envs, device=device)
        self.speed = torch.zeros(num_envs, device=device)
        self.steps_left = torch.ones(num_envs, dtype=torch.long, device=device)
        self.age = torch.zeros(num_envs, dtype=torch.long, device=device)

    @property
    def direction_w(self) -> torch.Tensor:
        return torch.stack([torch.cos(self.angle), torch.sin(self.angle)], -1)

    def _rand(self, *shape) -> torch.Tensor:
        return torch.rand(*shape, device=self.device, generator=self.generator)

    def draw(self, angle: torch.Tensor, speed: torch.Tensor, fresh: torch.Tensor):
        """New (angle, speed, steps_left) for a batch (M,); ``fresh`` (M,) bool ignores the old command."""
        c = self.config
        m = angle.shape[0]
        u = self._rand(7, m)
        random_heading = fresh | (u[0] < c.random_heading_prob)
        turned = angle + (2 * u[1] - 1) * c.max_turn
        new_angle = torch.where(random_heading, (2 * u[2] - 1) * math.pi, turned)
        new_angle = torch.atan2(torch.sin(new_angle), torch.cos(new_angle))  # wrap to (−π, π]
        random_speed = fresh | (u[3] < c.random_speed_prob)
        nudged = (speed + (2 * u[4] - 1) * c.speed_delta).clamp(c.min_speed, c.max_speed)
        new_speed = torch.where(random_speed, c.min_speed + u[5] * (c.max_speed - c.min_speed), nudged)
        new_speed = torch.where(u[6] < c.stop_prob, torch.zeros_like(new_speed), new_speed)
        lo, hi = c.command_interval
        steps = torch.randint(lo, hi + 1, (m,), device=self.device, generator=self.generator)
        return new_angle, new_speed, steps

    def reset(self, env_ids: torch.Tensor) -> None:
        m = env_ids.numel()
        fresh = torch.ones(m, dtype=torch.bool, device=self.device)
        angle, speed, steps = self.draw(self.angle[env_ids], self.speed[env_ids], fresh)
        self.angle[env_ids], self.speed[env_ids], self.steps_left[env_ids] = angle, speed, steps
        self.age[env_ids] = 0

    def step(self) -> torch.Tensor:
        """Advance one control step; envs whose countdown ran out get a new command. Returns that mask (N,)."""
        self.steps_left -= 1
        self.age += 1
        changed = self.steps_left <= 0
        angle, speed, steps = self.draw(self.angle, self.speed, torch.zeros_like(changed))
        self.angle = torch.where(changed, angle, self.angle)
        self.speed = torch.where(changed, speed, self.speed)
        self.steps_left = torch.where(changed, steps, self.steps_left)
        self.age = torch.where(changed, torch.zeros_like(self.age), self.age)
        return changed
