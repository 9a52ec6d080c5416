"""The ``skillgym`` command line and the run-folder machinery behind training."""
