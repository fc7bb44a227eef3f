"""Anchor the NumPy oracle ``poolcli.reference`` to hand computation and PyTorch."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from poolcli import reference

SETTINGS = settings(max_examples=150, deadline=None)


# ----------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------


def to_torch(image: np.ndarray) -> torch.Tensor:
    """(H, W) or (H, W, C) ndarray -> (1, C, H, W) tensor."""
    if image.ndim == 2:
        image = image[:, :, None]
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)[None]))


def from_torch(tensor: torch.Tensor, ndim: int) -> np.ndarray:
    """(1, C, H, W) tensor -> (H, W) or (H, W, C) ndarray."""
    out = tensor[0].numpy().transpose(1, 2, 0)
    return out[:, :, 0] if ndim == 2 else out


def torch_pool(image: np.ndarray, op: str, **kw) -> np.ndarray:
    """PyTorch's answer for ``reference.pool`` (float64 images)."""
    x = to_torch(image)
    if op == "max":
        y = F.max_pool2d(x, **kw)
    elif op == "min":
        y = -F.max_pool2d(-x, **kw)
    else:
        y = F.avg_pool2d(x, **kw)
    return from_torch(y, image.ndim)


@st.composite
def images(draw, height: int, width: int, dtype=np.float64) -> np.ndarray:
    """Small-integer-valued image, 2-D or with 1 or 3 channels."""
    layout = draw(st.sampled_from(["2d", 1, 3]))
    shape = (height, width) if layout == "2d" else (height, width, layout)
    values = draw(hnp.arrays(np.int8, shape, elements=st.integers(-9, 9)))
    return values.astype(dtype)


@st.composite
def pool_cases(draw):
    """Random (image, op, torch kwargs) within PyTorch's limits."""
    op = draw(st.sampled_from(["max", "avg", "min"]))
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    dilation = (1, 1) if op == "avg" else (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    shape = []
    for k, p, d in zip(kernel, padding, dilation, strict=True):
        effective = d * (k - 1) + 1
        shape.append(draw(st.integers(max(1, effective - 2 * p), 12)))
    image = draw(images(*shape))
    kw = dict(kernel_size=kernel, stride=stride, padding=padding, ceil_mode=draw(st.booleans()))
    if op == "avg":
        kw["count_include_pad"] = draw(st.booleans())
        kw["divisor_override"] = draw(st.none() | st.integers(1, 20))
    else:
        kw["dilation"] = dilation
    return image, op, kw


def ours(image: np.ndarray, op: str, kw: dict) -> np.ndarray:
    """Call ``reference.pool`` with PyTorch-named keyword arguments."""
    return reference.pool(
        image,
        op,
        kernel=kw["kernel_size"],
        stride=kw["stride"],
        padding=kw["padding"],
        dilation=kw.get("dilation", 1),
        ceil_mode=kw["ceil_mode"],
        count_include_pad=kw.get("count_include_pad", True),
        divisor=kw.get("divisor_override"),
    )


# ----------------------------------------------------------------------------
# Hand-computed cases
# ----------------------------------------------------------------------------

A16 = np.arange(16).reshape(4, 4)


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "int16", "int32", "float32", "float64"])
def test_textbook_2x2(dtype):
    image = A16.astype(dtype)
    max_out = reference.pool(image, "max", 2)
    assert max_out.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(max_out, [[5, 7], [13, 15]])
    np.testing.assert_array_equal(reference.pool(image, "min", 2), [[0, 2], [8, 10]])
    avg = reference.pool(image, "avg", 2)
    assert avg.dtype == np.dtype(dtype)
    if np.issubdtype(image.dtype, np.integer):
        # 2.5, 4.5, 10.5, 12.5 all round half to even
        np.testing.assert_array_equal(avg, [[2, 4], [10, 12]])
    else:
        np.testing.assert_array_equal(avg, [[2.5, 4.5], [10.5, 12.5]])


def test_channels_pooled_independently():
    image = np.dstack([A16, 15 - A16, 2 * A16]).astype(np.uint8)
    out = reference.pool(image, "max", 2)
    assert out.shape == (2, 2, 3)
    np.testing.assert_array_equal(out[:, :, 0], [[5, 7], [13, 15]])
    np.testing.assert_array_equal(out[:, :, 1], [[15, 13], [7, 5]])
    np.testing.assert_array_equal(out[:, :, 2], [[10, 14], [26, 30]])


def test_ceil_mode_partial_last_window():
    row = np.arange(5, dtype=np.float64)[None, :]  # 1 x 5
    floor = reference.pool(row, "max", (1, 2), ceil_mode=False)
    ceil = reference.pool(row, "max", (1, 2), ceil_mode=True)
    np.testing.assert_array_equal(floor, [[1, 3]])
    np.testing.assert_array_equal(ceil, [[1, 3, 4]])
    # the partial window [4] is averaged over its one tap
    np.testing.assert_array_equal(reference.pool(row, "avg", (1, 2), ceil_mode=True), [[0.5, 2.5, 4]])


def test_ceil_mode_taps_past_padded_region_not_counted():
    # row [1, 2, 3, 4], kernel 3, stride 2, padding 1, ceil_mode:
    # windows start at -1, 1, 3; the last has taps 3 (real), 4 (padding), 5 (beyond).
    row = np.array([[1.0, 2.0, 3.0, 4.0]])
    kw = dict(kernel=(1, 3), stride=(1, 2), padding=(0, 1), ceil_mode=True)
    with_pad = reference.pool(row, "avg", **kw, count_include_pad=True)
    without = reference.pool(row, "avg", **kw, count_include_pad=False)
    np.testing.assert_array_equal(with_pad, [[1.0, 3.0, 2.0]])  # 3/3, 9/3, 4/2
    np.testing.assert_array_equal(without, [[1.5, 3.0, 4.0]])  # 3/2, 9/3, 4/1


def test_ceil_mode_drops_window_starting_in_right_padding():
    # span = 5 + 2 - 3 = 4 -> ceil(4/3) + 1 = 3, but window 2 would start at 6 - 1 = 5 >= n
    assert reference.output_length(5, 3, 3, 1, 1, True) == 2
    assert reference.output_length(2, 1, 2, 0, 1, True) == 1
    assert reference.output_length(5, 2, 2, 0, 1, True) == 3
    assert reference.output_length(5, 2, 2, 0, 1, False) == 2
    assert reference.output_length(10, 3, 1, 0, 2, False) == 6


NEG = np.array([[-1, -2, -3], [-4, -5, -6], [-7, -8, -9]], dtype=np.int16)


def test_padded_corner_max_min():
    # padding never wins: the corner max over {-1, -2, -4, -5} is -1, not 0
    out = reference.pool(NEG, "max", 3, stride=1, padding=1)
    np.testing.assert_array_equal(out, [[-1, -1, -2], [-1, -1, -2], [-4, -4, -5]])
    pos = (-NEG).astype(np.uint8)
    out = reference.pool(pos, "min", 3, stride=1, padding=1)
    np.testing.assert_array_equal(out, [[1, 1, 2], [1, 1, 2], [4, 4, 5]])


def test_padded_corner_avg():
    inc = reference.pool(NEG, "avg", 3, stride=1, padding=1, count_include_pad=True)
    exc = reference.pool(NEG, "avg", 3, stride=1, padding=1, count_include_pad=False)
    assert inc[0, 0] == -1  # -12 / 9 = -1.33
    assert exc[0, 0] == -3  # -12 / 4
    assert inc[1, 1] == exc[1, 1] == -5  # -45 / 9
    assert inc[0, 1] == -2  # -21 / 9 = -2.33
    assert exc[0, 1] == -4  # -21 / 6 = -3.5 -> -4 (half to even)
    as_float = reference.pool(NEG.astype(np.float64), "avg", 3, stride=1, padding=1)
    assert as_float[0, 0] == pytest.approx(-12 / 9)


def test_divisor_override():
    image = A16.astype(np.float64)
    np.testing.assert_array_equal(reference.pool(image, "avg", 2, divisor=1), [[10, 18], [42, 50]])
    as_int = A16.astype(np.int32)
    # 10/3 = 3.33, 18/3 = 6, 42/3 = 14, 50/3 = 16.67
    np.testing.assert_array_equal(reference.pool(as_int, "avg", 2, divisor=3), [[3, 6], [14, 17]])
    # a small divisor can leave the dtype's range: clip
    bright = np.full((2, 2), 200, dtype=np.uint8)
    assert reference.pool(bright, "avg", 2, divisor=1)[0, 0] == 255
    dark = np.full((2, 2), -30000, dtype=np.int16)
    assert reference.pool(dark, "avg", 2, divisor=2)[0, 0] == -32768


@pytest.mark.parametrize(
    ("values", "dtype", "expected"),
    [
        ([1, 2], "uint8", 2),  # 1.5 -> 2
        ([2, 3], "uint8", 2),  # 2.5 -> 2
        ([0, 1], "uint8", 0),  # 0.5 -> 0
        ([1, 1, 2], "uint8", 1),  # 1.33 -> 1
        ([1, 2, 2], "uint8", 2),  # 1.67 -> 2
        ([-1, -2], "int16", -2),  # -1.5 -> -2
        ([-2, -3], "int16", -2),  # -2.5 -> -2
        ([0, -1], "int16", 0),  # -0.5 -> 0
        ([65535, 65534], "uint16", 65534),  # 65534.5 -> 65534
        ([2**31 - 1, 2**31 - 2], "int32", 2**31 - 2),  # no overflow
        ([-(2**31), -(2**31) + 1], "int32", -(2**31)),
    ],
)
def test_round_half_to_even(values, dtype, expected):
    row = np.array([values], dtype=dtype)
    out = reference.pool(row, "avg", (1, len(values)))
    assert out.dtype == np.dtype(dtype)
    assert int(out[0, 0]) == expected


def test_float32_average_is_cast_back():
    row = np.array([[1, 2, 2]], dtype=np.float32)
    out = reference.pool(row, "avg", (1, 3))
    assert out.dtype == np.float32
    assert out[0, 0] == np.float32(5 / 3)


def test_non_square_kernel_and_stride():
    image = np.arange(24).reshape(4, 6).astype(np.uint8)
    out = reference.pool(image, "max", (2, 3), stride=(2, 3))
    np.testing.assert_array_equal(out, [[8, 11], [20, 23]])
    out = reference.pool(A16.astype(np.uint8), "min", (3, 1), stride=(1, 2))
    np.testing.assert_array_equal(out, [[0, 2], [4, 6]])
    out = reference.pool(A16.astype(np.float64), "avg", (1, 4), stride=(3, 1))
    np.testing.assert_array_equal(out, [[1.5], [13.5]])


def test_dilation():
    image = np.arange(25).reshape(5, 5).astype(np.int32)
    # taps (i, i+2) x (j, j+2)
    out = reference.pool(image, "max", 2, stride=1, dilation=2)
    np.testing.assert_array_equal(out, [[12, 13, 14], [17, 18, 19], [22, 23, 24]])
    out = reference.pool(image, "min", 2, stride=1, dilation=2)
    np.testing.assert_array_equal(out, [[0, 1, 2], [5, 6, 7], [10, 11, 12]])
    out = reference.pool(image, "max", (1, 2), stride=(2, 1), dilation=(1, 4))
    np.testing.assert_array_equal(out, [[4], [14], [24]])


def test_dilated_window_with_no_real_tap():
    # width 2, kernel 2, dilation 3, padding 1: window 0 has taps -1 and 2, both outside
    row = np.array([[5.0, 6.0]])
    kw = dict(kernel=(1, 2), stride=1, padding=(0, 1), dilation=3)
    assert reference.pool(row, "max", **kw)[0, 0] == -math.inf
    assert reference.pool(row, "min", **kw)[0, 0] == math.inf
    expected = F.max_pool2d(to_torch(row), (1, 2), 1, (0, 1), 3)
    np.testing.assert_array_equal(reference.pool(row, "max", **kw), from_torch(expected, 2))
    as_int = row.astype(np.int16)
    assert reference.pool(as_int, "max", **kw)[0, 0] == -32768
    assert reference.pool(as_int, "min", **kw)[0, 0] == 32767


def test_same_padding_symmetric():
    image = np.arange(25).reshape(5, 5).astype(np.uint8)
    # out = ceil(5/2) = 3, total padding 2 -> one on each side
    out = reference.pool(image, "max", 3, stride=2, padding="same")
    np.testing.assert_array_equal(out, [[6, 8, 9], [16, 18, 19], [21, 23, 24]])


def test_same_padding_extra_goes_bottom_right():
    image = A16.astype(np.uint8)
    # out = 4, total padding 1 -> 0 before, 1 after
    out = reference.pool(image, "max", 2, stride=1, padding="same")
    np.testing.assert_array_equal(out, [[5, 6, 7, 7], [9, 10, 11, 11], [13, 14, 15, 15], [13, 14, 15, 15]])
    inc = reference.pool(image, "avg", 2, stride=1, padding="same", count_include_pad=True)
    exc = reference.pool(image, "avg", 2, stride=1, padding="same", count_include_pad=False)
    assert inc[3, 3] == 4  # 15 / 4 = 3.75
    assert exc[3, 3] == 15
    assert exc[0, 3] == 5  # (3 + 7) / 2
    # stride 2 on an even length needs no padding at all
    np.testing.assert_array_equal(reference.pool(image, "max", 2, stride=2, padding="same"), [[5, 7], [13, 15]])


def test_same_equals_symmetric_numeric_padding_for_odd_kernel_stride_1():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (7, 9, 3), dtype=np.uint8)
    for op in ("max", "min", "avg"):
        np.testing.assert_array_equal(
            reference.pool(image, op, 3, stride=1, padding="same"),
            reference.pool(image, op, 3, stride=1, padding=1),
        )


def test_adaptive_hand():
    image = A16.astype(np.uint8)
    np.testing.assert_array_equal(reference.adaptive_pool(image, 2, "max"), [[5, 7], [13, 15]])
    # 4 -> 3: windows [0, 2), [1, 3), [2, 4)
    np.testing.assert_array_equal(reference.adaptive_pool(image, (3, None), "min"), A16[:3])
    out = reference.adaptive_pool(image, (1, 1), "avg")
    assert out.shape == (1, 1) and out[0, 0] == 8  # 7.5 -> 8
    assert reference.adaptive_pool(image, (None, None)).tolist() == A16.tolist()
    # upsampling repeats values
    row = np.array([[1, 2]], dtype=np.int16)
    np.testing.assert_array_equal(reference.adaptive_pool(row, (1, 4), "max"), [[1, 1, 2, 2]])
    # odd split: 5 -> 2 gives overlapping windows [0, 3), [2, 5)
    row = np.array([[0, 1, 2, 3, 4]], dtype=np.uint8)
    np.testing.assert_array_equal(reference.adaptive_pool(row, (1, 2), "avg"), [[1, 3]])


def test_global_hand():
    image = A16.astype(np.uint8)
    out = reference.global_pool(image)
    assert out.dtype == np.float64 and out.tolist() == [7.5]
    assert reference.global_pool(image, "max").tolist() == [15]
    assert reference.global_pool(image, "max").dtype == np.uint8
    colour = np.dstack([A16, A16 + 1, 100 - A16]).astype(np.int16)
    assert reference.global_pool(colour).tolist() == [7.5, 8.5, 92.5]
    assert reference.global_pool(colour, "min").tolist() == [0, 1, 85]
    big = np.full((3, 3), 2**31 - 1, dtype=np.int32)
    assert reference.global_pool(big).tolist() == [2**31 - 1]


# ----------------------------------------------------------------------------
# Errors
# ----------------------------------------------------------------------------

IMG = np.zeros((4, 4), dtype=np.uint8)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(op="max", kernel=0),
        dict(op="max", kernel=(2, -1)),
        dict(op="max", kernel=(2, 2, 2)),
        dict(op="max", kernel=2.0),
        dict(op="max", kernel=2, stride=0),
        dict(op="max", kernel=2, dilation=0),
        dict(op="max", kernel=2, padding=-1),
        dict(op="max", kernel=2, padding=2),  # more than half the kernel
        dict(op="max", kernel=(3, 2), padding=(1, 2)),
        dict(op="max", kernel=2, dilation=3, padding=2),  # PyTorch limits by kernel, not dilated size
        dict(op="max", kernel=5),  # image smaller than kernel
        dict(op="max", kernel=3, dilation=2),  # effective kernel 5 > 4
        dict(op="avg", kernel=2, dilation=2),  # dilation only for max/min
        dict(op="max", kernel=2, padding="same", ceil_mode=True),
        dict(op="max", kernel=2, padding="valid"),
        dict(op="median", kernel=2),
        dict(op="avg", kernel=2, divisor=0),
        dict(op="avg", kernel=2, divisor=-2),
        dict(op="max", kernel=2, divisor=2),
    ],
)
def test_pool_errors(kwargs):
    with pytest.raises(ValueError):
        reference.pool(IMG, **kwargs)


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((4, 4), dtype=np.int64),
        np.zeros((4, 4), dtype=bool),
        np.zeros(4, dtype=np.uint8),
        np.zeros((1, 4, 4, 1), dtype=np.uint8),
        np.zeros((0, 4), dtype=np.uint8),
        [[1, 2], [3, 4]],
    ],
)
def test_bad_images(image):
    with pytest.raises(ValueError):
        reference.pool(image, "max", 1)
    with pytest.raises(ValueError):
        reference.adaptive_pool(image, 1)
    with pytest.raises(ValueError):
        reference.global_pool(image)


def test_adaptive_and_global_errors():
    for size in (0, (2, 0), (2, -1), (1, 2, 3), "2", 2.0):
        with pytest.raises(ValueError):
            reference.adaptive_pool(IMG, size)
    with pytest.raises(ValueError):
        reference.adaptive_pool(IMG, 2, "sum")
    with pytest.raises(ValueError):
        reference.global_pool(IMG, "median")


def test_output_length_errors():
    with pytest.raises(ValueError):
        reference.output_length(2, 4, 1, 0, 1, False)
    with pytest.raises(ValueError):
        reference.output_length(3, 3, 1, 0, 2, True)
    with pytest.raises(ValueError):
        reference.output_length(4, 2, 0, 0, 1, False)


# ----------------------------------------------------------------------------
# Properties against PyTorch
# ----------------------------------------------------------------------------


@SETTINGS
@given(pool_cases())
def test_pool_matches_torch(case):
    image, op, kw = case
    expected = torch_pool(image, op, **kw)
    got = ours(image, op, kw)
    assert got.dtype == np.float64
    assert got.shape == expected.shape
    if op == "avg":
        np.testing.assert_allclose(got, expected, rtol=1e-13, atol=0)
    else:
        np.testing.assert_array_equal(got, expected)


@SETTINGS
@given(pool_cases(), st.sampled_from(["uint8", "uint16", "int16", "int32"]))
def test_integer_pool_matches_rounded_torch(case, dtype):
    image, op, kw = case
    info = np.iinfo(dtype)
    offset = 10 if info.min == 0 else 0
    image = image + offset  # keep unsigned values non-negative; still exact in float64
    expected = torch_pool(image, op, **kw)
    fill = {"max": info.min, "min": info.max}.get(op, 0)
    expected = np.where(np.isinf(expected), fill, np.clip(np.rint(expected), info.min, info.max))
    got = ours(image.astype(dtype), op, kw)
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(got, expected.astype(dtype))


@SETTINGS
@given(
    st.integers(1, 12),
    st.integers(1, 12),
    st.integers(1, 6),
    st.integers(1, 4),
    st.integers(0, 6),
    st.integers(1, 3),
    st.booleans(),
    st.sampled_from(["max", "avg"]),
)
def test_validation_agrees_with_torch(height, width, k, s, p, d, ceil_mode, op):
    """The oracle accepts a numeric-padding configuration exactly when PyTorch does
    (with ceil_mode that includes a padded input up to ``stride - 1`` cells shorter
    than the effective kernel)."""
    if op == "avg":
        d = 1
    image = np.zeros((height, width), dtype=np.float64)
    kw = dict(kernel_size=k, stride=s, padding=p, ceil_mode=ceil_mode)
    if op == "max":
        kw["dilation"] = d
    try:
        torch_pool(image, op, **kw)
        torch_ok = True
    except RuntimeError:
        torch_ok = False
    try:
        ours(image, op, kw)
        ours_ok = True
    except ValueError:
        ours_ok = False
    assert ours_ok == torch_ok


@SETTINGS
@given(st.data())
def test_output_length_matches_torch(data):
    k = data.draw(st.integers(1, 5))
    d = data.draw(st.integers(1, 3))
    p = data.draw(st.integers(0, k // 2))
    s = data.draw(st.integers(1, 6))
    n = data.draw(st.integers(max(1, d * (k - 1) + 1 - 2 * p - (s - 1)), 30))
    ceil_mode = data.draw(st.booleans())
    x = torch.zeros(1, 1, 1, n, dtype=torch.float64)
    try:
        expected = F.max_pool2d(x, (1, k), (1, s), (0, p), (1, d), ceil_mode).shape[-1]
    except RuntimeError:
        with pytest.raises(ValueError):
            reference.output_length(n, k, s, p, d, ceil_mode)
        return
    assert reference.output_length(n, k, s, p, d, ceil_mode) == expected


@st.composite
def same_cases(draw):
    op = draw(st.sampled_from(["max", "avg", "min"]))
    kernel = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    stride = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    dilation = (1, 1) if op == "avg" else (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    image = draw(images(draw(st.integers(1, 12)), draw(st.integers(1, 12))))
    return image, op, kernel, stride, dilation, draw(st.booleans())


@SETTINGS
@given(same_cases())
def test_same_padding_matches_explicit_torch_padding(case):
    """ "same" = explicit TensorFlow-style padding followed by unpadded PyTorch pooling."""
    image, op, kernel, stride, dilation, count_include_pad = case
    got = reference.pool(image, op, kernel, stride, "same", dilation, count_include_pad=count_include_pad)
    pads = []
    for n, k, s, d in zip(image.shape[:2], kernel, stride, dilation, strict=True):
        out = -(-n // s)
        total = max((out - 1) * s + d * (k - 1) + 1 - n, 0)
        pads.append((total // 2, total - total // 2))
    (top, bottom), (left, right) = pads
    assert got.shape[:2] == (-(-image.shape[0] // stride[0]), -(-image.shape[1] // stride[1]))

    x = to_torch(image)
    pad = (left, right, top, bottom)
    kw = dict(kernel_size=kernel, stride=stride)
    if op == "max":
        y = F.max_pool2d(F.pad(x, pad, value=-math.inf), dilation=dilation, **kw)
    elif op == "min":
        y = -F.max_pool2d(F.pad(-x, pad, value=-math.inf), dilation=dilation, **kw)
    elif count_include_pad:
        y = F.avg_pool2d(F.pad(x, pad), **kw)
    else:
        sums = F.avg_pool2d(F.pad(x, pad), divisor_override=1, **kw)
        counts = F.avg_pool2d(F.pad(torch.ones_like(x), pad), divisor_override=1, **kw)
        y = sums / counts
    expected = from_torch(y, image.ndim)
    if op == "avg":
        np.testing.assert_allclose(got, expected, rtol=1e-13, atol=0)
    else:
        np.testing.assert_array_equal(got, expected)


@SETTINGS
@given(
    st.integers(1, 12),
    st.integers(1, 12),
    st.none() | st.integers(1, 14),
    st.none() | st.integers(1, 14),
    st.sampled_from(["max", "avg", "min"]),
    st.data(),
)
def test_adaptive_matches_torch(height, width, out_h, out_w, reduce, data):
    image = data.draw(images(height, width))
    got = reference.adaptive_pool(image, (out_h, out_w), reduce)
    x = to_torch(image)
    if reduce == "max":
        y = F.adaptive_max_pool2d(x, (out_h, out_w))
    elif reduce == "min":
        y = -F.adaptive_max_pool2d(-x, (out_h, out_w))
    else:
        y = F.adaptive_avg_pool2d(x, (out_h, out_w))
    expected = from_torch(y, image.ndim)
    assert got.shape == expected.shape
    if reduce == "avg":
        np.testing.assert_allclose(got, expected, rtol=1e-13, atol=0)
    else:
        np.testing.assert_array_equal(got, expected)


@SETTINGS
@given(st.integers(1, 12), st.integers(1, 12), st.data())
def test_global_matches_torch(height, width, data):
    image = data.draw(images(height, width))
    x = to_torch(image)[0]  # (C, H, W)
    mean = reference.global_pool(image, "avg")
    assert mean.dtype == np.float64
    np.testing.assert_allclose(mean, x.mean((1, 2)).numpy(), rtol=1e-13, atol=0)
    np.testing.assert_array_equal(reference.global_pool(image, "max"), x.amax((1, 2)).numpy())
    np.testing.assert_array_equal(reference.global_pool(image, "min"), x.amin((1, 2)).numpy())
    if image.ndim == 2:
        assert mean.shape == (1,)
    # integer images give the exact mean too
    as_int = image.astype(np.int16)
    np.testing.assert_array_equal(reference.global_pool(as_int), mean)


@SETTINGS
@given(
    st.integers(1, 12),
    st.integers(1, 12),
    st.sampled_from(["uint8", "int16", "int32", "float32"]),
    st.sampled_from(["max", "avg", "min"]),
    st.integers(1, 4),
    st.data(),
)
def test_global_equals_adaptive_1x1_and_full_kernel(height, width, dtype, reduce, k, data):
    """Cross-checks between the three entry points on other dtypes."""
    image = data.draw(images(height, width)) + 9
    image = image.astype(dtype)
    full = reference.pool(image, reduce, (height, width))
    adaptive = reference.adaptive_pool(image, 1, reduce)
    np.testing.assert_array_equal(full, adaptive)
    if reduce != "avg":
        np.testing.assert_array_equal(full.reshape(-1), reference.global_pool(image, reduce))
    # adaptive with an exact divisor equals plain pooling with kernel = stride
    if height % k == 0 and width % k == 0:
        np.testing.assert_array_equal(
            reference.adaptive_pool(image, (height // k, width // k), reduce),
            reference.pool(image, reduce, k),
        )
