"""Motion-quality metrics shared by the task envs' evaluations: foot skating and joint jerk.

Both are accumulated per env over an evaluation episode while the env is ``alive`` (it has not
fallen yet), then read out per episode.

- **Foot skating** (m/s): mean horizontal speed of a foot body (L/R ankle, L/R toe) over the
  (body, step) pairs where that body is in contact. A simulated foot is in contact when its net
  contact force is above ``contact_force`` (N): the physics knows. A clip has no forces, so there
  a foot is in contact when its origin is less than ``contact_height`` (m) above its rest-pose
  origin height over the ground (body origins are joints, not soles: the ankle origin stands ~7 cm
  up); mocap feet leave that band within a frame or two of lifting. A simulated gait swings its
  feet lower than the clips do (tracking errors of a few cm), so the height test would count
  swinging feet, at 2-4 m/s, as skating: on steering v4 (64 flat episodes) it reads 0.60 m/s where
  the contact forces read 0.24. Task envs therefore default to the force test alone
  (``contact_height=None``), and the evaluation scripts apply that default to older runs too.
- **Joint jerk** (rad/s³): mean over DoFs and steps of |Δ³ dof_pos| / dt³, the third backward
  finite difference of the hinge angles; it needs 4 samples, so the first 3 steps after a reset
  are not counted. Hinges are limited to ±180°, so no angle wrapping is needed.
"""

from __future__ import annotations

import torch

from protomotions.robot import smpl

FOOT_IDS = [smpl.BODY_NAMES.index(b) for b in smpl.FOOT_BODY_NAMES]


def rest_origin_heights(names=smpl.FOOT_BODY_NAMES) -> list[float]:
    """Height (m) of each named body's origin above the ground in the standing rest pose."""
    segments = {s.name: s for s in smpl.build_segments()}
    heights = []
    for name in names:
        z, i = smpl.default_root_height(), smpl.BODY_NAMES.index(name)
        while i > 0:  # walk up to the pelvis, summing the rest offsets
            z += segments[smpl.BODY_NAMES[i]].offset[2]
            i = smpl.PARENT_INDICES[i]
        heights.append(z)
    return heights


def foot_contact(contact_forces: torch.Tensor, height_above_rest: torch.Tensor, force_threshold: float | None,
                 height_threshold: float | None) -> torch.Tensor:
    """(N, F) bool from contact forces (N, F, 3) and origin height above its rest height (N, F): force
    above ``force_threshold`` or height below ``height_threshold``; a None threshold turns its test off."""
    contact = torch.zeros_like(height_above_rest, dtype=torch.bool)
    if force_threshold is not None:
        contact |= contact_forces.norm(dim=-1) > force_threshold
    if height_threshold is not None:
        contact |= height_above_rest < height_threshold
    return contact


def third_difference(q: torch.Tensor) -> torch.Tensor:
    """q (N, 4, D) oldest first → Δ³q (N, D) = q3 − 3 q2 + 3 q1 − q0."""
    return q[:, 3] - 3.0 * q[:, 2] + 3.0 * q[:, 1] - q[:, 0]


class QualityMetrics:
    """Per-env accumulators of foot skating and joint jerk over one evaluation round."""

    def __init__(self, num_envs: int, num_dofs: int, dt: float, device, contact_force: float | None = 1.0,
                 contact_height: float | None = None) -> None:
        self.dt, self.contact_force, self.contact_height = dt, contact_force, contact_height
        self.rest_heights = torch.tensor(rest_origin_heights(), device=device)  # (F,)
        self.dof_hist = torch.zeros(num_envs, 4, num_dofs, device=device)  # oldest first
        self.samples = torch.zeros(num_envs, dtype=torch.long, device=device)
        self.skate_sum = torch.zeros(num_envs, device=device)
        self.contact_count = torch.zeros(num_envs, device=device)
        self.jerk_sum = torch.zeros(num_envs, device=device)
        self.jerk_count = torch.zeros(num_envs, device=device)

    def reset(self) -> None:
        for t in (self.dof_hist, self.samples, self.skate_sum, self.contact_count, self.jerk_sum, self.jerk_count):
            t.zero_()

    def update(self, foot_pos_w: torch.Tensor, foot_vel_w: torch.Tensor, foot_forces: torch.Tensor,
               foot_ground: torch.Tensor, dof_pos: torch.Tensor, alive: torch.Tensor) -> None:
        """foot_pos_w, foot_vel_w, foot_forces (N, F, 3); foot_ground (N, F) terrain under each foot;
        dof_pos (N, D); alive (N,) bool: only alive envs accumulate."""
        live = alive.float()
        above_rest = foot_pos_w[..., 2] - foot_ground - self.rest_heights
        contact = foot_contact(foot_forces, above_rest, self.contact_force, self.contact_height).float()
        speed = foot_vel_w[..., :2].norm(dim=-1)
        self.skate_sum += (speed * contact).sum(-1) * live
        self.contact_count += contact.sum(-1) * live

        self.dof_hist = torch.cat([self.dof_hist[:, 1:], dof_pos[:, None]], 1)
        self.samples += 1
        valid = (self.samples >= 4).float() * live
        jerk = third_difference(self.dof_hist).abs().mean(-1) / self.dt**3
        self.jerk_sum += jerk * valid
        self.jerk_count += valid

    def update_from_state(self, state, ground_fn, alive: torch.Tensor) -> None:
        """Convenience: read the foot bodies and DoFs from a :class:`RobotState`."""
        pos = state.body_pos[:, FOOT_IDS]
        self.update(pos, state.body_vel[:, FOOT_IDS], state.contact_forces[:, FOOT_IDS], ground_fn(pos[..., :2]),
                    state.dof_pos, alive)

    def episode_values(self) -> dict[str, torch.Tensor]:
        """Per-env means (N,): foot_skate_mps (0 if never in contact), joint_jerk (0 if < 4 samples)."""
        return {
            "foot_skate_mps": self.skate_sum / self.contact_count.clamp(min=1.0),
            "joint_jerk": self.jerk_sum / self.jerk_count.clamp(min=1.0),
        }


def reference_quality(motion_lib, dt: float = 1.0 / 30.0, contact_height: float = 0.03) -> dict[str, float]:
    """Foot skating and joint jerk of the motion clips themselves, played at ``dt`` on flat ground.

    The same accumulator as the task evaluations, with the height test alone for contact (a clip
    has no contact forces): the yardstick of the motion-quality target ("foot skate ≤ 1.5× the
    clips' own"). Clips are weighted by their number of contact samples (skate) and steps (jerk).
    """
    ids = torch.arange(motion_lib.num_motions, device=motion_lib.device)
    lengths = motion_lib.motion_lengths
    metrics = QualityMetrics(len(ids), motion_lib.flat["dof_pos"].shape[1], dt, motion_lib.device,
                             contact_force=None, contact_height=contact_height)
    no_force = torch.zeros(len(ids), len(FOOT_IDS), 3, device=motion_lib.device)
    for step in range(int(float(lengths.max()) / dt) + 1):
        t = torch.full_like(lengths, step * dt)
        state = motion_lib.get_state(ids, t)
        pos = state.body_pos[:, FOOT_IDS]
        metrics.update(pos, state.body_vel[:, FOOT_IDS], no_force, torch.zeros_like(pos[..., 0]), state.dof_pos,
                       alive=t <= lengths)
    return {
        "foot_skate_mps": float(metrics.skate_sum.sum() / metrics.contact_count.sum().clamp(min=1.0)),
        "joint_jerk": float(metrics.jerk_sum.sum() / metrics.jerk_count.sum().clamp(min=1.0)),
        "clips": len(ids),
    }


if __name__ == "__main__":
    import argparse
    import json

    from protomotions.motion.motion_lib import MotionLib

    parser = argparse.ArgumentParser(description="Foot skating and joint jerk of motion clips (one JSON line).")
    parser.add_argument("--motion_file", default="data/motions/locomotion.yaml")
    print(json.dumps(reference_quality(MotionLib(parser.parse_args().motion_file))))
