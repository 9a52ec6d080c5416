"""Learning algorithms that stable-baselines3 lacks (skill hierarchies, REINFORCE controllers)."""
