"""skillgym: Gymnasium environments and agents for learning which module to use.

Importing the package registers every environment id under the ``skillgym/`` namespace, so
``gym.make("skillgym/AEC-Add-v0")`` works after ``import skillgym`` and
``gym.make("skillgym:skillgym/AEC-Add-v0")`` works without it.
"""

from skillgym.envs.registration import register_envs

__version__ = "0.1.0"

register_envs()

__all__ = ["__version__"]
