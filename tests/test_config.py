import sys

import pytest
from hydra import compose, initialize_config_module
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from protomotions.builders import (
    ConfigError,
    SimulatorUnavailableError,
    build_simulator,
    dataclass_from_config,
    simulator_class,
)
from protomotions.envs.base_env import BaseEnvConfig
from protomotions.simulator.base import SimulatorConfig


def compose_cfg(*overrides):
    with initialize_config_module("protomotions.config", version_base="1.3"):
        return compose("base", overrides=list(overrides))


@pytest.mark.parametrize("simulator", ["mujoco", "mjwarp", "isaaclab"])
def test_smoke_experiment_composes_for_every_simulator(simulator):
    cfg = compose_cfg("+exp=smoke/random_policy", "+robot=smpl", f"+simulator={simulator}", "experiment_name=t")
    assert cfg.simulator.name == simulator
    assert cfg.robot.num_dofs == 69
    assert cfg.save_dir == "results/t"
    sim_cfg = SimulatorConfig(**OmegaConf.to_container(cfg.simulator.config))
    assert abs(sim_cfg.physics_dt * sim_cfg.decimation - 1 / 30) < 1e-9  # 30 Hz control everywhere
    env_cfg = dataclass_from_config(BaseEnvConfig, cfg.env.config, "env.config")
    assert env_cfg.max_episode_length == 300


def test_top_level_overrides_apply():
    cfg = compose_cfg("+exp=smoke/random_policy", "+robot=smpl", "+simulator=mujoco", "experiment_name=t",
                      "num_envs=8", "seed=3", "headless=false", "training_max_steps=123", "ngpu=2", "nodes=1")
    assert (cfg.num_envs, cfg.seed, cfg.headless, cfg.training_max_steps, cfg.ngpu) == (8, 3, False, 123, 2)


def test_unknown_override_key_is_an_error():
    with pytest.raises(ConfigCompositionException):
        compose_cfg("+exp=smoke/random_policy", "+robot=smpl", "+simulator=mujoco", "experiment_name=t", "env.config.no_such_key=1")


def test_unknown_key_in_a_config_file_names_the_path():
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['typo'\] in 'env.config'"):
        dataclass_from_config(BaseEnvConfig, {"typo": 1}, "env.config")


def test_missing_backend_message_names_package_and_remedy(monkeypatch):
    monkeypatch.setitem(sys.modules, "mujoco_warp", None)  # as if not installed
    monkeypatch.delitem(sys.modules, "protomotions.simulator.mjwarp.simulator", raising=False)
    with pytest.raises(SimulatorUnavailableError) as e:
        simulator_class("mjwarp")
    assert "mujoco_warp" in str(e.value) and "+simulator=mujoco" in str(e.value) and "pip install" in str(e.value)


def test_isaaclab_without_isaaclab_says_what_to_do():
    try:
        import isaaclab  # noqa: F401
        pytest.skip("IsaacLab is installed here")
    except ImportError:
        pass
    cfg = compose_cfg("+exp=smoke/random_policy", "+robot=smpl", "+simulator=isaaclab", "experiment_name=t")
    with pytest.raises(SimulatorUnavailableError, match=r"\+simulator=mujoco"):
        build_simulator(cfg, None)


def test_unknown_simulator_lists_choices():
    with pytest.raises(ConfigError, match="mjwarp"):
        simulator_class("physx")


def test_resume_keeps_saved_values_unless_the_command_line_names_them(tmp_path, capsys):
    from protomotions.train_agent import override_keys, resolve_run_config

    run = tmp_path / "run"
    run.mkdir()
    argv = ["+exp=smoke/random_policy", "+robot=smpl", "+simulator=mujoco", f"save_dir={run}"]
    saved = compose_cfg(*argv, "num_envs=4096", "training_max_steps=1000")
    OmegaConf.save(saved, run / "config.yaml")
    (run / "last.ckpt").write_bytes(b"")
    # the experiment's default num_envs must not replace the run's 4096 (it silently did once)
    again = compose_cfg(*argv, "training_max_steps=5000")
    cfg = resolve_run_config(again, argv + ["training_max_steps=5000"])
    assert (cfg.num_envs, cfg.training_max_steps, cfg.checkpoint) == (4096, 5000, str(run / "last.ckpt"))
    # named on the command line: a run-control key changes; another key set to its saved value is fine
    cfg = resolve_run_config(compose_cfg(*argv, "num_envs=8", f"seed={saved.seed}"),
                             argv + ["num_envs=8", f"seed={saved.seed}"])
    assert (cfg.num_envs, cfg.seed) == (8, saved.seed)
    assert "Resuming" in capsys.readouterr().out
    # ... set to a new value it is an error that names the key and the way to fine-tune instead
    with pytest.raises(ConfigError, match=r"differs in seed.*checkpoint=") as err:
        resolve_run_config(compose_cfg(*argv, "seed=9"), argv + ["seed=9"])
    assert "num_envs" in str(err.value)
    with pytest.raises(ConfigError, match=r"differs in terrain.proportions"):
        changed = [*argv, "terrain.proportions=[1,0,0,0,0,0,0,1]"]
        resolve_run_config(compose_cfg(*changed), changed)
    # a run directory copied under a new name resumes (and saves) there, not in the original place
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "last.ckpt").write_bytes(b"")
    OmegaConf.save(saved, copy / "config.yaml")
    moved = [*argv[:3], f"save_dir={copy}", "experiment_name=copy"]
    cfg = resolve_run_config(compose_cfg(*moved), moved)
    assert (cfg.save_dir, cfg.experiment_name, cfg.checkpoint) == (str(copy), "copy", str(copy / "last.ckpt"))
    # a group choice (+robot=smpl) selects a whole section: not compared, the YAML may have grown since
    grown = OmegaConf.to_container(saved)
    grown["robot"]["new_field"] = 1
    OmegaConf.save(OmegaConf.create(grown), copy / "config.yaml")
    assert resolve_run_config(compose_cfg(*moved), moved).robot.new_field == 1
    assert override_keys(["+exp=a/b", "++x.y=1", "~z", "num_envs=2"]) == {"exp", "x.y", "num_envs"}
