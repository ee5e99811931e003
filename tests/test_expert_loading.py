"""load_expert's three refusals: a missing path, an incompatible run (each differing key named), a corrupt file."""

import shutil

import pytest

from protomotions.agents.masked_mimic.expert import EXPERT_FILE, load_expert
from protomotions.agents.masked_mimic_task.agent import expert_requirements
from tests.test_steering_env import make_env


@pytest.fixture(scope="module")
def flat_env():
    env = make_env(n=2, terrain_type="flat")
    yield env
    env.close()


def test_compatible_expert_loads(tiny_expert, flat_env):
    expert = load_expert(tiny_expert, expert_requirements(flat_env, 64), "cpu")
    assert expert.meta["env"]["reference_ground_radius"] == 0.3


def test_missing_path(tmp_path, flat_env):
    with pytest.raises(FileNotFoundError, match=f"Error: Expert model path not found: {tmp_path / 'none'}"):
        load_expert(tmp_path / "none", expert_requirements(flat_env, 64), "cpu")


def test_mismatch_lists_every_differing_key(tiny_expert, flat_env):
    current = expert_requirements(flat_env, 32)
    current["env"] = {**current["env"], "reference_ground_radius": 0.0, "history_length": 5}
    with pytest.raises(AssertionError, match="Configuration mismatch between expert and current model") as e:
        load_expert(tiny_expert, current, "cpu")
    for key in ("vae.latent_dim: expert 64 vs current 32", "env.config.reference_ground_radius: expert 0.3 vs current 0.0",
                "env.config.history_length: expert 3 vs current 5"):
        assert key in str(e.value)


def test_corrupt_file_is_named(tiny_expert, flat_env, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_expert, broken)
    data = (broken / EXPERT_FILE).read_bytes()
    (broken / EXPERT_FILE).write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=f"Error: expert checkpoint {broken / EXPERT_FILE} is unreadable"):
        load_expert(broken, expert_requirements(flat_env, 64), "cpu")
