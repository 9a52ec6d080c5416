"""Keye-VL's response modes on graded arithmetic: problems (``tasks``), step-by-step traces from
the AEC oracle (``traces``) and the cold-start SFT mixture (``mixture``). See ``docs/keye.md``."""
