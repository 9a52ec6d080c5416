"""Text rasterisation for ``rgb_array`` rendering."""

from __future__ import annotations

import numpy as np

from skillgym.envs.rendering import text_to_rgb


def test_shape_follows_the_text_grid():
    one = text_to_rgb("12")
    wider = text_to_rgb("1234")
    taller = text_to_rgb("12\n34\n56")
    assert one.dtype == np.uint8 and one.ndim == 3 and one.shape[2] == 3
    assert wider.shape[0] == one.shape[0] and wider.shape[1] > one.shape[1]
    assert taller.shape[1] == one.shape[1] and taller.shape[0] > one.shape[0]


def test_ink_only_where_there_are_characters():
    blank = text_to_rgb("   ")
    assert (blank == 255).all()
    inked = text_to_rgb(" 7 ")
    assert (inked < 128).any()
    # The ink of a character stays within its own column of cells.
    width = inked.shape[1]
    left, right = inked[:, : width // 3], inked[:, 2 * width // 3 :]
    assert (left == 255).all() and (right == 255).all()


def test_same_text_same_pixels_and_different_text_different_pixels():
    np.testing.assert_array_equal(text_to_rgb("IN1 0 1"), text_to_rgb("IN1 0 1"))
    assert not np.array_equal(text_to_rgb("IN1 0 1"), text_to_rgb("IN1 0 7"))
