"""Learning algorithms that stable-baselines3 lacks (skill hierarchies, REINFORCE controllers,
supervised fine-tuning of the built-in language model) and the SB3 adapter for Gymnasium vector
envs."""
