"""Which bodies, channels and keyframes a masked-mimic policy gets to see.

Training draws random masks per env (REFERENCE_FACTS §2c, simplified): with probability
``all_visible_prob`` everything is shown; otherwise a number of bodies is drawn (capped at 3
with probability ``few_bodies_prob``), each shown through translation, rotation or both; each
keyframe is visible with ``keyframe_visible_prob``, and at least one is whenever some body is.
Masks are redrawn every ``resample_interval`` steps (a random number in the range) so one
episode sees several conditionings. Evaluation and tasks use fixed modes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from protomotions.robot import smpl

FIXED_MODES = {
    # mode: (bodies with translation, bodies with rotation)
    "full": (smpl.CONDITIONABLE_BODY_NAMES, smpl.CONDITIONABLE_BODY_NAMES),
    "pelvis": (("Pelvis",), ("Pelvis",)),
    "head": (("Head",), ("Head",)),
    "vr": (("Head", "L_Hand", "R_Hand"), ("Head",)),
    "pelvis_translation": (("Pelvis",), ()),
}


@dataclass
class MaskConfig:
    conditioning: str = "random"
    """"random" for training, or a fixed mode: full, pelvis, head, vr, pelvis_translation."""
    all_visible_prob: float = 0.1
    few_bodies_prob: float = 0.1
    keyframe_visible_prob: float = 0.8
    resample_interval: tuple[int, int] = (15, 90)
    fixed_mode_prob: float = 0.0
    """Share of random draws replaced by one of ``fixed_modes`` (uniformly), all keyframes visible.
    The tasks condition on the pelvis alone and evaluation on fixed modes; the random draws above
    give exactly "pelvis" (both channels, every keyframe) in ~0.3 % of cases."""
    fixed_modes: tuple[str, ...] = ("pelvis", "pelvis_translation", "head", "vr", "full")

    def __post_init__(self) -> None:
        if self.conditioning != "random" and self.conditioning not in FIXED_MODES:
            raise ValueError(f"conditioning={self.conditioning!r}: use 'random' or one of {sorted(FIXED_MODES)}")
        unknown = [m for m in self.fixed_modes if m not in FIXED_MODES]
        if unknown or not self.fixed_modes:
            raise ValueError(f"fixed_modes={list(self.fixed_modes)}: use modes of {sorted(FIXED_MODES)}")
        if not 0.0 <= self.fixed_mode_prob <= 1.0:
            raise ValueError(f"fixed_mode_prob={self.fixed_mode_prob}: need a probability in [0, 1]")


class ConditioningMasks:
    """Per-env masks: trans (N, J), rot (N, J), keyframes (N, K), bool."""

    def __init__(self, config: MaskConfig, num_envs: int, num_keyframes: int, device, generator: torch.Generator) -> None:
        self.config = config
        self.num_bodies = len(smpl.CONDITIONABLE_BODY_NAMES)
        self.device, self.generator = device, generator
        self.trans = torch.zeros(num_envs, self.num_bodies, dtype=torch.bool, device=device)
        self.rot = torch.zeros_like(self.trans)
        self.keyframes = torch.ones(num_envs, num_keyframes, dtype=torch.bool, device=device)
        self.steps_left = torch.zeros(num_envs, dtype=torch.long, device=device)
        # (modes, J) body tables of the fixed modes that random draws may be replaced by
        self._mode_trans, self._mode_rot = (torch.stack(t) for t in zip(*(self._mode_rows(m) for m in config.fixed_modes)))
        if config.conditioning != "random":
            self.set_fixed(config.conditioning)

    def _mode_rows(self, mode: str) -> tuple[torch.Tensor, torch.Tensor]:
        trans_names, rot_names = FIXED_MODES[mode]
        names = smpl.CONDITIONABLE_BODY_NAMES
        return (torch.tensor([n in trans_names for n in names], device=self.device),
                torch.tensor([n in rot_names for n in names], device=self.device))

    def set_fixed(self, mode: str, env_ids: torch.Tensor | None = None) -> None:
        t, r = self._mode_rows(mode)
        ids = slice(None) if env_ids is None else env_ids
        self.trans[ids] = t
        self.rot[ids] = r
        self.keyframes[ids] = True

    def _rand(self, *shape) -> torch.Tensor:
        return torch.rand(*shape, device=self.device, generator=self.generator)

    def resample(self, env_ids: torch.Tensor) -> None:
        if self.config.conditioning != "random" or env_ids.numel() == 0:
            return
        c, m, j = self.config, env_ids.numel(), self.num_bodies
        max_bodies = torch.where(self._rand(m) < c.few_bodies_prob, torch.full((m,), 3, device=self.device),
                                 torch.full((m,), j, device=self.device))
        count = (self._rand(m) * max_bodies).long() + 1  # 1 .. max_bodies
        order = self._rand(m, j).argsort(dim=-1)  # a random permutation per env
        chosen = torch.zeros(m, j, dtype=torch.bool, device=self.device)
        chosen.scatter_(1, order, torch.arange(j, device=self.device).expand(m, j) < count[:, None])
        channel = (self._rand(m, j) * 3).long()  # 0 translation, 1 rotation, 2 both
        trans = chosen & (channel != 1)
        rot = chosen & (channel != 0)
        everything = self._rand(m) < c.all_visible_prob
        trans[everything] = True
        rot[everything] = True
        keys = self._rand(m, self.keyframes.shape[1]) < c.keyframe_visible_prob
        none_visible = ~keys.any(dim=-1)
        keys[none_visible, (self._rand(m) * keys.shape[1]).long()[none_visible]] = True
        keys[everything] = True
        fixed = self._rand(m) < c.fixed_mode_prob
        mode = (self._rand(m) * len(c.fixed_modes)).long()
        trans = torch.where(fixed[:, None], self._mode_trans[mode], trans)
        rot = torch.where(fixed[:, None], self._mode_rot[mode], rot)
        keys = keys | fixed[:, None]
        self.trans[env_ids], self.rot[env_ids], self.keyframes[env_ids] = trans, rot, keys
        lo, hi = c.resample_interval
        self.steps_left[env_ids] = lo + (self._rand(m) * (hi - lo + 1)).long()

    def step(self) -> None:
        """Count down and redraw the masks of envs whose interval ran out."""
        if self.config.conditioning != "random":
            return
        self.steps_left -= 1
        self.resample((self.steps_left <= 0).nonzero().flatten())
