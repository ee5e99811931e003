"""The base humanoid env: observations, PD actions, fall termination, resets.

It talks to any :class:`~protomotions.simulator.base.Simulator` and never imports a backend.
Task envs (mimic, steering, path following) subclass it and override the hooks
``reset_state``, ``on_reset``, ``task_observations``, ``compute_reward`` and
``task_terminated``. The loop contract is in ``envs/README_INTERFACE.md``:
``step`` returns observations *before* resets; the runner then calls ``reset(done_ids)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from protomotions.envs.obs import SELF_OBS_SIZE, has_fallen, self_obs_h
from protomotions.robot import smpl
from protomotions.simulator.base import ResetState, RobotState, Simulator
from protomotions.terrain.base import Terrain
from protomotions.utils.rotations import yaw_quat

HEIGHTMAP_SIZE = 256  # 16 × 16 samples


@dataclass
class BaseEnvConfig:
    max_episode_length: int = 300
    """Steps (at 30 Hz) before a time-out (truncation, bootstrapped)."""
    action_scale: float = math.pi
    """PD target = action_scale · tanh(action) radians for every DoF."""
    termination_height: float = 0.15
    """A non-foot body below this height (m above terrain) while touching the ground ends the episode."""
    head_termination_height: float = 0.3
    enable_fall_termination: bool = True
    use_terrain_obs: bool = True
    """Add the 16×16 heightmap around the root (256 values) to the observations."""
    spawn_height_offset: float = 0.05
    """Extra clearance (m) above the terrain when spawning, so no geom starts inside the ground."""
    random_yaw_on_reset: bool = True


class BaseEnv:
    config_class = BaseEnvConfig

    def __init__(self, config: BaseEnvConfig, simulator: Simulator, terrain: Terrain, seed: int = 0) -> None:
        self.config = config
        self.simulator = simulator
        self.terrain = terrain
        self.num_envs = simulator.num_envs
        self.device = simulator.device
        self.dt = simulator.config.control_dt
        self.action_dim = smpl.NUM_DOFS
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self._default_root_height = smpl.default_root_height()  # rebuilds the skeleton: not per reset

        n, dev = self.num_envs, self.device
        self.progress = torch.zeros(n, dtype=torch.long, device=dev)
        self.prev_actions = torch.zeros(n, self.action_dim, device=dev)

        foot_ids = [smpl.BODY_NAMES.index(b) for b in smpl.FOOT_BODY_NAMES]
        self.fall_body_mask = torch.ones(smpl.NUM_BODIES, dtype=torch.bool, device=dev)
        self.fall_body_mask[foot_ids] = False
        self.termination_heights = torch.full((smpl.NUM_BODIES,), config.termination_height, device=dev)
        self.termination_heights[smpl.BODY_NAMES.index("Head")] = config.head_termination_height

        self.obs_spec: dict[str, int] = {"self_obs": SELF_OBS_SIZE, "prev_actions": self.action_dim}
        if config.use_terrain_obs:
            self.obs_spec["terrain"] = HEIGHTMAP_SIZE
        self.obs_spec.update(self.task_obs_spec())
        self._last_obs: dict[str, torch.Tensor] | None = None
        self._self_obs: torch.Tensor | None = None
        self._self_obs_key: tuple | None = None  # (state, env_ids) _self_obs was computed for
        self._heightmap = None
        if config.use_terrain_obs:
            from protomotions.terrain.heightmap import HeightmapSampler

            self._heightmap = HeightmapSampler(terrain)

    # --- the loop ----------------------------------------------------------------------------
    def reset(self, env_ids: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        if env_ids is None:
            env_ids = torch.arange(self.num_envs, device=self.device)
        env_ids = env_ids.to(self.device).long().flatten()
        if env_ids.numel() == 0 and self._last_obs is not None:
            return self._last_obs  # nothing changed since step() computed them
        if env_ids.numel() > 0:
            self.simulator.reset_envs(env_ids, self.reset_state(env_ids))
            self.progress[env_ids] = 0
            self.prev_actions[env_ids] = 0.0
            self.on_reset(env_ids)
        if self._last_obs is None or env_ids.numel() == self.num_envs:
            self._last_obs = self.observations()
        else:
            self._last_obs = self._observations_after_partial_reset(env_ids)
        return self._last_obs

    def step(self, actions: torch.Tensor):
        """Apply actions (N, 69) → (obs, reward (N,), terminated (N,), truncated (N,), extras)."""
        assert actions.shape == (self.num_envs, self.action_dim), actions.shape
        self.prev_actions = actions.detach().clone()
        self.simulator.step(self.action_to_pd_targets(actions.detach()))
        self.progress += 1
        self.post_physics_step()
        # a world whose physics diverged (NaN/inf) ends its episode and is reset like a fall
        diverged = ~torch.isfinite(self.state.body_pos.flatten(1)).all(dim=-1)
        obs = {k: torch.nan_to_num(v, nan=0.0, posinf=0.0, neginf=0.0) for k, v in self.observations().items()}
        self._last_obs = obs
        reward, terms = self.compute_reward()
        reward = torch.where(diverged, torch.zeros_like(reward), torch.nan_to_num(reward, nan=0.0))
        terminated = self.task_terminated() | diverged
        if self.config.enable_fall_termination:
            terminated = terminated | (self.fallen() & (self.progress > 1))
        truncated = (self.progress >= self.config.max_episode_length) & ~terminated
        # a diverged world's terms are NaN: they would turn the whole epoch's logged mean into NaN
        extras = {f"rewards/{k}": torch.where(diverged, torch.zeros_like(v), v) for k, v in terms.items()}
        extras["counts/diverged_worlds"] = diverged
        extras["episode_length"] = self.progress.clone()
        return obs, reward, terminated, truncated, extras

    # --- building blocks ---------------------------------------------------------------------
    def action_to_pd_targets(self, actions: torch.Tensor) -> torch.Tensor:
        return self.config.action_scale * torch.tanh(actions)

    @property
    def state(self) -> RobotState:
        return self.simulator.get_state()

    def ground_height(self, xy: torch.Tensor) -> torch.Tensor:
        return self.terrain.height_at(xy)

    def fallen(self) -> torch.Tensor:
        s = self.state
        body_height = s.body_pos[..., 2] - self.ground_height(s.body_pos[..., :2])
        return has_fallen(s.contact_forces, body_height, self.fall_body_mask, self.termination_heights)

    def observations(self) -> dict[str, torch.Tensor]:
        s = self.state
        obs = {"self_obs": self.self_observation(), "prev_actions": self.prev_actions}
        if self._heightmap is not None:
            obs["terrain"] = self._heightmap(s.root_pos, s.root_rot)
        obs.update(self.task_observations())
        return obs

    def self_observation(self, env_ids: torch.Tensor | None = None) -> torch.Tensor:
        """(N, 358) self-observation of the current state, or (M, 358) of envs ``env_ids`` only.

        Computed once per simulator state and ``env_ids`` tensor: task envs read it for their history
        (after physics, or on a reset) and the env reads it again for the observations."""
        s, key = self.state, self._self_obs_key
        if key is None or key[0] is not s or key[1] is not env_ids:
            fields = (s.root_pos, s.body_pos, s.body_rot, s.body_vel, s.body_ang_vel)
            if env_ids is not None:  # the fields it reads, not the whole state
                fields = tuple(x[env_ids] for x in fields)
            root_pos, *body = fields
            self._self_obs = self_obs_h(*body, self.ground_height(root_pos[:, :2]))
            self._self_obs_key = (s, env_ids)
        return self._self_obs

    def _observations_after_partial_reset(self, env_ids: torch.Tensor) -> dict[str, torch.Tensor]:
        """step() computed every env's observations; only the reset envs' robot part changed, so
        recompute that for them alone (most steps reset a few envs). Task observations are recomputed
        in full: a task's bookkeeping is batched over all envs. Out of place: a caller may hold the
        step's tensors."""
        obs = dict(self._last_obs)
        obs["self_obs"] = obs["self_obs"].index_copy(0, env_ids, self.self_observation(env_ids))
        if self._heightmap is not None:
            s = self.state
            obs["terrain"] = obs["terrain"].index_copy(0, env_ids, self._heightmap(s.root_pos[env_ids], s.root_rot[env_ids]))
        obs["prev_actions"] = self.prev_actions
        obs.update(self.task_observations())
        return obs

    def default_reset_state(self, env_ids: torch.Tensor) -> ResetState:
        """Rest pose standing on a random spawn point with a random heading."""
        m = env_ids.numel()
        xy = self.terrain.sample_spawn_xy(m, self.generator)
        ground = self.ground_height(xy)
        root_pos = torch.cat([xy, (ground + self._default_root_height + self.config.spawn_height_offset)[:, None]], -1)
        yaw = torch.zeros(m, device=self.device)
        if self.config.random_yaw_on_reset:
            yaw = (torch.rand(m, device=self.device, generator=self.generator) * 2 - 1) * math.pi
        zeros3 = torch.zeros(m, 3, device=self.device)
        dofs = torch.zeros(m, smpl.NUM_DOFS, device=self.device)
        return ResetState(root_pos, yaw_quat(yaw), zeros3, zeros3.clone(), dofs, dofs.clone())

    # --- hooks for task envs -----------------------------------------------------------------
    def reset_state(self, env_ids: torch.Tensor) -> ResetState:
        return self.default_reset_state(env_ids)

    def on_reset(self, env_ids: torch.Tensor) -> None:
        """Task bookkeeping for freshly reset envs (new commands, targets, ...)."""

    def post_physics_step(self) -> None:
        """Task bookkeeping after physics, before observations (advance commands, ...)."""

    def task_obs_spec(self) -> dict[str, int]:
        return {}

    def task_observations(self) -> dict[str, torch.Tensor]:
        return {}

    def compute_reward(self) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return torch.zeros(self.num_envs, device=self.device), {}

    def task_terminated(self) -> torch.Tensor:
        return torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)

    def close(self) -> None:
        self.simulator.close()
