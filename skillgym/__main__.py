"""``python -m skillgym``: the ``skillgym`` command line."""

import sys

from skillgym.training.cli import main

sys.exit(main())
