"""The ops beyond max, avg and min, pinned down: small cases computed by hand, and the peers.

Each op's reference (:mod:`poolcli.reference`) and its kernel are checked against each other by
the battery in ``test_ops.py``; here each definition is pinned to numbers worked out by hand
(scikit-image's way, on ``np.arange`` inputs), and to the libraries that implement the same op:
PyTorch's ``lp_pool2d``, ``fractional_max_pool2d``, ``max_pool2d(return_indices=True)`` and
``max_unpool2d``, and kornia's ``blur_pool2d`` and ``max_blur_pool2d``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import poolcli
from poolcli import pooling, reference
from poolcli.errors import ImageShapeError, ParameterError
from poolcli.pooling import fractional_samples, fractional_starts
from poolcli.spec import PoolSpec

from .conftest import DEVICES
from .test_pooling import assert_pooled_equal, random_image


def kornia():
    """kornia (in the test extra); a test that needs it is skipped where it is missing."""
    return pytest.importorskip("kornia")


GRID = np.arange(16, dtype=np.uint8).reshape(4, 4)  # x[r, c] = 4r + c


def both(image: np.ndarray, op: str, **knobs) -> np.ndarray:
    """poolcli's result, after checking that the reference agrees."""
    got = poolcli.pool(image, op, **knobs)
    assert_pooled_equal(got, reference.apply(image, PoolSpec.make(op, **knobs)))
    return got


# --- median ----------------------------------------------------------------------------------------


class TestMedian:
    def test_even_windows_take_the_lower_middle_or_the_mean(self):
        # windows [0 1 4 5], [2 3 6 7], [8 9 12 13], [10 11 14 15]
        np.testing.assert_array_equal(both(GRID, "median"), [[1, 3], [9, 11]])
        # means 2.5, 4.5, 10.5, 12.5, rounded half to even
        np.testing.assert_array_equal(both(GRID, "median", even="mean"), [[2, 4], [10, 12]])
        np.testing.assert_array_equal(both(GRID.astype(np.float32), "median", even="mean"), [[2.5, 4.5], [10.5, 12.5]])

    def test_the_even_rule_on_one_row(self):
        row = np.array([[1, 9, 4, 4, 7, 8]], np.uint8)
        np.testing.assert_array_equal(both(row, "median", kernel=(1, 2)), [[1, 4, 7]])
        np.testing.assert_array_equal(both(row, "median", kernel=(1, 2), even="mean"), [[5, 4, 8]])  # 7.5 -> 8
        assert torch.median(torch.tensor([1, 9])).item() == 1  # lower, as torch.median
        assert np.median([7, 8]) == 7.5  # mean, as numpy.median

    def test_padded_cells_take_no_part(self):
        # k=3 s=2 p=1: the corner window holds 0 1 4 5 (and five padded cells); with the padding counted as
        # zeros its median would be 0
        np.testing.assert_array_equal(both(GRID, "median", kernel=3, stride=2, padding=1), [[1, 3], [8, 10]])
        # the corner's middles are 1 and 4 (2.5 -> 2); the edge windows hold six cells: 3,5 -> 4 and 8,9 -> 8
        np.testing.assert_array_equal(
            both(GRID, "median", kernel=3, stride=2, padding=1, even="mean"), [[2, 4], [8, 10]]
        )

    def test_ceil_mode_and_a_non_square_window(self):
        # 2x3 windows, stride 2: 0 1 2 4 5 6 (lower middle 2), then, cut short by ceil mode, 2 3 6 7 (3) ...
        got = both(GRID, "median", kernel=(2, 3), stride=2, ceil_mode=True)
        np.testing.assert_array_equal(got, [[2, 3], [10, 11]])

    def test_dilation(self):
        # taps two apart: the window at (0, 0) is 0 2 8 10
        np.testing.assert_array_equal(both(GRID, "median", kernel=2, stride=1, dilation=2), [[2, 3], [6, 7]])

    def test_a_large_window_is_sorted_rather_than_networked(self, monkeypatch, rng):
        image = random_image(rng, (12, 11, 3), np.int16)
        spec = PoolSpec.make("median", kernel=3, stride=2, padding=1, even="mean")
        networked = poolcli.pool(image, spec)
        monkeypatch.setattr(pooling, "NETWORK_TAPS", 4)
        assert_pooled_equal(poolcli.pool(image, spec), networked)

    def test_the_selection_network_selects(self, rng):
        for n in range(1, 30):
            wires = [torch.from_numpy(rng.integers(0, 5, 50)) for _ in range(n)]
            ranks = tuple(sorted({(n - 1) // 2, n // 2}))
            picked = pooling._network_select(wires, ranks)
            ordered = torch.stack(wires).sort(0).values
            for r in ranks:
                assert torch.equal(picked[r], ordered[r]), (n, r)


# --- Lp ---------------------------------------------------------------------------------------------


class TestLp:
    def test_the_formula(self):
        np.testing.assert_array_equal(both(np.array([[3, 4]], np.uint8), "lp", kernel=(1, 2)), [[5]])
        row = np.array([[1, 2, 3, 4]], np.uint8)
        np.testing.assert_array_equal(both(row, "lp", kernel=(1, 2), power=1), [[3, 7]])  # p = 1: the sum
        np.testing.assert_allclose(
            both(row.astype(np.float64), "lp", kernel=(1, 2), power=3), [[9 ** (1 / 3), 91 ** (1 / 3)]]
        )

    def test_ceil_mode_scales_a_short_window_to_a_whole_one(self):
        # the last window holds only 12: (12^2 / 1 * 2) ** 0.5 = 12 * sqrt(2), as PyTorch's avg * kh * kw gives
        row = np.array([[3, 4, 12]], np.float64)
        np.testing.assert_allclose(both(row, "lp", kernel=(1, 2), ceil_mode=True), [[5, 12 * math.sqrt(2)]])
        np.testing.assert_array_equal(both(row.astype(np.uint8), "lp", kernel=(1, 2), ceil_mode=True), [[5, 17]])

    def test_infinity_is_the_max_of_the_magnitude(self):
        row = np.array([[-7, 3, -128, 0]], np.int8)
        np.testing.assert_array_equal(both(row, "lp", kernel=(1, 2), power=math.inf), [[7, 127]])  # 128 clipped

    def test_negative_values_with_a_fractional_power_are_refused_or_pooled_as_magnitudes(self):
        row = np.array([[-1.0, 2.0]])
        with pytest.raises(ImageShapeError, match=r"lp pooling with power 2\.5 needs values of at least 0 .*"
                                                  r"use abs=True \(--abs\).*lowest value is -1"):  # fmt: skip
            poolcli.pool(row, "lp", kernel=(1, 2), power=2.5)
        np.testing.assert_allclose(both(row, "lp", kernel=(1, 2), power=2.5, abs=True), [[(1 + 2**2.5) ** 0.4]])

    def test_integer_powers_of_negative_values_work_as_in_pytorch(self):
        row = np.array([[-1.0, 2.0, -2.0, 1.0]])
        got = both(row, "lp", kernel=(1, 2), power=3)  # 7 ** (1/3), and NaN for a negative sum, as PyTorch
        want = F.lp_pool2d(torch.from_numpy(row)[None, None], 3, (1, 2))[0, 0].numpy()
        np.testing.assert_allclose(got, want)
        assert np.isnan(got[0, 1])
        with pytest.raises(ImageShapeError, match="an integer image cannot hold NaN"):
            poolcli.pool(row.astype(np.int8), "lp", kernel=(1, 2), power=3)
        np.testing.assert_array_equal(both(row.astype(np.int8), "lp", kernel=(1, 2), power=2), [[2, 2]])  # sqrt 5

    @pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
    @pytest.mark.parametrize("power", [1.0, 2.0, 3.0, 2.5, math.inf])
    @pytest.mark.parametrize(("kernel", "stride", "ceil"), [(2, 2, False), (3, 2, True), ((2, 3), (1, 2), True)])
    def test_equals_pytorch(self, rng, dtype, power, kernel, stride, ceil):
        x = torch.from_numpy(np.abs(rng.normal(0, 100, (2, 3, 13, 17)))).to(dtype)
        want = F.lp_pool2d(x, power, kernel, stride, ceil)
        got = poolcli.pool(x, "lp", kernel=kernel, stride=stride, ceil_mode=ceil, power=power)
        torch.testing.assert_close(got, want, rtol=1e-12 if dtype == torch.float64 else 2e-6, atol=0)


# --- blur and maxblur ----------------------------------------------------------------------------------


class TestBlur:
    def test_one_row(self):
        row = np.array([[0, 0, 8, 0, 0]], np.uint8)
        np.testing.assert_array_equal(both(row, "blur", kernel=(1, 3), stride=1), [[0, 2, 4, 2, 0]])
        np.testing.assert_array_equal(both(row, "blur", kernel=(1, 3)), [[0, 4, 0]])  # stride 2 by default

    def test_the_edge_in_each_pad_mode(self):
        # the cell before 4 is 8 (reflect: mirrored, the edge not repeated), 0 (zero) or 4 (replicate)
        row = np.array([[4, 8, 0, 0]], np.uint8)
        assert both(row, "blur", kernel=(1, 3), stride=1)[0, 0] == 6  # (8 + 2*4 + 8) / 4
        assert both(row, "blur", kernel=(1, 3), stride=1, pad_mode="zero")[0, 0] == 4  # (0 + 8 + 8) / 4
        assert both(row, "blur", kernel=(1, 3), stride=1, pad_mode="replicate")[0, 0] == 5  # (4 + 8 + 8) / 4

    def test_a_reflect_padded_corner(self):
        # 3x3 binomial (weights 1 2 1 x 1 2 1, sum 16) at stride 2 over x[r, c] = 4r + c; the corner window
        # reads rows 1 0 1 and columns 1 0 1: 40 / 16 = 2.5 -> 2; then 64/16 = 4, 136/16 = 8.5 -> 8, 160/16 = 10
        np.testing.assert_array_equal(both(GRID, "blur"), [[2, 4], [8, 10]])
        np.testing.assert_array_equal(both(GRID.astype(np.float64), "blur"), [[2.5, 4], [8.5, 10]])
        # zeros darken the corner: (1*2 + 4*2 + 5*1) / 16 = 0.9375
        assert both(GRID.astype(np.float64), "blur", pad_mode="zero")[0, 0] == 0.9375

    def test_integer_results_are_exact_and_round_half_to_even(self):
        # (1 + 2*1 + 2) / 4 = 1.25 -> 1, (1 + 2*1 + 3) / 4 = 1.5 -> 2, (1 + 2*3 + 3) / 4 = 2.5 -> 2
        row = np.array([[1, 1, 2, 1, 3, 3, 3]], np.int16)
        got = both(row, "blur", kernel=(1, 3), stride=1, pad_mode="replicate")
        assert got[0, 1] == 1 and got[0, 3] == 2

    def test_an_even_kernel_pads_one_more_after(self):
        # k=4 (weights 1 3 3 1, sum 8): 1 cell before, 2 after, so output i reads inputs 2i - 1 .. 2i + 2:
        # 0 0 0 8 -> 1, 0 8 0 0 -> 3, 0 0 0 0 -> 0 (ceil(5 / 2) = 3 outputs)
        row = np.array([[0, 0, 8, 0, 0]], np.uint8)
        np.testing.assert_array_equal(both(row, "blur", kernel=(1, 4), pad_mode="zero"), [[1, 3, 0]])

    def test_kornias_own_examples(self):
        eye = torch.eye(5)[None, None]
        np.testing.assert_allclose(
            poolcli.pool(eye, "blur", pad_mode="zero")[0, 0],
            [[0.3125, 0.0625, 0.0], [0.0625, 0.375, 0.0625], [0.0, 0.0625, 0.3125]],
        )
        np.testing.assert_allclose(
            poolcli.pool(eye, "maxblur", pad_mode="zero")[0, 0], [[0.5625, 0.3125], [0.3125, 0.875]]
        )

    @pytest.mark.parametrize("kernel", range(1, 8))
    @pytest.mark.parametrize("stride", [1, 2, 3])
    def test_zero_padding_equals_kornia(self, rng, kernel, stride):
        for x in (torch.from_numpy(rng.normal(0, 100, (2, 3, 13, 17))), torch.from_numpy(rng.random((1, 1, 9, 8)))):
            torch.testing.assert_close(
                poolcli.pool(x, "blur", kernel=kernel, stride=stride, pad_mode="zero"),
                kornia().filters.blur_pool2d(x, kernel, stride), rtol=1e-12, atol=1e-12,
            )  # fmt: skip
            torch.testing.assert_close(
                poolcli.pool(x.float(), "blur", kernel=kernel, stride=stride, pad_mode="zero"),
                kornia().filters.blur_pool2d(x.float(), kernel, stride), rtol=1e-5, atol=1e-3,
            )  # fmt: skip
            for m in (1, 2, 3):
                torch.testing.assert_close(
                    poolcli.pool(x, "maxblur", kernel=kernel, stride=stride, max_size=m, pad_mode="zero"),
                    kornia().filters.max_blur_pool2d(x, kernel, stride, m), rtol=1e-12, atol=1e-12,
                )  # fmt: skip

    def test_on_integer_images_kornia_needs_floats_and_poolcli_is_exact(self, rng):
        image = random_image(rng, (31, 29, 3), np.uint8)
        x = torch.from_numpy(image).permute(2, 0, 1)[None]
        via_float = kornia().filters.blur_pool2d(x.double(), 5, 2).round()[0].permute(1, 2, 0).numpy()
        np.testing.assert_array_equal(poolcli.pool(image, "blur", kernel=5, pad_mode="zero"), via_float)


# --- SoftPool -----------------------------------------------------------------------------------------------


class TestSoftPool:
    def test_the_formula_and_the_integer_scaling(self):
        weight = math.exp(-1)  # e^(0 - 1), against e^(1 - 1) = 1 for the max
        np.testing.assert_allclose(both(np.array([[0.0, 1.0]]), "softpool", kernel=(1, 2)), [[1 / (1 + weight)]])
        # uint8: 0 and 255 are scaled to 0 and 1 first, and back: 255 / (1 + e^-1) = 186.4 -> 186
        np.testing.assert_array_equal(both(np.array([[0, 255]], np.uint8), "softpool", kernel=(1, 2)), [[186]])
        # int16 scales by 32767 (its maximum), not 255
        assert both(np.array([[0, 32767]], np.int16), "softpool", kernel=(1, 2))[0, 0] == round(32767 / (1 + weight))

    def test_it_is_stable_and_keeps_a_constant(self):
        big = np.full((2, 2), 1e300)
        np.testing.assert_array_equal(both(big, "softpool"), [[1e300]])
        np.testing.assert_array_equal(both(np.full((4, 4), 77, np.uint8), "softpool", kernel=3, padding=1), 77)

    def test_padded_cells_take_no_part(self):
        # with p=1 the corner window is 0 1 4 5 of GRID / 255 alone
        got = both(GRID.astype(np.float64), "softpool", kernel=3, stride=2, padding=1)
        cells = np.array([0.0, 1, 4, 5])
        assert got[0, 0] == pytest.approx((cells * np.exp(cells - 5)).sum() / np.exp(cells - 5).sum())


# --- stochastic ------------------------------------------------------------------------------------------


class TestStochastic:
    def test_expected_is_the_probability_weighted_mean(self):
        # (1 + 9) / 4 = 2.5 -> 2, (2*2 + 2*2) / 4 = 2, an all-zero window -> 0
        np.testing.assert_array_equal(
            both(np.array([[1, 3, 2, 2, 0, 0]], np.uint8), "stochastic", kernel=(1, 2)), [[2, 2, 0]]
        )
        # GRID's windows: 42 / 10 = 4.2 -> 4, 98 / 18 = 5.4 -> 5, 458 / 42 = 10.9 -> 11, 642 / 50 = 12.8 -> 13
        np.testing.assert_array_equal(both(GRID, "stochastic"), [[4, 5], [11, 13]])

    def test_int32_is_exact_where_squares_overflow(self):
        top = np.iinfo(np.int32).max
        image = np.array([[top, top - 1, top - 2, 1]], np.int32)
        got = both(image, "stochastic", kernel=(1, 4))
        total = sum(int(v) for v in image[0])
        squares = sum(int(v) ** 2 for v in image[0])
        assert got[0, 0] == reference._round_half_even_div(squares, total)

    def test_negative_values_are_refused(self):
        with pytest.raises(
            ImageShapeError, match=r"stochastic pooling needs values of at least 0 .* lowest value is -3"
        ):
            poolcli.pool(np.array([[1, -3]], np.int8), "stochastic", kernel=(1, 2))

    def test_sample_draws_cells_in_proportion_to_their_values(self):
        image = np.tile(np.array([[1, 3]], np.uint8), (200, 200))  # 20,000 windows of [1, 3]
        drawn = both(image, "stochastic", kernel=(1, 2), mode="sample", seed=11)
        assert set(np.unique(drawn)) == {1, 3}
        assert abs((drawn == 3).mean() - 0.75) < 0.02

    def test_sample_never_draws_a_zero_or_a_padded_cell(self, rng):
        image = rng.integers(0, 3, (30, 30, 3), dtype=np.uint8)
        drawn = both(image, "stochastic", kernel=3, stride=2, padding=1, mode="sample", seed=2)
        windows = reference._window_positions(30, 30, PoolSpec.make("max", kernel=3, stride=2, padding=1))
        for i, rows in enumerate(windows[0]):
            for j, cols in enumerate(windows[1]):
                for c in range(3):
                    cells = reference._cells(image, rows, cols, c)
                    assert drawn[i, j, c] in [v for v in cells if v > 0] or (drawn[i, j, c] == 0 and max(cells) == 0)

    def test_sample_is_the_same_for_an_image_whatever_runs_it(self, rng):
        image = random_image(rng, (40, 30, 3), np.uint16)
        spec = PoolSpec.make("stochastic", kernel=3, stride=2, mode="sample", seed=7)
        alone = poolcli.pool(image, spec)
        threads = torch.get_num_threads()
        try:
            torch.set_num_threads(1)
            assert np.array_equal(poolcli.pool(image, spec), alone)
        finally:
            torch.set_num_threads(threads)
        other = random_image(rng, image.shape, image.dtype)
        batch = torch.from_numpy(np.stack([other, image])).permute(0, 3, 1, 2)
        assert np.array_equal(poolcli.pool(batch, spec)[1].permute(1, 2, 0).numpy(), alone)
        assert not np.array_equal(poolcli.pool(image, spec.replace(seed=8)), alone)

    def test_sample_details_say_how_the_seed_maps(self):
        spec = PoolSpec.make("stochastic", kernel=2, mode="sample", seed=7)
        assert pooling.op_details(spec, (10, 12, 3)) == {
            "seed": 7, "draws": "numpy.random.default_rng(7).random((3, 5, 6))",
        }  # fmt: skip
        assert pooling.op_details(PoolSpec.make("stochastic"), (10, 12, 3)) is None


# --- fractional --------------------------------------------------------------------------------------------


class TestFractional:
    def test_the_intervals(self):
        # alpha = (10 - 2) / 3; starts int((i + 0.5) * alpha) - int(0.5 * alpha), the last at 10 - 2
        assert fractional_starts(0.5, 10, 4, 2).tolist() == [0, 3, 5, 8]
        assert fractional_starts(0.0, 10, 1, 3).tolist() == [7]

    def test_a_small_case(self):
        image = np.arange(30, dtype=np.uint8).reshape(5, 6)
        u_w, u_h = fractional_samples(0, 1)[0]
        rows, cols = fractional_starts(u_h, 5, 3, 2), fractional_starts(u_w, 6, 3, 2)
        want = [[image[r : r + 2, c : c + 2].max() for c in cols] for r in rows]
        np.testing.assert_array_equal(both(image, "fractional", size=3), want)

    def test_ratio_floors_the_size(self):
        assert poolcli.pool(np.zeros((10, 7), np.uint8), "fractional", ratio=0.55).shape == (5, 3)
        assert poolcli.pool(np.zeros((10, 7), np.uint8), "fractional", ratio=(0.3, 0.9)).shape == (3, 6)

    @pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
    def test_with_the_same_samples_poolcli_equals_pytorch(self, rng, dtype):
        x = torch.from_numpy(rng.normal(0, 100, (2, 3, 23, 19))).to(dtype)
        for kernel, size, seed in [(2, (5, 7), 0), (3, (4, 4), 1), ((2, 3), (11, 12), 2), (2, (22, 18), 3)]:
            samples = torch.from_numpy(fractional_samples(seed, 3)).to(dtype)[None].expand(2, 3, 2)
            want = F.fractional_max_pool2d(x, kernel, output_size=size, _random_samples=samples)
            assert torch.equal(poolcli.pool(x, "fractional", kernel=kernel, size=size, seed=seed), want)
        samples = torch.from_numpy(fractional_samples(0, 3)).to(dtype)[None].expand(2, 3, 2)
        want = F.fractional_max_pool2d(x, 2, output_ratio=(0.6, 0.6), _random_samples=samples)
        assert torch.equal(poolcli.pool(x, "fractional", ratio=0.6), want)

    def test_float32_intervals_are_pytorchs(self, rng):
        # PyTorch computes the intervals in the input's dtype: float32 here, which differs from float64 for some sizes
        for _ in range(200):
            h, w = (int(v) for v in rng.integers(3, 300, 2))
            k = int(rng.integers(1, 4))
            size = (int(rng.integers(1, h - k + 2)), int(rng.integers(1, w - k + 2)))
            seed = int(rng.integers(0, 1000))
            x = torch.from_numpy(rng.random((1, 1, h, w))).float()
            samples = torch.from_numpy(fractional_samples(seed, 1)).float()[None]
            want = F.fractional_max_pool2d(x, k, output_size=size, _random_samples=samples)
            assert torch.equal(poolcli.pool(x, "fractional", kernel=k, size=size, seed=seed), want)

    def test_the_samples_are_in_the_details(self):
        spec = PoolSpec.make("fractional", ratio=0.5, seed=4)
        details = pooling.op_details(spec, (20, 20, 3))
        assert details == {"seed": 4, "samples": fractional_samples(4, 3).tolist()}
        assert pooling.op_details(spec, (20, 20))["samples"] == fractional_samples(4, 1).tolist()

    def test_an_output_the_image_cannot_hold_is_refused(self):
        with pytest.raises(ImageShapeError, match="fractional output 9x9 with kernel 2 needs an image of at least "
                                                  "10x10; this one is 9x12"):  # fmt: skip
            poolcli.pool(np.zeros((9, 12), np.uint8), "fractional", size=9)
        with pytest.raises(ImageShapeError, match=r"ratio 0\.1 leaves no cell of an image 9x12"):
            poolcli.pool(np.zeros((9, 12), np.uint8), "fractional", ratio=0.1)
        with pytest.raises(ParameterError, match=r"ratio 1\.5: each side must be a number between 0 and 1"):
            PoolSpec.make("fractional", ratio=1.5)
        with pytest.raises(ParameterError, match="give an output size or a ratio, not both"):
            PoolSpec.make("fractional", size=3, ratio=0.5)
        with pytest.raises(ParameterError, match="fractional pooling needs an output size or a ratio"):
            PoolSpec.make("fractional")


# --- where the max came from ---------------------------------------------------------------------------------


class TestIndices:
    def test_the_first_of_equal_values_wins(self):
        values, where = poolcli.pool(np.array([[1, 3, 3, 0]], np.uint8), "max", kernel=(1, 2), return_indices=True)
        np.testing.assert_array_equal(values, [[3, 3]])
        np.testing.assert_array_equal(where, [[1, 2]])
        values, where = poolcli.pool(np.full((2, 2), 5, np.int16), "min", return_indices=True)
        assert where.tolist() == [[0]] and where.dtype == np.int64

    def test_indices_of_a_colour_image_are_per_channel(self):
        image = np.zeros((2, 2, 3), np.uint8)
        image[1, 0, 0] = image[0, 1, 1] = image[1, 1, 2] = 9
        values, where = poolcli.pool(image, "max", return_indices=True)
        assert values.tolist() == [[[9, 9, 9]]] and where.tolist() == [[[2, 1, 3]]]

    @pytest.mark.parametrize("device", DEVICES)
    @pytest.mark.parametrize(
        "knobs",
        [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1), dict(kernel_size=(2, 3), stride=1, ceil_mode=True),
         dict(kernel_size=3, stride=1, padding=1, dilation=2, ceil_mode=True)],
    )  # fmt: skip
    def test_equal_pytorch_ties_included(self, rng, device, knobs):
        x = torch.from_numpy(rng.integers(0, 4, (2, 3, 11, 9))).float().to(device)  # many ties
        want_values, want_where = F.max_pool2d(x, return_indices=True, **knobs)
        ours = dict(kernel=knobs["kernel_size"], stride=knobs.get("stride"), padding=knobs.get("padding", 0),
                    dilation=knobs.get("dilation", 1), ceil_mode=knobs.get("ceil_mode", False))  # fmt: skip
        values, where = poolcli.pool(x, "max", return_indices=True, **ours)
        assert torch.equal(values, want_values) and torch.equal(where, want_where)
        values, where = poolcli.pool(x.to(torch.uint8), "min", return_indices=True, **ours)
        want_values, want_where = F.max_pool2d(-x, return_indices=True, **knobs)
        assert torch.equal(values.float(), -want_values) and torch.equal(where, want_where)

    def test_the_reference_agrees(self, rng):
        for dtype in ("uint8", "int8", "uint16", "int32", "float32"):
            image = random_image(rng, (9, 8, 3), dtype)
            image[:4] = image[0, 0, 0]  # ties
            for op in ("max", "min"):
                spec = PoolSpec.make(op, kernel=3, stride=2, padding=1, ceil_mode=True)
                values, where = poolcli.pool(image, spec, return_indices=True)
                want_values, want_where = reference.pool_indices(image, spec)
                assert_pooled_equal(values, want_values)
                np.testing.assert_array_equal(where, want_where)

    def test_only_max_and_min_say_where(self):
        with pytest.raises(ParameterError, match="return_indices True: only applies to max and min pooling"):
            poolcli.pool(GRID, "avg", return_indices=True)


class TestUnpool:
    def test_puts_values_back(self):
        image = np.array([[1, 5, 2, 6], [3, 4, 8, 2]], np.uint8)
        pooled, where = poolcli.pool(image, "max", return_indices=True)
        np.testing.assert_array_equal(poolcli.unpool(pooled, where, size=(2, 4)), [[0, 5, 0, 0], [0, 0, 8, 0]])
        np.testing.assert_array_equal(both(image, "unpool"), [[0, 5, 0, 0], [0, 0, 8, 0]])
        # the min of 2 6 / 8 2 is the first 2
        np.testing.assert_array_equal(both(image, "unpool", reduce="min"), [[1, 0, 2, 0], [0, 0, 0, 0]])

    @pytest.mark.parametrize("dtype", [torch.float32, torch.uint8, torch.uint16, torch.int32])
    def test_equals_pytorch(self, rng, dtype):
        x = torch.from_numpy(rng.integers(0, 200, (2, 3, 11, 9))).float()
        for knobs in (dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1)):
            values, where = F.max_pool2d(x, return_indices=True, **knobs)
            want = F.max_unpool2d(values, where, output_size=(11, 9), **knobs)
            got = poolcli.unpool(values.to(dtype), where, size=(11, 9))
            assert got.dtype == dtype and torch.equal(got.float(), want)
            channels_last = values.to(dtype).contiguous(memory_format=torch.channels_last)
            assert torch.equal(poolcli.unpool(channels_last, where, size="11x9").float(), want)

    def test_refuses_indices_that_do_not_fit(self):
        pooled = np.array([[5, 8]], np.uint8)
        with pytest.raises(ImageShapeError, match=r"an index lies outside a plane of 2x2 \(0 to 3\)"):
            poolcli.unpool(pooled, np.array([[1, 6]]), size=(2, 2))
        with pytest.raises(ImageShapeError, match="they must match"):
            poolcli.unpool(pooled, np.array([[1]]), size=(2, 4))


# --- one band or many ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "knobs"),
    [("median", dict(kernel=3, stride=2, padding=1, even="mean")), ("lp", dict(kernel=3, stride=2, ceil_mode=True)),
     ("softpool", dict(kernel=2, padding=1, stride=1)), ("stochastic", dict(kernel=3, stride=2, padding="same")),
     ("stochastic", dict(kernel=2, mode="sample", ceil_mode=True)), ("unpool", dict(kernel=3, stride=2, padding=1))],
)  # fmt: skip
def test_band_boundaries_change_nothing(monkeypatch, rng, op, knobs):
    """On the CPU the tap ops work through bands of output rows; a band of one row gives the same result."""
    image = np.abs(random_image(rng, (23, 19, 3), np.int16))
    whole = poolcli.pool(image, op, **knobs)
    monkeypatch.setattr(pooling, "BAND_BYTES", 1)
    assert_pooled_equal(poolcli.pool(image, op, **knobs), whole)
    assert_pooled_equal(whole, reference.apply(image, PoolSpec.make(op, **knobs)))


@pytest.mark.parametrize("op", ["median", "lp", "blur", "maxblur", "softpool", "stochastic", "fractional", "unpool"])
def test_the_gpu_choices_on_the_cpu(monkeypatch, rng, op):
    """A GPU takes the whole batch as one band and torch's own buffers; taking those choices on the CPU changes nothing."""
    image = np.abs(random_image(rng, (21, 18, 3), np.int16))
    spec = PoolSpec.make(op, **({"size": (9, 7)} if op == "fractional" else {"kernel": 3, "stride": 2}))
    monkeypatch.setattr(pooling, "_on_cpu", lambda x: False)
    assert_pooled_equal(poolcli.pool(image, spec), reference.apply(image, spec))
