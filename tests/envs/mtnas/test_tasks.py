"""Raw tasks and validation carving."""

from __future__ import annotations

import pytest

from skillgym.envs.mtnas.tasks import RawTask, carve_validation


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
