"""``rgb_array`` rendering for the text-grid environments.

The scratchpad and tape environments are naturally rendered as text (``"ansi"``). Video
recorders, and stable-baselines3's ``make_vec_env`` (which asks for ``render_mode="rgb_array"``
by default), want images, so :func:`text_to_rgb` rasterises that same text onto a fixed
character grid: every environment gets pictures that show exactly what its ``ansi`` text shows.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

#: The render modes of every text-grid environment.
TEXT_RENDER_MODES = ("ansi", "human", "rgb_array")

_BACKGROUND = (255, 255, 255)
_INK = (20, 20, 20)
_MARGIN = 4


@lru_cache(maxsize=1)
def _font():
    from PIL import ImageFont

    return ImageFont.load_default(size=14)


@lru_cache(maxsize=1)
def _cell() -> tuple[int, int]:
    """(width, height) of one character cell: the widest glyph and the font's line height."""
    font = _font()
    width = max(font.getbbox(chr(c))[2] for c in range(32, 127))
    ascent, descent = font.getmetrics()
    return width + 1, ascent + descent + 2


def text_to_rgb(text: str) -> np.ndarray:
    """Rasterise ``text`` (lines split on ``\\n``) into an ``(H, W, 3)`` uint8 image.

    Each character is drawn in its own fixed-size cell, so columns of the text stay aligned in
    the picture whatever the font's own spacing.
    """
    from PIL import Image, ImageDraw

    lines = text.split("\n") or [""]
    cell_w, cell_h = _cell()
    columns = max(1, max(len(line) for line in lines))
    image = Image.new(
        "RGB", (2 * _MARGIN + columns * cell_w, 2 * _MARGIN + len(lines) * cell_h), _BACKGROUND
    )
    draw = ImageDraw.Draw(image)
    font = _font()
    for row, line in enumerate(lines):
        for column, char in enumerate(line):
            if not char.isspace():
                draw.text(
                    (_MARGIN + column * cell_w, _MARGIN + row * cell_h), char, fill=_INK, font=font
                )
    return np.asarray(image, dtype=np.uint8)
