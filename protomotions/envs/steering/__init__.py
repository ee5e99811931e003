"""Steering task env (direction + speed commands) for masked-mimic task agents."""

from protomotions.envs.steering.env import (
    SteeringEnv,
    SteeringEnvConfig,
    steering_errors,
    steering_keyframes,
    steering_reward,
)

__all__ = ["SteeringEnv", "SteeringEnvConfig", "steering_errors", "steering_keyframes", "steering_reward"]
