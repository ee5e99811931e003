"""Path following: keep the pelvis on a moving point of a random-walk path.

Paths (``path_generator.py``): 10 s, 101 vertices 0.1 s apart, starting at the pelvis on reset.
The path time is ``progress · dt`` (0 right after a reset).

Task obs ``path``: ``num_obs_points`` (10) path points at t + k·``obs_point_spacing`` (0.3 s),
k = 0 … 9, relative to the pelvis in its heading frame: x, y (and, when height-conditioned, the
target pelvis height above terrain minus the current one) → 20 (30) values. k starts at 0 so
the student sees the point the reward measures; 0.3 s spacing gives a 2.7 s horizon with points
≤ 0.6 m apart at the 2 m/s maximum speed, fine enough to resolve the turns it must track, and
it spans the expert's 1 s keyframe horizon several times over.

Reward ``path_following_reward`` = exp(−k·‖Δxy‖²), k = ``reward_distance_scale`` (2, ProtoMotions'
value), between the pelvis and the path point at the current time; × exp(−height_reward_scale·Δz²)
when height-conditioned. Heights are always the *pelvis* height above the terrain under it, in
generation, obs, reward and keyframes alike.

Termination: horizontal distance > ``fail_distance`` (2 m) after ``fail_grace_steps`` (10)
steps, when ``enable_path_termination``; never during ``evaluate``. Distances are horizontal
(the height has its own reward term), so a crouch never counts as "off the path".

Goal engineering (``pelvis_keyframes``): by default (``keyframe_turn_rate`` > 0) pure pursuit: the
keyframes steer from the pelvis towards the path point 1 s ahead along an arc that turns at most
``keyframe_turn_rate`` (``steering_keyframes``). With 0 (``path_keyframes``) the pelvis keyframe at
offset τ_k is the path point at t + τ_k, z = terrain(xy) + the path's pelvis height (the nominal
height unless height-conditioned), rotation upright with yaw = the path tangent's heading. Only the
pelvis is visible, as in steering.

Evaluation: error = horizontal pelvis ↔ path point distance at the current time, every step;
success = never falls AND the error never exceeds ``eval_max_error`` (0.5 m).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import torch

from protomotions.envs.path_follower.metrics import PathMetrics
from protomotions.envs.path_follower.path_generator import PathGenerator
from protomotions.envs.rewards import exp_kernel
from protomotions.envs.steering.env import steering_keyframes
from protomotions.envs.steering.keyframe_task import KeyframeTaskConfig, KeyframeTaskEnv
from protomotions.utils.rotations import heading_angle, heading_quat_inverse, quat_rotate, yaw_quat


@dataclass
class PathFollowerEnvConfig(KeyframeTaskConfig):
    path_duration: float = 10.0
    """Seconds covered by the path (300 steps at 30 Hz)."""
    vertex_dt: float = 0.1
    start_speed_max: float = 1.5
    """The first segment's speed is U[0, start_speed_max] m/s."""
    max_speed: float = 2.0
    max_speed_change: float = 0.2
    """Speed random-walk step per vertex, U(±) m/s."""
    max_heading_change: float = 0.2
    """Heading change per vertex, U(±) rad (2 rad/s), unless a sharp turn."""
    sharp_turn_prob: float = 0.02
    height_conditioned: bool = False
    min_height: float = 0.5
    max_height: float = 1.0
    """Pelvis height above terrain stays in [min_height, max_height] when height-conditioned."""
    max_height_change: float = 0.02
    """Height random-walk step per vertex, U(±) m."""
    num_obs_points: int = 10
    obs_point_spacing: float = 0.3
    """Seconds between the observed future path points."""
    height_reward_scale: float = 10.0
    reward_distance_scale: float = 2.0
    """k of exp(−k·‖Δxy‖²). At 2 the reward still pays 0.61 at the 0.5 m that fails an evaluation episode."""
    enable_path_termination: bool = True
    fail_distance: float = 2.0
    """Terminate when the pelvis is farther (m, horizontal) from the current path point ..."""
    fail_grace_steps: int = 10
    """... after this many steps of the episode."""
    eval_max_error: float = 0.5
    marker_horizon_s: float = 3.0
    """Markers show the path from now to now + this many seconds."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 <= self.start_speed_max <= self.max_speed:
            raise ValueError(f"env.config.start_speed_max={self.start_speed_max}: need 0 <= it <= max_speed="
                             f"{self.max_speed}")
        if self.height_conditioned and not 0.0 < self.min_height <= self.max_height:
            raise ValueError(f"env.config.min_height={self.min_height}, max_height={self.max_height}: need 0 < min <= max")
        if abs(self.path_duration / self.vertex_dt - round(self.path_duration / self.vertex_dt)) > 1e-6:
            raise ValueError(f"env.config.path_duration={self.path_duration} must be a multiple of vertex_dt={self.vertex_dt}")


def path_following_reward(pelvis_xy: torch.Tensor, target_xy: torch.Tensor, pelvis_height: torch.Tensor | None = None,
                          target_height: torch.Tensor | None = None, height_scale: float = 10.0,
                          distance_scale: float = 2.0) -> torch.Tensor:
    """exp(−distance_scale·‖Δxy‖²) (N,) × exp(−height_scale·Δz²) when heights (N,) are given. xy (N, 2)."""
    r = exp_kernel((pelvis_xy - target_xy).square().sum(-1), distance_scale)
    if pelvis_height is not None:
        r = r * exp_kernel((pelvis_height - target_height).square(), height_scale)
    return r


def path_keyframes(points: torch.Tensor, tangent_yaw: torch.Tensor, ground_fn):
    """Pelvis keyframes on the path: key_pos (N, K, 1, 3), key_rot (N, K, 1, 4) xyzw, world frame.

    points (N, K, 3): path xy (world) and pelvis height above terrain at the keyframe times;
    tangent_yaw (N, K) heading of the path there; ground_fn: xy (..., 2) → (...).
    """
    xy = points[..., :2]
    z = ground_fn(xy) + points[..., 2]
    return torch.cat([xy, z[..., None]], -1)[:, :, None], yaw_quat(tangent_yaw)[:, :, None]


class PathFollowerEnv(KeyframeTaskEnv):
    config_class = PathFollowerEnvConfig

    def __init__(self, config: PathFollowerEnvConfig, simulator, terrain, seed: int = 0, motion_lib=None) -> None:
        super().__init__(config, simulator, terrain, seed, motion_lib)
        self.paths = PathGenerator(config, self.num_envs, self.device, self.generator)
        self.obs_offsets = torch.arange(config.num_obs_points, device=self.device).float() * config.obs_point_spacing

    def goal_obs_spec(self) -> dict[str, int]:
        c = self.config
        return {"path": c.num_obs_points * (3 if c.height_conditioned else 2)}

    @property
    def path_time(self) -> torch.Tensor:
        """(N,) seconds since the reset."""
        return self.progress.float() * self.dt

    def pelvis_height(self) -> torch.Tensor:
        """(N,) pelvis height above the terrain under it."""
        root = self.state.root_pos
        return root[:, 2] - self.ground_height(root[:, :2])

    def on_reset(self, env_ids: torch.Tensor) -> None:
        super().on_reset(env_ids)
        root = self.state.root_pos[env_ids]
        self.paths.generate(env_ids, root[:, :2], root[:, 2] - self.ground_height(root[:, :2]))

    def current_target(self) -> torch.Tensor:
        """(N, 3) path point at the current time (xy world, pelvis height above terrain)."""
        return self.paths.sample(self.path_time[:, None])[0][:, 0]

    def horizontal_error(self) -> torch.Tensor:
        return (self.state.root_pos[:, :2] - self.current_target()[:, :2]).norm(dim=-1)

    def goal_observations(self) -> dict[str, torch.Tensor]:
        s, c = self.state, self.config
        points, _ = self.paths.sample(self.path_time[:, None] + self.obs_offsets[None])  # (N, P, 3)
        p = points.shape[1]
        rel = torch.cat([points[..., :2] - s.root_pos[:, None, :2], torch.zeros_like(points[..., :1])], -1)
        rel_h = quat_rotate(heading_quat_inverse(s.root_rot)[:, None].expand(-1, p, 4), rel)
        if c.height_conditioned:
            rel_h[..., 2] = points[..., 2] - self.pelvis_height()[:, None]
            return {"path": rel_h.reshape(self.num_envs, -1)}
        return {"path": rel_h[..., :2].reshape(self.num_envs, -1)}

    def pelvis_keyframes(self) -> tuple[torch.Tensor, torch.Tensor]:
        c = self.config
        points, yaw = self.paths.sample(self.path_time[:, None] + self.keyframe_offsets[None])
        if c.keyframe_turn_rate <= 0.0:
            return path_keyframes(points, yaw, self.keyframe_ground)
        root = self.state.root_pos
        to_goal = points[:, -1, :2] - root[:, :2]
        distance = to_goal.norm(dim=-1).clamp_min(1e-6)
        speed = (distance / self.keyframe_offsets[-1]).clamp(max=c.max_speed)
        return steering_keyframes(root, to_goal / distance[:, None], speed, self.keyframe_offsets, self.keyframe_ground,
                                  points[..., 2], heading_angle(self.state.root_rot), c.keyframe_turn_rate)

    def compute_reward(self):
        target = self.current_target()
        xy = self.state.root_pos[:, :2]
        if self.config.height_conditioned:
            r = path_following_reward(xy, target[:, :2], self.pelvis_height(), target[:, 2],
                                      self.config.height_reward_scale, self.config.reward_distance_scale)
        else:
            r = path_following_reward(xy, target[:, :2], distance_scale=self.config.reward_distance_scale)
        return r, {"path_following_reward": r}

    def task_terminated(self) -> torch.Tensor:
        c = self.config
        if self.evaluating or not c.enable_path_termination:
            return torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)
        return (self.progress > c.fail_grace_steps) & (self.horizontal_error() > c.fail_distance)

    # --- evaluation ----------------------------------------------------------------------------
    def _eval_begin(self) -> None:
        self.eval_metrics = PathMetrics(self.num_envs, self.device, self.config.eval_max_error)

    def _eval_record(self, alive: torch.Tensor) -> None:
        self.eval_metrics.update(self.horizontal_error(), alive)

    def _eval_episode(self, fell: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.eval_metrics.episode(fell)

    # --- visualisation -------------------------------------------------------------------------
    def markers(self, env_id: int = 0) -> list[dict]:
        """The future path of ``env_id`` as capsules between samples 0.1 s apart (pelvis level), and a
        red sphere on the current target."""
        c = self.config
        steps = max(1, round(c.marker_horizon_s / c.vertex_dt))
        times = self.path_time[env_id] + torch.arange(steps + 1, device=self.device).float() * c.vertex_dt
        points, _ = self.paths.sample(times[None].expand(self.num_envs, -1))
        pts = points[env_id]
        pts = torch.cat([pts[:, :2], (self.ground_height(pts[:, :2]) + pts[:, 2])[:, None]], -1).tolist()
        markers = [{"type": "capsule", "from": a, "to": b, "width": 0.02, "rgba": [1.0, 0.8, 0.1, 1.0]}
                   for a, b in pairwise(pts)]
        markers.append({"type": "sphere", "pos": pts[0], "size": 0.06, "rgba": [1.0, 0.1, 0.1, 1.0]})
        return markers
