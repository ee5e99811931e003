"""Shared plumbing of the task envs driven through a frozen masked-mimic expert.

A task env (steering, path following) turns its command into *pelvis keyframes* ("goal
engineering") at the expert's keyframe offsets, and exposes them in exactly the layout of
:func:`~protomotions.envs.masked_mimic.obs.masked_target_obs_h` over the 6 conditionable bodies
(pelvis visible, the other 5 hidden and zero), plus the expert's self-obs ``history``. The
student reads ``self_obs`` (+ ``terrain``) and the task observation instead.

It also owns the generic evaluation loop (``evaluate``): deterministic rounds of episodes with
a fixed seed, per-step task metrics from the subclass and the shared motion-quality metrics
of :mod:`protomotions.envs.quality`.

Lives in ``steering/`` because its author owns only the task folders; the path follower
imports it from here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

import torch

from protomotions.envs.base_env import BaseEnv, BaseEnvConfig
from protomotions.envs.history import ObsHistory
from protomotions.envs.masked_mimic.masks import ConditioningMasks, MaskConfig
from protomotions.envs.masked_mimic.obs import masked_target_obs_h, masked_target_size
from protomotions.envs.obs import SELF_OBS_SIZE
from protomotions.envs.quality import QualityMetrics
from protomotions.robot import smpl
from protomotions.simulator.base import ResetState
from protomotions.terrain import mean_ground_height
from protomotions.utils.rotations import heading_angle, quat_mul, quat_normalize, quat_rotate, yaw_quat

CONDITIONABLE_IDS = [smpl.BODY_NAMES.index(b) for b in smpl.CONDITIONABLE_BODY_NAMES]
NUM_CONDITIONABLE = len(CONDITIONABLE_IDS)  # 6; index 0 is the pelvis
PELVIS_ONLY_MODES = ("pelvis", "pelvis_translation")


@dataclass
class KeyframeTaskConfig(BaseEnvConfig):
    keyframe_steps: list[int] = field(default_factory=lambda: [2, 6, 12, 20, 30])
    """Future offsets (control steps) of the expert's K keyframes; must match the expert's config."""
    history_length: int = 3
    """Self-obs history entries for the expert; must match the expert's config."""
    history_stride: int = 4
    conditioning: str = "pelvis_translation"
    """Fixed mask of the expert's keyframes: "pelvis_translation" or "pelvis" (translation + rotation).
    The v0 expert alone on steering (flat, 64 episodes, eval seeds 1234 / 99) fell in 45 % / 39 % of
    episodes with translation only, 63 % / 55 % when also held to the upright, command-facing rotation."""
    nominal_pelvis_height: float = 0.95
    """Pelvis height (m) above the terrain in the keyframes; the rest pose stands at
    smpl.default_root_height() ≈ 1.00 m, locomotion with bent knees ~5 cm lower."""
    reference_ground_radius: float = 0.3
    """Keyframe pelvis heights stand on the mean ground within ±this (m) of each keyframe; 0 = the
    height right under it. Must match the expert's own ``reference_ground_radius`` (checked when the
    expert loads): an expert distilled on averaged ground expects the pelvis to ride over stairs and
    bumps, not to jump with every step under it. 0.3: the shipped expert's (v3)."""
    keyframe_turn_rate: float = 1.5
    """Goal engineering (rad/s): the keyframes lie on an arc whose walking direction turns from the pelvis
    heading towards the goal at most this fast (``steering_keyframes``). Steering: towards the command;
    path following: pure pursuit of the path point at the last keyframe's time. 0 = the raw goal at once
    (a straight line along the command / keyframes on the path), which asks for a sidestep or a
    backwards walk that the clips never show. v1 expert alone, flat, 64 episodes, seed 1234: steering
    falls 53 % (0) → 25 % (1.5) → 33 % (3.0), success 0.44 → 0.50 → 0.53; paths 86 % → 38 % → 53 %
    falls, but the mean distance to the path grew 0.40 → 0.85 / 0.59 m (the student must close it)."""
    motion_init_prob: float = 0.8
    """Fraction of resets that start from a random frame of a ``motion_file`` clip (turned to a random
    heading and moved onto a spawn point, with the clip's velocities); the others, and all resets
    when no motion file is given, start from the rest pose. The expert only ever saw clip states:
    from the rest pose (arms out, standing still) it stumbles, and BC teaches the student to."""
    eval_num_episodes: int = 0
    """Episodes per evaluation when evaluate() gets none; 0 = one per env (one round)."""
    eval_seed: int = 1234
    """The env's generator is reseeded with this for evaluation (and restored after), so every
    evaluation sees the same spawns and commands."""
    contact_force: float | None = 1.0
    """Foot-skate metric: a foot body is in contact above this net contact force (N) ..."""
    contact_height: float | None = None
    """... or (when set) when its origin is less than this (m) above its rest-pose origin height. Off by
    default: a simulated foot swinging low would count as skating (see protomotions/envs/quality.py)."""

    def __post_init__(self) -> None:
        if self.conditioning not in PELVIS_ONLY_MODES:
            raise ValueError(f"env.config.conditioning={self.conditioning!r}: goal engineering only makes pelvis "
                             f"keyframes; use one of {PELVIS_ONLY_MODES}")
        if self.keyframe_turn_rate < 0.0:
            raise ValueError(f"env.config.keyframe_turn_rate={self.keyframe_turn_rate}: need a rate >= 0 rad/s (0 = off)")
        if not 0.0 <= self.motion_init_prob <= 1.0:
            raise ValueError(f"env.config.motion_init_prob={self.motion_init_prob}: need a probability in [0, 1]")
        if not self.keyframe_steps or any(s <= 0 for s in self.keyframe_steps):
            raise ValueError(f"env.config.keyframe_steps={self.keyframe_steps}: need positive step offsets")


def motion_frame_reset_state(motion_lib, rest: ResetState, ground: torch.Tensor, clearance: float,
                             generator: torch.Generator | None = None) -> ResetState:
    """A random frame of a random clip, turned about the vertical to ``rest``'s heading and moved onto
    ``rest``'s spawn xy (root height above the clip's ground + ``ground`` (M,) + ``clearance``).
    Dofs are local and unchanged; the root's linear and angular velocities turn with the root."""
    m = rest.root_pos.shape[0]
    ids = motion_lib.sample_motions(m, generator)
    ref = motion_lib.get_state(ids, motion_lib.sample_times(ids, generator=generator))
    turn = yaw_quat(heading_angle(rest.root_rot) - heading_angle(ref.root_rot))
    root_pos = torch.cat([rest.root_pos[:, :2], (ref.root_pos[:, 2] + ground + clearance)[:, None]], -1)
    return ResetState(root_pos, quat_normalize(quat_mul(turn, ref.root_rot)), quat_rotate(turn, ref.root_vel),
                      quat_rotate(turn, ref.root_ang_vel), ref.dof_pos, ref.dof_vel)


class KeyframeTaskEnv(BaseEnv):
    """BaseEnv + expert inputs (``masked_mimic_targets``, ``history``) + the evaluation loop.

    Subclasses implement ``pelvis_keyframes() -> (N, K, 1, 3), (N, K, 1, 4)`` (world frame),
    ``goal_obs_spec``/``goal_observations`` (the task obs), and the ``_eval_*`` hooks.
    """

    config_class = KeyframeTaskConfig
    uses_motion_lib = True  # build_env passes one when the run sets motion_file

    def __init__(self, config: KeyframeTaskConfig, simulator, terrain, seed: int = 0, motion_lib=None) -> None:
        super().__init__(config, simulator, terrain, seed)
        self.motion_lib = motion_lib
        k = len(config.keyframe_steps)
        self.keyframe_offsets = torch.tensor(config.keyframe_steps, device=self.device).float() * self.dt  # (K,)
        self.masks = ConditioningMasks(MaskConfig(conditioning=config.conditioning), self.num_envs, k, self.device,
                                       self.generator)
        self.history = ObsHistory(self.num_envs, SELF_OBS_SIZE, config.history_length, config.history_stride,
                                  self.device)
        self.evaluating = False

    # --- observations ------------------------------------------------------------------------
    def goal_obs_spec(self) -> dict[str, int]:
        raise NotImplementedError

    def goal_observations(self) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def pelvis_keyframes(self) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def keyframe_ground(self, xy: torch.Tensor) -> torch.Tensor:
        """Ground height (...) that keyframe pelvis heights stand on, at world points ``xy`` (..., 2)."""
        return mean_ground_height(self.terrain, xy, self.config.reference_ground_radius)

    def task_obs_spec(self) -> dict[str, int]:
        c = self.config
        spec = dict(self.goal_obs_spec())
        spec["masked_mimic_targets"] = masked_target_size(len(c.keyframe_steps), NUM_CONDITIONABLE)
        spec["history"] = c.history_length * SELF_OBS_SIZE
        return spec

    def expert_targets(self) -> torch.Tensor:
        """The expert's masked keyframe obs (N, K · (6 · 20 + 2)) from the pelvis keyframes."""
        s = self.state
        pelvis_pos, pelvis_rot = self.pelvis_keyframes()
        key_pos, key_rot = fill_conditionable(pelvis_pos, pelvis_rot)
        n, k = key_pos.shape[:2]
        m = self.masks
        return masked_target_obs_h(
            s.body_pos[:, CONDITIONABLE_IDS], s.body_rot[:, CONDITIONABLE_IDS], key_pos, key_rot,
            m.trans[:, None].expand(n, k, -1), m.rot[:, None].expand(n, k, -1), m.keyframes,
            self.keyframe_offsets[None].expand(n, k),
        )

    def task_observations(self) -> dict[str, torch.Tensor]:
        obs = dict(self.goal_observations())
        obs["masked_mimic_targets"] = self.expert_targets()
        obs["history"] = self.history.read()
        return obs

    def reset_state(self, env_ids: torch.Tensor) -> ResetState:
        rest = self.default_reset_state(env_ids)
        if self.motion_lib is None or self.config.motion_init_prob <= 0.0:
            return rest
        m = env_ids.numel()
        clip = motion_frame_reset_state(self.motion_lib, rest, self.ground_height(rest.root_pos[:, :2]),
                                        0.5 * self.config.spawn_height_offset, self.generator)
        use_clip = torch.rand(m, device=self.device, generator=self.generator) < self.config.motion_init_prob
        def pick(name: str) -> torch.Tensor:
            a, b = getattr(clip, name), getattr(rest, name)
            return torch.where(use_clip.view(-1, *[1] * (a.dim() - 1)), a, b)

        return ResetState(**{f.name: pick(f.name) for f in fields(ResetState)})

    def on_reset(self, env_ids: torch.Tensor) -> None:
        self.history.fill(env_ids, self.self_observation(env_ids))  # a fresh episode's past is its present

    def post_physics_step(self) -> None:
        self.history.push(self.self_observation())

    # --- evaluation --------------------------------------------------------------------------
    def _eval_begin(self) -> None:
        """Zero the task's per-env metric accumulators (called after the round's reset)."""
        raise NotImplementedError

    def _eval_record(self, alive: torch.Tensor) -> None:
        """Accumulate the task metrics of the step just taken, for envs where ``alive`` (N,) bool."""
        raise NotImplementedError

    def _eval_episode(self, fell: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-env task results of the finished round (N,), including "success" (bool)."""
        raise NotImplementedError

    @torch.no_grad()
    def evaluate(self, act_fn, num_episodes: int | None = None, episode_length: int | None = None) -> dict[str, float]:
        """Run deterministic evaluation episodes and return ``eval/*`` floats and ``score``.

        act_fn: obs dict → actions (N, 69), e.g. the agent's deterministic policy.
        num_episodes: may exceed num_envs (rounds of num_envs episodes, the first ``num_episodes``
        are kept); default ``eval_num_episodes`` or num_envs. episode_length: steps per episode,
        at most ``max_episode_length`` (default). Leaves every env mid-episode: reset them after.
        """
        c = self.config
        n = self.num_envs
        num_episodes = int(num_episodes or c.eval_num_episodes or n)
        steps = int(episode_length or c.max_episode_length)
        if not 0 < steps <= c.max_episode_length:
            raise ValueError(f"evaluate: episode_length={steps} must be in [1, env.config.max_episode_length="
                             f"{c.max_episode_length}]")
        quality = QualityMetrics(n, self.action_dim, self.dt, self.device, c.contact_force, c.contact_height)
        saved_rng = self.generator.get_state()
        self.generator.manual_seed(c.eval_seed)
        self.evaluating = True
        rounds: list[dict[str, torch.Tensor]] = []
        try:
            for _ in range(math.ceil(num_episodes / n)):
                obs = self.reset()
                self._eval_begin()
                quality.reset()
                alive = torch.ones(n, dtype=torch.bool, device=self.device)
                fell = torch.zeros_like(alive)
                for _ in range(steps):
                    obs, _, terminated, _, _ = self.step(act_fn(obs))
                    self._eval_record(alive)
                    quality.update_from_state(self.state, self.ground_height, alive)
                    fell |= terminated & alive  # task terminations are off while evaluating: this is a fall
                    alive &= ~terminated
                rounds.append({**self._eval_episode(fell), **quality.episode_values(), "fell": fell})
        finally:
            self.evaluating = False
            self.generator.set_state(saved_rng)
        per_episode = {k: torch.cat([r[k] for r in rounds])[:num_episodes].float() for k in rounds[0]}
        results = {f"eval/{k}": v.mean().item() for k, v in per_episode.items() if k not in ("success", "fell")}
        results["eval/success_rate"] = per_episode["success"].mean().item()
        results["eval/fall_rate"] = per_episode["fell"].mean().item()
        results["score"] = results["eval/success_rate"]
        return results


def fill_conditionable(pelvis_pos: torch.Tensor, pelvis_rot: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Pelvis keyframes (N, K, 1, 3), (N, K, 1, 4) → the 6-body layout (N, K, 6, 3), (N, K, 6, 4).

    Hidden bodies get zero positions and the identity rotation (a zero quaternion is not a
    rotation); their features are zeroed by the masks anyway.
    """
    n, k = pelvis_pos.shape[:2]
    pos = torch.zeros(n, k, NUM_CONDITIONABLE, 3, device=pelvis_pos.device, dtype=pelvis_pos.dtype)
    rot = torch.zeros(n, k, NUM_CONDITIONABLE, 4, device=pelvis_rot.device, dtype=pelvis_rot.dtype)
    rot[..., 3] = 1.0
    pos[:, :, :1] = pelvis_pos
    rot[:, :, :1] = pelvis_rot
    return pos, rot
