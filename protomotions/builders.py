"""Turns a composed Hydra config into objects: terrain → simulator → env.

Backends are imported lazily by name, so a user without MuJoCo Warp or IsaacLab only meets
them when selecting them, with a message that says what to install or what to use instead.
"""

from __future__ import annotations

import importlib
from dataclasses import fields

from omegaconf import DictConfig, OmegaConf

from protomotions.simulator.base import Simulator, SimulatorConfig

SIMULATORS: dict[str, tuple[str, str, str, str]] = {
    # name: (module, class, python package it needs, how to get it)
    "mujoco": ("protomotions.simulator.mujoco.simulator", "MujocoSimulator", "mujoco", "pip install mujoco"),
    "mjwarp": (
        "protomotions.simulator.mjwarp.simulator", "MjwarpSimulator", "mujoco_warp",
        "pip install 'protomotions[gpu]' (mujoco-warp, warp-lang; needs an NVIDIA GPU)",
    ),
    "isaaclab": (
        "protomotions.simulator.isaaclab.simulator", "IsaacLabSimulator", "isaaclab",
        "install Isaac Sim and IsaacLab (https://isaac-sim.github.io/IsaacLab)",
    ),
}


class SimulatorUnavailableError(RuntimeError):
    """The selected simulator backend cannot be imported on this machine."""


class ConfigError(ValueError):
    """The composed configuration is incomplete or inconsistent."""


def require_keys(cfg: DictConfig, *keys: str) -> None:
    for key in keys:
        if OmegaConf.select(cfg, key, default=None) is None:
            hint = {
                "simulator": "+simulator=mujoco (or mjwarp, isaaclab)",
                "robot": "+robot=smpl",
                "env": "+exp=<experiment>, e.g. +exp=masked_mimic/steering_training",
                "agent": "+exp=<experiment>",
                "terrain": "+exp=<experiment> (it picks /terrain: flat or complex)",
            }.get(key, f"{key}=...")
            raise ConfigError(f"Error: the configuration has no '{key}'; add {hint} to the command line")


def dataclass_from_config(cls, cfg, where: str):
    """``cls(**cfg)`` with an error that names the config path and the valid keys."""
    values = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg or {})
    valid = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - valid)
    if unknown:
        raise ConfigError(f"Error: unknown key(s) {unknown} in '{where}'; valid keys: {sorted(valid)}")
    return cls(**values)


def build_terrain(cfg: DictConfig):
    from protomotions.terrain import TerrainConfig
    from protomotions.terrain import build_terrain as _build

    return _build(dataclass_from_config(TerrainConfig, cfg.terrain, "terrain"))


def simulator_class(name: str) -> type[Simulator]:
    if name not in SIMULATORS:
        raise ConfigError(f"Error: unknown simulator '{name}'; choose one of {sorted(SIMULATORS)} (+simulator=NAME)")
    module, cls_name, package, remedy = SIMULATORS[name]
    try:
        return getattr(importlib.import_module(module), cls_name)
    except ImportError as e:
        detail = str(e) or type(e).__name__
        raise SimulatorUnavailableError(
            f"Error: simulator '{name}' needs the Python package '{package}', which cannot be imported ({detail}).\n"
            f"  Install it: {remedy}\n"
            f"  Or use the embedded default: +simulator=mujoco"
        ) from e


def build_simulator(cfg: DictConfig, terrain, device: str = "cpu") -> Simulator:
    require_keys(cfg, "simulator")
    sim_cfg = dataclass_from_config(
        SimulatorConfig,
        {**OmegaConf.to_container(cfg.simulator.config, resolve=True), "num_envs": cfg.num_envs, "device": device,
         "headless": cfg.headless},
        "simulator.config",
    )
    sim_cls = simulator_class(cfg.simulator.name)
    try:
        return sim_cls(sim_cfg, terrain)
    except ImportError as e:  # backends that import their heavy packages lazily, at construction
        raise SimulatorUnavailableError(str(e)) from e


def build_env(cfg: DictConfig, simulator: Simulator, terrain, rank: int = 0, world_size: int = 1, **extra):
    """The env of one process; under DDP each rank gets its own seed and its share of the motions."""
    require_keys(cfg, "env")
    from hydra.utils import get_class

    env_cls = get_class(cfg.env._target_)
    env_config = dataclass_from_config(env_cls.config_class, cfg.env.config, "env.config")
    wants_motions = getattr(env_cls, "needs_motion_lib", False) or (
        getattr(env_cls, "uses_motion_lib", False) and cfg.get("motion_file"))
    if wants_motions and "motion_lib" not in extra:
        extra["motion_lib"] = build_motion_lib(cfg, simulator.device, rank, world_size)
    return env_cls(env_config, simulator, terrain, seed=int(cfg.seed) + rank, **extra)


def build_motion_lib(cfg: DictConfig, device, rank: int = 0, world_size: int = 1):
    from protomotions.motion.motion_lib import MotionLib

    if not cfg.get("motion_file"):
        raise ConfigError("Error: this experiment tracks motions: set motion_file=<.npy or .yaml>")
    return MotionLib(cfg.motion_file, device=device, subset=(rank, world_size))


def build_agent(cfg: DictConfig, fabric, env):
    """Something with ``fit()``: the agent itself, or a Fabric runner driving a learning agent.

    Agent classes expose ``from_run_config(cfg, fabric, env)``.
    """
    require_keys(cfg, "agent")
    from hydra.utils import get_class

    agent = get_class(cfg.agent._target_).from_run_config(cfg, fabric, env)
    if hasattr(agent, "fit"):
        return agent
    from protomotions.agents.runner import Runner

    return Runner.from_run_config(cfg, fabric, env, agent)
