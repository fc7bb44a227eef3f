"""Comparison figures: written PNGs are opened and their pixels looked at."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

import poolcli
from poolcli.compare import Comparison, comparison_grid
from poolcli.figures import FigureStyle, figure_png, make_figure

from .files import panel_centres, panels_of


def test_avg_is_drawn_darker_than_max_on_a_fixed_scale(tmp_path):
    checker = (np.indices((12, 16)).sum(axis=0) % 2 * 200).astype(np.uint8)  # 1-px squares of 0 and 200
    fig = make_figure(comparison_grid(checker, Comparison.make(kernels=(2,))), FigureStyle())
    centres = panel_centres(fig, figure_png(fig))
    assert [int(c[0]) for c in centres[1:]] == [200, 100, 0, 100]  # max, avg, min, adaptive avg
    assert all(c[0] == c[1] == c[2] for c in centres)


def test_float_image_uses_its_real_range():
    image = np.array([[0.0, 4.0], [2.0, 2.0]], np.float32)
    fig = make_figure([[poolcli.figures.original_panel(image)]])
    assert panels_of(fig)[0].images[0].norm.vmin == 0.0 and panels_of(fig)[0].images[0].norm.vmax == 4.0
    assert "float32 gray, values drawn on a 0..4 scale" in fig.texts[1].get_text()


def test_titles_do_not_overlap(rgb_png):
    plan = Comparison.make(kernels=((3, 3),), stride=(2, 2), padding=(1, 1), count_include_pad=False, diff=True)
    fig = make_figure(comparison_grid(poolcli.read_image(rgb_png), plan))
    figure_png(fig)
    renderer = fig.canvas.get_renderer()
    boxes = [ax.title.get_window_extent(renderer) for ax in panels_of(fig)]
    frames = [ax.get_window_extent(renderer) for ax in panels_of(fig)]
    for i, a in enumerate(boxes):
        assert not any(a.overlaps(b) for b in boxes[i + 1 :])
        assert not any(a.overlaps(f) for f in frames)
    assert "avg k=3 s=2 p=1 no-count-pad" in [ax.get_title().split("\n")[0] for ax in panels_of(fig)]


def test_difference_panel_shows_the_real_range():
    pattern = poolcli.read_image(Path(__file__).parent.parent / "sample_images" / "pattern8x8.png")
    fig = make_figure(comparison_grid(pattern, Comparison.make(("max", "avg"), (2,), diff=True)))
    diff_ax = panels_of(fig)[-1]
    expected = np.abs(poolcli.pool(pattern, "max").astype(int) - poolcli.pool(pattern, "avg").astype(int))
    assert diff_ax.images[0].norm.vmin == 0 and diff_ax.images[0].norm.vmax == expected.max() == 53
    np.testing.assert_array_equal(diff_ax.images[0].get_array(), expected)


def test_annotate_writes_each_value_in_its_cell():
    pattern = poolcli.read_image(Path(__file__).parent.parent / "sample_images" / "pattern8x8.png")
    grid = comparison_grid(pattern, Comparison.make(("max",), (2,)))
    original, pooled = panels_of(make_figure(grid, FigureStyle(annotate=True)))
    assert [t.get_text() for t in original.texts] == [str(v) for v in pattern.ravel()]
    assert [t.get_text() for t in pooled.texts] == [str(v) for v in poolcli.pool(pattern, "max").ravel()]
    assert not any(ax.texts for ax in panels_of(make_figure(grid, FigureStyle())))


def test_figures_drawn_in_threads_match_serial(rgb_png):
    image = poolcli.read_image(rgb_png)
    grids = [comparison_grid(image, Comparison.make(kernels=((k, k),))) for k in (2, 3, 4, 5)]
    serial = [figure_png(make_figure(g)) for g in grids]
    with ThreadPoolExecutor(max_workers=4) as pool:
        threaded = list(pool.map(lambda g: figure_png(make_figure(g)), grids))
    assert threaded == serial
