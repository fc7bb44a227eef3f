"""Comparison plans (which panels, which kernels) and their grids."""

from __future__ import annotations

import pytest

import poolcli
from poolcli.compare import Comparison, comparison_grid
from poolcli.errors import ParameterError
from poolcli.figures import FigureStyle, make_figure

from .files import panels_of


def test_grid_of_ops_and_kernels_has_its_panels_and_titles(rgb_png):
    plan = Comparison.make(("max", "min"), ((2, 2), (4, 4)), diff=True)
    image = poolcli.read_image(rgb_png)
    fig = make_figure(comparison_grid(image, plan), FigureStyle(title="photo"))
    titles = [ax.get_title() for ax in panels_of(fig)]
    assert len(titles) == plan.panel_count == 7  # original, 2 ops x 2 kernels, |max - min| x 2 kernels
    assert titles[:3] == ["original\n37×41 px (H×W)", "max k=2 s=2\n→ 18×20 px (H×W)", "max k=4 s=4\n→ 9×10 px (H×W)"]
    assert titles[3:5] == ["min k=2 s=2\n→ 18×20 px (H×W)", "min k=4 s=4\n→ 9×10 px (H×W)"]
    assert titles[5].startswith("|max − min| (largest of R,G,B)")
    assert sum(ax.get_gid() == "colorbar" for ax in fig.axes) == 2
    assert fig.texts[0].get_text() == "photo"


def test_a_comparison_is_checked_before_any_image_is_read():
    with pytest.raises(ParameterError, match="lists an op twice"):
        Comparison.make(("max", "max"))
    with pytest.raises(ParameterError, match="dilation 2: avg pooling has no dilation"):
        Comparison.make(("max", "avg"), dilation=2)
    plan = Comparison.make(("max", "adaptive-min"), (4,), count_include_pad=False)  # avg's knob: ignored by max
    assert plan.tag == "compare-k4-s4" and plan.panel_count == 3


def test_adaptive_panels_take_the_size_of_the_windowed_ones():
    plan = Comparison.make(("max", "adaptive", "adaptive-max"), (3,), stride=2)
    specs = plan.sized_specs((37, 41))
    assert [s.describe() for s in specs] == ["max k=3 s=2", "adaptive avg → 18x20", "adaptive max → 18x20"]


def test_difference_panels_compare_each_op_with_the_first():
    import numpy as np

    image = np.arange(64, dtype=np.uint8).reshape(8, 8)
    grid = comparison_grid(image, Comparison.make(("avg", "max", "min"), (2,), diff=True))
    titles = [p.title.split("\n")[0] for p in grid[1] if p is not None]
    assert titles == ["|avg − max|", "|avg − min|"]


def test_without_kernels_a_comparison_takes_the_largest_default_every_panel_allows():
    assert {spec.kernel for spec in Comparison.make(("max", "avg")).columns[0].specs} == {(8, 8)}
    assert {spec.kernel for spec in Comparison.make(("max", "blur")).columns[0].specs} == {(7, 7)}
    with pytest.raises(ParameterError, match="at most 7"):
        Comparison.make(("max", "maxblur"), (8,))
