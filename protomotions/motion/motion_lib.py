"""MotionLib: all clips of a motion file in flat frame tensors, with batched time queries.

    lib = MotionLib("data/motions/locomotion.yaml", device="cpu")
    ids = lib.sample_motions(num_envs)                 # (N,) long, by clip weight
    t = lib.sample_times(ids, truncate_time=0.5)       # (N,) s
    s = lib.get_state(ids, t)                          # MotionState of (N, ...) tensors

Every clip's frames are concatenated ("flat" tensors, F total frames) and ``motion_start[i]`` is the
flat index of clip i's first frame, so a query is one gather per key, no per-env Python loops.
Positions/velocities/dofs interpolate linearly between the two neighbouring frames (dofs along the
short way round ±π), rotations by slerp, contacts take the nearer frame. Times are clamped to
[0, motion_lengths[id]], where a clip of T frames lasts (T−1)/fps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch

from protomotions.motion.motion_file import load_motion, load_motion_list
from protomotions.utils import rotations as rot


@dataclass
class MotionState:
    """(N, ...) reference state; world frame, xyzw, m, rad, s (see motion_file.py for each key)."""

    root_pos: torch.Tensor  # (N, 3)
    root_rot: torch.Tensor  # (N, 4)
    root_vel: torch.Tensor  # (N, 3)
    root_ang_vel: torch.Tensor  # (N, 3)
    dof_pos: torch.Tensor  # (N, 69)
    dof_vel: torch.Tensor  # (N, 69)
    body_pos: torch.Tensor  # (N, 24, 3)
    body_rot: torch.Tensor  # (N, 24, 4)
    body_vel: torch.Tensor  # (N, 24, 3)
    body_ang_vel: torch.Tensor  # (N, 24, 3)
    contacts: torch.Tensor  # (N, 24)


_LERP_KEYS = ("dof_vel", "body_pos", "body_vel", "body_ang_vel")


class MotionLib:
    def __init__(self, motion_file: str | Path, device: str | torch.device = "cpu",
                 success_decay: float = 0.999, min_weight_frac: float = 0.01, subset: tuple[int, int] = (0, 1)):
        """``subset=(rank, world_size)`` keeps clips rank, rank + world_size, ... (every clip when there
        are fewer clips than ranks), so DDP ranks train on disjoint shares of a large list."""
        self.device = torch.device(device)
        entries = load_motion_list(motion_file)  # raises FileNotFoundError("Motion file not found: ...")
        rank, world_size = subset
        if not 0 <= rank < world_size:
            raise ValueError(f"MotionLib subset: rank {rank} outside world_size {world_size}")
        if len(entries) >= world_size:
            entries = entries[rank::world_size]
        clips = [load_motion(path) for path, _, _ in entries]
        self.motion_files = [str(p) for p, _, _ in entries]
        self.motion_names = [str(c.get("name", Path(p).stem)) for c, (p, _, _) in zip(clips, entries)]
        self.motion_labels = [list(e.get("labels", [])) or str(c.get("labels", "")).split(",")
                              for c, (_, _, e) in zip(clips, entries)]
        num_frames = torch.tensor([len(c["root_pos"]) for c in clips], dtype=torch.long)
        fps = torch.tensor([float(c["fps"]) for c in clips], dtype=torch.float32)
        self.motion_num_frames = num_frames.to(self.device)
        self.motion_fps = fps.to(self.device)
        self.motion_dt = 1.0 / self.motion_fps
        self.motion_lengths = ((num_frames - 1).float() / fps).to(self.device)
        self.motion_start = (torch.cumsum(num_frames, 0) - num_frames).to(self.device)
        self.flat = {k: torch.cat([torch.as_tensor(c[k], dtype=torch.float32) for c in clips]).to(self.device)
                     for k in ("dof_pos", "body_rot", "contacts") + _LERP_KEYS}
        self.base_weights = torch.tensor([w for _, w, _ in entries], dtype=torch.float32, device=self.device)
        if float(self.base_weights.sum()) <= 0:
            raise ValueError(f"motion weights in {motion_file} sum to 0; give at least one clip a weight > 0")
        # failure-weighted sampling: log-factor per clip, −log(decay) on failure, +log(decay) on success
        self._log_factor = torch.zeros_like(self.base_weights)
        self._log_decay = math.log(success_decay)
        self._min_log = math.log(min_weight_frac)

    @property
    def num_motions(self) -> int:
        return int(self.motion_lengths.shape[0])

    def total_length(self) -> float:
        return float(self.motion_lengths.sum())

    @property
    def sampling_weights(self) -> torch.Tensor:
        w = self.base_weights * torch.exp(self._log_factor)
        return w / w.sum()

    def sample_motions(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(n,) clip ids drawn with replacement ∝ current sampling weights."""
        return torch.multinomial(self.sampling_weights, n, replacement=True, generator=generator)

    def sample_times(self, motion_ids: torch.Tensor, truncate_time: float | None = None,
                     generator: torch.Generator | None = None) -> torch.Tensor:
        """(N,) uniform start times in [0, length − truncate_time] (≥ 0)."""
        length = self.motion_lengths[motion_ids]
        if truncate_time is not None:
            length = (length - truncate_time).clamp_min(0.0)
        u = torch.rand(motion_ids.shape, device=self.device, generator=generator)
        return u * length

    def update_sampling_weights(self, motion_ids: torch.Tensor, success: torch.Tensor) -> None:
        """Trackers report per-episode outcomes: failures make a clip likelier, successes rarer.
        Weight factor ∈ [min_weight_frac, 1/min_weight_frac]; duplicates in ``motion_ids`` accumulate."""
        step = torch.where(success.to(self.device).bool(), self._log_decay, -self._log_decay)
        self._log_factor.index_add_(0, motion_ids.to(self.device), step.float())
        self._log_factor.clamp_(self._min_log, -self._min_log)

    def get_state(self, motion_ids: torch.Tensor, times: torch.Tensor) -> MotionState:
        """Interpolated state of clip ``motion_ids`` (N,) at ``times`` (N,) seconds."""
        motion_ids = motion_ids.to(self.device).long()
        times = times.to(self.device).float()
        n = self.motion_num_frames[motion_ids]
        t = torch.minimum(times.clamp_min(0.0), self.motion_lengths[motion_ids])
        f = t * self.motion_fps[motion_ids]
        f0 = torch.minimum(f.floor().long(), n - 1)
        f1 = torch.minimum(f0 + 1, n - 1)
        alpha = (f - f0.float()).clamp(0.0, 1.0)
        i0 = self.motion_start[motion_ids] + f0
        i1 = self.motion_start[motion_ids] + f1
        F = self.flat

        def lerp(key: str) -> torch.Tensor:
            a = alpha.view(-1, *([1] * (F[key].dim() - 1)))
            return F[key][i0] + a * (F[key][i1] - F[key][i0])

        d0, d1 = F["dof_pos"][i0], F["dof_pos"][i1]
        dof = rot.wrap_to_pi(d0 + alpha[:, None] * rot.wrap_to_pi(d1 - d0))
        body_rot = rot.quat_slerp(F["body_rot"][i0], F["body_rot"][i1], alpha[:, None].expand(-1, F["body_rot"].shape[1]))
        body_pos, body_vel, body_ang_vel = lerp("body_pos"), lerp("body_vel"), lerp("body_ang_vel")
        contacts = torch.where((alpha < 0.5)[:, None], F["contacts"][i0], F["contacts"][i1])
        return MotionState(
            root_pos=body_pos[:, 0], root_rot=body_rot[:, 0], root_vel=body_vel[:, 0],
            root_ang_vel=body_ang_vel[:, 0], dof_pos=dof, dof_vel=lerp("dof_vel"), body_pos=body_pos,
            body_rot=body_rot, body_vel=body_vel, body_ang_vel=body_ang_vel, contacts=contacts,
        )
