"""The simulator interface: batched humanoid physics behind torch tensors.

Every backend (``mujoco`` on CPU, ``mjwarp`` on GPU, ``isaaclab`` optional) implements
:class:`Simulator`. Tensors are num_envs-first, in the framework conventions of
:mod:`protomotions.robot.smpl` (Z-up, quaternions xyzw, bodies and DoFs in SMPL order). Each
backend converts to its own order in its adapter and nowhere else.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, fields

import torch

from protomotions.robot import smpl


@dataclass
class SimulatorConfig:
    """Rates and sizes shared by every backend."""

    num_envs: int = 1
    control_dt: float = 1.0 / 30.0  # policy rate, 30 Hz on every backend
    physics_dt: float = 1.0 / 240.0
    decimation: int = 8  # physics steps per control step
    device: str = "cpu"
    num_threads: int = 0  # CPU backends: 0 = one per core
    headless: bool = True
    nconmax: int | None = None
    """MuJoCo Warp: contacts per world in the shared pool (None: the backend's default for the terrain)."""
    njmax: int | None = None
    """MuJoCo Warp: constraint rows per world (None: the backend's default)."""

    def __post_init__(self) -> None:
        if abs(self.physics_dt * self.decimation - self.control_dt) > 1e-9:
            raise ValueError(
                f"simulator: physics_dt × decimation = {self.physics_dt * self.decimation:.6f} s must equal "
                f"control_dt = {self.control_dt:.6f} s; change decimation or physics_dt"
            )


@dataclass
class RobotState:
    """Kinematic state of the humanoids, world frame.

    root_pos (N, 3), root_rot (N, 4) xyzw, root_vel (N, 3), root_ang_vel (N, 3),
    dof_pos (N, 69), dof_vel (N, 69), body_pos (N, 24, 3), body_rot (N, 24, 4) xyzw,
    body_vel (N, 24, 3) linear velocity of each body origin, body_ang_vel (N, 24, 3),
    contact_forces (N, 24, 3) net contact force on each body (world).
    """

    root_pos: torch.Tensor
    root_rot: torch.Tensor
    root_vel: torch.Tensor
    root_ang_vel: torch.Tensor
    dof_pos: torch.Tensor
    dof_vel: torch.Tensor
    body_pos: torch.Tensor
    body_rot: torch.Tensor
    body_vel: torch.Tensor
    body_ang_vel: torch.Tensor
    contact_forces: torch.Tensor

    def index(self, env_ids: torch.Tensor) -> RobotState:
        return RobotState(**{f.name: getattr(self, f.name)[env_ids] for f in fields(self)})

    def clone(self) -> RobotState:
        return RobotState(**{f.name: getattr(self, f.name).clone() for f in fields(self)})


@dataclass
class ResetState:
    """What a reset writes: the root and the joints; the simulator derives the bodies.

    root_pos (M, 3), root_rot (M, 4) xyzw, root_vel (M, 3), root_ang_vel (M, 3) world frame,
    dof_pos (M, 69), dof_vel (M, 69).
    """

    root_pos: torch.Tensor
    root_rot: torch.Tensor
    root_vel: torch.Tensor
    root_ang_vel: torch.Tensor
    dof_pos: torch.Tensor
    dof_vel: torch.Tensor

    def to(self, device) -> ResetState:
        return ResetState(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})


class Simulator(abc.ABC):
    """Steps ``num_envs`` humanoids with PD targets at the control rate.

    The terrain (a :class:`protomotions.terrain.Terrain` or None for flat ground) is built into
    the scene at construction; all envs share it and never collide with each other.
    """

    num_bodies = smpl.NUM_BODIES
    num_dofs = smpl.NUM_DOFS

    def __init__(self, config: SimulatorConfig, terrain=None) -> None:
        self.config = config
        self.terrain = terrain
        self.num_envs = config.num_envs
        self.device = torch.device(config.device)

    @abc.abstractmethod
    def step(self, pd_targets: torch.Tensor) -> None:
        """Advance one control step (``decimation`` physics steps) with PD targets (N, 69) in radians."""

    @abc.abstractmethod
    def reset_envs(self, env_ids: torch.Tensor, state: ResetState) -> None:
        """Set the state of the envs ``env_ids`` (M,); the others are untouched."""

    @abc.abstractmethod
    def get_state(self) -> RobotState:
        """The state after the last ``step``/``reset_envs``, as tensors on ``self.device``.

        A new object after every ``step`` and ``reset_envs``, the same one between them: envs cache
        values derived from it by identity (``BaseEnv.self_observation``)."""

    def render(self, env_id: int = 0, width: int = 640, height: int = 480, markers=None):
        """One RGB frame (H, W, 3) uint8 of env ``env_id``, camera following its pelvis."""
        raise NotImplementedError(f"{type(self).__name__} cannot render")

    def close(self) -> None:
        pass
