"""The temperature colour scale: one rule for the terminal and the plots."""

from __future__ import annotations

import math
import re
import subprocess
import sys

import pytest

from dyntemp import colour
from dyntemp.colour import SCALE, Scale, ansi, xterm_index, xterm_rgb
from dyntemp.core.trace import Trace, TraceRecord
from dyntemp.eval.plots import tokens_html

ESCAPE = re.compile(r"^\x1b\[38;5;(\d+)m(.*)\x1b\[0m$", re.DOTALL)


def terminal_rgb(temperature, scale=SCALE):
    """The RGB colour a terminal shows for ``ansi(temperature, ...)``, and the text inside the escape."""
    index, text = ESCAPE.match(ansi(temperature, "x", scale=scale)).groups()
    assert text == "x"
    return xterm_rgb(int(index))


def test_the_terminal_scale_runs_from_blue_through_white_to_red():
    r, g, b = terminal_rgb(0.0)
    assert b >= 150 and b - max(r, g) >= 60
    assert terminal_rgb(2.0) == terminal_rgb(5.0) == terminal_rgb(math.inf)
    r, g, b = terminal_rgb(2.0)
    assert r >= 150 and r - max(g, b) >= 120
    assert min(terminal_rgb(1.0)) >= 230
    assert terminal_rgb(-3.0) == terminal_rgb(0.0)


def test_warmth_rises_with_the_temperature():
    warmth = [r - b for r, _, b in (SCALE.rgb(i / 20) for i in range(41))]
    assert warmth == sorted(warmth) and warmth[0] < 0 < warmth[-1]


def test_the_scale_interpolates_its_three_colours_over_its_range():
    scale = Scale(low=0.5, high=1.5, cold="#000000", middle="#808080", hot="#ff0000")
    assert scale.rgb(0.5) == (0, 0, 0) and scale.rgb(1.0) == (128, 128, 128) and scale.rgb(1.5) == (255, 0, 0)
    assert scale.rgb(0.75) == (64, 64, 64) and scale.rgb(1.25) == (192, 64, 64)
    assert scale.hex(1.25) == "#c04040" and scale.colours == ("#000000", "#808080", "#ff0000")
    assert SCALE.rgb(math.nan) == (221, 221, 221)
    assert terminal_rgb(1.5, scale) == (255, 0, 0) and terminal_rgb(1.0, scale) != terminal_rgb(1.0)
    with pytest.raises(ValueError, match="a scale's low must be below its high"):
        Scale(low=2.0, high=2.0)


def test_xterm_colours_round_trip_and_the_nearest_is_nearest():
    assert [xterm_index(xterm_rgb(index)) for index in range(16, 256)] == list(range(16, 256))
    for rgb in [(59, 76, 192), (247, 247, 247), (180, 4, 38), (10, 200, 90)]:
        best = min(sum((a - b) ** 2 for a, b in zip(xterm_rgb(i), rgb)) for i in range(16, 256))
        assert sum((a - b) ** 2 for a, b in zip(xterm_rgb(xterm_index(rgb)), rgb)) == best
    with pytest.raises(ValueError, match="16 to 255"):
        xterm_rgb(7)


def test_the_page_and_the_terminal_show_the_same_colour_for_a_temperature():
    temperatures = [i / 10 for i in range(-3, 26)]
    trace = Trace(TraceRecord(i, i, "x", t, 1.0, 1.0, 2, 0.5, 0, i, None) for i, t in enumerate(temperatures))
    page = tokens_html(trace)
    backgrounds = re.findall(r'style="background:#([0-9a-f]{6})', page)
    assert len(backgrounds) == len(temperatures)
    for temperature, background in zip(temperatures, backgrounds):
        plotted = tuple(int(background[i:i + 2], 16) for i in (0, 2, 4))
        # The page's colormap is a 256-entry table of the same scale: at most a step off its exact colour.
        assert all(abs(a - b) <= 2 for a, b in zip(plotted, SCALE.rgb(temperature))), temperature
        # So the terminal's colour is as near to the page's as the nearest xterm colour is, but for
        # twice that step (|2, 2, 2| < 3.5).
        nearest = xterm_rgb(xterm_index(plotted))
        assert math.dist(plotted, terminal_rgb(temperature)) <= math.dist(plotted, nearest) + 7, temperature


def test_the_scale_needs_neither_numpy_nor_matplotlib():
    # The module alone, without the package around it, which loads numpy for the sampler.
    code = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("colour", sys.argv[1])
module = sys.modules["colour"] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
module.ansi(1.0, "x")
print(sorted(name for name in sys.modules if name.split(".")[0] in ("numpy", "matplotlib")))
"""
    out = subprocess.run([sys.executable, "-c", code, colour.__file__], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
