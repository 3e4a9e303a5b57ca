"""The colour of a temperature, the same in the terminal, in the token plots and on the HTML page.

A :class:`Scale` runs from ``low`` (default 0) to ``high`` (default 2): blue at ``low``, a faint
grey halfway, red at ``high``, interpolated linearly in RGB. A temperature outside the range takes
the colour of the nearer end; NaN (no temperature) takes the ``missing`` grey. :func:`ansi` writes
the same colour for a terminal as the nearest of the xterm 256 colours.

Pure Python, so that the command line colours text without loading numpy or matplotlib.

>>> SCALE.hex(0.0), SCALE.hex(1.0), SCALE.hex(2.0), SCALE.hex(5.0)
('#3b4cc0', '#f7f7f7', '#b40426', '#b40426')
>>> ansi(2.0, "hot")
'\\x1b[38;5;124mhot\\x1b[0m'
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["SCALE", "Scale", "ansi", "xterm_index", "xterm_rgb"]

RGB = tuple[int, int, int]

# The channel levels of xterm's 6 × 6 × 6 colour cube, colours 16 to 231; 232 to 255 are greys.
_CUBE_LEVELS = (0, 95, 135, 175, 215, 255)


@dataclass(frozen=True)
class Scale:
    """A temperature colour scale: ``cold`` at ``low``, ``middle`` halfway, ``hot`` at ``high``,
    ``missing`` for NaN (colours as ``#rrggbb``).

    >>> scale = Scale(low=0.5, high=1.5)
    >>> scale.rgb(0.5), scale.rgb(1.0), scale.rgb(9.0), scale.rgb(float("nan"))
    ((59, 76, 192), (247, 247, 247), (180, 4, 38), (221, 221, 221))
    """

    low: float = 0.0
    high: float = 2.0
    # The ends of matplotlib's "coolwarm", dark enough for a white page and light enough for a dark
    # terminal. The middle is not pure white so that a token box at the middle still shows on a page.
    cold: str = "#3b4cc0"
    middle: str = "#f7f7f7"
    hot: str = "#b40426"
    missing: str = "#dddddd"

    def __post_init__(self) -> None:
        if not self.low < self.high:
            raise ValueError(f"a scale's low must be below its high, got low={self.low!r}, high={self.high!r}")

    @property
    def colours(self) -> tuple[str, str, str]:
        """The colours at the low end, the middle and the high end, for a colormap of the same scale."""
        return self.cold, self.middle, self.hot

    def rgb(self, temperature: float) -> RGB:
        """The colour of ``temperature`` as 0-255 channels."""
        if math.isnan(temperature):
            return _channels(self.missing)
        halves = 2 * min(max((temperature - self.low) / (self.high - self.low), 0.0), 1.0)
        start, end = (self.cold, self.middle) if halves <= 1 else (self.middle, self.hot)
        fraction = halves if halves <= 1 else halves - 1
        r, g, b = (round(a + (z - a) * fraction) for a, z in zip(_channels(start), _channels(end)))
        return r, g, b

    def hex(self, temperature: float) -> str:
        """The colour of ``temperature`` as ``#rrggbb``."""
        return "#{:02x}{:02x}{:02x}".format(*self.rgb(temperature))


#: The scale of the command line and, unless they are given another, of the token plots.
SCALE = Scale()


def ansi(temperature: float, text: str, *, scale: Scale = SCALE) -> str:
    """``text`` in the terminal colour of ``temperature``: the xterm-256 colour nearest to its RGB
    colour on ``scale``, reset after the text.

    >>> ansi(0.0, "cold") == f"\\x1b[38;5;{xterm_index(SCALE.rgb(0.0))}mcold\\x1b[0m"
    True
    """
    return f"\x1b[38;5;{xterm_index(scale.rgb(temperature))}m{text}\x1b[0m"


def xterm_index(rgb: RGB) -> int:
    """The xterm-256 colour nearest to ``rgb`` (least squared distance), among the colour cube and
    the greys; colours 0 to 15 are left out because terminal themes redefine them.

    >>> xterm_index((255, 0, 0)), xterm_index((130, 128, 126)), xterm_index((59, 76, 192))
    (196, 244, 61)
    """
    return min(range(16, 256), key=lambda index: sum((a - b) ** 2 for a, b in zip(xterm_rgb(index), rgb)))


def xterm_rgb(index: int) -> RGB:
    """The RGB colour of xterm-256 colour ``index``, from 16 to 255.

    >>> xterm_rgb(196), xterm_rgb(61), xterm_rgb(244)
    ((255, 0, 0), (95, 95, 175), (128, 128, 128))
    """
    if not 16 <= index <= 255:
        raise ValueError(f"index must be a cube or grey colour, 16 to 255, got {index!r}")
    if index >= 232:
        grey = 8 + 10 * (index - 232)
        return grey, grey, grey
    index -= 16
    return _CUBE_LEVELS[index // 36], _CUBE_LEVELS[index // 6 % 6], _CUBE_LEVELS[index % 6]


def _channels(colour: str) -> RGB:
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return r, g, b
