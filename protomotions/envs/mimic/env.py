"""Motion tracking env: follow reference clips from a MotionLib, body by body.

Each env plays one clip from a sampled start time (reference-state initialisation). On
complex terrain the clip is moved to a spawn point and every target is lifted by the terrain
height under the target root (or its mean within ``reference_ground_radius``), so reference
motions follow the ground. An episode ends when a
body strays more than ``termination_threshold`` from its target (terminated), or when the
clip or the episode runs out (truncated).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

import torch

from protomotions.envs import rewards as R
from protomotions.envs.base_env import BaseEnv, BaseEnvConfig
from protomotions.envs.mimic.obs import mimic_target_obs_h, mimic_target_size
from protomotions.motion.motion_lib import MotionState
from protomotions.robot import smpl
from protomotions.simulator.base import ResetState
from protomotions.terrain import mean_ground_height


@dataclass
class MimicEnvConfig(BaseEnvConfig):
    max_episode_length: int = 1000
    num_future_steps: int = 2
    """Target frames observed ahead: t + k·future_step_stride·dt for k = 1..num_future_steps."""
    future_step_stride: int = 1
    termination_threshold: float = 0.5
    """Terminate when any body is farther than this (m) from its target."""
    init_start_prob: float = 0.2
    """Probability that a reset starts the clip at t = 0 instead of a uniform time."""
    reference_ground_radius: float = 0.0
    """Lift targets by the mean terrain height within ±this (m) of the target root; 0 = the height
    right under it. Under the root alone, rough ground and stair edges jolt every target up and down
    by up to a step each frame; a radius near half a stride turns them into the ramp a walker's
    pelvis follows."""
    reference_foot_ground: tuple[float, float] | None = None
    """(h0, h1) m: a body whose clip height is below h0 is lifted by the ground under ITSELF instead
    of the ground under the root, fading linearly to the root's at h1. Clips are recorded on flat
    floors; on stairs and rough ground this puts the feet targets on the treads and bumps they
    walk over (knees follow part-way) instead of inside or above them. None: every body follows
    the root's ground."""
    success_threshold: float = 0.25
    """Evaluation: a clip fails if the mean body error ever exceeds this (m)."""
    reward_weights: dict[str, float] = field(
        default_factory=lambda: {"body_pos": 0.5, "body_rot": 0.3, "body_vel": 0.1, "body_ang_vel": 0.1, "root_height": 0.2,
                                 "root_xy": 0.0}
    )
    """Terms of the tracking reward, each weight · exp(−scale · squared error). ``root_xy``: the root's horizontal
    distance to its target, off by default. Failed clips on rough ground fail mostly by that drift, not by the pose
    (``evaluate_expert``'s ``failures``), which ``body_pos`` weighs as one part of 24 bodies' errors. Runs saved
    without a term leave it out."""
    reward_scales: dict[str, float] = field(
        default_factory=lambda: {"body_pos": 100.0, "body_rot": 10.0, "body_vel": 0.5, "body_ang_vel": 0.1, "root_height": 100.0,
                                 "root_xy": 10.0}
    )


# squared error of each tracking-reward term (state, reference) -> (N,)
REWARD_ERRORS = {
    "body_pos": lambda s, ref: R.body_pos_sq_error(s.body_pos, ref.body_pos),
    "body_rot": lambda s, ref: R.body_rot_sq_error(s.body_rot, ref.body_rot),
    "body_vel": lambda s, ref: R.body_pos_sq_error(s.body_vel, ref.body_vel),
    "body_ang_vel": lambda s, ref: R.body_pos_sq_error(s.body_ang_vel, ref.body_ang_vel),
    "root_height": lambda s, ref: (s.root_pos[:, 2] - ref.root_pos[:, 2]).square(),
    "root_xy": lambda s, ref: (s.root_pos[:, :2] - ref.root_pos[:, :2]).square().sum(-1),
}


class MimicEnv(BaseEnv):
    config_class = MimicEnvConfig
    needs_motion_lib = True

    def __init__(self, config: MimicEnvConfig, simulator, terrain, seed: int = 0, motion_lib=None) -> None:
        if motion_lib is None:
            raise ValueError("MimicEnv needs a motion library: set motion_file=<path to .npy or .yaml>")
        self.motion_lib = motion_lib
        unknown = sorted(set(config.reward_weights) - set(REWARD_ERRORS))
        unscaled = sorted(set(config.reward_weights) - set(config.reward_scales))
        if unknown or unscaled:
            raise ValueError(f"env.config.reward_weights: unknown terms {unknown} (known: {list(REWARD_ERRORS)}), "
                             f"terms without a reward_scales entry {unscaled}")
        super().__init__(config, simulator, terrain, seed)
        n, dev = self.num_envs, self.device
        self.motion_ids = torch.zeros(n, dtype=torch.long, device=dev)
        self.motion_start_time = torch.zeros(n, device=dev)
        self.motion_offset = torch.zeros(n, 3, device=dev)  # world xy shift of each env's clip
        self._forced_motion_ids: torch.Tensor | None = None  # evaluation: play given clips from t = 0
        self._ref_cache = None
        steps = torch.arange(1, config.num_future_steps + 1, device=dev) * config.future_step_stride
        self.future_time_offsets = steps.float() * self.dt  # (K,)

    # --- targets -----------------------------------------------------------------------------
    @property
    def motion_times(self) -> torch.Tensor:
        return self.motion_start_time + self.progress.float() * self.dt

    def reference(self, motion_ids: torch.Tensor, times: torch.Tensor, offsets: torch.Tensor):
        """Reference state at ``times`` (M,), moved by ``offsets`` and lifted onto the terrain."""
        ref = self.motion_lib.get_state(motion_ids, times)
        root_ground = mean_ground_height(self.terrain, ref.root_pos[:, :2] + offsets[:, :2],
                                         self.config.reference_ground_radius)
        body_ground = root_ground[:, None].expand(ref.body_pos.shape[:2])
        if self.config.reference_foot_ground is not None:
            h0, h1 = self.config.reference_foot_ground
            weight = ((h1 - ref.body_pos[..., 2]) / (h1 - h0)).clamp(0.0, 1.0)
            own = self.ground_height(ref.body_pos[..., :2] + offsets[:, None, :2])
            body_ground = torch.lerp(body_ground, own, weight)
        ref.root_pos = ref.root_pos + offsets
        ref.root_pos[:, 2] += root_ground
        ref.body_pos = ref.body_pos + offsets[:, None, :]
        ref.body_pos[..., 2] += body_ground
        return ref

    def future_targets(self):
        """Targets at the K future times of every env: body_pos (N, K, B, 3) etc."""
        future = self._reference_frames()[1]
        return future.body_pos, future.body_rot, future.body_vel, future.body_ang_vel

    def current_reference(self):
        # reward, termination and evaluation all need it once per step: compute it once
        return self._reference_frames()[0]

    def _reference_frames(self):
        """(current, future) references from ONE motion-library query at times t, t + offsets:
        the query is most of the env's torch ops, which bound the GPU rollout's speed."""
        if self._ref_cache is None:
            n = self.num_envs
            offsets = torch.cat([self.future_time_offsets.new_zeros(1), self.future_time_offsets])
            k = offsets.numel()
            times = (self.motion_times[:, None] + offsets[None]).reshape(-1)
            ids = self.motion_ids[:, None].expand(n, k).reshape(-1)
            offs = self.motion_offset[:, None].expand(n, k, 3).reshape(-1, 3)
            ref = self.reference(ids, times, offs)
            frames = {f.name: getattr(ref, f.name).reshape(n, k, *getattr(ref, f.name).shape[1:]) for f in fields(ref)}
            self._ref_cache = (MotionState(**{key: v[:, 0] for key, v in frames.items()}),
                               MotionState(**{key: v[:, 1:] for key, v in frames.items()}))
        return self._ref_cache

    def post_physics_step(self) -> None:
        self._ref_cache = None

    def on_reset(self, env_ids: torch.Tensor) -> None:
        self._ref_cache = None

    # --- BaseEnv hooks -----------------------------------------------------------------------
    def task_obs_spec(self) -> dict[str, int]:
        return {"mimic_target_poses": mimic_target_size(smpl.NUM_BODIES, self.config.num_future_steps)}

    def task_observations(self) -> dict[str, torch.Tensor]:
        s = self.state
        pos, rot, vel, ang_vel = self.future_targets()
        offsets = self.future_time_offsets[None].expand(self.num_envs, -1)
        return {"mimic_target_poses": mimic_target_obs_h(s.body_pos, s.body_rot, pos, rot, vel, ang_vel, offsets)}

    def reset_state(self, env_ids: torch.Tensor) -> ResetState:
        m = env_ids.numel()
        if self._forced_motion_ids is not None:
            ids = self._forced_motion_ids[env_ids]
            start = torch.zeros(m, device=self.device)
        else:
            ids = self.motion_lib.sample_motions(m).to(self.device)
            start = self.motion_lib.sample_times(ids).to(self.device)
            from_start = torch.rand(m, device=self.device, generator=self.generator) < self.config.init_start_prob
            start = torch.where(from_start, torch.zeros_like(start), start)
        self.motion_ids[env_ids] = ids
        self.motion_start_time[env_ids] = start
        # move the clip so that its root starts over a spawn point of the terrain
        ref0 = self.motion_lib.get_state(ids, start)
        offset = torch.zeros(m, 3, device=self.device)
        offset[:, :2] = self.terrain.sample_spawn_xy(m, self.generator) - ref0.root_pos[:, :2]
        self.motion_offset[env_ids] = offset
        ref = self.reference(ids, start, offset)
        root_pos = ref.root_pos.clone()
        root_pos[:, 2] += 0.5 * self.config.spawn_height_offset  # clips are ground-normalised; a little clearance
        return ResetState(root_pos, ref.root_rot, ref.root_vel, ref.root_ang_vel, ref.dof_pos, ref.dof_vel)

    def tracking_errors(self) -> torch.Tensor:
        """Distance (N, B) between each body and its current target."""
        return (self.state.body_pos - self.current_reference().body_pos).norm(dim=-1)

    def tracking_error_parts(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(N,) horizontal root distance to the target root, and (N,) mean body error relative to the roots
        (the pose alone): which of the two makes a clip fail tells drift from a bad pose."""
        s, ref = self.state, self.current_reference()
        root_xy = REWARD_ERRORS["root_xy"](s, ref).sqrt()
        pose = ((s.body_pos - s.root_pos[:, None]) - (ref.body_pos - ref.root_pos[:, None])).norm(dim=-1).mean(-1)
        return root_xy, pose

    def compute_reward(self):
        s, ref, c = self.state, self.current_reference(), self.config
        body_pos_sq = REWARD_ERRORS["body_pos"](s, ref)
        weights = {k: w for k, w in c.reward_weights.items() if w}  # terms weighted 0 cost nothing
        terms = {k: R.exp_kernel(body_pos_sq if k == "body_pos" else REWARD_ERRORS[k](s, ref), c.reward_scales[k])
                 for k in weights}
        total = sum(weights[k] * terms[k] for k in terms)
        terms["body_pos_error_m"] = body_pos_sq.sqrt()
        return total, terms

    def task_terminated(self) -> torch.Tensor:
        too_far = self.tracking_errors().amax(dim=-1) > self.config.termination_threshold
        return too_far & (self.progress > 1)

    def step(self, actions: torch.Tensor):
        obs, reward, terminated, truncated, extras = super().step(actions)
        clip_over = self.motion_times >= self.motion_lib.motion_lengths[self.motion_ids].to(self.device)
        truncated = truncated | (clip_over & ~terminated)
        return obs, reward, terminated, truncated, extras

    # --- evaluation --------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, act_fn, max_clips: int | None = None) -> dict[str, float]:
        """Play every clip once from t = 0 with ``act_fn(obs) -> actions``; restores training resets.

        A clip succeeds if it plays to its end without termination and its mean body error never
        exceeds ``success_threshold``. Returns ``eval/success_rate``, ``eval/mpjpe_mm``,
        ``eval/fall_rate``, ``eval/clips`` and ``score`` (= success rate).
        """
        num_clips = self.motion_lib.num_motions if max_clips is None else min(max_clips, self.motion_lib.num_motions)
        lengths = self.motion_lib.motion_lengths.to(self.device)
        success, errors, falls, starts, parts = [], [], [], [], []
        for first in range(0, num_clips, self.num_envs):
            clips = torch.arange(first, min(first + self.num_envs, num_clips), device=self.device)
            m = clips.numel()
            forced = torch.zeros(self.num_envs, dtype=torch.long, device=self.device)
            forced[:m] = clips
            self._forced_motion_ids = forced
            obs = self.reset()
            starts.append(self.state.root_pos[:m, :2].clone())
            alive = torch.ones(m, dtype=torch.bool, device=self.device)
            ok = torch.ones(m, dtype=torch.bool, device=self.device)
            fell = torch.zeros(m, dtype=torch.bool, device=self.device)
            err_sum = torch.zeros(m, device=self.device)
            err_count = torch.zeros(m, device=self.device)
            fail_parts = torch.full((m, 2), float("nan"), device=self.device)  # at the first frame over the threshold
            for _ in range(math.ceil(float(lengths[clips].max()) / self.dt) + 1):
                obs, _, terminated, truncated, _ = self.step(act_fn(obs))
                mean_err = self.tracking_errors()[:m].mean(-1)
                err_sum += torch.where(alive, mean_err, 0.0)
                err_count += alive.float()
                ended_early = alive & terminated[:m]
                first_fail = ok & (ended_early | (alive & (mean_err > self.config.success_threshold)))
                if first_fail.any():  # most steps fail no clip: skip the second pass over the reference
                    fail_parts = torch.where(first_fail[:, None], torch.stack(self.tracking_error_parts(), -1)[:m],
                                             fail_parts)
                ok &= ~first_fail
                fell |= ended_early & self.fallen()[:m]
                alive &= ~(terminated[:m] | truncated[:m])
                if not alive.any():
                    break
            success.append(ok)
            errors.append(err_sum / err_count.clamp_min(1))
            falls.append(fell)
            parts.append(fail_parts)
        self._forced_motion_ids = None
        success_t, errors_t = torch.cat(success), torch.cat(errors)
        # per clip, for reports that name the clips that fail (evaluate_expert --per_clip)
        # fail_root_xy_m / fail_pose_m: tracking_error_parts() when the clip failed (over the threshold or ended
        # early, whichever came first; NaN: it succeeded)
        fail_parts_t = torch.cat(parts)
        self.last_eval_per_clip = {"success": success_t.tolist(), "mpjpe_mm": (1000.0 * errors_t).tolist(),
                                   "fell": torch.cat(falls).tolist(), "start_xy": torch.cat(starts).tolist(),
                                   "fail_root_xy_m": fail_parts_t[:, 0].tolist(), "fail_pose_m": fail_parts_t[:, 1].tolist()}
        if hasattr(self.motion_lib, "update_sampling_weights"):
            self.motion_lib.update_sampling_weights(torch.arange(num_clips, device=self.device), success_t)
        self.reset()
        rate = success_t.float().mean().item()
        return {
            "eval/success_rate": rate,
            "eval/mpjpe_mm": 1000.0 * errors_t.mean().item(),
            "eval/fall_rate": torch.cat(falls).float().mean().item(),
            "eval/clips": float(num_clips),
            "score": rate,
        }
