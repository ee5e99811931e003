"""Train an agent: ``python protomotions/train_agent.py +exp=... +robot=smpl +simulator=mujoco experiment_name=NAME``.

Resuming: when ``results/<experiment_name>/last.ckpt`` exists (and no ``checkpoint=`` is given) the
run continues from it with the configuration saved beside it; only the run-control keys in
``RESUME_OVERRIDABLE`` may change on the command line (another key given a new value is an error).
To train on from a run with other settings, start a new one from its weights:
``experiment_name=NEW checkpoint=results/OLD/last.ckpt <overrides>``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

RESUME_OVERRIDABLE = ("training_max_steps", "headless", "num_envs", "ngpu", "nodes", "simulator",
                      "runner.max_wall_seconds", "runner.progress_bar")


def override_keys(overrides: list[str]) -> set[str]:
    """Config keys named by Hydra command-line overrides (``+k=v``, ``++k=v``, ``k=v``; not ``~k``)."""
    keys = set()
    for item in overrides:
        key, sep, _ = item.partition("=")
        if sep and not key.startswith("~"):
            keys.add(key.lstrip("+"))
    return keys


def resolve_run_config(cfg: DictConfig, cli_overrides: list[str] | None = None) -> DictConfig:
    """Saved config of an existing run (plus the run-control keys given on the command line), or
    the composed one. Only keys in ``cli_overrides`` replace saved values: an experiment's default
    (``num_envs: 4`` of the task experiments) must not undo the saved ``num_envs=4096`` of the run.
    The run's place (``save_dir``, ``experiment_name``) is always the current one: a run directory
    copied under a new name resumes there, not where it was first trained. Any other value the
    command line sets differently from the saved one is an error, not silently dropped (a reward
    scale given on a resume once trained 900 s with the old one). Group choices (``+robot=smpl``)
    select whole sections and are not compared: the code's YAML may have grown since the run."""
    from protomotions.builders import ConfigError

    save_dir = Path(cfg.save_dir)
    if cfg.checkpoint is None and (save_dir / "last.ckpt").exists() and (save_dir / "config.yaml").exists():
        saved = OmegaConf.load(save_dir / "config.yaml")
        given = override_keys(cli_overrides or [])
        place = ("save_dir", "experiment_name")
        changed = sorted(key for key in given - set(RESUME_OVERRIDABLE) - set(place)
                         if not isinstance(OmegaConf.select(cfg, key, default=None), DictConfig)
                         and _plain(cfg, key) != _plain(saved, key))
        if changed:
            raise ConfigError(
                f"Error: {save_dir} holds a run whose saved config.yaml differs in {', '.join(changed)}; on a resume "
                f"only {', '.join(RESUME_OVERRIDABLE)} may change. To train on from it with new settings, start a "
                f"new run from its weights: experiment_name=NEW checkpoint={save_dir / 'last.ckpt'} (plus your overrides)")
        for key in [k for k in RESUME_OVERRIDABLE if k in given] + list(place):
            OmegaConf.update(saved, key, OmegaConf.select(cfg, key), merge=False, force_add=True)
        saved.checkpoint = str(save_dir / "last.ckpt")
        print(f"Resuming {save_dir}/last.ckpt with {save_dir}/config.yaml")
        return saved
    return cfg


def _plain(cfg: DictConfig, key: str):
    value = OmegaConf.select(cfg, key, default=None)
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value


def check_paths(cfg: DictConfig) -> None:
    motion_file = cfg.get("motion_file")
    if motion_file and not Path(motion_file).exists():
        raise FileNotFoundError(f"Error: Motion file not found: {motion_file}")
    expert = OmegaConf.select(cfg, "agent.config.expert_model_path", default=None)
    if expert and not Path(expert).exists():
        raise FileNotFoundError(f"Error: Expert model path not found: {expert}")


def train(cfg: DictConfig, cli_overrides: list[str] | None = None) -> dict:
    from protomotions.agents.fabric_setup import build_fabric
    from protomotions.builders import build_agent, build_env, build_simulator, build_terrain, require_keys

    require_keys(cfg, "robot", "simulator", "env", "agent", "terrain")
    cfg = resolve_run_config(cfg, cli_overrides)
    check_paths(cfg)
    fabric = build_fabric(cfg)
    fabric.seed_everything(int(cfg.seed) + fabric.global_rank)
    save_dir = Path(cfg.save_dir)
    if fabric.is_global_zero:
        save_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(cfg, save_dir / "config.yaml")
    terrain = build_terrain(cfg)
    simulator = build_simulator(cfg, terrain, device=str(fabric.device))
    env = build_env(cfg, simulator, terrain, rank=fabric.global_rank, world_size=fabric.world_size)
    agent = build_agent(cfg, fabric, env)
    try:
        return agent.fit()
    finally:
        env.close()


@hydra.main(config_path="config", config_name="base", version_base="1.3")
def main(cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig

    from protomotions.builders import ConfigError, SimulatorUnavailableError

    try:
        train(cfg, list(HydraConfig.get().overrides.task))
    except (FileNotFoundError, ImportError, SimulatorUnavailableError, ConfigError) as e:
        print(str(e), file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    os.environ.setdefault("HYDRA_FULL_ERROR", "1")
    main()
