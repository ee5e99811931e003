"""Random-walk paths for the path follower, one per env, regenerated on reset.

A path is V = duration / vertex_dt + 1 vertices (101 for 10 s at 0.1 s), starting at the
pelvis. Segment i (vertex i → i + 1) has a heading θ_i and a speed s_i; its step is
s_i · vertex_dt · (cos θ_i, sin θ_i) (not −sin: that v2 sign flips the path's turns relative to
its headings). θ_0 ~ U(±π); θ_{i+1} = θ_i + U(±max_heading_change), or with ``sharp_turn_prob``
a sharp turn U(±π). s_0 ~ U[0, start_speed_max]; s_{i+1} = clip(s_i ± U(max_speed_change), 0,
max_speed). The third coordinate is the *pelvis height above the terrain*: a clipped random walk
in [min_height, max_height] when height-conditioned, else the constant nominal pelvis height.

Queries lerp between vertices at t / vertex_dt, clamped to [0, V − 1]: the path lasts exactly
(V − 1) · vertex_dt seconds (no off-by-one); later times hold the last vertex.
"""

from __future__ import annotations

import math

import torch


class PathGenerator:
    """verts (N, V, 3): world xy + pelvis height above terrain; heading, speed (N, V − 1) per segment."""

    def __init__(self, config, num_envs: int, device, generator: torch.Generator) -> None:
        self.config = config
        self.device, self.generator = device, generator
        self.num_verts = round(config.path_duration / config.vertex_dt) + 1
        v = self.num_verts
        self.verts = torch.zeros(num_envs, v, 3, device=device)
        self.heading = torch.zeros(num_envs, v - 1, device=device)
        self.speed = torch.zeros(num_envs, v - 1, device=device)
        self.sharp = torch.zeros(num_envs, v - 1, dtype=torch.bool, device=device)
        """sharp[:, i]: segment i started with a sharp turn (never for i = 0)."""

    def _rand(self, *shape) -> torch.Tensor:
        return torch.rand(*shape, device=self.device, generator=self.generator)

    def generate(self, env_ids: torch.Tensor, start_xy: torch.Tensor, start_height: torch.Tensor) -> None:
        """New paths for ``env_ids`` (M,) from start_xy (M, 2) with start pelvis height above terrain (M,)."""
        c, m, segs = self.config, env_ids.numel(), self.num_verts - 1
        # headings: a cumulative sum of bounded turns, some replaced by sharp turns
        turn = (2 * self._rand(m, segs) - 1) * c.max_heading_change
        sharp = self._rand(m, segs) < c.sharp_turn_prob
        sharp[:, 0] = False
        turn = torch.where(sharp, (2 * self._rand(m, segs) - 1) * math.pi, turn)
        turn[:, 0] = (2 * self._rand(m) - 1) * math.pi  # the initial heading
        heading = torch.cumsum(turn, dim=1)
        heading = torch.atan2(torch.sin(heading), torch.cos(heading))

        # speed (and height) walks are clipped at every vertex, so they are built vertex by vertex
        # (a loop over the 100 vertices, batched over envs; only on reset)
        speed = torch.empty(m, segs, device=self.device)
        speed[:, 0] = self._rand(m) * c.start_speed_max
        dv = (2 * self._rand(m, segs) - 1) * c.max_speed_change
        for i in range(1, segs):
            speed[:, i] = (speed[:, i - 1] + dv[:, i]).clamp(0.0, c.max_speed)

        height = torch.full((m, segs + 1), c.nominal_pelvis_height, device=self.device)
        if c.height_conditioned:
            height[:, 0] = start_height.clamp(c.min_height, c.max_height)
            dh = (2 * self._rand(m, segs) - 1) * c.max_height_change
            for i in range(1, segs + 1):
                height[:, i] = (height[:, i - 1] + dh[:, i - 1]).clamp(c.min_height, c.max_height)

        step = (speed * c.vertex_dt)[..., None] * torch.stack([torch.cos(heading), torch.sin(heading)], -1)
        xy = start_xy[:, None] + torch.cat([torch.zeros(m, 1, 2, device=self.device), torch.cumsum(step, 1)], 1)
        self.verts[env_ids] = torch.cat([xy, height[..., None]], -1)
        self.heading[env_ids], self.speed[env_ids], self.sharp[env_ids] = heading, speed, sharp

    def sample(self, times: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Path at times (N, P) seconds → points (N, P, 3) (xy world, pelvis height above terrain) and
        tangent yaw (N, P) (the heading of the segment containing the time)."""
        last = self.num_verts - 1
        x = (times / self.config.vertex_dt).clamp(0.0, float(last))
        i0 = x.floor().long().clamp(max=last - 1)
        frac = (x - i0.float())[..., None]
        n, p = times.shape
        idx = i0[..., None].expand(n, p, 3)
        a = torch.gather(self.verts, 1, idx)
        b = torch.gather(self.verts, 1, idx + 1)
        return a + (b - a) * frac, torch.gather(self.heading, 1, i0)
