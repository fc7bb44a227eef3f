"""``compare --shift N``: each op's output under small shifts of the input, measured."""

from __future__ import annotations

import numpy as np
import pytest

import poolcli
from poolcli import ops
from poolcli.compare import Comparison
from poolcli.shift import change, shift_grid, shifted

from .conftest import write_rgb


def test_cuts_are_the_image_moved_left():
    image = np.arange(40, dtype=np.uint8).reshape(4, 10)
    cuts = shifted(image, 3)
    assert [c.shape for c in cuts] == [(4, 7)] * 4
    np.testing.assert_array_equal(cuts[2], image[:, 2:9])


def test_change_aligns_by_whole_output_pixels():
    assert change(np.array([[5, 6, 7]]), np.array([[5, 6, 7]])) == 0.0
    assert change(np.array([[1, 2, 3]]), np.array([[9, 1, 2]]), offset=1) == 0.0
    assert change(np.array([[1, 2, 3]]), np.array([[9, 1, 4]]), offset=1) == 1.0


@pytest.mark.parametrize("op", ops.window_ops())
def test_every_window_op_is_measured_and_a_stride_multiple_changes_nothing(op, rng):
    """Generic over the registry: an op added later (blur) is measured the same way."""
    image = rng.integers(0, 256, (24, 40, 3), dtype=np.uint8)
    grid, changes = shift_grid(image, Comparison.make((op,), (2,)), 4)
    assert list(changes) == [op] and len(changes[op]) == 5
    assert changes[op][0] == 0.0
    if op in ("blur", "maxblur"):  # they pad by definition: the cut edges may differ at any shift
        assert changes[op][1] > 0 and changes[op][3] > 0
    else:
        assert changes[op][2] == 0.0 and changes[op][4] == 0.0
        assert changes[op][1] > 0 and changes[op][3] > 0
    assert len(grid) == 2 and len(grid[0]) == 5
    assert "mean |Δ| vs 0 px: " in grid[1][1].title


def test_max_changes_more_than_avg_on_a_photo():
    image = poolcli.read_image("sample_images/coffee.jpg")
    _, changes = shift_grid(image, Comparison.make(("max", "avg"), (2,)), 1)
    assert changes["max"][1] > changes["avg"][1] > 0


def test_shift_with_diff_adds_difference_rows(rng):
    image = rng.integers(0, 256, (20, 30), dtype=np.uint8)
    grid, _ = shift_grid(image, Comparison.make(("max", "avg"), (2,), diff=True), 2)
    assert len(grid) == 5 and grid[2][0] is None and grid[2][1].kind == "diff"


def test_compare_shift_writes_its_figure(invoke, tmp_path, rng):
    photo = write_rgb(tmp_path / "photo.png", rng.integers(0, 256, (40, 50, 3), dtype=np.uint8))
    result = invoke("compare", photo, "--ops", "max,avg", "-k", "2", "--shift", "2")
    assert result.exit_code == 0, result.stderr
    figure = tmp_path / "photo.compare-shift2-k2-s2.png"
    assert result.stdout == f"{photo} -> {figure} (wrote; 40x50x3, shifted 0..2 px: max, avg)\n"
    assert poolcli.read_image(figure).ndim == 3
    assert ops.is_output_name(figure.name)


def test_compare_shift_refuses_several_kernels_and_narrow_images(invoke, tmp_path, rng):
    photo = write_rgb(tmp_path / "photo.png", rng.integers(0, 256, (10, 3), dtype=np.uint8))
    result = invoke("compare", photo, "--kernels", "2,4", "--shift", "1")
    assert result.exit_code == 2
    assert result.stderr.startswith("poolcli: error: --shift takes one kernel (-k), not --kernels")
    narrow = invoke("compare", photo, "-k", "2", "--shift", "3")
    assert narrow.exit_code == 1
    assert narrow.stderr == f"poolcli: error: {photo}: image 10x3 is too narrow to shift by 3 px\n"
