"""poolcli.pool against hand-computed arrays, the NumPy reference and PyTorch itself."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import poolcli
from poolcli import pooling, reference
from poolcli.errors import ImageShapeError, ParameterError, WindowTooLargeError
from poolcli.spec import PoolSpec

from .conftest import DEVICES

DTYPES = [np.uint8, np.uint16, np.int16, np.float32, np.float64]


def random_image(rng: np.random.Generator, shape: tuple[int, ...], dtype) -> np.ndarray:
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return rng.normal(0, 100, shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, int(info.max) + 1, shape, dtype=dtype)


# --- small arrays computed by hand ----------------------------------------------------


class TestHandComputed:
    def test_max_2x2(self):
        image = np.arange(16, dtype=np.uint8).reshape(4, 4)
        np.testing.assert_array_equal(poolcli.pool(image, "max"), [[5, 7], [13, 15]])

    def test_min_2x2(self):
        image = np.arange(16, dtype=np.uint8).reshape(4, 4)
        np.testing.assert_array_equal(poolcli.pool(image, "min"), [[0, 2], [8, 10]])

    def test_avg_rounds_half_to_even(self):
        # means 2.5, 3.5, 0.5, 1.5 -> 2, 4, 0, 2 (torch.round), never truncated
        image = np.array([[2, 3, 3, 4, 0, 1, 1, 2]], dtype=np.uint8)
        np.testing.assert_array_equal(poolcli.pool(image, "avg", kernel=(1, 2)), [[2, 4, 0, 2]])

    def test_avg_non_tie_rounds_to_nearest(self):
        image = np.array([[1, 1, 2, 0, 0, 0]], dtype=np.uint8)  # 4/3 -> 1, 0/3 -> 0
        np.testing.assert_array_equal(poolcli.pool(image, "avg", kernel=(1, 3)), [[1, 0]])
        image = np.array([[2, 2, 1]], dtype=np.uint8)  # 5/3 = 1.67 -> 2
        np.testing.assert_array_equal(poolcli.pool(image, "avg", kernel=(1, 3)), [[2]])

    def test_ceil_mode_keeps_the_partial_window(self):
        image = np.arange(25, dtype=np.uint8).reshape(5, 5)
        np.testing.assert_array_equal(
            poolcli.pool(image, "max", ceil_mode=True), [[6, 8, 9], [16, 18, 19], [21, 23, 24]]
        )
        # avg in ceil mode divides the partial window by its real cells
        np.testing.assert_array_equal(
            poolcli.pool(image.astype(np.float64), "avg", ceil_mode=True)[2], [20.5, 22.5, 24.0]
        )

    def test_padded_corner_never_wins(self):
        image = np.full((4, 4), 200, dtype=np.uint8)
        image[0, 0] = 3
        np.testing.assert_array_equal(poolcli.pool(image, "min", kernel=3, stride=2, padding=1)[0, 0], 3)
        np.testing.assert_array_equal(poolcli.pool(255 - image, "max", kernel=3, stride=2, padding=1)[0, 0], 252)

    def test_padded_corner_average(self):
        image = np.full((4, 4), 90, dtype=np.uint8)
        with_pad = poolcli.pool(image, "avg", kernel=3, stride=2, padding=1)
        without = poolcli.pool(image, "avg", kernel=3, stride=2, padding=1, count_include_pad=False)
        assert with_pad[0, 0] == 40  # 4 cells of 90 over 9
        assert without[0, 0] == 90

    def test_divisor_override(self):
        image = np.arange(16, dtype=np.uint8).reshape(4, 4)
        np.testing.assert_array_equal(poolcli.pool(image, "avg", divisor=2), [[5, 9], [21, 25]])

    def test_dilation(self):
        image = np.arange(25, dtype=np.uint8).reshape(5, 5)
        # a 2x2 window with dilation 2 sees cells (0,0),(0,2),(2,0),(2,2) for the first output
        out = poolcli.pool(image, "min", kernel=2, stride=1, dilation=2)
        assert out.shape == (3, 3)
        np.testing.assert_array_equal(out[0], [0, 1, 2])
        np.testing.assert_array_equal(poolcli.pool(image, "max", kernel=2, stride=1, dilation=2)[0], [12, 13, 14])

    def test_non_square(self):
        image = np.arange(24, dtype=np.uint8).reshape(4, 6)
        np.testing.assert_array_equal(poolcli.pool(image, "max", kernel="2x3"), [[8, 11], [20, 23]])

    def test_same_padding(self):
        image = np.arange(25, dtype=np.uint8).reshape(5, 5)
        out = poolcli.pool(image, "max", kernel=2, stride=2, padding="same")
        assert out.shape == (3, 3)  # ceil(5 / 2)
        np.testing.assert_array_equal(out, [[6, 8, 9], [16, 18, 19], [21, 23, 24]])

    def test_channels_are_independent_and_kept(self):
        image = np.stack([np.arange(16).reshape(4, 4), 15 - np.arange(16).reshape(4, 4), np.zeros((4, 4))], -1)
        out = poolcli.pool(image.astype(np.uint8), "max")
        assert out.shape == (2, 2, 3)
        np.testing.assert_array_equal(out[..., 0], [[5, 7], [13, 15]])
        np.testing.assert_array_equal(out[..., 1], [[15, 13], [7, 5]])
        np.testing.assert_array_equal(out[..., 2], 0)

    def test_uint16_top_bit(self):
        image = np.array([[0, 65535], [40000, 32768]], dtype=np.uint16)
        assert poolcli.pool(image, "max")[0, 0] == 65535
        assert poolcli.pool(image, "min")[0, 0] == 0
        assert poolcli.pool(image, "avg")[0, 0] == 34576  # 138303 / 4 = 34575.75

    def test_float_nan_propagates_like_torch(self):
        image = np.array([[1.0, np.nan], [3.0, 4.0]], dtype=np.float32)
        assert np.isnan(poolcli.pool(image, "max")[0, 0])


class TestAdaptiveAndGlobal:
    def test_adaptive_windows_overlap(self):
        image = np.arange(10, dtype=np.uint8).reshape(2, 5)
        np.testing.assert_array_equal(poolcli.adaptive_pool(image, (1, 3), "max"), [[6, 8, 9]])
        np.testing.assert_array_equal(poolcli.adaptive_pool(image, (1, 3), "min"), [[0, 1, 3]])

    def test_adaptive_none_keeps_a_side(self):
        image = np.zeros((6, 7, 3), np.uint8)
        assert poolcli.adaptive_pool(image, (None, 2)).shape == (6, 2, 3)
        assert poolcli.adaptive_pool(image, "3x-").shape == (3, 7, 3)

    def test_global(self):
        image = np.array([[[0, 10], [1, 20]], [[2, 30], [4, 40]]], dtype=np.uint8)
        np.testing.assert_allclose(poolcli.global_pool(image, "avg"), [1.75, 25.0])
        np.testing.assert_array_equal(poolcli.global_pool(image, "max"), [4, 40])
        np.testing.assert_array_equal(poolcli.global_pool(image, "min"), [0, 10])
        assert poolcli.global_pool(image, "max").dtype == np.uint8

    def test_global_gray_is_one_value(self):
        assert poolcli.global_pool(np.full((3, 3), 7, np.uint16)).shape == (1,)


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kernel": 0}, "kernel 0: must be at least 1"),
        ({"kernel": -2}, "kernel -2"),
        ({"stride": 0}, "stride 0: must be at least 1"),
        ({"kernel": "2y"}, "expected an integer like 3 or HxW"),
        ({"kernel": 3, "padding": 2}, "padding 2: at most half the kernel"),
        ({"padding": -1}, "padding -1: must not be negative"),
        ({"op": "nosuch"}, r"op nosuch: unknown \(poolcli has max, avg, min"),
        ({"op": "avg", "dilation": 2}, "avg pooling has no dilation"),
        ({"op": "max", "divisor": 3}, "only applies to avg"),
        ({"op": "avg", "divisor": 0}, "divisor 0: must be an integer from 1 to 2,147,483,647"),
        ({"op": "avg", "divisor": 10**30}, "divisor 1000000000000000000000000000000: must be an integer from 1"),
        ({"stride": 10**20}, "stride 100000000000000000000: must be at most 2,147,483,647"),
        ({"op": "max", "count_include_pad": False}, "count_include_pad False: only applies to avg pooling"),
        ({"padding": "same", "ceil_mode": True}, "no effect with padding 'same'"),
    ],
)
def test_bad_parameters_raise_parameter_error(kwargs, match):
    kwargs = {"op": "max", **kwargs}
    with pytest.raises(ParameterError, match=match) as info:
        poolcli.pool(np.zeros((8, 8), np.uint8), **kwargs)
    assert isinstance(info.value, ValueError)


def test_image_smaller_than_kernel():
    # the library states the facts; the command line adds the flags that help (tests/test_cli_errors.py)
    with pytest.raises(WindowTooLargeError, match=r"^image 1x5 is smaller than the kernel 2x2$") as info:
        poolcli.pool(np.zeros((1, 5), np.uint8), "max")
    assert (info.value.shape, info.value.window) == ((1, 5), (2, 2))
    # ceil mode lets the one window hang over the edge, as in PyTorch
    assert poolcli.pool(np.zeros((1, 5), np.uint8), "max", ceil_mode=True).shape == (1, 3)


@pytest.mark.parametrize("bad", [np.zeros((2, 2), np.complex64), np.zeros((2, 2), bool), np.zeros(5), np.zeros((0, 3))])
def test_unsupported_images(bad):
    with pytest.raises(ImageShapeError):
        poolcli.pool(bad, "max", kernel=1)


def test_bad_reduce():
    with pytest.raises(ParameterError, match="reduce"):
        poolcli.adaptive_pool(np.zeros((4, 4), np.uint8), 2, "median")


# --- property tests: every op and knob against the NumPy reference ------------------------


@st.composite
def pooling_case(draw):
    dtype = draw(st.sampled_from(["uint8", "uint16", "int16", "float32"]))
    op = draw(st.sampled_from(["max", "avg", "min"]))
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    sh, sw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dh, dw = (1, 1) if op == "avg" else (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    same = draw(st.booleans()) and draw(st.booleans())
    padding = "same" if same else (draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2)))
    ceil_mode = False if same else draw(st.booleans())
    eff = (dh * (kh - 1) + 1, dw * (kw - 1) + 1)
    pad = (0, 0) if same else padding
    h = draw(st.integers(max(1, eff[0] - 2 * pad[0]), 40))
    w = draw(st.integers(max(1, eff[1] - 2 * pad[1]), 40))
    channels = draw(st.sampled_from([None, 1, 3, 4]))
    shape = (h, w) if channels is None else (h, w, channels)
    seed = draw(st.integers(0, 2**32 - 1))
    image = random_image(np.random.default_rng(seed), shape, dtype)
    kwargs = dict(kernel=(kh, kw), stride=(sh, sw), padding=padding, dilation=(dh, dw), ceil_mode=ceil_mode)
    if op == "avg":
        kwargs["count_include_pad"] = draw(st.booleans())
        kwargs["divisor"] = draw(st.one_of(st.none(), st.integers(1, 30)))
    return image, op, kwargs


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pooling_case())
def test_pool_equals_reference(case):
    image, op, kwargs = case
    expected = reference.pool(image, op, **kwargs)
    got = poolcli.pool(image, op, **kwargs)
    assert got.dtype == image.dtype
    assert got.shape == expected.shape
    assert got.shape[:2] == poolcli.output_size(
        image.shape[0],
        image.shape[1],
        kwargs["kernel"],
        kwargs["stride"],
        kwargs["padding"],
        kwargs["dilation"],
        kwargs["ceil_mode"],
    )
    if op == "avg" and image.dtype.kind == "f":
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
    else:
        np.testing.assert_array_equal(got, expected)


@settings(max_examples=150, deadline=None)
@given(
    st.integers(1, 30),
    st.integers(1, 30),
    st.one_of(st.none(), st.integers(1, 12)),
    st.one_of(st.none(), st.integers(1, 12)),
    st.sampled_from(["avg", "max", "min"]),
    st.sampled_from(["uint8", "uint16", "float32"]),
    st.integers(0, 2**32 - 1),
)
def test_adaptive_equals_reference(h, w, oh, ow, reduce, dtype, seed):
    image = random_image(np.random.default_rng(seed), (h, w, 3), dtype)
    expected = reference.adaptive_pool(image, (oh, ow), reduce)
    got = poolcli.adaptive_pool(image, (oh, ow), reduce)
    assert got.dtype == image.dtype
    if reduce == "avg" and image.dtype.kind == "f":
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
    else:
        np.testing.assert_array_equal(got, expected)


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 25), st.integers(1, 25), st.sampled_from(["avg", "max", "min"]), st.integers(0, 2**32 - 1))
def test_global_equals_reference(h, w, reduce, seed):
    image = random_image(np.random.default_rng(seed), (h, w, 4), "uint16")
    np.testing.assert_allclose(poolcli.global_pool(image, reduce), reference.global_pool(image, reduce), rtol=1e-12)


# --- PyTorch itself as the second witness ------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(pooling_case())
def test_pool_equals_torch_functional(case):
    image, op, kwargs = case
    if kwargs["padding"] == "same":
        return  # torch has no asymmetric padding; 'same' is checked against the reference
    x = torch.from_numpy(np.atleast_3d(image).astype(np.float64)).permute(2, 0, 1)[None]
    common = dict(
        kernel_size=kwargs["kernel"], stride=kwargs["stride"], padding=kwargs["padding"], ceil_mode=kwargs["ceil_mode"]
    )
    if op == "max":
        want = F.max_pool2d(x, dilation=kwargs["dilation"], **common)
    elif op == "min":
        want = -F.max_pool2d(-x, dilation=kwargs["dilation"], **common)
    else:
        want = F.avg_pool2d(
            x, count_include_pad=kwargs["count_include_pad"], divisor_override=kwargs["divisor"], **common
        )
    want = want[0].permute(1, 2, 0).numpy()
    if image.dtype.kind in "iu":
        info = np.iinfo(image.dtype)
        want = np.clip(np.round(want), info.min, info.max)  # torch.round is half to even
    got = np.atleast_3d(poolcli.pool(image, op, **kwargs)).astype(np.float64)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6 if image.dtype.kind == "f" else 0)


# --- tensors, layouts and devices ------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", ["max", "avg", "min"])
def test_tensor_batch_matches_per_image(device, dtype, op, rng):
    batch = random_image(rng, (3, 2, 17, 14), dtype)
    t = torch.from_numpy(batch).to(device)
    out = poolcli.pool(t, op, kernel=3, stride=2, padding=1)
    assert isinstance(out, torch.Tensor) and out.device.type == device and out.dtype == t.dtype
    for n in range(3):
        image = batch[n].transpose(1, 2, 0)
        expected = reference.pool(image, op, kernel=3, stride=2, padding=1)
        np.testing.assert_allclose(out[n].cpu().permute(1, 2, 0).numpy(), expected, rtol=1e-6)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("op", ["max", "avg", "min"])
def test_numpy_on_device_matches_cpu(device, op, rng):
    image = random_image(rng, (33, 29, 3), np.uint8)
    np.testing.assert_array_equal(
        poolcli.pool(image, op, kernel=3, stride=2, device=device), reference.pool(image, op, kernel=3, stride=2)
    )
    np.testing.assert_array_equal(
        poolcli.adaptive_pool(image, (5, 7), op, device=device), reference.adaptive_pool(image, (5, 7), op)
    )


@pytest.mark.parametrize("op", ["max", "avg", "min"])
def test_non_contiguous_input(op, rng):
    base = random_image(rng, (40, 60, 3), np.uint8)
    views = [base[::2, ::3], base[:, :, ::-1], base.transpose(1, 0, 2), base[5:30, 7:50, 1]]
    for view in views:
        np.testing.assert_array_equal(
            poolcli.pool(view, op, kernel=2), reference.pool(np.ascontiguousarray(view), op, kernel=2)
        )


def test_input_is_not_modified(rng):
    image = random_image(rng, (20, 20, 3), np.uint16)
    before = image.copy()
    for op in ("max", "avg", "min"):
        poolcli.pool(image, op, kernel=3, padding=1)
    np.testing.assert_array_equal(image, before)


def test_read_only_input(rng):
    image = random_image(rng, (10, 10), np.uint8)
    image.flags.writeable = False
    np.testing.assert_array_equal(poolcli.pool(image, "max"), reference.pool(image, "max", kernel=2))


def test_tensor_of_wrong_rank():
    with pytest.raises(ImageShapeError, match=r"\(N, C, H, W\)"):
        poolcli.pool(torch.zeros(3, 4, 4), "max")


ALL_DTYPES = [np.uint8, np.int8, np.uint16, np.int16, np.int32, np.float32, np.float64]


def as_tensor(image: np.ndarray) -> torch.Tensor:
    """An (H, W[, C]) image as a channels-last (1, C, H, W) view, as poolcli makes it."""
    return torch.from_numpy(np.atleast_3d(image)).unsqueeze(0).permute(0, 3, 1, 2)


def as_image(t: torch.Tensor, ndim: int) -> np.ndarray:
    out = t[0].permute(1, 2, 0).cpu().numpy()
    return out[:, :, 0] if ndim == 2 else out


def assert_pooled_equal(got: np.ndarray, expected: np.ndarray) -> None:
    assert got.dtype == expected.dtype and got.shape == expected.shape
    if got.dtype.kind == "f":
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
    else:
        np.testing.assert_array_equal(got, expected)


def torch_pool(image: np.ndarray, op: str, **kw) -> np.ndarray:
    """PyTorch's own answer in float64, rounded half to even and clipped for integers."""
    x = torch.from_numpy(np.atleast_3d(image).astype(np.float64)).permute(2, 0, 1)[None]
    common = dict(kernel_size=kw["kernel"], stride=kw["stride"], padding=kw.get("padding", 0))
    common["ceil_mode"] = kw.get("ceil_mode", False)
    if op == "max":
        y = F.max_pool2d(x, **common)
    elif op == "min":
        y = -F.max_pool2d(-x, **common)
    else:
        y = F.avg_pool2d(
            x, count_include_pad=kw.get("count_include_pad", True), divisor_override=kw.get("divisor"), **common
        )
    y = y[0].permute(1, 2, 0).numpy()
    info = np.iinfo(image.dtype)
    y = np.clip(np.round(y), info.min, info.max).astype(image.dtype)
    return y[:, :, 0] if image.ndim == 2 else y


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pooling_case(), st.integers(1, 6))
def test_band_size_never_changes_the_result(case, band_rows):
    image, op, kwargs = case
    spec = PoolSpec.make(op, **kwargs)
    whole = as_image(pooling.pool_tensor(as_tensor(image), spec, band_rows=10**6), image.ndim)
    banded = as_image(pooling.pool_tensor(as_tensor(image), spec, band_rows=band_rows), image.ndim)
    np.testing.assert_array_equal(banded, whole)  # byte-identical, floats included
    assert_pooled_equal(banded, reference.pool(image, op, **kwargs))


BAND_CASES = [
    dict(kernel=2, stride=2),
    dict(kernel=3, stride=2),
    dict(kernel=3, stride=2, padding=1),
    dict(kernel=2, stride=2, ceil_mode=True),
    dict(kernel=(3, 2), stride=(2, 3), padding=(1, 1), ceil_mode=True),
    dict(kernel=3, stride=2, padding=1, count_include_pad=False),
    dict(kernel=2, stride=1, padding="same"),
    dict(kernel=3, stride=3, divisor=2),
]


@pytest.mark.parametrize("dtype", ALL_DTYPES)
@pytest.mark.parametrize(
    ("op", "kwargs"),
    # the avg-only knobs (divisor, count_include_pad) go to avg alone
    [
        (op, kw)
        for op in ("max", "avg", "min")
        for kw in BAND_CASES
        if op == "avg" or not {"divisor", "count_include_pad"} & kw.keys()
    ],
    ids=lambda v: v if isinstance(v, str) else "-".join(f"{k}{x}" for k, x in v.items()),
)
def test_default_bands_on_odd_sizes(dtype, op, kwargs, rng, monkeypatch):
    """Small bands (by patching the byte budget) on sizes no band divides."""
    monkeypatch.setattr(pooling, "BAND_BYTES", 256)
    image = random_image(rng, (29, 23, 3), dtype)
    got = poolcli.pool(image, op, **kwargs)
    if np.dtype(dtype) == np.int8:  # the reference has no int8; PyTorch is the witness
        if kwargs.get("padding") == "same":
            return
        expected = torch_pool(image, op, **kwargs)
    else:
        expected = reference.pool(image, op, **kwargs)
    assert_pooled_equal(got, expected)


def half_even(numerator: int, denominator: int) -> int:
    return round(Fraction(numerator, denominator))  # Python rounds a Fraction half to even


@pytest.mark.parametrize(
    ("work", "quotient"),
    [
        (torch.int16, None),
        (torch.int64, None),
        (torch.int16, torch.float32),
        (torch.int32, torch.float32),
        (torch.int32, torch.float64),
    ],
)
@pytest.mark.parametrize("divisor", [1, 2, 3, 4, 5, 6, 8, 9, 12, 16, 25, 64, 1000])
def test_division_rounds_half_to_even(work, quotient, divisor):
    """Integer and float division of sums (up to the float32 bound, 2**23) against exact rationals."""
    limit = 1000 if work == torch.int16 else 2**23 - 1
    quotients = torch.linspace(-limit // divisor, limit // divisor, 10000, dtype=torch.float64).long().unique()
    near_ties = quotients[:, None] * divisor + torch.tensor(
        [-1, 0, 1, divisor // 2 - 1, divisor // 2, divisor // 2 + 1]
    )
    sums = near_ties.flatten().clamp(-limit, limit).to(work)
    out = torch.empty(sums.shape, dtype=torch.int64 if quotient is None else torch.int32)
    q = None if quotient is None else torch.empty(sums.shape, dtype=quotient)
    pooling._divide_into(sums.clone(), divisor, out, clamp=False, quotient=q)
    assert out.tolist() == [half_even(int(v), divisor) for v in sums]


def test_every_uint8_window_sum_rounds_half_to_even():
    # a 2 x 2040 image whose 2x2 windows have every sum 0..1020
    sums = np.arange(1021)
    a = np.minimum(sums, 255)
    b = np.minimum(sums - a, 255)
    c = np.minimum(sums - a - b, 255)
    d = sums - a - b - c
    image = np.zeros((2, 2 * len(sums)), np.uint8)
    image[0, 0::2], image[0, 1::2], image[1, 0::2], image[1, 1::2] = a, b, c, d
    got = poolcli.pool(image, "avg", kernel=2)[0]
    np.testing.assert_array_equal(got, [half_even(int(s), 4) for s in sums])


def test_window_counts_at_the_edges_round_exactly():
    # 3x3 windows with padding: divisors 4, 6 and 9 (with the pad) or 4, 6, 9 real cells
    image = np.full((5, 5), 7, np.uint8)
    image[0, 0] = 8
    for include in (True, False):
        got = poolcli.pool(image, "avg", kernel=3, stride=2, padding=1, count_include_pad=include)
        np.testing.assert_array_equal(
            got, reference.pool(image, "avg", kernel=3, stride=2, padding=1, count_include_pad=include)
        )


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.uint16, np.int16, np.int32])
def test_small_divisor_clips_to_the_dtype(dtype):
    info = np.iinfo(dtype)
    image = np.array([[info.max, info.max], [info.min, info.min]], dtype=dtype)
    got = poolcli.pool(image, "avg", kernel=(1, 2), divisor=1)
    np.testing.assert_array_equal(got, [[info.max], [info.min]])


@pytest.mark.parametrize("op", ["max", "avg", "min"])
def test_int8_matches_torch(op, rng):
    image = random_image(rng, (31, 27, 3), np.int8)
    for kwargs in (dict(kernel=2, stride=2), dict(kernel=3, stride=2, padding=1, ceil_mode=True)):
        np.testing.assert_array_equal(poolcli.pool(image, op, **kwargs), torch_pool(image, op, **kwargs))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", ALL_DTYPES)
@pytest.mark.parametrize("op", ["max", "avg", "min"])
@pytest.mark.parametrize("layout", ["contiguous", "channels_last", "sliced"])
def test_tensor_layouts(device, dtype, op, layout, rng):
    batch = random_image(rng, (2, 3, 40, 38), dtype)
    t = torch.from_numpy(batch).to(device)
    if layout == "channels_last":
        t = t.contiguous(memory_format=torch.channels_last)
    elif layout == "sliced":
        t = t[:, :, 1:-3:1, ::2]  # neither contiguous nor channels-last
    kwargs = dict(kernel=3, stride=2, padding=1, ceil_mode=True)
    out = poolcli.pool(t, op, **kwargs)
    assert out.dtype == t.dtype and out.device == t.device
    if layout == "channels_last":
        assert out.is_contiguous(memory_format=torch.channels_last)
    host = t.cpu().numpy()
    for n in range(host.shape[0]):
        image = np.ascontiguousarray(host[n].transpose(1, 2, 0))
        if np.dtype(dtype) == np.int8:
            expected = torch_pool(image, op, **kwargs)
        else:
            expected = reference.pool(image, op, **kwargs)
        assert_pooled_equal(out[n].cpu().permute(1, 2, 0).numpy(), expected)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pooling_case())
def test_gpu_choices_run_on_the_cpu(case):
    """The GPU's choices (one band, no per-channel ops, torch memory) checked here, where CI runs."""
    image, op, kwargs = case
    spec = PoolSpec.make(op, **kwargs)
    cpu = as_image(pooling.pool_tensor(as_tensor(image), spec), image.ndim)
    original = pooling._on_cpu
    pooling._on_cpu = lambda x: False
    try:
        gpu_like = as_image(pooling.pool_tensor(as_tensor(image), spec), image.ndim)
    finally:
        pooling._on_cpu = original
    np.testing.assert_array_equal(gpu_like, cpu)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("op", ["max", "avg", "min"])
def test_thread_count_never_changes_the_result(dtype, op, rng):
    image = random_image(rng, (301, 257, 3), dtype)
    before = torch.get_num_threads()
    try:
        results = []
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            results.append(poolcli.pool(image, op, kernel=3, stride=2, padding=1))
    finally:
        torch.set_num_threads(before)
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])


@pytest.mark.parametrize("channels", [None, 1, 3, 4])
@pytest.mark.parametrize("op", ["max", "avg", "min"])
def test_numpy_result_is_a_fresh_contiguous_image(channels, op, rng):
    shape = (20, 18) if channels is None else (20, 18, channels)
    image = random_image(rng, shape, np.uint8)
    out = poolcli.pool(image, op, kernel=2)
    assert out.flags.c_contiguous and not np.shares_memory(out, image)
    assert out.shape == (10, 9) + (() if channels is None else (channels,))


@pytest.mark.parametrize("dtype", ALL_DTYPES)
@pytest.mark.parametrize("op", ["max", "avg", "min"])
def test_non_contiguous_numpy_views(dtype, op, rng):
    base = random_image(rng, (41, 62, 4), dtype)
    for view in (base[::2, ::3, :3], base[:, :, 2], base.transpose(1, 0, 2), base[3:, 5:, 1:]):
        got = poolcli.pool(view, op, kernel=3, stride=2, padding=1)
        contiguous = np.ascontiguousarray(view)
        if np.dtype(dtype) == np.int8:
            expected = torch_pool(contiguous, op, kernel=3, stride=2, padding=1)
        else:
            expected = reference.pool(contiguous, op, kernel=3, stride=2, padding=1)
        assert_pooled_equal(got, expected)


# issue 9 item 17
@pytest.mark.parametrize(
    "call",
    [
        lambda t: poolcli.pool(t, "max", kernel=2),
        lambda t: poolcli.pool(t, "avg", kernel=3, stride=1, padding=1),
        lambda t: poolcli.pool(t, "min", kernel=2),
        lambda t: poolcli.adaptive_pool(t, (3, 2), "avg"),
        lambda t: poolcli.adaptive_pool(t, (3, 2), "max"),
        lambda t: poolcli.global_pool(t, "avg"),
        lambda t: poolcli.global_pool(t, "min"),
    ],
)
def test_a_tensor_that_requires_grad_is_pooled_without_autograd(call, rng):
    data = torch.from_numpy(random_image(rng, (2, 3, 6, 8), np.float32))
    leaf = data.clone().requires_grad_(True)
    out = call(leaf)
    assert not out.requires_grad and out.grad_fn is None
    torch.testing.assert_close(out, call(data), rtol=0, atol=0)  # the same numbers as without grad
    assert leaf.grad is None and leaf.requires_grad  # the input is left as it was
    assert torch.is_grad_enabled()


# issue 9 item 17
def test_pooling_docstrings_say_it_is_not_a_training_layer():
    for fn in (poolcli.pool, poolcli.adaptive_pool, poolcli.global_pool):
        assert "Not a training layer" in fn.__doc__ or "not a training layer" in fn.__doc__, fn.__name__


# issue 9 item 18
@pytest.mark.parametrize("dtype", ["uint16", "int16", "int32", "float32", "float64"])
@pytest.mark.parametrize("op", ["max", "avg", "min"])
def test_byte_swapped_arrays_pool_like_native_ones(dtype, op, rng):
    native = random_image(rng, (9, 11, 3), np.dtype(dtype))
    swapped = native.astype(native.dtype.newbyteorder("S"))
    assert not swapped.dtype.isnative and np.array_equal(swapped, native)
    out = poolcli.pool(swapped, op, kernel=3, stride=2, padding=1)
    assert out.dtype == native.dtype and out.dtype.isnative
    np.testing.assert_array_equal(out, poolcli.pool(native, op, kernel=3, stride=2, padding=1))
    np.testing.assert_array_equal(poolcli.adaptive_pool(swapped, (4, 5), op), poolcli.adaptive_pool(native, (4, 5), op))
    np.testing.assert_array_equal(poolcli.global_pool(swapped, op), poolcli.global_pool(native, op))
    np.testing.assert_array_equal(reference.pool(swapped, op, kernel=2), reference.pool(native, op, kernel=2))
    assert reference.pool(swapped, op, kernel=2).dtype.isnative


# issue 9 item 18
def test_byte_swapped_images_stack_and_write_their_real_values(tmp_path):
    from poolcli.tensor import stack_images

    native = (np.arange(12, dtype=np.uint16).reshape(3, 4) * 5000).astype(np.uint16)
    swapped = native.astype(">u2" if native.dtype.byteorder != ">" else "<u2")
    stacked = stack_images([native, swapped], "cpu")
    assert stacked.dtype == torch.uint16 and torch.equal(stacked[0], stacked[1])
    written = poolcli.write_image(tmp_path / "s.png", swapped)
    np.testing.assert_array_equal(poolcli.read_image(written), native)  # not 256 * low byte + high byte


# issue 9 item 18
@pytest.mark.parametrize("make", [torch.Tensor.to_sparse, torch.Tensor.to_mkldnn])
def test_sparse_tensors_are_refused_naming_their_layout(make):
    sparse = make(torch.rand(1, 1, 4, 4))
    with pytest.raises(ImageShapeError) as info:
        poolcli.pool(sparse, "max")
    assert str(info.value) == f"unsupported tensor layout {sparse.layout}: expected a dense (strided) tensor"
    with pytest.raises(ImageShapeError, match=r"layout torch\.sparse_coo"):
        poolcli.adaptive_pool(torch.rand(1, 1, 4, 4).to_sparse(), 2)
    with pytest.raises(ImageShapeError, match=r"layout torch\.sparse_coo"):
        poolcli.global_pool(torch.rand(1, 1, 4, 4).to_sparse())
