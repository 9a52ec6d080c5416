"""stable-baselines3 policy classes whose forward pass runs through ``skillgym.kernels``."""
