"""Sub-commands of the ``skillgym`` command line, one module each."""
