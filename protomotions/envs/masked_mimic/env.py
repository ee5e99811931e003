"""MaskedMimic env: motion tracking where the policy sees only masked, sparse future targets.

Adds to the mimic env's observations:
- ``masked_mimic_targets``: K keyframes of the conditionable bodies (pelvis, ankles, hands,
  head) at fixed future offsets, with translation/rotation masks (see ``masks.py``);
- ``history``: past self-observations.
The full ``mimic_target_poses`` stay in the observations: the expert tracker and the
student's posterior encoder read them; the prior must not.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from protomotions.envs.history import ObsHistory
from protomotions.envs.masked_mimic.masks import ConditioningMasks, MaskConfig
from protomotions.envs.masked_mimic.obs import masked_target_obs_h, masked_target_size
from protomotions.envs.mimic.env import MimicEnv, MimicEnvConfig
from protomotions.envs.obs import SELF_OBS_SIZE
from protomotions.robot import smpl

CONDITIONABLE_IDS = [smpl.BODY_NAMES.index(b) for b in smpl.CONDITIONABLE_BODY_NAMES]


@dataclass
class MaskedMimicEnvConfig(MimicEnvConfig):
    keyframe_steps: list[int] = field(default_factory=lambda: [2, 6, 12, 20, 30])
    """Future offsets (control steps) of the K keyframes."""
    history_length: int = 3
    history_stride: int = 4
    masks: dict = field(default_factory=dict)
    """Fields of :class:`MaskConfig` (conditioning mode and mask probabilities)."""


class MaskedMimicEnv(MimicEnv):
    config_class = MaskedMimicEnvConfig

    def __init__(self, config: MaskedMimicEnvConfig, simulator, terrain, seed: int = 0, motion_lib=None) -> None:
        super().__init__(config, simulator, terrain, seed, motion_lib)
        self.keyframe_offsets = torch.tensor(config.keyframe_steps, device=self.device).float() * self.dt  # (K,)
        self.masks = ConditioningMasks(MaskConfig(**config.masks), self.num_envs, len(config.keyframe_steps),
                                       self.device, self.generator)
        self.history = ObsHistory(self.num_envs, self.obs_spec["self_obs"], config.history_length,
                                  config.history_stride, self.device)

    def task_obs_spec(self) -> dict[str, int]:
        spec = super().task_obs_spec()
        c = self.config
        spec["masked_mimic_targets"] = masked_target_size(len(c.keyframe_steps), len(CONDITIONABLE_IDS))
        spec["history"] = c.history_length * SELF_OBS_SIZE
        return spec

    def keyframe_targets(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Reference poses of the conditionable bodies at the keyframe times: (N, K, J, 3), (N, K, J, 4)."""
        n, k = self.num_envs, self.keyframe_offsets.numel()
        lengths = self.motion_lib.motion_lengths.to(self.device)[self.motion_ids]
        times = torch.minimum(self.motion_times[:, None] + self.keyframe_offsets[None], lengths[:, None]).reshape(-1)
        ids = self.motion_ids[:, None].expand(n, k).reshape(-1)
        offs = self.motion_offset[:, None].expand(n, k, 3).reshape(-1, 3)
        ref = self.reference(ids, times, offs)
        pos = ref.body_pos[:, CONDITIONABLE_IDS].reshape(n, k, -1, 3)
        rot = ref.body_rot[:, CONDITIONABLE_IDS].reshape(n, k, -1, 4)
        return pos, rot

    def task_observations(self) -> dict[str, torch.Tensor]:
        obs = super().task_observations()
        s = self.state
        key_pos, key_rot = self.keyframe_targets()
        k = self.keyframe_offsets.numel()
        m = self.masks
        obs["masked_mimic_targets"] = masked_target_obs_h(
            s.body_pos[:, CONDITIONABLE_IDS], s.body_rot[:, CONDITIONABLE_IDS], key_pos, key_rot,
            m.trans[:, None].expand(-1, k, -1), m.rot[:, None].expand(-1, k, -1), m.keyframes,
            self.keyframe_offsets[None].expand(self.num_envs, -1),
        )
        obs["history"] = self.history.read()
        return obs

    def on_reset(self, env_ids: torch.Tensor) -> None:
        super().on_reset(env_ids)
        self.masks.resample(env_ids)
        self.history.fill(env_ids, self.self_observation(env_ids))  # the past of a fresh episode is its present

    def post_physics_step(self) -> None:
        super().post_physics_step()
        self.masks.step()
        self.history.push(self.self_observation())

    def evaluate(self, act_fn, max_clips: int | None = None, conditioning: str | None = None) -> dict[str, float]:
        """Tracking evaluation (see MimicEnv.evaluate) under a fixed ``conditioning`` mode, e.g. "full"."""
        if conditioning is None:
            return super().evaluate(act_fn, max_clips)
        saved = (self.masks.config, self.masks.trans.clone(), self.masks.rot.clone(), self.masks.keyframes.clone())
        self.masks.config = MaskConfig(**{**vars(saved[0]), "conditioning": conditioning})
        self.masks.set_fixed(conditioning)
        try:
            return super().evaluate(act_fn, max_clips)
        finally:
            self.masks.config = saved[0]
            self.masks.trans[:], self.masks.rot[:], self.masks.keyframes[:] = saved[1:]
            self.masks.resample(torch.arange(self.num_envs, device=self.device))
