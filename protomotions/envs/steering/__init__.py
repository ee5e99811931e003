"""Steering task env (direction + speed commands) for masked-mimic task agents."""

from protomotions.envs.steering.env import (
    SteeringEnv,
    SteeringEnvConfig,
    keyframe_speed,
    steering_errors,
    steering_keyframes,
    steering_reward,
)

__all__ = ["SteeringEnv", "SteeringEnvConfig", "keyframe_speed", "steering_errors", "steering_keyframes", "steering_reward"]
