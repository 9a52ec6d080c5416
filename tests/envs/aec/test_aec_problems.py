"""The text problem tables: the same instances the environments draw, answers from Python."""

import pytest

from skillgym.envs.aec import AECEnv
from skillgym.envs.aec.generator import ExpressionConfig
from skillgym.envs.aec.problems import TEXT_SKILLS, expression_problems, problems
from skillgym.envs.aec.solve import compute
from skillgym.envs.aec.tasks import EVAL_LEVELS


def _python(text: str) -> int:
    # the AEC syntax's "/" is floor division; Python's "//" is the independent oracle
    return eval(text.replace("//", "/").replace("/", "//"))


@pytest.mark.parametrize(("skill", "level"), [("ADD", 4), ("SUB", 6), ("MUL", 5), ("DIV", 5),
                                              ("EVAL", 6)])
def test_problems_are_the_episodes_an_env_draws(skill, level):
    env = AECEnv(skill, level=level, curriculum=False)
    drawn = problems(skill, level, 20, seed=11)
    env.reset(seed=11)
    for i, problem in enumerate(drawn):
        if i:
            env.reset()
        assert env.instance.text == problem.instance.text
        assert (env.instance.a, env.instance.b) == (problem.instance.a, problem.instance.b)
        assert problem.answer == _python(problem.text)
        assert compute(problem.text) == problem.answer


def test_expression_problems_match_their_level_and_any_config():
    assert [p.text for p in expression_problems(EVAL_LEVELS[5], 10, seed=2)] == [
        p.text for p in problems("EVAL", 6, 10, seed=2)
    ]
    eight = expression_problems(ExpressionConfig(8, 8), 10, seed=2)
    assert all(p.level == 0 and p.answer == _python(p.text) for p in eight)
    assert all(sum(ch.isdigit() and (i == 0 or not p.text[i - 1].isdigit())
                   for i, ch in enumerate(p.text)) == 8 for p in eight)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="skill must be one of"):
        problems("MULD", 1, 3)
    with pytest.raises(ValueError, match=r"level for ADD must be an integer in 1..8"):
        problems("ADD", 9, 3)
    with pytest.raises(ValueError, match="count must be >= 0"):
        problems("ADD", 1, -1)
    assert set(TEXT_SKILLS) == {"ADD", "SUB", "MUL", "DIV", "EVAL"}


def test_compute_rejects_unknown_skills_and_bad_expressions():
    with pytest.raises(ValueError, match="policies: unknown skill 'ADDD'"):
        compute("1+2", {"ADDD": lambda obs, mask: 0})
    with pytest.raises(ZeroDivisionError):
        compute("1/0")
    with pytest.raises(ValueError):
        compute("1+")


def test_compute_reports_a_failing_policy_as_no_answer():
    # an EVAL that returns at once leaves the expression, not a number
    assert compute("12+30", {"EVAL": lambda obs, mask: int(mask.nonzero()[0][-1])}) is None
