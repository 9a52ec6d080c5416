"""Reward functions for reasoning-model RL, their registry and trainer adapters."""
