"""Path follower task env (random-walk paths) for masked-mimic task agents."""

from protomotions.envs.path_follower.env import (
    PathFollowerEnv,
    PathFollowerEnvConfig,
    path_following_reward,
    path_keyframes,
)
from protomotions.envs.path_follower.path_generator import PathGenerator

__all__ = ["PathFollowerEnv", "PathFollowerEnvConfig", "PathGenerator", "path_following_reward", "path_keyframes"]
