"""Comparison figures: written PNGs are opened and their pixels looked at."""

from __future__ import annotations

import re
import tracemalloc
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


# issue 9 item 15
def test_shrink_averages_the_area_each_drawn_pixel_covers():
    from poolcli.figures import shrink

    image = np.arange(20, dtype=np.uint8).reshape(4, 5)
    # rows [0, 2) and [2, 4), columns [0, 2) and [2, 5): means 3, 5.5, 13, 15.5, rounded half to even
    np.testing.assert_array_equal(shrink(image, 2, 2), [[3, 6], [13, 16]])
    assert shrink(image, 4, 9) is image  # never enlarged
    checker = (np.indices((900, 600)).sum(axis=0) % 2 * 200).astype(np.uint8)
    small = shrink(np.dstack([checker] * 3), 90, 60)
    assert small.shape == (90, 60, 3) and small.dtype == np.uint8
    assert np.all(small == 100)  # a 1-pixel pattern becomes its mean, not 0 or 200 as a strided pick would
    swapped = np.arange(12, dtype=">u2").reshape(3, 4)
    assert shrink(swapped, 3, 2).dtype.isnative and shrink(swapped, 3, 2).tolist() == [[0, 2], [4, 6], [8, 10]]


# issue 9 item 15
def test_matplotlib_never_gets_more_pixels_than_it_draws(rng):
    image = rng.integers(0, 256, (2400, 3000, 3), dtype=np.uint8)
    grid = [[poolcli.figures.original_panel(image), poolcli.figures.result_panel(poolcli.pool(image, "max"), "max")]]
    style = FigureStyle(dpi=100)
    tracemalloc.start()
    try:
        fig = make_figure(grid, style)
        png = figure_png(fig)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    for ax in panels_of(fig):
        box = ax.get_window_extent()
        drawn = ax.images[0].get_array().shape
        assert drawn[0] <= round(box.height) + 1 and drawn[1] <= round(box.width) + 1, (drawn, box)
    assert peak < 1.5 * image.nbytes  # it was about 18 times the image
    assert poolcli.decode_image(png).shape[1] < 1200


# issue 9 item 30
def test_annotated_numbers_never_touch_at_the_upper_limit():
    values = np.random.default_rng(5).integers(100, 256, (16, 16, 3), dtype=np.uint8)  # three digits, three lines
    for grid in (
        comparison_grid(values, Comparison.make(kernels=(2,))),
        comparison_grid(values[..., 0], Comparison.make(kernels=(2,))),
    ):
        fig = make_figure(grid, FigureStyle(annotate=True))
        figure_png(fig)
        renderer = fig.canvas.get_renderer()
        original = panels_of(fig)[0]
        assert len(original.texts) == 256
        boxes = [t.get_window_extent(renderer) for t in original.texts]
        cell_w = original.get_window_extent(renderer).width / 16
        for i, box in enumerate(boxes):
            assert box.width < cell_w
            neighbours = [boxes[j] for j in (i + 1, i + 16) if j < len(boxes)]
            assert not any(box.overlaps(other) for other in neighbours), (i, box)


# issue 9 item 30
def test_annotation_notes_say_which_panels_have_no_numbers():
    from poolcli.figures import annotation_notes

    pattern = poolcli.read_image(Path(__file__).parent.parent / "sample_images" / "pattern8x8.png")
    assert annotation_notes(comparison_grid(pattern, Comparison.make(kernels=(2,))), FigureStyle(annotate=True)) == []
    assert annotation_notes(comparison_grid(pattern, Comparison.make(kernels=(2,))), FigureStyle()) == []
    large = np.zeros((20, 17), np.uint8)
    grid = comparison_grid(large, Comparison.make(("max",), (2,)))
    assert annotation_notes(grid, FigureStyle(annotate=True)) == [
        "numbers left out of 'original': 20×17 px, more than 16×16"
    ]
    fig = make_figure(grid, FigureStyle(annotate=True))
    original, pooled = panels_of(fig)
    assert len(original.texts) == 0 and len(pooled.texts) == 10 * 8
    crowded = [[poolcli.figures.original_panel(np.full((16, 16, 3), 200, np.uint8))] * 12]
    notes = annotation_notes(crowded, FigureStyle(annotate=True))
    assert len(notes) == 12
    assert re.fullmatch(
        r"numbers left out of 'original': its cells are \d+ pt wide, too small for legible numbers \(\d\.\d pt, under 4 pt\)",
        notes[0],
    )
    assert not any(ax.texts for ax in panels_of(make_figure(crowded, FigureStyle(annotate=True))))


# issue 9 item 31
def test_difference_panels_compare_with_the_first_op_on_one_scale():
    pattern = poolcli.read_image(Path(__file__).parent.parent / "sample_images" / "pattern8x8.png").astype(np.int32)
    fig = make_figure(comparison_grid(pattern, Comparison.make(("max", "avg", "min"), (2,), diff=True)))
    diffs = panels_of(fig)[-2:]
    assert [ax.get_title().split("\n")[0] for ax in diffs] == ["|max − avg|", "|max − min|"]
    pooled = {op: poolcli.pool(pattern, op) for op in ("max", "avg", "min")}
    expected = [np.abs(pooled["max"] - pooled["avg"]), np.abs(pooled["max"] - pooled["min"])]
    for ax, want in zip(diffs, expected):
        np.testing.assert_array_equal(ax.images[0].get_array(), want)
    top = max(int(e.max()) for e in expected)
    assert [(ax.images[0].norm.vmin, ax.images[0].norm.vmax) for ax in diffs] == [(0, top), (0, top)]
    assert top == expected[1].max() > expected[0].max()  # one scale although the ranges differ


# issue 9 item 33
def test_subtitle_ranges_are_rounded_for_people():
    image = np.array([[0.123456789, 3.3333333333], [1.0, 2.0]], np.float64)
    fig = make_figure([[poolcli.figures.original_panel(image)]])
    assert fig.texts[1].get_text() == "float64 gray, values drawn on a 0.1235..3.333 scale, not stretched"
    big = make_figure([[poolcli.figures.original_panel(np.array([[-70000, 123456]], np.int32))]])
    assert "on a -7e+04..1.235e+05 scale" in big.texts[1].get_text()
