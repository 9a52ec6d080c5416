"""Format reward: does a response follow the format of the mode its prompt asked for."""

from __future__ import annotations

from skillgym.rewards.base import Reward, RewardResult, Sample, check_choice, check_number
from skillgym.rewards.parsing import AUTO_THINK, MODES, parse_response, requested_mode


class KeyeFormatReward(Reward):
    """Score ``correct_score`` when a response is well formed in the requested Keye mode.

    The requested mode is the prompt's last switch (``/think``, ``/no_think``, ``/auto_think``,
    ``/agentic_think``), else the sample's ``mode`` column, else ``default_mode``. The default,
    ``"auto_think"``, is Keye-VL-1.5's convention: a prompt without a suffix makes it think
    automatically. With ``default_mode=None`` a sample that names no mode passes with any
    well-formed response. For auto-think the response must be an analysis that chooses
    ``/think`` or ``/no_think`` (Keye's "Therefore, /no_think mode is more appropriate." counts
    as ending with the choice) followed by an answer in the chosen form.

    Args:
        lenient: accept the near-misses :func:`~skillgym.rewards.parsing.parse_response` lists.
        default_mode: the mode requested when neither the prompt nor the sample names one, or
            ``None`` to accept any mode then.
        correct_score: the score of a well-formed response.
        wrong_score: the score of any other response.
    """

    name = "keye_format"

    def __init__(self, lenient: bool = False, default_mode: str | None = AUTO_THINK,
                 correct_score: float = 1.0, wrong_score: float = 0.0) -> None:
        check_choice("default_mode", default_mode, (None, *MODES))
        check_number("correct_score", correct_score)
        check_number("wrong_score", wrong_score)
        self.lenient = bool(lenient)
        self.default_mode = default_mode
        self.correct_score = float(correct_score)
        self.wrong_score = float(wrong_score)

    def explain(self, sample: Sample) -> RewardResult:
        """Score the sample; details give the requested and found modes and the format errors."""
        wanted = (requested_mode(sample.prompt, default=None) or sample.extra.get("mode")
                  or self.default_mode)
        wanted = wanted if wanted in MODES else None
        parsed = parse_response(sample.completion, lenient=self.lenient)
        errors = list(parsed.format_errors)
        if wanted is not None and parsed.mode != wanted:
            errors.append(f"requested {wanted} but the response is in {parsed.mode} form")
        ok = not errors
        details = {"requested_mode": wanted, "mode": parsed.mode, "errors": tuple(errors)}
        if parsed.mode == AUTO_THINK:
            details["chosen_mode"] = parsed.chosen_mode
        return RewardResult(self.correct_score if ok else self.wrong_score, details)
