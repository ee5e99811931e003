"""PPO core: rollout storage, GAE, actor-critic model and the agent."""
