"""Raw tasks and validation carving."""

from __future__ import annotations

import pytest

from skillgym.envs.mtnas.tasks import RawTask, carve_validation, make_task


def test_carve_validation_is_a_seeded_partition():
    examples = [([str(i)], "0") for i in range(50)]
    train, validation = carve_validation(examples, 0.2, seed=3)
    again = carve_validation(examples, 0.2, seed=3)
    assert (train, validation) == again
    assert len(validation) == 10 and len(train) == 40
    assert sorted(t[0][0] for t in train + validation) == sorted(str(i) for i in range(50))
    assert carve_validation(examples, 0.2, seed=4) != again


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 0.001])
def test_carve_validation_rejects_fractions_that_empty_a_split(fraction):
    with pytest.raises(ValueError, match="validation_fraction"):
        carve_validation([(["a"], "0")] * 10, fraction, seed=0)


def test_raw_task_rejects_bad_kind_and_empty_splits():
    with pytest.raises(ValueError, match="kind must be one of"):
        RawTask("t", "regression", [(["a"], "0")], [(["a"], "0")], [(["a"], "0")])
    with pytest.raises(ValueError, match="the test split is empty"):
        RawTask("t", "classification", [(["a"], "0")], [(["a"], "0")], [])


def test_make_task_carves_only_the_missing_splits():
    examples = [([str(i)], str(i % 3)) for i in range(40)]
    given = [(["v"], "0")]
    task = make_task("t", "classification", examples, test=given, validation=given)
    assert (task.train, task.validation, task.test) == (examples, given, given)
    carved = make_task("t", "classification", examples, test=given, validation_fraction=0.25,
                       seed=5)
    assert (carved.train, carved.validation) == carve_validation(examples, 0.25, 5)
    both = make_task("t", "classification", examples, validation_fraction=0.25, seed=5)
    rest, test = carve_validation(examples, 0.25, 5)
    assert both.test == test
    assert (both.train, both.validation) == carve_validation(rest, 0.25, 6)
    assert make_task("t", "classification", examples, seed=5) == make_task(
        "t", "classification", examples, seed=5)
