"""Environment families: one sub-package each (``aec``, ``algorithmic``, ``mtnas``, ``keye``)."""
